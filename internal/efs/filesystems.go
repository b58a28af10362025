package efs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/berthproject/berth/internal/apierror"
	"github.com/berthproject/berth/internal/store"
)

// CreateFileSystemInput is a CreateFileSystem request.
type CreateFileSystemInput struct {
	CreationToken   string
	PerformanceMode string
	ThroughputMode  string
	// ProvisionedThroughputMiBps is required with the provisioned
	// throughput mode and refused otherwise.
	ProvisionedThroughputMiBps float64
	Encrypted                  bool
	KmsKeyID                   string
	// AvailabilityZoneName makes a One Zone file system.
	AvailabilityZoneName string
	// Backup turns automatic backups on; nil is EFS's default (on for One
	// Zone file systems).
	Backup *bool
	Tags   []Tag
}

// EFS's provisioned throughput range for new file systems, in MiB/s.
const (
	minProvisionedThroughput = 1
	maxProvisionedThroughput = 3414
)

func storeOp(kind, key string, v any, rev uint64) store.Op {
	return store.Op{Kind: kind, Key: key, Value: marshal(v), IfRevision: rev}
}

// CreateFileSystem validates a request, creates the file system's
// directory and records the file system as creating. A repeated request
// with the same CreationToken fails with FileSystemAlreadyExists, naming
// the file system the first one made, as on EFS.
func (s *Service) CreateFileSystem(ctx context.Context, in CreateFileSystemInput) (*FileSystem, error) {
	if err := s.validateFileSystem(&in); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.load(ctx); err != nil {
		return nil, err
	}
	if rec, err := s.cfg.Store.Get(ctx, kindCreationToken, in.CreationToken); err == nil {
		var id string
		if err := jsonUnmarshal(rec.Value, &id); err != nil {
			return nil, err
		}
		return nil, apierror.New(FileSystemAlreadyExists, "File system '%s' already exists with creation token '%s'", id, in.CreationToken).
			With("FileSystemId", id)
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	n, err := s.cfg.Store.List(ctx, KindFileSystem, "")
	if err != nil {
		return nil, err
	}
	if len(n) >= s.cfg.MaxFileSystems {
		return nil, apierror.New(FileSystemLimitExceeded, "You have reached the maximum number of file systems allowed in this account (%d).", s.cfg.MaxFileSystems)
	}
	fs := &FileSystem{
		ID:                         newID("fs"),
		OwnerID:                    s.cfg.Account,
		CreationToken:              in.CreationToken,
		CreatedAt:                  s.cfg.Now().UTC().Truncate(time.Second),
		State:                      StateCreating,
		PerformanceMode:            in.PerformanceMode,
		ThroughputMode:             in.ThroughputMode,
		ProvisionedThroughputMiBps: in.ProvisionedThroughputMiBps,
		Encrypted:                  in.Encrypted,
		KmsKeyID:                   in.KmsKeyID,
		AvailabilityZoneName:       in.AvailabilityZoneName,
		Tags:                       slices.Clone(in.Tags),
	}
	fs.ARN = s.FileSystemARN(fs.ID)
	if fs.Encrypted && fs.KmsKeyID == "" {
		fs.KmsKeyID = s.defaultKMSKey()
	}
	if fs.AvailabilityZoneName != "" {
		fs.AvailabilityZoneID = s.zoneID(fs.AvailabilityZoneName)
		fs.Backup = in.Backup == nil || *in.Backup
	} else {
		fs.Backup = in.Backup != nil && *in.Backup
	}
	dir := s.Dir(fs.ID)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating the data directory of %s: %w", fs.ID, err)
	}
	_, err = s.cfg.Store.Apply(ctx,
		store.Op{Kind: KindFileSystem, Key: fs.ID, Value: marshal(fs), Create: true},
		store.Op{Kind: kindCreationToken, Key: in.CreationToken, Value: marshal(fs.ID), Create: true})
	if err != nil {
		os.RemoveAll(dir)
		return nil, storeErr("storing file system", err)
	}
	s.log.Debug("file system created", "fileSystemId", fs.ID)
	if _, err := s.fill(ctx, fs, true); err != nil {
		return nil, err
	}
	fs.State = StateCreating // what EFS answers a create with
	return fs, nil
}

