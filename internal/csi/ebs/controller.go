package ebs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/berthproject/berth/internal/apierror"
	ebsvc "github.com/berthproject/berth/internal/ebs"
)

// DefaultVolumeSize is the size of a volume whose request names none
// (the real driver's 100 GiB).
const DefaultVolumeSize = 100 << 30

// ControllerConfig wires a Controller.
type ControllerConfig struct {
	// Volumes is berth's EBS service. Required.
	Volumes *ebsvc.Service
	// ClusterID, when set, adds the cluster tags the real driver's
	// --k8s-tag-cluster-id adds (kubernetes.io/cluster/ID, Name,
	// KubernetesCluster, ebs.csi.aws.com/cluster-name).
	ClusterID string
	// ExtraTags go on every volume and snapshot (--extra-tags).
	ExtraTags map[string]string
	// DefaultZone is where a volume goes when the request has no topology
	// requirement. Empty: a random zone of the region, as the real driver
	// picks.
	DefaultZone string
	Logger      *slog.Logger
}

// Controller is the CSI Controller service over berth's EBS service.
type Controller struct {
	csi.UnimplementedControllerServer
	cfg ControllerConfig
	svc *ebsvc.Service
	log *slog.Logger

	// inflight holds the names and ids operations are working on; a second
	// request for one is Aborted, as the real driver does.
	inflightMu sync.Mutex
	inflight   map[string]bool
	// nodeLocks serialize the attachments to one node, so two publishes
	// never pick the same device name.
	nodeLocksMu sync.Mutex
	nodeLocks   map[string]*sync.Mutex
}

var _ csi.ControllerServer = (*Controller)(nil)

