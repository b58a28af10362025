package ebs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/mount-utils"
	utilexec "k8s.io/utils/exec"

	"github.com/berthproject/berth/internal/apierror"
	ebsvc "github.com/berthproject/berth/internal/ebs"
)

// NodeVolumes is what a node needs of berth's EBS service: the volumes
// and where their data lives. *ebs.Service is one.
type NodeVolumes interface {
	Volume(ctx context.Context, id string) (*ebsvc.Volume, error)
	ImagePath(volumeID string) string
	FilesPath(volumeID string) string
}

var _ NodeVolumes = (*ebsvc.Service)(nil)

// NodeConfig wires a Node.
type NodeConfig struct {
	// NodeID is the node's instance id. Required.
	NodeID string
	// Zone is the instance's Availability Zone. Required.
	Zone string
	// InstanceType sizes MaxVolumes when that is not set.
	InstanceType string
	// MaxVolumes is the node's attach limit for volumes of this driver
	// (default: what the instance type leaves next to its root volume and
	// network interface, ebs.AttachLimitOf(InstanceType).DataVolumes()).
	MaxVolumes int64
	// Volumes is berth's EBS service. Required.
	Volumes NodeVolumes
	// Mode is how volumes become filesystems (default: DetectMode).
	Mode   Mode
	Logger *slog.Logger
}

// Node is the CSI Node service of one node.
type Node struct {
	csi.UnimplementedNodeServer
	cfg     NodeConfig
	vols    NodeVolumes
	log     *slog.Logger
	mode    Mode
	why     string
	mounter *mount.SafeFormatAndMount
	resizer *mount.ResizeFs

	locksMu sync.Mutex
	locks   map[string]*sync.Mutex
}

var _ csi.NodeServer = (*Node)(nil)

