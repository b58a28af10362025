package iamauth

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/berthproject/berth/internal/access"
	"github.com/berthproject/berth/internal/cluster"
	"github.com/berthproject/berth/internal/sigv4"
)

var (
	now      = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	rootKey  = aws.Credentials{AccessKeyID: "AKIAROOT", SecretAccessKey: "root-secret"}
	aliceKey = aws.Credentials{AccessKeyID: "AKIAALICE", SecretAccessKey: "alice-secret"}
	bobKey   = aws.Credentials{AccessKeyID: "AKIABOB", SecretAccessKey: "bob-secret"}
	session  = aws.Credentials{AccessKeyID: "ASIADEV", SecretAccessKey: "dev-secret", SessionToken: "dev-token"}
	expired  = aws.Credentials{AccessKeyID: "ASIAOLD", SecretAccessKey: "old-secret", SessionToken: "old-token"}
	nodeSess = aws.Credentials{AccessKeyID: "ASIANODE", SecretAccessKey: "node-secret", SessionToken: "node-token"}
)

func creds() sigv4.StaticCredentials {
	return sigv4.StaticCredentials{
		rootKey.AccessKeyID:  {AccessKeyID: rootKey.AccessKeyID, SecretAccessKey: rootKey.SecretAccessKey, Principal: "arn:aws:iam::000000000000:root"},
		aliceKey.AccessKeyID: {AccessKeyID: aliceKey.AccessKeyID, SecretAccessKey: aliceKey.SecretAccessKey, Principal: "arn:aws:iam::000000000000:user/alice"},
		bobKey.AccessKeyID:   {AccessKeyID: bobKey.AccessKeyID, SecretAccessKey: bobKey.SecretAccessKey, Principal: "arn:aws:iam::000000000000:user/bob"},
		session.AccessKeyID: {AccessKeyID: session.AccessKeyID, SecretAccessKey: session.SecretAccessKey, SessionToken: session.SessionToken,
			Expires: now.Add(time.Hour), Principal: "arn:aws:sts::000000000000:assumed-role/dev/carol@example.com"},
		expired.AccessKeyID: {AccessKeyID: expired.AccessKeyID, SecretAccessKey: expired.SecretAccessKey, SessionToken: expired.SessionToken,
			Expires: now.Add(-time.Minute), Principal: "arn:aws:sts::000000000000:assumed-role/dev/old"},
		nodeSess.AccessKeyID: {AccessKeyID: nodeSess.AccessKeyID, SecretAccessKey: nodeSess.SecretAccessKey, SessionToken: nodeSess.SessionToken,
			Expires: now.Add(time.Hour), Principal: "arn:aws:sts::000000000000:assumed-role/nodes/i-0123456789abcdef0"},
	}
}

// token makes a bearer token as `aws eks get-token` does: a presigned
// GetCallerIdentity with the cluster name signed in x-k8s-aws-id.
func token(t testing.TB, c aws.Credentials, clusterName, endpoint string, at time.Time) string {
	t.Helper()
	r, _ := http.NewRequest(http.MethodGet, endpoint+"/?Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Expires=60", nil)
	r.Header.Set("x-k8s-aws-id", clusterName)
	u, _, err := v4.NewSigner().PresignHTTP(context.Background(), c, r, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "sts", "us-east-1", at)
	if err != nil {
		t.Fatal(err)
	}
	return TokenPrefix + base64.RawURLEncoding.EncodeToString([]byte(u))
}

type fakeClusters map[string]*cluster.Cluster

func (f fakeClusters) ByIssuer(_ context.Context, issuerID string) (*cluster.Cluster, error) {
	for _, c := range f {
		if c.OIDCIssuerID == issuerID {
			return c, nil
		}
	}
	return nil, cluster.ErrNoIssuer
}

func (f fakeClusters) Get(_ context.Context, name string) (*cluster.Cluster, uint64, error) {
	c, ok := f[name]
	if !ok {
		return nil, 0, context.Canceled
	}
	return c, 1, nil
}

type fakeEntries map[string]*access.Entry // by principal ARN

func (f fakeEntries) Resolve(_ context.Context, _ string, arn string) (*access.Entry, bool, error) {
	if e, ok := f[arn]; ok {
		return e, true, nil
	}
	if i := strings.Index(arn, ":assumed-role/"); i >= 0 {
		role := strings.Split(arn[i+len(":assumed-role/"):], "/")[0]
		for p, e := range f {
			if strings.Contains(p, ":role/") && strings.HasSuffix(p, "/"+role) {
				return e, true, nil
			}
		}
	}
	return nil, false, nil
}

