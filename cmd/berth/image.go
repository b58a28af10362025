package main

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/berthproject/berth/internal/registry"
)

// imageCmd is `berth image load FILE.tar...`: it pushes the images of
// `docker save` or OCI layout archives into the registry of the berth
// serving the data dir, which real nodes pull from.
func imageCmd(args []string, out io.Writer) error {
	if len(args) == 0 || args[0] != "load" {
		return fmt.Errorf("usage: berth image load [--data-dir DIR] FILE.tar...")
	}
	fs := newFlags("image load")
	dataDir := fs.String("data-dir", defaultDataDir(), "berth's data directory")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return fmt.Errorf("berth image load needs an archive: docker save IMAGE:TAG -o FILE.tar, or an OCI image layout tar")
	}
	addr, err := registry.ReadAddress(filepath.Join(*dataDir, "registry"))
	if err != nil {
		return err
	}
	for _, archive := range fs.Args() {
		names, err := registry.Load(addr, archive)
		for _, n := range names {
			fmt.Fprintf(out, "Loaded image: %s\n", n)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
