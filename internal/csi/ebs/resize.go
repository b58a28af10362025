package ebs

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"

	"k8s.io/mount-utils"
)

// Filesystem growth. ext filesystems grow with resize2fs: offline before
// a stage mounts them, online while published. Online growth needs
// CAP_SYS_RESOURCE (the EXT4_IOC_RESIZE_FS ioctl); where the node lacks
// it, NodeExpandVolume unmounts the volume's filesystem everywhere it is
// mounted, grows it offline and mounts it back. xfs grows online only
// (xfs_growfs).

// isExt reports whether a filesystem type is one of the ext family.
func isExt(fsType string) bool { return fsType == "ext2" || fsType == "ext3" || fsType == "ext4" }

// extSize returns the bytes an ext filesystem spans, from its superblock.
func extSize(dev string) (int64, error) {
	out, err := exec.Command("dumpe2fs", "-h", dev).Output()
	if err != nil {
		return 0, fmt.Errorf("reading the superblock of %s: %w", dev, err)
	}
	var count, size int64
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "Block count":
			count, _ = strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		case "Block size":
			size, _ = strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	if count == 0 || size == 0 {
		return 0, fmt.Errorf("no block count in the superblock of %s", dev)
	}
	return count * size, nil
}

// extNeedsGrowth reports whether an ext filesystem is smaller than its
// device by at least a MiB.
func extNeedsGrowth(dev string) (bool, error) {
	fs, err := extSize(dev)
	if err != nil {
		return false, err
	}
	devSize, err := deviceSize(dev)
	if err != nil {
		return false, err
	}
	return devSize-fs >= 1<<20, nil
}

// growExtOffline checks and grows an ext filesystem nothing has mounted.
func growExtOffline(dev string) error {
	out, err := exec.Command("e2fsck", "-f", "-p", dev).CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 1) { // 1: errors corrected
		return fmt.Errorf("e2fsck %s: %w: %s", dev, err, out)
	}
	if out, err := exec.Command("resize2fs", dev).CombinedOutput(); err != nil {
		return fmt.Errorf("resize2fs %s: %w: %s", dev, err, out)
	}
	return nil
}

// growExtOnline grows a mounted ext filesystem; denied is true when the
// kernel refused the online resize for want of privilege.
func growExtOnline(dev string) (denied bool, err error) {
	out, err := exec.Command("resize2fs", dev).CombinedOutput()
	if err == nil {
		return false, nil
	}
	return bytes.Contains(out, []byte("Permission denied")), fmt.Errorf("resize2fs %s: %w: %s", dev, err, out)
}

// regrowOffline grows the ext filesystem of a device that is mounted:
// it unmounts every mount of it, grows it, and mounts each back where it
// was, read-only where it was.
func (n *Node) regrowOffline(dev string) error {
	infos, err := mount.ParseMountInfo("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	var mounts []mount.MountInfo
	for _, mi := range infos {
		if mi.Source == dev {
			mounts = append(mounts, mi)
		}
	}
	slices.Reverse(mounts) // the latest mounts (the publishes) first
	var unmounted []mount.MountInfo
	var errs []error
	for _, mi := range mounts {
		if err := n.mounter.Unmount(mi.MountPoint); err != nil {
			errs = append(errs, err)
			break
		}
		unmounted = append(unmounted, mi)
	}
	if len(errs) == 0 {
		errs = append(errs, growExtOffline(dev))
	}
	slices.Reverse(unmounted) // the staging mount first
	for _, mi := range unmounted {
		var opts []string
		if slices.Contains(mi.MountOptions, "ro") {
			opts = append(opts, "ro")
		}
		if err := n.mounter.Mount(dev, mi.MountPoint, mi.FsType, opts); err != nil {
			errs = append(errs, fmt.Errorf("mounting %s back at %s: %w", dev, mi.MountPoint, err))
		}
	}
	return errors.Join(errs...)
}