// NewController checks cfg and returns a Controller.
func NewController(cfg ControllerConfig) (*Controller, error) {
	if cfg.Volumes == nil {
		return nil, errors.New("csi/ebs: Volumes is required")
	}
	if cfg.DefaultZone != "" && !slices.Contains(cfg.Volumes.Zones(), cfg.DefaultZone) {
		return nil, errors.New("csi/ebs: DefaultZone " + cfg.DefaultZone + " is not a zone of the region")
	}
	for k := range cfg.ExtraTags {
		if err := checkTagKey(k); err != nil {
			return nil, err
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Controller{cfg: cfg, svc: cfg.Volumes, log: cfg.Logger, inflight: map[string]bool{}, nodeLocks: map[string]*sync.Mutex{}}, nil
}

// begin marks key in flight; false when it already is.
func (c *Controller) begin(key string) bool {
	c.inflightMu.Lock()
	defer c.inflightMu.Unlock()
	if c.inflight[key] {
		return false
	}
	c.inflight[key] = true
	return true
}

func (c *Controller) end(key string) {
	c.inflightMu.Lock()
	delete(c.inflight, key)
	c.inflightMu.Unlock()
}

func (c *Controller) nodeLock(nodeID string) *sync.Mutex {
	c.nodeLocksMu.Lock()
	defer c.nodeLocksMu.Unlock()
	m, ok := c.nodeLocks[nodeID]
	if !ok {
		m = &sync.Mutex{}
		c.nodeLocks[nodeID] = m
	}
	return m
}

// validCapability reports whether the driver supports a capability: the
// single-node modes, and MULTI_NODE_MULTI_WRITER for block volumes
// (io2 Multi-Attach), with ext2-4 or xfs for mounts.
func validCapability(c *csi.VolumeCapability) bool {
	if c == nil || (c.GetBlock() == nil && c.GetMount() == nil) {
		return false
	}
	if m := c.GetMount(); m != nil && m.GetFsType() != "" {
		if _, ok := fsUnsupported[m.GetFsType()]; !ok {
			return false
		}
	}
	switch c.GetAccessMode().GetMode() {
	case csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER,
		csi.VolumeCapability_AccessMode_SINGLE_NODE_SINGLE_WRITER,
		csi.VolumeCapability_AccessMode_SINGLE_NODE_MULTI_WRITER:
		return true
	case csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER:
		return c.GetBlock() != nil
	}
	return false
}

func validCapabilities(caps []*csi.VolumeCapability) bool {
	for _, c := range caps {
		if !validCapability(c) {
			return false
		}
	}
	return len(caps) > 0
}

// volumeSize resolves a capacity range to whole GiB.
func volumeSize(r *csi.CapacityRange) (int64, error) {
	if r == nil || (r.GetRequiredBytes() == 0 && r.GetLimitBytes() == 0) {
		return DefaultVolumeSize >> 30, nil
	}
	if r.GetRequiredBytes() < 0 || r.GetLimitBytes() < 0 {
		return 0, invalid("Capacity range must not be negative")
	}
	gib := max(roundUpGiB(r.GetRequiredBytes()), 1)
	if l := r.GetLimitBytes(); l > 0 && gib<<30 > l {
		return 0, status.Error(codes.OutOfRange, "After round-up, volume size exceeds the limit specified")
	}
	return gib, nil
}

// zoneOf picks the zone of the topology requirement: the preferred
// topologies first, then the requisite ones, by either zone key.
func (c *Controller) zoneOf(req *csi.TopologyRequirement) string {
	for _, list := range [][]*csi.Topology{req.GetPreferred(), req.GetRequisite()} {
		for _, t := range list {
			for _, k := range []string{WellKnownZoneTopologyKey, ZoneTopologyKey} {
				if z := t.GetSegments()[k]; z != "" {
					return z
				}
			}
		}
	}
	if c.cfg.DefaultZone != "" {
		return c.cfg.DefaultZone
	}
	zones := c.svc.Zones()
	return zones[rand.IntN(len(zones))]
}

// zoneAllowed reports whether a requirement's requisite topologies admit
// a zone (no requisite admits every zone).
func zoneAllowed(req *csi.TopologyRequirement, zone string) bool {
	if len(req.GetRequisite()) == 0 {
		return true
	}
	for _, t := range req.GetRequisite() {
		for _, k := range []string{WellKnownZoneTopologyKey, ZoneTopologyKey} {
			if t.GetSegments()[k] == zone {
				return true
			}
		}
	}
	return false
}

// findByTag returns the volume tagged with a CSI name, if any.
func (c *Controller) findByTag(ctx context.Context, key, name string) (*ebsvc.Volume, error) {
	all, err := c.svc.Volumes(ctx)
	if err != nil {
		return nil, err
	}
	for _, v := range all {
		if v.Tags[key] == name && v.State != ebsvc.StateError {
			return v, nil
		}
	}
	return nil, nil
}

// CreateVolume creates an EBS volume for a CSI name, or returns the one
// it created before.
func (c *Controller) CreateVolume(ctx context.Context, req *csi.CreateVolumeRequest) (*csi.CreateVolumeResponse, error) {
	name := req.GetName()
	if name == "" {
		return nil, invalid("Volume name not provided")
	}
	caps := req.GetVolumeCapabilities()
	if len(caps) == 0 {
		return nil, invalid("Volume capabilities not provided")
	}
	if !validCapabilities(caps) {
		return nil, invalid("Volume capabilities not supported")
	}
	sizeGiB, err := volumeSize(req.GetCapacityRange())
	if err != nil {
		return nil, err
	}
	p, err := parseCreateParams(req.GetParameters(), caps)
	if err != nil {
		return nil, err
	}
	mutable, err := parseMutable(req.GetMutableParameters())
	if err != nil {
		return nil, err
	}
	mutable.apply(p)
	multiAttach := false
	for _, cp := range caps {
		if cp.GetAccessMode().GetMode() == csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER {
			multiAttach = true
		}
	}
	volType := p.volumeType
	if volType == "" {
		volType = "gp3" // the real driver's default
	}
	if multiAttach && volType != "io2" {
		return nil, invalid("Multi-attach is only supported for io2 volumes, not %s", volType)
	}
	if !c.begin(name) {
		return nil, status.Errorf(codes.Aborted, "Create volume request for %s is already in progress", name)
	}
	defer c.end(name)

	if v, err := c.findByTag(ctx, VolumeNameTagKey, name); err != nil {
		return nil, status.Errorf(codes.Internal, "Could not look for volume %q: %v", name, err)
	} else if v != nil {
		if int64(v.SizeGiB) != sizeGiB {
			return nil, status.Errorf(codes.AlreadyExists, "Could not create volume %q: there is already a disk with same name and different size", name)
		}
		return c.createResponse(v, p.context), nil
	}

	tags, err := c.volumeTags(name, p)
	if err != nil {
		return nil, err
	}
	token := sha256.Sum256([]byte(name))
	in := ebsvc.CreateVolumeInput{
		SizeGiB:            int(sizeGiB),
		Type:               volType,
		Throughput:         p.throughput,
		Encrypted:          p.encrypted || p.kmsKeyID != "",
		KMSKeyID:           p.kmsKeyID,
		MultiAttach:        multiAttach,
		Tags:               tags,
		ClientToken:        hex.EncodeToString(token[:]),
		InitializationRate: p.initRate,
	}
	l, _ := ebsvc.Limits(volType)
	iops := p.iops
	if p.iopsPerGB > 0 {
		iops = p.iopsPerGB * int(sizeGiB)
	}
	in.IOPS = capIOPS(l, int(sizeGiB), iops, p.allowIOPSIncrease)
	if src := req.GetVolumeContentSource(); src != nil {
		switch {
		case src.GetSnapshot() != nil:
			in.SnapshotID = src.GetSnapshot().GetSnapshotId()
			if _, err := c.svc.Snapshot(ctx, in.SnapshotID); err != nil {
				return nil, status.Errorf(codes.NotFound, "Snapshot %s not found: %v", in.SnapshotID, err)
			}
		case src.GetVolume() != nil:
			in.SourceVolumeID = src.GetVolume().GetVolumeId()
			srcVol, err := c.svc.Volume(ctx, in.SourceVolumeID)
			if err != nil {
				return nil, status.Errorf(codes.NotFound, "Error source volume with volumeID %v not found: %v", in.SourceVolumeID, err)
			}
			if !zoneAllowed(req.GetAccessibilityRequirements(), srcVol.AZ) {
				return nil, status.Error(codes.ResourceExhausted, "Cannot provision clone with the specified topology constraints")
			}
			if p.kmsKeyID != "" && srcVol.KMSKeyID != "" && srcVol.KMSKeyID != p.kmsKeyID {
				return nil, invalid("Cannot provision clone with different KMS key than source volume")
			}
		default:
			return nil, invalid("Unsupported volumeContentSource type")
		}
	}
	if in.SourceVolumeID == "" {
		in.AZ = c.zoneOf(req.GetAccessibilityRequirements())
	}
	v, err := c.svc.CreateVolume(ctx, in)
	if err != nil {
		code := codeOf(err)
		if code == codes.Internal {
			code = codes.Aborted // the real driver lets the provisioner retry
		}
		return nil, status.Errorf(code, "Could not create volume %q: %v", name, err)
	}
	c.log.Debug("created volume", "name", name, "volume", v.ID, "zone", v.AZ)
	return c.createResponse(v, p.context), nil
}

// volumeTags are the tags of a new volume: the driver's, the cluster's,
// the extra ones, the PVC's, then the StorageClass's own.
func (c *Controller) volumeTags(name string, p *createParams) (map[string]string, error) {
	tags := map[string]string{VolumeNameTagKey: name, ManagedTagKey: "true"}
	if id := c.cfg.ClusterID; id != "" {
		tags[clusterTagPrefix+id] = "owned"
		tags[NameTag] = id + "-dynamic-" + name
		tags[KubernetesClusterTag] = id
		tags[ClusterNameTagKey] = id
	}
	maps.Copy(tags, c.cfg.ExtraTags)
	maps.Copy(tags, p.tags)
	extra, err := evaluateTags(p.tagTemplates, p.props)
	if err != nil {
		return nil, err
	}
	maps.Copy(tags, extra)
	return tags, nil
}

func topologyOf(zone string) []*csi.Topology {
	return []*csi.Topology{{Segments: map[string]string{WellKnownZoneTopologyKey: zone}}}
}

func (c *Controller) createResponse(v *ebsvc.Volume, ctx map[string]string) *csi.CreateVolumeResponse {
	out := &csi.Volume{
		VolumeId:           v.ID,
		CapacityBytes:      v.SizeBytes(),
		VolumeContext:      ctx,
		AccessibleTopology: topologyOf(v.AZ),
	}
	switch {
	case v.SnapshotID != "":
		out.ContentSource = &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{
			Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: v.SnapshotID}}}
	case v.SourceVolumeID != "":
		out.ContentSource = &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Volume{
			Volume: &csi.VolumeContentSource_VolumeSource{VolumeId: v.SourceVolumeID}}}
	}
	return &csi.CreateVolumeResponse{Volume: out}
}

