// Package compute is berth's "EC2": instances and the Auto Scaling Groups
// that keep a number of them, as records in the store. Providers (simulated
// kubelets, or containerd with the upstream kubelet) bring an instance's node to life; the
// instance and group controllers (internal/controllers/compute) drive them.
package compute

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berthproject/berth/internal/apierror"
)

// Store kinds owned by this package.
const (
	KindInstance = "instances"
	KindGroup    = "asgs"
)

// Instance states (EC2's InstanceStateName). "stopping" and "stopped" are
// not modelled: node instances are never stopped.
const (
	StatePending      = "pending"
	StateRunning      = "running"
	StateShuttingDown = "shutting-down"
	StateTerminated   = "terminated"
)

// EC2 state codes of the states above.
var StateCodes = map[string]int{
	StatePending:      0,
	StateRunning:      16,
	StateShuttingDown: 32,
	StateTerminated:   48,
}

// Capacity types (EC2's InstanceLifecycle: empty for On-Demand).
const (
	OnDemand = "on-demand"
	Spot     = "spot"
)

// Tags EKS and EC2 Auto Scaling put on the instances of a managed node group.
const (
	TagASGName        = "aws:autoscaling:groupName"
	TagNodegroupName  = "eks:nodegroup-name"
	TagClusterName    = "eks:cluster-name"
	TagClusterOwned   = "kubernetes.io/cluster/" // + cluster name = "owned"
	TagLaunchTemplate = "aws:ec2launchtemplate:id"
)

// TagProvider chooses an instance's provider: ProviderSimulated (a
// simulated kubelet) or ProviderReal (containerd and the upstream
// kubelet). On a node group it is passed to its instances.
const TagProvider = "berth:provider"

// The instance providers.
const (
	ProviderSimulated = "simulated"
	ProviderReal      = "real"
)

// ValidProvider checks a TagProvider value.
func ValidProvider(v string) error {
	if v != ProviderSimulated && v != ProviderReal {
		return apierror.New(apierror.InvalidParameter, "The value of tag %s must be %s or %s, not '%s'.", TagProvider, ProviderSimulated, ProviderReal, v)
	}
	return nil
}

// Instance is the stored record of one instance.
type Instance struct {
	ID           string            `json:"id"`
	Type         string            `json:"type"`
	ImageID      string            `json:"imageId"`
	SubnetID     string            `json:"subnetId"`
	VpcID        string            `json:"vpcId"`
	AZ           string            `json:"az"`
	PrivateIP    string            `json:"privateIp"`
	PrivateDNS   string            `json:"privateDns"`
	State        string            `json:"state"`
	StateReason  Reason            `json:"stateReason,omitzero"`
	LaunchTime   time.Time         `json:"launchTime"`
	TerminatedAt time.Time         `json:"terminatedAt,omitzero"`
	CapacityType string            `json:"capacityType"`
	Tags         map[string]string `json:"tags,omitempty"`
	// Provider runs the instance's node: ProviderReal, or ProviderSimulated
	// (also when empty, as for instances launched before providers were
	// chosen). Fixed at launch: the TagProvider tag, else berth's default.
	Provider string `json:"provider,omitempty"`

	// Cluster is the EKS cluster the instance's node joins; empty for an
	// instance that joins none.
	Cluster string `json:"cluster,omitempty"`
	// Group is the Auto Scaling Group that owns the instance, if any.
	Group string `json:"group,omitempty"`
	// TemplateVersion is the version of the group's template the instance
	// was launched from (a launch template version, for rolling updates).
	TemplateVersion int `json:"templateVersion,omitempty"`
	// Node is how the instance's node registers.
	Node NodeConfig `json:"node"`

	// Drain is set once the instance is taken out of service: its node is
	// cordoned and drained (the termination lifecycle hook), then the
	// instance is terminated.
	Drain *Drain `json:"drain,omitempty"`
	// Interruption is set when a Spot interruption was announced.
	Interruption *Interruption `json:"interruption,omitempty"`
	// JoinFailures counts failed attempts of its node to join.
	JoinFailures int `json:"joinFailures,omitempty"`

	// Self-managed instances (RunInstances) carry what they were launched
	// with; instances of groups leave these empty.
	UserData        string       `json:"userData,omitempty"` // base64
	InstanceProfile *ProfileInfo `json:"instanceProfile,omitempty"`
	KeyName         string       `json:"keyName,omitempty"`
	SecurityGroups  []string     `json:"securityGroups,omitempty"`
	LaunchTemplate  *TemplateRef `json:"launchTemplate,omitempty"`
	ClientToken     string       `json:"clientToken,omitempty"`
	// Reservation is the id of the RunInstances call that launched the
	// instance with others; empty for instances of groups.
	Reservation string `json:"reservation,omitempty"`
	// Join is where the node agent of a self-managed instance connects,
	// from its user data; nil for an instance that joins no cluster.
	Join *Join `json:"join,omitempty"`
	// Console is the end of the instance's console output: what its node
	// agent reported (GetConsoleOutput).
	Console string `json:"console,omitempty"`
}

