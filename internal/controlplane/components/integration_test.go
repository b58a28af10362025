package components

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"k8s.io/kubernetes/plugin/pkg/auth/authorizer/rbac/bootstrappolicy"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/berthproject/berth/internal/pki"
)

// The integration test runs each control plane the way the daemon does: in
// a process of its own (this test binary, re-executed into
// TestHelperControlPlaneProcess), since a process can run only one.
const (
	helperEnv      = "BERTH_COMPONENTS_HELPER_CONFIG"
	helperPprofEnv = "BERTH_COMPONENTS_HELPER_PPROF"
	helperReady    = "CONTROL PLANE READY"
	helperStopped  = "CONTROL PLANE STOPPED, PORTS FREE"
)

// TestHelperControlPlaneProcess is not a test: it is the control-plane
// process of TestControlPlaneIntegration. It runs Run with the Config in
// $BERTH_COMPONENTS_HELPER_CONFIG until SIGTERM, then checks that Run
// returned nil and released its ports.
func TestHelperControlPlaneProcess(t *testing.T) {
	raw := os.Getenv(helperEnv)
	if raw == "" {
		t.Skip("only runs as the child of TestControlPlaneIntegration")
	}
	var cfg Config
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		t.Fatal(err)
	}
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	// Idempotent: keeps the PKI the parent made, makes one for a manual run.
	serviceIP, err := firstServiceIP(cfg.ServiceCIDR)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pki.Generate(filepath.Join(cfg.Dir, "pki"), pki.Options{ClusterName: cfg.ClusterName, ServiceIP: serviceIP.AsSlice()}); err != nil {
		t.Fatal(err)
	}
	if addr := os.Getenv(helperPprofEnv); addr != "" {
		// For manual measurements: go tool pprof http://ADDR/debug/pprof/heap
		go func() { _ = http.ListenAndServe(addr, nil) }()
	}
	ctx, stop := signal.NotifyContext(t.Context(), syscall.SIGTERM)
	defer stop()
	go WatchParent(ctx, func() { os.Exit(ExitOrphaned) })

	if err := Run(ctx, cfg, func() { fmt.Println(helperReady) }); err != nil {
		t.Fatalf("Run: %v", err)
	}
	for _, port := range []int{cfg.APIServerPort, cfg.EtcdClientPort, cfg.EtcdPeerPort} {
		l, err := net.Listen("tcp", loopback(port))
		if err != nil {
			t.Fatalf("port %d still in use after Run returned: %v", port, err)
		}
		l.Close()
	}
	fmt.Println(helperStopped)
}

// TestControlPlaneIntegration starts a real control plane per supported
// Kubernetes version, each in a child process, and checks it as a client
// would: the API answers, serves the version asked for, signs approved
// certificate requests, and accepts bootstrap tokens; then it stops cleanly.
func TestControlPlaneIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real control planes")
	}
	for _, v := range SupportedVersions() {
		t.Run(v, func(t *testing.T) {
			// One process each, so they can run side by side; much of a
			// start is waiting (kube-apiserver's bootstrap hooks,
			// kube-controller-manager minting a token per controller).
			t.Parallel()
			testControlPlane(t, v)
		})
	}
	t.Run("etcd port taken", testPortTaken)
}

// testPortTaken checks that a component's failure while the others start
// ends Run, with the component's error, in bounded time.
func testPortTaken(t *testing.T) {
	dir := t.TempDir()
	ports := freePorts(t, 3)
	taken, err := net.Listen("tcp", loopback(ports[1]))
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cfg := Config{
		ClusterName:          "taken",
		Dir:                  dir,
		KubernetesVersion:    SupportedVersions()[0],
		APIServerPort:        ports[0],
		EtcdClientPort:       ports[1],
		EtcdPeerPort:         ports[2],
		ServiceCIDR:          "10.100.0.0/16",
		ServiceAccountIssuer: "https://oidc.eks.us-east-1.amazonaws.com/id/0123456789ABCDEF",
	}
	proc := startHelper(t, cfg)
	ctx, cancel := context.WithTimeout(t.Context(), componentStopTimeout)
	defer cancel()
	err = proc.waitFor(ctx, helperReady)
	if err == nil {
		t.Fatal("control plane ready with its etcd port taken")
	}
	if !slices.ContainsFunc(proc.seen, func(l string) bool {
		return strings.Contains(l, "etcd:") && strings.Contains(l, "address already in use")
	}) {
		proc.dumpLogs(t, dir)
		t.Fatalf("no etcd error from Run (%v)", err)
	}
}

