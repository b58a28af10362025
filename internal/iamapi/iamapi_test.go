package iamapi_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	awsiam "github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	awssts "github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/berthproject/berth/internal/credentials"
	"github.com/berthproject/berth/internal/iam"
	"github.com/berthproject/berth/internal/iamapi"
	"github.com/berthproject/berth/internal/sigv4"
	"github.com/berthproject/berth/internal/store"
)

const (
	account = "000000000000"
	region  = "eu-west-1" // berth's region; IAM clients sign for us-east-1
)

// clock is a fake clock for the service and the verifier. The SDK signs
// with the real time, so the verifier allows a skew of two days and the
// tests move the clock by hours at most.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type fixture struct {
	url   string
	keys  *credentials.Keyring
	clock *clock
	auth  func(service string) *sigv4.Verifier
	root  credentials.Key
	// rootIAM and rootSTS are clients signed with the root key.
	rootIAM *awsiam.Client
	rootSTS *awssts.Client
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "berth.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	keys := credentials.NewKeyring(st)
	clk := &clock{t: time.Now().UTC().Truncate(time.Second)}
	svc, err := iam.New(iam.Config{Store: st, Keys: keys, Account: account, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	verifier := func(service string) *sigv4.Verifier {
		v, err := sigv4.New(sigv4.Config{Credentials: keys, Service: service, Now: clk.Now, MaxSkew: 48 * time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	h, err := iamapi.New(iamapi.Config{Service: svc, Auth: verifier(""), Region: region})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	root, err := keys.EnsureRoot(t.Context(), account)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{url: srv.URL, keys: keys, clock: clk, auth: verifier, root: root}
	f.rootIAM, f.rootSTS = f.clients(root.AccessKeyID, root.SecretAccessKey, "")
	return f
}

// clients returns IAM and STS clients of the SDK signing with a key: IAM
// for us-east-1, as for AWS's global endpoint, STS for berth's region.
func (f *fixture) clients(id, secret, token string) (*awsiam.Client, *awssts.Client) {
	creds := awscreds.NewStaticCredentialsProvider(id, secret, token)
	httpClient := &http.Client{Transport: bufferedBody{http.DefaultTransport}}
	i := awsiam.New(awsiam.Options{Region: "us-east-1", BaseEndpoint: aws.String(f.url), Credentials: creds, RetryMaxAttempts: 1, HTTPClient: httpClient})
	s := awssts.New(awssts.Options{Region: region, BaseEndpoint: aws.String(f.url), Credentials: creds, RetryMaxAttempts: 1, HTTPClient: httpClient})
	return i, s
}

// bufferedBody hands the transport a private copy of the request body
// (see the same type in internal/ec2api's tests: the SDK closes the body
// while net/http may still read it).
type bufferedBody struct{ next http.RoundTripper }

func (b bufferedBody) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return b.next.RoundTrip(r)
	}
	body, err := io.ReadAll(r.Body)
	r.Body.Close()
	if err != nil {
		return nil, err
	}
	r = r.Clone(r.Context())
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	return b.next.RoundTrip(r)
}

// wantAPIError checks that err is the AWS error code, with the HTTP status
// and, if message is not empty, the message.
func wantAPIError(t *testing.T, err error, code string, status int, message string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("err = %v, want API error %s", err, code)
	}
	if ae.ErrorCode() != code || message != "" && ae.ErrorMessage() != message {
		t.Errorf("error\n  %s: %s\nwant\n  %s: %s", ae.ErrorCode(), ae.ErrorMessage(), code, message)
	}
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() != status {
		t.Errorf("status of %v, want %d", err, status)
	}
	if re != nil && re.ServiceRequestID() == "" {
		t.Error("error carries no request id")
	}
}

// user creates a user with an access key and returns its clients.
func (f *fixture) user(t *testing.T, name string) (*awsiam.Client, *awssts.Client, *iamtypes.AccessKey) {
	t.Helper()
	if _, err := f.rootIAM.CreateUser(t.Context(), &awsiam.CreateUserInput{UserName: &name}); err != nil {
		t.Fatal(err)
	}
	out, err := f.rootIAM.CreateAccessKey(t.Context(), &awsiam.CreateAccessKeyInput{UserName: &name})
	if err != nil {
		t.Fatal(err)
	}
	i, s := f.clients(*out.AccessKey.AccessKeyId, *out.AccessKey.SecretAccessKey, "")
	return i, s, out.AccessKey
}

func TestUserAndAccessKey(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	created, err := f.rootIAM.CreateUser(ctx, &awsiam.CreateUserInput{
		UserName: aws.String("bob"), Path: aws.String("/dev/"), Tags: []iamtypes.Tag{{Key: aws.String("team"), Value: aws.String("infra")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	u := created.User
	if *u.Arn != "arn:aws:iam::000000000000:user/dev/bob" || !strings.HasPrefix(*u.UserId, "AIDA") || *u.Path != "/dev/" || u.CreateDate == nil || len(u.Tags) != 1 {
		t.Errorf("CreateUser = %+v", u)
	}
	keyOut, err := f.rootIAM.CreateAccessKey(ctx, &awsiam.CreateAccessKeyInput{UserName: aws.String("bob")})
	if err != nil {
		t.Fatal(err)
	}
	key := keyOut.AccessKey
	if !strings.HasPrefix(*key.AccessKeyId, "AKIA") || len(*key.AccessKeyId) != 20 || len(*key.SecretAccessKey) != 40 || key.Status != iamtypes.StatusTypeActive || *key.UserName != "bob" {
		t.Errorf("CreateAccessKey = %+v", key)
	}

	// The new key signs requests: IAM and STS know bob.
	bobIAM, bobSTS := f.clients(*key.AccessKeyId, *key.SecretAccessKey, "")
	me, err := bobIAM.GetUser(ctx, &awsiam.GetUserInput{})
	if err != nil {
		t.Fatal(err)
	}
	if *me.User.UserName != "bob" || *me.User.UserId != *u.UserId {
		t.Errorf("GetUser as bob = %+v", me.User)
	}
	id, err := bobSTS.GetCallerIdentity(ctx, &awssts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if *id.Arn != *u.Arn || *id.UserId != *u.UserId || *id.Account != account {
		t.Errorf("GetCallerIdentity as bob = %s %s %s", *id.Arn, *id.UserId, *id.Account)
	}
	keys, err := bobIAM.ListAccessKeys(ctx, &awsiam.ListAccessKeysInput{})
	if err != nil || len(keys.AccessKeyMetadata) != 1 || *keys.AccessKeyMetadata[0].AccessKeyId != *key.AccessKeyId || keys.IsTruncated {
		t.Fatalf("ListAccessKeys as bob = %+v, %v", keys, err)
	}

	// bob reads but does not write.
	_, err = bobIAM.CreateUser(ctx, &awsiam.CreateUserInput{UserName: aws.String("eve")})
	wantAPIError(t, err, "AccessDenied", http.StatusForbidden,
		"User: arn:aws:iam::000000000000:user/dev/bob is not authorized to perform: iam:CreateUser on resource: arn:aws:iam::000000000000:user/eve because no identity-based policy allows the iam:CreateUser action")

	_, err = f.rootIAM.DeleteUser(ctx, &awsiam.DeleteUserInput{UserName: aws.String("bob")})
	wantAPIError(t, err, "DeleteConflict", http.StatusConflict, "Cannot delete entity, must delete access keys first.")

	// Deleted, the key stops working at once.
	if _, err := f.rootIAM.DeleteAccessKey(ctx, &awsiam.DeleteAccessKeyInput{UserName: aws.String("bob"), AccessKeyId: key.AccessKeyId}); err != nil {
		t.Fatal(err)
	}
	_, err = bobIAM.GetUser(ctx, &awsiam.GetUserInput{})
	wantAPIError(t, err, "InvalidClientTokenId", http.StatusForbidden, "The security token included in the request is invalid.")
	_, err = bobSTS.GetCallerIdentity(ctx, &awssts.GetCallerIdentityInput{})
	wantAPIError(t, err, "InvalidClientTokenId", http.StatusForbidden, "The security token included in the request is invalid.")

	if _, err := f.rootIAM.DeleteUser(ctx, &awsiam.DeleteUserInput{UserName: aws.String("bob")}); err != nil {
		t.Fatal(err)
	}
	_, err = f.rootIAM.GetUser(ctx, &awsiam.GetUserInput{UserName: aws.String("bob")})
	wantAPIError(t, err, "NoSuchEntity", http.StatusNotFound, "The user with name bob cannot be found.")
}

func TestAccessKeyQuota(t *testing.T) {
	f := newFixture(t)
	bobIAM, _, _ := f.user(t, "bob")
	// A user makes its own second key, not a third.
	if _, err := bobIAM.CreateAccessKey(t.Context(), &awsiam.CreateAccessKeyInput{}); err != nil {
		t.Fatal(err)
	}
	_, err := bobIAM.CreateAccessKey(t.Context(), &awsiam.CreateAccessKeyInput{})
	wantAPIError(t, err, "LimitExceeded", http.StatusConflict, "Cannot exceed quota for AccessKeysPerUser: 2")
}

func TestListUsersPages(t *testing.T) {
	f := newFixture(t)
	for _, n := range []string{"u1", "u2", "u3", "u4", "u5"} {
		if _, err := f.rootIAM.CreateUser(t.Context(), &awsiam.CreateUserInput{UserName: aws.String(n)}); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	pages := 0
	p := awsiam.NewListUsersPaginator(f.rootIAM, &awsiam.ListUsersInput{MaxItems: aws.Int32(2)})
	for p.HasMorePages() {
		out, err := p.NextPage(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, u := range out.Users {
			names = append(names, *u.UserName)
		}
	}
	if strings.Join(names, ",") != "u1,u2,u3,u4,u5" || pages != 3 {
		t.Errorf("users %v in %d pages, want u1..u5 in 3", names, pages)
	}
	out, err := f.rootIAM.ListUsers(t.Context(), &awsiam.ListUsersInput{PathPrefix: aws.String("/none/")})
	if err != nil || len(out.Users) != 0 || out.IsTruncated {
		t.Errorf("ListUsers of an empty path = %+v, %v", out, err)
	}
	_, err = f.rootIAM.ListUsers(t.Context(), &awsiam.ListUsersInput{MaxItems: aws.Int32(1001)})
	wantAPIError(t, err, "ValidationError", http.StatusBadRequest,
		"1 validation error detected: Value '1001' at 'maxItems' failed to satisfy constraint: Member must have value less than or equal to 1000")
}

func TestRoles(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"eks.amazonaws.com"},"Action":"sts:AssumeRole"}]}`
	out, err := f.rootIAM.CreateRole(ctx, &awsiam.CreateRoleInput{
		RoleName: aws.String("cluster"), AssumeRolePolicyDocument: &trust, Path: aws.String("/eks/"),
		Description: aws.String("EKS cluster role"), MaxSessionDuration: aws.Int32(7200),
	})
	if err != nil {
		t.Fatal(err)
	}
	r := out.Role
	if *r.Arn != "arn:aws:iam::000000000000:role/eks/cluster" || !strings.HasPrefix(*r.RoleId, "AROA") || *r.MaxSessionDuration != 7200 || *r.Description != "EKS cluster role" {
		t.Errorf("CreateRole = %+v", r)
	}
	got, err := f.rootIAM.GetRole(ctx, &awsiam.GetRoleInput{RoleName: aws.String("cluster")})
	if err != nil {
		t.Fatal(err)
	}
	// IAM returns policy documents URL-encoded.
	if doc, err := url.QueryUnescape(*got.Role.AssumeRolePolicyDocument); err != nil || doc != trust || !strings.HasPrefix(*got.Role.AssumeRolePolicyDocument, "%7B%22Version%22") {
		t.Errorf("AssumeRolePolicyDocument = %q (%v), want %q encoded", *got.Role.AssumeRolePolicyDocument, err, trust)
	}
	list, err := f.rootIAM.ListRoles(ctx, &awsiam.ListRolesInput{PathPrefix: aws.String("/eks/")})
	if err != nil || len(list.Roles) != 1 || *list.Roles[0].RoleName != "cluster" {
		t.Fatalf("ListRoles = %+v, %v", list, err)
	}

	_, err = f.rootIAM.CreateRole(ctx, &awsiam.CreateRoleInput{RoleName: aws.String("bad"), AssumeRolePolicyDocument: aws.String(`{"Statement":`)})
	wantAPIError(t, err, "MalformedPolicyDocument", http.StatusBadRequest, "This policy contains invalid Json")
	_, err = f.rootIAM.CreateRole(ctx, &awsiam.CreateRoleInput{RoleName: aws.String("Cluster"), AssumeRolePolicyDocument: &trust})
	wantAPIError(t, err, "EntityAlreadyExists", http.StatusConflict, "Role with name Cluster already exists.")
	_, err = f.rootIAM.CreateRole(ctx, &awsiam.CreateRoleInput{RoleName: aws.String("short"), AssumeRolePolicyDocument: &trust, MaxSessionDuration: aws.Int32(60)})
	wantAPIError(t, err, "ValidationError", http.StatusBadRequest,
		"1 validation error detected: Value '60' at 'maxSessionDuration' failed to satisfy constraint: Member must have value greater than or equal to 3600")

	if _, err := f.rootIAM.DeleteRole(ctx, &awsiam.DeleteRoleInput{RoleName: aws.String("cluster")}); err != nil {
		t.Fatal(err)
	}
	_, err = f.rootIAM.GetRole(ctx, &awsiam.GetRoleInput{RoleName: aws.String("cluster")})
	wantAPIError(t, err, "NoSuchEntity", http.StatusNotFound, "The role with name cluster cannot be found.")
}

func TestGetCallerIdentityRoot(t *testing.T) {
	f := newFixture(t)
	id, err := f.rootSTS.GetCallerIdentity(t.Context(), &awssts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if *id.UserId != account || *id.Account != account || *id.Arn != "arn:aws:iam::000000000000:root" {
		t.Errorf("GetCallerIdentity as root = %s %s %s", *id.UserId, *id.Account, *id.Arn)
	}
	me, err := f.rootIAM.GetUser(t.Context(), &awsiam.GetUserInput{})
	if err != nil || *me.User.Arn != "arn:aws:iam::000000000000:root" || *me.User.UserId != account {
		t.Errorf("GetUser as root = %+v, %v", me, err)
	}
	_, err = f.rootSTS.AssumeRole(t.Context(), &awssts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::000000000000:role/any"), RoleSessionName: aws.String("s1")})
	wantAPIError(t, err, "AccessDenied", http.StatusForbidden, "Roles may not be assumed by root accounts.")
}

func TestAssumeRoleSession(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	_, bobSTS, _ := f.user(t, "bob")
	_, aliceSTS, _ := f.user(t, "alice")
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:user/bob"},"Action":"sts:AssumeRole"}]}`
	role, err := f.rootIAM.CreateRole(ctx, &awsiam.CreateRoleInput{RoleName: aws.String("deployer"), AssumeRolePolicyDocument: &trust})
	if err != nil {
		t.Fatal(err)
	}

	// The trust policy names bob, not alice.
	_, err = aliceSTS.AssumeRole(ctx, &awssts.AssumeRoleInput{RoleArn: role.Role.Arn, RoleSessionName: aws.String("s1")})
	wantAPIError(t, err, "AccessDenied", http.StatusForbidden,
		"User: arn:aws:iam::000000000000:user/alice is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::000000000000:role/deployer")
	_, err = bobSTS.AssumeRole(ctx, &awssts.AssumeRoleInput{RoleArn: role.Role.Arn, RoleSessionName: aws.String("s1"), DurationSeconds: aws.Int32(7200)})
	wantAPIError(t, err, "ValidationError", http.StatusBadRequest, "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")

	out, err := bobSTS.AssumeRole(ctx, &awssts.AssumeRoleInput{RoleArn: role.Role.Arn, RoleSessionName: aws.String("deploy-42"), DurationSeconds: aws.Int32(900)})
	if err != nil {
		t.Fatal(err)
	}
	c := out.Credentials
	if !strings.HasPrefix(*c.AccessKeyId, "ASIA") || *c.SessionToken == "" || !c.Expiration.Equal(f.clock.Now().Add(900*time.Second)) {
		t.Errorf("credentials = %s, token %q, expiration %v", *c.AccessKeyId, *c.SessionToken, c.Expiration)
	}
	wantARN := "arn:aws:sts::000000000000:assumed-role/deployer/deploy-42"
	if *out.AssumedRoleUser.Arn != wantARN || *out.AssumedRoleUser.AssumedRoleId != *role.Role.RoleId+":deploy-42" {
		t.Errorf("assumed role user = %s %s", *out.AssumedRoleUser.Arn, *out.AssumedRoleUser.AssumedRoleId)
	}

	// The session's credentials sign requests, with their token.
	sessIAM, sessSTS := f.clients(*c.AccessKeyId, *c.SecretAccessKey, *c.SessionToken)
	id, err := sessSTS.GetCallerIdentity(ctx, &awssts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if *id.Arn != wantARN || *id.UserId != *role.Role.RoleId+":deploy-42" || *id.Account != account {
		t.Errorf("GetCallerIdentity of the session = %s %s %s", *id.Arn, *id.UserId, *id.Account)
	}
	if _, err := sessIAM.ListRoles(ctx, &awsiam.ListRolesInput{}); err != nil {
		t.Errorf("ListRoles as the session: %v", err)
	}
	_, err = sessIAM.GetUser(ctx, &awsiam.GetUserInput{})
	wantAPIError(t, err, "ValidationError", http.StatusBadRequest, "Must specify userName when calling with non-User credentials")
	_, err = sessIAM.DeleteRole(ctx, &awsiam.DeleteRoleInput{RoleName: aws.String("deployer")})
	wantAPIError(t, err, "AccessDenied", http.StatusForbidden,
		"User: "+wantARN+" is not authorized to perform: iam:DeleteRole on resource: arn:aws:iam::000000000000:role/deployer because no identity-based policy allows the iam:DeleteRole action")
	noToken, _ := f.clients(*c.AccessKeyId, *c.SecretAccessKey, "")
	_, err = noToken.ListRoles(ctx, &awsiam.ListRolesInput{})
	wantAPIError(t, err, "InvalidClientTokenId", http.StatusForbidden, "The security token included in the request is invalid.")

	// Other APIs of the endpoint verify with the same keyring: an EKS
	// request signed with the session's credentials passes.
	eksReq := func(token string) error {
		req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:1/clusters", nil)
		if token != "" {
			req.Header.Set("X-Amz-Security-Token", token)
		}
		sum := sha256.Sum256(nil)
		creds := aws.Credentials{AccessKeyID: *c.AccessKeyId, SecretAccessKey: *c.SecretAccessKey, SessionToken: token}
		if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "eks", region, f.clock.Now()); err != nil {
			t.Fatal(err)
		}
		_, err := f.auth("eks").Verify(ctx, req, nil)
		return err
	}
	if err := eksReq(*c.SessionToken); err != nil {
		t.Errorf("EKS request signed by the session: %v", err)
	}

	// Expired, the credentials are refused everywhere.
	f.clock.Add(901 * time.Second)
	_, err = sessSTS.GetCallerIdentity(ctx, &awssts.GetCallerIdentityInput{})
	wantAPIError(t, err, "ExpiredToken", http.StatusForbidden, "The security token included in the request is expired")
	_, err = sessIAM.ListRoles(ctx, &awsiam.ListRolesInput{})
	wantAPIError(t, err, "ExpiredToken", http.StatusForbidden, "The security token included in the request is expired")
	var se *sigv4.Error
	if err := eksReq(*c.SessionToken); !errors.As(err, &se) || se.Code != sigv4.CodeExpiredToken {
		t.Errorf("EKS request signed by the expired session: %v, want %s", err, sigv4.CodeExpiredToken)
	}
}

// signed sends a request signed with the root key for service and
// signingRegion, and returns the status and body.
func (f *fixture) signed(t *testing.T, service, signingRegion string, form url.Values) (int, string) {
	t.Helper()
	body := form.Encode()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, f.url+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	sum := sha256.Sum256([]byte(body))
	creds := aws.Credentials{AccessKeyID: f.root.AccessKeyID, SecretAccessKey: f.root.SecretAccessKey}
	if err := v4.NewSigner().SignHTTP(t.Context(), creds, req, hex.EncodeToString(sum[:]), service, signingRegion, time.Now()); err != nil {
		t.Fatal(err)
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
	return resp.StatusCode, string(b)
}

// TestWire checks the XML shapes themselves: envelope, namespace, request
// id, and the query protocol's errors.
func TestWire(t *testing.T) {
	f := newFixture(t)
	type errorResponse struct {
		XMLName xml.Name
		Error   struct {
			Type, Code, Message string
		}
		RequestID string `xml:"RequestId"`
	}
	status, body := f.signed(t, "iam", "us-east-1", url.Values{"Action": {"GetUser"}, "Version": {"2010-05-08"}, "UserName": {"nobody"}})
	var e errorResponse
	if err := xml.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("%v in %s", err, body)
	}
	if status != http.StatusNotFound || e.XMLName.Space != iamapi.IAMNamespace || e.XMLName.Local != "ErrorResponse" ||
		e.Error.Type != "Sender" || e.Error.Code != "NoSuchEntity" || e.Error.Message != "The user with name nobody cannot be found." || e.RequestID == "" {
		t.Errorf("status %d, body %s", status, body)
	}

	status, body = f.signed(t, "sts", region, url.Values{"Action": {"GetCallerIdentity"}, "Version": {"2011-06-15"}})
	var ok struct {
		XMLName xml.Name
		Result  struct {
			Arn, UserId, Account string
		} `xml:"GetCallerIdentityResult"`
		RequestID string `xml:"ResponseMetadata>RequestId"`
	}
	if err := xml.Unmarshal([]byte(body), &ok); err != nil {
		t.Fatalf("%v in %s", err, body)
	}
	if status != http.StatusOK || ok.XMLName.Space != iamapi.STSNamespace || ok.XMLName.Local != "GetCallerIdentityResponse" ||
		ok.Result.Arn != "arn:aws:iam::000000000000:root" || ok.RequestID == "" {
		t.Errorf("status %d, body %s", status, body)
	}

	tests := []struct {
		name, service, region string
		form                  url.Values
		status                int
		code, message         string
	}{
		{"unknown action", "iam", "us-east-1", url.Values{"Action": {"AttachRolePolicy"}, "Version": {"2010-05-08"}}, 400,
			"InvalidAction", "Could not find operation AttachRolePolicy for version 2010-05-08"},
		{"STS action on IAM", "iam", "us-east-1", url.Values{"Action": {"GetCallerIdentity"}, "Version": {"2010-05-08"}}, 400,
			"InvalidAction", "Could not find operation GetCallerIdentity for version 2010-05-08"},
		{"no version", "sts", region, url.Values{"Action": {"GetCallerIdentity"}}, 400,
			"InvalidAction", "Could not find operation GetCallerIdentity for version NO_VERSION_SPECIFIED"},
		{"other region", "iam", "ap-south-1", url.Values{"Action": {"ListUsers"}, "Version": {"2010-05-08"}}, 403,
			"SignatureDoesNotMatch", "Credential should be scoped to a valid region."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := f.signed(t, tt.service, tt.region, tt.form)
			var e errorResponse
			if err := xml.Unmarshal([]byte(body), &e); err != nil {
				t.Fatalf("%v in %s", err, body)
			}
			if status != tt.status || e.Error.Code != tt.code || e.Error.Message != tt.message {
				t.Errorf("%d %s: %s, want %d %s: %s", status, e.Error.Code, e.Error.Message, tt.status, tt.code, tt.message)
			}
		})
	}

	// No signature at all.
	resp, err := http.PostForm(f.url, url.Values{"Action": {"ListUsers"}, "Version": {"2010-05-08"}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err := xml.Unmarshal(b, &e); err != nil || resp.StatusCode != http.StatusForbidden || e.Error.Code != "MissingAuthenticationToken" {
		t.Errorf("unsigned: %d %s (%v)", resp.StatusCode, b, err)
	}
}

func TestInstanceProfiles(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`
	for _, name := range []string{"node", "other"} {
		if _, err := f.rootIAM.CreateRole(ctx, &awsiam.CreateRoleInput{RoleName: aws.String(name), AssumeRolePolicyDocument: &trust}); err != nil {
			t.Fatal(err)
		}
	}
	out, err := f.rootIAM.CreateInstanceProfile(ctx, &awsiam.CreateInstanceProfileInput{
		InstanceProfileName: aws.String("nodes"), Path: aws.String("/eks/"),
		Tags: []iamtypes.Tag{{Key: aws.String("team"), Value: aws.String("a")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	p := out.InstanceProfile
	if *p.Arn != "arn:aws:iam::000000000000:instance-profile/eks/nodes" || !strings.HasPrefix(*p.InstanceProfileId, "AIPA") || len(p.Roles) != 0 || len(p.Tags) != 1 {
		t.Errorf("CreateInstanceProfile = %+v", p)
	}
	_, err = f.rootIAM.CreateInstanceProfile(ctx, &awsiam.CreateInstanceProfileInput{InstanceProfileName: aws.String("nodes")})
	wantAPIError(t, err, "EntityAlreadyExists", http.StatusConflict, "Instance Profile nodes already exists.")

	if _, err := f.rootIAM.AddRoleToInstanceProfile(ctx, &awsiam.AddRoleToInstanceProfileInput{InstanceProfileName: aws.String("nodes"), RoleName: aws.String("node")}); err != nil {
		t.Fatal(err)
	}
	_, err = f.rootIAM.AddRoleToInstanceProfile(ctx, &awsiam.AddRoleToInstanceProfileInput{InstanceProfileName: aws.String("nodes"), RoleName: aws.String("other")})
	wantAPIError(t, err, "LimitExceeded", http.StatusConflict, "Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1")
	_, err = f.rootIAM.AddRoleToInstanceProfile(ctx, &awsiam.AddRoleToInstanceProfileInput{InstanceProfileName: aws.String("nope"), RoleName: aws.String("node")})
	wantAPIError(t, err, "NoSuchEntity", http.StatusNotFound, "Instance Profile nope cannot be found.")

	got, err := f.rootIAM.GetInstanceProfile(ctx, &awsiam.GetInstanceProfileInput{InstanceProfileName: aws.String("nodes")})
	if err != nil || len(got.InstanceProfile.Roles) != 1 || *got.InstanceProfile.Roles[0].RoleName != "node" {
		t.Fatalf("GetInstanceProfile = %+v, %v", got, err)
	}
	forRole, err := f.rootIAM.ListInstanceProfilesForRole(ctx, &awsiam.ListInstanceProfilesForRoleInput{RoleName: aws.String("node")})
	if err != nil || len(forRole.InstanceProfiles) != 1 {
		t.Fatalf("ListInstanceProfilesForRole = %+v, %v", forRole, err)
	}
	if l, err := f.rootIAM.ListInstanceProfilesForRole(ctx, &awsiam.ListInstanceProfilesForRoleInput{RoleName: aws.String("other")}); err != nil || len(l.InstanceProfiles) != 0 {
		t.Fatalf("ListInstanceProfilesForRole(other) = %+v, %v", l, err)
	}
	all, err := f.rootIAM.ListInstanceProfiles(ctx, &awsiam.ListInstanceProfilesInput{})
	if err != nil || len(all.InstanceProfiles) != 1 {
		t.Fatalf("ListInstanceProfiles = %+v, %v", all, err)
	}

	_, err = f.rootIAM.DeleteRole(ctx, &awsiam.DeleteRoleInput{RoleName: aws.String("node")})
	wantAPIError(t, err, "DeleteConflict", http.StatusConflict, "Cannot delete entity, must remove roles from instance profile first.")
	_, err = f.rootIAM.DeleteInstanceProfile(ctx, &awsiam.DeleteInstanceProfileInput{InstanceProfileName: aws.String("nodes")})
	wantAPIError(t, err, "DeleteConflict", http.StatusConflict, "Cannot delete entity, must remove roles from instance profile first.")
	if _, err := f.rootIAM.RemoveRoleFromInstanceProfile(ctx, &awsiam.RemoveRoleFromInstanceProfileInput{InstanceProfileName: aws.String("nodes"), RoleName: aws.String("node")}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.rootIAM.DeleteInstanceProfile(ctx, &awsiam.DeleteInstanceProfileInput{InstanceProfileName: aws.String("nodes")}); err != nil {
		t.Fatal(err)
	}
	_, err = f.rootIAM.GetInstanceProfile(ctx, &awsiam.GetInstanceProfileInput{InstanceProfileName: aws.String("nodes")})
	wantAPIError(t, err, "NoSuchEntity", http.StatusNotFound, "Instance Profile nodes cannot be found.")

	// A user may read, not create.
	userIAM, _, _ := f.user(t, "alice")
	_, err = userIAM.CreateInstanceProfile(ctx, &awsiam.CreateInstanceProfileInput{InstanceProfileName: aws.String("mine")})
	wantAPIError(t, err, "AccessDenied", http.StatusForbidden, "")
}
