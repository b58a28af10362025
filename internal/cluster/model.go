package cluster

import (
	"strings"
	"time"
)

// Cluster statuses (the ClusterStatus enum).
const (
	StatusCreating = "CREATING"
	StatusActive   = "ACTIVE"
	StatusDeleting = "DELETING"
	StatusFailed   = "FAILED"
	StatusUpdating = "UPDATING"
)

// Update statuses and types.
const (
	UpdateInProgress = "InProgress"
	UpdateFailed     = "Failed"
	UpdateSuccessful = "Successful"

	UpdateTypeVersion = "VersionUpdate"
	// The update types of UpdateClusterConfig berth implements.
	UpdateTypeAccessConfig       = "AccessConfigUpdate"
	UpdateTypeLogging            = "LoggingUpdate"
	UpdateTypeEndpointAccess     = "EndpointAccessUpdate"
	UpdateTypeUpgradePolicy      = "UpgradePolicyUpdate"
	UpdateTypeZonalShift         = "ZonalShiftConfigUpdate"
	UpdateTypeDeletionProtection = "DeletionProtectionUpdate"
)

// Store kinds owned by this package.
const (
	KindCluster = "clusters"
	KindUpdate  = "updates"
)

// Cluster is the stored record of one cluster: what the user asked for,
// what berth assigned, and the status the controller reports.
type Cluster struct {
	Name               string            `json:"name"`
	ARN                string            `json:"arn"`
	CreatedAt          time.Time         `json:"createdAt"`
	Version            string            `json:"version"`
	PlatformVersion    string            `json:"platformVersion"`
	RoleARN            string            `json:"roleArn"`
	Status             string            `json:"status"`
	ClientRequestToken string            `json:"clientRequestToken,omitempty"`
	Tags               map[string]string `json:"tags,omitempty"`

	VPC                VPCConfig     `json:"vpc"`
	Network            NetworkConfig `json:"network"`
	Logging            []LogSetup    `json:"logging"`
	Access             AccessConfig  `json:"access"`
	SupportType        string        `json:"supportType"`
	DeletionProtection bool          `json:"deletionProtection"`
	ZonalShift         bool          `json:"zonalShift"`
	Encryption         []Encryption  `json:"encryption,omitempty"`

	// Creator is the ARN of the principal that called CreateCluster. A
	// CONFIG_MAP cluster that moves to API_AND_CONFIG_MAP gives it the
	// access entry it would have had with access entries from the start.
	Creator string `json:"creator,omitempty"`

	// OIDCIssuerID is the id in the cluster's OIDC issuer URL.
	OIDCIssuerID string `json:"oidcIssuerId"`

	// Runtime is what berth assigned to run the control plane; the
	// controller fills it in.
	Runtime Runtime `json:"runtime"`

	// Health lists the issues the controller found (ClusterHealth).
	Health []Issue `json:"health,omitempty"`
}

// VPCConfig is resourcesVpcConfig.
type VPCConfig struct {
	SubnetIDs              []string `json:"subnetIds"`
	SecurityGroupIDs       []string `json:"securityGroupIds"`
	ClusterSecurityGroupID string   `json:"clusterSecurityGroupId"`
	VpcID                  string   `json:"vpcId"`
	EndpointPublicAccess   bool     `json:"endpointPublicAccess"`
	EndpointPrivateAccess  bool     `json:"endpointPrivateAccess"`
	PublicAccessCIDRs      []string `json:"publicAccessCidrs"`
}

// NetworkConfig is kubernetesNetworkConfig.
type NetworkConfig struct {
	ServiceIPv4CIDR string `json:"serviceIpv4Cidr"`
	IPFamily        string `json:"ipFamily"`
	ELBEnabled      bool   `json:"elbEnabled"`
}

// LogSetup is one entry of logging.clusterLogging.
type LogSetup struct {
	Types   []string `json:"types"`
	Enabled bool     `json:"enabled"`
}

// AccessConfig is accessConfig.
type AccessConfig struct {
	BootstrapClusterCreatorAdminPermissions bool   `json:"bootstrapClusterCreatorAdminPermissions"`
	AuthenticationMode                      string `json:"authenticationMode"`
}

// Encryption is one encryptionConfig entry (kept as given).
type Encryption struct {
	Resources []string `json:"resources"`
	KeyARN    string   `json:"keyArn"`
}

// Runtime is the control-plane placement of a cluster.
type Runtime struct {
	APIServerPort  int    `json:"apiServerPort,omitempty"`
	EtcdClientPort int    `json:"etcdClientPort,omitempty"`
	EtcdPeerPort   int    `json:"etcdPeerPort,omitempty"`
	Endpoint       string `json:"endpoint,omitempty"`
	// CAData is the base64 PEM of the cluster CA (certificateAuthority.data).
	CAData string `json:"caData,omitempty"`
	// RunningVersion is the minor the control plane currently serves.
	RunningVersion string `json:"runningVersion,omitempty"`
}

// Issue is one ClusterIssue.
type Issue struct {
	Code        string   `json:"code"`
	Message     string   `json:"message"`
	ResourceIDs []string `json:"resourceIds,omitempty"`
}

// Update is the stored record of one update.
type Update struct {
	ID      string `json:"id"`
	Cluster string `json:"cluster"`
	// Nodegroup names the node group a node group update belongs to.
	Nodegroup          string        `json:"nodegroup,omitempty"`
	Status             string        `json:"status"`
	Type               string        `json:"type"`
	Params             []UpdateParam `json:"params"`
	CreatedAt          time.Time     `json:"createdAt"`
	Errors             []ErrorDetail `json:"errors,omitempty"`
	ClientRequestToken string        `json:"clientRequestToken,omitempty"`
}

// UpdateParam is one update parameter.
type UpdateParam struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// ErrorDetail is one error of a failed update.
type ErrorDetail struct {
	Code        string   `json:"errorCode"`
	Message     string   `json:"errorMessage"`
	ResourceIDs []string `json:"resourceIds,omitempty"`
}

// OIDCIssuer is the cluster's OIDC issuer URL (identity.oidc.issuer), which
// is also the issuer of its service-account tokens.
func (c *Cluster) OIDCIssuer() string {
	region := ""
	if parts := strings.SplitN(c.ARN, ":", 5); len(parts) == 5 {
		region = parts[3]
	}
	return IssuerURL(region, c.OIDCIssuerID)
}

// IssuerURL is the OIDC issuer URL of the cluster with the issuer id id.
func IssuerURL(region, id string) string {
	return "https://oidc.eks." + region + ".amazonaws.com/id/" + id
}

// NewIssuerID returns a fresh OIDC issuer id, 32 upper-case hex digits as
// in EKS.
func NewIssuerID() string { return strings.ToUpper(randomHex(16)) }

// Param returns the value of the update parameter of the given type.
func (u *Update) Param(typ string) string {
	for _, p := range u.Params {
		if p.Type == typ {
			return p.Value
		}
	}
	return ""
}

func updateKey(cluster, id string) string { return cluster + "/" + id }
