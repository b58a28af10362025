package queryapi_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/berthproject/berth/internal/queryapi"
	"github.com/berthproject/berth/internal/sigv4"
)

// wantWire checks that err is the wire error status, code and message.
func wantWire(t *testing.T, err error, status int, code, message string) {
	t.Helper()
	var e *queryapi.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v, want %d %s", err, status, code)
	}
	if e.Status != status || e.Code != code || e.Message != message {
		t.Errorf("error %d %s: %q, want %d %s: %q", e.Status, e.Code, e.Message, status, code, message)
	}
}

func TestRequestID(t *testing.T) {
	re := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	a, b := queryapi.RequestID(), queryapi.RequestID()
	if !re.MatchString(a) || a == b {
		t.Errorf("request ids %q, %q: want distinct random UUIDs", a, b)
	}
}

func TestReadBody(t *testing.T) {
	tests := []struct {
		name          string
		d             queryapi.Dialect
		body          string
		status        int // 0: read
		code, message string
	}{
		{"within the limit", query, "Action=X", 0, "", ""},
		{"query too large", query, "Action=XYZ", http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "The request body is larger than the 8 bytes allowed."},
		{"ec2 too large", ec2, "Action=XYZ", http.StatusBadRequest, "InvalidRequest", "The request body is larger than the 8 bytes allowed."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tt.body))
			got, err := tt.d.ReadBody(httptest.NewRecorder(), r, 8)
			if tt.status != 0 {
				wantWire(t, err, tt.status, tt.code, tt.message)
				return
			}
			if err != nil || string(got) != tt.body {
				t.Errorf("ReadBody = %q, %v", got, err)
			}
		})
	}

	r := httptest.NewRequest(http.MethodPost, "/", failingReader{})
	_, err := query.ReadBody(httptest.NewRecorder(), r, 8)
	wantWire(t, err, http.StatusBadRequest, "MalformedQueryString", "The request body could not be read.")
	_, err = ec2.ReadBody(httptest.NewRecorder(), r, 8)
	wantWire(t, err, http.StatusBadRequest, "InvalidRequest", "Could not read the request body: connection reset")
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

