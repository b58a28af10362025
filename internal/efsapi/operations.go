package efsapi

import (
	"net/http"

	"github.com/berthproject/berth/internal/efs"
)

// Wire shapes, named and spelled as the EFS model has them. Timestamps
// are epoch seconds, restJson1's default.

type wireTag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

type wireSize struct {
	Value           int64   `json:"Value"`
	Timestamp       float64 `json:"Timestamp"`
	ValueInIA       int64   `json:"ValueInIA"`
	ValueInStandard int64   `json:"ValueInStandard"`
	ValueInArchive  int64   `json:"ValueInArchive"`
}

type wireProtection struct {
	ReplicationOverwriteProtection string `json:"ReplicationOverwriteProtection"`
}

type wireFileSystem struct {
	OwnerID                      string         `json:"OwnerId"`
	CreationToken                string         `json:"CreationToken"`
	FileSystemID                 string         `json:"FileSystemId"`
	FileSystemArn                string         `json:"FileSystemArn"`
	CreationTime                 float64        `json:"CreationTime"`
	LifeCycleState               string         `json:"LifeCycleState"`
	Name                         string         `json:"Name,omitempty"`
	NumberOfMountTargets         int            `json:"NumberOfMountTargets"`
	SizeInBytes                  wireSize       `json:"SizeInBytes"`
	PerformanceMode              string         `json:"PerformanceMode"`
	Encrypted                    bool           `json:"Encrypted"`
	KmsKeyID                     string         `json:"KmsKeyId,omitempty"`
	ThroughputMode               string         `json:"ThroughputMode"`
	ProvisionedThroughputInMibps float64        `json:"ProvisionedThroughputInMibps,omitempty"`
	AvailabilityZoneName         string         `json:"AvailabilityZoneName,omitempty"`
	AvailabilityZoneID           string         `json:"AvailabilityZoneId,omitempty"`
	Tags                         []wireTag      `json:"Tags"`
	FileSystemProtection         wireProtection `json:"FileSystemProtection"`
}

type wireCreationInfo struct {
	OwnerUID    int64  `json:"OwnerUid"`
	OwnerGID    int64  `json:"OwnerGid"`
	Permissions string `json:"Permissions"`
}

type wireRootDirectory struct {
	Path         string            `json:"Path,omitempty"`
	CreationInfo *wireCreationInfo `json:"CreationInfo,omitempty"`
}

type wirePosixUser struct {
	UID           *int64  `json:"Uid"`
	GID           *int64  `json:"Gid"`
	SecondaryGIDs []int64 `json:"SecondaryGids,omitempty"`
}

type wireAccessPoint struct {
	ClientToken    string             `json:"ClientToken"`
	Name           string             `json:"Name,omitempty"`
	Tags           []wireTag          `json:"Tags"`
	AccessPointID  string             `json:"AccessPointId"`
	AccessPointArn string             `json:"AccessPointArn"`
	FileSystemID   string             `json:"FileSystemId"`
	PosixUser      *wirePosixUser     `json:"PosixUser,omitempty"`
	RootDirectory  *wireRootDirectory `json:"RootDirectory,omitempty"`
	OwnerID        string             `json:"OwnerId"`
	LifeCycleState string             `json:"LifeCycleState"`
}

type wireMountTarget struct {
	OwnerID              string `json:"OwnerId"`
	MountTargetID        string `json:"MountTargetId"`
	FileSystemID         string `json:"FileSystemId"`
	SubnetID             string `json:"SubnetId"`
	LifeCycleState       string `json:"LifeCycleState"`
	IPAddress            string `json:"IpAddress"`
	NetworkInterfaceID   string `json:"NetworkInterfaceId"`
	AvailabilityZoneID   string `json:"AvailabilityZoneId"`
	AvailabilityZoneName string `json:"AvailabilityZoneName"`
	VpcID                string `json:"VpcId"`
}

func toWireTags(tags []efs.Tag) []wireTag {
	out := make([]wireTag, len(tags))
	for i, t := range tags {
		out[i] = wireTag(t)
	}
	return out
}

