package sim

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net/netip"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
)

func TestRunDuration(t *testing.T) {
	c := &Cluster{cfg: ClusterConfig{JobDuration: 7 * time.Second}, log: slog.New(slog.DiscardHandler)}
	job := []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "Job", Name: "j", Controller: ptr.To(true)}}
	tests := []struct {
		name        string
		annotations map[string]string
		owners      []metav1.OwnerReference
		want        time.Duration
		wantOK      bool
	}{
		{name: "plain pod runs forever"},
		{name: "annotation", annotations: map[string]string{AnnotationRunDuration: "5s"}, want: 5 * time.Second, wantOK: true},
		{name: "job pod", owners: job, want: 7 * time.Second, wantOK: true},
		{name: "annotation wins over job", annotations: map[string]string{AnnotationRunDuration: "1m"}, owners: job, want: time.Minute, wantOK: true},
		{name: "bad annotation ignored", annotations: map[string]string{AnnotationRunDuration: "soon"}},
		{name: "negative annotation ignored", annotations: map[string]string{AnnotationRunDuration: "-1s"}},
		{name: "job not controller", owners: []metav1.OwnerReference{{Kind: "Job", Name: "j"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: tt.annotations, OwnerReferences: tt.owners}}
			got, ok := c.runDuration(pod)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("runDuration = %s, %t; want %s, %t", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestImageRepo(t *testing.T) {
	for image, want := range map[string]string{
		"nginx":                               "nginx",
		"nginx:1.27":                          "nginx",
		"localhost:5000/app":                  "localhost:5000/app",
		"localhost:5000/app:v1":               "localhost:5000/app",
		"public.ecr.aws/eks/agent@sha256:abc": "public.ecr.aws/eks/agent",
	} {
		if got := imageRepo(image); got != want {
			t.Errorf("imageRepo(%q) = %q, want %q", image, got, want)
		}
	}
}

func TestContainerIDStable(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{UID: "u1"}}
	a, b := containerID(pod, "c", 0), containerID(pod, "c", 0)
	if a != b || !containerIDPattern.MatchString(a) {
		t.Errorf("containerID = %q, %q", a, b)
	}
	if containerID(pod, "c", 1) == a {
		t.Error("a restart kept the container ID")
	}
}

func TestClusterConfigValidation(t *testing.T) {
	good := ClusterConfig{Server: "https://127.0.0.1:6443", CAData: testCA(t), BootstrapToken: "abcdef.0123456789abcdef", AdminConfig: &rest.Config{Host: "https://127.0.0.1:6443"}}
	if _, err := NewCluster(good); err != nil {
		t.Fatalf("good config: %v", err)
	}
	for name, mutate := range map[string]func(*ClusterConfig){
		"no server":    func(c *ClusterConfig) { c.Server = "" },
		"no CA":        func(c *ClusterConfig) { c.CAData = nil },
		"bad token":    func(c *ClusterConfig) { c.BootstrapToken = "abcdef" },
		"negative QPS": func(c *ClusterConfig) { c.QPS = -1 },
	} {
		t.Run(name, func(t *testing.T) {
			cfg := good
			mutate(&cfg)
			if _, err := NewCluster(cfg); err == nil {
				t.Error("NewCluster accepted it")
			}
		})
	}
}

func TestNodeSpecValidation(t *testing.T) {
	good := NodeSpec{Name: "ip-10-0-1-5.ec2.internal", InternalIP: netip.MustParseAddr("10.0.1.5"), Subnet: netip.MustParsePrefix("10.0.1.0/24")}
	if err := good.validate(); err != nil {
		t.Fatalf("good spec: %v", err)
	}
	for name, mutate := range map[string]func(*NodeSpec){
		"bad name":       func(s *NodeSpec) { s.Name = "IP_10" },
		"no subnet":      func(s *NodeSpec) { s.Subnet = netip.Prefix{} },
		"tiny subnet":    func(s *NodeSpec) { s.Subnet = netip.MustParsePrefix("10.0.1.0/30") },
		"IPv6 subnet":    func(s *NodeSpec) { s.Subnet = netip.MustParsePrefix("fd00::/64") },
		"no internal IP": func(s *NodeSpec) { s.InternalIP = netip.Addr{} },
	} {
		t.Run(name, func(t *testing.T) {
			s := good
			mutate(&s)
			if err := s.validate(); err == nil {
				t.Error("validate accepted it")
			}
		})
	}
}

// testCA returns a self-signed CA certificate, PEM.
func testCA(t *testing.T) []byte {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
