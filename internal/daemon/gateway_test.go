package daemon

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestGatewayRoutes checks that requests go to the API their signing
// scope names: iam and sts to the IAM handler and autoscaling to the Auto
// Scaling handler, with the body capped, and everything else but ec2 to
// EKS.
func TestGatewayRoutes(t *testing.T) {
	var got string
	var gotBody string
	var bodyErr error
	handler := func(name string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got = name
			b, err := io.ReadAll(r.Body)
			gotBody, bodyErr = string(b), err
		})
	}
	g := &gateway{eks: handler("eks"), ec2: handler("ec2"), iam: handler("iam"), asg: handler("autoscaling"), maxBody: 32}
	auth := func(service string) string {
		return "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/" + service + "/aws4_request, SignedHeaders=host;x-amz-date, Signature=00"
	}
	tests := []struct {
		name, authorization, query string
		body                       string
		want                       string
		wantErr                    bool
	}{
		{"iam", auth("iam"), "", "Action=ListUsers", "iam", false},
		{"sts", auth("sts"), "", "Action=GetCallerIdentity", "iam", false},
		{"sts presigned", "", "?X-Amz-Credential=AKIDEXAMPLE%2F20260101%2Fus-east-1%2Fsts%2Faws4_request", "", "iam", false},
		{"iam body too large", auth("iam"), "", strings.Repeat("x", 33), "iam", true},
		{"autoscaling", auth("autoscaling"), "", "Action=DescribeAutoScalingGroups", "autoscaling", false},
		{"autoscaling body too large", auth("autoscaling"), "", strings.Repeat("x", 33), "autoscaling", true},
		{"eks", auth("eks"), "", "{}", "eks", false},
		{"unsigned", "", "", "", "eks", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, gotBody, bodyErr = "", "", nil
			r := httptest.NewRequest(http.MethodPost, "/"+tt.query, strings.NewReader(tt.body))
			if tt.authorization != "" {
				r.Header.Set("Authorization", tt.authorization)
			}
			g.ServeHTTP(httptest.NewRecorder(), r)
			if got != tt.want {
				t.Fatalf("routed to %q, want %q", got, tt.want)
			}
			if tt.wantErr != (bodyErr != nil) || !tt.wantErr && gotBody != tt.body {
				t.Errorf("body %q, error %v; want %q, error %v", gotBody, bodyErr, tt.body, tt.wantErr)
			}
		})
	}

	// Without an IAM or Auto Scaling handler, their requests go to EKS
	// as before.
	g.iam, g.asg = nil, nil
	for _, service := range []string{"iam", "autoscaling"} {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(""))
		r.Header.Set("Authorization", auth(service))
		g.ServeHTTP(httptest.NewRecorder(), r)
		if got != "eks" {
			t.Errorf("without a handler for %s routed to %q, want eks", service, got)
		}
	}
}
