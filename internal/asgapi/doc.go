// Package asgapi is berth's front door for the Amazon EC2 Auto Scaling API
// subset: the AWS query protocol as Auto Scaling (2011-01-01) speaks it.
// Requests are form-encoded (Action=...&Version=2011-01-01&...) in a POST
// body or a GET query, lists as Name.member.N; answers are
// <ActionResponse><ActionResult>...</ActionResult><ResponseMetadata>
// <RequestId> in the http://autoscaling.amazonaws.com/doc/2011-01-01/
// namespace, errors <ErrorResponse><Error><Type><Code><Message></Error>
// <RequestId>, most of them ValidationError as on AWS. The protocol is
// internal/queryapi's.
//
// Every request is SigV4-verified before anything else, for the
// autoscaling scope and berth's region; any valid credential may call.
//
// Actions: DescribeAutoScalingGroups (names, tag filters, paging; groups
// that belong to managed node groups look as EKS makes them: launch
// template or mixed instances policy, EKS's tags, termination policies and
// grace period), UpdateAutoScalingGroup (sizes only; other members are
// refused plainly unless they repeat what the group has),
// SetDesiredCapacity, TerminateInstanceInAutoScalingGroup and
// DescribeScalingActivities. Other actions get InvalidAction.
//
// Size changes go through a Resizer, which a built-in autoscaler uses
// too: a change to the group of a managed node group becomes the node
// group's scalingConfig in the same store commit (internal/nodegroup's
// ResizeByASG), so DescribeNodegroup shows it and the node group
// controller keeps it; groups without a node group change in compute
// alone.
package asgapi
