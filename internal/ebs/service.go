package ebs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/berthproject/berth/internal/apierror"
	"github.com/berthproject/berth/internal/compute"
	"github.com/berthproject/berth/internal/store"
	"github.com/berthproject/berth/internal/vpc"
)

// Store is what the service needs of berth's store.
type Store interface {
	Get(ctx context.Context, kind, key string) (store.Record, error)
	List(ctx context.Context, kind, prefix string) ([]store.Record, error)
	Apply(ctx context.Context, ops ...store.Op) (uint64, error)
}

// Instances finds the instances volumes attach to; *compute.Service is
// one.
type Instances interface {
	Instance(ctx context.Context, id string) (*compute.Instance, uint64, error)
}

var _ Instances = (*compute.Service)(nil)

// Config wires a Service.
type Config struct {
	Store Store
	// Network gives the Availability Zones volumes may live in.
	Network *vpc.Network
	// Instances holds the instances volumes attach to. Nil means there are
	// none: every instance ID is unknown.
	Instances Instances
	Account   string
	Region    string
	// DataDir holds the volumes' and snapshots' data (DATA/ebs).
	DataDir string
	// OptimizeDuration is how long a volume modification stays in the
	// optimizing state after its data has grown (default 0: it completes
	// at once; EC2 takes minutes to hours).
	OptimizeDuration time.Duration
	// ModificationsPerDay bounds the modifications of one volume in 24
	// hours (default 4, EC2's rule since 2025; negative: no bound).
	ModificationsPerDay int
	// ModificationQuotaGiB bounds, per volume type, the sum of the target
	// sizes of the modifications in progress (default 500 TiB, EC2's
	// default "Storage modifications" quota).
	ModificationQuotaGiB int
	Now                  func() time.Time
	Logger               *slog.Logger
}

// Service keeps volumes and snapshots and their data.
type Service struct {
	cfg   Config
	files layout
	log   *slog.Logger
	// mu serializes the operations whose checks span several records (the
	// attachments of an instance, client tokens, the modification quota):
	// what they checked must still hold when their write commits. One
	// process owns a data directory, so a process-wide lock is enough.
	mu sync.Mutex
	// busyMu guards busy: the volumes and snapshots whose data an
	// operation of this process is writing, which Reconcile leaves alone.
	busyMu sync.Mutex
	busy   map[string]bool
}

// New checks cfg, fills its defaults, creates the data directories and
// returns a Service. Call Reconcile before serving requests.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Network == nil {
		return nil, errors.New("ebs: Store and Network are required")
	}
	if cfg.Account == "" || cfg.Region == "" {
		return nil, errors.New("ebs: Account and Region are required")
	}
	if cfg.DataDir == "" {
		return nil, errors.New("ebs: DataDir is required")
	}
	if cfg.OptimizeDuration < 0 {
		return nil, fmt.Errorf("ebs: OptimizeDuration %s is negative", cfg.OptimizeDuration)
	}
	if cfg.ModificationsPerDay == 0 {
		cfg.ModificationsPerDay = 4
	}
	if cfg.ModificationQuotaGiB <= 0 {
		cfg.ModificationQuotaGiB = 500 << 10
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Service{cfg: cfg, files: layout{dir: cfg.DataDir}, log: cfg.Logger, busy: map[string]bool{}}
	for _, d := range []string{s.files.volumes(), s.files.snapshots()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("ebs: creating %s: %w", d, err)
		}
	}
	return s, nil
}

// Region returns the service's region.
func (s *Service) Region() string { return s.cfg.Region }

// Account returns the account that owns the volumes.
func (s *Service) Account() string { return s.cfg.Account }

// Now returns the service's clock reading.
func (s *Service) Now() time.Time { return s.cfg.Now() }

// ImagePath is the file holding a volume's blocks.
func (s *Service) ImagePath(volumeID string) string { return s.files.volumeImage(volumeID) }

