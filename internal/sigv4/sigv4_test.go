package sigv4_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/berthproject/berth/internal/sigv4"
)

var signTime = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

const (
	eksARN     = "arn:aws:eks:us-east-1:000000000000:cluster/demo"
	escapedARN = "arn%3Aaws%3Aeks%3Aus-east-1%3A000000000000%3Acluster%2Fdemo"
	berthURL   = "http://berth.test:8443"
)

var (
	longTerm = aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}
	session  = aws.Credentials{AccessKeyID: "ASIATEMPORARY", SecretAccessKey: "temporarySecretKey", SessionToken: "FwoGZXIvYXdzEtemporary/token+with=chars"}
	expired  = aws.Credentials{AccessKeyID: "ASIAEXPIRED", SecretAccessKey: "expiredSecret", SessionToken: "expired-token"}
	unknown  = aws.Credentials{AccessKeyID: "AKIDUNKNOWN", SecretAccessKey: "whatever"}
)

// testCredentials holds the credentials the tests sign with, except unknown.
func testCredentials() sigv4.StaticCredentials {
	return sigv4.StaticCredentials{
		longTerm.AccessKeyID: {AccessKeyID: longTerm.AccessKeyID, SecretAccessKey: longTerm.SecretAccessKey,
			Principal: "arn:aws:iam::000000000000:user/admin"},
		session.AccessKeyID: {AccessKeyID: session.AccessKeyID, SecretAccessKey: session.SecretAccessKey,
			SessionToken: session.SessionToken, Expires: signTime.Add(time.Hour)},
		expired.AccessKeyID: {AccessKeyID: expired.AccessKeyID, SecretAccessKey: expired.SecretAccessKey,
			SessionToken: expired.SessionToken, Expires: signTime.Add(-time.Minute)},
	}
}

