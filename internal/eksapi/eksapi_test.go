package eksapi_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	"github.com/aws/smithy-go"

	"github.com/berthproject/berth/internal/cluster"
	berthcreds "github.com/berthproject/berth/internal/credentials"
	"github.com/berthproject/berth/internal/eksapi"
	"github.com/berthproject/berth/internal/sigv4"
	"github.com/berthproject/berth/internal/store"
	"github.com/berthproject/berth/internal/versions"
	"github.com/berthproject/berth/internal/vpc"
)

const account = "000000000000"

type fixture struct {
	url      string
	client   *eks.Client
	clusters *cluster.Service
	net      *vpc.Network
	key      berthcreds.Key
}

func newFixture(t *testing.T) *fixture {
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
	svc, err := cluster.New(cluster.Config{Store: st, Network: network, Versions: versions.Builtin("1.37.2"), Account: account, Region: "us-east-1", MaxClusters: 5})
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := sigv4.New(sigv4.Config{Credentials: keys})
	if err != nil {
		t.Fatal(err)
	}
	h, err := eksapi.New(eksapi.Config{Clusters: svc, Auth: verifier, Changes: st, DescribeHold: 200 * time.Millisecond})
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
	return &fixture{url: srv.URL, client: client, clusters: svc, net: network, key: key}
}

// subnets returns public subnets in the first n EKS-capable zones.
func (f *fixture) subnets(n int) []string {
	var out []string
	for _, s := range f.net.Subnets {
		if s.Public && s.EKSCapable && len(out) < n {
			out = append(out, s.ID)
		}
	}
	return out
}

