package sim

import (
	"github.com/berthproject/berth/internal/compute/ipam"
	"github.com/container-storage-interface/spec/lib/go/csi"

	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	coordinationv1client "k8s.io/client-go/kubernetes/typed/coordination/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	storagev1client "k8s.io/client-go/kubernetes/typed/storage/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/flowcontrol"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/component-base/version"
	"k8s.io/utils/clock"
)

// Defaults of ClusterConfig.
const (
	DefaultQPS              = 300
	DefaultBurst            = 600
	DefaultPodWorkers       = 16
	DefaultTerminationDelay = time.Second
	DefaultJobDuration      = time.Second
)

// Kubelet's timing (its defaults for nodeLeaseDurationSeconds,
// renewInterval = 0.25 of it, and nodeStatusReportFrequency).
const (
	leaseDuration         = 40 * time.Second
	leaseRenewInterval    = 10 * time.Second
	statusReportFrequency = 5 * time.Minute
	heartbeatRetry        = time.Second
	heartbeatWorkers      = 64
)

// kubeletContent is how the simulated kubelets talk to the API server:
// protobuf, as kubelet does by default (--kube-api-content-type). It is
// several times cheaper than JSON for the API server to decode and encode,
// which matters with a Lease renewal per node every 10 s and a status
// write per pod.
var kubeletContent = rest.ContentConfig{
	ContentType:        runtime.ContentTypeProtobuf,
	AcceptContentTypes: runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON,
}

// ClusterConfig configures a Cluster.
type ClusterConfig struct {
	// Server is the cluster endpoint, https://127.0.0.1:PORT.
	Server string
	// CAData is the cluster CA certificate, PEM.
	CAData []byte
	// BootstrapToken is "ID.SECRET" of a bootstrap token Secret in
	// kube-system with usage-bootstrap-authentication (CreateBootstrapToken
	// makes one). Nodes use it only to request their certificate. Empty
	// when every node brings its own credentials (NodeSpec.Token or
	// ClientCert).
	BootstrapToken string
	// AdminConfig is used for the one cluster-wide pod list and watch; no
	// write is made with it. A node identity may only watch its own pods,
	// so without it the Cluster runs one node, which watches its pods
	// with its own identity (a node agent outside berth).
	AdminConfig *rest.Config
	// Logger receives the Cluster's messages; nil discards them.
	Logger *slog.Logger
	// Clock drives leases, status reports and pod timing; nil means the
	// real clock.
	Clock clock.WithTicker
	// QPS and Burst limit the pod writes (status and deletes) of all nodes
	// together; zero means DefaultQPS and DefaultBurst. Lease renewals and
	// joins are not limited by it, so a pod storm does not make nodes
	// NotReady.
	QPS   float32
	Burst int
	// PodWorkers is how many pod writes may be in flight; zero means
	// DefaultPodWorkers.
	PodWorkers int
	// TerminationDelay is how long a pod takes to stop after a graceful
	// delete, capped by its grace period; zero means
	// DefaultTerminationDelay, negative means at once.
	TerminationDelay time.Duration
	// JobDuration is how long the containers of a Job's pod run when the
	// pod has no berth.dev/run-duration annotation; zero means
	// DefaultJobDuration, negative means they exit at once.
	JobDuration time.Duration
	// KubeletVersion is reported in node status; empty means the version
	// of the compiled-in Kubernetes.
	KubeletVersion string
	// IPs hands out pod IPs; nil means a SubnetAllocator of the Cluster's
	// own. See ipam.Allocator for why it should be shared.
	IPs ipam.Allocator
	// DataDir holds the nodes' volume paths (DATA/nodes/CLUSTER: a
	// directory per node, as kubelet's root dir); required once a CSI
	// driver is added.
	DataDir string
}