func fromWireTags(tags []wireTag) []efs.Tag {
	out := make([]efs.Tag, len(tags))
	for i, t := range tags {
		out[i] = efs.Tag(t)
	}
	return out
}

func toWireFileSystem(fs *efs.FileSystem) wireFileSystem {
	return wireFileSystem{
		OwnerID:              fs.OwnerID,
		CreationToken:        fs.CreationToken,
		FileSystemID:         fs.ID,
		FileSystemArn:        fs.ARN,
		CreationTime:         float64(fs.CreatedAt.Unix()),
		LifeCycleState:       fs.State,
		Name:                 fs.Name,
		NumberOfMountTargets: fs.NumberOfMountTargets,
		SizeInBytes: wireSize{
			Value: fs.Size.Value, Timestamp: float64(fs.Size.Timestamp.Unix()),
			ValueInStandard: fs.Size.Value,
		},
		PerformanceMode:              fs.PerformanceMode,
		Encrypted:                    fs.Encrypted,
		KmsKeyID:                     fs.KmsKeyID,
		ThroughputMode:               fs.ThroughputMode,
		ProvisionedThroughputInMibps: fs.ProvisionedThroughputMiBps,
		AvailabilityZoneName:         fs.AvailabilityZoneName,
		AvailabilityZoneID:           fs.AvailabilityZoneID,
		Tags:                         toWireTags(fs.Tags),
		FileSystemProtection:         wireProtection{ReplicationOverwriteProtection: "ENABLED"},
	}
}

func toWireAccessPoint(ap *efs.AccessPoint) wireAccessPoint {
	out := wireAccessPoint{
		ClientToken:    ap.ClientToken,
		Name:           ap.Name,
		Tags:           toWireTags(ap.Tags),
		AccessPointID:  ap.ID,
		AccessPointArn: ap.ARN,
		FileSystemID:   ap.FileSystemID,
		OwnerID:        ap.OwnerID,
		LifeCycleState: ap.State,
		RootDirectory:  &wireRootDirectory{Path: ap.RootDirectory.Path},
	}
	if u := ap.PosixUser; u != nil {
		out.PosixUser = &wirePosixUser{UID: &u.UID, GID: &u.GID, SecondaryGIDs: u.SecondaryGIDs}
	}
	if ci := ap.RootDirectory.CreationInfo; ci != nil {
		out.RootDirectory.CreationInfo = (*wireCreationInfo)(ci)
	}
	return out
}

func toWireMountTarget(mt *efs.MountTarget) wireMountTarget {
	return wireMountTarget{
		OwnerID:              mt.OwnerID,
		MountTargetID:        mt.ID,
		FileSystemID:         mt.FileSystemID,
		SubnetID:             mt.SubnetID,
		LifeCycleState:       mt.State,
		IPAddress:            mt.IPAddress,
		NetworkInterfaceID:   mt.NetworkInterfaceID,
		AvailabilityZoneID:   mt.AvailabilityZoneID,
		AvailabilityZoneName: mt.AvailabilityZone,
		VpcID:                mt.VpcID,
	}
}

func (h *Handler) createFileSystem(q *request) {
	var in struct {
		CreationToken                string    `json:"CreationToken"`
		PerformanceMode              string    `json:"PerformanceMode"`
		Encrypted                    bool      `json:"Encrypted"`
		KmsKeyID                     string    `json:"KmsKeyId"`
		ThroughputMode               string    `json:"ThroughputMode"`
		ProvisionedThroughputInMibps float64   `json:"ProvisionedThroughputInMibps"`
		AvailabilityZoneName         string    `json:"AvailabilityZoneName"`
		Backup                       *bool     `json:"Backup"`
		Tags                         []wireTag `json:"Tags"`
	}
	if err := decode(q, &in); err != nil {
		writeError(q.w, err)
		return
	}
	fs, err := h.cfg.Service.CreateFileSystem(q.ctx, efs.CreateFileSystemInput{
		CreationToken: in.CreationToken, PerformanceMode: in.PerformanceMode,
		Encrypted: in.Encrypted, KmsKeyID: in.KmsKeyID,
		ThroughputMode: in.ThroughputMode, ProvisionedThroughputMiBps: in.ProvisionedThroughputInMibps,
		AvailabilityZoneName: in.AvailabilityZoneName, Backup: in.Backup, Tags: fromWireTags(in.Tags),
	})
	if err != nil {
		writeError(q.w, err)
		return
	}
	writeJSON(q.w, http.StatusCreated, toWireFileSystem(fs))
}

