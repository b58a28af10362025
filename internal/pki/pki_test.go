package pki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"io/fs"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var testNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func testOptions(now time.Time) Options {
	return Options{
		ClusterName:   "demo",
		APIServerSANs: []string{"demo.berth.example", "192.0.2.10", "kubernetes"},
		ServiceIP:     net.ParseIP("10.100.0.1"),
		Now:           func() time.Time { return now },
	}
}

func mustGenerate(t testing.TB, dir string, opts Options) Paths {
	t.Helper()
	p, err := Generate(dir, opts)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	return p
}

// files returns the contents of every file in p.
func files(t testing.TB, p Paths) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, name := range allFiles(p) {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = data
	}
	return out
}

func allFiles(p Paths) []string {
	certs, keys := certsAndKeys(p)
	return slices.Concat(certs, keys)
}

// certsAndKeys splits the files of p into public (certificates, sa.pub) and
// private ones.
func certsAndKeys(p Paths) (public, private []string) {
	return []string{
			p.CACert, p.APIServerCert, p.APIServerKubeletCert, p.AdminCert,
			p.ControllerManagerCert, p.SchedulerCert, p.ServiceAccountPub,
			p.FrontProxyCACert, p.FrontProxyClientCert, p.EtcdCACert,
			p.EtcdServerCert, p.EtcdClientCert,
		}, []string{
			p.CAKey, p.APIServerKey, p.APIServerKubeletKey, p.AdminKey,
			p.ControllerManagerKey, p.SchedulerKey, p.ServiceAccountKey,
			p.FrontProxyCAKey, p.FrontProxyClientKey, p.EtcdCAKey,
			p.EtcdServerKey, p.EtcdClientKey,
		}
}

