package ec2api_test

import (
	"encoding/xml"
	"flag"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// post sends a raw query request and returns the status and body.
func post(t *testing.T, method, target string, form url.Values) (int, string) {
	t.Helper()
	var body io.Reader
	if method == http.MethodPost {
		body = strings.NewReader(form.Encode())
	} else {
		target += "?" + form.Encode()
	}
	req, err := http.NewRequestWithContext(t.Context(), method, target, body)
	if err != nil {
		t.Fatal(err)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/xml") {
		t.Errorf("Content-Type = %q", ct)
	}
	if resp.Header.Get("x-amzn-RequestId") == "" {
		t.Error("no x-amzn-RequestId header")
	}
	return resp.StatusCode, string(b)
}

var requestIDRE = regexp.MustCompile(`<(requestId|RequestID)>[0-9a-f-]{36}</(requestId|RequestID)>`)

// TestGolden pins whole responses byte for byte; run with -update to
// rewrite them after a deliberate change.
func TestGolden(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		file string
		form url.Values
	}{
		{"describe-subnets.xml", url.Values{"Action": {"DescribeSubnets"}, "Version": {"2016-11-15"}, "SubnetId.1": {f.net.Subnets[0].ID}}},
		{"describe-instance-types.xml", url.Values{"Action": {"DescribeInstanceTypes"}, "Version": {"2016-11-15"}, "InstanceType.1": {"m5.large"}}},
		{"error-invalid-action.xml", url.Values{"Action": {"RunInstances"}, "Version": {"2016-11-15"}}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			_, body := post(t, http.MethodPost, f.url, tt.form)
			got := requestIDRE.ReplaceAllString(body, "<$1>00000000-0000-4000-8000-000000000000</$2>")
			path := filepath.Join("testdata", tt.file)
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("response differs from %s (run with -update after a deliberate change):\n%s", path, got)
			}
		})
	}
}

// TestProtocol covers what the SDK never sends: missing and unknown
// actions and versions, GET requests and other methods.
func TestProtocol(t *testing.T) {
	f := newFixture(t)
	type errorBody struct {
		Code      string `xml:"Errors>Error>Code"`
		Message   string `xml:"Errors>Error>Message"`
		RequestID string `xml:"RequestID"`
	}
	tests := []struct {
		name   string
		method string
		form   url.Values
		status int
		code   string // empty: success
	}{
		{"GET works", http.MethodGet, url.Values{"Action": {"DescribeVpcs"}, "Version": {"2016-11-15"}}, http.StatusOK, ""},
		{"no action", http.MethodPost, url.Values{"Version": {"2016-11-15"}}, http.StatusBadRequest, "MissingAction"},
		{"unknown action", http.MethodPost, url.Values{"Action": {"Frobnicate"}, "Version": {"2016-11-15"}}, http.StatusBadRequest, "InvalidAction"},
		{"no version", http.MethodPost, url.Values{"Action": {"DescribeVpcs"}}, http.StatusBadRequest, "MissingParameter"},
		{"unknown version", http.MethodPost, url.Values{"Action": {"DescribeVpcs"}, "Version": {"2099-01-01"}}, http.StatusBadRequest, "NoSuchVersion"},
		{"bad list index", http.MethodPost, url.Values{"Action": {"DescribeSubnets"}, "Version": {"2016-11-15"}, "SubnetId.x": {"subnet-1"}}, http.StatusBadRequest, "InvalidParameterValue"},
		{"bad boolean", http.MethodPost, url.Values{"Action": {"DescribeVpcs"}, "Version": {"2016-11-15"}, "DryRun": {"maybe"}}, http.StatusBadRequest, "InvalidParameterValue"},
		{"filter without name", http.MethodPost, url.Values{"Action": {"DescribeSubnets"}, "Version": {"2016-11-15"}, "Filter.1.Value.1": {"x"}}, http.StatusBadRequest, "MissingParameter"},
		{"other method", http.MethodPut, nil, http.StatusMethodNotAllowed, "UnsupportedOperation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := post(t, tt.method, f.url, tt.form)
			if status != tt.status {
				t.Errorf("status = %d, want %d: %s", status, tt.status, body)
			}
			if tt.code == "" {
				var ok struct {
					XMLName   xml.Name
					RequestID string `xml:"requestId"`
				}
				if err := xml.Unmarshal([]byte(body), &ok); err != nil || ok.XMLName.Space != "http://ec2.amazonaws.com/doc/2016-11-15/" || ok.RequestID == "" {
					t.Errorf("success body %s: %v", body, err)
				}
				return
			}
			var e errorBody
			if err := xml.Unmarshal([]byte(body), &e); err != nil {
				t.Fatalf("decoding %s: %v", body, err)
			}
			if e.Code != tt.code || e.Message == "" || e.RequestID == "" {
				t.Errorf("error = %+v, want code %s", e, tt.code)
			}
		})
	}
}
