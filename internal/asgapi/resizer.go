package asgapi

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/berthproject/berth/internal/apierror"
	"github.com/berthproject/berth/internal/compute"
	"github.com/berthproject/berth/internal/nodegroup"
	"github.com/berthproject/berth/internal/store"
)

// ResizerConfig wires a Resizer.
type ResizerConfig struct {
	// Compute holds the groups and instances. Required.
	Compute *compute.Service
	// Nodegroups owns the groups of managed node groups. Nil means no
	// group belongs to a node group.
	Nodegroups *nodegroup.Service
	// DrainTimeout is how long the drain of an instance taken out of
	// service waits for evictions that PodDisruptionBudgets block before
	// its pods are deleted (default 15 minutes, as EKS's scale-in).
	DrainTimeout time.Duration
}

// Resizer changes the size of Auto Scaling Groups with the rules and
// messages of the Auto Scaling API, in one place for the API and for
// berth's autoscaler. For the group of a managed node group the node
// group's scalingConfig is the size (the node group controller copies it
// into the group), so a change is validated against the node group's
// sizes and written to both records in one store commit; other groups
// change in compute alone.
//
// Its errors are *apierror.Error values: InvalidParameter and
// InvalidRequest for what Auto Scaling reports as ValidationError (their
// messages are Auto Scaling's, or EKS's for the node group limits),
// ResourceNotFound for an unknown group, ResourceInUse for
// ScalingActivityInProgress.
type Resizer struct {
	cfg ResizerConfig
}

// NewResizer checks cfg, fills its defaults and returns a Resizer.
func NewResizer(cfg ResizerConfig) (*Resizer, error) {
	if cfg.Compute == nil {
		return nil, errors.New("asgapi: ResizerConfig.Compute is required")
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = 15 * time.Minute
	}
	return &Resizer{cfg: cfg}, nil
}

// Size is a change of a group's sizes; nil members stay as they are.
type Size struct {
	Min, Max, Desired *int
}

// sizes are a group's minimum, maximum and desired capacity.
type sizes struct {
	min, max, desired int
}

func invalid(format string, args ...any) error {
	return apierror.New(apierror.InvalidParameter, format, args...)
}

// pendingDelete is Auto Scaling's answer to a change of a group that is
// being deleted.
func pendingDelete() error {
	return apierror.New(apierror.InvalidRequest, "The AutoScaling group may not be modified while it is pending delete")
}

// Update changes a group's sizes as UpdateAutoScalingGroup does: a new
// MinSize above the desired capacity raises it, a new MaxSize below it
// lowers it (unless Desired is given), and the result must have
// min <= desired <= max.
func (r *Resizer) Update(ctx context.Context, group string, s Size) error {
	return r.resize(ctx, group, func(cur sizes) (sizes, error) {
		for _, v := range []struct {
			name string
			v    *int
		}{{"minSize", s.Min}, {"maxSize", s.Max}, {"desiredCapacity", s.Desired}} {
			if v.v != nil && *v.v < 0 {
				return sizes{}, invalid("1 validation error detected: Value '%d' at '%s' failed to satisfy constraint: Member must have value greater than or equal to 0", *v.v, v.name)
			}
		}
		next := cur
		if s.Min != nil {
			next.min = *s.Min
		}
		if s.Max != nil {
			next.max = *s.Max
		}
		if s.Desired != nil {
			next.desired = *s.Desired
		} else {
			if s.Min != nil && next.min > next.desired {
				next.desired = next.min
			}
			if s.Max != nil && next.max < next.desired {
				next.desired = next.max
			}
		}
		if next.min > next.max {
			return sizes{}, invalid("Max bound, %d, must be greater than or equal to min bound, %d", next.max, next.min)
		}
		if next.desired < next.min || next.desired > next.max {
			return sizes{}, invalid("Desired capacity:%d must be between the specified min size:%d and max size:%d", next.desired, next.min, next.max)
		}
		return next, nil
	})
}

// SetDesired sets a group's desired capacity as SetDesiredCapacity does:
// within the group's minimum and maximum.
func (r *Resizer) SetDesired(ctx context.Context, group string, desired int) error {
	return r.resize(ctx, group, func(cur sizes) (sizes, error) {
		if desired > cur.max {
			return sizes{}, invalid("New SetDesiredCapacity value %d is above max value %d for the AutoScalingGroup.", desired, cur.max)
		}
		if desired < cur.min {
			return sizes{}, invalid("New SetDesiredCapacity value %d is below min value %d for the AutoScalingGroup.", desired, cur.min)
		}
		cur.desired = desired
		return cur, nil
	})
}

