package nodegroup_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthproject/berth/internal/apierror"
	"github.com/berthproject/berth/internal/cluster"
	"github.com/berthproject/berth/internal/compute/instancetypes"
	"github.com/berthproject/berth/internal/nodegroup"
	"github.com/berthproject/berth/internal/store"
	"github.com/berthproject/berth/internal/versions"
	"github.com/berthproject/berth/internal/vpc"
)

const (
	account = "000000000000"
	region  = "us-east-1"
	role    = "arn:aws:iam::000000000000:role/node"
)

// clock is a fake clock that ticks a second per reading, so records
// created one after another have distinct, ordered times.
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
	svc      *nodegroup.Service
}

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
		Now: clk.Now, Nodegroups: nodegroup.Attached(st),
	})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := nodegroup.New(nodegroup.Config{
		Store: st, Clusters: clusters, Network: network, Account: account, Region: region,
		MaxNodegroupsPerCluster: 3, MaxNodesPerNodegroup: 10, Now: clk.Now,
		CheckProvider: func(p string) error {
			if p == "real" {
				return errors.New("missing containerd")
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{st: st, net: network, clusters: clusters, svc: svc}
	f.cluster(t, "c1", "1.37", true)
	return f
}

// cluster creates a cluster, ACTIVE or left CREATING.
func (f *fixture) cluster(t *testing.T, name, version string, active bool) {
	t.Helper()
	ctx := t.Context()
	if _, err := f.clusters.Create(ctx, cluster.CreateInput{
		Name: name, Version: version, RoleARN: "arn:aws:iam::000000000000:role/eks", SubnetIDs: f.subnets(2),
	}); err != nil {
		t.Fatal(err)
	}
	if active {
		f.setClusterStatus(t, name, cluster.StatusActive)
	}
}

func (f *fixture) setClusterStatus(t *testing.T, name, status string) {
	t.Helper()
	if _, err := f.clusters.Mutate(t.Context(), name, func(c *cluster.Cluster) ([]store.Op, error) {
		c.Status = status
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) setStatus(t *testing.T, clusterName, name, status string) {
	t.Helper()
	if _, err := f.svc.Mutate(t.Context(), clusterName, name, func(ng *nodegroup.Nodegroup) ([]store.Op, error) {
		ng.Status = status
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
}

// finish does what the controller does at the end of an update: the
// update is Successful and the group ACTIVE.
func (f *fixture) finish(t *testing.T, u *cluster.Update) {
	t.Helper()
	if err := f.clusters.FinishUpdate(t.Context(), u, cluster.UpdateSuccessful, nil); err != nil {
		t.Fatal(err)
	}
	f.setStatus(t, u.Cluster, u.Nodegroup, nodegroup.StatusActive)
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

func (f *fixture) input(name string) nodegroup.CreateInput {
	return nodegroup.CreateInput{Cluster: "c1", Name: name, NodeRole: role, Subnets: f.subnets(2)}
}

func ptr[T any](v T) *T { return &v }

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
	ng, err := f.svc.Create(t.Context(), f.input("ng1"))
	if err != nil {
		t.Fatal(err)
	}
	if ng.Status != nodegroup.StatusCreating || ng.Version != "1.37" || ng.ReleaseVersion != "1.37.2-20261120" {
		t.Errorf("status %s version %s release %s", ng.Status, ng.Version, ng.ReleaseVersion)
	}
	if ng.Scaling != (nodegroup.Scaling{Min: 1, Max: 2, Desired: 2}) {
		t.Errorf("scaling %+v", ng.Scaling)
	}
	if strings.Join(ng.InstanceTypes, ",") != "t3.medium" || ng.CapacityType != "ON_DEMAND" || ng.AMIType != "AL2023_x86_64_STANDARD" || ng.DiskSize != 20 {
		t.Errorf("types %v capacity %s ami %s disk %d", ng.InstanceTypes, ng.CapacityType, ng.AMIType, ng.DiskSize)
	}
	if ng.UpdateConfig != (nodegroup.UpdateConfig{MaxUnavailable: 1}) || ng.NodeRepair {
		t.Errorf("updateConfig %+v nodeRepair %v", ng.UpdateConfig, ng.NodeRepair)
	}
	uuidRE := `[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`
	if !regexp.MustCompile(`^` + uuidRE + `$`).MatchString(ng.ID) {
		t.Errorf("id %q", ng.ID)
	}
	if ng.ARN != "arn:aws:eks:us-east-1:000000000000:nodegroup/c1/ng1/"+ng.ID || ng.ASG != "eks-ng1-"+ng.ID {
		t.Errorf("arn %s asg %s", ng.ARN, ng.ASG)
	}
	if ng.RemoteAccessSecurityGroup() != "" {
		t.Errorf("remote access SG without remote access")
	}
	got, _, err := f.svc.Get(t.Context(), "c1", "ng1")
	if err != nil || got.ID != ng.ID || !got.CreatedAt.Equal(ng.CreatedAt) {
		t.Fatalf("get: %v %+v", err, got)
	}

	// Given values are kept.
	in := f.input("ng2")
	in.Scaling = &nodegroup.ScalingInput{Min: ptr(0), Max: ptr(10), Desired: ptr(0)}
	in.InstanceTypes = []string{"t4g.medium", "m7g.large"}
	in.AMIType = "AL2023_ARM_64_STANDARD"
	in.CapacityType = "SPOT"
	in.DiskSize = ptr(100)
	in.Labels = map[string]string{"team": "a", "example.com/tier": "web"}
	in.Taints = []nodegroup.Taint{{Key: "dedicated", Value: "gpu", Effect: "NO_SCHEDULE"}, {Key: "example.com/x", Effect: "NO_EXECUTE"}}
	in.Tags = map[string]string{"owner": "me"}
	in.UpdateConfig = &nodegroup.UpdateSettings{MaxUnavailablePercentage: ptr(50), UpdateStrategy: "MINIMAL"}
	in.NodeRepair = ptr(true)
	in.RemoteAccess = &nodegroup.RemoteAccess{EC2SSHKey: "me", SourceSecurityGroups: []string{f.net.SecurityGroupID}}
	in.Version = "1.37"
	in.ReleaseVersion = "1.37.2-20261120"
	ng2, err := f.svc.Create(t.Context(), in)
	if err != nil {
		t.Fatal(err)
	}
	if ng2.Scaling != (nodegroup.Scaling{Min: 0, Max: 10, Desired: 0}) || ng2.CapacityType != "SPOT" || ng2.DiskSize != 100 ||
		len(ng2.Labels) != 2 || len(ng2.Taints) != 2 || ng2.Tags["owner"] != "me" || !ng2.NodeRepair ||
		ng2.UpdateConfig != (nodegroup.UpdateConfig{MaxUnavailablePercentage: 50, UpdateStrategy: "MINIMAL"}) {
		t.Errorf("created %+v", ng2)
	}
	if !strings.HasPrefix(ng2.RemoteAccessSecurityGroup(), "sg-") {
		t.Errorf("remote access SG %q", ng2.RemoteAccessSecurityGroup())
	}
}

func TestCreateValidation(t *testing.T) {
	f := newFixture(t)
	f.cluster(t, "c2", "1.37", false)
	var x86 []string
	for _, it := range instancetypes.All() {
		if it.Architecture == instancetypes.X8664 {
			x86 = append(x86, it.Name)
		}
	}
	taints := func(n int) []nodegroup.Taint {
		var out []nodegroup.Taint
		for i := range n {
			out = append(out, nodegroup.Taint{Key: fmt.Sprintf("k%d", i), Effect: "NO_SCHEDULE"})
		}
		return out
	}
	lt := &nodegroup.LaunchTemplate{ID: "lt-0123456789abcdef0"}
	for _, tc := range []struct {
		name   string
		mutate func(*nodegroup.CreateInput)
		kind   apierror.Kind
		msg    string
	}{
		{"no name", func(in *nodegroup.CreateInput) { in.Name = "" }, apierror.InvalidParameter, "nodegroupName is required"},
		{"bad name", func(in *nodegroup.CreateInput) { in.Name = "-ng" }, apierror.InvalidParameter, "[0-9A-Za-z][A-Za-z0-9\\-_]*"},
		{"name with a dot", func(in *nodegroup.CreateInput) { in.Name = "ng.1" }, apierror.InvalidParameter, "is invalid"},
		{"long name", func(in *nodegroup.CreateInput) { in.Name = strings.Repeat("n", 64) }, apierror.InvalidParameter, "at most 63"},
		{"missing cluster", func(in *nodegroup.CreateInput) { in.Cluster = "nope" }, apierror.ResourceNotFound, "No cluster found for name: nope."},
		{"cluster not active", func(in *nodegroup.CreateInput) { in.Cluster = "c2" }, apierror.InvalidRequest, "Cluster 'c2' is not in ACTIVE status"},
		{"no role", func(in *nodegroup.CreateInput) { in.NodeRole = "" }, apierror.InvalidParameter, "nodeRole is required"},
		{"role of a user", func(in *nodegroup.CreateInput) { in.NodeRole = "arn:aws:iam::000000000000:user/bob" }, apierror.InvalidParameter, "not a valid IAM role ARN"},
		{"role not an arn", func(in *nodegroup.CreateInput) { in.NodeRole = "node" }, apierror.InvalidParameter, "not a valid IAM role ARN"},
		{"no subnets", func(in *nodegroup.CreateInput) { in.Subnets = nil }, apierror.InvalidParameter, "subnets is required"},
		{"unknown subnet", func(in *nodegroup.CreateInput) { in.Subnets = []string{"subnet-0123456789abcdef0"} }, apierror.InvalidParameter,
			"The subnet ID 'subnet-0123456789abcdef0' does not exist"},
		{"duplicate subnet", func(in *nodegroup.CreateInput) { in.Subnets = append(in.Subnets, in.Subnets[0]) }, apierror.InvalidParameter, "One or more subnets are duplicate"},
		{"partial scaling", func(in *nodegroup.CreateInput) { in.Scaling = &nodegroup.ScalingInput{Max: ptr(3)} }, apierror.InvalidParameter, "all of minSize, maxSize and desiredSize"},
		{"negative min", func(in *nodegroup.CreateInput) {
			in.Scaling = &nodegroup.ScalingInput{Min: ptr(-1), Max: ptr(2), Desired: ptr(1)}
		}, apierror.InvalidParameter, "minSize must be greater than or equal to 0"},
		{"zero max", func(in *nodegroup.CreateInput) {
			in.Scaling = &nodegroup.ScalingInput{Min: ptr(0), Max: ptr(0), Desired: ptr(0)}
		}, apierror.InvalidParameter, "maxSize must be greater than or equal to 1"},
		{"negative desired", func(in *nodegroup.CreateInput) {
			in.Scaling = &nodegroup.ScalingInput{Min: ptr(0), Max: ptr(2), Desired: ptr(-1)}
		}, apierror.InvalidParameter, "desiredSize must be greater than or equal to 0"},
		{"min over desired", func(in *nodegroup.CreateInput) {
			in.Scaling = &nodegroup.ScalingInput{Min: ptr(2), Max: ptr(3), Desired: ptr(1)}
		}, apierror.InvalidParameter, "minSize can't be greater than desiredSize"},
		{"desired over max", func(in *nodegroup.CreateInput) {
			in.Scaling = &nodegroup.ScalingInput{Min: ptr(1), Max: ptr(3), Desired: ptr(4)}
		}, apierror.InvalidParameter, "desiredSize can't be greater than maxSize"},
		{"min over max", func(in *nodegroup.CreateInput) {
			in.Scaling = &nodegroup.ScalingInput{Min: ptr(4), Max: ptr(3), Desired: ptr(4)}
		}, apierror.InvalidParameter, "minSize can't be greater than maxSize"},
		{"max over quota", func(in *nodegroup.CreateInput) {
			in.Scaling = &nodegroup.ScalingInput{Min: ptr(1), Max: ptr(11), Desired: ptr(1)}
		}, apierror.InvalidParameter, "quota of 10 nodes"},
		{"unknown instance type", func(in *nodegroup.CreateInput) { in.InstanceTypes = []string{"z9.huge"} }, apierror.InvalidParameter, `"z9.huge" is not supported`},
		{"arm type for x86 AMI", func(in *nodegroup.CreateInput) { in.InstanceTypes = []string{"t4g.medium"} }, apierror.InvalidParameter,
			"[t4g.medium] is not a valid instance type for requested amiType AL2023_x86_64_STANDARD"},
		{"mixed architectures", func(in *nodegroup.CreateInput) {
			in.AMIType = "AL2023_ARM_64_STANDARD"
			in.InstanceTypes = []string{"t4g.medium", "t3.medium"}
		}, apierror.InvalidParameter, "[t3.medium] is not a valid instance type for requested amiType AL2023_ARM_64_STANDARD"},
		{"default type with arm AMI", func(in *nodegroup.CreateInput) { in.AMIType = "BOTTLEROCKET_ARM_64" }, apierror.InvalidParameter, "[t3.medium] is not a valid instance type"},
		{"21 instance types", func(in *nodegroup.CreateInput) { in.InstanceTypes = x86[:21] }, apierror.InvalidParameter, "at most 20 instance types"},
		{"duplicate instance type", func(in *nodegroup.CreateInput) { in.InstanceTypes = []string{"m5.large", "m5.large"} }, apierror.InvalidParameter, "more than once"},
		{"capacity block", func(in *nodegroup.CreateInput) { in.CapacityType = "CAPACITY_BLOCK" }, apierror.InvalidParameter, "CAPACITY_BLOCK"},
		{"unknown capacity", func(in *nodegroup.CreateInput) { in.CapacityType = "RESERVED" }, apierror.InvalidParameter, "Unsupported capacityType"},
		{"AL2 on 1.37", func(in *nodegroup.CreateInput) { in.AMIType = "AL2_x86_64" }, apierror.InvalidParameter,
			"AMI Type AL2_x86_64 is only supported for kubernetes versions 1.32 or earlier"},
		{"windows", func(in *nodegroup.CreateInput) { in.AMIType = "WINDOWS_CORE_2022_x86_64" }, apierror.InvalidParameter, "Windows"},
		{"custom AMI", func(in *nodegroup.CreateInput) { in.AMIType = "CUSTOM" }, apierror.InvalidParameter, "launch template"},
		{"unknown AMI type", func(in *nodegroup.CreateInput) { in.AMIType = "UBUNTU" }, apierror.InvalidParameter, "Unsupported amiType"},
		{"launch template", func(in *nodegroup.CreateInput) { in.LaunchTemplate = lt }, apierror.InvalidParameter,
			"The specified launch template, with template ID lt-0123456789abcdef0, does not exist."},
		{"launch template by name", func(in *nodegroup.CreateInput) { in.LaunchTemplate = &nodegroup.LaunchTemplate{Name: "lt"} }, apierror.InvalidParameter, "with template name lt"},
		{"launch template id and name", func(in *nodegroup.CreateInput) {
			in.LaunchTemplate = &nodegroup.LaunchTemplate{ID: "lt-1", Name: "lt"}
		}, apierror.InvalidParameter, "not both"},
		{"disk size with launch template", func(in *nodegroup.CreateInput) {
			in.LaunchTemplate, in.DiskSize = lt, ptr(30)
		}, apierror.InvalidParameter, "Disk size must be specified within the launch template."},
		{"remote access with launch template", func(in *nodegroup.CreateInput) {
			in.LaunchTemplate, in.RemoteAccess = lt, &nodegroup.RemoteAccess{EC2SSHKey: "k"}
		}, apierror.InvalidParameter, "Remote access configuration cannot be specified with a launch template."},
		{"zero disk", func(in *nodegroup.CreateInput) { in.DiskSize = ptr(0) }, apierror.InvalidParameter, "diskSize must be between 1 and 16384"},
		{"remote access without key", func(in *nodegroup.CreateInput) {
			in.RemoteAccess = &nodegroup.RemoteAccess{SourceSecurityGroups: []string{f.net.SecurityGroupID}}
		}, apierror.InvalidParameter, "ec2SshKey"},
		{"remote access unknown group", func(in *nodegroup.CreateInput) {
			in.RemoteAccess = &nodegroup.RemoteAccess{EC2SSHKey: "k", SourceSecurityGroups: []string{"sg-nope"}}
		}, apierror.InvalidParameter, "The security group 'sg-nope' does not exist"},
		{"label kubernetes.io", func(in *nodegroup.CreateInput) { in.Labels = map[string]string{"kubernetes.io/role": "x"} }, apierror.InvalidParameter,
			"Label cannot contain reserved prefixes [kubernetes.io/, k8s.io/, eks.amazonaws.com/]"},
		{"label node-role.kubernetes.io", func(in *nodegroup.CreateInput) { in.Labels = map[string]string{"node-role.kubernetes.io/worker": "x"} }, apierror.InvalidParameter, "reserved prefixes"},
		{"label k8s.io", func(in *nodegroup.CreateInput) { in.Labels = map[string]string{"node.k8s.io/x": "y"} }, apierror.InvalidParameter, "reserved prefixes"},
		{"label eks.amazonaws.com", func(in *nodegroup.CreateInput) {
			in.Labels = map[string]string{"eks.amazonaws.com/capacityType": "SPOT"}
		}, apierror.InvalidParameter, "reserved prefixes"},
		{"label bad key", func(in *nodegroup.CreateInput) { in.Labels = map[string]string{"-team": "a"} }, apierror.InvalidParameter, `Invalid value: "-team"`},
		{"label two slashes", func(in *nodegroup.CreateInput) { in.Labels = map[string]string{"a/b/c": "a"} }, apierror.InvalidParameter, `Invalid value: "a/b/c"`},
		{"label key too long", func(in *nodegroup.CreateInput) { in.Labels = map[string]string{strings.Repeat("k", 64): "a"} }, apierror.InvalidParameter, "1 to 63 characters"},
		{"label empty value", func(in *nodegroup.CreateInput) { in.Labels = map[string]string{"team": ""} }, apierror.InvalidParameter, "1 to 63 characters"},
		{"label bad value", func(in *nodegroup.CreateInput) { in.Labels = map[string]string{"team": "a b"} }, apierror.InvalidParameter, `Invalid value: "a b"`},
		{"taint bad effect", func(in *nodegroup.CreateInput) { in.Taints = []nodegroup.Taint{{Key: "k", Effect: "NoSchedule"}} }, apierror.InvalidParameter, `Invalid taint effect "NoSchedule"`},
		{"taint no effect", func(in *nodegroup.CreateInput) { in.Taints = []nodegroup.Taint{{Key: "k"}} }, apierror.InvalidParameter, "is required"},
		{"taint no key", func(in *nodegroup.CreateInput) { in.Taints = []nodegroup.Taint{{Effect: "NO_SCHEDULE"}} }, apierror.InvalidParameter, "1 to 63 characters"},
		{"taint reserved", func(in *nodegroup.CreateInput) {
			in.Taints = []nodegroup.Taint{{Key: "node.kubernetes.io/x", Effect: "NO_SCHEDULE"}}
		}, apierror.InvalidParameter, "Taint cannot contain reserved prefixes"},
		{"taint bad value", func(in *nodegroup.CreateInput) {
			in.Taints = []nodegroup.Taint{{Key: "k", Value: "a/b", Effect: "NO_SCHEDULE"}}
		}, apierror.InvalidParameter, `Invalid value: "a/b"`},
		{"taint value too long", func(in *nodegroup.CreateInput) {
			in.Taints = []nodegroup.Taint{{Key: "k", Value: strings.Repeat("v", 64), Effect: "NO_SCHEDULE"}}
		}, apierror.InvalidParameter, "at most 63"},
		{"duplicate taint", func(in *nodegroup.CreateInput) { in.Taints = append(taints(1), taints(1)...) }, apierror.InvalidParameter, "Duplicate taint"},
		{"51 taints", func(in *nodegroup.CreateInput) { in.Taints = taints(51) }, apierror.InvalidParameter, "A maximum of 50 taints"},
		{"reserved tag", func(in *nodegroup.CreateInput) { in.Tags = map[string]string{"aws:x": "y"} }, apierror.BadRequest, "reserved"},
		{"older version", func(in *nodegroup.CreateInput) { in.Version = "1.36" }, apierror.InvalidParameter,
			"Requested Nodegroup version 1.36 is invalid. Allowed Nodegroup version is 1.37"},
		{"unknown version", func(in *nodegroup.CreateInput) { in.Version = "9.99" }, apierror.InvalidParameter, "Requested Nodegroup version 9.99 is invalid"},
		{"other release", func(in *nodegroup.CreateInput) { in.ReleaseVersion = "1.37.1-20260101" }, apierror.InvalidParameter,
			"Requested Nodegroup release version 1.37.1-20260101 is invalid. Allowed release version is 1.37.2-20261120"},
		{"both unavailable settings", func(in *nodegroup.CreateInput) {
			in.UpdateConfig = &nodegroup.UpdateSettings{MaxUnavailable: ptr(1), MaxUnavailablePercentage: ptr(10)}
		}, apierror.InvalidParameter, "Only one of maxUnavailable and maxUnavailablePercentage"},
		{"max unavailable over max size", func(in *nodegroup.CreateInput) {
			in.UpdateConfig = &nodegroup.UpdateSettings{MaxUnavailable: ptr(3)}
		}, apierror.InvalidParameter, "max-unavailable must be within the range 1 and max size of the node group"},
		{"max unavailable zero", func(in *nodegroup.CreateInput) {
			in.UpdateConfig = &nodegroup.UpdateSettings{MaxUnavailable: ptr(0)}
		}, apierror.InvalidParameter, "maxUnavailable must be between 1 and 100"},
		{"percentage over 100", func(in *nodegroup.CreateInput) {
			in.UpdateConfig = &nodegroup.UpdateSettings{MaxUnavailablePercentage: ptr(101)}
		}, apierror.InvalidParameter, "maxUnavailablePercentage must be between 1 and 100"},
		{"unknown strategy", func(in *nodegroup.CreateInput) {
			in.UpdateConfig = &nodegroup.UpdateSettings{UpdateStrategy: "FAST"}
		}, apierror.InvalidParameter, "Unsupported updateStrategy"},
		{"warm pool", func(in *nodegroup.CreateInput) { in.Unsupported = []string{"warmPoolConfig"} }, apierror.InvalidParameter, "berth does not support warmPoolConfig"},
		{"unknown provider", func(in *nodegroup.CreateInput) { in.Tags = map[string]string{"berth:provider": "metal"} }, apierror.InvalidParameter,
			"The value of tag berth:provider must be simulated or real, not 'metal'."},
		{"provider this machine lacks", func(in *nodegroup.CreateInput) { in.Tags = map[string]string{"berth:provider": "real"} }, apierror.InvalidParameter,
			"cannot have real nodes on this machine: missing containerd"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := f.input("valid")
			tc.mutate(&in)
			_, err := f.svc.Create(t.Context(), in)
			e := wantErr(t, err, tc.kind, tc.msg)
			// The exception shapes that have them name the node group.
			if tc.kind != apierror.BadRequest && (e.Fields["clusterName"] != in.Cluster || e.Fields["nodegroupName"] != in.Name) {
				t.Errorf("fields %v", e.Fields)
			}
		})
	}
	// Nothing was stored by the failures.
	all, err := f.svc.All(t.Context())
	if err != nil || len(all) != 0 {
		t.Fatalf("node groups after failures: %v %v", all, err)
	}
	if names, _, err := f.svc.List(t.Context(), "c1", 0, ""); err != nil || len(names) != 0 {
		t.Fatalf("list after failures: %v %v", names, err)
	}
}

func TestIdempotencyAndQuota(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	in := f.input("ng1")
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
	wantErr(t, err, apierror.ResourceInUse, "NodeGroup already exists with name ng1 and cluster name c1")
	in.ClientRequestToken = ""
	_, err = f.svc.Create(ctx, in)
	wantErr(t, err, apierror.ResourceInUse, "already exists")

	// The fixture allows three node groups per cluster.
	for _, n := range []string{"ng2", "ng3"} {
		if _, err := f.svc.Create(ctx, f.input(n)); err != nil {
			t.Fatal(err)
		}
	}
	_, err = f.svc.Create(ctx, f.input("ng4"))
	e := wantErr(t, err, apierror.ResourceLimit, "at most 3 managed node groups")
	if e.Fields["clusterName"] != "c1" || e.Fields["nodegroupName"] != "ng4" {
		t.Errorf("fields %v", e.Fields)
	}
	// The quota is per cluster.
	f.cluster(t, "c2", "1.37", true)
	in = f.input("ng4")
	in.Cluster = "c2"
	if _, err := f.svc.Create(ctx, in); err != nil {
		t.Fatal(err)
	}
	all, err := f.svc.All(ctx)
	if err != nil || len(all) != 4 {
		t.Fatalf("all: %d %v", len(all), err)
	}
}

func TestGetAndList(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	for _, n := range []string{"b", "a", "c"} {
		if _, err := f.svc.Create(ctx, f.input(n)); err != nil {
			t.Fatal(err)
		}
	}
	// A cluster whose name extends c1's shares no node groups with it.
	f.cluster(t, "c1-x", "1.37", true)
	in := f.input("z")
	in.Cluster = "c1-x"
	if _, err := f.svc.Create(ctx, in); err != nil {
		t.Fatal(err)
	}
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
	_, _, err := f.svc.List(ctx, "c1", 0, "garbage!")
	wantErr(t, err, apierror.InvalidParameter, "pagination token")
	_, _, err = f.svc.List(ctx, "c1", 101, "")
	wantErr(t, err, apierror.InvalidParameter, "maxResults")
	_, _, err = f.svc.List(ctx, "nope", 0, "")
	wantErr(t, err, apierror.ResourceNotFound, "No cluster found for name: nope.")

	_, _, err = f.svc.Get(ctx, "c1", "nope")
	e := wantErr(t, err, apierror.ResourceNotFound, "No node group found for name: nope.")
	if e.Fields["clusterName"] != "c1" || e.Fields["nodegroupName"] != "nope" {
		t.Errorf("fields %v", e.Fields)
	}
	_, _, err = f.svc.Get(ctx, "c1", "a/../b")
	wantErr(t, err, apierror.ResourceNotFound, "No node group found")
	_, _, err = f.svc.Get(ctx, "nope", "a")
	wantErr(t, err, apierror.ResourceNotFound, "No cluster found for name: nope.")
}

func TestUpdateConfig(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	in := f.input("ng")
	in.Scaling = &nodegroup.ScalingInput{Min: ptr(1), Max: ptr(3), Desired: ptr(2)}
	in.Labels = map[string]string{"keep": "1", "drop": "1"}
	in.Taints = []nodegroup.Taint{{Key: "old", Value: "v", Effect: "NO_SCHEDULE"}}
	if _, err := f.svc.Create(ctx, in); err != nil {
		t.Fatal(err)
	}
	scale := func(min, max, desired *int) *nodegroup.ScalingInput {
		return &nodegroup.ScalingInput{Min: min, Max: max, Desired: desired}
	}
	req := nodegroup.UpdateConfigInput{Cluster: "c1", Name: "ng", Scaling: scale(nil, nil, ptr(3))}
	_, err := f.svc.UpdateConfig(ctx, req)
	wantErr(t, err, apierror.ResourceInUse, "Nodegroup cannot be updated as it is currently not in Active State")
	f.setStatus(t, "c1", "ng", nodegroup.StatusActive)

	for _, tc := range []struct {
		name string
		req  nodegroup.UpdateConfigInput
		kind apierror.Kind
		msg  string
	}{
		{"empty", nodegroup.UpdateConfigInput{}, apierror.InvalidParameter, "You cannot specify an empty request"},
		{"no change", nodegroup.UpdateConfigInput{Scaling: scale(ptr(1), nil, ptr(2))}, apierror.InvalidParameter, "No changes needed"},
		{"label added and removed", nodegroup.UpdateConfigInput{AddLabels: map[string]string{"a": "1"}, RemoveLabels: []string{"a"}}, apierror.InvalidParameter, "both added and removed"},
		{"taint added and removed", nodegroup.UpdateConfigInput{
			AddTaints:    []nodegroup.Taint{{Key: "t", Effect: "NO_SCHEDULE"}},
			RemoveTaints: []nodegroup.Taint{{Key: "t"}},
		}, apierror.InvalidParameter, "both added and removed"},
		{"min over desired", nodegroup.UpdateConfigInput{Scaling: scale(ptr(3), nil, nil)}, apierror.InvalidParameter, "Minimum capacity 3 can't be greater than desired size 2"},
		{"desired over max", nodegroup.UpdateConfigInput{Scaling: scale(nil, nil, ptr(4))}, apierror.InvalidParameter, "Desired capacity 4 can't be greater than maximum capacity 3"},
		{"max over quota", nodegroup.UpdateConfigInput{Scaling: scale(nil, ptr(11), nil)}, apierror.InvalidParameter, "quota of 10 nodes"},
		{"max under max unavailable", nodegroup.UpdateConfigInput{
			UpdateConfig: &nodegroup.UpdateSettings{MaxUnavailable: ptr(3)}, Scaling: scale(ptr(1), ptr(2), ptr(2)),
		}, apierror.InvalidParameter, "max-unavailable must be within the range"},
		{"reserved label", nodegroup.UpdateConfigInput{AddLabels: map[string]string{"k8s.io/x": "1"}}, apierror.InvalidParameter, "Label cannot contain reserved prefixes"},
		{"bad taint", nodegroup.UpdateConfigInput{AddTaints: []nodegroup.Taint{{Key: "t", Effect: "BAD"}}}, apierror.InvalidParameter, "Invalid taint effect"},
		{"bad effect to remove", nodegroup.UpdateConfigInput{RemoveTaints: []nodegroup.Taint{{Key: "t", Effect: "BAD"}}}, apierror.InvalidParameter, "Invalid taint effect"},
		{"unsupported", nodegroup.UpdateConfigInput{Unsupported: []string{"warmPoolConfig"}}, apierror.InvalidParameter, "berth does not support warmPoolConfig"},
		{"missing node group", nodegroup.UpdateConfigInput{Name: "nope", Scaling: scale(nil, nil, ptr(1))}, apierror.ResourceNotFound, "No node group found for name: nope."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.req
			r.Cluster = "c1"
			if r.Name == "" {
				r.Name = "ng"
			}
			_, err := f.svc.UpdateConfig(t.Context(), r)
			e := wantErr(t, err, tc.kind, tc.msg)
			if e.Fields["clusterName"] != "c1" || e.Fields["nodegroupName"] != r.Name {
				t.Errorf("fields %v", e.Fields)
			}
		})
	}

	req = nodegroup.UpdateConfigInput{
		Cluster: "c1", Name: "ng", ClientRequestToken: "u1",
		AddLabels:    map[string]string{"new": "1", "keep": "2"},
		RemoveLabels: []string{"drop", "absent"},
		AddTaints:    []nodegroup.Taint{{Key: "gpu", Value: "yes", Effect: "NO_EXECUTE"}},
		RemoveTaints: []nodegroup.Taint{{Key: "old", Value: "v", Effect: "NO_SCHEDULE"}},
		Scaling:      scale(nil, ptr(5), ptr(4)),
		UpdateConfig: &nodegroup.UpdateSettings{MaxUnavailablePercentage: ptr(25)},
		NodeRepair:   ptr(true),
	}
	u, err := f.svc.UpdateConfig(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if u.Status != cluster.UpdateInProgress || u.Type != nodegroup.UpdateTypeConfig || u.Cluster != "c1" || u.Nodegroup != "ng" {
		t.Fatalf("update %+v", u)
	}
	params := map[string]string{}
	for _, p := range u.Params {
		params[p.Type] = p.Value
	}
	want := map[string]string{
		"LabelsToAdd":              `{"keep":"2","new":"1"}`,
		"LabelsToRemove":           `["drop","absent"]`,
		"TaintsToAdd":              `[{"key":"gpu","value":"yes","effect":"NO_EXECUTE"}]`,
		"TaintsToRemove":           `[{"key":"old","value":"v","effect":"NO_SCHEDULE"}]`,
		"MaxSize":                  "5",
		"DesiredSize":              "4",
		"MaxUnavailablePercentage": "25",
		"NodeRepairEnabled":        "true",
	}
	if fmt.Sprint(params) != fmt.Sprint(want) {
		t.Errorf("params\n got %v\nwant %v", params, want)
	}
	// The desired configuration is in the record at once.
	ng, _, err := f.svc.Get(ctx, "c1", "ng")
	if err != nil {
		t.Fatal(err)
	}
	if ng.Status != nodegroup.StatusUpdating || fmt.Sprint(ng.Labels) != "map[keep:2 new:1]" ||
		fmt.Sprint(ng.Taints) != "[{gpu yes NO_EXECUTE}]" || ng.Scaling != (nodegroup.Scaling{Min: 1, Max: 5, Desired: 4}) ||
		ng.UpdateConfig != (nodegroup.UpdateConfig{MaxUnavailablePercentage: 25}) || !ng.NodeRepair {
		t.Errorf("record %+v", ng)
	}

	// Same token: the same update. Another update: in use. Delete: in use.
	again, err := f.svc.UpdateConfig(ctx, req)
	if err != nil || again.ID != u.ID {
		t.Errorf("idempotent update: %v %v", err, again)
	}
	_, err = f.svc.UpdateConfig(ctx, nodegroup.UpdateConfigInput{Cluster: "c1", Name: "ng", Scaling: scale(nil, nil, ptr(1))})
	wantErr(t, err, apierror.ResourceInUse, "Update already in progress for nodegroup ng: "+u.ID)
	_, err = f.svc.Delete(ctx, "c1", "ng")
	wantErr(t, err, apierror.ResourceInUse, "currently has update "+u.ID+" in progress")

	// The update belongs to the node group, not to the cluster.
	ups, err := f.svc.Updates(ctx, "c1", "ng")
	if err != nil || len(ups) != 1 || ups[0].ID != u.ID {
		t.Fatalf("node group updates: %v %v", ups, err)
	}
	if cu, err := f.clusters.Updates(ctx, "c1"); err != nil || len(cu) != 0 {
		t.Errorf("cluster updates: %v %v", cu, err)
	}
	if d, err := f.clusters.DescribeUpdate(ctx, "c1", u.ID, "ng", ""); err != nil || d.ID != u.ID {
		t.Errorf("describe update with node group: %v", err)
	}
	_, err = f.clusters.DescribeUpdate(ctx, "c1", u.ID, "", "")
	wantErr(t, err, apierror.ResourceNotFound, "No update found for ID: "+u.ID)
	_, err = f.clusters.DescribeUpdate(ctx, "c1", u.ID, "zz", "")
	wantErr(t, err, apierror.ResourceNotFound, "No node group found for name: zz.")
	if ids, _, err := f.clusters.ListUpdates(ctx, "c1", "ng", "", 0, ""); err != nil || len(ids) != 1 || ids[0] != u.ID {
		t.Errorf("list updates with node group: %v %v", ids, err)
	}
	if ids, _, err := f.clusters.ListUpdates(ctx, "c1", "", "", 0, ""); err != nil || len(ids) != 0 {
		t.Errorf("list cluster updates: %v %v", ids, err)
	}

	// After the controller finished, a DEGRADED group can be updated too.
	f.finish(t, u)
	f.setStatus(t, "c1", "ng", nodegroup.StatusDegraded)
	u2, err := f.svc.UpdateConfig(ctx, nodegroup.UpdateConfigInput{Cluster: "c1", Name: "ng", Scaling: scale(ptr(0), nil, ptr(0))})
	if err != nil {
		t.Fatal(err)
	}
	if len(u2.Params) != 2 {
		t.Errorf("params %+v", u2.Params)
	}
	if ups, err := f.svc.Updates(ctx, "c1", "ng"); err != nil || len(ups) != 2 || ups[0].ID != u.ID || ups[0].Status != cluster.UpdateSuccessful {
		t.Errorf("updates oldest first: %v %v", ups, err)
	}
}

// Concurrent updates: exactly one starts, the others find it in progress.
func TestUpdateConfigConcurrent(t *testing.T) {
	f := newFixture(t)
	if _, err := f.svc.Create(t.Context(), f.input("ng")); err != nil {
		t.Fatal(err)
	}
	f.setStatus(t, "c1", "ng", nodegroup.StatusActive)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = f.svc.UpdateConfig(t.Context(), nodegroup.UpdateConfigInput{
				Cluster: "c1", Name: "ng", AddLabels: map[string]string{"n": fmt.Sprint(i)},
			})
		})
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !apierror.IsKind(err, apierror.ResourceInUse):
			t.Errorf("unexpected error %v", err)
		}
	}
	ups, err := f.svc.Updates(t.Context(), "c1", "ng")
	if ok != 1 || err != nil || len(ups) != 1 {
		t.Errorf("%d updates started, %d stored (%v)", ok, len(ups), err)
	}
}

func TestUpdateVersion(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	f.cluster(t, "old", "1.35", true)
	in := f.input("ng")
	in.Cluster = "old"
	created, err := f.svc.Create(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if created.Version != "1.35" || created.ReleaseVersion != "1.35.0-20260313" {
		t.Fatalf("created at %s %s", created.Version, created.ReleaseVersion)
	}
	req := nodegroup.UpdateVersionInput{Cluster: "old", Name: "ng"}
	_, err = f.svc.UpdateVersion(ctx, req)
	wantErr(t, err, apierror.ResourceInUse, "not in Active State")
	f.setStatus(t, "old", "ng", nodegroup.StatusActive)
	_, err = f.svc.UpdateVersion(ctx, req)
	wantErr(t, err, apierror.InvalidParameter, "No changes needed")

	// The cluster moves to 1.36; its node groups match 1.35, so it may.
	cu, err := f.clusters.UpdateVersion(ctx, "old", "1.36", "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.UpdateVersion(ctx, req)
	wantErr(t, err, apierror.InvalidRequest, "Cluster 'old' is not in ACTIVE status")
	if err := f.clusters.FinishUpdate(ctx, cu, cluster.UpdateSuccessful, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := f.clusters.Mutate(ctx, "old", func(c *cluster.Cluster) ([]store.Op, error) {
		c.Version, c.Status = "1.36", cluster.StatusActive
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	// Now the node group lags: the cluster may not move on.
	_, err = f.clusters.UpdateVersion(ctx, "old", "1.37", "")
	wantErr(t, err, apierror.InvalidRequest, "Nodegroups ng must be updated to match cluster version 1.36 before updating cluster version")

	for _, tc := range []struct {
		name   string
		mutate func(*nodegroup.UpdateVersionInput)
		kind   apierror.Kind
		msg    string
	}{
		{"newer than the cluster", func(in *nodegroup.UpdateVersionInput) { in.Version = "1.37" }, apierror.InvalidParameter, "Requested Nodegroup version 1.37 is invalid"},
		{"roll back", func(in *nodegroup.UpdateVersionInput) { in.Version = "1.34" }, apierror.InvalidParameter, "cannot be rolled back"},
		{"unknown version", func(in *nodegroup.UpdateVersionInput) { in.Version = "1.99" }, apierror.InvalidParameter, "Requested Nodegroup version 1.99 is invalid"},
		{"other release", func(in *nodegroup.UpdateVersionInput) { in.ReleaseVersion = "1.36.0-20200101" }, apierror.InvalidParameter,
			"Requested Nodegroup release version 1.36.0-20200101 is invalid. Allowed release version is 1.36.0-20260717"},
		{"launch template", func(in *nodegroup.UpdateVersionInput) { in.LaunchTemplate = &nodegroup.LaunchTemplate{Name: "lt"} }, apierror.InvalidParameter,
			"was not created with a launch template"},
		{"missing node group", func(in *nodegroup.UpdateVersionInput) { in.Name = "nope" }, apierror.ResourceNotFound, "No node group found for name: nope."},
		{"missing cluster", func(in *nodegroup.UpdateVersionInput) { in.Cluster = "nope" }, apierror.ResourceNotFound, "No cluster found for name: nope."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := req
			tc.mutate(&r)
			_, err := f.svc.UpdateVersion(t.Context(), r)
			wantErr(t, err, tc.kind, tc.msg)
		})
	}

	req.Force, req.ClientRequestToken = true, "v1"
	u, err := f.svc.UpdateVersion(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if u.Type != nodegroup.UpdateTypeVersion || u.Status != cluster.UpdateInProgress || u.Param("Version") != "1.36" || u.Param("ReleaseVersion") != "1.36.0-20260717" || len(u.Params) != 2 {
		t.Fatalf("update %+v", u)
	}
	ng, _, err := f.svc.Get(ctx, "old", "ng")
	if err != nil {
		t.Fatal(err)
	}
	if ng.Status != nodegroup.StatusUpdating || ng.Version != "1.36" || ng.ReleaseVersion != "1.36.0-20260717" ||
		ng.PreviousVersion != "1.35" || ng.PreviousReleaseVersion != "1.35.0-20260313" || !ng.ForceUpdate {
		t.Errorf("record %+v", ng)
	}
	if again, err := f.svc.UpdateVersion(ctx, req); err != nil || again.ID != u.ID {
		t.Errorf("idempotent update: %v", err)
	}
	req.ClientRequestToken = ""
	_, err = f.svc.UpdateVersion(ctx, req)
	wantErr(t, err, apierror.ResourceInUse, "Update already in progress")
	f.finish(t, u)

	// All node groups match: the cluster may move on.
	if _, err := f.clusters.UpdateVersion(ctx, "old", "1.37", ""); err != nil {
		t.Errorf("cluster update after the node group caught up: %v", err)
	}
}

func TestDeleteAndRemove(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	created, err := f.svc.Create(ctx, f.input("ng"))
	if err != nil {
		t.Fatal(err)
	}
	f.setStatus(t, "c1", "ng", nodegroup.StatusActive)
	u, err := f.svc.UpdateConfig(ctx, nodegroup.UpdateConfigInput{Cluster: "c1", Name: "ng", AddLabels: map[string]string{"a": "b"}})
	if err != nil {
		t.Fatal(err)
	}
	f.finish(t, u)

	_, err = f.clusters.Delete(ctx, "c1")
	e := wantErr(t, err, apierror.ResourceInUse, "Cluster has nodegroups attached")
	if e.Fields["clusterName"] != "c1" || e.Fields["nodegroupName"] != "ng" {
		t.Errorf("fields %v", e.Fields)
	}

	ng, err := f.svc.Delete(ctx, "c1", "ng")
	if err != nil || ng.Status != nodegroup.StatusDeleting || ng.ID != created.ID {
		t.Fatalf("delete: %v %+v", err, ng)
	}
	if again, err := f.svc.Delete(ctx, "c1", "ng"); err != nil || again.Status != nodegroup.StatusDeleting {
		t.Errorf("second delete: %v", err)
	}
	_, err = f.svc.UpdateConfig(ctx, nodegroup.UpdateConfigInput{Cluster: "c1", Name: "ng", AddLabels: map[string]string{"c": "d"}})
	wantErr(t, err, apierror.ResourceInUse, "not in Active State")
	// Still attached while DELETING.
	_, err = f.clusters.Delete(ctx, "c1")
	wantErr(t, err, apierror.ResourceInUse, "Cluster has nodegroups attached")

	if err := f.svc.Remove(ctx, "c1", "ng"); err != nil {
		t.Fatal(err)
	}
	_, _, err = f.svc.Get(ctx, "c1", "ng")
	wantErr(t, err, apierror.ResourceNotFound, "No node group found for name: ng.")
	recs, err := f.st.List(ctx, cluster.KindUpdate, "c1/")
	if err != nil || len(recs) != 0 {
		t.Errorf("updates left: %d %v", len(recs), err)
	}
	if err := f.svc.Remove(ctx, "c1", "ng"); err != nil {
		t.Errorf("second remove: %v", err)
	}
	_, err = f.svc.Delete(ctx, "c1", "ng")
	wantErr(t, err, apierror.ResourceNotFound, "No node group found")
	if _, err := f.clusters.Delete(ctx, "c1"); err != nil {
		t.Errorf("cluster delete once the node group is gone: %v", err)
	}
}

func TestTags(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	in := f.input("ng")
	in.Tags = map[string]string{"a": "1"}
	if _, err := f.svc.Create(ctx, in); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Tag(ctx, "c1", "ng", map[string]string{"b": "2"}); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Untag(ctx, "c1", "ng", []string{"a", "zz"}); err != nil {
		t.Fatal(err)
	}
	ng, _, err := f.svc.Get(ctx, "c1", "ng")
	if err != nil || fmt.Sprint(ng.Tags) != "map[b:2]" {
		t.Fatalf("tags %v %v", ng, err)
	}
	wantErr(t, f.svc.Tag(ctx, "c1", "ng", map[string]string{"aws:x": "1"}), apierror.BadRequest, "reserved")
	many := map[string]string{}
	for i := range 50 {
		many[fmt.Sprint("k", i)] = "v"
	}
	wantErr(t, f.svc.Tag(ctx, "c1", "ng", many), apierror.BadRequest, "at most 50 tags")
	wantErr(t, f.svc.Tag(ctx, "c1", "nope", map[string]string{"a": "b"}), apierror.ResourceNotFound, "No node group found")
}

func TestAttached(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	if _, err := f.svc.Create(ctx, f.input("ng")); err != nil {
		t.Fatal(err)
	}
	refs, err := nodegroup.Attached(f.st)(ctx, "c1")
	if err != nil || len(refs) != 1 || refs[0] != (cluster.NodegroupRef{Name: "ng", Version: "1.37"}) {
		t.Fatalf("refs %v %v", refs, err)
	}
	if refs, err := nodegroup.Attached(f.st)(ctx, "c"); err != nil || len(refs) != 0 {
		t.Errorf("prefix of a cluster name: %v %v", refs, err)
	}
}

func TestReleaseVersion(t *testing.T) {
	for _, v := range versions.Builtin("1.37.2").All() {
		r := nodegroup.ReleaseVersion(v)
		if !regexp.MustCompile(`^` + regexp.QuoteMeta(v.PatchVersion) + `-20\d{6}$`).MatchString(r) {
			t.Errorf("%s: %s", v.Minor, r)
		}
	}
	raw, _ := json.Marshal(nodegroup.Taint{Key: "k", Effect: "NO_SCHEDULE"})
	if string(raw) != `{"key":"k","effect":"NO_SCHEDULE"}` {
		t.Errorf("taint json %s", raw)
	}
}
