package realnode

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/internal/kubeconfig"
)

// Config describes one real node: an EC2 instance whose kubelet and
// containerd run on this host in a network namespace of its own.
type Config struct {
	// Name is the node name (ip-10-0-1-23.ec2.internal); ID the instance id.
	Name, ID string
	// Dir holds the node's state: containerd's root and state, kubelet's
	// root dir, certificates, logs. Removed by Remove.
	Dir string
	// SocketDir is a directory short enough for unix socket paths
	// (containerd's).
	SocketDir string
	// IP is the instance's address with its subnet's prefix length.
	IP netip.Prefix
	// PodCIDR is the range the node's pods take addresses from.
	PodCIDR netip.Prefix
	// Server is the cluster endpoint, https://127.0.0.1:PORT; CAData its CA.
	Server string
	CAData []byte
	// BootstrapToken joins the node by TLS bootstrapping. Kubeconfig,
	// given instead, is kubelet's kubeconfig as such: a self-managed
	// node's, whose exec credential plugin signs EKS tokens with the
	// instance role; kubelet then rotates no client certificate.
	BootstrapToken string
	Kubeconfig     []byte
	ProviderID     string
	Labels         map[string]string
	// Taints, kubelet's --register-with-taints form (key=value:Effect).
	Taints     []string
	MaxPods    int
	ClusterDNS string
	// CPUMilli and MemoryBytes are the instance type's: the node's cgroup
	// is limited to them. AllocatableCPUMilli and AllocatableMemory are
	// what its pods may use (the EKS AMI's kube-reserved taken off):
	// kubelet reserves the rest of the host for the system, so that the
	// node schedules as its instance type would. Zero: the host's.
	CPUMilli, MemoryBytes                  int64
	AllocatableCPUMilli, AllocatableMemory int64
	// APIServiceAddr, when set, is an address every node has on its
	// loopback interface, where the cluster endpoint is forwarded on port
	// 443: the endpoint of the default/kubernetes Service, through which
	// pods reach the API server.
	APIServiceAddr netip.Addr
	// DNSAddr, when set, is another address every node has on its
	// loopback interface, where DNS answers queries on port 53 (UDP and
	// TCP): the endpoint of the cluster's kube-dns Service.
	DNSAddr netip.Addr
	DNS     dns.Handler
	// Registry is berth's registry (HOST:PORT on loopback), forwarded
	// into the node, and HostsDir containerd's registry host
	// configuration (config_path: a hosts.toml per host that berth's
	// registry mirrors, registry.Mirror keeps it). Empty: the pause image
	// is imported instead, and images come only from registries the host
	// reaches.
	Registry string
	HostsDir string
	// Kubelet is the command that runs kubelet (RunKubelet) with the
	// flags appended: `berth kubelet`.
	Kubelet []string
	// KubeProxy is the command that runs kube-proxy (RunKubeProxy):
	// `berth kube-proxy`; empty means no kube-proxy (no Services).
	// KubeProxyCert and KubeProxyKey (PEM) are its client certificate, of
	// user system:kube-proxy. ClusterCIDR is the range of every node's
	// pods, which kube-proxy does not masquerade.
	KubeProxy                   []string
	KubeProxyCert, KubeProxyKey []byte
	ClusterCIDR                 netip.Prefix
	Tools                       Tools
	Logger                      *slog.Logger
}

// Node is a running real node.
type Node struct {
	cfg     Config
	log     *slog.Logger
	netns   string
	hostIf  string
	fwds    []net.Listener
	dns     []*dns.Server
	procs   []*exec.Cmd
	done    []chan struct{}
	stopped sync.Once
}

// names derives the network namespace and host interface names of an
// instance (interface names are at most 15 bytes).
func names(id string) (netns, hostIf string) {
	sum := sha256.Sum256([]byte(id))
	h := hex.EncodeToString(sum[:5])
	return "berth-" + id, "bv" + h
}

