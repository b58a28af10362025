// Package nodegroup is the managed node group controller: it gives each
// node group its Auto Scaling Group, keeps the group's size, template,
// labels and taints in step with the node group, rolls version updates
// (surge, cordon, drain respecting PodDisruptionBudgets, scale back) and
// reports the node group's status and health.
package nodegroup

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/workqueue"

	"github.com/berthproject/berth/internal/apierror"
	clustersvc "github.com/berthproject/berth/internal/cluster"
	"github.com/berthproject/berth/internal/compute"
	computectl "github.com/berthproject/berth/internal/controllers/compute"
	"github.com/berthproject/berth/internal/controllers/reconcile"
	ngsvc "github.com/berthproject/berth/internal/nodegroup"
	"github.com/berthproject/berth/internal/store"
	"github.com/berthproject/berth/internal/vpc"
)

// Watcher delivers store change events.
type Watcher interface {
	Watch(ctx context.Context) (<-chan store.Event, error)
}

// AdminFunc returns an admin client of a cluster.
type AdminFunc func(ctx context.Context, cluster string) (kubernetes.Interface, error)

// Config wires a Controller.
type Config struct {
	Nodegroups *ngsvc.Service
	Clusters   *clustersvc.Service
	Compute    *compute.Service
	Admin      AdminFunc
	Changes    Watcher
	Logger     *slog.Logger
	// EvictionTimeout is how long a rolling update waits for evictions
	// that PodDisruptionBudgets block (EKS: 15 minutes).
	EvictionTimeout time.Duration
	// Resync is how often every node group is reconciled (default 10 s).
	Resync time.Duration
}

// Controller reconciles node groups.
type Controller struct {
	cfg    Config
	log    *slog.Logger
	queue  workqueue.TypedRateLimitingInterface[string]
	settle reconcile.Coalescer // node group keys queued by their instances' changes
}

// New checks cfg and returns a Controller.
func New(cfg Config) (*Controller, error) {
	if cfg.Nodegroups == nil || cfg.Clusters == nil || cfg.Compute == nil || cfg.Admin == nil || cfg.Changes == nil {
		return nil, errors.New("nodegroup controller: Nodegroups, Clusters, Compute, Admin and Changes are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.EvictionTimeout == 0 {
		cfg.EvictionTimeout = 15 * time.Minute
	}
	if cfg.Resync == 0 {
		cfg.Resync = 10 * time.Second
	}
	q := workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.NewTypedItemExponentialFailureRateLimiter[string](200*time.Millisecond, 30*time.Second),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "nodegroups"})
	return &Controller{cfg: cfg, log: cfg.Logger, queue: q}, nil
}

// Start runs the controller until ctx is done.
func (c *Controller) Start(ctx context.Context) error {
	events, err := c.cfg.Changes.Watch(ctx)
	if err != nil {
		return err
	}
	defer c.queue.ShutDown()
	c.enqueueAll(ctx)
	for range 4 {
		go reconcile.Work(ctx, c.queue, c.reconcile, c.log, "nodegroup")
	}
	reconcile.Feed(ctx, events, c.cfg.Resync, func(ev store.Event) {
		switch ev.Kind {
		case ngsvc.KindNodegroup:
			c.queue.Add(ev.Key)
		case compute.KindGroup:
			if g, _, err := c.cfg.Compute.Group(ctx, ev.Key); err == nil && g.Nodegroup != "" {
				c.queue.Add(ngsvc.Key(g.Cluster, g.Nodegroup))
			}
		case compute.KindInstance:
			if in, _, err := c.cfg.Compute.Instance(ctx, ev.Key); err == nil && in.Group != "" {
				if ng := in.Tags[compute.TagNodegroupName]; ng != "" {
					c.settle.Add(c.queue, ngsvc.Key(in.Cluster, ng))
				}
			}
		}
	}, func() { c.enqueueAll(ctx) })
	return nil
}

func (c *Controller) enqueueAll(ctx context.Context) {
	all, err := c.cfg.Nodegroups.All(ctx)
	if err != nil {
		c.log.Warn("listing node groups", "err", err)
		return
	}
	for _, ng := range all {
		c.queue.Add(ngsvc.Key(ng.Cluster, ng.Name))
	}
}

// maxIssueResources bounds the resource ids of one health issue.
const maxIssueResources = 20

// state is what reconcile learned about a node group's instances.
type state struct {
	live, inService, running, old, failed []*compute.Instance
}

