package fsx_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/berthproject/berth/internal/apierror"
	"github.com/berthproject/berth/internal/fsx"
	"github.com/berthproject/berth/internal/store"
	"github.com/berthproject/berth/internal/vpc"
)

func newService(t *testing.T, st *store.Bolt, dir string, now func() time.Time) *fsx.Service {
	t.Helper()
	network := vpc.Default("000000000000", "us-east-1")
	s, err := fsx.New(fsx.Config{Store: st, Network: network, Dir: dir, Account: "000000000000", Region: "us-east-1", CreateDelay: time.Minute, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestLifecycleAndRecovery(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "berth.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	dir := filepath.Join(t.TempDir(), "fsx")
	now := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	s := newService(t, st, dir, clock)
	ctx := t.Context()
	subnet := vpc.Default("000000000000", "us-east-1").Subnets[0].ID
	create := func(name string) *fsx.FileSystem {
		fs, err := s.CreateFileSystem(ctx, fsx.CreateFileSystemInput{
			FileSystemType: fsx.FileSystemType, StorageCapacity: 1200, SubnetIDs: []string{subnet},
			Tags: []fsx.Tag{{Key: "CSIVolumeName", Value: name}},
		})
		if err != nil {
			t.Fatal(err)
		}
		return fs
	}
	a, b := create("a"), create("b")
	if got, _ := s.FileSystem(ctx, a.ID); got.Lifecycle != fsx.LifecycleCreating {
		t.Errorf("lifecycle = %s, want CREATING during the create delay", got.Lifecycle)
	}
	if _, err := s.UpdateFileSystem(ctx, a.ID, fsx.UpdateInput{StorageCapacity: 2400}); !apierror.IsKind(err, fsx.BadRequest) {
		t.Errorf("update while CREATING: %v", err)
	}
	now = now.Add(time.Minute)
	found, err := s.FindByTag(ctx, "CSIVolumeName", "b")
	if err != nil || len(found) != 1 || found[0].ID != b.ID || found[0].Lifecycle != fsx.LifecycleAvailable {
		t.Fatalf("FindByTag = %v, %v", found, err)
	}
	if _, err := s.UpdateFileSystem(ctx, a.ID, fsx.UpdateInput{StorageCapacity: 2400}); !apierror.IsKind(err, fsx.BadRequest) {
		t.Errorf("growing a SCRATCH_1 file system: %v", err)
	}

	// A crash between marking b DELETING and removing it.
	stored, rev, err := store.Read[fsx.FileSystem](ctx, st, fsx.KindFileSystem, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	stored.Lifecycle = fsx.LifecycleDeleting
	raw, _ := json.Marshal(stored)
	if _, err := st.Put(ctx, fsx.KindFileSystem, b.ID, raw, rev); err != nil {
		t.Fatal(err)
	}
	restarted := newService(t, st, dir, clock)
	if _, err := restarted.DeleteFileSystem(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{a.ID, b.ID} {
		if _, err := restarted.FileSystem(ctx, id); !apierror.IsKind(err, fsx.FileSystemNotFound) {
			t.Errorf("%s: %v, want FileSystemNotFound", id, err)
		}
		if _, err := os.Stat(filepath.Join(dir, id)); !os.IsNotExist(err) {
			t.Errorf("data of %s left: %v", id, err)
		}
	}
}