func (h *Handler) describeFileSystems(q *request) {
	maxItems, err := queryInt(q, "MaxItems")
	if err != nil {
		writeError(q.w, err)
		return
	}
	marker := q.query.Get("Marker")
	list, next, err := h.cfg.Service.DescribeFileSystems(q.ctx, efs.DescribeFileSystemsInput{
		FileSystemID: q.query.Get("FileSystemId"), CreationToken: q.query.Get("CreationToken"),
		Marker: marker, MaxItems: maxItems,
	})
	if err != nil {
		writeError(q.w, err)
		return
	}
	out := struct {
		Marker      string           `json:"Marker,omitempty"`
		FileSystems []wireFileSystem `json:"FileSystems"`
		NextMarker  string           `json:"NextMarker,omitempty"`
	}{Marker: marker, FileSystems: make([]wireFileSystem, len(list)), NextMarker: next}
	for i, fs := range list {
		out.FileSystems[i] = toWireFileSystem(fs)
	}
	writeJSON(q.w, http.StatusOK, out)
}

func (h *Handler) deleteFileSystem(q *request, id string) {
	if err := h.cfg.Service.DeleteFileSystem(q.ctx, id); err != nil {
		writeError(q.w, err)
		return
	}
	writeNoContent(q.w)
}

func (h *Handler) createAccessPoint(q *request) {
	var in struct {
		ClientToken   string             `json:"ClientToken"`
		FileSystemID  string             `json:"FileSystemId"`
		PosixUser     *wirePosixUser     `json:"PosixUser"`
		RootDirectory *wireRootDirectory `json:"RootDirectory"`
		Tags          []wireTag          `json:"Tags"`
	}
	if err := decode(q, &in); err != nil {
		writeError(q.w, err)
		return
	}
	req := efs.CreateAccessPointInput{ClientToken: in.ClientToken, FileSystemID: in.FileSystemID, Tags: fromWireTags(in.Tags)}
	if u := in.PosixUser; u != nil {
		if u.UID == nil || u.GID == nil {
			writeError(q.w, badRequest("PosixUser requires Uid and Gid."))
			return
		}
		req.PosixUser = &efs.PosixUser{UID: *u.UID, GID: *u.GID, SecondaryGIDs: u.SecondaryGIDs}
	}
	if rd := in.RootDirectory; rd != nil {
		req.RootDirectory = &efs.RootDirectory{Path: rd.Path}
		if ci := rd.CreationInfo; ci != nil {
			req.RootDirectory.CreationInfo = (*efs.CreationInfo)(ci)
		}
	}
	ap, err := h.cfg.Service.CreateAccessPoint(q.ctx, req)
	if err != nil {
		writeError(q.w, err)
		return
	}
	writeJSON(q.w, http.StatusOK, toWireAccessPoint(ap))
}

func (h *Handler) describeAccessPoints(q *request) {
	maxResults, err := queryInt(q, "MaxResults")
	if err != nil {
		writeError(q.w, err)
		return
	}
	list, next, err := h.cfg.Service.DescribeAccessPoints(q.ctx, efs.DescribeAccessPointsInput{
		AccessPointID: q.query.Get("AccessPointId"), FileSystemID: q.query.Get("FileSystemId"),
		NextToken: q.query.Get("NextToken"), MaxResults: maxResults,
	})
	if err != nil {
		writeError(q.w, err)
		return
	}
	out := struct {
		AccessPoints []wireAccessPoint `json:"AccessPoints"`
		NextToken    string            `json:"NextToken,omitempty"`
	}{AccessPoints: make([]wireAccessPoint, len(list)), NextToken: next}
	for i, ap := range list {
		out.AccessPoints[i] = toWireAccessPoint(ap)
	}
	writeJSON(q.w, http.StatusOK, out)
}

