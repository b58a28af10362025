package ebs

import (
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func createReq(name string, params map[string]string, caps ...*csi.VolumeCapability) *csi.CreateVolumeRequest {
	if len(caps) == 0 {
		caps = []*csi.VolumeCapability{mountCap("")}
	}
	return &csi.CreateVolumeRequest{Name: name, Parameters: params, VolumeCapabilities: caps,
		CapacityRange: &csi.CapacityRange{RequiredBytes: 10 << 30}}
}

func TestCreateVolumeRefusesBadParameters(t *testing.T) {
	f := newFixture(t, ModeAuto)
	multi := blockCap()
	multi.AccessMode.Mode = csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER
	multiMount := mountCap("")
	multiMount.AccessMode.Mode = csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER
	tests := []struct {
		name string
		req  *csi.CreateVolumeRequest
		code codes.Code
	}{
		{"unknown key", createReq("a", map[string]string{"colour": "red"}), codes.InvalidArgument},
		{"unknown provisioner key", createReq("a", map[string]string{"csi.storage.k8s.io/other": "x"}), codes.InvalidArgument},
		{"bad type", createReq("a", map[string]string{"type": "gp4"}), codes.InvalidArgument},
		{"iops and iopsPerGB", createReq("a", map[string]string{"type": "io2", "iops": "1000", "iopsPerGB": "10"}), codes.InvalidArgument},
		{"iops not a number", createReq("a", map[string]string{"type": "gp3", "iops": "many"}), codes.InvalidArgument},
		{"negative throughput", createReq("a", map[string]string{"type": "gp3", "throughput": "-1"}), codes.InvalidArgument},
		{"encrypted maybe", createReq("a", map[string]string{"encrypted": "maybe"}), codes.InvalidArgument},
		{"bad fsType", createReq("a", map[string]string{"csi.storage.k8s.io/fstype": "ntfs"}), codes.InvalidArgument},
		{"blockSize on block", createReq("a", map[string]string{"blockSize": "4096"}, blockCap()), codes.InvalidArgument},
		{"bytesPerInode on xfs", createReq("a", map[string]string{"bytesPerInode": "8192"}, mountCap("xfs")), codes.InvalidArgument},
		{"bigalloc on ext3", createReq("a", map[string]string{"ext4BigAlloc": "true"}, mountCap("ext3")), codes.InvalidArgument},
		{"cluster size without bigalloc", createReq("a", map[string]string{"ext4ClusterSize": "16384"}), codes.InvalidArgument},
		{"inode size not a number", createReq("a", map[string]string{"inodeSize": "big"}), codes.InvalidArgument},
		{"tag without value", createReq("a", map[string]string{"tagSpecification_1": "novalue"}), codes.InvalidArgument},
		{"tag template error", createReq("a", map[string]string{"tagSpecification_1": "owner={{ .Nobody }}"}), codes.InvalidArgument},
		{"reserved tag", createReq("a", map[string]string{"tagSpecification_1": "CSIVolumeName=x"}), codes.InvalidArgument},
		{"kubernetes tag", createReq("a", map[string]string{"tagSpecification_1": "kubernetes.io/x=y"}), codes.InvalidArgument},
		{"multi-attach gp3", createReq("a", map[string]string{"type": "gp3"}, multi), codes.InvalidArgument},
		{"multi-node mount", createReq("a", nil, multiMount), codes.InvalidArgument},
		{"gp3 iops too low", createReq("a", map[string]string{"type": "gp3", "iopsPerGB": "10"}), codes.InvalidArgument},
		{"throughput on io1", createReq("a", map[string]string{"type": "io1", "iops": "500", "throughput": "200"}), codes.InvalidArgument},
		{"st1 too small", createReq("a", map[string]string{"type": "st1"}), codes.InvalidArgument},
		{"key without encryption flag false", createReq("a", map[string]string{"kmsKeyId": "not-a-key"}), codes.InvalidArgument},
		{"init rate without snapshot", createReq("a", map[string]string{"volumeInitializationRate": "200"}), codes.InvalidArgument},
		{"no name", createReq("", nil), codes.InvalidArgument},
		{"no capabilities", &csi.CreateVolumeRequest{Name: "a"}, codes.InvalidArgument},
		{"limit below size", &csi.CreateVolumeRequest{Name: "a", VolumeCapabilities: []*csi.VolumeCapability{mountCap("")},
			CapacityRange: &csi.CapacityRange{RequiredBytes: 1<<30 + 1, LimitBytes: 1<<30 + 2}}, codes.OutOfRange},
		{"unknown mutable parameter", &csi.CreateVolumeRequest{Name: "a", VolumeCapabilities: []*csi.VolumeCapability{mountCap("")},
			MutableParameters: map[string]string{"colour": "red"}}, codes.InvalidArgument},
		{"missing snapshot", &csi.CreateVolumeRequest{Name: "a", VolumeCapabilities: []*csi.VolumeCapability{mountCap("")},
			VolumeContentSource: &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{
				Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: "snap-0123456789abcdef0"}}}}, codes.NotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.controller.CreateVolume(t.Context(), tt.req)
			if got := status.Code(err); got != tt.code {
				t.Fatalf("code %s (%v), want %s", got, err, tt.code)
			}
		})
	}
	if vols, _ := f.svc.Volumes(t.Context()); len(vols) != 0 {
		t.Errorf("refused requests left %d volumes", len(vols))
	}
}

