package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"
)

const (
	// DefaultCAValidity is the lifetime of a new CA certificate (kubeadm's).
	DefaultCAValidity = 10 * 365 * 24 * time.Hour
	// DefaultCertValidity is the lifetime of a new leaf certificate
	// (kubeadm's). Generate renews leaves, so a running cluster keeps
	// working past it.
	DefaultCertValidity = 365 * 24 * time.Hour

	// clockSkew backdates NotBefore so that a peer whose clock is slightly
	// behind accepts a certificate issued a moment ago.
	clockSkew = time.Minute

	dirMode  fs.FileMode = 0o700
	keyMode  fs.FileMode = 0o600
	certMode fs.FileMode = 0o644
)

// ErrKeyMissing means a CA certificate or service-account public key exists
// but its private key is missing or unreadable. Generate does not replace such
// a key, as that would invalidate every credential of the cluster; deleting
// both files lets it start over.
var ErrKeyMissing = errors.New("pki: private key missing")

// Options configure Generate.
type Options struct {
	// ClusterName names the cluster in errors.
	ClusterName string
	// APIServerSANs are extra subject alternative names of the
	// kube-apiserver serving certificate, such as the host name of the
	// cluster endpoint. Entries that parse as IP addresses become IP SANs,
	// the others DNS names.
	APIServerSANs []string
	// ServiceIP is the first address of the service CIDR, the ClusterIP of
	// the default/kubernetes Service (10.100.0.1 in EKS's default CIDR).
	// Required.
	ServiceIP net.IP
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// CAValidity is the lifetime of new CA certificates; zero means
	// DefaultCAValidity.
	CAValidity time.Duration
	// CertValidity is the lifetime of new leaf certificates; zero means
	// DefaultCertValidity. A leaf never outlives its CA.
	CertValidity time.Duration
}

