package sigv4_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/berthproject/berth/internal/sigv4"
)

// eksServer is a real HTTP server that verifies every request and answers
// failures the way the API layer will: status, x-amzn-ErrorType and a JSON
// message.
type eksServer struct {
	*httptest.Server
	mu  sync.Mutex
	uri []string // request URIs that verified
}

func newEKSServer(t *testing.T, v *sigv4.Verifier) *eksServer {
	s := &eksServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		_, err = v.Verify(r.Context(), r, body)
		w.Header().Set("Content-Type", "application/json")
		if e := (*sigv4.Error)(nil); errors.As(err, &e) {
			w.Header().Set("X-Amzn-ErrorType", e.Code)
			w.WriteHeader(e.Status)
			json.NewEncoder(w).Encode(map[string]string{"message": e.Message})
			return
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		s.mu.Lock()
		s.uri = append(s.uri, r.Method+" "+r.RequestURI)
		s.mu.Unlock()
		if r.Method == http.MethodGet && r.URL.Path == "/clusters/demo" {
			io.WriteString(w, `{"cluster":{"name":"demo"}}`)
			return
		}
		io.WriteString(w, `{}`)
	}))
	t.Cleanup(s.Close)
	return s
}

func eksClient(url string, creds aws.Credentials) *eks.Client {
	return eks.New(eks.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(url),
		Credentials:      aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return creds, nil }),
		RetryMaxAttempts: 1,
	})
}

// TestEKSClient drives a real HTTP server with the aws-sdk-go-v2 EKS
// client, signing with the real clock.
func TestEKSClient(t *testing.T) {
	tmp := aws.Credentials{AccessKeyID: "ASIALIVE", SecretAccessKey: "liveSecret", SessionToken: "live-token"}
	v, err := sigv4.New(sigv4.Config{
		Credentials: sigv4.StaticCredentials{
			longTerm.AccessKeyID: {AccessKeyID: longTerm.AccessKeyID, SecretAccessKey: longTerm.SecretAccessKey},
			tmp.AccessKeyID: {AccessKeyID: tmp.AccessKeyID, SecretAccessKey: tmp.SecretAccessKey,
				SessionToken: tmp.SessionToken, Expires: time.Now().Add(time.Hour)},
		},
		Service: "eks",
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := newEKSServer(t, v)
	ctx := t.Context()

	client := eksClient(srv.URL, longTerm)
	out, err := client.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String("demo")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.Cluster.Name) != "demo" {
		t.Errorf("cluster = %+v", out.Cluster)
	}
	if _, err := client.ListClusters(ctx, &eks.ListClustersInput{MaxResults: aws.Int32(10), Include: []string{"all"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.TagResource(ctx, &eks.TagResourceInput{ResourceArn: aws.String(eksARN),
		Tags: map[string]string{"env": "dev", "team": "a b/c"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.UntagResource(ctx, &eks.UntagResourceInput{ResourceArn: aws.String(eksARN),
		TagKeys: []string{"team", "env", "a b"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := eksClient(srv.URL, tmp).DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String("demo")}); err != nil {
		t.Fatal(err)
	}
	srv.mu.Lock()
	uris := strings.Join(srv.uri, "\n")
	srv.mu.Unlock()
	if !strings.Contains(uris, "/tags/"+escapedARN) {
		t.Errorf("no request carried the escaped ARN; verified:\n%s", uris)
	}

	tests := []struct {
		name     string
		creds    aws.Credentials
		wantCode string
		wantMsg  string
	}{
		{"wrong secret", aws.Credentials{AccessKeyID: longTerm.AccessKeyID, SecretAccessKey: "wrong"},
			sigv4.CodeInvalidSignature, mismatch},
		{"unknown key", unknown, sigv4.CodeUnrecognizedClient, "The security token included in the request is invalid."},
		{"wrong session token", aws.Credentials{AccessKeyID: tmp.AccessKeyID, SecretAccessKey: tmp.SecretAccessKey, SessionToken: "x"},
			sigv4.CodeUnrecognizedClient, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := eksClient(srv.URL, tt.creds).DescribeCluster(t.Context(), &eks.DescribeClusterInput{Name: aws.String("demo")})
			var apiErr smithy.APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("err = %v, want an API error", err)
			}
			if apiErr.ErrorCode() != tt.wantCode || tt.wantMsg != "" && apiErr.ErrorMessage() != tt.wantMsg {
				t.Errorf("got %s: %q, want %s: %q", apiErr.ErrorCode(), apiErr.ErrorMessage(), tt.wantCode, tt.wantMsg)
			}
			var respErr *smithyhttp.ResponseError
			if !errors.As(err, &respErr) || respErr.HTTPStatusCode() != http.StatusForbidden {
				t.Errorf("err = %v, want HTTP 403", err)
			}
		})
	}
}