func TestCreateVolumeParameters(t *testing.T) {
	f := newFixture(t, ModeAuto)
	tests := []struct {
		name           string
		params         map[string]string
		sizeGiB        int64
		wantType       string
		wantIOPS       int
		wantThroughput int
		wantEncrypted  bool
	}{
		{"default gp3", nil, 10, "gp3", 3000, 125, false},
		{"io1 iopsPerGB", map[string]string{"type": "io1", "iopsPerGB": "50"}, 100, "io1", 5000, 0, false},
		{"io1 iopsPerGB capped by ratio", map[string]string{"TYPE": "io1", "IopsPerGb": "100"}, 100, "io1", 5000, 0, false},
		{"gp3 iops capped at max", map[string]string{"type": "gp3", "iops": "100000"}, 200, "gp3", 80000, 125, false},
		{"gp3 raised to minimum", map[string]string{"type": "gp3", "iopsPerGB": "10", "allowAutoIOPSPerGBIncrease": "true"}, 10, "gp3", 3000, 125, false},
		{"io2 iops", map[string]string{"type": "io2", "iops": "64000", "blockExpress": "true"}, 64, "io2", 64000, 0, false},
		{"gp3 throughput", map[string]string{"type": "gp3", "iops": "4000", "throughput": "1000"}, 10, "gp3", 4000, 1000, false},
		{"gp2", map[string]string{"type": "gp2"}, 100, "gp2", 300, 0, false},
		{"sc1", map[string]string{"type": "sc1"}, 125, "sc1", 0, 0, false},
		{"encrypted", map[string]string{"encrypted": "true"}, 10, "gp3", 3000, 125, true},
		{"kms key", map[string]string{"kmsKeyId": "arn:aws:kms:us-east-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab"}, 10, "gp3", 3000, 125, true},
		{"fsType and formatting", map[string]string{"csi.storage.k8s.io/fstype": "ext4", "blockSize": "4096", "inodeSize": "256",
			"bytesPerInode": "16384", "numberOfInodes": "1000", "ext4BigAlloc": "true", "ext4ClusterSize": "16384"}, 10, "gp3", 3000, 125, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := createReq("pvc-"+tt.name, tt.params)
			req.CapacityRange.RequiredBytes = tt.sizeGiB<<30 - 100 // rounded up to whole GiB
			out, err := f.controller.CreateVolume(t.Context(), req)
			if err != nil {
				t.Fatal(err)
			}
			if out.GetVolume().GetCapacityBytes() != tt.sizeGiB<<30 {
				t.Errorf("capacity %d", out.GetVolume().GetCapacityBytes())
			}
			v, err := f.svc.Volume(t.Context(), out.GetVolume().GetVolumeId())
			if err != nil {
				t.Fatal(err)
			}
			if v.Type != tt.wantType || v.IOPS != tt.wantIOPS || v.Throughput != tt.wantThroughput || v.Encrypted != tt.wantEncrypted {
				t.Fatalf("volume %+v", v)
			}
		})
	}
	v, _ := f.controller.findByTag(t.Context(), VolumeNameTagKey, "pvc-fsType and formatting")
	resp, _ := f.controller.CreateVolume(t.Context(), createReq("pvc-fsType and formatting", tests[len(tests)-1].params))
	if got := resp.GetVolume().GetVolumeContext(); got[BlockSizeKey] != "4096" || got[Ext4BigAllocKey] != "true" || got[Ext4ClusterSizeKey] != "16384" || v == nil {
		t.Errorf("volume context %v", got)
	}
	if args := formatOptions(resp.GetVolume().GetVolumeContext(), "ext4"); len(args) != 12 {
		t.Errorf("mkfs options %v", args)
	}
}

