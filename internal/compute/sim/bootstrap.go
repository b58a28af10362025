package sim

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/certificate/csr"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"
	bootstraputil "k8s.io/cluster-bootstrap/token/util"
)

// BootstrapGroup is the extra group of the tokens CreateBootstrapToken
// makes, and the group EnsureBootstrapRBAC lets join (kubeadm's
// system:bootstrappers:kubeadm:default-node-token, under berth's name).
const BootstrapGroup = "system:bootstrappers:berth:default-node-token"

// The ClusterRoleBindings of EnsureBootstrapRBAC, named as kubeadm names
// them with berth's prefix.
var bootstrapBindings = []struct {
	name, role, group string
}{
	// Lets bootstrappers create CSRs and watch them.
	{"berth:kubelet-bootstrap", "system:node-bootstrapper", BootstrapGroup},
	// Lets csrapproving approve their kubelet client CSRs.
	{"berth:node-autoapprove-bootstrap", "system:certificates.k8s.io:certificatesigningrequests:nodeclient", BootstrapGroup},
	// Lets csrapproving approve nodes' renewals of their own certificate.
	{"berth:node-autoapprove-certificate-rotation", "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient", "system:nodes"},
}

// EnsureBootstrapRBAC creates or repairs the ClusterRoleBindings that let
// nodes join with tokens of BootstrapGroup and have their client
// certificates approved automatically, as kubeadm and EKS set them up.
// It is safe to call again.
func EnsureBootstrapRBAC(ctx context.Context, admin kubernetes.Interface) error {
	bindings := admin.RbacV1().ClusterRoleBindings()
	for _, b := range bootstrapBindings {
		want := &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: b.name, Labels: map[string]string{"app.kubernetes.io/managed-by": "berth"}},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: b.role},
			Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.GroupKind, Name: b.group}},
		}
		got, err := bindings.Get(ctx, b.name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			if _, err := bindings.Create(ctx, want, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
				return fmt.Errorf("sim: creating ClusterRoleBinding %s: %w", b.name, err)
			}
			continue
		case err != nil:
			return fmt.Errorf("sim: reading ClusterRoleBinding %s: %w", b.name, err)
		}
		if got.RoleRef != want.RoleRef {
			// roleRef is immutable.
			if err := bindings.Delete(ctx, b.name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &got.UID}}); err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("sim: replacing ClusterRoleBinding %s: %w", b.name, err)
			}
			if _, err := bindings.Create(ctx, want, metav1.CreateOptions{}); err != nil {
				return fmt.Errorf("sim: replacing ClusterRoleBinding %s: %w", b.name, err)
			}
			continue
		}
		if !apiequality.Semantic.DeepEqual(got.Subjects, want.Subjects) {
			got.Subjects = want.Subjects
			if _, err := bindings.Update(ctx, got, metav1.UpdateOptions{}); err != nil {
				return fmt.Errorf("sim: updating ClusterRoleBinding %s: %w", b.name, err)
			}
		}
	}
	return nil
}

// CreateBootstrapToken creates a bootstrap token Secret in kube-system that
// authenticates as a member of BootstrapGroup until ttl has passed, and
// returns the token, "ID.SECRET". kube-controller-manager's tokencleaner
// deletes the Secret when it expires.
func CreateBootstrapToken(ctx context.Context, admin kubernetes.Interface, ttl time.Duration) (string, error) {
	if ttl <= 0 {
		return "", fmt.Errorf("sim: bootstrap token TTL %s is not positive", ttl)
	}
	token, err := bootstraputil.GenerateBootstrapToken()
	if err != nil {
		return "", fmt.Errorf("sim: generating bootstrap token: %w", err)
	}
	id, secret := token[:6], token[7:]
	_, err = admin.CoreV1().Secrets(metav1.NamespaceSystem).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: bootstraputil.BootstrapTokenSecretName(id), Namespace: metav1.NamespaceSystem},
		Type:       bootstrapapi.SecretTypeBootstrapToken,
		StringData: map[string]string{
			bootstrapapi.BootstrapTokenIDKey:               id,
			bootstrapapi.BootstrapTokenSecretKey:           secret,
			bootstrapapi.BootstrapTokenDescriptionKey:      "berth simulated node join",
			bootstrapapi.BootstrapTokenExpirationKey:       time.Now().Add(ttl).UTC().Format(time.RFC3339),
			bootstrapapi.BootstrapTokenUsageAuthentication: "true",
			bootstrapapi.BootstrapTokenExtraGroupsKey:      BootstrapGroup,
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("sim: creating bootstrap token secret: %w", err)
	}
	return token, nil
}

