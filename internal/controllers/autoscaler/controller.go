// Package autoscaler is berth's built-in node autoscaler, Cluster
// Autoscaler's job done inside berth: for each cluster, it grows the node
// groups that carry the autoscaler tags when pods cannot be scheduled
// (plan.go) and shrinks them when nodes stay underused (scaledown.go),
// through the same Auto Scaling Group operations the Auto Scaling API
// offers, and says why in events and in the cluster-autoscaler-status
// ConfigMap.
package autoscaler

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/berthproject/berth/internal/compute/instancetypes"
	"github.com/berthproject/berth/internal/nodegroup"
	"github.com/berthproject/berth/internal/vpc"
)

// Tags that enable the autoscaler for a node group, as EKS users put them
// for Cluster Autoscaler's auto-discovery.
const (
	TagEnabled       = "k8s.io/cluster-autoscaler/enabled"
	tagClusterPrefix = "k8s.io/cluster-autoscaler/"
)

// Resizer changes Auto Scaling Groups, mirrored into their node groups,
// as the Auto Scaling API does (asgapi.Resizer).
type Resizer interface {
	SetDesired(ctx context.Context, group string, desired int) error
	TerminateInstance(ctx context.Context, instanceID string, decrement bool) error
}

// Nodegroups lists the node groups.
type Nodegroups interface {
	All(ctx context.Context) ([]*nodegroup.Nodegroup, error)
}

// Config wires a Controller.
type Config struct {
	Nodegroups Nodegroups
	Network    *vpc.Network
	Admin      func(ctx context.Context, cluster string) (kubernetes.Interface, error)
	Resizer    Resizer
	// Interval is how often each cluster is looked at (default 1 s;
	// Cluster Autoscaler's is 10 s).
	Interval time.Duration
	Logger   *slog.Logger
	Now      func() time.Time
}

// Controller runs one scaler per cluster that has an enabled node group.
type Controller struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	scalers map[string]*scaler
}

// New checks cfg and returns a Controller.
func New(cfg Config) (*Controller, error) {
	if cfg.Nodegroups == nil || cfg.Network == nil || cfg.Admin == nil || cfg.Resizer == nil {
		return nil, errors.New("autoscaler: Nodegroups, Network, Admin and Resizer are required")
	}
	if cfg.Interval == 0 {
		cfg.Interval = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Controller{cfg: cfg, log: cfg.Logger, scalers: map[string]*scaler{}}, nil
}

// Enabled tells whether a node group is autoscaled: it carries
// k8s.io/cluster-autoscaler/enabled=true and
// k8s.io/cluster-autoscaler/<its cluster>, as Cluster Autoscaler's
// auto-discovery wants them.
func Enabled(ng *nodegroup.Nodegroup) bool {
	_, owned := ng.Tags[tagClusterPrefix+ng.Cluster]
	return ng.Tags[TagEnabled] == "true" && owned
}

// Start runs until ctx is done.
func (c *Controller) Start(ctx context.Context) error {
	t := time.NewTicker(c.cfg.Interval)
	defer t.Stop()
	for {
		c.tick(ctx)
		select {
		case <-ctx.Done():
			c.mu.Lock()
			for _, s := range c.scalers {
				s.stop()
			}
			c.mu.Unlock()
			return nil
		case <-t.C:
		}
	}
}

// tick starts and stops scalers as node groups are enabled and gone, and
// runs a cycle of each.
func (c *Controller) tick(ctx context.Context) {
	all, err := c.cfg.Nodegroups.All(ctx)
	if err != nil {
		c.log.Warn("listing node groups", "err", err)
		return
	}
	byCluster := map[string][]*nodegroup.Nodegroup{}
	for _, ng := range all {
		if Enabled(ng) {
			byCluster[ng.Cluster] = append(byCluster[ng.Cluster], ng)
		}
	}
	c.mu.Lock()
	for name, s := range c.scalers {
		if _, ok := byCluster[name]; !ok {
			s.stop()
			delete(c.scalers, name)
		}
	}
	var run []*scaler
	for name, ngs := range byCluster {
		s := c.scalers[name]
		if s == nil {
			client, err := c.cfg.Admin(ctx, name)
			if err != nil {
				continue // the cluster is not up; next tick
			}
			s = newScaler(c, name, client)
			c.scalers[name] = s
		}
		s.ngs = ngs
		run = append(run, s)
	}
	c.mu.Unlock()
	for _, s := range run {
		if s.synced() {
			s.cycle(ctx)
		}
	}
}

// scaler autoscales one cluster.
type scaler struct {
	c       *Controller
	cluster string
	client  kubernetes.Interface
	log     *slog.Logger
	ngs     []*nodegroup.Nodegroup

	factory informers.SharedInformerFactory
	pods    cache.SharedIndexInformer
	nodes   cache.SharedIndexInformer
	events  record.EventRecorder
	bcast   record.EventBroadcaster
	cancel  context.CancelFunc

	lastScaleUp   time.Time
	unneededSince map[string]time.Time
	told          map[string]time.Time // event key -> when it was last emitted
	removing      sync.Mutex           // held while a node is being removed
	status        string
}

func newScaler(c *Controller, cluster string, client kubernetes.Interface) *scaler {
	ctx, cancel := context.WithCancel(context.Background())
	f := informers.NewSharedInformerFactory(client, 0)
	s := &scaler{
		c: c, cluster: cluster, client: client, log: c.log.With("cluster", cluster),
		factory: f, pods: f.Core().V1().Pods().Informer(), nodes: f.Core().V1().Nodes().Informer(),
		cancel: cancel, unneededSince: map[string]time.Time{}, told: map[string]time.Time{},
	}
	s.bcast = record.NewBroadcaster(record.WithContext(ctx))
	s.bcast.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	s.events = s.bcast.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "cluster-autoscaler"})
	f.Start(ctx.Done())
	return s
}

func (s *scaler) synced() bool { return s.pods.HasSynced() && s.nodes.HasSynced() }

func (s *scaler) stop() {
	s.cancel()
	s.bcast.Shutdown()
	s.factory.Shutdown()
}

// groups builds the planner's view of the enabled node groups that can
// change size now.
func (s *scaler) groups(nodes []*corev1.Node) []*group {
	var out []*group
	for _, ng := range s.ngs {
		if ng.Status != nodegroup.StatusActive || len(ng.InstanceTypes) == 0 {
			continue
		}
		typ, ok := instancetypes.Lookup(ng.InstanceTypes[0])
		if !ok {
			continue
		}
		g := &group{ng: ng, typ: typ}
		for _, id := range ng.Subnets {
			if sn, ok := s.c.cfg.Network.Subnet(id); ok && !slices.Contains(g.zones, sn.AZ) {
				g.zones = append(g.zones, sn.AZ)
			}
		}
		for _, n := range nodes {
			if n.Labels["eks.amazonaws.com/nodegroup"] == ng.Name && nodeReady(n) {
				g.ready++
			}
		}
		out = append(out, g)
	}
	return out
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// tell records an event once per key and message every five minutes, as
// Cluster Autoscaler rate-limits its own.
func (s *scaler) tell(obj *corev1.ObjectReference, key, typ, reason, msg string) {
	k := key + "|" + reason + "|" + msg
	now := s.c.cfg.Now()
	if t, ok := s.told[k]; ok && now.Sub(t) < 5*time.Minute {
		return
	}
	s.told[k] = now
	s.events.Event(obj, typ, reason, msg)
}
