package efs

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/berthproject/berth/internal/apierror"
	"github.com/berthproject/berth/internal/compute/ipam"
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
	// (DATA/efs). Required.
	Dir     string
	Account string
	Region  string
	// IPs gives mount targets their addresses. It should be the VPC-wide
	// allocator instances and pods use; nil means an allocator of the
	// service's own.
	IPs ipam.Allocator
	// SecurityGroupExists tells whether a security group id names a group
	// of the VPC, for mount targets. The VPC's default group always
	// exists; nil accepts every well-formed id.
	SecurityGroupExists func(id string) bool
	// MaxFileSystems is the quota of file systems per account (EFS: 1,000).
	MaxFileSystems int
	// MaxAccessPointsPerFileSystem is the access point quota (EFS: 10,000).
	MaxAccessPointsPerFileSystem int
	// CreateDelay is how long new resources stay "creating"; zero means
	// they are available at the next read.
	CreateDelay time.Duration
	// SizeRefresh is how long a metered size is reused before the data is
	// walked again (default 30 s; EFS meters about every hour).
	SizeRefresh time.Duration
	Now         func() time.Time
	Logger      *slog.Logger
}

// Service implements the EFS operations.
type Service struct {
	cfg Config
	log *slog.Logger
	// mu serializes the writes: what creates and deletes check (quotas,
	// one mount target per zone, no mount targets left) must still hold
	// when they commit. One process owns a data directory.
	mu     sync.Mutex
	loaded bool

	sizeMu sync.Mutex
	sizes  map[string]Size
}

// New checks cfg, fills its defaults and returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Network == nil {
		return nil, errors.New("efs: Store and Network are required")
	}
	if cfg.Dir == "" {
		return nil, errors.New("efs: Dir is required")
	}
	if len(cfg.Account) != 12 || strings.Trim(cfg.Account, "0123456789") != "" || cfg.Region == "" {
		return nil, fmt.Errorf("efs: Account (%q) must be 12 digits and Region is required", cfg.Account)
	}
	abs, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("efs: %w", err)
	}
	cfg.Dir = abs
	if cfg.IPs == nil {
		cfg.IPs = ipam.NewSubnetAllocator()
	}
	if cfg.MaxFileSystems == 0 {
		cfg.MaxFileSystems = 1000
	}
	if cfg.MaxAccessPointsPerFileSystem == 0 {
		cfg.MaxAccessPointsPerFileSystem = 10000
	}
	if cfg.MaxFileSystems < 0 || cfg.MaxAccessPointsPerFileSystem < 0 || cfg.CreateDelay < 0 {
		return nil, errors.New("efs: quotas and CreateDelay must not be negative")
	}
	if cfg.SizeRefresh == 0 {
		cfg.SizeRefresh = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("efs: creating %s: %w", cfg.Dir, err)
	}
	return &Service{cfg: cfg, log: cfg.Logger, sizes: map[string]Size{}}, nil
}

// Region returns the service's region.
func (s *Service) Region() string { return s.cfg.Region }

// Account returns the account that owns every resource.
func (s *Service) Account() string { return s.cfg.Account }

// Network returns the VPC mount targets live in.
func (s *Service) Network() *vpc.Network { return s.cfg.Network }

// Dir returns the directory that holds a file system's data. It does not
// check that the file system exists.
func (s *Service) Dir(fileSystemID string) string {
	return filepath.Join(s.cfg.Dir, fileSystemID)
}

// newID returns prefix-17 hex digits, random.
func newID(prefix string) string {
	var b [9]byte
	rand.Read(b[:])
	return prefix + "-" + hex.EncodeToString(b[:])[:17]
}

var (
	fileSystemIDRE  = regexp.MustCompile(`^fs-[0-9a-f]{8,40}$`)
	accessPointIDRE = regexp.MustCompile(`^fsap-[0-9a-f]{8,40}$`)
	mountTargetIDRE = regexp.MustCompile(`^fsmt-[0-9a-f]{8,40}$`)
	arnRE           = regexp.MustCompile(`^arn:aws[-a-z]*:elasticfilesystem:[0-9a-z-]+:[0-9]{12}:(file-system|access-point)/(.+)$`)
)