func TestDecode(t *testing.T) {
	const form = "application/x-www-form-urlencoded; charset=utf-8"
	tests := []struct {
		name          string
		d             queryapi.Dialect
		method        string
		query         string
		contentType   string
		body          string
		want          string // the decoded parameters, encoded
		status        int    // 0: decoded
		code, message string
	}{
		{"GET reads the query string only", query, http.MethodGet, "Action=A&Version=1", "text/plain", "%zz", "Action=A&Version=1", 0, "", ""},
		{"POST appends the body", query, http.MethodPost, "Action=A&Id=1", form, "Id=2&Version=1", "Action=A&Id=1&Id=2&Version=1", 0, "", ""},
		{"POST without a content type", ec2, http.MethodPost, "", "", "Action=A", "Action=A", 0, "", ""},
		{"query method", query, http.MethodPut, "", form, "Action=A", "", http.StatusMethodNotAllowed, "InvalidAction", "The HTTP method PUT is not supported."},
		{"ec2 method", ec2, http.MethodDelete, "", "", "", "", http.StatusMethodNotAllowed, "UnsupportedOperation", "The HTTP method DELETE is not supported."},
		{"query content type", query, http.MethodPost, "", "application/json", "{}", "", http.StatusBadRequest, "MalformedQueryString",
			`Unsupported content type "application/json"; the query protocol takes application/x-www-form-urlencoded.`},
		{"ec2 content type", ec2, http.MethodPost, "", "text/plain", "", "", http.StatusBadRequest, "InvalidRequest",
			`Unsupported content type "text/plain"; EC2 takes application/x-www-form-urlencoded.`},
		{"malformed content type", query, http.MethodPost, "", "a/b/c;;", "", "", http.StatusBadRequest, "MalformedQueryString",
			`Unsupported content type "a/b/c;;"; the query protocol takes application/x-www-form-urlencoded.`},
		{"query body", query, http.MethodPost, "", form, "Action=%zz", "", http.StatusBadRequest, "MalformedQueryString", "The request body is not a valid query string."},
		{"ec2 body", ec2, http.MethodPost, "", form, "Action=%zz", "", http.StatusBadRequest, "InvalidRequest", `The request body is not a valid query string: invalid URL escape "%zz"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, "/?"+tt.query, strings.NewReader(tt.body))
			if tt.contentType != "" {
				r.Header.Set("Content-Type", tt.contentType)
			}
			p, err := tt.d.Decode(r, []byte(tt.body))
			if p.Dialect() != tt.d {
				t.Errorf("Params in dialect %+v, want %+v", p.Dialect(), tt.d)
			}
			if tt.status != 0 {
				wantWire(t, err, tt.status, tt.code, tt.message)
				return
			}
			if err != nil || p.Encode() != tt.want {
				t.Errorf("Decode = %q, %v; want %q", p.Encode(), err, tt.want)
			}
		})
	}
}

func TestLookup(t *testing.T) {
	actions := map[string]int{"DescribeThings": 1}
	tests := []struct {
		name          string
		d             queryapi.Dialect
		params        string
		want          int
		code, message string
	}{
		{"query", query, "Action=DescribeThings&Version=2011-01-01", 1, "", ""},
		{"query no action", query, "Version=2011-01-01", 0, "MissingAction", "Missing Action"},
		{"query unknown action", query, "Action=Frob&Version=2011-01-01", 0, "InvalidAction", "Could not find operation Frob for version 2011-01-01"},
		{"query other version", query, "Action=DescribeThings&Version=2010-05-08", 0, "InvalidAction", "Could not find operation DescribeThings for version 2010-05-08"},
		{"query no version", query, "Action=DescribeThings", 0, "InvalidAction", "Could not find operation DescribeThings for version NO_VERSION_SPECIFIED"},
		{"ec2", ec2, "Action=DescribeThings&Version=2016-11-15", 1, "", ""},
		{"ec2 no action", ec2, "Version=2016-11-15", 0, "MissingAction", "The request must contain the parameter Action."},
		{"ec2 unknown action", ec2, "Action=Frob", 0, "InvalidAction", "The action Frob is not valid for this web service."},
		{"ec2 no version", ec2, "Action=DescribeThings", 0, "MissingParameter", "The request must contain the parameter Version."},
		{"ec2 other version", ec2, "Action=DescribeThings&Version=2099-01-01", 0, "NoSuchVersion", "The requested version (2099-01-01) of service AmazonEC2 does not exist."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := tt.d.Decode(httptest.NewRequest(http.MethodGet, "/?"+tt.params, nil), nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := queryapi.Lookup(p, actions)
			if tt.code != "" {
				wantError(t, err, tt.code, tt.message)
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("Lookup = %d, %v", got, err)
			}
		})
	}
}

func TestAuthenticate(t *testing.T) {
	now := time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)
	key := sigv4.Credential{AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}
	session := sigv4.Credential{AccessKeyID: "ASIAIOSFODNN7EXAMPLE", SecretAccessKey: "session-secret", SessionToken: "token", Expires: now.Add(-time.Minute)}
	creds := sigv4.StaticCredentials{key.AccessKeyID: key, session.AccessKeyID: session}
	v, err := sigv4.New(sigv4.Config{Credentials: creds, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	scope := queryapi.Scope{Services: []string{"iam", "sts"}, Regions: []string{"us-east-1", "eu-west-1"}}
	const body = "Action=GetCallerIdentity&Version=2011-06-15"
	request := func(service, region, secret string) *http.Request {
		return signed(t, key.AccessKeyID, secret, "", service, region, body, now)
	}
	tests := []struct {
		name          string
		r             *http.Request
		service       string // of the result
		status        int    // 0: verified
		code, message string
	}{
		{"verified", request("sts", "eu-west-1", key.SecretAccessKey), "sts", 0, "", ""},
		{"unsigned", request("", "", ""), "", http.StatusForbidden, "MissingAuthenticationToken", "Request is missing Authentication Token"},
		{"wrong secret", request("iam", "us-east-1", "wrong"), "", http.StatusForbidden, "SignatureDoesNotMatch",
			"The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."},
		{"other service", request("ec2", "us-east-1", key.SecretAccessKey), "ec2", http.StatusForbidden, "SignatureDoesNotMatch", "Credential should be scoped to correct service: 'iam'."},
		{"other region", request("sts", "ap-south-1", key.SecretAccessKey), "sts", http.StatusForbidden, "SignatureDoesNotMatch", "Credential should be scoped to a valid region."},
		{"expired session", signed(t, session.AccessKeyID, session.SecretAccessKey, session.SessionToken, "sts", "us-east-1", body, now), "", http.StatusForbidden, "ExpiredToken",
			"The security token included in the request is expired"},
		{"unknown key", signed(t, "AKIAUNKNOWNKEY000000", "secret", "", "iam", "us-east-1", body, now), "", http.StatusForbidden, "InvalidClientTokenId", "The security token included in the request is invalid."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := queryapi.Authenticate(t.Context(), v, tt.r, []byte(body), scope)
			if res.Service != tt.service {
				t.Errorf("result for service %q, want %q", res.Service, tt.service)
			}
			if tt.status != 0 {
				wantWire(t, err, tt.status, tt.code, tt.message)
				return
			}
			if err != nil || res.Credential.AccessKeyID != key.AccessKeyID {
				t.Errorf("Authenticate = %+v, %v", res, err)
			}
		})
	}
}

// signed returns a POST request of body, signed for service and region
// with the key at now; an empty service leaves it unsigned.
func signed(t *testing.T, id, secret, token, service, region, body string, now time.Time) *http.Request {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "http://berth.example/", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if service == "" {
		return r
	}
	sum := sha256.Sum256([]byte(body))
	creds := aws.Credentials{AccessKeyID: id, SecretAccessKey: secret, SessionToken: token}
	if err := v4.NewSigner().SignHTTP(t.Context(), creds, r, hex.EncodeToString(sum[:]), service, region, now); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestAuthenticateIncomplete(t *testing.T) {
	v, err := sigv4.New(sigv4.Config{Credentials: sigv4.StaticCredentials{}})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPost, "http://berth.example/", nil)
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKID/20260314/us-east-1/iam/aws4_request")
	_, err = queryapi.Authenticate(t.Context(), v, r, nil, queryapi.Scope{Services: []string{"iam"}, Regions: []string{"us-east-1"}})
	var e *queryapi.Error
	if !errors.As(err, &e) || e.Status != http.StatusBadRequest || e.Code != "IncompleteSignature" || e.Message == "" {
		t.Errorf("err = %v, want 400 IncompleteSignature", err)
	}
}
