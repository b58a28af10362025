package fsx_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/kubernetes-csi/csi-test/v5/pkg/sanity"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/berthproject/berth/internal/csi/bindmount"
	"github.com/berthproject/berth/internal/csi/csitest"
	csifsx "github.com/berthproject/berth/internal/csi/fsx"
	"github.com/berthproject/berth/internal/fsx"
	"github.com/berthproject/berth/internal/store"
	"github.com/berthproject/berth/internal/vpc"
)

const gib = int64(1) << 30

type fixture struct {
	// mounter, when set, is the nodes' (else each probes).
	mounter *bindmount.Mounter
	dir     string
	svc     *fsx.Service
	subnet  string
	ctrl    *csifsx.Controller
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := csitest.Dir(t)
	st, err := store.Open(filepath.Join(dir, "berth.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	network := vpc.Default("000000000000", "us-east-1")
	svc, err := fsx.New(fsx.Config{Store: st, Network: network, Dir: filepath.Join(dir, "fsx"), Account: "000000000000", Region: "us-east-1", MaxStorageGiB: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	ctrl, err := csifsx.NewController(csifsx.ControllerConfig{FSx: svc})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{dir: dir, svc: svc, subnet: network.Subnets[1].ID, ctrl: ctrl}
}

func (f *fixture) node(t *testing.T, id string) *csifsx.Node {
	t.Helper()
	n, err := csifsx.NewNode(csifsx.NodeConfig{NodeID: id, FSx: f.svc, Mounter: f.mounter})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

type idGen struct{}

func (idGen) GenerateUniqueValidVolumeID() string { return "fs-" + csitest.HexID(17) }
func (idGen) GenerateInvalidVolumeID() string     { return "not-a-file-system" }
func (idGen) GenerateUniqueValidNodeID() string   { return "i-" + csitest.HexID(17) }
func (idGen) GenerateInvalidNodeID() string       { return "not-a-node" }

// TestSanity runs the CSI conformance suite against the controller and a
// node over real unix-socket gRPC servers; the node stages and publishes
// with real bind mounts.
func TestSanity(t *testing.T) {
	f := newFixture(t)
	node := f.node(t, "i-0123456789abcdef0")
	t.Logf("node publishes with %s", node.Mode())
	ctrlSock, nodeSock := filepath.Join(f.dir, "controller.sock"), filepath.Join(f.dir, "node.sock")
	csitest.Serve(t, ctrlSock, f.ctrl.Serve)
	csitest.Serve(t, nodeSock, node.Serve)

	cfg := sanity.NewTestConfig()
	cfg.Address = nodeSock
	cfg.ControllerAddress = ctrlSock
	cfg.TargetPath = filepath.Join(f.dir, "target")
	cfg.StagingPath = filepath.Join(f.dir, "staging")
	cfg.IDGen = idGen{}
	// Sizes Lustre can have: the suite checks the expanded size exactly.
	cfg.TestVolumeSize = 1200 * gib
	cfg.TestVolumeExpandSize = 2400 * gib
	cfg.TestVolumeParameters = map[string]string{
		csifsx.ParamSubnetID:       f.subnet,
		csifsx.ParamDeploymentType: fsx.Scratch2,
	}
	sanity.Test(t, cfg)

	left, _, err := f.svc.DescribeFileSystems(t.Context(), nil, 0, "")
	if err != nil || len(left) != 0 {
		t.Errorf("file systems left: %d (%v)", len(left), err)
	}
}

func TestCreateVolumeParameters(t *testing.T) {
	f := newFixture(t)
	caps := []*csi.VolumeCapability{{
		AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{}},
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER},
	}}
	params := func(kv ...string) map[string]string {
		p := map[string]string{"subnetId": f.subnet}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == "" {
				delete(p, kv[i])
			} else {
				p[kv[i]] = kv[i+1]
			}
		}
		return p
	}
	tests := []struct {
		name     string
		params   map[string]string
		required int64
		want     codes.Code
		msg      string
		capacity int64
	}{
		{"unknown key", params("type", "gp3"), 0, codes.InvalidArgument, "Invalid parameter key type", 0},
		{"no subnet", params("subnetId", ""), 0, codes.InvalidArgument, "SubnetId is required", 0},
		{"unknown subnet", params("subnetId", "subnet-0123456789abcdef0"), 0, codes.InvalidArgument, "InvalidNetworkSettings", 0},
		{"throughput on scratch", params("deploymentType", "SCRATCH_2", "perUnitStorageThroughput", "200"), 0, codes.InvalidArgument, "InvalidPerUnitStorageThroughput", 0},
		{"persistent without throughput", params("deploymentType", "PERSISTENT_1"), 0, codes.InvalidArgument, "required", 0},
		{"persistent2 wrong throughput", params("deploymentType", "PERSISTENT_2", "perUnitStorageThroughput", "200"), 0, codes.InvalidArgument, "125, 250, 500, 1000", 0},
		{"throughput not a number", params("perUnitStorageThroughput", "fast"), 0, codes.InvalidArgument, "must be a number", 0},
		{"bad extra tags", params("extraTags", "a=b,c"), 0, codes.InvalidArgument, "invalid extraTag c", 0},
		{"s3 import", params("s3ImportPath", "s3://bucket"), 0, codes.InvalidArgument, "no S3", 0},
		{"backups on scratch", params("deploymentType", "SCRATCH_2", "automaticBackupRetentionDays", "7"), 0, codes.InvalidArgument, "backups", 0},
		{"hdd without cache", params("deploymentType", "PERSISTENT_1", "storageType", "HDD", "perUnitStorageThroughput", "12"), 0, codes.InvalidArgument, "DriveCacheType", 0},
		{"default size", params(), 0, codes.OK, "", 1200 * gib},
		{"scratch1 rounds to 3600", params("deploymentType", "SCRATCH_1"), 2500 * gib, codes.OK, "", 3600 * gib},
		{"scratch2 rounds to 4800", params("deploymentType", "SCRATCH_2"), 2500 * gib, codes.OK, "", 4800 * gib},
		{"persistent2", params("deploymentType", "PERSISTENT_2", "perUnitStorageThroughput", "500", "extraTags", "team=ml"), 10 * gib, codes.OK, "", 1200 * gib},
		{"hdd", params("deploymentType", "PERSISTENT_1", "storageType", "HDD", "perUnitStorageThroughput", "12", "driveCacheType", "NONE"), gib, codes.OK, "", 6000 * gib},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := &csi.CreateVolumeRequest{Name: "pvc-" + csitest.HexID(8), VolumeCapabilities: caps, Parameters: tc.params}
			if tc.required > 0 {
				req.CapacityRange = &csi.CapacityRange{RequiredBytes: tc.required}
			}
			resp, err := f.ctrl.CreateVolume(t.Context(), req)
			if status.Code(err) != tc.want || !strings.Contains(status.Convert(err).Message(), tc.msg) {
				t.Fatalf("CreateVolume = %v, want %v containing %q", err, tc.want, tc.msg)
			}
			if err == nil && resp.Volume.CapacityBytes != tc.capacity {
				t.Errorf("capacity = %d GiB, want %d GiB", resp.Volume.CapacityBytes/gib, tc.capacity/gib)
			}
		})
	}
}

