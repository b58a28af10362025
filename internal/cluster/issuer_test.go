package cluster_test

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/berthproject/berth/internal/cluster"
	"github.com/berthproject/berth/internal/store"
	"github.com/berthproject/berth/internal/versions"
	"github.com/berthproject/berth/internal/vpc"
)

func TestByIssuer(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "berth.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	network := vpc.Default("000000000000", "us-east-1")
	var subnets []string
	for _, s := range network.Subnets {
		if s.Public && s.EKSCapable && len(subnets) < 2 {
			subnets = append(subnets, s.ID)
		}
	}
	svc, err := cluster.New(cluster.Config{Store: st, Network: network, Versions: versions.Builtin("1.37.2"), Account: "000000000000", Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	ids := map[string]string{}
	for _, name := range []string{"c1", "c2"} {
		c, err := svc.Create(ctx, cluster.CreateInput{Name: name, RoleARN: "arn:aws:iam::000000000000:role/eks", SubnetIDs: subnets})
		if err != nil {
			t.Fatal(err)
		}
		ids[name] = c.OIDCIssuerID
	}
	for range 2 { // the second round answers from the ids seen
		for name, id := range ids {
			if c, err := svc.ByIssuer(ctx, id); err != nil || c.Name != name {
				t.Errorf("ByIssuer(%s) = %v, %v; want %s", id, c, err, name)
			}
		}
	}
	if _, err := svc.ByIssuer(ctx, "NOSUCHID"); !errors.Is(err, cluster.ErrNoIssuer) {
		t.Errorf("ByIssuer of an unknown id: %v", err)
	}
}
