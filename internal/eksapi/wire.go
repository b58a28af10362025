package eksapi

import (
	"strconv"
	"time"
)

// epoch is a timestamp in restJson1's default format: epoch seconds as a
// JSON number with millisecond precision.
type epoch time.Time

func (e epoch) MarshalJSON() ([]byte, error) {
	t := time.Time(e)
	return strconv.AppendFloat(nil, float64(t.UnixMilli())/1000, 'f', -1, 64), nil
}

func ep(t time.Time) *epoch {
	e := epoch(t)
	return &e
}

// Requests.

type createClusterRequest struct {
	Name                    *string                   `json:"name"`
	Version                 *string                   `json:"version"`
	RoleArn                 *string                   `json:"roleArn"`
	ResourcesVpcConfig      *vpcConfigRequest         `json:"resourcesVpcConfig"`
	KubernetesNetworkConfig *kubernetesNetworkRequest `json:"kubernetesNetworkConfig"`
	Logging                 *logging                  `json:"logging"`
	ClientRequestToken      *string                   `json:"clientRequestToken"`
	Tags                    map[string]string         `json:"tags"`
	EncryptionConfig        []encryptionConfig        `json:"encryptionConfig"`
	AccessConfig            *accessConfig             `json:"accessConfig"`
	BootstrapSelfManaged    *bool                     `json:"bootstrapSelfManagedAddons"`
	UpgradePolicy           *upgradePolicy            `json:"upgradePolicy"`
	ZonalShiftConfig        *zonalShift               `json:"zonalShiftConfig"`
	DeletionProtection      *bool                     `json:"deletionProtection"`

	OutpostConfig             any `json:"outpostConfig"`
	RemoteNetworkConfig       any `json:"remoteNetworkConfig"`
	ComputeConfig             any `json:"computeConfig"`
	StorageConfig             any `json:"storageConfig"`
	ControlPlaneScalingConfig any `json:"controlPlaneScalingConfig"`
}

type vpcConfigRequest struct {
	SubnetIDs             []string `json:"subnetIds"`
	SecurityGroupIDs      []string `json:"securityGroupIds"`
	EndpointPublicAccess  *bool    `json:"endpointPublicAccess"`
	EndpointPrivateAccess *bool    `json:"endpointPrivateAccess"`
	PublicAccessCidrs     []string `json:"publicAccessCidrs"`
}

type kubernetesNetworkRequest struct {
	ServiceIPv4Cidr      *string               `json:"serviceIpv4Cidr"`
	IPFamily             *string               `json:"ipFamily"`
	ElasticLoadBalancing *elasticLoadBalancing `json:"elasticLoadBalancing"`
}

type elasticLoadBalancing struct {
	Enabled *bool `json:"enabled"`
}

type logging struct {
	ClusterLogging []logSetup `json:"clusterLogging"`
}

type logSetup struct {
	Types   []string `json:"types"`
	Enabled *bool    `json:"enabled,omitempty"`
}

type encryptionConfig struct {
	Resources []string  `json:"resources"`
	Provider  *provider `json:"provider"`
}

type provider struct {
	KeyArn string `json:"keyArn"`
}

type accessConfig struct {
	BootstrapClusterCreatorAdminPermissions *bool  `json:"bootstrapClusterCreatorAdminPermissions,omitempty"`
	AuthenticationMode                      string `json:"authenticationMode,omitempty"`
}

type upgradePolicy struct {
	SupportType string `json:"supportType,omitempty"`
}

type zonalShift struct {
	Enabled *bool `json:"enabled,omitempty"`
}

type updateClusterVersionRequest struct {
	Version            *string `json:"version"`
	ClientRequestToken *string `json:"clientRequestToken"`
	Force              *bool   `json:"force"`
}

type tagResourceRequest struct {
	Tags map[string]string `json:"tags"`
}

// Responses.