func (s *Service) validateFileSystem(in *CreateFileSystemInput) error {
	if in.CreationToken == "" || len(in.CreationToken) > 64 {
		return badRequest("CreationToken must be 1 to 64 characters long.")
	}
	switch in.PerformanceMode {
	case "":
		in.PerformanceMode = GeneralPurpose
	case GeneralPurpose, MaxIO:
	default:
		return badRequest("Invalid performance mode '%s'. Valid values are generalPurpose and maxIO.", in.PerformanceMode)
	}
	switch in.ThroughputMode {
	case "":
		in.ThroughputMode = Elastic
	case Bursting, Elastic, Provisioned:
	default:
		return badRequest("Invalid throughput mode '%s'. Valid values are bursting, provisioned and elastic.", in.ThroughputMode)
	}
	if in.ThroughputMode == Provisioned {
		if in.ProvisionedThroughputMiBps == 0 {
			return badRequest("ProvisionedThroughputInMibps is required when ThroughputMode is provisioned.")
		}
		if in.ProvisionedThroughputMiBps < minProvisionedThroughput || in.ProvisionedThroughputMiBps > maxProvisionedThroughput {
			return apierror.New(ThroughputLimitExceeded, "Provisioned throughput must be between %d and %d MiB/s.", minProvisionedThroughput, maxProvisionedThroughput)
		}
	} else if in.ProvisionedThroughputMiBps != 0 {
		return badRequest("ProvisionedThroughputInMibps can only be set when ThroughputMode is provisioned.")
	}
	if in.PerformanceMode == MaxIO && in.ThroughputMode == Elastic {
		return badRequest("Max I/O performance mode is not supported with Elastic throughput.")
	}
	if in.KmsKeyID != "" && !in.Encrypted {
		return badRequest("KmsKeyId can only be specified when Encrypted is true.")
	}
	if in.KmsKeyID != "" && !kmsKeyRE.MatchString(in.KmsKeyID) {
		return badRequest("Invalid KmsKeyId '%s'.", in.KmsKeyID)
	}
	if in.AvailabilityZoneName != "" {
		if s.zoneID(in.AvailabilityZoneName) == "" {
			return apierror.New(UnsupportedAvailabilityZone, "The availability zone '%s' is not supported.", in.AvailabilityZoneName)
		}
		if in.PerformanceMode == MaxIO {
			return badRequest("One Zone file systems do not support the Max I/O performance mode.")
		}
	}
	return validateTags(in.Tags)
}

// zoneID returns the AZ id of a zone of the VPC, or "".
func (s *Service) zoneID(zone string) string {
	for _, sn := range s.cfg.Network.Subnets {
		if sn.AZ == zone {
			return sn.AZID
		}
	}
	return ""
}

// getFileSystem reads a file system record (by id or ARN) and its
// revision.
func (s *Service) getFileSystem(ctx context.Context, idOrARN string) (*FileSystem, uint64, error) {
	id, ok := resourceID(idOrARN, fileSystemIDRE)
	if !ok {
		return nil, 0, badRequest("Invalid file system ID '%s'.", idOrARN)
	}
	fs, rev, err := store.Read[FileSystem](ctx, s.cfg.Store, KindFileSystem, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, 0, fileSystemNotFound(id)
	}
	return fs, rev, err
}

// FileSystem returns one file system (by id or ARN), with its reported
// state and mount target count; Size is left zero (DescribeFileSystems
// meters it).
func (s *Service) FileSystem(ctx context.Context, idOrARN string) (*FileSystem, error) {
	fs, _, err := s.getFileSystem(ctx, idOrARN)
	if err != nil {
		return nil, err
	}
	return s.fill(ctx, fs, false)
}

// fill sets the fields of a file system that are not stored; the size
// (a walk of the data, cached) only when asked.
func (s *Service) fill(ctx context.Context, fs *FileSystem, withSize bool) (*FileSystem, error) {
	fs.State = s.state(fs.State, fs.CreatedAt)
	fs.Name = nameOf(fs.Tags)
	mts, err := s.cfg.Store.List(ctx, KindMountTarget, "")
	if err != nil {
		return nil, err
	}
	fs.NumberOfMountTargets = 0
	for _, r := range mts {
		var mt struct {
			FileSystemID string `json:"fileSystemId"`
		}
		if jsonUnmarshal(r.Value, &mt) == nil && mt.FileSystemID == fs.ID {
			fs.NumberOfMountTargets++
		}
	}
	if withSize {
		fs.Size = s.size(fs.ID)
	}
	return fs, nil
}

// DescribeFileSystemsInput is a DescribeFileSystems request: one file
// system by id or by creation token, or all, a page at a time.
type DescribeFileSystemsInput struct {
	FileSystemID  string
	CreationToken string
	Marker        string
	MaxItems      int
}

