package ebs

import (
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/berthproject/berth/internal/apierror"
	ebsvc "github.com/berthproject/berth/internal/ebs"
)

// codeOf is the gRPC code of an error of the EBS service: bad parameters
// are InvalidArgument, missing things NotFound, limits ResourceExhausted,
// states FailedPrecondition; anything else is Internal.
func codeOf(err error) codes.Code {
	e, ok := apierror.As(err)
	if !ok {
		return codes.Internal
	}
	switch e.Kind {
	case ebsvc.InvalidParameterValue, ebsvc.InvalidParameterCombination, ebsvc.InvalidParameterDependency,
		ebsvc.MissingParameter, ebsvc.VolumeMalformed, ebsvc.SnapshotMalformed, ebsvc.InvalidKMSKey, ebsvc.ZoneNotFound, "TagLimitExceeded":
		return codes.InvalidArgument
	case ebsvc.VolumeNotFound, ebsvc.SnapshotNotFound, ebsvc.InstanceNotFound, ebsvc.AttachmentNotFound:
		return codes.NotFound
	case ebsvc.AttachmentLimitExceeded, ebsvc.InsufficientVolumeCapacity, ebsvc.ModificationSizeLimitExceeded, ebsvc.ModificationRateExceeded:
		return codes.ResourceExhausted
	case ebsvc.VolumeInUse, ebsvc.IncorrectState, ebsvc.IncorrectInstanceState, ebsvc.ZoneMismatch, ebsvc.IncorrectModificationState:
		return codes.FailedPrecondition
	case ebsvc.IdempotentParameterMismatch:
		return codes.AlreadyExists
	}
	return codes.Internal
}

// statusf wraps an error of the EBS service in a gRPC status with the
// code codeOf gives it.
func statusf(err error, format string, args ...any) error {
	return status.Errorf(codeOf(err), format+": %v", append(args, err)...)
}
