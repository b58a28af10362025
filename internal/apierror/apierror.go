// Package apierror defines the errors berth's services return to API
// callers: a kind drawn from the AWS error vocabulary and a message for the
// user. The API packages turn them into wire errors (status code, error type
// header, body); services never deal with HTTP.
package apierror

import (
	"errors"
	"fmt"
)

// Kind names an AWS error type. The names are the exception shapes of the
// AWS models, so the API layer can write them through unchanged.
type Kind string

// The kinds berth's services use.
const (
	InvalidParameter   Kind = "InvalidParameterException"
	InvalidRequest     Kind = "InvalidRequestException"
	ResourceNotFound   Kind = "ResourceNotFoundException"
	ResourceInUse      Kind = "ResourceInUseException"
	ResourceLimit      Kind = "ResourceLimitExceededException"
	UnsupportedAZ      Kind = "UnsupportedAvailabilityZoneException"
	BadRequest         Kind = "BadRequestException"
	NotFound           Kind = "NotFoundException"
	Client             Kind = "ClientException"
	Server             Kind = "ServerException"
	ServiceUnavailable Kind = "ServiceUnavailableException"
	AccessDenied       Kind = "AccessDeniedException"
	InvalidState       Kind = "InvalidStateException"
	// EC2 kinds.
	InsufficientAddresses Kind = "InsufficientFreeAddressesInSubnet"
)

// Error is a user-facing error.
type Error struct {
	Kind    Kind
	Message string
	// Fields carries the extra members some exception shapes have
	// (clusterName, nodegroupName, ...), keyed by their wire name.
	Fields map[string]string
}

func (e *Error) Error() string { return string(e.Kind) + ": " + e.Message }

// New returns an error of the given kind with a formatted message.
func New(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// With returns e with an extra wire field set.
func (e *Error) With(field, value string) *Error {
	if e.Fields == nil {
		e.Fields = map[string]string{}
	}
	e.Fields[field] = value
	return e
}

// As reports whether err is (or wraps) an *Error and returns it.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// IsKind reports whether err is an *Error of the given kind.
func IsKind(err error, kind Kind) bool {
	e, ok := As(err)
	return ok && e.Kind == kind
}
