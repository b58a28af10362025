package pki

import (
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"
)

// ReadCACert returns the PEM encoding of the cluster CA certificate, as
// DescribeCluster reports it (base64-encoded) in certificateAuthority.data.
func ReadCACert(p Paths) ([]byte, error) {
	data, err := os.ReadFile(p.CACert)
	if err != nil {
		return nil, fmt.Errorf("reading cluster CA: %w", err)
	}
	cert, err := parseCert(data)
	if err != nil {
		return nil, fmt.Errorf("reading cluster CA %s: %w", p.CACert, err)
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("reading cluster CA %s: %w: not a CA certificate", p.CACert, errInvalid)
	}
	return data, nil
}

// IssueClientCert signs a new client certificate for the user cn in the
// groups orgs with the cluster CA in p, for a new ECDSA P-256 key, and
// returns both PEM encoded. The certificate is valid from a minute before
// the current time for validity (DefaultCertValidity if zero), but not
// beyond the CA. The key never touches the disk.
func IssueClientCert(p Paths, cn string, orgs []string, validity time.Duration) (certPEM, keyPEM []byte, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("issuing client certificate for %q: %w", cn, err)
		}
	}()
	if cn == "" {
		return nil, nil, errors.New("empty common name")
	}
	if validity < 0 {
		return nil, nil, errors.New("negative validity")
	}
	if validity == 0 {
		validity = DefaultCertValidity
	}
	ca, err := loadAuthority(p.CACert, p.CAKey)
	if err != nil {
		return nil, nil, err
	}
	key, err := newKey()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		Subject:     subject(cn, orgs),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if certPEM, err = ca.sign(tmpl, key.Public(), time.Now(), validity); err != nil {
		return nil, nil, err
	}
	if keyPEM, err = encodeKey(key); err != nil {
		return nil, nil, err
	}
	return certPEM, keyPEM, nil
}

// loadAuthority reads a CA certificate and its key.
func loadAuthority(certFile, keyFile string) (*authority, error) {
	cert, err := readCert(certFile)
	if err != nil {
		return nil, err
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("%s: %w: not a CA certificate", certFile, errInvalid)
	}
	key, err := readKey(keyFile)
	if err != nil {
		return nil, err
	}
	if !publicKeyEqual(cert.PublicKey, key.Public()) {
		return nil, fmt.Errorf("%s: %w: key does not match %s", keyFile, errInvalid, certFile)
	}
	return &authority{cert: cert, key: key}, nil
}