func (c ClusterConfig) withDefaults() (ClusterConfig, error) {
	var errs []error
	if c.Server == "" {
		errs = append(errs, errors.New("server is empty"))
	}
	if len(c.CAData) == 0 {
		errs = append(errs, errors.New("CA data is empty"))
	}
	if c.BootstrapToken != "" && !validToken(c.BootstrapToken) {
		errs = append(errs, errors.New("bootstrap token is not of the form [a-z0-9]{6}.[a-z0-9]{16}"))
	}
	if c.QPS < 0 || c.Burst < 0 || c.PodWorkers < 0 {
		errs = append(errs, errors.New("negative QPS, burst or worker count"))
	}
	if err := errors.Join(errs...); err != nil {
		return c, fmt.Errorf("sim: invalid cluster config: %w", err)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Clock == nil {
		c.Clock = clock.RealClock{}
	}
	if c.QPS == 0 {
		c.QPS = DefaultQPS
	}
	if c.Burst == 0 {
		c.Burst = DefaultBurst
	}
	if c.PodWorkers == 0 {
		c.PodWorkers = DefaultPodWorkers
	}
	if c.TerminationDelay == 0 {
		c.TerminationDelay = DefaultTerminationDelay
	}
	c.TerminationDelay = max(c.TerminationDelay, 0)
	if c.JobDuration == 0 {
		c.JobDuration = DefaultJobDuration
	}
	c.JobDuration = max(c.JobDuration, 0)
	if c.KubeletVersion == "" {
		c.KubeletVersion = version.Get().GitVersion
	}
	if c.IPs == nil {
		c.IPs = ipam.NewSubnetAllocator()
	}
	return c, nil
}

// Cluster runs the simulated nodes of one Kubernetes cluster.
type Cluster struct {
	cfg       ClusterConfig
	log       *slog.Logger
	clock     clock.WithTicker
	bootstrap kubernetes.Interface
	limiter   flowcontrol.RateLimiter
	ips       ipam.Allocator

	// pods is the pod watch: all bound pods with AdminConfig, else the
	// one node's own, made when it joins. podsReady closes once it
	// exists.
	pods       cache.SharedIndexInformer
	podsReady  chan struct{}
	podsNode   string
	podQueue   workqueue.TypedRateLimitingInterface[string]
	heartbeats workqueue.TypedDelayingInterface[string]

	// starts holds when the containers of a running pod last started,
	// by pod UID: more precise than the status, which has seconds.
	starts sync.Map

	// csrs waits for the certificates of joining nodes, with one watch.
	csrs *csrWatch
	// life ends when Start's context does; the CSR watch runs in it.
	life context.Context
	end  context.CancelFunc

	// The kubelet endpoint of the nodes, started by the first DialKubelet.
	kubeletOnce sync.Once
	kubelet     *kubeletListener
	kubeletErr  error

	mu      sync.RWMutex
	nodes   map[string]*node
	drivers map[string]CSIDriver
	started bool
}

func (c *Cluster) runCtx() context.Context { return c.life }

// node is the state of one managed node.
type node struct {
	spec    NodeSpec
	uid     types.UID
	started time.Time // when it joined
	http    *http.Client
	core    corev1client.CoreV1Interface
	leases  coordinationv1client.LeaseInterface

	// Owned by the heartbeat worker that holds the node's key.
	lease      *coordinationv1.Lease
	lastStatus time.Time

	storage storagev1client.StorageV1Interface
	// volMu guards the CSI state: the node plugins by driver, their
	// NodeGetInfo answers, the volumes published for each pod.
	volMu   sync.Mutex
	plugins map[string]*plugin
	info    map[string]*csi.NodeGetInfoResponse
	mounts  map[types.UID][]mounted

	// The node's event recorder, started on first use (events.go).
	eventsOnce sync.Once
	events     record.EventRecorder
	stopEvents func()
}

// NewCluster checks cfg and returns a Cluster with no nodes.
func NewCluster(cfg ClusterConfig) (*Cluster, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &Cluster{
		cfg:       cfg,
		log:       cfg.Logger,
		clock:     cfg.Clock,
		limiter:   flowcontrol.NewTokenBucketRateLimiter(cfg.QPS, cfg.Burst),
		ips:       cfg.IPs,
		nodes:     map[string]*node{},
		podsReady: make(chan struct{}),
		podQueue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](50*time.Millisecond, 10*time.Second),
			workqueue.TypedRateLimitingQueueConfig[string]{Clock: cfg.Clock}),
		heartbeats: workqueue.NewTypedDelayingQueueWithConfig(workqueue.TypedDelayingQueueConfig[string]{Clock: cfg.Clock}),
	}
	if cfg.BootstrapToken != "" {
		bootstrap, err := kubernetes.NewForConfig(&rest.Config{
			Host:            cfg.Server,
			BearerToken:     cfg.BootstrapToken,
			TLSClientConfig: rest.TLSClientConfig{CAData: cfg.CAData},
			QPS:             -1,
			UserAgent:       "berth-sim-kubelet/bootstrap",
			ContentConfig:   kubeletContent,
		})
		if err != nil {
			return nil, fmt.Errorf("sim: bootstrap client: %w", err)
		}
		c.bootstrap = bootstrap
		c.csrs = newCSRWatch(bootstrap)
	}
	if cfg.AdminConfig != nil {
		admin := rest.CopyConfig(cfg.AdminConfig)
		admin.UserAgent = "berth-sim-kubelet/pod-watch"
		admin.ContentConfig = kubeletContent
		adminClient, err := kubernetes.NewForConfig(admin)
		if err != nil {
			return nil, fmt.Errorf("sim: admin client: %w", err)
		}
		c.pods = newPodInformer(adminClient, fields.OneTermNotEqualSelector("spec.nodeName", ""))
		close(c.podsReady)
	}
	c.life, c.end = context.WithCancel(context.Background())
	return c, nil
}

