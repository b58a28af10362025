package ebs

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/mount-utils"
)

func mountCap(fsType string) *csi.VolumeCapability {
	return &csi.VolumeCapability{
		AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{FsType: fsType}},
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER},
	}
}

func blockCap() *csi.VolumeCapability {
	return &csi.VolumeCapability{
		AccessType: &csi.VolumeCapability_Block{Block: &csi.VolumeCapability_BlockVolume{}},
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER},
	}
}

// pod is the node side of one pod using a volume: a staging path and a
// target path.
type pod struct {
	staging, target string
	ctx             map[string]string
}

// provision creates a volume and attaches it to the node.
func (f *fixture) provision(t *testing.T, req *csi.CreateVolumeRequest) (*csi.Volume, map[string]string) {
	t.Helper()
	vol, err := f.controller.CreateVolume(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := f.controller.ControllerPublishVolume(t.Context(), &csi.ControllerPublishVolumeRequest{
		VolumeId: vol.GetVolume().GetVolumeId(), NodeId: testInstance, VolumeCapability: req.GetVolumeCapabilities()[0]})
	if err != nil {
		t.Fatal(err)
	}
	return vol.GetVolume(), pub.GetPublishContext()
}

// start stages and publishes a volume for a pod.
func (f *fixture) start(t *testing.T, vol *csi.Volume, pubCtx map[string]string, vc *csi.VolumeCapability, name string, readonly bool) pod {
	t.Helper()
	p := pod{staging: filepath.Join(f.root, name, "staging"), target: filepath.Join(f.root, name, "target")}
	if err := os.MkdirAll(p.staging, 0o750); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := f.node.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{VolumeId: vol.GetVolumeId(), StagingTargetPath: p.staging,
		VolumeCapability: vc, PublishContext: pubCtx, VolumeContext: vol.GetVolumeContext()}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.node.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{VolumeId: vol.GetVolumeId(), StagingTargetPath: p.staging,
		TargetPath: p.target, VolumeCapability: vc, PublishContext: pubCtx, Readonly: readonly}); err != nil {
		t.Fatal(err)
	}
	return p
}

// stop unpublishes and unstages a pod's volume.
func (f *fixture) stop(t *testing.T, vol *csi.Volume, p pod) {
	t.Helper()
	ctx := t.Context()
	if _, err := f.node.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: vol.GetVolumeId(), TargetPath: p.target}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.node.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: vol.GetVolumeId(), StagingTargetPath: p.staging}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(p.target); !os.IsNotExist(err) {
		t.Errorf("target %s left after unpublish: %v", p.target, err)
	}
}

// fsTypeAt returns the filesystem type mounted at a path.
func fsTypeAt(t *testing.T, path string) string {
	t.Helper()
	infos, err := mount.ParseMountInfo("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, mi := range infos {
		if mi.MountPoint == path {
			return mi.FsType
		}
	}
	return ""
}

