package access_test

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/berthproject/berth/internal/access"
	"github.com/berthproject/berth/internal/apierror"
	"github.com/berthproject/berth/internal/cluster"
	"github.com/berthproject/berth/internal/store"
	"github.com/berthproject/berth/internal/versions"
	"github.com/berthproject/berth/internal/vpc"
)

const (
	account = "111122223333"
	region  = "us-west-2"
	user    = "arn:aws:iam::111122223333:user/eks-user"
	role    = "arn:aws:iam::111122223333:role/admin"
	// pathRole is a role with a path, as access entries take them.
	pathRole = "arn:aws:iam::111122223333:role/teams/tooling/devToolingOperator"
	nodeRole = "arn:aws:iam::111122223333:role/nodes"
	view     = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"
	edit     = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy"
)

// clock is a fake clock that ticks a second per reading.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

type fixture struct {
	st       *store.Bolt
	clusters *cluster.Service
	svc      *access.Service
}

// newFixture makes the cluster c1 (API_AND_CONFIG_MAP, the default) and
// the cluster legacy (CONFIG_MAP), created by caller.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "berth.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := &clock{t: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	clusters, err := cluster.New(cluster.Config{
		Store: st, Network: vpc.Default(account, region), Versions: versions.Builtin("1.37.2"), Account: account, Region: region,
		Now: clk.Now, AccessEntries: access.RecordsIn(st),
	})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := access.New(access.Config{Store: st, Clusters: clusters, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{st: st, clusters: clusters, svc: svc}
	f.cluster(t, "c1", "", "arn:aws:iam::111122223333:root")
	f.cluster(t, "legacy", access.ModeConfigMap, "arn:aws:iam::111122223333:root")
	return f
}

func (f *fixture) cluster(t *testing.T, name, mode, caller string) *cluster.Cluster {
	t.Helper()
	var subnets []string
	for _, s := range vpc.Default(account, region).Subnets {
		if s.Public && s.EKSCapable && len(subnets) < 2 {
			subnets = append(subnets, s.ID)
		}
	}
	in := cluster.CreateInput{Name: name, RoleARN: "arn:aws:iam::111122223333:role/eks", SubnetIDs: subnets, Principal: caller}
	if mode != "" {
		in.Access = &cluster.AccessInput{AuthenticationMode: mode}
	}
	c, err := f.clusters.Create(t.Context(), in)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// wantError checks an error's kind and message (a regular expression when
// it starts with ^) and that it names the cluster.
func wantError(t *testing.T, err error, kind apierror.Kind, message string) {
	t.Helper()
	e, ok := apierror.As(err)
	if !ok {
		t.Fatalf("got %v, want %s %q", err, kind, message)
	}
	matched := e.Message == message
	if len(message) > 0 && message[0] == '^' {
		matched = regexp.MustCompile(message).MatchString(e.Message)
	}
	if e.Kind != kind || !matched {
		t.Fatalf("got %s %q, want %s %q", e.Kind, e.Message, kind, message)
	}
}

const (
	msgPrincipalFormat = "The principalArn parameter format is not valid"
	msgNotFound        = "The specified principalArn could not be found. You can view your available access entries with 'list-access-entries'."
	msgAuthMode        = "The cluster's authentication mode must be set to one of [API, API_AND_CONFIG_MAP] to perform this operation."
	msgNotStandard     = `This operation can only be performed on Access Entries with a type of "STANDARD".`
)

func TestCreateDefaults(t *testing.T) {
	f := newFixture(t)
	uuid := "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
	for _, tc := range []struct {
		name     string
		in       access.CreateInput
		username string
		groups   []string
		arn      string
	}{
		{"user", access.CreateInput{PrincipalARN: user}, user, nil,
			"arn:aws:eks:us-west-2:111122223333:access-entry/c1/user/111122223333/eks-user/" + uuid},
		{"user with a path", access.CreateInput{PrincipalARN: "arn:aws:iam::111122223333:user/division/ops/alice"},
			"arn:aws:iam::111122223333:user/division/ops/alice", nil,
			"arn:aws:eks:us-west-2:111122223333:access-entry/c1/user/111122223333/alice/" + uuid},
		{"role", access.CreateInput{PrincipalARN: role, KubernetesGroups: []string{"viewers", "viewers", "ops"}},
			"arn:aws:sts::111122223333:assumed-role/admin/{{SessionName}}", []string{"viewers", "ops"},
			"arn:aws:eks:us-west-2:111122223333:access-entry/c1/role/111122223333/admin/" + uuid},
		{"role with a path loses it in the username", access.CreateInput{PrincipalARN: pathRole},
			"arn:aws:sts::111122223333:assumed-role/devToolingOperator/{{SessionName}}", nil,
			"arn:aws:eks:us-west-2:111122223333:access-entry/c1/role/111122223333/devToolingOperator/" + uuid},
		{"role of another account", access.CreateInput{PrincipalARN: "arn:aws:iam::567890123456:role/other"},
			"arn:aws:sts::567890123456:assumed-role/other/{{SessionName}}", nil,
			"arn:aws:eks:us-west-2:111122223333:access-entry/c1/role/567890123456/other/" + uuid},
		{"custom username", access.CreateInput{PrincipalARN: "arn:aws:iam::111122223333:role/dev", Username: "dev:{{SessionName}}"},
			"dev:{{SessionName}}", nil, "^arn:aws:eks:.*/dev/"},
		{"EC2_LINUX", access.CreateInput{PrincipalARN: nodeRole, Type: "EC2_LINUX"},
			"system:node:{{EC2PrivateDNSName}}", []string{"system:nodes"},
			"arn:aws:eks:us-west-2:111122223333:access-entry/c1/role/111122223333/nodes/" + uuid},
		{"EC2_WINDOWS", access.CreateInput{PrincipalARN: "arn:aws:iam::111122223333:role/win", Type: "EC2_WINDOWS"},
			"system:node:{{EC2PrivateDNSName}}", []string{"eks:kube-proxy-windows", "system:nodes"}, "^arn:aws:eks:.*/win/"},
		{"FARGATE_LINUX", access.CreateInput{PrincipalARN: "arn:aws:iam::111122223333:role/pods", Type: "FARGATE_LINUX"},
			"system:node:{{SessionName}}", []string{"system:node-proxier", "system:nodes"}, "^arn:aws:eks:.*/pods/"},
		{"HYBRID_LINUX", access.CreateInput{PrincipalARN: "arn:aws:iam::111122223333:role/hybrid", Type: "HYBRID_LINUX"},
			"system:node:{{SessionName}}", []string{"system:nodes"}, "^arn:aws:eks:.*/hybrid/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.in.Cluster = "c1"
			e, err := f.svc.Create(t.Context(), tc.in)
			if err != nil {
				t.Fatal(err)
			}
			wantType := tc.in.Type
			if wantType == "" {
				wantType = access.TypeStandard
			}
			arnRE := tc.arn
			if arnRE[0] != '^' {
				arnRE = "^" + regexp.QuoteMeta(arnRE[:len(arnRE)-len(uuid)]) + uuid + "$"
			}
			if e.Username != tc.username || !slices.Equal(e.KubernetesGroups, tc.groups) || e.Type != wantType ||
				!regexp.MustCompile(arnRE).MatchString(e.ARN) || e.CreatedAt.IsZero() || !e.ModifiedAt.Equal(e.CreatedAt) || len(e.Policies) != 0 {
				t.Errorf("created %+v", e)
			}
			got, err := f.svc.Get(t.Context(), "c1", tc.in.PrincipalARN)
			if err != nil || got.ARN != e.ARN || got.Username != e.Username {
				t.Errorf("described %+v, %v", got, err)
			}
		})
	}
}

func TestCreateRefused(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	if _, err := f.svc.Create(ctx, access.CreateInput{Cluster: "c1", PrincipalARN: role, ClientRequestToken: "tok"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		in      access.CreateInput
		kind    apierror.Kind
		message string
	}{
		{"no cluster", access.CreateInput{Cluster: "nope", PrincipalARN: user}, apierror.ResourceNotFound, "No cluster found for name: nope."},
		{"CONFIG_MAP cluster", access.CreateInput{Cluster: "legacy", PrincipalARN: user}, apierror.InvalidRequest, msgAuthMode},
		{"the same principal", access.CreateInput{Cluster: "c1", PrincipalARN: role}, apierror.ResourceInUse,
			"The specified access entry resource is already in use on this cluster."},
		{"the same principal with another token", access.CreateInput{Cluster: "c1", PrincipalARN: role, ClientRequestToken: "other"}, apierror.ResourceInUse,
			"The specified access entry resource is already in use on this cluster."},
		{"no principal", access.CreateInput{Cluster: "c1"}, apierror.InvalidParameter, "principalArn is required."},
		{"assumed-role session", access.CreateInput{Cluster: "c1", PrincipalARN: "arn:aws:sts::111122223333:assumed-role/admin/alice"},
			apierror.InvalidParameter, msgPrincipalFormat},
		{"not an ARN", access.CreateInput{Cluster: "c1", PrincipalARN: "admin"}, apierror.InvalidParameter, msgPrincipalFormat},
		{"a group", access.CreateInput{Cluster: "c1", PrincipalARN: "arn:aws:iam::111122223333:group/admins"}, apierror.InvalidParameter, msgPrincipalFormat},
		{"bad account", access.CreateInput{Cluster: "c1", PrincipalARN: "arn:aws:iam::1111:role/admin"}, apierror.InvalidParameter, msgPrincipalFormat},
		{"empty path segment", access.CreateInput{Cluster: "c1", PrincipalARN: "arn:aws:iam::111122223333:role/a//b"}, apierror.InvalidParameter, msgPrincipalFormat},
		{"service-linked role", access.CreateInput{Cluster: "c1", PrincipalARN: "arn:aws:iam::111122223333:role/aws-service-role/eks.amazonaws.com/AWSServiceRoleForAmazonEKS"},
			apierror.InvalidParameter, "^is a service-linked role"},
		{"unknown type", access.CreateInput{Cluster: "c1", PrincipalARN: user, Type: "ROBOT"}, apierror.InvalidParameter,
			"The access entry type ROBOT is not valid: valid types are STANDARD, EC2_LINUX, EC2_WINDOWS, FARGATE_LINUX, HYBRID_LINUX, HYPERPOD_LINUX, EC2."},
		{"system group", access.CreateInput{Cluster: "c1", PrincipalARN: user, KubernetesGroups: []string{"system:masters"}}, apierror.InvalidParameter,
			"The kubernetes group name system:masters is invalid, it cannot start with system:"},
		{"empty group", access.CreateInput{Cluster: "c1", PrincipalARN: user, KubernetesGroups: []string{""}}, apierror.InvalidParameter,
			"The kubernetes group names must not be empty."},
		{"system username", access.CreateInput{Cluster: "c1", PrincipalARN: user, Username: "system:admin"}, apierror.InvalidParameter,
			"The username must not begin with system:"},
		{"eks username", access.CreateInput{Cluster: "c1", PrincipalARN: user, Username: "eks:admin"}, apierror.InvalidParameter,
			"The username must not begin with eks:"},
		{"aws username", access.CreateInput{Cluster: "c1", PrincipalARN: user, Username: "aws:admin"}, apierror.InvalidParameter, "The username must not begin with aws:"},
		{"amazon username", access.CreateInput{Cluster: "c1", PrincipalARN: user, Username: "amazon:x"}, apierror.InvalidParameter, "The username must not begin with amazon:"},
		{"iam username", access.CreateInput{Cluster: "c1", PrincipalARN: user, Username: "iam:x"}, apierror.InvalidParameter, "The username must not begin with iam:"},
		{"no colon before the session name", access.CreateInput{Cluster: "c1", PrincipalARN: "arn:aws:iam::111122223333:role/r", Username: "john{{SessionName}}"},
			apierror.InvalidParameter, "^must have a colon before it"},
		{"no colon before the raw session name", access.CreateInput{Cluster: "c1", PrincipalARN: "arn:aws:iam::111122223333:role/r", Username: "john{{SessionNameRaw}}"},
			apierror.InvalidParameter, "^must have a colon before it"},
		{"node entry with groups", access.CreateInput{Cluster: "c1", PrincipalARN: nodeRole, Type: "EC2_LINUX", KubernetesGroups: []string{"nodes"}},
			apierror.InvalidParameter, "^kubernetesGroups cannot be specified for access entries of type EC2_LINUX"},
		{"node entry with a system username", access.CreateInput{Cluster: "c1", PrincipalARN: nodeRole, Type: "EC2_LINUX", Username: "system:node:{{EC2PrivateDNSName}}"},
			apierror.InvalidParameter, "The username must not begin with system:"},
		{"node entry with a username", access.CreateInput{Cluster: "c1", PrincipalARN: nodeRole, Type: "EC2_LINUX", Username: "node"},
			apierror.InvalidParameter, "^username cannot be specified for access entries of type EC2_LINUX"},
		{"node entry for a user", access.CreateInput{Cluster: "c1", PrincipalARN: user, Type: "FARGATE_LINUX"},
			apierror.InvalidParameter, "^Access entries of type FARGATE_LINUX can only be created for IAM roles"},
		{"node entry of another account", access.CreateInput{Cluster: "c1", PrincipalARN: "arn:aws:iam::567890123456:role/nodes", Type: "EC2_LINUX"},
			apierror.InvalidParameter, "^must be for an IAM role of the cluster's account 111122223333"},
		{"reserved tag", access.CreateInput{Cluster: "c1", PrincipalARN: user, Tags: map[string]string{"aws:x": "y"}},
			apierror.BadRequest, `Tag key "aws:x" uses the reserved prefix aws:.`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := tc.message
			if msg[0] == '^' {
				msg = "^.*" + regexp.QuoteMeta(msg[1:])
			}
			_, err := f.svc.Create(ctx, tc.in)
			wantError(t, err, tc.kind, msg)
			if e, _ := apierror.As(err); tc.kind != apierror.BadRequest && e.Fields["clusterName"] != tc.in.Cluster {
				t.Errorf("clusterName %q", e.Fields["clusterName"])
			}
		})
	}

	// The token of the first request returns its entry.
	e, err := f.svc.Create(ctx, access.CreateInput{Cluster: "c1", PrincipalARN: role, ClientRequestToken: "tok"})
	if err != nil || e.PrincipalARN != role {
		t.Errorf("retry: %+v %v", e, err)
	}
	// Nothing refused was written.
	all, err := f.svc.All(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range all {
		got = append(got, e.PrincipalARN)
	}
	if want := []string{"arn:aws:iam::111122223333:role/admin", "arn:aws:iam::111122223333:root"}; !slices.Equal(got, want) {
		t.Errorf("entries %v, want %v", got, want)
	}
}

// The cluster's creator gets a STANDARD entry with AmazonEKSClusterAdminPolicy
// at cluster scope in the commit that creates the cluster; no entry when
// bootstrapClusterCreatorAdminPermissions is false; the entries go with
// the cluster.
func TestCreatorEntry(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	c1, _, err := f.clusters.Get(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	root := "arn:aws:iam::111122223333:root"
	e, err := f.svc.Get(ctx, "c1", root)
	if err != nil {
		t.Fatal(err)
	}
	if e.Type != access.TypeStandard || e.Username != root || len(e.KubernetesGroups) != 0 || !e.CreatedAt.Equal(c1.CreatedAt) ||
		!regexp.MustCompile(`^arn:aws:eks:us-west-2:111122223333:access-entry/c1/root/111122223333/root/[0-9a-f-]{36}$`).MatchString(e.ARN) {
		t.Errorf("creator entry %+v", e)
	}
	if len(e.Policies) != 1 || e.Policies[0].PolicyARN != access.ClusterAdminPolicyARN || e.Policies[0].Scope.Type != access.ScopeCluster ||
		!e.Policies[0].AssociatedAt.Equal(c1.CreatedAt) {
		t.Errorf("creator policies %+v", e.Policies)
	}
	// CONFIG_MAP: no entries at all.
	if all, err := f.svc.All(ctx, "legacy"); err != nil || len(all) != 0 {
		t.Errorf("CONFIG_MAP cluster entries %v %v", all, err)
	}

	// An assumed-role session creates: the entry is its role's.
	f.cluster(t, "api", access.ModeAPI, "arn:aws:sts::111122223333:assumed-role/deployer/ci@example.com")
	e, err = f.svc.Get(ctx, "api", "arn:aws:iam::111122223333:role/deployer")
	if err != nil || e.Username != "arn:aws:sts::111122223333:assumed-role/deployer/{{SessionName}}" {
		t.Fatalf("session creator: %+v %v", e, err)
	}

	// bootstrapClusterCreatorAdminPermissions false: none.
	no := false
	var subnets []string
	for _, s := range vpc.Default(account, region).Subnets {
		if s.Public && s.EKSCapable && len(subnets) < 2 {
			subnets = append(subnets, s.ID)
		}
	}
	if _, err := f.clusters.Create(ctx, cluster.CreateInput{Name: "bare", RoleARN: "arn:aws:iam::111122223333:role/eks", SubnetIDs: subnets,
		Principal: root, Access: &cluster.AccessInput{BootstrapClusterCreatorAdminPermissions: &no}}); err != nil {
		t.Fatal(err)
	}
	if all, err := f.svc.All(ctx, "bare"); err != nil || len(all) != 0 {
		t.Errorf("entries without bootstrap %v %v", all, err)
	}

	// Removing a cluster removes its entries, not those of others.
	if _, err := f.svc.Create(ctx, access.CreateInput{Cluster: "c1", PrincipalARN: user}); err != nil {
		t.Fatal(err)
	}
	if err := f.clusters.Remove(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	if recs, err := f.st.List(ctx, access.KindEntry, "c1/"); err != nil || len(recs) != 0 {
		t.Errorf("entries of a removed cluster: %d %v", len(recs), err)
	}
	if all, err := f.svc.All(ctx, "api"); err != nil || len(all) != 1 {
		t.Errorf("entries of another cluster: %v %v", all, err)
	}
	// A new cluster of the same name starts with its creator's entry only.
	f.cluster(t, "c1", "", user)
	all, err := f.svc.All(ctx, "c1")
	if err != nil || len(all) != 1 || all[0].PrincipalARN != user {
		t.Errorf("entries of the new c1: %v %v", all, err)
	}
}

func TestCreatorPrincipalRefused(t *testing.T) {
	if _, err := access.CreatorPrincipal("arn:aws:iam::111122223333:group/g"); err == nil {
		t.Error("a group creator was accepted")
	}
}

func TestListPaging(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	var want []string
	for i := range 5 {
		arn := fmt.Sprintf("arn:aws:iam::111122223333:user/u%d", i)
		if _, err := f.svc.Create(ctx, access.CreateInput{Cluster: "c1", PrincipalARN: arn}); err != nil {
			t.Fatal(err)
		}
		want = append(want, arn)
	}
	want = append([]string{"arn:aws:iam::111122223333:root"}, want...)
	var got []string
	token := ""
	pages := 0
	for {
		page, next, err := f.svc.List(ctx, "c1", "", 2, token)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		got = append(got, page...)
		if next == "" {
			break
		}
		token = next
	}
	if pages != 3 || !slices.Equal(got, want) {
		t.Errorf("%d pages %v, want %v", pages, got, want)
	}

	// associatedPolicyArn keeps the entries that policy is associated with.
	if _, err := f.svc.Associate(ctx, access.AssociateInput{Cluster: "c1", PrincipalARN: want[2], PolicyARN: view, Scope: &access.Scope{Type: "cluster"}}); err != nil {
		t.Fatal(err)
	}
	for policy, wantARNs := range map[string][]string{
		view:                         {want[2]},
		access.ClusterAdminPolicyARN: {"arn:aws:iam::111122223333:root"},
		edit:                         {},
	} {
		got, next, err := f.svc.List(ctx, "c1", policy, 0, "")
		if err != nil || next != "" || !slices.Equal(got, wantARNs) {
			t.Errorf("filtered by %s: %v %q %v", policy, got, next, err)
		}
	}

	for _, tc := range []struct {
		name    string
		cluster string
		max     int
		token   string
		kind    apierror.Kind
		message string
	}{
		{"maxResults too large", "c1", 101, "", apierror.InvalidParameter, "maxResults must be between 1 and 100."},
		{"bad token", "c1", 0, "garbage!", apierror.InvalidParameter, `The pagination token "garbage!" is invalid.`},
		{"no cluster", "nope", 0, "", apierror.ResourceNotFound, "No cluster found for name: nope."},
		{"CONFIG_MAP", "legacy", 0, "", apierror.InvalidRequest, msgAuthMode},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := f.svc.List(ctx, tc.cluster, "", tc.max, tc.token)
			wantError(t, err, tc.kind, tc.message)
		})
	}
}

func TestUpdateDelete(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	e, err := f.svc.Create(ctx, access.CreateInput{Cluster: "c1", PrincipalARN: role, KubernetesGroups: []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	groups := []string{"b", "c"}
	u, err := f.svc.Update(ctx, access.UpdateInput{Cluster: "c1", PrincipalARN: role, KubernetesGroups: &groups})
	if err != nil || !slices.Equal(u.KubernetesGroups, groups) || u.Username != e.Username || !u.ModifiedAt.After(e.ModifiedAt) || !u.CreatedAt.Equal(e.CreatedAt) {
		t.Fatalf("groups update: %+v %v", u, err)
	}
	u, err = f.svc.Update(ctx, access.UpdateInput{Cluster: "c1", PrincipalARN: role, Username: "admin:{{SessionName}}"})
	if err != nil || !slices.Equal(u.KubernetesGroups, groups) || u.Username != "admin:{{SessionName}}" {
		t.Fatalf("username update: %+v %v", u, err)
	}
	none := []string{}
	if u, err = f.svc.Update(ctx, access.UpdateInput{Cluster: "c1", PrincipalARN: role, KubernetesGroups: &none}); err != nil || len(u.KubernetesGroups) != 0 {
		t.Fatalf("clearing the groups: %+v %v", u, err)
	}
	if _, err := f.svc.Create(ctx, access.CreateInput{Cluster: "c1", PrincipalARN: nodeRole, Type: "EC2_LINUX"}); err != nil {
		t.Fatal(err)
	}
	bad := []string{"system:bootstrappers"}
	for _, tc := range []struct {
		name    string
		in      access.UpdateInput
		kind    apierror.Kind
		message string
	}{
		{"system group", access.UpdateInput{Cluster: "c1", PrincipalARN: role, KubernetesGroups: &bad}, apierror.InvalidParameter,
			"The kubernetes group name system:bootstrappers is invalid, it cannot start with system:"},
		{"system username of a node entry", access.UpdateInput{Cluster: "c1", PrincipalARN: nodeRole, Username: "system:node:{{EC2PrivateDNSName}}"},
			apierror.InvalidParameter, "The username must not begin with system:"},
		{"groups of a node entry", access.UpdateInput{Cluster: "c1", PrincipalARN: nodeRole, KubernetesGroups: &groups}, apierror.InvalidParameter, msgNotStandard},
		{"no entry", access.UpdateInput{Cluster: "c1", PrincipalARN: user, Username: "x"}, apierror.ResourceNotFound, msgNotFound},
		{"CONFIG_MAP", access.UpdateInput{Cluster: "legacy", PrincipalARN: user}, apierror.InvalidRequest, msgAuthMode},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.svc.Update(ctx, tc.in)
			wantError(t, err, tc.kind, tc.message)
		})
	}

	if err := f.svc.Delete(ctx, "c1", role); err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.Get(ctx, "c1", role)
	wantError(t, err, apierror.ResourceNotFound, msgNotFound)
	wantError(t, f.svc.Delete(ctx, "c1", role), apierror.ResourceNotFound, msgNotFound)
	wantError(t, f.svc.Delete(ctx, "legacy", role), apierror.InvalidRequest, msgAuthMode)
	wantError(t, f.svc.Delete(ctx, "nope", role), apierror.ResourceNotFound, "No cluster found for name: nope.")
	_, err = f.svc.Get(ctx, "legacy", role)
	wantError(t, err, apierror.InvalidRequest, msgAuthMode)
}

func TestAssociate(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	if _, err := f.svc.Create(ctx, access.CreateInput{Cluster: "c1", PrincipalARN: role}); err != nil {
		t.Fatal(err)
	}
	p, err := f.svc.Associate(ctx, access.AssociateInput{Cluster: "c1", PrincipalARN: role, PolicyARN: edit,
		Scope: &access.Scope{Type: "namespace", Namespaces: []string{"default", "dev-*", "default"}}})
	if err != nil || p.PolicyARN != edit || p.Scope.Type != "namespace" || !slices.Equal(p.Scope.Namespaces, []string{"default", "dev-*"}) ||
		p.AssociatedAt.IsZero() || !p.ModifiedAt.Equal(p.AssociatedAt) {
		t.Fatalf("associated %+v %v", p, err)
	}
	if _, err := f.svc.Associate(ctx, access.AssociateInput{Cluster: "c1", PrincipalARN: role, PolicyARN: view, Scope: &access.Scope{Type: "cluster"}}); err != nil {
		t.Fatal(err)
	}
	// Associating again changes the scope.
	q, err := f.svc.Associate(ctx, access.AssociateInput{Cluster: "c1", PrincipalARN: role, PolicyARN: edit, Scope: &access.Scope{Type: "cluster"}})
	if err != nil || q.Scope.Type != "cluster" || len(q.Scope.Namespaces) != 0 || !q.AssociatedAt.Equal(p.AssociatedAt) || !q.ModifiedAt.After(p.ModifiedAt) {
		t.Fatalf("re-associated %+v %v", q, err)
	}
	ps, next, err := f.svc.ListAssociated(ctx, "c1", role, 1, "")
	if err != nil || len(ps) != 1 || ps[0].PolicyARN != edit || next == "" {
		t.Fatalf("first page %+v %q %v", ps, next, err)
	}
	ps, next, err = f.svc.ListAssociated(ctx, "c1", role, 1, next)
	if err != nil || len(ps) != 1 || ps[0].PolicyARN != view || next != "" {
		t.Fatalf("second page %+v %q %v", ps, next, err)
	}

	if _, err := f.svc.Create(ctx, access.CreateInput{Cluster: "c1", PrincipalARN: nodeRole, Type: "EC2_LINUX"}); err != nil {
		t.Fatal(err)
	}
	auto := "arn:aws:iam::111122223333:role/auto-nodes"
	if _, err := f.svc.Create(ctx, access.CreateInput{Cluster: "c1", PrincipalARN: auto, Type: "EC2"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Associate(ctx, access.AssociateInput{Cluster: "c1", PrincipalARN: auto,
		PolicyARN: "arn:aws:eks::aws:cluster-access-policy/AmazonEKSAutoNodePolicy", Scope: &access.Scope{Type: "cluster"}}); err != nil {
		t.Errorf("Auto Mode node entry: %v", err)
	}
	for _, tc := range []struct {
		name    string
		in      access.AssociateInput
		kind    apierror.Kind
		message string
	}{
		{"node entry", access.AssociateInput{Cluster: "c1", PrincipalARN: nodeRole, PolicyARN: view, Scope: &access.Scope{Type: "cluster"}},
			apierror.InvalidParameter, msgNotStandard},
		{"no entry", access.AssociateInput{Cluster: "c1", PrincipalARN: user, PolicyARN: view, Scope: &access.Scope{Type: "cluster"}},
			apierror.ResourceNotFound, msgNotFound},
		{"unknown policy", access.AssociateInput{Cluster: "c1", PrincipalARN: role, PolicyARN: "arn:aws:eks::aws:cluster-access-policy/Root", Scope: &access.Scope{Type: "cluster"}},
			apierror.InvalidParameter, "The policyArn arn:aws:eks::aws:cluster-access-policy/Root is not a valid access policy ARN: ListAccessPolicies lists them."},
		{"no policy", access.AssociateInput{Cluster: "c1", PrincipalARN: role, Scope: &access.Scope{Type: "cluster"}}, apierror.InvalidParameter, "policyArn is required."},
		{"no scope", access.AssociateInput{Cluster: "c1", PrincipalARN: role, PolicyARN: view}, apierror.InvalidParameter,
			"accessScope.type is required: it must be cluster or namespace."},
		{"unknown scope", access.AssociateInput{Cluster: "c1", PrincipalARN: role, PolicyARN: view, Scope: &access.Scope{Type: "global"}}, apierror.InvalidParameter,
			"The access scope type global is not valid: it must be cluster or namespace."},
		{"namespace scope without namespaces", access.AssociateInput{Cluster: "c1", PrincipalARN: role, PolicyARN: view, Scope: &access.Scope{Type: "namespace"}},
			apierror.InvalidParameter, "At least one namespace must be specified when the access scope type is namespace."},
		{"cluster scope with namespaces", access.AssociateInput{Cluster: "c1", PrincipalARN: role, PolicyARN: view, Scope: &access.Scope{Type: "cluster", Namespaces: []string{"a"}}},
			apierror.InvalidParameter, "Namespaces cannot be specified when the access scope type is cluster."},
		{"bad namespace", access.AssociateInput{Cluster: "c1", PrincipalARN: role, PolicyARN: view, Scope: &access.Scope{Type: "namespace", Namespaces: []string{"Prod_1"}}},
			apierror.InvalidParameter, `^The namespace "Prod_1" is not valid`},
		{"CONFIG_MAP", access.AssociateInput{Cluster: "legacy", PrincipalARN: role, PolicyARN: view, Scope: &access.Scope{Type: "cluster"}},
			apierror.InvalidRequest, msgAuthMode},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.svc.Associate(ctx, tc.in)
			wantError(t, err, tc.kind, tc.message)
		})
	}

	if err := f.svc.Disassociate(ctx, "c1", role, edit); err != nil {
		t.Fatal(err)
	}
	e, err := f.svc.Get(ctx, "c1", role)
	if err != nil || len(e.Policies) != 1 || e.Policies[0].PolicyARN != view {
		t.Errorf("after disassociating: %+v %v", e, err)
	}
	wantError(t, f.svc.Disassociate(ctx, "c1", role, edit), apierror.ResourceNotFound, "^The access policy .* is not associated with the access entry of arn:aws:iam::111122223333:role/admin.$")
	wantError(t, f.svc.Disassociate(ctx, "c1", user, edit), apierror.ResourceNotFound, msgNotFound)
	_, _, err = f.svc.ListAssociated(ctx, "c1", user, 0, "")
	wantError(t, err, apierror.ResourceNotFound, msgNotFound)
}

func TestResolve(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	for _, arn := range []string{user, pathRole, role} {
		if _, err := f.svc.Create(ctx, access.CreateInput{Cluster: "c1", PrincipalARN: arn}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name, caller, want string
	}{
		{"user", user, user},
		{"role", role, role},
		{"role with its path", pathRole, pathRole},
		{"role without its path", "arn:aws:iam::111122223333:role/devToolingOperator", ""},
		{"root", "arn:aws:iam::111122223333:root", "arn:aws:iam::111122223333:root"},
		{"session of a role", "arn:aws:sts::111122223333:assumed-role/admin/alice", role},
		{"session of a role with a path", "arn:aws:sts::111122223333:assumed-role/devToolingOperator/bob@example.com", pathRole},
		{"session of a role of another account", "arn:aws:sts::999999999999:assumed-role/admin/alice", ""},
		{"session of a role without entry", "arn:aws:sts::111122223333:assumed-role/other/alice", ""},
		{"session named like a user", "arn:aws:sts::111122223333:assumed-role/eks-user/alice", ""},
		{"user without entry", "arn:aws:iam::111122223333:user/nobody", ""},
		{"not an ARN", "nobody", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, ok, err := f.svc.Resolve(ctx, "c1", tc.caller)
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			if ok {
				got = e.PrincipalARN
			}
			if got != tc.want {
				t.Errorf("resolved %q, want %q", got, tc.want)
			}
		})
	}
	// The creator's entry comes with its policy.
	e, ok, err := f.svc.Resolve(ctx, "c1", "arn:aws:iam::111122223333:root")
	if err != nil || !ok || len(e.Policies) != 1 {
		t.Errorf("root: %+v %v %v", e, ok, err)
	}
}

func TestExpandUsername(t *testing.T) {
	vars := map[string]string{
		access.VarSessionName:       "alice@example.com",
		access.VarAccountID:         "111122223333",
		access.VarEC2PrivateDNSName: "ip-10-0-1-5.ec2.internal",
	}
	for _, tc := range []struct {
		template string
		vars     map[string]string
		want     string
	}{
		{"arn:aws:sts::111122223333:assumed-role/admin/{{SessionName}}", vars, "arn:aws:sts::111122223333:assumed-role/admin/alice-example.com"},
		{"dev:{{SessionNameRaw}}", vars, "dev:alice@example.com"},
		{"system:node:{{EC2PrivateDNSName}}", vars, "system:node:ip-10-0-1-5.ec2.internal"},
		{"acct-{{AccountID}}:{{SessionName}}", vars, "acct-111122223333:alice-example.com"},
		{"arn:aws:iam::111122223333:user/eks-user", vars, "arn:aws:iam::111122223333:user/eks-user"},
		{"x:{{Unknown}}:{{SessionName}}", vars, "x:{{Unknown}}:alice-example.com"},
		{"system:node:{{SessionName}}", map[string]string{}, "system:node:{{SessionName}}"},
		{"raw:{{SessionNameRaw}}", map[string]string{access.VarSessionName: "a@b", access.VarSessionNameRaw: "given"}, "raw:given"},
		{"open {{SessionName", vars, "open {{SessionName"},
	} {
		if got := access.ExpandUsername(tc.template, tc.vars); got != tc.want {
			t.Errorf("ExpandUsername(%q) = %q, want %q", tc.template, got, tc.want)
		}
	}
}

func TestParsePrincipal(t *testing.T) {
	for _, tc := range []struct {
		arn  string
		want access.Principal
	}{
		{"arn:aws:iam::111122223333:root", access.Principal{Partition: "aws", Account: account, Kind: "root", Path: "/", Name: "root"}},
		{"arn:aws:iam::111122223333:user/eks-user", access.Principal{Partition: "aws", Account: account, Kind: "user", Path: "/", Name: "eks-user"}},
		{pathRole, access.Principal{Partition: "aws", Account: account, Kind: "role", Path: "/teams/tooling/", Name: "devToolingOperator"}},
		{"arn:aws-cn:iam::111122223333:role/r", access.Principal{Partition: "aws-cn", Account: account, Kind: "role", Path: "/", Name: "r"}},
		{"arn:aws:sts::111122223333:assumed-role/admin/alice@example.com",
			access.Principal{Partition: "aws", Account: account, Kind: "assumed-role", Path: "/", Name: "admin", Session: "alice@example.com"}},
	} {
		got, err := access.ParsePrincipal(tc.arn)
		tc.want.ARN = tc.arn
		if err != nil || got != tc.want {
			t.Errorf("ParsePrincipal(%q) = %+v, %v", tc.arn, got, err)
		}
	}
	for _, bad := range []string{"", "arn:aws:iam::111122223333:", "arn:aws:iam::111122223333:user/", "arn:aws:iam:us-east-1:111122223333:role/r",
		"arn:aws:s3:::bucket", "arn:aws:sts::111122223333:assumed-role/admin", "arn:aws:iam::111122223333:role/r r", "arn:aws:iam::111122223333:role/" + string(make([]byte, 65))} {
		if _, err := access.ParsePrincipal(bad); err == nil {
			t.Errorf("ParsePrincipal(%q) accepted", bad)
		}
	}
}

func TestListPolicies(t *testing.T) {
	all := access.Policies()
	names := map[string]bool{}
	for _, p := range all {
		names[p.Name] = true
		if p.ARN != "arn:aws:eks::aws:cluster-access-policy/"+p.Name {
			t.Errorf("policy %+v", p)
		}
	}
	for _, n := range []string{"AmazonEKSClusterAdminPolicy", "AmazonEKSAdminPolicy", "AmazonEKSEditPolicy", "AmazonEKSViewPolicy", "AmazonEKSAdminViewPolicy", "AmazonEKSAutoNodePolicy"} {
		if !names[n] {
			t.Errorf("%s missing", n)
		}
	}
	var got []access.Policy
	token := ""
	for {
		page, next, err := access.ListPolicies(5, token)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, page...)
		if next == "" {
			break
		}
		token = next
	}
	if !slices.Equal(got, all) || !slices.IsSortedFunc(got, func(a, b access.Policy) int { return cmpString(a.Name, b.Name) }) {
		t.Errorf("paged policies %v", got)
	}
	if _, _, err := access.ListPolicies(0, "nope"); !apierror.IsKind(err, apierror.InvalidParameter) {
		t.Errorf("bad token: %v", err)
	}
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