// watchOwnPods makes the pod watch of a Cluster without AdminConfig
// from its one node's identity, as kubelet watches its pods.
func (c *Cluster) watchOwnPods(cfg *rest.Config, hc *http.Client, name string) error {
	if c.cfg.AdminConfig != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch c.podsNode {
	case name:
		return nil
	case "":
	default:
		return fmt.Errorf("sim: a cluster without an admin config runs one node, and runs %s", c.podsNode)
	}
	client, err := kubernetes.NewForConfigAndClient(cfg, hc)
	if err != nil {
		return err
	}
	c.pods = newPodInformer(client, fields.OneTermEqualSelector("spec.nodeName", name))
	c.podsNode = name
	close(c.podsReady)
	return nil
}

// byNode indexes pods by spec.nodeName.
const byNode = "nodeName"

// newPodInformer watches the pods the selector picks across namespaces:
// with an admin identity every pod bound to a node (unscheduled pods,
// which churn most during a scale-up, are filtered out by the server),
// with a node's identity its own pods.
func newPodInformer(client kubernetes.Interface, selector fields.Selector) cache.SharedIndexInformer {
	bound := selector.String()
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = bound
			return client.CoreV1().Pods(metav1.NamespaceAll).List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = bound
			return client.CoreV1().Pods(metav1.NamespaceAll).Watch(ctx, o)
		},
	}
	inf := cache.NewSharedIndexInformer(lw, &corev1.Pod{}, 0, cache.Indexers{
		byNode: func(obj any) ([]string, error) {
			return []string{obj.(*corev1.Pod).Spec.NodeName}, nil
		},
	})
	// Managed fields are a large share of a pod and of no use here.
	_ = inf.SetTransform(func(obj any) (any, error) {
		if pod, ok := obj.(*corev1.Pod); ok {
			pod.ManagedFields = nil
		}
		return obj, nil
	})
	return inf
}

