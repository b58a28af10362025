package ec2api_test

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

const testCA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"

func TestLaunchTemplates(t *testing.T) {
	f := newInstanceFixture(t)
	ctx := context.Background()
	out, err := f.client.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{
		LaunchTemplateName: aws.String("nodes"), VersionDescription: aws.String("first"),
		LaunchTemplateData: &types.RequestLaunchTemplateData{
			ImageId: aws.String("ami-0123456789abcdef0"), InstanceType: types.InstanceTypeM5Large,
			BlockDeviceMappings: []types.LaunchTemplateBlockDeviceMappingRequest{{DeviceName: aws.String("/dev/xvda"),
				Ebs: &types.LaunchTemplateEbsBlockDeviceRequest{VolumeSize: aws.Int32(50), VolumeType: types.VolumeTypeGp3}}},
		},
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeLaunchTemplate, Tags: []types.Tag{{Key: aws.String("team"), Value: aws.String("a")}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	lt := out.LaunchTemplate
	if !strings.HasPrefix(aws.ToString(lt.LaunchTemplateId), "lt-") || aws.ToInt64(lt.DefaultVersionNumber) != 1 || len(lt.Tags) != 1 {
		t.Errorf("CreateLaunchTemplate = %+v", lt)
	}
	_, err = f.client.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{LaunchTemplateName: aws.String("nodes"),
		LaunchTemplateData: &types.RequestLaunchTemplateData{ImageId: aws.String("ami-0123456789abcdef0")}})
	wantAPIError(t, err, "InvalidLaunchTemplateName.AlreadyExistsException", http.StatusBadRequest)
	_, err = f.client.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{LaunchTemplateName: aws.String("a b"),
		LaunchTemplateData: &types.RequestLaunchTemplateData{ImageId: aws.String("ami-0123456789abcdef0")}})
	wantAPIError(t, err, "InvalidLaunchTemplateName.MalformedException", http.StatusBadRequest)
	_, err = f.client.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{LaunchTemplateName: aws.String("bad-ud"),
		LaunchTemplateData: &types.RequestLaunchTemplateData{UserData: aws.String("%%%")}})
	wantAPIError(t, err, "InvalidParameterValue", http.StatusBadRequest)
	// A member berth does not model is refused, not ignored.
	_, err = f.client.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{LaunchTemplateName: aws.String("hib"),
		LaunchTemplateData: &types.RequestLaunchTemplateData{HibernationOptions: &types.LaunchTemplateHibernationOptionsRequest{Configured: aws.Bool(true)}}})
	wantAPIError(t, err, "InvalidParameterValue", http.StatusBadRequest)

	// Version 2 from version 1: its members, with the type replaced.
	v2, err := f.client.CreateLaunchTemplateVersion(ctx, &ec2.CreateLaunchTemplateVersionInput{
		LaunchTemplateName: aws.String("nodes"), SourceVersion: aws.String("1"),
		LaunchTemplateData: &types.RequestLaunchTemplateData{InstanceType: types.InstanceTypeC5Xlarge},
	})
	if err != nil {
		t.Fatal(err)
	}
	d := v2.LaunchTemplateVersion.LaunchTemplateData
	if aws.ToInt64(v2.LaunchTemplateVersion.VersionNumber) != 2 || d.InstanceType != types.InstanceTypeC5Xlarge ||
		aws.ToString(d.ImageId) != "ami-0123456789abcdef0" || len(d.BlockDeviceMappings) != 1 || aws.ToBool(v2.LaunchTemplateVersion.DefaultVersion) {
		t.Errorf("CreateLaunchTemplateVersion = %+v", v2.LaunchTemplateVersion)
	}
	latest, err := f.client.DescribeLaunchTemplateVersions(ctx, &ec2.DescribeLaunchTemplateVersionsInput{
		LaunchTemplateId: lt.LaunchTemplateId, Versions: []string{"$Latest", "$Default"}})
	if err != nil || len(latest.LaunchTemplateVersions) != 2 || aws.ToInt64(latest.LaunchTemplateVersions[0].VersionNumber) != 2 ||
		aws.ToInt64(latest.LaunchTemplateVersions[1].VersionNumber) != 1 {
		t.Fatalf("DescribeLaunchTemplateVersions = %+v, %v", latest, err)
	}
	_, err = f.client.DescribeLaunchTemplateVersions(ctx, &ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateId: lt.LaunchTemplateId, Versions: []string{"9"}})
	wantAPIError(t, err, "InvalidLaunchTemplateId.VersionNotFound", http.StatusBadRequest)
	if _, err := f.client.ModifyLaunchTemplate(ctx, &ec2.ModifyLaunchTemplateInput{LaunchTemplateId: lt.LaunchTemplateId, DefaultVersion: aws.String("2")}); err != nil {
		t.Fatal(err)
	}
	list, err := f.client.DescribeLaunchTemplates(ctx, &ec2.DescribeLaunchTemplatesInput{Filters: []types.Filter{filter("tag:team", "a")}})
	if err != nil || len(list.LaunchTemplates) != 1 || aws.ToInt64(list.LaunchTemplates[0].DefaultVersionNumber) != 2 || aws.ToInt64(list.LaunchTemplates[0].LatestVersionNumber) != 2 {
		t.Fatalf("DescribeLaunchTemplates = %+v, %v", list, err)
	}
	_, err = f.client.DescribeLaunchTemplates(ctx, &ec2.DescribeLaunchTemplatesInput{LaunchTemplateNames: []string{"missing"}})
	wantAPIError(t, err, "InvalidLaunchTemplateName.NotFoundException", http.StatusBadRequest)
	_, err = f.client.DescribeLaunchTemplates(ctx, &ec2.DescribeLaunchTemplatesInput{LaunchTemplateIds: []string{"lt-bad"}})
	wantAPIError(t, err, "InvalidLaunchTemplateId.Malformed", http.StatusBadRequest)

	// Launched from the template's default (version 2): its type and
	// disk, and the template's marks.
	run, err := f.client.RunInstances(ctx, &ec2.RunInstancesInput{MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		LaunchTemplate: &types.LaunchTemplateSpecification{LaunchTemplateName: aws.String("nodes")}})
	if err != nil {
		t.Fatal(err)
	}
	in, _, err := f.svc.Instance(ctx, aws.ToString(run.Instances[0].InstanceId))
	if err != nil {
		t.Fatal(err)
	}
	if in.Type != "c5.xlarge" || in.Node.DiskGiB != 50 || in.Tags["aws:ec2launchtemplate:id"] != aws.ToString(lt.LaunchTemplateId) ||
		in.Tags["aws:ec2launchtemplate:version"] != "2" || in.Cluster != "" || in.Group != "" {
		t.Errorf("launched instance = %+v", in)
	}

	if _, err := f.client.DeleteLaunchTemplate(ctx, &ec2.DeleteLaunchTemplateInput{LaunchTemplateName: aws.String("nodes")}); err != nil {
		t.Fatal(err)
	}
	_, err = f.client.DescribeLaunchTemplateVersions(ctx, &ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateId: lt.LaunchTemplateId})
	wantAPIError(t, err, "InvalidLaunchTemplateId.NotFound", http.StatusBadRequest)
}