// Start brings a node up: its network namespace and address, containerd
// with the pause image, then kubelet, which joins the cluster by TLS
// bootstrapping. It returns once both processes run; the Node object
// appears when kubelet registers.
func Start(ctx context.Context, cfg Config) (n *Node, err error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	n = &Node{cfg: cfg, log: cfg.Logger.With("node", cfg.Name)}
	n.netns, n.hostIf = names(cfg.ID)
	defer func() {
		if err != nil {
			n.Stop()
		}
	}()
	// What a node left when berth was killed: its containers and shims
	// (which outlive containerd), their mounts, containerd's state (like
	// /run, not kept across a boot). Images, certificates and kubelet's
	// pod directories are kept.
	n.killNamespace()
	killCgroup(n.cgroup())
	unmountBelow(cfg.Dir)
	if err := os.RemoveAll(filepath.Join(cfg.Dir, "containerd", "state")); err != nil {
		return nil, err
	}
	for _, d := range []string{cfg.Dir, cfg.SocketDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	if err := n.network(); err != nil {
		return nil, fmt.Errorf("realnode: network of %s: %w", cfg.Name, err)
	}
	u, err := url.Parse(cfg.Server)
	if err != nil {
		return nil, fmt.Errorf("realnode: server %q: %w", cfg.Server, err)
	}
	forwarded := [][2]string{{u.Host, u.Host}}
	if cfg.Registry != "" {
		forwarded = append(forwarded, [2]string{cfg.Registry, cfg.Registry})
	}
	if cfg.APIServiceAddr.IsValid() {
		forwarded = append(forwarded, [2]string{netip.AddrPortFrom(cfg.APIServiceAddr, 443).String(), u.Host})
	}
	for _, f := range forwarded {
		if err := n.forward(f[0], f[1]); err != nil {
			return nil, fmt.Errorf("realnode: forwarding %s into the node %s: %w", f[1], cfg.Name, err)
		}
	}
	if cfg.DNSAddr.IsValid() && cfg.DNS != nil {
		if err := n.serveDNS(); err != nil {
			return nil, fmt.Errorf("realnode: DNS in the node %s: %w", cfg.Name, err)
		}
	}
	if err := n.startContainerd(ctx); err != nil {
		return nil, fmt.Errorf("realnode: containerd of %s: %w", cfg.Name, err)
	}
	if err := n.startKubelet(); err != nil {
		return nil, fmt.Errorf("realnode: kubelet of %s: %w", cfg.Name, err)
	}
	if len(cfg.KubeProxy) > 0 {
		if err := n.startKubeProxy(); err != nil {
			return nil, fmt.Errorf("realnode: kube-proxy of %s: %w", cfg.Name, err)
		}
	}
	return n, nil
}

func (n *Node) ip(args ...string) error {
	out, err := exec.Command(n.cfg.Tools.IP, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// gateway is the host side's address in every namespace's view, as
// Calico uses it: the same link-local address on every host interface.
const gateway = "169.254.1.1"

// network makes the namespace: eth0 with the instance's address, a
// default route through the host side of a veth pair, the host's route
// to the address and to the node's pods.
func (n *Node) network() error {
	n.cleanNetwork() // a namespace left by a crash
	addr := n.cfg.IP.Addr().String()
	steps := [][]string{
		{"netns", "add", n.netns},
		{"link", "add", n.hostIf, "type", "veth", "peer", "name", "eth0", "netns", n.netns},
		{"addr", "add", gateway + "/32", "dev", n.hostIf},
		{"link", "set", n.hostIf, "up"},
		{"-n", n.netns, "link", "set", "lo", "up"},
		{"-n", n.netns, "addr", "add", addr + "/32", "dev", "eth0"},
		{"-n", n.netns, "link", "set", "eth0", "up"},
		{"-n", n.netns, "route", "add", gateway, "dev", "eth0", "scope", "link"},
		{"-n", n.netns, "route", "add", "default", "via", gateway, "dev", "eth0", "onlink"},
		{"route", "replace", addr + "/32", "dev", n.hostIf},
	}
	if n.cfg.PodCIDR.IsValid() {
		steps = append(steps, []string{"route", "replace", n.cfg.PodCIDR.Masked().String(), "via", addr, "dev", n.hostIf, "onlink"})
	}
	for _, a := range []netip.Addr{n.cfg.APIServiceAddr, n.cfg.DNSAddr} {
		if a.IsValid() {
			steps = append(steps, []string{"-n", n.netns, "addr", "add", a.String() + "/32", "dev", "lo"})
		}
	}
	for _, s := range steps {
		if err := n.ip(s...); err != nil {
			return err
		}
	}
	return nil
}

func (n *Node) cleanNetwork() {
	_ = exec.Command(n.cfg.Tools.IP, "link", "del", n.hostIf).Run()
	if n.cfg.PodCIDR.IsValid() {
		_ = exec.Command(n.cfg.Tools.IP, "route", "del", n.cfg.PodCIDR.Masked().String()).Run()
	}
	if n.cfg.IP.IsValid() {
		_ = exec.Command(n.cfg.Tools.IP, "route", "del", n.cfg.IP.Addr().String()+"/32").Run()
	}
	_ = exec.Command(n.cfg.Tools.IP, "netns", "del", n.netns).Run()
}

// forward listens inside the namespace on a loopback address of the host
// (the cluster endpoint, the registry) and forwards to it: the node
// reaches them at the loopback addresses its configuration names.
func (n *Node) forward(listen, addr string) error {
	ln, err := listenIn(filepath.Join("/run/netns", n.netns), listen)
	if err != nil {
		return err
	}
	n.fwds = append(n.fwds, ln)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				var d net.Dialer
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				up, err := d.DialContext(ctx, "tcp", addr)
				cancel()
				if err != nil {
					return
				}
				defer up.Close()
				go func() { _, _ = io.Copy(up, c); up.Close() }()
				_, _ = io.Copy(c, up)
			}()
		}
	}()
	return nil
}

