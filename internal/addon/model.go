package addon

import (
	"time"

	"github.com/berthproject/berth/internal/cluster"
)

// Add-on statuses (the AddonStatus enum).
const (
	StatusCreating     = "CREATING"
	StatusActive       = "ACTIVE"
	StatusCreateFailed = "CREATE_FAILED"
	StatusUpdating     = "UPDATING"
	StatusDeleting     = "DELETING"
	StatusDeleteFailed = "DELETE_FAILED"
	StatusDegraded     = "DEGRADED"
	StatusUpdateFailed = "UPDATE_FAILED"
)

// Health issue codes (the AddonIssueCode enum).
const (
	IssueAccessDenied                 = "AccessDenied"
	IssueInternalFailure              = "InternalFailure"
	IssueClusterUnreachable           = "ClusterUnreachable"
	IssueInsufficientNumberOfReplicas = "InsufficientNumberOfReplicas"
	IssueConfigurationConflict        = "ConfigurationConflict"
	IssueAdmissionRequestDenied       = "AdmissionRequestDenied"
	IssueUnsupportedAddonModification = "UnsupportedAddonModification"
	IssueK8sResourceNotFound          = "K8sResourceNotFound"
)

// Values of resolveConflicts (the ResolveConflicts enum).
const (
	ResolveOverwrite = "OVERWRITE"
	ResolveNone      = "NONE"
	ResolvePreserve  = "PRESERVE"
)

// UpdateTypeAddon is the type of every add-on update (UpdateType
// AddonUpdate).
const UpdateTypeAddon = "AddonUpdate"

// UpdateCancelled is the status of an update that the add-on's deletion
// ended (UpdateStatus Cancelled).
const UpdateCancelled = "Cancelled"

// Parameter types of add-on updates (the UpdateParamType enum).
const (
	ParamAddonVersion          = "AddonVersion"
	ParamServiceAccountRoleArn = "ServiceAccountRoleArn"
	ParamResolveConflicts      = "ResolveConflicts"
	ParamConfigurationValues   = "ConfigurationValues"
)

// Store kinds owned by this package. Add-on keys are "CLUSTER/ADDON",
// update keys "CLUSTER/ADDON/ID". Add-on updates have a kind of their
// own: the cluster service reads every record of cluster.KindUpdate
// without a node group as an update of the cluster itself.
const (
	KindAddon  = "addons"
	KindUpdate = "addonupdates"
)

// Key is the store key of an add-on.
func Key(clusterName, name string) string { return clusterName + "/" + name }

func updateKey(clusterName, name, id string) string { return clusterName + "/" + name + "/" + id }

// Addon is the stored record of one add-on of a cluster.
type Addon struct {
	Name    string `json:"name"`
	Cluster string `json:"cluster"`
	ARN     string `json:"arn"`
	ID      string `json:"id"` // the uuid in the ARN
	Status  string `json:"status"`
	Version string `json:"version"`
	// Runs is the catalog's flag when the add-on was created: berth
	// installs it into the cluster, and the controller moves its status.
	Runs                  bool              `json:"runs"`
	CreatedAt             time.Time         `json:"createdAt"`
	ModifiedAt            time.Time         `json:"modifiedAt"`
	ServiceAccountRoleARN string            `json:"serviceAccountRoleArn,omitempty"`
	ConfigurationValues   string            `json:"configurationValues,omitempty"`
	ResolveConflicts      string            `json:"resolveConflicts,omitempty"`
	Tags                  map[string]string `json:"tags,omitempty"`
	ClientRequestToken    string            `json:"clientRequestToken,omitempty"`
	// Preserve is DeleteAddon's preserve flag: the controller stops
	// managing the add-on but leaves what it installed in the cluster.
	Preserve bool `json:"preserve,omitempty"`
	// Health lists the issues the controller found (AddonHealth).
	Health []Issue `json:"health,omitempty"`
}

// Issue is one AddonIssue.
type Issue struct {
	Code        string   `json:"code"`
	Message     string   `json:"message"`
	ResourceIDs []string `json:"resourceIds,omitempty"`
}

// Update is an add-on update: the cluster package's update record, with
// Cluster set and Nodegroup empty, stored under KindUpdate.
type Update = cluster.Update
