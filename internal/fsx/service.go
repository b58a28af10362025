package fsx

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/berthproject/berth/internal/apierror"
	"github.com/berthproject/berth/internal/paging"
	"github.com/berthproject/berth/internal/store"
	"github.com/berthproject/berth/internal/vpc"
)

// Store is what the service needs of berth's store.
type Store interface {
	Get(ctx context.Context, kind, key string) (store.Record, error)
	List(ctx context.Context, kind, prefix string) ([]store.Record, error)
	Apply(ctx context.Context, ops ...store.Op) (uint64, error)
}

// Config wires a Service.
type Config struct {
	Store   Store
	Network *vpc.Network
	// Dir holds the file systems' data, one directory per file system
	// (DATA/fsx). Required.
	Dir     string
	Account string
	Region  string
	// SecurityGroupExists tells whether a security group id names a group
	// of the VPC. The VPC's default group always exists; nil accepts
	// every well-formed id.
	SecurityGroupExists func(id string) bool
	// MaxStorageGiB is the account's quota of Lustre storage, in GiB
	// (FSx's default: 100,800).
	MaxStorageGiB int
	// CreateDelay is how long a new file system stays CREATING.
	CreateDelay time.Duration
	Now         func() time.Time
	Logger      *slog.Logger
}

// Service implements the FSx for Lustre operations.
type Service struct {
	cfg Config
	log *slog.Logger
	// mu serializes writes, so that the storage quota and token checks
	// still hold when a create commits.
	mu     sync.Mutex
	loaded bool
}

// New checks cfg, fills its defaults and returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Network == nil || cfg.Dir == "" {
		return nil, errors.New("fsx: Store, Network and Dir are required")
	}
	if len(cfg.Account) != 12 || strings.Trim(cfg.Account, "0123456789") != "" || cfg.Region == "" {
		return nil, fmt.Errorf("fsx: Account (%q) must be 12 digits and Region is required", cfg.Account)
	}
	abs, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("fsx: %w", err)
	}
	cfg.Dir = abs
	if cfg.MaxStorageGiB == 0 {
		cfg.MaxStorageGiB = 100800
	}
	if cfg.MaxStorageGiB < 0 || cfg.CreateDelay < 0 {
		return nil, errors.New("fsx: MaxStorageGiB and CreateDelay must not be negative")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("fsx: creating %s: %w", cfg.Dir, err)
	}
	return &Service{cfg: cfg, log: cfg.Logger}, nil
}

// Region returns the service's region.
func (s *Service) Region() string { return s.cfg.Region }

// Network returns the VPC file systems live in.
func (s *Service) Network() *vpc.Network { return s.cfg.Network }

// Dir returns the directory that holds a file system's data.
func (s *Service) Dir(id string) string { return filepath.Join(s.cfg.Dir, id) }

// ARN returns the ARN of a file system.
func (s *Service) ARN(id string) string {
	return fmt.Sprintf("arn:aws:fsx:%s:%s:file-system/%s", s.cfg.Region, s.cfg.Account, id)
}

func newID(prefix string) string {
	var b [9]byte
	rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])[:17]
}

// mountName is eight random characters of [a-z0-9], as FSx gives.
func mountName() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	var b [8]byte
	rand.Read(b[:])
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b[:])
}

func badRequest(format string, args ...any) error {
	return apierror.New(BadRequest, format, args...)
}

func notFound(id string) error {
	return apierror.New(FileSystemNotFound, "File system '%s' does not exist.", id)
}

var (
	fsIDRE       = regexp.MustCompile(`^fs-[0-9a-f]{8,21}$`)
	sgIDRE       = regexp.MustCompile(`^sg-[0-9a-f]{8,17}$`)
	subnetIDRE   = regexp.MustCompile(`^subnet-[0-9a-f]{8,17}$`)
	dailyRE      = regexp.MustCompile(`^([01]\d|2[0-3]):?([0-5]\d)$`)
	weeklyRE     = regexp.MustCompile(`^[1-7]:([01]\d|2[0-3]):?([0-5]\d)$`)
	tokenRE      = regexp.MustCompile(`^[A-Za-z0-9_.:-]{0,63}$`)
	tagKeyRE     = regexp.MustCompile(`^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$`)
	arnFSRE      = regexp.MustCompile(`^arn:aws[-a-z]*:fsx:[0-9a-z-]+:[0-9]{12}:file-system/(fs-[0-9a-f]+)$`)
	validVersion = []string{"2.10", "2.12", "2.15"}
)

