package asgapi_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscreds "github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/smithy-go"

	"github.com/berthproject/berth/internal/apierror"
	"github.com/berthproject/berth/internal/asgapi"
	"github.com/berthproject/berth/internal/cluster"
	"github.com/berthproject/berth/internal/compute"
	"github.com/berthproject/berth/internal/compute/ipam"
	"github.com/berthproject/berth/internal/credentials"
	"github.com/berthproject/berth/internal/nodegroup"
	"github.com/berthproject/berth/internal/sigv4"
	"github.com/berthproject/berth/internal/store"
	"github.com/berthproject/berth/internal/versions"
	"github.com/berthproject/berth/internal/vpc"
)

const (
	account = "000000000000"
	region  = "us-east-1"
	role    = "arn:aws:iam::000000000000:role/node"
)

// epoch is where the fixture's clock starts; every reading advances it
// a second.
var epoch = time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)

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

// fixture serves the handler over a real store with real compute,
// cluster and node group services; the SDK's Auto Scaling client signs
// with the root key. No controller runs: the tests look at the records
// the API writes, and play the controllers' part where they need to.
type fixture struct {
	st         *store.Bolt
	net        *vpc.Network
	compute    *compute.Service
	nodegroups *nodegroup.Service
	keys       *credentials.Keyring
	url        string
	client     *autoscaling.Client
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := t.Context()
	st, err := store.Open(filepath.Join(t.TempDir(), "berth.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := &clock{t: epoch}
	network := vpc.Default(account, region)
	clusters, err := cluster.New(cluster.Config{
		Store: st, Network: network, Versions: versions.Builtin("1.37.2"), Account: account, Region: region,
		Now: clk.Now, Nodegroups: nodegroup.Attached(st),
	})
	if err != nil {
		t.Fatal(err)
	}
	ngs, err := nodegroup.New(nodegroup.Config{
		Store: st, Clusters: clusters, Network: network, Account: account, Region: region,
		MaxNodesPerNodegroup: 20, Now: clk.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	cs, err := compute.New(compute.Config{Store: st, Network: network, IPs: ipam.NewSubnetAllocator(), Account: account, Region: region, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	keys := credentials.NewKeyring(st)
	root, err := keys.EnsureRoot(ctx, account)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := sigv4.New(sigv4.Config{Credentials: keys, Service: asgapi.SigningName})
	if err != nil {
		t.Fatal(err)
	}
	h, err := asgapi.New(asgapi.Config{Compute: cs, Nodegroups: ngs, Auth: auth, Account: account})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	f := &fixture{st: st, net: network, compute: cs, nodegroups: ngs, keys: keys, url: srv.URL}
	f.client = f.sdk(root.AccessKeyID, root.SecretAccessKey, region)

	if _, err := clusters.Create(ctx, cluster.CreateInput{
		Name: "c1", Version: "1.37", RoleARN: "arn:aws:iam::000000000000:role/eks", SubnetIDs: f.subnets(2),
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := clusters.Mutate(ctx, "c1", func(c *cluster.Cluster) ([]store.Op, error) {
		c.Status = cluster.StatusActive
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) sdk(id, secret, region string) *autoscaling.Client {
	return autoscaling.New(autoscaling.Options{
		Region: region, BaseEndpoint: aws.String(f.url),
		Credentials:      awscreds.NewStaticCredentialsProvider(id, secret, ""),
		RetryMaxAttempts: 1,
		HTTPClient:       &http.Client{Transport: bufferedBody{http.DefaultTransport}},
	})
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

func (f *fixture) subnets(n int) []string {
	var out []string
	for _, s := range f.net.Subnets {
		if s.Public && s.EKSCapable && len(out) < n {
			out = append(out, s.ID)
		}
	}
	return out
}

// nodegroup creates an ACTIVE node group and its Auto Scaling Group as
// the node group controller does, with the group's instances running.
func (f *fixture) nodegroup(t *testing.T, name, capacity string, types []string, min, max, desired int) (*nodegroup.Nodegroup, []*compute.Instance) {
	t.Helper()
	ctx := t.Context()
	ng, err := f.nodegroups.Create(ctx, nodegroup.CreateInput{
		Cluster: "c1", Name: name, NodeRole: role, Subnets: f.subnets(2), InstanceTypes: types, CapacityType: capacity,
		Scaling: &nodegroup.ScalingInput{Min: &min, Max: &max, Desired: &desired},
	})
	if err != nil {
		t.Fatal(err)
	}
	capType := compute.OnDemand
	if capacity == nodegroup.CapacitySpot {
		capType = compute.Spot
	}
	g := &compute.Group{
		Name: ng.ASG, ARN: f.compute.GroupARN(ng.ASG, ng.ID), CreatedAt: epoch, Cluster: "c1", Nodegroup: name,
		Min: min, Max: max, Desired: desired, SubnetIDs: ng.Subnets, InstanceTypes: ng.InstanceTypes, CapacityType: capType,
		Tags: map[string]string{
			compute.TagClusterName:              "c1",
			compute.TagNodegroupName:            name,
			compute.TagClusterOwned + "c1":      "owned",
			"k8s.io/cluster-autoscaler/enabled": "true",
			"k8s.io/cluster-autoscaler/c1":      "owned",
		},
		Template: compute.NodeConfig{KubeletVersion: "1.37"}, TemplateVersion: 1,
	}
	if err := f.compute.CreateGroup(ctx, g); err != nil {
		t.Fatal(err)
	}
	if _, err := f.nodegroups.Mutate(ctx, "c1", name, func(ng *nodegroup.Nodegroup) ([]store.Op, error) {
		ng.Status = nodegroup.StatusActive
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	ng, _, err = f.nodegroups.Get(ctx, "c1", name)
	if err != nil {
		t.Fatal(err)
	}
	return ng, f.launch(t, g, desired)
}

// launch starts n running instances in a group, as the group and
// instance controllers do.
func (f *fixture) launch(t *testing.T, g *compute.Group, n int) []*compute.Instance {
	t.Helper()
	var specs []compute.LaunchSpec
	for i := range n {
		tags := map[string]string{compute.TagASGName: g.Name}
		for k, v := range g.Tags {
			tags[k] = v
		}
		specs = append(specs, compute.LaunchSpec{
			Type: g.InstanceTypes[0], SubnetID: g.SubnetIDs[i%len(g.SubnetIDs)], CapacityType: g.CapacityType, ImageID: "ami-0123456789abcdef0",
			Tags: tags, Cluster: g.Cluster, Group: g.Name, TemplateVersion: g.TemplateVersion, Node: g.Template,
		})
	}
	ins, err := f.compute.Launch(t.Context(), specs)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, in := range ins {
		ids = append(ids, in.ID)
	}
	f.mutate(t, ids, func(in *compute.Instance) { in.State = compute.StateRunning })
	return ins
}

func (f *fixture) mutate(t *testing.T, ids []string, fn func(in *compute.Instance)) {
	t.Helper()
	if _, err := f.compute.MutateInstances(t.Context(), ids, func(in *compute.Instance) (bool, error) {
		fn(in)
		return true, nil
	}); err != nil {
		t.Fatal(err)
	}
}

// plain creates a group that belongs to no node group.
func (f *fixture) plain(t *testing.T, name string, min, max, desired int) *compute.Group {
	t.Helper()
	g := &compute.Group{
		Name: name, ARN: f.compute.GroupARN(name, "11111111-2222-3333-4444-555555555555"), CreatedAt: epoch,
		Min: min, Max: max, Desired: desired, SubnetIDs: f.subnets(1), InstanceTypes: []string{"m5.large"},
		CapacityType: compute.OnDemand, Tags: map[string]string{"team": "blue"}, TemplateVersion: 1,
	}
	if err := f.compute.CreateGroup(t.Context(), g); err != nil {
		t.Fatal(err)
	}
	return g
}

func (f *fixture) group(t *testing.T, name string) *compute.Group {
	t.Helper()
	g, _, err := f.compute.Group(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func (f *fixture) scaling(t *testing.T, name string) nodegroup.Scaling {
	t.Helper()
	ng, _, err := f.nodegroups.Get(t.Context(), "c1", name)
	if err != nil {
		t.Fatal(err)
	}
	return ng.Scaling
}

func (f *fixture) instance(t *testing.T, id string) *compute.Instance {
	t.Helper()
	in, _, err := f.compute.Instance(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// wantAPIError checks that err is the AWS error code with the message.
func wantAPIError(t *testing.T, err error, code, message string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("err = %v, want API error %s", err, code)
	}
	if ae.ErrorCode() != code || message != "" && ae.ErrorMessage() != message {
		t.Errorf("error\n  %s: %s\nwant\n  %s: %s", ae.ErrorCode(), ae.ErrorMessage(), code, message)
	}
}

func names(groups []types.AutoScalingGroup) []string {
	var out []string
	for _, g := range groups {
		out = append(out, aws.ToString(g.AutoScalingGroupName))
	}
	return out
}

// TestDescribeAutoScalingGroups checks the shapes of a node group's group
// (EKS's launch template or mixed instances policy, tags, policies,
// instances) and of a plain one, the tag filters and paging.
func TestDescribeAutoScalingGroups(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	multi, multiIns := f.nodegroup(t, "multi", nodegroup.CapacityOnDemand, []string{"t3.large", "t3.xlarge"}, 1, 5, 3)
	spot, _ := f.nodegroup(t, "spot", nodegroup.CapacitySpot, []string{"m5.large", "m5.xlarge"}, 0, 4, 1)
	single, _ := f.nodegroup(t, "single", nodegroup.CapacityOnDemand, []string{"t3.medium"}, 1, 2, 1)
	f.plain(t, "plain", 0, 3, 0)
	// One instance being drained away, one pending.
	f.mutate(t, []string{multiIns[0].ID}, func(in *compute.Instance) { in.Drain = &compute.Drain{Deadline: epoch.Add(time.Hour)} })
	f.mutate(t, []string{multiIns[1].ID}, func(in *compute.Instance) { in.State = compute.StatePending })

	out, err := f.client.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{
		AutoScalingGroupNames: []string{multi.ASG},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.AutoScalingGroups) != 1 {
		t.Fatalf("groups = %v, want %s", names(out.AutoScalingGroups), multi.ASG)
	}
	g := out.AutoScalingGroups[0]
	if aws.ToString(g.AutoScalingGroupARN) != f.compute.GroupARN(multi.ASG, multi.ID) ||
		aws.ToInt32(g.MinSize) != 1 || aws.ToInt32(g.MaxSize) != 5 || aws.ToInt32(g.DesiredCapacity) != 3 ||
		aws.ToInt32(g.DefaultCooldown) != 300 || aws.ToString(g.HealthCheckType) != "EC2" || aws.ToInt32(g.HealthCheckGracePeriod) != 15 ||
		aws.ToString(g.VPCZoneIdentifier) != strings.Join(f.subnets(2), ",") || !aws.ToTime(g.CreatedTime).Equal(epoch) ||
		aws.ToBool(g.NewInstancesProtectedFromScaleIn) || aws.ToBool(g.CapacityRebalance) ||
		aws.ToString(g.ServiceLinkedRoleARN) != "arn:aws:iam::000000000000:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling" {
		t.Errorf("group = %+v", g)
	}
	if want := []string{"us-east-1a", "us-east-1b"}; !slices.Equal(g.AvailabilityZones, want) {
		t.Errorf("zones = %v, want %v", g.AvailabilityZones, want)
	}
	if want := []string{"AllocationStrategy", "OldestLaunchTemplate", "OldestInstance"}; !slices.Equal(g.TerminationPolicies, want) {
		t.Errorf("termination policies = %v, want %v", g.TerminationPolicies, want)
	}
	if g.LaunchTemplate != nil || g.MixedInstancesPolicy == nil {
		t.Fatalf("two instance types: want a mixed instances policy, got launch template %+v", g.LaunchTemplate)
	}
	p := g.MixedInstancesPolicy
	spec := p.LaunchTemplate.LaunchTemplateSpecification
	if aws.ToString(spec.LaunchTemplateName) != "eks-"+multi.ID || !strings.HasPrefix(aws.ToString(spec.LaunchTemplateId), "lt-") || aws.ToString(spec.Version) != "1" {
		t.Errorf("launch template = %+v", spec)
	}
	var overrides []string
	for _, o := range p.LaunchTemplate.Overrides {
		overrides = append(overrides, aws.ToString(o.InstanceType))
	}
	if !slices.Equal(overrides, []string{"t3.large", "t3.xlarge"}) {
		t.Errorf("overrides = %v", overrides)
	}
	if d := p.InstancesDistribution; aws.ToString(d.OnDemandAllocationStrategy) != "prioritized" || aws.ToInt32(d.OnDemandPercentageAboveBaseCapacity) != 100 {
		t.Errorf("instances distribution = %+v", d)
	}
	var tags []string
	for _, tg := range g.Tags {
		if aws.ToString(tg.ResourceId) != multi.ASG || aws.ToString(tg.ResourceType) != "auto-scaling-group" || !aws.ToBool(tg.PropagateAtLaunch) {
			t.Errorf("tag %+v", tg)
		}
		tags = append(tags, aws.ToString(tg.Key)+"="+aws.ToString(tg.Value))
	}
	if want := []string{"eks:cluster-name=c1", "eks:nodegroup-name=multi", "k8s.io/cluster-autoscaler/c1=owned", "k8s.io/cluster-autoscaler/enabled=true", "kubernetes.io/cluster/c1=owned"}; !slices.Equal(tags, want) {
		t.Errorf("tags = %v, want %v", tags, want)
	}
	states := map[string]string{}
	for _, in := range g.Instances {
		states[aws.ToString(in.InstanceId)] = string(in.LifecycleState)
		if aws.ToString(in.HealthStatus) != "Healthy" || aws.ToString(in.InstanceType) != "t3.large" || aws.ToString(in.AvailabilityZone) == "" ||
			aws.ToString(in.LaunchTemplate.Version) != "1" || aws.ToBool(in.ProtectedFromScaleIn) {
			t.Errorf("instance %+v", in)
		}
	}
	want := map[string]string{multiIns[0].ID: "Terminating:Wait", multiIns[1].ID: "Pending", multiIns[2].ID: "InService"}
	if len(states) != 3 || states[multiIns[0].ID] != want[multiIns[0].ID] || states[multiIns[1].ID] != want[multiIns[1].ID] || states[multiIns[2].ID] != want[multiIns[2].ID] {
		t.Errorf("lifecycle states = %v, want %v", states, want)
	}

	// Spot: a mixed instances policy whatever the types, capacity
	// rebalancing; one On-Demand type: the launch template itself.
	out, err = f.client.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{
		AutoScalingGroupNames: []string{spot.ASG, single.ASG, "plain"}, IncludeInstances: aws.Bool(false),
	})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]types.AutoScalingGroup{}
	for _, g := range out.AutoScalingGroups {
		byName[aws.ToString(g.AutoScalingGroupName)] = g
		if len(g.Instances) != 0 {
			t.Errorf("IncludeInstances false: %s lists %d instances", aws.ToString(g.AutoScalingGroupName), len(g.Instances))
		}
	}
	if g := byName[spot.ASG]; g.MixedInstancesPolicy == nil || !aws.ToBool(g.CapacityRebalance) ||
		aws.ToString(g.MixedInstancesPolicy.InstancesDistribution.SpotAllocationStrategy) != "price-capacity-optimized" ||
		aws.ToInt32(g.MixedInstancesPolicy.InstancesDistribution.OnDemandPercentageAboveBaseCapacity) != 0 {
		t.Errorf("spot group = %+v", g)
	}
	if g := byName[single.ASG]; g.MixedInstancesPolicy != nil || g.LaunchTemplate == nil || aws.ToString(g.LaunchTemplate.LaunchTemplateName) != "eks-"+single.ID {
		t.Errorf("single-type group = %+v", g)
	}
	if g := byName["plain"]; !slices.Equal(g.TerminationPolicies, []string{"Default"}) || aws.ToInt32(g.HealthCheckGracePeriod) != 0 || aws.ToString(g.LaunchTemplate.LaunchTemplateName) != "plain" {
		t.Errorf("plain group = %+v", g)
	}

	// Filters, and pages of one.
	all := []string{multi.ASG, single.ASG, spot.ASG, "plain"}
	slices.Sort(all)
	for _, tt := range []struct {
		name    string
		filters []types.Filter
		want    []string
	}{
		{"none", nil, all},
		{"tag:KEY", []types.Filter{{Name: aws.String("tag:eks:nodegroup-name"), Values: []string{"spot", "single"}}}, sorted(spot.ASG, single.ASG)},
		{"tag-key", []types.Filter{{Name: aws.String("tag-key"), Values: []string{"team"}}}, []string{"plain"}},
		{"tag-value", []types.Filter{{Name: aws.String("tag-value"), Values: []string{"multi", "blue"}}}, sorted(multi.ASG, "plain")},
		{"two filters", []types.Filter{
			{Name: aws.String("tag-key"), Values: []string{"k8s.io/cluster-autoscaler/enabled"}},
			{Name: aws.String("tag:eks:nodegroup-name"), Values: []string{"multi"}},
		}, []string{multi.ASG}},
		{"no match", []types.Filter{{Name: aws.String("tag:team"), Values: []string{"red"}}}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pages := autoscaling.NewDescribeAutoScalingGroupsPaginator(f.client, &autoscaling.DescribeAutoScalingGroupsInput{
				Filters: tt.filters, MaxRecords: aws.Int32(1),
			})
			var got []string
			n := 0
			for pages.HasMorePages() {
				page, err := pages.NextPage(ctx)
				if err != nil {
					t.Fatal(err)
				}
				n++
				if len(page.AutoScalingGroups) > 1 {
					t.Errorf("page of %d groups, want at most 1", len(page.AutoScalingGroups))
				}
				got = append(got, names(page.AutoScalingGroups)...)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("groups = %v, want %v", got, tt.want)
			}
			if n != max(1, len(tt.want)) {
				t.Errorf("%d pages, want %d", n, max(1, len(tt.want)))
			}
		})
	}

	_, err = f.client.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{MaxRecords: aws.Int32(101)})
	wantAPIError(t, err, "ValidationError", "1 validation error detected: Value '101' at 'maxRecords' failed to satisfy constraint: Member must have value between 1 and 100")
	_, err = f.client.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{Filters: []types.Filter{{Name: aws.String("instance-type"), Values: []string{"x"}}}})
	wantAPIError(t, err, "ValidationError", "")
	_, err = f.client.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{NextToken: aws.String("!!")})
	wantAPIError(t, err, "InvalidNextToken", "")
}

func sorted(s ...string) []string {
	slices.Sort(s)
	return s
}

// TestResizeMirrorsNodegroup checks that a size change of a node group's
// group becomes the node group's scalingConfig, with the group's record,
// and no EKS update; a plain group changes alone.
func TestResizeMirrorsNodegroup(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	ng, _ := f.nodegroup(t, "ng", nodegroup.CapacityOnDemand, nil, 1, 5, 3)
	f.plain(t, "plain", 0, 3, 0)

	check := func(t *testing.T, want nodegroup.Scaling) {
		t.Helper()
		if got := f.scaling(t, "ng"); got != want {
			t.Errorf("node group scaling = %+v, want %+v", got, want)
		}
		g := f.group(t, ng.ASG)
		if got := (nodegroup.Scaling{Min: g.Min, Max: g.Max, Desired: g.Desired}); got != want {
			t.Errorf("group sizes = %+v, want %+v", got, want)
		}
		out, err := f.client.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{ng.ASG}})
		if err != nil {
			t.Fatal(err)
		}
		if d := out.AutoScalingGroups[0]; int(aws.ToInt32(d.MinSize)) != want.Min || int(aws.ToInt32(d.MaxSize)) != want.Max || int(aws.ToInt32(d.DesiredCapacity)) != want.Desired {
			t.Errorf("described sizes %d/%d/%d, want %+v", aws.ToInt32(d.MinSize), aws.ToInt32(d.MaxSize), aws.ToInt32(d.DesiredCapacity), want)
		}
	}

	if _, err := f.client.SetDesiredCapacity(ctx, &autoscaling.SetDesiredCapacityInput{
		AutoScalingGroupName: aws.String(ng.ASG), DesiredCapacity: aws.Int32(5), HonorCooldown: aws.Bool(true),
	}); err != nil {
		t.Fatal(err)
	}
	check(t, nodegroup.Scaling{Min: 1, Max: 5, Desired: 5})

	if _, err := f.client.UpdateAutoScalingGroup(ctx, &autoscaling.UpdateAutoScalingGroupInput{
		AutoScalingGroupName: aws.String(ng.ASG), MinSize: aws.Int32(2), MaxSize: aws.Int32(8), DesiredCapacity: aws.Int32(4),
	}); err != nil {
		t.Fatal(err)
	}
	check(t, nodegroup.Scaling{Min: 2, Max: 8, Desired: 4})

	// A new maximum below the desired capacity lowers it, a new minimum
	// above it raises it, as Auto Scaling does.
	if _, err := f.client.UpdateAutoScalingGroup(ctx, &autoscaling.UpdateAutoScalingGroupInput{AutoScalingGroupName: aws.String(ng.ASG), MaxSize: aws.Int32(3)}); err != nil {
		t.Fatal(err)
	}
	check(t, nodegroup.Scaling{Min: 2, Max: 3, Desired: 3})
	if _, err := f.client.UpdateAutoScalingGroup(ctx, &autoscaling.UpdateAutoScalingGroupInput{
		AutoScalingGroupName: aws.String(ng.ASG), MinSize: aws.Int32(6), MaxSize: aws.Int32(10),
	}); err != nil {
		t.Fatal(err)
	}
	check(t, nodegroup.Scaling{Min: 6, Max: 10, Desired: 6})

	// Members that repeat the group's configuration are accepted.
	if _, err := f.client.UpdateAutoScalingGroup(ctx, &autoscaling.UpdateAutoScalingGroupInput{
		AutoScalingGroupName: aws.String(ng.ASG), DesiredCapacity: aws.Int32(7),
		HealthCheckType: aws.String("EC2"), DefaultCooldown: aws.Int32(300), HealthCheckGracePeriod: aws.Int32(15),
		VPCZoneIdentifier: aws.String(strings.Join(f.subnets(2), ",")),
	}); err != nil {
		t.Fatal(err)
	}
	check(t, nodegroup.Scaling{Min: 6, Max: 10, Desired: 7})

	stored, _, err := f.nodegroups.Get(ctx, "c1", "ng")
	if err != nil {
		t.Fatal(err)
	}
	if stored.Status != nodegroup.StatusActive {
		t.Errorf("node group status %s, want ACTIVE", stored.Status)
	}
	if ups, err := f.nodegroups.Updates(ctx, "c1", "ng"); err != nil || len(ups) != 0 {
		t.Errorf("updates = %v, %v; want none", ups, err)
	}

	// During a version update the group keeps the update's surge; the
	// node group takes the new size, which the group gets at the end.
	if _, err := f.compute.MutateGroup(ctx, ng.ASG, func(g *compute.Group) ([]store.Op, error) {
		g.Rollout = &compute.Rollout{Desired: g.Desired, Max: g.Max, Surge: 2}
		g.Desired += 2
		g.Max += 2
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.SetDesiredCapacity(ctx, &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: aws.String(ng.ASG), DesiredCapacity: aws.Int32(8)}); err != nil {
		t.Fatal(err)
	}
	if got := f.scaling(t, "ng"); got.Desired != 8 {
		t.Errorf("node group desired %d during an update, want 8", got.Desired)
	}
	if g := f.group(t, ng.ASG); g.Desired != 9 || g.Max != 12 {
		t.Errorf("group desired/max %d/%d during an update, want the surge's 9/12", g.Desired, g.Max)
	}

	// A plain group changes alone.
	if _, err := f.client.SetDesiredCapacity(ctx, &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: aws.String("plain"), DesiredCapacity: aws.Int32(2)}); err != nil {
		t.Fatal(err)
	}
	if g := f.group(t, "plain"); g.Desired != 2 {
		t.Errorf("plain group desired %d, want 2", g.Desired)
	}
}

// TestBadSizes checks the refusals and their Auto Scaling messages.
func TestBadSizes(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	ng, _ := f.nodegroup(t, "ng", nodegroup.CapacityOnDemand, nil, 2, 10, 3)
	f.plain(t, "plain", 1, 3, 1)
	set := func(group string, desired int32) error {
		_, err := f.client.SetDesiredCapacity(ctx, &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: aws.String(group), DesiredCapacity: aws.Int32(desired)})
		return err
	}
	update := func(in autoscaling.UpdateAutoScalingGroupInput) func() error {
		return func() error {
			_, err := f.client.UpdateAutoScalingGroup(ctx, &in)
			return err
		}
	}
	for _, tt := range []struct {
		name string
		call func() error
		code string
		msg  string
	}{
		{"desired above max", func() error { return set(ng.ASG, 12) }, "ValidationError",
			"New SetDesiredCapacity value 12 is above max value 10 for the AutoScalingGroup."},
		{"desired below min", func() error { return set(ng.ASG, 1) }, "ValidationError",
			"New SetDesiredCapacity value 1 is below min value 2 for the AutoScalingGroup."},
		{"plain desired above max", func() error { return set("plain", 4) }, "ValidationError",
			"New SetDesiredCapacity value 4 is above max value 3 for the AutoScalingGroup."},
		{"unknown group", func() error { return set("nope", 1) }, "ValidationError",
			"AutoScalingGroup name not found - AutoScalingGroup 'nope' not found"},
		{"min above max", update(autoscaling.UpdateAutoScalingGroupInput{AutoScalingGroupName: aws.String(ng.ASG), MinSize: aws.Int32(5), MaxSize: aws.Int32(3)}), "ValidationError",
			"Max bound, 3, must be greater than or equal to min bound, 5"},
		{"max below min", update(autoscaling.UpdateAutoScalingGroupInput{AutoScalingGroupName: aws.String(ng.ASG), MaxSize: aws.Int32(1)}), "ValidationError",
			"Max bound, 1, must be greater than or equal to min bound, 2"},
		{"desired outside", update(autoscaling.UpdateAutoScalingGroupInput{AutoScalingGroupName: aws.String(ng.ASG), DesiredCapacity: aws.Int32(11)}), "ValidationError",
			"Desired capacity:11 must be between the specified min size:2 and max size:10"},
		{"negative", update(autoscaling.UpdateAutoScalingGroupInput{AutoScalingGroupName: aws.String(ng.ASG), MinSize: aws.Int32(-1)}), "ValidationError",
			"1 validation error detected: Value '-1' at 'minSize' failed to satisfy constraint: Member must have value greater than or equal to 0"},
		{"node group max zero", update(autoscaling.UpdateAutoScalingGroupInput{AutoScalingGroupName: aws.String(ng.ASG), MinSize: aws.Int32(0), MaxSize: aws.Int32(0)}), "ValidationError",
			"maxSize must be greater than or equal to 1, not 0."},
		{"node group quota", update(autoscaling.UpdateAutoScalingGroupInput{AutoScalingGroupName: aws.String(ng.ASG), MaxSize: aws.Int32(21)}), "ValidationError",
			"maxSize 21 is greater than the quota of 20 nodes per managed node group."},
		{"unsupported member", update(autoscaling.UpdateAutoScalingGroupInput{AutoScalingGroupName: aws.String(ng.ASG), HealthCheckType: aws.String("ELB"), DefaultCooldown: aws.Int32(60)}), "ValidationError",
			"berth does not support changing DefaultCooldown, HealthCheckType yet"},
		{"launch template", update(autoscaling.UpdateAutoScalingGroupInput{AutoScalingGroupName: aws.String(ng.ASG), LaunchTemplate: &types.LaunchTemplateSpecification{LaunchTemplateId: aws.String("lt-1"), Version: aws.String("2")}}), "ValidationError",
			"berth does not support changing LaunchTemplate yet"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantAPIError(t, tt.call(), tt.code, tt.msg)
		})
	}
	if got := f.scaling(t, "ng"); got != (nodegroup.Scaling{Min: 2, Max: 10, Desired: 3}) {
		t.Errorf("refused changes left the node group at %+v", got)
	}

	// A node group being deleted.
	if _, err := f.nodegroups.Delete(ctx, "c1", "ng"); err != nil {
		t.Fatal(err)
	}
	wantAPIError(t, set(ng.ASG, 4), "ValidationError", "The AutoScaling group may not be modified while it is pending delete")
}

// TestTerminateInstance checks TerminateInstanceInAutoScalingGroup with
// and without decrement, on a node group's group and a plain one.
func TestTerminateInstance(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	ng, ins := f.nodegroup(t, "ng", nodegroup.CapacityOnDemand, nil, 1, 5, 3)
	plain := f.plain(t, "plain", 0, 3, 2)
	plainIns := f.launch(t, plain, 2)

	// With decrement: the group and the node group shrink by one, in the
	// same commit, and the instance is drained away.
	out, err := f.client.TerminateInstanceInAutoScalingGroup(ctx, &autoscaling.TerminateInstanceInAutoScalingGroupInput{
		InstanceId: aws.String(ins[0].ID), ShouldDecrementDesiredCapacity: aws.Bool(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	a := out.Activity
	if a == nil || aws.ToString(a.AutoScalingGroupName) != ng.ASG || aws.ToString(a.Description) != "Terminating EC2 instance: "+ins[0].ID ||
		a.StatusCode != types.ScalingActivityStatusCodeInProgress || aws.ToInt32(a.Progress) != 0 || aws.ToString(a.ActivityId) == "" ||
		!strings.HasSuffix(aws.ToString(a.Cause), "instance "+ins[0].ID+" was taken out of service in response to a user request, shrinking the capacity from 3 to 2.") ||
		!strings.Contains(aws.ToString(a.Details), `"Subnet ID":"`+ins[0].SubnetID+`"`) {
		t.Errorf("activity = %+v", a)
	}
	if got := f.scaling(t, "ng"); got.Desired != 2 {
		t.Errorf("node group desired %d, want 2", got.Desired)
	}
	if g := f.group(t, ng.ASG); g.Desired != 2 {
		t.Errorf("group desired %d, want 2", g.Desired)
	}
	if in := f.instance(t, ins[0].ID); in.Drain == nil || !in.Drain.Force || in.State != compute.StateRunning {
		t.Errorf("instance taken out: drain %+v, state %s", in.Drain, in.State)
	}

	// Again: the activity is in progress.
	_, err = f.client.TerminateInstanceInAutoScalingGroup(ctx, &autoscaling.TerminateInstanceInAutoScalingGroupInput{
		InstanceId: aws.String(ins[0].ID), ShouldDecrementDesiredCapacity: aws.Bool(true),
	})
	wantAPIError(t, err, "ScalingActivityInProgress", "Activity "+aws.ToString(a.ActivityId)+" is in progress.")

	// Without decrement: the sizes stay and a replacement comes.
	if _, err := f.client.TerminateInstanceInAutoScalingGroup(ctx, &autoscaling.TerminateInstanceInAutoScalingGroupInput{
		InstanceId: aws.String(ins[1].ID), ShouldDecrementDesiredCapacity: aws.Bool(false),
	}); err != nil {
		t.Fatal(err)
	}
	if got := f.scaling(t, "ng"); got.Desired != 2 {
		t.Errorf("node group desired %d, want 2", got.Desired)
	}
	if g := f.group(t, ng.ASG); g.Desired != 2 {
		t.Errorf("group desired %d, want 2", g.Desired)
	}
	if in := f.instance(t, ins[1].ID); in.Drain == nil {
		t.Errorf("instance %s not taken out", in.ID)
	}

	// Down to the minimum.
	if _, err := f.client.TerminateInstanceInAutoScalingGroup(ctx, &autoscaling.TerminateInstanceInAutoScalingGroupInput{
		InstanceId: aws.String(ins[2].ID), ShouldDecrementDesiredCapacity: aws.Bool(true),
	}); err != nil {
		t.Fatal(err)
	}
	if got := f.scaling(t, "ng"); got.Desired != 1 {
		t.Errorf("node group desired %d, want 1", got.Desired)
	}
	more := f.launch(t, f.group(t, ng.ASG), 1)
	_, err = f.client.TerminateInstanceInAutoScalingGroup(ctx, &autoscaling.TerminateInstanceInAutoScalingGroupInput{
		InstanceId: aws.String(more[0].ID), ShouldDecrementDesiredCapacity: aws.Bool(true),
	})
	wantAPIError(t, err, "ValidationError", "Currently, desiredSize equals minSize (1). Terminating instance without replacement will violate group's min size constraint. Either set shouldDecrementDesiredCapacity flag to false or lower group's min size.")

	// Several instances of a plain group in one call.
	two, err := f.client.TerminateInstanceInAutoScalingGroup(ctx, &autoscaling.TerminateInstanceInAutoScalingGroupInput{
		AutoScalingGroupName: aws.String("plain"), InstanceIds: []string{plainIns[0].ID, plainIns[1].ID}, ShouldDecrementDesiredCapacity: aws.Bool(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(two.Activities) != 2 || two.Activity != nil {
		t.Errorf("activities = %+v, activity %+v; want two activities", two.Activities, two.Activity)
	}
	if g := f.group(t, "plain"); g.Desired != 0 {
		t.Errorf("plain group desired %d, want 0", g.Desired)
	}

	// Unknown instances, instances in no group, in another group.
	loose, err := f.compute.Launch(ctx, []compute.LaunchSpec{{Type: "m5.large", SubnetID: f.subnets(1)[0]}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		in   autoscaling.TerminateInstanceInAutoScalingGroupInput
		msg  string
	}{
		{"unknown", autoscaling.TerminateInstanceInAutoScalingGroupInput{InstanceId: aws.String("i-0123456789abcdef0")},
			"Instance Id not found - No managed instance found for instance ID: i-0123456789abcdef0"},
		{"in no group", autoscaling.TerminateInstanceInAutoScalingGroupInput{InstanceId: aws.String(loose[0].ID)},
			"Instance Id not found - No managed instance found for instance ID: " + loose[0].ID},
		{"in another group", autoscaling.TerminateInstanceInAutoScalingGroupInput{AutoScalingGroupName: aws.String("plain"), InstanceIds: []string{more[0].ID}},
			"The instance " + more[0].ID + " is not part of Auto Scaling group plain."},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.in.ShouldDecrementDesiredCapacity = aws.Bool(false)
			_, err := f.client.TerminateInstanceInAutoScalingGroup(ctx, &tt.in)
			wantAPIError(t, err, "ValidationError", tt.msg)
		})
	}
}

// TestDescribeScalingActivities checks the activities of the groups,
// newest first, a termination that became Successful, and paging.
func TestDescribeScalingActivities(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	ng, ins := f.nodegroup(t, "ng", nodegroup.CapacityOnDemand, nil, 0, 5, 3)
	f.plain(t, "plain", 0, 3, 0)
	// The group controller's launch records.
	if _, err := f.compute.MutateGroup(ctx, ng.ASG, func(g *compute.Group) ([]store.Op, error) {
		for _, in := range ins {
			g.Activities = append(g.Activities, compute.Activity{
				ID: "launch-" + in.ID, Description: "Launching a new EC2 instance: " + in.ID,
				Cause:     "At 2026-03-14T09:27:00Z an instance was started in response to a difference between desired and actual capacity, increasing the capacity from 0 to 3.",
				StartTime: epoch, EndTime: epoch, Status: "Successful",
			})
		}
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	var terminations []string
	for _, in := range ins[:2] {
		out, err := f.client.TerminateInstanceInAutoScalingGroup(ctx, &autoscaling.TerminateInstanceInAutoScalingGroupInput{
			InstanceId: aws.String(in.ID), ShouldDecrementDesiredCapacity: aws.Bool(true),
		})
		if err != nil {
			t.Fatal(err)
		}
		terminations = append(terminations, aws.ToString(out.Activity.ActivityId))
	}
	// The first termination finished.
	f.mutate(t, []string{ins[0].ID}, func(in *compute.Instance) {
		in.State, in.TerminatedAt = compute.StateTerminated, epoch.Add(time.Hour)
	})

	out, err := f.client.DescribeScalingActivities(ctx, &autoscaling.DescribeScalingActivitiesInput{AutoScalingGroupName: aws.String(ng.ASG)})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, a := range out.Activities {
		ids = append(ids, aws.ToString(a.ActivityId))
		if aws.ToString(a.AutoScalingGroupName) != ng.ASG || aws.ToString(a.AutoScalingGroupARN) != f.compute.GroupARN(ng.ASG, ng.ID) {
			t.Errorf("activity %+v", a)
		}
	}
	// Launches started together list newest recorded first.
	want := []string{terminations[1], terminations[0], "launch-" + ins[2].ID, "launch-" + ins[1].ID, "launch-" + ins[0].ID}
	if !slices.Equal(ids, want) {
		t.Fatalf("activities %v, want %v", ids, want)
	}
	done, running := out.Activities[1], out.Activities[0]
	if done.StatusCode != types.ScalingActivityStatusCodeSuccessful || aws.ToInt32(done.Progress) != 100 || !aws.ToTime(done.EndTime).Equal(epoch.Add(time.Hour)) {
		t.Errorf("finished termination = %+v", done)
	}
	if running.StatusCode != types.ScalingActivityStatusCodeInProgress || running.EndTime != nil {
		t.Errorf("running termination = %+v", running)
	}
	if launch := out.Activities[2]; launch.StatusCode != types.ScalingActivityStatusCodeSuccessful || !strings.Contains(aws.ToString(launch.Details), ins[2].AZ) {
		t.Errorf("launch = %+v", launch)
	}

	// By id, by status, for every group, and pages of two.
	byID, err := f.client.DescribeScalingActivities(ctx, &autoscaling.DescribeScalingActivitiesInput{ActivityIds: []string{terminations[0]}})
	if err != nil || len(byID.Activities) != 1 || aws.ToString(byID.Activities[0].ActivityId) != terminations[0] {
		t.Errorf("by id: %+v, %v", byID, err)
	}
	inProgress, err := f.client.DescribeScalingActivities(ctx, &autoscaling.DescribeScalingActivitiesInput{
		AutoScalingGroupName: aws.String(ng.ASG), Filters: []types.Filter{{Name: aws.String("Status"), Values: []string{"InProgress"}}},
	})
	if err != nil || len(inProgress.Activities) != 1 || aws.ToString(inProgress.Activities[0].ActivityId) != terminations[1] {
		t.Errorf("in progress: %+v, %v", inProgress, err)
	}
	pages := autoscaling.NewDescribeScalingActivitiesPaginator(f.client, &autoscaling.DescribeScalingActivitiesInput{MaxRecords: aws.Int32(2)})
	var paged []string
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range page.Activities {
			paged = append(paged, aws.ToString(a.ActivityId))
		}
	}
	if !slices.Equal(paged, want) {
		t.Errorf("paged %v, want %v", paged, want)
	}
	none, err := f.client.DescribeScalingActivities(ctx, &autoscaling.DescribeScalingActivitiesInput{AutoScalingGroupName: aws.String("nope")})
	if err != nil || len(none.Activities) != 0 {
		t.Errorf("unknown group: %+v, %v", none, err)
	}
}

// TestAuthentication checks that every request is signed for
// autoscaling and berth's region with a key berth knows, and the
// protocol errors.
func TestAuthentication(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	root, err := f.keys.EnsureRoot(ctx, account)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.sdk("AKIAUNKNOWNKEY000000", "secret", region).DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{})
	wantAPIError(t, err, "InvalidClientTokenId", "")
	_, err = f.sdk(root.AccessKeyID, root.SecretAccessKey, "eu-west-1").DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{})
	wantAPIError(t, err, "SignatureDoesNotMatch", "Credential should be scoped to a valid region.")
	_, err = f.sdk(root.AccessKeyID, "wrong", region).DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{})
	wantAPIError(t, err, "SignatureDoesNotMatch", "")

	resp, err := http.Post(f.url, "application/x-www-form-urlencoded", strings.NewReader("Action=DescribeAutoScalingGroups&Version=2011-01-01"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "<Code>MissingAuthenticationToken</Code>") ||
		!strings.Contains(string(body), `<ErrorResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/">`) ||
		!strings.Contains(string(body), "<Type>Sender</Type>") {
		t.Errorf("unsigned: %d %s", resp.StatusCode, body)
	}
}

// TestResizer checks the Resizer as berth's autoscaler uses it, without
// the API: SetDesired and TerminateInstance keep the node group in step.
func TestResizer(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	ng, ins := f.nodegroup(t, "ng", nodegroup.CapacityOnDemand, nil, 0, 4, 2)
	r, err := asgapi.NewResizer(asgapi.ResizerConfig{Compute: f.compute, Nodegroups: f.nodegroups})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.SetDesired(ctx, ng.ASG, 4); err != nil {
		t.Fatal(err)
	}
	if err := r.TerminateInstance(ctx, ins[0].ID, true); err != nil {
		t.Fatal(err)
	}
	if got := f.scaling(t, "ng"); got != (nodegroup.Scaling{Min: 0, Max: 4, Desired: 3}) {
		t.Errorf("node group scaling %+v, want 0/4/3", got)
	}
	if g := f.group(t, ng.ASG); g.Desired != 3 || len(g.Activities) != 1 {
		t.Errorf("group desired %d with %d activities, want 3 with 1", g.Desired, len(g.Activities))
	}
	err = r.SetDesired(ctx, ng.ASG, 5)
	if e, ok := apierror.As(err); !ok || e.Kind != apierror.InvalidParameter {
		t.Errorf("SetDesired above max: %v, want InvalidParameter", err)
	}
}
