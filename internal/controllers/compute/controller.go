// Package compute runs berth's EC2 side: the instance controller brings
// each instance's node up through its provider and takes it down on
// termination; the group controller keeps each Auto Scaling Group at its
// desired count, spread over its zones, draining nodes before it removes
// them. Both are level-triggered from store events and a periodic resync.
package compute

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/util/workqueue"

	"github.com/berthproject/berth/internal/apierror"
	"github.com/berthproject/berth/internal/compute"
	"github.com/berthproject/berth/internal/controllers/reconcile"
	"github.com/berthproject/berth/internal/store"
)

// Provider runs the node agents of instances.
type Provider interface {
	// Start joins the instance's node to its cluster and returns when the
	// node is registered and Ready, or the join failed. Starting a node
	// that runs does nothing.
	Start(ctx context.Context, in *compute.Instance) error
	// Stop stops the node agent, as a machine that went away, and removes
	// its Node object.
	Stop(ctx context.Context, in *compute.Instance) error
	// Running reports whether the provider runs the instance's node now.
	Running(in *compute.Instance) bool
}

// Drainer cordons an instance's node and evicts its pods (the termination
// lifecycle hook EKS puts on node group ASGs).
type Drainer interface {
	Drain(ctx context.Context, in *compute.Instance) error
}

// Volumes detaches the EBS volumes of a terminated instance (and deletes
// those marked delete-on-termination).
type Volumes interface {
	DetachAll(ctx context.Context, instanceID string) error
}

// Watcher delivers store change events.
type Watcher interface {
	Watch(ctx context.Context) (<-chan store.Event, error)
}

// Config wires a Controller.
type Config struct {
	Compute  *compute.Service
	Provider Provider
	// Drainer drains nodes before scale-in; nil terminates at once.
	Drainer Drainer
	// Volumes, when set, detaches the volumes of terminated instances.
	Volumes Volumes
	Changes Watcher
	Logger  *slog.Logger
	// JoinWorkers is how many nodes may be joining at once (default 256:
	// a join mostly waits for the control plane to approve and sign its
	// CSR, so with 64 a 1,000-node join was paced by latency, not CPU).
	JoinWorkers int
	// MaxJoinFailures is how many failed joins terminate an instance
	// (default 5).
	MaxJoinFailures int
	// JoinTimeout bounds one join attempt (default 60 s).
	JoinTimeout time.Duration
	// Resync is how often everything is reconciled without events
	// (default 10 s).
	Resync time.Duration
	// Retention is how long terminated instances stay listed (EC2: about
	// an hour).
	Retention time.Duration
	// ScaleInDrainTimeout is how long a scale-in waits for evictions that
	// PodDisruptionBudgets block before it deletes the pods (default 15
	// minutes, as EKS).
	ScaleInDrainTimeout time.Duration
	// SpotInterruptionRate is the chance per hour that a running Spot
	// instance is reclaimed (with the usual notice), for chaos testing;
	// zero never reclaims.
	SpotInterruptionRate float64
}

// Controller runs the instance and group loops.
type Controller struct {
	cfg       Config
	log       *slog.Logger
	svc       *compute.Service
	instances workqueue.TypedRateLimitingInterface[string]
	groups    workqueue.TypedRateLimitingInterface[string]
	settle    reconcile.Coalescer // group keys queued by their instances' changes
	writes    *batcher

	// ctx is Start's, for the drains that run in the background.
	ctx context.Context

	mu       sync.Mutex
	draining map[string]bool // instance ids with a drain in flight
}

