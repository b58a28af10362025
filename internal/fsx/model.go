package fsx

import (
	"time"

	"github.com/berthproject/berth/internal/apierror"
)

// Store kinds owned by this package.
const (
	// KindFileSystem records are keyed by file system id (fs-...).
	KindFileSystem = "fsxfilesystems"
	// kindToken indexes file systems by ClientRequestToken.
	kindToken = "fsxclienttokens"
)

// Lifecycle states (the FileSystemLifecycle enum).
const (
	LifecycleCreating  = "CREATING"
	LifecycleAvailable = "AVAILABLE"
	LifecycleUpdating  = "UPDATING"
	LifecycleDeleting  = "DELETING"
	LifecycleFailed    = "FAILED"
)

// Lustre deployment types.
const (
	Scratch1    = "SCRATCH_1"
	Scratch2    = "SCRATCH_2"
	Persistent1 = "PERSISTENT_1"
	Persistent2 = "PERSISTENT_2"
)

// Storage types.
const (
	SSD = "SSD"
	HDD = "HDD"
)

// FileSystemType is the only type berth offers.
const FileSystemType = "LUSTRE"

// The FSx error codes the service returns.
const (
	BadRequest                      apierror.Kind = "BadRequest"
	FileSystemNotFound              apierror.Kind = "FileSystemNotFound"
	IncompatibleParameterError      apierror.Kind = "IncompatibleParameterError"
	InvalidNetworkSettings          apierror.Kind = "InvalidNetworkSettings"
	InvalidPerUnitStorageThroughput apierror.Kind = "InvalidPerUnitStorageThroughput"
	ServiceLimitExceeded            apierror.Kind = "ServiceLimitExceeded"
	ResourceNotFound                apierror.Kind = "ResourceNotFound"
	NotServiceResourceError         apierror.Kind = "NotServiceResourceError"
	UnsupportedOperation            apierror.Kind = "UnsupportedOperation"
	MissingFileSystemConfiguration  apierror.Kind = "MissingFileSystemConfiguration"
	InternalServerError             apierror.Kind = "InternalServerError"
)

// Tag is one FSx tag.
type Tag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

// MetadataConfiguration is the Lustre metadata performance of a
// PERSISTENT_2 file system.
type MetadataConfiguration struct {
	Mode string `json:"Mode"`
	Iops int    `json:"Iops,omitempty"`
}

// LustreConfiguration is the Lustre part of a file system.
type LustreConfiguration struct {
	DeploymentType                string                 `json:"deploymentType"`
	PerUnitStorageThroughput      int                    `json:"perUnitStorageThroughput,omitempty"`
	MountName                     string                 `json:"mountName"`
	WeeklyMaintenanceStartTime    string                 `json:"weeklyMaintenanceStartTime"`
	DailyAutomaticBackupStartTime string                 `json:"dailyAutomaticBackupStartTime,omitempty"`
	AutomaticBackupRetentionDays  int                    `json:"automaticBackupRetentionDays"`
	CopyTagsToBackups             bool                   `json:"copyTagsToBackups"`
	DriveCacheType                string                 `json:"driveCacheType,omitempty"`
	DataCompressionType           string                 `json:"dataCompressionType"`
	EfaEnabled                    bool                   `json:"efaEnabled,omitempty"`
	MetadataConfiguration         *MetadataConfiguration `json:"metadataConfiguration,omitempty"`
}

// AdministrativeAction is one change FSx made to a file system after its
// creation.
type AdministrativeAction struct {
	Type            string    `json:"type"`
	Status          string    `json:"status"`
	RequestTime     time.Time `json:"requestTime"`
	StorageCapacity int       `json:"storageCapacity,omitempty"`
}

// FileSystem is the stored record of one Lustre file system.
type FileSystem struct {
	ID                  string    `json:"id"`
	ARN                 string    `json:"arn"`
	OwnerID             string    `json:"ownerId"`
	CreatedAt           time.Time `json:"createdAt"`
	Lifecycle           string    `json:"lifecycle"`
	StorageCapacity     int       `json:"storageCapacity"`
	StorageType         string    `json:"storageType"`
	VpcID               string    `json:"vpcId"`
	SubnetIDs           []string  `json:"subnetIds"`
	SecurityGroupIDs    []string  `json:"securityGroupIds,omitempty"`
	NetworkInterfaceIDs []string  `json:"networkInterfaceIds"`
	DNSName             string    `json:"dnsName"`
	KmsKeyID            string    `json:"kmsKeyId,omitempty"`
	// FileSystemTypeVersion is the Lustre version: 2.10, 2.12 or 2.15.
	FileSystemTypeVersion string                 `json:"fileSystemTypeVersion"`
	Lustre                LustreConfiguration    `json:"lustre"`
	Tags                  []Tag                  `json:"tags,omitempty"`
	ClientRequestToken    string                 `json:"clientRequestToken,omitempty"`
	AdministrativeActions []AdministrativeAction `json:"administrativeActions,omitempty"`
	// Request is the create request as validated, for ClientRequestToken
	// idempotency.
	Request *CreateFileSystemInput `json:"request,omitempty"`
}