// NewNode checks cfg and returns a Node. It logs, once, when the node
// emulates filesystems.
func NewNode(cfg NodeConfig) (*Node, error) {
	if cfg.NodeID == "" || cfg.Zone == "" || cfg.Volumes == nil {
		return nil, errors.New("csi/ebs: NodeID, Zone and Volumes are required")
	}
	if cfg.MaxVolumes < 0 {
		return nil, fmt.Errorf("csi/ebs: MaxVolumes %d is negative", cfg.MaxVolumes)
	}
	if cfg.MaxVolumes == 0 {
		cfg.MaxVolumes = int64(ebsvc.AttachLimitOf(cfg.InstanceType).DataVolumes())
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	n := &Node{cfg: cfg, vols: cfg.Volumes, log: cfg.Logger, mode: cfg.Mode, locks: map[string]*sync.Mutex{}}
	best, why := DetectMode()
	switch {
	case n.mode == ModeAuto:
		n.mode, n.why = best, why
	case n.mode == ModeLoop && best != ModeLoop, n.mode == ModeBind && best == ModeSymlink:
		return nil, fmt.Errorf("csi/ebs: mode %s is not available here: %s", n.mode, why)
	case n.mode != ModeLoop && n.mode != ModeBind && n.mode != ModeSymlink:
		return nil, fmt.Errorf("csi/ebs: unknown mode %q", n.mode)
	default:
		n.why = "emulation asked for"
	}
	if n.mode.Emulated() {
		n.log.Info("EBS CSI node emulates filesystems", "node", cfg.NodeID, "mode", n.mode, "why", n.why)
	}
	exec := utilexec.New()
	n.mounter = mount.NewSafeFormatAndMount(newMounter(), exec)
	n.resizer = mount.NewResizeFs(exec)
	return n, nil
}

// Mode is how this node turns volumes into filesystems.
func (n *Node) Mode() Mode { return n.mode }

// ModeReason says why the node emulates, empty in ModeLoop.
func (n *Node) ModeReason() string { return n.why }

// lock serializes the operations on one volume.
func (n *Node) lock(volumeID string) func() {
	n.locksMu.Lock()
	m, ok := n.locks[volumeID]
	if !ok {
		m = &sync.Mutex{}
		n.locks[volumeID] = m
	}
	n.locksMu.Unlock()
	m.Lock()
	return m.Unlock
}

// volume returns a volume attached to this node.
func (n *Node) volume(ctx context.Context, id string) (*ebsvc.Volume, error) {
	v, err := n.vols.Volume(ctx, id)
	if err != nil {
		if ebsvc.IsNotFound(err) || apierror.IsKind(err, ebsvc.VolumeMalformed) {
			return nil, status.Errorf(codes.NotFound, "Volume %s not found", id)
		}
		return nil, status.Errorf(codes.Internal, "Could not get volume %s: %v", id, err)
	}
	if _, ok := v.AttachmentTo(n.cfg.NodeID); !ok {
		return nil, status.Errorf(codes.FailedPrecondition, "Volume %s is not attached to node %s", id, n.cfg.NodeID)
	}
	return v, nil
}

// NodeGetInfo says who the node is: its instance id, its attach limit and
// its zone.
func (n *Node) NodeGetInfo(context.Context, *csi.NodeGetInfoRequest) (*csi.NodeGetInfoResponse, error) {
	return &csi.NodeGetInfoResponse{
		NodeId:            n.cfg.NodeID,
		MaxVolumesPerNode: n.cfg.MaxVolumes,
		AccessibleTopology: &csi.Topology{Segments: map[string]string{
			ZoneTopologyKey:          n.cfg.Zone,
			WellKnownZoneTopologyKey: n.cfg.Zone,
			OSTopologyKey:            runtime.GOOS,
		}},
	}, nil
}

var nodeCaps = []csi.NodeServiceCapability_RPC_Type{
	csi.NodeServiceCapability_RPC_STAGE_UNSTAGE_VOLUME,
	csi.NodeServiceCapability_RPC_EXPAND_VOLUME,
	csi.NodeServiceCapability_RPC_GET_VOLUME_STATS,
}

// NodeGetCapabilities lists what the node does.
func (n *Node) NodeGetCapabilities(context.Context, *csi.NodeGetCapabilitiesRequest) (*csi.NodeGetCapabilitiesResponse, error) {
	out := &csi.NodeGetCapabilitiesResponse{}
	for _, t := range nodeCaps {
		out.Capabilities = append(out.Capabilities, &csi.NodeServiceCapability{
			Type: &csi.NodeServiceCapability_Rpc{Rpc: &csi.NodeServiceCapability_RPC{Type: t}}})
	}
	return out, nil
}

// NodeStageVolume makes a filesystem volume available at the staging
// path: in ModeLoop the volume's file on a loop device, formatted when
// blank and mounted; emulated, the volume's directory bind-mounted or
// linked. Block volumes are not staged.
func (n *Node) NodeStageVolume(ctx context.Context, req *csi.NodeStageVolumeRequest) (*csi.NodeStageVolumeResponse, error) {
	id, staging, vc := req.GetVolumeId(), req.GetStagingTargetPath(), req.GetVolumeCapability()
	switch {
	case id == "":
		return nil, invalid("Volume ID not provided")
	case staging == "":
		return nil, invalid("Staging target not provided")
	case vc == nil:
		return nil, invalid("Volume capability not provided")
	case !validCapability(vc):
		return nil, invalid("Volume capability not supported")
	case req.GetPublishContext()[DevicePathKey] == "":
		return nil, invalid("Device path not provided")
	}
	defer n.lock(id)()
	if _, err := n.volume(ctx, id); err != nil {
		return nil, err
	}
	if vc.GetBlock() != nil {
		return &csi.NodeStageVolumeResponse{}, nil
	}
	fsType := vc.GetMount().GetFsType()
	if fsType == "" {
		fsType = defaultFSType
	}
	if n.mode == ModeLoop && !slices.Contains(fsTypes(), fsType) {
		return nil, invalid("Filesystem %s cannot be made on this node (no mkfs.%s)", fsType, fsType)
	}
	if err := n.stage(id, staging, fsType, vc.GetMount().GetMountFlags(), req.GetVolumeContext()); err != nil {
		return nil, err
	}
	return &csi.NodeStageVolumeResponse{}, nil
}

func (n *Node) stage(id, staging, fsType string, flags []string, volCtx map[string]string) error {
	if n.mode == ModeSymlink {
		dir := n.vols.FilesPath(id)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return status.Errorf(codes.Internal, "Could not create the files of volume %s: %v", id, err)
		}
		return linkTo(dir, staging)
	}
	if err := os.MkdirAll(staging, 0o750); err != nil {
		return status.Errorf(codes.Internal, "Could not create staging path %s: %v", staging, err)
	}
	mounted, err := n.mounter.IsMountPoint(staging)
	if err != nil {
		return status.Errorf(codes.Internal, "Could not check staging path %s: %v", staging, err)
	}
	if mounted {
		if n.holds(staging, id) {
			return nil
		}
		return status.Errorf(codes.AlreadyExists, "Staging path %s holds another volume", staging)
	}
	if n.mode == ModeBind {
		dir := n.vols.FilesPath(id)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return status.Errorf(codes.Internal, "Could not create the files of volume %s: %v", id, err)
		}
		if err := n.mounter.Mount(dir, staging, "", append([]string{"bind"}, flags...)); err != nil {
			return status.Errorf(codes.Internal, "Could not mount volume %s at %s: %v", id, staging, err)
		}
		return nil
	}
	dev, err := attachLoop(n.vols.ImagePath(id))
	if err != nil {
		return status.Errorf(codes.Internal, "Could not attach volume %s to a loop device: %v", id, err)
	}
	// A volume expanded while it was not staged has a larger device than
	// filesystem: grow it before it is mounted.
	if format, err := n.mounter.GetDiskFormat(dev); err == nil && isExt(format) {
		if need, err := extNeedsGrowth(dev); err == nil && need {
			if err := growExtOffline(dev); err != nil {
				return status.Errorf(codes.Internal, "Could not grow the filesystem of volume %s: %v", id, err)
			}
		}
	}
	opts := slices.Clone(flags)
	if fsType == "xfs" && !slices.Contains(opts, "nouuid") {
		// Clones and restored snapshots share their source's UUID.
		opts = append(opts, "nouuid")
	}
	if err := n.mounter.FormatAndMountSensitiveWithFormatOptions(dev, staging, fsType, opts, nil, formatOptions(volCtx, fsType)); err != nil {
		if derr := detachLoop(dev); derr != nil {
			n.log.Error("detaching a loop device after a failed stage", "device", dev, "err", derr)
		}
		return status.Errorf(codes.Internal, "Could not format and mount volume %s (%s) at %s: %v", id, dev, staging, err)
	}
	if fsType == "xfs" {
		if _, err := n.resizer.Resize(dev, staging); err != nil {
			return status.Errorf(codes.Internal, "Could not grow the filesystem of volume %s: %v", id, err)
		}
	}
	n.log.Debug("staged volume", "volume", id, "device", dev, "path", staging)
	return nil
}