// serveDNS answers DNS on the node's DNS address, over UDP and TCP.
func (n *Node) serveDNS() error {
	ns := filepath.Join("/run/netns", n.netns)
	addr := netip.AddrPortFrom(n.cfg.DNSAddr, 53).String()
	pc, err := listenPacketIn(ns, addr)
	if err != nil {
		return err
	}
	ln, err := listenIn(ns, addr)
	if err != nil {
		pc.Close()
		return err
	}
	for _, srv := range []*dns.Server{{PacketConn: pc, Handler: n.cfg.DNS}, {Listener: ln, Handler: n.cfg.DNS}} {
		n.dns = append(n.dns, srv)
		go func() { _ = srv.ActivateAndServe() }()
	}
	return nil
}

// listenIn opens a TCP listener in another network namespace.
func listenIn(nsPath, addr string) (ln net.Listener, err error) {
	err = inNamespace(nsPath, func() (err error) {
		ln, err = net.Listen("tcp", addr)
		return err
	})
	return ln, err
}

// listenPacketIn opens a UDP socket in another network namespace.
func listenPacketIn(nsPath, addr string) (pc net.PacketConn, err error) {
	err = inNamespace(nsPath, func() (err error) {
		pc, err = net.ListenPacket("udp", addr)
		return err
	})
	return pc, err
}

// inNamespace runs fn on a locked thread switched into a network
// namespace and back; sockets fn opens stay in the namespace. A thread
// that cannot switch back is not reused (it ends with its goroutine).
func inNamespace(nsPath string, fn func() error) error {
	ch := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		self, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			ch <- err
			return
		}
		defer self.Close()
		target, err := os.Open(nsPath)
		if err != nil {
			runtime.UnlockOSThread()
			ch <- err
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			ch <- fmt.Errorf("entering %s: %w", nsPath, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err == nil {
			runtime.UnlockOSThread()
		}
		ch <- ferr
	}()
	return <-ch
}