func policy(name, scope string, namespaces ...string) access.AssociatedPolicy {
	return access.AssociatedPolicy{PolicyARN: access.PolicyARNPrefix + name, Scope: access.Scope{Type: scope, Namespaces: namespaces}}
}

type env struct {
	h    *Handler
	kube *fake.Clientset
}

func setup(t testing.TB, mode string) *env {
	t.Helper()
	clusters := fakeClusters{
		"demo":  {Name: "demo", OIDCIssuerID: "DEMOID", Access: cluster.AccessConfig{AuthenticationMode: mode}},
		"other": {Name: "other", OIDCIssuerID: "OTHERID", Access: cluster.AccessConfig{AuthenticationMode: mode}},
	}
	entries := fakeEntries{
		"arn:aws:iam::000000000000:root": {PrincipalARN: "arn:aws:iam::000000000000:root", Type: access.TypeStandard,
			Username: "arn:aws:iam::000000000000:root", Policies: []access.AssociatedPolicy{policy("AmazonEKSClusterAdminPolicy", access.ScopeCluster)}},
		"arn:aws:iam::000000000000:user/alice": {PrincipalARN: "arn:aws:iam::000000000000:user/alice", Type: access.TypeStandard,
			Username: "alice", KubernetesGroups: []string{"devs"}, Policies: []access.AssociatedPolicy{policy("AmazonEKSViewPolicy", access.ScopeNamespace, "team-*")}},
		"arn:aws:iam::000000000000:role/eng/dev": {PrincipalARN: "arn:aws:iam::000000000000:role/eng/dev", Type: access.TypeStandard,
			Username: "dev:{{SessionName}}"},
		"arn:aws:iam::000000000000:role/nodes": {PrincipalARN: "arn:aws:iam::000000000000:role/nodes", Type: access.TypeEC2Linux,
			Username: "system:node:{{EC2PrivateDNSName}}"},
	}
	kube := fake.NewClientset(&corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "aws-auth"},
		Data: map[string]string{
			"mapUsers": "- userarn: arn:aws:iam::000000000000:user/bob\n  username: bob\n  groups: [system:masters]\n",
			"mapRoles": "- rolearn: arn:aws:iam::000000000000:role/dev\n  username: cm-dev:{{SessionName}}\n  groups: [readers]\n",
		},
	})
	h, err := New(Config{
		Clusters: clusters, Entries: entries, Credentials: creds(), Region: "us-east-1", EndpointHost: "127.0.0.1:4800",
		Admin: func(context.Context, string) (kubernetes.Interface, error) { return kube, nil },
		NodeName: func(_ context.Context, id string) (string, bool) {
			return "ip-172-31-0-9.ec2.internal", id == "i-0123456789abcdef0"
		},
		Now: func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	return &env{h: h, kube: kube}
}

func (e *env) review(t *testing.T, issuer, tok string) authenticationv1.TokenReviewStatus {
	t.Helper()
	body, _ := json.Marshal(authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: tok}})
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, Path(issuer)+"/authenticate", bytes.NewReader(body)))
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	var out authenticationv1.TokenReview
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	return out.Status
}

