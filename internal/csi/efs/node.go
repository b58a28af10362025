package efs

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/berthproject/berth/internal/apierror"
	"github.com/berthproject/berth/internal/csi/bindmount"
	"github.com/berthproject/berth/internal/csi/plugin"
	"github.com/berthproject/berth/internal/efs"
)

// NodeConfig wires a Node: one per (simulated) node.
type NodeConfig struct {
	// NodeID is the node's CSI id (the instance id, as the real driver
	// reports). Required.
	NodeID string
	// Zone is the node's Availability Zone, reported as its topology and
	// used to pick the mount target.
	Zone string
	// EFS is the service whose file systems the node mounts. Required.
	EFS *efs.Service
	// Mounter publishes directories; nil probes for bind mounts once.
	Mounter *bindmount.Mounter
	// MaxVolumesPerNode is reported by NodeGetInfo; zero is no limit.
	MaxVolumesPerNode int64
	Logger            *slog.Logger
}

// Node is the CSI node service of efs.csi.aws.com on one node.
type Node struct {
	csi.UnimplementedNodeServer
	cfg NodeConfig
	log *slog.Logger
	mnt *bindmount.Mounter
}

var _ csi.NodeServer = (*Node)(nil)

// NewNode checks cfg and returns a Node.
func NewNode(cfg NodeConfig) (*Node, error) {
	if cfg.NodeID == "" || cfg.EFS == nil {
		return nil, errors.New("csi/efs: NodeConfig.NodeID and EFS are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Mounter == nil {
		cfg.Mounter = bindmount.New(cfg.Logger, "")
	}
	return &Node{cfg: cfg, log: cfg.Logger, mnt: cfg.Mounter}, nil
}

// Mode reports how the node publishes volumes: bind mounts, or symbolic
// links where mounting is not permitted.
func (n *Node) Mode() bindmount.Mode { return n.mnt.Mode() }

// Serve serves the Identity and Node services on lis until ctx is done.
func (n *Node) Serve(ctx context.Context, lis net.Listener) error {
	return serve(ctx, lis, func(s *grpc.Server) { csi.RegisterNodeServer(s, n) })
}

// Identity returns the identity server the node serves.
func (n *Node) Identity() csi.IdentityServer { return identity() }

// mountOptions are the parts of a publish the node honours.
type mountOptions struct {
	readonly bool
}

// parseMountOptions reads the volume context and mount flags as the real
// driver does.
func parseMountOptions(req *csi.NodePublishVolumeRequest, h VolumeHandle) (mountOptions, error) {
	o := mountOptions{readonly: req.GetReadonly()}
	encrypt := true
	for k, v := range req.GetVolumeContext() {
		switch lk := strings.ToLower(k); {
		case lk == "storage.kubernetes.io/csiprovisioneridentity", strings.HasPrefix(lk, "csi.storage.k8s.io/"):
		case lk == "encryptintransit":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return o, invalid("Volume context property %q must be a boolean value: %v", k, err)
			}
			encrypt = b
		case lk == "mounttargetip":
			if net.ParseIP(v) == nil {
				return o, invalid("Volume context property %q=%q is not a valid IP address", k, v)
			}
		case lk == "crossaccount":
			if _, err := strconv.ParseBool(v); err != nil {
				return o, invalid("Volume context property %q must be a boolean value: %v", k, err)
			}
		default:
			return o, invalid("Volume context property %s not supported.", k)
		}
	}
	for _, f := range req.GetVolumeCapability().GetMount().GetMountFlags() {
		f = strings.ToLower(strings.TrimSpace(f))
		switch {
		case f == "ro":
			o.readonly = true
		case f == "tls" && !encrypt:
			return o, invalid("Found tls in mountOptions but encryptInTransit is false")
		case strings.HasPrefix(f, "accesspoint="):
			if ap := strings.TrimPrefix(f, "accesspoint="); h.AccessPointID != "" && ap != h.AccessPointID {
				return o, invalid("Found conflicting access point IDs in mountOptions (%s) and volumeHandle (%s)", ap, h.AccessPointID)
			}
		}
	}
	return o, nil
}

