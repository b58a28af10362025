package ebs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/berthproject/berth/internal/apierror"
	"github.com/berthproject/berth/internal/store"
)

// maxDescriptionLength is EC2's limit on snapshot descriptions.
const maxDescriptionLength = 255

// Snapshot returns one snapshot.
func (s *Service) Snapshot(ctx context.Context, id string) (*Snapshot, error) {
	snap, _, err := s.snapshot(ctx, id)
	return snap, err
}

func (s *Service) snapshot(ctx context.Context, id string) (*Snapshot, uint64, error) {
	if !ValidSnapshotID(id) {
		return nil, 0, errorf(SnapshotMalformed, "Invalid id: \"%s\" (expecting \"snap-...\")", id)
	}
	snap, rev, err := store.Read[Snapshot](ctx, s.cfg.Store, KindSnapshot, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, 0, snapshotNotFound(id)
	}
	return snap, rev, err
}

// Snapshots returns every snapshot, by start time then id.
func (s *Service) Snapshots(ctx context.Context) ([]*Snapshot, error) {
	out, err := store.ReadAll[Snapshot](ctx, s.cfg.Store, KindSnapshot, "")
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(out, func(a, b *Snapshot) int {
		if c := a.StartTime.Compare(b.StartTime); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

func (s *Service) mutateSnapshot(ctx context.Context, id string, fn func(*Snapshot) error) (*Snapshot, error) {
	get := func(ctx context.Context) (*Snapshot, uint64, error) { return s.snapshot(ctx, id) }
	snap, err := store.Mutate(ctx, s.cfg.Store.Apply, KindSnapshot, id, get, func(sn *Snapshot) ([]store.Op, error) { return nil, fn(sn) })
	if errors.Is(err, store.ErrNotFound) {
		return nil, snapshotNotFound(id)
	}
	if err != nil {
		if _, ok := apierror.As(err); !ok {
			return nil, fmt.Errorf("writing snapshot %s: %w", id, err)
		}
		return nil, err
	}
	return snap, nil
}

// CreateSnapshotInput is a CreateSnapshot request.
type CreateSnapshotInput struct {
	VolumeID    string
	Description string
	Tags        map[string]string
}

// CreateSnapshot records a snapshot of a volume as pending, copies the
// volume's data (keeping its holes) and records it completed. The answer
// is the snapshot as EC2 answers it (pending); read it again for its
// state. A copy that fails leaves the snapshot in the error state.
func (s *Service) CreateSnapshot(ctx context.Context, in CreateSnapshotInput) (*Snapshot, error) {
	v, err := s.Volume(ctx, in.VolumeID)
	if err != nil {
		return nil, err
	}
	if v.State != StateAvailable && v.State != StateInUse {
		return nil, errorf(IncorrectState, "The volume '%s' is in the '%s' state.", v.ID, v.State)
	}
	if len(in.Description) > maxDescriptionLength {
		return nil, errorf(InvalidParameterValue, "Value for parameter Description is too long; the maximum length is %d.", maxDescriptionLength)
	}
	if err := ValidateTags(in.Tags); err != nil {
		return nil, err
	}
	snap := &Snapshot{
		ID:            newID("snap"),
		VolumeID:      v.ID,
		VolumeSizeGiB: v.SizeGiB,
		State:         SnapPending,
		StartTime:     s.cfg.Now().UTC().Truncate(time.Millisecond),
		Description:   in.Description,
		Encrypted:     v.Encrypted,
		KMSKeyID:      v.KMSKeyID,
		AZ:            v.AZ,
	}
	if len(in.Tags) > 0 {
		snap.Tags = maps.Clone(in.Tags)
	}
	raw, err := json.Marshal(snap)
	if err != nil {
		return nil, err
	}
	if _, err := s.cfg.Store.Apply(ctx, store.Op{Kind: KindSnapshot, Key: snap.ID, Value: raw, Create: true}); err != nil {
		return nil, fmt.Errorf("storing snapshot %s: %w", snap.ID, err)
	}
	answer := *snap
	s.markBusy(snap.ID)
	defer s.unmarkBusy(snap.ID)
	if err := s.copySnapshotData(ctx, snap.ID); err != nil {
		return nil, err
	}
	return &answer, nil
}

// copySnapshotData copies a pending snapshot's volume into it and marks
// it completed, or error when the volume or its data are gone.
func (s *Service) copySnapshotData(ctx context.Context, id string) error {
	snap, err := s.Snapshot(ctx, id)
	if err != nil {
		return err
	}
	if snap.State != SnapPending {
		return nil
	}
	img, dir := s.files.snapshotImage(id), s.files.snapshotFS(id)
	err = copyTree(dir, s.files.volumeFS(snap.VolumeID))
	var n int64
	if err == nil {
		n, err = copySparse(img, s.files.volumeImage(snap.VolumeID), 0)
	}
	if err != nil {
		s.log.Error("copying snapshot data failed", "snapshot", id, "volume", snap.VolumeID, "err", err)
		if rerr := removeData(img, dir); rerr != nil {
			s.log.Error("removing snapshot data", "snapshot", id, "err", rerr)
		}
		_, werr := s.mutateSnapshot(ctx, id, func(sn *Snapshot) error {
			sn.State, sn.StateMessage = SnapError, "The volume's data could not be copied."
			return nil
		})
		return errors.Join(fmt.Errorf("copying the data of snapshot %s: %w", id, err), werr)
	}
	_, err = s.mutateSnapshot(ctx, id, func(sn *Snapshot) error {
		sn.State, sn.DataBytes = SnapCompleted, n
		sn.CompletionTime = s.cfg.Now().UTC().Truncate(time.Millisecond)
		return nil
	})
	return err
}

// DeleteSnapshot deletes a snapshot: its record, then its data. Volumes
// made from it keep their own copies.
func (s *Service) DeleteSnapshot(ctx context.Context, id string) error {
	if _, _, err := s.snapshot(ctx, id); err != nil {
		return err
	}
	if s.isBusy(id) {
		return errorf(IncorrectState, "The snapshot '%s' is being created.", id)
	}
	if _, err := s.cfg.Store.Apply(ctx, store.Op{Kind: KindSnapshot, Key: id, Delete: true}); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return snapshotNotFound(id)
		}
		return fmt.Errorf("deleting snapshot %s: %w", id, err)
	}
	if err := removeData(s.files.snapshotImage(id), s.files.snapshotFS(id)); err != nil {
		s.log.Error("removing the data of a deleted snapshot", "snapshot", id, "err", err)
	}
	return nil
}