func (c *Controller) observe(ctx context.Context, g *compute.Group) (state, error) {
	all, err := c.cfg.Compute.Instances(ctx)
	if err != nil {
		return state{}, err
	}
	var st state
	recent := c.cfg.Compute.Now().Add(-10 * time.Minute)
	for _, in := range all {
		if in.Group != g.Name {
			continue
		}
		if in.Live() {
			st.live = append(st.live, in)
			if in.TemplateVersion < g.TemplateVersion {
				st.old = append(st.old, in)
			}
		}
		if computectl.InService(in) {
			st.inService = append(st.inService, in)
			if in.State == compute.StateRunning {
				st.running = append(st.running, in)
			}
		}
		if in.State != compute.StatePending && in.StateReason.Code == "Server.InternalError" && in.LaunchTime.After(recent) {
			st.failed = append(st.failed, in)
		}
	}
	return st, nil
}

func (c *Controller) reconcile(ctx context.Context, key string) error {
	clusterName, name, ok := strings.Cut(key, "/")
	if !ok {
		return nil
	}
	ng, _, err := c.cfg.Nodegroups.Get(ctx, clusterName, name)
	if apierror.IsKind(err, apierror.ResourceNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	g, _, err := c.cfg.Compute.Group(ctx, ng.ASG)
	if apierror.IsKind(err, apierror.ResourceNotFound) {
		g = nil
	} else if err != nil {
		return err
	}
	if ng.Status == ngsvc.StatusDeleting {
		return c.delete(ctx, ng, g)
	}
	if g == nil {
		return c.createGroup(ctx, ng)
	}
	updates, err := c.cfg.Nodegroups.Updates(ctx, clusterName, name)
	if err != nil {
		return err
	}
	var inflight *clustersvc.Update
	for _, u := range updates {
		if u.Status == clustersvc.UpdateInProgress {
			inflight = u
		}
	}
	rolling := inflight != nil && inflight.Type == ngsvc.UpdateTypeVersion
	if g, err = c.syncGroup(ctx, ng, g, rolling); err != nil {
		return err
	}
	st, err := c.observe(ctx, g)
	if err != nil {
		return err
	}
	if err := c.syncNodes(ctx, g, st.live); err != nil {
		return err
	}
	if rolling {
		return c.roll(ctx, ng, g, st, inflight)
	}
	return c.report(ctx, ng, g, st, inflight)
}

// template is the node configuration a node group gives its nodes.
func template(ng *ngsvc.Nodegroup) compute.NodeConfig {
	labels := map[string]string{
		"eks.amazonaws.com/nodegroup":       ng.Name,
		"eks.amazonaws.com/nodegroup-image": imageID(ng),
		"eks.amazonaws.com/capacityType":    ng.CapacityType,
	}
	maps.Copy(labels, ng.Labels)
	var taints []compute.Taint
	for _, t := range ng.Taints {
		taints = append(taints, compute.Taint{Key: t.Key, Value: t.Value, Effect: taintEffect(t.Effect)})
	}
	return compute.NodeConfig{KubeletVersion: ng.Version, Labels: labels, Taints: taints, DiskGiB: ng.DiskSize}
}

// taintEffect maps the EKS spelling of an effect to Kubernetes'.
func taintEffect(e string) string {
	switch e {
	case "NO_SCHEDULE":
		return string(corev1.TaintEffectNoSchedule)
	case "NO_EXECUTE":
		return string(corev1.TaintEffectNoExecute)
	case "PREFER_NO_SCHEDULE":
		return string(corev1.TaintEffectPreferNoSchedule)
	}
	return e
}

// imageID is the AMI of a node group's AMI type and release, stable.
func imageID(ng *ngsvc.Nodegroup) string {
	return vpc.ID("ami", ng.AMIType, ng.ReleaseVersion)
}

func capacity(ng *ngsvc.Nodegroup) string {
	if ng.CapacityType == ngsvc.CapacitySpot {
		return compute.Spot
	}
	return compute.OnDemand
}

// createGroup creates the node group's Auto Scaling Group.
func (c *Controller) createGroup(ctx context.Context, ng *ngsvc.Nodegroup) error {
	tags := map[string]string{
		compute.TagClusterName:                    ng.Cluster,
		compute.TagNodegroupName:                  ng.Name,
		compute.TagClusterOwned + ng.Cluster:      "owned",
		"k8s.io/cluster-autoscaler/enabled":       "true",
		"k8s.io/cluster-autoscaler/" + ng.Cluster: "owned",
	}
	// berth's provider choice goes to the instances, as EKS passes a
	// node group's launch template tags.
	if p, ok := ng.Tags[compute.TagProvider]; ok {
		tags[compute.TagProvider] = p
	}
	g := &compute.Group{
		Name: ng.ASG, ARN: c.cfg.Compute.GroupARN(ng.ASG, ng.ID), CreatedAt: c.cfg.Compute.Now().UTC(),
		Cluster: ng.Cluster, Nodegroup: ng.Name,
		Min: ng.Scaling.Min, Max: ng.Scaling.Max, Desired: ng.Scaling.Desired,
		SubnetIDs: slices.Clone(ng.Subnets), InstanceTypes: slices.Clone(ng.InstanceTypes),
		CapacityType: capacity(ng), ImageID: imageID(ng), Tags: tags,
		Template: template(ng), TemplateVersion: 1,
	}
	op, err := compute.GroupOp(g, true)
	if err != nil {
		return err
	}
	if _, err := c.cfg.Nodegroups.Mutate(ctx, ng.Cluster, ng.Name, func(*ngsvc.Nodegroup) ([]store.Op, error) {
		return []store.Op{op}, nil
	}); err != nil && !errors.Is(err, store.ErrExists) {
		return err
	}
	c.log.Info("auto scaling group created", "nodegroup", ng.Name, "cluster", ng.Cluster, "group", g.Name)
	return nil
}

// syncGroup brings the group's size and template to the node group's.
// During a rolling update the size is the update's; a version change
// only happens as part of one.
func (c *Controller) syncGroup(ctx context.Context, ng *ngsvc.Nodegroup, g *compute.Group, rolling bool) (*compute.Group, error) {
	want := template(ng)
	return c.cfg.Compute.MutateGroup(ctx, g.Name, func(g *compute.Group) ([]store.Op, error) {
		if g.Rollout == nil {
			g.Min, g.Max, g.Desired = ng.Scaling.Min, ng.Scaling.Max, ng.Scaling.Desired
		}
		g.SubnetIDs = slices.Clone(ng.Subnets)
		g.InstanceTypes = slices.Clone(ng.InstanceTypes)
		g.CapacityType = capacity(ng)
		if g.Template.KubeletVersion == want.KubeletVersion && g.ImageID == imageID(ng) {
			// Labels and taints change in place.
			g.Template = want
			return nil, nil
		}
		if !rolling || g.Rollout != nil {
			return nil, nil
		}
		old := g.Template
		oldImage := g.ImageID
		g.Rollout = &compute.Rollout{Desired: g.Desired, Max: g.Max, Previous: old, PreviousImageID: oldImage, PreviousRelease: ng.PreviousReleaseVersion}
		g.Template = want
		g.ImageID = imageID(ng)
		g.TemplateVersion++
		return nil, nil
	})
}

// syncNodes applies the template's labels and taints to live nodes whose
// configuration differs, in place, as EKS does for label and taint
// updates.
func (c *Controller) syncNodes(ctx context.Context, g *compute.Group, live []*compute.Instance) error {
	var stale []*compute.Instance
	for _, in := range live {
		if in.TemplateVersion == g.TemplateVersion && (!maps.Equal(in.Node.Labels, g.Template.Labels) || !slices.Equal(in.Node.Taints, g.Template.Taints)) {
			stale = append(stale, in)
		}
	}
	if len(stale) == 0 {
		return nil
	}
	admin, err := c.cfg.Admin(ctx, g.Cluster)
	if err != nil {
		return err
	}
	ids := make([]string, 0, len(stale))
	for _, in := range stale {
		if in.State == compute.StateRunning {
			if err := patchNode(ctx, admin, in.Node, g.Template); err != nil {
				return err
			}
		}
		ids = append(ids, in.ID)
	}
	_, err = c.cfg.Compute.MutateInstances(ctx, ids, func(in *compute.Instance) (bool, error) {
		in.Node.Labels = maps.Clone(g.Template.Labels)
		in.Node.Taints = slices.Clone(g.Template.Taints)
		return true, nil
	})
	return err
}

// patchNode moves a Node's labels and taints from the old configuration
// to the new one, leaving the rest (kubelet's own labels, cordon taints)
// alone.
func patchNode(ctx context.Context, admin kubernetes.Interface, old, want compute.NodeConfig) error {
	node, err := admin.CoreV1().Nodes().Get(ctx, old.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	labels := map[string]any{}
	for k := range old.Labels {
		if _, ok := want.Labels[k]; !ok {
			labels[k] = nil
		}
	}
	for k, v := range want.Labels {
		labels[k] = v
	}
	isOld := func(t corev1.Taint) bool {
		return slices.ContainsFunc(old.Taints, func(o compute.Taint) bool { return o.Key == t.Key && o.Effect == string(t.Effect) })
	}
	taints := slices.DeleteFunc(slices.Clone(node.Spec.Taints), isOld)
	for _, t := range want.Taints {
		taints = append(taints, corev1.Taint{Key: t.Key, Value: t.Value, Effect: corev1.TaintEffect(t.Effect)})
	}
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"labels": labels, "resourceVersion": node.ResourceVersion},
		"spec":     map[string]any{"taints": taints},
	})
	if err != nil {
		return err
	}
	_, err = admin.CoreV1().Nodes().Patch(ctx, old.Name, types.MergePatchType, patch, metav1.PatchOptions{})
	if apierrors.IsConflict(err) {
		return reconcile.RetryAfter(100 * time.Millisecond)
	}
	return err
}

