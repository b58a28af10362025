package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"

	"github.com/berthproject/berth/internal/compute/sim"
	"github.com/berthproject/berth/internal/nodeproxy"
)

// nodeProxies runs a node proxy (package nodeproxy) for each control
// plane, on a socket named after its OIDC issuer id, which a control
// plane keeps from a warm spare to its cluster. A CONNECT to a simulated
// node's kubelet is served by the node's simulation; one to a loopback
// address (berth's own webhooks) is dialled; anything else is refused,
// since the VPC's addresses are berth's own and reach nothing real.
type nodeProxies struct {
	dir string
	log *slog.Logger
	// cluster names the cluster a control plane serves now.
	cluster func(ctx context.Context, issuerID string) (string, bool)
	// kubelet connects to a simulated node's kubelet endpoint.
	kubelet func(ctx context.Context, cluster, addr string) (net.Conn, error)
	// realNode reports a real node's address, which is dialled: the host
	// routes to it.
	realNode func(ip netip.Addr) bool

	mu      sync.Mutex
	closed  bool
	servers map[string]*nodeproxy.Server
}

// proxySocketDir is where the sockets live: below the data dir when
// their paths fit in a unix socket address, else in the temporary
// directory under a name taken from the data dir.
func proxySocketDir(dataDir string) string {
	dir := filepath.Join(dataDir, "run")
	if len(dir)+len("/0123456789abcdef.sock") <= nodeproxy.MaxSocketPath {
		return dir
	}
	sum := sha256.Sum256([]byte(dataDir))
	return filepath.Join(os.TempDir(), "berth-"+hex.EncodeToString(sum[:6]))
}

// socket returns the socket of a control plane's node proxy, listening;
// "" when it cannot listen (kube-apiserver then dials nodes itself).
func (p *nodeProxies) socket(issuerID string) string {
	sum := sha256.Sum256([]byte(issuerID))
	path := filepath.Join(p.dir, hex.EncodeToString(sum[:8])+".sock")
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ""
	}
	if _, ok := p.servers[issuerID]; ok {
		return path
	}
	ln, err := p.listen(path)
	if err != nil {
		p.log.Warn("node proxy: cannot listen; kube-apiserver will not reach simulated kubelets", "socket", path, "err", err)
		return ""
	}
	s := nodeproxy.New(p.dialer(issuerID), p.log)
	if p.servers == nil {
		p.servers = map[string]*nodeproxy.Server{}
	}
	p.servers[issuerID] = s
	go func() {
		if err := s.Serve(ln); err != nil {
			p.log.Warn("node proxy stopped", "socket", path, "err", err)
		}
	}()
	return path
}

func (p *nodeProxies) listen(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	// A socket left by a berth that was killed.
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

// dialer routes one control plane's CONNECT requests.
func (p *nodeProxies) dialer(issuerID string) nodeproxy.DialFunc {
	return func(ctx context.Context, addr string) (net.Conn, error) {
		ap, err := netip.ParseAddrPort(addr)
		if err == nil && (ap.Addr().IsLoopback() || p.realNode != nil && p.realNode(ap.Addr())) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", addr)
		}
		name, ok := p.cluster(ctx, issuerID)
		if !ok {
			return nil, fmt.Errorf("no cluster runs this control plane, so no node serves %s", addr)
		}
		conn, err := p.kubelet(ctx, name, addr)
		if errors.Is(err, sim.ErrNoNode) {
			return nil, fmt.Errorf("no node of cluster %s serves %s (berth reaches the kubelet endpoints, port %d, of the nodes it simulates)",
				name, addr, sim.KubeletPort)
		}
		return conn, err
	}
}

// close stops every proxy.
func (p *nodeProxies) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, s := range p.servers {
		s.Close()
	}
}