func mustCert(t testing.TB, name string) *x509.Certificate {
	t.Helper()
	c, err := readCert(name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func pool(t testing.TB, caFile string) *x509.CertPool {
	t.Helper()
	p := x509.NewCertPool()
	p.AddCert(mustCert(t, caFile))
	return p
}

func TestGenerateCertificates(t *testing.T) {
	p := mustGenerate(t, t.TempDir(), testOptions(testNow))
	clientAuth := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	serverAuth := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	both := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}

	for _, tc := range []struct {
		name, cert, key, ca string
		cn                  string
		orgs                []string
		usages              []x509.ExtKeyUsage
		dns                 []string
		ips                 []string
	}{
		{
			name: "apiserver", cert: p.APIServerCert, key: p.APIServerKey, ca: p.CACert,
			cn: "kube-apiserver", usages: serverAuth,
			dns: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "demo.berth.example"},
			ips: []string{"127.0.0.1", "10.100.0.1", "192.0.2.10"},
		},
		{name: "apiserver-kubelet-client", cert: p.APIServerKubeletCert, key: p.APIServerKubeletKey, ca: p.CACert,
			cn: "kube-apiserver-kubelet-client", orgs: []string{"system:masters"}, usages: clientAuth},
		{name: "admin", cert: p.AdminCert, key: p.AdminKey, ca: p.CACert,
			cn: "kubernetes-admin", orgs: []string{"system:masters"}, usages: clientAuth},
		{name: "controller-manager", cert: p.ControllerManagerCert, key: p.ControllerManagerKey, ca: p.CACert,
			cn: "system:kube-controller-manager", usages: clientAuth},
		{name: "scheduler", cert: p.SchedulerCert, key: p.SchedulerKey, ca: p.CACert,
			cn: "system:kube-scheduler", usages: clientAuth},
		{name: "front-proxy-client", cert: p.FrontProxyClientCert, key: p.FrontProxyClientKey, ca: p.FrontProxyCACert,
			cn: "front-proxy-client", usages: clientAuth},
		{name: "etcd-server", cert: p.EtcdServerCert, key: p.EtcdServerKey, ca: p.EtcdCACert,
			cn: "etcd", usages: both, dns: []string{"localhost"}, ips: []string{"127.0.0.1"}},
		{name: "apiserver-etcd-client", cert: p.EtcdClientCert, key: p.EtcdClientKey, ca: p.EtcdCACert,
			cn: "kube-apiserver-etcd-client", usages: clientAuth},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cert := mustCert(t, tc.cert)
			ca := mustCert(t, tc.ca)
			for _, u := range tc.usages {
				_, err := cert.Verify(x509.VerifyOptions{
					Roots:       pool(t, tc.ca),
					CurrentTime: testNow,
					KeyUsages:   []x509.ExtKeyUsage{u},
				})
				if err != nil {
					t.Errorf("verify for usage %v: %v", u, err)
				}
			}
			if cert.Subject.CommonName != tc.cn {
				t.Errorf("CN = %q, want %q", cert.Subject.CommonName, tc.cn)
			}
			if !slices.Equal(cert.Subject.Organization, tc.orgs) {
				t.Errorf("O = %q, want %q", cert.Subject.Organization, tc.orgs)
			}
			if !slices.Equal(cert.ExtKeyUsage, tc.usages) {
				t.Errorf("ExtKeyUsage = %v, want %v", cert.ExtKeyUsage, tc.usages)
			}
			if !sameSet(cert.DNSNames, tc.dns) || len(cert.DNSNames) != len(tc.dns) {
				t.Errorf("DNS SANs = %q, want %q", cert.DNSNames, tc.dns)
			}
			if ips := ipStrings(cert.IPAddresses); !sameSet(ips, tc.ips) || len(ips) != len(tc.ips) {
				t.Errorf("IP SANs = %q, want %q", ips, tc.ips)
			}
			if cert.IsCA {
				t.Error("leaf is a CA")
			}
			if len(cert.SubjectKeyId) == 0 || !bytes.Equal(cert.AuthorityKeyId, ca.SubjectKeyId) {
				t.Errorf("SKI %x, AKI %x, CA SKI %x", cert.SubjectKeyId, cert.AuthorityKeyId, ca.SubjectKeyId)
			}
			if cert.SerialNumber.Sign() <= 0 || cert.SerialNumber.BitLen() > 128 {
				t.Errorf("serial %v", cert.SerialNumber)
			}
			if want := testNow.Add(-clockSkew); !cert.NotBefore.Equal(want) {
				t.Errorf("NotBefore = %v, want %v", cert.NotBefore, want)
			}
			if want := testNow.Add(DefaultCertValidity); !cert.NotAfter.Equal(want) {
				t.Errorf("NotAfter = %v, want %v", cert.NotAfter, want)
			}
			checkP256(t, cert.PublicKey)
			key, err := readKey(tc.key)
			if err != nil {
				t.Fatal(err)
			}
			if !publicKeyEqual(cert.PublicKey, key.Public()) {
				t.Error("key does not match certificate")
			}
			if _, err := tls.LoadX509KeyPair(tc.cert, tc.key); err != nil {
				t.Errorf("tls.LoadX509KeyPair: %v", err)
			}
		})
	}

	for _, tc := range []struct{ name, cert, key, cn string }{
		{"ca", p.CACert, p.CAKey, "kubernetes"},
		{"front-proxy-ca", p.FrontProxyCACert, p.FrontProxyCAKey, "front-proxy-ca"},
		{"etcd-ca", p.EtcdCACert, p.EtcdCAKey, "etcd-ca"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ca := mustCert(t, tc.cert)
			if !ca.IsCA || !ca.BasicConstraintsValid || ca.KeyUsage&x509.KeyUsageCertSign == 0 {
				t.Errorf("not a CA: IsCA %v, key usage %v", ca.IsCA, ca.KeyUsage)
			}
			if ca.Subject.CommonName != tc.cn {
				t.Errorf("CN = %q, want %q", ca.Subject.CommonName, tc.cn)
			}
			if err := ca.CheckSignatureFrom(ca); err != nil {
				t.Errorf("not self-signed: %v", err)
			}
			if len(ca.SubjectKeyId) == 0 || !bytes.Equal(ca.AuthorityKeyId, ca.SubjectKeyId) {
				t.Errorf("SKI %x, AKI %x", ca.SubjectKeyId, ca.AuthorityKeyId)
			}
			if want := testNow.Add(DefaultCAValidity); !ca.NotAfter.Equal(want) {
				t.Errorf("NotAfter = %v, want %v", ca.NotAfter, want)
			}
			checkP256(t, ca.PublicKey)
			if _, err := loadAuthority(tc.cert, tc.key); err != nil {
				t.Error(err)
			}
		})
	}

	t.Run("service-account", func(t *testing.T) {
		data, err := os.ReadFile(p.ServiceAccountPub)
		if err != nil {
			t.Fatal(err)
		}
		block, rest := pem.Decode(data)
		if block == nil || block.Type != "PUBLIC KEY" || len(bytes.TrimSpace(rest)) != 0 {
			t.Fatalf("sa.pub is not one PEM PUBLIC KEY:\n%s", data)
		}
		pub, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		checkP256(t, pub)
		key, err := readKey(p.ServiceAccountKey)
		if err != nil {
			t.Fatal(err)
		}
		if !publicKeyEqual(pub, key.Public()) {
			t.Error("sa.pub does not match sa.key")
		}
	})
}

