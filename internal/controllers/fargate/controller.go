// Package fargate runs Fargate inside berth's clusters: the admission
// webhook that sends matching pods to fargate-scheduler (webhook.go), the
// scheduler that gives each of them a node of its own (scheduler.go), and
// the controller that turns the profiles' desired state into both.
package fargate

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"

	"github.com/berthproject/berth/internal/compute/ipam"
	"github.com/berthproject/berth/internal/compute/sim"
	"github.com/berthproject/berth/internal/controllers/reconcile"
	"github.com/berthproject/berth/internal/fargate"
	"github.com/berthproject/berth/internal/store"
	"github.com/berthproject/berth/internal/vpc"
)

// Sims gives access to clusters and their node simulations
// (simprovider.Provider).
type Sims interface {
	Admin(ctx context.Context, cluster string) (kubernetes.Interface, error)
	Sim(ctx context.Context, cluster string) (*sim.Cluster, error)
}

// Webhooks is where the clusters reach berth's webhooks.
type Webhooks interface {
	URL(path string) string
	CABundle() []byte
}

// Watcher delivers store change events.
type Watcher interface {
	Watch(ctx context.Context) (<-chan store.Event, error)
}

// Config wires a Controller.
type Config struct {
	Profiles Profiles
	// Clusters lists the clusters to look at on each resync.
	Clusters func(ctx context.Context) ([]string, error)
	Sims     Sims
	Changes  Watcher
	// Webhooks is berth's webhook server, where the Mutator is served.
	Webhooks Webhooks
	IPs      ipam.Allocator
	Network  *vpc.Network
	Region   string
	// KubeletVersion is the kubelet version a cluster's Fargate nodes
	// report; nil or "" leaves it to the simulation's default.
	KubeletVersion func(ctx context.Context, cluster string) string
	Logger         *slog.Logger
	// Resync is how often every cluster is reconciled without events
	// (default 10 s).
	Resync time.Duration
}

// Controller reconciles the Fargate profiles of every cluster.
type Controller struct {
	cfg   Config
	log   *slog.Logger
	queue workqueue.TypedRateLimitingInterface[string]

	mu         sync.Mutex
	schedulers map[string]*podScheduler
}

// New checks cfg and returns a Controller.
func New(cfg Config) (*Controller, error) {
	if cfg.Profiles == nil || cfg.Clusters == nil || cfg.Sims == nil || cfg.Changes == nil || cfg.Webhooks == nil || cfg.IPs == nil || cfg.Network == nil || cfg.Region == "" {
		return nil, errors.New("fargate controller: Profiles, Clusters, Sims, Changes, Webhooks, IPs, Network and Region are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Resync == 0 {
		cfg.Resync = 10 * time.Second
	}
	return &Controller{
		cfg: cfg, log: cfg.Logger,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](200*time.Millisecond, 30*time.Second),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "fargate"}),
		schedulers: map[string]*podScheduler{},
	}, nil
}

// Start runs the controller until ctx is done.
func (c *Controller) Start(ctx context.Context) error {
	events, err := c.cfg.Changes.Watch(ctx)
	if err != nil {
		return err
	}
	defer c.queue.ShutDown()
	go reconcile.Work(ctx, c.queue, c.reconcile, c.log, "fargate")
	go reconcile.Work(ctx, c.queue, c.reconcile, c.log, "fargate")
	c.enqueueAll(ctx)
	reconcile.Feed(ctx, events, c.cfg.Resync, func(ev store.Event) {
		if ev.Kind == fargate.KindProfile {
			cluster, _, _ := strings.Cut(ev.Key, "/")
			c.queue.Add(cluster)
		}
	}, func() { c.enqueueAll(ctx) })
	return nil
}

func (c *Controller) enqueueAll(ctx context.Context) {
	names, err := c.cfg.Clusters(ctx)
	if err != nil {
		c.log.Warn("listing clusters", "err", err)
	}
	c.mu.Lock()
	for name := range c.schedulers {
		names = append(names, name)
	}
	c.mu.Unlock()
	for _, n := range names {
		c.queue.Add(n)
	}
}

