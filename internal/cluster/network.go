package cluster

import (
	"net/netip"
	"strings"
)

var serviceRanges = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
}

func (s *Service) validateNetwork(in CreateInput) (NetworkConfig, error) {
	cfg := NetworkConfig{IPFamily: "ipv4", ELBEnabled: in.ELBEnabled != nil && *in.ELBEnabled}
	switch in.IPFamily {
	case "", "ipv4":
	case "ipv6":
		return NetworkConfig{}, invalid("berth does not support the ipv6 IP family yet; use ipv4.")
	default:
		return NetworkConfig{}, invalid("Unsupported ipFamily %q: valid values are ipv4, ipv6.", in.IPFamily)
	}
	vpcCIDR := s.cfg.Network.CIDR
	if in.ServiceIPv4CIDR == "" {
		cfg.ServiceIPv4CIDR = s.DefaultServiceCIDR()
		return cfg, nil
	}
	p, err := netip.ParsePrefix(in.ServiceIPv4CIDR)
	if err != nil || !p.Addr().Is4() {
		return NetworkConfig{}, invalid("serviceIpv4Cidr %q is not a valid IPv4 CIDR block.", in.ServiceIPv4CIDR)
	}
	if p.Masked() != p {
		return NetworkConfig{}, invalid("serviceIpv4Cidr %q is not a valid network address: did you mean %s?", in.ServiceIPv4CIDR, p.Masked())
	}
	inRange := false
	for _, r := range serviceRanges {
		if r.Contains(p.Addr()) && p.Bits() >= r.Bits() {
			inRange = true
		}
	}
	if !inRange {
		return NetworkConfig{}, invalid("serviceIpv4Cidr %s must be within 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16.", p)
	}
	if p.Bits() < 12 || p.Bits() > 24 {
		return NetworkConfig{}, invalid("serviceIpv4Cidr %s must have a prefix length between /12 and /24.", p)
	}
	if p.Overlaps(vpcCIDR) {
		return NetworkConfig{}, invalid("serviceIpv4Cidr %s overlaps with the VPC CIDR block %s.", p, vpcCIDR)
	}
	cfg.ServiceIPv4CIDR = p.String()
	return cfg, nil
}

// DefaultServiceCIDR is the Service range of a cluster created without
// serviceIpv4Cidr: as EKS picks it, 10.100.0.0/16 unless the VPC is in
// 10.0.0.0/8, then 172.20.0.0/16.
func (s *Service) DefaultServiceCIDR() string {
	if s.cfg.Network.CIDR.Overlaps(netip.MustParsePrefix("10.0.0.0/8")) {
		return "172.20.0.0/16"
	}
	return "10.100.0.0/16"
}

func validatePublicCIDR(c string) error {
	p, err := netip.ParsePrefix(c)
	if err != nil || !p.Addr().Is4() || p.Masked() != p {
		return invalid("The public access CIDR block %q is invalid.", c)
	}
	if p.Addr().IsPrivate() || p.Addr().IsLoopback() || strings.HasPrefix(c, "100.64.") {
		return invalid("The public access CIDR block %s is a private address range; public access CIDRs must be public.", c)
	}
	return nil
}
