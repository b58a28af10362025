package daemon

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/berthproject/berth/internal/ec2api"
	"github.com/berthproject/berth/internal/queryapi"
	"github.com/berthproject/berth/internal/sigv4"
)

// gateway sends each request to the API its signature is scoped to: one
// endpoint serves EKS and EFS (restJson1), FSx (awsJson1.1), EC2, IAM,
// STS and Auto Scaling (query protocol), as LocalStack and moto do. EKS, IAM, STS and Auto Scaling
// verify their own signatures; EC2 requests are verified here, with a
// verifier that accepts the ec2 scope only.
type gateway struct {
	eks     http.Handler
	ec2     http.Handler
	ec2Auth *sigv4.Verifier
	// iam serves the iam and sts scopes (internal/iamapi); it reads the
	// body itself, capped at the same maxBody.
	iam http.Handler
	// asg serves the autoscaling scope (internal/asgapi); it reads the
	// body itself, capped at the same maxBody.
	asg http.Handler
	// efs and fsx serve the elasticfilesystem and fsx scopes
	// (internal/efsapi, internal/fsxapi), which verify their own
	// signatures.
	efs, fsx http.Handler
	maxBody  int64
}

// signingService returns the service of a request's SigV4 credential
// scope (Credential=KEY/DATE/REGION/SERVICE/aws4_request), or "".
func signingService(r *http.Request) string {
	cred := r.URL.Query().Get("X-Amz-Credential")
	if auth := r.Header.Get("Authorization"); auth != "" {
		if i := strings.Index(auth, "Credential="); i >= 0 {
			cred = auth[i+len("Credential="):]
			if j := strings.IndexAny(cred, ", "); j >= 0 {
				cred = cred[:j]
			}
		}
	}
	parts := strings.Split(cred, "/")
	if len(parts) != 5 {
		return ""
	}
	return parts[3]
}

func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch signingService(r) {
	case "ec2":
		g.serveEC2(w, r)
	case "iam", "sts":
		if g.iam == nil {
			g.eks.ServeHTTP(w, r)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, g.maxBody)
		g.iam.ServeHTTP(w, r)
	case "autoscaling":
		if g.asg == nil {
			g.eks.ServeHTTP(w, r)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, g.maxBody)
		g.asg.ServeHTTP(w, r)
	case "elasticfilesystem":
		g.serveOwn(g.efs, w, r)
	case "fsx":
		g.serveOwn(g.fsx, w, r)
	default:
		g.eks.ServeHTTP(w, r)
	}
}

// serveOwn passes a request to an API that verifies its own signature,
// with the body capped; EKS answers for an API that is not wired.
func (g *gateway) serveOwn(h http.Handler, w http.ResponseWriter, r *http.Request) {
	if h == nil {
		g.eks.ServeHTTP(w, r)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, g.maxBody)
	h.ServeHTTP(w, r)
}

func (g *gateway) serveEC2(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, g.maxBody))
	if err != nil {
		writeEC2Error(w, http.StatusBadRequest, "InvalidRequest", "The request body could not be read or is too large.")
		return
	}
	if _, err := g.ec2Auth.Verify(r.Context(), r, body); err != nil {
		var se *sigv4.Error
		if !errors.As(err, &se) {
			writeEC2Error(w, http.StatusInternalServerError, "InternalError", "An internal error has occurred.")
			return
		}
		status, code := ec2AuthError(se)
		writeEC2Error(w, status, code, se.Message)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	g.ec2.ServeHTTP(w, r)
}

// ec2AuthError maps a verification failure to EC2's own error codes.
func ec2AuthError(se *sigv4.Error) (int, string) {
	switch se.Code {
	case sigv4.CodeUnrecognizedClient:
		return http.StatusUnauthorized, "AuthFailure"
	case sigv4.CodeExpiredToken:
		return http.StatusBadRequest, "RequestExpired"
	case sigv4.CodeIncompleteSignature:
		return http.StatusBadRequest, "IncompleteSignature"
	case sigv4.CodeMissingAuthenticationToken:
		return http.StatusUnauthorized, "MissingAuthenticationToken"
	case sigv4.CodeInvalidSignature:
		if strings.HasPrefix(se.Message, "Signature expired") || strings.HasPrefix(se.Message, "Signature not yet current") {
			return http.StatusBadRequest, "RequestExpired"
		}
		return http.StatusForbidden, "SignatureDoesNotMatch"
	}
	return http.StatusForbidden, "AuthFailure"
}

// writeEC2Error answers in EC2's error envelope, as ec2api does.
func writeEC2Error(w http.ResponseWriter, status int, code, message string) {
	ec2Dialect.WriteError(w, w.Header().Get("x-amzn-RequestId"), &queryapi.Error{Status: status, Code: code, Message: message})
}

var ec2Dialect = queryapi.Dialect{Protocol: queryapi.EC2, Version: ec2api.APIVersion, Namespace: ec2api.Namespace}