func (o Options) withDefaults() (Options, error) {
	if o.ServiceIP == nil {
		return o, errors.New("service IP not set")
	}
	if o.CAValidity < 0 || o.CertValidity < 0 {
		return o, errors.New("negative validity")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.CAValidity == 0 {
		o.CAValidity = DefaultCAValidity
	}
	if o.CertValidity == 0 {
		o.CertValidity = DefaultCertValidity
	}
	return o, nil
}

// Generate makes sure dir holds a complete, valid PKI for one cluster and
// returns its file names. It creates dir with mode 0700 and writes PEM files:
// private keys with mode 0600, certificates and sa.pub with mode 0644. Each
// file is replaced atomically and is durable when Generate returns. New CA
// and service-account keys are made durable before any other file is
// written, so a crash leaves a set that the next call completes.
//
// Files that are valid are kept, so calling Generate again returns the same
// CAs. A leaf certificate is reissued with a new key when it is missing,
// unreadable, does not match its key, was not signed by its CA, no longer
// matches opts (subject, usages, SANs), or has used up two thirds of its
// lifetime. A CA certificate is reissued, with the same key, when it is
// missing, unreadable, does not match its key or is outside its validity
// period. Concurrent calls on the same dir are serialised by a lock on the
// file .lock in dir.
func Generate(dir string, opts Options) (Paths, error) {
	p, err := generate(dir, opts)
	if err != nil {
		if opts.ClusterName != "" {
			return Paths{}, fmt.Errorf("generating PKI of cluster %s: %w", opts.ClusterName, err)
		}
		return Paths{}, fmt.Errorf("generating PKI in %s: %w", dir, err)
	}
	return p, nil
}

func generate(dir string, opts Options) (Paths, error) {
	if dir == "" {
		return Paths{}, errors.New("empty directory name")
	}
	opts, err := opts.withDefaults()
	if err != nil {
		return Paths{}, err
	}
	if err := mkdirAll(dir); err != nil {
		return Paths{}, err
	}
	if err := ensureMode(dir, dirMode); err != nil {
		return Paths{}, err
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return Paths{}, err
	}
	defer unlock()
	if err := removeTempFiles(dir); err != nil {
		return Paths{}, err
	}

	p := PathsFor(dir)
	g := &generator{opts: opts, now: opts.Now()}
	ca, err := g.authority(p.CACert, p.CAKey, "kubernetes")
	if err != nil {
		return Paths{}, err
	}
	frontProxyCA, err := g.authority(p.FrontProxyCACert, p.FrontProxyCAKey, "front-proxy-ca")
	if err != nil {
		return Paths{}, err
	}
	etcdCA, err := g.authority(p.EtcdCACert, p.EtcdCAKey, "etcd-ca")
	if err != nil {
		return Paths{}, err
	}
	if err := g.serviceAccountKey(p.ServiceAccountKey, p.ServiceAccountPub); err != nil {
		return Paths{}, err
	}

	apiDNS, apiIPs := splitSANs(opts.APIServerSANs)
	leaves := []leaf{{
		certFile: p.APIServerCert, keyFile: p.APIServerKey, ca: ca,
		cn:       "kube-apiserver",
		usages:   []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		dnsNames: union([]string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}, apiDNS),
		ips:      unionIPs([]net.IP{net.IPv4(127, 0, 0, 1), opts.ServiceIP}, apiIPs),
	}, {
		// kubeadm uses O=kubeadm:cluster-admins, which needs a binding
		// that berth's control plane does not create.
		certFile: p.APIServerKubeletCert, keyFile: p.APIServerKubeletKey, ca: ca,
		cn: "kube-apiserver-kubelet-client", orgs: []string{"system:masters"},
		usages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, {
		certFile: p.AdminCert, keyFile: p.AdminKey, ca: ca,
		cn: "kubernetes-admin", orgs: []string{"system:masters"},
		usages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, {
		certFile: p.ControllerManagerCert, keyFile: p.ControllerManagerKey, ca: ca,
		cn:     "system:kube-controller-manager",
		usages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, {
		certFile: p.SchedulerCert, keyFile: p.SchedulerKey, ca: ca,
		cn:     "system:kube-scheduler",
		usages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, {
		certFile: p.FrontProxyClientCert, keyFile: p.FrontProxyClientKey, ca: frontProxyCA,
		cn:     "front-proxy-client",
		usages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, {
		// Also etcd's peer certificate, hence client auth.
		certFile: p.EtcdServerCert, keyFile: p.EtcdServerKey, ca: etcdCA,
		cn:       "etcd",
		usages:   []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		dnsNames: []string{"localhost"},
		ips:      []net.IP{net.IPv4(127, 0, 0, 1)},
	}, {
		certFile: p.EtcdClientCert, keyFile: p.EtcdClientKey, ca: etcdCA,
		cn:     "kube-apiserver-etcd-client",
		usages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}}
	for _, l := range leaves {
		if err := g.leaf(l); err != nil {
			return Paths{}, err
		}
	}

	// New root keys are durable before anything that depends on them is
	// written, so that no crash leaves a CA certificate or sa.pub without
	// its private key. Everything else can be derived again.
	if err := writeFiles(dir, g.roots); err != nil {
		return Paths{}, err
	}
	if err := writeFiles(dir, g.rest); err != nil {
		return Paths{}, err
	}
	return p, nil
}

// generator checks the files of a PKI and collects what needs writing.
type generator struct {
	opts Options
	now  time.Time

	roots []fileWrite // new private keys of CAs and of the service-account pair
	rest  []fileWrite // everything else to write, after roots
}

// newRootKey generates a CA or service-account key to be written to name.
func (g *generator) newRootKey(name string) (*ecdsa.PrivateKey, error) {
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	data, err := encodeKey(key)
	if err != nil {
		return nil, err
	}
	g.roots = append(g.roots, fileWrite{name: name, data: data, mode: keyMode})
	return key, nil
}

// authority returns the CA in certFile and keyFile, creating or reissuing
// what is missing or invalid. Its key is replaced only while no certificate
// has been written for it.
func (g *generator) authority(certFile, keyFile, cn string) (*authority, error) {
	key, err := readKey(keyFile)
	switch {
	case err == nil:
		if err := ensureMode(keyFile, keyMode); err != nil {
			return nil, err
		}
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, errInvalid):
		// A key is written before its certificate, so a certificate
		// without a usable key is damage, not an interrupted Generate.
		if exists, serr := fileExists(certFile); serr != nil {
			return nil, serr
		} else if exists {
			return nil, fmt.Errorf("CA certificate %s has no usable key: %w: %v", certFile, ErrKeyMissing, err)
		}
		if key, err = g.newRootKey(keyFile); err != nil {
			return nil, err
		}
	default:
		return nil, err
	}

	cert, err := readCert(certFile)
	switch {
	case err == nil:
		if cert.IsCA && publicKeyEqual(cert.PublicKey, key.Public()) && g.inValidity(cert) {
			if err := ensureMode(certFile, certMode); err != nil {
				return nil, err
			}
			return &authority{cert: cert, key: key}, nil
		}
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, errInvalid):
	default:
		return nil, err
	}

	ca, certPEM, err := newAuthority(key, cn, g.now, g.opts.CAValidity)
	if err != nil {
		return nil, fmt.Errorf("creating CA %s: %w", cn, err)
	}
	g.rest = append(g.rest, fileWrite{name: certFile, data: certPEM, mode: certMode})
	return ca, nil
}

// serviceAccountKey makes sure keyFile holds the service-account signing key
// and pubFile its public half. Like a CA key, the private key is replaced only
// while no public key has been written for it.
func (g *generator) serviceAccountKey(keyFile, pubFile string) error {
	key, err := readKey(keyFile)
	switch {
	case err == nil:
		if err := ensureMode(keyFile, keyMode); err != nil {
			return err
		}
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, errInvalid):
		if exists, serr := fileExists(pubFile); serr != nil {
			return serr
		} else if exists {
			return fmt.Errorf("service-account public key %s has no usable private key: %w: %v", pubFile, ErrKeyMissing, err)
		}
		if key, err = g.newRootKey(keyFile); err != nil {
			return err
		}
	default:
		return err
	}

	want, err := encodePublicKey(key.Public())
	if err != nil {
		return fmt.Errorf("encoding public key of %s: %w", keyFile, err)
	}
	have, err := os.ReadFile(pubFile)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if string(have) == string(want) {
		return ensureMode(pubFile, certMode)
	}
	g.rest = append(g.rest, fileWrite{name: pubFile, data: want, mode: certMode})
	return nil
}

// leaf describes one certificate signed by one of the cluster's CAs.
type leaf struct {
	certFile, keyFile string
	ca                *authority
	cn                string
	orgs              []string
	usages            []x509.ExtKeyUsage
	dnsNames          []string
	ips               []net.IP
}

func (l leaf) template() *x509.Certificate {
	return &x509.Certificate{
		Subject:     subject(l.cn, l.orgs),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: l.usages,
		DNSNames:    l.dnsNames,
		IPAddresses: l.ips,
	}
}

// leaf keeps the certificate and key of l if they are valid and issues new
// ones otherwise.
func (g *generator) leaf(l leaf) error {
	key, keyErr := readKey(l.keyFile)
	cert, certErr := readCert(l.certFile)
	for _, err := range []error{keyErr, certErr} {
		if err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, errInvalid) {
			return err
		}
	}
	if keyErr == nil && certErr == nil && g.leafValid(l, cert, key) {
		if err := ensureMode(l.keyFile, keyMode); err != nil {
			return err
		}
		return ensureMode(l.certFile, certMode)
	}

	k, err := newKey()
	if err != nil {
		return err
	}
	keyPEM, err := encodeKey(k)
	if err != nil {
		return err
	}
	certPEM, err := l.ca.sign(l.template(), k.Public(), g.now, g.opts.CertValidity)
	if err != nil {
		return fmt.Errorf("signing %s: %w", l.certFile, err)
	}
	g.rest = append(g.rest,
		fileWrite{name: l.keyFile, data: keyPEM, mode: keyMode},
		fileWrite{name: l.certFile, data: certPEM, mode: certMode})
	return nil
}

// leafValid reports whether cert and key can be kept for l.
func (g generator) leafValid(l leaf, cert *x509.Certificate, key crypto.Signer) bool {
	if cert.IsCA || !publicKeyEqual(cert.PublicKey, key.Public()) {
		return false
	}
	if string(cert.RawIssuer) != string(l.ca.cert.RawSubject) || cert.CheckSignatureFrom(l.ca.cert) != nil {
		return false
	}
	if cert.Subject.CommonName != l.cn || !sameSet(cert.Subject.Organization, l.orgs) {
		return false
	}
	if !sameSet(cert.ExtKeyUsage, l.usages) || !sameSet(cert.DNSNames, l.dnsNames) || !sameSet(ipStrings(cert.IPAddresses), ipStrings(l.ips)) {
		return false
	}
	// Renew once two thirds of the lifetime have passed.
	renewAt := cert.NotBefore.Add(cert.NotAfter.Sub(cert.NotBefore) * 2 / 3)
	return !g.now.Before(cert.NotBefore) && g.now.Before(renewAt)
}

func (g generator) inValidity(cert *x509.Certificate) bool {
	return !g.now.Before(cert.NotBefore) && g.now.Before(cert.NotAfter)
}

// splitSANs sorts names into DNS names and IP addresses.
func splitSANs(names []string) (dns []string, ips []net.IP) {
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			ips = append(ips, ip)
		} else if n != "" {
			dns = append(dns, n)
		}
	}
	return dns, ips
}