// DeleteVolume deletes a volume; a volume that is gone (or never was) is
// deleted already.
func (c *Controller) DeleteVolume(ctx context.Context, req *csi.DeleteVolumeRequest) (*csi.DeleteVolumeResponse, error) {
	id := req.GetVolumeId()
	if id == "" {
		return nil, invalid("Volume ID not provided")
	}
	if !c.begin(id) {
		return nil, status.Errorf(codes.Aborted, "An operation with the given volume %s is already in progress", id)
	}
	defer c.end(id)
	err := c.svc.DeleteVolume(ctx, id)
	if err == nil || ebsvc.IsNotFound(err) || apierror.IsKind(err, ebsvc.VolumeMalformed) {
		return &csi.DeleteVolumeResponse{}, nil
	}
	return nil, statusf(err, "Could not delete volume ID %q", id)
}

// ControllerPublishVolume attaches a volume to the node's instance, under
// the first device name of the real driver's list that is free there.
func (c *Controller) ControllerPublishVolume(ctx context.Context, req *csi.ControllerPublishVolumeRequest) (*csi.ControllerPublishVolumeResponse, error) {
	volID, nodeID := req.GetVolumeId(), req.GetNodeId()
	switch {
	case volID == "":
		return nil, invalid("Volume ID not provided")
	case nodeID == "":
		return nil, invalid("Node ID not provided")
	case req.GetVolumeCapability() == nil:
		return nil, invalid("Volume capability not provided")
	case !validCapability(req.GetVolumeCapability()):
		return nil, invalid("Volume capability not supported")
	}
	if !c.begin(volID + nodeID) {
		return nil, status.Errorf(codes.Aborted, "An operation with the given volume %s is already in progress", volID)
	}
	defer c.end(volID + nodeID)
	lock := c.nodeLock(nodeID)
	lock.Lock()
	defer lock.Unlock()

	v, err := c.svc.Volume(ctx, volID)
	if err != nil {
		if ebsvc.IsNotFound(err) || apierror.IsKind(err, ebsvc.VolumeMalformed) {
			return nil, status.Errorf(codes.NotFound, "Volume %q not found", volID)
		}
		return nil, statusf(err, "Could not get volume %q", volID)
	}
	if a, ok := v.AttachmentTo(nodeID); ok {
		return &csi.ControllerPublishVolumeResponse{PublishContext: map[string]string{DevicePathKey: a.Device}}, nil
	}
	attached, err := c.svc.AttachedVolumes(ctx, nodeID)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "Could not list the volumes of node %q: %v", nodeID, err)
	}
	used := map[string]bool{}
	for _, o := range attached {
		a, _ := o.AttachmentTo(nodeID)
		used[a.Device] = true
	}
	for _, dev := range ebsvc.DeviceNames() {
		if used[dev] {
			continue
		}
		if _, err := c.svc.AttachVolume(ctx, volID, nodeID, dev); err != nil {
			if errors.Is(err, context.Canceled) {
				return nil, status.FromContextError(err).Err()
			}
			if codeOf(err) == codes.ResourceExhausted {
				return nil, status.Errorf(codes.ResourceExhausted, "Attachment limit exceeded for volume %q on node %q: %v", volID, nodeID, err)
			}
			return nil, statusf(err, "Could not attach volume %q to node %q", volID, nodeID)
		}
		c.log.Debug("attached volume", "volume", volID, "node", nodeID, "device", dev)
		return &csi.ControllerPublishVolumeResponse{PublishContext: map[string]string{DevicePathKey: dev}}, nil
	}
	return nil, status.Errorf(codes.ResourceExhausted, "Could not attach volume %q to node %q: there are no device names available", volID, nodeID)
}