// delete deletes the group, then the node group once the group is gone.
func (c *Controller) delete(ctx context.Context, ng *ngsvc.Nodegroup, g *compute.Group) error {
	if g != nil {
		if !g.Deleting {
			if _, err := c.cfg.Compute.MutateGroup(ctx, g.Name, func(g *compute.Group) ([]store.Op, error) {
				g.Deleting = true
				return nil, nil
			}); err != nil {
				return err
			}
		}
		return reconcile.RetryAfter(250 * time.Millisecond)
	}
	c.log.Info("node group deleted", "nodegroup", ng.Name, "cluster", ng.Cluster)
	return c.cfg.Nodegroups.Remove(ctx, ng.Cluster, ng.Name)
}

// report sets the node group's status and health from its instances and
// finishes a config update once the group matches it.
func (c *Controller) report(ctx context.Context, ng *ngsvc.Nodegroup, g *compute.Group, st state, inflight *clustersvc.Update) error {
	var health []ngsvc.Issue
	if len(st.failed) > 0 {
		// The most recent failures, as a bounded list.
		recent := st.failed[max(0, len(st.failed)-maxIssueResources):]
		ids := make([]string, 0, len(recent))
		for _, in := range recent {
			ids = append(ids, in.ID)
		}
		health = append(health, ngsvc.Issue{Code: "NodeCreationFailure", Message: "Instances failed to join the kubernetes cluster", ResourceIDs: ids})
	}
	if n := len(g.Activities); n > 0 {
		last := g.Activities[n-1]
		if last.Status == "Failed" && last.StartTime.After(c.cfg.Compute.Now().Add(-5*time.Minute)) && len(st.inService) < g.Desired {
			code := "AsgInstanceLaunchFailures"
			if strings.Contains(last.Message, "free addresses") {
				code = "InsufficientFreeAddresses"
			}
			health = append(health, ngsvc.Issue{Code: code, Message: last.Message, ResourceIDs: []string{g.Name}})
		}
	}
	settled := len(st.running) >= g.Desired && len(st.live) == len(st.inService) && len(st.inService) == g.Desired
	status := ng.Status
	switch ng.Status {
	case ngsvc.StatusCreating:
		switch {
		case settled:
			status = ngsvc.StatusActive
		case len(st.failed) >= max(3, g.Desired):
			status = ngsvc.StatusCreateFailed
		}
	case ngsvc.StatusActive, ngsvc.StatusDegraded:
		status = ngsvc.StatusActive
		if len(health) > 0 && len(st.running) < g.Desired {
			status = ngsvc.StatusDegraded
		}
	case ngsvc.StatusUpdating:
		if inflight == nil || settled {
			status = ngsvc.StatusActive
		}
	}
	if status == ngsvc.StatusActive && len(st.running) >= g.Desired {
		health = nil
	}
	if inflight != nil && status == ngsvc.StatusActive {
		if err := c.cfg.Clusters.FinishUpdate(ctx, inflight, clustersvc.UpdateSuccessful, nil); err != nil {
			return err
		}
	}
	_, err := c.cfg.Nodegroups.Mutate(ctx, ng.Cluster, ng.Name, func(n *ngsvc.Nodegroup) ([]store.Op, error) {
		if n.Status == ngsvc.StatusDeleting {
			return nil, nil
		}
		if n.Status != status {
			n.Status = status
			n.ModifiedAt = c.cfg.Compute.Now().UTC()
		}
		n.Health = health
		return nil, nil
	})
	if err != nil {
		return err
	}
	if !settled {
		return reconcile.RetryAfter(time.Second)
	}
	return nil
}
