package cluster_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/berthproject/berth/internal/apierror"
	"github.com/berthproject/berth/internal/cluster"
	"github.com/berthproject/berth/internal/store"
	"github.com/berthproject/berth/internal/versions"
	"github.com/berthproject/berth/internal/vpc"
)

const creator = "arn:aws:iam::000000000000:user/alice"

type configFixture struct {
	svc     *cluster.Service
	st      *store.Bolt
	entries *fakeEntries
	subnets []string
}

// newConfigFixture is a cluster service whose clock starts at now and
// moves a second on at every reading, so that updates have an order.
func newConfigFixture(t *testing.T, now time.Time) *configFixture {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "berth.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	network := vpc.Default("000000000000", "us-east-1")
	f := &configFixture{st: st, entries: &fakeEntries{}}
	for _, s := range network.Subnets {
		if s.Public && s.EKSCapable && len(f.subnets) < 2 {
			f.subnets = append(f.subnets, s.ID)
		}
	}
	f.svc, err = cluster.New(cluster.Config{
		Store: st, Network: network, Versions: versions.Builtin("1.37.2"), Account: "000000000000", Region: "us-east-1",
		AccessEntries: f.entries, Now: func() time.Time { now = now.Add(time.Second); return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// active creates an ACTIVE cluster from in (name, role and subnets filled
// in when missing).
func (f *configFixture) active(t *testing.T, in cluster.CreateInput) {
	t.Helper()
	if in.RoleARN == "" {
		in.RoleARN = "arn:aws:iam::000000000000:role/eks"
	}
	if in.SubnetIDs == nil {
		in.SubnetIDs = f.subnets
	}
	in.Principal = creator
	if _, err := f.svc.Create(t.Context(), in); err != nil {
		t.Fatal(err)
	}
	f.setStatus(t, in.Name, cluster.StatusActive)
}

func (f *configFixture) setStatus(t *testing.T, name, status string) {
	t.Helper()
	if _, err := f.svc.Mutate(t.Context(), name, func(c *cluster.Cluster) ([]store.Op, error) {
		c.Status = status
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
}

func (f *configFixture) get(t *testing.T, name string) *cluster.Cluster {
	t.Helper()
	c, _, err := f.svc.Get(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func wantError(t *testing.T, err error, kind apierror.Kind, msg string) {
	t.Helper()
	e, ok := apierror.As(err)
	if !ok || e.Kind != kind || e.Message != msg {
		t.Fatalf("got %v, want %s: %s", err, kind, msg)
	}
	if e.Fields["clusterName"] == "" {
		t.Errorf("%v carries no clusterName", err)
	}
}

func wantParams(t *testing.T, u *cluster.Update, want ...cluster.UpdateParam) {
	t.Helper()
	if len(u.Params) != len(want) {
		t.Fatalf("params %+v, want %+v", u.Params, want)
	}
	for i := range want {
		if u.Params[i] != want[i] {
			t.Errorf("param %d = %+v, want %+v", i, u.Params[i], want[i])
		}
	}
}

func ptr[T any](v T) *T { return &v }

func mode(m string) *cluster.AccessInput { return &cluster.AccessInput{AuthenticationMode: m} }

// The authentication mode moves one way, a step at a time:
// CONFIG_MAP -> API_AND_CONFIG_MAP -> API, with EKS's message otherwise.
func TestUpdateConfigAuthenticationMode(t *testing.T) {
	f := newConfigFixture(t, time.Now())
	ctx := t.Context()
	f.active(t, cluster.CreateInput{Name: "cm", Access: mode("CONFIG_MAP")})
	f.active(t, cluster.CreateInput{Name: "both"})
	f.active(t, cluster.CreateInput{Name: "api", Access: mode("API")})
	f.active(t, cluster.CreateInput{Name: "nobootstrap", Access: &cluster.AccessInput{AuthenticationMode: "API", BootstrapClusterCreatorAdminPermissions: ptr(false)}})
	f.entries.creators = nil

	for _, tc := range []struct{ cluster, from, to string }{
		{"cm", "CONFIG_MAP", "API"},
		{"cm", "CONFIG_MAP", "CONFIG_MAP"},
		{"both", "API_AND_CONFIG_MAP", "CONFIG_MAP"},
		{"both", "API_AND_CONFIG_MAP", "API_AND_CONFIG_MAP"},
		{"api", "API", "API_AND_CONFIG_MAP"},
		{"api", "API", "CONFIG_MAP"},
		{"api", "API", "API"},
	} {
		_, err := f.svc.UpdateConfig(ctx, cluster.ConfigInput{Name: tc.cluster, Access: mode(tc.to)})
		wantError(t, err, apierror.InvalidParameter, "Unsupported authentication mode update from "+tc.from+" to "+tc.to)
	}
	_, err := f.svc.UpdateConfig(ctx, cluster.ConfigInput{Name: "cm", Access: mode("OIDC")})
	wantError(t, err, apierror.InvalidParameter, `Unsupported authentication mode "OIDC": valid values are API, API_AND_CONFIG_MAP, CONFIG_MAP.`)
	_, err = f.svc.UpdateConfig(ctx, cluster.ConfigInput{Name: "nobootstrap", Access: &cluster.AccessInput{AuthenticationMode: "API", BootstrapClusterCreatorAdminPermissions: ptr(true)}})
	wantError(t, err, apierror.InvalidParameter, "bootstrapClusterCreatorAdminPermissions can only be set when the cluster is created; UpdateClusterConfig can change only accessConfig.authenticationMode.")
	if len(f.entries.creators) != 0 {
		t.Fatalf("refused updates asked for entries: %v", f.entries.creators)
	}

	// CONFIG_MAP -> API_AND_CONFIG_MAP gives the creator the entry
	// access entries would have given it at creation, in the same commit.
	u, err := f.svc.UpdateConfig(ctx, cluster.ConfigInput{Name: "cm", Access: &cluster.AccessInput{AuthenticationMode: "API_AND_CONFIG_MAP", BootstrapClusterCreatorAdminPermissions: ptr(true)}})
	if err != nil {
		t.Fatal(err)
	}
	if u.Type != cluster.UpdateTypeAccessConfig || u.Status != cluster.UpdateSuccessful || u.Cluster != "cm" {
		t.Errorf("update %+v", u)
	}
	wantParams(t, u, cluster.UpdateParam{Type: "AuthenticationMode", Value: `"API_AND_CONFIG_MAP"`})
	if len(f.entries.creators) != 1 || f.entries.creators[0] != "cm "+creator {
		t.Errorf("creator entries asked for: %v", f.entries.creators)
	}
	if _, err := f.st.Get(ctx, "entries", "cm/"+creator); err != nil {
		t.Errorf("the creator's entry was not committed: %v", err)
	}
	if c := f.get(t, "cm"); c.Access.AuthenticationMode != "API_AND_CONFIG_MAP" || c.Status != cluster.StatusActive {
		t.Errorf("after the update: %+v, %s", c.Access, c.Status)
	}

	// Then API, without another entry; and never back.
	if u, err = f.svc.UpdateConfig(ctx, cluster.ConfigInput{Name: "cm", Access: mode("API")}); err != nil {
		t.Fatal(err)
	}
	wantParams(t, u, cluster.UpdateParam{Type: "AuthenticationMode", Value: `"API"`})
	if len(f.entries.creators) != 1 {
		t.Errorf("second step asked for entries: %v", f.entries.creators)
	}
	_, err = f.svc.UpdateConfig(ctx, cluster.ConfigInput{Name: "cm", Access: mode("API_AND_CONFIG_MAP")})
	wantError(t, err, apierror.InvalidParameter, "Unsupported authentication mode update from API to API_AND_CONFIG_MAP")
	if _, err := f.svc.UpdateConfig(ctx, cluster.ConfigInput{Name: "both", Access: mode("API")}); err != nil {
		t.Fatal(err)
	}
	if ups, err := f.svc.Updates(ctx, "cm"); err != nil || len(ups) != 2 || ups[0].Param("AuthenticationMode") != `"API_AND_CONFIG_MAP"` {
		t.Errorf("updates of cm: %v %+v", err, ups)
	}
}

func TestUpdateConfigLogging(t *testing.T) {
	f := newConfigFixture(t, time.Now())
	ctx := t.Context()
	f.active(t, cluster.CreateInput{Name: "c1", Logging: []cluster.LogSetup{{Types: []string{"api"}, Enabled: true}}})

	logging := func(setups ...cluster.LogSetup) cluster.ConfigInput {
		return cluster.ConfigInput{Name: "c1", Logging: &cluster.LoggingInput{ClusterLogging: setups}}
	}
	u, err := f.svc.UpdateConfig(ctx, logging(cluster.LogSetup{Types: []string{"audit", "scheduler"}, Enabled: true}))
	if err != nil {
		t.Fatal(err)
	}
	if u.Type != cluster.UpdateTypeLogging || u.Status != cluster.UpdateSuccessful {
		t.Errorf("update %+v", u)
	}
	wantParams(t, u, cluster.UpdateParam{Type: "ClusterLogging", Value: `{"clusterLogging":[{"types":["audit","scheduler"],"enabled":true}]}`})
	want := []cluster.LogSetup{{Types: []string{"api", "audit", "scheduler"}, Enabled: true}, {Types: []string{"authenticator", "controllerManager"}, Enabled: false}}
	if got := f.get(t, "c1").Logging; !equalLogging(got, want) {
		t.Errorf("logging %+v, want %+v", got, want)
	}

	for name, in := range map[string]cluster.ConfigInput{
		"enabled again":      logging(cluster.LogSetup{Types: []string{"api", "audit"}, Enabled: true}),
		"disabled already":   logging(cluster.LogSetup{Types: []string{"authenticator"}, Enabled: false}),
		"no setups":          logging(),
		"a setup of nothing": logging(cluster.LogSetup{Enabled: true}),
	} {
		_, err := f.svc.UpdateConfig(ctx, in)
		if e, ok := apierror.As(err); !ok || e.Kind != apierror.InvalidParameter || e.Message != "No changes needed for the logging config provided" {
			t.Errorf("%s: %v", name, err)
		}
	}
	_, err = f.svc.UpdateConfig(ctx, logging(cluster.LogSetup{Types: []string{"kubelet"}, Enabled: true}))
	wantError(t, err, apierror.InvalidParameter, `Unknown log type "kubelet": valid types are api, audit, authenticator, controllerManager, scheduler.`)

	// Everything off is one disabled entry.
	if _, err := f.svc.UpdateConfig(ctx, logging(cluster.LogSetup{Types: []string{"api", "audit", "scheduler"}, Enabled: false})); err != nil {
		t.Fatal(err)
	}
	want = []cluster.LogSetup{{Types: []string{"api", "audit", "authenticator", "controllerManager", "scheduler"}, Enabled: false}}
	if got := f.get(t, "c1").Logging; !equalLogging(got, want) {
		t.Errorf("logging %+v, want %+v", got, want)
	}
}

func equalLogging(a, b []cluster.LogSetup) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Enabled != b[i].Enabled || len(a[i].Types) != len(b[i].Types) {
			return false
		}
		for j := range a[i].Types {
			if a[i].Types[j] != b[i].Types[j] {
				return false
			}
		}
	}
	return true
}

func TestUpdateConfigEndpointAccess(t *testing.T) {
	f := newConfigFixture(t, time.Now())
	ctx := t.Context()
	f.active(t, cluster.CreateInput{Name: "c1"})
	endpoint := func(public, private *bool, cidrs ...string) cluster.ConfigInput {
		return cluster.ConfigInput{Name: "c1", Endpoint: &cluster.EndpointInput{Public: public, Private: private, PublicAccessCIDRs: cidrs}}
	}

	_, err := f.svc.UpdateConfig(ctx, endpoint(ptr(true), ptr(false)))
	wantError(t, err, apierror.InvalidParameter, "Cluster is already at the desired configuration with endpointPrivateAccess: false , endpointPublicAccess: true, and Public Endpoint Restrictions: [0.0.0.0/0]")
	_, err = f.svc.UpdateConfig(ctx, endpoint(ptr(false), nil))
	wantError(t, err, apierror.InvalidParameter, "Private and public endpoint access cannot both be disabled.")
	_, err = f.svc.UpdateConfig(ctx, endpoint(nil, nil, "10.0.0.0/8"))
	wantError(t, err, apierror.InvalidParameter, "The public access CIDR block 10.0.0.0/8 is a private address range; public access CIDRs must be public.")

	u, err := f.svc.UpdateConfig(ctx, endpoint(ptr(false), ptr(true)))
	if err != nil {
		t.Fatal(err)
	}
	if u.Type != cluster.UpdateTypeEndpointAccess || u.Status != cluster.UpdateSuccessful {
		t.Errorf("update %+v", u)
	}
	wantParams(t, u, cluster.UpdateParam{Type: "EndpointPublicAccess", Value: "false"}, cluster.UpdateParam{Type: "EndpointPrivateAccess", Value: "true"})
	if v := f.get(t, "c1").VPC; v.EndpointPublicAccess || !v.EndpointPrivateAccess {
		t.Errorf("vpc config %+v", v)
	}

	u, err = f.svc.UpdateConfig(ctx, endpoint(ptr(true), nil, "203.0.113.0/24", "198.51.100.7/32"))
	if err != nil {
		t.Fatal(err)
	}
	wantParams(t, u, cluster.UpdateParam{Type: "EndpointPublicAccess", Value: "true"}, cluster.UpdateParam{Type: "EndpointPrivateAccess", Value: "true"},
		cluster.UpdateParam{Type: "PublicAccessCidrs", Value: `["203.0.113.0/24","198.51.100.7/32"]`})
	// The same blocks in another order are no change.
	_, err = f.svc.UpdateConfig(ctx, endpoint(nil, nil, "198.51.100.7/32", "203.0.113.0/24"))
	wantError(t, err, apierror.InvalidParameter, "Cluster is already at the desired configuration with endpointPrivateAccess: true , endpointPublicAccess: true, and Public Endpoint Restrictions: [198.51.100.7/32, 203.0.113.0/24]")
	if v := f.get(t, "c1").VPC; !v.EndpointPublicAccess || len(v.PublicAccessCIDRs) != 2 || len(v.SubnetIDs) != 2 {
		t.Errorf("vpc config %+v", v)
	}
}

// upgradePolicy, zonalShiftConfig and deletionProtection change the
// record; the support type only while the version is in standard support.
func TestUpdateConfigPolicies(t *testing.T) {
	// 1.34 leaves standard support on 2026-12-02, 1.35 on 2027-03-27.
	f := newConfigFixture(t, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
	ctx := t.Context()
	f.active(t, cluster.CreateInput{Name: "new", Version: "1.35"})
	f.active(t, cluster.CreateInput{Name: "old", Version: "1.34"})
	f.active(t, cluster.CreateInput{Name: "old-std", Version: "1.34", SupportType: "STANDARD"})
	support := func(name, typ string) cluster.ConfigInput {
		return cluster.ConfigInput{Name: name, UpgradePolicy: &cluster.UpgradePolicyInput{SupportType: typ}}
	}

	_, err := f.svc.UpdateConfig(ctx, support("new", "EXTENDED"))
	wantError(t, err, apierror.InvalidParameter, "No changes needed for the upgrade policy provided")
	_, err = f.svc.UpdateConfig(ctx, support("new", "LTS"))
	wantError(t, err, apierror.InvalidParameter, `Unsupported support type "LTS": valid values are STANDARD, EXTENDED.`)
	u, err := f.svc.UpdateConfig(ctx, support("new", "STANDARD"))
	if err != nil {
		t.Fatal(err)
	}
	if u.Type != cluster.UpdateTypeUpgradePolicy || f.get(t, "new").SupportType != "STANDARD" {
		t.Errorf("update %+v", u)
	}
	wantParams(t, u, cluster.UpdateParam{Type: "UpgradePolicy", Value: `{"supportType":"STANDARD"}`})
	_, err = f.svc.UpdateConfig(ctx, support("old", "STANDARD"))
	wantError(t, err, apierror.InvalidParameter, "Cannot disable extended support for cluster old: Kubernetes version 1.34 is in EXTENDED_SUPPORT.")
	_, err = f.svc.UpdateConfig(ctx, support("old-std", "EXTENDED"))
	wantError(t, err, apierror.InvalidParameter, "Cannot enable extended support for cluster old-std: Kubernetes version 1.34 is in EXTENDED_SUPPORT; extended support must be enabled before the version leaves standard support.")

	_, err = f.svc.UpdateConfig(ctx, cluster.ConfigInput{Name: "new", ZonalShift: &cluster.ZonalShiftInput{Enabled: ptr(false)}})
	wantError(t, err, apierror.InvalidParameter, "No changes needed for the zonal shift config provided")
	_, err = f.svc.UpdateConfig(ctx, cluster.ConfigInput{Name: "new", ZonalShift: &cluster.ZonalShiftInput{}})
	wantError(t, err, apierror.InvalidParameter, "zonalShiftConfig.enabled is required.")
	if u, err = f.svc.UpdateConfig(ctx, cluster.ConfigInput{Name: "new", ZonalShift: &cluster.ZonalShiftInput{Enabled: ptr(true)}}); err != nil {
		t.Fatal(err)
	}
	wantParams(t, u, cluster.UpdateParam{Type: "ZonalShiftConfig", Value: `{"enabled":true}`})
	if u.Type != cluster.UpdateTypeZonalShift || !f.get(t, "new").ZonalShift {
		t.Errorf("update %+v", u)
	}

	_, err = f.svc.UpdateConfig(ctx, cluster.ConfigInput{Name: "new", DeletionProtection: ptr(false)})
	wantError(t, err, apierror.InvalidParameter, "No changes needed for the deletion protection provided")
	if u, err = f.svc.UpdateConfig(ctx, cluster.ConfigInput{Name: "new", DeletionProtection: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	wantParams(t, u, cluster.UpdateParam{Type: "DeletionProtection", Value: "true"})
	if u.Type != cluster.UpdateTypeDeletionProtection {
		t.Errorf("update %+v", u)
	}
	_, err = f.svc.Delete(ctx, "new")
	wantError(t, err, apierror.InvalidRequest, "Cannot delete cluster new because deletion protection is enabled. Disable deletion protection and try again.")
	if _, err = f.svc.UpdateConfig(ctx, cluster.ConfigInput{Name: "new", DeletionProtection: ptr(false)}); err != nil {
		t.Fatal(err)
	}
	if c, err := f.svc.Delete(ctx, "new"); err != nil || c.Status != cluster.StatusDeleting {
		t.Errorf("delete once unprotected: %v", err)
	}
}

// A request asks for one kind of change, which berth implements.
func TestUpdateConfigRequestShape(t *testing.T) {
	f := newConfigFixture(t, time.Now())
	ctx := t.Context()
	f.active(t, cluster.CreateInput{Name: "c1"})
	for _, tc := range []struct {
		name string
		in   cluster.ConfigInput
		msg  string
	}{
		{"two kinds", cluster.ConfigInput{Logging: &cluster.LoggingInput{}, Endpoint: &cluster.EndpointInput{Public: ptr(true)}}, "Only one type of update can be allowed."},
		{"a kind and an unsupported one", cluster.ConfigInput{DeletionProtection: ptr(true), Unsupported: []string{"computeConfig"}}, "Only one type of update can be allowed."},
		{"unsupported", cluster.ConfigInput{Unsupported: []string{"kubernetesNetworkConfig"}}, "berth does not support changing kubernetesNetworkConfig yet."},
		{"nothing", cluster.ConfigInput{}, "No changes were requested: the request must change one of accessConfig, logging, resourcesVpcConfig, upgradePolicy, zonalShiftConfig or deletionProtection."},
	} {
		tc.in.Name = "c1"
		_, err := f.svc.UpdateConfig(ctx, tc.in)
		if e, ok := apierror.As(err); !ok || e.Kind != apierror.InvalidParameter || e.Message != tc.msg || e.Fields["clusterName"] != "c1" {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	_, err := f.svc.UpdateConfig(ctx, cluster.ConfigInput{Name: "nope", DeletionProtection: ptr(true)})
	wantError(t, err, apierror.ResourceNotFound, "No cluster found for name: nope.")
	if ups, err := f.svc.Updates(ctx, "c1"); err != nil || len(ups) != 0 {
		t.Errorf("updates after refusals: %v %+v", err, ups)
	}
}

// One update at a time, on an ACTIVE cluster; a token makes a request
// idempotent.
func TestUpdateConfigStateAndIdempotency(t *testing.T) {
	f := newConfigFixture(t, time.Now())
	ctx := t.Context()
	f.active(t, cluster.CreateInput{Name: "c1", Version: "1.36"})
	protect := func(on bool, token string) cluster.ConfigInput {
		return cluster.ConfigInput{Name: "c1", DeletionProtection: ptr(on), ClientRequestToken: token}
	}

	first, err := f.svc.UpdateConfig(ctx, protect(true, "t1"))
	if err != nil {
		t.Fatal(err)
	}
	// The same request again is the same update, though it would now
	// change nothing; another token is another request.
	again, err := f.svc.UpdateConfig(ctx, protect(true, "t1"))
	if err != nil || again.ID != first.ID {
		t.Fatalf("repeated request: %v %+v", err, again)
	}
	_, err = f.svc.UpdateConfig(ctx, protect(true, "t2"))
	wantError(t, err, apierror.InvalidParameter, "No changes needed for the deletion protection provided")
	if ups, err := f.svc.Updates(ctx, "c1"); err != nil || len(ups) != 1 {
		t.Fatalf("updates %v %+v", err, ups)
	}

	// A version update in progress holds every other update back.
	ver, err := f.svc.UpdateVersion(ctx, "c1", "1.37", "v1")
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.UpdateConfig(ctx, protect(false, "t3"))
	wantError(t, err, apierror.ResourceInUse, "Cannot DeletionProtectionUpdate because cluster c1 currently has update "+ver.ID+" in progress")
	_, err = f.svc.UpdateConfig(ctx, cluster.ConfigInput{Name: "c1", Logging: &cluster.LoggingInput{ClusterLogging: []cluster.LogSetup{{Types: []string{"api"}, Enabled: true}}}})
	wantError(t, err, apierror.ResourceInUse, "Cannot LoggingUpdate because cluster c1 currently has update "+ver.ID+" in progress")
	_, err = f.svc.UpdateVersion(ctx, "c1", "1.37", "v2")
	wantError(t, err, apierror.ResourceInUse, "Cannot VersionUpdate because cluster c1 currently has update "+ver.ID+" in progress")
	// A token already used returns its update, whatever the request.
	if u, err := f.svc.UpdateConfig(ctx, protect(false, "v1")); err != nil || u.ID != ver.ID {
		t.Errorf("token of the version update: %v %+v", err, u)
	}
	if err := f.svc.FinishUpdate(ctx, ver, cluster.UpdateSuccessful, nil); err != nil {
		t.Fatal(err)
	}

	for _, status := range []string{cluster.StatusCreating, cluster.StatusUpdating, cluster.StatusFailed} {
		f.setStatus(t, "c1", status)
		_, err = f.svc.UpdateConfig(ctx, protect(false, ""))
		wantError(t, err, apierror.InvalidRequest, "Cluster 'c1' is not in ACTIVE status")
	}
	f.setStatus(t, "c1", cluster.StatusActive)
	u, err := f.svc.UpdateConfig(ctx, protect(false, ""))
	if err != nil {
		t.Fatal(err)
	}
	ids, _, err := f.svc.ListUpdates(ctx, "c1", "", "", 0, "")
	if err != nil || len(ids) != 3 || ids[0] != first.ID || ids[1] != ver.ID || ids[2] != u.ID {
		t.Errorf("ListUpdates = %v, %v", ids, err)
	}
	if d, err := f.svc.DescribeUpdate(ctx, "c1", u.ID, "", ""); err != nil || d.Status != cluster.UpdateSuccessful || d.Type != cluster.UpdateTypeDeletionProtection {
		t.Errorf("DescribeUpdate = %+v, %v", d, err)
	}
}
