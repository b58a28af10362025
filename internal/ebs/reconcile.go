package ebs

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"

	"github.com/berthproject/berth/internal/compute"
	"github.com/berthproject/berth/internal/store"
)

// Reconcile brings records and data back in line after a crash, and is
// safe to run at any time (operations in flight in this process are left
// alone):
//   - a volume still creating gets its data made again and becomes
//     available, or goes to the error state when its source is gone;
//   - a modification still modifying grows the data and applies;
//   - a snapshot still pending copies its volume again, or goes to the
//     error state when the volume is gone;
//   - attachments to instances that are gone or terminated are removed
//     (deleteOnTermination volumes deleted), as DetachAll would have;
//   - files that no record names, and unfinished temporary copies, are
//     removed.
func (s *Service) Reconcile(ctx context.Context) error {
	var errs []error
	vols, err := s.Volumes(ctx)
	if err != nil {
		return err
	}
	snaps, err := s.Snapshots(ctx)
	if err != nil {
		return err
	}
	// Snapshots first: a volume being created may copy one.
	for _, snap := range snaps {
		if snap.State == SnapPending && !s.isBusy(snap.ID) {
			errs = append(errs, s.copySnapshotData(ctx, snap.ID))
		}
	}
	gone := map[string]bool{}
	for _, v := range vols {
		if s.isBusy(v.ID) {
			continue
		}
		switch {
		case v.State == StateCreating:
			errs = append(errs, s.finishCreate(ctx, v))
		case v.Modification != nil && v.Modification.Phase == ModModifying:
			errs = append(errs, s.finishModification(ctx, v.ID))
		}
		for _, a := range v.Attachments {
			if _, ok := gone[a.InstanceID]; !ok {
				gone[a.InstanceID] = s.instanceGone(ctx, a.InstanceID)
			}
		}
	}
	for id, g := range gone {
		if g {
			s.log.Info("detaching volumes from an instance that is gone", "instance", id)
			errs = append(errs, s.DetachAll(ctx, id))
		}
	}
	errs = append(errs, s.sweep(ctx))
	return errors.Join(errs...)
}

// instanceGone reports whether an instance is known to be gone or
// terminated. Errors other than not found count as not gone.
func (s *Service) instanceGone(ctx context.Context, id string) bool {
	if s.cfg.Instances == nil {
		return false
	}
	in, err := s.instance(ctx, id)
	if IsNotFound(err) {
		return true
	}
	return err == nil && (in.State == compute.StateTerminated || in.State == compute.StateShuttingDown)
}

// finishCreate makes the data of a volume a crash left creating.
func (s *Service) finishCreate(ctx context.Context, v *Volume) error {
	s.markBusy(v.ID)
	defer s.unmarkBusy(v.ID)
	state, msg := StateAvailable, ""
	if err := s.makeVolumeData(v); err != nil {
		s.log.Error("making volume data after a restart", "volume", v.ID, "err", err)
		state, msg = StateError, "The volume's data could not be made: its source is gone."
		if rerr := removeData(s.files.volumeImage(v.ID), s.files.volumeFS(v.ID)); rerr != nil {
			return rerr
		}
	}
	_, err := s.mutateVolume(ctx, v.ID, func(v *Volume) error {
		if v.State == StateCreating {
			v.State, v.StateMessage = state, msg
		}
		return nil
	})
	return err
}

// sweep removes data files that no record names and temporary files of
// operations not in flight.
func (s *Service) sweep(ctx context.Context) error {
	var errs []error
	for _, d := range []struct {
		dir, kind string
	}{{s.files.volumes(), KindVolume}, {s.files.snapshots(), KindSnapshot}} {
		recs, err := s.cfg.Store.List(ctx, d.kind, "")
		if err != nil {
			return err
		}
		known := make(map[string]bool, len(recs))
		for _, r := range recs {
			known[r.Key] = true
		}
		entries, err := os.ReadDir(d.dir)
		if err != nil {
			return err
		}
		for _, e := range entries {
			id := dataID(e.Name())
			if s.isBusy(id) {
				continue
			}
			if known[id] && !strings.HasSuffix(e.Name(), tmpSuffix) {
				continue
			}
			if known[id] && s.stillWriting(ctx, d.kind, id) {
				continue
			}
			s.log.Info("removing data no record names", "file", e.Name())
			if err := os.RemoveAll(filepath.Join(d.dir, e.Name())); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// stillWriting reports whether a record is in a state whose data is
// being written (then its temporary files are not leftovers).
func (s *Service) stillWriting(ctx context.Context, kind, id string) bool {
	switch kind {
	case KindVolume:
		v, _, err := store.Read[Volume](ctx, s.cfg.Store, kind, id)
		return err == nil && v.State == StateCreating
	case KindSnapshot:
		sn, _, err := store.Read[Snapshot](ctx, s.cfg.Store, kind, id)
		return err == nil && sn.State == SnapPending
	}
	return false
}
