package pki

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// tempSuffix marks the temporary files of writeFiles; Generate removes
// leftovers.
const tempSuffix = ".tmp"

// fileWrite is the new content of one file.
type fileWrite struct {
	name string
	data []byte
	mode fs.FileMode
}

// writeFiles replaces the files ws, all in dir, each atomically: it writes
// and syncs a temporary file for each, renames them into place in order and
// syncs dir. After a crash every file holds either its old or its new
// content; after a successful return all of them are durable.
//
// The temporary files are written and synced in parallel so that the file
// system can commit them together: on ext4 two dozen files take under 10 ms
// this way and over 100 ms one after another.
func writeFiles(dir string, ws []fileWrite) error {
	if len(ws) == 0 {
		return nil
	}
	temps := make([]string, len(ws))
	errs := make([]error, len(ws))
	var wg sync.WaitGroup
	for i, w := range ws {
		wg.Go(func() { temps[i], errs[i] = writeTemp(dir, w) })
	}
	wg.Wait()
	err := errors.Join(errs...)
	for i, w := range ws {
		if err != nil {
			break
		}
		if err = os.Rename(temps[i], w.name); err == nil {
			temps[i] = ""
		}
	}
	if err != nil {
		for _, tmp := range temps {
			if tmp != "" {
				os.Remove(tmp)
			}
		}
		return err
	}
	return syncDir(dir)
}

// writeTemp writes w to a new synced temporary file next to w.name and
// returns its name.
func writeTemp(dir string, w fileWrite) (name string, err error) {
	f, err := os.CreateTemp(dir, "."+filepath.Base(w.name)+tempSuffix)
	if err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := f.Chmod(w.mode); err != nil {
		return "", err
	}
	if _, err := f.Write(w.data); err != nil {
		return "", err
	}
	if err := f.Sync(); err != nil {
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return f.Name(), nil
}

// mkdirAll creates dir and its missing parents with mode 0700 and syncs the
// directory that holds each new one, so that the PKI does not vanish in a
// crash after Generate returned.
func mkdirAll(dir string) error {
	var created []string
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil {
			break
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		created = append(created, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	if len(created) == 0 {
		return nil
	}
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return err
	}
	for _, d := range created {
		if err := syncDir(filepath.Dir(d)); err != nil {
			return err
		}
	}
	return nil
}