// DescribeFileSystems lists file systems. Naming one that does not exist
// is FileSystemNotFound.
func (s *Service) DescribeFileSystems(ctx context.Context, in DescribeFileSystemsInput) ([]*FileSystem, string, error) {
	if in.FileSystemID != "" && in.CreationToken != "" {
		return nil, "", badRequest("Specify either FileSystemId or CreationToken, not both.")
	}
	if in.MaxItems < 0 {
		return nil, "", badRequest("MaxItems must be at least 1.")
	}
	if in.FileSystemID != "" {
		fs, err := s.FileSystem(ctx, in.FileSystemID)
		if err != nil {
			return nil, "", err
		}
		fs.Size = s.size(fs.ID)
		return []*FileSystem{fs}, "", nil
	}
	if in.CreationToken != "" {
		rec, err := s.cfg.Store.Get(ctx, kindCreationToken, in.CreationToken)
		if errors.Is(err, store.ErrNotFound) {
			return []*FileSystem{}, "", nil
		}
		if err != nil {
			return nil, "", err
		}
		var id string
		if err := jsonUnmarshal(rec.Value, &id); err != nil {
			return nil, "", err
		}
		fs, err := s.FileSystem(ctx, id)
		if apierror.IsKind(err, FileSystemNotFound) {
			return []*FileSystem{}, "", nil
		}
		if err != nil {
			return nil, "", err
		}
		fs.Size = s.size(fs.ID)
		return []*FileSystem{fs}, "", nil
	}
	all, err := store.ReadAll[FileSystem](ctx, s.cfg.Store, KindFileSystem, "")
	if err != nil {
		return nil, "", err
	}
	keys := make([]string, len(all))
	for i, fs := range all {
		keys[i] = fs.ID
	}
	page, next, err := pageOf(all, keys, in.MaxItems, in.Marker)
	if err != nil {
		return nil, "", err
	}
	for _, fs := range page {
		if _, err := s.fill(ctx, fs, true); err != nil {
			return nil, "", err
		}
	}
	return page, next, nil
}

// DeleteFileSystem deletes a file system, its access points and its
// data. A file system with mount targets is FileSystemInUse, as on EFS.
func (s *Service) DeleteFileSystem(ctx context.Context, idOrARN string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.load(ctx); err != nil {
		return err
	}
	fs, rev, err := s.getFileSystem(ctx, idOrARN)
	if err != nil {
		return err
	}
	mts, err := s.mountTargetsOf(ctx, fs.ID)
	if err != nil {
		return err
	}
	if len(mts) > 0 {
		return apierror.New(FileSystemInUse,
			"The file system '%s' cannot be deleted because it has mount targets. You must delete the mount targets, and then try again.", fs.ID)
	}
	if fs.State != StateDeleting {
		fs.State = StateDeleting
		if _, err := s.cfg.Store.Apply(ctx, storeOp(KindFileSystem, fs.ID, fs, rev)); err != nil {
			return storeErr("marking file system deleting", err)
		}
	}
	return s.finishDelete(ctx, fs)
}

// finishDelete removes the data of a file system marked deleting, then
// its records, its access points' and its creation token's, in one
// commit.
func (s *Service) finishDelete(ctx context.Context, fs *FileSystem) error {
	if err := os.RemoveAll(s.Dir(fs.ID)); err != nil {
		return fmt.Errorf("removing the data of %s: %w", fs.ID, err)
	}
	aps, err := s.accessPointsOf(ctx, fs.ID)
	if err != nil {
		return err
	}
	ops := []store.Op{
		{Kind: KindFileSystem, Key: fs.ID, Delete: true},
		{Kind: kindCreationToken, Key: fs.CreationToken, Delete: true},
	}
	for _, ap := range aps {
		ops = append(ops, store.Op{Kind: KindAccessPoint, Key: ap.ID, Delete: true})
		if ap.ClientToken != "" {
			ops = append(ops, store.Op{Kind: kindClientToken, Key: ap.ClientToken, Delete: true})
		}
	}
	if _, err := s.cfg.Store.Apply(ctx, ops...); err != nil {
		return storeErr("removing file system records", err)
	}
	s.sizeMu.Lock()
	delete(s.sizes, fs.ID)
	s.sizeMu.Unlock()
	s.log.Debug("file system deleted", "fileSystemId", fs.ID)
	return nil
}

// emptySize is what EFS meters for an empty file system.
const emptySize = 6144

// size meters a file system's data: the apparent size of its files, at
// least what an empty file system reports. Results are reused for
// SizeRefresh.
func (s *Service) size(id string) Size {
	now := s.cfg.Now().UTC()
	s.sizeMu.Lock()
	cached, ok := s.sizes[id]
	s.sizeMu.Unlock()
	if ok && now.Sub(cached.Timestamp) < s.cfg.SizeRefresh {
		return cached
	}
	var total int64
	filepath.WalkDir(s.Dir(id), func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				total += info.Size()
			}
		}
		return nil
	})
	sz := Size{Value: max(total, emptySize), Timestamp: now.Truncate(time.Second)}
	s.sizeMu.Lock()
	s.sizes[id] = sz
	s.sizeMu.Unlock()
	return sz
}
