package access

import "time"

// Store kind owned by this package; keys are "CLUSTER/PRINCIPAL-ARN".
const KindEntry = "accessentries"

// Key is the store key of the entry of a principal in a cluster.
func Key(cluster, principalARN string) string { return cluster + "/" + principalARN }

// Access entry types (the type member of CreateAccessEntry).
const (
	TypeStandard      = "STANDARD"
	TypeEC2Linux      = "EC2_LINUX"
	TypeEC2Windows    = "EC2_WINDOWS"
	TypeFargateLinux  = "FARGATE_LINUX"
	TypeHybridLinux   = "HYBRID_LINUX"
	TypeHyperPodLinux = "HYPERPOD_LINUX"
	// TypeEC2 is the type of EKS Auto Mode node roles.
	TypeEC2 = "EC2"
)

// Access scope types (the AccessScopeType enum).
const (
	ScopeCluster   = "cluster"
	ScopeNamespace = "namespace"
)

// Authentication modes of a cluster (accessConfig.authenticationMode).
const (
	ModeAPI          = "API"
	ModeAPIAndConfig = "API_AND_CONFIG_MAP"
	ModeConfigMap    = "CONFIG_MAP"
)

// Username template variables (see ExpandUsername).
const (
	VarSessionName       = "SessionName"
	VarSessionNameRaw    = "SessionNameRaw"
	VarAccountID         = "AccountID"
	VarEC2PrivateDNSName = "EC2PrivateDNSName"
)

// Entry is the stored record of one access entry, with the access
// policies associated with it.
type Entry struct {
	Cluster      string `json:"cluster"`
	PrincipalARN string `json:"principalArn"`
	ARN          string `json:"accessEntryArn"`
	Type         string `json:"type"`
	// Username is the Kubernetes username, possibly a template with
	// {{SessionName}} and the other variables ExpandUsername replaces.
	Username           string             `json:"username"`
	KubernetesGroups   []string           `json:"kubernetesGroups,omitempty"`
	CreatedAt          time.Time          `json:"createdAt"`
	ModifiedAt         time.Time          `json:"modifiedAt"`
	Tags               map[string]string  `json:"tags,omitempty"`
	ClientRequestToken string             `json:"clientRequestToken,omitempty"`
	Policies           []AssociatedPolicy `json:"policies,omitempty"`
}

// AssociatedPolicy is one AssociatedAccessPolicy: an EKS access policy
// and the scope it applies in.
type AssociatedPolicy struct {
	PolicyARN    string    `json:"policyArn"`
	Scope        Scope     `json:"accessScope"`
	AssociatedAt time.Time `json:"associatedAt"`
	ModifiedAt   time.Time `json:"modifiedAt"`
}

// Scope is an AccessScope: the whole cluster, or the namespaces listed
// (each may hold the wildcard *).
type Scope struct {
	Type       string   `json:"type"`
	Namespaces []string `json:"namespaces,omitempty"`
}

// Policy returns the associated policy with the given ARN.
func (e *Entry) Policy(policyARN string) (AssociatedPolicy, bool) {
	for _, p := range e.Policies {
		if p.PolicyARN == policyARN {
			return p, true
		}
	}
	return AssociatedPolicy{}, false
}