// CreateFileSystemInput is a CreateFileSystem request for Lustre.
type CreateFileSystemInput struct {
	ClientRequestToken    string   `json:"clientRequestToken,omitempty"`
	FileSystemType        string   `json:"fileSystemType"`
	StorageCapacity       int      `json:"storageCapacity"`
	StorageType           string   `json:"storageType,omitempty"`
	SubnetIDs             []string `json:"subnetIds"`
	SecurityGroupIDs      []string `json:"securityGroupIds,omitempty"`
	Tags                  []Tag    `json:"tags,omitempty"`
	KmsKeyID              string   `json:"kmsKeyId,omitempty"`
	FileSystemTypeVersion string   `json:"fileSystemTypeVersion,omitempty"`
	// Lustre is the LustreConfiguration; nil is all defaults.
	Lustre *CreateLustreInput `json:"lustre,omitempty"`
}

// CreateLustreInput is a CreateFileSystemLustreConfiguration. Pointers
// distinguish unset from zero where FSx does.
type CreateLustreInput struct {
	DeploymentType                string                 `json:"deploymentType,omitempty"`
	PerUnitStorageThroughput      *int                   `json:"perUnitStorageThroughput,omitempty"`
	WeeklyMaintenanceStartTime    string                 `json:"weeklyMaintenanceStartTime,omitempty"`
	DailyAutomaticBackupStartTime string                 `json:"dailyAutomaticBackupStartTime,omitempty"`
	AutomaticBackupRetentionDays  *int                   `json:"automaticBackupRetentionDays,omitempty"`
	CopyTagsToBackups             *bool                  `json:"copyTagsToBackups,omitempty"`
	DriveCacheType                string                 `json:"driveCacheType,omitempty"`
	DataCompressionType           string                 `json:"dataCompressionType,omitempty"`
	EfaEnabled                    *bool                  `json:"efaEnabled,omitempty"`
	MetadataConfiguration         *MetadataConfiguration `json:"metadataConfiguration,omitempty"`
	// ImportPath, ExportPath and AutoImportPolicy link an S3 bucket;
	// berth has no S3 and refuses them.
	ImportPath       string `json:"importPath,omitempty"`
	ExportPath       string `json:"exportPath,omitempty"`
	AutoImportPolicy string `json:"autoImportPolicy,omitempty"`
}