// start runs a program inside the namespace (nsenter changes only the
// network namespace, so cgroups and mounts stay the host's), its output
// to a log file, killed if berth dies.
func (n *Node) start(name string, args ...string) error {
	logf, err := os.OpenFile(filepath.Join(n.cfg.Dir, name+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(n.cfg.Tools.Nsenter, append([]string{"--net=" + filepath.Join("/run/netns", n.netns), "--"}, args...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = n.cfg.Dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	done := make(chan struct{})
	go func() {
		err := cmd.Wait()
		logf.Close()
		n.log.Debug("node process exited", "process", name, "err", err)
		close(done)
	}()
	n.procs = append(n.procs, cmd)
	n.done = append(n.done, done)
	return nil
}

func (n *Node) containerdSocket() string {
	return filepath.Join(n.cfg.SocketDir, n.cfg.ID+".sock")
}

// startContainerd writes the node's containerd and CNI configuration,
// starts containerd, waits for its socket and imports the pause image.
func (n *Node) startContainerd(ctx context.Context) error {
	dir := filepath.Join(n.cfg.Dir, "containerd")
	netd := filepath.Join(n.cfg.Dir, "cni", "net.d")
	for _, d := range []string{dir, netd} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	sock := n.containerdSocket()
	_ = os.Remove(sock)
	conf := fmt.Sprintf(`version = 2
root = %q
state = %q

[grpc]
  address = %q

[ttrpc]
  address = %q

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  enable_cdi = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = %q
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %q
    conf_dir = %q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), sock, sock+".ttrpc", PauseImage, n.cfg.Tools.Runc, n.cfg.Tools.CNIDir, netd)
	conf += n.registryConfig()
	confPath := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(netd, "10-berth.conflist"), n.cniConfig(), 0o600); err != nil {
		return err
	}
	if err := n.start("containerd", n.cfg.Tools.Containerd, "--config", confPath); err != nil {
		return err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("containerd did not serve %s within 30 s (see %s)", sock, filepath.Join(n.cfg.Dir, "containerd.log"))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	if n.cfg.Registry != "" && n.cfg.HostsDir != "" {
		return nil // containerd pulls the pause image from the registry
	}
	var img bytes.Buffer
	if err := WritePauseImage(&img, runtime.GOARCH); err != nil {
		return err
	}
	return n.importImage(ctx, &img)
}

// registryConfig points containerd's CRI plugin at the registry host
// configuration, which it reads at each pull.
func (n *Node) registryConfig() string {
	if n.cfg.HostsDir == "" {
		return ""
	}
	return fmt.Sprintf("  [plugins.\"io.containerd.grpc.v1.cri\".registry]\n    config_path = %q\n", n.cfg.HostsDir)
}

// importImage loads an image archive (OCI layout or docker save) into
// the node's containerd, in the namespace the CRI uses.
func (n *Node) importImage(ctx context.Context, archive io.Reader) error {
	cmd := exec.CommandContext(ctx, n.cfg.Tools.Ctr, "--address", n.containerdSocket(), "--namespace", "k8s.io", "images", "import", "--all-platforms", "-")
	cmd.Stdin = archive
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("ctr images import: %v: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

// cniConfig is the pod network inside the node: a bridge with the first
// address of the pod range as the pods' gateway, addresses from the
// range, masquerading for what leaves the range, and hostPort mappings.
func (n *Node) cniConfig() []byte {
	subnet := n.cfg.PodCIDR.Masked()
	gw := subnet.Addr().Next()
	return []byte(fmt.Sprintf(`{
  "cniVersion": "0.4.0",
  "name": "berth",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "cni0",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": %q,
        "ranges": [[{"subnet": %q, "gateway": %q}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
`, filepath.Join(n.cfg.Dir, "cni", "ipam"), subnet.String(), gw.String()))
}

// startKubelet writes kubelet's configuration and bootstrap kubeconfig
// and starts `berth kubelet` in the namespace.
func (n *Node) startKubelet() error {
	dir := n.cfg.Dir
	ca := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(ca, n.cfg.CAData, 0o600); err != nil {
		return err
	}
	kubeconfigPath := filepath.Join(dir, "kubeconfig")
	var joinArgs []string
	rotate := n.cfg.Kubeconfig == nil
	if rotate {
		bootstrap, err := kubeconfig.ForBootstrap("cluster", n.cfg.Server, n.cfg.CAData, n.cfg.BootstrapToken)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "bootstrap-kubeconfig"), bootstrap, 0o600); err != nil {
			return err
		}
		joinArgs = []string{"--bootstrap-kubeconfig=" + filepath.Join(dir, "bootstrap-kubeconfig")}
	} else if err := os.WriteFile(kubeconfigPath, n.cfg.Kubeconfig, 0o600); err != nil {
		return err
	}
	cgroupRoot := n.cgroup()
	conf := fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 0.0.0.0
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: %q}
authorization: {mode: Webhook}
clusterDomain: cluster.local
clusterDNS: [%q]
cgroupDriver: cgroupfs
cgroupRoot: %q
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: %q
rotateCertificates: %v
maxPods: %d
providerID: %q
podLogsDir: %q
resolvConf: /etc/resolv.conf
evictionHard: {"memory.available": "100Mi", "nodefs.available": "1%%", "imagefs.available": "1%%", "nodefs.inodesFree": "1%%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
%s`, ca, n.cfg.ClusterDNS, cgroupRoot, "unix://"+n.containerdSocket(), rotate, n.cfg.MaxPods, n.cfg.ProviderID, filepath.Join(dir, "pod-logs"), n.systemReserved())
	confPath := filepath.Join(dir, "kubelet-config.yaml")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		return err
	}
	if err := ensureCgroup(cgroupRoot); err != nil {
		return err
	}
	if err := n.limitCgroup(cgroupRoot); err != nil {
		return err
	}
	labels := make([]string, 0, len(n.cfg.Labels))
	for k, v := range n.cfg.Labels {
		labels = append(labels, k+"="+v)
	}
	sort.Strings(labels)
	args := append(slices.Clone(n.cfg.Kubelet),
		"--config="+confPath,
		"--kubeconfig="+kubeconfigPath,
		"--cert-dir="+filepath.Join(dir, "pki"),
		"--root-dir="+filepath.Join(dir, "kubelet"),
		"--hostname-override="+n.cfg.Name,
		"--node-ip="+n.cfg.IP.Addr().String(),
		"--v=1",
	)
	args = append(args, joinArgs...)
	if len(labels) > 0 {
		args = append(args, "--node-labels="+strings.Join(labels, ","))
	}
	if len(n.cfg.Taints) > 0 {
		args = append(args, "--register-with-taints="+strings.Join(n.cfg.Taints, ","))
	}
	return n.start("kubelet", args...)
}

// cgroup is the node's parent cgroup: kubelet's cgroupRoot, with the
// pods and their containers below it.
func (n *Node) cgroup() string { return "/berth/" + n.cfg.ID }

// cgroupHierarchies are the v1 controllers kubelet and runc use.
var cgroupHierarchies = []string{"cpu", "cpuacct", "cpuset", "memory", "pids", "hugetlb", "blkio", "devices", "freezer", "net_cls", "perf_event", "systemd"}

// killCgroup kills every process in the node's cgroup tree (containers
// outlive their shims) and removes the tree.
func killCgroup(path string) {
	for attempt := 0; attempt < 20; attempt++ {
		alive := false
		for _, ctl := range cgroupHierarchies {
			root := filepath.Join("/sys/fs/cgroup", ctl, path)
			_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
				if err != nil || !d.IsDir() {
					return nil
				}
				raw, _ := os.ReadFile(filepath.Join(p, "cgroup.procs"))
				for _, f := range strings.Fields(string(raw)) {
					if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
						alive = true
						_ = syscall.Kill(pid, syscall.SIGKILL)
					}
				}
				return nil
			})
		}
		if !alive {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, ctl := range cgroupHierarchies {
		root := filepath.Join("/sys/fs/cgroup", ctl, path)
		var dirs []string
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- { // children first
			_ = os.Remove(dirs[i])
		}
	}
}

// startKubeProxy writes kube-proxy's configuration and kubeconfig and
// starts it in the namespace (iptables mode: the node's own tables).
func (n *Node) startKubeProxy() error {
	dir := n.cfg.Dir
	kc, err := kubeconfig.ForComponent(n.cfg.Server, n.cfg.CAData, n.cfg.KubeProxyCert, n.cfg.KubeProxyKey)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "kube-proxy.kubeconfig"), kc, 0o600); err != nil {
		return err
	}
	cidr := n.cfg.ClusterCIDR
	if !cidr.IsValid() {
		cidr = n.cfg.PodCIDR
	}
	conf := fmt.Sprintf(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: %q}
mode: iptables
clusterCIDR: %q
hostnameOverride: %q
bindAddress: 0.0.0.0
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 127.0.0.1:10256
conntrack: {maxPerCore: 0, min: 0}
`, filepath.Join(dir, "kube-proxy.kubeconfig"), cidr.Masked().String(), n.cfg.Name)
	confPath := filepath.Join(dir, "kube-proxy-config.yaml")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		return err
	}
	return n.start("kube-proxy", append(slices.Clone(n.cfg.KubeProxy), "--config="+confPath, "--v=1")...)
}

// evictionMemory is kubelet's memory.available hard eviction threshold in
// the configuration berth writes, in bytes.
const evictionMemory = 100 << 20

// systemReserved is kubelet's systemReserved setting: the host's
// resources beyond the instance's allocatable, so that the node's
// allocatable is the instance type's.
func (n *Node) systemReserved() string {
	hostCPU, hostMem := int64(runtime.NumCPU())*1000, hostMemory()
	var parts []string
	if a := n.cfg.AllocatableCPUMilli; a > 0 && hostCPU > a {
		parts = append(parts, fmt.Sprintf("cpu: \"%dm\"", hostCPU-a))
	}
	if a := n.cfg.AllocatableMemory; a > 0 && hostMem > a+evictionMemory {
		parts = append(parts, fmt.Sprintf("memory: \"%d\"", hostMem-a-evictionMemory))
	}
	if len(parts) == 0 {
		return ""
	}
	return "systemReserved: {" + strings.Join(parts, ", ") + "}\n"
}

// hostMemory is MemTotal, in bytes.
func hostMemory() int64 {
	raw, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// limitCgroup caps the node's cgroup at its instance type's CPUs and
// memory (cgroup v1: CFS quota, memory limit).
func (n *Node) limitCgroup(path string) error {
	write := func(ctl, file string, v int64) error {
		p := filepath.Join("/sys/fs/cgroup", ctl, path, file)
		if err := os.WriteFile(p, []byte(strconv.FormatInt(v, 10)), 0o644); err != nil {
			return fmt.Errorf("limiting %s: %w", p, err)
		}
		return nil
	}
	if m := n.cfg.CPUMilli; m > 0 {
		if err := write("cpu", "cpu.cfs_period_us", 100000); err != nil {
			return err
		}
		if err := write("cpu", "cpu.cfs_quota_us", m*100); err != nil {
			return err
		}
	}
	if m := n.cfg.MemoryBytes; m > 0 {
		return write("memory", "memory.limit_in_bytes", m)
	}
	return nil
}

// ensureCgroup makes the node's parent cgroup in every v1 hierarchy
// kubelet uses, as a machine's init would have.
func ensureCgroup(path string) error {
	for _, ctl := range cgroupHierarchies {
		base := filepath.Join("/sys/fs/cgroup", ctl)
		if _, err := os.Stat(base); err != nil {
			continue
		}
		if err := os.MkdirAll(filepath.Join(base, path), 0o755); err != nil {
			return fmt.Errorf("cgroup %s: %w", filepath.Join(base, path), err)
		}
		if ctl == "cpuset" {
			// A new cpuset is empty until it copies its parent's.
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				for _, p := range []string{filepath.Dir(path), path} {
					parent, err := os.ReadFile(filepath.Join(base, filepath.Dir(p), f))
					if err != nil {
						continue
					}
					_ = os.WriteFile(filepath.Join(base, p, f), parent, 0o644)
				}
			}
		}
	}
	return nil
}

// Stop stops kubelet, containerd and everything the node ran (the
// containers' shims and processes live in its namespace), and removes
// the namespace. The node's directory stays; Remove deletes it.
func (n *Node) Stop() {
	n.stopped.Do(func() {
		for i := len(n.procs) - 1; i >= 0; i-- {
			if p := n.procs[i].Process; p != nil {
				_ = syscall.Kill(-p.Pid, syscall.SIGKILL)
			}
			select {
			case <-n.done[i]:
			case <-time.After(10 * time.Second):
				n.log.Warn("node process did not exit", "pid", n.procs[i].Process.Pid)
			}
		}
		n.killNamespace()
		killCgroup(n.cgroup())
		for _, ln := range n.fwds {
			ln.Close()
		}
		for _, srv := range n.dns {
			_ = srv.Shutdown()
		}
		unmountBelow(n.cfg.Dir)
		n.cleanNetwork()
		_ = os.Remove(n.containerdSocket())
	})
}

// killNamespace kills every process left in the node's namespace: the
// shims and containers containerd started.
func (n *Node) killNamespace() {
	out, err := exec.Command(n.cfg.Tools.IP, "netns", "pids", n.netns).Output()
	if err != nil {
		return
	}
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// unmountBelow detaches every mount under dir (kubelet's tmpfs volumes,
// containerd's rootfs mounts), deepest first.
func unmountBelow(dir string) {
	raw, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	var points []string
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			points = append(points, f[4])
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(points)))
	for _, p := range points {
		_ = unix.Unmount(p, unix.MNT_DETACH)
	}
}

// Remove stops the node and deletes its directory.
func (n *Node) Remove() error {
	n.Stop()
	return errors.Join(os.RemoveAll(n.cfg.Dir))
}

// IP is the node's address.
func (n *Node) IP() netip.Addr { return n.cfg.IP.Addr() }
