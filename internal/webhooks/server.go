// Package webhooks is berth's webhook server: the HTTPS endpoint on
// loopback that clusters' kube-apiservers call for admission (Fargate) and
// for token authentication and authorization (IAM), with a CA of berth's
// own that goes into their caBundles and kubeconfigs.
package webhooks

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/berthproject/berth/internal/pki"
)

// Server serves the webhooks registered with Handle.
type Server struct {
	log      *slog.Logger
	caBundle []byte
	base     string // https://127.0.0.1:PORT
	ln       net.Listener
	tls      *tls.Config
	mux      *http.ServeMux
}

// New sets up the serving PKI in dir and listens on 127.0.0.1, on the port
// it used last time if it is free (so that the URLs the clusters know stay
// right across restarts), else on a new one.
func New(dir string, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p, err := pki.GenerateServing(dir, "berth-webhooks")
	if err != nil {
		return nil, err
	}
	ca, err := os.ReadFile(p.CACert)
	if err != nil {
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(p.Cert, p.Key)
	if err != nil {
		return nil, err
	}
	portFile := filepath.Join(dir, "port")
	var ln net.Listener
	if raw, err := os.ReadFile(portFile); err == nil {
		if port, err := strconv.Atoi(strings.TrimSpace(string(raw))); err == nil && port > 0 && port < 65536 {
			ln, _ = net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		}
	}
	if ln == nil {
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return nil, err
		}
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := os.WriteFile(portFile, []byte(strconv.Itoa(port)+"\n"), 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	return &Server{
		log: log, caBundle: ca,
		base: "https://127.0.0.1:" + strconv.Itoa(port),
		ln:   ln,
		tls:  &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		mux:  http.NewServeMux(),
	}, nil
}

// Handle registers a handler for a pattern of http.ServeMux.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// URL is the address of path on the server.
func (s *Server) URL(path string) string { return s.base + path }

// CABundle is the CA certificate the server's certificate chains to.
func (s *Server) CABundle() []byte { return s.caBundle }

// Serve serves until ctx is done.
func (s *Server) Serve(ctx context.Context) error {
	srv := &http.Server{Handler: s.mux, TLSConfig: s.tls, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)}
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shut)
	}()
	err := srv.ServeTLS(s.ln, "", "")
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
