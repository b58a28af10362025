package eksapi_test

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"

	"github.com/berthproject/berth/internal/cluster"
	"github.com/berthproject/berth/internal/store"
)

// activeCluster creates a cluster and marks it ACTIVE, as the controller
// would once its control plane is ready.
func (f *fixture) activeCluster(t *testing.T, in *eks.CreateClusterInput) {
	t.Helper()
	if _, err := f.client.CreateCluster(t.Context(), in); err != nil {
		t.Fatal(err)
	}
	if _, err := f.clusters.Mutate(t.Context(), *in.Name, func(c *cluster.Cluster) ([]store.Op, error) {
		c.Status = cluster.StatusActive
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
}

func params(u *ekstypes.Update) map[ekstypes.UpdateParamType]string {
	out := map[ekstypes.UpdateParamType]string{}
	for _, p := range u.Params {
		out[p.Type] = *p.Value
	}
	return out
}

// Each kind of UpdateClusterConfig is recorded as a Successful update that
// DescribeUpdate and ListUpdates show, and DescribeCluster shows the new
// configuration.
func TestUpdateClusterConfig(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	f.activeCluster(t, f.createInput("cfg"))
	name := aws.String("cfg")

	logs, err := f.client.UpdateClusterConfig(ctx, &eks.UpdateClusterConfigInput{Name: name, ClientRequestToken: aws.String("logs-1"),
		Logging: &ekstypes.Logging{ClusterLogging: []ekstypes.LogSetup{{Types: []ekstypes.LogType{ekstypes.LogTypeApi, ekstypes.LogTypeAudit}, Enabled: aws.Bool(true)}}}})
	if err != nil {
		t.Fatal(err)
	}
	u := logs.Update
	if u.Type != ekstypes.UpdateTypeLoggingUpdate || u.Status != ekstypes.UpdateStatusSuccessful || u.CreatedAt == nil || u.Errors == nil ||
		params(u)[ekstypes.UpdateParamTypeClusterLogging] != `{"clusterLogging":[{"types":["api","audit"],"enabled":true}]}` {
		t.Errorf("logging update %+v", u)
	}
	again, err := f.client.UpdateClusterConfig(ctx, &eks.UpdateClusterConfigInput{Name: name, ClientRequestToken: aws.String("logs-1"),
		Logging: &ekstypes.Logging{ClusterLogging: []ekstypes.LogSetup{{Types: []ekstypes.LogType{ekstypes.LogTypeApi, ekstypes.LogTypeAudit}, Enabled: aws.Bool(true)}}}})
	if err != nil || *again.Update.Id != *u.Id {
		t.Errorf("retry with the token: %v", err)
	}

	endpoint, err := f.client.UpdateClusterConfig(ctx, &eks.UpdateClusterConfigInput{Name: name,
		ResourcesVpcConfig: &ekstypes.VpcConfigRequest{EndpointPrivateAccess: aws.Bool(true), PublicAccessCidrs: []string{"203.0.113.0/24"}}})
	if err != nil {
		t.Fatal(err)
	}
	if p := params(endpoint.Update); endpoint.Update.Type != ekstypes.UpdateTypeEndpointAccessUpdate || p["EndpointPublicAccess"] != "true" ||
		p["EndpointPrivateAccess"] != "true" || p["PublicAccessCidrs"] != `["203.0.113.0/24"]` {
		t.Errorf("endpoint update %+v", endpoint.Update)
	}
	policy, err := f.client.UpdateClusterConfig(ctx, &eks.UpdateClusterConfigInput{Name: name, UpgradePolicy: &ekstypes.UpgradePolicyRequest{SupportType: ekstypes.SupportTypeStandard}})
	if err != nil || policy.Update.Type != ekstypes.UpdateTypeUpgradePolicyUpdate {
		t.Fatalf("upgrade policy: %v", err)
	}
	zonal, err := f.client.UpdateClusterConfig(ctx, &eks.UpdateClusterConfigInput{Name: name, ZonalShiftConfig: &ekstypes.ZonalShiftConfigRequest{Enabled: aws.Bool(true)}})
	if err != nil || zonal.Update.Type != ekstypes.UpdateTypeZonalShiftConfigUpdate {
		t.Fatalf("zonal shift: %v", err)
	}
	protect, err := f.client.UpdateClusterConfig(ctx, &eks.UpdateClusterConfigInput{Name: name, DeletionProtection: aws.Bool(true)})
	if err != nil || protect.Update.Type != ekstypes.UpdateTypeDeletionProtectionUpdate || params(protect.Update)["DeletionProtection"] != "true" {
		t.Fatalf("deletion protection: %v", err)
	}

	desc, err := f.client.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	c := desc.Cluster
	if c.Status != ekstypes.ClusterStatusActive || c.Logging == nil || len(c.Logging.ClusterLogging) != 2 ||
		!slices.Equal(c.Logging.ClusterLogging[0].Types, []ekstypes.LogType{"api", "audit"}) || !*c.Logging.ClusterLogging[0].Enabled {
		t.Errorf("logging %+v", c.Logging)
	}
	if v := c.ResourcesVpcConfig; !v.EndpointPublicAccess || !v.EndpointPrivateAccess || !slices.Equal(v.PublicAccessCidrs, []string{"203.0.113.0/24"}) {
		t.Errorf("vpc config %+v", v)
	}
	if c.UpgradePolicy.SupportType != ekstypes.SupportTypeStandard || !*c.ZonalShiftConfig.Enabled || !*c.DeletionProtection {
		t.Errorf("policies %+v %+v %v", c.UpgradePolicy, c.ZonalShiftConfig, *c.DeletionProtection)
	}

	d, err := f.client.DescribeUpdate(ctx, &eks.DescribeUpdateInput{Name: name, UpdateId: endpoint.Update.Id})
	if err != nil || d.Update.Status != ekstypes.UpdateStatusSuccessful || d.Update.Type != ekstypes.UpdateTypeEndpointAccessUpdate {
		t.Errorf("describe update: %v %+v", err, d)
	}
	l, err := f.client.ListUpdates(ctx, &eks.ListUpdatesInput{Name: name})
	want := []string{*u.Id, *endpoint.Update.Id, *policy.Update.Id, *zonal.Update.Id, *protect.Update.Id}
	if err != nil || !sameElements(l.UpdateIds, want) {
		t.Errorf("list updates %v %v, want %v", l, err, want)
	}
}

func sameElements(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func TestUpdateClusterConfigRefusals(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	in := f.createInput("r1")
	in.Version = aws.String("1.36")
	if _, err := f.client.CreateCluster(ctx, in); err != nil {
		t.Fatal(err)
	}
	name := aws.String("r1")
	protect := &eks.UpdateClusterConfigInput{Name: name, DeletionProtection: aws.Bool(true)}

	_, err := f.client.UpdateClusterConfig(ctx, protect)
	var ir *ekstypes.InvalidRequestException
	if !errors.As(err, &ir) || ir.ErrorMessage() != "Cluster 'r1' is not in ACTIVE status" || *ir.ClusterName != "r1" {
		t.Errorf("update while CREATING: %v", err)
	}
	if _, err := f.clusters.Mutate(ctx, "r1", func(c *cluster.Cluster) ([]store.Op, error) {
		c.Status = cluster.StatusActive
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	var nf *ekstypes.ResourceNotFoundException
	if _, err := f.client.UpdateClusterConfig(ctx, &eks.UpdateClusterConfigInput{Name: aws.String("nope"), DeletionProtection: aws.Bool(true)}); !errors.As(err, &nf) {
		t.Errorf("missing cluster: %v", err)
	}

	for _, tc := range []struct {
		name string
		in   *eks.UpdateClusterConfigInput
		msg  string
	}{
		{"two kinds", &eks.UpdateClusterConfigInput{DeletionProtection: aws.Bool(true), ZonalShiftConfig: &ekstypes.ZonalShiftConfigRequest{Enabled: aws.Bool(true)}},
			"Only one type of update can be allowed."},
		{"mode back", &eks.UpdateClusterConfigInput{AccessConfig: &ekstypes.UpdateAccessConfigRequest{AuthenticationMode: ekstypes.AuthenticationModeConfigMap}},
			"Unsupported authentication mode update from API_AND_CONFIG_MAP to CONFIG_MAP"},
		{"logging unchanged", &eks.UpdateClusterConfigInput{Logging: &ekstypes.Logging{ClusterLogging: []ekstypes.LogSetup{{Types: []ekstypes.LogType{ekstypes.LogTypeApi}, Enabled: aws.Bool(false)}}}},
			"No changes needed for the logging config provided"},
		{"endpoint unchanged", &eks.UpdateClusterConfigInput{ResourcesVpcConfig: &ekstypes.VpcConfigRequest{EndpointPublicAccess: aws.Bool(true)}},
			"Cluster is already at the desired configuration with endpointPrivateAccess: false , endpointPublicAccess: true, and Public Endpoint Restrictions: [0.0.0.0/0]"},
		{"network config", &eks.UpdateClusterConfigInput{KubernetesNetworkConfig: &ekstypes.KubernetesNetworkConfigRequest{ElasticLoadBalancing: &ekstypes.ElasticLoadBalancing{Enabled: aws.Bool(true)}}},
			"berth does not support changing kubernetesNetworkConfig yet."},
		{"auto mode", &eks.UpdateClusterConfigInput{ComputeConfig: &ekstypes.ComputeConfigRequest{Enabled: aws.Bool(true)}},
			"berth does not support changing computeConfig yet."},
		{"subnets", &eks.UpdateClusterConfigInput{ResourcesVpcConfig: &ekstypes.VpcConfigRequest{SubnetIds: f.subnets(3)}},
			"berth does not support changing resourcesVpcConfig.subnetIds yet."},
		{"subnets and endpoint", &eks.UpdateClusterConfigInput{ResourcesVpcConfig: &ekstypes.VpcConfigRequest{SubnetIds: f.subnets(2), EndpointPrivateAccess: aws.Bool(true)}},
			"Only one type of update can be allowed."},
		{"nothing", &eks.UpdateClusterConfigInput{}, "No changes were requested"},
	} {
		tc.in.Name = name
		_, err := f.client.UpdateClusterConfig(ctx, tc.in)
		var ip *ekstypes.InvalidParameterException
		if !errors.As(err, &ip) || !strings.HasPrefix(ip.ErrorMessage(), tc.msg) || *ip.ClusterName != "r1" || httpStatus(err) != http.StatusBadRequest {
			t.Errorf("%s: %v", tc.name, err)
		}
	}

	// Switched-off options berth clusters never have change nothing, so
	// they may come along.
	if _, err := f.client.UpdateClusterConfig(ctx, &eks.UpdateClusterConfigInput{Name: name, DeletionProtection: aws.Bool(true),
		ComputeConfig: &ekstypes.ComputeConfigRequest{Enabled: aws.Bool(false)}}); err != nil {
		t.Errorf("with computeConfig off: %v", err)
	}

	// bootstrapClusterCreatorAdminPermissions is not in the update's
	// accessConfig; a request that tries to change it is refused.
	_, err = f.client.UpdateClusterConfig(ctx, &eks.UpdateClusterConfigInput{Name: name}, func(o *eks.Options) {
		o.APIOptions = append(o.APIOptions, replaceBody([]byte(`{"accessConfig":{"authenticationMode":"API","bootstrapClusterCreatorAdminPermissions":false}}`)))
	})
	if apiCode(err) != "InvalidParameterException" || !strings.Contains(err.Error(), "bootstrapClusterCreatorAdminPermissions can only be set when the cluster is created") {
		t.Errorf("bootstrap change: %v", err)
	}

	// One update at a time: a version update in progress holds the rest.
	ver, err := f.client.UpdateClusterVersion(ctx, &eks.UpdateClusterVersionInput{Name: name, Version: aws.String("1.37")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.client.UpdateClusterConfig(ctx, &eks.UpdateClusterConfigInput{Name: name, DeletionProtection: aws.Bool(false)})
	var inUse *ekstypes.ResourceInUseException
	if !errors.As(err, &inUse) || httpStatus(err) != http.StatusConflict ||
		inUse.ErrorMessage() != "Cannot DeletionProtectionUpdate because cluster r1 currently has update "+*ver.Update.Id+" in progress" {
		t.Errorf("update during a version update: %v", err)
	}
}

// A CONFIG_MAP cluster that moves to API_AND_CONFIG_MAP gets its
// creator's access entry, as EKS gives it then.
func TestUpdateClusterConfigCreatorEntry(t *testing.T) {
	f := newAccessFixture(t)
	ctx := t.Context()
	in := f.createInput("cm")
	in.AccessConfig = &ekstypes.CreateAccessConfigRequest{AuthenticationMode: ekstypes.AuthenticationModeConfigMap}
	f.activeCluster(t, in)
	name := aws.String("cm")
	if _, err := f.client.ListAccessEntries(ctx, &eks.ListAccessEntriesInput{ClusterName: name}); apiCode(err) != "InvalidRequestException" {
		t.Fatalf("entries of a CONFIG_MAP cluster: %v", err)
	}
	if _, err := f.client.UpdateClusterConfig(ctx, &eks.UpdateClusterConfigInput{Name: name,
		AccessConfig: &ekstypes.UpdateAccessConfigRequest{AuthenticationMode: ekstypes.AuthenticationModeApi}}); apiCode(err) != "InvalidParameterException" ||
		!strings.Contains(err.Error(), "Unsupported authentication mode update from CONFIG_MAP to API") {
		t.Errorf("CONFIG_MAP to API: %v", err)
	}
	out, err := f.client.UpdateClusterConfig(ctx, &eks.UpdateClusterConfigInput{Name: name,
		AccessConfig: &ekstypes.UpdateAccessConfigRequest{AuthenticationMode: ekstypes.AuthenticationModeApiAndConfigMap}})
	if err != nil {
		t.Fatal(err)
	}
	if out.Update.Type != ekstypes.UpdateTypeAccessConfigUpdate || params(out.Update)["AuthenticationMode"] != `"API_AND_CONFIG_MAP"` {
		t.Errorf("access update %+v", out.Update)
	}
	list, err := f.client.ListAccessEntries(ctx, &eks.ListAccessEntriesInput{ClusterName: name})
	if err != nil || !slices.Equal(list.AccessEntries, []string{rootARN}) {
		t.Fatalf("entries after the switch: %+v %v", list, err)
	}
	desc, err := f.client.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: name})
	if err != nil || desc.Cluster.AccessConfig.AuthenticationMode != ekstypes.AuthenticationModeApiAndConfigMap {
		t.Errorf("access config after the switch: %v", err)
	}
}