func testControlPlane(t *testing.T, kubeVersion string) {
	dir := t.TempDir()
	ports := freePorts(t, 3)
	cfg := Config{
		ClusterName:          "it-" + strings.ReplaceAll(kubeVersion, ".", "-"),
		Dir:                  dir,
		KubernetesVersion:    kubeVersion,
		APIServerPort:        ports[0],
		EtcdClientPort:       ports[1],
		EtcdPeerPort:         ports[2],
		ServiceCIDR:          "10.100.0.0/16",
		ServiceAccountIssuer: "https://oidc.eks.us-east-1.amazonaws.com/id/0123456789ABCDEF",
	}
	p, err := pki.Generate(filepath.Join(dir, "pki"), pki.Options{
		ClusterName: cfg.ClusterName,
		ServiceIP:   net.ParseIP("10.100.0.1"),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 40*time.Second)
	defer cancel()
	proc := startControlPlane(ctx, t, cfg)

	admin := &rest.Config{
		Host: "https://" + loopback(cfg.APIServerPort),
		TLSClientConfig: rest.TLSClientConfig{
			CAFile: p.CACert, CertFile: p.AdminCert, KeyFile: p.AdminKey,
		},
	}
	client := kubernetes.NewForConfigOrDie(admin)

	t.Run("namespaces", func(t *testing.T) {
		nss, err := client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, ns := range nss.Items {
			names = append(names, ns.Name)
		}
		for _, want := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
			if !slices.Contains(names, want) {
				t.Errorf("namespaces %v lack %s", names, want)
			}
		}
	})
	t.Run("bootstrap policy", func(t *testing.T) {
		// berth's hooks seed what kube-apiserver's own would: every
		// bootstrap role and binding, and the system priority classes,
		// in place by the time /readyz is ok. The policy depends on the
		// feature gates, which this test process has at the compiled-in
		// version only.
		if kubeVersion != SupportedVersions()[0] {
			t.Skipf("bootstrap policy of emulated version %s is not computed here", kubeVersion)
		}
		roles, err := client.RbacV1().ClusterRoles().List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		rules := map[string]int{}
		for _, r := range roles.Items {
			rules[r.Name] = len(r.Rules)
		}
		for _, r := range append(bootstrappolicy.ClusterRoles(), bootstrappolicy.ControllerRoles()...) {
			n, ok := rules[r.Name]
			if !ok {
				t.Errorf("cluster role %s missing", r.Name)
			} else if r.AggregationRule == nil && n < len(r.Rules) {
				t.Errorf("cluster role %s has %d rules, want %d", r.Name, n, len(r.Rules))
			}
		}
		bindings, err := client.RbacV1().ClusterRoleBindings().List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		have := map[string]bool{}
		for _, b := range bindings.Items {
			have[b.Name] = true
		}
		for _, b := range append(bootstrappolicy.ClusterRoleBindings(), bootstrappolicy.ControllerRoleBindings()...) {
			if !have[b.Name] {
				t.Errorf("cluster role binding %s missing", b.Name)
			}
		}
		nsRoles, err := client.RbacV1().Roles("").List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		nsBindings, err := client.RbacV1().RoleBindings("").List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		have = map[string]bool{}
		for _, r := range nsRoles.Items {
			have["role/"+r.Namespace+"/"+r.Name] = true
		}
		for _, b := range nsBindings.Items {
			have["binding/"+b.Namespace+"/"+b.Name] = true
		}
		for ns, rs := range bootstrappolicy.NamespaceRoles() {
			for _, r := range rs {
				if !have["role/"+ns+"/"+r.Name] {
					t.Errorf("role %s/%s missing", ns, r.Name)
				}
			}
		}
		for ns, bs := range bootstrappolicy.NamespaceRoleBindings() {
			for _, b := range bs {
				if !have["binding/"+ns+"/"+b.Name] {
					t.Errorf("role binding %s/%s missing", ns, b.Name)
				}
			}
		}
		for _, name := range []string{"system-node-critical", "system-cluster-critical"} {
			if _, err := client.SchedulingV1().PriorityClasses().Get(ctx, name, metav1.GetOptions{}); err != nil {
				t.Errorf("priority class %s: %v", name, err)
			}
		}
	})
	t.Run("configmap", func(t *testing.T) {
		cm := &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: "hello"},
			Data:       map[string]string{"greeting": "hi"},
		}
		if _, err := client.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		got, err := client.CoreV1().ConfigMaps("default").Get(ctx, "hello", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Data["greeting"] != "hi" {
			t.Errorf("configmap data = %v", got.Data)
		}
	})
	t.Run("version", func(t *testing.T) {
		info, err := client.Discovery().ServerVersion()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("/version: gitVersion=%s major=%s minor=%s emulation=%s.%s minCompatibility=%s.%s",
			info.GitVersion, info.Major, info.Minor, info.EmulationMajor, info.EmulationMinor,
			info.MinCompatibilityMajor, info.MinCompatibilityMinor)
		if got := info.EmulationMajor + "." + info.EmulationMinor; got != kubeVersion {
			t.Errorf("emulated version = %s, want %s", got, kubeVersion)
		}
		if got, want := info.Major+"."+info.Minor, binaryVersion().String(); got != want {
			t.Errorf("binary version = %s, want %s", got, want)
		}
		// Built without -ldflags, gitVersion is a placeholder.
		if !strings.HasPrefix(info.GitVersion, "v0.0.0-") && !strings.HasPrefix(info.GitVersion, "v"+binaryVersion().String()+".") {
			t.Errorf("gitVersion = %s, want v%s.x", info.GitVersion, binaryVersion())
		}
	})
	t.Run("kubernetes service", func(t *testing.T) {
		// kube-apiserver creates it once its own /readyz is ok.
		var svc *corev1.Service
		err := wait.PollUntilContextCancel(ctx, 50*time.Millisecond, true, func(ctx context.Context) (bool, error) {
			var err error
			svc, err = client.CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{})
			return err == nil, nil
		})
		if err != nil {
			t.Fatalf("default/kubernetes: %v", err)
		}
		if svc.Spec.ClusterIP != "10.100.0.1" {
			t.Errorf("default/kubernetes ClusterIP = %s, want 10.100.0.1", svc.Spec.ClusterIP)
		}
	})
	t.Run("certificate signing", func(t *testing.T) { testCSRSigning(ctx, t, client, p) })
	t.Run("bootstrap token", func(t *testing.T) { testBootstrapToken(ctx, t, client, admin) })

	stopControlPlane(t, proc, cfg)

	// A restart (once: it costs as much as a version) finds the cluster
	// as it was left.
	if kubeVersion != SupportedVersions()[0] {
		return
	}
	proc = startControlPlane(ctx, t, cfg)
	t.Run("restart keeps data", func(t *testing.T) {
		got, err := client.CoreV1().ConfigMaps("default").Get(ctx, "hello", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Data["greeting"] != "hi" {
			t.Errorf("configmap data after restart = %v", got.Data)
		}
	})
	stopControlPlane(t, proc, cfg)
}

