// Package registry is berth's local OCI registry, the one real nodes pull
// from: the distribution registry (github.com/distribution/distribution)
// on loopback, its blobs under the data dir, and Load, which pushes the
// images of a `docker save` or OCI layout archive into it
// (go-containerregistry). An image keeps its name's registry host as the
// first component of its repository (docker.io/library/nginx), so that
// nodes can use the registry as a mirror of every host.
package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem" // the storage driver
	"github.com/sirupsen/logrus"
)

// AddressFile, below the registry's directory, holds the address it
// serves on, for `berth image load`.
const AddressFile = "address"

// Registry is a running registry.
type Registry struct {
	dir  string
	ln   net.Listener
	srv  *http.Server
	addr string
	log  *slog.Logger

	mu       sync.Mutex
	hostsDir string // see Mirror
}

// Start serves a registry with its storage in dir on a loopback port
// (listen, "127.0.0.1:0" for any).
func Start(ctx context.Context, dir, listen string, log *slog.Logger) (*Registry, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	// The registry logs through logrus; berth's log is enough.
	logrus.SetOutput(io.Discard)
	cfg := &configuration.Configuration{
		Storage: configuration.Storage{
			"filesystem": configuration.Parameters{"rootdirectory": filepath.Join(dir, "storage")},
			"delete":     configuration.Parameters{"enabled": true},
			"maintenance": configuration.Parameters{
				"uploadpurging": map[any]any{"enabled": false},
			},
		},
	}
	cfg.Log.Level = "error"
	var app *handlers.App
	if err := func() (err error) {
		defer func() {
			if r := recover(); r != nil { // NewApp panics on configuration errors
				err = fmt.Errorf("registry: %v", r)
			}
		}()
		app = handlers.NewApp(ctx, cfg)
		return nil
	}(); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, err
	}
	r := &Registry{dir: dir, ln: ln, addr: ln.Addr().String(), log: log}
	r.srv = &http.Server{Handler: r.mirrorPushes(app), ReadHeaderTimeout: 30 * time.Second}
	if err := os.WriteFile(filepath.Join(dir, AddressFile), []byte(r.addr+"\n"), 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	go func() {
		if err := r.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("registry stopped", "err", err)
		}
	}()
	return r, nil
}

// Addr is the registry's HOST:PORT.
func (r *Registry) Addr() string { return r.addr }

// Close stops the registry.
func (r *Registry) Close() error {
	_ = os.Remove(filepath.Join(r.dir, AddressFile))
	return r.srv.Close()
}

// ReadAddress reads the address of the registry a running berth serves.
func ReadAddress(dir string) (string, error) {
	raw, err := os.ReadFile(filepath.Join(dir, AddressFile))
	if errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("no registry is running in %s: is berth serve running with this data dir?", dir)
	}
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(raw)), nil
}

// Hosts lists the registry hosts whose images the registry holds (the
// first component of its repositories), for the nodes' mirror settings.
func (r *Registry) Hosts() []string {
	entries, err := os.ReadDir(filepath.Join(r.dir, "storage", "docker", "registry", "v2", "repositories"))
	if err != nil {
		return nil
	}
	var hosts []string
	for _, e := range entries {
		if e.IsDir() {
			hosts = append(hosts, e.Name())
		}
	}
	return hosts
}
