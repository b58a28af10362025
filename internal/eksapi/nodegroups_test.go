package eksapi_test

import (
	"errors"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"

	"github.com/berthproject/berth/internal/cluster"
	berthcreds "github.com/berthproject/berth/internal/credentials"
	"github.com/berthproject/berth/internal/eksapi"
	"github.com/berthproject/berth/internal/nodegroup"
	"github.com/berthproject/berth/internal/sigv4"
	"github.com/berthproject/berth/internal/store"
	"github.com/berthproject/berth/internal/versions"
	"github.com/berthproject/berth/internal/vpc"
)

// ngFixture is the API with node groups: the cluster service knows the
// node groups through its hook, as the daemon wires it.
type ngFixture struct {
	*fixture
	nodegroups *nodegroup.Service
}

func newNodegroupFixture(t *testing.T) *ngFixture {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "berth.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	keys := berthcreds.NewKeyring(st)
	key, err := keys.EnsureRoot(t.Context(), account)
	if err != nil {
		t.Fatal(err)
	}
	network := vpc.Default(account, "us-east-1")
	clusters, err := cluster.New(cluster.Config{
		Store: st, Network: network, Versions: versions.Builtin("1.37.2"), Account: account, Region: "us-east-1",
		Nodegroups: nodegroup.Attached(st),
	})
	if err != nil {
		t.Fatal(err)
	}
	nodegroups, err := nodegroup.New(nodegroup.Config{Store: st, Clusters: clusters, Network: network, Account: account, Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := sigv4.New(sigv4.Config{Credentials: keys})
	if err != nil {
		t.Fatal(err)
	}
	// The hold is long enough that every test that describes a group in
	// a transitional state ends that state itself.
	h, err := eksapi.New(eksapi.Config{Clusters: clusters, Nodegroups: nodegroups, Auth: verifier, Changes: st, DescribeHold: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	client := eks.New(eks.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider(key.AccessKeyID, key.SecretAccessKey, ""),
	})
	return &ngFixture{fixture: &fixture{url: srv.URL, client: client, clusters: clusters, net: network, key: key}, nodegroups: nodegroups}
}

// activeCluster creates a cluster and makes it ACTIVE, as the controller
// would.
func (f *ngFixture) activeCluster(t *testing.T, name, version string) {
	t.Helper()
	in := f.createInput(name)
	in.Version = aws.String(version)
	if _, err := f.client.CreateCluster(t.Context(), in); err != nil {
		t.Fatal(err)
	}
	if _, err := f.clusters.Mutate(t.Context(), name, func(c *cluster.Cluster) ([]store.Op, error) {
		c.Status = cluster.StatusActive
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
}

func (f *ngFixture) nodegroupInput(clusterName, name string) *eks.CreateNodegroupInput {
	return &eks.CreateNodegroupInput{
		ClusterName:   aws.String(clusterName),
		NodegroupName: aws.String(name),
		NodeRole:      aws.String("arn:aws:iam::000000000000:role/node"),
		Subnets:       f.subnets(2),
	}
}

// later runs fn shortly, in the background, as a controller would, and
// reports its error at the end of the test.
func later(t *testing.T, fn func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		time.Sleep(50 * time.Millisecond)
		done <- fn()
	}()
	t.Cleanup(func() {
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
}

// activate makes a node group ACTIVE, finishing its update in progress.
func (f *ngFixture) activate(t *testing.T, clusterName, name string) error {
	ups, err := f.nodegroups.Updates(t.Context(), clusterName, name)
	if err != nil {
		return err
	}
	for _, u := range ups {
		if u.Status == cluster.UpdateInProgress {
			if err := f.clusters.FinishUpdate(t.Context(), u, cluster.UpdateSuccessful, nil); err != nil {
				return err
			}
		}
	}
	_, err = f.nodegroups.Mutate(t.Context(), clusterName, name, func(ng *nodegroup.Nodegroup) ([]store.Op, error) {
		ng.Status = nodegroup.StatusActive
		return nil, nil
	})
	return err
}

func TestNodegroupLifecycle(t *testing.T) {
	f := newNodegroupFixture(t)
	ctx := t.Context()
	f.activeCluster(t, "demo", "1.37")

	in := f.nodegroupInput("demo", "ng1")
	in.Labels = map[string]string{"team": "a"}
	in.Taints = []ekstypes.Taint{{Key: aws.String("dedicated"), Value: aws.String("gpu"), Effect: ekstypes.TaintEffectNoSchedule}}
	in.Tags = map[string]string{"owner": "me"}
	in.ScalingConfig = &ekstypes.NodegroupScalingConfig{MinSize: aws.Int32(1), MaxSize: aws.Int32(3), DesiredSize: aws.Int32(2)}
	in.ClientRequestToken = aws.String("t1")
	out, err := f.client.CreateNodegroup(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	ng := out.Nodegroup
	if ng.Status != ekstypes.NodegroupStatusCreating || *ng.ClusterName != "demo" || *ng.NodegroupName != "ng1" ||
		!strings.HasPrefix(*ng.NodegroupArn, "arn:aws:eks:us-east-1:000000000000:nodegroup/demo/ng1/") {
		t.Fatalf("created %+v", ng)
	}
	if *ng.Version != "1.37" || *ng.ReleaseVersion != "1.37.2-20261120" || ng.AmiType != ekstypes.AMITypesAl2023X8664Standard ||
		ng.CapacityType != ekstypes.CapacityTypesOnDemand || strings.Join(ng.InstanceTypes, ",") != "t3.medium" || *ng.DiskSize != 20 {
		t.Errorf("defaults: %s %s %s %s %v %d", *ng.Version, *ng.ReleaseVersion, ng.AmiType, ng.CapacityType, ng.InstanceTypes, *ng.DiskSize)
	}
	if sc := ng.ScalingConfig; *sc.MinSize != 1 || *sc.MaxSize != 3 || *sc.DesiredSize != 2 {
		t.Errorf("scaling %+v", sc)
	}
	id := strings.TrimPrefix(*ng.NodegroupArn, "arn:aws:eks:us-east-1:000000000000:nodegroup/demo/ng1/")
	if r := ng.Resources; len(r.AutoScalingGroups) != 1 || *r.AutoScalingGroups[0].Name != "eks-ng1-"+id || r.RemoteAccessSecurityGroup != nil {
		t.Errorf("resources %+v", r)
	}
	if ng.Health == nil || len(ng.Health.Issues) != 0 || *ng.UpdateConfig.MaxUnavailable != 1 || *ng.NodeRepairConfig.Enabled {
		t.Errorf("health %+v updateConfig %+v nodeRepair %+v", ng.Health, ng.UpdateConfig, ng.NodeRepairConfig)
	}
	if ng.Labels["team"] != "a" || ng.Tags["owner"] != "me" || len(ng.Taints) != 1 || ng.Taints[0].Effect != ekstypes.TaintEffectNoSchedule || *ng.Taints[0].Value != "gpu" {
		t.Errorf("labels %v tags %v taints %+v", ng.Labels, ng.Tags, ng.Taints)
	}
	if ng.CreatedAt == nil || time.Since(*ng.CreatedAt) > time.Minute || ng.ModifiedAt == nil || ng.RemoteAccess != nil || ng.LaunchTemplate != nil {
		t.Errorf("createdAt %v modifiedAt %v", ng.CreatedAt, ng.ModifiedAt)
	}

	// Same token: the same node group. Another token: in use.
	again, err := f.client.CreateNodegroup(ctx, in)
	if err != nil || *again.Nodegroup.NodegroupArn != *ng.NodegroupArn {
		t.Fatalf("idempotent create: %v", err)
	}
	in.ClientRequestToken = aws.String("t2")
	_, err = f.client.CreateNodegroup(ctx, in)
	var inUse *ekstypes.ResourceInUseException
	if !errors.As(err, &inUse) || *inUse.NodegroupName != "ng1" || *inUse.ClusterName != "demo" || !strings.Contains(*inUse.Message, "NodeGroup already exists") {
		t.Fatalf("duplicate create: %v", err)
	}

	// The waiter returns on its first poll: DescribeNodegroup holds while
	// the group is CREATING.
	later(t, func() error { return f.activate(t, "demo", "ng1") })
	if err := eks.NewNodegroupActiveWaiter(f.client).Wait(ctx, &eks.DescribeNodegroupInput{ClusterName: aws.String("demo"), NodegroupName: aws.String("ng1")}, time.Minute); err != nil {
		t.Fatalf("wait nodegroup-active: %v", err)
	}

	for _, n := range []string{"ng3", "ng2"} {
		if _, err := f.client.CreateNodegroup(ctx, f.nodegroupInput("demo", n)); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	pager := eks.NewListNodegroupsPaginator(f.client, &eks.ListNodegroupsInput{ClusterName: aws.String("demo"), MaxResults: aws.Int32(2)})
	pages := 0
	for pager.HasMorePages() {
		p, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		names = append(names, p.Nodegroups...)
	}
	if strings.Join(names, ",") != "ng1,ng2,ng3" || pages != 2 {
		t.Errorf("list = %v in %d pages", names, pages)
	}

	up, err := f.client.UpdateNodegroupConfig(ctx, &eks.UpdateNodegroupConfigInput{
		ClusterName: aws.String("demo"), NodegroupName: aws.String("ng1"),
		Labels:        &ekstypes.UpdateLabelsPayload{AddOrUpdateLabels: map[string]string{"env": "prod"}, RemoveLabels: []string{"team"}},
		Taints:        &ekstypes.UpdateTaintsPayload{RemoveTaints: []ekstypes.Taint{{Key: aws.String("dedicated"), Effect: ekstypes.TaintEffectNoSchedule}}},
		ScalingConfig: &ekstypes.NodegroupScalingConfig{DesiredSize: aws.Int32(3)},
	})
	if err != nil {
		t.Fatal(err)
	}
	u := up.Update
	if u.Status != ekstypes.UpdateStatusInProgress || u.Type != ekstypes.UpdateTypeConfigUpdate || u.CreatedAt == nil {
		t.Fatalf("update %+v", u)
	}
	params := map[ekstypes.UpdateParamType]string{}
	for _, p := range u.Params {
		params[p.Type] = *p.Value
	}
	if params[ekstypes.UpdateParamTypeLabelsToAdd] != `{"env":"prod"}` || params[ekstypes.UpdateParamTypeLabelsToRemove] != `["team"]` ||
		params[ekstypes.UpdateParamTypeDesiredSize] != "3" || params[ekstypes.UpdateParamTypeTaintsToRemove] != `[{"key":"dedicated","effect":"NO_SCHEDULE"}]` {
		t.Errorf("params %v", params)
	}
	// Node group updates are seen with nodegroupName, and only with it.
	d, err := f.client.DescribeUpdate(ctx, &eks.DescribeUpdateInput{Name: aws.String("demo"), UpdateId: u.Id, NodegroupName: aws.String("ng1")})
	if err != nil || *d.Update.Id != *u.Id {
		t.Fatalf("describe update: %v", err)
	}
	var nf *ekstypes.ResourceNotFoundException
	if _, err := f.client.DescribeUpdate(ctx, &eks.DescribeUpdateInput{Name: aws.String("demo"), UpdateId: u.Id}); !errors.As(err, &nf) {
		t.Errorf("describe a node group update as a cluster update: %v", err)
	}
	if _, err := f.client.DescribeUpdate(ctx, &eks.DescribeUpdateInput{Name: aws.String("demo"), UpdateId: u.Id, NodegroupName: aws.String("nope")}); !errors.As(err, &nf) || *nf.NodegroupName != "nope" {
		t.Errorf("describe update of a missing node group: %v", err)
	}
	l, err := f.client.ListUpdates(ctx, &eks.ListUpdatesInput{Name: aws.String("demo"), NodegroupName: aws.String("ng1")})
	if err != nil || len(l.UpdateIds) != 1 || l.UpdateIds[0] != *u.Id {
		t.Errorf("list node group updates: %v %v", l, err)
	}
	if l, err := f.client.ListUpdates(ctx, &eks.ListUpdatesInput{Name: aws.String("demo")}); err != nil || len(l.UpdateIds) != 0 {
		t.Errorf("list cluster updates: %v %v", l, err)
	}
	if _, err := f.client.UpdateNodegroupConfig(ctx, &eks.UpdateNodegroupConfigInput{
		ClusterName: aws.String("demo"), NodegroupName: aws.String("ng1"), ScalingConfig: &ekstypes.NodegroupScalingConfig{DesiredSize: aws.Int32(1)},
	}); apiCode(err) != "ResourceInUseException" {
		t.Errorf("second update: %v", err)
	}

	// The desired configuration shows at once; the hold ends with the
	// update.
	later(t, func() error { return f.activate(t, "demo", "ng1") })
	desc, err := f.client.DescribeNodegroup(ctx, &eks.DescribeNodegroupInput{ClusterName: aws.String("demo"), NodegroupName: aws.String("ng1")})
	if err != nil {
		t.Fatal(err)
	}
	if g := desc.Nodegroup; g.Status != ekstypes.NodegroupStatusActive || g.Labels["env"] != "prod" || g.Labels["team"] != "" || len(g.Taints) != 0 || *g.ScalingConfig.DesiredSize != 3 {
		t.Errorf("after update: %s %v %v %d", g.Status, g.Labels, g.Taints, *g.ScalingConfig.DesiredSize)
	}
	d, err = f.client.DescribeUpdate(ctx, &eks.DescribeUpdateInput{Name: aws.String("demo"), UpdateId: u.Id, NodegroupName: aws.String("ng1")})
	if err != nil || d.Update.Status != ekstypes.UpdateStatusSuccessful {
		t.Errorf("finished update: %v %+v", err, d)
	}
	var ip *ekstypes.InvalidParameterException
	if _, err := f.client.UpdateNodegroupVersion(ctx, &eks.UpdateNodegroupVersionInput{ClusterName: aws.String("demo"), NodegroupName: aws.String("ng1")}); !errors.As(err, &ip) ||
		!strings.Contains(*ip.Message, "No changes needed") || *ip.NodegroupName != "ng1" {
		t.Errorf("version update to the same version: %v", err)
	}

	// Tags on node group ARNs.
	arn := ng.NodegroupArn
	if _, err := f.client.TagResource(ctx, &eks.TagResourceInput{ResourceArn: arn, Tags: map[string]string{"x": "1"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.UntagResource(ctx, &eks.UntagResourceInput{ResourceArn: arn, TagKeys: []string{"owner"}}); err != nil {
		t.Fatal(err)
	}
	tags, err := f.client.ListTagsForResource(ctx, &eks.ListTagsForResourceInput{ResourceArn: arn})
	if err != nil || len(tags.Tags) != 1 || tags.Tags["x"] != "1" {
		t.Errorf("tags %v %v", tags, err)
	}
	var tnf *ekstypes.NotFoundException
	for _, bad := range []string{
		"arn:aws:eks:us-east-1:000000000000:nodegroup/demo/ng1/00000000-0000-0000-0000-000000000000", // a deleted group of the same name
		"arn:aws:eks:us-east-1:000000000000:nodegroup/demo/nope/" + id,
		"arn:aws:eks:us-east-1:000000000000:nodegroup/demo/ng1",
		"arn:aws:eks:us-east-1:000000000000:nodegroup/nope/ng1/" + id,
	} {
		if _, err := f.client.ListTagsForResource(ctx, &eks.ListTagsForResourceInput{ResourceArn: aws.String(bad)}); !errors.As(err, &tnf) {
			t.Errorf("list tags of %s: %v", bad, err)
		}
		if _, err := f.client.TagResource(ctx, &eks.TagResourceInput{ResourceArn: aws.String(bad), Tags: map[string]string{"a": "b"}}); !errors.As(err, &tnf) {
			t.Errorf("tag %s: %v", bad, err)
		}
	}

	// A cluster with node groups cannot be deleted.
	_, err = f.client.DeleteCluster(ctx, &eks.DeleteClusterInput{Name: aws.String("demo")})
	if !errors.As(err, &inUse) || *inUse.Message != "Cluster has nodegroups attached" || inUse.NodegroupName == nil {
		t.Errorf("delete cluster with node groups: %v", err)
	}

	del, err := f.client.DeleteNodegroup(ctx, &eks.DeleteNodegroupInput{ClusterName: aws.String("demo"), NodegroupName: aws.String("ng1")})
	if err != nil || del.Nodegroup.Status != ekstypes.NodegroupStatusDeleting {
		t.Fatalf("delete: %v", err)
	}
	if again, err := f.client.DeleteNodegroup(ctx, &eks.DeleteNodegroupInput{ClusterName: aws.String("demo"), NodegroupName: aws.String("ng1")}); err != nil ||
		again.Nodegroup.Status != ekstypes.NodegroupStatusDeleting {
		t.Errorf("second delete: %v", err)
	}
	// The deleted waiter returns on its first poll too: the hold ends
	// when the record goes.
	later(t, func() error { return f.nodegroups.Remove(t.Context(), "demo", "ng1") })
	if err := eks.NewNodegroupDeletedWaiter(f.client).Wait(ctx, &eks.DescribeNodegroupInput{ClusterName: aws.String("demo"), NodegroupName: aws.String("ng1")}, time.Minute); err != nil {
		t.Fatalf("wait nodegroup-deleted: %v", err)
	}
	if _, err := f.client.DescribeUpdate(ctx, &eks.DescribeUpdateInput{Name: aws.String("demo"), UpdateId: u.Id, NodegroupName: aws.String("ng1")}); !errors.As(err, &nf) {
		t.Errorf("update of a removed node group: %v", err)
	}
}

func TestNodegroupVersionUpdate(t *testing.T) {
	f := newNodegroupFixture(t)
	ctx := t.Context()
	f.activeCluster(t, "up", "1.36")
	if _, err := f.client.CreateNodegroup(ctx, f.nodegroupInput("up", "ng")); err != nil {
		t.Fatal(err)
	}
	if err := f.activate(t, "up", "ng"); err != nil {
		t.Fatal(err)
	}
	// The control plane moves first, then the node group follows.
	if _, err := f.client.UpdateClusterVersion(ctx, &eks.UpdateClusterVersionInput{Name: aws.String("up"), Version: aws.String("1.37")}); err != nil {
		t.Fatal(err)
	}
	cus, err := f.clusters.Updates(ctx, "up")
	if err != nil || len(cus) != 1 {
		t.Fatalf("cluster updates: %v %v", cus, err)
	}
	if err := f.clusters.FinishUpdate(ctx, cus[0], cluster.UpdateSuccessful, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := f.clusters.Mutate(ctx, "up", func(c *cluster.Cluster) ([]store.Op, error) {
		c.Version, c.Status = "1.37", cluster.StatusActive
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	var ip *ekstypes.InvalidParameterException
	if _, err := f.client.UpdateNodegroupVersion(ctx, &eks.UpdateNodegroupVersionInput{
		ClusterName: aws.String("up"), NodegroupName: aws.String("ng"), Version: aws.String("1.37"), ReleaseVersion: aws.String("1.37.0-20200101"),
	}); !errors.As(err, &ip) || !strings.Contains(*ip.Message, "Allowed release version is 1.37.2-20261120") {
		t.Errorf("wrong release: %v", err)
	}
	if _, err := f.client.UpdateNodegroupVersion(ctx, &eks.UpdateNodegroupVersionInput{
		ClusterName: aws.String("up"), NodegroupName: aws.String("ng"), LaunchTemplate: &ekstypes.LaunchTemplateSpecification{Name: aws.String("lt")},
	}); !errors.As(err, &ip) {
		t.Errorf("launch template: %v", err)
	}
	out, err := f.client.UpdateNodegroupVersion(ctx, &eks.UpdateNodegroupVersionInput{ClusterName: aws.String("up"), NodegroupName: aws.String("ng"), Force: true})
	if err != nil {
		t.Fatal(err)
	}
	u := out.Update
	if u.Type != ekstypes.UpdateTypeVersionUpdate || u.Status != ekstypes.UpdateStatusInProgress || len(u.Params) != 2 ||
		u.Params[0].Type != ekstypes.UpdateParamTypeVersion || *u.Params[0].Value != "1.37" ||
		u.Params[1].Type != ekstypes.UpdateParamTypeReleaseVersion || *u.Params[1].Value != "1.37.2-20261120" {
		t.Fatalf("update %+v", u)
	}
	later(t, func() error { return f.activate(t, "up", "ng") })
	desc, err := f.client.DescribeNodegroup(ctx, &eks.DescribeNodegroupInput{ClusterName: aws.String("up"), NodegroupName: aws.String("ng")})
	if err != nil || desc.Nodegroup.Status != ekstypes.NodegroupStatusActive || *desc.Nodegroup.Version != "1.37" || *desc.Nodegroup.ReleaseVersion != "1.37.2-20261120" {
		t.Fatalf("after version update: %v %+v", err, desc)
	}
}

func TestNodegroupErrors(t *testing.T) {
	f := newNodegroupFixture(t)
	ctx := t.Context()
	f.activeCluster(t, "c1", "1.37")
	if _, err := f.client.CreateCluster(ctx, f.createInput("creating")); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.CreateNodegroup(ctx, f.nodegroupInput("c1", "ng")); err != nil {
		t.Fatal(err)
	}
	if err := f.activate(t, "c1", "ng"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		call func() error
		code string
		msg  string
	}{
		{"create in a missing cluster", func() error {
			_, err := f.client.CreateNodegroup(ctx, f.nodegroupInput("nope", "ng"))
			return err
		}, "ResourceNotFoundException", "No cluster found for name: nope."},
		{"create in a creating cluster", func() error {
			_, err := f.client.CreateNodegroup(ctx, f.nodegroupInput("creating", "ng"))
			return err
		}, "InvalidRequestException", "Cluster 'creating' is not in ACTIVE status"},
		{"bad name", func() error {
			_, err := f.client.CreateNodegroup(ctx, f.nodegroupInput("c1", "bad.name"))
			return err
		}, "InvalidParameterException", "bad.name"},
		{"reserved label", func() error {
			in := f.nodegroupInput("c1", "ng2")
			in.Labels = map[string]string{"kubernetes.io/hostname": "x"}
			_, err := f.client.CreateNodegroup(ctx, in)
			return err
		}, "InvalidParameterException", "Label cannot contain reserved prefixes [kubernetes.io/, k8s.io/, eks.amazonaws.com/]"},
		{"arm instance for x86 AMI", func() error {
			in := f.nodegroupInput("c1", "ng2")
			in.InstanceTypes = []string{"m7g.large"}
			_, err := f.client.CreateNodegroup(ctx, in)
			return err
		}, "InvalidParameterException", "[m7g.large] is not a valid instance type for requested amiType AL2023_x86_64_STANDARD"},
		{"launch template", func() error {
			in := f.nodegroupInput("c1", "ng2")
			in.LaunchTemplate = &ekstypes.LaunchTemplateSpecification{Id: aws.String("lt-0abc"), Version: aws.String("1")}
			_, err := f.client.CreateNodegroup(ctx, in)
			return err
		}, "InvalidParameterException", "with template ID lt-0abc, does not exist"},
		{"node repair thresholds", func() error {
			in := f.nodegroupInput("c1", "ng2")
			in.NodeRepairConfig = &ekstypes.NodeRepairConfig{Enabled: aws.Bool(true), MaxParallelNodesRepairedCount: aws.Int32(2)}
			_, err := f.client.CreateNodegroup(ctx, in)
			return err
		}, "InvalidParameterException", "berth does not support nodeRepairConfig.maxParallelNodesRepairedCount"},
		{"malformed body", func() error {
			_, err := f.client.CreateNodegroup(ctx, f.nodegroupInput("c1", "ng2"), func(o *eks.Options) {
				o.APIOptions = append(o.APIOptions, replaceBody([]byte(`{"nodegroupName": 5}`)))
			})
			return err
		}, "BadRequestException", "nodegroupName"},
		{"describe a missing node group", func() error {
			_, err := f.client.DescribeNodegroup(ctx, &eks.DescribeNodegroupInput{ClusterName: aws.String("c1"), NodegroupName: aws.String("nope")})
			return err
		}, "ResourceNotFoundException", "No node group found for name: nope."},
		{"describe in a missing cluster", func() error {
			_, err := f.client.DescribeNodegroup(ctx, &eks.DescribeNodegroupInput{ClusterName: aws.String("nope"), NodegroupName: aws.String("ng")})
			return err
		}, "ResourceNotFoundException", "No cluster found for name: nope."},
		{"delete a missing node group", func() error {
			_, err := f.client.DeleteNodegroup(ctx, &eks.DeleteNodegroupInput{ClusterName: aws.String("c1"), NodegroupName: aws.String("nope")})
			return err
		}, "ResourceNotFoundException", "No node group found for name: nope."},
		{"list a missing cluster", func() error {
			_, err := f.client.ListNodegroups(ctx, &eks.ListNodegroupsInput{ClusterName: aws.String("nope")})
			return err
		}, "ResourceNotFoundException", "No cluster found"},
		{"list with a bad token", func() error {
			_, err := f.client.ListNodegroups(ctx, &eks.ListNodegroupsInput{ClusterName: aws.String("c1"), NextToken: aws.String("garbage!")})
			return err
		}, "InvalidParameterException", "pagination token"},
		{"list with too many results", func() error {
			_, err := f.client.ListNodegroups(ctx, &eks.ListNodegroupsInput{ClusterName: aws.String("c1"), MaxResults: aws.Int32(101)})
			return err
		}, "InvalidParameterException", "between 1 and 100"},
		{"empty config update", func() error {
			_, err := f.client.UpdateNodegroupConfig(ctx, &eks.UpdateNodegroupConfigInput{ClusterName: aws.String("c1"), NodegroupName: aws.String("ng")})
			return err
		}, "InvalidParameterException", "You cannot specify an empty request"},
		{"config update without change", func() error {
			_, err := f.client.UpdateNodegroupConfig(ctx, &eks.UpdateNodegroupConfigInput{
				ClusterName: aws.String("c1"), NodegroupName: aws.String("ng"), ScalingConfig: &ekstypes.NodegroupScalingConfig{DesiredSize: aws.Int32(2)},
			})
			return err
		}, "InvalidParameterException", "No changes needed"},
		{"config update of a missing node group", func() error {
			_, err := f.client.UpdateNodegroupConfig(ctx, &eks.UpdateNodegroupConfigInput{
				ClusterName: aws.String("c1"), NodegroupName: aws.String("nope"), ScalingConfig: &ekstypes.NodegroupScalingConfig{DesiredSize: aws.Int32(2)},
			})
			return err
		}, "ResourceNotFoundException", "No node group found for name: nope."},
		{"version newer than the cluster", func() error {
			_, err := f.client.UpdateNodegroupVersion(ctx, &eks.UpdateNodegroupVersionInput{ClusterName: aws.String("c1"), NodegroupName: aws.String("ng"), Version: aws.String("1.38")})
			return err
		}, "InvalidParameterException", "Requested Nodegroup version 1.38 is invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if apiCode(err) != tc.code || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v, want %s mentioning %q", err, tc.code, tc.msg)
			}
		})
	}
	// The failed creates stored nothing.
	out, err := f.client.ListNodegroups(ctx, &eks.ListNodegroupsInput{ClusterName: aws.String("c1")})
	if err != nil || !slices.Equal(out.Nodegroups, []string{"ng"}) {
		t.Errorf("node groups after failures: %v %v", out, err)
	}
	// The error shapes name the node group.
	_, err = f.client.CreateNodegroup(ctx, f.nodegroupInput("c1", "-bad"))
	var ip *ekstypes.InvalidParameterException
	if !errors.As(err, &ip) || ip.ClusterName == nil || *ip.ClusterName != "c1" || ip.NodegroupName == nil || *ip.NodegroupName != "-bad" {
		t.Errorf("invalid parameter fields: %v", err)
	}
}

// A handler without node groups leaves their operations unimplemented.
func TestNodegroupsUnconfigured(t *testing.T) {
	f := newFixture(t)
	_, err := f.client.ListNodegroups(t.Context(), &eks.ListNodegroupsInput{ClusterName: aws.String("c1")})
	if apiCode(err) != "UnknownOperationException" {
		t.Errorf("list node groups: %v", err)
	}
	_, err = f.client.ListTagsForResource(t.Context(), &eks.ListTagsForResourceInput{ResourceArn: aws.String("arn:aws:eks:us-east-1:000000000000:nodegroup/c1/ng/x")})
	var nf *ekstypes.NotFoundException
	if !errors.As(err, &nf) {
		t.Errorf("tags of a node group ARN: %v", err)
	}
}
