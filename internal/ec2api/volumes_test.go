package ec2api_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/berthproject/berth/internal/compute"
	"github.com/berthproject/berth/internal/ebs"
	"github.com/berthproject/berth/internal/ec2api"
)

// volumeFixture serves a handler over real compute and EBS services.
type volumeFixture struct {
	*instanceFixture
	ebs *ebs.Service
}

func newVolumeFixture(t *testing.T) *volumeFixture {
	t.Helper()
	f := newInstanceFixture(t)
	svc, err := ebs.New(ebs.Config{Store: f.st, Network: f.net, Instances: f.svc, Account: account, Region: "us-east-1",
		DataDir: filepath.Join(t.TempDir(), "ebs"), Now: f.svc.Now})
	if err != nil {
		t.Fatal(err)
	}
	h, err := ec2api.New(ec2api.Config{Network: f.net, Account: account, Instances: f.svc, Volumes: svc})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	f.url, f.client = srv.URL, sdkClient(srv)
	return &volumeFixture{instanceFixture: f, ebs: svc}
}

// runningInstance launches a running m5.large in the zone of a subnet.
func (f *volumeFixture) runningInstance(t *testing.T, az string) *compute.Instance {
	t.Helper()
	var subnet string
	for _, s := range f.net.Subnets {
		if s.AZ == az && s.Public {
			subnet = s.ID
		}
	}
	in := f.launch(t, compute.LaunchSpec{Type: "m5.large", SubnetID: subnet, CapacityType: compute.OnDemand})[0]
	f.setState(t, compute.StateRunning, compute.Reason{}, in)
	return in
}

