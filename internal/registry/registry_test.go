package registry

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/berthproject/berth/internal/realnode"
)

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	r, err := Start(context.Background(), filepath.Join(dir, "registry"), "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got, err := ReadAddress(filepath.Join(dir, "registry")); err != nil || got != r.Addr() {
		t.Fatalf("ReadAddress = %q, %v; want %q", got, err, r.Addr())
	}

	// An OCI layout, as ctr and docker export.
	var oci bytes.Buffer
	if err := realnode.WriteImage(&oci, realnode.Image{Name: "docker.io/library/hello:1", Arch: "amd64",
		Files: []realnode.File{{Path: "hello", Mode: 0o755, Data: []byte("#!/bin/sh\necho hi\n")}}}); err != nil {
		t.Fatal(err)
	}
	ociPath := filepath.Join(dir, "oci.tar")
	if err := os.WriteFile(ociPath, oci.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	names, err := Load(r.Addr(), ociPath)
	if err != nil || !slices.Equal(names, []string{"index.docker.io/library/hello:1"}) {
		t.Fatalf("Load(OCI) = %v, %v", names, err)
	}
	src, _ := name.NewTag("hello:1")
	mirrored, _ := Mirrored(r.Addr(), src)
	if mirrored.Name() != r.Addr()+"/docker.io/library/hello:1" {
		t.Errorf("mirrored name %s", mirrored.Name())
	}
	img, err := remote.Image(mirrored)
	if err != nil {
		t.Fatalf("pulling back: %v", err)
	}
	if !slices.Equal(r.Hosts(), []string{"docker.io"}) {
		t.Errorf("Hosts() = %v", r.Hosts())
	}

	// The same image as `docker save` writes it, under another name.
	other, _ := name.NewTag("public.ecr.aws/acme/hello:2")
	savePath := filepath.Join(dir, "save.tar")
	if err := tarball.WriteToFile(savePath, other, img); err != nil {
		t.Fatal(err)
	}
	names, err = Load(r.Addr(), savePath)
	if err != nil || !slices.Equal(names, []string{"public.ecr.aws/acme/hello:2"}) {
		t.Fatalf("Load(docker save) = %v, %v", names, err)
	}
	if !slices.Equal(r.Hosts(), []string{"docker.io", "public.ecr.aws"}) {
		t.Errorf("Hosts() = %v", r.Hosts())
	}

	// Not an image archive.
	junk := filepath.Join(dir, "junk.tar")
	os.WriteFile(junk, []byte("not a tar"), 0o600)
	if _, err := Load(r.Addr(), junk); err == nil || !strings.Contains(err.Error(), "not a tar archive") {
		t.Errorf("Load(junk) = %v", err)
	}
	if _, err := Load(r.Addr(), filepath.Join(dir, "missing.tar")); err == nil {
		t.Error("Load of a missing file")
	}
}