func TestRunInstances(t *testing.T) {
	f := newInstanceFixture(t)
	ctx := context.Background()
	nodeConfig := "apiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\nspec:\n  cluster:\n    name: demo\n" +
		"    apiServerEndpoint: https://127.0.0.1:24000\n    certificateAuthority: " + base64.StdEncoding.EncodeToString([]byte(testCA)) +
		"\n    cidr: 10.100.0.0/16\n  kubelet:\n    config:\n      maxPods: 20\n    flags: [\"--node-labels=team=a\", \"--register-with-taints=gpu=yes:NoSchedule\"]\n"
	subnet := f.net.Subnets[3].ID
	run, err := f.client.RunInstances(ctx, &ec2.RunInstancesInput{
		ImageId: aws.String("ami-0123456789abcdef0"), InstanceType: types.InstanceTypeM5Large, MinCount: aws.Int32(2), MaxCount: aws.Int32(2),
		SubnetId: aws.String(subnet), UserData: aws.String(base64.StdEncoding.EncodeToString([]byte(nodeConfig))),
		ClientToken:           aws.String("token-1"),
		InstanceMarketOptions: &types.InstanceMarketOptionsRequest{MarketType: types.MarketTypeSpot},
		TagSpecifications:     []types.TagSpecification{{ResourceType: types.ResourceTypeInstance, Tags: []types.Tag{{Key: aws.String("Name"), Value: aws.String("n")}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(run.Instances) != 2 || aws.ToString(run.Instances[0].SubnetId) != subnet || run.Instances[0].State.Name != types.InstanceStateNamePending ||
		run.Instances[0].InstanceLifecycle != types.InstanceLifecycleTypeSpot || aws.ToString(run.OwnerId) != account {
		t.Fatalf("RunInstances = %+v", run)
	}
	in, _, err := f.svc.Instance(ctx, aws.ToString(run.Instances[0].InstanceId))
	if err != nil {
		t.Fatal(err)
	}
	if in.Cluster != "demo" || in.Join == nil || in.Join.Endpoint != "https://127.0.0.1:24000" || string(in.Join.CA) != testCA ||
		in.Node.Labels["team"] != "a" || len(in.Node.Taints) != 1 || in.Node.MaxPods != 20 || in.Tags["Name"] != "n" {
		t.Errorf("instance from NodeConfig user data = %+v", in)
	}
	// The same client token: the same instances.
	again, err := f.client.RunInstances(ctx, &ec2.RunInstancesInput{
		ImageId: aws.String("ami-0123456789abcdef0"), InstanceType: types.InstanceTypeM5Large, MinCount: aws.Int32(2), MaxCount: aws.Int32(2),
		ClientToken: aws.String("token-1"),
	})
	if err != nil || len(again.Instances) != 2 || aws.ToString(again.ReservationId) != aws.ToString(run.ReservationId) {
		t.Errorf("RunInstances with the same client token = %+v, %v", again, err)
	}
	// Console output: nothing yet.
	cons, err := f.client.GetConsoleOutput(ctx, &ec2.GetConsoleOutputInput{InstanceId: run.Instances[0].InstanceId})
	if err != nil || aws.ToString(cons.Output) != "" {
		t.Errorf("GetConsoleOutput = %+v, %v", cons, err)
	}

	base := func() *ec2.RunInstancesInput {
		return &ec2.RunInstancesInput{ImageId: aws.String("ami-0123456789abcdef0"), InstanceType: types.InstanceTypeM5Large,
			MinCount: aws.Int32(1), MaxCount: aws.Int32(1)}
	}
	bad := []struct {
		name   string
		mutate func(*ec2.RunInstancesInput)
		code   string
	}{
		{"no image", func(in *ec2.RunInstancesInput) { in.ImageId = nil }, "MissingParameter"},
		{"no type", func(in *ec2.RunInstancesInput) { in.InstanceType = "" }, "InvalidParameterValue"},
		{"unknown type", func(in *ec2.RunInstancesInput) { in.InstanceType = "m9.huge" }, "InvalidParameterValue"},
		{"zero count", func(in *ec2.RunInstancesInput) { in.MinCount = aws.Int32(0) }, "InvalidParameterValue"},
		{"unknown subnet", func(in *ec2.RunInstancesInput) { in.SubnetId = aws.String("subnet-0123456789abcdef0") }, "InvalidSubnetID.NotFound"},
		{"malformed subnet", func(in *ec2.RunInstancesInput) { in.SubnetId = aws.String("net-1") }, "InvalidSubnetID.Malformed"},
		{"unknown group", func(in *ec2.RunInstancesInput) { in.SecurityGroupIds = []string{"sg-0123456789abcdef0"} }, "InvalidGroup.NotFound"},
		{"profile", func(in *ec2.RunInstancesInput) {
			in.IamInstanceProfile = &types.IamInstanceProfileSpecification{Name: aws.String("p")}
		}, "InvalidParameterValue"},
		{"zone and subnet disagree", func(in *ec2.RunInstancesInput) {
			in.SubnetId = aws.String(subnet)
			in.Placement = &types.Placement{AvailabilityZone: aws.String("us-east-1c")}
		}, "InvalidParameterValue"},
		{"address outside the subnet", func(in *ec2.RunInstancesInput) {
			in.SubnetId, in.PrivateIpAddress = aws.String(subnet), aws.String("10.9.9.9")
		}, "InvalidParameterValue"},
		{"unmodelled parameter", func(in *ec2.RunInstancesInput) {
			in.HibernationOptions = &types.HibernationOptionsRequest{Configured: aws.Bool(true)}
		}, "InvalidParameterValue"},
		{"unknown provider", func(in *ec2.RunInstancesInput) {
			in.TagSpecifications = []types.TagSpecification{{ResourceType: types.ResourceTypeInstance,
				Tags: []types.Tag{{Key: aws.String("berth:provider"), Value: aws.String("metal")}}}}
		}, "InvalidParameterValue"},
		{"real nodes on a machine without their packages", func(in *ec2.RunInstancesInput) {
			in.TagSpecifications = []types.TagSpecification{{ResourceType: types.ResourceTypeInstance,
				Tags: []types.Tag{{Key: aws.String("berth:provider"), Value: aws.String("real")}}}}
		}, "InvalidParameterValue"},
	}
	for _, b := range bad {
		in := base()
		b.mutate(in)
		_, err := f.client.RunInstances(ctx, in)
		wantAPIError(t, err, b.code, http.StatusBadRequest)
		if t.Failed() {
			t.Fatalf("case %s", b.name)
		}
	}
	// A missing MaxCount, which the SDK would not send.
	resp, err := http.PostForm(f.url, url.Values{"Action": {"RunInstances"}, "Version": {"2016-11-15"}, "MinCount": {"1"}, "ImageId": {"ami-0123456789abcdef0"}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "<Code>MissingParameter</Code>") {
		t.Errorf("RunInstances without MaxCount: %d %s", resp.StatusCode, body)
	}
	_, err = f.client.GetConsoleOutput(ctx, &ec2.GetConsoleOutputInput{InstanceId: aws.String("i-0123456789abcdef0")})
	wantAPIError(t, err, "InvalidInstanceID.NotFound", http.StatusBadRequest)
}