// validate checks a request as FSx does and returns the file system it
// asks for (without ids).
func (s *Service) validate(in *CreateFileSystemInput) (*FileSystem, error) {
	if in.FileSystemType != FileSystemType {
		if in.FileSystemType == "" {
			return nil, badRequest("FileSystemType is required.")
		}
		return nil, apierror.New(UnsupportedOperation, "berth supports only LUSTRE file systems, not %s.", in.FileSystemType)
	}
	if !tokenRE.MatchString(in.ClientRequestToken) {
		return nil, badRequest("ClientRequestToken must be at most 63 letters, digits or _ . : -.")
	}
	l := CreateLustreInput{}
	if in.Lustre != nil {
		l = *in.Lustre
	}
	if l.ImportPath != "" || l.ExportPath != "" || l.AutoImportPolicy != "" {
		return nil, badRequest("berth does not link Lustre file systems to S3: ImportPath, ExportPath and AutoImportPolicy are not supported.")
	}
	fs := &FileSystem{StorageType: in.StorageType, StorageCapacity: in.StorageCapacity}
	fs.Lustre.DeploymentType = l.DeploymentType
	switch fs.Lustre.DeploymentType {
	case "":
		fs.Lustre.DeploymentType = Scratch1
	case Scratch1, Scratch2, Persistent1, Persistent2:
	default:
		return nil, badRequest("Invalid DeploymentType '%s'. Valid values are SCRATCH_1, SCRATCH_2, PERSISTENT_1 and PERSISTENT_2.", l.DeploymentType)
	}
	d := fs.Lustre.DeploymentType
	persistent := d == Persistent1 || d == Persistent2
	switch fs.StorageType {
	case "":
		fs.StorageType = SSD
	case SSD:
	case HDD:
		if d != Persistent1 {
			return nil, badRequest("HDD storage is supported only for the PERSISTENT_1 deployment type.")
		}
	default:
		return nil, badRequest("Invalid StorageType '%s' for a Lustre file system. Valid values are SSD and HDD.", in.StorageType)
	}
	switch {
	case fs.StorageType == HDD && l.DriveCacheType == "":
		return nil, badRequest("DriveCacheType is required when StorageType is HDD.")
	case fs.StorageType == HDD && l.DriveCacheType != "NONE" && l.DriveCacheType != "READ":
		return nil, badRequest("Invalid DriveCacheType '%s'. Valid values are NONE and READ.", l.DriveCacheType)
	case fs.StorageType != HDD && l.DriveCacheType != "":
		return nil, badRequest("DriveCacheType can only be set when StorageType is HDD.")
	}
	fs.Lustre.DriveCacheType = l.DriveCacheType
	allowed := throughputs(d, fs.StorageType)
	switch {
	case allowed == nil && l.PerUnitStorageThroughput != nil:
		return nil, apierror.New(InvalidPerUnitStorageThroughput, "PerUnitStorageThroughput is not supported for the %s deployment type.", d)
	case allowed != nil && l.PerUnitStorageThroughput == nil:
		return nil, badRequest("PerUnitStorageThroughput is required for the %s deployment type.", d)
	case allowed != nil && !validThroughput(d, fs.StorageType, *l.PerUnitStorageThroughput):
		return nil, apierror.New(InvalidPerUnitStorageThroughput, "Invalid PerUnitStorageThroughput %d for %s %s file systems. Valid values are %s MB/s/TiB.",
			*l.PerUnitStorageThroughput, d, fs.StorageType, joinInts(allowed))
	case allowed != nil:
		fs.Lustre.PerUnitStorageThroughput = *l.PerUnitStorageThroughput
	}
	if in.StorageCapacity <= 0 {
		return nil, badRequest("StorageCapacity is required and must be positive.")
	}
	if err := ValidCapacity(in.StorageCapacity, d, fs.StorageType, fs.Lustre.PerUnitStorageThroughput); err != nil {
		return nil, badRequest("%v", err)
	}
	if in.KmsKeyID != "" {
		if !persistent {
			return nil, badRequest("KmsKeyId is supported only for persistent deployment types; %s file systems are encrypted with a key FSx manages.", d)
		}
		if len(in.KmsKeyID) > 2048 || strings.ContainsAny(in.KmsKeyID, " \t\n") {
			return nil, badRequest("Invalid KmsKeyId.")
		}
	}
	if l.AutomaticBackupRetentionDays != nil {
		n := *l.AutomaticBackupRetentionDays
		if n < 0 || n > 90 {
			return nil, badRequest("AutomaticBackupRetentionDays must be between 0 and 90.")
		}
		if n > 0 && !persistent {
			return nil, badRequest("Automatic backups are not supported for the %s deployment type.", d)
		}
		fs.Lustre.AutomaticBackupRetentionDays = n
	}
	if l.DailyAutomaticBackupStartTime != "" {
		if !dailyRE.MatchString(l.DailyAutomaticBackupStartTime) {
			return nil, badRequest("Invalid DailyAutomaticBackupStartTime '%s'; the format is HH:MM.", l.DailyAutomaticBackupStartTime)
		}
		if fs.Lustre.AutomaticBackupRetentionDays == 0 {
			return nil, badRequest("DailyAutomaticBackupStartTime requires automatic backups (AutomaticBackupRetentionDays above 0).")
		}
		fs.Lustre.DailyAutomaticBackupStartTime = l.DailyAutomaticBackupStartTime
	}
	if l.CopyTagsToBackups != nil && *l.CopyTagsToBackups {
		if !persistent {
			return nil, badRequest("CopyTagsToBackups is not supported for the %s deployment type.", d)
		}
		fs.Lustre.CopyTagsToBackups = true
	}
	if l.WeeklyMaintenanceStartTime != "" && !weeklyRE.MatchString(l.WeeklyMaintenanceStartTime) {
		return nil, badRequest("Invalid WeeklyMaintenanceStartTime '%s'; the format is d:HH:MM, d from 1 (Monday) to 7.", l.WeeklyMaintenanceStartTime)
	}
	fs.Lustre.WeeklyMaintenanceStartTime = l.WeeklyMaintenanceStartTime
	switch l.DataCompressionType {
	case "":
		fs.Lustre.DataCompressionType = "NONE"
	case "NONE", "LZ4":
		fs.Lustre.DataCompressionType = l.DataCompressionType
	default:
		return nil, badRequest("Invalid DataCompressionType '%s'. Valid values are NONE and LZ4.", l.DataCompressionType)
	}
	fs.FileSystemTypeVersion = in.FileSystemTypeVersion
	switch {
	case fs.FileSystemTypeVersion == "" && d == Persistent2:
		fs.FileSystemTypeVersion = "2.12"
	case fs.FileSystemTypeVersion == "":
		fs.FileSystemTypeVersion = "2.10"
	case !slices.Contains(validVersion, fs.FileSystemTypeVersion):
		return nil, badRequest("Invalid FileSystemTypeVersion '%s'. Valid values are 2.10, 2.12 and 2.15.", in.FileSystemTypeVersion)
	case d == Persistent2 && fs.FileSystemTypeVersion == "2.10":
		return nil, badRequest("PERSISTENT_2 file systems need Lustre 2.12 or later.")
	}
	if l.EfaEnabled != nil && *l.EfaEnabled {
		if d != Persistent2 {
			return nil, badRequest("EFA is supported only for the PERSISTENT_2 deployment type.")
		}
		fs.Lustre.EfaEnabled = true
	}
	if mc := l.MetadataConfiguration; mc != nil {
		if d != Persistent2 {
			return nil, badRequest("MetadataConfiguration is supported only for the PERSISTENT_2 deployment type.")
		}
		if mc.Mode != "AUTOMATIC" && mc.Mode != "USER_PROVISIONED" {
			return nil, badRequest("Invalid metadata configuration mode '%s'. Valid values are AUTOMATIC and USER_PROVISIONED.", mc.Mode)
		}
		if (mc.Mode == "AUTOMATIC") != (mc.Iops == 0) {
			return nil, badRequest("Metadata Iops must be set with the USER_PROVISIONED mode and only then.")
		}
		c := *mc
		fs.Lustre.MetadataConfiguration = &c
	}
	if err := s.validateNetwork(in, fs); err != nil {
		return nil, err
	}
	if err := validateTags(in.Tags); err != nil {
		return nil, err
	}
	fs.Tags = slices.Clone(in.Tags)
	return fs, nil
}

