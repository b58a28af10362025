// Package nodeproxy is the way from a cluster's kube-apiserver to its
// nodes: an HTTP CONNECT proxy on a unix socket, which kube-apiserver
// uses as its "cluster" egress (--egress-selector-config-file, the
// HTTPConnect protocol over UDS, as with the Konnectivity server). Every
// connection kube-apiserver makes to a kubelet (logs, exec, node proxy,
// stats) and to the cluster's network goes through it, so berth decides
// where it lands: a simulated node's kubelet is served in memory, any
// other address is dialled.
package nodeproxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// DialFunc connects to addr ("HOST:PORT") for a CONNECT request.
type DialFunc func(ctx context.Context, addr string) (net.Conn, error)

// Server proxies the CONNECT requests of one listener.
type Server struct {
	dial DialFunc
	log  *slog.Logger
	srv  *http.Server

	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// dialTimeout bounds how long a CONNECT waits for its destination.
const dialTimeout = 10 * time.Second

// New returns a Server that connects with dial; nil logger discards.
func New(dial DialFunc, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{dial: dial, log: log, conns: map[net.Conn]struct{}{}}
	s.srv = &http.Server{Handler: http.HandlerFunc(s.connect), ReadHeaderTimeout: 10 * time.Second}
	return s
}

// Serve accepts connections on ln until Close.
func (s *Server) Serve(ln net.Listener) error {
	err := s.srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Close stops the listener and ends the tunnels.
func (s *Server) Close() error {
	err := s.srv.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	return err
}

func (s *Server) track(c net.Conn, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if on {
		s.conns[c] = struct{}{}
	} else {
		delete(s.conns, c)
	}
}

// connect answers one CONNECT request: 200 and then the bytes both ways,
// or 502 with the reason when the destination cannot be reached.
func (s *Server) connect(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodConnect {
		w.Header().Set("Allow", http.MethodConnect)
		http.Error(w, "this proxy only tunnels: CONNECT HOST:PORT", http.StatusMethodNotAllowed)
		return
	}
	addr := r.Host
	if _, _, err := net.SplitHostPort(addr); err != nil {
		http.Error(w, "CONNECT needs HOST:PORT: "+err.Error(), http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), dialTimeout)
	backend, err := s.dial(ctx, addr)
	cancel()
	if err != nil {
		s.log.Debug("node proxy: dial failed", "addr", addr, "err", err)
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		backend.Close()
		http.Error(w, "connection cannot be hijacked", http.StatusInternalServerError)
		return
	}
	client, buf, err := hj.Hijack()
	if err != nil {
		backend.Close()
		return
	}
	s.track(client, true)
	s.track(backend, true)
	defer func() {
		client.Close()
		backend.Close()
		s.track(client, false)
		s.track(backend, false)
	}()
	if _, err := client.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n")); err != nil {
		return
	}
	splice(client, buf, backend)
}

// splice copies both ways until either side ends; buf holds what the
// client sent after its request.
func splice(client net.Conn, buf *bufio.ReadWriter, backend net.Conn) {
	done := make(chan struct{}, 2)
	go func() {
		_, _ = io.Copy(backend, buf.Reader) // drains the buffer, then reads the conn
		closeWrite(backend)
		done <- struct{}{}
	}()
	go func() {
		_, _ = io.Copy(client, backend)
		// The destination is done: so is the tunnel, which also ends
		// the copy that reads the client.
		client.Close()
		done <- struct{}{}
	}()
	<-done
	<-done
}

// closeWrite half-closes a connection that can, else closes it.
func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
		return
	}
	_ = c.Close()
}

// MaxSocketPath is the longest unix socket path Linux takes (sun_path
// holds 108 bytes with its terminating NUL).
const MaxSocketPath = 107

// EgressConfig is kube-apiserver's EgressSelectorConfiguration that sends
// the "cluster" egress (kubelets, pods, services, webhooks) through the
// proxy on socket. The control plane and etcd egresses stay direct.
func EgressConfig(socket string) []byte {
	return []byte(`apiVersion: apiserver.k8s.io/v1beta1
kind: EgressSelectorConfiguration
egressSelections:
- name: cluster
  connection:
    proxyProtocol: HTTPConnect
    transport:
      uds:
        udsName: ` + strconv.Quote(socket) + `
`)
}