// holds reports whether a mounted path shows the given volume: the
// filesystem on its loop device, or its directory.
func (n *Node) holds(path, id string) bool {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return false
	}
	if n.mode != ModeLoop {
		return sameFile(path, n.vols.FilesPath(id))
	}
	devs, err := loopsOf(n.vols.ImagePath(id))
	if err != nil {
		return false
	}
	for _, d := range devs {
		var ds unix.Stat_t
		if unix.Stat(d, &ds) == nil && (ds.Rdev == st.Dev || ds.Rdev == st.Rdev) {
			return true
		}
	}
	return false
}

func sameFile(a, b string) bool {
	sa, err := os.Stat(a)
	if err != nil {
		return false
	}
	sb, err := os.Stat(b)
	return err == nil && os.SameFile(sa, sb)
}

// linkTo makes path a symbolic link to target, replacing an empty
// directory or file the CO made there.
func linkTo(target, path string) error {
	if cur, err := os.Readlink(path); err == nil {
		if cur == target {
			return nil
		}
		return status.Errorf(codes.AlreadyExists, "Path %s links to another volume", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return status.Errorf(codes.Internal, "Could not replace %s with a link: %v", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return status.Errorf(codes.Internal, "Could not create %s: %v", filepath.Dir(path), err)
	}
	if err := os.Symlink(target, path); err != nil {
		return status.Errorf(codes.Internal, "Could not link %s to %s: %v", path, target, err)
	}
	return nil
}

// NodeUnstageVolume unmounts the staging path and releases the volume's
// loop device. A path that holds nothing, or another volume, is left
// alone.
func (n *Node) NodeUnstageVolume(ctx context.Context, req *csi.NodeUnstageVolumeRequest) (*csi.NodeUnstageVolumeResponse, error) {
	id, staging := req.GetVolumeId(), req.GetStagingTargetPath()
	if id == "" {
		return nil, invalid("Volume ID not provided")
	}
	if staging == "" {
		return nil, invalid("Staging target not provided")
	}
	defer n.lock(id)()
	if n.mode == ModeSymlink {
		if cur, err := os.Readlink(staging); err == nil && cur == n.vols.FilesPath(id) {
			if err := os.Remove(staging); err != nil {
				return nil, status.Errorf(codes.Internal, "Could not remove %s: %v", staging, err)
			}
			// Leave the directory the CO made, as a mount would.
			if err := os.Mkdir(staging, 0o750); err != nil {
				return nil, status.Errorf(codes.Internal, "Could not restore %s: %v", staging, err)
			}
		}
		return &csi.NodeUnstageVolumeResponse{}, nil
	}
	mounted, err := n.mounter.IsMountPoint(staging)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, status.Errorf(codes.Internal, "Could not check staging path %s: %v", staging, err)
	}
	if mounted && n.holds(staging, id) {
		if err := n.mounter.Unmount(staging); err != nil {
			return nil, status.Errorf(codes.Internal, "Could not unmount %s: %v", staging, err)
		}
	}
	if n.mode == ModeLoop {
		if err := n.releaseLoop(id); err != nil {
			return nil, status.Errorf(codes.Internal, "Could not release the loop device of volume %s: %v", id, err)
		}
	}
	n.log.Debug("unstaged volume", "volume", id, "path", staging)
	return &csi.NodeUnstageVolumeResponse{}, nil
}

// releaseLoop unbinds the loop devices of a volume that nothing uses any
// more: no mount of its filesystem, no bind mount of the device.
func (n *Node) releaseLoop(id string) error {
	devs, err := loopsOf(n.vols.ImagePath(id))
	if err != nil || len(devs) == 0 {
		return err
	}
	used, err := devicesInUse()
	if err != nil {
		return err
	}
	var errs []error
	for _, d := range devs {
		if !used[d] {
			errs = append(errs, detachLoop(d))
		}
	}
	return errors.Join(errs...)
}

// NodePublishVolume makes a volume available at the target path: a bind
// mount of the staging path (filesystems) or of the volume's device
// (block), read-only when asked.
func (n *Node) NodePublishVolume(ctx context.Context, req *csi.NodePublishVolumeRequest) (*csi.NodePublishVolumeResponse, error) {
	id, target, staging, vc := req.GetVolumeId(), req.GetTargetPath(), req.GetStagingTargetPath(), req.GetVolumeCapability()
	switch {
	case id == "":
		return nil, invalid("Volume ID not provided")
	case target == "":
		return nil, invalid("Target path not provided")
	case vc == nil:
		return nil, invalid("Volume capability not provided")
	case !validCapability(vc):
		return nil, invalid("Volume capability not supported")
	case vc.GetMount() != nil && staging == "":
		return nil, invalid("Staging target not provided")
	}
	defer n.lock(id)()
	if _, err := n.volume(ctx, id); err != nil {
		return nil, err
	}
	if vc.GetAccessMode().GetMode() == csi.VolumeCapability_AccessMode_SINGLE_NODE_SINGLE_WRITER {
		if other, err := n.publishedElsewhere(id, target, staging); err != nil {
			return nil, status.Errorf(codes.Internal, "Could not check where volume %s is published: %v", id, err)
		} else if other != "" {
			return nil, status.Errorf(codes.FailedPrecondition, "Volume %s is single-writer and published at %s already", id, other)
		}
	}
	opts := []string{"bind"}
	if req.GetReadonly() {
		opts = append(opts, "ro")
	}
	if vc.GetBlock() != nil {
		return &csi.NodePublishVolumeResponse{}, n.publishBlock(id, target, opts)
	}
	opts = append(opts, vc.GetMount().GetMountFlags()...)
	if n.mode == ModeSymlink {
		return &csi.NodePublishVolumeResponse{}, linkTo(n.vols.FilesPath(id), target)
	}
	if mounted, err := n.mounter.IsMountPoint(staging); err != nil || !mounted || !n.holds(staging, id) {
		return nil, status.Errorf(codes.FailedPrecondition, "Volume %s is not staged at %s", id, staging)
	}
	if err := os.MkdirAll(target, 0o750); err != nil {
		return nil, status.Errorf(codes.Internal, "Could not create target %s: %v", target, err)
	}
	if mounted, err := n.mounter.IsMountPoint(target); err != nil {
		return nil, status.Errorf(codes.Internal, "Could not check target %s: %v", target, err)
	} else if mounted {
		if n.holds(target, id) {
			return &csi.NodePublishVolumeResponse{}, nil
		}
		return nil, status.Errorf(codes.AlreadyExists, "Target %s holds another volume", target)
	}
	if err := n.mounter.Mount(staging, target, "", opts); err != nil {
		return nil, status.Errorf(codes.Internal, "Could not mount %s at %s: %v", staging, target, err)
	}
	n.log.Debug("published volume", "volume", id, "path", target)
	return &csi.NodePublishVolumeResponse{}, nil
}

// publishBlock binds a block volume's device (emulated: its file) to the
// target file.
func (n *Node) publishBlock(id, target string, opts []string) error {
	source := n.vols.ImagePath(id)
	if n.mode == ModeLoop {
		dev, err := attachLoop(source)
		if err != nil {
			return status.Errorf(codes.Internal, "Could not attach volume %s to a loop device: %v", id, err)
		}
		source = dev
	}
	if n.mode == ModeSymlink {
		return linkTo(source, target)
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o750); err != nil {
		return status.Errorf(codes.Internal, "Could not create %s: %v", filepath.Dir(target), err)
	}
	if st, err := os.Lstat(target); err == nil && st.IsDir() {
		// The CO may have made a directory; a block target is a file.
		if err := os.Remove(target); err != nil {
			return status.Errorf(codes.Internal, "Could not replace directory %s: %v", target, err)
		}
	}
	f, err := os.OpenFile(target, os.O_CREATE|os.O_RDONLY, 0o640)
	if err != nil {
		return status.Errorf(codes.Internal, "Could not create target file %s: %v", target, err)
	}
	f.Close()
	if mounted, err := n.mounter.IsMountPoint(target); err != nil {
		return status.Errorf(codes.Internal, "Could not check target %s: %v", target, err)
	} else if mounted {
		if sameDevice(target, source) {
			return nil
		}
		return status.Errorf(codes.AlreadyExists, "Target %s holds another volume", target)
	}
	if err := n.mounter.Mount(source, target, "", opts); err != nil {
		return status.Errorf(codes.Internal, "Could not mount %s at %s: %v", source, target, err)
	}
	return nil
}

// sameDevice reports whether two paths are the same device node or file.
func sameDevice(a, b string) bool {
	var sa, sb unix.Stat_t
	if unix.Stat(a, &sa) != nil || unix.Stat(b, &sb) != nil {
		return false
	}
	if sa.Mode&unix.S_IFMT == unix.S_IFBLK && sb.Mode&unix.S_IFMT == unix.S_IFBLK {
		return sa.Rdev == sb.Rdev
	}
	return sa.Dev == sb.Dev && sa.Ino == sb.Ino
}

// publishedElsewhere returns a target other than target where the volume
// is mounted, if any.
func (n *Node) publishedElsewhere(id, target, staging string) (string, error) {
	infos, err := mount.ParseMountInfo("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	for _, mi := range infos {
		p := mi.MountPoint
		if p == filepath.Clean(target) || p == filepath.Clean(staging) {
			continue
		}
		if n.holds(p, id) {
			return p, nil
		}
	}
	return "", nil
}

// NodeUnpublishVolume unmounts and removes the target path; a target that
// is gone is unpublished already.
func (n *Node) NodeUnpublishVolume(ctx context.Context, req *csi.NodeUnpublishVolumeRequest) (*csi.NodeUnpublishVolumeResponse, error) {
	id, target := req.GetVolumeId(), req.GetTargetPath()
	if id == "" {
		return nil, invalid("Volume ID not provided")
	}
	if target == "" {
		return nil, invalid("Target path not provided")
	}
	defer n.lock(id)()
	st, err := os.Lstat(target)
	if errors.Is(err, fs.ErrNotExist) {
		return &csi.NodeUnpublishVolumeResponse{}, nil
	}
	if err != nil {
		return nil, status.Errorf(codes.Internal, "Could not check target %s: %v", target, err)
	}
	if st.Mode()&fs.ModeSymlink == 0 && n.mode != ModeSymlink {
		mounted, err := n.mounter.IsMountPoint(target)
		if err != nil {
			return nil, status.Errorf(codes.Internal, "Could not check target %s: %v", target, err)
		}
		if mounted {
			if err := n.mounter.Unmount(target); err != nil {
				return nil, status.Errorf(codes.Internal, "Could not unmount %s: %v", target, err)
			}
		}
	}
	if err := os.Remove(target); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, status.Errorf(codes.Internal, "Could not remove target %s: %v", target, err)
	}
	if n.mode == ModeLoop {
		// A block volume's loop device is the publish's own.
		if err := n.releaseLoop(id); err != nil {
			return nil, status.Errorf(codes.Internal, "Could not release the loop device of volume %s: %v", id, err)
		}
	}
	n.log.Debug("unpublished volume", "volume", id, "path", target)
	return &csi.NodeUnpublishVolumeResponse{}, nil
}