// TestDataSurvivesRepublish writes through one publish and reads it back
// through a new stage and publish, in every mode the machine allows; it
// then restores a snapshot and clones the volume and finds the data in
// both.
func TestDataSurvivesRepublish(t *testing.T) {
	for _, mode := range []Mode{ModeLoop, ModeBind, ModeSymlink} {
		t.Run(string(mode), func(t *testing.T) {
			needMode(t, mode)
			f := newFixture(t, mode)
			ctx := t.Context()
			vc := mountCap("ext4")
			vol, pubCtx := f.provision(t, &csi.CreateVolumeRequest{Name: "pvc-data", VolumeCapabilities: []*csi.VolumeCapability{vc},
				CapacityRange: &csi.CapacityRange{RequiredBytes: 1 << 30}, Parameters: map[string]string{"type": "gp3"}})
			p := f.start(t, vol, pubCtx, vc, "first", false)
			if mode == ModeLoop {
				if got := fsTypeAt(t, p.target); got != "ext4" {
					t.Fatalf("target is %q, want an ext4 mount", got)
				}
			}
			want := []byte("written by the first pod")
			if err := os.WriteFile(filepath.Join(p.target, "data.txt"), want, 0o644); err != nil {
				t.Fatal(err)
			}
			stats, err := f.node.NodeGetVolumeStats(ctx, &csi.NodeGetVolumeStatsRequest{VolumeId: vol.GetVolumeId(), VolumePath: p.target})
			if err != nil || len(stats.GetUsage()) == 0 || stats.GetUsage()[0].GetTotal() <= 0 || stats.GetUsage()[0].GetTotal() > 1<<30 {
				t.Fatalf("stats: %+v %v", stats, err)
			}
			f.stop(t, vol, p)
			if devs, _ := loopsOf(f.svc.ImagePath(vol.GetVolumeId())); len(devs) != 0 {
				t.Fatalf("loop devices left after unstage: %v", devs)
			}

			q := f.start(t, vol, pubCtx, vc, "second", true)
			got, err := os.ReadFile(filepath.Join(q.target, "data.txt"))
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("second pod reads %q, %v", got, err)
			}
			if mode != ModeSymlink { // symbolic links cannot be read-only
				if err := os.WriteFile(filepath.Join(q.target, "other"), nil, 0o644); err == nil {
					t.Error("a read-only publish took a write")
				}
			}
			f.stop(t, vol, q)

			snap, err := f.controller.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "snap-data", SourceVolumeId: vol.GetVolumeId()})
			if err != nil || !snap.GetSnapshot().GetReadyToUse() {
				t.Fatalf("snapshot: %+v %v", snap, err)
			}
			for _, src := range []*csi.VolumeContentSource{
				{Type: &csi.VolumeContentSource_Snapshot{Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: snap.GetSnapshot().GetSnapshotId()}}},
				{Type: &csi.VolumeContentSource_Volume{Volume: &csi.VolumeContentSource_VolumeSource{VolumeId: vol.GetVolumeId()}}},
			} {
				copyVol, copyCtx := f.provision(t, &csi.CreateVolumeRequest{Name: "pvc-copy-" + src.String(), VolumeCapabilities: []*csi.VolumeCapability{vc},
					CapacityRange: &csi.CapacityRange{RequiredBytes: 2 << 30}, VolumeContentSource: src})
				r := f.start(t, copyVol, copyCtx, vc, "copy", false)
				if got, err := os.ReadFile(filepath.Join(r.target, "data.txt")); err != nil || !bytes.Equal(got, want) {
					t.Fatalf("restored volume reads %q, %v", got, err)
				}
				if mode == ModeLoop {
					// The copy is 2 GiB; staging grew the 1 GiB filesystem.
					var st unix.Statfs_t
					if err := unix.Statfs(r.target, &st); err != nil || int64(st.Blocks)*int64(st.Bsize) < 3<<29 {
						t.Errorf("restored filesystem is %d bytes, want about 2 GiB", int64(st.Blocks)*int64(st.Bsize))
					}
				}
				f.stop(t, copyVol, r)
			}
		})
	}
}

// TestOnlineExpansion grows a published volume: the controller grows the
// EBS volume, the node the loop device and the ext4 filesystem.
func TestOnlineExpansion(t *testing.T) {
	needMode(t, ModeLoop)
	f := newFixture(t, ModeLoop)
	ctx := t.Context()
	vc := mountCap("")
	vol, pubCtx := f.provision(t, &csi.CreateVolumeRequest{Name: "pvc-grow", VolumeCapabilities: []*csi.VolumeCapability{vc},
		CapacityRange: &csi.CapacityRange{RequiredBytes: 1 << 30}})
	p := f.start(t, vol, pubCtx, vc, "grow", false)
	size := func() int64 {
		var st unix.Statfs_t
		if err := unix.Statfs(p.target, &st); err != nil {
			t.Fatal(err)
		}
		return int64(st.Blocks) * int64(st.Bsize)
	}
	before := size()
	exp, err := f.controller.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{VolumeId: vol.GetVolumeId(),
		CapacityRange: &csi.CapacityRange{RequiredBytes: 3 << 30}, VolumeCapability: vc})
	if err != nil || exp.GetCapacityBytes() != 3<<30 || !exp.GetNodeExpansionRequired() {
		t.Fatalf("controller expand: %+v %v", exp, err)
	}
	nexp, err := f.node.NodeExpandVolume(ctx, &csi.NodeExpandVolumeRequest{VolumeId: vol.GetVolumeId(), VolumePath: p.target,
		CapacityRange: &csi.CapacityRange{RequiredBytes: 3 << 30}, VolumeCapability: vc})
	if err != nil || nexp.GetCapacityBytes() != 3<<30 {
		t.Fatalf("node expand: %+v %v", nexp, err)
	}
	if after := size(); after < before*2 {
		t.Fatalf("filesystem grew from %d to %d bytes only", before, after)
	}
	f.stop(t, vol, p)
}

