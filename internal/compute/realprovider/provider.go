// Package realprovider is the instance provider whose nodes are real:
// each instance runs containerd and the upstream kubelet on this host in
// a network namespace with the instance's address (package realnode),
// joined to its cluster by TLS bootstrapping as a managed node is.
package realprovider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/berthproject/berth/internal/compute"
	"github.com/berthproject/berth/internal/compute/sim"
	"github.com/berthproject/berth/internal/realnode"
)

// Config wires a Provider.
type Config struct {
	// DataDir holds a directory per instance, and the pod ranges file.
	DataDir string
	// SocketDir is short enough for unix socket paths.
	SocketDir string
	// Join gives a cluster's endpoint, CA and a bootstrap token.
	Join func(ctx context.Context, cluster string) (server string, ca []byte, token string, err error)
	// Admin is an admin client of a cluster.
	Admin func(ctx context.Context, cluster string) (kubernetes.Interface, error)
	// InstanceCredentials returns the credentials of a self-managed
	// instance's role (its instance profile's), with which its kubelet
	// authenticates; Region is the region its tokens are signed for.
	InstanceCredentials compute.CredentialsFunc
	Region              string
	// Spec is the node an instance registers as (name, address, labels,
	// taints, max pods).
	Spec func(in *compute.Instance) (sim.NodeSpec, error)
	// Kubelet is the command that runs kubelet: berth's executable and
	// "kubelet".
	Kubelet []string
	// Registry is berth's registry (HOST:PORT), which nodes pull from;
	// HostsDir is containerd's registry host configuration, which names
	// the registry as the mirror of the hosts it holds (registry.Mirror).
	Registry string
	HostsDir string
	// Released is called after nodes stopped, to let go of what their
	// volumes held that their mounts did not (the loop devices of EBS
	// volumes, as a machine's power-off does); nil does nothing.
	Released func()
	// KubeProxy is the command that runs kube-proxy: berth's executable
	// and "kube-proxy"; empty means nodes without kube-proxy.
	KubeProxy []string
	// PodRanges is where node pod ranges come from, one /24 per node
	// (default 100.64.0.0/16, a range EKS custom networking also uses).
	PodRanges netip.Prefix
	// ReadyTimeout bounds how long Start waits for the node to be Ready
	// (default 3 minutes).
	ReadyTimeout time.Duration
	Logger       *slog.Logger
}

// Provider runs real nodes.
type Provider struct {
	cfg Config
	log *slog.Logger

	forwarding sync.Once

	hostLockOnce sync.Once
	hostLockFile *os.File
	hostLockErr  error

	mu         sync.Mutex
	nodes      map[string]*running                 // by instance id
	ranges     map[string]netip.Prefix             // by instance id, persisted
	proxyCerts map[string]proxyCert                // by cluster
	drivers    map[string]map[string]sim.CSIDriver // CSI drivers by cluster and name

	dnsMu sync.Mutex
	dns   map[string]*clusterDNS // by cluster
}

// running is a node the provider runs.
type running struct {
	node        *realnode.Node
	id, cluster string
	spec        sim.NodeSpec
	plugins     map[string]*servedPlugin // by driver
	// stopCredentials stops refreshing a self-managed node's
	// credentials; nil for a node of a group.
	stopCredentials func()
}

// halt stops the node, its CSI plugins and its credentials.
func (p *Provider) halt(rn *running) {
	rn.node.Stop()
	p.stopPlugins(rn)
	if rn.stopCredentials != nil {
		rn.stopCredentials()
	}
}

// New returns a Provider; the machine is checked when a node starts.
func New(cfg Config) (*Provider, error) {
	if cfg.DataDir == "" || cfg.SocketDir == "" || cfg.Join == nil || cfg.Admin == nil || cfg.Spec == nil || len(cfg.Kubelet) == 0 {
		return nil, errors.New("realprovider: DataDir, SocketDir, Join, Admin, Spec and Kubelet are required")
	}
	if !cfg.PodRanges.IsValid() {
		cfg.PodRanges = netip.MustParsePrefix("100.64.0.0/16")
	}
	if !cfg.PodRanges.Addr().Is4() || cfg.PodRanges.Bits() > 23 {
		return nil, fmt.Errorf("realprovider: pod ranges %s must be IPv4 and hold two /24s at least", cfg.PodRanges)
	}
	if cfg.ReadyTimeout == 0 {
		cfg.ReadyTimeout = 3 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	p := &Provider{cfg: cfg, log: cfg.Logger, nodes: map[string]*running{}, ranges: map[string]netip.Prefix{},
		proxyCerts: map[string]proxyCert{}, drivers: map[string]map[string]sim.CSIDriver{}, dns: map[string]*clusterDNS{}}
	raw, err := os.ReadFile(p.rangesFile())
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, err
	default:
		if err := json.Unmarshal(raw, &p.ranges); err != nil {
			return nil, fmt.Errorf("realprovider: %s: %w", p.rangesFile(), err)
		}
	}
	return p, nil
}