func checkP256(t *testing.T, pub any) {
	t.Helper()
	k, ok := pub.(*ecdsa.PublicKey)
	if !ok || k.Curve != elliptic.P256() {
		t.Errorf("key is %T, want ECDSA P-256", pub)
	}
}

func TestGenerateKeepsValidFiles(t *testing.T) {
	dir := t.TempDir()
	p := mustGenerate(t, dir, testOptions(testNow))
	before := files(t, p)
	// A restart a month later, with the SANs in another order.
	opts := testOptions(testNow.AddDate(0, 1, 0))
	slices.Reverse(opts.APIServerSANs)
	if p2 := mustGenerate(t, dir, opts); p2 != p {
		t.Errorf("second Generate returned %+v, want %+v", p2, p)
	}
	for name, data := range files(t, p) {
		if !bytes.Equal(data, before[name]) {
			t.Errorf("%s changed", filepath.Base(name))
		}
	}
}

func TestGenerateRepairs(t *testing.T) {
	// The table names files by their base names, from PathsFor("");
	// damage functions get the Paths of the test's directory.
	corrupt := func(base string) func(t *testing.T, p Paths) {
		return func(t *testing.T, p Paths) {
			if err := os.WriteFile(filepath.Join(p.Dir, base), []byte("-----BEGIN CERTIFICATE-----\ngarbage\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	remove := func(base string) func(t *testing.T, p Paths) {
		return func(t *testing.T, p Paths) {
			if err := os.Remove(filepath.Join(p.Dir, base)); err != nil {
				t.Fatal(err)
			}
		}
	}
	p := PathsFor("")
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, p Paths)
		opts   func(*Options)
		// changed lists the files (relative to the directory) that
		// Generate must rewrite; every other file must stay the same.
		changed []string
	}{
		{name: "leaf certificate deleted", damage: remove(p.AdminCert), changed: []string{p.AdminCert, p.AdminKey}},
		{name: "leaf key deleted", damage: remove(p.SchedulerKey), changed: []string{p.SchedulerCert, p.SchedulerKey}},
		{name: "leaf certificate corrupted", damage: corrupt(p.APIServerCert), changed: []string{p.APIServerCert, p.APIServerKey}},
		{name: "leaf key corrupted", damage: corrupt(p.EtcdClientKey), changed: []string{p.EtcdClientCert, p.EtcdClientKey}},
		{
			// A crash between writing a new leaf key and its certificate.
			name: "leaf key replaced",
			damage: func(t *testing.T, p Paths) {
				k, err := newKey()
				if err != nil {
					t.Fatal(err)
				}
				data, err := encodeKey(k)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p.ControllerManagerKey, data, 0o600); err != nil {
					t.Fatal(err)
				}
			},
			changed: []string{p.ControllerManagerCert, p.ControllerManagerKey},
		},
		{
			name: "leaf signed by another CA",
			damage: func(t *testing.T, p Paths) {
				data, err := os.ReadFile(p.EtcdClientCert)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p.FrontProxyClientCert, data, 0o644); err != nil {
					t.Fatal(err)
				}
				data, err = os.ReadFile(p.EtcdClientKey)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p.FrontProxyClientKey, data, 0o600); err != nil {
					t.Fatal(err)
				}
			},
			changed: []string{p.FrontProxyClientCert, p.FrontProxyClientKey},
		},
		{
			// A crash after writing a CA key: the certificate is issued
			// for the same key, and the leaves it signed stay valid.
			name: "CA certificate deleted", damage: remove(p.CACert), changed: []string{p.CACert},
		},
		{name: "CA certificate corrupted", damage: corrupt(p.EtcdCACert), changed: []string{p.EtcdCACert}},
		{name: "sa.pub deleted", damage: remove(p.ServiceAccountPub)},
		{name: "sa.pub corrupted", damage: corrupt(p.ServiceAccountPub)}, // rewritten as before
		{
			name:    "endpoint changed",
			opts:    func(o *Options) { o.APIServerSANs = []string{"other.berth.example"} },
			changed: []string{p.APIServerCert, p.APIServerKey},
		},
		{
			name: "temporary file left behind",
			damage: func(t *testing.T, p Paths) {
				if err := os.WriteFile(filepath.Join(p.Dir, ".admin.crt.tmp12345"), []byte("half"), 0o600); err != nil {
					t.Fatal(err)
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := mustGenerate(t, dir, testOptions(testNow))
			before := files(t, p)
			if tc.damage != nil {
				tc.damage(t, p)
			}
			opts := testOptions(testNow.Add(time.Hour))
			if tc.opts != nil {
				tc.opts(&opts)
			}
			mustGenerate(t, dir, opts)

			after := files(t, p)
			for name, data := range after {
				rel := filepath.Base(name)
				want := !slices.ContainsFunc(tc.changed, func(c string) bool { return filepath.Base(c) == rel })
				if same := bytes.Equal(data, before[name]); same != want {
					if want {
						t.Errorf("%s was rewritten", rel)
					} else {
						t.Errorf("%s was not rewritten", rel)
					}
				}
			}
			if ca := mustCert(t, p.CACert); !ca.IsCA {
				t.Error("ca.crt is not a CA")
			}
			checkChains(t, p, testNow.Add(time.Hour))
			leftovers, err := filepath.Glob(filepath.Join(dir, "*.tmp*"))
			if err != nil {
				t.Fatal(err)
			}
			dots, _ := filepath.Glob(filepath.Join(dir, ".*.tmp*"))
			if len(leftovers)+len(dots) > 0 {
				t.Errorf("temporary files left: %q %q", leftovers, dots)
			}
		})
	}
}