func TestCreateVolumeTagsTopologyAndIdempotency(t *testing.T) {
	f := newFixture(t, ModeAuto)
	ctx := t.Context()
	req := createReq("pvc-1234", map[string]string{
		"csi.storage.k8s.io/pvc/name": "data", "csi.storage.k8s.io/pvc/namespace": "shop", "csi.storage.k8s.io/pv/name": "pvc-1234",
		"tagSpecification_1": "owner={{ .PVCNamespace }}/{{ .PVCName }}", "tagSpecification_2": "team=blue"})
	req.AccessibilityRequirements = &csi.TopologyRequirement{
		Requisite: []*csi.Topology{{Segments: map[string]string{WellKnownZoneTopologyKey: "us-east-1b"}}},
		Preferred: []*csi.Topology{{Segments: map[string]string{ZoneTopologyKey: "us-east-1c"}}},
	}
	out, err := f.controller.CreateVolume(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if seg := out.GetVolume().GetAccessibleTopology()[0].GetSegments(); seg[WellKnownZoneTopologyKey] != "us-east-1c" {
		t.Errorf("topology %v", seg)
	}
	v, _ := f.svc.Volume(ctx, out.GetVolume().GetVolumeId())
	want := map[string]string{
		VolumeNameTagKey: "pvc-1234", ManagedTagKey: "true", PVCNameTag: "data", PVCNamespaceTag: "shop", PVNameTag: "pvc-1234",
		"owner": "shop/data", "team": "blue", "kubernetes.io/cluster/demo": "owned", NameTag: "demo-dynamic-pvc-1234",
		KubernetesClusterTag: "demo", ClusterNameTagKey: "demo",
	}
	for k, val := range want {
		if v.Tags[k] != val {
			t.Errorf("tag %s = %q, want %q", k, v.Tags[k], val)
		}
	}
	again, err := f.controller.CreateVolume(ctx, req)
	if err != nil || again.GetVolume().GetVolumeId() != v.ID {
		t.Fatalf("second create: %+v %v", again, err)
	}
	req.CapacityRange.RequiredBytes = 20 << 30
	if _, err := f.controller.CreateVolume(ctx, req); status.Code(err) != codes.AlreadyExists {
		t.Fatalf("create with another size: %v", err)
	}
	// A clone stays in its source's zone, which the requisite must allow.
	clone := createReq("pvc-clone", nil)
	clone.VolumeContentSource = &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Volume{Volume: &csi.VolumeContentSource_VolumeSource{VolumeId: v.ID}}}
	clone.AccessibilityRequirements = &csi.TopologyRequirement{Requisite: []*csi.Topology{{Segments: map[string]string{WellKnownZoneTopologyKey: "us-east-1a"}}}}
	if _, err := f.controller.CreateVolume(ctx, clone); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("clone in another zone: %v", err)
	}
	clone.AccessibilityRequirements = nil
	c, err := f.controller.CreateVolume(ctx, clone)
	if err != nil || c.GetVolume().GetContentSource().GetVolume().GetVolumeId() != v.ID {
		t.Fatalf("clone: %+v %v", c, err)
	}
}