// volumeAt checks a request about the volume id at path (the volume
// stats and expansion calls): the volume, and what is at path.
func (n *Node) volumeAt(ctx context.Context, id, path string) (*ebsvc.Volume, os.FileInfo, error) {
	if id == "" {
		return nil, nil, invalid("Volume ID not provided")
	}
	if path == "" {
		return nil, nil, invalid("Volume path not provided")
	}
	v, err := n.vols.Volume(ctx, id)
	if err != nil {
		if ebsvc.IsNotFound(err) || apierror.IsKind(err, ebsvc.VolumeMalformed) {
			return nil, nil, status.Errorf(codes.NotFound, "Volume %s not found", id)
		}
		return nil, nil, status.Errorf(codes.Internal, "Could not get volume %s: %v", id, err)
	}
	st, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, status.Errorf(codes.NotFound, "Path %s does not exist", path)
		}
		return nil, nil, status.Errorf(codes.Internal, "Could not check %s: %v", path, err)
	}
	return v, st, nil
}

// NodeGetVolumeStats reports the space and inodes of a published volume.
func (n *Node) NodeGetVolumeStats(ctx context.Context, req *csi.NodeGetVolumeStatsRequest) (*csi.NodeGetVolumeStatsResponse, error) {
	id, path := req.GetVolumeId(), req.GetVolumePath()
	v, st, err := n.volumeAt(ctx, id, path)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() { // a block volume
		size := v.SizeBytes()
		if st.Mode()&fs.ModeDevice != 0 {
			if s, err := deviceSize(path); err == nil {
				size = s
			}
		}
		return &csi.NodeGetVolumeStatsResponse{Usage: []*csi.VolumeUsage{{Unit: csi.VolumeUsage_BYTES, Total: size}}}, nil
	}
	if n.mode.Emulated() {
		used, files, err := usage(path)
		if err != nil {
			return nil, status.Errorf(codes.Internal, "Could not measure %s: %v", path, err)
		}
		total := v.SizeBytes()
		return &csi.NodeGetVolumeStatsResponse{Usage: []*csi.VolumeUsage{
			{Unit: csi.VolumeUsage_BYTES, Total: total, Used: used, Available: max(total-used, 0)},
			{Unit: csi.VolumeUsage_INODES, Used: files},
		}}, nil
	}
	var sfs unix.Statfs_t
	if err := unix.Statfs(path, &sfs); err != nil {
		return nil, status.Errorf(codes.Internal, "Could not statfs %s: %v", path, err)
	}
	bs := int64(sfs.Bsize)
	return &csi.NodeGetVolumeStatsResponse{Usage: []*csi.VolumeUsage{
		{Unit: csi.VolumeUsage_BYTES, Total: int64(sfs.Blocks) * bs, Available: int64(sfs.Bavail) * bs, Used: int64(sfs.Blocks-sfs.Bfree) * bs},
		{Unit: csi.VolumeUsage_INODES, Total: int64(sfs.Files), Available: int64(sfs.Ffree), Used: int64(sfs.Files - sfs.Ffree)},
	}}, nil
}

