package realprovider

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/certificate/csr"
)

// kubeProxyUser is the user Kubernetes' bootstrap policy binds to the
// system:node-proxier role.
const kubeProxyUser = "system:kube-proxy"

// proxyCert is a cluster's kube-proxy client certificate.
type proxyCert struct {
	cert, key []byte
	expires   time.Time
}

// kubeProxyCert returns a client certificate of system:kube-proxy for a
// cluster, asked for through the certificates API (signer
// kubernetes.io/kube-apiserver-client) and approved with the admin
// identity; kept until a tenth of its life is left.
func (p *Provider) kubeProxyCert(ctx context.Context, cluster string, admin kubernetes.Interface) ([]byte, []byte, error) {
	p.mu.Lock()
	c, ok := p.proxyCerts[cluster]
	p.mu.Unlock()
	if ok && time.Until(c.expires) > 30*24*time.Hour/10 {
		return c.cert, c.key, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: kubeProxyUser}}, key)
	if err != nil {
		return nil, nil, err
	}
	life := 30 * 24 * time.Hour
	name, uid, err := csr.RequestCertificateWithContext(ctx, admin, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}),
		"", certificatesv1.KubeAPIServerClientSignerName, &life, []certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth}, key)
	if err != nil {
		return nil, nil, fmt.Errorf("kube-proxy certificate request: %w", err)
	}
	req, err := admin.CertificatesV1().CertificateSigningRequests().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, nil, err
	}
	req.Status.Conditions = append(req.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
		Type: certificatesv1.CertificateApproved, Status: "True", Reason: "BerthRealNode",
		Message: "berth approves the kube-proxy certificate of its real nodes",
	})
	if _, err := admin.CertificatesV1().CertificateSigningRequests().UpdateApproval(ctx, name, req, metav1.UpdateOptions{}); err != nil {
		return nil, nil, fmt.Errorf("approving %s: %w", name, err)
	}
	wait, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	certPEM, err := csr.WaitForCertificate(wait, admin, name, uid)
	if err != nil {
		return nil, nil, fmt.Errorf("kube-proxy certificate %s: %w", name, err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	p.mu.Lock()
	p.proxyCerts[cluster] = proxyCert{cert: certPEM, key: keyPEM, expires: time.Now().Add(life)}
	p.mu.Unlock()
	return certPEM, keyPEM, nil
}
