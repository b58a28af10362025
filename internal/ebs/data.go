package ebs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// The file names of the data: DIR/volumes/vol-X.img and vol-X.fs,
// DIR/snapshots/snap-X.img and snap-X.fs. Files being written carry the
// suffix .tmp until they are complete and renamed into place.
const (
	imageSuffix = ".img"
	fsSuffix    = ".fs"
	tmpSuffix   = ".tmp"
)

// layout names the data files under a data directory.
type layout struct{ dir string }

func (l layout) volumes() string   { return filepath.Join(l.dir, "volumes") }
func (l layout) snapshots() string { return filepath.Join(l.dir, "snapshots") }

func (l layout) volumeImage(id string) string { return filepath.Join(l.volumes(), id+imageSuffix) }
func (l layout) volumeFS(id string) string    { return filepath.Join(l.volumes(), id+fsSuffix) }
func (l layout) snapshotImage(id string) string {
	return filepath.Join(l.snapshots(), id+imageSuffix)
}
func (l layout) snapshotFS(id string) string { return filepath.Join(l.snapshots(), id+fsSuffix) }

// createSparse makes path a sparse file of size bytes, atomically: a file
// that exists under path is complete.
func createSparse(path string, size int64) error {
	tmp := path + tmpSuffix
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return err
	}
	return commit(f, tmp, path)
}

// commit syncs and closes a finished temporary file and renames it into
// place.
func commit(f *os.File, tmp, path string) error {
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// grow extends a file to size bytes; a file that is already that large is
// left alone, so growing twice is harmless.
func grow(path string, size int64) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if st.Size() >= size {
		return nil
	}
	if err := os.Truncate(path, size); err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// copySparse copies src to dst, atomically, as a file of size bytes (at
// least src's size) that keeps src's holes: the extents are shared with
// FICLONE where the filesystem can (btrfs, XFS), else only the data
// extents SEEK_DATA and SEEK_HOLE find are copied. It returns the bytes
// of data the copy holds.
func copySparse(dst, src string, size int64) (int64, error) {
	in, err := os.Open(src)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return 0, err
	}
	size = max(size, st.Size())
	tmp := dst + tmpSuffix
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return 0, err
	}
	fail := func(err error) (int64, error) {
		out.Close()
		os.Remove(tmp)
		return 0, err
	}
	if err := unix.IoctlFileClone(int(out.Fd()), int(in.Fd())); err != nil {
		if err := copyExtents(out, in, st.Size()); err != nil {
			return fail(fmt.Errorf("copying %s: %w", src, err))
		}
	}
	if err := out.Truncate(size); err != nil {
		return fail(err)
	}
	if err := commit(out, tmp, dst); err != nil {
		os.Remove(tmp)
		return 0, err
	}
	return allocated(dst)
}

// copyExtents copies the data extents of in to out at the same offsets.
func copyExtents(out, in *os.File, size int64) error {
	srcFD := int(in.Fd())
	for off := int64(0); off < size; {
		data, err := unix.Seek(srcFD, off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			return nil // only a hole is left
		}
		if err != nil {
			return copyRange(out, in, off, size) // no SEEK_DATA: copy the rest
		}
		hole, err := unix.Seek(srcFD, data, unix.SEEK_HOLE)
		if err != nil {
			hole = size
		}
		if err := copyRange(out, in, data, hole); err != nil {
			return err
		}
		off = hole
	}
	return nil
}

// copyRange copies [from, to) of in to out at the same offsets, with
// copy_file_range where the kernel can, else through a buffer.
func copyRange(out, in *os.File, from, to int64) error {
	for from < to {
		roff, woff := from, from
		n, err := unix.CopyFileRange(int(in.Fd()), &roff, int(out.Fd()), &woff, int(min(to-from, 1<<30)), 0)
		if err != nil || n == 0 {
			return copyBuffered(out, in, from, to)
		}
		from += int64(n)
	}
	return nil
}

func copyBuffered(out, in *os.File, from, to int64) error {
	buf := make([]byte, 1<<20)
	for from < to {
		n, err := in.ReadAt(buf[:min(int64(len(buf)), to-from)], from)
		if n > 0 {
			if _, werr := out.WriteAt(buf[:n], from); werr != nil {
				return werr
			}
			from += int64(n)
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// allocated returns the bytes a file has on disk (its data, not its
// holes).
func allocated(path string) (int64, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, err
	}
	return st.Blocks * 512, nil
}

// copyTree copies a directory tree of regular files, directories and
// symbolic links (an emulated filesystem) from src to dst, atomically:
// the tree is built under dst.tmp and renamed. A missing src is no tree.
func copyTree(dst, src string) error {
	if _, err := os.Lstat(src); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	tmp := dst + tmpSuffix
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(tmp, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(target, info.Mode().Perm()|0o700)
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(path)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		case d.Type().IsRegular():
			_, err := copySparse(target, path, 0)
			if err != nil {
				return err
			}
			return os.Chmod(target, info.Mode().Perm())
		}
		return nil // devices, sockets and pipes are not data
	})
	if err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("copying %s: %w", src, err)
	}
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		return err
	}
	return syncDir(filepath.Dir(dst))
}

// removeData removes the files of a volume or snapshot, and what a crash
// may have left of their temporary copies. Missing files are fine.
func removeData(paths ...string) error {
	var errs []error
	for _, p := range paths {
		for _, q := range []string{p, p + tmpSuffix} {
			if err := os.RemoveAll(q); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// dataID returns the volume or snapshot id a data file name belongs to.
func dataID(name string) string {
	name = strings.TrimSuffix(name, tmpSuffix)
	name = strings.TrimSuffix(name, imageSuffix)
	return strings.TrimSuffix(name, fsSuffix)
}
