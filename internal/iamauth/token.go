// Package iamauth is how berth's clusters know IAM identities: the token
// authentication webhook that verifies `aws eks get-token` bearer tokens
// offline (token.go, authn.go) and maps the identity to a Kubernetes user
// through access entries or the aws-auth ConfigMap, and the authorization
// webhook that enforces access policies (authz.go). kube-apiserver calls
// both on berth's webhook server.
package iamauth

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/berthproject/berth/internal/sigv4"
)

// TokenPrefix starts an EKS bearer token: "k8s-aws-v1." and the presigned
// GetCallerIdentity URL, base64url without padding.
const TokenPrefix = "k8s-aws-v1."

// maxTokenBytes bounds a token, as aws-iam-authenticator does.
const maxTokenBytes = 4 << 10

// tokenLifetime is how long a token is accepted after it was signed,
// whatever its X-Amz-Expires says (aws-iam-authenticator's rule).
const tokenLifetime = 15 * time.Minute

// clusterIDHeader carries the cluster name; it is signed into the token.
const clusterIDHeader = "x-k8s-aws-id"

// allowedParams are the query parameters a token's URL may carry.
var allowedParams = map[string]bool{
	"action": true, "version": true,
	"x-amz-algorithm": true, "x-amz-credential": true, "x-amz-date": true, "x-amz-expires": true,
	"x-amz-security-token": true, "x-amz-signature": true, "x-amz-signedheaders": true,
}

// Identity is the IAM principal a token proves.
type Identity struct {
	// ARN is the caller as STS names it: arn:aws:iam::ACCOUNT:root,
	// arn:aws:iam::ACCOUNT:user/NAME or
	// arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION.
	ARN string
	// CanonicalARN is the IAM ARN behind it: the role of a session.
	CanonicalARN string
	AccountID    string
	AccessKeyID  string
	// SessionName is an assumed role's session name, else "".
	SessionName string
}

// ErrToken is wrapped by every reason a token is refused.
var ErrToken = errors.New("invalid token")

func refuse(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrToken, fmt.Sprintf(format, args...))
}

// verifier checks tokens for clusters.
type verifier struct {
	sigv4 *sigv4.Verifier
	// hosts are the STS hosts a token may name: the global and regional
	// STS endpoints and berth's own endpoint (the CLI presigns against an
	// endpoint override).
	hosts map[string]bool
	// plainHTTP are the hosts a token may name over http: berth's own.
	plainHTTP map[string]bool
}

func newVerifier(creds sigv4.Lookup, region, endpointHost string, now func() time.Time) (*verifier, error) {
	v, err := sigv4.New(sigv4.Config{Credentials: creds, Service: "sts", Now: now})
	if err != nil {
		return nil, err
	}
	hosts := map[string]bool{}
	for _, h := range []string{"sts.amazonaws.com", "sts." + region + ".amazonaws.com", "sts." + region + ".api.aws"} {
		hosts[h], hosts[h+":443"] = true, true
	}
	plain := map[string]bool{}
	if endpointHost != "" {
		hosts[endpointHost] = true
		plain[endpointHost] = true
	}
	return &verifier{sigv4: v, hosts: hosts, plainHTTP: plain}, nil
}

// verify checks a token for the named cluster and returns who signed it.
func (v *verifier) verify(ctx context.Context, cluster, token string) (Identity, error) {
	if len(token) > maxTokenBytes {
		return Identity{}, refuse("token is too large")
	}
	enc, ok := strings.CutPrefix(token, TokenPrefix)
	if !ok {
		return Identity{}, refuse("token does not start with %s", TokenPrefix)
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(enc, "="))
	if err != nil {
		return Identity{}, refuse("token is not base64url")
	}
	u, err := url.Parse(string(raw))
	if err != nil {
		return Identity{}, refuse("token is not a URL")
	}
	switch {
	case u.Scheme == "https" && v.hosts[u.Host]:
	case u.Scheme == "http" && v.plainHTTP[u.Host]:
	default:
		return Identity{}, refuse("unexpected STS endpoint %s://%s", u.Scheme, u.Host)
	}
	if u.Path != "/" && u.Path != "" {
		return Identity{}, refuse("unexpected path %q", u.Path)
	}
	q := u.Query()
	for k := range q {
		if !allowedParams[strings.ToLower(k)] {
			return Identity{}, refuse("unexpected query parameter %q", k)
		}
	}
	if q.Get("Action") != "GetCallerIdentity" {
		return Identity{}, refuse("unexpected action %q", q.Get("Action"))
	}
	if q.Get("Version") != "2011-06-15" {
		return Identity{}, refuse("unexpected version %q", q.Get("Version"))
	}
	signed := strings.Split(strings.ToLower(q.Get("X-Amz-SignedHeaders")), ";")
	hasID := false
	for _, h := range signed {
		switch h {
		case "host":
		case clusterIDHeader:
			hasID = true
		default:
			return Identity{}, refuse("unexpected signed header %q", h)
		}
	}
	if !hasID {
		return Identity{}, refuse("%s is not signed", clusterIDHeader)
	}
	header := http.Header{}
	header.Set(clusterIDHeader, cluster)
	res, err := v.sigv4.VerifyPresignedWindow(ctx, http.MethodGet, u, header, tokenLifetime)
	if err != nil {
		var se *sigv4.Error
		if errors.As(err, &se) {
			return Identity{}, refuse("%s", se.Message)
		}
		return Identity{}, err
	}
	return identityOf(res.Credential)
}

// identityOf names the principal of a credential.
func identityOf(c sigv4.Credential) (Identity, error) {
	id := Identity{ARN: c.Principal, CanonicalARN: c.Principal, AccessKeyID: c.AccessKeyID}
	parts := strings.SplitN(c.Principal, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" {
		return Identity{}, fmt.Errorf("credential %s has no principal ARN (%q)", c.AccessKeyID, c.Principal)
	}
	id.AccountID = parts[4]
	if rest, ok := strings.CutPrefix(parts[5], "assumed-role/"); ok && parts[2] == "sts" {
		role, session, ok := strings.Cut(rest, "/")
		if !ok {
			return Identity{}, fmt.Errorf("malformed assumed-role ARN %q", c.Principal)
		}
		id.SessionName = session
		id.CanonicalARN = "arn:" + parts[1] + ":iam::" + id.AccountID + ":role/" + role
	}
	return id, nil
}
