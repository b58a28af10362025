package efs_test

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
	csiefs "github.com/berthproject/berth/internal/csi/efs"
	"github.com/berthproject/berth/internal/efs"
	"github.com/berthproject/berth/internal/store"
	"github.com/berthproject/berth/internal/vpc"
)

const (
	account = "000000000000"
	region  = "us-east-1"
)

// fixture is a store, berth's EFS with one file system that has a mount
// target in us-east-1a, and the driver's controller.
type fixture struct {
	// mounter, when set, is the nodes' (else each probes).
	mounter *bindmount.Mounter
	dir     string
	svc     *efs.Service
	fs      *efs.FileSystem
	ctrl    *csiefs.Controller
}

func newFixture(t *testing.T, deleteRoot bool) *fixture {
	t.Helper()
	dir := csitest.Dir(t)
	st, err := store.Open(filepath.Join(dir, "berth.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	network := vpc.Default(account, region)
	svc, err := efs.New(efs.Config{Store: st, Network: network, Dir: filepath.Join(dir, "efs"), Account: account, Region: region})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	fs, err := svc.CreateFileSystem(ctx, efs.CreateFileSystemInput{CreationToken: "sanity"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateMountTarget(ctx, efs.CreateMountTargetInput{FileSystemID: fs.ID, SubnetID: subnet(network, "us-east-1a")}); err != nil {
		t.Fatal(err)
	}
	ctrl, err := csiefs.NewController(csiefs.ControllerConfig{EFS: svc, DeleteRootDir: deleteRoot})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{dir: dir, svc: svc, fs: fs, ctrl: ctrl}
}

func subnet(n *vpc.Network, az string) string {
	for _, s := range n.Subnets {
		if s.AZ == az && !s.Public {
			return s.ID
		}
	}
	panic(az)
}

func (f *fixture) node(t *testing.T, id, zone string) *csiefs.Node {
	t.Helper()
	n, err := csiefs.NewNode(csiefs.NodeConfig{NodeID: id, Zone: zone, EFS: f.svc, Mounter: f.mounter})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// idGen makes volume ids of the driver's form that name nothing.
type idGen struct{}

func (idGen) GenerateUniqueValidVolumeID() string {
	return "fs-" + csitest.HexID(17) + "::fsap-" + csitest.HexID(17)
}
func (idGen) GenerateInvalidVolumeID() string   { return "not-an-efs-volume" }
func (idGen) GenerateUniqueValidNodeID() string { return "i-" + csitest.HexID(17) }
func (idGen) GenerateInvalidNodeID() string     { return "not-a-node" }

// TestSanity runs the CSI conformance suite against the controller and a
// node over real unix-socket gRPC servers, with the node bind mounting
// real directories.
func TestSanity(t *testing.T) {
	f := newFixture(t, true)
	node := f.node(t, "i-0123456789abcdef0", "us-east-1a")
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
	cfg.TestVolumeParameters = map[string]string{
		csiefs.ParamProvisioningMode: csiefs.ProvisioningModeAccessPoint,
		csiefs.ParamFileSystemID:     f.fs.ID,
		csiefs.ParamDirectoryPerms:   "777",
		csiefs.ParamBasePath:         "/dynamic",
		csiefs.ParamSubPathPattern:   "sanity",
	}
	sanity.Test(t, cfg)

	// Everything the suite provisioned, it deleted: no access point and
	// (with DeleteRootDir) no directory is left.
	aps, _, err := f.svc.DescribeAccessPoints(t.Context(), efs.DescribeAccessPointsInput{FileSystemID: f.fs.ID})
	if err != nil || len(aps) != 0 {
		t.Errorf("access points left: %d (%v)", len(aps), err)
	}
	if left, _ := os.ReadDir(filepath.Join(f.svc.Dir(f.fs.ID), "dynamic")); len(left) != 0 {
		t.Errorf("root directories left: %d", len(left))
	}
}

func TestCreateVolumeParameters(t *testing.T) {
	f := newFixture(t, false)
	caps := []*csi.VolumeCapability{{
		AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{}},
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER},
	}}
	base := func(kv ...string) map[string]string {
		p := map[string]string{"provisioningMode": "efs-ap", "fileSystemId": f.fs.ID, "directoryPerms": "700"}
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
		name   string
		params map[string]string
		want   codes.Code
		msg    string
	}{
		{"unknown key", base("iops", "3000"), codes.InvalidArgument, "Invalid parameter key iops"},
		{"no provisioning mode", base("provisioningMode", ""), codes.InvalidArgument, "Missing provisioningMode"},
		{"bad provisioning mode", base("provisioningMode", "efs-fs"), codes.InvalidArgument, "not supported"},
		{"no file system", base("fileSystemId", ""), codes.InvalidArgument, "Missing fileSystemId"},
		{"malformed file system", base("fileSystemId", "fs-xyz"), codes.InvalidArgument, "Failed to resolve filesystem Id"},
		{"unknown file system", base("fileSystemId", "fs-0123456789abcdef0"), codes.InvalidArgument, "File System does not exist"},
		{"bad perms", base("directoryPerms", "800"), codes.InvalidArgument, "directoryPerms"},
		{"bad uid", base("uid", "-1"), codes.InvalidArgument, "uid"},
		{"gid range end without start", base("gidRangeEnd", "2000"), codes.InvalidArgument, "Missing gidRangeStart"},
		{"gid range inverted", base("gidRangeStart", "2000", "gidRangeEnd", "1000"), codes.InvalidArgument, "gidRangeEnd must be greater"},
		{"base path with dots", base("basePath", "/a/.hidden"), codes.InvalidArgument, "basePath"},
		{"base path with metacharacters", base("basePath", "/a;b"), codes.InvalidArgument, "basePath"},
		{"too deep", base("basePath", "/a/b/c/d"), codes.InvalidArgument, "4 subdirectories"},
		{"pattern with unknown variable", base("subPathPattern", "${.PVC.labels}"), codes.InvalidArgument, "invalid elements"},
		{"path too long", base("basePath", "/"+strings.Repeat("x", 95)), codes.InvalidArgument, "100 characters"},
		{"bad boolean", base("ensureUniqueDirectory", "maybe"), codes.InvalidArgument, "ensureUniqueDirectory"},
		{"fine", base("gidRangeStart", "1000", "gidRangeEnd", "1100", "basePath", "/apps", "csi.storage.k8s.io/pvc/name", "data"), codes.OK, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.ctrl.CreateVolume(t.Context(), &csi.CreateVolumeRequest{Name: "pvc-" + csitest.HexID(8), VolumeCapabilities: caps, Parameters: tc.params})
			if status.Code(err) != tc.want || !strings.Contains(status.Convert(err).Message(), tc.msg) {
				t.Fatalf("CreateVolume = %v, want %v containing %q", err, tc.want, tc.msg)
			}
		})
	}
}

// TestGIDsAndPaths checks the GID allocation, subPathPattern and the
// root directory's owner and mode.
func TestGIDsAndPaths(t *testing.T) {
	f := newFixture(t, false)
	ctx := t.Context()
	caps := []*csi.VolumeCapability{{
		AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{}},
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER},
	}}
	params := map[string]string{
		"provisioningMode": "efs-ap", "fileSystemId": f.fs.ID, "directoryPerms": "750",
		"gidRangeStart": "1000", "gidRangeEnd": "1001", "basePath": "/shared",
		"subPathPattern": "${.PVC.namespace}/${.PVC.name}", "ensureUniqueDirectory": "false",
		"csi.storage.k8s.io/pvc/namespace": "team", "csi.storage.k8s.io/pvc/name": "data",
	}
	var gids []int64
	for i := range 3 {
		params["csi.storage.k8s.io/pvc/name"] = "data" + string(rune('0'+i))
		resp, err := f.ctrl.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: "pvc-" + csitest.HexID(8), VolumeCapabilities: caps, Parameters: params,
			CapacityRange: &csi.CapacityRange{RequiredBytes: 5 << 30}})
		if i == 2 {
			if status.Code(err) != codes.Internal || !strings.Contains(err.Error(), "free GID") {
				t.Fatalf("third volume in a two-GID range: %v", err)
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if resp.Volume.CapacityBytes != 5<<30 {
			t.Errorf("capacity = %d, want the requested size", resp.Volume.CapacityBytes)
		}
		h, err := csiefs.ParseVolumeHandle(resp.Volume.VolumeId)
		if err != nil || h.AccessPointID == "" {
			t.Fatalf("volume id %q: %v", resp.Volume.VolumeId, err)
		}
		ap, err := f.svc.AccessPoint(ctx, h.AccessPointID)
		if err != nil {
			t.Fatal(err)
		}
		gids = append(gids, ap.PosixUser.GID)
		if want := "/shared/team/data" + string(rune('0'+i)); ap.RootDirectory.Path != want {
			t.Errorf("root directory = %q, want %q", ap.RootDirectory.Path, want)
		}
		fi, err := os.Stat(filepath.Join(f.svc.Dir(f.fs.ID), ap.RootDirectory.Path))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o750 {
			t.Errorf("mode = %v", fi.Mode().Perm())
		}
	}
	if len(gids) != 2 || gids[0] != 1000 || gids[1] != 1001 {
		t.Errorf("GIDs = %v, want [1000 1001]", gids)
	}
}