func (p *Provider) rangesFile() string { return filepath.Join(p.cfg.DataDir, "pod-ranges.json") }

// saveRanges writes the pod ranges atomically; p.mu is held.
func (p *Provider) saveRanges() error {
	raw, err := json.Marshal(p.ranges)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(p.cfg.DataDir, 0o700); err != nil {
		return err
	}
	tmp := p.rangesFile() + ".tmp"
	if err := os.WriteFile(tmp, raw, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, p.rangesFile())
}

// podRange returns the instance's pod range, taking the first free /24.
func (p *Provider) podRange(id string) (netip.Prefix, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if r, ok := p.ranges[id]; ok {
		return r, nil
	}
	taken := map[netip.Prefix]bool{}
	for _, r := range p.ranges {
		taken[r] = true
	}
	base := p.cfg.PodRanges.Masked().Addr()
	count := 1<<(24-p.cfg.PodRanges.Bits()) - 1 // the last /24 holds the API service address
	for i := range count {
		r := netip.PrefixFrom(addTo(base, uint32(i)<<8), 24)
		if taken[r] {
			continue
		}
		p.ranges[id] = r
		if err := p.saveRanges(); err != nil {
			delete(p.ranges, id)
			return netip.Prefix{}, err
		}
		return r, nil
	}
	return netip.Prefix{}, fmt.Errorf("all %d pod ranges of %s are taken", count, p.cfg.PodRanges)
}

func (p *Provider) releaseRange(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.ranges[id]; !ok {
		return
	}
	delete(p.ranges, id)
	if err := p.saveRanges(); err != nil {
		p.log.Warn("saving pod ranges", "err", err)
	}
}

// Start runs the instance's node and returns once it is Ready. A node
// that runs is left alone.
func (p *Provider) Start(ctx context.Context, in *compute.Instance) error {
	if in.Cluster == "" {
		return errors.New("instance has no cluster to join")
	}
	if p.Running(in) {
		return nil
	}
	tools, err := realnode.Check()
	if err != nil {
		return err
	}
	if err := p.lockHost(); err != nil {
		return err
	}
	p.forwarding.Do(p.enableForwarding)
	spec, err := p.cfg.Spec(in)
	if err != nil {
		return err
	}
	server, ca, token, err := p.cfg.Join(ctx, in.Cluster)
	if err != nil {
		return err
	}
	var kubeletKubeconfig []byte
	var stopCredentials func()
	if in.SelfManaged() {
		// No bootstrap token: the instance role's EKS tokens.
		token = ""
		if kubeletKubeconfig, stopCredentials, err = p.selfManaged(ctx, in, spec.Name, server, ca); err != nil {
			return err
		}
		defer func() {
			if stopCredentials != nil {
				stopCredentials()
			}
		}()
	}
	pods, err := p.podRange(in.ID)
	if err != nil {
		return err
	}
	admin, err := p.cfg.Admin(ctx, in.Cluster)
	if err != nil {
		return err
	}
	dns, err := p.prepareCluster(ctx, in.Cluster, admin)
	if err != nil {
		return err
	}
	var proxyCert, proxyKey []byte
	if len(p.cfg.KubeProxy) > 0 {
		if proxyCert, proxyKey, err = p.kubeProxyCert(ctx, in.Cluster, admin); err != nil {
			return err
		}
	}
	maxPods := int(spec.Capacity.Pods().Value())
	taints := make([]string, 0, len(spec.Taints))
	for _, t := range spec.Taints {
		taints = append(taints, t.Key+"="+t.Value+":"+string(t.Effect))
	}
	n, err := realnode.Start(ctx, realnode.Config{
		Name: spec.Name, ID: in.ID,
		Dir: filepath.Join(p.cfg.DataDir, in.ID), SocketDir: p.cfg.SocketDir,
		IP: netip.PrefixFrom(spec.InternalIP, spec.Subnet.Bits()), PodCIDR: pods,
		Server: server, CAData: ca, BootstrapToken: token, Kubeconfig: kubeletKubeconfig,
		ProviderID: spec.ProviderID, Labels: spec.Labels, Taints: taints, MaxPods: maxPods,
		CPUMilli: spec.Capacity.Cpu().MilliValue(), MemoryBytes: spec.Capacity.Memory().Value(),
		AllocatableCPUMilli: spec.Allocatable.Cpu().MilliValue(), AllocatableMemory: spec.Allocatable.Memory().Value(),
		ClusterDNS: dns.ip.String(), DNSAddr: p.dnsAddr(), DNS: dns.server,
		Kubelet: p.cfg.Kubelet, Tools: tools, Logger: p.log,
		Registry: p.cfg.Registry, HostsDir: p.cfg.HostsDir,
		KubeProxy: p.cfg.KubeProxy, KubeProxyCert: proxyCert, KubeProxyKey: proxyKey,
		ClusterCIDR: p.cfg.PodRanges, APIServiceAddr: p.apiServiceAddr(),
	})
	if err != nil {
		return err
	}
	rn := &running{node: n, id: in.ID, cluster: in.Cluster, spec: spec, plugins: map[string]*servedPlugin{}, stopCredentials: stopCredentials}
	stopCredentials = nil // the running node's now
	p.mu.Lock()
	p.nodes[in.ID] = rn
	p.mu.Unlock()
	if err := p.startPlugins(rn); err != nil {
		p.log.Warn("CSI node plugins of a real node", "node", spec.Name, "err", err)
	}
	err = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, p.cfg.ReadyTimeout, true, func(ctx context.Context) (bool, error) {
		node, err := admin.CoreV1().Nodes().Get(ctx, spec.Name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		return slices.ContainsFunc(node.Status.Conditions, func(c corev1.NodeCondition) bool {
			return c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue
		}), nil
	})
	if err != nil {
		p.stop(in.ID)
		return fmt.Errorf("real node %s did not become Ready (its kubelet.log and containerd.log are in %s): %w", spec.Name, filepath.Join(p.cfg.DataDir, in.ID), err)
	}
	return nil
}

