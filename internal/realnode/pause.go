package realnode

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// PauseImage is the name of the sandbox image berth builds and imports
// into every real node's containerd: no registry is needed for it.
const PauseImage = "berth.local/pause:3.10"

// pauseCode is the machine code of the pause process, which sleeps until
// it is killed (containerd stops a sandbox with SIGKILL): a loop around
// pause(2) on amd64, around ppoll(NULL, 0, NULL, NULL) on arm64, which has
// no pause.
var pauseCode = map[string]struct {
	machine uint16
	code    []byte
}{
	"amd64": {62, []byte{
		0xb8, 0x22, 0x00, 0x00, 0x00, // mov eax, 34 (pause)
		0x0f, 0x05, // syscall
		0xeb, 0xf7, // jmp back to the mov
	}},
	"arm64": {183, le32(
		0xd2800000, // mov x0, #0
		0xd2800001, // mov x1, #0
		0xd2800002, // mov x2, #0
		0xd2800003, // mov x3, #0
		0xd2800928, // mov x8, #73 (ppoll)
		0xd4000001, // svc #0
		0x17fffffa, // b back to the first mov
	)},
}

func le32(words ...uint32) []byte {
	b := make([]byte, 0, 4*len(words))
	for _, w := range words {
		b = binary.LittleEndian.AppendUint32(b, w)
	}
	return b
}

// pauseELF is a static ELF executable of pauseCode: one loadable segment,
// no sections, no libc.
func pauseELF(arch string) ([]byte, error) {
	pc, ok := pauseCode[arch]
	if !ok {
		return nil, fmt.Errorf("realnode: no pause program for %s", arch)
	}
	const base, ehsize, phsize = 0x400000, 64, 56
	total := uint64(ehsize + phsize + len(pc.code))
	var b bytes.Buffer
	w := func(v any) { _ = binary.Write(&b, binary.LittleEndian, v) }
	b.Write([]byte{0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0}) // 64-bit, little-endian, SYSV
	w(uint16(2))                                                             // ET_EXEC
	w(pc.machine)
	w(uint32(1))                      // EV_CURRENT
	w(uint64(base + ehsize + phsize)) // entry: the code after the headers
	w(uint64(ehsize))                 // program headers follow the ELF header
	w(uint64(0))                      // no section headers
	w(uint32(0))                      // flags
	w(uint16(ehsize))
	w(uint16(phsize))
	w(uint16(1)) // one program header
	w(uint16(0)) // section header size, count, string index: none
	w(uint16(0))
	w(uint16(0))
	// PT_LOAD of the whole file, readable and executable.
	w(uint32(1))
	w(uint32(5))
	w(uint64(0))
	w(uint64(base))
	w(uint64(base))
	w(total)
	w(total)
	w(uint64(0x1000))
	b.Write(pc.code)
	return b.Bytes(), nil
}

// WritePauseImage writes the pause image as an OCI image layout tar (what
// `ctr images import` and `berth image load` take): one layer with
// /pause, named PauseImage.
func WritePauseImage(out io.Writer, arch string) error {
	bin, err := pauseELF(arch)
	if err != nil {
		return err
	}
	return WriteImage(out, Image{Name: PauseImage, Arch: arch, Entrypoint: []string{"/pause"},
		Files: []File{{Path: "pause", Mode: 0o755, Data: bin}}})
}

// Image is a one-layer image to write as an OCI layout.
type Image struct {
	Name, Arch      string
	Entrypoint, Cmd []string
	Files           []File
}

// File is a file, or a symbolic link when Link is set, of an image's
// layer.
type File struct {
	Path string
	Mode int64
	Data []byte
	Link string
}

// WriteImage writes img as an OCI image layout tar whose one manifest
// carries img.Name as its io.containerd.image.name annotation.
func WriteImage(out io.Writer, img Image) error {
	var layer bytes.Buffer
	lt := tar.NewWriter(&layer)
	for _, f := range img.Files {
		h := &tar.Header{Name: f.Path, Mode: f.Mode, Size: int64(len(f.Data)), ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg}
		if f.Link != "" {
			h.Typeflag, h.Linkname, h.Size = tar.TypeSymlink, f.Link, 0
		}
		if err := lt.WriteHeader(h); err != nil {
			return err
		}
		if f.Link == "" {
			if _, err := lt.Write(f.Data); err != nil {
				return err
			}
		}
	}
	if err := lt.Close(); err != nil {
		return err
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	if _, err := zw.Write(layer.Bytes()); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	config, err := json.Marshal(map[string]any{
		"architecture": img.Arch, "os": "linux",
		"config": map[string]any{"Entrypoint": img.Entrypoint, "Cmd": img.Cmd,
			"Env": []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{digest(layer.Bytes())}},
	})
	if err != nil {
		return err
	}
	manifest, err := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": descriptor("application/vnd.oci.image.config.v1+json", config),
		"layers": []any{descriptor("application/vnd.oci.image.layer.v1.tar+gzip", gz.Bytes())},
	})
	if err != nil {
		return err
	}
	md := descriptor("application/vnd.oci.image.manifest.v1+json", manifest)
	tag := img.Name[strings.LastIndex(img.Name, ":")+1:]
	md["annotations"] = map[string]string{"io.containerd.image.name": img.Name, "org.opencontainers.image.ref.name": tag}
	index, err := json.Marshal(map[string]any{"schemaVersion": 2, "manifests": []any{md}})
	if err != nil {
		return err
	}
	tw := tar.NewWriter(out)
	for _, f := range []struct {
		name string
		data []byte
	}{
		{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{"index.json", index},
		{blobPath(config), config},
		{blobPath(manifest), manifest},
		{blobPath(gz.Bytes()), gz.Bytes()},
	} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.data)), ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		if _, err := tw.Write(f.data); err != nil {
			return err
		}
	}
	return tw.Close()
}

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func blobPath(b []byte) string {
	sum := sha256.Sum256(b)
	return "blobs/sha256/" + hex.EncodeToString(sum[:])
}

func descriptor(mediaType string, b []byte) map[string]any {
	return map[string]any{"mediaType": mediaType, "digest": digest(b), "size": len(b)}
}
