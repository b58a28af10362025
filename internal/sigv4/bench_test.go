package sigv4_test

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// BenchmarkVerify measures one verification of requests as the EKS API
// receives them. The signing key is cached after the first iteration, as it
// is in a running server.
func BenchmarkVerify(b *testing.B) {
	createBody := []byte(`{"name":"demo","version":"1.33","roleArn":"arn:aws:iam::000000000000:role/eks-cluster",` +
		`"resourcesVpcConfig":{"subnetIds":["subnet-0123456789abcdef0","subnet-0123456789abcdef1"],` +
		`"securityGroupIds":["sg-0123456789abcdef0"],"endpointPublicAccess":true,"endpointPrivateAccess":false},` +
		`"kubernetesNetworkConfig":{"serviceIpv4Cidr":"10.100.0.0/16","ipFamily":"ipv4"},` +
		`"logging":{"clusterLogging":[{"types":["api","audit","authenticator"],"enabled":true}]},` +
		`"tags":{"team":"platform","env":"dev","owner":"someone@example.com"},` +
		`"accessConfig":{"authenticationMode":"API_AND_CONFIG_MAP","bootstrapClusterCreatorAdminPermissions":true}}`)
	createBody = append(createBody, bytes.Repeat([]byte(" "), 1024-len(createBody)%1024)...)

	cases := []struct {
		name string
		req  func(b *testing.B) (*http.Request, []byte)
	}{
		{"DescribeCluster", func(b *testing.B) (*http.Request, []byte) {
			return sign(b, request{url: berthURL + "/clusters/demo"})
		}},
		{"CreateCluster1KiB", func(b *testing.B) (*http.Request, []byte) {
			return sign(b, request{method: http.MethodPost, url: berthURL + "/clusters", body: createBody,
				header: map[string]string{"Content-Type": "application/json"}})
		}},
		{"UntagResource", func(b *testing.B) (*http.Request, []byte) {
			return sign(b, request{method: http.MethodDelete, url: berthURL + "/tags/" + escapedARN + "?tagKeys=team&tagKeys=env&tagKeys=owner"})
		}},
		{"SessionToken", func(b *testing.B) (*http.Request, []byte) {
			return sign(b, request{url: berthURL + "/clusters/demo", creds: session, region: "eu-west-1"})
		}},
		{"BotocoreTag", func(b *testing.B) (*http.Request, []byte) { return parseWire(b, botocoreTag) }},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			r, body := c.req(b)
			v := newVerifier(b, signTime, "eks")
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(b.Context(), r, body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}

	b.Run("EKSToken", func(b *testing.B) {
		raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(botocoreToken, "k8s-aws-v1."))
		if err != nil {
			b.Fatal(err)
		}
		u, err := url.Parse(string(raw))
		if err != nil {
			b.Fatal(err)
		}
		h := http.Header{"X-K8s-Aws-Id": {"demo"}}
		v := newVerifier(b, signTime.Add(10*time.Second), "sts")
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.VerifyPresigned(b.Context(), http.MethodGet, u, h, 15*time.Minute); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkVerifyParallel verifies DescribeCluster requests from every
// available core at once.
func BenchmarkVerifyParallel(b *testing.B) {
	r, body := sign(b, request{url: berthURL + "/clusters/demo"})
	v := newVerifier(b, signTime, "eks")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := v.Verify(b.Context(), r, body); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