// TestRawBlock writes through a published block volume and reads it
// back through the volume's file.
func TestRawBlock(t *testing.T) {
	for _, mode := range []Mode{ModeLoop, ModeBind} {
		t.Run(string(mode), func(t *testing.T) {
			needMode(t, mode)
			f := newFixture(t, mode)
			vc := blockCap()
			vol, pubCtx := f.provision(t, &csi.CreateVolumeRequest{Name: "pvc-block", VolumeCapabilities: []*csi.VolumeCapability{vc},
				CapacityRange: &csi.CapacityRange{RequiredBytes: 1 << 30}})
			p := f.start(t, vol, pubCtx, vc, "block", false)
			dev, err := os.OpenFile(p.target, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := dev.WriteAt([]byte("raw bytes"), 4096); err != nil {
				t.Fatal(err)
			}
			if err := dev.Sync(); err != nil {
				t.Fatal(err)
			}
			dev.Close()
			f.stop(t, vol, p)
			img, err := os.ReadFile(f.svc.ImagePath(vol.GetVolumeId()))
			if err != nil || !bytes.Equal(img[4096:4096+9], []byte("raw bytes")) {
				t.Fatalf("image holds %q, %v", img[4096:4096+9], err)
			}
			if devs, _ := loopsOf(f.svc.ImagePath(vol.GetVolumeId())); len(devs) != 0 {
				t.Fatalf("loop devices left after unpublish: %v", devs)
			}
		})
	}
}

func TestNodeRefusals(t *testing.T) {
	f := newFixture(t, ModeAuto)
	ctx := t.Context()
	vc := mountCap("ext4")
	vol, err := f.controller.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: "pvc-detached", VolumeCapabilities: []*csi.VolumeCapability{vc}})
	if err != nil {
		t.Fatal(err)
	}
	id := vol.GetVolume().GetVolumeId()
	staging := filepath.Join(f.root, "staging")
	tests := []struct {
		name string
		call func() error
		want codes.Code
	}{
		{"stage without device", func() error {
			_, err := f.node.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{VolumeId: id, StagingTargetPath: staging, VolumeCapability: vc})
			return err
		}, codes.InvalidArgument},
		{"stage of a detached volume", func() error {
			_, err := f.node.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{VolumeId: id, StagingTargetPath: staging, VolumeCapability: vc,
				PublishContext: map[string]string{DevicePathKey: "/dev/xvdaa"}})
			return err
		}, codes.FailedPrecondition},
		{"stage of a missing volume", func() error {
			_, err := f.node.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{VolumeId: "vol-0123456789abcdef0", StagingTargetPath: staging,
				VolumeCapability: vc, PublishContext: map[string]string{DevicePathKey: "/dev/xvdaa"}})
			return err
		}, codes.NotFound},
		{"multi-node reader", func() error {
			bad := mountCap("ext4")
			bad.AccessMode.Mode = csi.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY
			_, err := f.node.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{VolumeId: id, StagingTargetPath: staging, VolumeCapability: bad,
				PublishContext: map[string]string{DevicePathKey: "/dev/xvdaa"}})
			return err
		}, codes.InvalidArgument},
		{"publish unstaged", func() error {
			if _, err := f.controller.ControllerPublishVolume(ctx, &csi.ControllerPublishVolumeRequest{VolumeId: id, NodeId: testInstance, VolumeCapability: vc}); err != nil {
				return err
			}
			_, err := f.node.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{VolumeId: id, StagingTargetPath: staging,
				TargetPath: filepath.Join(f.root, "target"), VolumeCapability: vc})
			return err
		}, codes.FailedPrecondition},
		{"expand beyond the volume", func() error {
			_, err := f.node.NodeExpandVolume(ctx, &csi.NodeExpandVolumeRequest{VolumeId: id, VolumePath: f.root,
				CapacityRange: &csi.CapacityRange{RequiredBytes: 1 << 40}})
			return err
		}, codes.FailedPrecondition},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := status.Code(tt.call()); got != tt.want {
				t.Fatalf("code %s, want %s", got, tt.want)
			}
		})
	}
	info, err := f.node.NodeGetInfo(ctx, &csi.NodeGetInfoRequest{})
	if err != nil || info.GetNodeId() != testInstance || info.GetMaxVolumesPerNode() != 26 ||
		info.GetAccessibleTopology().GetSegments()[ZoneTopologyKey] != testZone || info.GetAccessibleTopology().GetSegments()[WellKnownZoneTopologyKey] != testZone {
		t.Fatalf("node info: %+v %v", info, err)
	}
}
