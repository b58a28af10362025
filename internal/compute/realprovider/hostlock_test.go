package realprovider

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestHostLock(t *testing.T) {
	old := HostLock
	HostLock = filepath.Join(t.TempDir(), "lock")
	defer func() { HostLock = old }()
	a, b := &Provider{}, &Provider{}
	if err := a.lockHost(); err != nil {
		t.Fatal(err)
	}
	if err := a.lockHost(); err != nil {
		t.Fatalf("the holder again: %v", err)
	}
	// flock locks belong to open files: a second open file of the same
	// process stands in for another berth.
	if err := b.lockHost(); err == nil || !strings.Contains(err.Error(), "process "+strconv.Itoa(os.Getpid())) {
		t.Errorf("second holder: %v", err)
	}
}
