package queryapi

import (
	"fmt"
	"net/http"
	"unicode"
	"unicode/utf8"
)

// Protocol is one of the two query protocols of AWS.
type Protocol int

const (
	// Query is awsQuery, as IAM, STS and Auto Scaling speak it.
	Query Protocol = iota
	// EC2 is ec2Query, EC2's own flavour.
	EC2
)

// Dialect is how one service speaks the query protocol.
type Dialect struct {
	Protocol Protocol
	// Version is the API version every request must name.
	Version string
	// Namespace is the XML namespace of the answers and, in the Query
	// protocol, of the errors.
	Namespace string
	// InternalCode is the code of an internal failure in the Query
	// protocol (default InternalFailure; IAM says ServiceFailure). EC2
	// always says InternalError.
	InternalCode string
	// MemberNames makes the messages about a malformed value name the
	// parameter as its model member does, first letter lowered (maxRecords
	// for MaxRecords), as Auto Scaling does.
	MemberNames bool
}

// Error is an error in wire terms: the HTTP status, and the code and
// message the client sees.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf returns a client error (400) with a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Internal returns the dialect's error for a failure of berth itself.
func (d Dialect) Internal() *Error {
	if d.Protocol == EC2 {
		return &Error{Status: http.StatusInternalServerError, Code: "InternalError", Message: "An internal error has occurred."}
	}
	code := d.InternalCode
	if code == "" {
		code = "InternalFailure"
	}
	return &Error{Status: http.StatusInternalServerError, Code: code,
		Message: "The request processing has failed because of an unknown error, exception or failure."}
}

// MemberName is a parameter as AWS names it in validation messages: the
// model member with its first letter lowered (MinSize: minSize).
func MemberName(name string) string {
	if name == "" {
		return ""
	}
	r, n := utf8.DecodeRuneInString(name)
	return string(unicode.ToLower(r)) + name[n:]
}

// paramName is a parameter as the dialect's messages name it.
func (d Dialect) paramName(name string) string {
	if d.MemberNames {
		return MemberName(name)
	}
	return name
}

// invalidValue refuses a value that is not of the kind ("integer",
// "boolean") its parameter takes.
func (d Dialect) invalidValue(name, value, kind string) *Error {
	if d.Protocol == EC2 {
		expected := "'true' or 'false'"
		if kind != "boolean" {
			expected = "an " + kind
		}
		return Errorf("InvalidParameterValue", "Value (%s) for parameter %s is invalid. Expected: %s.", value, name, expected)
	}
	return Errorf("ValidationError", "Value '%s' for parameter %s is not a valid %s.", value, d.paramName(name), kind)
}

// unrecognized refuses a parameter name the request may not carry, such
// as a list member without a positive index.
func (d Dialect) unrecognized(name string) *Error {
	code := "ValidationError"
	if d.Protocol == EC2 {
		code = "InvalidParameterValue"
	}
	return Errorf(code, "The parameter %s is not recognized.", name)
}
