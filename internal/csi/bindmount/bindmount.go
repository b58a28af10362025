package bindmount

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Mode is how a Mounter publishes.
type Mode string

// The modes.
const (
	Bind    Mode = "bind"
	Symlink Mode = "symlink"
)

// Mounter publishes directories at target paths. It serializes its
// Publish and Unpublish calls, so that two for one target do not race.
type Mounter struct {
	mode Mode
	log  *slog.Logger
	mu   sync.Mutex
}

// New returns a Mounter, probing in a temporary directory whether bind
// mounts are permitted. force, when not empty, skips the probe.
func New(log *slog.Logger, force Mode) *Mounter {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Mounter{mode: force, log: log}
	if m.mode == "" {
		m.mode = probe()
	}
	if m.mode == Symlink {
		log.Info("bind mounts are not permitted here: volumes are published as symbolic links (not read-only, not mount points)")
	}
	return m
}

func probe() Mode {
	dir, err := os.MkdirTemp("", "berth-bindmount-probe-")
	if err != nil {
		return Symlink
	}
	defer os.RemoveAll(dir)
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	if os.Mkdir(src, 0o700) != nil || os.Mkdir(dst, 0o700) != nil {
		return Symlink
	}
	if unix.Mount(src, dst, "", unix.MS_BIND, "") != nil {
		return Symlink
	}
	if err := unix.Unmount(dst, 0); err != nil {
		unix.Unmount(dst, unix.MNT_DETACH)
	}
	return Bind
}

// Mode reports how the Mounter publishes.
func (m *Mounter) Mode() Mode { return m.mode }

// Publish makes the directory dir (open, so that the caller resolved it
// safely) visible at target, read-only if asked. target's parent must
// exist; target is created. Publishing the same directory at the same
// target again succeeds; another directory already there is an error.
func (m *Mounter) Publish(dir *os.File, target string, readonly bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	target = filepath.Clean(target)
	src, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", dir.Fd()))
	if err != nil {
		src = dir.Name()
	}
	want, err := dir.Stat()
	if err != nil {
		return err
	}
	if m.mode == Symlink {
		if readonly {
			m.log.Info("a link cannot be read-only: publishing read-write", "target", target)
		}
		return m.link(src, target, want)
	}
	mounted, err := IsMountPoint(target)
	if err != nil {
		return err
	}
	if mounted {
		if fi, err := os.Stat(target); err == nil && os.SameFile(fi, want) {
			return nil
		}
		return fmt.Errorf("%s is already a mount point of another volume", target)
	}
	if err := os.Mkdir(target, 0o750); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	// The descriptor's magic link names the directory that was opened,
	// whatever happened to the path since.
	if err := unix.Mount(fmt.Sprintf("/proc/self/fd/%d", dir.Fd()), target, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind mounting %s at %s: %w", src, target, err)
	}
	if readonly {
		if err := unix.Mount("", target, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
			unix.Unmount(target, unix.MNT_DETACH)
			return fmt.Errorf("remounting %s read-only: %w", target, err)
		}
	}
	m.log.Debug("bind mounted", "source", src, "target", target, "readonly", readonly)
	return nil
}

func (m *Mounter) link(src, target string, want os.FileInfo) error {
	if fi, err := os.Lstat(target); err == nil {
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			if cur, err := os.Stat(target); err == nil && os.SameFile(cur, want) {
				return nil
			}
			return fmt.Errorf("%s already links to another volume", target)
		case fi.IsDir():
			if err := os.Remove(target); err != nil {
				return fmt.Errorf("replacing %s by a link: %w", target, err)
			}
		default:
			return fmt.Errorf("%s exists and is not a directory", target)
		}
	}
	if err := os.Symlink(src, target); err != nil {
		return err
	}
	m.log.Debug("linked (bind mounts not permitted)", "source", src, "target", target)
	return nil
}

// Unpublish undoes Publish and removes target. A target that is not
// there succeeds.
func (m *Mounter) Unpublish(target string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	target = filepath.Clean(target)
	fi, err := os.Lstat(target)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode()&os.ModeSymlink != 0 {
		return os.Remove(target)
	}
	for {
		mounted, err := IsMountPoint(target)
		if err != nil {
			return err
		}
		if !mounted {
			break
		}
		if err := unix.Unmount(target, 0); err != nil {
			if !errors.Is(err, unix.EBUSY) {
				return fmt.Errorf("unmounting %s: %w", target, err)
			}
			if err := unix.Unmount(target, unix.MNT_DETACH); err != nil {
				return fmt.Errorf("detaching %s: %w", target, err)
			}
		}
	}
	if err := os.Remove(target); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing %s: %w", target, err)
	}
	return nil
}

// IsMountPoint reports whether path is a mount point, from
// /proc/self/mountinfo (a bind mount of a directory of the same file
// system is invisible to device comparisons).
func IsMountPoint(path string) (bool, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return false, err
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	} else if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return false, err
	}
	defer f.Close()
	return hasMountPoint(f, abs)
}

func hasMountPoint(r io.Reader, path string) (bool, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && unescape(fields[4]) == path {
			return true, nil
		}
	}
	return false, sc.Err()
}

// unescape decodes the octal escapes (\040 for a space) of mountinfo.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// UnmountUnder detaches every mount at or below dir, deepest first (for
// cleaning up a node's directory, and after tests). It returns the mount
// points it detached.
func UnmountUnder(dir string) ([]string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	var points []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 {
			p := unescape(fields[4])
			if p == abs || strings.HasPrefix(p, abs+"/") {
				points = append(points, p)
			}
		}
	}
	f.Close()
	if err := sc.Err(); err != nil {
		return nil, err
	}
	var errs []error
	for i := len(points) - 1; i >= 0; i-- { // mountinfo lists parents first
		if err := unix.Unmount(points[i], unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			errs = append(errs, fmt.Errorf("detaching %s: %w", points[i], err))
		}
	}
	return points, errors.Join(errs...)
}
