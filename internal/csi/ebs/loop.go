package ebs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Loop devices, through the kernel's ioctls: LOOP_CTL_GET_FREE on
// /dev/loop-control finds a free device, LOOP_CONFIGURE binds a file to
// it, LOOP_SET_CAPACITY rereads the file's size, LOOP_CLR_FD unbinds it.
// /sys/block/loopN/loop/backing_file says which file a device is bound to.

const loopMajor = 7

// loopsOf returns the loop devices bound to a file.
func loopsOf(file string) ([]string, error) {
	want, err := filepath.Abs(file)
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir("/sys/block")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "loop") {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/sys/block", e.Name(), "loop", "backing_file"))
		if err != nil {
			continue // not bound
		}
		if strings.TrimSpace(string(b)) == want {
			out = append(out, "/dev/"+e.Name())
		}
	}
	return out, nil
}

// attachLoop binds a file to a loop device, or returns the device it is
// bound to already.
func attachLoop(file string) (string, error) {
	if devs, err := loopsOf(file); err != nil {
		return "", err
	} else if len(devs) > 0 {
		return devs[0], nil
	}
	f, err := os.OpenFile(file, os.O_RDWR, 0)
	if err != nil {
		return "", err
	}
	defer f.Close()
	ctl, err := os.OpenFile("/dev/loop-control", os.O_RDWR, 0)
	if err != nil {
		return "", err
	}
	defer ctl.Close()
	// Another process may take the free device between the two calls:
	// then ask again.
	for attempt := 0; attempt < 20; attempt++ {
		n, err := unix.IoctlRetInt(int(ctl.Fd()), unix.LOOP_CTL_GET_FREE)
		if err != nil {
			return "", fmt.Errorf("finding a free loop device: %w", err)
		}
		dev := "/dev/loop" + strconv.Itoa(n)
		if err := ensureLoopNode(dev, n); err != nil {
			return "", err
		}
		d, err := os.OpenFile(dev, os.O_RDWR, 0)
		if err != nil {
			return "", err
		}
		cfg := unix.LoopConfig{Fd: uint32(f.Fd())}
		copy(cfg.Info.File_name[:], file)
		err = unix.IoctlLoopConfigure(int(d.Fd()), &cfg)
		d.Close()
		if errors.Is(err, unix.EBUSY) {
			time.Sleep(time.Duration(attempt+1) * time.Millisecond)
			continue
		}
		if err != nil {
			return "", fmt.Errorf("binding %s to %s: %w", file, dev, err)
		}
		return dev, nil
	}
	return "", fmt.Errorf("binding %s to a loop device: every free device was taken", file)
}

// ensureLoopNode makes the device node of loop device n where devtmpfs
// did not.
func ensureLoopNode(dev string, n int) error {
	if _, err := os.Stat(dev); err == nil {
		return nil
	}
	return unix.Mknod(dev, unix.S_IFBLK|0o600, int(unix.Mkdev(loopMajor, uint32(n))))
}

// detachLoop unbinds a loop device. A device still open elsewhere (a
// mount) is unbound when it is last closed.
func detachLoop(dev string) error {
	d, err := os.OpenFile(dev, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer d.Close()
	err = unix.IoctlSetInt(int(d.Fd()), unix.LOOP_CLR_FD, 0)
	if errors.Is(err, unix.ENXIO) {
		return nil // not bound
	}
	return err
}

// detachLoops unbinds every loop device bound to a file.
func detachLoops(file string) error {
	devs, err := loopsOf(file)
	if err != nil {
		return err
	}
	var errs []error
	for _, d := range devs {
		errs = append(errs, detachLoop(d))
	}
	return errors.Join(errs...)
}

// refreshLoop makes a loop device take its file's new size.
func refreshLoop(dev string) error {
	d, err := os.OpenFile(dev, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer d.Close()
	return unix.IoctlSetInt(int(d.Fd()), unix.LOOP_SET_CAPACITY, 0)
}

// deviceSize returns the size of a block device.
func deviceSize(dev string) (int64, error) {
	d, err := os.Open(dev)
	if err != nil {
		return 0, err
	}
	defer d.Close()
	n, err := d.Seek(0, 2)
	return n, err
}

// CleanupLoops unbinds the loop devices bound to files under dir that
// nothing has mounted: what a crashed berth left behind. The daemon calls
// it at start, before any node stages a volume.
func CleanupLoops(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	entries, err := os.ReadDir("/sys/block")
	if err != nil {
		return err
	}
	mounted, err := devicesInUse()
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "loop") {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/sys/block", e.Name(), "loop", "backing_file"))
		if err != nil {
			continue
		}
		file := strings.TrimSuffix(strings.TrimSpace(string(b)), " (deleted)")
		dev := "/dev/" + e.Name()
		if strings.HasPrefix(file, abs+"/") && !mounted[dev] {
			errs = append(errs, detachLoop(dev))
		}
	}
	return errors.Join(errs...)
}