func (f *volumeFixture) createVolume(t *testing.T, in *ec2.CreateVolumeInput) *ec2.CreateVolumeOutput {
	t.Helper()
	out, err := f.client.CreateVolume(t.Context(), in)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func volumeIDsOf(vs []types.Volume) []string {
	var out []string
	for _, v := range vs {
		out = append(out, aws.ToString(v.VolumeId))
	}
	return out
}

func TestVolumeLifecycle(t *testing.T) {
	f := newVolumeFixture(t)
	ctx := t.Context()
	in := f.runningInstance(t, "us-east-1a")
	created := f.createVolume(t, &ec2.CreateVolumeInput{
		AvailabilityZone: aws.String("us-east-1a"), Size: aws.Int32(10), VolumeType: types.VolumeTypeGp3,
		Iops: aws.Int32(4000), Throughput: aws.Int32(250), Encrypted: aws.Bool(true),
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeVolume, Tags: []types.Tag{
			{Key: aws.String("Name"), Value: aws.String("data")}, {Key: aws.String("team"), Value: aws.String("blue")},
		}}},
	})
	id := aws.ToString(created.VolumeId)
	if created.State != types.VolumeStateCreating || aws.ToInt32(created.Size) != 10 || created.VolumeType != types.VolumeTypeGp3 ||
		aws.ToInt32(created.Iops) != 4000 || aws.ToInt32(created.Throughput) != 250 || !aws.ToBool(created.Encrypted) ||
		aws.ToString(created.KmsKeyId) == "" || len(created.Tags) != 2 || created.CreateTime == nil || aws.ToString(created.AvailabilityZoneId) != "use1-az1" {
		t.Fatalf("created = %+v", created)
	}
	other := f.createVolume(t, &ec2.CreateVolumeInput{AvailabilityZone: aws.String("us-east-1b"), Size: aws.Int32(200), VolumeType: types.VolumeTypeSt1})

	// The SDK's waiter sees it available.
	if err := ec2.NewVolumeAvailableWaiter(f.client).Wait(ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{id}}, time.Minute); err != nil {
		t.Fatal(err)
	}
	att, err := f.client.AttachVolume(ctx, &ec2.AttachVolumeInput{VolumeId: aws.String(id), InstanceId: aws.String(in.ID), Device: aws.String("/dev/sdf")})
	if err != nil || att.State != types.VolumeAttachmentStateAttaching || aws.ToString(att.Device) != "/dev/sdf" || aws.ToString(att.InstanceId) != in.ID || att.AttachTime == nil {
		t.Fatalf("attach: %+v %v", att, err)
	}
	if err := ec2.NewVolumeInUseWaiter(f.client).Wait(ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{id}}, time.Minute); err != nil {
		t.Fatal(err)
	}

	filters := []struct {
		name   string
		filter types.Filter
		want   []string
	}{
		{"volume-id", filter("volume-id", id), []string{id}},
		{"status", filter("status", "in-use"), []string{id}},
		{"availability-zone", filter("availability-zone", "us-east-1b"), []string{aws.ToString(other.VolumeId)}},
		{"attachment.instance-id", filter("attachment.instance-id", in.ID), []string{id}},
		{"attachment.status", filter("attachment.status", "attached"), []string{id}},
		{"attachment.device", filter("attachment.device", "/dev/sdf"), []string{id}},
		{"tag:team", filter("tag:team", "bl*"), []string{id}},
		{"tag-key", filter("tag-key", "Name"), []string{id}},
		{"size", filter("size", "200"), []string{aws.ToString(other.VolumeId)}},
		{"volume-type", filter("volume-type", "gp3", "st1"), []string{id, aws.ToString(other.VolumeId)}},
		{"encrypted", filter("encrypted", "false"), []string{aws.ToString(other.VolumeId)}},
		{"snapshot-id", filter("snapshot-id", "snap-0123456789abcdef0"), nil},
	}
	for _, tt := range filters {
		t.Run(tt.name, func(t *testing.T) {
			out, err := f.client.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{Filters: []types.Filter{tt.filter}})
			if err != nil {
				t.Fatal(err)
			}
			if got := volumeIDsOf(out.Volumes); !slices.Equal(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
	desc, err := f.client.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{id}})
	if err != nil || len(desc.Volumes) != 1 {
		t.Fatalf("describe: %+v %v", desc, err)
	}
	v := desc.Volumes[0]
	if v.State != types.VolumeStateInUse || len(v.Attachments) != 1 || v.Attachments[0].State != types.VolumeAttachmentStateAttached ||
		aws.ToString(v.Attachments[0].VolumeId) != id || aws.ToBool(v.Attachments[0].DeleteOnTermination) || aws.ToBool(v.MultiAttachEnabled) {
		t.Fatalf("described: %+v", v)
	}

	_, err = f.client.DeleteVolume(ctx, &ec2.DeleteVolumeInput{VolumeId: aws.String(id)})
	wantAPIError(t, err, "VolumeInUse", http.StatusBadRequest)
	det, err := f.client.DetachVolume(ctx, &ec2.DetachVolumeInput{VolumeId: aws.String(id), Force: aws.Bool(true)})
	if err != nil || det.State != types.VolumeAttachmentStateDetaching {
		t.Fatalf("detach: %+v %v", det, err)
	}
	_, err = f.client.DetachVolume(ctx, &ec2.DetachVolumeInput{VolumeId: aws.String(id)})
	wantAPIError(t, err, "IncorrectState", http.StatusBadRequest)
	if _, err := f.client.DeleteVolume(ctx, &ec2.DeleteVolumeInput{VolumeId: aws.String(id)}); err != nil {
		t.Fatal(err)
	}
	if err := ec2.NewVolumeDeletedWaiter(f.client).Wait(ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{id}}, time.Minute); err != nil {
		t.Fatal(err)
	}
	_, err = f.client.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{id}})
	wantAPIError(t, err, "InvalidVolume.NotFound", http.StatusBadRequest)
}

