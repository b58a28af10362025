package ec2api_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/berthproject/berth/internal/compute/instancetypes"
	"github.com/berthproject/berth/internal/ec2api"
	"github.com/berthproject/berth/internal/vpc"
)

const account = "000000000000"

type fixture struct {
	net    *vpc.Network
	url    string
	client *ec2.Client
}

// newFixture serves a handler for the default network of us-east-1 and
// returns an SDK client pointed at it. Nothing checks the signature.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	n := vpc.Default(account, "us-east-1")
	h, err := ec2api.New(ec2api.Config{Network: n, Account: account})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	client := ec2.New(ec2.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(srv.URL),
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		RetryMaxAttempts: 1,
		HTTPClient:       &http.Client{Transport: bufferedBody{srv.Client().Transport}},
	})
	return &fixture{net: n, url: srv.URL, client: client}
}

// bufferedBody hands the transport a private copy of the request body.
// The SDK closes the request body as soon as the round trip returns, but
// net/http's write loop may still be reading it (the final read that
// checks for EOF) when a loopback server has already answered; the failed
// read makes the transport close the connection under a response body
// that is still being read ("use of closed network connection", seen with
// responses over 4 KiB).
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

func filter(name string, values ...string) types.Filter {
	return types.Filter{Name: aws.String(name), Values: values}
}

// wantAPIError checks that err is the EC2 error code with the HTTP status.
func wantAPIError(t *testing.T, err error, code string, status int) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("err = %v, want API error %s", err, code)
	}
	if ae.ErrorCode() != code || ae.ErrorMessage() == "" {
		t.Errorf("error = %s: %q, want code %s", ae.ErrorCode(), ae.ErrorMessage(), code)
	}
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() != status {
		t.Errorf("status of %v, want %d", err, status)
	}
	if re != nil && re.ServiceRequestID() == "" {
		t.Error("error carries no request id")
	}
}

func TestDescribeVpcs(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name string
		in   ec2.DescribeVpcsInput
		want int
	}{
		{"all", ec2.DescribeVpcsInput{}, 1},
		{"by id", ec2.DescribeVpcsInput{VpcIds: []string{f.net.VpcID}}, 1},
		{"is-default", ec2.DescribeVpcsInput{Filters: []types.Filter{filter("is-default", "true")}}, 1},
		{"not default", ec2.DescribeVpcsInput{Filters: []types.Filter{filter("is-default", "false")}}, 0},
		{"cidr", ec2.DescribeVpcsInput{Filters: []types.Filter{filter("cidr", "172.31.0.0/16")}}, 1},
		{"tag:Name", ec2.DescribeVpcsInput{Filters: []types.Filter{filter("tag:Name", "berth-*")}}, 1},
		{"other vpc-id", ec2.DescribeVpcsInput{Filters: []types.Filter{filter("vpc-id", "vpc-0123456789abcdef0")}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := f.client.DescribeVpcs(t.Context(), &tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Vpcs) != tt.want {
				t.Fatalf("got %d VPCs, want %d", len(out.Vpcs), tt.want)
			}
			if tt.want == 0 {
				return
			}
			v := out.Vpcs[0]
			if aws.ToString(v.VpcId) != f.net.VpcID || aws.ToString(v.CidrBlock) != "172.31.0.0/16" ||
				!aws.ToBool(v.IsDefault) || v.State != types.VpcStateAvailable || aws.ToString(v.OwnerId) != account ||
				len(v.CidrBlockAssociationSet) != 1 || !strings.HasPrefix(aws.ToString(v.DhcpOptionsId), "dopt-") {
				t.Errorf("vpc = %+v", v)
			}
		})
	}

	_, err := f.client.DescribeVpcs(t.Context(), &ec2.DescribeVpcsInput{VpcIds: []string{"vpc-0123456789abcdef0"}})
	wantAPIError(t, err, "InvalidVpcID.NotFound", http.StatusBadRequest)
}

