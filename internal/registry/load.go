package registry

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// MirrorHost is the host a registry mirror is configured for: Docker Hub
// images are docker.io to containerd, index.docker.io to name.
func MirrorHost(host string) string {
	if host == name.DefaultRegistry {
		return "docker.io"
	}
	return host
}

// Mirrored is where an image of the given name lives in the registry at
// addr: the name's host becomes the first component of the repository.
func Mirrored(addr string, ref name.Reference) (name.Reference, error) {
	repo := ref.Context()
	path := addr + "/" + MirrorHost(repo.RegistryStr()) + "/" + repo.RepositoryStr()
	switch r := ref.(type) {
	case name.Tag:
		return name.NewTag(path+":"+r.TagStr(), name.Insecure)
	case name.Digest:
		return name.NewDigest(path+"@"+r.DigestStr(), name.Insecure)
	}
	return nil, fmt.Errorf("unexpected reference %s", ref)
}

// Load pushes every named image of an archive (`docker save`, or an OCI
// image layout with io.containerd.image.name or full ref-name
// annotations) into the registry at addr, and returns their names.
func Load(addr, archive string) ([]string, error) {
	f, err := os.Open(archive)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dockerSave, ociLayout := false, false
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s is not a tar archive of images: %w", archive, err)
		}
		switch strings.TrimPrefix(h.Name, "./") {
		case "manifest.json":
			dockerSave = true
		case "oci-layout":
			ociLayout = true
		}
	}
	switch {
	case dockerSave:
		return loadDockerSave(addr, archive)
	case ociLayout:
		return loadOCILayout(addr, archive)
	}
	return nil, fmt.Errorf("%s is neither a `docker save` archive (manifest.json) nor an OCI image layout (oci-layout)", archive)
}

func loadDockerSave(addr, archive string) ([]string, error) {
	raw, err := readMember(archive, "manifest.json")
	if err != nil {
		return nil, err
	}
	var manifest []struct{ RepoTags []string }
	if err := json.Unmarshal(raw, &manifest); err != nil {
		return nil, fmt.Errorf("manifest.json of %s: %w", archive, err)
	}
	var names []string
	for _, m := range manifest {
		for _, t := range m.RepoTags {
			tag, err := name.NewTag(t)
			if err != nil {
				return names, fmt.Errorf("image name %q: %w", t, err)
			}
			img, err := tarball.ImageFromPath(archive, &tag)
			if err != nil {
				return names, fmt.Errorf("image %s: %w", t, err)
			}
			dst, err := Mirrored(addr, tag)
			if err != nil {
				return names, err
			}
			if err := remote.Write(dst, img); err != nil {
				return names, fmt.Errorf("pushing %s: %w", t, err)
			}
			names = append(names, tag.Name())
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%s has no tagged images (docker save IMAGE:TAG names them)", archive)
	}
	return names, nil
}

func loadOCILayout(addr, archive string) ([]string, error) {
	dir, err := os.MkdirTemp("", "berth-image-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if err := extract(archive, dir); err != nil {
		return nil, err
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("OCI layout of %s: %w", archive, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var names []string
	for _, d := range im.Manifests {
		ref := d.Annotations["io.containerd.image.name"]
		if ref == "" {
			ref = d.Annotations["org.opencontainers.image.ref.name"]
		}
		tag, err := name.NewTag(ref, name.StrictValidation)
		if err != nil || !strings.Contains(ref, "/") && !strings.Contains(ref, ":") {
			return names, fmt.Errorf("manifest %s of %s has no image name (an io.containerd.image.name annotation, as docker and ctr export)", d.Digest, archive)
		}
		dst, err := Mirrored(addr, tag)
		if err != nil {
			return names, err
		}
		if d.MediaType.IsIndex() {
			child, err := idx.ImageIndex(d.Digest)
			if err != nil {
				return names, err
			}
			err = remote.WriteIndex(dst, child)
		} else {
			var img v1.Image
			if img, err = idx.Image(d.Digest); err == nil {
				err = remote.Write(dst, img)
			}
		}
		if err != nil {
			return names, fmt.Errorf("pushing %s: %w", ref, err)
		}
		names = append(names, tag.Name())
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%s has no images", archive)
	}
	return names, nil
}

// readMember returns one file of a tar archive.
func readMember(archive, member string) ([]byte, error) {
	f, err := os.Open(archive)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil, fmt.Errorf("%s has no %s", archive, member)
		}
		if err != nil {
			return nil, err
		}
		if strings.TrimPrefix(h.Name, "./") == member {
			return io.ReadAll(io.LimitReader(tr, 64<<20))
		}
	}
}

// extract unpacks the regular files and directories of an archive into
// dir, refusing paths that leave it.
func extract(archive, dir string) error {
	f, err := os.Open(archive)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		clean := filepath.Clean("/" + h.Name)
		if clean == "/" {
			continue
		}
		path := filepath.Join(dir, clean)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(path, 0o700); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				return err
			}
			out, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
			if err != nil {
				return err
			}
			_, err = io.Copy(out, tr)
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		default:
			return errors.New("archive member " + h.Name + " is not a file or directory")
		}
	}
}