// DevicePathKey is the publish context key of the device name.
const DevicePathKey = "devicePath"

// ControllerUnpublishVolume detaches a volume from the node's instance;
// a volume that is not attached there is detached already.
func (c *Controller) ControllerUnpublishVolume(ctx context.Context, req *csi.ControllerUnpublishVolumeRequest) (*csi.ControllerUnpublishVolumeResponse, error) {
	volID, nodeID := req.GetVolumeId(), req.GetNodeId()
	if volID == "" {
		return nil, invalid("Volume ID not provided")
	}
	if nodeID == "" {
		return nil, invalid("Node ID not provided")
	}
	if !c.begin(volID + nodeID) {
		return nil, status.Errorf(codes.Aborted, "An operation with the given volume %s is already in progress", volID)
	}
	defer c.end(volID + nodeID)
	lock := c.nodeLock(nodeID)
	lock.Lock()
	defer lock.Unlock()
	_, err := c.svc.DetachVolume(ctx, ebsvc.DetachVolumeInput{VolumeID: volID, InstanceID: nodeID})
	if err == nil || ebsvc.IsNotFound(err) || apierror.IsKind(err, ebsvc.IncorrectState) || apierror.IsKind(err, ebsvc.VolumeMalformed) {
		return &csi.ControllerUnpublishVolumeResponse{}, nil
	}
	return nil, statusf(err, "Could not detach volume %q from node %q", volID, nodeID)
}