// ProfileInfo is the IAM instance profile associated with an instance.
type ProfileInfo struct {
	ARN string `json:"arn"`
	ID  string `json:"id,omitempty"`
}

// TemplateRef names the launch template version an instance came from.
type TemplateRef struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Version int    `json:"version"`
}

// Join is what a self-managed node agent read from its user data.
type Join struct {
	// Endpoint and CA (PEM) of the API server; empty in the bootstrap.sh
	// form, which looks them up.
	Endpoint string `json:"endpoint,omitempty"`
	CA       []byte `json:"ca,omitempty"`
	// Source is "NodeConfig" or "bootstrap.sh".
	Source string `json:"source"`
}

// Check reports what a self-managed node agent finds when it connects
// with its user data to cluster, whose endpoint is server and CA ca: an
// endpoint or CA of another cluster fails as the connection would.
func (j *Join) Check(cluster, server string, ca []byte) error {
	if j == nil {
		return nil
	}
	if j.Endpoint != "" && strings.TrimSuffix(j.Endpoint, "/") != server {
		return fmt.Errorf("the API server endpoint %s of the node configuration is not cluster %s's (%s): the node cannot reach its cluster", j.Endpoint, cluster, server)
	}
	if len(j.CA) > 0 && !bytes.Equal(bytes.TrimSpace(j.CA), bytes.TrimSpace(ca)) {
		return fmt.Errorf("tls: failed to verify certificate: x509: certificate signed by unknown authority (the certificate authority of the node configuration is not cluster %s's)", cluster)
	}
	return nil
}

// CredentialsFunc returns the AWS credentials of a self-managed
// instance's role (its instance profile's), as instance metadata serves
// them.
type CredentialsFunc func(ctx context.Context, in *Instance) (aws.CredentialsProvider, error)

// RoleCredentials is what a self-managed node agent does before it
// authenticates to its cluster, whose endpoint is server and CA ca: it
// checks its user data against them (Join.Check) and takes its role's
// credentials from get.
func (i *Instance) RoleCredentials(ctx context.Context, server string, ca []byte, get CredentialsFunc) (aws.CredentialsProvider, error) {
	if err := i.Join.Check(i.Cluster, server, ca); err != nil {
		return nil, err
	}
	if i.InstanceProfile == nil {
		return nil, errors.New("no credentials: the instance has no IAM instance profile, so the node cannot authenticate to its cluster")
	}
	if get == nil {
		return nil, errors.New("no credentials: instance credentials are not available")
	}
	creds, err := get(ctx, i)
	if err != nil {
		return nil, fmt.Errorf("no credentials from instance profile %s: %w", i.InstanceProfile.ARN, err)
	}
	return creds, nil
}

// Unmapped explains err, the cluster's refusal of a self-managed node's
// EKS token: its instance role is not mapped to a node identity.
func (i *Instance) Unmapped(err error) error {
	profile := ""
	if i.InstanceProfile != nil {
		profile = i.InstanceProfile.ARN
	}
	return fmt.Errorf("%w (no EC2_LINUX access entry or aws-auth mapping of cluster %s maps the role of instance profile %s)", err, i.Cluster, profile)
}

// SelfManaged reports whether the instance was launched by RunInstances
// rather than by an Auto Scaling Group.
func (i *Instance) SelfManaged() bool { return i.Group == "" }

// MaxConsoleBytes is how much console output an instance keeps (EC2
// returns the last 64 KB).
const MaxConsoleBytes = 64 * 1024