func TestModifyVolumeAPI(t *testing.T) {
	f := newVolumeFixture(t)
	ctx := t.Context()
	id := aws.ToString(f.createVolume(t, &ec2.CreateVolumeInput{AvailabilityZone: aws.String("us-east-1a"), Size: aws.Int32(8)}).VolumeId)
	out, err := f.client.ModifyVolume(ctx, &ec2.ModifyVolumeInput{VolumeId: aws.String(id), Size: aws.Int32(16), VolumeType: types.VolumeTypeGp3})
	if err != nil {
		t.Fatal(err)
	}
	m := out.VolumeModification
	if m.ModificationState != types.VolumeModificationStateModifying || aws.ToInt32(m.TargetSize) != 16 || m.TargetVolumeType != types.VolumeTypeGp3 ||
		aws.ToInt32(m.OriginalSize) != 8 || m.OriginalVolumeType != types.VolumeTypeGp2 || aws.ToInt32(m.TargetIops) != 3000 ||
		aws.ToInt32(m.TargetThroughput) != 125 || aws.ToInt32(m.OriginalIops) != 100 || m.StartTime == nil {
		t.Fatalf("modification = %+v", m)
	}
	mods, err := f.client.DescribeVolumesModifications(ctx, &ec2.DescribeVolumesModificationsInput{VolumeIds: []string{id}})
	if err != nil || len(mods.VolumesModifications) != 1 || mods.VolumesModifications[0].ModificationState != types.VolumeModificationStateCompleted ||
		aws.ToInt64(mods.VolumesModifications[0].Progress) != 100 || mods.VolumesModifications[0].EndTime == nil {
		t.Fatalf("modifications: %+v %v", mods, err)
	}
	byState, err := f.client.DescribeVolumesModifications(ctx, &ec2.DescribeVolumesModificationsInput{
		Filters: []types.Filter{filter("modification-state", "optimizing")}})
	if err != nil || len(byState.VolumesModifications) != 0 {
		t.Fatalf("filtered modifications: %+v %v", byState, err)
	}
	v, _ := f.client.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{id}})
	if aws.ToInt32(v.Volumes[0].Size) != 16 || v.Volumes[0].VolumeType != types.VolumeTypeGp3 {
		t.Fatalf("volume after modification: %+v", v.Volumes[0])
	}
	_, err = f.client.ModifyVolume(ctx, &ec2.ModifyVolumeInput{VolumeId: aws.String(id), Size: aws.Int32(4)})
	wantAPIError(t, err, "InvalidParameterValue", http.StatusBadRequest)
	never := aws.ToString(f.createVolume(t, &ec2.CreateVolumeInput{AvailabilityZone: aws.String("us-east-1a"), Size: aws.Int32(8)}).VolumeId)
	_, err = f.client.DescribeVolumesModifications(ctx, &ec2.DescribeVolumesModificationsInput{VolumeIds: []string{never}})
	wantAPIError(t, err, "InvalidVolumeModification.NotFound", http.StatusBadRequest)
}

func TestSnapshotsAPI(t *testing.T) {
	f := newVolumeFixture(t)
	ctx := t.Context()
	vol := aws.ToString(f.createVolume(t, &ec2.CreateVolumeInput{AvailabilityZone: aws.String("us-east-1a"), Size: aws.Int32(3), VolumeType: types.VolumeTypeGp3}).VolumeId)
	snap, err := f.client.CreateSnapshot(ctx, &ec2.CreateSnapshotInput{VolumeId: aws.String(vol), Description: aws.String("nightly"),
		TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeSnapshot, Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}}}})
	if err != nil || snap.State != types.SnapshotStatePending || aws.ToString(snap.VolumeId) != vol || aws.ToInt32(snap.VolumeSize) != 3 ||
		aws.ToString(snap.OwnerId) != account || aws.ToString(snap.Description) != "nightly" || len(snap.Tags) != 1 {
		t.Fatalf("create snapshot: %+v %v", snap, err)
	}
	id := aws.ToString(snap.SnapshotId)
	if err := ec2.NewSnapshotCompletedWaiter(f.client).Wait(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{id}}, time.Minute); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		in   ec2.DescribeSnapshotsInput
		want int
	}{
		{"self", ec2.DescribeSnapshotsInput{OwnerIds: []string{"self"}}, 1},
		{"account", ec2.DescribeSnapshotsInput{OwnerIds: []string{account}}, 1},
		{"amazon", ec2.DescribeSnapshotsInput{OwnerIds: []string{"amazon"}}, 0},
		{"volume-id", ec2.DescribeSnapshotsInput{Filters: []types.Filter{filter("volume-id", vol)}}, 1},
		{"status", ec2.DescribeSnapshotsInput{Filters: []types.Filter{filter("status", "completed")}}, 1},
		{"tag:k", ec2.DescribeSnapshotsInput{Filters: []types.Filter{filter("tag:k", "v")}}, 1},
		{"other tag", ec2.DescribeSnapshotsInput{Filters: []types.Filter{filter("tag:k", "w")}}, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, err := f.client.DescribeSnapshots(ctx, &tt.in)
			if err != nil || len(out.Snapshots) != tt.want {
				t.Fatalf("got %+v %v, want %d", out, err, tt.want)
			}
			if tt.want == 1 && (aws.ToString(out.Snapshots[0].Progress) != "100%" || out.Snapshots[0].StorageTier != types.StorageTierStandard) {
				t.Errorf("snapshot %+v", out.Snapshots[0])
			}
		})
	}
	restored := f.createVolume(t, &ec2.CreateVolumeInput{AvailabilityZone: aws.String("us-east-1c"), SnapshotId: aws.String(id), VolumeType: types.VolumeTypeGp3})
	if aws.ToInt32(restored.Size) != 3 || aws.ToString(restored.SnapshotId) != id {
		t.Fatalf("restored %+v", restored)
	}
	if _, err := f.client.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: aws.String(id)}); err != nil {
		t.Fatal(err)
	}
	_, err = f.client.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: []string{id}})
	wantAPIError(t, err, "InvalidSnapshot.NotFound", http.StatusBadRequest)
	_, err = f.client.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: aws.String(id)})
	wantAPIError(t, err, "InvalidSnapshot.NotFound", http.StatusBadRequest)
}