func (f *fixture) createInput(name string) *eks.CreateClusterInput {
	return &eks.CreateClusterInput{
		Name:               aws.String(name),
		RoleArn:            aws.String("arn:aws:iam::000000000000:role/eks"),
		ResourcesVpcConfig: &ekstypes.VpcConfigRequest{SubnetIds: f.subnets(2)},
	}
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func TestCreateDescribeListDelete(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	in := f.createInput("demo")
	in.Tags = map[string]string{"team": "a"}
	in.ClientRequestToken = aws.String("tok-1")
	out, err := f.client.CreateCluster(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	c := out.Cluster
	if c.Status != ekstypes.ClusterStatusCreating || *c.Arn != "arn:aws:eks:us-east-1:000000000000:cluster/demo" {
		t.Fatalf("created %+v", c)
	}
	if c.CreatedAt == nil || time.Since(*c.CreatedAt) > time.Minute {
		t.Errorf("createdAt %v", c.CreatedAt)
	}
	if *c.Version != "1.37" || *c.KubernetesNetworkConfig.ServiceIpv4Cidr != "10.100.0.0/16" || c.KubernetesNetworkConfig.IpFamily != ekstypes.IpFamilyIpv4 {
		t.Errorf("defaults: version %s net %+v", *c.Version, c.KubernetesNetworkConfig)
	}
	if !c.ResourcesVpcConfig.EndpointPublicAccess || *c.ResourcesVpcConfig.VpcId != f.net.VpcID || !strings.HasPrefix(*c.ResourcesVpcConfig.ClusterSecurityGroupId, "sg-") {
		t.Errorf("vpc config %+v", c.ResourcesVpcConfig)
	}
	if c.AccessConfig.AuthenticationMode != ekstypes.AuthenticationModeApiAndConfigMap || !*c.AccessConfig.BootstrapClusterCreatorAdminPermissions {
		t.Errorf("access config %+v", c.AccessConfig)
	}

	// Same token: the same cluster back. Other token: in use.
	again, err := f.client.CreateCluster(ctx, in)
	if err != nil || *again.Cluster.Arn != *c.Arn {
		t.Fatalf("idempotent create: %v", err)
	}
	in.ClientRequestToken = aws.String("tok-2")
	_, err = f.client.CreateCluster(ctx, in)
	var inUse *ekstypes.ResourceInUseException
	if !errors.As(err, &inUse) || *inUse.ClusterName != "demo" {
		t.Fatalf("duplicate create: %v", err)
	}

	desc, err := f.client.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String("demo")})
	if err != nil || desc.Cluster.Tags["team"] != "a" {
		t.Fatalf("describe: %v %+v", err, desc)
	}
	_, err = f.client.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: aws.String("nope")})
	var nf *ekstypes.ResourceNotFoundException
	if !errors.As(err, &nf) {
		t.Fatalf("describe missing: %v", err)
	}

	for _, n := range []string{"b1", "a1", "c1"} {
		if _, err := f.client.CreateCluster(ctx, f.createInput(n)); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	pager := eks.NewListClustersPaginator(f.client, &eks.ListClustersInput{MaxResults: aws.Int32(2)})
	pages := 0
	for pager.HasMorePages() {
		p, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		names = append(names, p.Clusters...)
	}
	if strings.Join(names, ",") != "a1,b1,c1,demo" || pages != 2 {
		t.Errorf("list = %v in %d pages", names, pages)
	}
	_, err = f.client.ListClusters(ctx, &eks.ListClustersInput{NextToken: aws.String("garbage!")})
	var ip *ekstypes.InvalidParameterException
	if !errors.As(err, &ip) {
		t.Errorf("bad token: %v", err)
	}

	// Quota: the fixture allows five clusters.
	if _, err := f.client.CreateCluster(ctx, f.createInput("e1")); err != nil {
		t.Fatal(err)
	}
	_, err = f.client.CreateCluster(ctx, f.createInput("f1"))
	var lim *ekstypes.ResourceLimitExceededException
	if !errors.As(err, &lim) {
		t.Errorf("over quota: %v", err)
	}

	del, err := f.client.DeleteCluster(ctx, &eks.DeleteClusterInput{Name: aws.String("demo")})
	if err != nil || del.Cluster.Status != ekstypes.ClusterStatusDeleting {
		t.Fatalf("delete: %v", err)
	}
	if _, err := f.client.DeleteCluster(ctx, &eks.DeleteClusterInput{Name: aws.String("demo")}); err != nil {
		t.Errorf("second delete: %v", err)
	}
	if _, err := f.client.DeleteCluster(ctx, &eks.DeleteClusterInput{Name: aws.String("nope")}); !errors.As(err, &nf) {
		t.Errorf("delete missing: %v", err)
	}
}

