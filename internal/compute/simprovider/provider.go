// Package simprovider is the default instance provider: each instance's
// node is a simulated kubelet (internal/compute/sim) running inside berth.
// One sim.Cluster serves all the nodes of one EKS cluster, so a cluster
// costs one pod watch however many nodes it has.
package simprovider

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/berthproject/berth/internal/compute"
	"github.com/berthproject/berth/internal/compute/instancetypes"
	"github.com/berthproject/berth/internal/compute/ipam"
	"github.com/berthproject/berth/internal/compute/sim"
	"github.com/berthproject/berth/internal/ekstoken"
	"github.com/berthproject/berth/internal/vpc"
)

// AccessFunc returns an admin rest.Config for a cluster, or an error when
// the cluster has no running control plane.
type AccessFunc func(ctx context.Context, cluster string) (*rest.Config, error)

// Config wires a Provider.
type Config struct {
	Access AccessFunc
	// IPs is the allocator instances got their addresses from; pods get
	// theirs from it too.
	IPs     ipam.Allocator
	Network *vpc.Network
	Region  string
	// KubeletVersion maps a Kubernetes minor ("1.37") to the kubelet
	// version nodes report ("v1.37.2-eks-..."); nil uses "v" + minor + ".0".
	KubeletVersion func(minor string) string
	Logger         *slog.Logger
	// TokenTTL is the lifetime of the bootstrap tokens nodes join with.
	TokenTTL time.Duration
	// InstanceCredentials returns the AWS credentials of a self-managed
	// instance's role, as EC2's instance metadata serves them from its
	// instance profile. Self-managed nodes authenticate with EKS tokens
	// signed with them; nil, or an error, leaves such a node without
	// credentials, and it cannot join.
	InstanceCredentials compute.CredentialsFunc
	// DataDir holds the nodes' volume paths, DATA/nodes/CLUSTER/NODE.
	DataDir string
	// ClusterVersion returns a cluster's Kubernetes minor, for the
	// kubelet version of self-managed nodes (whose AMI matches it); nil
	// leaves them the compiled-in version.
	ClusterVersion func(ctx context.Context, cluster string) string
}

// Provider runs simulated nodes for instances.
type Provider struct {
	cfg Config
	log *slog.Logger
	ctx context.Context

	mu       sync.Mutex
	clusters map[string]*simCluster
}

type simCluster struct {
	key    string // server and CA fingerprint: a recreated cluster differs
	sim    *sim.Cluster
	admin  kubernetes.Interface
	token  string // the bootstrap token its nodes join with
	cancel context.CancelFunc
	done   chan struct{}
	ready  chan struct{}
	err    error
}

// started returns the cluster's simulation once it is set up, else nil
// (also for a nil sc). sim is written before ready closes.
func (sc *simCluster) started() *sim.Cluster {
	if sc == nil {
		return nil
	}
	select {
	case <-sc.ready:
		return sc.sim
	default:
		return nil
	}
}

