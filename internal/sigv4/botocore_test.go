package sigv4_test

// Requests signed by botocore, the signer of the AWS CLI, at 2026-11-27
// 12:00:00 UTC with the credentials in sigv4_test.go. They were printed by
// testdata/botocore_vectors.py (botocore 1.43.11, awscli 1.45.11); the
// unsigned User-Agent was shortened and amz-sdk-invocation-id dropped.
// Do not edit them: they lock in compatibility with the CLI.

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/berthproject/berth/internal/sigv4"
)

// wire joins header lines into an HTTP/1.1 request head.
func wire(lines ...string) string { return strings.Join(lines, "\r\n") + "\r\n\r\n" }

var (
	// botocoreUntag: DELETE with repeated tagKeys, ARN escaped in the path.
	botocoreUntag = wire(
		"DELETE /tags/arn%3Aaws%3Aeks%3Aus-east-1%3A000000000000%3Acluster%2Fdemo?tagKeys=team&tagKeys=env HTTP/1.1",
		"Host: berth.localhost:8443",
		"User-Agent: Botocore/1.43.11 ua/2.1 md/pyimpl#CPython cfg/retry-mode#legacy",
		"X-Amz-Date: 20261127T120000Z",
		"Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261127/us-east-1/eks/aws4_request, SignedHeaders=host;x-amz-date, Signature=e0a6455a0f0dc5fac91fda827231900fa3d8b61f371a7cb217c79d185544765f",
		"amz-sdk-request: attempt=1",
		"Content-Length: 0",
	)
	// botocoreTag: POST with a JSON body, ARN escaped in the path.
	botocoreTag = wire(
		"POST /tags/arn%3Aaws%3Aeks%3Aus-east-1%3A000000000000%3Acluster%2Fdemo HTTP/1.1",
		"Host: berth.localhost:8443",
		"Content-Type: application/json",
		"User-Agent: Botocore/1.43.11 ua/2.1 md/pyimpl#CPython cfg/retry-mode#legacy",
		"X-Amz-Date: 20261127T120000Z",
		"Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261127/us-east-1/eks/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=b6bf4b43037e585819ec894a9b9d456753379943351d3d81a29c4686a641ab20",
		"amz-sdk-request: attempt=1",
		"Content-Length: 39",
	) + `{"tags": {"env": "dev", "team": "a b"}}`
	// botocoreList: GET with a query.
	botocoreList = wire(
		"GET /clusters?maxResults=10&include=all HTTP/1.1",
		"Host: berth.localhost:8443",
		"User-Agent: Botocore/1.43.11 ua/2.1 md/pyimpl#CPython cfg/retry-mode#legacy",
		"X-Amz-Date: 20261127T120000Z",
		"Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261127/us-east-1/eks/aws4_request, SignedHeaders=host;x-amz-date, Signature=7292ceb1ef1412f950d2873ec8a6dac5a0c2f4703ad9210bfdac708869596fd5",
		"amz-sdk-request: attempt=1",
	)
	// botocoreDescribeSession: GET with a session token, region eu-west-1.
	botocoreDescribeSession = wire(
		"GET /clusters/demo HTTP/1.1",
		"Host: berth.localhost:8443",
		"User-Agent: Botocore/1.43.11 ua/2.1 md/pyimpl#CPython cfg/retry-mode#legacy",
		"X-Amz-Date: 20261127T120000Z",
		"X-Amz-Security-Token: FwoGZXIvYXdzEtemporary/token+with=chars",
		"Authorization: AWS4-HMAC-SHA256 Credential=ASIATEMPORARY/20261127/eu-west-1/eks/aws4_request, SignedHeaders=host;x-amz-date;x-amz-security-token, Signature=de32b638beeaea0137a2a5d26054ab73c18a1eaeac835724a744bfef1c5c9e90",
		"amz-sdk-request: attempt=1",
	)
	// botocoreDateHeader: signs Date (botocore's "-0000" form) instead of X-Amz-Date.
	botocoreDateHeader = wire(
		"GET /clusters/demo HTTP/1.1",
		"Host: berth.localhost:8443",
		"Date: Fri, 27 Nov 2026 12:00:00 -0000",
		"Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261127/us-east-1/eks/aws4_request, SignedHeaders=date;host, Signature=8f6319a5f1b6d3ca8bf73cefb646d6ae21bf474a2e64ffa6c30c7dcf80e3c757",
	)
	// botocoreDotSegments: a path that botocore normalizes to
	// /clusters/demo/ before signing.
	botocoreDotSegments = wire(
		"GET /clusters//demo/./x/../ HTTP/1.1",
		"Host: berth.localhost:8443",
		"X-Amz-Date: 20261127T120000Z",
		"Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261127/us-east-1/eks/aws4_request, SignedHeaders=host;x-amz-date, Signature=1a3280305207101f528c8793d9b4019fe65422c645d8a670534e0a7182835600",
	)

	// botocoreToken is `aws eks get-token --cluster-name demo` (awscli's
	// TokenGenerator): a presigned STS GetCallerIdentity URL with
	// X-Amz-Expires=60 that signs host and x-k8s-aws-id.
	botocoreToken = "k8s-aws-v1.aHR0cHM6Ly9zdHMudXMtZWFzdC0xLmFtYXpvbmF3cy5jb20vP0FjdGlvbj1HZXRDYWxsZXJJZGVudGl0eSZWZXJzaW9uPTIwMTEtMDYtMTUmWC1BbXotQWxnb3JpdGhtPUFXUzQtSE1BQy1TSEEyNTYmWC1BbXotQ3JlZGVudGlhbD1BS0lERVhBTVBMRSUyRjIwMjYxMTI3JTJGdXMtZWFzdC0xJTJGc3RzJTJGYXdzNF9yZXF1ZXN0JlgtQW16LURhdGU9MjAyNjExMjdUMTIwMDAwWiZYLUFtei1FeHBpcmVzPTYwJlgtQW16LVNpZ25lZEhlYWRlcnM9aG9zdCUzQngtazhzLWF3cy1pZCZYLUFtei1TaWduYXR1cmU9NjRhNDEyMzBiNDliYjNhYTBjZjg3M2VjNjhkNTY2ZTM4M2QyMWM5MDc2YTE0OTIyZTZlYTMwN2Q1ODFjZWZjNg"
)

