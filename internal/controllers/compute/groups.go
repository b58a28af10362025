package compute

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/berthproject/berth/internal/apierror"
	"github.com/berthproject/berth/internal/compute"
	"github.com/berthproject/berth/internal/compute/instancetypes"
	"github.com/berthproject/berth/internal/controllers/reconcile"
	"github.com/berthproject/berth/internal/store"
)

// maxActivities is how many scaling activities a group keeps.
const maxActivities = 50

// InService reports whether an instance counts toward its group's desired
// capacity: live, not being drained away, not announced for a Spot
// interruption (capacity rebalancing replaces those).
func InService(in *compute.Instance) bool {
	return in.Live() && in.Drain == nil && in.Interruption == nil
}

// reconcileGroup brings one group's instances to its desired count.
func (c *Controller) reconcileGroup(ctx context.Context, name string) error {
	g, _, err := c.svc.Group(ctx, name)
	if apierror.IsKind(err, apierror.ResourceNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	all, err := c.svc.Instances(ctx)
	if err != nil {
		return err
	}
	var mine, live, inService []*compute.Instance
	for _, in := range all {
		if in.Group != name {
			continue
		}
		mine = append(mine, in)
		if in.Live() {
			live = append(live, in)
		}
		if InService(in) {
			inService = append(inService, in)
		}
	}
	if g.Deleting {
		return c.deleteGroup(ctx, g, mine, live)
	}
	// Drains that a restart interrupted resume; drained instances that
	// were not terminated yet are.
	for _, in := range live {
		if in.Drain != nil && in.Drain.Error == "" {
			c.drain(in)
		}
	}
	switch {
	case len(inService) < g.Desired:
		if wait := c.launchBackoff(mine); wait > 0 {
			return reconcile.RetryAfter(wait)
		}
		return c.scaleOut(ctx, g, inService, g.Desired-len(inService))
	case len(inService) > g.Desired:
		return c.scaleIn(ctx, g, inService, len(inService)-g.Desired)
	}
	if c.rebalance(ctx, g, live, inService) {
		return nil
	}
	// Spot instances with an interruption notice are drained once their
	// replacements run (or at once if none is coming).
	running := 0
	for _, in := range inService {
		if in.State == compute.StateRunning {
			running++
		}
	}
	var doomed []string
	for _, in := range live {
		if in.Interruption != nil && in.Drain == nil && running >= g.Desired {
			doomed = append(doomed, in.ID)
		}
	}
	if len(doomed) > 0 {
		// The deadline is the interruption's, which is in each record.
		return c.takeOut(ctx, g.Name, doomed, compute.Drain{Force: true})
	}
	return nil
}

// deleteGroup terminates a deleted group's instances and removes it once
// none is left running.
func (c *Controller) deleteGroup(ctx context.Context, g *compute.Group, mine, live []*compute.Instance) error {
	if len(live) > 0 {
		ids := make([]string, 0, len(live))
		for _, in := range live {
			ids = append(ids, in.ID)
		}
		if _, err := c.svc.Terminate(ctx, ids, compute.Reason{Code: "Client.UserInitiatedShutdown", Message: "Client.UserInitiatedShutdown: User initiated shutdown"}); err != nil {
			return err
		}
	}
	for _, in := range mine {
		if in.State != compute.StateTerminated {
			return reconcile.RetryAfter(200 * time.Millisecond)
		}
	}
	c.log.Info("auto scaling group deleted", "group", g.Name)
	return c.svc.RemoveGroup(ctx, g.Name)
}

// rebalance evens out the group's zones as EC2 Auto Scaling does: when the
// zone with the most instances has two or more than the zone with the
// fewest, and the group is otherwise settled, it launches one instance in
// the emptier zone; the scale-in that follows terminates one in the fuller
// zone. It reports whether it launched.
func (c *Controller) rebalance(ctx context.Context, g *compute.Group, live, inService []*compute.Instance) bool {
	if len(live) != len(inService) {
		return false
	}
	perSubnet := map[string]int{}
	for _, s := range g.SubnetIDs {
		perSubnet[s] = 0
	}
	for _, in := range inService {
		if in.State != compute.StateRunning {
			return false
		}
		if _, ok := perSubnet[in.SubnetID]; ok {
			perSubnet[in.SubnetID]++
		}
	}
	lo, hi := len(inService), 0
	for _, n := range perSubnet {
		lo, hi = min(lo, n), max(hi, n)
	}
	if hi-lo < 2 {
		return false
	}
	if err := c.scaleOut(ctx, g, inService, 1); err != nil {
		c.log.Warn("rebalancing zones", "group", g.Name, "err", err)
		return false
	}
	c.log.Info("rebalancing availability zones", "group", g.Name)
	return true
}

// launchBackoff is how long a group waits before it launches again after
// instances failed to join: as EC2 Auto Scaling, it does not replace
// failing instances in a tight loop. Two recent failures wait 4 s, each
// further one doubles that, up to a minute.
func (c *Controller) launchBackoff(mine []*compute.Instance) time.Duration {
	now := c.svc.Now()
	failures := 0
	var last time.Time
	for _, in := range mine {
		if in.StateReason.Code != reasonJoinFailure || in.LaunchTime.Before(now.Add(-5*time.Minute)) {
			continue
		}
		failures++
		if in.LaunchTime.After(last) {
			last = in.LaunchTime
		}
	}
	if failures < 2 {
		return 0
	}
	wait := min(time.Minute, time.Second<<min(failures, 6))
	return max(0, last.Add(wait).Sub(now))
}

// scaleOut launches n instances, each in the zone with the fewest.
func (c *Controller) scaleOut(ctx context.Context, g *compute.Group, inService []*compute.Instance, n int) error {
	if len(g.SubnetIDs) == 0 || len(g.InstanceTypes) == 0 {
		return fmt.Errorf("group %s has no subnets or instance types", g.Name)
	}
	perSubnet := map[string]int{}
	for _, in := range inService {
		perSubnet[in.SubnetID]++
	}
	typ := chooseType(g)
	tags := map[string]string{}
	for k, v := range g.Tags {
		tags[k] = v
	}
	tags[compute.TagASGName] = g.Name
	specs := make([]compute.LaunchSpec, 0, n)
	for range n {
		subnet := slices.MinFunc(g.SubnetIDs, func(a, b string) int { return cmp.Compare(perSubnet[a], perSubnet[b]) })
		perSubnet[subnet]++
		capType := compute.OnDemand
		if g.CapacityType == compute.Spot {
			capType = compute.Spot
		}
		specs = append(specs, compute.LaunchSpec{
			Type: typ, SubnetID: subnet, CapacityType: capType, ImageID: g.ImageID, Tags: tags,
			Cluster: g.Cluster, Group: g.Name, TemplateVersion: g.TemplateVersion, Node: g.Template,
		})
	}
	began := c.svc.Now().UTC()
	launched, err := c.svc.Launch(ctx, specs)
	if err != nil {
		c.recordActivities(ctx, g.Name, compute.Activity{
			Description: fmt.Sprintf("Launching %d new EC2 instances", n),
			Cause:       fmt.Sprintf("At %s an instance was started in response to a difference between desired and actual capacity, increasing the capacity from %d to %d.", began.Format(time.RFC3339), len(inService), g.Desired),
			StartTime:   began, EndTime: began, Status: "Failed", Message: err.Error(),
		})
		return err
	}
	acts := make([]compute.Activity, 0, len(launched))
	for _, in := range launched {
		acts = append(acts, compute.Activity{
			Description: "Launching a new EC2 instance: " + in.ID,
			Cause:       fmt.Sprintf("At %s an instance was started in response to a difference between desired and actual capacity, increasing the capacity from %d to %d.", began.Format(time.RFC3339), len(inService), g.Desired),
			StartTime:   began, EndTime: began, Status: "Successful",
		})
	}
	c.recordActivities(ctx, g.Name, acts...)
	c.log.Info("auto scaling group launched instances", "group", g.Name, "count", len(launched), "type", typ)
	return nil
}

// chooseType picks the instance type of new instances: the first of the
// list for On-Demand (the prioritized strategy), the cheapest Spot price
// for Spot (price-capacity-optimized, with every pool deep enough).
func chooseType(g *compute.Group) string {
	if g.CapacityType != compute.Spot {
		return g.InstanceTypes[0]
	}
	best, bestPrice := g.InstanceTypes[0], -1.0
	for _, name := range g.InstanceTypes {
		t, ok := instancetypes.Lookup(name)
		if !ok {
			continue
		}
		if bestPrice < 0 || t.SpotPrice < bestPrice {
			best, bestPrice = name, t.SpotPrice
		}
	}
	return best
}

// scaleIn picks n instances as the default termination policy does (the
// zone with the most instances, then the oldest template, then the oldest
// launch) and drains them before they are terminated.
func (c *Controller) scaleIn(ctx context.Context, g *compute.Group, inService []*compute.Instance, n int) error {
	pool := slices.Clone(inService)
	for range n {
		perSubnet := map[string]int{}
		for _, in := range pool {
			perSubnet[in.SubnetID]++
		}
		victim := slices.MinFunc(pool, func(a, b *compute.Instance) int {
			if c := cmp.Compare(perSubnet[b.SubnetID], perSubnet[a.SubnetID]); c != 0 {
				return c
			}
			if c := cmp.Compare(a.TemplateVersion, b.TemplateVersion); c != 0 {
				return c
			}
			if c := a.LaunchTime.Compare(b.LaunchTime); c != 0 {
				return c
			}
			return cmp.Compare(a.ID, b.ID)
		})
		pool = slices.DeleteFunc(pool, func(in *compute.Instance) bool { return in == victim })
		d := compute.Drain{Force: true, Deadline: c.svc.Now().Add(c.cfg.ScaleInDrainTimeout).UTC()}
		if err := c.takeOut(ctx, g.Name, []string{victim.ID}, d); err != nil {
			return err
		}
		now := c.svc.Now().UTC()
		c.recordActivities(ctx, g.Name, compute.Activity{
			Description: "Terminating EC2 instance: " + victim.ID,
			Cause:       fmt.Sprintf("At %s a user request explicitly set group desired capacity changing the desired capacity, shrinking the capacity from %d to %d. An instance was taken out of service in response to a difference between desired and actual capacity.", now.Format(time.RFC3339), len(inService), g.Desired),
			StartTime:   now, EndTime: now, Status: "Successful",
		})
	}
	return nil
}

// takeOut takes instances out of service without touching the desired
// count; the store event brings them back to reconcileGroup, which starts
// their drains. A Spot instance's drain ends at its interruption deadline.
func (c *Controller) takeOut(ctx context.Context, group string, ids []string, d compute.Drain) error {
	if d.Deadline.IsZero() {
		for _, id := range ids {
			in, _, err := c.svc.Instance(ctx, id)
			if err != nil {
				return err
			}
			dd := d
			if in.Interruption != nil {
				dd.Deadline = in.Interruption.TerminateAt
			}
			if err := c.svc.TakeOutOfService(ctx, group, []string{id}, false, dd); err != nil {
				return err
			}
		}
		return nil
	}
	return c.svc.TakeOutOfService(ctx, group, ids, false, d)
}

// drain runs the termination hook of an instance in the background, then
// terminates it (a Spot instance waits for its interruption deadline). A
// drain that fails without Force leaves the instance running with the
// error recorded, for whoever took it out of service to decide.
func (c *Controller) drain(in *compute.Instance) {
	c.mu.Lock()
	if c.draining[in.ID] {
		c.mu.Unlock()
		return
	}
	c.draining[in.ID] = true
	c.mu.Unlock()
	go func() {
		defer func() {
			c.mu.Lock()
			delete(c.draining, in.ID)
			c.mu.Unlock()
		}()
		ctx := c.ctx
		if !in.Drain.Done && c.cfg.Drainer != nil && in.State == compute.StateRunning {
			if err := c.cfg.Drainer.Drain(ctx, in); err != nil {
				if ctx.Err() != nil {
					return
				}
				c.log.Warn("draining node", "instance", in.ID, "node", in.Node.Name, "err", err)
				if !in.Drain.Force {
					c.writes.set(in.ID, func(in *compute.Instance) bool {
						if in.Drain == nil {
							return false
						}
						in.Drain.Error = err.Error()
						return true
					})
					return
				}
			}
		}
		if in.Interruption != nil {
			c.writes.set(in.ID, func(in *compute.Instance) bool {
				if in.Drain == nil || in.Drain.Done {
					return false
				}
				in.Drain.Done = true
				return true
			})
			return
		}
		if _, err := c.svc.Terminate(ctx, []string{in.ID}, compute.Reason{Code: "Client.UserInitiatedShutdown", Message: "Client.UserInitiatedShutdown: User initiated shutdown"}); err != nil {
			c.log.Warn("terminating drained instance", "instance", in.ID, "err", err)
		}
	}()
}

// recordActivities appends scaling activities to a group.
func (c *Controller) recordActivities(ctx context.Context, group string, acts ...compute.Activity) {
	for i := range acts {
		acts[i].ID = uuid.NewString()
	}
	_, err := c.svc.MutateGroup(ctx, group, func(g *compute.Group) ([]store.Op, error) {
		g.Activities = append(g.Activities, acts...)
		if len(g.Activities) > maxActivities {
			g.Activities = slices.Clone(g.Activities[len(g.Activities)-maxActivities:])
		}
		return nil, nil
	})
	if err != nil {
		c.log.Warn("recording scaling activity", "group", group, "err", err)
	}
}
