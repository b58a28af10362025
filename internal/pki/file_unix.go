//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package pki

import (
	"os"
	"path/filepath"
	"syscall"
)

// lockName is the lock file Generate holds in the PKI directory.
const lockName = ".lock"

// lockDir takes an exclusive lock on dir, waiting for other holders.
func lockDir(dir string) (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(dir, lockName), os.O_RDWR|os.O_CREATE, keyMode)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, &os.PathError{Op: "flock", Path: f.Name(), Err: err}
	}
	// Closing the file releases the lock.
	return func() { f.Close() }, nil
}

// syncDir makes the renames in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