// ValidateVolumeCapabilities confirms the capabilities the driver
// supports for an existing volume.
func (c *Controller) ValidateVolumeCapabilities(ctx context.Context, req *csi.ValidateVolumeCapabilitiesRequest) (*csi.ValidateVolumeCapabilitiesResponse, error) {
	if req.GetVolumeId() == "" {
		return nil, invalid("Volume ID not provided")
	}
	if len(req.GetVolumeCapabilities()) == 0 {
		return nil, invalid("Volume capabilities not provided")
	}
	if _, err := c.svc.Volume(ctx, req.GetVolumeId()); err != nil {
		if ebsvc.IsNotFound(err) || apierror.IsKind(err, ebsvc.VolumeMalformed) {
			return nil, status.Error(codes.NotFound, "Volume not found")
		}
		return nil, statusf(err, "Could not get volume with ID %q", req.GetVolumeId())
	}
	out := &csi.ValidateVolumeCapabilitiesResponse{}
	if validCapabilities(req.GetVolumeCapabilities()) {
		out.Confirmed = &csi.ValidateVolumeCapabilitiesResponse_Confirmed{
			VolumeContext:      req.GetVolumeContext(),
			VolumeCapabilities: req.GetVolumeCapabilities(),
			Parameters:         req.GetParameters(),
		}
	} else {
		out.Message = "Volume capabilities not supported"
	}
	return out, nil
}

// page cuts a page out of n entries: the token is the offset of its first
// entry.
func page(token string, maxEntries int32, n int) (from, to int, next string, err error) {
	if token != "" {
		from, err = strconv.Atoi(token)
		if err != nil || from < 0 || from > n {
			return 0, 0, "", status.Errorf(codes.Aborted, "Invalid starting token %q", token)
		}
	}
	if maxEntries < 0 {
		return 0, 0, "", invalid("max_entries must not be negative")
	}
	to = n
	if maxEntries > 0 && from+int(maxEntries) < n {
		to = from + int(maxEntries)
		next = strconv.Itoa(to)
	}
	return from, to, next, nil
}

// ListVolumes lists the volumes of the region and the nodes they are
// published to.
func (c *Controller) ListVolumes(ctx context.Context, req *csi.ListVolumesRequest) (*csi.ListVolumesResponse, error) {
	all, err := c.svc.Volumes(ctx)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "Could not list volumes: %v", err)
	}
	all = slices.DeleteFunc(all, func(v *ebsvc.Volume) bool { return v.State == ebsvc.StateError || v.State == ebsvc.StateCreating })
	from, to, next, err := page(req.GetStartingToken(), req.GetMaxEntries(), len(all))
	if err != nil {
		return nil, err
	}
	out := &csi.ListVolumesResponse{NextToken: next}
	for _, v := range all[from:to] {
		e := &csi.ListVolumesResponse_Entry{
			Volume: c.createResponse(v, nil).GetVolume(),
			Status: &csi.ListVolumesResponse_VolumeStatus{},
		}
		for _, a := range v.Attachments {
			e.Status.PublishedNodeIds = append(e.Status.PublishedNodeIds, a.InstanceID)
		}
		out.Entries = append(out.Entries, e)
	}
	return out, nil
}

var controllerCaps = []csi.ControllerServiceCapability_RPC_Type{
	csi.ControllerServiceCapability_RPC_CREATE_DELETE_VOLUME,
	csi.ControllerServiceCapability_RPC_PUBLISH_UNPUBLISH_VOLUME,
	csi.ControllerServiceCapability_RPC_LIST_VOLUMES,
	csi.ControllerServiceCapability_RPC_LIST_VOLUMES_PUBLISHED_NODES,
	csi.ControllerServiceCapability_RPC_CREATE_DELETE_SNAPSHOT,
	csi.ControllerServiceCapability_RPC_LIST_SNAPSHOTS,
	csi.ControllerServiceCapability_RPC_GET_SNAPSHOT,
	csi.ControllerServiceCapability_RPC_CLONE_VOLUME,
	csi.ControllerServiceCapability_RPC_EXPAND_VOLUME,
	csi.ControllerServiceCapability_RPC_MODIFY_VOLUME,
}

