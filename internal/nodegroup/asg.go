package nodegroup

import (
	"context"

	"github.com/berthproject/berth/internal/apierror"
	"github.com/berthproject/berth/internal/store"
)

// ByASG returns the node group whose Auto Scaling Group is asg, or a
// ResourceNotFound error when no node group owns it.
func (s *Service) ByASG(ctx context.Context, asg string) (*Nodegroup, error) {
	all, err := s.All(ctx)
	if err != nil {
		return nil, err
	}
	for _, ng := range all {
		if ng.ASG == asg && asg != "" {
			return ng, nil
		}
	}
	return nil, apierror.New(apierror.ResourceNotFound, "No node group owns the Auto Scaling group %s.", asg)
}

// ResizeByASG changes the scalingConfig of the node group that owns the
// Auto Scaling Group asg, for a change made to the group itself (through
// the Auto Scaling API, or by an autoscaler) rather than through
// UpdateNodegroupConfig. The node group's scaling is what the node group
// controller keeps its group at, so a change the node group does not
// record would be undone; and EKS shows such changes in DescribeNodegroup
// (an autoscaler's desired size, for one). No EKS update is created and
// the status does not change, as on EKS.
//
// fn gets the node group as stored (it must not change it) and returns
// its new scaling and ops to commit with it in one store commit (the group's own record, so the two
// never disagree); it runs again if the node group changed meanwhile, so
// it must read what it writes afresh. The new scaling is validated as
// UpdateNodegroupConfig validates it: 0 <= minSize <= desiredSize <=
// maxSize, maxSize >= 1, and maxSize within the nodes-per-node-group
// quota.
//
// A node group being deleted (DELETING, DELETE_FAILED) is refused, with
// the message the Auto Scaling API gives for a group pending deletion.
// Every other status accepts the change, as the Auto Scaling group does
// on AWS whatever EKS is doing with it: while CREATING or UPDATING the
// controller works towards the new size; during a version update the
// group keeps the update's surge and takes the new size when the update
// ends.
func (s *Service) ResizeByASG(ctx context.Context, asg string, fn func(ng *Nodegroup) (Scaling, []store.Op, error)) (*Nodegroup, error) {
	owner, err := s.ByASG(ctx, asg)
	if err != nil {
		return nil, err
	}
	return s.Mutate(ctx, owner.Cluster, owner.Name, func(ng *Nodegroup) ([]store.Op, error) {
		if ng.ASG != asg {
			return nil, apierror.New(apierror.ResourceNotFound, "No node group owns the Auto Scaling group %s.", asg)
		}
		if ng.Status == StatusDeleting || ng.Status == StatusDeleteFailed {
			return nil, apierror.New(apierror.InvalidRequest, "The AutoScaling group may not be modified while it is pending delete")
		}
		next, ops, err := fn(ng)
		if err != nil {
			return nil, err
		}
		if err := s.validateScaling(next, true); err != nil {
			return nil, err
		}
		if next != ng.Scaling {
			ng.Scaling = next
			ng.ModifiedAt = s.now()
		}
		return ops, nil
	})
}