// reconcile makes one cluster's webhook, scheduler and profile statuses
// follow its profiles.
func (c *Controller) reconcile(ctx context.Context, cluster string) error {
	profiles, err := c.cfg.Profiles.All(ctx, cluster)
	if err != nil {
		return err
	}
	if len(profiles) == 0 {
		return c.idle(ctx, cluster)
	}
	client, err := c.cfg.Sims.Admin(ctx, cluster)
	if err != nil {
		return reconcile.RetryAfter(2 * time.Second)
	}
	if err := c.ensureWebhook(ctx, client, cluster); err != nil {
		return err
	}
	if err := c.ensureScheduler(ctx, cluster, client); err != nil {
		return err
	}
	var retry error
	for _, p := range profiles {
		switch p.Status {
		case fargate.StatusCreating:
			if _, err := c.cfg.Profiles.Mutate(ctx, cluster, p.Name, func(m *fargate.Profile) error {
				if m.Status == fargate.StatusCreating {
					m.Status = fargate.StatusActive
				}
				return nil
			}); err != nil {
				return err
			}
			c.log.Info("fargate profile active", "cluster", cluster, "profile", p.Name)
		case fargate.StatusDeleting:
			left, err := c.stopPods(ctx, client, p.Name)
			if err != nil {
				return err
			}
			if left > 0 {
				retry = reconcile.RetryAfter(500 * time.Millisecond)
				continue
			}
			if err := c.cfg.Profiles.Remove(ctx, cluster, p.Name); err != nil {
				return err
			}
			c.log.Info("fargate profile deleted", "cluster", cluster, "profile", p.Name)
		}
	}
	return retry
}

// idle runs for a cluster without profiles: the webhook configuration
// goes, and the scheduler once its last node has.
func (c *Controller) idle(ctx context.Context, cluster string) error {
	c.mu.Lock()
	s := c.schedulers[cluster]
	c.mu.Unlock()
	if s == nil {
		return nil
	}
	err := s.client.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(ctx, webhookName, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return reconcile.RetryAfter(2 * time.Second)
	}
	if s.nodes() > 0 {
		return reconcile.RetryAfter(time.Second)
	}
	s.cancel()
	<-s.done
	c.mu.Lock()
	if c.schedulers[cluster] == s {
		delete(c.schedulers, cluster)
	}
	c.mu.Unlock()
	return nil
}

// stopPods deletes the pods a profile placed and returns how many remain.
func (c *Controller) stopPods(ctx context.Context, client kubernetes.Interface, profile string) (int, error) {
	pods, err := client.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{LabelSelector: ProfileLabel + "=" + profile})
	if err != nil {
		return 0, err
	}
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil {
			continue
		}
		err := client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return 0, err
		}
	}
	return len(pods.Items), nil
}

// ensureScheduler starts the cluster's Fargate scheduler if it does not
// run, or runs against an earlier incarnation of the cluster.
func (c *Controller) ensureScheduler(ctx context.Context, cluster string, client kubernetes.Interface) error {
	s, err := c.cfg.Sims.Sim(ctx, cluster)
	if err != nil {
		return reconcile.RetryAfter(2 * time.Second)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.schedulers[cluster]; old != nil {
		if old.sim == s {
			return nil
		}
		old.cancel()
	}
	ps := newPodScheduler(c, cluster, client, s)
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	ps.cancel = cancel
	c.schedulers[cluster] = ps
	go ps.run(runCtx)
	return nil
}

// Stop stops every scheduler (the daemon's shutdown).
func (c *Controller) Stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, s := range c.schedulers {
		s.cancel()
		<-s.done
		delete(c.schedulers, name)
	}
}

// ensureWebhook installs, or corrects, the cluster's Fargate mutating
// webhook configuration.
func (c *Controller) ensureWebhook(ctx context.Context, client kubernetes.Interface, cluster string) error {
	url := c.cfg.Webhooks.URL(MutatePath(cluster))
	want := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: webhookName, Labels: map[string]string{"eks.amazonaws.com/component": "fargate"}},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:         webhookName,
			ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: c.cfg.Webhooks.CABundle()},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule: admissionregistrationv1.Rule{
					APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"},
					Scope: ptr.To(admissionregistrationv1.NamespacedScope),
				},
			}},
			FailurePolicy:           ptr.To(admissionregistrationv1.Fail),
			MatchPolicy:             ptr.To(admissionregistrationv1.Equivalent),
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			TimeoutSeconds:          ptr.To[int32](10),
			AdmissionReviewVersions: []string{"v1"},
			ReinvocationPolicy:      ptr.To(admissionregistrationv1.NeverReinvocationPolicy),
			NamespaceSelector:       &metav1.LabelSelector{},
			ObjectSelector:          &metav1.LabelSelector{},
		}},
	}
	api := client.AdmissionregistrationV1().MutatingWebhookConfigurations()
	have, err := api.Get(ctx, webhookName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = api.Create(ctx, want, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return reconcile.RetryAfter(100 * time.Millisecond)
		}
		return err
	}
	if err != nil {
		return err
	}
	if len(have.Webhooks) == 1 {
		cc := have.Webhooks[0].ClientConfig
		if cc.URL != nil && *cc.URL == url && slices.Equal(cc.CABundle, want.Webhooks[0].ClientConfig.CABundle) {
			return nil
		}
	}
	want.ResourceVersion = have.ResourceVersion
	_, err = api.Update(ctx, want, metav1.UpdateOptions{})
	return err
}