func TestCreateValidation(t *testing.T) {
	f := newFixture(t)
	var e1 string
	for _, s := range f.net.Subnets {
		if s.AZ == "us-east-1e" && s.Public {
			e1 = s.ID
		}
	}
	for _, tc := range []struct {
		name   string
		mutate func(*eks.CreateClusterInput)
		code   string
		msg    string
	}{
		{"bad name", func(in *eks.CreateClusterInput) { in.Name = aws.String("-bad") }, "InvalidParameterException", "name"},
		{"long name", func(in *eks.CreateClusterInput) { in.Name = aws.String(strings.Repeat("a", 101)) }, "InvalidParameterException", "100"},
		{"role not an arn", func(in *eks.CreateClusterInput) { in.RoleArn = aws.String("eks-role") }, "InvalidParameterException", "Role ARN"},
		{"role of a user", func(in *eks.CreateClusterInput) { in.RoleArn = aws.String("arn:aws:iam::000000000000:user/bob") }, "InvalidParameterException", "Role ARN"},
		{"one subnet", func(in *eks.CreateClusterInput) { in.ResourcesVpcConfig.SubnetIds = f.subnets(1) }, "InvalidParameterException", "two different AZs"},
		{"same zone twice", func(in *eks.CreateClusterInput) {
			in.ResourcesVpcConfig.SubnetIds = []string{f.net.Subnets[0].ID, f.net.Subnets[1].ID}
		}, "InvalidParameterException", "two different AZs"},
		{"unknown subnet", func(in *eks.CreateClusterInput) {
			in.ResourcesVpcConfig.SubnetIds = append(f.subnets(1), "subnet-0123456789abcdef0")
		}, "InvalidParameterException", "subnet-0123456789abcdef0"},
		{"unsupported zone", func(in *eks.CreateClusterInput) { in.ResourcesVpcConfig.SubnetIds = append(f.subnets(1), e1) }, "UnsupportedAvailabilityZoneException", "us-east-1e"},
		{"unknown security group", func(in *eks.CreateClusterInput) { in.ResourcesVpcConfig.SecurityGroupIds = []string{"sg-nope"} }, "InvalidParameterException", "sg-nope"},
		{"unknown version", func(in *eks.CreateClusterInput) { in.Version = aws.String("1.20") }, "InvalidParameterException", "1.34, 1.35, 1.36, 1.37"},
		{"service cidr public", func(in *eks.CreateClusterInput) {
			in.KubernetesNetworkConfig = &ekstypes.KubernetesNetworkConfigRequest{ServiceIpv4Cidr: aws.String("8.8.0.0/16")}
		}, "InvalidParameterException", "10.0.0.0/8"},
		{"service cidr too small", func(in *eks.CreateClusterInput) {
			in.KubernetesNetworkConfig = &ekstypes.KubernetesNetworkConfigRequest{ServiceIpv4Cidr: aws.String("10.0.0.0/25")}
		}, "InvalidParameterException", "/24"},
		{"service cidr overlaps vpc", func(in *eks.CreateClusterInput) {
			in.KubernetesNetworkConfig = &ekstypes.KubernetesNetworkConfigRequest{ServiceIpv4Cidr: aws.String("172.31.0.0/16")}
		}, "InvalidParameterException", "overlaps"},
		{"service cidr garbage", func(in *eks.CreateClusterInput) {
			in.KubernetesNetworkConfig = &ekstypes.KubernetesNetworkConfigRequest{ServiceIpv4Cidr: aws.String("ten/8")}
		}, "InvalidParameterException", "not a valid"},
		{"reserved tag", func(in *eks.CreateClusterInput) { in.Tags = map[string]string{"aws:x": "y"} }, "BadRequestException", "reserved"},
		{"unknown log type", func(in *eks.CreateClusterInput) {
			in.Logging = &ekstypes.Logging{ClusterLogging: []ekstypes.LogSetup{{Types: []ekstypes.LogType{"kubelet"}, Enabled: aws.Bool(true)}}}
		}, "InvalidParameterException", "kubelet"},
		{"both endpoints off", func(in *eks.CreateClusterInput) {
			in.ResourcesVpcConfig.EndpointPublicAccess = aws.Bool(false)
		}, "InvalidParameterException", "both be disabled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := f.createInput("valid")
			tc.mutate(in)
			_, err := f.client.CreateCluster(t.Context(), in)
			if apiCode(err) != tc.code || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v, want %s mentioning %q", err, tc.code, tc.msg)
			}
		})
	}
	// Nothing was created by the failures.
	out, err := f.client.ListClusters(t.Context(), &eks.ListClustersInput{})
	if err != nil || len(out.Clusters) != 0 {
		t.Fatalf("clusters after failures: %v %v", out, err)
	}
}

