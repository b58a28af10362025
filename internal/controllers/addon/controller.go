// Package addon drives the EKS add-ons berth runs inside clusters (the
// catalog's Runs flag: the EBS, EFS and FSx CSI drivers). For an add-on
// of an ACTIVE cluster it installs what the EKS add-on installs: the
// CSIDriver object, the driver's controller with the CSI sidecars
// (provisioner, attacher, resizer, snapshotter: Config.Sidecars), and the
// node plugin on every node of the cluster (the simulated kubelets'
// CSINode registration, staging and publishing); then the add-on is
// ACTIVE. Deleting it stops them and, unless preserve was asked, removes
// the CSIDriver. The reconcile is level-triggered: after a restart every
// ACTIVE add-on is brought up again.
package addon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/workqueue"

	"github.com/berthproject/berth/internal/addon"
	"github.com/berthproject/berth/internal/apierror"
	"github.com/berthproject/berth/internal/compute/sim"
	"github.com/berthproject/berth/internal/controllers/reconcile"
	"github.com/berthproject/berth/internal/store"
)

// Watcher delivers store change events.
type Watcher interface {
	Watch(ctx context.Context) (<-chan store.Event, error)
}

// Clusters gives the simulation and admin client of a cluster whose
// control plane runs.
type Clusters interface {
	Sim(ctx context.Context, cluster string) (*sim.Cluster, error)
	Admin(ctx context.Context, cluster string) (kubernetes.Interface, error)
}

// RealNodes runs CSI node plugins on the real nodes of a cluster.
type RealNodes interface {
	AddCSIDriver(ctx context.Context, cluster string, d sim.CSIDriver) error
	RemoveCSIDriver(ctx context.Context, cluster, name string) error
}

// Driver is what an add-on installs.
type Driver struct {
	// CSIDriver is the object the add-on registers.
	CSIDriver storagev1.CSIDriver
	// Node is the driver's node plugin for the simulated kubelets.
	Node sim.CSIDriver
	// Run runs the driver's controller side for a cluster until ctx is
	// done (the CSI sidecars over the driver's controller service).
	Run func(ctx context.Context, cluster string) error
}

// Config wires a Controller.
type Config struct {
	Addons   *addon.Service
	Changes  Watcher
	Clusters Clusters
	// RealNodes runs the node plugins on a cluster's real nodes; nil
	// when there are none.
	RealNodes RealNodes
	// Drivers are the add-ons berth runs, by add-on name.
	Drivers map[string]Driver
	// Ready reports whether a cluster is ACTIVE (or UPDATING).
	Ready  func(ctx context.Context, cluster string) bool
	Logger *slog.Logger
	// Resync is how often every add-on is reconciled (default 30 s).
	Resync time.Duration
}

// Controller reconciles add-on records.
type Controller struct {
	cfg   Config
	log   *slog.Logger
	queue workqueue.TypedRateLimitingInterface[string]
	ctx   context.Context

	mu      sync.Mutex
	running map[string]*runner // by add-on key
}

// runner is a driver's controller side running for a cluster.
type runner struct {
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// New checks cfg and returns a Controller.
func New(cfg Config) (*Controller, error) {
	if cfg.Addons == nil || cfg.Changes == nil || cfg.Clusters == nil || cfg.Ready == nil {
		return nil, errors.New("addon controller: Addons, Changes, Clusters and Ready are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Resync == 0 {
		cfg.Resync = 30 * time.Second
	}
	return &Controller{cfg: cfg, log: cfg.Logger, running: map[string]*runner{}, queue: workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.NewTypedItemExponentialFailureRateLimiter[string](200*time.Millisecond, 30*time.Second),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "addons"})}, nil
}

// Start runs the controller until ctx is done.
func (c *Controller) Start(ctx context.Context) error {
	events, err := c.cfg.Changes.Watch(ctx)
	if err != nil {
		return err
	}
	c.ctx = ctx
	defer c.stopAll()
	defer c.queue.ShutDown()
	go reconcile.Work(ctx, c.queue, c.reconcile, c.log, "addon")
	c.enqueueAll(ctx)
	reconcile.Feed(ctx, events, c.cfg.Resync, func(ev store.Event) {
		if ev.Kind == addon.KindAddon {
			c.queue.Add(ev.Key)
		}
	}, func() { c.enqueueAll(ctx) })
	return nil
}

func (c *Controller) enqueueAll(ctx context.Context) {
	all, err := c.cfg.Addons.All(ctx)
	if err != nil {
		c.log.Warn("listing add-ons", "err", err)
		return
	}
	for _, a := range all {
		c.queue.Add(addon.Key(a.Cluster, a.Name))
	}
	// Runners of add-ons that are gone (their cluster deleted).
	c.mu.Lock()
	defer c.mu.Unlock()
	for key, r := range c.running {
		if !containsKey(all, key) {
			r.cancel()
			delete(c.running, key)
		}
	}
}

func containsKey(all []*addon.Addon, key string) bool {
	for _, a := range all {
		if addon.Key(a.Cluster, a.Name) == key {
			return true
		}
	}
	return false
}

