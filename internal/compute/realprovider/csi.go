package realprovider

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"

	"github.com/berthproject/berth/internal/compute/sim"
	"github.com/berthproject/berth/internal/csi/plugin"
)

// A real node's CSI node plugins are served the way a DaemonSet of the
// driver with node-driver-registrar serves them: the node service on a
// socket of its own, and a registration socket in kubelet's
// plugins_registry directory, through which kubelet's plugin watcher
// finds it. Kubelet then registers the driver in the CSINode and stages
// and publishes volumes through the socket; the drivers work on the
// host's paths, which are kubelet's.

// servedPlugin is one driver's node plugin on one node.
type servedPlugin struct {
	cancel context.CancelFunc
	done   chan struct{}
	paths  []string
}

// registration answers kubelet's plugin watcher.
type registration struct {
	registerapi.UnimplementedRegistrationServer
	driver, endpoint string
	log              func(msg string, args ...any)
}

func (r *registration) GetInfo(context.Context, *registerapi.InfoRequest) (*registerapi.PluginInfo, error) {
	return &registerapi.PluginInfo{Type: registerapi.CSIPlugin, Name: r.driver, Endpoint: r.endpoint, SupportedVersions: []string{"1.0.0"}}, nil
}

func (r *registration) NotifyRegistrationStatus(_ context.Context, s *registerapi.RegistrationStatus) (*registerapi.RegistrationStatusResponse, error) {
	if !s.PluginRegistered {
		r.log("kubelet did not register the CSI plugin", "driver", r.driver, "err", s.Error)
	}
	return &registerapi.RegistrationStatusResponse{}, nil
}

// servePlugin starts a driver's node plugin for a running node; nil
// when the driver does not run on the node.
func (p *Provider) servePlugin(rn *running, d sim.CSIDriver) (*servedPlugin, error) {
	server, err := d.Node(rn.spec)
	if err != nil || server == nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(rn.id + "/" + d.Name))
	endpoint := filepath.Join(p.cfg.SocketDir, "csi-"+hex.EncodeToString(sum[:8])+".sock")
	regDir := filepath.Join(p.cfg.DataDir, rn.id, "kubelet", "plugins_registry")
	regPath := filepath.Join(regDir, d.Name+"-reg.sock")
	if err := os.MkdirAll(regDir, 0o750); err != nil {
		return nil, err
	}
	listen := func(path string) (net.Listener, error) {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		return net.Listen("unix", path)
	}
	csiLn, err := listen(endpoint)
	if err != nil {
		return nil, fmt.Errorf("CSI socket of %s on %s: %w", d.Name, rn.spec.Name, err)
	}
	regLn, err := listen(regPath)
	if err != nil {
		csiLn.Close()
		return nil, fmt.Errorf("registration socket of %s on %s: %w", d.Name, rn.spec.Name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	sp := &servedPlugin{cancel: cancel, done: make(chan struct{}), paths: []string{endpoint, regPath}}
	id := &plugin.Identity{Name: d.Name, Ready: true}
	reg := grpc.NewServer()
	registerapi.RegisterRegistrationServer(reg, &registration{driver: d.Name, endpoint: endpoint, log: p.log.Warn})
	go func() {
		<-ctx.Done()
		reg.Stop()
	}()
	go func() { _ = reg.Serve(regLn) }()
	go func() {
		defer close(sp.done)
		if err := plugin.Serve(ctx, csiLn, id, func(s *grpc.Server) { csi.RegisterNodeServer(s, server) }); err != nil {
			p.log.Warn("CSI node plugin stopped", "driver", d.Name, "node", rn.spec.Name, "err", err)
		}
	}()
	return sp, nil
}

func (sp *servedPlugin) stop() {
	sp.cancel()
	<-sp.done
	for _, path := range sp.paths {
		_ = os.Remove(path)
	}
}

// AddCSIDriver runs a driver's node plugin on every real node of a
// cluster, now and starting later (the add-on controller calls it as it
// adds the driver to the cluster's simulated nodes).
func (p *Provider) AddCSIDriver(_ context.Context, cluster string, d sim.CSIDriver) error {
	p.mu.Lock()
	if p.drivers[cluster] == nil {
		p.drivers[cluster] = map[string]sim.CSIDriver{}
	}
	p.drivers[cluster][d.Name] = d
	var nodes []*running
	for _, rn := range p.nodes {
		if rn.cluster == cluster {
			nodes = append(nodes, rn)
		}
	}
	p.mu.Unlock()
	var errs []error
	for _, rn := range nodes {
		errs = append(errs, p.startPlugins(rn))
	}
	return errors.Join(errs...)
}

// RemoveCSIDriver stops a driver's node plugins on a cluster's real nodes.
func (p *Provider) RemoveCSIDriver(_ context.Context, cluster, name string) error {
	p.mu.Lock()
	delete(p.drivers[cluster], name)
	var stop []*servedPlugin
	for _, rn := range p.nodes {
		if sp := rn.plugins[name]; rn.cluster == cluster && sp != nil {
			stop = append(stop, sp)
			delete(rn.plugins, name)
		}
	}
	p.mu.Unlock()
	for _, sp := range stop {
		sp.stop()
	}
	return nil
}

// startPlugins serves the cluster's drivers that the node does not serve
// yet.
func (p *Provider) startPlugins(rn *running) error {
	p.mu.Lock()
	var todo []sim.CSIDriver
	for name, d := range p.drivers[rn.cluster] {
		if rn.plugins[name] == nil {
			todo = append(todo, d)
		}
	}
	p.mu.Unlock()
	var errs []error
	for _, d := range todo {
		sp, err := p.servePlugin(rn, d)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if sp == nil {
			continue
		}
		p.mu.Lock()
		if rn.plugins[d.Name] == nil {
			rn.plugins[d.Name] = sp
			sp = nil
		}
		p.mu.Unlock()
		if sp != nil { // served meanwhile
			sp.stop()
		}
	}
	return errors.Join(errs...)
}

// stopPlugins stops a node's plugins.
func (p *Provider) stopPlugins(rn *running) {
	p.mu.Lock()
	plugins := rn.plugins
	rn.plugins = map[string]*servedPlugin{}
	p.mu.Unlock()
	for _, sp := range plugins {
		sp.stop()
	}
}