func TestVolumeErrors(t *testing.T) {
	f := newVolumeFixture(t)
	ctx := t.Context()
	a := f.runningInstance(t, "us-east-1a")
	vol := aws.ToString(f.createVolume(t, &ec2.CreateVolumeInput{AvailabilityZone: aws.String("us-east-1b"), Size: aws.Int32(1)}).VolumeId)
	az := aws.String("us-east-1a")
	tests := []struct {
		name string
		call func() error
		code string
	}{
		{"no zone", func() error {
			_, err := f.client.CreateVolume(ctx, &ec2.CreateVolumeInput{Size: aws.Int32(1)})
			return err
		}, "MissingParameter"},
		{"bad zone", func() error {
			_, err := f.client.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: aws.String("us-east-1z"), Size: aws.Int32(1)})
			return err
		}, "InvalidZone.NotFound"},
		{"too large", func() error {
			_, err := f.client.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: az, Size: aws.Int32(20000)})
			return err
		}, "InvalidParameterValue"},
		{"gp2 iops", func() error {
			_, err := f.client.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: az, Size: aws.Int32(10), Iops: aws.Int32(300)})
			return err
		}, "InvalidParameterCombination"},
		{"io1 ratio", func() error {
			_, err := f.client.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: az, Size: aws.Int32(10), VolumeType: types.VolumeTypeIo1, Iops: aws.Int32(1000)})
			return err
		}, "InvalidParameterValue"},
		{"key without encryption", func() error {
			_, err := f.client.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: az, Size: aws.Int32(10), KmsKeyId: aws.String("alias/x")})
			return err
		}, "InvalidParameterDependency"},
		{"tag resource type", func() error {
			_, err := f.client.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: az, Size: aws.Int32(10),
				TagSpecifications: []types.TagSpecification{{ResourceType: types.ResourceTypeInstance, Tags: []types.Tag{{Key: aws.String("a"), Value: aws.String("b")}}}}})
			return err
		}, "InvalidParameterValue"},
		{"malformed id", func() error {
			_, err := f.client.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{"vol-zz"}})
			return err
		}, "InvalidVolumeID.Malformed"},
		{"unknown filter", func() error {
			_, err := f.client.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{Filters: []types.Filter{filter("colour", "red")}})
			return err
		}, "InvalidParameterValue"},
		{"ids and max results", func() error {
			_, err := f.client.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{vol}, MaxResults: aws.Int32(5)})
			return err
		}, "InvalidParameterCombination"},
		{"zone mismatch", func() error {
			_, err := f.client.AttachVolume(ctx, &ec2.AttachVolumeInput{VolumeId: aws.String(vol), InstanceId: aws.String(a.ID), Device: aws.String("/dev/sdf")})
			return err
		}, "InvalidVolume.ZoneMismatch"},
		{"unknown instance", func() error {
			_, err := f.client.AttachVolume(ctx, &ec2.AttachVolumeInput{VolumeId: aws.String(vol), InstanceId: aws.String("i-0123456789abcdef0"), Device: aws.String("/dev/sdf")})
			return err
		}, "InvalidInstanceID.NotFound"},
		{"bad device", func() error {
			_, err := f.client.AttachVolume(ctx, &ec2.AttachVolumeInput{VolumeId: aws.String(vol), InstanceId: aws.String(a.ID), Device: aws.String("/dev/hda")})
			return err
		}, "InvalidParameterValue"},
		{"detach unknown", func() error {
			_, err := f.client.DetachVolume(ctx, &ec2.DetachVolumeInput{VolumeId: aws.String("vol-0123456789abcdef0")})
			return err
		}, "InvalidVolume.NotFound"},
		{"snapshot of unknown", func() error {
			_, err := f.client.CreateSnapshot(ctx, &ec2.CreateSnapshotInput{VolumeId: aws.String("vol-0123456789abcdef0")})
			return err
		}, "InvalidVolume.NotFound"},
		{"restore unknown snapshot", func() error {
			_, err := f.client.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: az, SnapshotId: aws.String("snap-0123456789abcdef0")})
			return err
		}, "InvalidSnapshot.NotFound"},
		{"dry run", func() error {
			_, err := f.client.CreateVolume(ctx, &ec2.CreateVolumeInput{AvailabilityZone: az, Size: aws.Int32(1), DryRun: aws.Bool(true)})
			return err
		}, "DryRunOperation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status := http.StatusBadRequest
			if tt.code == "DryRunOperation" {
				status = http.StatusPreconditionFailed
			}
			wantAPIError(t, tt.call(), tt.code, status)
		})
	}
	// The SDK checks required members itself; the raw query form gets
	// EC2's own answer.
	status, body := post(t, http.MethodPost, f.url, url.Values{"Action": {"AttachVolume"}, "Version": {"2016-11-15"},
		"VolumeId": {vol}, "InstanceId": {a.ID}})
	if status != http.StatusBadRequest || !strings.Contains(body, "<Code>MissingParameter</Code>") || !strings.Contains(body, "parameter Device") {
		t.Errorf("AttachVolume without a device: %d %s", status, body)
	}
	out, err := f.client.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{})
	if err != nil || len(out.Volumes) != 1 {
		t.Fatalf("refused requests left volumes: %+v %v", out, err)
	}
}