func (s *Service) validateNetwork(in *CreateFileSystemInput, fs *FileSystem) error {
	if len(in.SubnetIDs) != 1 {
		return apierror.New(InvalidNetworkSettings, "Lustre file systems take exactly one subnet; %d were given.", len(in.SubnetIDs))
	}
	sub, ok := s.cfg.Network.Subnet(in.SubnetIDs[0])
	if !ok || !subnetIDRE.MatchString(in.SubnetIDs[0]) {
		return apierror.New(InvalidNetworkSettings, "The subnet ID '%s' does not exist.", in.SubnetIDs[0]).With("InvalidSubnetId", in.SubnetIDs[0])
	}
	if len(in.SecurityGroupIDs) > 50 {
		return badRequest("At most 50 security groups can be given.")
	}
	for _, g := range in.SecurityGroupIDs {
		if !sgIDRE.MatchString(g) || (g != s.cfg.Network.SecurityGroupID && s.cfg.SecurityGroupExists != nil && !s.cfg.SecurityGroupExists(g)) {
			return apierror.New(InvalidNetworkSettings, "The security group '%s' does not exist in VPC '%s'.", g, sub.VpcID).With("InvalidSecurityGroupId", g)
		}
	}
	fs.SubnetIDs = []string{sub.ID}
	fs.VpcID = sub.VpcID
	fs.SecurityGroupIDs = slices.Clone(in.SecurityGroupIDs)
	return nil
}

func validateTags(tags []Tag) error {
	if len(tags) > 50 {
		return badRequest("A resource can have at most 50 tags.")
	}
	seen := map[string]bool{}
	for _, t := range tags {
		if t.Key == "" || len(t.Key) > 128 || !tagKeyRE.MatchString(t.Key) || strings.HasPrefix(strings.ToLower(t.Key), "aws:") {
			return badRequest("Invalid tag key '%s'.", t.Key)
		}
		if len(t.Value) > 256 || !tagKeyRE.MatchString(t.Value) {
			return badRequest("Invalid tag value '%s'.", t.Value)
		}
		if seen[t.Key] {
			return badRequest("Duplicate tag key '%s'.", t.Key)
		}
		seen[t.Key] = true
	}
	return nil
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, ", ")
}

