// Package ekstoken makes the bearer tokens EKS clusters accept, as
// `aws eks get-token` and aws-iam-authenticator make them: a presigned
// STS GetCallerIdentity URL with the cluster's name signed in the
// x-k8s-aws-id header, as "k8s-aws-v1." and unpadded base64url. berth's
// node agents authenticate with them, using their instance role.
package ekstoken

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"golang.org/x/oauth2"
)

// Prefix starts every token.
const Prefix = "k8s-aws-v1."

// Lifetime is how long a token is accepted after signing; Refresh is how
// long a client uses one, leaving a minute to spare, as
// aws-iam-authenticator does.
const (
	Lifetime = 15 * time.Minute
	Refresh  = 14 * time.Minute
)

// emptyPayloadHash is the SHA-256 of an empty body.
const emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// Generate returns a token for cluster signed with creds at now, for the
// STS endpoint of region (https://sts.REGION.amazonaws.com) or, when
// endpoint is set, that endpoint (berth's own, as the CLI presigns
// against --endpoint-url).
func Generate(ctx context.Context, creds aws.Credentials, cluster, region, endpoint string, now time.Time) (string, error) {
	if cluster == "" || region == "" {
		return "", errors.New("ekstoken: cluster and region are required")
	}
	if endpoint == "" {
		endpoint = "https://sts." + region + ".amazonaws.com"
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint+"/?Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Expires=60", nil)
	if err != nil {
		return "", err
	}
	r.Header.Set("x-k8s-aws-id", cluster)
	u, _, err := v4.NewSigner().PresignHTTP(ctx, creds, r, emptyPayloadHash, "sts", region, now)
	if err != nil {
		return "", err
	}
	return Prefix + base64.RawURLEncoding.EncodeToString([]byte(u)), nil
}

// Source is an oauth2.TokenSource of fresh tokens, for client-go's
// transport wrappers (which cache a token until its expiry).
type Source struct {
	// Credentials signs; they are retrieved (and refreshed) per token.
	Credentials aws.CredentialsProvider
	Cluster     string
	Region      string
	Endpoint    string
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Token signs a new token, which expires after Refresh.
func (s *Source) Token() (*oauth2.Token, error) {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	creds, err := s.Credentials.Retrieve(ctx)
	if err != nil {
		return nil, err
	}
	t := now()
	tok, err := Generate(ctx, creds, s.Cluster, s.Region, s.Endpoint, t)
	if err != nil {
		return nil, err
	}
	return &oauth2.Token{AccessToken: tok, TokenType: "Bearer", Expiry: t.Add(Refresh)}, nil
}