func TestDescribeSubnets(t *testing.T) {
	f := newFixture(t)
	pub, priv := f.net.Subnets[0], f.net.Subnets[1]
	tests := []struct {
		name string
		in   ec2.DescribeSubnetsInput
		want []string // subnet ids; nil means all twelve
	}{
		{"all", ec2.DescribeSubnetsInput{}, nil},
		{"by ids", ec2.DescribeSubnetsInput{SubnetIds: []string{priv.ID, pub.ID}}, []string{pub.ID, priv.ID}},
		{"vpc-id", ec2.DescribeSubnetsInput{Filters: []types.Filter{filter("vpc-id", f.net.VpcID)}}, nil},
		{"subnet-id", ec2.DescribeSubnetsInput{Filters: []types.Filter{filter("subnet-id", pub.ID)}}, []string{pub.ID}},
		{"availability-zone", ec2.DescribeSubnetsInput{Filters: []types.Filter{filter("availability-zone", "us-east-1a")}}, []string{pub.ID, priv.ID}},
		{"availability-zone-id", ec2.DescribeSubnetsInput{Filters: []types.Filter{filter("availability-zone-id", "use1-az1")}}, []string{pub.ID, priv.ID}},
		{"cidr-block", ec2.DescribeSubnetsInput{Filters: []types.Filter{filter("cidr-block", "172.31.128.0/20")}}, []string{priv.ID}},
		{"cidrBlock", ec2.DescribeSubnetsInput{Filters: []types.Filter{filter("cidrBlock", "172.31.0.0/20")}}, []string{pub.ID}},
		{"default-for-az and zone", ec2.DescribeSubnetsInput{Filters: []types.Filter{filter("default-for-az", "true"), filter("availability-zone", "us-east-1a")}}, []string{pub.ID}},
		{"map-public-ip-on-launch", ec2.DescribeSubnetsInput{Filters: []types.Filter{filter("map-public-ip-on-launch", "false"), filter("availabilityZone", "us-east-1a")}}, []string{priv.ID}},
		{"tag:Name wildcard", ec2.DescribeSubnetsInput{Filters: []types.Filter{filter("tag:Name", "berth-default-public-us-east-1?")}}, publicIDs(f.net)},
		{"tag-key elb", ec2.DescribeSubnetsInput{Filters: []types.Filter{filter("tag-key", "kubernetes.io/role/elb")}}, publicIDs(f.net)},
		{"tag internal-elb", ec2.DescribeSubnetsInput{Filters: []types.Filter{filter("tag:kubernetes.io/role/internal-elb", "1"), filter("availability-zone", "us-east-1a")}}, []string{priv.ID}},
		{"state", ec2.DescribeSubnetsInput{Filters: []types.Filter{filter("state", "available")}}, nil},
		{"ids and filter", ec2.DescribeSubnetsInput{SubnetIds: []string{pub.ID, priv.ID}, Filters: []types.Filter{filter("default-for-az", "false")}}, []string{priv.ID}},
		{"no match", ec2.DescribeSubnetsInput{Filters: []types.Filter{filter("availability-zone", "us-west-2a")}}, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := f.client.DescribeSubnets(t.Context(), &tt.in)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range out.Subnets {
				got = append(got, aws.ToString(s.SubnetId))
			}
			want := tt.want
			if want == nil {
				want = allIDs(f.net)
			}
			if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}

	t.Run("fields", func(t *testing.T) {
		out, err := f.client.DescribeSubnets(t.Context(), &ec2.DescribeSubnetsInput{SubnetIds: []string{pub.ID, priv.ID}})
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range out.Subnets {
			want := f.net.Subnets[i]
			kind, role := "public", "kubernetes.io/role/elb"
			if !want.Public {
				kind, role = "private", "kubernetes.io/role/internal-elb"
			}
			if aws.ToString(s.VpcId) != f.net.VpcID || aws.ToString(s.CidrBlock) != want.CIDR.String() ||
				aws.ToString(s.AvailabilityZone) != "us-east-1a" || aws.ToString(s.AvailabilityZoneId) != "use1-az1" ||
				aws.ToInt32(s.AvailableIpAddressCount) != 4091 || s.State != types.SubnetStateAvailable ||
				aws.ToBool(s.DefaultForAz) != want.Public || aws.ToBool(s.MapPublicIpOnLaunch) != want.Public ||
				aws.ToString(s.OwnerId) != account ||
				aws.ToString(s.SubnetArn) != "arn:aws:ec2:us-east-1:"+account+":subnet/"+want.ID {
				t.Errorf("subnet %d = %+v", i, s)
			}
			tags := map[string]string{}
			for _, tg := range s.Tags {
				tags[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
			}
			if tags["Name"] != "berth-default-"+kind+"-us-east-1a" || tags[role] != "1" || len(tags) != 2 {
				t.Errorf("subnet %d tags = %v", i, tags)
			}
		}
	})

	t.Run("pages", func(t *testing.T) {
		p := ec2.NewDescribeSubnetsPaginator(f.client, &ec2.DescribeSubnetsInput{MaxResults: aws.Int32(5)})
		var got []string
		pages := 0
		for p.HasMorePages() {
			out, err := p.NextPage(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			pages++
			for _, s := range out.Subnets {
				got = append(got, aws.ToString(s.SubnetId))
			}
		}
		if pages != 3 || !slices.Equal(got, allIDs(f.net)) {
			t.Errorf("%d pages: %v", pages, got)
		}
	})

	_, err := f.client.DescribeSubnets(t.Context(), &ec2.DescribeSubnetsInput{SubnetIds: []string{pub.ID, "subnet-0123456789abcdef0"}})
	wantAPIError(t, err, "InvalidSubnetID.NotFound", http.StatusBadRequest)
}

func allIDs(n *vpc.Network) []string {
	var out []string
	for _, s := range n.Subnets {
		out = append(out, s.ID)
	}
	return out
}

func publicIDs(n *vpc.Network) []string {
	var out []string
	for _, s := range n.Subnets {
		if s.Public {
			out = append(out, s.ID)
		}
	}
	return out
}

func TestDescribeAvailabilityZones(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name string
		in   ec2.DescribeAvailabilityZonesInput
		want []string
	}{
		{"all", ec2.DescribeAvailabilityZonesInput{}, []string{"us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d", "us-east-1e", "us-east-1f"}},
		{"all zones flag", ec2.DescribeAvailabilityZonesInput{AllAvailabilityZones: aws.Bool(true), Filters: []types.Filter{filter("zone-name", "us-east-1[ab]", "us-east-1f")}}, []string{"us-east-1f"}},
		{"zone names", ec2.DescribeAvailabilityZonesInput{ZoneNames: []string{"us-east-1c", "us-east-1a"}}, []string{"us-east-1a", "us-east-1c"}},
		{"zone ids", ec2.DescribeAvailabilityZonesInput{ZoneIds: []string{"use1-az2"}}, []string{"us-east-1b"}},
		{"zone-name filter", ec2.DescribeAvailabilityZonesInput{Filters: []types.Filter{filter("zone-name", "us-east-1d")}}, []string{"us-east-1d"}},
		{"zone-id filter", ec2.DescribeAvailabilityZonesInput{Filters: []types.Filter{filter("zone-id", "use1-az6")}}, []string{"us-east-1f"}},
		{"region-name and state", ec2.DescribeAvailabilityZonesInput{Filters: []types.Filter{filter("region-name", "us-east-1"), filter("state", "available"), filter("zone-name", "*a")}}, []string{"us-east-1a"}},
		{"other region", ec2.DescribeAvailabilityZonesInput{Filters: []types.Filter{filter("region-name", "eu-west-1")}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := f.client.DescribeAvailabilityZones(t.Context(), &tt.in)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, z := range out.AvailabilityZones {
				got = append(got, aws.ToString(z.ZoneName))
				if z.State != types.AvailabilityZoneStateAvailable || aws.ToString(z.RegionName) != "us-east-1" ||
					!strings.HasPrefix(aws.ToString(z.ZoneId), "use1-az") || aws.ToString(z.ZoneType) != "availability-zone" ||
					z.OptInStatus != types.AvailabilityZoneOptInStatusOptInNotRequired {
					t.Errorf("zone = %+v", z)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}

	_, err := f.client.DescribeAvailabilityZones(t.Context(), &ec2.DescribeAvailabilityZonesInput{ZoneNames: []string{"us-east-1z"}})
	wantAPIError(t, err, "InvalidParameterValue", http.StatusBadRequest)
}

func TestDescribeInstanceTypes(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name string
		in   ec2.DescribeInstanceTypesInput
		want []string // nil: check only that the answer is not empty
	}{
		{"by name", ec2.DescribeInstanceTypesInput{InstanceTypes: []types.InstanceType{"t3.medium", "m5.large"}}, []string{"m5.large", "t3.medium"}},
		{"instance-type wildcard", ec2.DescribeInstanceTypesInput{Filters: []types.Filter{filter("instance-type", "c7g.*"), filter("vcpu-info.default-vcpus", "1", "2")}}, []string{"c7g.medium", "c7g.large"}},
		{"arm64, 2 vCPU, 8 GiB", ec2.DescribeInstanceTypesInput{Filters: []types.Filter{
			filter("processor-info.supported-architecture", "arm64"), filter("vcpu-info.default-vcpus", "2"), filter("memory-info.size-in-mib", "8192"),
		}}, []string{"m7g.large", "t4g.large"}},
		{"current-generation", ec2.DescribeInstanceTypesInput{Filters: []types.Filter{filter("current-generation", "true"), filter("instance-type", "r5.l*")}}, []string{"r5.large"}},
		{"bare metal", ec2.DescribeInstanceTypesInput{Filters: []types.Filter{filter("bare-metal", "true"), filter("instance-type", "m7i.*")}}, []string{"m7i.metal-24xl", "m7i.metal-48xl"}},
		{"burstable", ec2.DescribeInstanceTypesInput{Filters: []types.Filter{filter("burstable-performance-supported", "true"), filter("instance-type", "t3.n*")}}, []string{"t3.nano"}},
		{"not previous generation", ec2.DescribeInstanceTypesInput{Filters: []types.Filter{filter("current-generation", "false")}}, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := f.client.DescribeInstanceTypes(t.Context(), &tt.in)
			if err != nil {
				t.Fatal(err)
			}
			got := []string{}
			for _, it := range out.InstanceTypes {
				got = append(got, string(it.InstanceType))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}

	t.Run("fields", func(t *testing.T) {
		out, err := f.client.DescribeInstanceTypes(t.Context(), &ec2.DescribeInstanceTypesInput{InstanceTypes: []types.InstanceType{"m5.large", "t4g.nano", "m5.metal"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.InstanceTypes) != 3 {
			t.Fatalf("got %d types", len(out.InstanceTypes))
		}
		for _, it := range out.InstanceTypes {
			cat, ok := instancetypes.Lookup(string(it.InstanceType))
			if !ok {
				t.Fatalf("unknown type %s", it.InstanceType)
			}
			n := it.NetworkInfo
			if aws.ToInt32(it.VCpuInfo.DefaultVCpus) != int32(cat.VCPUs) || aws.ToInt64(it.MemoryInfo.SizeInMiB) != cat.MemoryMiB ||
				len(it.ProcessorInfo.SupportedArchitectures) != 1 || string(it.ProcessorInfo.SupportedArchitectures[0]) != string(cat.Architecture) ||
				aws.ToInt32(n.MaximumNetworkInterfaces) != int32(cat.MaxENIs) || aws.ToInt32(n.Ipv4AddressesPerInterface) != int32(cat.IPv4PerENI) ||
				aws.ToString(n.NetworkPerformance) != cat.NetworkPerformance || len(n.NetworkCards) != 1 ||
				!aws.ToBool(it.CurrentGeneration) || aws.ToBool(it.BareMetal) != cat.BareMetal ||
				string(it.Hypervisor) != cat.Hypervisor || aws.ToBool(it.BurstablePerformanceSupported) != cat.Burstable ||
				!slices.Equal(usageClasses(it.SupportedUsageClasses), cat.UsageClasses) {
				t.Errorf("%s = %+v", it.InstanceType, it)
			}
		}
	})

	t.Run("pages", func(t *testing.T) {
		p := ec2.NewDescribeInstanceTypesPaginator(f.client, &ec2.DescribeInstanceTypesInput{MaxResults: aws.Int32(7)})
		seen := map[types.InstanceType]bool{}
		pages := 0
		for p.HasMorePages() {
			out, err := p.NextPage(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			pages++
			for _, it := range out.InstanceTypes {
				if seen[it.InstanceType] {
					t.Errorf("%s on two pages", it.InstanceType)
				}
				seen[it.InstanceType] = true
			}
		}
		if all := len(instancetypes.All()); len(seen) != all || pages != (all+6)/7 {
			t.Errorf("%d types on %d pages, want %d", len(seen), pages, all)
		}
	})

	_, err := f.client.DescribeInstanceTypes(t.Context(), &ec2.DescribeInstanceTypesInput{InstanceTypes: []types.InstanceType{"m5.large", "m5.huge"}})
	wantAPIError(t, err, "InvalidInstanceType", http.StatusBadRequest)
}

func usageClasses(in []types.UsageClassType) []string {
	var out []string
	for _, u := range in {
		out = append(out, string(u))
	}
	return out
}

func TestErrors(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	tests := []struct {
		name   string
		call   func() error
		code   string
		status int
	}{
		{"action berth does not implement", func() error {
			_, err := f.client.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String("ami-1"), MinCount: aws.Int32(1), MaxCount: aws.Int32(1)})
			return err
		}, "InvalidAction", http.StatusBadRequest},
		{"unknown filter", func() error {
			_, err := f.client.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: []types.Filter{filter("bogus", "x")}})
			return err
		}, "InvalidParameterValue", http.StatusBadRequest},
		{"filter without values", func() error {
			_, err := f.client.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{Filters: []types.Filter{{Name: aws.String("vpc-id")}}})
			return err
		}, "MissingParameter", http.StatusBadRequest},
		{"MaxResults too large", func() error {
			_, err := f.client.DescribeInstanceTypes(ctx, &ec2.DescribeInstanceTypesInput{MaxResults: aws.Int32(101)})
			return err
		}, "InvalidParameterValue", http.StatusBadRequest},
		{"MaxResults too small", func() error {
			_, err := f.client.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{MaxResults: aws.Int32(4)})
			return err
		}, "InvalidParameterValue", http.StatusBadRequest},
		{"bad NextToken", func() error {
			_, err := f.client.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{NextToken: aws.String("garbage")})
			return err
		}, "InvalidPaginationToken", http.StatusBadRequest},
		{"dry run", func() error {
			_, err := f.client.DescribeAvailabilityZones(ctx, &ec2.DescribeAvailabilityZonesInput{DryRun: aws.Bool(true)})
			return err
		}, "DryRunOperation", http.StatusPreconditionFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantAPIError(t, tt.call(), tt.code, tt.status)
		})
	}
}

func TestNewChecksConfig(t *testing.T) {
	n := vpc.Default(account, "us-east-1")
	tests := []struct {
		name string
		cfg  ec2api.Config
		ok   bool
	}{
		{"minimal", ec2api.Config{Network: n, Account: account}, true},
		{"region given", ec2api.Config{Network: n, Account: account, Region: "us-east-1"}, true},
		{"no network", ec2api.Config{Account: account}, false},
		{"bad account", ec2api.Config{Network: n, Account: "123"}, false},
		{"other region", ec2api.Config{Network: n, Account: account, Region: "us-west-2"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ec2api.New(tt.cfg)
			if (err == nil) != tt.ok {
				t.Errorf("New: %v", err)
			}
		})
	}
}