// startControlPlane starts a control-plane process for cfg and waits until
// it is ready.
func startControlPlane(ctx context.Context, t *testing.T, cfg Config) *helperProcess {
	t.Helper()
	proc := startHelper(t, cfg)
	began := time.Now()
	if err := proc.waitFor(ctx, helperReady); err != nil {
		proc.dumpLogs(t, cfg.Dir)
		t.Fatalf("control plane not ready: %v", err)
	}
	t.Logf("ready after %s", time.Since(began).Round(time.Millisecond))
	return proc
}

// stopControlPlane stops the process as the daemon does, with SIGTERM, and
// checks that it stopped cleanly and released its ports.
func stopControlPlane(t *testing.T, proc *helperProcess, cfg Config) {
	t.Helper()
	if t.Failed() {
		proc.dumpLogs(t, cfg.Dir)
	}
	began := time.Now()
	if err := proc.stop(); err != nil {
		proc.dumpLogs(t, cfg.Dir)
		t.Fatalf("control-plane process: %v", err)
	}
	t.Logf("stopped after %s", time.Since(began).Round(time.Millisecond))
	for _, port := range []int{cfg.APIServerPort, cfg.EtcdClientPort, cfg.EtcdPeerPort} {
		l, err := net.Listen("tcp", loopback(port))
		if err != nil {
			t.Errorf("port %d in use after the control plane stopped: %v", port, err)
			continue
		}
		l.Close()
	}
}

