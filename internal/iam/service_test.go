package iam_test

import (
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthproject/berth/internal/credentials"
	"github.com/berthproject/berth/internal/iam"
	"github.com/berthproject/berth/internal/store"
)

const account = "000000000000"

// clock is a fake clock tests move by hand.
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
	svc   *iam.Service
	keys  *credentials.Keyring
	clock *clock
	root  iam.Caller
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "berth.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	keys := credentials.NewKeyring(st)
	clk := &clock{t: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)}
	svc, err := iam.New(iam.Config{Store: st, Keys: keys, Account: account, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	rootKey, err := keys.EnsureRoot(t.Context(), account)
	if err != nil {
		t.Fatal(err)
	}
	root, err := svc.Caller(t.Context(), rootKey.AccessKeyID)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{svc: svc, keys: keys, clock: clk, root: root}
}

func ptr[T any](v T) *T { return &v }

// user creates a user with a key and returns it as a caller.
func (f *fixture) user(t *testing.T, name string) iam.Caller {
	t.Helper()
	if _, err := f.svc.CreateUser(t.Context(), f.root, iam.CreateUserInput{UserName: &name}); err != nil {
		t.Fatal(err)
	}
	k, err := f.svc.CreateAccessKey(t.Context(), f.root, &name)
	if err != nil {
		t.Fatal(err)
	}
	c, err := f.svc.Caller(t.Context(), k.AccessKeyID)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (f *fixture) role(t *testing.T, name, trust string) *iam.Role {
	t.Helper()
	r, err := f.svc.CreateRole(t.Context(), f.root, iam.CreateRoleInput{RoleName: &name, AssumeRolePolicyDocument: &trust})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func trustAWS(principal string) string {
	return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + principal + `"},"Action":"sts:AssumeRole"}]}`
}

// wantError checks err is an *iam.Error with code and message.
func wantError(t *testing.T, err error, code, message string) {
	t.Helper()
	var e *iam.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v, want %s: %s", err, code, message)
	}
	if e.Code != code || e.Message != message {
		t.Errorf("error\n  %s: %s\nwant\n  %s: %s", e.Code, e.Message, code, message)
	}
}

func TestCreateUser(t *testing.T) {
	f := newFixture(t)
	u, err := f.svc.CreateUser(t.Context(), f.root, iam.CreateUserInput{UserName: ptr("Bob"), Path: ptr("/team/"), Tags: []iam.Tag{{Key: "k", Value: "v"}}})
	if err != nil {
		t.Fatal(err)
	}
	if u.ARN != "arn:aws:iam::000000000000:user/team/Bob" || u.Path != "/team/" || !strings.HasPrefix(u.ID, "AIDA") || len(u.ID) != 21 {
		t.Errorf("user = %+v", u)
	}
	if !u.Created.Equal(f.clock.Now()) {
		t.Errorf("created %v, want %v", u.Created, f.clock.Now())
	}
	got, err := f.svc.GetUser(t.Context(), f.root, ptr("bob"))
	if err != nil || got.Name != "Bob" || len(got.Tags) != 1 {
		t.Fatalf("GetUser by another case = %+v, %v", got, err)
	}

	long := strings.Repeat("a", 65)
	tests := []struct {
		name          string
		in            iam.CreateUserInput
		code, message string
	}{
		{"no name", iam.CreateUserInput{}, iam.CodeValidation,
			"1 validation error detected: Value null at 'userName' failed to satisfy constraint: Member must not be null"},
		{"bad name", iam.CreateUserInput{UserName: ptr("a b")}, iam.CodeValidation,
			`1 validation error detected: Value 'a b' at 'userName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\w+=,.@-]+`},
		{"long name", iam.CreateUserInput{UserName: &long}, iam.CodeValidation,
			"1 validation error detected: Value '" + long + "' at 'userName' failed to satisfy constraint: Member must have length less than or equal to 64"},
		{"bad name and path", iam.CreateUserInput{UserName: ptr(""), Path: ptr("team")}, iam.CodeValidation,
			`3 validation errors detected: Value '' at 'userName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\w+=,.@-]+; ` +
				`Value '' at 'userName' failed to satisfy constraint: Member must have length greater than or equal to 1; ` +
				`Value 'team' at 'path' failed to satisfy constraint: Member must satisfy regular expression pattern: (\u002F)|(\u002F[\u0021-\u007E]+\u002F)`},
		{"exists, other case", iam.CreateUserInput{UserName: ptr("BOB")}, iam.CodeEntityAlreadyExists, "User with name BOB already exists."},
		{"duplicate tags", iam.CreateUserInput{UserName: ptr("t"), Tags: []iam.Tag{{Key: "a", Value: "1"}, {Key: "A", Value: "2"}}}, iam.CodeInvalidInput,
			"Duplicate tag keys found. Please note that Tag keys are case insensitive."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.svc.CreateUser(t.Context(), f.root, tt.in)
			wantError(t, err, tt.code, tt.message)
		})
	}
}

func TestGetUser(t *testing.T) {
	f := newFixture(t)
	bob := f.user(t, "bob")
	me, err := f.svc.GetUser(t.Context(), f.root, nil)
	if err != nil || me.ARN != "arn:aws:iam::000000000000:root" || me.ID != account || me.Name != "" {
		t.Fatalf("GetUser as root = %+v, %v", me, err)
	}
	me, err = f.svc.GetUser(t.Context(), bob, nil)
	if err != nil || me.Name != "bob" || me.ARN != bob.ARN {
		t.Fatalf("GetUser as bob = %+v, %v", me, err)
	}
	_, err = f.svc.GetUser(t.Context(), f.root, ptr("nobody"))
	wantError(t, err, iam.CodeNoSuchEntity, "The user with name nobody cannot be found.")

	f.role(t, "r", trustAWS(account))
	s, err := f.svc.AssumeRole(t.Context(), bob, iam.AssumeRoleInput{RoleARN: ptr("arn:aws:iam::000000000000:role/r"), RoleSessionName: ptr("s1")})
	if err != nil {
		t.Fatal(err)
	}
	session, err := f.svc.Caller(t.Context(), s.AccessKeyID)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.GetUser(t.Context(), session, nil)
	wantError(t, err, iam.CodeValidation, "Must specify userName when calling with non-User credentials")
	if _, err := f.svc.GetUser(t.Context(), session, ptr("bob")); err != nil {
		t.Errorf("GetUser by name as a session: %v", err)
	}
}

func TestListUsers(t *testing.T) {
	f := newFixture(t)
	for _, n := range []string{"carol", "Alice", "bob"} {
		if _, err := f.svc.CreateUser(t.Context(), f.root, iam.CreateUserInput{UserName: ptr(n)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.svc.CreateUser(t.Context(), f.root, iam.CreateUserInput{UserName: ptr("dave"), Path: ptr("/ops/")}); err != nil {
		t.Fatal(err)
	}
	var names []string
	in := iam.ListInput{MaxItems: ptr(3)}
	for pages := 0; ; pages++ {
		p, err := f.svc.ListUsers(t.Context(), f.root, in)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range p.Items {
			names = append(names, u.Name)
		}
		if !p.Truncated {
			if p.Marker != "" || pages != 1 {
				t.Errorf("last page: marker %q after %d pages", p.Marker, pages+1)
			}
			break
		}
		in.Marker = p.Marker
	}
	if strings.Join(names, ",") != "Alice,bob,carol,dave" {
		t.Errorf("users = %v, want Alice,bob,carol,dave", names)
	}
	p, err := f.svc.ListUsers(t.Context(), f.root, iam.ListInput{PathPrefix: "/ops"})
	if err != nil || len(p.Items) != 1 || p.Items[0].Name != "dave" {
		t.Errorf("PathPrefix /ops = %+v, %v", p.Items, err)
	}
	_, err = f.svc.ListUsers(t.Context(), f.root, iam.ListInput{MaxItems: ptr(0)})
	wantError(t, err, iam.CodeValidation,
		"1 validation error detected: Value '0' at 'maxItems' failed to satisfy constraint: Member must have value greater than or equal to 1")
	_, err = f.svc.ListUsers(t.Context(), f.root, iam.ListInput{PathPrefix: "ops"})
	wantError(t, err, iam.CodeValidation,
		`1 validation error detected: Value 'ops' at 'pathPrefix' failed to satisfy constraint: Member must satisfy regular expression pattern: \u002F[\u0021-\u007F]*`)
}

func TestAccessKeys(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	bob := f.user(t, "bob")
	alice := f.user(t, "alice")

	// bob manages his own keys: he has one, makes a second, not a third.
	k2, err := f.svc.CreateAccessKey(ctx, bob, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(k2.AccessKeyID, "AKIA") || len(k2.AccessKeyID) != 20 || len(k2.SecretAccessKey) != 40 || k2.UserName != "bob" || k2.Status != "Active" {
		t.Errorf("key = %+v", k2)
	}
	_, err = f.svc.CreateAccessKey(ctx, f.root, ptr("bob"))
	wantError(t, err, iam.CodeLimitExceeded, "Cannot exceed quota for AccessKeysPerUser: 2")

	p, err := f.svc.ListAccessKeys(ctx, bob, nil, iam.ListInput{})
	if err != nil || len(p.Items) != 2 || p.Items[0].SecretAccessKey != "" {
		t.Fatalf("ListAccessKeys = %+v, %v", p.Items, err)
	}

	_, err = f.svc.CreateAccessKey(ctx, bob, ptr("alice"))
	wantError(t, err, iam.CodeAccessDenied,
		"User: arn:aws:iam::000000000000:user/bob is not authorized to perform: iam:CreateAccessKey on resource: user alice because no identity-based policy allows the iam:CreateAccessKey action")
	err = f.svc.DeleteAccessKey(ctx, bob, ptr("alice"), &alice.AccessKeyID)
	wantError(t, err, iam.CodeAccessDenied,
		"User: arn:aws:iam::000000000000:user/bob is not authorized to perform: iam:DeleteAccessKey on resource: user alice because no identity-based policy allows the iam:DeleteAccessKey action")
	// A key of someone else is not bob's to name.
	err = f.svc.DeleteAccessKey(ctx, bob, nil, &alice.AccessKeyID)
	wantError(t, err, iam.CodeNoSuchEntity, "The Access Key with id "+alice.AccessKeyID+" cannot be found.")
	err = f.svc.DeleteAccessKey(ctx, f.root, ptr("bob"), ptr("short"))
	wantError(t, err, iam.CodeValidation,
		"1 validation error detected: Value 'short' at 'accessKeyId' failed to satisfy constraint: Member must have length greater than or equal to 16")
	_, err = f.svc.CreateAccessKey(ctx, f.root, ptr("nobody"))
	wantError(t, err, iam.CodeNoSuchEntity, "The user with name nobody cannot be found.")

	// DeleteUser waits for the keys to go.
	err = f.svc.DeleteUser(ctx, f.root, ptr("bob"))
	wantError(t, err, iam.CodeDeleteConflict, "Cannot delete entity, must delete access keys first.")
	if err := f.svc.DeleteAccessKey(ctx, bob, nil, &k2.AccessKeyID); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.DeleteAccessKey(ctx, f.root, ptr("bob"), &bob.AccessKeyID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Caller(ctx, bob.AccessKeyID); !errors.Is(err, iam.ErrUnknownCaller) {
		t.Errorf("Caller of a deleted key: %v, want ErrUnknownCaller", err)
	}
	if err := f.svc.DeleteUser(ctx, f.root, ptr("bob")); err != nil {
		t.Fatal(err)
	}
	err = f.svc.DeleteUser(ctx, f.root, ptr("bob"))
	wantError(t, err, iam.CodeNoSuchEntity, "The user with name bob cannot be found.")
}

func TestRootAccessKeys(t *testing.T) {
	f := newFixture(t)
	k, err := f.svc.CreateAccessKey(t.Context(), f.root, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := f.svc.Caller(t.Context(), k.AccessKeyID)
	if err != nil || c.Kind != iam.CallerRoot || k.UserName != "" {
		t.Fatalf("new root key: caller %+v, %v; key %+v", c, err, k)
	}
	_, err = f.svc.CreateAccessKey(t.Context(), f.root, nil)
	wantError(t, err, iam.CodeLimitExceeded, "Cannot exceed quota for AccessKeysPerUser: 2")
	p, err := f.svc.ListAccessKeys(t.Context(), f.root, nil, iam.ListInput{})
	if err != nil || len(p.Items) != 2 {
		t.Fatalf("root keys = %+v, %v", p.Items, err)
	}
}

func TestWritesNeedRoot(t *testing.T) {
	f := newFixture(t)
	bob := f.user(t, "bob")
	f.user(t, "alice")
	f.role(t, "r", trustAWS(account))
	s, err := f.svc.AssumeRole(t.Context(), bob, iam.AssumeRoleInput{RoleARN: ptr("arn:aws:iam::000000000000:role/r"), RoleSessionName: ptr("sess")})
	if err != nil {
		t.Fatal(err)
	}
	session, err := f.svc.Caller(t.Context(), s.AccessKeyID)
	if err != nil {
		t.Fatal(err)
	}
	trust := trustAWS(account)
	deny := func(who, action, resource string) string {
		return "User: " + who + " is not authorized to perform: " + action + " on resource: " + resource +
			" because no identity-based policy allows the " + action + " action"
	}
	const sessionARN = "arn:aws:sts::000000000000:assumed-role/r/sess"
	tests := []struct {
		name    string
		do      func() error
		message string
	}{
		{"user creates a user", func() error {
			_, err := f.svc.CreateUser(t.Context(), bob, iam.CreateUserInput{UserName: ptr("eve"), Path: ptr("/x/")})
			return err
		}, deny(bob.ARN, "iam:CreateUser", "arn:aws:iam::000000000000:user/x/eve")},
		{"user deletes a user", func() error { return f.svc.DeleteUser(t.Context(), bob, ptr("alice")) },
			deny(bob.ARN, "iam:DeleteUser", "arn:aws:iam::000000000000:user/alice")},
		{"user creates a role", func() error {
			_, err := f.svc.CreateRole(t.Context(), bob, iam.CreateRoleInput{RoleName: ptr("r2"), AssumeRolePolicyDocument: &trust})
			return err
		}, deny(bob.ARN, "iam:CreateRole", "arn:aws:iam::000000000000:role/r2")},
		{"user deletes a role", func() error { return f.svc.DeleteRole(t.Context(), bob, ptr("r")) },
			deny(bob.ARN, "iam:DeleteRole", "arn:aws:iam::000000000000:role/r")},
		{"session creates a key", func() error { _, err := f.svc.CreateAccessKey(t.Context(), session, ptr("bob")); return err },
			deny(sessionARN, "iam:CreateAccessKey", "user bob")},
		{"session assumes a role", func() error {
			_, err := f.svc.AssumeRole(t.Context(), session, iam.AssumeRoleInput{RoleARN: ptr("arn:aws:iam::000000000000:role/r"), RoleSessionName: ptr("again")})
			return err
		}, "User: " + sessionARN + " is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::000000000000:role/r"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, tt.do(), iam.CodeAccessDenied, tt.message)
		})
	}
	// Reads are open to users and sessions.
	for _, c := range []iam.Caller{bob, session} {
		if _, err := f.svc.ListUsers(t.Context(), c, iam.ListInput{}); err != nil {
			t.Errorf("ListUsers as %s: %v", c.ARN, err)
		}
		if _, err := f.svc.GetRole(t.Context(), c, ptr("r")); err != nil {
			t.Errorf("GetRole as %s: %v", c.ARN, err)
		}
		if _, err := f.svc.ListRoles(t.Context(), c, iam.ListInput{}); err != nil {
			t.Errorf("ListRoles as %s: %v", c.ARN, err)
		}
	}
}

func TestCreateRole(t *testing.T) {
	f := newFixture(t)
	f.user(t, "bob")
	desc := "the role"
	r, err := f.svc.CreateRole(t.Context(), f.root, iam.CreateRoleInput{
		RoleName: ptr("Deploy"), Path: ptr("/ci/"), AssumeRolePolicyDocument: ptr(trustAWS("arn:aws:iam::000000000000:user/bob")),
		Description: &desc, MaxSessionDuration: ptr(7200),
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.ARN != "arn:aws:iam::000000000000:role/ci/Deploy" || !strings.HasPrefix(r.ID, "AROA") || len(r.ID) != 21 || r.MaxSessionDuration != 7200 || r.Description != desc {
		t.Errorf("role = %+v", r)
	}
	if r := f.role(t, "plain", trustAWS("*")); r.MaxSessionDuration != 3600 || r.Path != "/" {
		t.Errorf("defaults: %+v", r)
	}
	if _, err := f.svc.GetRole(t.Context(), f.root, ptr("deploy")); err != nil {
		t.Errorf("GetRole by another case: %v", err)
	}

	big := `{"Version":"2012-10-17","Statement":[` + strings.Repeat(`{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"},`, 30) +
		`{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`
	tests := []struct {
		name          string
		policy        *string
		maxSession    *int
		roleName      string
		code, message string
	}{
		{"no policy", nil, nil, "x", iam.CodeValidation,
			"1 validation error detected: Value null at 'assumeRolePolicyDocument' failed to satisfy constraint: Member must not be null"},
		{"not JSON", ptr("{nope"), nil, "x", iam.CodeMalformedPolicy, "This policy contains invalid Json"},
		{"unknown element", ptr(`{"Version":"2012-10-17","Statement":[],"Extra":1}`), nil, "x", iam.CodeMalformedPolicy, "Syntax errors in policy."},
		{"empty statement", ptr(`{"Version":"2012-10-17","Statement":[]}`), nil, "x", iam.CodeMalformedPolicy, "Could not parse the policy: Statement is empty!"},
		{"resource", ptr(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole","Resource":"*"}]}`), nil, "x",
			iam.CodeMalformedPolicy, "Has prohibited field Resource"},
		{"not STS", ptr(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"s3:*"}]}`), nil, "x",
			iam.CodeMalformedPolicy, "AssumeRole policy may only specify STS AssumeRole actions."},
		{"no principal", ptr(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole"}]}`), nil, "x",
			iam.CodeMalformedPolicy, "Missing required field Principal"},
		{"no effect", ptr(`{"Version":"2012-10-17","Statement":{"Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}}`), nil, "x",
			iam.CodeMalformedPolicy, "Missing required field Effect"},
		{"unknown user", ptr(trustAWS("arn:aws:iam::000000000000:user/nobody")), nil, "x",
			iam.CodeMalformedPolicy, `Invalid principal in policy: "AWS":"arn:aws:iam::000000000000:user/nobody"`},
		{"not a principal", ptr(trustAWS("bob")), nil, "x", iam.CodeMalformedPolicy, `Invalid principal in policy: "AWS":"bob"`},
		{"too big", &big, nil, "x", iam.CodeLimitExceeded, "Cannot exceed quota for ACLSizePerRole: 2048"},
		{"short session", ptr(trustAWS("*")), ptr(100), "x", iam.CodeValidation,
			"1 validation error detected: Value '100' at 'maxSessionDuration' failed to satisfy constraint: Member must have value greater than or equal to 3600"},
		{"long session", ptr(trustAWS("*")), ptr(43201), "x", iam.CodeValidation,
			"1 validation error detected: Value '43201' at 'maxSessionDuration' failed to satisfy constraint: Member must have value less than or equal to 43200"},
		{"exists", ptr(trustAWS("*")), nil, "DEPLOY", iam.CodeEntityAlreadyExists, "Role with name DEPLOY already exists."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.svc.CreateRole(t.Context(), f.root, iam.CreateRoleInput{RoleName: &tt.roleName, AssumeRolePolicyDocument: tt.policy, MaxSessionDuration: tt.maxSession})
			wantError(t, err, tt.code, tt.message)
		})
	}
	_, err = f.svc.GetRole(t.Context(), f.root, ptr("x"))
	wantError(t, err, iam.CodeNoSuchEntity, "The role with name x cannot be found.")
	if err := f.svc.DeleteRole(t.Context(), f.root, ptr("plain")); err != nil {
		t.Fatal(err)
	}
	err = f.svc.DeleteRole(t.Context(), f.root, ptr("plain"))
	wantError(t, err, iam.CodeNoSuchEntity, "The role with name plain cannot be found.")
}

func TestAssumeRole(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	bob := f.user(t, "bob")
	alice := f.user(t, "alice")
	r := f.role(t, "ci", trustAWS(bob.ARN))

	s, err := f.svc.AssumeRole(ctx, bob, iam.AssumeRoleInput{RoleARN: &r.ARN, RoleSessionName: ptr("build-1"), DurationSeconds: ptr(900)})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s.AccessKeyID, "ASIA") || len(s.AccessKeyID) != 20 || len(s.SecretAccessKey) != 40 || s.SessionToken == "" {
		t.Errorf("session credentials = %+v", s)
	}
	if s.ARN != "arn:aws:sts::000000000000:assumed-role/ci/build-1" || s.AssumedRoleID != r.ID+":build-1" {
		t.Errorf("assumed role user = %s, %s", s.ARN, s.AssumedRoleID)
	}
	if want := f.clock.Now().Add(900 * time.Second); !s.Expiration.Equal(want) {
		t.Errorf("expiration %v, want %v", s.Expiration, want)
	}
	session, err := f.svc.Caller(ctx, s.AccessKeyID)
	if err != nil {
		t.Fatal(err)
	}
	id, err := f.svc.GetCallerIdentity(ctx, session)
	if err != nil || id.ARN != s.ARN || id.UserID != s.AssumedRoleID || id.Account != account {
		t.Errorf("GetCallerIdentity of the session = %+v, %v", id, err)
	}
	cred, err := f.keys.Credential(ctx, s.AccessKeyID)
	if err != nil || cred.SessionToken != s.SessionToken || !cred.Expires.Equal(s.Expiration) {
		t.Errorf("keyring credential = %+v, %v", cred, err)
	}

	tests := []struct {
		name          string
		caller        iam.Caller
		in            iam.AssumeRoleInput
		code, message string
	}{
		{"root", f.root, iam.AssumeRoleInput{RoleARN: &r.ARN, RoleSessionName: ptr("s1")}, iam.CodeAccessDenied,
			"Roles may not be assumed by root accounts."},
		{"not trusted", alice, iam.AssumeRoleInput{RoleARN: &r.ARN, RoleSessionName: ptr("s1")}, iam.CodeAccessDenied,
			"User: arn:aws:iam::000000000000:user/alice is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::000000000000:role/ci"},
		{"no such role", bob, iam.AssumeRoleInput{RoleARN: ptr("arn:aws:iam::000000000000:role/nope"), RoleSessionName: ptr("s1")}, iam.CodeAccessDenied,
			"User: arn:aws:iam::000000000000:user/bob is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::000000000000:role/nope"},
		{"other account", bob, iam.AssumeRoleInput{RoleARN: ptr("arn:aws:iam::111111111111:role/ci"), RoleSessionName: ptr("s1")}, iam.CodeAccessDenied,
			"User: arn:aws:iam::000000000000:user/bob is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::111111111111:role/ci"},
		{"not an ARN", bob, iam.AssumeRoleInput{RoleARN: ptr("nothing-valid-in-here"), RoleSessionName: ptr("s1")}, iam.CodeValidation,
			"nothing-valid-in-here is invalid"},
		{"short ARN", bob, iam.AssumeRoleInput{RoleARN: ptr("arn:x"), RoleSessionName: ptr("s1")}, iam.CodeValidation,
			"1 validation error detected: Value 'arn:x' at 'roleArn' failed to satisfy constraint: Member must have length greater than or equal to 20"},
		{"session name chars", bob, iam.AssumeRoleInput{RoleARN: &r.ARN, RoleSessionName: ptr("Session1:2")}, iam.CodeValidation,
			`1 validation error detected: Value 'Session1:2' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\w+=,.@-]*`},
		{"session name short", bob, iam.AssumeRoleInput{RoleARN: &r.ARN, RoleSessionName: ptr("a")}, iam.CodeValidation,
			"1 validation error detected: Value 'a' at 'roleSessionName' failed to satisfy constraint: Member must have length greater than or equal to 2"},
		{"no session name", bob, iam.AssumeRoleInput{RoleARN: &r.ARN}, iam.CodeValidation,
			"1 validation error detected: Value null at 'roleSessionName' failed to satisfy constraint: Member must not be null"},
		{"duration short", bob, iam.AssumeRoleInput{RoleARN: &r.ARN, RoleSessionName: ptr("s1"), DurationSeconds: ptr(899)}, iam.CodeValidation,
			"1 validation error detected: Value '899' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900"},
		{"duration over the role's", bob, iam.AssumeRoleInput{RoleARN: &r.ARN, RoleSessionName: ptr("s1"), DurationSeconds: ptr(3601)}, iam.CodeValidation,
			"The requested DurationSeconds exceeds the MaxSessionDuration set for this role."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.svc.AssumeRole(ctx, tt.caller, tt.in)
			wantError(t, err, tt.code, tt.message)
		})
	}
}

func TestTrustPolicies(t *testing.T) {
	f := newFixture(t)
	bob := f.user(t, "bob")
	tests := []struct {
		name       string
		trust      string
		externalID *string
		allowed    bool
	}{
		{"account id", trustAWS(account), nil, true},
		{"account root", trustAWS("arn:aws:iam::000000000000:root"), nil, true},
		{"anyone", trustAWS("*"), nil, true},
		{"principal star", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"}]}`, nil, true},
		{"the user in a list", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["111111111111","` + bob.ARN + `"]},"Action":["sts:AssumeRole","sts:TagSession"]}]}`, nil, true},
		{"action wildcard", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"` + account + `"},"Action":"sts:Assume*"}]}`, nil, true},
		{"other account", trustAWS("111111111111"), nil, false},
		{"service only", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"eks.amazonaws.com"},"Action":"sts:AssumeRole"}]}`, nil, false},
		{"web identity only", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRoleWithWebIdentity"}]}`, nil, false},
		{"denied", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"},{"Effect":"Deny","Principal":{"AWS":"` + bob.ARN + `"},"Action":"sts:*"}]}`, nil, false},
		{"external id matches", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"x-123"}}}]}`, ptr("x-123"), true},
		{"external id differs", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"x-123"}}}]}`, ptr("x-999"), false},
		{"external id missing", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"x-123"}}}]}`, nil, false},
		{"unknown condition", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"}}}]}`, nil, false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := "role" + string(rune('a'+i))
			r := f.role(t, name, tt.trust)
			_, err := f.svc.AssumeRole(t.Context(), bob, iam.AssumeRoleInput{RoleARN: &r.ARN, RoleSessionName: ptr("s1"), ExternalID: tt.externalID})
			if tt.allowed && err != nil {
				t.Fatalf("AssumeRole: %v", err)
			}
			if !tt.allowed {
				wantError(t, err, iam.CodeAccessDenied, "User: "+bob.ARN+" is not authorized to perform: sts:AssumeRole on resource: "+r.ARN)
			}
		})
	}
}

