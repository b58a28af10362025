package fargate_test

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthproject/berth/internal/apierror"
	"github.com/berthproject/berth/internal/cluster"
	"github.com/berthproject/berth/internal/fargate"
	"github.com/berthproject/berth/internal/store"
	"github.com/berthproject/berth/internal/versions"
	"github.com/berthproject/berth/internal/vpc"
)

const (
	account = "000000000000"
	region  = "us-east-1"
	role    = "arn:aws:iam::000000000000:role/fargate-pods"
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
	net      *vpc.Network
	clusters *cluster.Service
	svc      *fargate.Service
}

// newFixture makes an ACTIVE cluster c1 whose VPC configuration has the
// public and the private subnets of two zones.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "berth.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := &clock{t: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	network := vpc.Default(account, region)
	clusters, err := cluster.New(cluster.Config{
		Store: st, Network: network, Versions: versions.Builtin("1.37.2"), Account: account, Region: region,
		Now: clk.Now, FargateProfiles: fargate.AttachedIn(st),
	})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := fargate.New(fargate.Config{Store: st, Clusters: clusters, Network: network, Account: account, Region: region, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{st: st, net: network, clusters: clusters, svc: svc}
	f.cluster(t, "c1", "1.37", append(f.subnets(true, 2), f.subnets(false, 2)...), true)
	return f
}

// subnets returns the public or private subnets of the first n zones.
func (f *fixture) subnets(public bool, n int) []string {
	var out []string
	for _, s := range f.net.Subnets {
		if s.Public == public && s.EKSCapable && len(out) < n {
			out = append(out, s.ID)
		}
	}
	return out
}

// cluster creates a cluster, ACTIVE or left CREATING.
func (f *fixture) cluster(t *testing.T, name, version string, subnets []string, active bool) {
	t.Helper()
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

func (f *fixture) input(name string) fargate.CreateInput {
	return fargate.CreateInput{Cluster: "c1", Name: name, PodExecutionRoleARN: role, Selectors: []fargate.Selector{{Namespace: "default"}}}
}

// setStatus does what the controller does when a profile is ready.
func (f *fixture) setStatus(t *testing.T, clusterName, name, status string) {
	t.Helper()
	if _, err := f.svc.Mutate(t.Context(), clusterName, name, func(p *fargate.Profile) error {
		p.Status = status
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// create creates a profile and makes it ACTIVE.
func (f *fixture) create(t *testing.T, in fargate.CreateInput) *fargate.Profile {
	t.Helper()
	p, err := f.svc.Create(t.Context(), in)
	if err != nil {
		t.Fatal(err)
	}
	f.setStatus(t, in.Cluster, in.Name, fargate.StatusActive)
	return p
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

func TestCreateDefaults(t *testing.T) {
	f := newFixture(t)
	in := f.input("fp1")
	in.Selectors = []fargate.Selector{{Namespace: "default"}, {Namespace: "prod-*", Labels: map[string]string{"app": "web"}}}
	in.Tags = map[string]string{"owner": "me"}
	in.ClientRequestToken = "tok"
	p, err := f.svc.Create(t.Context(), in)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`).MatchString(p.ID) {
		t.Errorf("id %q", p.ID)
	}
	if p.ARN != "arn:aws:eks:us-east-1:000000000000:fargateprofile/c1/fp1/"+p.ID || p.Cluster != "c1" || p.Name != "fp1" {
		t.Errorf("arn %s cluster %s name %s", p.ARN, p.Cluster, p.Name)
	}
	if p.Status != fargate.StatusCreating || p.PodExecutionRoleARN != role || p.Tags["owner"] != "me" || p.ClientRequestToken != "tok" || len(p.Health) != 0 {
		t.Errorf("created %+v", p)
	}
	if start := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC); !p.CreatedAt.After(start) || p.CreatedAt.After(start.Add(time.Minute)) || p.CreatedAt.Location() != time.UTC {
		t.Errorf("createdAt %v", p.CreatedAt)
	}
	// Without subnets, the private subnets of the cluster's VPC
	// configuration.
	if want := f.subnets(false, 2); !slices.Equal(p.Subnets, want) {
		t.Errorf("subnets %v, want %v", p.Subnets, want)
	}
	if len(p.Selectors) != 2 || p.Selectors[0].Labels != nil || p.Selectors[1].Namespace != "prod-*" || p.Selectors[1].Labels["app"] != "web" {
		t.Errorf("selectors %+v", p.Selectors)
	}
	// The record does not share the request's maps.
	in.Selectors[1].Labels["app"] = "changed"
	in.Tags["owner"] = "changed"
	got, rev, err := f.svc.Get(t.Context(), "c1", "fp1")
	if err != nil || rev == 0 || got.ID != p.ID || !got.CreatedAt.Equal(p.CreatedAt) || got.Selectors[1].Labels["app"] != "web" || got.Tags["owner"] != "me" {
		t.Fatalf("get: %v %+v", err, got)
	}

	// Given subnets are kept, in their order.
	f.setStatus(t, "c1", "fp1", fargate.StatusActive)
	in = f.input("fp2")
	in.Subnets = []string{f.subnets(false, 3)[2], f.subnets(false, 1)[0]}
	p2, err := f.svc.Create(t.Context(), in)
	if err != nil || !slices.Equal(p2.Subnets, in.Subnets) {
		t.Fatalf("given subnets: %v %v", err, p2)
	}
}

func TestCreateValidation(t *testing.T) {
	f := newFixture(t)
	f.cluster(t, "creating", "1.37", f.subnets(false, 2), false)
	f.cluster(t, "public", "1.37", f.subnets(true, 2), true)
	labels := func(n int) map[string]string {
		out := map[string]string{}
		for i := range n {
			out[fmt.Sprint("k", i)] = "v"
		}
		return out
	}
	sels := func(n int) []fargate.Selector {
		out := make([]fargate.Selector, n)
		for i := range out {
			out[i] = fargate.Selector{Namespace: fmt.Sprint("ns", i)}
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		mutate func(*fargate.CreateInput)
		kind   apierror.Kind
		msg    string
	}{
		{"no name", func(in *fargate.CreateInput) { in.Name = "" }, apierror.InvalidParameter, "fargateProfileName is required."},
		{"bad name", func(in *fargate.CreateInput) { in.Name = "-fp" }, apierror.InvalidParameter, "[0-9A-Za-z][A-Za-z0-9\\-_]*"},
		{"name with a slash", func(in *fargate.CreateInput) { in.Name = "a/b" }, apierror.InvalidParameter, "is invalid"},
		{"long name", func(in *fargate.CreateInput) { in.Name = strings.Repeat("n", 64) }, apierror.InvalidParameter, "at most 63"},
		{"missing cluster", func(in *fargate.CreateInput) { in.Cluster = "nope" }, apierror.ResourceNotFound, "No cluster found for name: nope."},
		{"cluster not active", func(in *fargate.CreateInput) { in.Cluster = "creating" }, apierror.InvalidRequest, "Cluster 'creating' is not in ACTIVE status"},
		{"no role", func(in *fargate.CreateInput) { in.PodExecutionRoleARN = "" }, apierror.InvalidParameter, "podExecutionRoleArn is required."},
		{"role of a user", func(in *fargate.CreateInput) { in.PodExecutionRoleARN = "arn:aws:iam::000000000000:user/bob" }, apierror.InvalidParameter, "not a valid IAM role ARN"},
		{"role not an arn", func(in *fargate.CreateInput) { in.PodExecutionRoleARN = "pods" }, apierror.InvalidParameter, "not a valid IAM role ARN"},
		{"unknown subnet", func(in *fargate.CreateInput) { in.Subnets = []string{"subnet-0123456789abcdef0"} }, apierror.InvalidParameter,
			"The subnet ID 'subnet-0123456789abcdef0' does not exist"},
		{"duplicate subnet", func(in *fargate.CreateInput) { in.Subnets = append(f.subnets(false, 1), f.subnets(false, 1)...) }, apierror.InvalidParameter,
			"One or more subnets are duplicate"},
		{"public subnet", func(in *fargate.CreateInput) { in.Subnets = append(f.subnets(false, 1), f.subnets(true, 1)...) }, apierror.InvalidParameter,
			"Subnet " + f.subnets(true, 1)[0] + " provided in Fargate Profile is not a private subnet"},
		{"cluster without private subnets", func(in *fargate.CreateInput) { in.Cluster = "public" }, apierror.InvalidParameter,
			"Cluster public has no private subnets in its VPC configuration"},
		{"no selectors", func(in *fargate.CreateInput) { in.Selectors = nil }, apierror.InvalidParameter, "Fargate Profile requires at least one selector."},
		{"six selectors", func(in *fargate.CreateInput) { in.Selectors = sels(6) }, apierror.InvalidParameter, "at most 5 selectors, 6 were given"},
		{"selector without namespace", func(in *fargate.CreateInput) {
			in.Selectors = []fargate.Selector{{Namespace: "default"}, {Labels: map[string]string{"a": "b"}}}
		}, apierror.InvalidParameter, "Fargate Profile must have at least one selector with at least one namespace value."},
		{"upper-case namespace", func(in *fargate.CreateInput) { in.Selectors = []fargate.Selector{{Namespace: "Prod"}} }, apierror.InvalidParameter,
			`Invalid value: "Prod": selector namespace`},
		{"namespace with a dot", func(in *fargate.CreateInput) { in.Selectors = []fargate.Selector{{Namespace: "a.b"}} }, apierror.InvalidParameter, `Invalid value: "a.b"`},
		{"namespace starting with a hyphen", func(in *fargate.CreateInput) { in.Selectors = []fargate.Selector{{Namespace: "-*"}} }, apierror.InvalidParameter, `Invalid value: "-*"`},
		{"long namespace", func(in *fargate.CreateInput) { in.Selectors = []fargate.Selector{{Namespace: strings.Repeat("n", 64)}} }, apierror.InvalidParameter,
			"selector namespace must be no more than 63"},
		{"other wildcards", func(in *fargate.CreateInput) { in.Selectors = []fargate.Selector{{Namespace: "prod-[ab]"}} }, apierror.InvalidParameter, `Invalid value: "prod-[ab]"`},
		{"six labels", func(in *fargate.CreateInput) {
			in.Selectors = []fargate.Selector{{Namespace: "default", Labels: labels(6)}}
		}, apierror.InvalidParameter,
			"Request contains Selector with more than 5 Label pairs"},
		{"empty label key", func(in *fargate.CreateInput) {
			in.Selectors = []fargate.Selector{{Namespace: "default", Labels: map[string]string{"": "v"}}}
		}, apierror.InvalidParameter, "must not be empty"},
		{"bad label key", func(in *fargate.CreateInput) {
			in.Selectors = []fargate.Selector{{Namespace: "default", Labels: map[string]string{"a/b/c": "v"}}}
		}, apierror.InvalidParameter, `Invalid value: "a/b/c": selector label key`},
		{"bad label value", func(in *fargate.CreateInput) {
			in.Selectors = []fargate.Selector{{Namespace: "default", Labels: map[string]string{"app": "a b"}}}
		}, apierror.InvalidParameter, `Invalid value: "a b": selector label "app"`},
		{"long label value", func(in *fargate.CreateInput) {
			in.Selectors = []fargate.Selector{{Namespace: "default", Labels: map[string]string{"app": strings.Repeat("v", 64)}}}
		}, apierror.InvalidParameter, "at most 63 characters"},
		{"reserved tag", func(in *fargate.CreateInput) { in.Tags = map[string]string{"aws:x": "y"} }, apierror.BadRequest, "reserved"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := f.input("valid")
			tc.mutate(&in)
			_, err := f.svc.Create(t.Context(), in)
			e := wantErr(t, err, tc.kind, tc.msg)
			// The exception shapes that have them name the cluster and
			// the profile.
			switch tc.kind {
			case apierror.InvalidParameter, apierror.ResourceNotFound:
				if e.Fields["clusterName"] != in.Cluster || e.Fields["fargateProfileName"] != in.Name {
					t.Errorf("fields %v", e.Fields)
				}
			case apierror.InvalidRequest:
				if e.Fields["clusterName"] != in.Cluster || e.Fields["fargateProfileName"] != "" {
					t.Errorf("fields %v", e.Fields)
				}
			}
		})
	}
	// Nothing was stored by the failures.
	for _, c := range []string{"c1", "creating", "public"} {
		if all, err := f.svc.All(t.Context(), c); err != nil || len(all) != 0 {
			t.Fatalf("profiles of %s after failures: %v %v", c, all, err)
		}
	}
}

// The wildcards the EKS user guide shows, and Kubernetes names, pass.
func TestCreateWildcards(t *testing.T) {
	f := newFixture(t)
	for i, sels := range [][]fargate.Selector{
		{{Namespace: "prod*"}, {Namespace: "*dev"}, {Namespace: "frontend*?"}, {Namespace: "*"}, {Namespace: "?"}},
		{{Namespace: "kube-system", Labels: map[string]string{"key?": "value?", "app.kubernetes.io/*": "*", "*": "", "k8s-app": "kube-dns", "example.com/tier": "web.1"}}},
		{{Namespace: strings.Repeat("n", 63), Labels: map[string]string{"app": strings.Repeat("v", 63)}}},
	} {
		in := f.input(fmt.Sprint("fp", i))
		in.Selectors = sels
		f.create(t, in)
	}
}

func TestIdempotencyAndOneAtATime(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	in := f.input("fp1")
	in.ClientRequestToken = "tok-1"
	first, err := f.svc.Create(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	again, err := f.svc.Create(ctx, in)
	if err != nil || again.ID != first.ID {
		t.Fatalf("same token: %v %v", err, again)
	}
	in.ClientRequestToken = "tok-2"
	_, err = f.svc.Create(ctx, in)
	e := wantErr(t, err, apierror.ResourceInUse, "A Fargate Profile already exists with this name in this cluster.")
	if e.Fields["clusterName"] != "c1" || e.Fields["fargateProfileName"] != "" {
		t.Errorf("fields %v", e.Fields)
	}
	in.ClientRequestToken = ""
	_, err = f.svc.Create(ctx, in)
	wantErr(t, err, apierror.ResourceInUse, "already exists")

	// One profile of a cluster is created at a time.
	_, err = f.svc.Create(ctx, f.input("fp2"))
	wantErr(t, err, apierror.ResourceInUse, "Cannot create Fargate Profile fp2 because cluster c1 currently has Fargate profile fp1 in status CREATING")
	// Other clusters are not held up.
	f.cluster(t, "c2", "1.37", append(f.subnets(false, 2), f.subnets(true, 2)...), true)
	in2 := f.input("fp2")
	in2.Cluster = "c2"
	if _, err := f.svc.Create(ctx, in2); err != nil {
		t.Fatal(err)
	}
	f.setStatus(t, "c1", "fp1", fargate.StatusActive)
	if _, err := f.svc.Create(ctx, f.input("fp2")); err != nil {
		t.Fatal(err)
	}
	// A profile that failed to create holds nothing up.
	f.setStatus(t, "c1", "fp2", fargate.StatusCreateFailed)
	if _, err := f.svc.Create(ctx, f.input("fp3")); err != nil {
		t.Fatal(err)
	}
}

// Concurrent creates in one cluster: exactly one wins, the others see it
// CREATING.
func TestCreateConcurrent(t *testing.T) {
	f := newFixture(t)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = f.svc.Create(t.Context(), f.input(fmt.Sprint("fp", i)))
		})
	}
	wg.Wait()
	created := 0
	for _, err := range errs {
		if err == nil {
			created++
		} else {
			wantErr(t, err, apierror.ResourceInUse, "in status CREATING")
		}
	}
	all, err := f.svc.All(t.Context(), "c1")
	if created != 1 || err != nil || len(all) != 1 {
		t.Fatalf("%d created, %d stored: %v", created, len(all), err)
	}
}

func TestQuota(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	for i := range 10 {
		f.create(t, f.input(fmt.Sprintf("fp%02d", i)))
	}
	_, err := f.svc.Create(ctx, f.input("fp10"))
	e := wantErr(t, err, apierror.ResourceLimit, "at most 10 Fargate profiles")
	if e.Fields["clusterName"] != "c1" {
		t.Errorf("fields %v", e.Fields)
	}
	// A profile being deleted still counts.
	if _, err := f.svc.Delete(ctx, "c1", "fp00"); err != nil {
		t.Fatal(err)
	}
	f.setStatus(t, "c1", "fp00", fargate.StatusDeleteFailed)
	_, err = f.svc.Create(ctx, f.input("fp10"))
	wantErr(t, err, apierror.ResourceLimit, "Fargate profile limit exceeded for cluster c1")
	if err := f.svc.Remove(ctx, "c1", "fp00"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Create(ctx, f.input("fp10")); err != nil {
		t.Fatal(err)
	}
	// The quota is per cluster.
	f.cluster(t, "c2", "1.37", append(f.subnets(false, 2), f.subnets(true, 2)...), true)
	in := f.input("fp10")
	in.Cluster = "c2"
	if _, err := f.svc.Create(ctx, in); err != nil {
		t.Fatal(err)
	}
	if _, err := fargate.New(fargate.Config{Store: f.st, Clusters: f.clusters, Network: f.net, Account: account, Region: region, MaxProfilesPerCluster: -1}); err == nil {
		t.Error("negative quota accepted")
	}
}

func TestGetAndList(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	for _, n := range []string{"b", "a", "c"} {
		f.create(t, f.input(n))
	}
	// A cluster whose name extends c1's shares no profiles with it.
	f.cluster(t, "c1-x", "1.37", f.subnets(false, 2), true)
	in := f.input("z")
	in.Cluster = "c1-x"
	f.create(t, in)

	var names []string
	token := ""
	for pages := 0; ; pages++ {
		page, next, err := f.svc.List(ctx, "c1", 2, token)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, page...)
		if next == "" {
			if pages != 1 {
				t.Errorf("%d pages", pages+1)
			}
			break
		}
		token = next
	}
	if strings.Join(names, ",") != "a,b,c" {
		t.Errorf("list = %v", names)
	}
	if page, next, err := f.svc.List(ctx, "c1", 0, ""); err != nil || len(page) != 3 || next != "" {
		t.Errorf("default page: %v %q %v", page, next, err)
	}
	_, _, err := f.svc.List(ctx, "c1", 0, "garbage!")
	wantErr(t, err, apierror.InvalidParameter, "pagination token")
	_, _, err = f.svc.List(ctx, "c1", 101, "")
	wantErr(t, err, apierror.InvalidParameter, "maxResults")
	_, _, err = f.svc.List(ctx, "c1", -1, "")
	wantErr(t, err, apierror.InvalidParameter, "maxResults")
	_, _, err = f.svc.List(ctx, "nope", 0, "")
	wantErr(t, err, apierror.ResourceNotFound, "No cluster found for name: nope.")

	_, _, err = f.svc.Get(ctx, "c1", "nope")
	e := wantErr(t, err, apierror.ResourceNotFound, "No Fargate Profile found with name: nope.")
	if e.Fields["clusterName"] != "c1" || e.Fields["fargateProfileName"] != "nope" {
		t.Errorf("fields %v", e.Fields)
	}
	_, _, err = f.svc.Get(ctx, "c1", "a/../b")
	wantErr(t, err, apierror.ResourceNotFound, "No Fargate Profile found")
	_, _, err = f.svc.Get(ctx, "c1", "")
	wantErr(t, err, apierror.ResourceNotFound, "No Fargate Profile found")
	_, _, err = f.svc.Get(ctx, "nope", "a")
	wantErr(t, err, apierror.ResourceNotFound, "No cluster found for name: nope.")

	all, err := f.svc.All(ctx, "c1")
	if err != nil || len(all) != 3 || all[0].Name != "a" || all[2].Name != "c" {
		t.Fatalf("all: %v %v", all, err)
	}
	attached, err := f.svc.Attached(ctx, "c1")
	if err != nil || strings.Join(attached, ",") != "a,b,c" {
		t.Errorf("attached %v %v", attached, err)
	}
	if hook, err := fargate.AttachedIn(f.st)(ctx, "c"); err != nil || len(hook) != 0 {
		t.Errorf("prefix of a cluster name: %v %v", hook, err)
	}
}

func TestDeleteAndRemove(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	for _, n := range []string{"fp1", "fp2"} {
		f.create(t, f.input(n))
	}
	_, err := f.clusters.Delete(ctx, "c1")
	e := wantErr(t, err, apierror.ResourceInUse, "Cluster has Fargate Profiles in ACTIVE/CREATING state")
	if e.Fields["clusterName"] != "c1" {
		t.Errorf("fields %v", e.Fields)
	}

	p, err := f.svc.Delete(ctx, "c1", "fp1")
	if err != nil || p.Status != fargate.StatusDeleting || p.Name != "fp1" {
		t.Fatalf("delete: %v %+v", err, p)
	}
	if again, err := f.svc.Delete(ctx, "c1", "fp1"); err != nil || again.Status != fargate.StatusDeleting {
		t.Errorf("second delete: %v", err)
	}
	// One profile of a cluster is deleted at a time, and nothing is
	// created meanwhile.
	_, err = f.svc.Delete(ctx, "c1", "fp2")
	e = wantErr(t, err, apierror.ResourceInUse, "Cannot Delete Fargate Profile fp2 because cluster c1 currently has Fargate profile fp1 in status DELETING")
	if e.Fields["clusterName"] != "c1" {
		t.Errorf("fields %v", e.Fields)
	}
	_, err = f.svc.Create(ctx, f.input("fp3"))
	wantErr(t, err, apierror.ResourceInUse, "Cannot create Fargate Profile fp3 because cluster c1 currently has Fargate profile fp1 in status DELETING")
	if p, _, err := f.svc.Get(ctx, "c1", "fp2"); err != nil || p.Status != fargate.StatusActive {
		t.Errorf("fp2 after the refused delete: %v %+v", err, p)
	}
	// Still attached while DELETING.
	_, err = f.clusters.Delete(ctx, "c1")
	wantErr(t, err, apierror.ResourceInUse, "Cluster has Fargate Profiles")

	if err := f.svc.Remove(ctx, "c1", "fp1"); err != nil {
		t.Fatal(err)
	}
	_, _, err = f.svc.Get(ctx, "c1", "fp1")
	wantErr(t, err, apierror.ResourceNotFound, "No Fargate Profile found with name: fp1.")
	if err := f.svc.Remove(ctx, "c1", "fp1"); err != nil {
		t.Errorf("second remove: %v", err)
	}
	_, err = f.svc.Delete(ctx, "c1", "fp1")
	wantErr(t, err, apierror.ResourceNotFound, "No Fargate Profile found")
	_, err = f.svc.Delete(ctx, "nope", "fp1")
	wantErr(t, err, apierror.ResourceNotFound, "No cluster found for name: nope.")

	// A profile that failed to create can be deleted.
	if _, err := f.svc.Create(ctx, f.input("fp3")); err != nil {
		t.Fatal(err)
	}
	f.setStatus(t, "c1", "fp3", fargate.StatusCreateFailed)
	for _, n := range []string{"fp2", "fp3"} {
		if _, err := f.svc.Delete(ctx, "c1", n); err != nil {
			t.Fatalf("delete %s: %v", n, err)
		}
		if err := f.svc.Remove(ctx, "c1", n); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.clusters.Delete(ctx, "c1"); err != nil {
		t.Errorf("cluster delete once the profiles are gone: %v", err)
	}
}

// No profile is deleted while its cluster has an update in progress.
func TestDeleteDuringClusterUpdate(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	f.cluster(t, "up", "1.36", f.subnets(false, 2), true)
	in := f.input("fp")
	in.Cluster = "up"
	f.create(t, in)
	u, err := f.clusters.UpdateVersion(ctx, "up", "1.37", "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.Delete(ctx, "up", "fp")
	wantErr(t, err, apierror.ResourceInUse, "Cannot Delete Fargate Profile fp because cluster up currently has an update in progress")
	// Nor created: the cluster is not ACTIVE.
	in.Name = "fp2"
	_, err = f.svc.Create(ctx, in)
	wantErr(t, err, apierror.InvalidRequest, "Cluster 'up' is not in ACTIVE status")
	if err := f.clusters.FinishUpdate(ctx, u, cluster.UpdateSuccessful, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Delete(ctx, "up", "fp"); err != nil {
		t.Errorf("delete after the update: %v", err)
	}
}

func TestMutate(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	f.create(t, f.input("fp"))
	issue := fargate.Issue{Code: fargate.IssuePodExecutionRoleAlreadyInUse, Message: "in use", ResourceIDs: []string{role}}
	p, err := f.svc.Mutate(ctx, "c1", "fp", func(p *fargate.Profile) error {
		p.Health = []fargate.Issue{issue}
		return nil
	})
	if err != nil || len(p.Health) != 1 {
		t.Fatalf("mutate: %v %+v", err, p)
	}
	got, rev, err := f.svc.Get(ctx, "c1", "fp")
	if err != nil || len(got.Health) != 1 || got.Health[0].Code != issue.Code {
		t.Fatalf("get: %v %+v", err, got)
	}
	// An unchanged profile is not written.
	if _, err := f.svc.Mutate(ctx, "c1", "fp", func(*fargate.Profile) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if _, rev2, _ := f.svc.Get(ctx, "c1", "fp"); rev2 != rev {
		t.Errorf("revision %d after a no-op mutate, was %d", rev2, rev)
	}
	boom := apierror.New(apierror.InvalidRequest, "boom")
	if _, err := f.svc.Mutate(ctx, "c1", "fp", func(*fargate.Profile) error { return boom }); err != boom {
		t.Errorf("fn error: %v", err)
	}
	_, err = f.svc.Mutate(ctx, "c1", "nope", func(*fargate.Profile) error { return nil })
	wantErr(t, err, apierror.ResourceNotFound, "No Fargate Profile found with name: nope.")
}

func TestTags(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	in := f.input("fp")
	in.Tags = map[string]string{"a": "1"}
	f.create(t, in)
	if err := f.svc.Tag(ctx, "c1", "fp", map[string]string{"b": "2"}); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Untag(ctx, "c1", "fp", []string{"a", "zz"}); err != nil {
		t.Fatal(err)
	}
	p, _, err := f.svc.Get(ctx, "c1", "fp")
	if err != nil || fmt.Sprint(p.Tags) != "map[b:2]" {
		t.Fatalf("tags %v %v", p, err)
	}
	wantErr(t, f.svc.Tag(ctx, "c1", "fp", map[string]string{"aws:x": "1"}), apierror.BadRequest, "reserved")
	wantErr(t, f.svc.Tag(ctx, "c1", "fp", nil), apierror.BadRequest, "at least one tag")
	wantErr(t, f.svc.Untag(ctx, "c1", "fp", nil), apierror.BadRequest, "at least one key")
	many := map[string]string{}
	for i := range 50 {
		many[fmt.Sprint("k", i)] = "v"
	}
	wantErr(t, f.svc.Tag(ctx, "c1", "fp", many), apierror.BadRequest, "at most 50 tags")
	wantErr(t, f.svc.Tag(ctx, "c1", "nope", map[string]string{"a": "b"}), apierror.ResourceNotFound, "No Fargate Profile found")
}