// checkChains verifies every leaf of p against its CA and key.
func checkChains(t *testing.T, p Paths, now time.Time) {
	t.Helper()
	for _, c := range []struct{ cert, key, ca string }{
		{p.APIServerCert, p.APIServerKey, p.CACert},
		{p.APIServerKubeletCert, p.APIServerKubeletKey, p.CACert},
		{p.AdminCert, p.AdminKey, p.CACert},
		{p.ControllerManagerCert, p.ControllerManagerKey, p.CACert},
		{p.SchedulerCert, p.SchedulerKey, p.CACert},
		{p.FrontProxyClientCert, p.FrontProxyClientKey, p.FrontProxyCACert},
		{p.EtcdServerCert, p.EtcdServerKey, p.EtcdCACert},
		{p.EtcdClientCert, p.EtcdClientKey, p.EtcdCACert},
	} {
		cert := mustCert(t, c.cert)
		if _, err := cert.Verify(x509.VerifyOptions{Roots: pool(t, c.ca), CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
			t.Errorf("%s: %v", filepath.Base(c.cert), err)
		}
		if _, err := tls.LoadX509KeyPair(c.cert, c.key); err != nil {
			t.Errorf("%s: %v", filepath.Base(c.cert), err)
		}
	}
}

func TestGenerateDoesNotReplacePublishedKeys(t *testing.T) {
	p := PathsFor("")
	for _, tc := range []struct {
		name, file string
		remove     bool
	}{
		{"CA key deleted", p.CAKey, true},
		{"etcd CA key corrupted", p.EtcdCAKey, false},
		{"front-proxy CA key deleted", p.FrontProxyCAKey, true},
		{"service-account key deleted", p.ServiceAccountKey, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			mustGenerate(t, dir, testOptions(testNow))
			name := filepath.Join(dir, filepath.Base(tc.file))
			var err error
			if tc.remove {
				err = os.Remove(name)
			} else {
				err = os.WriteFile(name, []byte("not a key"), 0o600)
			}
			if err != nil {
				t.Fatal(err)
			}
			_, err = Generate(dir, testOptions(testNow))
			if !errors.Is(err, ErrKeyMissing) {
				t.Fatalf("Generate error = %v, want ErrKeyMissing", err)
			}
			if !strings.Contains(err.Error(), "demo") {
				t.Errorf("error %q does not name the cluster", err)
			}
		})
	}
}

