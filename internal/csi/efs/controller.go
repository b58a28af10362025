package efs

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/berthproject/berth/internal/apierror"
	"github.com/berthproject/berth/internal/efs"
)

// ControllerConfig wires a Controller.
type ControllerConfig struct {
	// EFS is the service access points are made in. Required.
	EFS *efs.Service
	// DeleteRootDir deletes an access point's root directory, and the
	// data in it, with the volume (the real driver's
	// --delete-access-point-root-dir; off by default, as there).
	DeleteRootDir bool
	// Tags are added to every access point (the real driver's --tags).
	Tags map[string]string
	// Cluster names the cluster the controller serves, for its log.
	Cluster string
	Logger  *slog.Logger
}

// Controller is the CSI controller service of efs.csi.aws.com.
type Controller struct {
	csi.UnimplementedControllerServer
	cfg ControllerConfig
	log *slog.Logger
	// mu serializes CreateVolume and DeleteVolume: the GID allocation
	// reads the access points of a file system and must still be right
	// when the new one is made.
	mu sync.Mutex
}

var _ csi.ControllerServer = (*Controller)(nil)

// NewController checks cfg and returns a Controller.
func NewController(cfg ControllerConfig) (*Controller, error) {
	if cfg.EFS == nil {
		return nil, errors.New("csi/efs: ControllerConfig.EFS is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Controller{cfg: cfg, log: cfg.Logger}, nil
}

// Serve serves the Identity and Controller services on lis until ctx is
// done.
func (c *Controller) Serve(ctx context.Context, lis net.Listener) error {
	return serve(ctx, lis, func(s *grpc.Server) { csi.RegisterControllerServer(s, c) })
}

// Identity returns the identity server the controller serves.
func (c *Controller) Identity() csi.IdentityServer { return identity() }

// supportedAccessModes: a shared file system serves every mode.
func validCapabilities(caps []*csi.VolumeCapability) error {
	for _, c := range caps {
		if c.GetAccessMode() == nil || c.GetAccessMode().GetMode() == csi.VolumeCapability_AccessMode_UNKNOWN {
			return errors.New("invalid access mode: UNKNOWN")
		}
		m := c.GetMount()
		if m == nil {
			return errors.New("only filesystem volumes are supported")
		}
		if m.GetFsType() != "" && m.GetFsType() != "efs" {
			return errors.New("invalid fstype: " + m.GetFsType())
		}
		for _, f := range m.GetMountFlags() {
			if strings.EqualFold(f, "crossaccount") {
				return errors.New("mount option 'crossaccount' cannot be set manually")
			}
		}
	}
	return nil
}

// CreateVolume makes an access point for a volume.
func (c *Controller) CreateVolume(ctx context.Context, req *csi.CreateVolumeRequest) (*csi.CreateVolumeResponse, error) {
	name := req.GetName()
	if name == "" {
		return nil, invalid("Volume name not provided")
	}
	caps := req.GetVolumeCapabilities()
	if len(caps) == 0 {
		return nil, invalid("Volume capabilities not provided")
	}
	if err := validCapabilities(caps); err != nil {
		return nil, invalid("Volume capabilities not supported: %s", err)
	}
	if req.GetVolumeContentSource() != nil {
		return nil, invalid("EFS volumes cannot be created from a snapshot or another volume")
	}
	size := req.GetCapacityRange().GetRequiredBytes()
	if limit := req.GetCapacityRange().GetLimitBytes(); limit > 0 && size > limit {
		return nil, status.Errorf(codes.OutOfRange, "Required bytes %d exceed the limit of %d bytes", size, limit)
	}
	if size == 0 {
		size = req.GetCapacityRange().GetLimitBytes()
	}
	p, err := parseParams(req.GetParameters())
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()

	fs, err := c.cfg.EFS.FileSystem(ctx, p.fileSystemID)
	if err != nil {
		if apierror.IsKind(err, efs.FileSystemNotFound) {
			return nil, invalid("File System does not exist: %s", message(err))
		}
		return nil, status.Errorf(codes.Internal, "Failed to describe file system %s: %v", p.fileSystemID, err)
	}
	if p.az != "" && c.cfg.EFS.Network() != nil && !hasZone(c.cfg.EFS, p.az) {
		return nil, invalid("Invalid az %q: not a zone of %s", p.az, c.cfg.EFS.Region())
	}
	token := p.clientToken(name)
	if existing, err := c.cfg.EFS.AccessPointByClientToken(ctx, token); err != nil {
		return nil, status.Errorf(codes.Internal, "Failed to find access point: %v", err)
	} else if existing != nil {
		if err := c.matches(existing, p, size); err != nil {
			return nil, err
		}
		return c.response(fs, existing, p, size), nil
	}

	uid, gid := p.uid, p.gid
	if uid < 0 || gid < 0 {
		used, err := c.usedGIDs(ctx, fs.ID)
		if err != nil {
			return nil, status.Errorf(codes.Internal, "Failed to fetch Access Points: %v", err)
		}
		g, err := nextGID(used, p.gidMin, p.gidMax)
		if err != nil {
			return nil, err
		}
		if uid < 0 {
			uid = g
		}
		if gid < 0 {
			gid = g
		}
	}
	root, err := p.rootDir(name, uuid.NewString())
	if err != nil {
		return nil, err
	}
	tags := []efs.Tag{{Key: CapacityTagKey, Value: strconv.FormatInt(size, 10)}}
	if p.tagging {
		tags = append(tags, efs.Tag{Key: ClusterTagKey, Value: "true"})
		for k, v := range c.cfg.Tags {
			tags = append(tags, efs.Tag{Key: k, Value: v})
		}
	}
	ap, err := c.cfg.EFS.CreateAccessPoint(ctx, efs.CreateAccessPointInput{
		ClientToken:  token,
		FileSystemID: fs.ID,
		PosixUser:    &efs.PosixUser{UID: uid, GID: gid},
		RootDirectory: &efs.RootDirectory{Path: root, CreationInfo: &efs.CreationInfo{
			OwnerUID: uid, OwnerGID: gid, Permissions: p.directoryPerms,
		}},
		Tags: tags,
	})
	if err != nil {
		switch {
		case apierror.IsKind(err, efs.AccessPointLimitExceeded):
			return nil, status.Errorf(codes.ResourceExhausted, "Failed to create Access point in File System %v: %s", fs.ID, message(err))
		case apierror.IsKind(err, efs.BadRequest), apierror.IsKind(err, efs.IncorrectFileSystemLifeCycleState):
			return nil, status.Errorf(codes.InvalidArgument, "Failed to create Access point in File System %v: %s", fs.ID, message(err))
		}
		return nil, status.Errorf(codes.Internal, "Failed to create Access point in File System %v: %v", fs.ID, err)
	}
	c.log.Info("volume provisioned", "volume", name, "fileSystemId", fs.ID, "accessPointId", ap.ID, "path", root, "uid", uid, "gid", gid)
	return c.response(fs, ap, p, size), nil
}

// usedGIDs returns the GIDs of the access points of a file system.
func (c *Controller) usedGIDs(ctx context.Context, fsID string) (map[int64]bool, error) {
	used := map[int64]bool{}
	token := ""
	for {
		page, next, err := c.cfg.EFS.DescribeAccessPoints(ctx, efs.DescribeAccessPointsInput{FileSystemID: fsID, NextToken: token})
		if err != nil {
			return nil, err
		}
		for _, ap := range page {
			if ap.PosixUser != nil {
				used[ap.PosixUser.GID] = true
			}
		}
		if next == "" {
			return used, nil
		}
		token = next
	}
}

func hasZone(s *efs.Service, zone string) bool {
	for _, sn := range s.Network().Subnets {
		if sn.AZ == zone {
			return true
		}
	}
	return false
}

// matches checks that an access point found by client token can serve
// a repeated CreateVolume, as the real driver checks (base path, GID and
// UID), and that the size is the one first requested.
func (c *Controller) matches(ap *efs.AccessPoint, p *params, size int64) error {
	if ap.FileSystemID != p.fileSystemID {
		return status.Errorf(codes.AlreadyExists, "Invalid existing access point: access point %s belongs to file system %s", ap.ID, ap.FileSystemID)
	}
	base := strings.TrimPrefix(p.basePath, "/")
	if !strings.HasPrefix(strings.TrimPrefix(ap.RootDirectory.Path, "/"), base) {
		return status.Error(codes.AlreadyExists, "Invalid existing access point: Access point found but has different base path than what's specified in storage class")
	}
	if ap.PosixUser == nil {
		return status.Error(codes.AlreadyExists, "Invalid existing access point: Access point found but PosixUser is nil")
	}
	if p.gidSet && ap.PosixUser.GID != p.gid || !p.gidSet && (ap.PosixUser.GID < p.gidMin || ap.PosixUser.GID > p.gidMax) {
		return status.Error(codes.AlreadyExists, "Invalid existing access point: Access point found but its GID is incorrect or outside the specified range")
	}
	if p.uidSet && ap.PosixUser.UID != p.uid || !p.uidSet && (ap.PosixUser.UID < p.gidMin || ap.PosixUser.UID > p.gidMax) {
		return status.Error(codes.AlreadyExists, "Invalid existing access point: Access point found but its UID is incorrect or outside the specified range")
	}
	for _, t := range ap.Tags {
		if t.Key == CapacityTagKey && !p.reuse && t.Value != strconv.FormatInt(size, 10) {
			return status.Errorf(codes.AlreadyExists, "Volume already exists with a different capacity (%s bytes, not %d)", t.Value, size)
		}
	}
	return nil
}

func (c *Controller) response(fs *efs.FileSystem, ap *efs.AccessPoint, p *params, size int64) *csi.CreateVolumeResponse {
	vol := &csi.Volume{
		VolumeId:      VolumeHandle{FileSystemID: fs.ID, AccessPointID: ap.ID}.String(),
		CapacityBytes: size,
		VolumeContext: map[string]string{},
	}
	if p.zoneAffinity && fs.AvailabilityZoneName != "" {
		vol.AccessibleTopology = []*csi.Topology{{Segments: map[string]string{TopologyZoneKey: fs.AvailabilityZoneName}}}
	}
	return &csi.CreateVolumeResponse{Volume: vol}
}

// DeleteVolume deletes a volume's access point, and its root directory
// when the controller is configured to. Volume ids it cannot parse, and
// volumes that are gone, succeed.
func (c *Controller) DeleteVolume(ctx context.Context, req *csi.DeleteVolumeRequest) (*csi.DeleteVolumeResponse, error) {
	if req.GetVolumeId() == "" {
		return nil, invalid("Volume ID not provided")
	}
	h, err := ParseVolumeHandle(req.GetVolumeId())
	if err != nil || h.AccessPointID == "" {
		return &csi.DeleteVolumeResponse{}, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ap, err := c.cfg.EFS.AccessPoint(ctx, h.AccessPointID)
	if apierror.IsKind(err, efs.AccessPointNotFound) {
		return &csi.DeleteVolumeResponse{}, nil
	}
	if err != nil {
		return nil, status.Errorf(codes.Internal, "Could not describe Access Point %v: %v", h.AccessPointID, err)
	}
	if c.cfg.DeleteRootDir {
		if err := c.removeRoot(ap); err != nil {
			return nil, status.Errorf(codes.Internal, "Could not delete access point root directory %q: %v", ap.RootDirectory.Path, err)
		}
	}
	if err := c.cfg.EFS.DeleteAccessPoint(ctx, ap.ID); err != nil && !apierror.IsKind(err, efs.AccessPointNotFound) {
		return nil, status.Errorf(codes.Internal, "Failed to Delete volume %v: %v", req.GetVolumeId(), err)
	}
	c.log.Info("volume deleted", "volume", req.GetVolumeId(), "rootDirectoryDeleted", c.cfg.DeleteRootDir)
	return &csi.DeleteVolumeResponse{}, nil
}

// removeRoot deletes an access point's root directory inside its file
// system; never the file system's root (the real driver's issue #1695).
func (c *Controller) removeRoot(ap *efs.AccessPoint) error {
	rel := strings.Trim(ap.RootDirectory.Path, "/")
	if rel == "" || rel == "." {
		c.log.Info("not deleting the root directory of an access point at the file system's root", "accessPointId", ap.ID)
		return nil
	}
	root, err := os.OpenRoot(c.cfg.EFS.Dir(ap.FileSystemID))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer root.Close()
	return root.RemoveAll(rel)
}

// ValidateVolumeCapabilities confirms the capabilities a shared file
// system serves, for volumes that exist.
func (c *Controller) ValidateVolumeCapabilities(ctx context.Context, req *csi.ValidateVolumeCapabilitiesRequest) (*csi.ValidateVolumeCapabilitiesResponse, error) {
	if req.GetVolumeId() == "" {
		return nil, invalid("Volume ID not provided")
	}
	if len(req.GetVolumeCapabilities()) == 0 {
		return nil, invalid("Volume capabilities not provided")
	}
	h, err := ParseVolumeHandle(req.GetVolumeId())
	if err != nil {
		return nil, status.Errorf(codes.NotFound, "Volume not found, err: %s", message(err))
	}
	if err := c.exists(ctx, h); err != nil {
		return nil, err
	}
	if err := validCapabilities(req.GetVolumeCapabilities()); err != nil {
		return &csi.ValidateVolumeCapabilitiesResponse{Message: err.Error()}, nil
	}
	return &csi.ValidateVolumeCapabilitiesResponse{Confirmed: &csi.ValidateVolumeCapabilitiesResponse_Confirmed{
		VolumeContext:      req.GetVolumeContext(),
		VolumeCapabilities: req.GetVolumeCapabilities(),
		Parameters:         req.GetParameters(),
	}}, nil
}

// exists checks that a volume's file system and access point exist.
func (c *Controller) exists(ctx context.Context, h VolumeHandle) error {
	if _, err := c.cfg.EFS.FileSystem(ctx, h.FileSystemID); err != nil {
		if apierror.IsKind(err, efs.FileSystemNotFound) {
			return status.Errorf(codes.NotFound, "Volume not found: %s", message(err))
		}
		return status.Errorf(codes.Internal, "Failed to describe file system: %v", err)
	}
	if h.AccessPointID != "" {
		ap, err := c.cfg.EFS.AccessPoint(ctx, h.AccessPointID)
		if apierror.IsKind(err, efs.AccessPointNotFound) || err == nil && ap.FileSystemID != h.FileSystemID {
			return status.Errorf(codes.NotFound, "Volume not found: access point %s of file system %s does not exist", h.AccessPointID, h.FileSystemID)
		}
		if err != nil {
			return status.Errorf(codes.Internal, "Failed to describe access point: %v", err)
		}
	}
	return nil
}

// ControllerGetCapabilities reports CREATE_DELETE_VOLUME only, as the
// real driver.
func (c *Controller) ControllerGetCapabilities(context.Context, *csi.ControllerGetCapabilitiesRequest) (*csi.ControllerGetCapabilitiesResponse, error) {
	return &csi.ControllerGetCapabilitiesResponse{Capabilities: []*csi.ControllerServiceCapability{{
		Type: &csi.ControllerServiceCapability_Rpc{Rpc: &csi.ControllerServiceCapability_RPC{Type: csi.ControllerServiceCapability_RPC_CREATE_DELETE_VOLUME}},
	}}}, nil
}
