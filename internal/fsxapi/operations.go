package fsxapi

import (
	"context"
	"slices"

	"github.com/berthproject/berth/internal/fsx"
)

// Wire shapes, spelled as the FSx model has them. Timestamps are epoch
// seconds.

type wireTag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

type wireMetadata struct {
	Iops int    `json:"Iops,omitempty"`
	Mode string `json:"Mode"`
}

type wireLustre struct {
	WeeklyMaintenanceStartTime    string        `json:"WeeklyMaintenanceStartTime,omitempty"`
	DeploymentType                string        `json:"DeploymentType"`
	PerUnitStorageThroughput      int           `json:"PerUnitStorageThroughput,omitempty"`
	MountName                     string        `json:"MountName"`
	DailyAutomaticBackupStartTime string        `json:"DailyAutomaticBackupStartTime,omitempty"`
	AutomaticBackupRetentionDays  int           `json:"AutomaticBackupRetentionDays"`
	CopyTagsToBackups             bool          `json:"CopyTagsToBackups"`
	DriveCacheType                string        `json:"DriveCacheType,omitempty"`
	DataCompressionType           string        `json:"DataCompressionType"`
	EfaEnabled                    bool          `json:"EfaEnabled"`
	MetadataConfiguration         *wireMetadata `json:"MetadataConfiguration,omitempty"`
	LogConfiguration              struct {
		Level string `json:"Level"`
	} `json:"LogConfiguration"`
}

type wireAdminAction struct {
	AdministrativeActionType string  `json:"AdministrativeActionType"`
	ProgressPercent          int     `json:"ProgressPercent"`
	RequestTime              float64 `json:"RequestTime"`
	Status                   string  `json:"Status"`
	TargetFileSystemValues   struct {
		StorageCapacity int `json:"StorageCapacity,omitempty"`
	} `json:"TargetFileSystemValues"`
}

type wireFileSystem struct {
	OwnerID               string            `json:"OwnerId"`
	CreationTime          float64           `json:"CreationTime"`
	FileSystemID          string            `json:"FileSystemId"`
	FileSystemType        string            `json:"FileSystemType"`
	Lifecycle             string            `json:"Lifecycle"`
	StorageCapacity       int               `json:"StorageCapacity"`
	StorageType           string            `json:"StorageType"`
	VpcID                 string            `json:"VpcId"`
	SubnetIDs             []string          `json:"SubnetIds"`
	NetworkInterfaceIDs   []string          `json:"NetworkInterfaceIds"`
	DNSName               string            `json:"DNSName"`
	KmsKeyID              string            `json:"KmsKeyId,omitempty"`
	ResourceARN           string            `json:"ResourceARN"`
	Tags                  []wireTag         `json:"Tags"`
	LustreConfiguration   wireLustre        `json:"LustreConfiguration"`
	AdministrativeActions []wireAdminAction `json:"AdministrativeActions,omitempty"`
	FileSystemTypeVersion string            `json:"FileSystemTypeVersion"`
}

func toWireTags(tags []fsx.Tag) []wireTag {
	out := make([]wireTag, len(tags))
	for i, t := range tags {
		out[i] = wireTag(t)
	}
	return out
}

func fromWireTags(tags []wireTag) []fsx.Tag {
	if len(tags) == 0 {
		return nil
	}
	out := make([]fsx.Tag, len(tags))
	for i, t := range tags {
		out[i] = fsx.Tag(t)
	}
	return out
}