func TestGenerateRenewsLeaves(t *testing.T) {
	for _, tc := range []struct {
		name  string
		after time.Duration
		renew bool
	}{
		{"half the lifetime", DefaultCertValidity / 2, false},
		{"three quarters of the lifetime", DefaultCertValidity * 3 / 4, true},
		{"expired", DefaultCertValidity + time.Hour, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := mustGenerate(t, dir, testOptions(testNow))
			before := files(t, p)
			later := testNow.Add(tc.after)
			mustGenerate(t, dir, testOptions(later))
			after := files(t, p)
			for _, name := range []string{p.CACert, p.CAKey, p.EtcdCACert, p.FrontProxyCACert, p.ServiceAccountKey, p.ServiceAccountPub} {
				if !bytes.Equal(before[name], after[name]) {
					t.Errorf("%s changed", filepath.Base(name))
				}
			}
			for _, name := range []string{p.APIServerCert, p.AdminCert, p.EtcdServerCert, p.FrontProxyClientCert} {
				if renewed := !bytes.Equal(before[name], after[name]); renewed != tc.renew {
					t.Errorf("%s renewed = %v, want %v", filepath.Base(name), renewed, tc.renew)
				}
			}
			checkChains(t, p, later)
		})
	}
}

func TestGenerateLeafNotBeyondCA(t *testing.T) {
	opts := testOptions(testNow)
	opts.CAValidity = 30 * 24 * time.Hour
	p := mustGenerate(t, t.TempDir(), opts)
	ca, admin := mustCert(t, p.CACert), mustCert(t, p.AdminCert)
	if !admin.NotAfter.Equal(ca.NotAfter) {
		t.Errorf("admin NotAfter = %v, want the CA's %v", admin.NotAfter, ca.NotAfter)
	}
}

func TestGeneratePermissions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "clusters", "demo", "pki")
	p := mustGenerate(t, dir, testOptions(testNow))
	check := func(t *testing.T) {
		t.Helper()
		fi, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != 0o700 {
			t.Errorf("directory mode %v, want 0700", got)
		}
		public, private := certsAndKeys(p)
		for _, c := range []struct {
			names []string
			mode  fs.FileMode
		}{{public, 0o644}, {private, 0o600}} {
			for _, name := range c.names {
				fi, err := os.Stat(name)
				if err != nil {
					t.Fatal(err)
				}
				if got := fi.Mode().Perm(); got != c.mode {
					t.Errorf("%s mode %v, want %v", filepath.Base(name), got, c.mode)
				}
			}
		}
	}
	check(t)

	// Generate repairs loosened permissions of files it keeps.
	for _, name := range []string{p.CAKey, p.AdminKey, p.ServiceAccountKey} {
		if err := os.Chmod(name, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	mustGenerate(t, dir, testOptions(testNow))
	check(t)
}

func TestGenerateConcurrent(t *testing.T) {
	dir := t.TempDir()
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() { _, errs[i] = Generate(dir, testOptions(testNow)) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	checkChains(t, PathsFor(dir), testNow)
}

func TestGenerateInvalidOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		dir  string
		opts func(*Options)
	}{
		{"no directory", "", nil},
		{"no service IP", "x", func(o *Options) { o.ServiceIP = nil }},
		{"negative validity", "x", func(o *Options) { o.CertValidity = -time.Hour }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := testOptions(testNow)
			if tc.opts != nil {
				tc.opts(&opts)
			}
			dir := tc.dir
			if dir != "" {
				dir = filepath.Join(t.TempDir(), dir)
			}
			if _, err := Generate(dir, opts); err == nil {
				t.Error("Generate succeeded")
			}
		})
	}
}

