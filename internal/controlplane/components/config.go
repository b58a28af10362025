package components

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"path/filepath"
	"slices"

	"k8s.io/apimachinery/pkg/util/version"
	"k8s.io/apiserver/pkg/util/compatibility"

	"github.com/berthproject/berth/internal/nodeproxy"
)

// emulationDepth is how many minors below its own a Kubernetes binary can
// emulate through --emulated-version (the floor kube's component registry
// enforces).
const emulationDepth = 3

// Config describes one cluster's control plane.
type Config struct {
	// ClusterName names the cluster in logs, in etcd and in
	// kube-controller-manager's --cluster-name.
	ClusterName string
	// Dir is the cluster's data directory. The PKI is read from Dir/pki;
	// etcd keeps its data in Dir/etcd; Run writes kubeconfig files and
	// logs below Dir (see the package doc). A relative Dir is relative to
	// the working directory, and the directory may then be renamed while
	// the control plane runs: no component keeps an absolute path to it.
	Dir string
	// KubernetesVersion is the minor the cluster serves, "1.37". A minor
	// older than the compiled-in Kubernetes is served through
	// --emulated-version; SupportedVersions lists what is possible.
	KubernetesVersion string
	// APIServerPort, EtcdClientPort and EtcdPeerPort are distinct TCP ports
	// on 127.0.0.1.
	APIServerPort, EtcdClientPort, EtcdPeerPort int
	// ServiceCIDR is the range of Service ClusterIPs, "10.100.0.0/16" in
	// EKS. Its first address is the ClusterIP of default/kubernetes.
	ServiceCIDR string
	// ServiceAccountIssuer is the iss of service-account tokens, an https
	// URL (EKS: https://oidc.eks.REGION.amazonaws.com/id/ID).
	ServiceAccountIssuer string
	// AuthWebhook, if its URL is set, is where kube-apiserver sends
	// bearer tokens it does not know (URL + "/authenticate", TokenReview)
	// and requests RBAC does not allow (URL + "/authorize",
	// SubjectAccessReview): berth's IAM authenticator and access policies.
	AuthWebhook Webhook
	// NodeProxySocket, if set, is the unix socket of berth's node proxy
	// (package nodeproxy): kube-apiserver reaches kubelets and the
	// cluster network through it, its "cluster" egress.
	NodeProxySocket string
	// Logger receives Run's own messages; nil discards them. The
	// components' klog and etcd logs go to files below Dir.
	Logger *slog.Logger
}

// Webhook is an HTTPS endpoint kube-apiserver calls, with the CA
// certificate (PEM) it trusts for it.
type Webhook struct {
	URL      string
	CABundle []byte
}

// SupportedVersions returns the Kubernetes minors this binary can serve,
// newest first: its own minor and the three before it.
func SupportedVersions() []string {
	bin := binaryVersion()
	var vs []string
	for i := range emulationDepth + 1 {
		if uint(i) > bin.Minor() {
			break
		}
		vs = append(vs, fmt.Sprintf("%d.%d", bin.Major(), bin.Minor()-uint(i)))
	}
	return vs
}

// binaryVersion is the major.minor of the compiled-in Kubernetes, as kube's
// component registry sees it (from -ldflags when set, else the source tree).
func binaryVersion() *version.Version {
	v := compatibility.DefaultBuildEffectiveVersion().BinaryVersion()
	return version.MajorMinor(v.Major(), v.Minor())
}

// Validate reports every problem of c at once.
func (c Config) Validate() error {
	var errs []error
	if c.ClusterName == "" {
		errs = append(errs, errors.New("cluster name is empty"))
	}
	if c.Dir == "" {
		errs = append(errs, errors.New("data dir is empty"))
	}
	if !slices.Contains(SupportedVersions(), c.KubernetesVersion) {
		errs = append(errs, fmt.Errorf("kubernetes version %q is not one of %v", c.KubernetesVersion, SupportedVersions()))
	}
	for _, p := range []struct {
		name string
		port int
	}{
		{"kube-apiserver port", c.APIServerPort},
		{"etcd client port", c.EtcdClientPort},
		{"etcd peer port", c.EtcdPeerPort},
	} {
		if p.port < 1 || p.port > 65535 {
			errs = append(errs, fmt.Errorf("%s %d is out of range", p.name, p.port))
		}
	}
	if c.APIServerPort == c.EtcdClientPort || c.APIServerPort == c.EtcdPeerPort || c.EtcdClientPort == c.EtcdPeerPort {
		errs = append(errs, fmt.Errorf("ports %d, %d and %d are not distinct", c.APIServerPort, c.EtcdClientPort, c.EtcdPeerPort))
	}
	if _, err := firstServiceIP(c.ServiceCIDR); err != nil {
		errs = append(errs, err)
	}
	if u, err := url.Parse(c.ServiceAccountIssuer); err != nil || u.Scheme != "https" || u.Host == "" {
		errs = append(errs, fmt.Errorf("service account issuer %q is not an https URL", c.ServiceAccountIssuer))
	}
	if w := c.AuthWebhook; w.URL != "" {
		if u, err := url.Parse(w.URL); err != nil || u.Scheme != "https" || u.Host == "" {
			errs = append(errs, fmt.Errorf("auth webhook %q is not an https URL", w.URL))
		}
		if len(w.CABundle) == 0 {
			errs = append(errs, errors.New("auth webhook has no CA bundle"))
		}
	}
	if s := c.NodeProxySocket; s != "" && (!filepath.IsAbs(s) || len(s) > nodeproxy.MaxSocketPath) {
		errs = append(errs, fmt.Errorf("node proxy socket %q is not an absolute path of at most %d bytes", s, nodeproxy.MaxSocketPath))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("components: invalid config: %w", err)
	}
	return nil
}

// firstServiceIP returns the ClusterIP kube-apiserver gives
// default/kubernetes: the first address after the network address.
func firstServiceIP(cidr string) (netip.Addr, error) {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("service CIDR %q: %w", cidr, err)
	}
	if p != p.Masked() {
		return netip.Addr{}, fmt.Errorf("service CIDR %q has host bits set", cidr)
	}
	if p.Addr().BitLen()-p.Bits() < 2 {
		return netip.Addr{}, fmt.Errorf("service CIDR %q is too small", cidr)
	}
	return p.Addr().Next(), nil
}
