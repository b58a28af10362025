package queryapi

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/berthproject/berth/internal/sigv4"
)

// RequestID returns a random id in the UUID format AWS uses.
func RequestID() string {
	var b [16]byte
	crand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	s := hex.EncodeToString(b[:])
	return strings.Join([]string{s[0:8], s[8:12], s[12:16], s[16:20], s[20:]}, "-")
}

// ReadBody reads the body of r, at most limit bytes.
func (d Dialect) ReadBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err == nil {
		return body, nil
	}
	var tooBig *http.MaxBytesError
	switch {
	case d.Protocol == EC2 && errors.As(err, &tooBig):
		return nil, Errorf("InvalidRequest", "The request body is larger than the %d bytes allowed.", limit)
	case d.Protocol == EC2:
		return nil, Errorf("InvalidRequest", "Could not read the request body: %v", err)
	case errors.As(err, &tooBig):
		return nil, &Error{Status: http.StatusRequestEntityTooLarge, Code: "RequestEntityTooLarge",
			Message: fmt.Sprintf("The request body is larger than the %d bytes allowed.", limit)}
	}
	return nil, Errorf("MalformedQueryString", "The request body could not be read.")
}

// Decode returns the parameters of a request: those of its query string
// and, for a POST, those of its form-encoded body after them. A GET
// request's body is ignored; other methods are refused. With an error the
// Params are empty, in the dialect still.
func (d Dialect) Decode(r *http.Request, body []byte) (Params, error) {
	p := d.Params(r.URL.Query())
	switch r.Method {
	case http.MethodGet:
		return p, nil
	case http.MethodPost:
	default:
		code := "InvalidAction"
		if d.Protocol == EC2 {
			code = "UnsupportedOperation"
		}
		return d.Params(nil), &Error{Status: http.StatusMethodNotAllowed, Code: code,
			Message: fmt.Sprintf("The HTTP method %s is not supported.", r.Method)}
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/x-www-form-urlencoded" {
			if d.Protocol == EC2 {
				return d.Params(nil), Errorf("InvalidRequest", "Unsupported content type %q; EC2 takes application/x-www-form-urlencoded.", ct)
			}
			return d.Params(nil), Errorf("MalformedQueryString", "Unsupported content type %q; the query protocol takes application/x-www-form-urlencoded.", ct)
		}
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		if d.Protocol == EC2 {
			return d.Params(nil), Errorf("InvalidRequest", "The request body is not a valid query string: %v", err)
		}
		return d.Params(nil), Errorf("MalformedQueryString", "The request body is not a valid query string.")
	}
	for k, vs := range form {
		p.Values[k] = append(p.Values[k], vs...)
	}
	return p, nil
}

// Scope is what the SigV4 credential scope of a request must name.
type Scope struct {
	// Services are the signing names accepted; a refusal names the first.
	Services []string
	// Regions are the regions accepted.
	Regions []string
}

// Authenticate verifies the SigV4 signature of r over body and checks its
// credential scope. Failures are the Query protocol's errors:
// MissingAuthenticationToken, IncompleteSignature, InvalidClientTokenId,
// ExpiredToken and SignatureDoesNotMatch. With a scope refusal the result
// is returned too, for the caller to answer in the dialect of the service
// the request was signed for.
func Authenticate(ctx context.Context, v *sigv4.Verifier, r *http.Request, body []byte, scope Scope) (sigv4.Result, error) {
	res, err := v.Verify(ctx, r, body)
	if err != nil {
		return sigv4.Result{}, authError(err)
	}
	if !slices.Contains(scope.Services, res.Service) {
		var want string
		if len(scope.Services) > 0 {
			want = scope.Services[0]
		}
		return res, &Error{Status: http.StatusForbidden, Code: "SignatureDoesNotMatch",
			Message: "Credential should be scoped to correct service: '" + want + "'."}
	}
	if !slices.Contains(scope.Regions, res.Region) {
		return res, &Error{Status: http.StatusForbidden, Code: "SignatureDoesNotMatch",
			Message: "Credential should be scoped to a valid region."}
	}
	return res, nil
}

// authError maps a verification failure to the Query protocol's codes.
func authError(err error) error {
	var se *sigv4.Error
	if !errors.As(err, &se) {
		return err
	}
	switch se.Code {
	case sigv4.CodeMissingAuthenticationToken:
		return &Error{Status: http.StatusForbidden, Code: "MissingAuthenticationToken", Message: "Request is missing Authentication Token"}
	case sigv4.CodeIncompleteSignature:
		return &Error{Status: http.StatusBadRequest, Code: "IncompleteSignature", Message: se.Message}
	case sigv4.CodeUnrecognizedClient:
		return &Error{Status: http.StatusForbidden, Code: "InvalidClientTokenId", Message: se.Message}
	case sigv4.CodeExpiredToken:
		return &Error{Status: http.StatusForbidden, Code: "ExpiredToken", Message: se.Message}
	}
	return &Error{Status: http.StatusForbidden, Code: "SignatureDoesNotMatch", Message: se.Message}
}

// Lookup returns the action a request names, after checking that it
// names one of actions and the dialect's Version. In the Query protocol
// an unknown action and a wrong or missing version are one error,
// InvalidAction; EC2 tells them apart (InvalidAction, MissingParameter,
// NoSuchVersion), in that order.
func Lookup[A any](p Params, actions map[string]A) (A, error) {
	var none A
	action := p.Action()
	d := p.dialect
	if d.Protocol == EC2 {
		if action == "" {
			return none, Errorf("MissingAction", "The request must contain the parameter Action.")
		}
		fn, ok := actions[action]
		if !ok {
			return none, Errorf("InvalidAction", "The action %s is not valid for this web service.", action)
		}
		switch v := p.Get("Version"); v {
		case d.Version:
			return fn, nil
		case "":
			return none, Errorf("MissingParameter", "The request must contain the parameter Version.")
		default:
			return none, Errorf("NoSuchVersion", "The requested version (%s) of service AmazonEC2 does not exist.", v)
		}
	}
	if action == "" {
		return none, Errorf("MissingAction", "Missing Action")
	}
	fn, ok := actions[action]
	if v := p.Get("Version"); !ok || v != d.Version {
		if v == "" {
			v = "NO_VERSION_SPECIFIED"
		}
		return none, Errorf("InvalidAction", "Could not find operation %s for version %s", action, v)
	}
	return fn, nil
}
