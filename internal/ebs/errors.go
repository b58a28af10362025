package ebs

import (
	"errors"
	"syscall"

	"github.com/berthproject/berth/internal/apierror"
)

// The EC2 error codes the service returns, as apierror kinds. The EC2 API
// writes them through as they are; the CSI driver maps them to gRPC codes.
const (
	InvalidParameterValue         apierror.Kind = "InvalidParameterValue"
	InvalidParameterCombination   apierror.Kind = "InvalidParameterCombination"
	InvalidParameterDependency    apierror.Kind = "InvalidParameterDependency"
	MissingParameter              apierror.Kind = "MissingParameter"
	VolumeNotFound                apierror.Kind = "InvalidVolume.NotFound"
	VolumeMalformed               apierror.Kind = "InvalidVolumeID.Malformed"
	SnapshotNotFound              apierror.Kind = "InvalidSnapshot.NotFound"
	SnapshotMalformed             apierror.Kind = "InvalidSnapshotID.Malformed"
	VolumeInUse                   apierror.Kind = "VolumeInUse"
	IncorrectState                apierror.Kind = "IncorrectState"
	ZoneMismatch                  apierror.Kind = "InvalidVolume.ZoneMismatch"
	ZoneNotFound                  apierror.Kind = "InvalidZone.NotFound"
	AttachmentLimitExceeded       apierror.Kind = "AttachmentLimitExceeded"
	AttachmentNotFound            apierror.Kind = "InvalidAttachment.NotFound"
	InstanceNotFound              apierror.Kind = "InvalidInstanceID.NotFound"
	IncorrectInstanceState        apierror.Kind = "IncorrectInstanceState"
	IncorrectModificationState    apierror.Kind = "IncorrectModificationState"
	ModificationSizeLimitExceeded apierror.Kind = "VolumeModificationSizeLimitExceeded"
	ModificationRateExceeded      apierror.Kind = "VolumeModificationRateExceeded"
	ModificationNotFound          apierror.Kind = "InvalidVolumeModification.NotFound"
	IdempotentParameterMismatch   apierror.Kind = "IdempotentParameterMismatch"
	InvalidKMSKey                 apierror.Kind = "InvalidKMSKey.NotFound"
	InsufficientVolumeCapacity    apierror.Kind = "InsufficientVolumeCapacity"
)

func errorf(kind apierror.Kind, format string, args ...any) error {
	return apierror.New(kind, format, args...)
}

func volumeNotFound(id string) error {
	return errorf(VolumeNotFound, "The volume '%s' does not exist.", id)
}

func snapshotNotFound(id string) error {
	return errorf(SnapshotNotFound, "The snapshot '%s' does not exist.", id)
}

func instanceNotFound(id string) error {
	return errorf(InstanceNotFound, "The instance ID '%s' does not exist", id)
}

// IsNotFound reports whether err says a volume, snapshot, instance or
// attachment does not exist.
func IsNotFound(err error) bool {
	e, ok := apierror.As(err)
	if !ok {
		return false
	}
	switch e.Kind {
	case VolumeNotFound, SnapshotNotFound, InstanceNotFound, AttachmentNotFound, ModificationNotFound:
		return true
	}
	return false
}

// tooLarge turns the host filesystem's refusal of a file size (EFBIG)
// into EC2's capacity error: ext4 holds files of up to 16 TiB less 4 KiB,
// less than the largest gp3 and io2 volumes.
func tooLarge(err error, sizeGiB int) error {
	if errors.Is(err, syscall.EFBIG) {
		return errorf(InsufficientVolumeCapacity,
			"There is not enough capacity to fulfill your EBS volume provision request: the filesystem of berth's data directory cannot hold a volume of %dGiB.", sizeGiB)
	}
	return err
}
