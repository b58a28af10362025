package ebs

import (
	"fmt"
	"os"
	"os/exec"
	"strings"

	"k8s.io/mount-utils"
)

// Mode is how a node turns a volume's data into what pods see.
type Mode string

// The modes, best first.
const (
	// ModeAuto picks the best mode the machine allows.
	ModeAuto Mode = ""
	// ModeLoop: real filesystems. The volume's file is bound to a loop
	// device, formatted (mkfs) when blank and mounted; raw block volumes
	// are the loop device itself. Needs root, /dev/loop-control, mkfs.ext4
	// and e2fsprogs (mkfs.xfs too for xfs).
	ModeLoop Mode = "loop"
	// ModeBind emulates a filesystem volume with a directory per volume
	// (internal/ebs's FilesPath, copied by snapshots and clones),
	// bind-mounted; a raw block volume is its file, bind-mounted. Needs
	// mount rights (root).
	ModeBind Mode = "bind"
	// ModeSymlink emulates without mount rights: staging and target paths
	// become symbolic links to the volume's directory or file. Read-only
	// publishing and volume stats cannot be enforced or measured.
	ModeSymlink Mode = "symlink"
)

// DetectMode returns the best mode this machine allows and, when it is
// not ModeLoop, what is missing.
func DetectMode() (Mode, string) {
	var missing []string
	if os.Geteuid() != 0 {
		return ModeSymlink, "not running as root: volumes are emulated with symbolic links"
	}
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		missing = append(missing, "/dev/loop-control")
	}
	for _, tool := range []string{"mkfs.ext4", "blkid", "mount", "umount", "e2fsck", "resize2fs", "dumpe2fs"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) > 0 {
		return ModeBind, fmt.Sprintf("missing %s: filesystems are emulated with bind-mounted directories", strings.Join(missing, ", "))
	}
	return ModeLoop, ""
}

// Emulated reports whether the mode emulates filesystems.
func (m Mode) Emulated() bool { return m != ModeLoop }

// fsTypes returns the filesystem types this machine can format.
func fsTypes() []string {
	var out []string
	for _, t := range []string{"ext2", "ext3", "ext4", "xfs"} {
		if _, err := exec.LookPath("mkfs." + t); err == nil {
			out = append(out, t)
		}
	}
	return out
}

// newMounter returns the mounter of the node: mount(8) without systemd
// scopes (berth's nodes are processes, not systemd units).
func newMounter() mount.Interface { return mount.NewWithoutSystemd("") }