func toWire(fs *fsx.FileSystem) wireFileSystem {
	l := fs.Lustre
	out := wireFileSystem{
		OwnerID:             fs.OwnerID,
		CreationTime:        float64(fs.CreatedAt.UnixMilli()) / 1000,
		FileSystemID:        fs.ID,
		FileSystemType:      fsx.FileSystemType,
		Lifecycle:           fs.Lifecycle,
		StorageCapacity:     fs.StorageCapacity,
		StorageType:         fs.StorageType,
		VpcID:               fs.VpcID,
		SubnetIDs:           slices.Clone(fs.SubnetIDs),
		NetworkInterfaceIDs: slices.Clone(fs.NetworkInterfaceIDs),
		DNSName:             fs.DNSName,
		KmsKeyID:            fs.KmsKeyID,
		ResourceARN:         fs.ARN,
		Tags:                toWireTags(fs.Tags),
		LustreConfiguration: wireLustre{
			WeeklyMaintenanceStartTime:    l.WeeklyMaintenanceStartTime,
			DeploymentType:                l.DeploymentType,
			PerUnitStorageThroughput:      l.PerUnitStorageThroughput,
			MountName:                     l.MountName,
			DailyAutomaticBackupStartTime: l.DailyAutomaticBackupStartTime,
			AutomaticBackupRetentionDays:  l.AutomaticBackupRetentionDays,
			CopyTagsToBackups:             l.CopyTagsToBackups,
			DriveCacheType:                l.DriveCacheType,
			DataCompressionType:           l.DataCompressionType,
			EfaEnabled:                    l.EfaEnabled,
		},
		FileSystemTypeVersion: fs.FileSystemTypeVersion,
	}
	out.LustreConfiguration.LogConfiguration.Level = "DISABLED"
	if mc := l.MetadataConfiguration; mc != nil {
		out.LustreConfiguration.MetadataConfiguration = &wireMetadata{Iops: mc.Iops, Mode: mc.Mode}
	}
	for _, a := range fs.AdministrativeActions {
		w := wireAdminAction{AdministrativeActionType: a.Type, ProgressPercent: 100, RequestTime: float64(a.RequestTime.UnixMilli()) / 1000, Status: a.Status}
		w.TargetFileSystemValues.StorageCapacity = a.StorageCapacity
		out.AdministrativeActions = append(out.AdministrativeActions, w)
	}
	return out
}

type fileSystemOutput struct {
	FileSystem wireFileSystem `json:"FileSystem"`
}

