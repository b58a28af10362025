package fsx

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"slices"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/berthproject/berth/internal/apierror"
	"github.com/berthproject/berth/internal/csi/bindmount"
	"github.com/berthproject/berth/internal/csi/plugin"
	"github.com/berthproject/berth/internal/fsx"
)

// NodeConfig wires a Node: one per (simulated) node.
type NodeConfig struct {
	// NodeID is the node's CSI id (the instance id). Required.
	NodeID string
	// FSx is the service whose file systems the node mounts. Required.
	FSx *fsx.Service
	// Mounter publishes directories; nil probes for bind mounts once.
	Mounter *bindmount.Mounter
	Logger  *slog.Logger
}

// Node is the CSI node service of fsx.csi.aws.com on one node.
type Node struct {
	csi.UnimplementedNodeServer
	cfg NodeConfig
	log *slog.Logger
	mnt *bindmount.Mounter
}

var _ csi.NodeServer = (*Node)(nil)

// NewNode checks cfg and returns a Node.
func NewNode(cfg NodeConfig) (*Node, error) {
	if cfg.NodeID == "" || cfg.FSx == nil {
		return nil, errors.New("csi/fsx: NodeConfig.NodeID and FSx are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Mounter == nil {
		cfg.Mounter = bindmount.New(cfg.Logger, "")
	}
	return &Node{cfg: cfg, log: cfg.Logger, mnt: cfg.Mounter}, nil
}

// Mode reports how the node publishes volumes.
func (n *Node) Mode() bindmount.Mode { return n.mnt.Mode() }

// Serve serves the Identity and Node services on lis until ctx is done.
func (n *Node) Serve(ctx context.Context, lis net.Listener) error {
	return serve(ctx, lis, func(s *grpc.Server) { csi.RegisterNodeServer(s, n) })
}

// fileSystem checks a volume's context against its file system, as a
// Lustre mount of dnsname@tcp:/mountname would.
func (n *Node) fileSystem(ctx context.Context, volumeID string, vc map[string]string) (*fsx.FileSystem, error) {
	dns := vc[ContextDNSName]
	if dns == "" {
		return nil, invalid("dnsname is not provided")
	}
	mountName := vc[ContextMountName]
	if mountName == "" {
		mountName = "fsx"
	}
	fsys, err := n.cfg.FSx.FileSystem(ctx, volumeID)
	if apierror.IsKind(err, fsx.FileSystemNotFound) {
		return nil, status.Errorf(codes.NotFound, "Could not mount %s@tcp:/%s: file system %s does not exist", dns, mountName, volumeID)
	}
	if err != nil {
		return nil, status.Errorf(codes.Internal, "Could not describe file system %s: %v", volumeID, err)
	}
	if fsys.Lifecycle != fsx.LifecycleAvailable {
		return nil, status.Errorf(codes.FailedPrecondition, "Could not mount %s@tcp:/%s: the file system is %s", dns, mountName, fsys.Lifecycle)
	}
	if dns != fsys.DNSName || mountName != fsys.Lustre.MountName {
		return nil, status.Errorf(codes.FailedPrecondition, "Could not mount %s@tcp:/%s: file system %s is %s@tcp:/%s", dns, mountName, fsys.ID, fsys.DNSName, fsys.Lustre.MountName)
	}
	return fsys, nil
}

func checkCapability(vc *csi.VolumeCapability) error {
	if vc == nil {
		return invalid("Volume capability not provided")
	}
	if err := validCapabilities([]*csi.VolumeCapability{vc}); err != nil {
		return invalid("Volume capability not supported: %s", err)
	}
	return nil
}

// NodeStageVolume mounts a file system's directory at the staging path.
func (n *Node) NodeStageVolume(ctx context.Context, req *csi.NodeStageVolumeRequest) (*csi.NodeStageVolumeResponse, error) {
	if req.GetVolumeId() == "" {
		return nil, invalid("Volume ID not provided")
	}
	if req.GetStagingTargetPath() == "" {
		return nil, invalid("Staging target path not provided")
	}
	if err := checkCapability(req.GetVolumeCapability()); err != nil {
		return nil, err
	}
	fsys, err := n.fileSystem(ctx, req.GetVolumeId(), req.GetVolumeContext())
	if err != nil {
		return nil, err
	}
	dir, err := os.Open(n.cfg.FSx.Dir(fsys.ID))
	if err != nil {
		return nil, status.Errorf(codes.Internal, "Could not open the data of %s: %v", fsys.ID, err)
	}
	defer dir.Close()
	if err := n.mnt.Publish(dir, req.GetStagingTargetPath(), false); err != nil {
		return nil, status.Errorf(codes.Internal, "Could not mount %s at %q: %v", fsys.DNSName, req.GetStagingTargetPath(), err)
	}
	n.log.Debug("volume staged", "volume", fsys.ID, "staging", req.GetStagingTargetPath())
	return &csi.NodeStageVolumeResponse{}, nil
}

// NodeUnstageVolume unmounts the staging path.
func (n *Node) NodeUnstageVolume(_ context.Context, req *csi.NodeUnstageVolumeRequest) (*csi.NodeUnstageVolumeResponse, error) {
	if err := plugin.Unpublish(n.mnt, req.GetVolumeId(), req.GetStagingTargetPath(), "Staging target path"); err != nil {
		return nil, err
	}
	return &csi.NodeUnstageVolumeResponse{}, nil
}

// NodePublishVolume mounts the staged volume at the target path.
func (n *Node) NodePublishVolume(ctx context.Context, req *csi.NodePublishVolumeRequest) (*csi.NodePublishVolumeResponse, error) {
	if req.GetVolumeId() == "" {
		return nil, invalid("Volume ID not provided")
	}
	if req.GetTargetPath() == "" {
		return nil, invalid("Target path not provided")
	}
	if req.GetStagingTargetPath() == "" {
		return nil, invalid("Staging target path not provided")
	}
	if err := checkCapability(req.GetVolumeCapability()); err != nil {
		return nil, err
	}
	fsys, err := n.fileSystem(ctx, req.GetVolumeId(), req.GetVolumeContext())
	if err != nil {
		return nil, err
	}
	staged, err := os.Open(req.GetStagingTargetPath())
	if err != nil {
		return nil, status.Errorf(codes.FailedPrecondition, "Volume %s is not staged at %q: %v", fsys.ID, req.GetStagingTargetPath(), err)
	}
	defer staged.Close()
	if want, err := os.Stat(n.cfg.FSx.Dir(fsys.ID)); err != nil || !sameFile(staged, want) {
		return nil, status.Errorf(codes.FailedPrecondition, "Volume %s is not staged at %q", fsys.ID, req.GetStagingTargetPath())
	}
	readonly := req.GetReadonly() || slices.Contains(req.GetVolumeCapability().GetMount().GetMountFlags(), "ro")
	if err := n.mnt.Publish(staged, req.GetTargetPath(), readonly); err != nil {
		return nil, status.Errorf(codes.Internal, "Could not mount %q at %q: %v", req.GetStagingTargetPath(), req.GetTargetPath(), err)
	}
	n.log.Debug("volume published", "volume", fsys.ID, "target", req.GetTargetPath(), "readonly", readonly)
	return &csi.NodePublishVolumeResponse{}, nil
}

func sameFile(f *os.File, want os.FileInfo) bool {
	fi, err := f.Stat()
	return err == nil && os.SameFile(fi, want)
}

// NodeUnpublishVolume unmounts the target path and removes it.
func (n *Node) NodeUnpublishVolume(_ context.Context, req *csi.NodeUnpublishVolumeRequest) (*csi.NodeUnpublishVolumeResponse, error) {
	if err := plugin.Unpublish(n.mnt, req.GetVolumeId(), req.GetTargetPath(), "Target path"); err != nil {
		return nil, err
	}
	return &csi.NodeUnpublishVolumeResponse{}, nil
}

// NodeGetVolumeStats reports the file system's capacity, the bytes its
// files take and the inodes under the path.
func (n *Node) NodeGetVolumeStats(ctx context.Context, req *csi.NodeGetVolumeStatsRequest) (*csi.NodeGetVolumeStatsResponse, error) {
	if req.GetVolumeId() == "" {
		return nil, invalid("Volume ID not provided")
	}
	if req.GetVolumePath() == "" {
		return nil, invalid("Volume Path not provided")
	}
	fsys, err := n.cfg.FSx.FileSystem(ctx, req.GetVolumeId())
	if err != nil {
		return nil, status.Errorf(codes.NotFound, "Volume %s not found", req.GetVolumeId())
	}
	if _, err := os.Stat(req.GetVolumePath()); err != nil {
		return nil, status.Errorf(codes.NotFound, "Volume Path %s does not exist", req.GetVolumePath())
	}
	used, files := bindmount.Usage(req.GetVolumePath())
	total := int64(fsys.StorageCapacity) * fsx.GiB
	return &csi.NodeGetVolumeStatsResponse{Usage: []*csi.VolumeUsage{
		{Unit: csi.VolumeUsage_BYTES, Total: total, Available: max(total-used, 0), Used: used},
		{Unit: csi.VolumeUsage_INODES, Used: files},
	}}, nil
}

// NodeGetCapabilities reports staging and volume stats.
func (n *Node) NodeGetCapabilities(context.Context, *csi.NodeGetCapabilitiesRequest) (*csi.NodeGetCapabilitiesResponse, error) {
	rpc := func(t csi.NodeServiceCapability_RPC_Type) *csi.NodeServiceCapability {
		return &csi.NodeServiceCapability{Type: &csi.NodeServiceCapability_Rpc{Rpc: &csi.NodeServiceCapability_RPC{Type: t}}}
	}
	return &csi.NodeGetCapabilitiesResponse{Capabilities: []*csi.NodeServiceCapability{
		rpc(csi.NodeServiceCapability_RPC_STAGE_UNSTAGE_VOLUME),
		rpc(csi.NodeServiceCapability_RPC_GET_VOLUME_STATS),
	}}, nil
}

// NodeGetInfo reports the node's id; Lustre file systems are reachable
// from every zone of the VPC.
func (n *Node) NodeGetInfo(context.Context, *csi.NodeGetInfoRequest) (*csi.NodeGetInfoResponse, error) {
	return &csi.NodeGetInfoResponse{NodeId: n.cfg.NodeID}, nil
}