// resize applies change to a group's sizes: for a node group's group to
// the node group's scaling, written with the group in one commit (during
// a version update the group keeps the update's size, and gets the new
// one when the update ends); for another group to the group.
func (r *Resizer) resize(ctx context.Context, name string, change func(cur sizes) (sizes, error)) error {
	g, _, err := r.cfg.Compute.Group(ctx, name)
	if err != nil {
		return err
	}
	if g.Deleting {
		return pendingDelete()
	}
	if g.Nodegroup == "" || r.cfg.Nodegroups == nil {
		_, err := r.cfg.Compute.MutateGroup(ctx, name, func(g *compute.Group) ([]store.Op, error) {
			if g.Deleting {
				return nil, pendingDelete()
			}
			next, err := change(sizes{g.Min, g.Max, g.Desired})
			if err != nil {
				return nil, err
			}
			g.Min, g.Max, g.Desired = next.min, next.max, next.desired
			return nil, nil
		})
		return err
	}
	_, err = r.cfg.Nodegroups.ResizeByASG(ctx, name, func(ng *nodegroup.Nodegroup) (nodegroup.Scaling, []store.Op, error) {
		next, err := change(sizes{ng.Scaling.Min, ng.Scaling.Max, ng.Scaling.Desired})
		if err != nil {
			return nodegroup.Scaling{}, nil, err
		}
		g, rev, err := r.cfg.Compute.Group(ctx, name)
		if err != nil {
			return nodegroup.Scaling{}, nil, err
		}
		if g.Deleting {
			return nodegroup.Scaling{}, nil, pendingDelete()
		}
		if g.Rollout == nil {
			g.Min, g.Max, g.Desired = next.min, next.max, next.desired
		}
		op, err := groupOp(g, rev)
		if err != nil {
			return nodegroup.Scaling{}, nil, err
		}
		return nodegroup.Scaling{Min: next.min, Max: next.max, Desired: next.desired}, []store.Op{op}, nil
	})
	return err
}

func groupOp(g *compute.Group, rev uint64) (store.Op, error) {
	op, err := compute.GroupOp(g, false)
	op.IfRevision = rev
	return op, err
}

// Activity statuses (the ScalingActivityStatusCode values berth uses).
const (
	StatusInProgress = "InProgress"
	StatusSuccessful = "Successful"
	StatusFailed     = "Failed"
)

// maxActivities is how many scaling activities a group keeps (as the
// group controller does).
const maxActivities = 50

// terminatingPrefix starts the description of the activity that
// terminates an instance; the instance id follows.
const terminatingPrefix = "Terminating EC2 instance: "

// notManaged is Auto Scaling's answer for an instance that is in no group.
func notManaged(id string) error {
	return invalid("Instance Id not found - No managed instance found for instance ID: %s", id)
}

