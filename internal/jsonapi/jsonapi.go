// Package jsonapi is what the front doors of berth's JSON-protocol APIs
// (restJson1: EFS; awsJson1.1: FSx) share before they route a request:
// its SigV4 signature verified and its credential scope checked, with
// every refusal a *sigv4.Error (status, x-amzn-ErrorType code, message)
// for the API to write in its own error envelope.
package jsonapi

import (
	"context"
	"net/http"

	"github.com/berthproject/berth/internal/sigv4"
)

// Verifier verifies the SigV4 signature of a request (*sigv4.Verifier).
type Verifier interface {
	Verify(ctx context.Context, r *http.Request, body []byte) (sigv4.Result, error)
}

// Authenticate verifies the signature of r over body and checks that its
// credential is scoped to service and region. A refusal is a
// *sigv4.Error: the verifier's own, or a 403 InvalidSignatureException
// for a credential scoped to another service or region, worded as AWS
// words them. Any other error is a failure of berth's.
func Authenticate(ctx context.Context, v Verifier, r *http.Request, body []byte, service, region string) (sigv4.Result, error) {
	res, err := v.Verify(ctx, r, body)
	if err != nil {
		return sigv4.Result{}, err
	}
	if res.Service != service {
		return res, &sigv4.Error{Status: http.StatusForbidden, Code: sigv4.CodeInvalidSignature,
			Message: "Credential should be scoped to correct service: '" + service + "'."}
	}
	if res.Region != region {
		return res, &sigv4.Error{Status: http.StatusForbidden, Code: sigv4.CodeInvalidSignature,
			Message: "Credential should be scoped to a valid region."}
	}
	return res, nil
}