// TestSharedAcrossNodes publishes one volume on two nodes (one in
// another zone, through its mount target there) and checks that each sees
// what the other writes, that read-only publishes are read-only, and that
// static handles with sub paths work.
func TestSharedAcrossNodes(t *testing.T) {
	t.Run("probed", func(t *testing.T) { testShared(t, nil) })
	t.Run("symlink", func(t *testing.T) { testShared(t, bindmount.New(nil, bindmount.Symlink)) })
}

func testShared(t *testing.T, mounter *bindmount.Mounter) {
	f := newFixture(t, false)
	f.mounter = mounter
	ctx := t.Context()
	if _, err := f.svc.CreateMountTarget(ctx, efs.CreateMountTargetInput{FileSystemID: f.fs.ID, SubnetID: subnet(f.svc.Network(), "us-east-1b")}); err != nil {
		t.Fatal(err)
	}
	capability := &csi.VolumeCapability{
		AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{MountFlags: []string{"tls", "iam"}}},
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER},
	}
	resp, err := f.ctrl.CreateVolume(ctx, &csi.CreateVolumeRequest{
		Name: "pvc-shared", VolumeCapabilities: []*csi.VolumeCapability{capability},
		Parameters: map[string]string{"provisioningMode": "efs-ap", "fileSystemId": f.fs.ID, "directoryPerms": "777"},
	})
	if err != nil {
		t.Fatal(err)
	}
	a, b := f.node(t, "i-aaaaaaaaaaaaaaaaa", "us-east-1a"), f.node(t, "i-bbbbbbbbbbbbbbbbb", "us-east-1b")
	t.Logf("nodes publish with %s", a.Mode())
	pods := filepath.Join(f.dir, "pods")
	os.MkdirAll(pods, 0o755)
	publish := func(n *csiefs.Node, volumeID, target string, readonly bool) {
		t.Helper()
		if _, err := n.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{
			VolumeId: volumeID, TargetPath: target, VolumeCapability: capability, Readonly: readonly,
		}); err != nil {
			t.Fatalf("publishing %s at %s: %v", volumeID, target, err)
		}
		t.Cleanup(func() {
			if _, err := n.NodeUnpublishVolume(context.Background(), &csi.NodeUnpublishVolumeRequest{VolumeId: volumeID, TargetPath: target}); err != nil {
				t.Errorf("unpublishing %s: %v", target, err)
			}
		})
	}
	ta, tb := filepath.Join(pods, "a"), filepath.Join(pods, "b")
	publish(a, resp.Volume.VolumeId, ta, false)
	publish(b, resp.Volume.VolumeId, tb, false)
	if err := os.WriteFile(filepath.Join(ta, "from-a"), []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tb, "from-b"), []byte("world"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(tb, "from-a")); err != nil || string(got) != "hello" {
		t.Errorf("node b reads %q, %v", got, err)
	}
	if got, err := os.ReadFile(filepath.Join(ta, "from-b")); err != nil || string(got) != "world" {
		t.Errorf("node a reads %q, %v", got, err)
	}
	stats, err := a.NodeGetVolumeStats(ctx, &csi.NodeGetVolumeStatsRequest{VolumeId: resp.Volume.VolumeId, VolumePath: ta})
	if err != nil || stats.Usage[0].Used != 10 {
		t.Errorf("NodeGetVolumeStats = %v, %v; want 10 bytes used", stats, err)
	}

	if a.Mode() == bindmount.Bind {
		// Read-only, through the same access point.
		tr := filepath.Join(pods, "ro")
		publish(a, resp.Volume.VolumeId, tr, true)
		if err := os.WriteFile(filepath.Join(tr, "x"), nil, 0o644); err == nil {
			t.Error("wrote through a read-only publish")
		}
	}

	// A static handle with a sub path, on a node that mounts the whole
	// file system elsewhere.
	os.MkdirAll(filepath.Join(f.svc.Dir(f.fs.ID), "static", "dir"), 0o755)
	os.WriteFile(filepath.Join(f.svc.Dir(f.fs.ID), "static", "dir", "f"), []byte("static"), 0o644)
	ts := filepath.Join(pods, "static")
	publish(b, f.fs.ID+":/static/dir", ts, false)
	if got, err := os.ReadFile(filepath.Join(ts, "f")); err != nil || string(got) != "static" {
		t.Errorf("static sub path reads %q, %v", got, err)
	}
	tw := filepath.Join(pods, "whole")
	publish(a, f.fs.ID, tw, false)
	if entries, _ := os.ReadDir(tw); len(entries) != 2 { // static and the access point's directory
		t.Errorf("whole file system lists %d entries, want 2", len(entries))
	}

	// Errors: no such sub path; another file system's access point; no
	// mount target.
	for _, tc := range []struct {
		handle string
		want   codes.Code
	}{
		{f.fs.ID + ":/missing", codes.FailedPrecondition},
		{f.fs.ID + "::fsap-0123456789abcdef0", codes.NotFound},
		{"fs-0123456789abcdef0", codes.NotFound},
		{"fs-x", codes.InvalidArgument},
		{f.fs.ID + ":/a:b:c", codes.InvalidArgument},
	} {
		_, err := a.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{VolumeId: tc.handle, TargetPath: filepath.Join(pods, "err"), VolumeCapability: capability})
		if status.Code(err) != tc.want {
			t.Errorf("publishing %q: %v, want %v", tc.handle, err, tc.want)
		}
	}
	lonely, err := f.svc.CreateFileSystem(ctx, efs.CreateFileSystemInput{CreationToken: "no-mount-target"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{VolumeId: lonely.ID, TargetPath: filepath.Join(pods, "err"), VolumeCapability: capability})
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "mount target") {
		t.Errorf("publishing a file system without mount targets: %v", err)
	}
}

