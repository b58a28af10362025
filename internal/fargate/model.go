package fargate

import "time"

// Fargate profile statuses (the FargateProfileStatus enum).
const (
	StatusCreating     = "CREATING"
	StatusActive       = "ACTIVE"
	StatusDeleting     = "DELETING"
	StatusCreateFailed = "CREATE_FAILED"
	StatusDeleteFailed = "DELETE_FAILED"
)

// Health issue codes (the FargateProfileIssueCode enum).
const (
	IssuePodExecutionRoleAlreadyInUse = "PodExecutionRoleAlreadyInUse"
	IssueAccessDenied                 = "AccessDenied"
	IssueClusterUnreachable           = "ClusterUnreachable"
	IssueInternalFailure              = "InternalFailure"
)

// ProfileLabel is the pod label EKS sets to the name of the profile a pod
// runs with. A pod that carries it when it is created is matched against
// that profile only.
const ProfileLabel = "eks.amazonaws.com/fargate-profile"

// Store kind owned by this package; keys are "CLUSTER/NAME".
const KindProfile = "fargateprofiles"

// Key is the store key of a Fargate profile.
func Key(cluster, name string) string { return cluster + "/" + name }

// Profile is the stored record of one Fargate profile.
type Profile struct {
	Name                string     `json:"name"`
	ARN                 string     `json:"arn"`
	Cluster             string     `json:"cluster"`
	ID                  string     `json:"id"` // the uuid in the ARN
	CreatedAt           time.Time  `json:"createdAt"`
	Status              string     `json:"status"`
	PodExecutionRoleARN string     `json:"podExecutionRoleArn"`
	Subnets             []string   `json:"subnets"`
	Selectors           []Selector `json:"selectors"`
	// Tags are the only thing of a profile that changes after creation.
	Tags               map[string]string `json:"tags,omitempty"`
	ClientRequestToken string            `json:"clientRequestToken,omitempty"`
	// Health lists the issues the controller found (FargateProfileHealth).
	Health []Issue `json:"health,omitempty"`
}

// Selector is one FargateProfileSelector: a namespace and labels, each of
// which may hold the wildcards * (any run of characters, none included)
// and ? (exactly one character).
type Selector struct {
	Namespace string            `json:"namespace"`
	Labels    map[string]string `json:"labels,omitempty"`
}

// Issue is one FargateProfileIssue.
type Issue struct {
	Code        string   `json:"code"`
	Message     string   `json:"message"`
	ResourceIDs []string `json:"resourceIds,omitempty"`
}