// usage adds up the bytes and counts the files under a directory.
func usage(dir string) (bytes, files int64, err error) {
	err = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		files++
		if info, err := d.Info(); err == nil && info.Mode().IsRegular() {
			bytes += info.Size()
		}
		return nil
	})
	return bytes, files, err
}

// NodeExpandVolume grows what the node sees of an expanded volume: the
// loop device, then the filesystem (resize2fs, xfs_growfs) while it is
// mounted.
func (n *Node) NodeExpandVolume(ctx context.Context, req *csi.NodeExpandVolumeRequest) (*csi.NodeExpandVolumeResponse, error) {
	id, path := req.GetVolumeId(), req.GetVolumePath()
	v, st, err := n.volumeAt(ctx, id, path)
	if err != nil {
		return nil, err
	}
	if r := req.GetCapacityRange().GetRequiredBytes(); r > v.SizeBytes() {
		return nil, status.Errorf(codes.FailedPrecondition, "Volume %s is %d bytes, less than the %d asked for: expand it on the controller first", id, v.SizeBytes(), r)
	}
	defer n.lock(id)()
	if n.mode != ModeLoop {
		return &csi.NodeExpandVolumeResponse{CapacityBytes: v.SizeBytes()}, nil
	}
	devs, err := loopsOf(n.vols.ImagePath(id))
	if err != nil || len(devs) == 0 {
		return nil, status.Errorf(codes.FailedPrecondition, "Volume %s is not staged or published on this node", id)
	}
	for _, d := range devs {
		if err := refreshLoop(d); err != nil {
			return nil, status.Errorf(codes.Internal, "Could not grow loop device %s: %v", d, err)
		}
	}
	block := req.GetVolumeCapability().GetBlock() != nil || !st.IsDir()
	if !block {
		if err := n.growFS(devs[0], path); err != nil {
			return nil, status.Errorf(codes.Internal, "Could not resize the filesystem of volume %s: %v", id, err)
		}
	}
	size, err := deviceSize(devs[0])
	if err != nil {
		return nil, status.Errorf(codes.Internal, "Could not read the size of %s: %v", devs[0], err)
	}
	return &csi.NodeExpandVolumeResponse{CapacityBytes: size}, nil
}

// growFS grows the filesystem on a device mounted at path to the device's
// size.
func (n *Node) growFS(dev, path string) error {
	format, err := n.mounter.GetDiskFormat(dev)
	if err != nil {
		return err
	}
	if !isExt(format) {
		_, err := n.resizer.Resize(dev, path)
		return err
	}
	if need, err := extNeedsGrowth(dev); err != nil || !need {
		return err
	}
	denied, err := growExtOnline(dev)
	if !denied {
		return err
	}
	n.log.Info("online filesystem resize is not permitted here (no CAP_SYS_RESOURCE): remounting to grow offline", "device", dev)
	return n.regrowOffline(dev)
}