// New checks cfg and returns a Controller.
func New(cfg Config) (*Controller, error) {
	if cfg.Compute == nil || cfg.Provider == nil || cfg.Changes == nil {
		return nil, errors.New("compute controller: Compute, Provider and Changes are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.JoinWorkers == 0 {
		cfg.JoinWorkers = 256
	}
	if cfg.MaxJoinFailures == 0 {
		cfg.MaxJoinFailures = 5
	}
	if cfg.JoinTimeout == 0 {
		cfg.JoinTimeout = 60 * time.Second
	}
	if cfg.Resync == 0 {
		cfg.Resync = 10 * time.Second
	}
	if cfg.Retention == 0 {
		cfg.Retention = time.Hour
	}
	if cfg.ScaleInDrainTimeout == 0 {
		cfg.ScaleInDrainTimeout = 15 * time.Minute
	}
	c := &Controller{
		cfg: cfg, log: cfg.Logger, svc: cfg.Compute,
		instances: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](200*time.Millisecond, 30*time.Second),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "instances"}),
		groups: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](200*time.Millisecond, 30*time.Second),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "groups"}),
		draining: map[string]bool{},
	}
	c.writes = newBatcher(cfg.Compute, cfg.Logger)
	return c, nil
}

// Start runs the controller until ctx is done.
func (c *Controller) Start(ctx context.Context) error {
	events, err := c.cfg.Changes.Watch(ctx)
	if err != nil {
		return err
	}
	c.ctx = ctx
	var wg sync.WaitGroup
	defer wg.Wait()
	defer c.instances.ShutDown()
	defer c.groups.ShutDown()
	wg.Go(func() { c.writes.run(ctx) })
	c.enqueueAll(ctx)
	for range c.cfg.JoinWorkers {
		wg.Go(func() { reconcile.Work(ctx, c.instances, c.reconcileInstance, c.log, "instance") })
	}
	wg.Go(func() { reconcile.Work(ctx, c.groups, c.reconcileGroup, c.log, "group") })
	resync := time.NewTicker(c.cfg.Resync)
	defer resync.Stop()
	var chaos <-chan time.Time
	if c.cfg.SpotInterruptionRate > 0 {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		chaos = t.C
	}
	for {
		select {
		case <-chaos:
			c.reclaimSpot(ctx, time.Second)
		case <-ctx.Done():
			return nil
		case ev, ok := <-events:
			if !ok {
				return nil
			}
			switch ev.Kind {
			case compute.KindInstance:
				c.instances.Add(ev.Key)
				if in, _, err := c.svc.Instance(ctx, ev.Key); err == nil && in.Group != "" {
					c.settle.Add(c.groups, in.Group)
				}
			case compute.KindGroup:
				c.groups.Add(ev.Key)
			}
		case <-resync.C:
			c.enqueueAll(ctx)
			c.forgetIdleClusters(ctx)
			if err := c.svc.Forget(ctx, c.svc.Now().Add(-c.cfg.Retention)); err != nil {
				c.log.Warn("forgetting terminated instances", "err", err)
			}
		}
	}
}

func (c *Controller) enqueueAll(ctx context.Context) {
	all, err := c.svc.Instances(ctx)
	if err != nil {
		c.log.Warn("listing instances", "err", err)
	}
	for _, in := range all {
		if in.State != compute.StateTerminated {
			c.instances.Add(in.ID)
		}
	}
	groups, err := c.svc.Groups(ctx)
	if err != nil {
		c.log.Warn("listing groups", "err", err)
	}
	for _, g := range groups {
		c.groups.Add(g.Name)
	}
}

