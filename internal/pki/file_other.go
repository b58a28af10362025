//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package pki

// lockDir does nothing where flock(2) is unavailable; callers must not run
// Generate concurrently on one directory there.
func lockDir(string) (unlock func(), err error) { return func() {}, nil }

// syncDir does nothing where directories cannot be synced.
func syncDir(string) error { return nil }