func (h *Handler) createFileSystem(ctx context.Context, body []byte) (any, error) {
	var in struct {
		ClientRequestToken    string    `json:"ClientRequestToken"`
		FileSystemType        string    `json:"FileSystemType"`
		StorageCapacity       int       `json:"StorageCapacity"`
		StorageType           string    `json:"StorageType"`
		SubnetIDs             []string  `json:"SubnetIds"`
		SecurityGroupIDs      []string  `json:"SecurityGroupIds"`
		Tags                  []wireTag `json:"Tags"`
		KmsKeyID              string    `json:"KmsKeyId"`
		FileSystemTypeVersion string    `json:"FileSystemTypeVersion"`
		LustreConfiguration   *struct {
			DeploymentType                string        `json:"DeploymentType"`
			PerUnitStorageThroughput      *int          `json:"PerUnitStorageThroughput"`
			WeeklyMaintenanceStartTime    string        `json:"WeeklyMaintenanceStartTime"`
			DailyAutomaticBackupStartTime string        `json:"DailyAutomaticBackupStartTime"`
			AutomaticBackupRetentionDays  *int          `json:"AutomaticBackupRetentionDays"`
			CopyTagsToBackups             *bool         `json:"CopyTagsToBackups"`
			DriveCacheType                string        `json:"DriveCacheType"`
			DataCompressionType           string        `json:"DataCompressionType"`
			EfaEnabled                    *bool         `json:"EfaEnabled"`
			MetadataConfiguration         *wireMetadata `json:"MetadataConfiguration"`
			ImportPath                    string        `json:"ImportPath"`
			ExportPath                    string        `json:"ExportPath"`
			AutoImportPolicy              string        `json:"AutoImportPolicy"`
		} `json:"LustreConfiguration"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	req := fsx.CreateFileSystemInput{
		ClientRequestToken: in.ClientRequestToken, FileSystemType: in.FileSystemType,
		StorageCapacity: in.StorageCapacity, StorageType: in.StorageType,
		SubnetIDs: in.SubnetIDs, SecurityGroupIDs: in.SecurityGroupIDs, Tags: fromWireTags(in.Tags),
		KmsKeyID: in.KmsKeyID, FileSystemTypeVersion: in.FileSystemTypeVersion,
	}
	if l := in.LustreConfiguration; l != nil {
		req.Lustre = &fsx.CreateLustreInput{
			DeploymentType: l.DeploymentType, PerUnitStorageThroughput: l.PerUnitStorageThroughput,
			WeeklyMaintenanceStartTime: l.WeeklyMaintenanceStartTime, DailyAutomaticBackupStartTime: l.DailyAutomaticBackupStartTime,
			AutomaticBackupRetentionDays: l.AutomaticBackupRetentionDays, CopyTagsToBackups: l.CopyTagsToBackups,
			DriveCacheType: l.DriveCacheType, DataCompressionType: l.DataCompressionType, EfaEnabled: l.EfaEnabled,
			ImportPath: l.ImportPath, ExportPath: l.ExportPath, AutoImportPolicy: l.AutoImportPolicy,
		}
		if mc := l.MetadataConfiguration; mc != nil {
			req.Lustre.MetadataConfiguration = &fsx.MetadataConfiguration{Mode: mc.Mode, Iops: mc.Iops}
		}
	}
	fs, err := h.cfg.Service.CreateFileSystem(ctx, req)
	if err != nil {
		return nil, err
	}
	return fileSystemOutput{toWire(fs)}, nil
}

func (h *Handler) describeFileSystems(ctx context.Context, body []byte) (any, error) {
	var in struct {
		FileSystemIDs []string `json:"FileSystemIds"`
		MaxResults    int      `json:"MaxResults"`
		NextToken     string   `json:"NextToken"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	list, next, err := h.cfg.Service.DescribeFileSystems(ctx, in.FileSystemIDs, in.MaxResults, in.NextToken)
	if err != nil {
		return nil, err
	}
	out := struct {
		FileSystems []wireFileSystem `json:"FileSystems"`
		NextToken   string           `json:"NextToken,omitempty"`
	}{FileSystems: make([]wireFileSystem, len(list)), NextToken: next}
	for i, fs := range list {
		out.FileSystems[i] = toWire(fs)
	}
	return out, nil
}

func (h *Handler) deleteFileSystem(ctx context.Context, body []byte) (any, error) {
	var in struct {
		FileSystemID string `json:"FileSystemId"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	fs, err := h.cfg.Service.DeleteFileSystem(ctx, in.FileSystemID)
	if err != nil {
		return nil, err
	}
	return struct {
		FileSystemID   string   `json:"FileSystemId"`
		Lifecycle      string   `json:"Lifecycle"`
		LustreResponse struct{} `json:"LustreResponse"`
	}{FileSystemID: fs.ID, Lifecycle: fs.Lifecycle}, nil
}

func (h *Handler) updateFileSystem(ctx context.Context, body []byte) (any, error) {
	var in struct {
		FileSystemID        string `json:"FileSystemId"`
		StorageCapacity     int    `json:"StorageCapacity"`
		LustreConfiguration *struct {
			WeeklyMaintenanceStartTime    string `json:"WeeklyMaintenanceStartTime"`
			DailyAutomaticBackupStartTime string `json:"DailyAutomaticBackupStartTime"`
			AutomaticBackupRetentionDays  *int   `json:"AutomaticBackupRetentionDays"`
			DataCompressionType           string `json:"DataCompressionType"`
		} `json:"LustreConfiguration"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	up := fsx.UpdateInput{StorageCapacity: in.StorageCapacity}
	if l := in.LustreConfiguration; l != nil {
		up.WeeklyMaintenanceStartTime = l.WeeklyMaintenanceStartTime
		up.DailyAutomaticBackupStartTime = l.DailyAutomaticBackupStartTime
		up.AutomaticBackupRetentionDays = l.AutomaticBackupRetentionDays
		up.DataCompressionType = l.DataCompressionType
	}
	fs, err := h.cfg.Service.UpdateFileSystem(ctx, in.FileSystemID, up)
	if err != nil {
		return nil, err
	}
	return fileSystemOutput{toWire(fs)}, nil
}

func (h *Handler) tagResource(ctx context.Context, body []byte) (any, error) {
	var in struct {
		ResourceARN string    `json:"ResourceARN"`
		Tags        []wireTag `json:"Tags"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	return struct{}{}, h.cfg.Service.TagResource(ctx, in.ResourceARN, fromWireTags(in.Tags))
}

func (h *Handler) untagResource(ctx context.Context, body []byte) (any, error) {
	var in struct {
		ResourceARN string   `json:"ResourceARN"`
		TagKeys     []string `json:"TagKeys"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	return struct{}{}, h.cfg.Service.UntagResource(ctx, in.ResourceARN, in.TagKeys)
}

func (h *Handler) listTagsForResource(ctx context.Context, body []byte) (any, error) {
	var in struct {
		ResourceARN string `json:"ResourceARN"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	tags, err := h.cfg.Service.ListTagsForResource(ctx, in.ResourceARN)
	if err != nil {
		return nil, err
	}
	return struct {
		Tags []wireTag `json:"Tags"`
	}{toWireTags(tags)}, nil
}
