// Package csitest is what the tests of berth's CSI drivers share: a
// scratch directory that no mount outlives, a driver served on a unix
// socket for the test's length, and random hex for ids csi-sanity asks
// for.
package csitest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"testing"

	"github.com/berthproject/berth/internal/csi/bindmount"
)

// Dir returns a temporary directory. Every mount below it is detached
// before it is removed, and a test that leaves one fails: nothing stays
// mounted, even when a test fails half way.
func Dir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	// Registered after TempDir, so it runs before TempDir's removal.
	t.Cleanup(func() {
		if points, err := bindmount.UnmountUnder(dir); err != nil || len(points) > 0 {
			t.Errorf("mounts left under %s: %v (%v)", dir, points, err)
		}
	})
	return dir
}

// Serve listens on the unix socket sock and runs run on it until the
// test ends; run must then return nil.
func Serve(t *testing.T, sock string, run func(context.Context, net.Listener) error) {
	t.Helper()
	lis, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, lis) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serving %s: %v", sock, err)
		}
	})
}

// HexID returns n random lowercase hex digits.
func HexID(n int) string {
	b := make([]byte, (n+1)/2)
	rand.Read(b)
	return hex.EncodeToString(b)[:n]
}
