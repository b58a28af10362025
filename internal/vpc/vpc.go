// Package vpc models the network berth's resources live in: a default VPC
// per account and region with a public and a private subnet in each
// Availability Zone, with stable IDs and CIDRs, as a new AWS account has
// (plus the private subnets that EKS Fargate needs).
package vpc

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Subnet is one subnet of the model.
type Subnet struct {
	ID     string
	VpcID  string
	AZ     string // us-east-1a
	AZID   string // use1-az1
	CIDR   netip.Prefix
	Public bool
	// EKSCapable is false in the zones where EKS does not place control
	// planes (us-east-1e, as on AWS).
	EKSCapable bool
}

// Network is the default VPC of one account and region.
type Network struct {
	Region          string
	VpcID           string
	CIDR            netip.Prefix
	SecurityGroupID string // the VPC's default security group
	Subnets         []Subnet
}

// zones lists the AZ letters berth offers per region; regions not listed get a, b, c.
var zones = map[string]string{
	"us-east-1": "abcdef",
	"us-west-2": "abcd",
}

// unsupportedEKSZones are the AZs where EKS refuses control-plane subnets.
var unsupportedEKSZones = map[string]bool{"us-east-1e": true}

// ID derives a stable AWS-style resource id (prefix-17 hex digits) from parts.
func ID(prefix string, parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return prefix + "-" + hex.EncodeToString(h.Sum(nil))[:17]
}

// Default returns the default network of an account in a region.
func Default(account, region string) *Network {
	letters, ok := zones[region]
	if !ok {
		letters = "abc"
	}
	n := &Network{
		Region:          region,
		VpcID:           ID("vpc", account, region, "default"),
		CIDR:            netip.MustParsePrefix("172.31.0.0/16"),
		SecurityGroupID: ID("sg", account, region, "default"),
	}
	abbrev := regionAbbrev(region)
	for i, l := range letters {
		az := fmt.Sprintf("%s%c", region, l)
		for _, public := range []bool{true, false} {
			third := i * 16
			kind := "public"
			if !public {
				third += 128
				kind = "private"
			}
			n.Subnets = append(n.Subnets, Subnet{
				ID:         ID("subnet", account, region, az, kind),
				VpcID:      n.VpcID,
				AZ:         az,
				AZID:       fmt.Sprintf("%s-az%d", abbrev, i+1),
				CIDR:       netip.PrefixFrom(netip.AddrFrom4([4]byte{172, 31, byte(third), 0}), 20),
				Public:     public,
				EKSCapable: !unsupportedEKSZones[az],
			})
		}
	}
	return n
}

// Subnet returns the subnet with the given id.
func (n *Network) Subnet(id string) (Subnet, bool) {
	i := slices.IndexFunc(n.Subnets, func(s Subnet) bool { return s.ID == id })
	if i < 0 {
		return Subnet{}, false
	}
	return n.Subnets[i], true
}

// EKSZones lists the AZs in which EKS accepts control-plane subnets.
func (n *Network) EKSZones() []string {
	var out []string
	for _, s := range n.Subnets {
		if s.EKSCapable && !slices.Contains(out, s.AZ) {
			out = append(out, s.AZ)
		}
	}
	return out
}

// regionAbbrev turns us-east-1 into use1, as AZ IDs spell it.
func regionAbbrev(region string) string {
	parts := strings.Split(region, "-")
	if len(parts) != 3 {
		return region
	}
	dir, ok := directions[parts[1]]
	if !ok {
		dir = parts[1][:1]
	}
	return parts[0] + dir + parts[2]
}

var directions = map[string]string{
	"east": "e", "west": "w", "north": "n", "south": "s", "central": "c",
	"northeast": "ne", "northwest": "nw", "southeast": "se", "southwest": "sw",
}