func (h *Handler) deleteAccessPoint(q *request, id string) {
	if err := h.cfg.Service.DeleteAccessPoint(q.ctx, id); err != nil {
		writeError(q.w, err)
		return
	}
	writeNoContent(q.w)
}

func (h *Handler) createMountTarget(q *request) {
	var in struct {
		FileSystemID   string   `json:"FileSystemId"`
		SubnetID       string   `json:"SubnetId"`
		IPAddress      string   `json:"IpAddress"`
		SecurityGroups []string `json:"SecurityGroups"`
	}
	if err := decode(q, &in); err != nil {
		writeError(q.w, err)
		return
	}
	mt, err := h.cfg.Service.CreateMountTarget(q.ctx, efs.CreateMountTargetInput{
		FileSystemID: in.FileSystemID, SubnetID: in.SubnetID, IPAddress: in.IPAddress, SecurityGroups: in.SecurityGroups,
	})
	if err != nil {
		writeError(q.w, err)
		return
	}
	writeJSON(q.w, http.StatusOK, toWireMountTarget(mt))
}

func (h *Handler) describeMountTargets(q *request) {
	maxItems, err := queryInt(q, "MaxItems")
	if err != nil {
		writeError(q.w, err)
		return
	}
	marker := q.query.Get("Marker")
	list, next, err := h.cfg.Service.DescribeMountTargets(q.ctx, efs.DescribeMountTargetsInput{
		FileSystemID: q.query.Get("FileSystemId"), MountTargetID: q.query.Get("MountTargetId"),
		AccessPointID: q.query.Get("AccessPointId"), Marker: marker, MaxItems: maxItems,
	})
	if err != nil {
		writeError(q.w, err)
		return
	}
	out := struct {
		Marker       string            `json:"Marker,omitempty"`
		MountTargets []wireMountTarget `json:"MountTargets"`
		NextMarker   string            `json:"NextMarker,omitempty"`
	}{Marker: marker, MountTargets: make([]wireMountTarget, len(list)), NextMarker: next}
	for i, mt := range list {
		out.MountTargets[i] = toWireMountTarget(mt)
	}
	writeJSON(q.w, http.StatusOK, out)
}

func (h *Handler) deleteMountTarget(q *request, id string) {
	if err := h.cfg.Service.DeleteMountTarget(q.ctx, id); err != nil {
		writeError(q.w, err)
		return
	}
	writeNoContent(q.w)
}

func (h *Handler) describeMountTargetSecurityGroups(q *request, id string) {
	mt, err := h.cfg.Service.MountTarget(q.ctx, id)
	if err != nil {
		writeError(q.w, err)
		return
	}
	writeJSON(q.w, http.StatusOK, struct {
		SecurityGroups []string `json:"SecurityGroups"`
	}{mt.SecurityGroups})
}

func (h *Handler) tagResource(q *request, id string) {
	var in struct {
		Tags []wireTag `json:"Tags"`
	}
	if err := decode(q, &in); err != nil {
		writeError(q.w, err)
		return
	}
	if err := h.cfg.Service.TagResource(q.ctx, id, fromWireTags(in.Tags)); err != nil {
		writeError(q.w, err)
		return
	}
	q.w.WriteHeader(http.StatusOK)
}

func (h *Handler) untagResource(q *request, id string) {
	if err := h.cfg.Service.UntagResource(q.ctx, id, q.query["tagKeys"]); err != nil {
		writeError(q.w, err)
		return
	}
	q.w.WriteHeader(http.StatusOK)
}

func (h *Handler) listTagsForResource(q *request, id string) {
	maxResults, err := queryInt(q, "MaxResults")
	if err != nil {
		writeError(q.w, err)
		return
	}
	tags, next, err := h.cfg.Service.ListTagsForResource(q.ctx, id, maxResults, q.query.Get("NextToken"))
	if err != nil {
		writeError(q.w, err)
		return
	}
	writeJSON(q.w, http.StatusOK, struct {
		Tags      []wireTag `json:"Tags"`
		NextToken string    `json:"NextToken,omitempty"`
	}{toWireTags(tags), next})
}