// CreateFileSystem validates a request, creates the file system's
// directory and records it as CREATING. A repeated request with the same
// ClientRequestToken returns the file system the first one made; the same
// token with other parameters is IncompatibleParameterError.
func (s *Service) CreateFileSystem(ctx context.Context, in CreateFileSystemInput) (*FileSystem, error) {
	// Empty lists are absent lists, as they are once stored.
	if len(in.SecurityGroupIDs) == 0 {
		in.SecurityGroupIDs = nil
	}
	if len(in.Tags) == 0 {
		in.Tags = nil
	}
	if len(in.SubnetIDs) == 0 {
		in.SubnetIDs = nil
	}
	fs, err := s.validate(&in)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.load(ctx); err != nil {
		return nil, err
	}
	if in.ClientRequestToken != "" {
		if rec, err := s.cfg.Store.Get(ctx, kindToken, in.ClientRequestToken); err == nil {
			var id string
			if err := json.Unmarshal(rec.Value, &id); err != nil {
				return nil, err
			}
			existing, err := s.FileSystem(ctx, id)
			if err != nil && !apierror.IsKind(err, FileSystemNotFound) {
				return nil, err
			}
			if existing != nil {
				if existing.Request != nil && reflect.DeepEqual(*existing.Request, in) {
					return existing, nil
				}
				return nil, apierror.New(IncompatibleParameterError,
					"The ClientRequestToken '%s' was already used with other parameters.", in.ClientRequestToken).With("Parameter", "ClientRequestToken")
			}
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	used, err := s.usedStorage(ctx)
	if err != nil {
		return nil, err
	}
	if used+fs.StorageCapacity > s.cfg.MaxStorageGiB {
		return nil, apierror.New(ServiceLimitExceeded,
			"Creating this file system would exceed the account's Lustre storage quota of %d GiB (%d GiB in use).", s.cfg.MaxStorageGiB, used).
			With("Limit", "TOTAL_STORAGE")
	}
	fs.ID = newID("fs")
	fs.ARN = s.ARN(fs.ID)
	fs.OwnerID = s.cfg.Account
	fs.CreatedAt = s.cfg.Now().UTC().Truncate(time.Millisecond)
	fs.Lifecycle = LifecycleCreating
	fs.DNSName = fmt.Sprintf("%s.fsx.%s.amazonaws.com", fs.ID, s.cfg.Region)
	fs.NetworkInterfaceIDs = []string{newID("eni")}
	fs.ClientRequestToken = in.ClientRequestToken
	fs.Lustre.MountName = "fsx"
	if fs.Lustre.DeploymentType != Scratch1 {
		fs.Lustre.MountName = mountName()
	}
	if fs.Lustre.WeeklyMaintenanceStartTime == "" {
		fs.Lustre.WeeklyMaintenanceStartTime = s.maintenanceWindow(fs.ID)
	}
	switch {
	case in.KmsKeyID != "":
		fs.KmsKeyID = in.KmsKeyID
	case fs.Lustre.DeploymentType == Persistent1 || fs.Lustre.DeploymentType == Persistent2:
		fs.KmsKeyID = s.defaultKMSKey()
	}
	req := in
	fs.Request = &req
	dir := s.Dir(fs.ID)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating the data directory of %s: %w", fs.ID, err)
	}
	ops := []store.Op{{Kind: KindFileSystem, Key: fs.ID, Value: marshal(fs), Create: true}}
	if in.ClientRequestToken != "" {
		ops = append(ops, store.Op{Kind: kindToken, Key: in.ClientRequestToken, Value: marshal(fs.ID)})
	}
	if _, err := s.cfg.Store.Apply(ctx, ops...); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("storing file system: %w", err)
	}
	s.log.Debug("Lustre file system created", "fileSystemId", fs.ID, "capacityGiB", fs.StorageCapacity, "deploymentType", fs.Lustre.DeploymentType)
	return fs, nil
}

// maintenanceWindow is the weekly window FSx picks when none is given;
// berth derives it from the id.
func (s *Service) maintenanceWindow(id string) string {
	h := sha256.Sum256([]byte(id))
	return fmt.Sprintf("%d:%02d:%02d", int(h[0])%7+1, int(h[1])%24, int(h[2])%2*30)
}

func (s *Service) defaultKMSKey() string {
	h := sha256.Sum256([]byte(s.cfg.Account + "/" + s.cfg.Region + "/aws/fsx"))
	x := hex.EncodeToString(h[:16])
	return fmt.Sprintf("arn:aws:kms:%s:%s:key/%s-%s-4%s-8%s-%s", s.cfg.Region, s.cfg.Account, x[0:8], x[8:12], x[13:16], x[17:20], x[20:32])
}

func marshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("fsx: encoding a record: %v", err))
	}
	return b
}

