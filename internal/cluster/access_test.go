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

// fakeEntries records what the cluster service asks of the access entry
// records.
type fakeEntries struct {
	creators []string
	err      error
}

func (f *fakeEntries) CreatorOps(c *cluster.Cluster, principal string) ([]store.Op, error) {
	f.creators = append(f.creators, c.Name+" "+principal)
	return []store.Op{{Kind: "entries", Key: c.Name + "/" + principal, Value: []byte(`{}`)}}, f.err
}

func (f *fakeEntries) RemoveOps(ctx context.Context, name string) ([]store.Op, error) {
	return []store.Op{{Kind: "entries", Key: name + "/gone", Value: []byte(`{}`)}}, nil
}

// The creator's access entry is written in the commit that creates the
// cluster, only when the creator gets admin permissions and the
// authentication mode has access entries; Remove takes the hook's ops.
func TestCreatorAccessEntry(t *testing.T) {
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
	entries := &fakeEntries{}
	svc, err := cluster.New(cluster.Config{
		Store: st, Network: network, Versions: versions.Builtin("1.37.2"), Account: "000000000000", Region: "us-east-1",
		AccessEntries: entries,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	root := "arn:aws:iam::000000000000:root"
	yes, no := true, false
	create := func(name, mode string, bootstrap *bool) error {
		_, err := svc.Create(ctx, cluster.CreateInput{Name: name, RoleARN: "arn:aws:iam::000000000000:role/eks", SubnetIDs: subnets,
			Principal: root, Access: &cluster.AccessInput{AuthenticationMode: mode, BootstrapClusterCreatorAdminPermissions: bootstrap}})
		return err
	}
	for _, tc := range []struct {
		name, mode string
		bootstrap  *bool
		entry      bool
	}{
		{"default", "", nil, true},
		{"api", "API", &yes, true},
		{"no-bootstrap", "API", &no, false},
		{"configmap", "CONFIG_MAP", nil, false},
	} {
		entries.creators = nil
		if err := create(tc.name, tc.mode, tc.bootstrap); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		_, err := st.Get(ctx, "entries", tc.name+"/"+root)
		if got := err == nil; got != tc.entry || len(entries.creators) > 0 != tc.entry {
			t.Errorf("%s: entry written %v (asked %v), want %v", tc.name, got, entries.creators, tc.entry)
		}
	}

	err = create("refused", "CONFIG_MAP", &no)
	if e, ok := apierror.As(err); !ok || e.Kind != apierror.InvalidParameter ||
		e.Message != "bootstrapClusterCreatorAdminPermissions must be true if cluster authentication mode is set to CONFIG_MAP" {
		t.Errorf("CONFIG_MAP without bootstrap: %v", err)
	}

	// A failing hook creates nothing.
	entries.err = errors.New("boom")
	if err := create("failing", "", nil); !errors.Is(err, entries.err) {
		t.Errorf("hook error: %v", err)
	}
	if _, _, err := svc.Get(ctx, "failing"); !apierror.IsKind(err, apierror.ResourceNotFound) {
		t.Errorf("cluster of a failed create: %v", err)
	}
	entries.err = nil

	if err := svc.Remove(ctx, "api"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(ctx, "entries", "api/gone"); err != nil {
		t.Errorf("the hook's removal ops were not committed: %v", err)
	}
	if _, _, err := svc.Get(ctx, "api"); !apierror.IsKind(err, apierror.ResourceNotFound) {
		t.Errorf("removed cluster: %v", err)
	}
}
