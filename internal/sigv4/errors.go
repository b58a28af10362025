package sigv4

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// AWS error codes carried by *Error. They are the values that AWS JSON
// services put in the x-amzn-ErrorType header.
const (
	// CodeMissingAuthenticationToken: neither an Authorization header nor a
	// presigned query string.
	CodeMissingAuthenticationToken = "MissingAuthenticationTokenException"
	// CodeIncompleteSignature: the Authorization header or the presigned
	// query string is malformed.
	CodeIncompleteSignature = "IncompleteSignatureException"
	// CodeInvalidSignature: the signature does not match, is outside the
	// allowed time window, or is scoped wrongly.
	CodeInvalidSignature = "InvalidSignatureException"
	// CodeUnrecognizedClient: unknown access key, or a session token that
	// does not belong to it.
	CodeUnrecognizedClient = "UnrecognizedClientException"
	// CodeExpiredToken: the temporary credential has expired.
	CodeExpiredToken = "ExpiredTokenException"
)

// Message texts, verbatim from AWS.
const (
	msgMissingAuthToken  = "Missing Authentication Token"
	msgSignatureMismatch = "The request signature we calculated does not match the signature you provided. " +
		"Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
	msgInvalidToken     = "The security token included in the request is invalid."
	msgExpiredToken     = "The security token included in the request is expired"
	msgHostNotSigned    = "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
	msgReqCredential    = "Authorization header requires 'Credential' parameter."
	msgReqSignature     = "Authorization header requires 'Signature' parameter."
	msgReqSignedHeaders = "Authorization header requires 'SignedHeaders' parameter."
	msgReqDate          = "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
	msgQueryCredential  = "AWS query-string parameters must include 'X-Amz-Credential'."
	msgQuerySignature   = "AWS query-string parameters must include 'X-Amz-Signature'."
	msgQuerySigned      = "AWS query-string parameters must include 'X-Amz-SignedHeaders'."
	msgQueryDate        = "AWS query-string parameters must include 'X-Amz-Date'."
	msgQueryReexamine   = "Re-examine the query-string parameters."
)

// ErrUnknownKey is returned, possibly wrapped, by a Lookup that holds no
// credential for an access key id.
var ErrUnknownKey = errors.New("sigv4: unknown access key")

// Error is a request that failed verification. Code and Message are what
// AWS returns for the same failure (the x-amzn-ErrorType header and the
// "message" field of the JSON body); Status is the HTTP status code.
type Error struct {
	Code    string
	Message string
	Status  int
}

func (e *Error) Error() string { return "sigv4: " + e.Code + ": " + e.Message }

// Every failure is a 403: AWS REST-JSON services such as EKS answer
// authentication failures, malformed signatures included, with 403.
func newError(code, msg string) *Error {
	return &Error{Code: code, Message: msg, Status: http.StatusForbidden}
}

func errMismatch() *Error { return newError(CodeInvalidSignature, msgSignatureMismatch) }

// errExpired reports a signing time t that is before now-window.
func errExpired(t, now time.Time, window time.Duration) *Error {
	return newError(CodeInvalidSignature, fmt.Sprintf("Signature expired: %s is now earlier than %s (%s - %s.)",
		formatStamp(t), formatStamp(now.Add(-window)), formatStamp(now), formatWindow(window)))
}

// errNotYetCurrent reports a signing time t that is after now+window.
func errNotYetCurrent(t, now time.Time, window time.Duration) *Error {
	return newError(CodeInvalidSignature, fmt.Sprintf("Signature not yet current: %s is still later than %s (%s + %s.)",
		formatStamp(t), formatStamp(now.Add(window)), formatStamp(now), formatWindow(window)))
}

// formatWindow writes a duration the way AWS does in skew messages: "15 min".
func formatWindow(d time.Duration) string {
	if d%time.Minute == 0 {
		return strconv.FormatInt(int64(d/time.Minute), 10) + " min"
	}
	return strconv.FormatInt(int64(d/time.Second), 10) + " sec"
}

func formatStamp(t time.Time) string { return t.UTC().Format(timeFormat) }