// lifecycle is what a stored state reports now.
func (s *Service) lifecycle(fs *FileSystem) {
	if fs.Lifecycle == LifecycleCreating && !s.cfg.Now().Before(fs.CreatedAt.Add(s.cfg.CreateDelay)) {
		fs.Lifecycle = LifecycleAvailable
	}
}

// idOf accepts a file system id or ARN.
func idOf(idOrARN string) string {
	if m := arnFSRE.FindStringSubmatch(idOrARN); m != nil {
		return m[1]
	}
	return idOrARN
}

func (s *Service) get(ctx context.Context, idOrARN string) (*FileSystem, uint64, error) {
	id := idOf(idOrARN)
	if !fsIDRE.MatchString(id) {
		return nil, 0, notFound(id)
	}
	fs, rev, err := store.Read[FileSystem](ctx, s.cfg.Store, KindFileSystem, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, 0, notFound(id)
	}
	if err != nil {
		return nil, 0, err
	}
	s.lifecycle(fs)
	return fs, rev, nil
}

// FileSystem returns one file system by id or ARN.
func (s *Service) FileSystem(ctx context.Context, idOrARN string) (*FileSystem, error) {
	fs, _, err := s.get(ctx, idOrARN)
	return fs, err
}

// FindByTag returns the file systems that carry a tag (the FSx CSI
// driver finds the file system of a volume by its CSIVolumeName tag).
func (s *Service) FindByTag(ctx context.Context, key, value string) ([]*FileSystem, error) {
	all, err := store.ReadAll[FileSystem](ctx, s.cfg.Store, KindFileSystem, "")
	if err != nil {
		return nil, err
	}
	all = slices.DeleteFunc(all, func(fs *FileSystem) bool {
		return !slices.Contains(fs.Tags, Tag{Key: key, Value: value})
	})
	for _, fs := range all {
		s.lifecycle(fs)
	}
	return all, nil
}

// DescribeFileSystems returns the named file systems (all must exist), or
// all of them a page at a time.
func (s *Service) DescribeFileSystems(ctx context.Context, ids []string, maxResults int, token string) ([]*FileSystem, string, error) {
	if maxResults < 0 {
		return nil, "", badRequest("MaxResults must be greater than 0.")
	}
	if len(ids) > 0 {
		out := make([]*FileSystem, 0, len(ids))
		for _, id := range ids {
			fs, err := s.FileSystem(ctx, id)
			if err != nil {
				return nil, "", err
			}
			out = append(out, fs)
		}
		return out, "", nil
	}
	all, err := store.ReadAll[FileSystem](ctx, s.cfg.Store, KindFileSystem, "")
	if err != nil {
		return nil, "", err
	}
	keys := make([]string, len(all))
	for i, fs := range all {
		keys[i] = fs.ID
		s.lifecycle(fs)
	}
	limit := maxResults
	if limit == 0 || limit > paging.DefaultLimit {
		limit = paging.DefaultLimit
	}
	after, err := paging.After(token)
	if err != nil {
		return nil, "", badRequest("The NextToken '%s' is invalid.", token)
	}
	page, next := paging.Page(keys, limit, after)
	out := make([]*FileSystem, 0, len(page))
	for _, fs := range all {
		if slices.Contains(page, fs.ID) {
			out = append(out, fs)
		}
	}
	return out, next, nil
}

// usedStorage is the storage capacity, in GiB, of every file system of
// the account: what counts against MaxStorageGiB.
func (s *Service) usedStorage(ctx context.Context) (int, error) {
	all, err := store.ReadAll[FileSystem](ctx, s.cfg.Store, KindFileSystem, "")
	if err != nil {
		return 0, err
	}
	used := 0
	for _, o := range all {
		used += o.StorageCapacity
	}
	return used, nil
}

// DeleteFileSystem deletes a file system and its data. It returns the
// file system as DELETING.
func (s *Service) DeleteFileSystem(ctx context.Context, idOrARN string) (*FileSystem, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.load(ctx); err != nil {
		return nil, err
	}
	fs, rev, err := s.get(ctx, idOrARN)
	if err != nil {
		return nil, err
	}
	if fs.Lifecycle != LifecycleDeleting {
		fs.Lifecycle = LifecycleDeleting
		if _, err := s.cfg.Store.Apply(ctx, store.Op{Kind: KindFileSystem, Key: fs.ID, Value: marshal(fs), IfRevision: rev}); err != nil {
			return nil, fmt.Errorf("marking %s deleting: %w", fs.ID, err)
		}
	}
	if err := s.finishDelete(ctx, fs); err != nil {
		return nil, err
	}
	return fs, nil
}

