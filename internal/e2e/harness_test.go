package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// berthBin is the binary TestMain builds.
var berthBin string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	flag.Parse()
	if testing.Short() {
		fmt.Println("e2e: skipped in -short mode")
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "berth-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	berthBin = filepath.Join(dir, "berth")
	root, err := moduleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ldflags, err := exec.Command("sh", filepath.Join(root, "scripts", "ldflags")).Output()
	if err != nil {
		fmt.Fprintln(os.Stderr, "scripts/ldflags:", err)
		return 1
	}
	build := exec.Command("go", "build", "-ldflags", strings.TrimSpace(string(ldflags)), "-o", berthBin, "./cmd/berth")
	build.Dir = root
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building berth:", err)
		return 1
	}
	return m.Run()
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", err
	}
	return filepath.Dir(strings.TrimSpace(string(out))), nil
}

func skipShort(t testing.TB) {
	if testing.Short() {
		t.Skip("starts real control planes")
	}
}

// daemon is one `berth serve` process.
type daemon struct {
	t       testing.TB
	dataDir string
	listen  string
	cmd     *exec.Cmd
	log     *bytes.Buffer
	done    chan struct{}
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startDaemon starts berth serve on a fresh data dir (or the given one).
func startDaemon(t testing.TB, dataDir string, extra ...string) *daemon {
	t.Helper()
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	d := &daemon{t: t, dataDir: dataDir, listen: "127.0.0.1:" + strconv.Itoa(freePort(t))}
	d.start(extra...)
	t.Cleanup(func() { d.stop() })
	return d
}

func (d *daemon) start(extra ...string) {
	d.t.Helper()
	args := append([]string{"serve", "--data-dir", d.dataDir, "--listen", d.listen, "--log-level", "debug"}, extra...)
	d.cmd = exec.Command(berthBin, args...)
	d.log = &bytes.Buffer{}
	logFile, err := os.OpenFile(filepath.Join(d.dataDir, "daemon.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		d.t.Fatal(err)
	}
	d.cmd.Stdout, d.cmd.Stderr = logFile, logFile
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := d.cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	d.done = make(chan struct{})
	go func() { d.cmd.Wait(); logFile.Close(); close(d.done) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + d.listen + "/")
		if err == nil {
			resp.Body.Close()
			return
		}
		select {
		case <-d.done:
			d.dumpLog()
			d.t.Fatalf("berth serve exited: %v", d.cmd.ProcessState)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			d.dumpLog()
			d.t.Fatal("berth serve did not answer within 30 s")
		}
	}
}

func (d *daemon) dumpLog() {
	b, _ := os.ReadFile(filepath.Join(d.dataDir, "daemon.log"))
	d.t.Logf("daemon log:\n%s", tail(string(b), 60))
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// stop sends SIGTERM and waits.
func (d *daemon) stop() {
	if d.cmd == nil || d.cmd.Process == nil {
		return
	}
	select {
	case <-d.done:
		return
	default:
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(30 * time.Second):
		d.cmd.Process.Kill()
		<-d.done
		d.t.Error("berth serve did not stop within 30 s of SIGTERM")
	}
	if d.t.Failed() {
		d.dumpLog()
	}
}

// kill sends SIGKILL to the daemon alone (not its process group), as a
// crash would.
func (d *daemon) kill() {
	d.cmd.Process.Kill()
	<-d.done
}

// eks returns an EKS client configured the way the README tells users:
// the shared credentials and config files berth wrote.
func (d *daemon) eks(t testing.TB) *eks.Client {
	t.Helper()
	cfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithSharedCredentialsFiles([]string{filepath.Join(d.dataDir, "credentials")}),
		config.WithSharedConfigFiles([]string{filepath.Join(d.dataDir, "config")}),
		config.WithSharedConfigProfile("default"),
	)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.BaseEndpoint == nil || *cfg.BaseEndpoint != "http://"+d.listen {
		t.Fatalf("config file endpoint = %v, want http://%s", cfg.BaseEndpoint, d.listen)
	}
	return eks.NewFromConfig(cfg)
}

// subnets lists subnet ids from the banner berth printed.
func (d *daemon) subnets(t testing.TB) []string {
	t.Helper()
	var out []string
	sc := bufio.NewScanner(strings.NewReader(d.banner(t)))
	zones := map[string]bool{}
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 4 && strings.HasPrefix(f[0], "subnet-") && f[3] == "public" && len(f) == 4 && !zones[f[1]] {
			zones[f[1]] = true
			out = append(out, f[0])
		}
	}
	if len(out) < 2 {
		t.Fatalf("banner lists %d usable subnets", len(out))
	}
	return out
}