func TestBotocoreVectors(t *testing.T) {
	tests := []struct {
		name       string
		wire       string
		wantKey    string
		wantRegion string
	}{
		{"untag", botocoreUntag, "AKIDEXAMPLE", "us-east-1"},
		{"tag", botocoreTag, "AKIDEXAMPLE", "us-east-1"},
		{"list", botocoreList, "AKIDEXAMPLE", "us-east-1"},
		{"describe with session token", botocoreDescribeSession, "ASIATEMPORARY", "eu-west-1"},
		{"date header", botocoreDateHeader, "AKIDEXAMPLE", "us-east-1"},
		{"dot segments", botocoreDotSegments, "AKIDEXAMPLE", "us-east-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, body := parseWire(t, tt.wire)
			res, err := newVerifier(t, signTime, "eks").Verify(t.Context(), r, body)
			if err != nil {
				t.Fatal(err)
			}
			if res.Credential.AccessKeyID != tt.wantKey || res.Region != tt.wantRegion || res.Service != "eks" || !res.Time.Equal(signTime) {
				t.Errorf("result = %+v", res)
			}

			// The same request with the last digit of the signature changed fails.
			a := r.Header.Get("Authorization")
			last := "0"
			if strings.HasSuffix(a, "0") {
				last = "1"
			}
			r.Header.Set("Authorization", a[:len(a)-1]+last)
			_, err = newVerifier(t, signTime, "eks").Verify(t.Context(), r, body)
			wantError(t, err, sigv4.CodeInvalidSignature, mismatch)
		})
	}
}

// TestBotocoreToken verifies the URL inside an `aws eks get-token` token,
// as berth's token authenticator will.
func TestBotocoreToken(t *testing.T) {
	const prefix = "k8s-aws-v1."
	if !strings.HasPrefix(botocoreToken, prefix) {
		t.Fatal("token prefix")
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(botocoreToken, prefix))
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(string(raw))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		cluster  string
		after    time.Duration
		wantCode string
	}{
		{"fresh", "demo", 10 * time.Second, ""},
		{"other cluster", "prod", 10 * time.Second, sigv4.CodeInvalidSignature},
		{"expired", "demo", 61 * time.Second, sigv4.CodeInvalidSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newVerifier(t, signTime.Add(tt.after), "sts")
			res, err := v.VerifyPresigned(t.Context(), http.MethodGet, u, http.Header{"X-K8s-Aws-Id": {tt.cluster}}, 15*time.Minute)
			wantError(t, err, tt.wantCode, "")
			if err == nil && (res.Credential.AccessKeyID != "AKIDEXAMPLE" || res.SignedHeaders != "host;x-k8s-aws-id") {
				t.Errorf("result = %+v", res)
			}
		})
	}
}