// TestTLSHandshake connects clients to servers that use the generated
// certificates the way the control plane does, with mutual TLS.
func TestTLSHandshake(t *testing.T) {
	p := mustGenerate(t, t.TempDir(), testOptions(time.Now()))
	for _, tc := range []struct {
		name                  string
		serverCert, serverKey string
		clientCA              string
		clientCert, clientKey string
		serverCA              string
		serverName            string
		wantCN                string
		wantRejected          bool
	}{
		{
			name:       "kubectl to apiserver by IP",
			serverCert: p.APIServerCert, serverKey: p.APIServerKey, clientCA: p.CACert,
			clientCert: p.AdminCert, clientKey: p.AdminKey, serverCA: p.CACert,
			wantCN: "kubernetes-admin",
		},
		{
			name:       "pod to apiserver by service name",
			serverCert: p.APIServerCert, serverKey: p.APIServerKey, clientCA: p.CACert,
			clientCert: p.ControllerManagerCert, clientKey: p.ControllerManagerKey, serverCA: p.CACert,
			serverName: "kubernetes.default.svc", wantCN: "system:kube-controller-manager",
		},
		{
			name:       "kubectl to apiserver by endpoint name",
			serverCert: p.APIServerCert, serverKey: p.APIServerKey, clientCA: p.CACert,
			clientCert: p.AdminCert, clientKey: p.AdminKey, serverCA: p.CACert,
			serverName: "demo.berth.example", wantCN: "kubernetes-admin",
		},
		{
			name:       "apiserver to etcd",
			serverCert: p.EtcdServerCert, serverKey: p.EtcdServerKey, clientCA: p.EtcdCACert,
			clientCert: p.EtcdClientCert, clientKey: p.EtcdClientKey, serverCA: p.EtcdCACert,
			serverName: "localhost", wantCN: "kube-apiserver-etcd-client",
		},
		{
			name:       "etcd peer",
			serverCert: p.EtcdServerCert, serverKey: p.EtcdServerKey, clientCA: p.EtcdCACert,
			clientCert: p.EtcdServerCert, clientKey: p.EtcdServerKey, serverCA: p.EtcdCACert,
			wantCN: "etcd",
		},
		{
			name:       "apiserver rejects a client of another CA",
			serverCert: p.APIServerCert, serverKey: p.APIServerKey, clientCA: p.CACert,
			clientCert: p.EtcdClientCert, clientKey: p.EtcdClientKey, serverCA: p.CACert,
			wantRejected: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			serverPair, err := tls.LoadX509KeyPair(tc.serverCert, tc.serverKey)
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, r.TLS.PeerCertificates[0].Subject.CommonName)
			}))
			srv.TLS = &tls.Config{
				Certificates: []tls.Certificate{serverPair},
				ClientAuth:   tls.RequireAndVerifyClientCert,
				ClientCAs:    pool(t, tc.clientCA),
			}
			srv.Config.ErrorLog = log.New(io.Discard, "", 0)
			srv.StartTLS()
			defer srv.Close()

			clientPair, err := tls.LoadX509KeyPair(tc.clientCert, tc.clientKey)
			if err != nil {
				t.Fatal(err)
			}
			client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
				Certificates: []tls.Certificate{clientPair},
				RootCAs:      pool(t, tc.serverCA),
				ServerName:   tc.serverName,
			}}}
			resp, err := client.Get(srv.URL)
			if tc.wantRejected {
				if err == nil {
					resp.Body.Close()
					t.Fatal("request succeeded")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if string(body) != tc.wantCN {
				t.Errorf("server saw client %q, want %q", body, tc.wantCN)
			}
		})
	}
}