type clusterWire struct {
	Name                    string                    `json:"name"`
	Arn                     string                    `json:"arn"`
	CreatedAt               *epoch                    `json:"createdAt"`
	Version                 string                    `json:"version"`
	Endpoint                string                    `json:"endpoint,omitempty"`
	RoleArn                 string                    `json:"roleArn"`
	ResourcesVpcConfig      vpcConfigResponse         `json:"resourcesVpcConfig"`
	KubernetesNetworkConfig kubernetesNetworkResponse `json:"kubernetesNetworkConfig"`
	Logging                 logging                   `json:"logging"`
	Identity                *identity                 `json:"identity,omitempty"`
	Status                  string                    `json:"status"`
	CertificateAuthority    certificate               `json:"certificateAuthority"`
	ClientRequestToken      string                    `json:"clientRequestToken,omitempty"`
	PlatformVersion         string                    `json:"platformVersion"`
	Tags                    map[string]string         `json:"tags"`
	EncryptionConfig        []encryptionConfig        `json:"encryptionConfig,omitempty"`
	Health                  health                    `json:"health"`
	AccessConfig            accessConfig              `json:"accessConfig"`
	UpgradePolicy           upgradePolicy             `json:"upgradePolicy"`
	ZonalShiftConfig        *zonalShift               `json:"zonalShiftConfig,omitempty"`
	DeletionProtection      *bool                     `json:"deletionProtection,omitempty"`
}

type vpcConfigResponse struct {
	SubnetIDs              []string `json:"subnetIds"`
	SecurityGroupIDs       []string `json:"securityGroupIds"`
	ClusterSecurityGroupID string   `json:"clusterSecurityGroupId,omitempty"`
	VpcID                  string   `json:"vpcId"`
	EndpointPublicAccess   bool     `json:"endpointPublicAccess"`
	EndpointPrivateAccess  bool     `json:"endpointPrivateAccess"`
	PublicAccessCidrs      []string `json:"publicAccessCidrs"`
}

type kubernetesNetworkResponse struct {
	ServiceIPv4Cidr      string                `json:"serviceIpv4Cidr,omitempty"`
	IPFamily             string                `json:"ipFamily"`
	ElasticLoadBalancing *elasticLoadBalancing `json:"elasticLoadBalancing,omitempty"`
}

type identity struct {
	OIDC oidc `json:"oidc"`
}

type oidc struct {
	Issuer string `json:"issuer"`
}

type certificate struct {
	Data string `json:"data,omitempty"`
}

type health struct {
	Issues []clusterIssue `json:"issues"`
}

type clusterIssue struct {
	Code        string   `json:"code"`
	Message     string   `json:"message"`
	ResourceIDs []string `json:"resourceIds,omitempty"`
}

type updateWire struct {
	ID        string        `json:"id"`
	Status    string        `json:"status"`
	Type      string        `json:"type"`
	Params    []updateParam `json:"params"`
	CreatedAt *epoch        `json:"createdAt"`
	Errors    []errorDetail `json:"errors"`
}

type updateParam struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

type errorDetail struct {
	ErrorCode    string   `json:"errorCode"`
	ErrorMessage string   `json:"errorMessage"`
	ResourceIDs  []string `json:"resourceIds,omitempty"`
}

type clusterVersionWire struct {
	ClusterVersion           string `json:"clusterVersion"`
	ClusterType              string `json:"clusterType"`
	DefaultPlatformVersion   string `json:"defaultPlatformVersion"`
	DefaultVersion           bool   `json:"defaultVersion"`
	ReleaseDate              *epoch `json:"releaseDate"`
	EndOfStandardSupportDate *epoch `json:"endOfStandardSupportDate"`
	EndOfExtendedSupportDate *epoch `json:"endOfExtendedSupportDate"`
	Status                   string `json:"status"`
	VersionStatus            string `json:"versionStatus"`
	KubernetesPatchVersion   string `json:"kubernetesPatchVersion"`
}
