package fsx

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/berthproject/berth/internal/apierror"
	"github.com/berthproject/berth/internal/fsx"
)

// DriverName is the CSI driver's name.
const DriverName = "fsx.csi.aws.com"

// Version is the vendor version the driver reports.
const Version = "berth"

// StorageClass parameter keys, as the real driver names them.
const (
	ParamSubnetID                      = "subnetId"
	ParamSecurityGroupIDs              = "securityGroupIds"
	ParamDeploymentType                = "deploymentType"
	ParamPerUnitStorageThroughput      = "perUnitStorageThroughput"
	ParamStorageType                   = "storageType"
	ParamDriveCacheType                = "driveCacheType"
	ParamKmsKeyID                      = "kmsKeyId"
	ParamAutomaticBackupRetentionDays  = "automaticBackupRetentionDays"
	ParamDailyAutomaticBackupStartTime = "dailyAutomaticBackupStartTime"
	ParamCopyTagsToBackups             = "copyTagsToBackups"
	ParamDataCompressionType           = "dataCompressionType"
	ParamWeeklyMaintenanceStartTime    = "weeklyMaintenanceStartTime"
	ParamFileSystemTypeVersion         = "fileSystemTypeVersion"
	ParamExtraTags                     = "extraTags"
	ParamEfaEnabled                    = "efaEnabled"
	ParamMetadataConfigurationMode     = "metadataConfigurationMode"
	ParamMetadataIops                  = "metadataIops"
	ParamAutoImportPolicy              = "autoImportPolicy"
	ParamS3ImportPath                  = "s3ImportPath"
	ParamS3ExportPath                  = "s3ExportPath"

	// ContextDNSName and ContextMountName are the volume context keys.
	ContextDNSName   = "dnsname"
	ContextMountName = "mountname"

	// VolumeNameTagKey tags a file system with the volume it serves.
	VolumeNameTagKey = "CSIVolumeName"

	// defaultCapacityGiB is the size of a volume asked for without one.
	defaultCapacityGiB = 1200
)

var knownParams = []string{
	ParamSubnetID, ParamSecurityGroupIDs, ParamDeploymentType, ParamPerUnitStorageThroughput, ParamStorageType,
	ParamDriveCacheType, ParamKmsKeyID, ParamAutomaticBackupRetentionDays, ParamDailyAutomaticBackupStartTime,
	ParamCopyTagsToBackups, ParamDataCompressionType, ParamWeeklyMaintenanceStartTime, ParamFileSystemTypeVersion,
	ParamExtraTags, ParamEfaEnabled, ParamMetadataConfigurationMode, ParamMetadataIops,
	ParamAutoImportPolicy, ParamS3ImportPath, ParamS3ExportPath,
}

// ControllerConfig wires a Controller.
type ControllerConfig struct {
	// FSx is the service file systems are made in. Required.
	FSx *fsx.Service
	// ExtraTags are added to every file system (the real driver's
	// --extra-tags), as key=value pairs.
	ExtraTags map[string]string
	Logger    *slog.Logger
}

// Controller is the CSI controller service of fsx.csi.aws.com.
type Controller struct {
	csi.UnimplementedControllerServer
	cfg ControllerConfig
	log *slog.Logger
	// mu serializes CreateVolume, so that the lookup by tag and the create
	// do not race for one name.
	mu sync.Mutex
}

var _ csi.ControllerServer = (*Controller)(nil)