func newVerifier(t testing.TB, now time.Time, service string) *sigv4.Verifier {
	t.Helper()
	v, err := sigv4.New(sigv4.Config{
		Credentials: testCredentials(),
		Service:     service,
		Now:         func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func payloadHash(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// request describes a client request to sign with aws-sdk-go-v2.
type request struct {
	method, url string
	header      map[string]string
	body        []byte
	creds       aws.Credentials
	service     string
	region      string
	payload     string // payload hash to sign with; default: hash of body
}

// sign signs req with aws-sdk-go-v2 at signTime, sends it through the
// HTTP/1.1 wire format and returns the request as a server receives it.
func sign(t testing.TB, req request) (*http.Request, []byte) {
	t.Helper()
	if req.method == "" {
		req.method = http.MethodGet
	}
	if req.creds == (aws.Credentials{}) {
		req.creds = longTerm
	}
	if req.service == "" {
		req.service = "eks"
	}
	if req.region == "" {
		req.region = "us-east-1"
	}
	if req.payload == "" {
		req.payload = payloadHash(req.body)
	}
	var body io.Reader
	if req.body != nil {
		body = bytes.NewReader(req.body)
	}
	r, err := http.NewRequest(req.method, req.url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range req.header {
		r.Header.Set(k, v)
	}
	err = v4.NewSigner().SignHTTP(t.Context(), req.creds, r, req.payload, req.service, req.region, signTime)
	if err != nil {
		t.Fatal(err)
	}
	return toServer(t, r)
}

// toServer writes r in HTTP/1.1 wire format and parses it back the way
// net/http's server does, returning the server's request and its body.
func toServer(t testing.TB, r *http.Request) (*http.Request, []byte) {
	t.Helper()
	var wire bytes.Buffer
	if err := r.Write(&wire); err != nil {
		t.Fatal(err)
	}
	return parseWire(t, wire.String())
}

func parseWire(t testing.TB, wire string) (*http.Request, []byte) {
	t.Helper()
	sr, err := http.ReadRequest(bufio.NewReader(strings.NewReader(wire)))
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(sr.Body)
	if err != nil {
		t.Fatal(err)
	}
	return sr, body
}

// wantError checks that err is an *sigv4.Error with the given code (and
// message, if msg is not empty), or that err is nil when code is empty.
func wantError(t *testing.T, err error, code, msg string) {
	t.Helper()
	if code == "" {
		if err != nil {
			t.Fatalf("want success, got %v", err)
		}
		return
	}
	var e *sigv4.Error
	if !errors.As(err, &e) {
		t.Fatalf("want *sigv4.Error %s, got %v", code, err)
	}
	if e.Code != code {
		t.Errorf("code = %s, want %s (message %q)", e.Code, code, e.Message)
	}
	if msg != "" && e.Message != msg {
		t.Errorf("message = %q\nwant      %q", e.Message, msg)
	}
	if e.Status != http.StatusForbidden {
		t.Errorf("status = %d, want 403", e.Status)
	}
}

// setAuthz rewrites the Authorization header with the replacements old, new, ...
func setAuthz(r *http.Request, oldnew ...string) {
	r.Header.Set("Authorization", strings.NewReplacer(oldnew...).Replace(r.Header.Get("Authorization")))
}

const mismatch = "The request signature we calculated does not match the signature you provided. " +
	"Check your AWS Secret Access Key and signing method. Consult the service documentation for details."

func TestVerify(t *testing.T) {
	createBody := []byte(`{"name":"demo","roleArn":"arn:aws:iam::000000000000:role/eks","resourcesVpcConfig":{"subnetIds":["subnet-1"]}}`)
	getQuery := request{url: berthURL + "/clusters?maxResults=10&include=all&nextToken=a%2Fb+c~d%7e"}
	post := request{method: http.MethodPost, url: berthURL + "/clusters", body: createBody,
		header: map[string]string{"Content-Type": "application/json"}}
	untag := request{method: http.MethodDelete, url: berthURL + "/tags/" + escapedARN + "?tagKeys=team&tagKeys=env"}
	tag := request{method: http.MethodPost, url: berthURL + "/tags/" + escapedARN,
		body: []byte(`{"tags":{"env":"dev"}}`), header: map[string]string{"Content-Type": "application/json"}}
	withSession := request{url: berthURL + "/clusters/demo", creds: session, region: "eu-west-1"}

	tests := []struct {
		name     string
		req      request
		now      time.Time // zero: signTime
		service  string    // Config.Service; default "eks"
		mutate   func(r *http.Request, body []byte) []byte
		wantCode string
		wantMsg  string
	}{
		{name: "get with query", req: getQuery},
		{name: "post with json body", req: post},
		{name: "delete with repeated query key", req: untag},
		{name: "escaped arn in path", req: tag},
		{name: "session token", req: withSession},
		{name: "sdk path with repeated slashes", req: request{url: berthURL + "/clusters//demo/./x"}},
		{name: "query sorted after encoding", req: request{url: berthURL + "/clusters?k=a-b&k=a%2Fb&k2=%7E&k=a+b"}},
		{name: "clock skew within limit", req: getQuery, now: signTime.Add(14 * time.Minute)},
		{name: "any service when unset", req: request{url: berthURL + "/", service: "sts"}, service: "-"},
		{name: "header value spacing", req: request{url: berthURL + "/clusters",
			header: map[string]string{"X-Custom": "  a   b  c "}}},
		{name: "unsigned payload", req: request{method: http.MethodPost, url: berthURL + "/clusters", body: createBody,
			header: map[string]string{"X-Amz-Content-Sha256": "UNSIGNED-PAYLOAD"}, payload: "UNSIGNED-PAYLOAD"},
			mutate: func(r *http.Request, body []byte) []byte { return []byte("other body") }},
		{name: "x-amz-content-sha256 of the body", req: request{method: http.MethodPost, url: berthURL + "/clusters",
			body: createBody, header: map[string]string{"X-Amz-Content-Sha256": payloadHash(createBody)}}},

		{name: "tampered body", req: post, wantCode: sigv4.CodeInvalidSignature, wantMsg: mismatch,
			mutate: func(r *http.Request, body []byte) []byte {
				return bytes.Replace(body, []byte("demo"), []byte("evil"), 1)
			}},
		{name: "tampered signed header", req: post, wantCode: sigv4.CodeInvalidSignature, wantMsg: mismatch,
			mutate: func(r *http.Request, body []byte) []byte { r.Header.Set("Content-Type", "text/plain"); return body }},
		{name: "tampered host", req: post, wantCode: sigv4.CodeInvalidSignature,
			mutate: func(r *http.Request, body []byte) []byte { r.Host = "evil.test"; return body }},
		{name: "tampered path", req: tag, wantCode: sigv4.CodeInvalidSignature, wantMsg: mismatch,
			mutate: func(r *http.Request, body []byte) []byte {
				r.RequestURI = strings.Replace(r.RequestURI, "demo", "prod", 1)
				return body
			}},
		{name: "path escaping changed", req: tag, wantCode: sigv4.CodeInvalidSignature,
			mutate: func(r *http.Request, body []byte) []byte {
				r.RequestURI = strings.Replace(r.RequestURI, "%3A", ":", -1)
				return body
			}},
		{name: "tampered query", req: untag, wantCode: sigv4.CodeInvalidSignature,
			mutate: func(r *http.Request, body []byte) []byte { r.URL.RawQuery += "&tagKeys=owner"; return body }},
		{name: "tampered method", req: untag, wantCode: sigv4.CodeInvalidSignature,
			mutate: func(r *http.Request, body []byte) []byte { r.Method = http.MethodGet; return body }},
		{name: "unsigned payload claimed after signing", req: post, wantCode: sigv4.CodeInvalidSignature,
			mutate: func(r *http.Request, body []byte) []byte {
				r.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
				return []byte("other")
			}},
		{name: "x-amz-content-sha256 not the body", req: request{method: http.MethodPost, url: berthURL + "/clusters",
			body: createBody, header: map[string]string{"X-Amz-Content-Sha256": payloadHash(createBody)}},
			wantCode: sigv4.CodeInvalidSignature, wantMsg: mismatch,
			mutate: func(r *http.Request, body []byte) []byte { return append(body, ' ') }},
		{name: "wrong secret", req: request{url: berthURL + "/clusters",
			creds: aws.Credentials{AccessKeyID: longTerm.AccessKeyID, SecretAccessKey: "not-the-secret"}},
			wantCode: sigv4.CodeInvalidSignature, wantMsg: mismatch},
		{name: "signature truncated", req: getQuery, wantCode: sigv4.CodeInvalidSignature, wantMsg: mismatch,
			mutate: func(r *http.Request, body []byte) []byte {
				a := r.Header.Get("Authorization")
				r.Header.Set("Authorization", a[:len(a)-2])
				return body
			}},
		{name: "unknown access key", req: request{url: berthURL + "/clusters", creds: unknown},
			wantCode: sigv4.CodeUnrecognizedClient, wantMsg: "The security token included in the request is invalid."},
		{name: "signature expired", req: getQuery, now: signTime.Add(15*time.Minute + time.Second),
			wantCode: sigv4.CodeInvalidSignature,
			wantMsg:  "Signature expired: 20261127T120000Z is now earlier than 20261127T120001Z (20261127T121501Z - 15 min.)"},
		{name: "signature not yet current", req: getQuery, now: signTime.Add(-16 * time.Minute),
			wantCode: sigv4.CodeInvalidSignature,
			wantMsg:  "Signature not yet current: 20261127T120000Z is still later than 20261127T115900Z (20261127T114400Z + 15 min.)"},
		{name: "no authorization", req: getQuery, wantCode: sigv4.CodeMissingAuthenticationToken, wantMsg: "Missing Authentication Token",
			mutate: func(r *http.Request, body []byte) []byte { r.Header.Del("Authorization"); return body }},
		{name: "empty authorization", req: getQuery, wantCode: sigv4.CodeMissingAuthenticationToken,
			mutate: func(r *http.Request, body []byte) []byte { r.Header.Set("Authorization", ""); return body }},
		{name: "host not signed", req: getQuery, wantCode: sigv4.CodeInvalidSignature,
			wantMsg: "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
			mutate: func(r *http.Request, body []byte) []byte {
				setAuthz(r, "SignedHeaders=host;", "SignedHeaders=")
				return body
			}},
		{name: "x-amz-date not signed", req: getQuery, wantCode: sigv4.CodeInvalidSignature,
			wantMsg: "'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization.",
			mutate:  func(r *http.Request, body []byte) []byte { setAuthz(r, "host;x-amz-date", "host"); return body }},
		{name: "no date header", req: getQuery, wantCode: sigv4.CodeIncompleteSignature,
			mutate: func(r *http.Request, body []byte) []byte { r.Header.Del("X-Amz-Date"); return body }},
		{name: "date header instead of x-amz-date", req: getQuery, wantCode: sigv4.CodeInvalidSignature,
			wantMsg: "'Date' must be a 'SignedHeader' in the AWS Authorization.",
			mutate: func(r *http.Request, body []byte) []byte {
				r.Header.Del("X-Amz-Date")
				r.Header.Set("Date", signTime.Format(http.TimeFormat))
				return body
			}},
		{name: "bad date format", req: getQuery, wantCode: sigv4.CodeIncompleteSignature,
			wantMsg: "Date must be in ISO-8601 'basic format'. Got '2026-11-27T12:00:00Z'. See http://en.wikipedia.org/wiki/ISO_8601",
			mutate: func(r *http.Request, body []byte) []byte {
				r.Header.Set("X-Amz-Date", "2026-11-27T12:00:00Z")
				return body
			}},
		{name: "impossible date", req: getQuery, wantCode: sigv4.CodeIncompleteSignature,
			mutate: func(r *http.Request, body []byte) []byte { r.Header.Set("X-Amz-Date", "20261131T120000Z"); return body }},
		{name: "missing credential", req: getQuery, wantCode: sigv4.CodeIncompleteSignature,
			wantMsg: "Authorization header requires 'Credential' parameter. Authorization=AWS4-HMAC-SHA256 SignedHeaders=host;x-amz-date, Signature=00",
			mutate: func(r *http.Request, body []byte) []byte {
				r.Header.Set("Authorization", "AWS4-HMAC-SHA256 SignedHeaders=host;x-amz-date, Signature=00")
				return body
			}},
		{name: "only the algorithm", req: getQuery, wantCode: sigv4.CodeIncompleteSignature,
			wantMsg: "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. " +
				"Authorization header requires 'SignedHeaders' parameter. Authorization=AWS4-HMAC-SHA256",
			mutate: func(r *http.Request, body []byte) []byte {
				r.Header.Set("Authorization", "AWS4-HMAC-SHA256")
				return body
			}},
		{name: "bearer token", req: getQuery, wantCode: sigv4.CodeIncompleteSignature,
			mutate: func(r *http.Request, body []byte) []byte {
				r.Header.Del("X-Amz-Date")
				r.Header.Set("Authorization", "Bearer eyJhbGciOiJIUzI1NiJ9")
				return body
			}},
		{name: "unsupported algorithm", req: getQuery, wantCode: sigv4.CodeIncompleteSignature,
			wantMsg: "Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA512'.",
			mutate: func(r *http.Request, body []byte) []byte {
				setAuthz(r, "AWS4-HMAC-SHA256", "AWS4-HMAC-SHA512")
				return body
			}},
		{name: "parameter without equal sign", req: getQuery, wantCode: sigv4.CodeIncompleteSignature,
			mutate: func(r *http.Request, body []byte) []byte { setAuthz(r, "Credential=", "Credential= "); return body }},
		{name: "credential with three parts", req: getQuery, wantCode: sigv4.CodeIncompleteSignature,
			wantMsg: "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got 'AKIDEXAMPLE/20261127/us-east-1'",
			mutate:  func(r *http.Request, body []byte) []byte { setAuthz(r, "/eks/aws4_request", ""); return body }},
		{name: "wrong terminator", req: getQuery, wantCode: sigv4.CodeInvalidSignature,
			wantMsg: "Credential should be scoped with a valid terminator: 'aws4_request', not 'aws5_request'.",
			mutate:  func(r *http.Request, body []byte) []byte { setAuthz(r, "aws4_request", "aws5_request"); return body }},
		{name: "scope date mismatch", req: getQuery, wantCode: sigv4.CodeInvalidSignature,
			wantMsg: "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20261126' != '20261127', from '20261127T120000Z'.",
			mutate:  func(r *http.Request, body []byte) []byte { setAuthz(r, "/20261127/", "/20261126/"); return body }},
		{name: "empty region", req: getQuery, wantCode: sigv4.CodeInvalidSignature,
			mutate: func(r *http.Request, body []byte) []byte { setAuthz(r, "/us-east-1/", "//"); return body }},
		{name: "wrong service", req: request{url: berthURL + "/clusters", service: "sts"}, wantCode: sigv4.CodeInvalidSignature,
			wantMsg: "Credential should be scoped to correct service: 'eks'."},
		{name: "session token missing", req: withSession, wantCode: sigv4.CodeUnrecognizedClient,
			mutate: func(r *http.Request, body []byte) []byte { r.Header.Del("X-Amz-Security-Token"); return body }},
		{name: "session token wrong", req: withSession, wantCode: sigv4.CodeUnrecognizedClient,
			mutate: func(r *http.Request, body []byte) []byte { r.Header.Set("X-Amz-Security-Token", "forged"); return body }},
		{name: "session token on long-term key", wantCode: sigv4.CodeUnrecognizedClient,
			req: request{url: berthURL + "/clusters", creds: aws.Credentials{
				AccessKeyID: longTerm.AccessKeyID, SecretAccessKey: longTerm.SecretAccessKey, SessionToken: "token"}}},
		{name: "expired session credential", req: request{url: berthURL + "/clusters", creds: expired},
			wantCode: sigv4.CodeExpiredToken, wantMsg: "The security token included in the request is expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, body := sign(t, tt.req)
			if tt.mutate != nil {
				body = tt.mutate(r, body)
			}
			now := tt.now
			if now.IsZero() {
				now = signTime
			}
			service := tt.service
			switch service {
			case "":
				service = "eks"
			case "-":
				service = ""
			}
			res, err := newVerifier(t, now, service).Verify(t.Context(), r, body)
			wantError(t, err, tt.wantCode, tt.wantMsg)
			if err != nil {
				return
			}
			if res.Credential.AccessKeyID != tt.req.creds.AccessKeyID && tt.req.creds.AccessKeyID != "" {
				t.Errorf("credential = %s, want %s", res.Credential.AccessKeyID, tt.req.creds.AccessKeyID)
			}
			wantRegion := tt.req.region
			if wantRegion == "" {
				wantRegion = "us-east-1"
			}
			if res.Region != wantRegion || !res.Time.Equal(signTime) || !strings.Contains(res.SignedHeaders, "host") {
				t.Errorf("result = %+v", res)
			}
		})
	}
}

func TestVerifyLookupError(t *testing.T) {
	boom := errors.New("database down")
	v, err := sigv4.New(sigv4.Config{
		Credentials: lookupFunc(func(context.Context, string) (sigv4.Credential, error) { return sigv4.Credential{}, boom }),
		Now:         func() time.Time { return signTime },
	})
	if err != nil {
		t.Fatal(err)
	}
	r, body := sign(t, request{url: berthURL + "/clusters"})
	_, err = v.Verify(t.Context(), r, body)
	var e *sigv4.Error
	if !errors.Is(err, boom) || errors.As(err, &e) {
		t.Fatalf("err = %v, want the lookup error, not an *Error", err)
	}

	// A wrapped ErrUnknownKey is still an unknown key.
	v, err = sigv4.New(sigv4.Config{
		Credentials: lookupFunc(func(_ context.Context, id string) (sigv4.Credential, error) {
			return sigv4.Credential{}, errors.Join(errors.New("no row for "+id), sigv4.ErrUnknownKey)
		}),
		Now: func() time.Time { return signTime },
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify(t.Context(), r, body)
	wantError(t, err, sigv4.CodeUnrecognizedClient, "")
}

type lookupFunc func(ctx context.Context, accessKeyID string) (sigv4.Credential, error)

func (f lookupFunc) Credential(ctx context.Context, id string) (sigv4.Credential, error) {
	return f(ctx, id)
}

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		cfg     sigv4.Config
		wantErr bool
	}{
		{name: "defaults", cfg: sigv4.Config{Credentials: sigv4.StaticCredentials{}}},
		{name: "no credentials", cfg: sigv4.Config{}, wantErr: true},
		{name: "negative skew", cfg: sigv4.Config{Credentials: sigv4.StaticCredentials{}, MaxSkew: -time.Second}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := sigv4.New(tt.cfg)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

func TestMaxSkew(t *testing.T) {
	v, err := sigv4.New(sigv4.Config{
		Credentials: testCredentials(),
		Now:         func() time.Time { return signTime.Add(6 * time.Minute) },
		MaxSkew:     5 * time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	r, body := sign(t, request{url: berthURL + "/clusters"})
	_, err = v.Verify(t.Context(), r, body)
	wantError(t, err, sigv4.CodeInvalidSignature,
		"Signature expired: 20261127T120000Z is now earlier than 20261127T120100Z (20261127T120600Z - 5 min.)")
}

// presign presigns a GET of rawURL (which carries X-Amz-Expires) with the
// given headers at signTime, as an EKS token generator does.
func presign(t testing.TB, rawURL string, header map[string]string, creds aws.Credentials, service string) (*url.URL, http.Header) {
	t.Helper()
	r, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		r.Header.Set(k, v)
	}
	signed, signedHeader, err := v4.NewSigner().PresignHTTP(context.Background(), creds, r, payloadHash(nil), service, "us-east-1", signTime)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(signed)
	if err != nil {
		t.Fatal(err)
	}
	return u, signedHeader
}

func TestVerifyPresigned(t *testing.T) {
	const stsURL = "https://sts.us-east-1.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Expires=60"
	k8sID := map[string]string{"x-k8s-aws-id": "demo"}

	tests := []struct {
		name       string
		url        string
		creds      aws.Credentials
		service    string // signing name; default "sts"
		now        time.Duration
		maxExpires time.Duration
		mutate     func(u *url.URL, h http.Header)
		wantCode   string
		wantMsg    string
	}{
		{name: "token", url: stsURL, now: 30 * time.Second},
		{name: "token at expiry", url: stsURL, now: 60 * time.Second},
		{name: "token with session", url: stsURL, creds: session},
		{name: "clock behind within skew", url: stsURL, now: -10 * time.Minute},
		{name: "no X-Amz-Expires uses skew", url: "https://sts.us-east-1.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15",
			now: 14 * time.Minute},
		{name: "default port in url", url: "https://sts.us-east-1.amazonaws.com:443/?Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Expires=60"},

		{name: "expired", url: stsURL, now: 61 * time.Second, wantCode: sigv4.CodeInvalidSignature,
			wantMsg: "Signature expired: 20261127T120000Z is now earlier than 20261127T120001Z (20261127T120101Z - 1 min.)"},
		{name: "capped by caller", url: stsURL, now: 45 * time.Second, maxExpires: 30 * time.Second,
			wantCode: sigv4.CodeInvalidSignature,
			wantMsg:  "Signature expired: 20261127T120000Z is now earlier than 20261127T120015Z (20261127T120045Z - 30 sec.)"},
		{name: "no X-Amz-Expires past skew", url: "https://sts.us-east-1.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15",
			now: 16 * time.Minute, wantCode: sigv4.CodeInvalidSignature},
		{name: "not yet current", url: stsURL, now: -16 * time.Minute, wantCode: sigv4.CodeInvalidSignature,
			wantMsg: "Signature not yet current: 20261127T120000Z is still later than 20261127T115900Z (20261127T114400Z + 15 min.)"},
		{name: "expires extended", url: stsURL, now: 5 * time.Minute, wantCode: sigv4.CodeInvalidSignature, wantMsg: mismatch,
			mutate: func(u *url.URL, h http.Header) {
				u.RawQuery = strings.Replace(u.RawQuery, "X-Amz-Expires=60", "X-Amz-Expires=600", 1)
			}},
		{name: "expires too long", url: stsURL, wantCode: sigv4.CodeIncompleteSignature,
			wantMsg: "X-Amz-Expires must be less than a week (in seconds) that is 604800",
			mutate: func(u *url.URL, h http.Header) {
				u.RawQuery = strings.Replace(u.RawQuery, "X-Amz-Expires=60", "X-Amz-Expires=604801", 1)
			}},
		{name: "expires negative", url: stsURL, wantCode: sigv4.CodeIncompleteSignature,
			mutate: func(u *url.URL, h http.Header) {
				u.RawQuery = strings.Replace(u.RawQuery, "X-Amz-Expires=60", "X-Amz-Expires=-1", 1)
			}},
		{name: "expires not a number", url: stsURL, wantCode: sigv4.CodeIncompleteSignature,
			mutate: func(u *url.URL, h http.Header) {
				u.RawQuery = strings.Replace(u.RawQuery, "X-Amz-Expires=60", "X-Amz-Expires=1m", 1)
			}},
		{name: "other cluster id", url: stsURL, wantCode: sigv4.CodeInvalidSignature, wantMsg: mismatch,
			mutate: func(u *url.URL, h http.Header) { h.Set("x-k8s-aws-id", "prod") }},
		{name: "cluster id missing", url: stsURL, wantCode: sigv4.CodeInvalidSignature,
			mutate: func(u *url.URL, h http.Header) { h.Del("x-k8s-aws-id") }},
		{name: "other host", url: stsURL, wantCode: sigv4.CodeInvalidSignature,
			mutate: func(u *url.URL, h http.Header) { u.Host = "sts.eu-west-1.amazonaws.com" }},
		{name: "other action", url: stsURL, wantCode: sigv4.CodeInvalidSignature,
			mutate: func(u *url.URL, h http.Header) {
				u.RawQuery = strings.Replace(u.RawQuery, "GetCallerIdentity", "AssumeRole", 1)
			}},
		{name: "wrong service", url: stsURL, service: "eks", wantCode: sigv4.CodeInvalidSignature,
			wantMsg: "Credential should be scoped to correct service: 'sts'."},
		{name: "unknown key", url: stsURL, creds: unknown, wantCode: sigv4.CodeUnrecognizedClient},
		{name: "session token removed", url: stsURL, creds: session, wantCode: sigv4.CodeUnrecognizedClient,
			mutate: func(u *url.URL, h http.Header) {
				q := u.Query()
				q.Del("X-Amz-Security-Token")
				u.RawQuery = q.Encode()
			}},
		{name: "not presigned", url: stsURL, wantCode: sigv4.CodeMissingAuthenticationToken,
			mutate: func(u *url.URL, h http.Header) { u.RawQuery = "Action=GetCallerIdentity" }},
		{name: "other algorithm", url: stsURL, wantCode: sigv4.CodeMissingAuthenticationToken,
			mutate: func(u *url.URL, h http.Header) {
				u.RawQuery = strings.Replace(u.RawQuery, "AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256", 1)
			}},
		{name: "missing parameters", url: stsURL, wantCode: sigv4.CodeIncompleteSignature,
			wantMsg: "AWS query-string parameters must include 'X-Amz-Signature'. " +
				"AWS query-string parameters must include 'X-Amz-Date'. Re-examine the query-string parameters.",
			mutate: func(u *url.URL, h http.Header) {
				q := u.Query()
				q.Del("X-Amz-Signature")
				q.Del("X-Amz-Date")
				u.RawQuery = q.Encode()
			}},
		{name: "host not signed", url: stsURL, wantCode: sigv4.CodeInvalidSignature,
			wantMsg: "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
			mutate: func(u *url.URL, h http.Header) {
				u.RawQuery = strings.Replace(u.RawQuery, "X-Amz-SignedHeaders=host%3B", "X-Amz-SignedHeaders=", 1)
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			creds := tt.creds
			if creds == (aws.Credentials{}) {
				creds = longTerm
			}
			service := tt.service
			if service == "" {
				service = "sts"
			}
			u, h := presign(t, tt.url, k8sID, creds, service)
			h.Del("Host") // as for a token: the host comes from the URL
			if tt.mutate != nil {
				tt.mutate(u, h)
			}
			v := newVerifier(t, signTime.Add(tt.now), "sts")
			res, err := v.VerifyPresigned(t.Context(), http.MethodGet, u, h, tt.maxExpires)
			wantError(t, err, tt.wantCode, tt.wantMsg)
			if err == nil && (res.Credential.AccessKeyID != creds.AccessKeyID || res.Service != "sts" ||
				!strings.Contains(res.SignedHeaders, "x-k8s-aws-id")) {
				t.Errorf("result = %+v", res)
			}
		})
	}
}

// TestVerifyPresignedRequest checks that Verify accepts a request that is
// itself presigned, as AWS services do.
func TestVerifyPresignedRequest(t *testing.T) {
	u, h := presign(t, berthURL+"/clusters/demo?X-Amz-Expires=300", nil, longTerm, "eks")
	r, err := http.NewRequest(http.MethodGet, u.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range h {
		if k != "Host" {
			r.Header[k] = vs
		}
	}
	sr, body := toServer(t, r)
	v := newVerifier(t, signTime.Add(4*time.Minute), "eks")
	if _, err := v.Verify(t.Context(), sr, body); err != nil {
		t.Fatal(err)
	}
	v = newVerifier(t, signTime.Add(6*time.Minute), "eks")
	_, err = v.Verify(t.Context(), sr, body)
	wantError(t, err, sigv4.CodeInvalidSignature, "")
}

func TestConcurrentVerify(t *testing.T) {
	v := newVerifier(t, signTime, "eks")
	r, body := sign(t, request{url: berthURL + "/clusters/demo"})
	r2, body2 := sign(t, request{url: berthURL + "/clusters/demo", creds: session, region: "eu-west-1"})
	done := make(chan error)
	for i := range 8 {
		go func() {
			var err error
			for range 200 {
				if i%2 == 0 {
					_, err = v.Verify(t.Context(), r, body)
				} else {
					_, err = v.Verify(t.Context(), r2, body2)
				}
				if err != nil {
					break
				}
			}
			done <- err
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

// TestVerifyPresignedWindow checks EKS's token rule: valid for the window
// from the signing time, whatever X-Amz-Expires says, and no longer.
func TestVerifyPresignedWindow(t *testing.T) {
	const stsURL = "https://sts.us-east-1.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Expires=60"
	for _, tc := range []struct {
		after time.Duration
		ok    bool
	}{{30 * time.Second, true}, {5 * time.Minute, true}, {15 * time.Minute, true}, {15*time.Minute + time.Second, false}} {
		u, h := presign(t, stsURL, map[string]string{"x-k8s-aws-id": "demo"}, longTerm, "sts")
		v := newVerifier(t, signTime.Add(tc.after), "sts")
		_, err := v.VerifyPresignedWindow(t.Context(), http.MethodGet, u, h, 15*time.Minute)
		if (err == nil) != tc.ok {
			t.Errorf("%v after signing: err %v, want ok %v", tc.after, err, tc.ok)
		}
	}
	// The cluster's name is part of the signature.
	u, h := presign(t, stsURL, map[string]string{"x-k8s-aws-id": "demo"}, longTerm, "sts")
	h.Set("x-k8s-aws-id", "other")
	if _, err := newVerifier(t, signTime, "sts").VerifyPresignedWindow(t.Context(), http.MethodGet, u, h, 15*time.Minute); err == nil {
		t.Error("a token for demo verified for another cluster")
	}
}
