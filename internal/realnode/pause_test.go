package realnode

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestPauseELF(t *testing.T) {
	for arch := range pauseCode {
		b, err := pauseELF(arch)
		if err != nil {
			t.Fatal(err)
		}
		f, err := elf.NewFile(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", arch, err)
		}
		if f.Type != elf.ET_EXEC || len(f.Progs) != 1 || f.Progs[0].Type != elf.PT_LOAD {
			t.Errorf("%s: %+v", arch, f.FileHeader)
		}
	}
	if _, err := pauseELF("s390x"); err == nil {
		t.Error("pause for an architecture without code")
	}
	// It runs and waits until killed.
	b, _ := pauseELF(runtime.GOARCH)
	if b == nil {
		t.Skip("no pause program for " + runtime.GOARCH)
	}
	path := filepath.Join(t.TempDir(), "pause")
	if err := os.WriteFile(path, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		t.Fatalf("pause exited by itself: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	cmd.Process.Signal(syscall.SIGKILL)
	if err := <-done; err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("pause after SIGKILL: %v", err)
	}
}

func TestPauseImageLayout(t *testing.T) {
	var buf bytes.Buffer
	if err := WritePauseImage(&buf, "amd64"); err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	tr := tar.NewReader(&buf)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name], _ = io.ReadAll(tr)
	}
	var index struct {
		Manifests []struct {
			Digest      string
			Annotations map[string]string
		}
	}
	if err := json.Unmarshal(files["index.json"], &index); err != nil || len(index.Manifests) != 1 {
		t.Fatalf("index.json %s: %v", files["index.json"], err)
	}
	m := index.Manifests[0]
	if m.Annotations["io.containerd.image.name"] != PauseImage {
		t.Errorf("image name %v", m.Annotations)
	}
	manifest := files["blobs/sha256/"+strings.TrimPrefix(m.Digest, "sha256:")]
	if digest(manifest) != m.Digest {
		t.Fatalf("manifest blob missing or wrong")
	}
	if string(files["oci-layout"]) != `{"imageLayoutVersion":"1.0.0"}` {
		t.Errorf("oci-layout %s", files["oci-layout"])
	}
}