// NewController checks cfg and returns a Controller.
func NewController(cfg ControllerConfig) (*Controller, error) {
	if cfg.FSx == nil {
		return nil, errors.New("csi/fsx: ControllerConfig.FSx is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Controller{cfg: cfg, log: cfg.Logger}, nil
}

// Identity is the driver's Identity service.
func (c *Controller) Identity() csi.IdentityServer { return identity() }

// Serve serves the Identity and Controller services on lis until ctx is
// done.
func (c *Controller) Serve(ctx context.Context, lis net.Listener) error {
	return serve(ctx, lis, func(s *grpc.Server) { csi.RegisterControllerServer(s, c) })
}

func invalid(format string, args ...any) error {
	return status.Errorf(codes.InvalidArgument, format, args...)
}

func validCapabilities(caps []*csi.VolumeCapability) error {
	for _, c := range caps {
		if c.GetAccessMode() == nil || c.GetAccessMode().GetMode() == csi.VolumeCapability_AccessMode_UNKNOWN {
			return errors.New("invalid access mode")
		}
		if c.GetMount() == nil {
			return errors.New("only filesystem volumes are supported")
		}
		if t := c.GetMount().GetFsType(); t != "" && t != "lustre" {
			return errors.New("invalid fstype: " + t)
		}
	}
	return nil
}

// parsed are a CreateVolume's parameters as an FSx request.
type parsed struct {
	in         fsx.CreateFileSystemInput
	deployment string
	storage    string
	throughput int
}

func intParam(p map[string]string, key string) (*int, error) {
	v, ok := p[key]
	if !ok {
		return nil, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return nil, invalid("%s must be a number", key)
	}
	return &n, nil
}

func boolParam(p map[string]string, key string) (*bool, error) {
	v, ok := p[key]
	if !ok {
		return nil, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return nil, invalid("%s must be a bool", key)
	}
	return &b, nil
}

// parseParams reads the StorageClass parameters into a CreateFileSystem
// request and refuses keys the real driver does not know.
func parseParams(p map[string]string) (*parsed, error) {
	var unknown []string
	for k := range p {
		if !slices.Contains(knownParams, k) && !strings.HasPrefix(k, "csi.storage.k8s.io/") {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, invalid("Invalid parameter key %s for CreateVolume", strings.Join(unknown, ", "))
	}
	if p[ParamAutoImportPolicy] != "" || p[ParamS3ImportPath] != "" || p[ParamS3ExportPath] != "" {
		return nil, invalid("%s, %s and %s link an S3 bucket; berth has no S3", ParamAutoImportPolicy, ParamS3ImportPath, ParamS3ExportPath)
	}
	if p[ParamSubnetID] == "" {
		return nil, invalid("SubnetId is required")
	}
	r := &parsed{deployment: p[ParamDeploymentType], storage: p[ParamStorageType]}
	l := &fsx.CreateLustreInput{
		DeploymentType:                p[ParamDeploymentType],
		DriveCacheType:                p[ParamDriveCacheType],
		DailyAutomaticBackupStartTime: p[ParamDailyAutomaticBackupStartTime],
		DataCompressionType:           p[ParamDataCompressionType],
		WeeklyMaintenanceStartTime:    p[ParamWeeklyMaintenanceStartTime],
	}
	var err error
	if l.PerUnitStorageThroughput, err = intParam(p, ParamPerUnitStorageThroughput); err != nil {
		return nil, err
	}
	if l.PerUnitStorageThroughput != nil {
		r.throughput = *l.PerUnitStorageThroughput
	}
	if l.AutomaticBackupRetentionDays, err = intParam(p, ParamAutomaticBackupRetentionDays); err != nil {
		return nil, err
	}
	if l.CopyTagsToBackups, err = boolParam(p, ParamCopyTagsToBackups); err != nil {
		return nil, err
	}
	if l.EfaEnabled, err = boolParam(p, ParamEfaEnabled); err != nil {
		return nil, err
	}
	if mode := p[ParamMetadataConfigurationMode]; mode != "" {
		iops, err := intParam(p, ParamMetadataIops)
		if err != nil {
			return nil, err
		}
		l.MetadataConfiguration = &fsx.MetadataConfiguration{Mode: mode}
		if iops != nil {
			l.MetadataConfiguration.Iops = *iops
		}
	} else if _, ok := p[ParamMetadataIops]; ok {
		return nil, invalid("%s requires %s", ParamMetadataIops, ParamMetadataConfigurationMode)
	}
	var tags []fsx.Tag
	if v := p[ParamExtraTags]; v != "" {
		for _, kv := range strings.Split(v, ",") {
			parts := strings.Split(kv, "=")
			if len(parts) != 2 {
				return nil, invalid("invalid extraTag %s was provided", kv)
			}
			tags = append(tags, fsx.Tag{Key: parts[0], Value: parts[1]})
		}
	}
	var groups []string
	for _, g := range strings.Split(p[ParamSecurityGroupIDs], ",") {
		if g = strings.TrimSpace(g); g != "" {
			groups = append(groups, g)
		}
	}
	r.in = fsx.CreateFileSystemInput{
		FileSystemType:        fsx.FileSystemType,
		StorageType:           p[ParamStorageType],
		SubnetIDs:             []string{p[ParamSubnetID]},
		SecurityGroupIDs:      groups,
		KmsKeyID:              p[ParamKmsKeyID],
		FileSystemTypeVersion: p[ParamFileSystemTypeVersion],
		Tags:                  tags,
		Lustre:                l,
	}
	return r, nil
}

var tokenRE = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,63}$`)

// clientToken is the ClientRequestToken of a volume: its name, or a hash
// of it when FSx would not take the name.
func clientToken(name string) string {
	if tokenRE.MatchString(name) {
		return name
	}
	h := sha256.Sum256([]byte(name))
	return hex.EncodeToString(h[:])[:63]
}

// CreateVolume makes a Lustre file system for a volume, or returns the
// one a previous call made.
func (c *Controller) CreateVolume(ctx context.Context, req *csi.CreateVolumeRequest) (*csi.CreateVolumeResponse, error) {
	name := req.GetName()
	if name == "" {
		return nil, invalid("Volume name not provided")
	}
	if len(req.GetVolumeCapabilities()) == 0 {
		return nil, invalid("Volume capabilities not provided")
	}
	if err := validCapabilities(req.GetVolumeCapabilities()); err != nil {
		return nil, invalid("Volume capabilities not supported: %s", err)
	}
	if req.GetVolumeContentSource() != nil {
		return nil, invalid("FSx for Lustre volumes cannot be created from a snapshot or another volume")
	}
	p, err := parseParams(req.GetParameters())
	if err != nil {
		return nil, err
	}
	capacity := defaultCapacityGiB
	if cr := req.GetCapacityRange(); cr != nil && (cr.GetRequiredBytes() > 0 || cr.GetLimitBytes() > 0) {
		capacity = fsx.RoundCapacity(cr.GetRequiredBytes(), p.deployment, p.storage, p.throughput)
		if cr.GetLimitBytes() > 0 && int64(capacity)*fsx.GiB > cr.GetLimitBytes() {
			return nil, status.Errorf(codes.OutOfRange, "The smallest valid Lustre capacity for %d bytes is %d GiB, over the limit of %d bytes", cr.GetRequiredBytes(), capacity, cr.GetLimitBytes())
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	existing, err := c.cfg.FSx.FindByTag(ctx, VolumeNameTagKey, name)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "Failed to check existing filesystem: %v", err)
	}
	if len(existing) > 0 {
		fs := existing[0]
		if fs.StorageCapacity != capacity {
			return nil, status.Error(codes.AlreadyExists, "There is already a disk with same ID and different size")
		}
		return response(fs), nil
	}
	in := p.in
	in.ClientRequestToken = clientToken(name)
	in.StorageCapacity = capacity
	in.Tags = append([]fsx.Tag{{Key: VolumeNameTagKey, Value: name}}, in.Tags...)
	for k, v := range c.cfg.ExtraTags {
		in.Tags = append(in.Tags, fsx.Tag{Key: k, Value: v})
	}
	fs, err := c.cfg.FSx.CreateFileSystem(ctx, in)
	if err != nil {
		e, ok := apierror.As(err)
		switch {
		case ok && e.Kind == fsx.ServiceLimitExceeded:
			return nil, status.Errorf(codes.ResourceExhausted, "Could not create volume %q: %s", name, e.Message)
		case ok && e.Kind == fsx.IncompatibleParameterError:
			return nil, status.Errorf(codes.AlreadyExists, "Could not create volume %q: %s", name, e.Message)
		case ok && e.Kind != fsx.InternalServerError:
			return nil, status.Errorf(codes.InvalidArgument, "Could not create volume %q: %s: %s", name, e.Kind, e.Message)
		}
		return nil, status.Errorf(codes.Internal, "Could not create volume %q: %v", name, err)
	}
	c.log.Info("volume provisioned", "volume", name, "fileSystemId", fs.ID, "capacityGiB", fs.StorageCapacity, "deploymentType", fs.Lustre.DeploymentType)
	return response(fs), nil
}

func response(fs *fsx.FileSystem) *csi.CreateVolumeResponse {
	return &csi.CreateVolumeResponse{Volume: &csi.Volume{
		VolumeId:      fs.ID,
		CapacityBytes: int64(fs.StorageCapacity) * fsx.GiB,
		VolumeContext: map[string]string{ContextDNSName: fs.DNSName, ContextMountName: fs.Lustre.MountName},
	}}
}

// DeleteVolume deletes a volume's file system; one that is gone
// succeeds.
func (c *Controller) DeleteVolume(ctx context.Context, req *csi.DeleteVolumeRequest) (*csi.DeleteVolumeResponse, error) {
	if req.GetVolumeId() == "" {
		return nil, invalid("Volume ID not provided")
	}
	if _, err := c.cfg.FSx.DeleteFileSystem(ctx, req.GetVolumeId()); err != nil {
		if apierror.IsKind(err, fsx.FileSystemNotFound) {
			return &csi.DeleteVolumeResponse{}, nil
		}
		return nil, status.Errorf(codes.Internal, "Could not delete volume ID %q: %v", req.GetVolumeId(), err)
	}
	c.log.Info("volume deleted", "volume", req.GetVolumeId())
	return &csi.DeleteVolumeResponse{}, nil
}

// ValidateVolumeCapabilities confirms the capabilities of an existing
// volume.
func (c *Controller) ValidateVolumeCapabilities(ctx context.Context, req *csi.ValidateVolumeCapabilitiesRequest) (*csi.ValidateVolumeCapabilitiesResponse, error) {
	if req.GetVolumeId() == "" {
		return nil, invalid("Volume ID not provided")
	}
	if len(req.GetVolumeCapabilities()) == 0 {
		return nil, invalid("Volume capabilities not provided")
	}
	if _, err := c.cfg.FSx.FileSystem(ctx, req.GetVolumeId()); err != nil {
		if apierror.IsKind(err, fsx.FileSystemNotFound) {
			return nil, status.Error(codes.NotFound, "Volume not found")
		}
		return nil, status.Errorf(codes.Internal, "Could not get volume with ID %q: %v", req.GetVolumeId(), err)
	}
	if err := validCapabilities(req.GetVolumeCapabilities()); err != nil {
		return &csi.ValidateVolumeCapabilitiesResponse{Message: err.Error()}, nil
	}
	return &csi.ValidateVolumeCapabilitiesResponse{Confirmed: &csi.ValidateVolumeCapabilitiesResponse_Confirmed{
		VolumeContext: req.GetVolumeContext(), VolumeCapabilities: req.GetVolumeCapabilities(), Parameters: req.GetParameters(),
	}}, nil
}

// ControllerExpandVolume grows a volume's file system to the smallest
// valid capacity that holds the request, as the real driver does.
func (c *Controller) ControllerExpandVolume(ctx context.Context, req *csi.ControllerExpandVolumeRequest) (*csi.ControllerExpandVolumeResponse, error) {
	if req.GetVolumeId() == "" {
		return nil, invalid("Volume ID not provided")
	}
	cr := req.GetCapacityRange()
	if cr == nil {
		return nil, invalid("Capacity range not provided")
	}
	fs, err := c.cfg.FSx.FileSystem(ctx, req.GetVolumeId())
	if err != nil {
		if apierror.IsKind(err, fsx.FileSystemNotFound) {
			return nil, status.Errorf(codes.NotFound, "Filesystem not found: %s", req.GetVolumeId())
		}
		return nil, status.Errorf(codes.Internal, "DescribeFileSystems failed: %v", err)
	}
	l := fs.Lustre
	want := fsx.RoundCapacity(cr.GetRequiredBytes(), l.DeploymentType, fs.StorageType, l.PerUnitStorageThroughput)
	if cr.GetLimitBytes() > 0 && int64(want)*fsx.GiB > cr.GetLimitBytes() {
		return nil, status.Errorf(codes.OutOfRange, "Requested storage capacity of %d bytes exceeds capacity limit of %d bytes.", int64(want)*fsx.GiB, cr.GetLimitBytes())
	}
	if want <= fs.StorageCapacity {
		return &csi.ControllerExpandVolumeResponse{CapacityBytes: int64(fs.StorageCapacity) * fsx.GiB}, nil
	}
	fs, err = c.cfg.FSx.UpdateFileSystem(ctx, fs.ID, fsx.UpdateInput{StorageCapacity: want})
	if err != nil {
		if e, ok := apierror.As(err); ok && e.Kind != fsx.InternalServerError {
			code := codes.InvalidArgument
			if e.Kind == fsx.ServiceLimitExceeded {
				code = codes.ResourceExhausted
			}
			return nil, status.Errorf(code, "resize failed: %s", e.Message)
		}
		return nil, status.Errorf(codes.Internal, "resize failed: %v", err)
	}
	c.log.Info("volume expanded", "volume", fs.ID, "capacityGiB", fs.StorageCapacity)
	return &csi.ControllerExpandVolumeResponse{CapacityBytes: int64(fs.StorageCapacity) * fsx.GiB}, nil
}

// ControllerGetCapabilities reports CREATE_DELETE_VOLUME and
// EXPAND_VOLUME, as the real driver.
func (c *Controller) ControllerGetCapabilities(context.Context, *csi.ControllerGetCapabilitiesRequest) (*csi.ControllerGetCapabilitiesResponse, error) {
	rpc := func(t csi.ControllerServiceCapability_RPC_Type) *csi.ControllerServiceCapability {
		return &csi.ControllerServiceCapability{Type: &csi.ControllerServiceCapability_Rpc{Rpc: &csi.ControllerServiceCapability_RPC{Type: t}}}
	}
	return &csi.ControllerGetCapabilitiesResponse{Capabilities: []*csi.ControllerServiceCapability{
		rpc(csi.ControllerServiceCapability_RPC_CREATE_DELETE_VOLUME),
		rpc(csi.ControllerServiceCapability_RPC_EXPAND_VOLUME),
	}}, nil
}
