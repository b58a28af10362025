package ec2api

import (
	"encoding/xml"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/berthproject/berth/internal/queryapi"
	"github.com/berthproject/berth/internal/vpc"
)

// vpcName is the Name tag of the default VPC.
const vpcName = "berth-default"

// The EKS subnet role tags: load balancers for Services go to subnets
// tagged elb (internet-facing) or internal-elb (internal).
const (
	tagELB         = "kubernetes.io/role/elb"
	tagInternalELB = "kubernetes.io/role/internal-elb"
)

type describeVpcsResponse struct {
	XMLName xml.Name `xml:"DescribeVpcsResponse"`
	queryapi.EC2Header
	Vpcs      set[vpcXML] `xml:"vpcSet"`
	NextToken string      `xml:"nextToken,omitempty"`
}

type vpcXML struct {
	VpcID                   string                  `xml:"vpcId"`
	OwnerID                 string                  `xml:"ownerId"`
	State                   string                  `xml:"state"`
	CidrBlock               string                  `xml:"cidrBlock"`
	CidrBlockAssociationSet set[cidrAssociationXML] `xml:"cidrBlockAssociationSet"`
	Ipv6CidrAssociationSet  set[struct{}]           `xml:"ipv6CidrBlockAssociationSet"`
	DhcpOptionsID           string                  `xml:"dhcpOptionsId"`
	InstanceTenancy         string                  `xml:"instanceTenancy"`
	IsDefault               bool                    `xml:"isDefault"`
	BlockPublicAccessStates blockPublicAccessXML    `xml:"blockPublicAccessStates"`
	TagSet                  set[tag]                `xml:"tagSet"`
}

type cidrAssociationXML struct {
	AssociationID string `xml:"associationId"`
	CidrBlock     string `xml:"cidrBlock"`
	State         string `xml:"cidrBlockState>state"`
}

type blockPublicAccessXML struct {
	InternetGatewayBlockMode string `xml:"internetGatewayBlockMode"`
}

// vpcTags are the tags of the default VPC.
func vpcTags() []tag { return []tag{{Key: "Name", Value: vpcName}} }

func (h *Handler) describeVpcs(c *call) (any, error) {
	n := h.cfg.Network
	ids, err := c.List("VpcId")
	if err != nil {
		return nil, err
	}
	if missing := slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return id == n.VpcID }); len(missing) > 0 {
		return nil, notFound("InvalidVpcID.NotFound", "vpc ID", missing)
	}
	filters, err := c.filters(func(name string) bool { return h.vpcAttr(name) != nil || isTagFilter(name) })
	if err != nil {
		return nil, err
	}
	var vpcs []vpcXML
	attr := func(name string) []string {
		if v, ok := tagFilter(name, vpcTags()); ok {
			return v
		}
		return h.vpcAttr(name)
	}
	if matches(attr, filters) {
		vpcs = append(vpcs, vpcXML{
			VpcID:     n.VpcID,
			OwnerID:   h.cfg.Account,
			State:     "available",
			CidrBlock: n.CIDR.String(),
			CidrBlockAssociationSet: set[cidrAssociationXML]{Items: []cidrAssociationXML{{
				AssociationID: vpc.ID("vpc-cidr-assoc", h.cfg.Account, n.Region, n.VpcID),
				CidrBlock:     n.CIDR.String(),
				State:         "associated",
			}}},
			DhcpOptionsID:           h.dhcpOptionsID(),
			InstanceTenancy:         "default",
			IsDefault:               true,
			BlockPublicAccessStates: blockPublicAccessXML{InternetGatewayBlockMode: "off"},
			TagSet:                  set[tag]{Items: vpcTags()},
		})
	}
	from, to, next, err := c.paginate(page{min: 5, max: 1000}, len(vpcs))
	if err != nil {
		return nil, err
	}
	return &describeVpcsResponse{Vpcs: set[vpcXML]{Items: vpcs[from:to]}, NextToken: next}, nil
}

func (h *Handler) dhcpOptionsID() string {
	return vpc.ID("dopt", h.cfg.Account, h.cfg.Network.Region, "default", "dhcp-options")
}

// vpcAttr returns the default VPC's values for a filter name, nil for
// names DescribeVpcs does not know.
func (h *Handler) vpcAttr(name string) []string {
	n := h.cfg.Network
	switch name {
	case "vpc-id":
		return []string{n.VpcID}
	case "cidr", "cidr-block-association.cidr-block":
		return []string{n.CIDR.String()}
	case "cidr-block-association.state":
		return []string{"associated"}
	case "dhcp-options-id":
		return []string{h.dhcpOptionsID()}
	case "is-default", "isDefault":
		return []string{"true"}
	case "owner-id":
		return []string{h.cfg.Account}
	case "state":
		return []string{"available"}
	}
	return nil
}

type describeSubnetsResponse struct {
	XMLName xml.Name `xml:"DescribeSubnetsResponse"`
	queryapi.EC2Header
	Subnets   set[subnetXML] `xml:"subnetSet"`
	NextToken string         `xml:"nextToken,omitempty"`
}