// ControllerGetCapabilities lists what the controller does.
func (c *Controller) ControllerGetCapabilities(context.Context, *csi.ControllerGetCapabilitiesRequest) (*csi.ControllerGetCapabilitiesResponse, error) {
	out := &csi.ControllerGetCapabilitiesResponse{}
	for _, t := range controllerCaps {
		out.Capabilities = append(out.Capabilities, &csi.ControllerServiceCapability{
			Type: &csi.ControllerServiceCapability_Rpc{Rpc: &csi.ControllerServiceCapability_RPC{Type: t}}})
	}
	return out, nil
}

// ControllerExpandVolume grows a volume (ModifyVolume) to the requested
// size in whole GiB; the node grows the filesystem after.
func (c *Controller) ControllerExpandVolume(ctx context.Context, req *csi.ControllerExpandVolumeRequest) (*csi.ControllerExpandVolumeResponse, error) {
	id := req.GetVolumeId()
	if id == "" {
		return nil, invalid("Volume ID not provided")
	}
	if req.GetCapacityRange() == nil {
		return nil, invalid("Capacity range not provided")
	}
	gib, err := volumeSize(req.GetCapacityRange())
	if err != nil {
		return nil, err
	}
	if !c.begin(id) {
		return nil, status.Errorf(codes.Aborted, "An operation with the given volume %s is already in progress", id)
	}
	defer c.end(id)
	v, err := c.svc.Volume(ctx, id)
	if err != nil {
		if ebsvc.IsNotFound(err) || apierror.IsKind(err, ebsvc.VolumeMalformed) {
			return nil, status.Errorf(codes.NotFound, "Volume %q not found", id)
		}
		return nil, statusf(err, "Could not resize volume %q", id)
	}
	if int64(v.SizeGiB) < gib {
		size := int(gib)
		if _, err := c.svc.ModifyVolume(ctx, ebsvc.ModifyVolumeInput{VolumeID: id, SizeGiB: &size}); err != nil {
			return nil, statusf(err, "Could not resize volume %q", id)
		}
		if v, err = c.svc.Volume(ctx, id); err != nil {
			return nil, statusf(err, "Could not resize volume %q", id)
		}
	}
	return &csi.ControllerExpandVolumeResponse{
		CapacityBytes:         v.SizeBytes(),
		NodeExpansionRequired: req.GetVolumeCapability().GetBlock() == nil,
	}, nil
}

func snapshotToCSI(s *ebsvc.Snapshot) *csi.Snapshot {
	return &csi.Snapshot{
		SnapshotId:     s.ID,
		SourceVolumeId: s.VolumeID,
		SizeBytes:      int64(s.VolumeSizeGiB) << 30,
		CreationTime:   timestamppb.New(s.StartTime),
		ReadyToUse:     s.State == ebsvc.SnapCompleted,
	}
}

// findSnapshot returns the snapshot tagged with a CSI name, if any.
func (c *Controller) findSnapshot(ctx context.Context, name string) (*ebsvc.Snapshot, error) {
	all, err := c.svc.Snapshots(ctx)
	if err != nil {
		return nil, err
	}
	for _, s := range all {
		if s.Tags[SnapshotNameTagKey] == name && s.State != ebsvc.SnapError {
			return s, nil
		}
	}
	return nil, nil
}