// New returns a Provider whose clusters live until ctx is done.
func New(ctx context.Context, cfg Config) (*Provider, error) {
	if cfg.Access == nil || cfg.IPs == nil || cfg.Network == nil || cfg.Region == "" || cfg.DataDir == "" {
		return nil, errors.New("simprovider: Access, IPs, Network, Region and DataDir are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.TokenTTL == 0 {
		cfg.TokenTTL = 24 * time.Hour
	}
	if cfg.KubeletVersion == nil {
		cfg.KubeletVersion = func(minor string) string { return "v" + minor + ".0" }
	}
	return &Provider{cfg: cfg, log: cfg.Logger, ctx: ctx, clusters: map[string]*simCluster{}}, nil
}

// cluster returns the running sim.Cluster of a cluster, starting it if
// needed: bootstrap RBAC, a bootstrap token, the shared pod watch.
func (p *Provider) cluster(ctx context.Context, name string) (*simCluster, error) {
	rc, err := p.cfg.Access(ctx, name)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(rc.TLSClientConfig.CAData)
	key := rc.Host + "|" + string(sum[:])
	p.mu.Lock()
	sc := p.clusters[name]
	if sc != nil && sc.key != key {
		sc.cancel()
		delete(p.clusters, name)
		sc = nil
	}
	if sc == nil {
		sc = &simCluster{key: key, ready: make(chan struct{}), done: make(chan struct{})}
		p.clusters[name] = sc
		go p.run(name, sc, rc)
	}
	p.mu.Unlock()
	select {
	case <-sc.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if sc.err != nil {
		p.mu.Lock()
		if p.clusters[name] == sc {
			delete(p.clusters, name)
		}
		p.mu.Unlock()
		return nil, sc.err
	}
	return sc, nil
}

// run sets a cluster's simulation up and runs it until it is dropped.
func (p *Provider) run(name string, sc *simCluster, rc *rest.Config) {
	ctx, cancel := context.WithCancel(p.ctx)
	sc.cancel = cancel
	defer close(sc.done)
	fail := func(err error) {
		sc.err = fmt.Errorf("starting simulated nodes of cluster %s: %w", name, err)
		close(sc.ready)
		cancel()
	}
	admin, err := kubernetes.NewForConfig(rc)
	if err != nil {
		fail(err)
		return
	}
	sc.admin = admin
	setup, stop := context.WithTimeout(ctx, 30*time.Second)
	defer stop()
	if err := sim.EnsureBootstrapRBAC(setup, admin); err != nil {
		fail(err)
		return
	}
	token, err := sim.CreateBootstrapToken(setup, admin, p.cfg.TokenTTL)
	if err != nil {
		fail(err)
		return
	}
	c, err := sim.NewCluster(sim.ClusterConfig{
		Server: rc.Host, CAData: rc.TLSClientConfig.CAData, BootstrapToken: token,
		AdminConfig: rc, IPs: p.cfg.IPs, DataDir: filepath.Join(p.cfg.DataDir, name),
		Logger: p.log.With("cluster", name),
	})
	if err != nil {
		fail(err)
		return
	}
	sc.sim = c
	sc.token = token
	close(sc.ready)
	if err := c.Start(ctx); err != nil {
		p.log.Warn("simulated nodes stopped", "cluster", name, "err", err)
	}
}

// Start joins the instance's node to its cluster and returns once the
// node is registered Ready with its Lease. Starting a node that runs does
// nothing.
func (p *Provider) Start(ctx context.Context, in *compute.Instance) error {
	if in.Cluster == "" {
		return errors.New("instance has no cluster to join")
	}
	spec, err := p.nodeSpec(in)
	if err != nil {
		return err
	}
	sc, err := p.cluster(ctx, in.Cluster)
	if err != nil {
		return err
	}
	if in.SelfManaged() {
		if err := p.selfManaged(ctx, in, &spec, sc); err != nil {
			return err
		}
		err := sc.sim.AddNode(ctx, spec)
		if apierrors.IsUnauthorized(err) {
			return in.Unmapped(err)
		}
		return err
	}
	return sc.sim.AddNode(ctx, spec)
}

// selfManaged checks that a self-managed node's configuration points at
// its cluster, as a real node finds out when it connects, and gives the
// node its role's EKS tokens to authenticate with: such a node has no
// bootstrap token, its role must be mapped by an EC2_LINUX access entry
// or aws-auth.
func (p *Provider) selfManaged(ctx context.Context, in *compute.Instance, spec *sim.NodeSpec, sc *simCluster) error {
	creds, err := in.RoleCredentials(ctx, sc.sim.Server(), sc.sim.CAData(), p.cfg.InstanceCredentials)
	if err != nil {
		return err
	}
	spec.Token = &ekstoken.Source{Credentials: creds, Cluster: in.Cluster, Region: p.cfg.Region}
	if spec.KubeletVersion == "" && p.cfg.ClusterVersion != nil {
		if minor := p.cfg.ClusterVersion(ctx, in.Cluster); minor != "" {
			spec.KubeletVersion = p.cfg.KubeletVersion(minor)
		}
	}
	return nil
}

// Running reports whether the instance's node is simulated now.
func (p *Provider) Running(in *compute.Instance) bool {
	p.mu.Lock()
	sc := p.clusters[in.Cluster]
	p.mu.Unlock()
	c := sc.started()
	return c != nil && c.HasNode(in.Node.Name)
}

// Stop stops the instance's node as a machine that went away and deletes
// its Node object, as the AWS cloud controller does for a terminated
// instance. A cluster that no longer answers is not an error: its nodes
// went with it.
func (p *Provider) Stop(ctx context.Context, in *compute.Instance) error {
	p.mu.Lock()
	sc := p.clusters[in.Cluster]
	p.mu.Unlock()
	if c := sc.started(); c != nil {
		c.RemoveNode(in.Node.Name)
	}
	if in.Cluster == "" {
		return nil
	}
	admin, err := p.Admin(ctx, in.Cluster)
	if err != nil {
		return nil
	}
	err = admin.CoreV1().Nodes().Delete(ctx, in.Node.Name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting node %s: %w", in.Node.Name, err)
	}
	return nil
}

// Admin returns an admin client of a cluster whose control plane runs.
func (p *Provider) Admin(ctx context.Context, cluster string) (kubernetes.Interface, error) {
	sc, err := p.cluster(ctx, cluster)
	if err != nil {
		return nil, err
	}
	return sc.admin, nil
}

// Sim returns the running simulation of a cluster whose control plane
// runs, starting it if needed, for nodes that are not instances (Fargate).
func (p *Provider) Sim(ctx context.Context, cluster string) (*sim.Cluster, error) {
	sc, err := p.cluster(ctx, cluster)
	if err != nil {
		return nil, err
	}
	return sc.sim, nil
}

// DialKubelet connects to the kubelet endpoint (IP:10250) of a node the
// cluster's simulation runs; sim.ErrNoNode when it runs none there.
func (p *Provider) DialKubelet(_ context.Context, cluster, addr string) (net.Conn, error) {
	p.mu.Lock()
	c := p.clusters[cluster].started()
	p.mu.Unlock()
	if c == nil {
		return nil, fmt.Errorf("%w: no node of cluster %s is simulated", sim.ErrNoNode, cluster)
	}
	return c.DialKubelet(addr)
}

// JoinInfo gives what a node outside the simulation (a real kubelet)
// needs to join a cluster by TLS bootstrapping, as a managed node's
// user data carries it: the endpoint, its CA and a bootstrap token.
func (p *Provider) JoinInfo(ctx context.Context, cluster string) (server string, ca []byte, token string, err error) {
	sc, err := p.cluster(ctx, cluster)
	if err != nil {
		return "", nil, "", err
	}
	return sc.sim.Server(), sc.sim.CAData(), sc.token, nil
}

// NodeSpec is the node an instance is, as EKS's AMI registers it: name,
// provider id, address, capacity, the labels and taints.
func (p *Provider) NodeSpec(in *compute.Instance) (sim.NodeSpec, error) { return p.nodeSpec(in) }

// Forget stops the simulation of a cluster (deleted, or gone) once it
// simulates no node: nodes that are not instances (Fargate) keep it.
func (p *Provider) Forget(cluster string) {
	p.mu.Lock()
	sc := p.clusters[cluster]
	if c := sc.started(); c != nil && len(c.Nodes()) > 0 {
		p.mu.Unlock()
		return
	}
	delete(p.clusters, cluster)
	p.mu.Unlock()
	if sc != nil && sc.cancel != nil {
		sc.cancel()
	}
}

// Wait returns once the simulations of every cluster have stopped (after
// the context New got is done): their nodes' volumes are unmounted then.
func (p *Provider) Wait() {
	p.mu.Lock()
	scs := make([]*simCluster, 0, len(p.clusters))
	for _, sc := range p.clusters {
		scs = append(scs, sc)
	}
	p.mu.Unlock()
	for _, sc := range scs {
		<-sc.done
	}
}

// Clusters returns the names of the clusters simulated now.
func (p *Provider) Clusters() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]string, 0, len(p.clusters))
	for name := range p.clusters {
		out = append(out, name)
	}
	return out
}

