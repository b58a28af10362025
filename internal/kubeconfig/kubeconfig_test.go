package kubeconfig

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/berthproject/berth/internal/pki"
)

func generate(t *testing.T) pki.Paths {
	t.Helper()
	p, err := pki.Generate(t.TempDir(), pki.Options{ClusterName: "demo", ServiceIP: net.ParseIP("10.100.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func read(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// apiServer starts a TLS server with the kube-apiserver certificate of p
// that requires a client certificate of the cluster CA and answers with its
// common name.
func apiServer(t *testing.T, p pki.Paths) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TLS.PeerCertificates) == 0 {
			http.Error(w, "no client certificate", http.StatusUnauthorized)
			return
		}
		io.WriteString(w, r.TLS.PeerCertificates[0].Subject.CommonName)
	}))
	pair, err := tls.LoadX509KeyPair(p.APIServerCert, p.APIServerKey)
	if err != nil {
		t.Fatal(err)
	}
	clientCAs := x509.NewCertPool()
	if !clientCAs.AppendCertsFromPEM(read(t, p.CACert)) {
		t.Fatal("no CA certificate")
	}
	srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{pair},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    clientCAs,
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// whoAmI sends a request with cfg and returns the common name the server
// saw.
func whoAmI(t *testing.T, cfg *rest.Config) string {
	t.Helper()
	client, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Get(cfg.Host + "/version")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %s: %s", resp.Status, body)
	}
	return string(body)
}