// CreateSnapshot snapshots a volume under a CSI name, or returns the
// snapshot it took before.
func (c *Controller) CreateSnapshot(ctx context.Context, req *csi.CreateSnapshotRequest) (*csi.CreateSnapshotResponse, error) {
	name, volID := req.GetName(), req.GetSourceVolumeId()
	if name == "" {
		return nil, invalid("Snapshot name not provided")
	}
	if volID == "" {
		return nil, invalid("Snapshot volume source ID not provided")
	}
	templates, props, err := snapshotParams(req.GetParameters())
	if err != nil {
		return nil, invalid("%v", err)
	}
	if !c.begin(name) {
		return nil, status.Errorf(codes.Aborted, "An operation with the given snapshot %s is already in progress", name)
	}
	defer c.end(name)
	if s, err := c.findSnapshot(ctx, name); err != nil {
		return nil, status.Errorf(codes.Internal, "Could not look for snapshot %q: %v", name, err)
	} else if s != nil {
		if s.VolumeID != volID {
			return nil, status.Errorf(codes.AlreadyExists, "Snapshot %s already exists for different volume (%s)", name, s.VolumeID)
		}
		return &csi.CreateSnapshotResponse{Snapshot: snapshotToCSI(s)}, nil
	}
	tags := map[string]string{SnapshotNameTagKey: name, ManagedTagKey: "true"}
	if id := c.cfg.ClusterID; id != "" {
		tags[clusterTagPrefix+id] = "owned"
		tags[NameTag] = id + "-dynamic-" + name
		tags[ClusterNameTagKey] = id
	}
	maps.Copy(tags, c.cfg.ExtraTags)
	extra, err := evaluateTags(templates, props)
	if err != nil {
		return nil, err
	}
	maps.Copy(tags, extra)
	s, err := c.svc.CreateSnapshot(ctx, ebsvc.CreateSnapshotInput{
		VolumeID: volID, Description: "Created by AWS EBS CSI driver for volume " + volID, Tags: tags})
	if err != nil {
		if ebsvc.IsNotFound(err) || apierror.IsKind(err, ebsvc.VolumeMalformed) {
			return nil, status.Errorf(codes.NotFound, "Could not create snapshot %q: source volume %s not found", name, volID)
		}
		return nil, statusf(err, "Could not create snapshot %q", name)
	}
	if now, err := c.svc.Snapshot(ctx, s.ID); err == nil {
		s = now
	}
	return &csi.CreateSnapshotResponse{Snapshot: snapshotToCSI(s)}, nil
}

// DeleteSnapshot deletes a snapshot; one that is gone is deleted already.
func (c *Controller) DeleteSnapshot(ctx context.Context, req *csi.DeleteSnapshotRequest) (*csi.DeleteSnapshotResponse, error) {
	id := req.GetSnapshotId()
	if id == "" {
		return nil, invalid("Snapshot ID not provided")
	}
	if !c.begin(id) {
		return nil, status.Errorf(codes.Aborted, "DeleteSnapshot for Snapshot %s is already in progress", id)
	}
	defer c.end(id)
	err := c.svc.DeleteSnapshot(ctx, id)
	if err == nil || ebsvc.IsNotFound(err) || apierror.IsKind(err, ebsvc.SnapshotMalformed) {
		return &csi.DeleteSnapshotResponse{}, nil
	}
	return nil, statusf(err, "Could not delete snapshot ID %q", id)
}

// ListSnapshots lists snapshots: one by id, those of a volume, or all.
func (c *Controller) ListSnapshots(ctx context.Context, req *csi.ListSnapshotsRequest) (*csi.ListSnapshotsResponse, error) {
	all, err := c.svc.Snapshots(ctx)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "Could not list snapshots: %v", err)
	}
	all = slices.DeleteFunc(all, func(s *ebsvc.Snapshot) bool {
		return (req.GetSnapshotId() != "" && s.ID != req.GetSnapshotId()) ||
			(req.GetSourceVolumeId() != "" && s.VolumeID != req.GetSourceVolumeId())
	})
	from, to, next, err := page(req.GetStartingToken(), req.GetMaxEntries(), len(all))
	if err != nil {
		return nil, err
	}
	out := &csi.ListSnapshotsResponse{NextToken: next}
	for _, s := range all[from:to] {
		out.Entries = append(out.Entries, &csi.ListSnapshotsResponse_Entry{Snapshot: snapshotToCSI(s)})
	}
	return out, nil
}

// GetSnapshot returns one snapshot.
func (c *Controller) GetSnapshot(ctx context.Context, req *csi.GetSnapshotRequest) (*csi.GetSnapshotResponse, error) {
	if req.GetSnapshotId() == "" {
		return nil, invalid("Snapshot ID not provided")
	}
	s, err := c.svc.Snapshot(ctx, req.GetSnapshotId())
	if err != nil {
		if ebsvc.IsNotFound(err) || apierror.IsKind(err, ebsvc.SnapshotMalformed) {
			return nil, status.Errorf(codes.NotFound, "Snapshot %q not found", req.GetSnapshotId())
		}
		return nil, statusf(err, "Could not get snapshot %q", req.GetSnapshotId())
	}
	return &csi.GetSnapshotResponse{Snapshot: snapshotToCSI(s)}, nil
}