// enableForwarding turns IPv4 forwarding on in the host: a pod's packets
// to another node's pods go through the host, as through a VPC's router.
func (p *Provider) enableForwarding() {
	const path = "/proc/sys/net/ipv4/ip_forward"
	if raw, err := os.ReadFile(path); err == nil && strings.TrimSpace(string(raw)) == "1" {
		return
	}
	if err := os.WriteFile(path, []byte("1"), 0o644); err != nil {
		p.log.Warn("cannot enable IPv4 forwarding: pods on different real nodes will not reach each other", "err", err)
		return
	}
	p.log.Info("enabled IPv4 forwarding on this host, so that pods on different real nodes reach each other")
}

// Running reports whether the provider runs the instance's node.
func (p *Provider) Running(in *compute.Instance) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.nodes[in.ID]
	return ok
}

func (p *Provider) stop(id string) *realnode.Node {
	p.mu.Lock()
	rn := p.nodes[id]
	delete(p.nodes, id)
	p.mu.Unlock()
	if rn == nil {
		return nil
	}
	p.halt(rn)
	p.released()
	return rn.node
}

func (p *Provider) released() {
	if p.cfg.Released != nil {
		p.cfg.Released()
	}
}

// Stop stops the node as a machine that went away, removes its state
// and its Node object.
func (p *Provider) Stop(ctx context.Context, in *compute.Instance) error {
	if n := p.stop(in.ID); n != nil {
		if err := n.Remove(); err != nil {
			p.log.Warn("removing real node state", "instance", in.ID, "err", err)
		}
	} else {
		_ = os.RemoveAll(filepath.Join(p.cfg.DataDir, in.ID))
	}
	p.releaseRange(in.ID)
	if in.Cluster == "" {
		return nil
	}
	p.stopDNS(in.Cluster)
	admin, err := p.cfg.Admin(ctx, in.Cluster)
	if err != nil {
		return nil // a cluster that is gone took its nodes
	}
	err = admin.CoreV1().Nodes().Delete(ctx, in.Node.Name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting node %s: %w", in.Node.Name, err)
	}
	return nil
}

// NodeAt reports whether a real node has the address (for the node
// proxy: kube-apiserver reaches real kubelets directly).
func (p *Provider) NodeAt(ip netip.Addr) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, rn := range p.nodes {
		if rn.node.IP() == ip {
			return true
		}
	}
	return false
}

// StopAll stops every node (berth is stopping); their state stays, so
// that they start again with their certificates and images.
func (p *Provider) StopAll() {
	p.mu.Lock()
	nodes := p.nodes
	p.nodes = map[string]*running{}
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, rn := range nodes {
		wg.Go(func() { p.halt(rn) })
	}
	wg.Wait()
	p.stopDNS("")
	p.released()
}
