package sigv4_test

import (
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/berthproject/berth/internal/sigv4"
)

// FuzzVerify feeds arbitrary Authorization headers, dates, paths, queries
// and bodies to Verify and VerifyPresigned: they must never panic, and
// every failure must be an *sigv4.Error (the static Lookup cannot fail).
func FuzzVerify(f *testing.F) {
	for _, w := range []string{botocoreUntag, botocoreTag, botocoreList, botocoreDescribeSession, botocoreDotSegments} {
		r, body := parseWire(f, w)
		f.Add(r.Header.Get("Authorization"), r.Header.Get("X-Amz-Date"), r.RequestURI, r.Header.Get("X-Amz-Security-Token"), body)
	}
	f.Add("AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=host;x-amz-date, Signature=zz", "20261127T120000Z", "/?X-Amz-Algorithm=AWS4-HMAC-SHA256", "", []byte{})
	f.Add("AWS4-HMAC-SHA256 ,,, = ==, Credential=////", "20261127T120000Z", "/a/../../b//?%zz=%&&=", "", []byte("x"))
	f.Add("", "", "/?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20261127%2Fus-east-1%2Feks%2Faws4_request"+
		"&X-Amz-Date=20261127T120000Z&X-Amz-Expires=99999999999999999999&X-Amz-SignedHeaders=host&X-Amz-Signature=00", "", []byte{})

	v := newVerifier(f, signTime, "eks")
	f.Fuzz(func(t *testing.T, authz, amzDate, requestURI, token string, body []byte) {
		u, err := url.ParseRequestURI(requestURI)
		if err != nil {
			u = &url.URL{Path: "/"}
		}
		r := &http.Request{
			Method:     http.MethodPost,
			URL:        u,
			RequestURI: requestURI,
			Host:       "berth.localhost:8443",
			Header: http.Header{
				"Authorization":        {authz},
				"X-Amz-Date":           {amzDate},
				"Date":                 {amzDate},
				"X-Amz-Security-Token": {token},
				"X-Amz-Content-Sha256": {token},
				"Content-Type":         {"application/json"},
			},
			ContentLength: int64(len(body)),
		}
		_, err = v.Verify(t.Context(), r, body)
		var e *sigv4.Error
		if err != nil && !errors.As(err, &e) {
			t.Fatalf("Verify: %v is not an *Error", err)
		}
		u.Scheme, u.Host = "https", "sts.us-east-1.amazonaws.com"
		_, err = v.VerifyPresigned(t.Context(), http.MethodGet, u, http.Header{"X-K8s-Aws-Id": {token}}, time.Minute)
		if err != nil && !errors.As(err, &e) {
			t.Fatalf("VerifyPresigned: %v is not an *Error", err)
		}
	})
}