// reconcileInstance moves one instance along its lifecycle.
func (c *Controller) reconcileInstance(ctx context.Context, id string) error {
	in, _, err := c.svc.Instance(ctx, id)
	if apierror.IsKind(err, apierror.ResourceNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if in.State == compute.StatePending && in.SelfManaged() {
		// EC2 runs the machine whatever its node agent does.
		c.writes.set(in.ID, func(in *compute.Instance) bool {
			if in.State != compute.StatePending {
				return false
			}
			in.State = compute.StateRunning
			return true
		})
		return nil
	}
	switch in.State {
	case compute.StatePending:
		return c.join(ctx, in)
	case compute.StateRunning:
		now := c.svc.Now()
		if in.Interruption != nil {
			if !now.Before(in.Interruption.TerminateAt) {
				_, err := c.svc.Terminate(ctx, []string{in.ID}, compute.Reason{
					Code: "Server.SpotInstanceTermination", Message: "Server.SpotInstanceTermination: Spot instance termination"})
				return err
			}
			defer c.instances.AddAfter(in.ID, in.Interruption.TerminateAt.Sub(now))
		}
		if in.SelfManaged() {
			return c.runAgent(ctx, in)
		}
		if !c.cfg.Provider.Running(in) {
			// berth restarted: the machine kept running, its agent did not.
			jctx, cancel := context.WithTimeout(ctx, c.cfg.JoinTimeout)
			defer cancel()
			if err := c.cfg.Provider.Start(jctx, in); err != nil {
				return fmt.Errorf("restarting node of %s: %w", in.ID, err)
			}
		}
		return nil
	case compute.StateShuttingDown:
		if err := c.cfg.Provider.Stop(ctx, in); err != nil {
			return err
		}
		if c.cfg.Volumes != nil {
			if err := c.cfg.Volumes.DetachAll(ctx, in.ID); err != nil {
				return fmt.Errorf("detaching the volumes of %s: %w", in.ID, err)
			}
		}
		c.writes.set(in.ID, func(in *compute.Instance) bool {
			if in.State != compute.StateShuttingDown {
				return false
			}
			in.State = compute.StateTerminated
			in.TerminatedAt = c.svc.Now().UTC().Truncate(time.Second)
			return true
		})
	}
	return nil
}

// runAgent keeps the node agent of a running self-managed instance
// going: like a kubelet, it tries to join until it does, however long,
// and says on the instance's console output why it cannot. berth never
// terminates, replaces or scales self-managed instances.
func (c *Controller) runAgent(ctx context.Context, in *compute.Instance) error {
	if in.Cluster == "" || c.cfg.Provider.Running(in) {
		return nil
	}
	jctx, cancel := context.WithTimeout(ctx, c.cfg.JoinTimeout)
	defer cancel()
	err := c.cfg.Provider.Start(jctx, in)
	if ctx.Err() != nil {
		return nil
	}
	stamp := c.svc.Now().UTC().Format(time.RFC3339)
	var line string
	if err == nil {
		line = fmt.Sprintf("%s berth-node-agent: node %s joined cluster %s\n", stamp, in.Node.Name, in.Cluster)
	} else {
		line = fmt.Sprintf("%s berth-node-agent: node %s cannot join cluster %s: %v\n", stamp, in.Node.Name, in.Cluster, err)
	}
	// A failure repeated is written once, as a console would not scroll
	// with the same line forever.
	if !strings.HasSuffix(in.Console, line[len(stamp):]) {
		if werr := c.svc.AppendConsole(ctx, in.ID, line); werr != nil {
			c.log.Warn("writing console output", "instance", in.ID, "err", werr)
		}
	}
	if err != nil {
		c.log.Info("self-managed node cannot join", "instance", in.ID, "cluster", in.Cluster, "err", err)
		return fmt.Errorf("node agent of %s: %w", in.ID, err)
	}
	return nil
}

// reasonJoinFailure is the state reason of an instance whose node never
// joined.
const reasonJoinFailure = "Server.InternalError"

// join starts a pending instance's node and marks it running.
func (c *Controller) join(ctx context.Context, in *compute.Instance) error {
	jctx, cancel := context.WithTimeout(ctx, c.cfg.JoinTimeout)
	defer cancel()
	began := time.Now()
	err := c.cfg.Provider.Start(jctx, in)
	if err == nil {
		c.log.Debug("instance running", "instance", in.ID, "node", in.Node.Name, "took", time.Since(began))
		c.writes.set(in.ID, func(in *compute.Instance) bool {
			if in.State != compute.StatePending {
				return false
			}
			in.State = compute.StateRunning
			return true
		})
		return nil
	}
	if ctx.Err() != nil {
		return nil
	}
	c.log.Warn("node failed to join", "instance", in.ID, "cluster", in.Cluster, "err", err)
	max := c.cfg.MaxJoinFailures
	_, werr := c.svc.MutateInstances(ctx, []string{in.ID}, func(in *compute.Instance) (bool, error) {
		if in.State != compute.StatePending {
			return false, nil
		}
		in.JoinFailures++
		if in.JoinFailures >= max {
			in.State = compute.StateShuttingDown
			in.StateReason = compute.Reason{Code: reasonJoinFailure, Message: "Server.InternalError: the instance's node could not join its cluster: " + err.Error()}
		}
		return true, nil
	})
	if werr != nil {
		return werr
	}
	return fmt.Errorf("joining node of %s: %w", in.ID, err)
}

// batcher coalesces instance state writes into few commits: a thousand
// nodes joining at once become a handful of store transactions.
type batcher struct {
	svc  *compute.Service
	log  *slog.Logger
	mu   sync.Mutex
	fns  map[string][]func(*compute.Instance) bool
	kick chan struct{}
}

func newBatcher(svc *compute.Service, log *slog.Logger) *batcher {
	return &batcher{svc: svc, log: log, fns: map[string][]func(*compute.Instance) bool{}, kick: make(chan struct{}, 1)}
}

func (b *batcher) set(id string, fn func(*compute.Instance) bool) {
	b.mu.Lock()
	b.fns[id] = append(b.fns[id], fn)
	b.mu.Unlock()
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

func (b *batcher) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.kick:
		}
		// Let a burst gather.
		time.Sleep(5 * time.Millisecond)
		b.mu.Lock()
		fns := b.fns
		b.fns = map[string][]func(*compute.Instance) bool{}
		b.mu.Unlock()
		ids := make([]string, 0, len(fns))
		for id := range fns {
			ids = append(ids, id)
		}
		_, err := b.svc.MutateInstances(ctx, ids, func(in *compute.Instance) (bool, error) {
			changed := false
			for _, fn := range fns[in.ID] {
				changed = fn(in) || changed
			}
			return changed, nil
		})
		if err != nil && ctx.Err() == nil {
			// The instances are reconciled again on resync, which redoes
			// the transition.
			b.log.Warn("writing instance states", "err", err)
		}
	}
}

