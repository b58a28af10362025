package vpc

import (
	"strings"
	"testing"
)

func TestDefaultIsStable(t *testing.T) {
	a := Default("000000000000", "us-east-1")
	b := Default("000000000000", "us-east-1")
	if a.VpcID != b.VpcID || a.Subnets[0].ID != b.Subnets[0].ID {
		t.Fatal("default network differs between calls")
	}
	if c := Default("111111111111", "us-east-1"); c.VpcID == a.VpcID {
		t.Fatal("two accounts share a VPC id")
	}
	if len(a.Subnets) != 12 {
		t.Fatalf("us-east-1 subnets = %d, want 12", len(a.Subnets))
	}
	seen := map[string]bool{}
	for _, s := range a.Subnets {
		if !strings.HasPrefix(s.ID, "subnet-") || len(s.ID) != len("subnet-")+17 {
			t.Errorf("bad subnet id %q", s.ID)
		}
		if seen[s.CIDR.String()] {
			t.Errorf("CIDR %s used twice", s.CIDR)
		}
		seen[s.CIDR.String()] = true
		if !a.CIDR.Contains(s.CIDR.Addr()) {
			t.Errorf("subnet %s outside the VPC", s.CIDR)
		}
	}
	if s, ok := a.Subnet(a.Subnets[2].ID); !ok || s.AZ != "us-east-1b" || s.AZID != "use1-az2" {
		t.Errorf("lookup: %+v %v", s, ok)
	}
	if got := a.EKSZones(); len(got) != 5 {
		t.Errorf("EKS zones = %v, want five (no us-east-1e)", got)
	}
}

func TestRegionAbbrev(t *testing.T) {
	for in, want := range map[string]string{"us-east-1": "use1", "eu-west-2": "euw2", "ap-southeast-1": "apse1"} {
		if got := regionAbbrev(in); got != want {
			t.Errorf("%s: got %s want %s", in, got, want)
		}
	}
}

// TestDocumentedIDs pins the IDs README shows: changing the derivation
// would break every user's scripts.
func TestDocumentedIDs(t *testing.T) {
	n := Default("000000000000", "us-east-1")
	for i, want := range []string{"subnet-1f2d2ed9a941e97b8", "subnet-eadd5ddf81cedb92f", "subnet-68ff5c49bb6a4654d"} {
		if got := n.Subnets[2*i].ID; got != want {
			t.Errorf("subnet %d = %s, want %s", i, got, want)
		}
	}
}