type subnetXML struct {
	SubnetID                      string               `xml:"subnetId"`
	SubnetArn                     string               `xml:"subnetArn"`
	State                         string               `xml:"state"`
	OwnerID                       string               `xml:"ownerId"`
	VpcID                         string               `xml:"vpcId"`
	CidrBlock                     string               `xml:"cidrBlock"`
	Ipv6CidrBlockAssociationSet   set[struct{}]        `xml:"ipv6CidrBlockAssociationSet"`
	AvailableIPAddressCount       int                  `xml:"availableIpAddressCount"`
	AvailabilityZone              string               `xml:"availabilityZone"`
	AvailabilityZoneID            string               `xml:"availabilityZoneId"`
	DefaultForAz                  bool                 `xml:"defaultForAz"`
	MapPublicIPOnLaunch           bool                 `xml:"mapPublicIpOnLaunch"`
	MapCustomerOwnedIPOnLaunch    bool                 `xml:"mapCustomerOwnedIpOnLaunch"`
	AssignIpv6AddressOnCreation   bool                 `xml:"assignIpv6AddressOnCreation"`
	EnableDNS64                   bool                 `xml:"enableDns64"`
	Ipv6Native                    bool                 `xml:"ipv6Native"`
	PrivateDNSNameOptionsOnLaunch privateDNSOptionsXML `xml:"privateDnsNameOptionsOnLaunch"`
	BlockPublicAccessStates       blockPublicAccessXML `xml:"blockPublicAccessStates"`
	TagSet                        set[tag]             `xml:"tagSet"`
}

type privateDNSOptionsXML struct {
	HostnameType                    string `xml:"hostnameType"`
	EnableResourceNameDNSARecord    bool   `xml:"enableResourceNameDnsARecord"`
	EnableResourceNameDNSAAAARecord bool   `xml:"enableResourceNameDnsAAAARecord"`
}

// subnetTags are the tags berth shows on a subnet: a Name and the EKS
// load balancer role.
func subnetTags(s vpc.Subnet) []tag {
	if s.Public {
		return []tag{{Key: "Name", Value: "berth-default-public-" + s.AZ}, {Key: tagELB, Value: "1"}}
	}
	return []tag{{Key: "Name", Value: "berth-default-private-" + s.AZ}, {Key: tagInternalELB, Value: "1"}}
}

// availableIPs is the subnet's size minus the five addresses AWS reserves
// and those in use.
func (h *Handler) availableIPs(s vpc.Subnet) int {
	n := 1<<(32-s.CIDR.Bits()) - 5
	if h.cfg.AddressesInUse != nil {
		n -= h.cfg.AddressesInUse(s.CIDR)
	}
	return max(n, 0)
}

func (h *Handler) subnetArn(s vpc.Subnet) string {
	return fmt.Sprintf("arn:%s:ec2:%s:%s:subnet/%s", partition(h.cfg.Region), h.cfg.Region, h.cfg.Account, s.ID)
}

// partition returns the ARN partition of a region.
func partition(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	}
	return "aws"
}

// subnetAttr returns a subnet's values for a filter name, nil for names
// DescribeSubnets does not know.
func (h *Handler) subnetAttr(s vpc.Subnet, name string) []string {
	if v, ok := tagFilter(name, subnetTags(s)); ok {
		return v
	}
	switch name {
	case "subnet-id":
		return []string{s.ID}
	case "subnet-arn":
		return []string{h.subnetArn(s)}
	case "vpc-id":
		return []string{s.VpcID}
	case "availability-zone", "availabilityZone":
		return []string{s.AZ}
	case "availability-zone-id", "availabilityZoneId":
		return []string{s.AZID}
	case "available-ip-address-count":
		return []string{strconv.Itoa(h.availableIPs(s))}
	case "cidr-block", "cidrBlock", "cidr":
		return []string{s.CIDR.String()}
	case "default-for-az", "defaultForAz":
		return []string{strconv.FormatBool(s.Public)}
	case "map-public-ip-on-launch":
		return []string{strconv.FormatBool(s.Public)}
	case "owner-id":
		return []string{h.cfg.Account}
	case "state":
		return []string{"available"}
	case "ipv6-native", "assign-ipv6-address-on-creation":
		return []string{"false"}
	}
	return nil
}

