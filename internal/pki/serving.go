package pki

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"path/filepath"
)

// ServingPaths are the files of a loopback serving PKI (GenerateServing).
type ServingPaths struct {
	CACert, CAKey, Cert, Key string
}

// GenerateServing makes, or keeps when valid, a CA of its own and a
// serving certificate signed by it for 127.0.0.1 and localhost, in dir. It
// is for servers berth runs for its clusters' API servers to call, such as
// admission webhooks: the CA certificate goes into the webhook's caBundle.
// Like Generate, it is idempotent and crash-safe, and keeps the CA key once
// a certificate was written for it.
func GenerateServing(dir, cn string) (ServingPaths, error) {
	p := ServingPaths{
		CACert: filepath.Join(dir, "ca.crt"), CAKey: filepath.Join(dir, "ca.key"),
		Cert: filepath.Join(dir, "server.crt"), Key: filepath.Join(dir, "server.key"),
	}
	if dir == "" || cn == "" {
		return ServingPaths{}, errors.New("pki: serving PKI needs a directory and a common name")
	}
	err := func() error {
		opts, err := Options{ServiceIP: net.IPv4(127, 0, 0, 1)}.withDefaults()
		if err != nil {
			return err
		}
		if err := mkdirAll(dir); err != nil {
			return err
		}
		if err := ensureMode(dir, dirMode); err != nil {
			return err
		}
		unlock, err := lockDir(dir)
		if err != nil {
			return err
		}
		defer unlock()
		if err := removeTempFiles(dir); err != nil {
			return err
		}
		g := &generator{opts: opts, now: opts.Now()}
		ca, err := g.authority(p.CACert, p.CAKey, cn+"-ca")
		if err != nil {
			return err
		}
		if err := g.leaf(leaf{
			certFile: p.Cert, keyFile: p.Key, ca: ca, cn: cn,
			usages:   []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			dnsNames: []string{"localhost"},
			ips:      []net.IP{net.IPv4(127, 0, 0, 1)},
		}); err != nil {
			return err
		}
		if err := writeFiles(dir, g.roots); err != nil {
			return err
		}
		return writeFiles(dir, g.rest)
	}()
	if err != nil {
		return ServingPaths{}, fmt.Errorf("generating serving PKI in %s: %w", dir, err)
	}
	return p, nil
}