func TestAuthenticate(t *testing.T) {
	e := setup(t, access.ModeAPIAndConfig)
	const sts = "https://sts.us-east-1.amazonaws.com"
	for _, tc := range []struct {
		name    string
		token   string
		issuer  string
		user    string
		groups  []string
		refusal string // part of the error, "" when authenticated
	}{
		{name: "root", token: token(t, rootKey, "demo", sts, now), user: "arn:aws:iam::000000000000:root"},
		{name: "user with an entry", token: token(t, aliceKey, "demo", sts, now.Add(-10*time.Minute)), user: "alice", groups: []string{"devs"}},
		{name: "global STS host", token: token(t, aliceKey, "demo", "https://sts.amazonaws.com", now), user: "alice", groups: []string{"devs"}},
		{name: "berth's endpoint", token: token(t, aliceKey, "demo", "http://127.0.0.1:4800", now), user: "alice", groups: []string{"devs"}},
		{name: "role session, templated name", token: token(t, session, "demo", sts, now), user: "dev:carol-example.com"},
		{name: "node role", token: token(t, nodeSess, "demo", sts, now), user: "system:node:ip-172-31-0-9.ec2.internal", groups: []string{"system:bootstrappers", "system:nodes"}},
		{name: "aws-auth user", token: token(t, bobKey, "demo", sts, now), user: "bob", groups: []string{"system:masters"}},

		{name: "token of another cluster", token: token(t, aliceKey, "other", sts, now), refusal: "signature"},
		{name: "expired token", token: token(t, aliceKey, "demo", sts, now.Add(-16*time.Minute)), refusal: "expired"},
		{name: "wrong secret", token: token(t, aws.Credentials{AccessKeyID: aliceKey.AccessKeyID, SecretAccessKey: "guess"}, "demo", sts, now), refusal: "signature"},
		{name: "unknown key", token: token(t, aws.Credentials{AccessKeyID: "AKIAGONE", SecretAccessKey: "x"}, "demo", sts, now), refusal: "invalid token"},
		{name: "expired session", token: token(t, expired, "demo", sts, now.Add(-2*time.Minute)), refusal: "invalid token"},
		{name: "foreign host", token: token(t, aliceKey, "demo", "https://sts.evil.example", now), refusal: "unexpected STS endpoint"},
		{name: "plain http to AWS", token: token(t, aliceKey, "demo", "http://sts.amazonaws.com", now), refusal: "unexpected STS endpoint"},
		{name: "not base64", token: TokenPrefix + "%%%", refusal: "base64"},
		{name: "too large", token: TokenPrefix + strings.Repeat("A", 5000), refusal: "too large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			issuer := tc.issuer
			if issuer == "" {
				issuer = "DEMOID"
			}
			st := e.review(t, issuer, tc.token)
			if tc.refusal != "" {
				if st.Authenticated || !strings.Contains(st.Error, tc.refusal) {
					t.Fatalf("authenticated %v, error %q; want a refusal with %q", st.Authenticated, st.Error, tc.refusal)
				}
				return
			}
			if !st.Authenticated || st.User.Username != tc.user || strings.Join(st.User.Groups, ",") != strings.Join(tc.groups, ",") {
				t.Fatalf("got %+v (error %q), want %s %v", st.User, st.Error, tc.user, tc.groups)
			}
		})
	}

	// A tampered URL: another parameter, or the action changed.
	tok := token(t, aliceKey, "demo", sts, now)
	raw, _ := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(tok, TokenPrefix))
	for _, bad := range []string{
		strings.Replace(string(raw), "Action=GetCallerIdentity", "Action=GetSessionToken", 1),
		string(raw) + "&extra=1",
		strings.Replace(string(raw), "X-Amz-Expires=60", "X-Amz-Expires=6000", 1),
	} {
		if st := e.review(t, "DEMOID", TokenPrefix+base64.RawURLEncoding.EncodeToString([]byte(bad))); st.Authenticated {
			t.Errorf("tampered token authenticated: %s", bad)
		}
	}
	// Not an EKS token: no opinion and no error, for other authenticators.
	if st := e.review(t, "DEMOID", "some-other-token"); st.Authenticated || st.Error != "" {
		t.Errorf("foreign token: %+v", st)
	}
}

func TestModes(t *testing.T) {
	for _, tc := range []struct {
		mode       string
		alice, bob bool // entry user, aws-auth user
	}{
		{access.ModeAPI, true, false},
		{access.ModeConfigMap, false, true},
		{access.ModeAPIAndConfig, true, true},
	} {
		e := setup(t, tc.mode)
		if got := e.review(t, "DEMOID", token(t, aliceKey, "demo", "https://sts.us-east-1.amazonaws.com", now)).Authenticated; got != tc.alice {
			t.Errorf("%s: entry user authenticated %v, want %v", tc.mode, got, tc.alice)
		}
		if got := e.review(t, "DEMOID", token(t, bobKey, "demo", "https://sts.us-east-1.amazonaws.com", now)).Authenticated; got != tc.bob {
			t.Errorf("%s: aws-auth user authenticated %v, want %v", tc.mode, got, tc.bob)
		}
	}
	// aws-auth's mapRoles matches a session of the role in CONFIG_MAP mode.
	e := setup(t, access.ModeConfigMap)
	st := e.review(t, "DEMOID", token(t, session, "demo", "https://sts.us-east-1.amazonaws.com", now))
	if !st.Authenticated || st.User.Username != "cm-dev:carol-example.com" || strings.Join(st.User.Groups, ",") != "readers" {
		t.Errorf("mapRoles: %+v %q", st.User, st.Error)
	}
}