func createInput(name string, subnets []string) *eks.CreateClusterInput {
	return &eks.CreateClusterInput{
		Name:               aws.String(name),
		RoleArn:            aws.String("arn:aws:iam::000000000000:role/eks"),
		ResourcesVpcConfig: &ekstypes.VpcConfigRequest{SubnetIds: subnets[:2]},
	}
}

// waitActive waits with the SDK's own waiter, polling every second.
func waitActive(t testing.TB, c *eks.Client, name string, max time.Duration) *ekstypes.Cluster {
	t.Helper()
	w := eks.NewClusterActiveWaiter(c, func(o *eks.ClusterActiveWaiterOptions) { o.MinDelay, o.MaxDelay = time.Second, 2*time.Second })
	out, err := w.WaitForOutput(context.Background(), &eks.DescribeClusterInput{Name: aws.String(name)}, max)
	if err != nil {
		t.Fatalf("waiting for %s to be ACTIVE: %v", name, err)
	}
	return out.Cluster
}

func waitDeleted(t testing.TB, c *eks.Client, name string, max time.Duration) {
	t.Helper()
	w := eks.NewClusterDeletedWaiter(c, func(o *eks.ClusterDeletedWaiterOptions) { o.MinDelay, o.MaxDelay = time.Second, 2*time.Second })
	if err := w.Wait(context.Background(), &eks.DescribeClusterInput{Name: aws.String(name)}, max); err != nil {
		t.Fatalf("waiting for %s to be deleted: %v", name, err)
	}
}

// kubeClient runs `berth kubeconfig NAME` and builds a client from it.
func (d *daemon) kubeClient(t testing.TB, name string) (*kubernetes.Clientset, []byte) {
	t.Helper()
	out, err := exec.Command(berthBin, "kubeconfig", name, "--data-dir", d.dataDir).Output()
	if err != nil {
		t.Fatalf("berth kubeconfig %s: %v", name, err)
	}
	cfg, err := clientcmd.RESTConfigFromKubeConfig(out)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs, out
}

// controlPlanePID reads a cluster's control-plane pid file.
func (d *daemon) controlPlanePID(name string) (int, bool) {
	raw, err := os.ReadFile(filepath.Join(d.dataDir, "clusters", name, "controlplane.pid"))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	return pid, err == nil
}

func alive(pid int) bool {
	st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	return err == nil && !strings.Contains(string(st), ") Z ")
}

// banner is what the daemon printed (its log holds the banner).
func (d *daemon) banner(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(d.dataDir, "daemon.log"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// waitWarm waits until the daemon has a warm control plane that answers
// /readyz (--warm-control-planes), for at most a minute.
func (d *daemon) waitWarm(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if d.warmReady() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("no warm control plane became ready within a minute")
}

func (d *daemon) warmReady() bool {
	entries, _ := os.ReadDir(filepath.Join(d.dataDir, "spares"))
	for _, e := range entries {
		dir := filepath.Join(d.dataDir, "spares", e.Name())
		raw, err := os.ReadFile(filepath.Join(dir, "controlplane.json"))
		if err != nil {
			continue
		}
		var spec struct {
			Port int `json:"apiServerPort"`
		}
		ca, err := os.ReadFile(filepath.Join(dir, "pki", "ca.crt"))
		if json.Unmarshal(raw, &spec) != nil || err != nil {
			continue
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(ca)
		c := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
		resp, err := c.Get("https://127.0.0.1:" + strconv.Itoa(spec.Port) + "/readyz")
		if err != nil {
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return true
		}
	}
	return false
}