// TestStagePublishShared stages and publishes one volume on two nodes and
// checks that each sees what the other writes, then expands it.
func TestStagePublishShared(t *testing.T) {
	t.Run("probed", func(t *testing.T) { testShared(t, nil) })
	t.Run("symlink", func(t *testing.T) { testShared(t, bindmount.New(nil, bindmount.Symlink)) })
}

func testShared(t *testing.T, mounter *bindmount.Mounter) {
	f := newFixture(t)
	f.mounter = mounter
	ctx := t.Context()
	capability := &csi.VolumeCapability{
		AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{MountFlags: []string{"flock"}}},
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER},
	}
	resp, err := f.ctrl.CreateVolume(ctx, &csi.CreateVolumeRequest{
		Name: "pvc-lustre", VolumeCapabilities: []*csi.VolumeCapability{capability},
		Parameters:    map[string]string{"subnetId": f.subnet, "deploymentType": "SCRATCH_2"},
		CapacityRange: &csi.CapacityRange{RequiredBytes: 100 * gib},
	})
	if err != nil {
		t.Fatal(err)
	}
	vol := resp.Volume
	if !strings.HasSuffix(vol.VolumeContext["dnsname"], ".fsx.us-east-1.amazonaws.com") || len(vol.VolumeContext["mountname"]) != 8 {
		t.Errorf("volume context = %v", vol.VolumeContext)
	}
	mk := func(p string) string {
		p = filepath.Join(f.dir, p)
		os.MkdirAll(p, 0o750)
		return p
	}
	var targets []string
	for _, id := range []string{"i-aaaaaaaaaaaaaaaaa", "i-bbbbbbbbbbbbbbbbb"} {
		n := f.node(t, id)
		staging, target := mk(id+"/staging"), filepath.Join(mk(id+"/pods"), "vol")
		if _, err := n.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{VolumeId: vol.VolumeId, StagingTargetPath: staging, VolumeCapability: capability, VolumeContext: vol.VolumeContext}); err != nil {
			t.Fatal(err)
		}
		if _, err := n.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{VolumeId: vol.VolumeId, StagingTargetPath: staging, TargetPath: target, VolumeCapability: capability, VolumeContext: vol.VolumeContext}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			bg := context.Background()
			if _, err := n.NodeUnpublishVolume(bg, &csi.NodeUnpublishVolumeRequest{VolumeId: vol.VolumeId, TargetPath: target}); err != nil {
				t.Error(err)
			}
			if _, err := n.NodeUnstageVolume(bg, &csi.NodeUnstageVolumeRequest{VolumeId: vol.VolumeId, StagingTargetPath: staging}); err != nil {
				t.Error(err)
			}
		})
		targets = append(targets, target)
	}
	if err := os.WriteFile(filepath.Join(targets[0], "checkpoint"), []byte("epoch 7"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(targets[1], "checkpoint")); err != nil || string(got) != "epoch 7" {
		t.Errorf("second node reads %q, %v", got, err)
	}

	// A wrong mount name, as a Lustre mount would refuse it.
	n := f.node(t, "i-ccccccccccccccccc")
	bad := map[string]string{"dnsname": vol.VolumeContext["dnsname"], "mountname": "zzzzzzzz"}
	_, err = n.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{VolumeId: vol.VolumeId, StagingTargetPath: mk("c/staging"), VolumeCapability: capability, VolumeContext: bad})
	if status.Code(err) != codes.FailedPrecondition {
		t.Errorf("staging with a wrong mount name: %v", err)
	}

	exp, err := f.ctrl.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{VolumeId: vol.VolumeId, CapacityRange: &csi.CapacityRange{RequiredBytes: 3000 * gib}})
	if err != nil || exp.CapacityBytes != 4800*gib || exp.NodeExpansionRequired {
		t.Fatalf("ControllerExpandVolume = %v, %v; want 4800 GiB", exp, err)
	}
	stats, err := n.NodeGetVolumeStats(ctx, &csi.NodeGetVolumeStatsRequest{VolumeId: vol.VolumeId, VolumePath: targets[1]})
	if err != nil || stats.Usage[0].Total != 4800*gib || stats.Usage[0].Used != 7 {
		t.Errorf("NodeGetVolumeStats = %v, %v", stats, err)
	}
}