// reclaimSpot interrupts each running Spot instance with the chance
// SpotInterruptionRate gives it over dt.
func (c *Controller) reclaimSpot(ctx context.Context, dt time.Duration) {
	all, err := c.svc.Instances(ctx)
	if err != nil {
		return
	}
	p := c.cfg.SpotInterruptionRate * dt.Hours()
	for _, in := range all {
		if in.CapacityType != compute.Spot || in.State != compute.StateRunning || in.Interruption != nil {
			continue
		}
		if rand.Float64() < p {
			if _, err := c.svc.Interrupt(ctx, []string{in.ID}, compute.SpotNotice); err != nil {
				c.log.Warn("reclaiming spot instance", "instance", in.ID, "err", err)
				continue
			}
			c.log.Info("spot instance reclaimed (chaos)", "instance", in.ID)
		}
	}
}

// idler is a provider that keeps per-cluster state it can drop.
type idler interface {
	Clusters() []string
	Forget(cluster string)
}

// forgetIdleClusters drops the provider's state for clusters that have no
// live instance any more (deleted clusters among them).
func (c *Controller) forgetIdleClusters(ctx context.Context) {
	p, ok := c.cfg.Provider.(idler)
	if !ok {
		return
	}
	all, err := c.svc.Instances(ctx)
	if err != nil {
		return
	}
	busy := map[string]bool{}
	for _, in := range all {
		if in.State != compute.StateTerminated {
			busy[in.Cluster] = true
		}
	}
	for _, name := range p.Clusters() {
		if !busy[name] {
			p.Forget(name)
		}
	}
}
