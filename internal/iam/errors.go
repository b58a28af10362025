package iam

import (
	"fmt"
	"strconv"
	"strings"
)

// Error codes of IAM and STS, as the query protocol writes them in
// <Code>. internal/iamapi gives each its HTTP status.
const (
	CodeNoSuchEntity        = "NoSuchEntity"
	CodeEntityAlreadyExists = "EntityAlreadyExists"
	CodeValidation          = "ValidationError"
	CodeMalformedPolicy     = "MalformedPolicyDocument"
	CodeLimitExceeded       = "LimitExceeded"
	CodeDeleteConflict      = "DeleteConflict"
	CodeAccessDenied        = "AccessDenied"
	CodeInvalidInput        = "InvalidInput"
)

// Error is an IAM or STS error for the caller: the code and the message
// AWS returns for the same request.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return "iam: " + e.Code + ": " + e.Message }

func errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

func noSuchUser(name string) *Error {
	return errorf(CodeNoSuchEntity, "The user with name %s cannot be found.", name)
}

func noSuchRole(name string) *Error {
	return errorf(CodeNoSuchEntity, "The role with name %s cannot be found.", name)
}

func noSuchAccessKey(id string) *Error {
	return errorf(CodeNoSuchEntity, "The Access Key with id %s cannot be found.", id)
}

func malformedPolicy(msg string) *Error { return &Error{Code: CodeMalformedPolicy, Message: msg} }

// errNotUserCredentials is IAM's answer when an operation that defaults
// to the calling user is called by a role session without a user name.
var errNotUserCredentials = &Error{Code: CodeValidation, Message: "Must specify userName when calling with non-User credentials"}

// violations collects the constraint failures of a request, worded as the
// AWS front end words them, and reports them together:
//
//	2 validation errors detected: Value 'a b' at 'userName' failed to
//	satisfy constraint: Member must satisfy regular expression pattern:
//	[\w+=,.@-]+; Value null at 'roleName' failed to satisfy constraint:
//	Member must not be null
type violations []string

func (v *violations) add(value, field, constraint string) {
	*v = append(*v, "Value '"+value+"' at '"+field+"' failed to satisfy constraint: "+constraint)
}

func (v *violations) null(field string) {
	*v = append(*v, "Value null at '"+field+"' failed to satisfy constraint: Member must not be null")
}

// text checks a string member: its pattern (a regular expression in
// AWS's notation, matched by match) and length bounds in characters.
func (v *violations) text(value, field string, minLen, maxLen int, pattern string, match func(string) bool) {
	if match != nil && !match(value) {
		v.add(value, field, "Member must satisfy regular expression pattern: "+pattern)
	}
	n := len([]rune(value))
	if n < minLen {
		v.add(value, field, "Member must have length greater than or equal to "+strconv.Itoa(minLen))
	}
	if maxLen > 0 && n > maxLen {
		v.add(value, field, "Member must have length less than or equal to "+strconv.Itoa(maxLen))
	}
}

// number checks an integer member's bounds.
func (v *violations) number(value int, field string, minV, maxV int) {
	s := strconv.Itoa(value)
	if value < minV {
		v.add(s, field, "Member must have value greater than or equal to "+strconv.Itoa(minV))
	}
	if value > maxV {
		v.add(s, field, "Member must have value less than or equal to "+strconv.Itoa(maxV))
	}
}

func (v violations) err() error {
	switch len(v) {
	case 0:
		return nil
	case 1:
		return &Error{Code: CodeValidation, Message: "1 validation error detected: " + v[0]}
	}
	return &Error{Code: CodeValidation, Message: strconv.Itoa(len(v)) + " validation errors detected: " + strings.Join(v, "; ")}
}
