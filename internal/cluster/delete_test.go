package cluster_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/berthproject/berth/internal/apierror"
	"github.com/berthproject/berth/internal/cluster"
	"github.com/berthproject/berth/internal/store"
	"github.com/berthproject/berth/internal/versions"
	"github.com/berthproject/berth/internal/vpc"
)

// DeleteCluster refuses a cluster that still has Fargate profiles, as EKS
// does, through the FargateProfiles hook.
func TestDeleteWithFargateProfiles(t *testing.T) {
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
	profiles := map[string][]string{}
	var hookErr error
	svc, err := cluster.New(cluster.Config{
		Store: st, Network: network, Versions: versions.Builtin("1.37.2"), Account: "000000000000", Region: "us-east-1",
		FargateProfiles: func(_ context.Context, name string) ([]string, error) { return profiles[name], hookErr },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for _, name := range []string{"c1", "c2"} {
		if _, err := svc.Create(ctx, cluster.CreateInput{Name: name, RoleARN: "arn:aws:iam::000000000000:role/eks", SubnetIDs: subnets}); err != nil {
			t.Fatal(err)
		}
	}

	profiles["c1"] = []string{"fp"}
	_, err = svc.Delete(ctx, "c1")
	e, ok := apierror.As(err)
	if !ok || e.Kind != apierror.ResourceInUse || e.Message != "Cluster has Fargate Profiles in ACTIVE/CREATING state" || e.Fields["clusterName"] != "c1" {
		t.Fatalf("delete with a profile: %v", err)
	}
	if c, _, err := svc.Get(ctx, "c1"); err != nil || c.Status != cluster.StatusCreating {
		t.Fatalf("after the refused delete: %v %+v", err, c)
	}

	hookErr = errors.New("store down")
	if _, err := svc.Delete(ctx, "c2"); !errors.Is(err, hookErr) {
		t.Errorf("hook error: %v", err)
	}
	hookErr = nil

	// Profiles of another cluster do not count.
	if c, err := svc.Delete(ctx, "c2"); err != nil || c.Status != cluster.StatusDeleting {
		t.Errorf("delete without profiles: %v", err)
	}
	profiles["c1"] = nil
	if c, err := svc.Delete(ctx, "c1"); err != nil || c.Status != cluster.StatusDeleting {
		t.Errorf("delete once the profiles are gone: %v", err)
	}
}