func (s *Service) finishDelete(ctx context.Context, fs *FileSystem) error {
	if err := os.RemoveAll(s.Dir(fs.ID)); err != nil {
		return fmt.Errorf("removing the data of %s: %w", fs.ID, err)
	}
	ops := []store.Op{{Kind: KindFileSystem, Key: fs.ID, Delete: true}}
	if fs.ClientRequestToken != "" {
		if rec, err := s.cfg.Store.Get(ctx, kindToken, fs.ClientRequestToken); err == nil && string(rec.Value) == string(marshal(fs.ID)) {
			ops = append(ops, store.Op{Kind: kindToken, Key: fs.ClientRequestToken, Delete: true})
		}
	}
	if _, err := s.cfg.Store.Apply(ctx, ops...); err != nil {
		return fmt.Errorf("removing the records of %s: %w", fs.ID, err)
	}
	s.log.Debug("Lustre file system deleted", "fileSystemId", fs.ID)
	return nil
}

// load, once per process, finishes deletions a crash interrupted and
// removes data directories that no record names. Called with s.mu held.
func (s *Service) load(ctx context.Context) error {
	if s.loaded {
		return nil
	}
	all, err := store.ReadAll[FileSystem](ctx, s.cfg.Store, KindFileSystem, "")
	if err != nil {
		return err
	}
	known := map[string]bool{}
	for _, fs := range all {
		known[fs.ID] = true
		if fs.Lifecycle == LifecycleDeleting {
			if err := s.finishDelete(ctx, fs); err != nil {
				return err
			}
		}
	}
	entries, err := os.ReadDir(s.cfg.Dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.IsDir() && fsIDRE.MatchString(e.Name()) && !known[e.Name()] {
			s.log.Info("removing the data of a Lustre file system that has no record", "fileSystemId", e.Name())
			if err := os.RemoveAll(filepath.Join(s.cfg.Dir, e.Name())); err != nil {
				return err
			}
		}
	}
	s.loaded = true
	return nil
}

// UpdateInput is an UpdateFileSystem request for Lustre: a larger
// storage capacity and maintenance settings.
type UpdateInput struct {
	StorageCapacity               int
	WeeklyMaintenanceStartTime    string
	DailyAutomaticBackupStartTime string
	AutomaticBackupRetentionDays  *int
	DataCompressionType           string
}

