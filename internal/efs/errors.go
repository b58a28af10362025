package efs

import "github.com/berthproject/berth/internal/apierror"

// The EFS error codes the service returns, as the EFS model names its
// exception shapes. internal/efsapi gives each its HTTP status.
const (
	BadRequest                        apierror.Kind = "BadRequest"
	FileSystemNotFound                apierror.Kind = "FileSystemNotFound"
	FileSystemAlreadyExists           apierror.Kind = "FileSystemAlreadyExists"
	FileSystemInUse                   apierror.Kind = "FileSystemInUse"
	FileSystemLimitExceeded           apierror.Kind = "FileSystemLimitExceeded"
	IncorrectFileSystemLifeCycleState apierror.Kind = "IncorrectFileSystemLifeCycleState"
	AccessPointNotFound               apierror.Kind = "AccessPointNotFound"
	AccessPointAlreadyExists          apierror.Kind = "AccessPointAlreadyExists"
	AccessPointLimitExceeded          apierror.Kind = "AccessPointLimitExceeded"
	MountTargetNotFound               apierror.Kind = "MountTargetNotFound"
	MountTargetConflict               apierror.Kind = "MountTargetConflict"
	IncorrectMountTargetState         apierror.Kind = "IncorrectMountTargetState"
	SubnetNotFound                    apierror.Kind = "SubnetNotFound"
	SecurityGroupNotFound             apierror.Kind = "SecurityGroupNotFound"
	SecurityGroupLimitExceeded        apierror.Kind = "SecurityGroupLimitExceeded"
	IPAddressInUse                    apierror.Kind = "IpAddressInUse"
	NoFreeAddressesInSubnet           apierror.Kind = "NoFreeAddressesInSubnet"
	UnsupportedAvailabilityZone       apierror.Kind = "UnsupportedAvailabilityZone"
	AvailabilityZonesMismatch         apierror.Kind = "AvailabilityZonesMismatch"
	ThroughputLimitExceeded           apierror.Kind = "ThroughputLimitExceeded"
	ValidationException               apierror.Kind = "ValidationException"
	InternalServerError               apierror.Kind = "InternalServerError"
)

func badRequest(format string, args ...any) error {
	return apierror.New(BadRequest, format, args...)
}

func fileSystemNotFound(id string) error {
	return apierror.New(FileSystemNotFound, "File system '%s' does not exist.", id)
}

func accessPointNotFound(id string) error {
	return apierror.New(AccessPointNotFound, "Access point '%s' does not exist.", id)
}

func mountTargetNotFound(id string) error {
	return apierror.New(MountTargetNotFound, "Mount target '%s' does not exist.", id)
}

func wrongState(fs *FileSystem, state string) error {
	return apierror.New(IncorrectFileSystemLifeCycleState,
		"File system '%s' is in the '%s' state; it must be 'available'.", fs.ID, state)
}
