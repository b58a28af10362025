package ec2api_test

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/berthproject/berth/internal/compute"
	"github.com/berthproject/berth/internal/compute/ipam"
	"github.com/berthproject/berth/internal/ec2api"
	"github.com/berthproject/berth/internal/store"
	"github.com/berthproject/berth/internal/vpc"
)

// instanceFixture serves a handler over a real compute.Service and store.
type instanceFixture struct {
	net    *vpc.Network
	st     *store.Bolt
	svc    *compute.Service
	url    string
	client *ec2.Client
}

// epoch is where the fixture's clock starts; every reading advances it a
// second, so instances launched one after the other list in that order.
var epoch = time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)

func newInstanceFixture(t *testing.T) *instanceFixture {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "berth.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	n := vpc.Default(account, "us-east-1")
	var mu sync.Mutex
	now := epoch
	svc, err := compute.New(compute.Config{
		Store: st, Network: n, IPs: ipam.NewSubnetAllocator(), Account: account, Region: "us-east-1",
		Now: func() time.Time {
			mu.Lock()
			defer mu.Unlock()
			now = now.Add(time.Second)
			return now
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	h, err := ec2api.New(ec2api.Config{Network: n, Account: account, Instances: svc,
		// A machine that cannot run real nodes.
		CheckProvider: func(p string) error {
			if p == compute.ProviderReal {
				return errors.New("missing runc")
			}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &instanceFixture{net: n, st: st, svc: svc, url: srv.URL, client: sdkClient(srv)}
}

func sdkClient(srv *httptest.Server) *ec2.Client {
	return ec2.New(ec2.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(srv.URL),
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
		RetryMaxAttempts: 1,
		HTTPClient:       &http.Client{Transport: bufferedBody{srv.Client().Transport}},
	})
}

// launch records one instance per spec, in order.
func (f *instanceFixture) launch(t *testing.T, specs ...compute.LaunchSpec) []*compute.Instance {
	t.Helper()
	var out []*compute.Instance
	for _, sp := range specs {
		if sp.ImageID == "" {
			sp.ImageID = "ami-0123456789abcdef0"
		}
		ins, err := f.svc.Launch(t.Context(), []compute.LaunchSpec{sp})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ins...)
	}
	return out
}

// setState moves instances to a state as the instance controller would.
func (f *instanceFixture) setState(t *testing.T, state string, reason compute.Reason, ins ...*compute.Instance) {
	t.Helper()
	var ids []string
	for _, in := range ins {
		ids = append(ids, in.ID)
	}
	_, err := f.svc.MutateInstances(t.Context(), ids, func(in *compute.Instance) (bool, error) {
		in.State, in.StateReason = state, reason
		if state == compute.StateTerminated {
			in.TerminatedAt = epoch.Add(time.Hour)
		}
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

var userShutdown = compute.Reason{Code: "Client.UserInitiatedShutdown", Message: "Client.UserInitiatedShutdown: User initiated shutdown"}

// fleet launches the instances the DescribeInstances tests look at:
//
//	web1  m5.large   us-east-1a public   on-demand running     Name=web-1 team=blue
//	web2  m7g.large  us-east-1a private  spot      running     Name=web-2
//	batch t3.medium  us-east-1b public   on-demand pending     (no tags), other image
//	gone  c5.large   us-east-1b private  on-demand terminated  Name=gone
func (f *instanceFixture) fleet(t *testing.T) (web1, web2, batch, gone *compute.Instance) {
	t.Helper()
	n := f.net
	ins := f.launch(t,
		compute.LaunchSpec{Type: "m5.large", SubnetID: n.Subnets[0].ID, Tags: map[string]string{"Name": "web-1", "team": "blue"}},
		compute.LaunchSpec{Type: "m7g.large", SubnetID: n.Subnets[1].ID, CapacityType: compute.Spot, Tags: map[string]string{"Name": "web-2"}},
		compute.LaunchSpec{Type: "t3.medium", SubnetID: n.Subnets[2].ID, ImageID: "ami-0fedcba9876543210"},
		compute.LaunchSpec{Type: "c5.large", SubnetID: n.Subnets[3].ID, Tags: map[string]string{"Name": "gone"}},
	)
	f.setState(t, compute.StateRunning, compute.Reason{}, ins[0], ins[1])
	f.setState(t, compute.StateTerminated, userShutdown, ins[3])
	return ins[0], ins[1], ins[2], ins[3]
}

// instanceIDsOf flattens the reservations of a DescribeInstances answer.
func instanceIDsOf(t *testing.T, rs []types.Reservation) []string {
	t.Helper()
	ids := []string{}
	for _, r := range rs {
		if len(r.Instances) != 1 {
			t.Errorf("reservation %s holds %d instances, want 1", aws.ToString(r.ReservationId), len(r.Instances))
		}
		for _, in := range r.Instances {
			ids = append(ids, aws.ToString(in.InstanceId))
		}
	}
	return ids
}

func ids(ins ...*compute.Instance) []string {
	out := []string{}
	for _, in := range ins {
		out = append(out, in.ID)
	}
	return out
}

func TestDescribeInstancesFilters(t *testing.T) {
	f := newInstanceFixture(t)
	web1, web2, batch, gone := f.fleet(t)
	all := ids(web1, web2, batch, gone)
	tests := []struct {
		name string
		in   ec2.DescribeInstancesInput
		want []string
	}{
		{"all, terminated included", ec2.DescribeInstancesInput{}, all},
		{"ids", ec2.DescribeInstancesInput{InstanceIds: []string{gone.ID, web1.ID, web1.ID}}, ids(web1, gone)},
		{"ids and filter", ec2.DescribeInstancesInput{InstanceIds: []string{web1.ID, web2.ID}, Filters: []types.Filter{filter("instance-lifecycle", "spot")}}, ids(web2)},
		{"instance-id", ec2.DescribeInstancesInput{Filters: []types.Filter{filter("instance-id", batch.ID, "i-0000000000000000f")}}, ids(batch)},
		{"instance-id wildcard", ec2.DescribeInstancesInput{Filters: []types.Filter{filter("instance-id", "i-*")}}, all},
		{"instance-state-name", ec2.DescribeInstancesInput{Filters: []types.Filter{filter("instance-state-name", "running", "pending")}}, ids(web1, web2, batch)},
		{"instance-state-name terminated", ec2.DescribeInstancesInput{Filters: []types.Filter{filter("instance-state-name", "terminated")}}, ids(gone)},
		{"instance-state-code", ec2.DescribeInstancesInput{Filters: []types.Filter{filter("instance-state-code", "16")}}, ids(web1, web2)},
		{"instance-state-code pending", ec2.DescribeInstancesInput{Filters: []types.Filter{filter("instance-state-code", "0")}}, ids(batch)},
		{"instance-type", ec2.DescribeInstancesInput{Filters: []types.Filter{filter("instance-type", "t3.medium")}}, ids(batch)},
		{"instance-type wildcard", ec2.DescribeInstancesInput{Filters: []types.Filter{filter("instance-type", "m?*.large")}}, ids(web1, web2)},
		{"availability-zone", ec2.DescribeInstancesInput{Filters: []types.Filter{filter("availability-zone", "us-east-1b")}}, ids(batch, gone)},
		{"subnet-id", ec2.DescribeInstancesInput{Filters: []types.Filter{filter("subnet-id", f.net.Subnets[1].ID)}}, ids(web2)},
		{"subnet-id of a terminated instance", ec2.DescribeInstancesInput{Filters: []types.Filter{filter("subnet-id", f.net.Subnets[3].ID)}}, []string{}},
		{"vpc-id", ec2.DescribeInstancesInput{Filters: []types.Filter{filter("vpc-id", f.net.VpcID)}}, ids(web1, web2, batch)},
		{"private-ip-address", ec2.DescribeInstancesInput{Filters: []types.Filter{filter("private-ip-address", web2.PrivateIP)}}, ids(web2)},
		{"private-dns-name", ec2.DescribeInstancesInput{Filters: []types.Filter{filter("private-dns-name", web1.PrivateDNS)}}, ids(web1)},
		{"private-dns-name wildcard", ec2.DescribeInstancesInput{Filters: []types.Filter{filter("private-dns-name", "ip-172-31-*.ec2.internal")}}, ids(web1, web2, batch)},
		{"tag:Name", ec2.DescribeInstancesInput{Filters: []types.Filter{filter("tag:Name", "web-?")}}, ids(web1, web2)},
		{"tag:Name exact", ec2.DescribeInstancesInput{Filters: []types.Filter{filter("tag:Name", "gone")}}, ids(gone)},
		{"tag-key", ec2.DescribeInstancesInput{Filters: []types.Filter{filter("tag-key", "team")}}, ids(web1)},
		{"tag-value", ec2.DescribeInstancesInput{Filters: []types.Filter{filter("tag-value", "blue", "web-2")}}, ids(web1, web2)},
		{"instance-lifecycle", ec2.DescribeInstancesInput{Filters: []types.Filter{filter("instance-lifecycle", "spot")}}, ids(web2)},
		{"image-id", ec2.DescribeInstancesInput{Filters: []types.Filter{filter("image-id", "ami-0fedcba9876543210")}}, ids(batch)},
		{"architecture", ec2.DescribeInstancesInput{Filters: []types.Filter{filter("architecture", "arm64")}}, ids(web2)},
		{"reservation-id", ec2.DescribeInstancesInput{Filters: []types.Filter{filter("reservation-id", "r-*")}}, all},
		{"two filters", ec2.DescribeInstancesInput{Filters: []types.Filter{filter("availability-zone", "us-east-1a"), filter("tag:team", "blue")}}, ids(web1)},
		{"no match", ec2.DescribeInstancesInput{Filters: []types.Filter{filter("instance-type", "p5.48xlarge")}}, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := f.client.DescribeInstances(t.Context(), &tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got := instanceIDsOf(t, out.Reservations); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
			if out.NextToken != nil {
				t.Errorf("NextToken = %q without MaxResults", *out.NextToken)
			}
		})
	}
}

func TestDescribeInstancesFields(t *testing.T) {
	f := newInstanceFixture(t)
	web1, web2, _, gone := f.fleet(t)
	describe := func(t *testing.T, id string) (types.Reservation, types.Instance) {
		t.Helper()
		out, err := f.client.DescribeInstances(t.Context(), &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Reservations) != 1 || len(out.Reservations[0].Instances) != 1 {
			t.Fatalf("reservations = %+v", out.Reservations)
		}
		return out.Reservations[0], out.Reservations[0].Instances[0]
	}
	reservationRE := regexp.MustCompile(`^r-[0-9a-f]{17}$`)

	t.Run("running on-demand", func(t *testing.T) {
		r, in := describe(t, web1.ID)
		if !reservationRE.MatchString(aws.ToString(r.ReservationId)) || aws.ToString(r.OwnerId) != account {
			t.Errorf("reservation = %+v", r)
		}
		if r2, _ := describe(t, web1.ID); aws.ToString(r2.ReservationId) != aws.ToString(r.ReservationId) {
			t.Errorf("reservation id changed: %s, then %s", aws.ToString(r.ReservationId), aws.ToString(r2.ReservationId))
		}
		sub := f.net.Subnets[0]
		if aws.ToString(in.InstanceId) != web1.ID || aws.ToString(in.ImageId) != "ami-0123456789abcdef0" ||
			in.State == nil || in.State.Name != types.InstanceStateNameRunning || aws.ToInt32(in.State.Code) != 16 ||
			in.InstanceType != types.InstanceTypeM5Large || !aws.ToTime(in.LaunchTime).Equal(web1.LaunchTime) ||
			aws.ToString(in.PrivateDnsName) != web1.PrivateDNS || aws.ToString(in.PublicDnsName) != "" ||
			aws.ToString(in.PrivateIpAddress) != web1.PrivateIP || aws.ToString(in.SubnetId) != sub.ID ||
			aws.ToString(in.VpcId) != f.net.VpcID || in.Architecture != types.ArchitectureValuesX8664 ||
			in.RootDeviceType != types.DeviceTypeEbs || aws.ToString(in.RootDeviceName) != "/dev/xvda" ||
			in.InstanceLifecycle != "" || in.StateReason != nil || aws.ToString(in.StateTransitionReason) != "" ||
			in.Hypervisor != types.HypervisorTypeXen || in.VirtualizationType != types.VirtualizationTypeHvm ||
			!aws.ToBool(in.EnaSupport) || !aws.ToBool(in.SourceDestCheck) || in.PlatformDetails == nil {
			t.Errorf("instance = %+v", in)
		}
		if p := in.Placement; p == nil || aws.ToString(p.AvailabilityZone) != sub.AZ || aws.ToString(p.AvailabilityZoneId) != sub.AZID || p.Tenancy != types.TenancyDefault {
			t.Errorf("placement = %+v", in.Placement)
		}
		if in.Monitoring == nil || in.Monitoring.State != types.MonitoringStateDisabled {
			t.Errorf("monitoring = %+v", in.Monitoring)
		}
		if c := in.CpuOptions; c == nil || aws.ToInt32(c.CoreCount) != 1 || aws.ToInt32(c.ThreadsPerCore) != 2 {
			t.Errorf("cpu options = %+v", in.CpuOptions)
		}
		if len(in.SecurityGroups) != 1 || aws.ToString(in.SecurityGroups[0].GroupId) != f.net.SecurityGroupID {
			t.Errorf("security groups = %+v", in.SecurityGroups)
		}
		if len(in.BlockDeviceMappings) != 1 || aws.ToString(in.BlockDeviceMappings[0].DeviceName) != "/dev/xvda" ||
			!strings.HasPrefix(aws.ToString(in.BlockDeviceMappings[0].Ebs.VolumeId), "vol-") {
			t.Errorf("block devices = %+v", in.BlockDeviceMappings)
		}
		if got := tagMap(in.Tags); len(got) != 2 || got["Name"] != "web-1" || got["team"] != "blue" {
			t.Errorf("tags = %v", got)
		}
		if len(in.NetworkInterfaces) != 1 {
			t.Fatalf("network interfaces = %+v", in.NetworkInterfaces)
		}
		eni := in.NetworkInterfaces[0]
		if !strings.HasPrefix(aws.ToString(eni.NetworkInterfaceId), "eni-") || aws.ToString(eni.PrivateIpAddress) != web1.PrivateIP ||
			aws.ToString(eni.SubnetId) != sub.ID || aws.ToString(eni.VpcId) != f.net.VpcID || eni.Status != types.NetworkInterfaceStatusInUse ||
			aws.ToString(eni.PrivateDnsName) != web1.PrivateDNS || aws.ToString(eni.OwnerId) != account ||
			!regexp.MustCompile(`^([0-9a-f]{2}:){5}[0-9a-f]{2}$`).MatchString(aws.ToString(eni.MacAddress)) ||
			eni.Attachment == nil || aws.ToInt32(eni.Attachment.DeviceIndex) != 0 || eni.Attachment.Status != types.AttachmentStatusAttached ||
			len(eni.PrivateIpAddresses) != 1 || !aws.ToBool(eni.PrivateIpAddresses[0].Primary) {
			t.Errorf("network interface = %+v", eni)
		}
	})

	t.Run("spot on arm64", func(t *testing.T) {
		_, in := describe(t, web2.ID)
		if in.InstanceLifecycle != types.InstanceLifecycleTypeSpot || !strings.HasPrefix(aws.ToString(in.SpotInstanceRequestId), "sir-") ||
			in.Architecture != types.ArchitectureValuesArm64 || aws.ToString(in.PrivateIpAddress) != web2.PrivateIP {
			t.Errorf("instance = %+v", in)
		}
	})

	t.Run("terminated", func(t *testing.T) {
		_, in := describe(t, gone.ID)
		if in.State.Name != types.InstanceStateNameTerminated || aws.ToInt32(in.State.Code) != 48 ||
			in.StateReason == nil || aws.ToString(in.StateReason.Code) != userShutdown.Code || aws.ToString(in.StateReason.Message) != userShutdown.Message ||
			aws.ToString(in.StateTransitionReason) != "User initiated (2025-03-14 10:26:53 GMT)" ||
			aws.ToString(in.PrivateDnsName) != "" || in.PrivateIpAddress != nil || in.SubnetId != nil || in.VpcId != nil ||
			len(in.NetworkInterfaces) != 0 || len(in.BlockDeviceMappings) != 0 || len(in.SecurityGroups) != 0 ||
			aws.ToString(in.Placement.AvailabilityZone) != "us-east-1b" || tagMap(in.Tags)["Name"] != "gone" {
			t.Errorf("instance = %+v", in)
		}
	})
}

func tagMap(tags []types.Tag) map[string]string {
	out := map[string]string{}
	for _, tg := range tags {
		out[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	return out
}

func TestDescribeInstancesPages(t *testing.T) {
	f := newInstanceFixture(t)
	var specs []compute.LaunchSpec
	for i := range 12 {
		specs = append(specs, compute.LaunchSpec{Type: "m5.large", SubnetID: f.net.Subnets[i%len(f.net.Subnets)].ID})
	}
	want := ids(f.launch(t, specs...)...)

	t.Run("paginator", func(t *testing.T) {
		p := ec2.NewDescribeInstancesPaginator(f.client, &ec2.DescribeInstancesInput{MaxResults: aws.Int32(5)})
		var got []string
		var sizes []int
		for p.HasMorePages() {
			out, err := p.NextPage(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			sizes = append(sizes, len(out.Reservations))
			got = append(got, instanceIDsOf(t, out.Reservations)...)
		}
		if !slices.Equal(sizes, []int{5, 5, 2}) || !slices.Equal(got, want) {
			t.Errorf("pages of %v: %v, want %v", sizes, got, want)
		}
	})

	t.Run("filtered", func(t *testing.T) {
		p := ec2.NewDescribeInstancesPaginator(f.client, &ec2.DescribeInstancesInput{
			MaxResults: aws.Int32(5), Filters: []types.Filter{filter("availability-zone", "us-east-1a", "us-east-1b")},
		})
		var got []string
		for p.HasMorePages() {
			out, err := p.NextPage(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, instanceIDsOf(t, out.Reservations)...)
		}
		if len(got) != 4 {
			t.Errorf("got %v, want the 4 instances of us-east-1a and b", got)
		}
	})

	t.Run("exactly one page", func(t *testing.T) {
		out, err := f.client.DescribeInstances(t.Context(), &ec2.DescribeInstancesInput{MaxResults: aws.Int32(12)})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Reservations) != 12 || out.NextToken != nil {
			t.Errorf("%d reservations, NextToken %v", len(out.Reservations), out.NextToken)
		}
	})
}

func TestDescribeInstancesErrors(t *testing.T) {
	f := newInstanceFixture(t)
	web1, _, _, _ := f.fleet(t)
	ctx := t.Context()
	describe := func(in ec2.DescribeInstancesInput) func() error {
		return func() error {
			_, err := f.client.DescribeInstances(ctx, &in)
			return err
		}
	}
	tests := []struct {
		name    string
		call    func() error
		code    string
		message string // when set, the exact message
	}{
		{"unknown id", describe(ec2.DescribeInstancesInput{InstanceIds: []string{web1.ID, "i-0123456789abcdef0"}}),
			"InvalidInstanceID.NotFound", "The instance ID 'i-0123456789abcdef0' does not exist"},
		{"unknown ids", describe(ec2.DescribeInstancesInput{InstanceIds: []string{"i-0123456789abcdef0", "i-12345678"}}),
			"InvalidInstanceID.NotFound", "The instance IDs 'i-0123456789abcdef0, i-12345678' do not exist"},
		{"malformed id", describe(ec2.DescribeInstancesInput{InstanceIds: []string{web1.ID, "web-1"}}),
			"InvalidInstanceID.Malformed", `Invalid id: "web-1"`},
		{"id of wrong length", describe(ec2.DescribeInstancesInput{InstanceIds: []string{"i-0123"}}),
			"InvalidInstanceID.Malformed", `Invalid id: "i-0123"`},
		{"upper-case id", describe(ec2.DescribeInstancesInput{InstanceIds: []string{"i-0123456789ABCDEF0"}}),
			"InvalidInstanceID.Malformed", ""},
		{"unknown filter", describe(ec2.DescribeInstancesInput{Filters: []types.Filter{filter("instance-colour", "red")}}),
			"InvalidParameterValue", "The filter 'instance-colour' is invalid"},
		{"tag: without key", describe(ec2.DescribeInstancesInput{Filters: []types.Filter{filter("tag:", "x")}}),
			"InvalidParameterValue", ""},
		{"filter without values", describe(ec2.DescribeInstancesInput{Filters: []types.Filter{{Name: aws.String("instance-id")}}}),
			"MissingParameter", ""},
		{"MaxResults too small", describe(ec2.DescribeInstancesInput{MaxResults: aws.Int32(4)}),
			"InvalidParameterValue", "Value ( 4 ) for parameter maxResults is invalid. Parameter must be between 5 and 1000."},
		{"MaxResults too large", describe(ec2.DescribeInstancesInput{MaxResults: aws.Int32(1001)}),
			"InvalidParameterValue", ""},
		{"MaxResults with ids", describe(ec2.DescribeInstancesInput{MaxResults: aws.Int32(5), InstanceIds: []string{web1.ID}}),
			"InvalidParameterCombination", "The parameter instancesSet cannot be used with the parameter maxResults"},
		{"bad NextToken", describe(ec2.DescribeInstancesInput{NextToken: aws.String("garbage")}),
			"InvalidPaginationToken", ""},
		{"NextToken of another action", describe(ec2.DescribeInstancesInput{NextToken: aws.String(nextSubnetsToken(t, f))}),
			"InvalidPaginationToken", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			wantAPIError(t, err, tt.code, http.StatusBadRequest)
			var ae smithy.APIError
			if tt.message != "" && errors.As(err, &ae) && ae.ErrorMessage() != tt.message {
				t.Errorf("message = %q, want %q", ae.ErrorMessage(), tt.message)
			}
		})
	}
}

// nextSubnetsToken returns a DescribeSubnets pagination token.
func nextSubnetsToken(t *testing.T, f *instanceFixture) string {
	t.Helper()
	out, err := f.client.DescribeSubnets(t.Context(), &ec2.DescribeSubnetsInput{MaxResults: aws.Int32(5)})
	if err != nil || out.NextToken == nil {
		t.Fatalf("DescribeSubnets: %v, %v", out, err)
	}
	return *out.NextToken
}

func TestTerminateInstances(t *testing.T) {
	f := newInstanceFixture(t)
	web1, web2, batch, gone := f.fleet(t)
	type change struct{ id, prev, cur string }
	terminate := func(t *testing.T, ids ...string) []change {
		t.Helper()
		out, err := f.client.TerminateInstances(t.Context(), &ec2.TerminateInstancesInput{InstanceIds: ids})
		if err != nil {
			t.Fatal(err)
		}
		var got []change
		for _, c := range out.TerminatingInstances {
			if aws.ToInt32(c.CurrentState.Code) != int32(compute.StateCodes[string(c.CurrentState.Name)]) ||
				aws.ToInt32(c.PreviousState.Code) != int32(compute.StateCodes[string(c.PreviousState.Name)]) {
				t.Errorf("state codes of %+v", c)
			}
			got = append(got, change{aws.ToString(c.InstanceId), string(c.PreviousState.Name), string(c.CurrentState.Name)})
		}
		return got
	}

	got := terminate(t, web1.ID, batch.ID, gone.ID)
	want := []change{
		{web1.ID, "running", "shutting-down"},
		{batch.ID, "pending", "shutting-down"},
		{gone.ID, "terminated", "terminated"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("first call: %v, want %v", got, want)
	}
	if got := terminate(t, web1.ID); !slices.Equal(got, []change{{web1.ID, "shutting-down", "shutting-down"}}) {
		t.Errorf("second call: %v", got)
	}

	out, err := f.client.DescribeInstances(t.Context(), &ec2.DescribeInstancesInput{Filters: []types.Filter{filter("instance-state-name", "shutting-down")}})
	if err != nil {
		t.Fatal(err)
	}
	if got := instanceIDsOf(t, out.Reservations); !slices.Equal(got, ids(web1, batch)) {
		t.Errorf("shutting-down: %v", got)
	}
	for _, r := range out.Reservations {
		in := r.Instances[0]
		if in.StateReason == nil || aws.ToString(in.StateReason.Code) != userShutdown.Code ||
			aws.ToString(in.StateReason.Message) != userShutdown.Message || aws.ToInt32(in.State.Code) != 32 ||
			aws.ToString(in.StateTransitionReason) != "User initiated" || aws.ToString(in.PrivateIpAddress) == "" {
			t.Errorf("shutting-down instance = %+v", in)
		}
	}

	ctx := t.Context()
	errTests := []struct {
		name    string
		ids     []string
		code    string
		message string
	}{
		{"unknown id", []string{web2.ID, "i-0123456789abcdef0"}, "InvalidInstanceID.NotFound", "The instance ID 'i-0123456789abcdef0' does not exist"},
		{"unknown ids", []string{"i-0123456789abcdef0", "i-0123456789abcdef1"}, "InvalidInstanceID.NotFound", "The instance IDs 'i-0123456789abcdef0, i-0123456789abcdef1' do not exist"},
		{"malformed id", []string{web2.ID, "i-xyz"}, "InvalidInstanceID.Malformed", `Invalid id: "i-xyz"`},
	}
	for _, tt := range errTests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.client.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: tt.ids})
			wantAPIError(t, err, tt.code, http.StatusBadRequest)
			var ae smithy.APIError
			if errors.As(err, &ae) && ae.ErrorMessage() != tt.message {
				t.Errorf("message = %q, want %q", ae.ErrorMessage(), tt.message)
			}
		})
	}
	// A failed call terminates nothing.
	in, _, err := f.svc.Instance(ctx, web2.ID)
	if err != nil {
		t.Fatal(err)
	}
	if in.State != compute.StateRunning {
		t.Errorf("web2 is %s after failed calls", in.State)
	}
}

// TestInstancesWithoutCompute covers a handler configured without a
// compute service: no instances at all.
func TestInstancesWithoutCompute(t *testing.T) {
	f := newFixture(t)
	out, err := f.client.DescribeInstances(t.Context(), &ec2.DescribeInstancesInput{Filters: []types.Filter{filter("instance-state-name", "running")}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Reservations) != 0 {
		t.Errorf("reservations = %+v", out.Reservations)
	}
	_, err = f.client.DescribeInstances(t.Context(), &ec2.DescribeInstancesInput{InstanceIds: []string{"i-0123456789abcdef0"}})
	wantAPIError(t, err, "InvalidInstanceID.NotFound", http.StatusBadRequest)
	_, err = f.client.TerminateInstances(t.Context(), &ec2.TerminateInstancesInput{InstanceIds: []string{"i-0123456789abcdef0"}})
	wantAPIError(t, err, "InvalidInstanceID.NotFound", http.StatusBadRequest)
}

// TestInstancesQueryForm sends what `aws ec2 describe-instances` and
// `aws ec2 terminate-instances` put on the wire, as raw query requests.
func TestInstancesQueryForm(t *testing.T) {
	f := newInstanceFixture(t)
	web1, web2, batch, _ := f.fleet(t)
	type stateXML struct {
		Code int    `xml:"code"`
		Name string `xml:"name"`
	}
	type describeXML struct {
		Reservations []struct {
			ReservationID string `xml:"reservationId"`
			Instances     []struct {
				ID    string   `xml:"instanceId"`
				State stateXML `xml:"instanceState"`
			} `xml:"instancesSet>item"`
		} `xml:"reservationSet>item"`
		NextToken string `xml:"nextToken"`
	}
	describe := func(t *testing.T, method string, form url.Values) describeXML {
		t.Helper()
		form.Set("Action", "DescribeInstances")
		form.Set("Version", "2016-11-15")
		status, body := post(t, method, f.url, form)
		if status != http.StatusOK {
			t.Fatalf("status %d: %s", status, body)
		}
		var out describeXML
		if err := xml.Unmarshal([]byte(body), &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	idsOf := func(d describeXML) []string {
		out := []string{}
		for _, r := range d.Reservations {
			for _, in := range r.Instances {
				out = append(out, in.ID)
			}
		}
		return out
	}

	// aws ec2 describe-instances --filters Name=instance-state-name,Values=running,pending Name=tag:Name,Values=web-*
	got := idsOf(describe(t, http.MethodPost, url.Values{
		"Filter.1.Name": {"instance-state-name"}, "Filter.1.Value.1": {"running"}, "Filter.1.Value.2": {"pending"},
		"Filter.2.Name": {"tag:Name"}, "Filter.2.Value.1": {"web-*"},
	}))
	if !slices.Equal(got, ids(web1, web2)) {
		t.Errorf("filters: %v", got)
	}
	// aws ec2 describe-instances --instance-ids ID ID (GET works too)
	got = idsOf(describe(t, http.MethodGet, url.Values{"InstanceId.1": {batch.ID}, "InstanceId.2": {web1.ID}}))
	if !slices.Equal(got, ids(web1, batch)) {
		t.Errorf("ids: %v", got)
	}
	// aws ec2 describe-instances --page-size 5: the CLI follows NextToken.
	var all []string
	token := ""
	for pages := 0; ; pages++ {
		form := url.Values{"MaxResults": {"5"}}
		if token != "" {
			form.Set("NextToken", token)
		}
		d := describe(t, http.MethodPost, form)
		all = append(all, idsOf(d)...)
		if token = d.NextToken; token == "" || pages > 3 {
			break
		}
	}
	if len(all) != 4 {
		t.Errorf("pages: %v", all)
	}

	// aws ec2 terminate-instances --instance-ids ID
	status, body := post(t, http.MethodPost, f.url, url.Values{
		"Action": {"TerminateInstances"}, "Version": {"2016-11-15"}, "InstanceId.1": {web2.ID},
	})
	var term struct {
		XMLName   xml.Name
		RequestID string `xml:"requestId"`
		Items     []struct {
			ID       string   `xml:"instanceId"`
			Current  stateXML `xml:"currentState"`
			Previous stateXML `xml:"previousState"`
		} `xml:"instancesSet>item"`
	}
	if err := xml.Unmarshal([]byte(body), &term); err != nil || status != http.StatusOK {
		t.Fatalf("status %d, %v: %s", status, err, body)
	}
	if term.XMLName.Local != "TerminateInstancesResponse" || term.XMLName.Space != ec2api.Namespace || term.RequestID == "" ||
		len(term.Items) != 1 || term.Items[0].ID != web2.ID ||
		term.Items[0].Current != (stateXML{32, "shutting-down"}) || term.Items[0].Previous != (stateXML{16, "running"}) {
		t.Errorf("terminate: %s", body)
	}

	errTests := []struct {
		name string
		form url.Values
		code string
	}{
		{"terminate without ids", url.Values{"Action": {"TerminateInstances"}, "Version": {"2016-11-15"}}, "MissingParameter"},
		{"terminate with bad index", url.Values{"Action": {"TerminateInstances"}, "Version": {"2016-11-15"}, "InstanceId.x": {web1.ID}}, "InvalidParameterValue"},
		{"empty id", url.Values{"Action": {"DescribeInstances"}, "Version": {"2016-11-15"}, "InstanceId.1": {""}}, "InvalidInstanceID.Malformed"},
		{"MaxResults not a number", url.Values{"Action": {"DescribeInstances"}, "Version": {"2016-11-15"}, "MaxResults": {"ten"}}, "InvalidParameterValue"},
		{"terminate dry run", url.Values{"Action": {"TerminateInstances"}, "Version": {"2016-11-15"}, "InstanceId.1": {web1.ID}, "DryRun": {"true"}}, "DryRunOperation"},
	}
	for _, tt := range errTests {
		t.Run(tt.name, func(t *testing.T) {
			_, body := post(t, http.MethodPost, f.url, tt.form)
			var e struct {
				Code string `xml:"Errors>Error>Code"`
			}
			if err := xml.Unmarshal([]byte(body), &e); err != nil || e.Code != tt.code {
				t.Errorf("got %s, want code %s", body, tt.code)
			}
		})
	}
	if in, _, err := f.svc.Instance(t.Context(), web1.ID); err != nil || in.State != compute.StateRunning {
		t.Errorf("web1 after a dry run: %v, %v", in, err)
	}
}

// TestInstancesGolden pins a DescribeInstances and a TerminateInstances
// answer byte for byte, for an instance stored with fixed IDs.
func TestInstancesGolden(t *testing.T) {
	f := newInstanceFixture(t)
	sub := f.net.Subnets[1]
	in := compute.Instance{
		ID: "i-0a1b2c3d4e5f60718", Type: "m7g.large", ImageID: "ami-0123456789abcdef0",
		SubnetID: sub.ID, VpcID: sub.VpcID, AZ: sub.AZ, PrivateIP: "172.31.128.10", PrivateDNS: "ip-172-31-128-10.ec2.internal",
		State: compute.StateRunning, LaunchTime: epoch, CapacityType: compute.Spot,
		Tags: map[string]string{"Name": "web", "eks:cluster-name": "demo", "aws:autoscaling:groupName": "eks-ng-1"},
	}
	raw, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.Apply(t.Context(), store.Op{Kind: compute.KindInstance, Key: in.ID, Value: raw, Create: true}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		file string
		form url.Values
	}{
		{"describe-instances.xml", url.Values{"Action": {"DescribeInstances"}, "Version": {"2016-11-15"}}},
		{"terminate-instances.xml", url.Values{"Action": {"TerminateInstances"}, "Version": {"2016-11-15"}, "InstanceId.1": {in.ID}}},
		{"describe-instances-terminating.xml", url.Values{"Action": {"DescribeInstances"}, "Version": {"2016-11-15"}, "InstanceId.1": {in.ID}}},
		{"error-instance-not-found.xml", url.Values{"Action": {"DescribeInstances"}, "Version": {"2016-11-15"}, "InstanceId.1": {"i-0123456789abcdef0"}}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			_, body := post(t, http.MethodPost, f.url, tt.form)
			golden(t, tt.file, body)
		})
	}
}

// golden compares a response with testdata/file, request ids blanked;
// -update rewrites the file.
func golden(t *testing.T, file, body string) {
	t.Helper()
	got := requestIDRE.ReplaceAllString(body, "<$1>00000000-0000-4000-8000-000000000000</$2>")
	path := filepath.Join("testdata", file)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("response differs from %s (run with -update after a deliberate change):\n%s", path, got)
	}
}
