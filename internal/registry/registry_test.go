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

// TestMirror checks containerd's host configuration: the default hosts at
// once, a host first pushed afterwards as it is pushed.
func TestMirror(t *testing.T) {
	dir := t.TempDir()
	r, err := Start(context.Background(), filepath.Join(dir, "registry"), "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	hosts := filepath.Join(dir, "hosts.d")
	if err := r.Mirror(hosts); err != nil {
		t.Fatal(err)
	}
	read := func(host string) string {
		raw, err := os.ReadFile(filepath.Join(hosts, host, "hosts.toml"))
		if err != nil {
			t.Fatalf("hosts.toml of %s: %v", host, err)
		}
		return string(raw)
	}
	for _, h := range DefaultMirrorHosts {
		if got := read(h); !strings.Contains(got, `[host."http://`+r.Addr()+`/v2/`+h+`"]`) || !strings.Contains(got, "override_path = true") {
			t.Errorf("hosts.toml of %s:\n%s", h, got)
		}
	}
	if got := read("docker.io"); !strings.Contains(got, `server = "https://registry-1.docker.io"`) {
		t.Errorf("docker.io's upstream:\n%s", got)
	}

	const ecr = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
	if _, err := os.Stat(filepath.Join(hosts, ecr)); err == nil {
		t.Fatalf("%s mirrored before any image of it", ecr)
	}
	var oci bytes.Buffer
	if err := realnode.WriteImage(&oci, realnode.Image{Name: ecr + "/app:1", Arch: "amd64",
		Files: []realnode.File{{Path: "app", Mode: 0o755, Data: []byte("x")}}}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "app.tar")
	if err := os.WriteFile(path, oci.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(r.Addr(), path); err != nil {
		t.Fatal(err)
	}
	if got := read(ecr); !strings.Contains(got, `[host."http://`+r.Addr()+`/v2/`+ecr+`"]`) || !strings.Contains(got, `server = "https://`+ecr+`"`) {
		t.Errorf("hosts.toml of %s:\n%s", ecr, got)
	}
}
