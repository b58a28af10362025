// Package nodegroup is the managed node group service: the EKS node group
// operations, their validation, records and updates. It writes desired
// state and returns at once; the node group controller
// (internal/controllers/nodegroup) makes the Auto Scaling Group and the
// nodes follow.
package nodegroup

import (
	"time"

	"github.com/berthproject/berth/internal/vpc"
)

// Node group statuses (the NodegroupStatus enum).
const (
	StatusCreating     = "CREATING"
	StatusActive       = "ACTIVE"
	StatusUpdating     = "UPDATING"
	StatusDeleting     = "DELETING"
	StatusCreateFailed = "CREATE_FAILED"
	StatusDeleteFailed = "DELETE_FAILED"
	StatusDegraded     = "DEGRADED"
)

// Capacity types (the CapacityTypes enum).
const (
	CapacityOnDemand = "ON_DEMAND"
	CapacitySpot     = "SPOT"
)

// Update types and parameter types of node group updates.
const (
	UpdateTypeVersion = "VersionUpdate"
	UpdateTypeConfig  = "ConfigUpdate"
)

// Store kind owned by this package; keys are "CLUSTER/NODEGROUP".
const KindNodegroup = "nodegroups"

// Key is the store key of a node group.
func Key(cluster, name string) string { return cluster + "/" + name }

// Nodegroup is the stored record of one managed node group.
type Nodegroup struct {
	Name               string            `json:"name"`
	ARN                string            `json:"arn"`
	Cluster            string            `json:"cluster"`
	ID                 string            `json:"id"` // the uuid in the ARN and the ASG name
	Version            string            `json:"version"`
	ReleaseVersion     string            `json:"releaseVersion"`
	CreatedAt          time.Time         `json:"createdAt"`
	ModifiedAt         time.Time         `json:"modifiedAt"`
	Status             string            `json:"status"`
	CapacityType       string            `json:"capacityType"`
	Scaling            Scaling           `json:"scaling"`
	InstanceTypes      []string          `json:"instanceTypes"`
	Subnets            []string          `json:"subnets"`
	RemoteAccess       *RemoteAccess     `json:"remoteAccess,omitempty"`
	AMIType            string            `json:"amiType"`
	NodeRole           string            `json:"nodeRole"`
	Labels             map[string]string `json:"labels,omitempty"`
	Taints             []Taint           `json:"taints,omitempty"`
	DiskSize           int               `json:"diskSize,omitempty"`
	UpdateConfig       UpdateConfig      `json:"updateConfig"`
	NodeRepair         bool              `json:"nodeRepair"`
	LaunchTemplate     *LaunchTemplate   `json:"launchTemplate,omitempty"`
	Tags               map[string]string `json:"tags,omitempty"`
	ClientRequestToken string            `json:"clientRequestToken,omitempty"`

	// ASG is the name of the group's Auto Scaling Group,
	// eks-<nodegroup>-<id>; set at creation.
	ASG string `json:"asg"`
	// Health lists the issues the controller found.
	Health []Issue `json:"health,omitempty"`

	// PreviousVersion and PreviousReleaseVersion are what the group ran
	// before its last version update: UpdateNodegroupVersion sets Version
	// and ReleaseVersion to the target at once, so nodes still at the
	// previous release are the ones the controller replaces. Empty until
	// the first version update.
	PreviousVersion        string `json:"previousVersion,omitempty"`
	PreviousReleaseVersion string `json:"previousReleaseVersion,omitempty"`
	// ForceUpdate is the force flag of the last version update: replace
	// nodes even when pods cannot be drained (PodDisruptionBudgets).
	ForceUpdate bool `json:"forceUpdate,omitempty"`
}

// RemoteAccessSecurityGroup is the security group EKS makes for SSH access
// to the nodes (resources.remoteAccessSecurityGroup), or "" without
// remote access. Its ID is derived from the group's ARN.
func (ng *Nodegroup) RemoteAccessSecurityGroup() string {
	if ng.RemoteAccess == nil {
		return ""
	}
	return vpc.ID("sg", ng.ARN, "remoteAccess")
}

// Scaling is scalingConfig.
type Scaling struct {
	Min     int `json:"minSize"`
	Max     int `json:"maxSize"`
	Desired int `json:"desiredSize"`
}

// RemoteAccess is remoteAccess.
type RemoteAccess struct {
	EC2SSHKey            string   `json:"ec2SshKey,omitempty"`
	SourceSecurityGroups []string `json:"sourceSecurityGroups,omitempty"`
}

// Taint is one taint as the EKS API spells it (effect NO_SCHEDULE,
// NO_EXECUTE or PREFER_NO_SCHEDULE).
type Taint struct {
	Key    string `json:"key"`
	Value  string `json:"value,omitempty"`
	Effect string `json:"effect"`
}

// UpdateConfig is updateConfig: at most one of the two is set.
type UpdateConfig struct {
	MaxUnavailable           int    `json:"maxUnavailable,omitempty"`
	MaxUnavailablePercentage int    `json:"maxUnavailablePercentage,omitempty"`
	UpdateStrategy           string `json:"updateStrategy,omitempty"` // DEFAULT or MINIMAL
}

// LaunchTemplate is launchTemplate.
type LaunchTemplate struct {
	Name    string `json:"name,omitempty"`
	ID      string `json:"id,omitempty"`
	Version string `json:"version,omitempty"`
}

// Issue is one node group health issue (code from the NodegroupIssueCode
// enum, such as NodeCreationFailure, InsufficientCapacity,
// AsgInstanceLaunchFailures).
type Issue struct {
	Code        string   `json:"code"`
	Message     string   `json:"message"`
	ResourceIDs []string `json:"resourceIds,omitempty"`
}
