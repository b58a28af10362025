package efs_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/berthproject/berth/internal/apierror"
	"github.com/berthproject/berth/internal/efs"
	"github.com/berthproject/berth/internal/store"
	"github.com/berthproject/berth/internal/vpc"
)

type env struct {
	st  *store.Bolt
	dir string
	now time.Time
}

func newEnv(t *testing.T) *env {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "berth.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &env{st: st, dir: filepath.Join(t.TempDir(), "efs"), now: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
}

func (e *env) service(t *testing.T, mod func(*efs.Config)) *efs.Service {
	t.Helper()
	cfg := efs.Config{
		Store: e.st, Network: vpc.Default("000000000000", "us-east-1"), Dir: e.dir,
		Account: "000000000000", Region: "us-east-1", Now: func() time.Time { return e.now },
	}
	if mod != nil {
		mod(&cfg)
	}
	s, err := efs.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCreateDelay(t *testing.T) {
	e := newEnv(t)
	s := e.service(t, func(c *efs.Config) { c.CreateDelay = time.Minute })
	ctx := t.Context()
	fs, err := s.CreateFileSystem(ctx, efs.CreateFileSystemInput{CreationToken: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := s.FileSystem(ctx, fs.ID); got.State != efs.StateCreating {
		t.Errorf("state = %s, want creating", got.State)
	}
	_, err = s.CreateAccessPoint(ctx, efs.CreateAccessPointInput{ClientToken: "c", FileSystemID: fs.ID})
	if !apierror.IsKind(err, efs.IncorrectFileSystemLifeCycleState) {
		t.Errorf("access point on a creating file system: %v", err)
	}
	e.now = e.now.Add(time.Minute)
	if got, _ := s.FileSystem(ctx, fs.ID); got.State != efs.StateAvailable {
		t.Errorf("state = %s, want available", got.State)
	}
}

func TestAccessPointRules(t *testing.T) {
	e := newEnv(t)
	s := e.service(t, func(c *efs.Config) { c.MaxAccessPointsPerFileSystem = 2 })
	ctx := t.Context()
	fs, err := s.CreateFileSystem(ctx, efs.CreateFileSystemInput{CreationToken: "t"})
	if err != nil {
		t.Fatal(err)
	}
	in := efs.CreateAccessPointInput{ClientToken: "a", FileSystemID: fs.ID, PosixUser: &efs.PosixUser{UID: 1, GID: 2, SecondaryGIDs: []int64{}},
		RootDirectory: &efs.RootDirectory{Path: "/x", CreationInfo: &efs.CreationInfo{OwnerUID: 1, OwnerGID: 2, Permissions: "0755"}}}
	first, err := s.CreateAccessPoint(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.CreateAccessPoint(ctx, in)
	if err != nil || again.ID != first.ID {
		t.Fatalf("same token and request: %v, %v", again, err)
	}
	if _, err := s.CreateAccessPoint(ctx, efs.CreateAccessPointInput{ClientToken: "b", FileSystemID: fs.ID}); err != nil {
		t.Fatal(err)
	}
	_, err = s.CreateAccessPoint(ctx, efs.CreateAccessPointInput{ClientToken: "c", FileSystemID: fs.ID})
	if !apierror.IsKind(err, efs.AccessPointLimitExceeded) {
		t.Errorf("third access point with a quota of 2: %v", err)
	}
	if os.Geteuid() == 0 {
		fi, err := os.Stat(filepath.Join(s.Dir(fs.ID), "x"))
		if err != nil {
			t.Fatal(err)
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); !ok || st.Uid != 1 || st.Gid != 2 || fi.Mode().Perm() != 0o755 {
			t.Errorf("root directory: %v %+v, want 1:2 0755", fi.Mode(), fi.Sys())
		}
	}
}

// TestRootDirectoryStaysInside checks that a symbolic link a user left in
// the data cannot make an access point's root directory land outside
// the file system.
func TestRootDirectoryStaysInside(t *testing.T) {
	e := newEnv(t)
	s := e.service(t, nil)
	ctx := t.Context()
	fs, err := s.CreateFileSystem(ctx, efs.CreateFileSystemInput{CreationToken: "t"})
	if err != nil {
		t.Fatal(err)
	}
	outside := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(s.Dir(fs.ID), "evil")); err != nil {
		t.Fatal(err)
	}
	_, err = s.CreateAccessPoint(ctx, efs.CreateAccessPointInput{ClientToken: "a", FileSystemID: fs.ID,
		RootDirectory: &efs.RootDirectory{Path: "/evil/x", CreationInfo: &efs.CreationInfo{Permissions: "777"}}})
	if !apierror.IsKind(err, efs.BadRequest) {
		t.Errorf("root directory through an escaping link: %v", err)
	}
	if _, err := os.Stat(filepath.Join(outside, "x")); !os.IsNotExist(err) {
		t.Errorf("a directory was made outside the file system: %v", err)
	}
}

// TestRecovery checks what a restarted service does first: it finishes
// a deletion that a crash interrupted and removes data no record names.
func TestRecovery(t *testing.T) {
	e := newEnv(t)
	s := e.service(t, nil)
	ctx := t.Context()
	fs, err := s.CreateFileSystem(ctx, efs.CreateFileSystemInput{CreationToken: "half-deleted"})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := e.st.Get(ctx, efs.KindFileSystem, fs.ID)
	if err != nil {
		t.Fatal(err)
	}
	stored, _, _ := store.Read[efs.FileSystem](ctx, e.st, efs.KindFileSystem, fs.ID)
	stored.State = efs.StateDeleting
	if _, err := e.st.Put(ctx, efs.KindFileSystem, fs.ID, mustJSON(t, stored), rec.Revision); err != nil {
		t.Fatal(err)
	}
	orphan := filepath.Join(e.dir, "fs-0123456789abcdef0")
	os.MkdirAll(orphan, 0o755)

	restarted := e.service(t, nil)
	if _, err := restarted.CreateFileSystem(ctx, efs.CreateFileSystemInput{CreationToken: "after"}); err != nil {
		t.Fatal(err)
	}
	if _, err := restarted.FileSystem(ctx, fs.ID); !apierror.IsKind(err, efs.FileSystemNotFound) {
		t.Errorf("half-deleted file system: %v", err)
	}
	for _, d := range []string{s.Dir(fs.ID), orphan} {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("%s still there: %v", d, err)
		}
	}
	// The creation token is free again.
	if _, err := restarted.CreateFileSystem(ctx, efs.CreateFileSystemInput{CreationToken: "half-deleted"}); err != nil {
		t.Errorf("reusing the token of a deleted file system: %v", err)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