func (h *Handler) describeSubnets(c *call) (any, error) {
	n := h.cfg.Network
	ids, err := c.List("SubnetId")
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, id := range ids {
		if _, ok := n.Subnet(id); !ok && !slices.Contains(missing, id) {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		return nil, notFound("InvalidSubnetID.NotFound", "subnet ID", missing)
	}
	var probe vpc.Subnet
	filters, err := c.filters(func(name string) bool { return isTagFilter(name) || h.subnetAttr(probe, name) != nil })
	if err != nil {
		return nil, err
	}
	var out []subnetXML
	for _, s := range n.Subnets {
		if len(ids) > 0 && !slices.Contains(ids, s.ID) {
			continue
		}
		if !matches(func(name string) []string { return h.subnetAttr(s, name) }, filters) {
			continue
		}
		out = append(out, subnetXML{
			SubnetID:                      s.ID,
			SubnetArn:                     h.subnetArn(s),
			State:                         "available",
			OwnerID:                       h.cfg.Account,
			VpcID:                         s.VpcID,
			CidrBlock:                     s.CIDR.String(),
			AvailableIPAddressCount:       h.availableIPs(s),
			AvailabilityZone:              s.AZ,
			AvailabilityZoneID:            s.AZID,
			DefaultForAz:                  s.Public,
			MapPublicIPOnLaunch:           s.Public,
			PrivateDNSNameOptionsOnLaunch: privateDNSOptionsXML{HostnameType: "ip-name"},
			BlockPublicAccessStates:       blockPublicAccessXML{InternetGatewayBlockMode: "off"},
			TagSet:                        set[tag]{Items: subnetTags(s)},
		})
	}
	from, to, next, err := c.paginate(page{min: 5, max: 1000}, len(out))
	if err != nil {
		return nil, err
	}
	return &describeSubnetsResponse{Subnets: set[subnetXML]{Items: out[from:to]}, NextToken: next}, nil
}

// notFound is EC2's error for IDs that do not exist: "The subnet ID 'x'
// does not exist", or for several "The subnet IDs 'x, y' do not exist".
func notFound(code, what string, ids []string) *queryapi.Error {
	if len(ids) == 1 {
		return queryapi.Errorf(code, "The %s '%s' does not exist", what, ids[0])
	}
	return queryapi.Errorf(code, "The %ss '%s' do not exist", what, strings.Join(ids, ", "))
}

type describeAvailabilityZonesResponse struct {
	XMLName xml.Name `xml:"DescribeAvailabilityZonesResponse"`
	queryapi.EC2Header
	Zones set[zoneXML] `xml:"availabilityZoneInfo"`
}

type zoneXML struct {
	ZoneName           string        `xml:"zoneName"`
	ZoneState          string        `xml:"zoneState"`
	RegionName         string        `xml:"regionName"`
	Messages           set[struct{}] `xml:"messageSet"`
	OptInStatus        string        `xml:"optInStatus"`
	ZoneID             string        `xml:"zoneId"`
	ZoneType           string        `xml:"zoneType"`
	GroupName          string        `xml:"groupName"`
	NetworkBorderGroup string        `xml:"networkBorderGroup"`
}

// zones returns the network's zones in order, one per AZ.
func (h *Handler) zones() []zoneXML {
	var out []zoneXML
	for _, s := range h.cfg.Network.Subnets {
		if slices.ContainsFunc(out, func(z zoneXML) bool { return z.ZoneName == s.AZ }) {
			continue
		}
		out = append(out, zoneXML{
			ZoneName:           s.AZ,
			ZoneState:          "available",
			RegionName:         h.cfg.Region,
			OptInStatus:        "opt-in-not-required",
			ZoneID:             s.AZID,
			ZoneType:           "availability-zone",
			GroupName:          h.cfg.Region + "-zg-1",
			NetworkBorderGroup: h.cfg.Region,
		})
	}
	return out
}

func zoneAttr(z zoneXML, name string) []string {
	switch name {
	case "zone-name":
		return []string{z.ZoneName}
	case "zone-id":
		return []string{z.ZoneID}
	case "region-name":
		return []string{z.RegionName}
	case "state":
		return []string{z.ZoneState}
	case "zone-type":
		return []string{z.ZoneType}
	case "group-name":
		return []string{z.GroupName}
	case "network-border-group":
		return []string{z.NetworkBorderGroup}
	case "opt-in-status":
		return []string{z.OptInStatus}
	}
	return nil
}

func (h *Handler) describeAvailabilityZones(c *call) (any, error) {
	if _, err := c.flag("AllAvailabilityZones"); err != nil {
		return nil, err
	}
	zones := h.zones()
	names, err := c.List("ZoneName")
	if err != nil {
		return nil, err
	}
	zoneIDs, err := c.List("ZoneId")
	if err != nil {
		return nil, err
	}
	var unknown []string
	for _, n := range names {
		if !slices.ContainsFunc(zones, func(z zoneXML) bool { return z.ZoneName == n }) {
			unknown = append(unknown, n)
		}
	}
	for _, id := range zoneIDs {
		if !slices.ContainsFunc(zones, func(z zoneXML) bool { return z.ZoneID == id }) {
			unknown = append(unknown, id)
		}
	}
	if len(unknown) > 0 {
		return nil, queryapi.Errorf("InvalidParameterValue", "Invalid availability zone: [%s]", strings.Join(unknown, ", "))
	}
	filters, err := c.filters(func(name string) bool { return zoneAttr(zoneXML{}, name) != nil })
	if err != nil {
		return nil, err
	}
	var out []zoneXML
	for _, z := range zones {
		if len(names)+len(zoneIDs) > 0 && !slices.Contains(names, z.ZoneName) && !slices.Contains(zoneIDs, z.ZoneID) {
			continue
		}
		if matches(func(name string) []string { return zoneAttr(z, name) }, filters) {
			out = append(out, z)
		}
	}
	return &describeAvailabilityZonesResponse{Zones: set[zoneXML]{Items: out}}, nil
}
