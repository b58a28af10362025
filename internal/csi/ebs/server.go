package ebs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
)

// ServerConfig wires a Server.
type ServerConfig struct {
	// Endpoint is the unix socket to listen on: unix:///path/csi.sock or
	// a plain path. Required.
	Endpoint string
	// Controller and Node are the services to serve; at least one.
	Controller *Controller
	Node       *Node
	Logger     *slog.Logger
}

// Server serves the driver's services over gRPC on a unix socket, as a
// kubelet and the CSI sidecars expect.
type Server struct {
	cfg  ServerConfig
	path string
	log  *slog.Logger
}

// NewServer checks cfg and returns a Server.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.Controller == nil && cfg.Node == nil {
		return nil, errors.New("csi/ebs: a server needs a Controller or a Node")
	}
	path, ok := strings.CutPrefix(cfg.Endpoint, "unix://")
	if !ok && strings.Contains(cfg.Endpoint, "://") {
		return nil, fmt.Errorf("csi/ebs: endpoint %q is not a unix socket", cfg.Endpoint)
	}
	if path == "" {
		return nil, errors.New("csi/ebs: Endpoint is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Server{cfg: cfg, path: path, log: cfg.Logger}, nil
}

// Start listens on the socket (replacing a stale one) and serves until
// ctx is done; then it stops and removes the socket.
func (s *Server) Start(ctx context.Context) error {
	if err := os.MkdirAll(filepath.Dir(s.path), 0o750); err != nil {
		return fmt.Errorf("creating the directory of %s: %w", s.path, err)
	}
	if err := os.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing stale socket %s: %w", s.path, err)
	}
	lis, err := net.Listen("unix", s.path)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", s.path, err)
	}
	defer os.Remove(s.path)
	srv := grpc.NewServer()
	csi.RegisterIdentityServer(srv, NewIdentity(s.cfg.Controller != nil, s.cfg.Node))
	if s.cfg.Controller != nil {
		csi.RegisterControllerServer(srv, s.cfg.Controller)
	}
	if s.cfg.Node != nil {
		csi.RegisterNodeServer(srv, s.cfg.Node)
	}
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			srv.Stop()
		case <-done:
		}
	}()
	s.log.Info("EBS CSI driver serving", "endpoint", s.path, "controller", s.cfg.Controller != nil, "node", s.cfg.Node != nil)
	err = srv.Serve(lis)
	close(done)
	if ctx.Err() != nil {
		return nil
	}
	return err
}
