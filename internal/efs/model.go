package efs

import "time"

// Store kinds owned by this package.
const (
	// KindFileSystem records are keyed by file system id (fs-...).
	KindFileSystem = "efsfilesystems"
	// KindAccessPoint records are keyed by access point id (fsap-...).
	KindAccessPoint = "efsaccesspoints"
	// KindMountTarget records are keyed by mount target id (fsmt-...).
	KindMountTarget = "efsmounttargets"
	// kindCreationToken indexes file systems by CreationToken; the value
	// is the file system id.
	kindCreationToken = "efscreationtokens"
	// kindClientToken indexes access points by ClientToken.
	kindClientToken = "efsaccesspointtokens"
)

// Life cycle states (the LifeCycleState enum).
const (
	StateCreating  = "creating"
	StateAvailable = "available"
	StateUpdating  = "updating"
	StateDeleting  = "deleting"
	StateDeleted   = "deleted"
	StateError     = "error"
)

// Performance modes.
const (
	GeneralPurpose = "generalPurpose"
	MaxIO          = "maxIO"
)

// Throughput modes.
const (
	Bursting    = "bursting"
	Provisioned = "provisioned"
	Elastic     = "elastic"
)

// Tag is one EFS tag. EFS keeps tags as a list, in the order given.
type Tag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

// FileSystem is the stored record of one file system. The fields tagged
// json:"-" are not stored: the service fills them on every read.
type FileSystem struct {
	ID            string    `json:"id"`
	ARN           string    `json:"arn"`
	OwnerID       string    `json:"ownerId"`
	CreationToken string    `json:"creationToken"`
	CreatedAt     time.Time `json:"createdAt"`
	// State is StateCreating or StateDeleting as stored; reads report
	// StateAvailable once the create delay has passed.
	State                      string  `json:"state"`
	PerformanceMode            string  `json:"performanceMode"`
	ThroughputMode             string  `json:"throughputMode"`
	ProvisionedThroughputMiBps float64 `json:"provisionedThroughputInMibps,omitempty"`
	Encrypted                  bool    `json:"encrypted"`
	KmsKeyID                   string  `json:"kmsKeyId,omitempty"`
	// AvailabilityZoneName and AvailabilityZoneID are set for One Zone
	// file systems.
	AvailabilityZoneName string `json:"availabilityZoneName,omitempty"`
	AvailabilityZoneID   string `json:"availabilityZoneId,omitempty"`
	Backup               bool   `json:"backup,omitempty"`
	Tags                 []Tag  `json:"tags,omitempty"`

	// Name is the value of the Name tag.
	Name string `json:"-"`
	// NumberOfMountTargets counts the file system's mount targets.
	NumberOfMountTargets int `json:"-"`
	// Size is the metered size of the data.
	Size Size `json:"-"`
}

// Size is the FileSystemSize of a file system: the bytes its data takes,
// as of Timestamp. All of it is in the Standard storage class.
type Size struct {
	Value     int64
	Timestamp time.Time
}

// PosixUser is the identity an access point applies to every request.
type PosixUser struct {
	UID           int64   `json:"Uid"`
	GID           int64   `json:"Gid"`
	SecondaryGIDs []int64 `json:"SecondaryGids,omitempty"`
}

// CreationInfo is the owner and mode EFS gives an access point's root
// directory when it creates it.
type CreationInfo struct {
	OwnerUID    int64  `json:"OwnerUid"`
	OwnerGID    int64  `json:"OwnerGid"`
	Permissions string `json:"Permissions"`
}

// RootDirectory is the directory an access point exposes as its root.
type RootDirectory struct {
	Path         string        `json:"Path"`
	CreationInfo *CreationInfo `json:"CreationInfo,omitempty"`
}

// AccessPoint is the stored record of one access point.
type AccessPoint struct {
	ID            string        `json:"id"`
	ARN           string        `json:"arn"`
	FileSystemID  string        `json:"fileSystemId"`
	OwnerID       string        `json:"ownerId"`
	ClientToken   string        `json:"clientToken"`
	CreatedAt     time.Time     `json:"createdAt"`
	State         string        `json:"state"`
	PosixUser     *PosixUser    `json:"posixUser,omitempty"`
	RootDirectory RootDirectory `json:"rootDirectory"`
	Tags          []Tag         `json:"tags,omitempty"`

	// Name is the value of the Name tag.
	Name string `json:"-"`
}

// MountTarget is the stored record of one mount target.
type MountTarget struct {
	ID                 string    `json:"id"`
	FileSystemID       string    `json:"fileSystemId"`
	OwnerID            string    `json:"ownerId"`
	CreatedAt          time.Time `json:"createdAt"`
	State              string    `json:"state"`
	SubnetID           string    `json:"subnetId"`
	VpcID              string    `json:"vpcId"`
	AvailabilityZone   string    `json:"availabilityZoneName"`
	AvailabilityZoneID string    `json:"availabilityZoneId"`
	IPAddress          string    `json:"ipAddress"`
	NetworkInterfaceID string    `json:"networkInterfaceId"`
	SecurityGroups     []string  `json:"securityGroups"`
}