// nodeSpec is the node an instance registers: labels and resources as
// kubelet on the EKS AMI reports them.
func (p *Provider) nodeSpec(in *compute.Instance) (sim.NodeSpec, error) {
	t, ok := instancetypes.Lookup(in.Type)
	if !ok {
		return sim.NodeSpec{}, fmt.Errorf("unknown instance type %s", in.Type)
	}
	ip, err := netip.ParseAddr(in.PrivateIP)
	if err != nil {
		return sim.NodeSpec{}, fmt.Errorf("instance address: %w", err)
	}
	sub, ok := p.cfg.Network.Subnet(in.SubnetID)
	if !ok {
		return sim.NodeSpec{}, fmt.Errorf("subnet %s of instance %s is unknown", in.SubnetID, in.ID)
	}
	subnet := sub.CIDR
	arch := "amd64"
	if t.Architecture == instancetypes.Arm64 {
		arch = "arm64"
	}
	labels := map[string]string{
		corev1.LabelHostname:                in.Node.Name,
		corev1.LabelOSStable:                "linux",
		corev1.LabelArchStable:              arch,
		"beta.kubernetes.io/os":             "linux",
		"beta.kubernetes.io/arch":           arch,
		corev1.LabelInstanceTypeStable:      in.Type,
		corev1.LabelInstanceType:            in.Type,
		corev1.LabelTopologyRegion:          p.cfg.Region,
		corev1.LabelTopologyZone:            in.AZ,
		corev1.LabelFailureDomainBetaZone:   in.AZ,
		corev1.LabelFailureDomainBetaRegion: p.cfg.Region,
	}
	for k, v := range in.Node.Labels {
		labels[k] = v
	}
	taints := make([]corev1.Taint, 0, len(in.Node.Taints))
	for _, t := range in.Node.Taints {
		taints = append(taints, corev1.Taint{Key: t.Key, Value: t.Value, Effect: corev1.TaintEffect(t.Effect)})
	}
	capRes := t.Capacity(in.Node.DiskGiB)
	alloc := t.Allocatable(in.Node.DiskGiB)
	pods := t.RecommendedMaxPods()
	if in.Node.MaxPods > 0 {
		pods = in.Node.MaxPods
	}
	version := ""
	if in.Node.KubeletVersion != "" {
		version = p.cfg.KubeletVersion(in.Node.KubeletVersion)
	}
	return sim.NodeSpec{
		Name:           in.Node.Name,
		ProviderID:     "aws:///" + in.AZ + "/" + in.ID,
		InternalIP:     ip,
		Subnet:         subnet,
		Capacity:       Resources(capRes, pods),
		Allocatable:    Resources(alloc, pods),
		Labels:         labels,
		Taints:         taints,
		KubeletVersion: version,
	}, nil
}

// Resources is the resource list of a node: an instance type's
// resources and its max pods.
func Resources(r instancetypes.Resources, pods int) corev1.ResourceList {
	return corev1.ResourceList{
		corev1.ResourceCPU:              *resource.NewMilliQuantity(r.CPUMilli, resource.DecimalSI),
		corev1.ResourceMemory:           *resource.NewQuantity(r.MemoryMiB<<20, resource.BinarySI),
		corev1.ResourcePods:             resource.MustParse(strconv.Itoa(pods)),
		corev1.ResourceEphemeralStorage: *resource.NewQuantity(r.EphemeralStorage, resource.BinarySI),
	}
}