// testCSRSigning creates two CSRs for the kube-apiserver-client signer,
// approves one and checks that kube-controller-manager signs that one with
// the cluster CA and leaves the other alone.
func testCSRSigning(ctx context.Context, t *testing.T, client kubernetes.Interface, p pki.Paths) {
	csrs := client.CertificatesV1().CertificateSigningRequests()
	create := func(name string) *certificatesv1.CertificateSigningRequest {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
			Subject: pkix.Name{CommonName: name, Organization: []string{"developers"}},
		}, key)
		if err != nil {
			t.Fatal(err)
		}
		expiry := int32(3600)
		csr, err := csrs.Create(ctx, &certificatesv1.CertificateSigningRequest{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: certificatesv1.CertificateSigningRequestSpec{
				Request:           pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}),
				SignerName:        certificatesv1.KubeAPIServerClientSignerName,
				ExpirationSeconds: &expiry,
				Usages:            []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth},
			},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return csr
	}
	pending := create("pending")
	approved := create("approved")
	approved.Status.Conditions = append(approved.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
		Type:    certificatesv1.CertificateApproved,
		Status:  corev1.ConditionTrue,
		Reason:  "IntegrationTest",
		Message: "approved by the test",
	})
	if _, err := csrs.UpdateApproval(ctx, approved.Name, approved, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	var signed []byte
	err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		csr, err := csrs.Get(ctx, approved.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		signed = csr.Status.Certificate
		return len(signed) > 0, nil
	})
	if err != nil {
		t.Fatalf("approved CSR not signed: %v", err)
	}
	block, _ := pem.Decode(signed)
	if block == nil {
		t.Fatalf("status.certificate is not PEM: %q", signed)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(p.CACert)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("signed certificate does not chain to the cluster CA: %v", err)
	}
	if cert.Subject.CommonName != "approved" {
		t.Errorf("signed certificate CN = %s", cert.Subject.CommonName)
	}
	// The signer has handled the later, approved CSR: it has seen the
	// earlier, pending one and must have left it unsigned.
	got, err := csrs.Get(ctx, pending.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Status.Certificate) > 0 {
		t.Error("CSR signed without approval")
	}
}

// testBootstrapToken creates a bootstrap token the way kubeadm does and
// checks that kube-apiserver authenticates it as a bootstrapper, which is
// what a joining kubelet presents.
func testBootstrapToken(ctx context.Context, t *testing.T, client kubernetes.Interface, admin *rest.Config) {
	const id, secret = "abcdef", "0123456789abcdef"
	_, err := client.CoreV1().Secrets("kube-system").Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "bootstrap-token-" + id, Namespace: "kube-system"},
		Type:       corev1.SecretTypeBootstrapToken,
		StringData: map[string]string{
			"token-id":                       id,
			"token-secret":                   secret,
			"expiration":                     time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
			"usage-bootstrap-authentication": "true",
			"usage-bootstrap-signing":        "true",
			"auth-extra-groups":              "system:bootstrappers:berth:default-node-token",
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	anon := rest.AnonymousClientConfig(admin)
	anon.BearerToken = id + "." + secret
	bootstrapper := kubernetes.NewForConfigOrDie(anon)
	var review *authenticationv1.SelfSubjectReview
	// The authenticator reads tokens from an informer: allow it to catch up.
	err = wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		review, err = bootstrapper.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("bootstrap token not accepted: %v", err)
	}
	u := review.Status.UserInfo
	if u.Username != "system:bootstrap:"+id {
		t.Errorf("username = %s, want system:bootstrap:%s", u.Username, id)
	}
	for _, g := range []string{"system:bootstrappers", "system:bootstrappers:berth:default-node-token", "system:authenticated"} {
		if !slices.Contains(u.Groups, g) {
			t.Errorf("groups %v lack %s", u.Groups, g)
		}
	}
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

type helperProcess struct {
	cmd    *exec.Cmd
	lines  chan string
	stderr *syncBuffer
	seen   []string
	exited chan error
}

func startHelper(t *testing.T, cfg Config) *helperProcess {
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

// stop sends SIGTERM and waits for the helper to report a clean stop and
// exit 0.
func (h *helperProcess) stop() error {
	if err := h.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*componentStopTimeout)
	defer cancel()
	if err := h.waitFor(ctx, helperStopped); err != nil {
		return fmt.Errorf("no clean stop: %w", err)
	}
	for range h.lines {
	}
	select {
	case err := <-h.exited:
		return err
	case <-ctx.Done():
		return errors.New("did not exit")
	}
}

func (h *helperProcess) dumpLogs(t *testing.T, dir string) {
	t.Logf("helper stdout:\n%s", strings.Join(h.seen, "\n"))
	t.Logf("helper stderr:\n%s", h.stderr.String())
	for _, name := range []string{"kube.log", "etcd.log"} {
		b, err := os.ReadFile(filepath.Join(dir, "logs", name))
		if err != nil {
			t.Log(err)
			continue
		}
		if len(b) > 20000 {
			b = b[len(b)-20000:]
		}
		t.Logf("tail of %s:\n%s", name, b)
	}
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