// FilesPath is the directory holding the files of a volume whose
// filesystem a node emulates (see internal/csi/ebs). Snapshots and clones
// copy it with the image.
func (s *Service) FilesPath(volumeID string) string { return s.files.volumeFS(volumeID) }

// DefaultKMSKeyID is the ARN of the account's AWS managed key for EBS
// (alias/aws/ebs), which encrypted volumes get when they name no key.
func (s *Service) DefaultKMSKeyID() string {
	sum := sha256.Sum256([]byte(s.cfg.Account + "/" + s.cfg.Region + "/alias/aws/ebs"))
	h := hex.EncodeToString(sum[:16])
	return fmt.Sprintf("arn:aws:kms:%s:%s:key/%s-%s-%s-%s-%s", s.cfg.Region, s.cfg.Account, h[:8], h[8:12], h[12:16], h[16:20], h[20:32])
}

func (s *Service) markBusy(id string) {
	s.busyMu.Lock()
	s.busy[id] = true
	s.busyMu.Unlock()
}

func (s *Service) unmarkBusy(id string) {
	s.busyMu.Lock()
	delete(s.busy, id)
	s.busyMu.Unlock()
}

func (s *Service) isBusy(id string) bool {
	s.busyMu.Lock()
	defer s.busyMu.Unlock()
	return s.busy[id]
}

// Volume returns one volume.
func (s *Service) Volume(ctx context.Context, id string) (*Volume, error) {
	v, _, err := s.volume(ctx, id)
	return v, err
}

func (s *Service) volume(ctx context.Context, id string) (*Volume, uint64, error) {
	if !ValidVolumeID(id) {
		return nil, 0, errorf(VolumeMalformed, "Invalid id: \"%s\" (expecting \"vol-...\")", id)
	}
	v, rev, err := store.Read[Volume](ctx, s.cfg.Store, KindVolume, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, 0, volumeNotFound(id)
	}
	return v, rev, err
}