// NodePublishVolume mounts a volume's directory at the target path.
func (n *Node) NodePublishVolume(ctx context.Context, req *csi.NodePublishVolumeRequest) (*csi.NodePublishVolumeResponse, error) {
	if req.GetVolumeId() == "" {
		return nil, invalid("Volume ID not provided")
	}
	target := req.GetTargetPath()
	if target == "" {
		return nil, invalid("Target path not provided")
	}
	vc := req.GetVolumeCapability()
	if vc == nil {
		return nil, invalid("Volume capability not provided")
	}
	if err := validCapabilities([]*csi.VolumeCapability{vc}); err != nil {
		return nil, invalid("Volume capability not supported: %s", err)
	}
	h, err := ParseVolumeHandle(req.GetVolumeId())
	if err != nil {
		return nil, err
	}
	opts, err := parseMountOptions(req, h)
	if err != nil {
		return nil, err
	}
	// The access point's id in the mount options, as the real driver
	// takes it (deprecated there).
	if h.AccessPointID == "" {
		for _, f := range vc.GetMount().GetMountFlags() {
			if ap, ok := strings.CutPrefix(strings.ToLower(f), "accesspoint="); ok {
				h.AccessPointID = ap
			}
		}
	}
	dir, err := n.open(ctx, h)
	if err != nil {
		return nil, err
	}
	defer dir.Close()
	if err := n.mnt.Publish(dir, target, opts.readonly); err != nil {
		return nil, status.Errorf(codes.Internal, "Could not mount %q at %q: %v", h.String(), target, err)
	}
	n.log.Debug("volume published", "volume", req.GetVolumeId(), "target", target, "readonly", opts.readonly, "mode", n.mnt.Mode())
	return &csi.NodePublishVolumeResponse{}, nil
}

// open resolves a volume handle to its directory, inside the file
// system's data: the access point's root (if any), then the sub path.
func (n *Node) open(ctx context.Context, h VolumeHandle) (*os.File, error) {
	fsys, err := n.cfg.EFS.FileSystem(ctx, h.FileSystemID)
	if err != nil {
		if apierror.IsKind(err, efs.FileSystemNotFound) {
			return nil, status.Errorf(codes.NotFound, "Could not mount %s: %s", h.String(), message(err))
		}
		return nil, status.Errorf(codes.Internal, "Could not describe file system %s: %v", h.FileSystemID, err)
	}
	if fsys.State != efs.StateAvailable {
		return nil, status.Errorf(codes.FailedPrecondition, "Could not mount %s: the file system is %s", h.String(), fsys.State)
	}
	if err := n.mountTarget(ctx, fsys); err != nil {
		return nil, err
	}
	rel := "."
	if h.AccessPointID != "" {
		ap, err := n.cfg.EFS.AccessPoint(ctx, h.AccessPointID)
		if err != nil || ap.FileSystemID != fsys.ID {
			return nil, status.Errorf(codes.NotFound, "Could not mount %s: access point %s of file system %s does not exist", h.String(), h.AccessPointID, fsys.ID)
		}
		rel = filepath.Join(rel, ap.RootDirectory.Path)
	}
	rel = filepath.Join(rel, h.SubPath)
	root, err := os.OpenRoot(n.cfg.EFS.Dir(fsys.ID))
	if err != nil {
		return nil, status.Errorf(codes.Internal, "Could not open the data of %s: %v", fsys.ID, err)
	}
	defer root.Close()
	f, err := root.Open(rel)
	if err != nil {
		return nil, status.Errorf(codes.FailedPrecondition, "Could not mount %s: %s does not exist in the file system (mount.nfs4: No such file or directory)", h.String(), "/"+strings.TrimPrefix(rel, "./"))
	}
	if fi, err := f.Stat(); err != nil || !fi.IsDir() {
		f.Close()
		return nil, status.Errorf(codes.FailedPrecondition, "Could not mount %s: /%s is not a directory", h.String(), rel)
	}
	return f, nil
}

// mountTarget checks that the file system can be reached: it needs an
// available mount target, in the node's zone preferably, as a mount
// through efs-utils does.
func (n *Node) mountTarget(ctx context.Context, fsys *efs.FileSystem) error {
	mts, err := n.cfg.EFS.MountTargets(ctx, fsys.ID)
	if err != nil {
		return status.Errorf(codes.Internal, "Could not describe the mount targets of %s: %v", fsys.ID, err)
	}
	var other *efs.MountTarget
	for _, mt := range mts {
		if mt.State != efs.StateAvailable {
			continue
		}
		if mt.AvailabilityZone == n.cfg.Zone {
			return nil
		}
		other = mt
	}
	if other == nil {
		return status.Errorf(codes.FailedPrecondition,
			"Could not mount %s: Failed to resolve \"%s.efs.%s.amazonaws.com\": the file system has no available mount target. Create one in the node's zone (%s).",
			fsys.ID, fsys.ID, n.cfg.EFS.Region(), n.cfg.Zone)
	}
	n.log.Debug("no mount target in the node's zone; using another zone's", "fileSystemId", fsys.ID, "zone", n.cfg.Zone, "mountTargetZone", other.AvailabilityZone)
	return nil
}

