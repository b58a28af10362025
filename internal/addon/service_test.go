package addon_test

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthproject/berth/internal/addon"
	"github.com/berthproject/berth/internal/apierror"
	"github.com/berthproject/berth/internal/cluster"
	"github.com/berthproject/berth/internal/store"
	"github.com/berthproject/berth/internal/versions"
	"github.com/berthproject/berth/internal/vpc"
)

const (
	account = "000000000000"
	region  = "us-east-1"
	role    = "arn:aws:iam::000000000000:role/ebs-csi"
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
	svc      *addon.Service
}

// newFixture makes ACTIVE clusters c1 (Kubernetes 1.37) and old (1.34).
func newFixture(t *testing.T) *fixture {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "berth.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := &clock{t: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	clusters, err := cluster.New(cluster.Config{
		Store: st, Network: vpc.Default(account, region), Versions: versions.Builtin("1.37.2"), Account: account, Region: region, Now: clk.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := addon.New(addon.Config{Store: st, Clusters: clusters, Account: account, Region: region, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{st: st, clusters: clusters, svc: svc}
	f.cluster(t, "c1", "1.37", true)
	f.cluster(t, "old", "1.34", true)
	return f
}

// cluster creates a cluster, ACTIVE or left CREATING.
func (f *fixture) cluster(t *testing.T, name, version string, active bool) {
	t.Helper()
	var subnets []string
	for _, s := range vpc.Default(account, region).Subnets {
		if s.Public && s.EKSCapable && len(subnets) < 2 {
			subnets = append(subnets, s.ID)
		}
	}
	if _, err := f.clusters.Create(t.Context(), cluster.CreateInput{
		Name: name, Version: version, RoleARN: "arn:aws:iam::000000000000:role/eks", SubnetIDs: subnets,
	}); err != nil {
		t.Fatal(err)
	}
	if active {
		if _, err := f.clusters.Mutate(t.Context(), name, func(c *cluster.Cluster) ([]store.Op, error) {
			c.Status = cluster.StatusActive
			return nil, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
}

// create creates an add-on and, for one berth runs, makes it ACTIVE as
// the controller would.
func (f *fixture) create(t *testing.T, in addon.CreateInput) *addon.Addon {
	t.Helper()
	a, err := f.svc.Create(t.Context(), in)
	if err != nil {
		t.Fatal(err)
	}
	if a.Runs {
		if err := f.svc.MarkActive(t.Context(), in.Cluster, in.Name); err != nil {
			t.Fatal(err)
		}
	}
	return a
}

func (f *fixture) get(t *testing.T, clusterName, name string) *addon.Addon {
	t.Helper()
	a, _, err := f.svc.Get(t.Context(), clusterName, name)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// wantErr checks an error's kind and that its message mentions msg.
func wantErr(t *testing.T, err error, kind apierror.Kind, msg string) *apierror.Error {
	t.Helper()
	e, ok := apierror.As(err)
	if !ok || e.Kind != kind || !strings.Contains(e.Message, msg) {
		t.Fatalf("got %v, want %s mentioning %q", err, kind, msg)
	}
	return e
}

func TestCatalog(t *testing.T) {
	cat := addon.Builtin()
	var runs []string
	for _, d := range cat.All() {
		if d.Runs {
			runs = append(runs, d.Name)
		}
		if d.Owner != "aws" || d.Publisher != "eks" || d.DefaultNamespace != "kube-system" {
			t.Errorf("%s: owner %s publisher %s namespace %s", d.Name, d.Owner, d.Publisher, d.DefaultNamespace)
		}
		if !json.Valid([]byte(d.Schema)) {
			t.Errorf("%s: schema is not JSON", d.Name)
		}
		if !regexp.MustCompile(`^v\d+\.\d+\.\d+-eksbuild\.\d+$`).MatchString(d.Versions[0].Version) {
			t.Errorf("%s: version %s", d.Name, d.Versions[0].Version)
		}
		// Every minor berth offers has exactly one default, and it is
		// compatible.
		for _, v := range versions.Builtin("1.37.2").All() {
			var defaults []string
			for _, av := range d.Versions {
				if av.IsDefault(v.Minor) {
					defaults = append(defaults, av.Version)
					if !av.Supports(v.Minor) {
						t.Errorf("%s %s: default for %s but not compatible", d.Name, av.Version, v.Minor)
					}
				}
			}
			if len(defaults) != 1 {
				t.Errorf("%s on %s: defaults %v", d.Name, v.Minor, defaults)
			}
		}
	}
	if want := []string{"aws-ebs-csi-driver", "aws-efs-csi-driver", "aws-fsx-csi-driver"}; !slices.Equal(runs, want) {
		t.Errorf("berth runs %v, want %v", runs, want)
	}
	for name, typ := range map[string]string{
		"aws-ebs-csi-driver": "storage", "aws-efs-csi-driver": "storage", "aws-fsx-csi-driver": "storage",
		"vpc-cni": "networking", "coredns": "networking", "kube-proxy": "networking", "eks-pod-identity-agent": "security",
	} {
		if d, ok := cat.Get(name); !ok || d.Type != typ {
			t.Errorf("%s: %v %s", name, ok, d.Type)
		}
	}
}

func TestCreate(t *testing.T) {
	f := newFixture(t)
	in := addon.CreateInput{
		Cluster: "c1", Name: "aws-ebs-csi-driver", ServiceAccountRoleARN: role, ResolveConflicts: addon.ResolveOverwrite,
		ConfigurationValues: `{"controller":{"extraVolumeTags":{"team":"a"}}}`, Tags: map[string]string{"owner": "me"}, ClientRequestToken: "tok",
	}
	a, err := f.svc.Create(t.Context(), in)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^arn:aws:eks:us-east-1:000000000000:addon/c1/aws-ebs-csi-driver/[0-9a-f-]{36}$`).MatchString(a.ARN) || !strings.HasSuffix(a.ARN, a.ID) {
		t.Errorf("arn %s id %s", a.ARN, a.ID)
	}
	// berth runs the EBS CSI driver: CREATING until the controller is
	// done. The version is the default for 1.37.
	if a.Status != addon.StatusCreating || !a.Runs || a.Version != "v1.66.0-eksbuild.1" || a.Cluster != "c1" || a.Name != "aws-ebs-csi-driver" {
		t.Errorf("created %+v", a)
	}
	if a.ServiceAccountRoleARN != role || a.ResolveConflicts != "OVERWRITE" || a.Tags["owner"] != "me" || a.ConfigurationValues != in.ConfigurationValues {
		t.Errorf("created %+v", a)
	}
	if a.CreatedAt.IsZero() || !a.CreatedAt.Equal(a.ModifiedAt) || a.CreatedAt.Location() != time.UTC {
		t.Errorf("createdAt %v modifiedAt %v", a.CreatedAt, a.ModifiedAt)
	}
	in.Tags["owner"] = "changed"
	if got := f.get(t, "c1", "aws-ebs-csi-driver"); got.Tags["owner"] != "me" || got.ID != a.ID {
		t.Errorf("stored %+v", got)
	}

	// The same token: the same add-on. Another one: it exists.
	again, err := f.svc.Create(t.Context(), in)
	if err != nil || again.ID != a.ID {
		t.Fatalf("idempotent create: %v %+v", err, again)
	}
	in.ClientRequestToken = "other"
	e := wantErr(t, func() error { _, err := f.svc.Create(t.Context(), in); return err }(), apierror.ResourceInUse, "Addon already exists.")
	if e.Fields["clusterName"] != "c1" || e.Fields["addonName"] != "aws-ebs-csi-driver" {
		t.Errorf("fields %v", e.Fields)
	}

	// An add-on berth keeps as a record only is ACTIVE at once; an older
	// cluster gets its own default version.
	cni, err := f.svc.Create(t.Context(), addon.CreateInput{Cluster: "old", Name: "vpc-cni"})
	if err != nil || cni.Status != addon.StatusActive || cni.Runs || cni.Version != "v1.20.4-eksbuild.1" {
		t.Fatalf("vpc-cni: %v %+v", err, cni)
	}
	kp, err := f.svc.Create(t.Context(), addon.CreateInput{Cluster: "old", Name: "kube-proxy", Version: "v1.34.5-eksbuild.9"})
	if err != nil || kp.Version != "v1.34.5-eksbuild.9" {
		t.Fatalf("kube-proxy: %v %+v", err, kp)
	}
	// YAML configuration is kept as given.
	yml := "replicaCount: 3\nnodeSelector:\n  zone: a\n"
	dns, err := f.svc.Create(t.Context(), addon.CreateInput{Cluster: "c1", Name: "coredns", ConfigurationValues: yml})
	if err != nil || dns.ConfigurationValues != yml {
		t.Fatalf("coredns: %v %+v", err, dns)
	}
}

func TestCreateValidation(t *testing.T) {
	f := newFixture(t)
	f.cluster(t, "creating", "1.37", false)
	tests := []struct {
		name string
		in   addon.CreateInput
		kind apierror.Kind
		msg  string
	}{
		{"missing cluster", addon.CreateInput{Cluster: "nope", Name: "vpc-cni"}, apierror.ResourceNotFound, "No cluster found for name: nope."},
		{"cluster not active", addon.CreateInput{Cluster: "creating", Name: "vpc-cni"}, apierror.InvalidRequest, "Cluster 'creating' is not in ACTIVE status"},
		{"no name", addon.CreateInput{Cluster: "c1"}, apierror.InvalidParameter, "addonName is required."},
		{"unknown add-on", addon.CreateInput{Cluster: "c1", Name: "aws-load-balancer-controller"}, apierror.InvalidParameter,
			"Addon aws-load-balancer-controller specified is not supported in 1.37 kubernetes version"},
		{"unknown version", addon.CreateInput{Cluster: "c1", Name: "vpc-cni", Version: "v9.9.9"}, apierror.InvalidParameter, "Addon version specified is not supported"},
		{"version of another minor", addon.CreateInput{Cluster: "c1", Name: "kube-proxy", Version: "v1.35.3-eksbuild.13"}, apierror.InvalidParameter, "Addon version specified is not supported"},
		{"version too old for the minor", addon.CreateInput{Cluster: "c1", Name: "aws-fsx-csi-driver", Version: "v1.7.0-eksbuild.1"}, apierror.InvalidParameter, "Addon version specified is not supported"},
		{"bad role", addon.CreateInput{Cluster: "c1", Name: "aws-ebs-csi-driver", ServiceAccountRoleARN: "arn:aws:iam::000000000000:user/bob"}, apierror.InvalidParameter, "is not a valid IAM role ARN"},
		{"preserve on create", addon.CreateInput{Cluster: "c1", Name: "aws-ebs-csi-driver", ResolveConflicts: "PRESERVE"}, apierror.InvalidParameter, "Preserve is not a supported value of resolveConflicts for CreateAddon"},
		{"bad resolveConflicts", addon.CreateInput{Cluster: "c1", Name: "aws-ebs-csi-driver", ResolveConflicts: "overwrite"}, apierror.InvalidParameter,
			"Value 'overwrite' at 'resolveConflicts' failed to satisfy constraint: Member must satisfy enum value set: [OVERWRITE, NONE, PRESERVE]"},
		{"unknown configuration key", addon.CreateInput{Cluster: "c1", Name: "aws-efs-csi-driver", ConfigurationValues: `{"podAnnotations":{"a":"b"}}`}, apierror.InvalidParameter,
			"ConfigurationValue provided in request is not supported: Json schema validation failed with error: [$.podAnnotations: is not defined in the schema and the schema does not allow additional properties]"},
		{"unknown nested key", addon.CreateInput{Cluster: "c1", Name: "aws-ebs-csi-driver", ConfigurationValues: "node:\n  tolerateAllTaints: true\n  bogus: 1\n"}, apierror.InvalidParameter,
			"[$.node.bogus: is not defined in the schema and the schema does not allow additional properties]"},
		{"null configuration", addon.CreateInput{Cluster: "c1", Name: "coredns", ConfigurationValues: "null"}, apierror.InvalidParameter,
			"Json schema validation failed with error: [$: null found, object expected]"},
		{"scalar configuration", addon.CreateInput{Cluster: "c1", Name: "coredns", ConfigurationValues: "just-a-string"}, apierror.InvalidParameter, "[$: string found, object expected]"},
		{"wrong types", addon.CreateInput{Cluster: "c1", Name: "coredns", ConfigurationValues: `{"replicaCount":"3","autoScaling":{"enabled":"yes"}}`}, apierror.InvalidParameter,
			"[$.autoScaling.enabled: string found, boolean expected, $.replicaCount: string found, integer expected]"},
		{"union type", addon.CreateInput{Cluster: "c1", Name: "aws-ebs-csi-driver", ConfigurationValues: `{"node":{"volumeAttachLimit":"25"}}`}, apierror.InvalidParameter,
			"[$.node.volumeAttachLimit: string found, [integer, null] expected]"},
		{"additional properties schema", addon.CreateInput{Cluster: "c1", Name: "aws-ebs-csi-driver", ConfigurationValues: `{"controller":{"extraVolumeTags":{"team":7}}}`}, apierror.InvalidParameter,
			"[$.controller.extraVolumeTags.team: integer found, string expected]"},
		{"number for an integer", addon.CreateInput{Cluster: "c1", Name: "coredns", ConfigurationValues: `{"replicaCount":2.5}`}, apierror.InvalidParameter,
			"[$.replicaCount: number found, integer expected]"},
		{"array items", addon.CreateInput{Cluster: "c1", Name: "aws-ebs-csi-driver", ConfigurationValues: `{"controller":{"additionalArgs":["--a",1]}}`}, apierror.InvalidParameter,
			"[$.controller.additionalArgs[1]: integer found, string expected]"},
		{"below minimum", addon.CreateInput{Cluster: "c1", Name: "coredns", ConfigurationValues: `{"replicaCount":0}`}, apierror.InvalidParameter, "[$.replicaCount: must have a minimum value of 1]"},
		{"not in enum", addon.CreateInput{Cluster: "c1", Name: "kube-proxy", ConfigurationValues: `{"mode":"userspace"}`}, apierror.InvalidParameter,
			"[$.mode: does not have a value in the enumeration [iptables, ipvs, nftables]]"},
		{"string enum is not a boolean", addon.CreateInput{Cluster: "c1", Name: "vpc-cni", ConfigurationValues: `{"enableNetworkPolicy":true}`}, apierror.InvalidParameter,
			"[$.enableNetworkPolicy: boolean found, string expected]"},
		{"broken JSON", addon.CreateInput{Cluster: "c1", Name: "vpc-cni", ConfigurationValues: `{"env":`}, apierror.InvalidParameter, "ConfigurationValue provided in request is not supported: the value is neither valid JSON nor valid YAML"},
		{"pod identity associations", addon.CreateInput{Cluster: "c1", Name: "aws-ebs-csi-driver", Unsupported: []string{"podIdentityAssociations"}}, apierror.InvalidParameter,
			"berth does not implement podIdentityAssociations for add-ons"},
		{"other namespace", addon.CreateInput{Cluster: "c1", Name: "aws-ebs-csi-driver", Namespace: "storage"}, apierror.InvalidParameter,
			`berth installs add-on aws-ebs-csi-driver in its default namespace kube-system: namespaceConfig "storage" is not supported.`},
		{"reserved tag", addon.CreateInput{Cluster: "c1", Name: "vpc-cni", Tags: map[string]string{"aws:x": "y"}}, apierror.BadRequest, "reserved prefix aws:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.svc.Create(t.Context(), tc.in)
			e := wantErr(t, err, tc.kind, tc.msg)
			if tc.kind == apierror.BadRequest {
				return // its shape has no names
			}
			if tc.in.Cluster != "" && e.Fields["clusterName"] != tc.in.Cluster {
				t.Errorf("clusterName %q", e.Fields["clusterName"])
			}
			if tc.in.Name != "" && e.Fields["addonName"] != tc.in.Name {
				t.Errorf("addonName %q", e.Fields["addonName"])
			}
		})
	}
	// Nothing was written.
	for _, c := range []string{"c1", "creating"} {
		if all, err := f.svc.List(t.Context(), c); err != nil || len(all) != 0 {
			t.Errorf("%s: %v %v", c, err, all)
		}
	}
	// FSx is offered for 1.37 with its newer version, and both CSI
	// drivers' configurations accept their documented keys.
	for _, in := range []addon.CreateInput{
		{Cluster: "c1", Name: "aws-fsx-csi-driver", Version: "v1.8.0-eksbuild.1", Namespace: "kube-system"},
		{Cluster: "c1", Name: "aws-efs-csi-driver", ConfigurationValues: `{"replicaCount":2,"node":{"volMetricsOptIn":true},"controller":{"tags":{"a":"b"}}}`},
		{Cluster: "c1", Name: "vpc-cni", ConfigurationValues: `{"env":{"ENABLE_PREFIX_DELEGATION":"true"},"enableNetworkPolicy":"true"}`},
		{Cluster: "c1", Name: "eks-pod-identity-agent", ConfigurationValues: `{"daemonsets":{"hybrid":{"create":true}}}`},
	} {
		if _, err := f.svc.Create(t.Context(), in); err != nil {
			t.Errorf("%s: %v", in.Name, err)
		}
	}
}

func TestGetAndList(t *testing.T) {
	f := newFixture(t)
	for _, n := range []string{"vpc-cni", "coredns", "kube-proxy", "aws-ebs-csi-driver"} {
		f.create(t, addon.CreateInput{Cluster: "c1", Name: n})
	}
	_, _, err := f.svc.Get(t.Context(), "c1", "aws-efs-csi-driver")
	e := wantErr(t, err, apierror.ResourceNotFound, "No addon: aws-efs-csi-driver found in cluster: c1")
	if e.Fields["clusterName"] != "c1" || e.Fields["addonName"] != "aws-efs-csi-driver" {
		t.Errorf("fields %v", e.Fields)
	}
	_, _, err = f.svc.Get(t.Context(), "nope", "vpc-cni")
	wantErr(t, err, apierror.ResourceNotFound, "No cluster found for name: nope.")
	_, _, err = f.svc.Get(t.Context(), "c1", "a/b")
	wantErr(t, err, apierror.ResourceNotFound, "No addon: a/b found in cluster: c1")

	var names []string
	token := ""
	pages := 0
	for {
		page, next, err := f.svc.ListNames(t.Context(), "c1", 3, token)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		names = append(names, page...)
		if next == "" {
			break
		}
		token = next
	}
	if strings.Join(names, ",") != "aws-ebs-csi-driver,coredns,kube-proxy,vpc-cni" || pages != 2 {
		t.Errorf("names %v in %d pages", names, pages)
	}
	if page, _, err := f.svc.ListNames(t.Context(), "old", 0, ""); err != nil || len(page) != 0 {
		t.Errorf("old: %v %v", page, err)
	}
	for _, tc := range []struct {
		cluster string
		max     int
		token   string
		kind    apierror.Kind
	}{
		{"nope", 0, "", apierror.ResourceNotFound},
		{"c1", 101, "", apierror.InvalidParameter},
		{"c1", 0, "garbage!", apierror.InvalidParameter},
	} {
		if _, _, err := f.svc.ListNames(t.Context(), tc.cluster, tc.max, tc.token); !apierror.IsKind(err, tc.kind) {
			t.Errorf("%+v: %v", tc, err)
		}
	}
	all, err := f.svc.All(t.Context())
	if err != nil || len(all) != 4 {
		t.Errorf("all: %v %d", err, len(all))
	}
}

func TestUpdate(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	a, err := f.svc.Create(ctx, addon.CreateInput{Cluster: "c1", Name: "aws-ebs-csi-driver"})
	if err != nil {
		t.Fatal(err)
	}
	v := "v1.65.0-eksbuild.1"
	// Not while CREATING.
	_, err = f.svc.Update(ctx, addon.UpdateInput{Cluster: "c1", Name: a.Name, Version: v})
	wantErr(t, err, apierror.ResourceInUse, "Addon aws-ebs-csi-driver cannot be updated as it is currently in CREATING state")
	if err := f.svc.MarkActive(ctx, "c1", a.Name); err != nil {
		t.Fatal(err)
	}

	cfg := `{"node":{"volumeAttachLimit":20}}`
	in := addon.UpdateInput{Cluster: "c1", Name: a.Name, Version: v, ServiceAccountRoleARN: ptr(role), ResolveConflicts: "PRESERVE", ConfigurationValues: &cfg, ClientRequestToken: "u1"}
	u, err := f.svc.Update(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if u.Type != "AddonUpdate" || u.Status != cluster.UpdateInProgress || u.Cluster != "c1" || u.Nodegroup != "" {
		t.Errorf("update %+v", u)
	}
	want := []cluster.UpdateParam{{Type: "AddonVersion", Value: v}, {Type: "ServiceAccountRoleArn", Value: role}, {Type: "ResolveConflicts", Value: "PRESERVE"}, {Type: "ConfigurationValues", Value: cfg}}
	if !slices.Equal(u.Params, want) {
		t.Errorf("params %+v", u.Params)
	}
	got := f.get(t, "c1", a.Name)
	if got.Status != addon.StatusUpdating || got.Version != v || got.ServiceAccountRoleARN != role || got.ConfigurationValues != cfg || got.ResolveConflicts != "PRESERVE" || !got.ModifiedAt.After(got.CreatedAt) {
		t.Errorf("updating %+v", got)
	}
	// The same token: the same update, even now.
	if again, err := f.svc.Update(ctx, in); err != nil || again.ID != u.ID {
		t.Errorf("idempotent update: %v %+v", err, again)
	}
	// One at a time.
	_, err = f.svc.Update(ctx, addon.UpdateInput{Cluster: "c1", Name: a.Name, Version: "v1.66.0-eksbuild.1"})
	wantErr(t, err, apierror.ResourceInUse, "currently in UPDATING state")
	// The update is scoped to the add-on.
	if d, err := f.svc.DescribeUpdate(ctx, "c1", a.Name, u.ID); err != nil || d.Status != cluster.UpdateInProgress {
		t.Errorf("describe update: %v %+v", err, d)
	}
	if cups, err := f.clusters.Updates(ctx, "c1"); err != nil || len(cups) != 0 {
		t.Errorf("cluster updates %v %v", cups, err)
	}

	if err := f.svc.MarkActive(ctx, "c1", a.Name); err != nil {
		t.Fatal(err)
	}
	if d, err := f.svc.DescribeUpdate(ctx, "c1", a.Name, u.ID); err != nil || d.Status != cluster.UpdateSuccessful {
		t.Errorf("after MarkActive: %v %+v", err, d)
	}
	if got := f.get(t, "c1", a.Name); got.Status != addon.StatusActive {
		t.Errorf("status %s", got.Status)
	}

	// A second update fails in the controller.
	u2, err := f.svc.Update(ctx, addon.UpdateInput{Cluster: "c1", Name: a.Name, ServiceAccountRoleARN: ptr("")})
	if err != nil {
		t.Fatal(err)
	}
	issue := addon.Issue{Code: addon.IssueAccessDenied, Message: "not allowed", ResourceIDs: []string{"ebs-csi-controller"}}
	if err := f.svc.MarkFailed(ctx, "c1", a.Name, issue); err != nil {
		t.Fatal(err)
	}
	got = f.get(t, "c1", a.Name)
	if got.Status != addon.StatusUpdateFailed || got.ServiceAccountRoleARN != "" || len(got.Health) != 1 || got.Health[0].Code != "AccessDenied" {
		t.Errorf("failed %+v", got)
	}
	d2, err := f.svc.DescribeUpdate(ctx, "c1", a.Name, u2.ID)
	if err != nil || d2.Status != cluster.UpdateFailed || len(d2.Errors) != 1 || d2.Errors[0].Code != "AccessDenied" || d2.Errors[0].Message != "not allowed" {
		t.Errorf("failed update %v %+v", err, d2)
	}
	ids, next, err := f.svc.ListUpdates(ctx, "c1", a.Name, 1, "")
	if err != nil || len(ids) != 1 || ids[0] != u.ID || next == "" {
		t.Fatalf("list updates: %v %v %q", err, ids, next)
	}
	if ids, next, err = f.svc.ListUpdates(ctx, "c1", a.Name, 1, next); err != nil || len(ids) != 1 || ids[0] != u2.ID || next != "" {
		t.Errorf("second page: %v %v %q", err, ids, next)
	}
	// An UPDATE_FAILED add-on can be updated again.
	if _, err := f.svc.Update(ctx, addon.UpdateInput{Cluster: "c1", Name: a.Name, ServiceAccountRoleARN: ptr(role)}); err != nil {
		t.Errorf("update after failure: %v", err)
	}

	// A records-only add-on is updated at once.
	f.create(t, addon.CreateInput{Cluster: "old", Name: "kube-proxy"})
	u3, err := f.svc.Update(ctx, addon.UpdateInput{Cluster: "old", Name: "kube-proxy", ConfigurationValues: ptr(`{"mode":"ipvs"}`)})
	if err != nil || u3.Status != cluster.UpdateSuccessful {
		t.Fatalf("kube-proxy update: %v %+v", err, u3)
	}
	if kp := f.get(t, "old", "kube-proxy"); kp.Status != addon.StatusActive || kp.ConfigurationValues != `{"mode":"ipvs"}` {
		t.Errorf("kube-proxy %+v", kp)
	}
}

func TestUpdateErrors(t *testing.T) {
	f := newFixture(t)
	f.create(t, addon.CreateInput{Cluster: "c1", Name: "aws-efs-csi-driver"})
	f.create(t, addon.CreateInput{Cluster: "c1", Name: "kube-proxy"})
	tests := []struct {
		name string
		in   addon.UpdateInput
		kind apierror.Kind
		msg  string
	}{
		{"missing cluster", addon.UpdateInput{Cluster: "nope", Name: "kube-proxy"}, apierror.ResourceNotFound, "No cluster found for name: nope."},
		{"missing add-on", addon.UpdateInput{Cluster: "c1", Name: "coredns"}, apierror.ResourceNotFound, "No addon: coredns found in cluster: c1"},
		{"unknown version", addon.UpdateInput{Cluster: "c1", Name: "kube-proxy", Version: "v1.36.2-eksbuild.6"}, apierror.InvalidParameter, "Addon version specified is not supported"},
		{"bad role", addon.UpdateInput{Cluster: "c1", Name: "aws-efs-csi-driver", ServiceAccountRoleARN: ptr("role")}, apierror.InvalidParameter, "is not a valid IAM role ARN"},
		{"bad resolveConflicts", addon.UpdateInput{Cluster: "c1", Name: "aws-efs-csi-driver", ResolveConflicts: "KEEP"}, apierror.InvalidParameter, "Member must satisfy enum value set"},
		{"bad configuration", addon.UpdateInput{Cluster: "c1", Name: "aws-efs-csi-driver", ConfigurationValues: ptr(`{"controller":{"replicaCount":2}}`)}, apierror.InvalidParameter,
			"[$.controller.replicaCount: is not defined in the schema and the schema does not allow additional properties]"},
		{"pod identity", addon.UpdateInput{Cluster: "c1", Name: "aws-efs-csi-driver", Unsupported: []string{"podIdentityAssociations"}}, apierror.InvalidParameter, "berth does not implement podIdentityAssociations"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.svc.Update(t.Context(), tc.in)
			e := wantErr(t, err, tc.kind, tc.msg)
			if e.Fields["clusterName"] != tc.in.Cluster || e.Fields["addonName"] != tc.in.Name {
				t.Errorf("fields %v", e.Fields)
			}
		})
	}
	if a := f.get(t, "c1", "aws-efs-csi-driver"); a.Status != addon.StatusActive || a.ConfigurationValues != "" {
		t.Errorf("changed by refused updates: %+v", a)
	}
	// Not while the cluster is not ACTIVE.
	if _, err := f.clusters.Mutate(t.Context(), "c1", func(c *cluster.Cluster) ([]store.Op, error) {
		c.Status = cluster.StatusUpdating
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	_, err := f.svc.Update(t.Context(), addon.UpdateInput{Cluster: "c1", Name: "kube-proxy"})
	wantErr(t, err, apierror.InvalidRequest, "Cluster 'c1' is not in ACTIVE status")
}

func TestStatusTransitions(t *testing.T) {
	issue := addon.Issue{Code: addon.IssueInsufficientNumberOfReplicas, Message: "0 of 2 replicas"}
	const name = "aws-ebs-csi-driver"
	// Each case starts from a new CREATING add-on, runs its steps, then
	// the controller's verdict: fail (MarkFailed) or not (MarkActive).
	tests := []struct {
		name   string
		steps  []string
		fail   bool
		status string
	}{
		{"creating fails", nil, true, addon.StatusCreateFailed},
		{"creating succeeds", nil, false, addon.StatusActive},
		{"active degrades", []string{"active"}, true, addon.StatusDegraded},
		{"degraded recovers", []string{"active", "failed"}, false, addon.StatusActive},
		{"create failed recovers", []string{"failed"}, false, addon.StatusActive},
		{"deleting fails", []string{"delete"}, true, addon.StatusDeleteFailed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			ctx := t.Context()
			if _, err := f.svc.Create(ctx, addon.CreateInput{Cluster: "c1", Name: name}); err != nil {
				t.Fatal(err)
			}
			for _, step := range tc.steps {
				var err error
				switch step {
				case "active":
					err = f.svc.MarkActive(ctx, "c1", name)
				case "failed":
					err = f.svc.MarkFailed(ctx, "c1", name, issue)
				case "delete":
					_, err = f.svc.Delete(ctx, "c1", name, false)
				}
				if err != nil {
					t.Fatal(step, err)
				}
			}
			var err error
			if tc.fail {
				err = f.svc.MarkFailed(ctx, "c1", name, issue)
			} else {
				err = f.svc.MarkActive(ctx, "c1", name)
			}
			if err != nil {
				t.Fatal(err)
			}
			a := f.get(t, "c1", name)
			if a.Status != tc.status || len(a.Health) != map[bool]int{true: 1}[tc.fail] {
				t.Errorf("status %s health %+v, want %s", a.Status, a.Health, tc.status)
			}
		})
	}
	f := newFixture(t)
	if err := f.svc.MarkFailed(t.Context(), "c1", name, issue); !apierror.IsKind(err, apierror.ResourceNotFound) {
		t.Errorf("mark a missing add-on: %v", err)
	}
	if err := f.svc.MarkFailed(t.Context(), "c1", name); err == nil {
		t.Error("MarkFailed without an issue")
	}
}

func TestDelete(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	f.create(t, addon.CreateInput{Cluster: "c1", Name: "aws-ebs-csi-driver"})
	u, err := f.svc.Update(ctx, addon.UpdateInput{Cluster: "c1", Name: "aws-ebs-csi-driver", Version: "v1.65.0-eksbuild.1"})
	if err != nil {
		t.Fatal(err)
	}
	// A delete ends the update in progress.
	a, err := f.svc.Delete(ctx, "c1", "aws-ebs-csi-driver", true)
	if err != nil || a.Status != addon.StatusDeleting || !a.Preserve {
		t.Fatalf("delete: %v %+v", err, a)
	}
	if d, err := f.svc.DescribeUpdate(ctx, "c1", "aws-ebs-csi-driver", u.ID); err != nil || d.Status != "Cancelled" {
		t.Errorf("update after delete: %v %+v", err, d)
	}
	if again, err := f.svc.Delete(ctx, "c1", "aws-ebs-csi-driver", false); err != nil || again.Status != addon.StatusDeleting || !again.Preserve {
		t.Errorf("second delete: %v %+v", err, again)
	}
	if err := f.svc.MarkActive(ctx, "c1", "aws-ebs-csi-driver"); !errors.Is(err, addon.ErrDeleting) {
		t.Errorf("MarkActive while DELETING: %v", err)
	}
	// Still there until the controller is done.
	if f.get(t, "c1", "aws-ebs-csi-driver").Status != addon.StatusDeleting {
		t.Error("not DELETING")
	}
	if err := f.svc.FinishDelete(ctx, "c1", "aws-ebs-csi-driver"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.svc.Get(ctx, "c1", "aws-ebs-csi-driver"); !apierror.IsKind(err, apierror.ResourceNotFound) {
		t.Errorf("get after FinishDelete: %v", err)
	}
	if err := f.svc.FinishDelete(ctx, "c1", "aws-ebs-csi-driver"); err != nil {
		t.Errorf("FinishDelete twice: %v", err)
	}
	if recs, err := f.st.List(ctx, addon.KindUpdate, ""); err != nil || len(recs) != 0 {
		t.Errorf("updates left: %v %v", recs, err)
	}

	// FinishDelete does not remove an add-on that is not DELETING.
	f.create(t, addon.CreateInput{Cluster: "c1", Name: "aws-efs-csi-driver"})
	if err := f.svc.FinishDelete(ctx, "c1", "aws-efs-csi-driver"); !errors.Is(err, addon.ErrNotDeleting) {
		t.Errorf("FinishDelete of an ACTIVE add-on: %v", err)
	}

	// A records-only add-on goes at once; the answer shows it DELETING.
	f.create(t, addon.CreateInput{Cluster: "c1", Name: "vpc-cni"})
	if _, err := f.svc.Update(ctx, addon.UpdateInput{Cluster: "c1", Name: "vpc-cni", ResolveConflicts: "OVERWRITE"}); err != nil {
		t.Fatal(err)
	}
	a, err = f.svc.Delete(ctx, "c1", "vpc-cni", false)
	if err != nil || a.Status != addon.StatusDeleting || a.Name != "vpc-cni" {
		t.Fatalf("delete vpc-cni: %v %+v", err, a)
	}
	if _, _, err := f.svc.Get(ctx, "c1", "vpc-cni"); !apierror.IsKind(err, apierror.ResourceNotFound) {
		t.Errorf("vpc-cni after delete: %v", err)
	}
	if recs, err := f.st.List(ctx, addon.KindUpdate, ""); err != nil || len(recs) != 0 {
		t.Errorf("updates left: %v %v", recs, err)
	}

	for _, tc := range []struct{ cluster, name, msg string }{
		{"c1", "vpc-cni", "No addon: vpc-cni found in cluster: c1"},
		{"nope", "vpc-cni", "No cluster found for name: nope."},
	} {
		_, err := f.svc.Delete(ctx, tc.cluster, tc.name, false)
		wantErr(t, err, apierror.ResourceNotFound, tc.msg)
	}
}

func TestRemoveOps(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	f.cluster(t, "c10", "1.37", true)
	for _, c := range []string{"c1", "c10"} {
		f.create(t, addon.CreateInput{Cluster: c, Name: "aws-ebs-csi-driver"})
		f.create(t, addon.CreateInput{Cluster: c, Name: "vpc-cni"})
		if _, err := f.svc.Update(ctx, addon.UpdateInput{Cluster: c, Name: "vpc-cni", ResolveConflicts: "NONE"}); err != nil {
			t.Fatal(err)
		}
	}
	ops, err := f.svc.RemoveOps(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if len(ops) != 3 {
		t.Fatalf("ops %+v", ops)
	}
	for _, op := range ops {
		if !op.Delete || !strings.HasPrefix(op.Key, "c1/") {
			t.Errorf("op %+v", op)
		}
	}
	if hook, err := addon.RemoveOpsIn(f.st)(ctx, "c1"); err != nil || len(hook) != len(ops) {
		t.Errorf("hook: %v %+v", err, hook)
	}
	if _, err := f.st.Apply(ctx, ops...); err != nil {
		t.Fatal(err)
	}
	if left, err := f.svc.List(ctx, "c1"); err != nil || len(left) != 0 {
		t.Errorf("c1 left %v %v", left, err)
	}
	if left, err := f.svc.List(ctx, "c10"); err != nil || len(left) != 2 {
		t.Errorf("c10 left %v %v", left, err)
	}
}

func TestTags(t *testing.T) {
	f := newFixture(t)
	f.create(t, addon.CreateInput{Cluster: "c1", Name: "coredns", Tags: map[string]string{"a": "1"}})
	if err := f.svc.Tag(t.Context(), "c1", "coredns", map[string]string{"b": "2"}); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Untag(t.Context(), "c1", "coredns", []string{"a"}); err != nil {
		t.Fatal(err)
	}
	if a := f.get(t, "c1", "coredns"); len(a.Tags) != 1 || a.Tags["b"] != "2" {
		t.Errorf("tags %v", a.Tags)
	}
	if err := f.svc.Tag(t.Context(), "c1", "nope", map[string]string{"b": "2"}); !apierror.IsKind(err, apierror.ResourceNotFound) {
		t.Errorf("tag missing: %v", err)
	}
}

func TestDescribeVersions(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	all, next, err := f.svc.DescribeVersions(ctx, addon.VersionsQuery{})
	if err != nil || next != "" || len(all) != 7 {
		t.Fatalf("all: %v %q %d", err, next, len(all))
	}
	// Without a Kubernetes version: every offered minor.
	kp := all[slices.IndexFunc(all, func(i addon.Info) bool { return i.Name == "kube-proxy" })]
	if len(kp.Compatible) != 5 {
		t.Errorf("kube-proxy versions %d", len(kp.Compatible))
	}
	for _, v := range kp.Compatible {
		if len(v.Compatibilities) != 1 || !strings.HasPrefix(v.Version.Version, "v"+v.Compatibilities[0].ClusterVersion+".") {
			t.Errorf("kube-proxy %s: %+v", v.Version.Version, v.Compatibilities)
		}
	}

	tests := []struct {
		name  string
		q     addon.VersionsQuery
		names []string
	}{
		{"storage", addon.VersionsQuery{Types: []string{"storage"}}, []string{"aws-ebs-csi-driver", "aws-efs-csi-driver", "aws-fsx-csi-driver"}},
		{"two types", addon.VersionsQuery{Types: []string{"security", "networking"}}, []string{"coredns", "eks-pod-identity-agent", "kube-proxy", "vpc-cni"}},
		{"by name", addon.VersionsQuery{Name: "aws-efs-csi-driver"}, []string{"aws-efs-csi-driver"}},
		{"unknown name", addon.VersionsQuery{Name: "nope"}, []string{}},
		{"owner and publisher", addon.VersionsQuery{Owners: []string{"aws"}, Publishers: []string{"eks"}, Name: "coredns"}, []string{"coredns"}},
		{"other owner", addon.VersionsQuery{Owners: []string{"aws-marketplace"}}, []string{}},
		{"unknown kubernetes version", addon.VersionsQuery{KubernetesVersion: "1.20"}, []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, _, err := f.svc.DescribeVersions(ctx, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			names := []string{}
			for _, i := range got {
				names = append(names, i.Name)
			}
			if !slices.Equal(names, tc.names) {
				t.Errorf("names %v, want %v", names, tc.names)
			}
		})
	}

	// For one Kubernetes version: its compatible versions, newest first,
	// each with that version's compatibility only, one default.
	got, _, err := f.svc.DescribeVersions(ctx, addon.VersionsQuery{KubernetesVersion: "1.37", Name: "aws-fsx-csi-driver"})
	if err != nil || len(got) != 1 || len(got[0].Compatible) != 1 {
		t.Fatalf("fsx on 1.37: %v %+v", err, got)
	}
	c := got[0].Compatible[0]
	if c.Version.Version != "v1.8.0-eksbuild.1" || len(c.Compatibilities) != 1 || c.Compatibilities[0].ClusterVersion != "1.37" || !c.Compatibilities[0].Default ||
		!slices.Equal(c.Compatibilities[0].PlatformVersions, []string{"*"}) {
		t.Errorf("fsx on 1.37: %+v", c)
	}
	got, _, err = f.svc.DescribeVersions(ctx, addon.VersionsQuery{KubernetesVersion: "1.34", Name: "aws-ebs-csi-driver"})
	if err != nil || len(got) != 1 {
		t.Fatal(err)
	}
	var defaults []string
	for _, v := range got[0].Compatible {
		if v.Compatibilities[0].Default {
			defaults = append(defaults, v.Version.Version)
		}
	}
	if !slices.Equal(defaults, []string{"v1.49.0-eksbuild.1"}) || got[0].Compatible[0].Version.Version != "v1.66.0-eksbuild.1" {
		t.Errorf("ebs on 1.34: defaults %v first %s", defaults, got[0].Compatible[0].Version.Version)
	}

	// Pages.
	var names []string
	token := ""
	for pages := 0; ; pages++ {
		page, next, err := f.svc.DescribeVersions(ctx, addon.VersionsQuery{MaxResults: 3, NextToken: token})
		if err != nil || pages > 3 {
			t.Fatal(err, pages)
		}
		for _, i := range page {
			names = append(names, i.Name)
		}
		if next == "" {
			break
		}
		token = next
	}
	if len(names) != 7 || !slices.IsSorted(names) {
		t.Errorf("paged names %v", names)
	}
	if _, _, err := f.svc.DescribeVersions(ctx, addon.VersionsQuery{MaxResults: 101}); !apierror.IsKind(err, apierror.InvalidParameter) {
		t.Errorf("maxResults 101: %v", err)
	}
	if _, _, err := f.svc.DescribeVersions(ctx, addon.VersionsQuery{NextToken: "x"}); !apierror.IsKind(err, apierror.InvalidParameter) {
		t.Errorf("bad token: %v", err)
	}
}

func TestDescribeConfiguration(t *testing.T) {
	f := newFixture(t)
	c, err := f.svc.DescribeConfiguration(t.Context(), "aws-ebs-csi-driver", "v1.66.0-eksbuild.1")
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := json.Unmarshal([]byte(c.Schema), &schema); err != nil || strings.Contains(c.Schema, "\n") || schema["additionalProperties"] != false {
		t.Errorf("schema %q: %v", c.Schema, err)
	}
	if len(c.PodIdentity) != 1 || c.PodIdentity[0].ServiceAccount != "ebs-csi-controller-sa" ||
		c.PodIdentity[0].RecommendedManagedPolicies[0] != "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy" {
		t.Errorf("pod identity %+v", c.PodIdentity)
	}
	if c, err := f.svc.DescribeConfiguration(t.Context(), "coredns", "v1.13.2-eksbuild.4"); err != nil || len(c.PodIdentity) != 0 {
		t.Errorf("coredns: %v %+v", err, c)
	}
	for _, tc := range []struct{ name, version, msg string }{
		{"", "v1", "addonName is required."},
		{"coredns", "", "addonVersion is required."},
		{"nope", "v1", "Addon nope specified is not supported"},
		{"coredns", "v1.66.0-eksbuild.1", "Addon version specified is not supported"},
	} {
		_, err := f.svc.DescribeConfiguration(t.Context(), tc.name, tc.version)
		wantErr(t, err, apierror.InvalidParameter, tc.msg)
	}
}

func TestNew(t *testing.T) {
	f := newFixture(t)
	for _, cfg := range []addon.Config{
		{Clusters: f.clusters, Account: account, Region: region},
		{Store: f.st, Account: account, Region: region},
		{Store: f.st, Clusters: f.clusters, Region: region},
	} {
		if _, err := addon.New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}

func ptr[T any](v T) *T { return &v }