// Start runs the shared pod watch, the pod workers and the heartbeat
// workers until ctx is done. Nodes can be added before Start; their
// heartbeats and pods wait for it. Start may be called once.
func (c *Cluster) Start(ctx context.Context) error {
	c.mu.Lock()
	if c.started {
		c.mu.Unlock()
		return errors.New("sim: cluster already started")
	}
	c.started = true
	c.mu.Unlock()
	defer c.end()
	select {
	case <-c.podsReady:
	case <-ctx.Done():
		return nil
	}

	reg, err := c.pods.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { c.observePod(obj.(*corev1.Pod)) },
		UpdateFunc: func(_, obj any) { c.observePod(obj.(*corev1.Pod)) },
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if pod, ok := obj.(*corev1.Pod); ok {
				c.ips.Release(podOwner(pod))
				c.starts.Delete(pod.UID)
				if n := c.node(pod.Spec.NodeName); n != nil && hasClaims(pod) {
					go func() {
						if err := c.unmountVolumes(ctx, n, pod.UID); err != nil {
							c.log.Warn("unmounting the volumes of a deleted pod", "pod", pod.Namespace+"/"+pod.Name, "err", err)
						}
					}()
				}
			}
		},
	})
	if err != nil {
		return fmt.Errorf("sim: pod event handler: %w", err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer c.podQueue.ShutDown()
	defer c.heartbeats.ShutDown()
	wg.Go(func() { c.pods.RunWithContext(ctx) })

	// Every pod IP in use is known before the first is handed out.
	if !cache.WaitForCacheSync(ctx.Done(), reg.HasSynced) {
		return nil // ctx is done
	}
	c.log.Info("simulated kubelets started", "server", c.cfg.Server)
	for range c.cfg.PodWorkers {
		wg.Go(func() {
			for c.processPod(ctx) {
			}
		})
	}
	for range heartbeatWorkers {
		wg.Go(func() {
			for c.processHeartbeat(ctx) {
			}
		})
	}
	<-ctx.Done()
	c.mu.RLock()
	nodes := make([]*node, 0, len(c.nodes))
	for _, n := range c.nodes {
		nodes = append(nodes, n)
	}
	c.mu.RUnlock()
	for _, n := range nodes {
		// The simulated machines stop with the simulation: their mounts go
		// with them (a restarted berth publishes the volumes of running
		// pods again).
		c.unmountAll(n)
		n.http.CloseIdleConnections()
	}
	return nil
}

// podOwner and nodeOwner name the holders of addresses in c.ips.
func podOwner(pod *corev1.Pod) string { return "pod/" + string(pod.UID) }
func nodeOwner(name string) string    { return "node/" + name }

// observePod keeps the IP reservations in step with the cluster and queues
// pods of managed nodes.
func (c *Cluster) observePod(pod *corev1.Pod) {
	switch {
	case isTerminal(pod) || pod.Spec.HostNetwork:
		c.ips.Release(podOwner(pod))
	case pod.Status.PodIP != "":
		if a, err := netip.ParseAddr(pod.Status.PodIP); err == nil {
			c.ips.Reserve(podOwner(pod), a)
		}
	}
	if c.node(pod.Spec.NodeName) != nil {
		if key, err := cache.MetaNamespaceKeyFunc(pod); err == nil {
			c.podQueue.Add(key)
		}
	}
}

func (c *Cluster) node(name string) *node {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.nodes[name]
}

// Server returns the cluster endpoint the nodes connect to.
func (c *Cluster) Server() string { return c.cfg.Server }

// CAData returns the cluster CA the nodes trust, PEM.
func (c *Cluster) CAData() []byte { return c.cfg.CAData }

// HasNode reports whether the node is managed.
func (c *Cluster) HasNode(name string) bool { return c.node(name) != nil }

// Nodes returns the names of the managed nodes, sorted.
func (c *Cluster) Nodes() []string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	names := make([]string, 0, len(c.nodes))
	for name := range c.nodes {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// RemoveNode stops the node as a machine that died: its Lease and status
// are no longer renewed, so the node lifecycle controller marks it NotReady
// after the grace period, and its pods are left as they are. The Node
// object is kept; deleting it is the owner's decision. Removing a node
// that is not managed does nothing.
func (c *Cluster) RemoveNode(name string) {
	c.mu.Lock()
	n := c.nodes[name]
	delete(c.nodes, name)
	c.mu.Unlock()
	if n == nil {
		return
	}
	c.ips.Release(nodeOwner(name))
	c.unmountAll(n)
	n.eventsOnce.Do(func() {}) // no recorder starts after this
	if n.stopEvents != nil {
		n.stopEvents()
	}
	n.http.CloseIdleConnections()
	c.log.Debug("node stopped", "node", name)
}