// Drain says how an instance's node is drained before termination.
type Drain struct {
	// Deadline is when eviction stops waiting for PodDisruptionBudgets.
	Deadline time.Time `json:"deadline"`
	// Force deletes the pods left at the deadline and terminates; without
	// it the drain fails, Error is set and the instance is not terminated.
	Force bool `json:"force,omitempty"`
	// Error is why the drain failed (PodEvictionFailure).
	Error string `json:"error,omitempty"`
	// Done is set when the drain finished (the instance may still wait
	// for a Spot deadline).
	Done bool `json:"done,omitempty"`
}

// Reason is an EC2 StateReason.
type Reason struct {
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
}

// NodeConfig is what the node agent of an instance needs: the node
// configuration a launch template's user data would carry.
type NodeConfig struct {
	// Name is the Node name (the instance's private DNS name).
	Name string `json:"name"`
	// KubeletVersion is the Kubernetes minor the node runs, "1.37".
	KubeletVersion string            `json:"kubeletVersion"`
	Labels         map[string]string `json:"labels,omitempty"`
	Taints         []Taint           `json:"taints,omitempty"`
	// DiskGiB sizes ephemeral-storage.
	DiskGiB int `json:"diskGiB"`
	// MaxPods overrides the AMI's max pods for the instance type (the
	// kubelet's maxPods); 0 keeps it.
	MaxPods int `json:"maxPods,omitempty"`
}

// Taint is a Kubernetes taint (effect as Kubernetes spells it).
type Taint struct {
	Key    string `json:"key"`
	Value  string `json:"value,omitempty"`
	Effect string `json:"effect"`
}

// Interruption is a Spot interruption notice.
type Interruption struct {
	// RebalanceAt is when the rebalance recommendation was given.
	RebalanceAt time.Time `json:"rebalanceAt"`
	// TerminateAt is the deadline (two minutes after the notice on AWS).
	TerminateAt time.Time `json:"terminateAt"`
}

// Live reports whether the instance is pending or running.
func (i *Instance) Live() bool { return i.State == StatePending || i.State == StateRunning }

// Group is the stored record of one Auto Scaling Group.
type Group struct {
	Name      string    `json:"name"`
	ARN       string    `json:"arn"`
	CreatedAt time.Time `json:"createdAt"`
	Cluster   string    `json:"cluster"`
	Nodegroup string    `json:"nodegroup,omitempty"`
	Min       int       `json:"min"`
	Max       int       `json:"max"`
	Desired   int       `json:"desired"`
	SubnetIDs []string  `json:"subnetIds"`
	// InstanceTypes in priority order (the launch template overrides).
	InstanceTypes []string `json:"instanceTypes"`
	// CapacityType is OnDemand or Spot.
	CapacityType string            `json:"capacityType"`
	ImageID      string            `json:"imageId"`
	Tags         map[string]string `json:"tags,omitempty"`
	// Template is the node configuration new instances get (Name is
	// empty: each instance has its own); TemplateVersion counts changes
	// that replace nodes.
	Template        NodeConfig `json:"template"`
	TemplateVersion int        `json:"templateVersion"`
	// Rollout is set while a rolling update surges the group.
	Rollout *Rollout `json:"rollout,omitempty"`
	// Deleting means the group is going away: its instances are
	// terminated and the record removed once they are.
	Deleting bool `json:"deleting,omitempty"`
	// Activities are the most recent scaling activities, newest last.
	Activities []Activity `json:"activities,omitempty"`
}

// Activity is one scaling activity.
type Activity struct {
	ID          string    `json:"id"`
	Description string    `json:"description"`
	Cause       string    `json:"cause"`
	StartTime   time.Time `json:"startTime"`
	EndTime     time.Time `json:"endTime,omitzero"`
	Status      string    `json:"status"` // Successful, Failed, InProgress
	Message     string    `json:"message,omitempty"`
}

// Rollout remembers a group from before a rolling update, to restore its
// size when the update ends and its template when it fails.
type Rollout struct {
	Desired int `json:"desired"`
	Max     int `json:"max"`
	Surge   int `json:"surge"`
	// Previous is the template before the update.
	Previous        NodeConfig `json:"previous"`
	PreviousImageID string     `json:"previousImageId"`
	// PreviousRelease is the node group's release version before it.
	PreviousRelease string `json:"previousRelease"`
}