func validToken(t string) bool { return bootstraputil.IsValidBootstrapToken(t) }

// csrWaitTimeout is how long a join waits for its CSR to be signed before
// it asks again with a new one. csrapproving looks at a CSR once: if the
// RBAC bindings had not reached its authorizer yet, the CSR stays pending.
const csrWaitTimeout = 20 * time.Second

// authRetryWindow is how long a join retries being refused: long enough
// for a new token or binding to reach kube-apiserver's caches, short
// enough that an expired token fails the join.
const authRetryWindow = 15 * time.Second

// requestCertificate obtains a kubelet client certificate for the node
// name with the bootstrap token: a new ECDSA P-256 key, a CSR for
// CN=system:node:NAME, O=system:nodes, and a wait until the cluster has
// approved and signed it. It returns the certificate and key, PEM.
// Errors that a moment may cure are retried until ctx is done: overload,
// a CSR left pending, and for authRetryWindow a refusal.
func (c *Cluster) requestCertificate(ctx context.Context, name string) (certPEM, keyPEM []byte, err error) {
	began := c.clock.Now()
	backoff := wait.Backoff{Duration: 100 * time.Millisecond, Factor: 1.5, Jitter: 0.2, Steps: math.MaxInt32, Cap: 5 * time.Second}
	for {
		certPEM, keyPEM, err := c.requestCertificateOnce(ctx, name)
		if err == nil || ctx.Err() != nil || !c.retriable(err, began) {
			return certPEM, keyPEM, err
		}
		c.log.Debug("retrying node certificate request", "node", name, "err", err)
		select {
		case <-ctx.Done():
			return nil, nil, fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-c.clock.After(backoff.Step()):
		}
	}
}

// errCSRTimeout means a CSR was not signed within csrWaitTimeout.
var errCSRTimeout = errors.New("sim: CSR not signed in time")

func (c *Cluster) retriable(err error, began time.Time) bool {
	if apierrors.IsUnauthorized(err) || apierrors.IsForbidden(err) {
		return c.clock.Since(began) < authRetryWindow
	}
	return errors.Is(err, errCSRTimeout) || apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err) ||
		apierrors.IsTooManyRequests(err) || apierrors.IsServiceUnavailable(err) || apierrors.IsInternalError(err)
}

func (c *Cluster) requestCertificateOnce(ctx context.Context, name string) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: "system:node:" + name, Organization: []string{"system:nodes"}},
	}, key)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	// Named after the request, as kubelet names its CSRs after a digest.
	sum := sha256.Sum256(der)
	c.csrs.start(c.runCtx())
	reqName, reqUID, err := csr.RequestCertificateWithContext(ctx, c.bootstrap,
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}),
		"node-csr-"+hex.EncodeToString(sum[:12]),
		certificatesv1.KubeAPIServerClientKubeletSignerName, nil,
		[]certificatesv1.KeyUsage{certificatesv1.UsageDigitalSignature, certificatesv1.UsageClientAuth},
		key)
	if err != nil {
		return nil, nil, fmt.Errorf("creating CSR: %w", err)
	}
	issued := c.csrs.expect(reqUID)
	waitCtx, cancel := context.WithTimeout(ctx, csrWaitTimeout)
	defer cancel()
	certPEM, err = c.csrs.wait(waitCtx, issued, reqName, reqUID)
	if err != nil {
		if ctx.Err() == nil && waitCtx.Err() != nil {
			return nil, nil, fmt.Errorf("%w: %s", errCSRTimeout, reqName)
		}
		return nil, nil, fmt.Errorf("waiting for CSR %s: %w", reqName, err)
	}
	return certPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), nil
}