func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, s := range b {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func unionIPs(a, b []net.IP) []net.IP {
	var out []net.IP
	for _, ip := range slices.Concat(a, b) {
		if !slices.ContainsFunc(out, ip.Equal) {
			out = append(out, ip)
		}
	}
	return out
}

func ipStrings(ips []net.IP) []string {
	out := make([]string, len(ips))
	for i, ip := range ips {
		out[i] = ip.String()
	}
	return out
}

// sameSet reports whether a and b hold the same elements, ignoring order
// and repetition.
func sameSet[T comparable](a, b []T) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	for _, x := range b {
		if !slices.Contains(a, x) {
			return false
		}
	}
	return true
}

func fileExists(name string) (bool, error) {
	_, err := os.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// ensureMode sets the permission bits of name to mode if they differ.
func ensureMode(name string, mode fs.FileMode) error {
	fi, err := os.Stat(name)
	if err != nil {
		return err
	}
	if fi.Mode().Perm() == mode {
		return nil
	}
	return os.Chmod(name, mode)
}

// removeTempFiles deletes what writeFiles left behind in a crash.
func removeTempFiles(dir string) error {
	matches, err := filepath.Glob(filepath.Join(dir, ".*"+tempSuffix+"*"))
	if err != nil {
		return err
	}
	for _, m := range matches {
		if err := os.Remove(m); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}
