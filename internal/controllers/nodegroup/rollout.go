package nodegroup

import (
	"context"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	clustersvc "github.com/berthproject/berth/internal/cluster"
	"github.com/berthproject/berth/internal/compute"
	"github.com/berthproject/berth/internal/controllers/reconcile"
	ngsvc "github.com/berthproject/berth/internal/nodegroup"
	"github.com/berthproject/berth/internal/store"
)

// roll advances a version update the way EKS documents it:
//
//  1. scale up: the group grows by the larger of twice its zones and
//     maxUnavailable (no more than the nodes to replace), with the new
//     template, and berth waits for the new nodes to be Ready;
//  2. upgrade: the old nodes are cordoned; up to maxUnavailable at a time
//     are drained (evictions respect PodDisruptionBudgets until the
//     eviction timeout; then the update fails with PodEvictionFailure
//     unless it was forced) and terminated, each taking one off the
//     desired count;
//  3. scale down: the group returns to its size from before the update.
func (c *Controller) roll(ctx context.Context, ng *ngsvc.Nodegroup, g *compute.Group, st state, u *clustersvc.Update) error {
	if g.Rollout == nil {
		// syncGroup starts the rollout; nothing to replace if it did not.
		return c.finishRoll(ctx, ng, g, u, nil)
	}
	// A drain that failed fails the update.
	for _, in := range st.old {
		if in.Drain != nil && in.Drain.Error != "" {
			return c.failRoll(ctx, ng, g, st, u, in)
		}
	}
	if len(st.old) == 0 {
		return c.finishRoll(ctx, ng, g, u, nil)
	}
	// Scale up, once.
	if g.Rollout.Surge == 0 {
		zones := map[string]bool{}
		for _, s := range g.SubnetIDs {
			if sub, ok := c.cfg.Compute.Network().Subnet(s); ok {
				zones[sub.AZ] = true
			}
		}
		surge := max(2*len(zones), maxUnavailable(ng, g.Rollout.Desired))
		surge = max(1, min(surge, len(st.old)))
		_, err := c.cfg.Compute.MutateGroup(ctx, g.Name, func(g *compute.Group) ([]store.Op, error) {
			if g.Rollout == nil || g.Rollout.Surge != 0 {
				return nil, nil
			}
			g.Rollout.Surge = surge
			g.Desired += surge
			g.Max = max(g.Max, g.Desired)
			return nil, nil
		})
		if err != nil {
			return err
		}
		c.log.Info("rolling update: scaling up", "nodegroup", ng.Name, "surge", surge)
		return reconcile.RetryAfter(100 * time.Millisecond)
	}
	// Wait for the group to be at its size with every node Ready.
	if len(st.running) < g.Desired || len(st.inService) != len(st.running) {
		return reconcile.RetryAfter(250 * time.Millisecond)
	}
	admin, err := c.cfg.Admin(ctx, ng.Cluster)
	if err != nil {
		return err
	}
	// Old nodes take no new pods.
	for _, in := range st.old {
		if in.State != compute.StateRunning {
			continue
		}
		patch := []byte(`{"spec":{"unschedulable":true}}`)
		_, err := admin.CoreV1().Nodes().Patch(ctx, in.Node.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	draining := 0
	var candidates []string
	for _, in := range st.old {
		if in.Drain != nil {
			draining++
		} else {
			candidates = append(candidates, in.ID)
		}
	}
	slots := maxUnavailable(ng, g.Rollout.Desired) - draining
	if slots > 0 && len(candidates) > 0 {
		slices.Sort(candidates)
		pick := candidates[:min(slots, len(candidates))]
		d := compute.Drain{
			Deadline: c.cfg.Compute.Now().Add(c.cfg.EvictionTimeout).UTC(),
			Force:    ng.ForceUpdate || strings.EqualFold(u.Param("Force"), "true"),
		}
		if err := c.cfg.Compute.TakeOutOfService(ctx, g.Name, pick, true, d); err != nil {
			return err
		}
		c.log.Info("rolling update: draining old nodes", "nodegroup", ng.Name, "instances", pick)
	}
	return reconcile.RetryAfter(500 * time.Millisecond)
}

// maxUnavailable is how many nodes an update may take down at once.
func maxUnavailable(ng *ngsvc.Nodegroup, desired int) int {
	if p := ng.UpdateConfig.MaxUnavailablePercentage; p > 0 {
		return max(1, int(math.Floor(float64(desired)*float64(p)/100)))
	}
	return max(1, ng.UpdateConfig.MaxUnavailable)
}

// finishRoll restores the group's size and ends the update.
func (c *Controller) finishRoll(ctx context.Context, ng *ngsvc.Nodegroup, g *compute.Group, u *clustersvc.Update, errs []clustersvc.ErrorDetail) error {
	if _, err := c.cfg.Compute.MutateGroup(ctx, g.Name, func(g *compute.Group) ([]store.Op, error) {
		if g.Rollout != nil {
			g.Desired, g.Max = g.Rollout.Desired, g.Rollout.Max
			g.Rollout = nil
		}
		return nil, nil
	}); err != nil {
		return err
	}
	status := clustersvc.UpdateSuccessful
	if len(errs) > 0 {
		status = clustersvc.UpdateFailed
	}
	if err := c.cfg.Clusters.FinishUpdate(ctx, u, status, errs); err != nil {
		return err
	}
	_, err := c.cfg.Nodegroups.Mutate(ctx, ng.Cluster, ng.Name, func(n *ngsvc.Nodegroup) ([]store.Op, error) {
		if n.Status == ngsvc.StatusUpdating {
			n.Status = ngsvc.StatusActive
			n.ModifiedAt = c.cfg.Compute.Now().UTC()
		}
		return nil, nil
	})
	c.log.Info("rolling update finished", "nodegroup", ng.Name, "status", status)
	return err
}

// failRoll ends an update whose drain failed, in one commit: the old
// instances go back into service, the instances the update added go
// (drained, forced), the group returns to its size and template from
// before, the node group to its previous version, and the update is
// Failed. Then the old nodes are uncordoned.
func (c *Controller) failRoll(ctx context.Context, ng *ngsvc.Nodegroup, g *compute.Group, st state, u *clustersvc.Update, culprit *compute.Instance) error {
	errs := []clustersvc.ErrorDetail{{
		Code:        "PodEvictionFailure",
		Message:     "Reached max retries while trying to evict pods from nodes in node group " + ng.Name,
		ResourceIDs: []string{culprit.Node.Name},
	}}
	deadline := c.cfg.Compute.Now().Add(time.Minute).UTC()
	_, err := c.cfg.Nodegroups.Mutate(ctx, ng.Cluster, ng.Name, func(n *ngsvc.Nodegroup) ([]store.Op, error) {
		g, grev, err := c.cfg.Compute.Group(ctx, g.Name)
		if err != nil {
			return nil, err
		}
		if g.Rollout == nil {
			return nil, nil
		}
		rollout := *g.Rollout
		var ops []store.Op
		old := 0
		for _, seen := range st.live {
			in, rev, err := c.cfg.Compute.Instance(ctx, seen.ID)
			if err != nil {
				return nil, err
			}
			if !in.Live() {
				continue
			}
			if in.TemplateVersion < g.TemplateVersion {
				old++
				if in.Drain == nil {
					continue
				}
				in.Drain = nil
			} else {
				if in.Drain != nil {
					continue
				}
				in.Drain = &compute.Drain{Force: true, Deadline: deadline}
			}
			op, err := compute.InstanceOp(in, rev)
			if err != nil {
				return nil, err
			}
			ops = append(ops, op)
		}
		g.Desired = old
		g.Max = max(rollout.Max, old)
		g.Template = rollout.Previous
		g.ImageID = rollout.PreviousImageID
		g.TemplateVersion--
		g.Rollout = nil
		gop, err := compute.GroupOp(g, false)
		if err != nil {
			return nil, err
		}
		gop.IfRevision = grev
		done := *u
		done.Status, done.Errors = clustersvc.UpdateFailed, errs
		raw, err := json.Marshal(&done)
		if err != nil {
			return nil, err
		}
		ops = append(ops, gop, store.Op{Kind: clustersvc.KindUpdate, Key: clustersvc.UpdateKey(u.Cluster, u.ID), Value: raw})
		n.Version = rollout.Previous.KubeletVersion
		if rollout.PreviousRelease != "" {
			n.ReleaseVersion = rollout.PreviousRelease
		}
		n.Status = ngsvc.StatusActive
		n.ModifiedAt = c.cfg.Compute.Now().UTC()
		return ops, nil
	})
	if err != nil {
		return err
	}
	c.log.Warn("rolling update failed", "nodegroup", ng.Name, "node", culprit.Node.Name, "err", culprit.Drain.Error)
	admin, err := c.cfg.Admin(ctx, ng.Cluster)
	if err != nil {
		return err
	}
	for _, in := range st.old {
		patch := []byte(`{"spec":{"unschedulable":null}}`)
		_, err := admin.CoreV1().Nodes().Patch(ctx, in.Node.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	return nil
}