func TestAdmin(t *testing.T) {
	p := generate(t)
	srv := apiServer(t, p)
	caPEM, certPEM, keyPEM := read(t, p.CACert), read(t, p.AdminCert), read(t, p.AdminKey)

	out, err := Admin("demo", srv.URL, caPEM, certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(out, []byte(p.Dir)) {
		t.Errorf("kubeconfig refers to files:\n%s", out)
	}
	cfg, err := clientcmd.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CurrentContext != "demo" {
		t.Errorf("current context %q, want demo", cfg.CurrentContext)
	}
	if c := cfg.Contexts["demo"]; c == nil || c.Cluster != "demo" || c.AuthInfo != "demo" {
		t.Errorf("context demo = %+v", c)
	}
	if len(cfg.Clusters) != 1 || len(cfg.AuthInfos) != 1 || len(cfg.Contexts) != 1 {
		t.Errorf("%d clusters, %d users, %d contexts; want one each", len(cfg.Clusters), len(cfg.AuthInfos), len(cfg.Contexts))
	}

	restCfg, err := clientcmd.NewDefaultClientConfig(*cfg, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	if restCfg.Host != srv.URL {
		t.Errorf("host %q, want %q", restCfg.Host, srv.URL)
	}
	tc := restCfg.TLSClientConfig
	if !bytes.Equal(tc.CAData, caPEM) || !bytes.Equal(tc.CertData, certPEM) || !bytes.Equal(tc.KeyData, keyPEM) {
		t.Error("CA, certificate or key data differ from the input")
	}
	if tc.CAFile != "" || tc.CertFile != "" || tc.KeyFile != "" {
		t.Errorf("file references %q %q %q", tc.CAFile, tc.CertFile, tc.KeyFile)
	}
	if got := whoAmI(t, restCfg); got != "kubernetes-admin" {
		t.Errorf("server saw %q, want kubernetes-admin", got)
	}
}

func TestAdminIssuedCert(t *testing.T) {
	p := generate(t)
	srv := apiServer(t, p)
	certPEM, keyPEM, err := pki.IssueClientCert(p, "alice", []string{"system:masters"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Admin("demo", srv.URL, read(t, p.CACert), certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	restCfg, err := clientcmd.RESTConfigFromKubeConfig(out)
	if err != nil {
		t.Fatal(err)
	}
	if got := whoAmI(t, restCfg); got != "alice" {
		t.Errorf("server saw %q, want alice", got)
	}
}

func TestForComponent(t *testing.T) {
	p := generate(t)
	srv := apiServer(t, p)
	out, err := ForComponent(srv.URL, read(t, p.CACert), read(t, p.ControllerManagerCert), read(t, p.ControllerManagerKey))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	restCfg, err := clientcmd.NewDefaultClientConfig(*cfg, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	if restCfg.Host != srv.URL {
		t.Errorf("host %q, want %q", restCfg.Host, srv.URL)
	}
	tc := restCfg.TLSClientConfig
	if tc.CAFile != "" || tc.CertFile != "" || tc.KeyFile != "" {
		t.Errorf("a component kubeconfig refers to files %q %q %q", tc.CAFile, tc.CertFile, tc.KeyFile)
	}
	if got := whoAmI(t, restCfg); got != "system:kube-controller-manager" {
		t.Errorf("server saw %q, want system:kube-controller-manager", got)
	}
}

func TestForBootstrap(t *testing.T) {
	p := generate(t)
	out, err := ForBootstrap("demo", "https://127.0.0.1:6443", read(t, p.CACert), "abcdef.0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	restCfg, err := clientcmd.NewDefaultClientConfig(*cfg, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	if restCfg.Host != "https://127.0.0.1:6443" || restCfg.BearerToken != "abcdef.0123456789abcdef" || len(restCfg.CAData) == 0 || restCfg.CAFile != "" {
		t.Errorf("bootstrap kubeconfig: %+v", restCfg)
	}
	if cfg.CurrentContext != "bootstrap" || cfg.Contexts["bootstrap"].AuthInfo != "kubelet-bootstrap" || cfg.Contexts["bootstrap"].Cluster != "demo" {
		t.Errorf("contexts %+v", cfg.Contexts)
	}
}

func TestInvalidInput(t *testing.T) {
	p := generate(t)
	caPEM, certPEM, keyPEM := read(t, p.CACert), read(t, p.AdminCert), read(t, p.AdminKey)
	otherKey := read(t, p.SchedulerKey)
	for _, tc := range []struct {
		name string
		call func() ([]byte, error)
	}{
		{"admin without name", func() ([]byte, error) { return Admin("", "https://127.0.0.1:6443", caPEM, certPEM, keyPEM) }},
		{"admin with http server", func() ([]byte, error) { return Admin("demo", "http://127.0.0.1:6443", caPEM, certPEM, keyPEM) }},
		{"admin with host-less server", func() ([]byte, error) { return Admin("demo", "https://", caPEM, certPEM, keyPEM) }},
		{"admin without CA", func() ([]byte, error) { return Admin("demo", "https://127.0.0.1:6443", nil, certPEM, keyPEM) }},
		{"admin with key of another certificate", func() ([]byte, error) {
			return Admin("demo", "https://127.0.0.1:6443", caPEM, certPEM, otherKey)
		}},
		{"admin with arguments swapped", func() ([]byte, error) { return Admin("demo", "https://127.0.0.1:6443", caPEM, keyPEM, certPEM) }},
		{"component without key", func() ([]byte, error) {
			return ForComponent("https://127.0.0.1:6443", caPEM, read(t, p.SchedulerCert), nil)
		}},
		{"component with relative server", func() ([]byte, error) {
			return ForComponent("127.0.0.1:6443", caPEM, read(t, p.SchedulerCert), otherKey)
		}},
		{"bootstrap without token", func() ([]byte, error) { return ForBootstrap("demo", "https://127.0.0.1:6443", caPEM, "") }},
		{"bootstrap without CA", func() ([]byte, error) {
			return ForBootstrap("demo", "https://127.0.0.1:6443", nil, "abcdef.0123456789abcdef")
		}},
		{"bootstrap with http server", func() ([]byte, error) {
			return ForBootstrap("demo", "http://127.0.0.1:6443", caPEM, "abcdef.0123456789abcdef")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if out, err := tc.call(); err == nil {
				t.Errorf("no error; kubeconfig:\n%s", out)
			}
		})
	}
}

// TestForExec runs the plugin of an exec kubeconfig through client-go's
// transport, with the environment the kubeconfig gives it, and sees its
// token on the request.
func TestForExec(t *testing.T) {
	p := generate(t)
	dir := t.TempDir()
	plugin := filepath.Join(dir, "plugin")
	script := `#!/bin/sh
printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s-%s"}}' "$TOKEN_PREFIX" "$1"
`
	if err := os.WriteFile(plugin, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case got <- r.Header.Get("Authorization"):
		default:
		}
	}))
	pair, err := tls.LoadX509KeyPair(p.APIServerCert, p.APIServerKey)
	if err != nil {
		t.Fatal(err)
	}
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
	srv.StartTLS()
	defer srv.Close()
	server := "https://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(srv.Listener.Addr().(*net.TCPAddr).Port))

	out, err := ForExec("demo", server, read(t, p.CACert), plugin, []string{"arg"}, map[string]string{"TOKEN_PREFIX": "tok"})
	if err != nil {
		t.Fatal(err)
	}
	restCfg, err := clientcmd.RESTConfigFromKubeConfig(out)
	if err != nil {
		t.Fatal(err)
	}
	client, err := rest.HTTPClientFor(restCfg)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Get(server + "/api")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if auth := <-got; auth != "Bearer tok-arg" {
		t.Errorf("Authorization %q, want Bearer tok-arg", auth)
	}

	for name, call := range map[string]func() ([]byte, error){
		"no command": func() ([]byte, error) { return ForExec("demo", server, read(t, p.CACert), "", nil, nil) },
		"no CA":      func() ([]byte, error) { return ForExec("demo", server, nil, plugin, nil, nil) },
		"http": func() ([]byte, error) {
			return ForExec("demo", "http://127.0.0.1:1", read(t, p.CACert), plugin, nil, nil)
		},
	} {
		if out, err := call(); err == nil {
			t.Errorf("%s: no error; kubeconfig:\n%s", name, out)
		}
	}
}