// Terminate takes instances out of service as
// TerminateInstanceInAutoScalingGroup does: their nodes are drained (pods
// deleted after DrainTimeout) and the instances terminated. With
// decrement the group's desired capacity drops by one per instance
// (refused below the minimum) and, for a node group's group, the node
// group's desiredSize with it, in the same commit; without it the group
// launches replacements. group, if not empty, is the group the instances
// must belong to; without it there must be one instance. All instances
// are taken out in one commit, or none. It returns the group and one
// scaling activity per instance, InProgress until the instance is
// terminated. An instance already on its way out is refused with the
// activity that takes it out (ScalingActivityInProgress).
func (r *Resizer) Terminate(ctx context.Context, group string, ids []string, decrement bool) (*compute.Group, []compute.Activity, error) {
	var uniq []string
	for _, id := range ids {
		if !slices.Contains(uniq, id) {
			uniq = append(uniq, id)
		}
	}
	ids = uniq
	if len(ids) == 0 || group == "" && len(ids) > 1 {
		return nil, nil, invalid("Specify one InstanceId, or InstanceIds with the AutoScalingGroupName they belong to.")
	}
	if group == "" {
		in, _, err := r.cfg.Compute.Instance(ctx, ids[0])
		if apierror.IsKind(err, apierror.ResourceNotFound) {
			return nil, nil, notManaged(ids[0])
		}
		if err != nil {
			return nil, nil, err
		}
		if in.Group == "" || in.State == compute.StateTerminated {
			return nil, nil, notManaged(ids[0])
		}
		group = in.Group
	}
	g, _, err := r.cfg.Compute.Group(ctx, group)
	if err != nil {
		return nil, nil, err
	}
	if g.Deleting {
		return nil, nil, pendingDelete()
	}
	var acts []compute.Activity
	// takeOut reads the instances afresh, checks them against g and
	// returns the ops that take them out, with g's activities recorded
	// (and its desired capacity decremented).
	takeOut := func(g *compute.Group) ([]store.Op, error) {
		acts = nil
		var ops []store.Op
		now := r.cfg.Compute.Now().UTC()
		for _, id := range ids {
			in, rev, err := r.cfg.Compute.Instance(ctx, id)
			if apierror.IsKind(err, apierror.ResourceNotFound) {
				return nil, notManaged(id)
			}
			if err != nil {
				return nil, err
			}
			if in.Group == "" || in.State == compute.StateTerminated {
				return nil, notManaged(id)
			}
			if in.Group != g.Name {
				return nil, invalid("The instance %s is not part of Auto Scaling group %s.", id, g.Name)
			}
			if in.Drain != nil || !in.Live() {
				return nil, alreadyTerminating(g, id)
			}
			act := compute.Activity{
				ID:          uuid.NewString(),
				Description: terminatingPrefix + id,
				Cause:       fmt.Sprintf("At %s instance %s was taken out of service in response to a user request.", now.Format(time.RFC3339), id),
				StartTime:   now,
				Status:      StatusInProgress,
			}
			if decrement {
				act.Cause = fmt.Sprintf("At %s instance %s was taken out of service in response to a user request, shrinking the capacity from %d to %d.",
					now.Format(time.RFC3339), id, g.Desired, max(0, g.Desired-1))
				g.Desired = max(0, g.Desired-1)
			}
			acts = append(acts, act)
			in.Drain = &compute.Drain{Deadline: now.Add(r.cfg.DrainTimeout), Force: true}
			op, err := compute.InstanceOp(in, rev)
			if err != nil {
				return nil, err
			}
			ops = append(ops, op)
		}
		g.Activities = append(g.Activities, acts...)
		if len(g.Activities) > maxActivities {
			g.Activities = slices.Clone(g.Activities[len(g.Activities)-maxActivities:])
		}
		return ops, nil
	}
	// belowMin is Auto Scaling's refusal of a decrement below the minimum.
	belowMin := func(desired, min int) error {
		if desired-len(ids) >= min {
			return nil
		}
		return invalid("Currently, desiredSize equals minSize (%d). Terminating instance without replacement will violate group's min size constraint. Either set shouldDecrementDesiredCapacity flag to false or lower group's min size.", min)
	}
	if !decrement || g.Nodegroup == "" || r.cfg.Nodegroups == nil {
		out, err := r.cfg.Compute.MutateGroup(ctx, g.Name, func(g *compute.Group) ([]store.Op, error) {
			if g.Deleting {
				return nil, pendingDelete()
			}
			if decrement {
				if err := belowMin(g.Desired, g.Min); err != nil {
					return nil, err
				}
			}
			return takeOut(g)
		})
		if err != nil {
			return nil, nil, err
		}
		return out, acts, nil
	}
	var out *compute.Group
	_, err = r.cfg.Nodegroups.ResizeByASG(ctx, g.Name, func(ng *nodegroup.Nodegroup) (nodegroup.Scaling, []store.Op, error) {
		sc := ng.Scaling
		if err := belowMin(sc.Desired, sc.Min); err != nil {
			return sc, nil, err
		}
		g, grev, err := r.cfg.Compute.Group(ctx, g.Name)
		if err != nil {
			return sc, nil, err
		}
		if g.Deleting {
			return sc, nil, pendingDelete()
		}
		ops, err := takeOut(g)
		if err != nil {
			return sc, nil, err
		}
		gop, err := groupOp(g, grev)
		if err != nil {
			return sc, nil, err
		}
		out = g
		sc.Desired -= len(ids)
		return sc, append(ops, gop), nil
	})
	if err != nil {
		return nil, nil, err
	}
	return out, acts, nil
}

// TerminateInstance takes one instance out of its group, as
// TerminateInstanceInAutoScalingGroup with InstanceId does (see
// Terminate).
func (r *Resizer) TerminateInstance(ctx context.Context, id string, decrement bool) error {
	_, _, err := r.Terminate(ctx, "", []string{id}, decrement)
	return err
}

// alreadyTerminating refuses to take out an instance that is on its way
// out: with the activity that terminates it when the group has one.
func alreadyTerminating(g *compute.Group, id string) error {
	for i := len(g.Activities) - 1; i >= 0; i-- {
		if g.Activities[i].Description == terminatingPrefix+id {
			return apierror.New(apierror.ResourceInUse, "Activity %s is in progress.", g.Activities[i].ID)
		}
	}
	return apierror.New(apierror.ResourceInUse, "Instance %s is already being terminated.", id)
}