// resourceID returns the id an id or ARN names, checked against re, and
// whether it was well formed.
func resourceID(idOrARN string, re *regexp.Regexp) (string, bool) {
	if m := arnRE.FindStringSubmatch(idOrARN); m != nil {
		idOrARN = m[2]
	}
	return idOrARN, re.MatchString(idOrARN)
}

// FileSystemARN returns the ARN of a file system.
func (s *Service) FileSystemARN(id string) string {
	return fmt.Sprintf("arn:aws:elasticfilesystem:%s:%s:file-system/%s", s.cfg.Region, s.cfg.Account, id)
}

// AccessPointARN returns the ARN of an access point.
func (s *Service) AccessPointARN(id string) string {
	return fmt.Sprintf("arn:aws:elasticfilesystem:%s:%s:access-point/%s", s.cfg.Region, s.cfg.Account, id)
}

// defaultKMSKey is the ARN of the account's AWS managed key for EFS
// (alias/aws/elasticfilesystem), stable per account and region.
func (s *Service) defaultKMSKey() string {
	h := sha256.Sum256([]byte(s.cfg.Account + "/" + s.cfg.Region + "/aws/elasticfilesystem"))
	x := hex.EncodeToString(h[:16])
	return fmt.Sprintf("arn:aws:kms:%s:%s:key/%s-%s-4%s-8%s-%s", s.cfg.Region, s.cfg.Account, x[0:8], x[8:12], x[13:16], x[17:20], x[20:32])
}

// state is what a record in stored state st reports now.
func (s *Service) state(st string, created time.Time) string {
	if st == StateCreating && !s.cfg.Now().Before(created.Add(s.cfg.CreateDelay)) {
		return StateAvailable
	}
	return st
}

// load, once per process, finishes deletions a crash interrupted,
// removes data directories no record names, and reserves the addresses
// of the stored mount targets. Called with s.mu held.
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
		if fs.State == StateDeleting {
			if err := s.finishDelete(ctx, fs); err != nil {
				return err
			}
		}
	}
	entries, err := os.ReadDir(s.cfg.Dir)
	if err != nil {
		return fmt.Errorf("reading %s: %w", s.cfg.Dir, err)
	}
	for _, e := range entries {
		if e.IsDir() && fileSystemIDRE.MatchString(e.Name()) && !known[e.Name()] {
			s.log.Info("removing the data of a file system that has no record", "fileSystemId", e.Name())
			if err := os.RemoveAll(filepath.Join(s.cfg.Dir, e.Name())); err != nil {
				return fmt.Errorf("removing orphaned file system data: %w", err)
			}
		}
	}
	mts, err := store.ReadAll[MountTarget](ctx, s.cfg.Store, KindMountTarget, "")
	if err != nil {
		return err
	}
	for _, mt := range mts {
		if a, err := netip.ParseAddr(mt.IPAddress); err == nil {
			s.cfg.IPs.Reserve(mountTargetOwner(mt.ID), a)
		}
	}
	s.loaded = true
	return nil
}

func mountTargetOwner(id string) string { return "efs-mount-target/" + id }

func marshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("efs: encoding a record: %v", err)) // records are plain data
	}
	return b
}

// storeErr wraps a store failure; apierror values pass through.
func storeErr(what string, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := apierror.As(err); ok {
		return err
	}
	return fmt.Errorf("%s: %w", what, err)
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// kmsKeyRE is EFS's KmsKeyId pattern: a key id, a multi-Region key id,
// an alias, or the ARN of a key or an alias.
var kmsKeyRE = regexp.MustCompile(`^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32}|alias/[a-zA-Z0-9/_-]+|(arn:aws[-a-z]*:kms:[a-z0-9-]+:\d{12}:((key/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})|(key/mrk-[0-9a-f]{32})|(alias/[a-zA-Z0-9/_-]+))))$`)
