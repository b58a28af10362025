package pki

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"testing"
)

func TestGenerateServing(t *testing.T) {
	dir := t.TempDir()
	p, err := GenerateServing(dir, "berth-webhooks")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(p.Cert, p.Key)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(p.CACert)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"127.0.0.1", "localhost"} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: host, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			t.Errorf("%s: %v", host, err)
		}
	}
	// A second call keeps everything.
	before, _ := os.ReadFile(p.Cert)
	if _, err := GenerateServing(dir, "berth-webhooks"); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(p.Cert)
	if string(before) != string(after) {
		t.Error("GenerateServing replaced a valid certificate")
	}
	if _, err := GenerateServing("", "x"); err == nil {
		t.Error("no error for an empty directory")
	}
}
