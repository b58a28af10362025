package bindmount

import (
	"io/fs"
	"path/filepath"
)

// Usage measures what a published path holds: the bytes of its regular
// files and the number of its entries (itself included), walking it.
// A published link (where mounting is not permitted) is followed.
func Usage(path string) (bytes, files int64) {
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	}
	filepath.WalkDir(path, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		files++
		if d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				bytes += info.Size()
			}
		}
		return nil
	})
	return bytes, files
}