func TestParseVolumeHandle(t *testing.T) {
	tests := []struct {
		in   string
		want csiefs.VolumeHandle
		ok   bool
	}{
		{"fs-0123abcd", csiefs.VolumeHandle{FileSystemID: "fs-0123abcd"}, true},
		{"fs-0123abcd:", csiefs.VolumeHandle{FileSystemID: "fs-0123abcd"}, true},
		{"fs-0123abcd:/a/b", csiefs.VolumeHandle{FileSystemID: "fs-0123abcd", SubPath: "/a/b"}, true},
		{"fs-0123abcd::fsap-0123abcd", csiefs.VolumeHandle{FileSystemID: "fs-0123abcd", AccessPointID: "fsap-0123abcd"}, true},
		{"fs-0123abcd:/x:fsap-0123abcd", csiefs.VolumeHandle{FileSystemID: "fs-0123abcd", SubPath: "/x", AccessPointID: "fsap-0123abcd"}, true},
		{"efs:fs-0123abcd::fsap-0123abcd", csiefs.VolumeHandle{FileSystemID: "fs-0123abcd", AccessPointID: "fsap-0123abcd"}, true},
		{"fs-0123abcd:/../../etc", csiefs.VolumeHandle{FileSystemID: "fs-0123abcd", SubPath: "/etc"}, true},
		{"fs-0123abcd::ap-1", csiefs.VolumeHandle{}, false},
		{"vol-0123abcd", csiefs.VolumeHandle{}, false},
		{"fs-0123abcd:a:b:c", csiefs.VolumeHandle{}, false},
		{"", csiefs.VolumeHandle{}, false},
	}
	for _, tc := range tests {
		got, err := csiefs.ParseVolumeHandle(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseVolumeHandle(%q) = %+v, %v", tc.in, got, err)
		}
	}
}
