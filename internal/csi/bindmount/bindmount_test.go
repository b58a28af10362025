package bindmount

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestHasMountPoint(t *testing.T) {
	info := `22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/vda rw
97 22 8:1 /data/efs/fs-1/a\040b /tmp/pods/with\040space rw,relatime shared:1 - ext4 /dev/vda rw
`
	for path, want := range map[string]bool{"/tmp/pods/with space": true, "/tmp/pods": false, "/": true} {
		got, err := hasMountPoint(strings.NewReader(info), path)
		if err != nil || got != want {
			t.Errorf("hasMountPoint(%q) = %v, %v; want %v", path, got, err, want)
		}
	}
}

// TestModes publishes a directory in both modes (bind only where this
// process may mount) and checks idempotency, read-only and cleanup.
func TestModes(t *testing.T) {
	for _, mode := range []Mode{Bind, Symlink} {
		t.Run(string(mode), func(t *testing.T) {
			if mode == Bind && probe() != Bind {
				t.Skip("bind mounts are not permitted here")
			}
			dir := t.TempDir()
			t.Cleanup(func() { UnmountUnder(dir) })
			m := New(nil, mode)
			src, other := filepath.Join(dir, "src"), filepath.Join(dir, "other")
			os.Mkdir(src, 0o755)
			os.Mkdir(other, 0o755)
			os.WriteFile(filepath.Join(src, "f"), []byte("data"), 0o644)
			open := func(p string) *os.File {
				f, err := os.Open(p)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { f.Close() })
				return f
			}
			target := filepath.Join(dir, "target")
			for range 2 { // the second time is a no-op
				if err := m.Publish(open(src), target, mode == Bind); err != nil {
					t.Fatal(err)
				}
			}
			if got, err := os.ReadFile(filepath.Join(target, "f")); err != nil || string(got) != "data" {
				t.Errorf("read %q, %v", got, err)
			}
			if err := m.Publish(open(other), target, false); err == nil {
				t.Error("publishing another directory at a used target succeeded")
			}
			if mode == Bind {
				if err := os.WriteFile(filepath.Join(target, "g"), nil, 0o644); err == nil {
					t.Error("wrote through a read-only bind mount")
				}
				if ok, _ := IsMountPoint(target); !ok {
					t.Error("target is not a mount point")
				}
			}
			for range 2 {
				if err := m.Unpublish(target); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := os.Lstat(target); !os.IsNotExist(err) {
				t.Errorf("target left: %v", err)
			}
			if _, err := os.Stat(filepath.Join(src, "f")); err != nil {
				t.Errorf("source data lost: %v", err)
			}
		})
	}
}
