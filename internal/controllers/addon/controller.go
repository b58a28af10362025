// Package addon drives the EKS add-ons berth runs inside clusters (the
// catalog's Runs flag: the EBS, EFS and FSx CSI drivers) through their
// states. The drivers' AWS APIs and CSI servers exist (internal/ebs,
// internal/efs, internal/fsx, internal/csi), but their controller and
// node plugins do not run inside clusters yet: until they do, creating or
// updating such an add-on fails with a health issue that says so,
// rather than an ACTIVE add-on whose volumes never provision. Deleting
// one finishes at once. Add-ons that are records only never reach this
// controller in a transitional state.
package addon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"k8s.io/client-go/util/workqueue"

	"github.com/berthproject/berth/internal/addon"
	"github.com/berthproject/berth/internal/apierror"
	"github.com/berthproject/berth/internal/controllers/reconcile"
	"github.com/berthproject/berth/internal/store"
)

// Watcher delivers store change events.
type Watcher interface {
	Watch(ctx context.Context) (<-chan store.Event, error)
}

// Config wires a Controller.
type Config struct {
	Addons  *addon.Service
	Changes Watcher
	Logger  *slog.Logger
	// Resync is how often every add-on is reconciled (default 30 s).
	Resync time.Duration
}

// Controller reconciles add-on records.
type Controller struct {
	cfg   Config
	log   *slog.Logger
	queue workqueue.TypedRateLimitingInterface[string]
}

// New checks cfg and returns a Controller.
func New(cfg Config) (*Controller, error) {
	if cfg.Addons == nil || cfg.Changes == nil {
		return nil, errors.New("addon controller: Addons and Changes are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Resync == 0 {
		cfg.Resync = 30 * time.Second
	}
	return &Controller{cfg: cfg, log: cfg.Logger, queue: workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.DefaultTypedControllerRateLimiter[string](), workqueue.TypedRateLimitingQueueConfig[string]{Name: "addons"})}, nil
}

// Start runs the controller until ctx is done.
func (c *Controller) Start(ctx context.Context) error {
	events, err := c.cfg.Changes.Watch(ctx)
	if err != nil {
		return err
	}
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
}

// NotRunMessage is the health issue of an add-on berth does not run yet.
func NotRunMessage(name string) string {
	return "berth does not run the " + name + " add-on inside clusters yet: its AWS API and CSI driver work, its controller and node plugins are not installed"
}

func (c *Controller) reconcile(ctx context.Context, key string) error {
	clusterName, name, ok := strings.Cut(key, "/")
	if !ok {
		return nil
	}
	a, _, err := c.cfg.Addons.Get(ctx, clusterName, name)
	if apierror.IsKind(err, apierror.ResourceNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if !a.Runs {
		return nil
	}
	switch a.Status {
	case addon.StatusCreating, addon.StatusUpdating:
		err = c.cfg.Addons.MarkFailed(ctx, clusterName, name, addon.Issue{Code: "InternalFailure", Message: NotRunMessage(name)})
	case addon.StatusDeleting:
		err = c.cfg.Addons.FinishDelete(ctx, clusterName, name)
	}
	if err != nil && !errors.Is(err, addon.ErrDeleting) && !errors.Is(err, addon.ErrNotDeleting) {
		return fmt.Errorf("add-on %s: %w", key, err)
	}
	return nil
}