// TestSessionSweep checks that expired session credentials are kept for a
// while, then swept away by a later AssumeRole.
func TestSessionSweep(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	bob := f.user(t, "bob")
	r := f.role(t, "r", trustAWS(account))
	s, err := f.svc.AssumeRole(ctx, bob, iam.AssumeRoleInput{RoleARN: &r.ARN, RoleSessionName: ptr("old"), DurationSeconds: ptr(900)})
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Add(30 * time.Minute)
	if _, err := f.svc.AssumeRole(ctx, bob, iam.AssumeRoleInput{RoleARN: &r.ARN, RoleSessionName: ptr("mid")}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.keys.Key(ctx, s.AccessKeyID); err != nil {
		t.Fatalf("an expired session went before its retention: %v", err)
	}
	f.clock.Add(time.Hour)
	if _, err := f.svc.AssumeRole(ctx, bob, iam.AssumeRoleInput{RoleARN: &r.ARN, RoleSessionName: ptr("new")}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.keys.Key(ctx, s.AccessKeyID); !errors.Is(err, credentials.ErrNotFound) {
		t.Fatalf("session expired for over an hour still stored: %v", err)
	}
}

func TestInstanceSession(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	ec2Trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":["ec2.amazonaws.com"]},"Action":"sts:AssumeRole"}]}`
	node := f.role(t, "node", ec2Trust)
	eks := f.role(t, "eks", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"eks.amazonaws.com"},"Action":"sts:AssumeRole"}]}`)
	for _, p := range []struct{ profile, role string }{{"nodes", "node"}, {"wrong", "eks"}} {
		if _, err := f.svc.CreateInstanceProfile(ctx, f.root, iam.CreateInstanceProfileInput{InstanceProfileName: ptr(p.profile)}); err != nil {
			t.Fatal(err)
		}
		if err := f.svc.AddRoleToInstanceProfile(ctx, f.root, ptr(p.profile), ptr(p.role)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.svc.CreateInstanceProfile(ctx, f.root, iam.CreateInstanceProfileInput{InstanceProfileName: ptr("empty")}); err != nil {
		t.Fatal(err)
	}

	for _, ref := range []string{"nodes", "arn:aws:iam::000000000000:instance-profile/nodes"} {
		profile, role, err := f.svc.InstanceProfileRole(ctx, ref)
		if err != nil || profile == nil || role != node.ARN || profile.ARN != "arn:aws:iam::000000000000:instance-profile/nodes" {
			t.Errorf("InstanceProfileRole(%s) = %+v, %s, %v", ref, profile, role, err)
		}
	}
	for _, ref := range []string{"missing", "arn:aws:iam::111111111111:instance-profile/nodes", "arn:aws:iam::000000000000:instance-profile/x/nodes", "bad name"} {
		if p, _, err := f.svc.InstanceProfileRole(ctx, ref); p != nil || err != nil {
			t.Errorf("InstanceProfileRole(%s) = %+v, %v, want not found", ref, p, err)
		}
	}
	if p, role, err := f.svc.InstanceProfileRole(ctx, "empty"); p == nil || role != "" || err != nil {
		t.Errorf("InstanceProfileRole(empty) = %+v, %s, %v", p, role, err)
	}

	s, err := f.svc.InstanceSession(ctx, node.ARN, "i-0123456789abcdef0")
	if err != nil {
		t.Fatal(err)
	}
	if s.ARN != "arn:aws:sts::000000000000:assumed-role/node/i-0123456789abcdef0" || !s.Expiration.Equal(f.clock.Now().Add(iam.InstanceSessionDuration)) {
		t.Errorf("InstanceSession = %+v", s)
	}
	c, err := f.svc.Caller(ctx, s.AccessKeyID)
	if err != nil || c.ARN != s.ARN {
		t.Errorf("Caller of the session = %+v, %v", c, err)
	}
	_, err = f.svc.InstanceSession(ctx, eks.ARN, "i-0123456789abcdef0")
	wantError(t, err, iam.CodeAccessDenied, "The role "+eks.ARN+" does not trust ec2.amazonaws.com: its trust policy must allow the service principal to call sts:AssumeRole.")
	// A service principal is not an AWS principal: a user cannot assume
	// a role that trusts only EC2.
	alice := f.user(t, "alice")
	_, err = f.svc.AssumeRole(ctx, alice, iam.AssumeRoleInput{RoleARN: &node.ARN, RoleSessionName: ptr("s")})
	if err == nil {
		t.Error("a user assumed a role that trusts only ec2.amazonaws.com")
	}
}