func (e *env) authorize(t *testing.T, principal string, ra *authorizationv1.ResourceAttributes) authorizationv1.SubjectAccessReviewStatus {
	t.Helper()
	spec := authorizationv1.SubjectAccessReviewSpec{User: "someone", ResourceAttributes: ra}
	if principal != "" {
		spec.Extra = map[string]authorizationv1.ExtraValue{ExtraAccessEntry: {principal}}
	}
	body, _ := json.Marshal(authorizationv1.SubjectAccessReview{Spec: spec})
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, Path("DEMOID")+"/authorize", bytes.NewReader(body)))
	var out authorizationv1.SubjectAccessReview
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &out) != nil {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	return out.Status
}

func TestAuthorize(t *testing.T) {
	e := setup(t, access.ModeAPI)
	alice := "arn:aws:iam::000000000000:user/alice"
	root := "arn:aws:iam::000000000000:root"
	for _, tc := range []struct {
		name      string
		principal string
		ra        authorizationv1.ResourceAttributes
		allowed   bool
	}{
		{"view lists pods in scope", alice, authorizationv1.ResourceAttributes{Verb: "list", Resource: "pods", Namespace: "team-a", Version: "v1"}, true},
		{"view reads deployments in scope", alice, authorizationv1.ResourceAttributes{Verb: "get", Group: "apps", Resource: "deployments", Namespace: "team-b", Name: "x"}, true},
		{"view cannot read secrets", alice, authorizationv1.ResourceAttributes{Verb: "get", Resource: "secrets", Namespace: "team-a"}, false},
		{"view cannot create", alice, authorizationv1.ResourceAttributes{Verb: "create", Resource: "pods", Namespace: "team-a"}, false},
		{"out of scope namespace", alice, authorizationv1.ResourceAttributes{Verb: "list", Resource: "pods", Namespace: "default"}, false},
		{"cluster-wide list out of a namespace scope", alice, authorizationv1.ResourceAttributes{Verb: "list", Resource: "pods"}, false},
		{"cluster admin does everything", root, authorizationv1.ResourceAttributes{Verb: "delete", Resource: "nodes", Name: "n"}, true},
		{"no entry, no opinion", "arn:aws:iam::000000000000:user/nobody", authorizationv1.ResourceAttributes{Verb: "get", Resource: "pods", Namespace: "team-a"}, false},
		{"not an IAM user", "", authorizationv1.ResourceAttributes{Verb: "get", Resource: "pods", Namespace: "team-a"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := e.authorize(t, tc.principal, &tc.ra)
			if st.Allowed != tc.allowed || st.Denied {
				t.Fatalf("allowed %v denied %v (%s), want allowed %v", st.Allowed, st.Denied, st.Reason, tc.allowed)
			}
		})
	}
}

func TestUnknownControlPlane(t *testing.T) {
	e := setup(t, access.ModeAPI)
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, Path("NOPE")+"/authenticate", strings.NewReader("{}")))
	if rec.Code != http.StatusNotFound {
		t.Errorf("status %d for an unknown control plane", rec.Code)
	}
	rec = httptest.NewRecorder()
	e.h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, Path("DEMOID")+"/authenticate", strings.NewReader("{")))
	if rec.Code != http.StatusBadRequest {
		t.Errorf("status %d for a malformed review", rec.Code)
	}
}

// BenchmarkAuthenticate is one TokenReview answered by the webhook
// handler: decode, verify the presigned URL, map through the access entry.
func BenchmarkAuthenticate(b *testing.B) {
	e := setup(b, access.ModeAPI)
	tok := token(b, aliceKey, "demo", "https://sts.us-east-1.amazonaws.com", now)
	body, _ := json.Marshal(authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: tok}})
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		e.h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, Path("DEMOID")+"/authenticate", bytes.NewReader(body)))
		if rec.Code != http.StatusOK || !bytes.Contains(rec.Body.Bytes(), []byte(`"authenticated":true`)) {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
}