func TestIssueClientCert(t *testing.T) {
	p := mustGenerate(t, t.TempDir(), testOptions(time.Now()))
	certPEM, keyPEM, err := IssueClientCert(p, "alice", []string{"system:masters", "dev"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		t.Fatalf("certificate and key do not match: %v", err)
	}
	cert, err := parseCert(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool(t, p.CACert), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Error(err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool(t, p.CACert), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
		t.Error("client certificate is valid for server auth")
	}
	if cert.Subject.CommonName != "alice" || !sameSet(cert.Subject.Organization, []string{"system:masters", "dev"}) {
		t.Errorf("subject %v", cert.Subject)
	}
	if d := cert.NotAfter.Sub(cert.NotBefore); d != time.Hour+clockSkew {
		t.Errorf("lifetime %v, want %v", d, time.Hour+clockSkew)
	}

	if _, _, err := IssueClientCert(p, "", nil, 0); err == nil {
		t.Error("empty CN accepted")
	}
	if _, _, err := IssueClientCert(PathsFor(t.TempDir()), "bob", nil, 0); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("without a CA: err = %v, want fs.ErrNotExist", err)
	}
}

func TestReadCACert(t *testing.T) {
	p := mustGenerate(t, t.TempDir(), testOptions(testNow))
	got, err := ReadCACert(p)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(p.CACert)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("ReadCACert differs from ca.crt")
	}
	if _, err := ReadCACert(Paths{CACert: p.AdminCert}); err == nil {
		t.Error("ReadCACert accepted a leaf certificate")
	}
}

// BenchmarkGenerate measures creating the PKI of a new cluster, fsyncs
// included, on the file system of the test's temporary directory.
func BenchmarkGenerate(b *testing.B) {
	root := b.TempDir()
	opts := testOptions(testNow)
	i := 0
	for b.Loop() {
		i++
		mustGenerate(b, filepath.Join(root, strconv.Itoa(i)), opts)
	}
}

// BenchmarkGenerateExisting measures the check of a complete PKI, as on
// every restart of the daemon.
func BenchmarkGenerateExisting(b *testing.B) {
	dir := b.TempDir()
	opts := testOptions(testNow)
	mustGenerate(b, dir, opts)
	for b.Loop() {
		mustGenerate(b, dir, opts)
	}
}

// TestGenerateCompletesInterruptedRun simulates crashes of a first Generate:
// after its root keys were written, and part-way through the other files.
func TestGenerateCompletesInterruptedRun(t *testing.T) {
	for _, tc := range []struct {
		name string
		keep func(p Paths) []string
	}{
		{"after root keys", func(p Paths) []string {
			return []string{p.CAKey, p.FrontProxyCAKey, p.EtcdCAKey, p.ServiceAccountKey}
		}},
		{"part-way through the rest", func(p Paths) []string {
			return []string{p.CAKey, p.FrontProxyCAKey, p.EtcdCAKey, p.ServiceAccountKey,
				p.CACert, p.APIServerKey, p.AdminCert, p.EtcdCACert}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := mustGenerate(t, dir, testOptions(testNow))
			before := files(t, p)
			kept := tc.keep(p)
			for _, name := range allFiles(p) {
				if !slices.Contains(kept, name) {
					if err := os.Remove(name); err != nil {
						t.Fatal(err)
					}
				}
			}
			if err := os.WriteFile(filepath.Join(dir, ".ca.crt.tmp4711"), nil, 0o600); err != nil {
				t.Fatal(err)
			}

			mustGenerate(t, dir, testOptions(testNow))
			after := files(t, p)
			for _, name := range []string{p.CAKey, p.FrontProxyCAKey, p.EtcdCAKey, p.ServiceAccountKey, p.ServiceAccountPub} {
				if !bytes.Equal(before[name], after[name]) {
					t.Errorf("%s changed", filepath.Base(name))
				}
			}
			checkChains(t, p, testNow)
		})
	}
}