func TestPublishAndSnapshots(t *testing.T) {
	f := newFixture(t, ModeAuto)
	ctx := t.Context()
	f.ins.add("i-0000000000000000b", "m5.large", "us-east-1b")
	vol, err := f.controller.CreateVolume(ctx, createReq("pvc-p", nil))
	if err != nil {
		t.Fatal(err)
	}
	id := vol.GetVolume().GetVolumeId()
	pub := &csi.ControllerPublishVolumeRequest{VolumeId: id, NodeId: testInstance, VolumeCapability: mountCap("")}
	first, err := f.controller.ControllerPublishVolume(ctx, pub)
	if err != nil || first.GetPublishContext()[DevicePathKey] != "/dev/xvdaa" {
		t.Fatalf("publish: %+v %v", first, err)
	}
	again, err := f.controller.ControllerPublishVolume(ctx, pub)
	if err != nil || again.GetPublishContext()[DevicePathKey] != "/dev/xvdaa" {
		t.Fatalf("publish again: %+v %v", again, err)
	}
	other, err := f.controller.CreateVolume(ctx, createReq("pvc-q", nil))
	if err != nil {
		t.Fatal(err)
	}
	second, err := f.controller.ControllerPublishVolume(ctx, &csi.ControllerPublishVolumeRequest{VolumeId: other.GetVolume().GetVolumeId(), NodeId: testInstance, VolumeCapability: mountCap("")})
	if err != nil || second.GetPublishContext()[DevicePathKey] != "/dev/xvdab" {
		t.Fatalf("second publish: %+v %v", second, err)
	}
	// The volume is in us-east-1a; the other node is in us-east-1b.
	if _, err := f.controller.ControllerPublishVolume(ctx, &csi.ControllerPublishVolumeRequest{VolumeId: id, NodeId: "i-0000000000000000b", VolumeCapability: mountCap("")}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("publish to another zone: %v", err)
	}
	if _, err := f.controller.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: id}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("delete of a published volume: %v", err)
	}
	list, err := f.controller.ListVolumes(ctx, &csi.ListVolumesRequest{MaxEntries: 1})
	if err != nil || len(list.GetEntries()) != 1 || list.GetNextToken() == "" || list.GetEntries()[0].GetStatus().GetPublishedNodeIds()[0] != testInstance {
		t.Fatalf("list: %+v %v", list, err)
	}
	for range 2 {
		if _, err := f.controller.ControllerUnpublishVolume(ctx, &csi.ControllerUnpublishVolumeRequest{VolumeId: id, NodeId: testInstance}); err != nil {
			t.Fatal(err)
		}
	}

	snap, err := f.controller.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "snapshot-1", SourceVolumeId: id,
		Parameters: map[string]string{"csi.storage.k8s.io/volumesnapshot/name": "nightly", "tagSpecification_1": "name={{ .VolumeSnapshotName }}"}})
	if err != nil || !snap.GetSnapshot().GetReadyToUse() || snap.GetSnapshot().GetSizeBytes() != 10<<30 {
		t.Fatalf("snapshot: %+v %v", snap, err)
	}
	s, _ := f.svc.Snapshot(ctx, snap.GetSnapshot().GetSnapshotId())
	if s.Tags["name"] != "nightly" || s.Tags[SnapshotNameTagKey] != "snapshot-1" {
		t.Errorf("snapshot tags %v", s.Tags)
	}
	if _, err := f.controller.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "snapshot-1", SourceVolumeId: other.GetVolume().GetVolumeId()}); status.Code(err) != codes.AlreadyExists {
		t.Fatalf("same name, other volume: %v", err)
	}
	if _, err := f.controller.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "snapshot-2", SourceVolumeId: id,
		Parameters: map[string]string{"fastSnapshotRestoreAvailabilityZones": "us-east-1a"}}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("unsupported snapshot parameter: %v", err)
	}
	got, err := f.controller.ListSnapshots(ctx, &csi.ListSnapshotsRequest{SourceVolumeId: id})
	if err != nil || len(got.GetEntries()) != 1 {
		t.Fatalf("list snapshots: %+v %v", got, err)
	}
	if _, err := f.controller.ListSnapshots(ctx, &csi.ListSnapshotsRequest{StartingToken: "x"}); status.Code(err) != codes.Aborted {
		t.Fatalf("bad token: %v", err)
	}
	exp, err := f.controller.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{VolumeId: id,
		CapacityRange: &csi.CapacityRange{RequiredBytes: 12<<30 - 1}, VolumeCapability: blockCap()})
	if err != nil || exp.GetCapacityBytes() != 12<<30 || exp.GetNodeExpansionRequired() {
		t.Fatalf("expand: %+v %v", exp, err)
	}
}

func TestModifyVolume(t *testing.T) {
	f := newFixture(t, ModeAuto)
	ctx := t.Context()
	req := createReq("pvc-vac", map[string]string{"type": "gp2"})
	req.MutableParameters = map[string]string{"type": "gp3", "throughput": "200"}
	out, err := f.controller.CreateVolume(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	id := out.GetVolume().GetVolumeId()
	if v, _ := f.svc.Volume(ctx, id); v.Type != "gp3" || v.Throughput != 200 {
		t.Fatalf("mutable parameters at creation: %+v", v)
	}
	if _, err := f.controller.ControllerModifyVolume(ctx, &csi.ControllerModifyVolumeRequest{VolumeId: id,
		MutableParameters: map[string]string{"iops": "5000", "volumeType": "io2", "tagSpecification_1": "tier=gold"}}); err != nil {
		t.Fatal(err)
	}
	v, _ := f.svc.Volume(ctx, id)
	if v.Type != "io2" || v.IOPS != 5000 || v.Throughput != 0 || v.Tags["tier"] != "gold" {
		t.Fatalf("after modify: %+v", v)
	}
	for name, tt := range map[string]struct {
		req  *csi.ControllerModifyVolumeRequest
		code codes.Code
	}{
		"no id":       {&csi.ControllerModifyVolumeRequest{MutableParameters: map[string]string{"iops": "4000"}}, codes.InvalidArgument},
		"unknown key": {&csi.ControllerModifyVolumeRequest{VolumeId: id, MutableParameters: map[string]string{"colour": "red"}}, codes.InvalidArgument},
		"bad type":    {&csi.ControllerModifyVolumeRequest{VolumeId: id, MutableParameters: map[string]string{"type": "gp9"}}, codes.InvalidArgument},
		"too many":    {&csi.ControllerModifyVolumeRequest{VolumeId: id, MutableParameters: map[string]string{"iops": "90000"}}, codes.InvalidArgument},
		"missing":     {&csi.ControllerModifyVolumeRequest{VolumeId: "vol-0123456789abcdef0", MutableParameters: map[string]string{"iops": "4000"}}, codes.NotFound},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := f.controller.ControllerModifyVolume(ctx, tt.req); status.Code(err) != tt.code {
				t.Fatalf("code %s (%v), want %s", status.Code(err), err, tt.code)
			}
		})
	}
}
