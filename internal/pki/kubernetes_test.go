package pki_test

import (
	"crypto/ecdsa"
	"net"
	"testing"

	certutil "k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/keyutil"

	"github.com/berthproject/berth/internal/pki"
)

// TestKubernetesReadsFiles reads the PKI with the parsers behind the
// kube-apiserver and kube-controller-manager flags that take these files.
func TestKubernetesReadsFiles(t *testing.T) {
	p, err := pki.Generate(t.TempDir(), pki.Options{ServiceIP: net.ParseIP("10.100.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	// --service-account-signing-key-file, --service-account-private-key-file,
	// --cluster-signing-key-file and the other keys.
	for _, name := range []string{p.ServiceAccountKey, p.CAKey, p.APIServerKey, p.EtcdClientKey, p.FrontProxyClientKey} {
		key, err := keyutil.PrivateKeyFromFile(name)
		if err != nil {
			t.Errorf("%s: %v", name, err)
		} else if _, ok := key.(*ecdsa.PrivateKey); !ok {
			t.Errorf("%s: key is %T", name, key)
		}
	}
	// --service-account-key-file.
	if keys, err := keyutil.PublicKeysFromFile(p.ServiceAccountPub); err != nil || len(keys) != 1 {
		t.Errorf("%s: %d keys, %v", p.ServiceAccountPub, len(keys), err)
	}
	// --client-ca-file, --requestheader-client-ca-file, --etcd-cafile,
	// --root-ca-file.
	for _, name := range []string{p.CACert, p.FrontProxyCACert, p.EtcdCACert} {
		if _, err := certutil.NewPool(name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