func TestUpdatesAndVersions(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	in := f.createInput("up")
	in.Version = aws.String("1.35")
	if _, err := f.client.CreateCluster(ctx, in); err != nil {
		t.Fatal(err)
	}
	_, err := f.client.UpdateClusterVersion(ctx, &eks.UpdateClusterVersionInput{Name: aws.String("up"), Version: aws.String("1.36")})
	if apiCode(err) != "InvalidRequestException" {
		t.Fatalf("update while CREATING: %v", err)
	}
	if _, err := f.clusters.Mutate(ctx, "up", func(c *cluster.Cluster) ([]store.Op, error) {
		c.Status = cluster.StatusActive
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"1.37", "1.34", "1.35", "9.99"} {
		if _, err := f.client.UpdateClusterVersion(ctx, &eks.UpdateClusterVersionInput{Name: aws.String("up"), Version: aws.String(v)}); apiCode(err) != "InvalidParameterException" {
			t.Errorf("update to %s: %v", v, err)
		}
	}
	up, err := f.client.UpdateClusterVersion(ctx, &eks.UpdateClusterVersionInput{Name: aws.String("up"), Version: aws.String("1.36"), ClientRequestToken: aws.String("u1")})
	if err != nil {
		t.Fatal(err)
	}
	if up.Update.Status != ekstypes.UpdateStatusInProgress || up.Update.Type != ekstypes.UpdateTypeVersionUpdate || len(up.Update.Params) != 2 {
		t.Fatalf("update %+v", up.Update)
	}
	if again, err := f.client.UpdateClusterVersion(ctx, &eks.UpdateClusterVersionInput{Name: aws.String("up"), Version: aws.String("1.36"), ClientRequestToken: aws.String("u1")}); err != nil || *again.Update.Id != *up.Update.Id {
		t.Errorf("idempotent update: %v", err)
	}
	if _, err := f.client.UpdateClusterVersion(ctx, &eks.UpdateClusterVersionInput{Name: aws.String("up"), Version: aws.String("1.36")}); apiCode(err) != "ResourceInUseException" {
		t.Errorf("second update: %v", err)
	}
	if _, err := f.client.DeleteCluster(ctx, &eks.DeleteClusterInput{Name: aws.String("up")}); apiCode(err) != "ResourceInUseException" {
		t.Errorf("delete during update: %v", err)
	}
	d, err := f.client.DescribeUpdate(ctx, &eks.DescribeUpdateInput{Name: aws.String("up"), UpdateId: up.Update.Id})
	if err != nil || *d.Update.Id != *up.Update.Id || d.Update.CreatedAt == nil {
		t.Fatalf("describe update: %v", err)
	}
	if _, err := f.client.DescribeUpdate(ctx, &eks.DescribeUpdateInput{Name: aws.String("up"), UpdateId: aws.String("nope")}); apiCode(err) != "ResourceNotFoundException" {
		t.Errorf("describe missing update: %v", err)
	}
	l, err := f.client.ListUpdates(ctx, &eks.ListUpdatesInput{Name: aws.String("up")})
	if err != nil || len(l.UpdateIds) != 1 {
		t.Fatalf("list updates: %v %v", l, err)
	}
	if _, err := f.client.ListUpdates(ctx, &eks.ListUpdatesInput{Name: aws.String("nope")}); apiCode(err) != "ResourceNotFoundException" {
		t.Errorf("list updates of missing cluster: %v", err)
	}

	vs, err := f.client.DescribeClusterVersions(ctx, &eks.DescribeClusterVersionsInput{})
	if err != nil || len(vs.ClusterVersions) != 4 {
		t.Fatalf("versions: %v %v", vs, err)
	}
	if v := vs.ClusterVersions[0]; *v.ClusterVersion != "1.37" || !v.DefaultVersion || *v.KubernetesPatchVersion != "1.37.2" || v.VersionStatus != ekstypes.VersionStatusStandardSupport {
		t.Errorf("newest version %+v", v)
	}
	def, err := f.client.DescribeClusterVersions(ctx, &eks.DescribeClusterVersionsInput{DefaultOnly: aws.Bool(true)})
	if err != nil || len(def.ClusterVersions) != 1 {
		t.Errorf("defaultOnly: %v %v", def, err)
	}
	pager := eks.NewDescribeClusterVersionsPaginator(f.client, &eks.DescribeClusterVersionsInput{MaxResults: aws.Int32(3)})
	n := 0
	for pager.HasMorePages() {
		p, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n += len(p.ClusterVersions)
	}
	if n != 4 {
		t.Errorf("paged versions: %d", n)
	}
}

func TestTags(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	out, err := f.client.CreateCluster(ctx, f.createInput("tagged"))
	if err != nil {
		t.Fatal(err)
	}
	arn := out.Cluster.Arn
	if _, err := f.client.TagResource(ctx, &eks.TagResourceInput{ResourceArn: arn, Tags: map[string]string{"a": "1", "b": "2"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.client.UntagResource(ctx, &eks.UntagResourceInput{ResourceArn: arn, TagKeys: []string{"a", "zz"}}); err != nil {
		t.Fatal(err)
	}
	l, err := f.client.ListTagsForResource(ctx, &eks.ListTagsForResourceInput{ResourceArn: arn})
	if err != nil || len(l.Tags) != 1 || l.Tags["b"] != "2" {
		t.Fatalf("tags %v %v", l, err)
	}
	var nf *ekstypes.NotFoundException
	if _, err := f.client.ListTagsForResource(ctx, &eks.ListTagsForResourceInput{ResourceArn: aws.String("arn:aws:eks:us-east-1:000000000000:cluster/none")}); !errors.As(err, &nf) {
		t.Errorf("missing resource: %v", err)
	}
	var br *ekstypes.BadRequestException
	if _, err := f.client.TagResource(ctx, &eks.TagResourceInput{ResourceArn: aws.String("not-an-arn"), Tags: map[string]string{"a": "b"}}); !errors.As(err, &br) {
		t.Errorf("bad arn: %v", err)
	}
	if _, err := f.client.TagResource(ctx, &eks.TagResourceInput{ResourceArn: arn, Tags: map[string]string{"aws:a": "b"}}); !errors.As(err, &br) {
		t.Errorf("reserved tag: %v", err)
	}
}

func rawRequest(t *testing.T, method, url string, body []byte, header http.Header) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func TestAuthentication(t *testing.T) {
	f := newFixture(t)
	code, h, body := rawRequest(t, http.MethodGet, f.url+"/clusters", nil, nil)
	if code != 403 || h.Get("x-amzn-ErrorType") != "MissingAuthenticationTokenException" || !strings.Contains(body, `"message"`) {
		t.Errorf("unsigned: %d %s %s", code, h.Get("x-amzn-ErrorType"), body)
	}
	for name, creds := range map[string]aws.CredentialsProvider{
		"wrong secret": credentials.NewStaticCredentialsProvider(f.key.AccessKeyID, "wrong", ""),
		"unknown key":  credentials.NewStaticCredentialsProvider("AKIAUNKNOWN000000000", "x", ""),
	} {
		c := eks.New(eks.Options{Region: "us-east-1", BaseEndpoint: aws.String(f.url), Credentials: creds})
		_, err := c.ListClusters(t.Context(), &eks.ListClustersInput{})
		want := map[string]string{"wrong secret": "InvalidSignatureException", "unknown key": "UnrecognizedClientException"}[name]
		if apiCode(err) != want {
			t.Errorf("%s: %v, want %s", name, err, want)
		}
	}
}

// signedRaw sends a body the SDK would never send, signed properly.
func TestMalformedBodies(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	send := func(body []byte) (string, error) {
		_, err := f.client.CreateCluster(ctx, f.createInput("x"), func(o *eks.Options) {
			o.APIOptions = append(o.APIOptions, replaceBody(body))
		})
		return apiCode(err), err
	}
	for name, body := range map[string][]byte{
		"not json":      []byte("{nope"),
		"wrong type":    []byte(`{"name": 5}`),
		"nested type":   []byte(`{"name":"x","roleArn":"arn:aws:iam::000000000000:role/r","resourcesVpcConfig":{"subnetIds":"subnet-1"}}`),
		"missing field": []byte(`{"name":"x"}`),
		"too big":       bytes.Repeat([]byte("a"), 2<<20),
	} {
		code, err := send(body)
		if code != "BadRequestException" && code != "InvalidParameterException" {
			t.Errorf("%s: %v", name, err)
		}
	}
}