func TestDescribeVolumesPages(t *testing.T) {
	f := newVolumeFixture(t)
	var want []string
	for range 7 {
		want = append(want, aws.ToString(f.createVolume(t, &ec2.CreateVolumeInput{AvailabilityZone: aws.String("us-east-1a"), Size: aws.Int32(1)}).VolumeId))
	}
	var got []string
	p := ec2.NewDescribeVolumesPaginator(f.client, &ec2.DescribeVolumesInput{MaxResults: aws.Int32(5)})
	pages := 0
	for p.HasMorePages() {
		out, err := p.NextPage(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		pages++
		got = append(got, volumeIDsOf(out.Volumes)...)
	}
	if pages != 2 || !slices.Equal(got, want) {
		t.Fatalf("%d pages, %v, want %v", pages, got, want)
	}
}

func TestVolumesWithoutEBS(t *testing.T) {
	f := newFixture(t)
	_, err := f.client.DescribeVolumes(t.Context(), &ec2.DescribeVolumesInput{})
	wantAPIError(t, err, "UnsupportedOperation", http.StatusBadRequest)
}

// The AWS CLI v2 pages DescribeVolumes with MaxResults 1000; EC2 takes it
// as 500.
func TestDescribeVolumesMaxResultsCapped(t *testing.T) {
	f := newVolumeFixture(t)
	out, err := f.client.DescribeVolumes(t.Context(), &ec2.DescribeVolumesInput{MaxResults: aws.Int32(1000)})
	if err != nil || out.NextToken != nil {
		t.Fatalf("DescribeVolumes(MaxResults 1000) = %+v, %v", out, err)
	}
	_, err = f.client.DescribeVolumes(t.Context(), &ec2.DescribeVolumesInput{MaxResults: aws.Int32(2)})
	if err == nil {
		t.Error("DescribeVolumes took MaxResults 2")
	}
}