// UpdateFileSystem changes a file system. A storage capacity must be
// larger than the current one and valid for its configuration; SCRATCH_1
// file systems cannot grow.
func (s *Service) UpdateFileSystem(ctx context.Context, idOrARN string, in UpdateInput) (*FileSystem, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fs, rev, err := s.get(ctx, idOrARN)
	if err != nil {
		return nil, err
	}
	if fs.Lifecycle != LifecycleAvailable {
		return nil, badRequest("File system '%s' is %s; it can be updated only when AVAILABLE.", fs.ID, fs.Lifecycle)
	}
	l := &fs.Lustre
	persistent := l.DeploymentType == Persistent1 || l.DeploymentType == Persistent2
	if in.StorageCapacity != 0 && in.StorageCapacity != fs.StorageCapacity {
		if l.DeploymentType == Scratch1 {
			return nil, badRequest("The storage capacity of SCRATCH_1 file systems cannot be increased.")
		}
		if in.StorageCapacity < fs.StorageCapacity {
			return nil, badRequest("The new storage capacity (%d GiB) must be greater than the current one (%d GiB).", in.StorageCapacity, fs.StorageCapacity)
		}
		if err := ValidCapacity(in.StorageCapacity, l.DeploymentType, fs.StorageType, l.PerUnitStorageThroughput); err != nil {
			return nil, badRequest("%v", err)
		}
		used, err := s.usedStorage(ctx)
		if err != nil {
			return nil, err
		}
		if used-fs.StorageCapacity+in.StorageCapacity > s.cfg.MaxStorageGiB {
			return nil, apierror.New(ServiceLimitExceeded, "Increasing the storage capacity would exceed the account's Lustre storage quota of %d GiB.", s.cfg.MaxStorageGiB).
				With("Limit", "TOTAL_STORAGE")
		}
		fs.StorageCapacity = in.StorageCapacity
		fs.AdministrativeActions = append(fs.AdministrativeActions, AdministrativeAction{
			Type: "FILE_SYSTEM_UPDATE", Status: "COMPLETED", RequestTime: s.cfg.Now().UTC().Truncate(time.Millisecond), StorageCapacity: in.StorageCapacity,
		})
	}
	if in.WeeklyMaintenanceStartTime != "" {
		if !weeklyRE.MatchString(in.WeeklyMaintenanceStartTime) {
			return nil, badRequest("Invalid WeeklyMaintenanceStartTime '%s'; the format is d:HH:MM.", in.WeeklyMaintenanceStartTime)
		}
		l.WeeklyMaintenanceStartTime = in.WeeklyMaintenanceStartTime
	}
	if in.AutomaticBackupRetentionDays != nil {
		n := *in.AutomaticBackupRetentionDays
		if n < 0 || n > 90 || (n > 0 && !persistent) {
			return nil, badRequest("AutomaticBackupRetentionDays must be between 0 and 90, and 0 for scratch file systems.")
		}
		l.AutomaticBackupRetentionDays = n
	}
	if in.DailyAutomaticBackupStartTime != "" {
		if !dailyRE.MatchString(in.DailyAutomaticBackupStartTime) || l.AutomaticBackupRetentionDays == 0 {
			return nil, badRequest("Invalid DailyAutomaticBackupStartTime '%s'; the format is HH:MM, and automatic backups must be on.", in.DailyAutomaticBackupStartTime)
		}
		l.DailyAutomaticBackupStartTime = in.DailyAutomaticBackupStartTime
	}
	switch in.DataCompressionType {
	case "":
	case "NONE", "LZ4":
		l.DataCompressionType = in.DataCompressionType
	default:
		return nil, badRequest("Invalid DataCompressionType '%s'.", in.DataCompressionType)
	}
	if _, err := s.cfg.Store.Apply(ctx, store.Op{Kind: KindFileSystem, Key: fs.ID, Value: marshal(fs), IfRevision: rev}); err != nil {
		return nil, fmt.Errorf("updating %s: %w", fs.ID, err)
	}
	return fs, nil
}

// TagResource adds or replaces tags on a file system (by ARN).
func (s *Service) TagResource(ctx context.Context, arn string, tags []Tag) error {
	if len(tags) == 0 {
		return badRequest("Tags must contain at least one tag.")
	}
	if err := validateTags(tags); err != nil {
		return err
	}
	return s.changeTags(ctx, arn, func(cur []Tag) []Tag {
		for _, t := range tags {
			if i := slices.IndexFunc(cur, func(o Tag) bool { return o.Key == t.Key }); i >= 0 {
				cur[i].Value = t.Value
			} else {
				cur = append(cur, t)
			}
		}
		return cur
	})
}

// UntagResource removes tags by key.
func (s *Service) UntagResource(ctx context.Context, arn string, keys []string) error {
	return s.changeTags(ctx, arn, func(cur []Tag) []Tag {
		return slices.DeleteFunc(cur, func(t Tag) bool { return slices.Contains(keys, t.Key) })
	})
}

func (s *Service) changeTags(ctx context.Context, arn string, change func([]Tag) []Tag) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	fs, rev, err := s.byARN(ctx, arn)
	if err != nil {
		return err
	}
	fs.Tags = change(fs.Tags)
	if len(fs.Tags) > 50 {
		return badRequest("A resource can have at most 50 tags.")
	}
	_, err = s.cfg.Store.Apply(ctx, store.Op{Kind: KindFileSystem, Key: fs.ID, Value: marshal(fs), IfRevision: rev})
	return err
}

// ListTagsForResource returns the tags of a file system (by ARN).
func (s *Service) ListTagsForResource(ctx context.Context, arn string) ([]Tag, error) {
	fs, _, err := s.byARN(ctx, arn)
	if err != nil {
		return nil, err
	}
	return fs.Tags, nil
}

func (s *Service) byARN(ctx context.Context, arn string) (*FileSystem, uint64, error) {
	m := arnFSRE.FindStringSubmatch(arn)
	if m == nil {
		return nil, 0, apierror.New(NotServiceResourceError, "The resource ARN '%s' is not an FSx file system of this account.", arn).With("ResourceARN", arn)
	}
	fs, rev, err := s.get(ctx, m[1])
	if apierror.IsKind(err, FileSystemNotFound) {
		return nil, 0, apierror.New(ResourceNotFound, "The resource '%s' does not exist.", arn).With("ResourceARN", arn)
	}
	return fs, rev, err
}