// Volumes returns every volume, by creation time then id.
func (s *Service) Volumes(ctx context.Context) ([]*Volume, error) {
	out, err := store.ReadAll[Volume](ctx, s.cfg.Store, KindVolume, "")
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(out, func(a, b *Volume) int {
		if c := a.CreateTime.Compare(b.CreateTime); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// mutateVolume reads a volume, applies fn and writes it back if nothing
// changed it meanwhile, retrying on conflicts.
func (s *Service) mutateVolume(ctx context.Context, id string, fn func(v *Volume) error) (*Volume, error) {
	get := func(ctx context.Context) (*Volume, uint64, error) { return s.volume(ctx, id) }
	v, err := store.Mutate(ctx, s.cfg.Store.Apply, KindVolume, id, get, func(v *Volume) ([]store.Op, error) { return nil, fn(v) })
	if errors.Is(err, store.ErrNotFound) {
		return nil, volumeNotFound(id)
	}
	if err != nil {
		if _, ok := apierror.As(err); !ok {
			return nil, fmt.Errorf("writing volume %s: %w", id, err)
		}
		return nil, err
	}
	return v, nil
}

// CreateVolumeInput is a CreateVolume request.
type CreateVolumeInput struct {
	// AZ or AZID names the zone; exactly one of them (a clone takes its
	// source's zone).
	AZ, AZID string
	// SizeGiB may be 0 for a volume made from a snapshot: the snapshot's
	// size.
	SizeGiB int
	// Type defaults to gp2.
	Type       string
	IOPS       int
	Throughput int
	Encrypted  bool
	KMSKeyID   string
	SnapshotID string
	// SourceVolumeID asks for a copy of another volume (EC2's
	// CopyVolumes).
	SourceVolumeID     string
	MultiAttach        bool
	Tags               map[string]string
	ClientToken        string
	InitializationRate int
}

// CreateVolume validates a request, records the volume as creating,
// makes its data (a sparse file of its size, or a copy of its snapshot or
// source volume) and records it available. A repeated request with the
// same client token returns the volume the first one created. A failure
// to make the data removes the record again.
func (s *Service) CreateVolume(ctx context.Context, in CreateVolumeInput) (*Volume, error) {
	v, created, err := s.recordVolume(ctx, in)
	if err != nil || !created {
		return v, err
	}
	s.markBusy(v.ID)
	defer s.unmarkBusy(v.ID)
	if err := s.makeVolumeData(v); err != nil {
		s.log.Error("making volume data failed; removing the volume", "volume", v.ID, "err", err)
		if _, derr := s.cfg.Store.Apply(ctx, store.Op{Kind: KindVolume, Key: v.ID, Delete: true}); derr != nil {
			s.log.Error("removing volume record", "volume", v.ID, "err", derr)
		}
		if rerr := removeData(s.files.volumeImage(v.ID), s.files.volumeFS(v.ID)); rerr != nil {
			s.log.Error("removing volume data", "volume", v.ID, "err", rerr)
		}
		if e := tooLarge(err, v.SizeGiB); e != err {
			return nil, e
		}
		return nil, fmt.Errorf("making the data of volume %s: %w", v.ID, err)
	}
	return s.mutateVolume(ctx, v.ID, func(v *Volume) error {
		if v.State == StateCreating {
			v.State = StateAvailable
		}
		return nil
	})
}

// recordVolume validates a request and stores the new volume as
// creating. created is false when a client token found an earlier
// volume, which is returned.
func (s *Service) recordVolume(ctx context.Context, in CreateVolumeInput) (v *Volume, created bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if in.ClientToken != "" {
		all, err := s.Volumes(ctx)
		if err != nil {
			return nil, false, err
		}
		for _, o := range all {
			if o.ClientToken != in.ClientToken {
				continue
			}
			if !sameRequest(o, in) {
				return nil, false, errorf(IdempotentParameterMismatch,
					"The client token you have provided is associated with a resource that is already deleted or was created with different parameters. Please use a different client token.")
			}
			return o, false, nil
		}
	}
	v, err = s.build(ctx, in)
	if err != nil {
		return nil, false, err
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, false, err
	}
	if _, err := s.cfg.Store.Apply(ctx, store.Op{Kind: KindVolume, Key: v.ID, Value: raw, Create: true}); err != nil {
		return nil, false, fmt.Errorf("storing volume %s: %w", v.ID, err)
	}
	return v, true, nil
}

// sameRequest reports whether a stored volume answers a request again.
func sameRequest(v *Volume, in CreateVolumeInput) bool {
	t := in.Type
	if t == "" {
		t = DefaultVolumeType
	}
	return v.Type == t && (in.SizeGiB == 0 || v.SizeGiB == in.SizeGiB) &&
		(in.AZ == "" || v.AZ == in.AZ) && (in.AZID == "" || v.AZID == in.AZID) &&
		v.SnapshotID == in.SnapshotID && v.SourceVolumeID == in.SourceVolumeID
}

// build validates a request and returns the record it asks for.
func (s *Service) build(ctx context.Context, in CreateVolumeInput) (*Volume, error) {
	v := &Volume{
		ID:                 newID("vol"),
		State:              StateCreating,
		CreateTime:         s.cfg.Now().UTC().Truncate(time.Millisecond),
		SnapshotID:         in.SnapshotID,
		SourceVolumeID:     in.SourceVolumeID,
		ClientToken:        in.ClientToken,
		InitializationRate: in.InitializationRate,
		Encrypted:          in.Encrypted,
	}
	if in.SnapshotID != "" && in.SourceVolumeID != "" {
		return nil, errorf(InvalidParameterCombination, "The parameters snapshotId and sourceVolumeId cannot be used together.")
	}
	size := in.SizeGiB
	switch {
	case in.SourceVolumeID != "":
		src, err := s.Volume(ctx, in.SourceVolumeID)
		if err != nil {
			return nil, err
		}
		if src.State != StateAvailable && src.State != StateInUse {
			return nil, errorf(IncorrectState, "The volume '%s' is not in the 'available' or 'in-use' state.", src.ID)
		}
		if in.AZ != "" && in.AZ != src.AZ || in.AZID != "" && in.AZID != src.AZID {
			return nil, errorf(InvalidParameterValue, "The volume '%s' is in %s; a copy is made in the same Availability Zone.", src.ID, src.AZ)
		}
		v.AZ, v.AZID = src.AZ, src.AZID
		if size == 0 {
			size = src.SizeGiB
		}
		if size < src.SizeGiB {
			return nil, errorf(InvalidParameterValue, "Volume of %dGiB is smaller than the source volume '%s', expect size >= %dGiB", size, src.ID, src.SizeGiB)
		}
		if src.Encrypted {
			v.Encrypted, v.KMSKeyID = true, src.KMSKeyID
		}
	default:
		az, azID, err := s.zone(in.AZ, in.AZID)
		if err != nil {
			return nil, err
		}
		v.AZ, v.AZID = az, azID
	}
	if in.SnapshotID != "" {
		snap, err := s.Snapshot(ctx, in.SnapshotID)
		if err != nil {
			return nil, err
		}
		if snap.State != SnapCompleted {
			return nil, errorf(IncorrectState, "Snapshot is in invalid state - %s", snap.State)
		}
		if size == 0 {
			size = snap.VolumeSizeGiB
		}
		if size < snap.VolumeSizeGiB {
			return nil, errorf(InvalidParameterValue, "Volume of %dGiB is smaller than snapshot '%s', expect size >= %dGiB", size, snap.ID, snap.VolumeSizeGiB)
		}
		if snap.Encrypted {
			v.Encrypted, v.KMSKeyID = true, snap.KMSKeyID
		}
	} else if in.InitializationRate != 0 {
		return nil, errorf(InvalidParameterCombination, "The parameter volumeInitializationRate is only supported for volumes created from snapshots.")
	}
	if in.InitializationRate != 0 && (in.InitializationRate < 100 || in.InitializationRate > 300) {
		return nil, errorf(InvalidParameterValue, "Volume initialization rate of %d MiB/s is not valid; it must be between 100 and 300 MiB/s.", in.InitializationRate)
	}
	if size == 0 {
		return nil, errorf(MissingParameter, "The request must contain the parameter size or snapshotId")
	}
	v.Type = in.Type
	if v.Type == "" {
		v.Type = DefaultVolumeType
	}
	l, err := lookupType(v.Type)
	if err != nil {
		return nil, err
	}
	p, err := l.resolve(Performance{SizeGiB: size, IOPS: in.IOPS, Throughput: in.Throughput, MultiAttach: in.MultiAttach})
	if err != nil {
		return nil, err
	}
	v.SizeGiB, v.IOPS, v.Throughput, v.MultiAttach = p.SizeGiB, p.IOPS, p.Throughput, p.MultiAttach
	if in.KMSKeyID != "" {
		if !in.Encrypted && !v.Encrypted {
			return nil, errorf(InvalidParameterDependency, "The parameter KmsKeyId requires the parameter Encrypted to be set.")
		}
		key, err := s.kmsKey(in.KMSKeyID)
		if err != nil {
			return nil, err
		}
		v.KMSKeyID = key
	}
	if v.Encrypted && v.KMSKeyID == "" {
		v.KMSKeyID = s.DefaultKMSKeyID()
	}
	if err := ValidateTags(in.Tags); err != nil {
		return nil, err
	}
	if len(in.Tags) > 0 {
		v.Tags = make(map[string]string, len(in.Tags))
		for k, val := range in.Tags {
			v.Tags[k] = val
		}
	}
	return v, nil
}

// zone resolves a zone given by name or by ID.
func (s *Service) zone(az, azID string) (string, string, error) {
	switch {
	case az == "" && azID == "":
		return "", "", errorf(MissingParameter, "The request must contain the parameter AvailabilityZone or AvailabilityZoneId")
	case az != "" && azID != "":
		return "", "", errorf(InvalidParameterCombination, "Either AvailabilityZone or AvailabilityZoneId must be specified, but not both.")
	}
	for _, sn := range s.cfg.Network.Subnets {
		if sn.AZ == az || sn.AZID == azID {
			return sn.AZ, sn.AZID, nil
		}
	}
	if az != "" {
		return "", "", errorf(ZoneNotFound, "The zone '%s' does not exist.", az)
	}
	return "", "", errorf(ZoneNotFound, "The zone ID '%s' does not exist.", azID)
}

// Zones lists the Availability Zones volumes may be created in.
func (s *Service) Zones() []string {
	var out []string
	for _, sn := range s.cfg.Network.Subnets {
		if !slices.Contains(out, sn.AZ) {
			out = append(out, sn.AZ)
		}
	}
	return out
}

// kmsKey turns a key ID, alias, key ARN or alias ARN into an ARN.
func (s *Service) kmsKey(id string) (string, error) {
	prefix := fmt.Sprintf("arn:aws:kms:%s:%s:", s.cfg.Region, s.cfg.Account)
	switch {
	case strings.HasPrefix(id, "arn:aws:kms:"):
		rest := id[strings.LastIndex(id, ":")+1:]
		if strings.HasPrefix(rest, "key/") || strings.HasPrefix(rest, "alias/") {
			return id, nil
		}
	case strings.HasPrefix(id, "alias/") && len(id) > len("alias/"):
		return prefix + id, nil
	case kmsKeyIDRE.MatchString(id):
		return prefix + "key/" + id, nil
	}
	return "", errorf(InvalidKMSKey, "Key '%s' does not exist", id)
}

// makeVolumeData writes a new volume's data: a copy of its source, or an
// empty sparse file.
func (s *Service) makeVolumeData(v *Volume) error {
	img, dir := s.files.volumeImage(v.ID), s.files.volumeFS(v.ID)
	if err := removeData(img, dir); err != nil {
		return err
	}
	var srcImg, srcDir string
	switch {
	case v.SnapshotID != "":
		srcImg, srcDir = s.files.snapshotImage(v.SnapshotID), s.files.snapshotFS(v.SnapshotID)
	case v.SourceVolumeID != "":
		srcImg, srcDir = s.files.volumeImage(v.SourceVolumeID), s.files.volumeFS(v.SourceVolumeID)
	default:
		return createSparse(img, v.SizeBytes())
	}
	if err := copyTree(dir, srcDir); err != nil {
		return err
	}
	_, err := copySparse(img, srcImg, v.SizeBytes())
	return err
}

// DeleteVolume deletes a volume that is not attached: its record, then
// its data. Deleting a volume that is gone already is InvalidVolume.NotFound.
func (s *Service) DeleteVolume(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, rev, err := s.volume(ctx, id)
	if err != nil {
		return err
	}
	if len(v.Attachments) > 0 {
		return errorf(VolumeInUse, "Volume %s is currently attached to %s", id, v.Attachments[0].InstanceID)
	}
	if v.State == StateCreating || s.isBusy(id) {
		return errorf(IncorrectState, "The volume '%s' is in the '%s' state.", id, v.State)
	}
	if _, err := s.cfg.Store.Apply(ctx, store.Op{Kind: KindVolume, Key: id, Delete: true, IfRevision: rev}); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return volumeNotFound(id)
		}
		return fmt.Errorf("deleting volume %s: %w", id, err)
	}
	// A crash before the files are gone leaves them to Reconcile.
	if err := removeData(s.files.volumeImage(id), s.files.volumeFS(id)); err != nil {
		s.log.Error("removing the data of a deleted volume", "volume", id, "err", err)
	}
	return nil
}