// NodeUnpublishVolume unmounts the target path and removes it.
func (n *Node) NodeUnpublishVolume(_ context.Context, req *csi.NodeUnpublishVolumeRequest) (*csi.NodeUnpublishVolumeResponse, error) {
	if err := plugin.Unpublish(n.mnt, req.GetVolumeId(), req.GetTargetPath(), "Target path"); err != nil {
		return nil, err
	}
	return &csi.NodeUnpublishVolumeResponse{}, nil
}

// NodeGetVolumeStats reports the bytes a volume's files take and the
// space and inodes of the disk under the data.
func (n *Node) NodeGetVolumeStats(ctx context.Context, req *csi.NodeGetVolumeStatsRequest) (*csi.NodeGetVolumeStatsResponse, error) {
	if req.GetVolumeId() == "" {
		return nil, invalid("Volume ID not provided")
	}
	if req.GetVolumePath() == "" {
		return nil, invalid("Volume Path not provided")
	}
	h, err := ParseVolumeHandle(req.GetVolumeId())
	if err != nil {
		return nil, status.Errorf(codes.NotFound, "Volume %s not found: %s", req.GetVolumeId(), message(err))
	}
	if _, err := n.cfg.EFS.FileSystem(ctx, h.FileSystemID); err != nil {
		return nil, status.Errorf(codes.NotFound, "Volume %s not found: %s", req.GetVolumeId(), message(err))
	}
	if _, err := os.Stat(req.GetVolumePath()); err != nil {
		return nil, status.Errorf(codes.NotFound, "Volume Path %s does not exist", req.GetVolumePath())
	}
	return volumeStats(req.GetVolumePath())
}

// volumeStats measures a published path: used bytes by walking it, the
// rest from statfs.
func volumeStats(p string) (*csi.NodeGetVolumeStatsResponse, error) {
	if real, err := filepath.EvalSymlinks(p); err == nil {
		p = real // a published link (where mounting is not permitted)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(p, &st); err != nil {
		return nil, status.Errorf(codes.Internal, "Could not get metrics: %v", err)
	}
	used, files := bindmount.Usage(p)
	bsize := int64(st.Bsize)
	return &csi.NodeGetVolumeStatsResponse{Usage: []*csi.VolumeUsage{
		{Unit: csi.VolumeUsage_BYTES, Total: int64(st.Blocks) * bsize, Available: int64(st.Bavail) * bsize, Used: used},
		{Unit: csi.VolumeUsage_INODES, Total: int64(st.Files), Available: int64(st.Ffree), Used: files},
	}}, nil
}

// NodeGetCapabilities reports volume stats; EFS volumes are not staged.
func (n *Node) NodeGetCapabilities(context.Context, *csi.NodeGetCapabilitiesRequest) (*csi.NodeGetCapabilitiesResponse, error) {
	return &csi.NodeGetCapabilitiesResponse{Capabilities: []*csi.NodeServiceCapability{{
		Type: &csi.NodeServiceCapability_Rpc{Rpc: &csi.NodeServiceCapability_RPC{Type: csi.NodeServiceCapability_RPC_GET_VOLUME_STATS}},
	}}}, nil
}

// NodeGetInfo reports the node's id, volume limit and zone.
func (n *Node) NodeGetInfo(context.Context, *csi.NodeGetInfoRequest) (*csi.NodeGetInfoResponse, error) {
	resp := &csi.NodeGetInfoResponse{NodeId: n.cfg.NodeID, MaxVolumesPerNode: n.cfg.MaxVolumesPerNode}
	if n.cfg.Zone != "" {
		resp.AccessibleTopology = &csi.Topology{Segments: map[string]string{TopologyZoneKey: n.cfg.Zone}}
	}
	return resp, nil
}