func (c *Controller) stopAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for key, r := range c.running {
		r.cancel()
		<-r.done
		delete(c.running, key)
	}
}

// NotRunMessage is the health issue of an add-on berth has no driver for.
func NotRunMessage(name string) string {
	return "berth does not run the " + name + " add-on inside clusters"
}

func (c *Controller) reconcile(ctx context.Context, key string) error {
	clusterName, name, ok := strings.Cut(key, "/")
	if !ok {
		return nil
	}
	a, _, err := c.cfg.Addons.Get(ctx, clusterName, name)
	if apierror.IsKind(err, apierror.ResourceNotFound) {
		c.stop(key)
		return nil
	}
	if err != nil {
		return err
	}
	if !a.Runs {
		return nil
	}
	d, known := c.cfg.Drivers[name]
	switch a.Status {
	case addon.StatusDeleting:
		c.stop(key)
		if known {
			if err := c.uninstall(ctx, clusterName, d, a.Preserve); err != nil {
				return err
			}
		}
		return ignore(c.cfg.Addons.FinishDelete(ctx, clusterName, name))
	case addon.StatusCreateFailed, addon.StatusDeleteFailed:
		return nil
	}
	if !known {
		if a.Status == addon.StatusCreating || a.Status == addon.StatusUpdating {
			return ignore(c.cfg.Addons.MarkFailed(ctx, clusterName, name, addon.Issue{Code: "InternalFailure", Message: NotRunMessage(name)}))
		}
		return nil
	}
	if !c.cfg.Ready(ctx, clusterName) {
		return reconcile.RetryAfter(5 * time.Second)
	}
	if err := c.install(ctx, clusterName, key, d); err != nil {
		return fmt.Errorf("installing add-on %s: %w", key, err)
	}
	if a.Status == addon.StatusCreating || a.Status == addon.StatusUpdating || a.Status == addon.StatusDegraded {
		return ignore(c.cfg.Addons.MarkActive(ctx, clusterName, name))
	}
	return nil
}

func ignore(err error) error {
	if errors.Is(err, addon.ErrDeleting) || errors.Is(err, addon.ErrNotDeleting) {
		return nil
	}
	return err
}

// install makes the add-on's pieces run: idempotent.
func (c *Controller) install(ctx context.Context, cluster, key string, d Driver) error {
	admin, err := c.cfg.Clusters.Admin(ctx, cluster)
	if err != nil {
		return err
	}
	want := d.CSIDriver.DeepCopy()
	if want.Labels == nil {
		want.Labels = map[string]string{}
	}
	want.Labels["app.kubernetes.io/managed-by"] = "EKS"
	if _, err := admin.StorageV1().CSIDrivers().Create(ctx, want, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating CSIDriver %s: %w", want.Name, err)
	}
	c.start(cluster, key, d)
	s, err := c.cfg.Clusters.Sim(ctx, cluster)
	if err != nil {
		return err
	}
	if err := s.AddCSIDriver(ctx, d.Node); err != nil {
		return err
	}
	if c.cfg.RealNodes != nil {
		return c.cfg.RealNodes.AddCSIDriver(ctx, cluster, d.Node)
	}
	return nil
}

// start runs the driver's controller side for the cluster, once.
func (c *Controller) start(cluster, key string, d Driver) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r, ok := c.running[key]; ok {
		select {
		case <-r.done:
			// It stopped; start it again.
		default:
			return
		}
	}
	ctx, cancel := context.WithCancel(c.ctx)
	r := &runner{cancel: cancel, done: make(chan struct{})}
	c.running[key] = r
	go func() {
		defer close(r.done)
		r.err = d.Run(ctx, cluster)
		if r.err != nil && ctx.Err() == nil {
			c.log.Warn("add-on controller side stopped", "addon", key, "err", r.err)
			c.queue.AddAfter(key, 5*time.Second)
		}
	}()
}

func (c *Controller) stop(key string) {
	c.mu.Lock()
	r := c.running[key]
	delete(c.running, key)
	c.mu.Unlock()
	if r != nil {
		r.cancel()
		<-r.done
	}
}

// uninstall takes the node plugins down and, unless preserve, the
// CSIDriver object. A cluster that is gone has nothing left to remove.
func (c *Controller) uninstall(ctx context.Context, cluster string, d Driver, preserve bool) error {
	if !c.cfg.Ready(ctx, cluster) {
		return nil
	}
	if s, err := c.cfg.Clusters.Sim(ctx, cluster); err == nil {
		if err := s.RemoveCSIDriver(ctx, d.Node.Name); err != nil {
			return err
		}
	}
	if c.cfg.RealNodes != nil {
		if err := c.cfg.RealNodes.RemoveCSIDriver(ctx, cluster, d.Node.Name); err != nil {
			return err
		}
	}
	if preserve {
		return nil
	}
	admin, err := c.cfg.Clusters.Admin(ctx, cluster)
	if err != nil {
		return nil
	}
	err = admin.StorageV1().CSIDrivers().Delete(ctx, d.CSIDriver.Name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting CSIDriver %s: %w", d.CSIDriver.Name, err)
	}
	return nil
}
