// Package cptest runs a real control plane (etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler: components.Run) for the
// integration tests of other packages. kube-apiserver keeps process-wide
// state, so it runs in a child process: the test binary itself,
// re-executed into the package's TestHelperControlPlaneProcess, which
// calls HelperProcess.
package cptest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/berthproject/berth/internal/controlplane/components"
	"github.com/berthproject/berth/internal/pki"
)

const (
	helperEnv   = "BERTH_CPTEST_HELPER_CONFIG"
	helperReady = "CPTEST CONTROL PLANE READY"
)

// HelperProcess is the body of a package's TestHelperControlPlaneProcess,
// which is not a test but the control-plane process of its integration
// tests: it runs components.Run with the Config in the environment until
// SIGTERM or its parent's death, and skips when run as a test.
func HelperProcess(t *testing.T) {
	raw := os.Getenv(helperEnv)
	if raw == "" {
		t.Skip("only runs as a child of the integration tests")
	}
	var cfg components.Config
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		t.Fatal(err)
	}
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	go components.WatchParent(ctx, func() { os.Exit(components.ExitOrphaned) })
	if err := components.Run(ctx, cfg, func() { fmt.Println(helperReady) }); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// ControlPlane is a running control plane and the admin's credentials.
type ControlPlane struct {
	Dir    string
	Admin  *rest.Config
	CAData []byte
	proc   *helperProcess
}

// PID is the control plane process's.
func (cp *ControlPlane) PID() int { return cp.proc.cmd.Process.Pid }

// Start starts a control plane for cluster name in a child process and
// waits until it is ready. It is stopped when the test ends.
func Start(t *testing.T, name string) *ControlPlane {
	t.Helper()
	dir := t.TempDir()
	ports := freePorts(t, 3)
	cfg := components.Config{
		ClusterName:          name,
		Dir:                  dir,
		KubernetesVersion:    components.SupportedVersions()[0],
		APIServerPort:        ports[0],
		EtcdClientPort:       ports[1],
		EtcdPeerPort:         ports[2],
		ServiceCIDR:          "10.100.0.0/16",
		ServiceAccountIssuer: "https://oidc.eks.us-east-1.amazonaws.com/id/0123456789ABCDEF",
	}
	p, err := pki.Generate(filepath.Join(dir, "pki"), pki.Options{ClusterName: cfg.ClusterName, ServiceIP: net.ParseIP("10.100.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	caData, err := os.ReadFile(p.CACert)
	if err != nil {
		t.Fatal(err)
	}
	proc := startHelper(t, cfg)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	began := time.Now()
	if err := proc.waitFor(ctx, helperReady); err != nil {
		proc.dumpLogs(t, dir)
		t.Fatalf("control plane not ready: %v", err)
	}
	t.Logf("control plane ready after %s", time.Since(began).Round(time.Millisecond))
	cp := &ControlPlane{
		Dir: dir,
		Admin: &rest.Config{
			Host:            "https://" + net.JoinHostPort("127.0.0.1", fmt.Sprint(cfg.APIServerPort)),
			TLSClientConfig: rest.TLSClientConfig{CAFile: p.CACert, CertFile: p.AdminCert, KeyFile: p.AdminKey},
			QPS:             -1,
		},
		CAData: caData,
		proc:   proc,
	}
	t.Cleanup(func() {
		if t.Failed() {
			proc.dumpLogs(t, dir)
		}
		if err := proc.stop(); err != nil {
			t.Errorf("stopping the control plane: %v", err)
		}
	})
	return cp
}

func freePorts(t *testing.T, n int) []int {
	var ports []int
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

// helperProcess is a running TestHelperControlPlaneProcess.
type helperProcess struct {
	cmd    *exec.Cmd
	lines  chan string
	stderr *syncBuffer
	seen   []string
	exited chan error
}

func startHelper(t *testing.T, cfg components.Config) *helperProcess {
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperControlPlaneProcess$", "-test.v")
	cmd.Env = append(os.Environ(), helperEnv+"="+string(raw))
	h := &helperProcess{cmd: cmd, lines: make(chan string, 100), stderr: new(syncBuffer), exited: make(chan error, 1)}
	cmd.Stderr = h.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			h.lines <- s.Text()
		}
		_, _ = io.Copy(io.Discard, stdout)
		h.exited <- cmd.Wait()
		close(h.lines)
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	})
	return h
}

// waitFor reads the helper's output until a line equal to want.
func (h *helperProcess) waitFor(ctx context.Context, want string) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case line, ok := <-h.lines:
			if !ok {
				return errors.New("process exited")
			}
			h.seen = append(h.seen, line)
			if line == want {
				return nil
			}
		}
	}
}

// stop sends SIGTERM and waits for the helper to exit.
func (h *helperProcess) stop() error {
	if err := h.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	go func() {
		for range h.lines {
		}
	}()
	select {
	case err := <-h.exited:
		return err
	case <-time.After(30 * time.Second):
		_ = h.cmd.Process.Kill()
		return errors.New("control plane did not exit within 30s of SIGTERM")
	}
}

func (h *helperProcess) dumpLogs(t *testing.T, dir string) {
	t.Logf("helper stdout:\n%s", strings.Join(h.seen, "\n"))
	t.Logf("helper stderr:\n%s", h.stderr.String())
	b, err := os.ReadFile(filepath.Join(dir, "logs", "kube.log"))
	if err != nil {
		t.Log(err)
		return
	}
	if len(b) > 20000 {
		b = b[len(b)-20000:]
	}
	t.Logf("tail of kube.log:\n%s", b)
}

// syncBuffer is a bytes.Buffer that exec's copying goroutine and the test
// can use at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
