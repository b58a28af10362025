package ebs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// ModifyVolumeInput is a ModifyVolume request; nil fields keep their
// value.
type ModifyVolumeInput struct {
	VolumeID    string
	SizeGiB     *int
	Type        *string
	IOPS        *int
	Throughput  *int
	MultiAttach *bool
}

// ModifyVolume changes a volume's size, type and performance: it records
// the modification as modifying, grows the volume's file, then applies
// the target and moves the modification to optimizing (completed after
// Config.OptimizeDuration). Sizes only grow. The answer is the
// modification as EC2 answers it (modifying).
func (s *Service) ModifyVolume(ctx context.Context, in ModifyVolumeInput) (*Modification, error) {
	m, err := s.startModification(ctx, in)
	if err != nil {
		return nil, err
	}
	answer := *m
	s.markBusy(in.VolumeID)
	defer s.unmarkBusy(in.VolumeID)
	if err := s.finishModification(ctx, in.VolumeID); err != nil {
		return nil, err
	}
	return &answer, nil
}

// startModification validates a modification and records it as
// modifying.
func (s *Service) startModification(ctx context.Context, in ModifyVolumeInput) (*Modification, error) {
	if in.SizeGiB == nil && in.Type == nil && in.IOPS == nil && in.Throughput == nil && in.MultiAttach == nil {
		return nil, errorf(MissingParameter, "The request must contain at least one of the parameters size, volumeType, iops, throughput or multiAttachEnabled.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v, err := s.Volume(ctx, in.VolumeID)
	if err != nil {
		return nil, err
	}
	now := s.cfg.Now().UTC().Truncate(time.Millisecond)
	if v.State != StateAvailable && v.State != StateInUse {
		return nil, errorf(IncorrectState, "Volume %s must be in the available or in-use state to be modified.", v.ID)
	}
	if m := v.Modification; m != nil {
		if st := m.State(now); st == ModModifying || st == ModOptimizing {
			return nil, errorf(IncorrectModificationState, "Volume %s cannot be modified in modification state %s", v.ID, strings.ToUpper(st))
		}
	}
	recent := recentStarts(v.ModificationStarts, now)
	if s.cfg.ModificationsPerDay > 0 && len(recent) >= s.cfg.ModificationsPerDay {
		return nil, errorf(ModificationRateExceeded,
			"You've reached the maximum modification rate per volume limit. A volume can be modified %d times in 24 hours; wait until %s.",
			s.cfg.ModificationsPerDay, recent[0].Add(24*time.Hour).Format(time.RFC3339))
	}
	m, err := s.target(v, in)
	if err != nil {
		return nil, err
	}
	if err := s.checkModificationQuota(ctx, v.ID, m, now); err != nil {
		return nil, err
	}
	m.StartTime = now
	m.Phase = ModModifying
	if _, err := s.mutateVolume(ctx, v.ID, func(v *Volume) error {
		v.Modification = m
		v.ModificationStarts = append(recentStarts(v.ModificationStarts, now), now)
		return nil
	}); err != nil {
		return nil, err
	}
	return m, nil
}

func recentStarts(starts []time.Time, now time.Time) []time.Time {
	return slices.DeleteFunc(slices.Clone(starts), func(t time.Time) bool { return !t.After(now.Add(-24 * time.Hour)) })
}

// target validates the target of a modification against the volume.
func (s *Service) target(v *Volume, in ModifyVolumeInput) (*Modification, error) {
	m := &Modification{
		VolumeID:     v.ID,
		OriginalSize: v.SizeGiB, OriginalType: v.Type, OriginalIOPS: v.IOPS,
		OriginalThroughput: v.Throughput, OriginalMultiAttach: v.MultiAttach,
	}
	t := Performance{SizeGiB: v.SizeGiB, MultiAttach: v.MultiAttach}
	typ := v.Type
	if in.Type != nil {
		typ = *in.Type
	}
	l, err := lookupType(typ)
	if err != nil {
		return nil, err
	}
	if in.SizeGiB != nil {
		if *in.SizeGiB < v.SizeGiB {
			return nil, errorf(InvalidParameterValue, "New size cannot be smaller than existing size")
		}
		t.SizeGiB = *in.SizeGiB
	}
	// IOPS and throughput carry over within a type that sets them; a new
	// type starts from its defaults (EC2: 3,000 IOPS, 125 MiB/s).
	switch {
	case in.IOPS != nil:
		t.IOPS = *in.IOPS
	case typ == v.Type && l.IOPSSettable:
		t.IOPS = v.IOPS
	case l.IOPSSettable:
		t.IOPS = 3000
	}
	switch {
	case in.Throughput != nil:
		t.Throughput = *in.Throughput
	case typ == v.Type && l.ThroughputSettable:
		t.Throughput = v.Throughput
	}
	if in.MultiAttach != nil {
		t.MultiAttach = *in.MultiAttach
		if !t.MultiAttach && len(v.Attachments) > 1 {
			return nil, errorf(InvalidParameterCombination, "Multi-Attach cannot be disabled on volume %s while it is attached to more than one instance.", v.ID)
		}
	}
	p, err := l.resolve(t)
	if err != nil {
		return nil, err
	}
	m.TargetSize, m.TargetType, m.TargetIOPS, m.TargetThroughput, m.TargetMultiAttach = p.SizeGiB, typ, p.IOPS, p.Throughput, p.MultiAttach
	return m, nil
}

// checkModificationQuota bounds the storage being modified per type.
func (s *Service) checkModificationQuota(ctx context.Context, volumeID string, m *Modification, now time.Time) error {
	all, err := s.Volumes(ctx)
	if err != nil {
		return err
	}
	total := m.TargetSize
	for _, o := range all {
		if o.ID == volumeID || o.Modification == nil || o.Modification.TargetType != m.TargetType {
			continue
		}
		if st := o.Modification.State(now); st == ModModifying || st == ModOptimizing {
			total += o.Modification.TargetSize
		}
	}
	if total > s.cfg.ModificationQuotaGiB {
		return errorf(ModificationSizeLimitExceeded,
			"You have exceeded your maximum storage modification size of %d TiB for %s volumes; wait for the modifications in progress to complete.",
			s.cfg.ModificationQuotaGiB>>10, m.TargetType)
	}
	return nil
}

// finishModification grows a volume's data to its modification's target
// and applies the target. It is idempotent, so Reconcile can finish a
// modification a crash interrupted.
func (s *Service) finishModification(ctx context.Context, volumeID string) error {
	v, err := s.Volume(ctx, volumeID)
	if err != nil {
		return err
	}
	m := v.Modification
	if m == nil || m.Phase != ModModifying {
		return nil
	}
	if err := grow(s.files.volumeImage(volumeID), int64(m.TargetSize)<<30); err != nil {
		_, werr := s.mutateVolume(ctx, volumeID, func(v *Volume) error {
			if v.Modification != nil && v.Modification.Phase == ModModifying {
				v.Modification.Phase = ModFailed
				v.Modification.StatusMessage = "The volume's data could not be grown"
			}
			return nil
		})
		if e := tooLarge(err, m.TargetSize); e != err {
			return errors.Join(e, werr)
		}
		return fmt.Errorf("growing volume %s: %w", volumeID, errors.Join(err, werr))
	}
	_, err = s.mutateVolume(ctx, volumeID, func(v *Volume) error {
		m := v.Modification
		if m == nil || m.Phase != ModModifying {
			return nil
		}
		v.SizeGiB, v.Type, v.IOPS, v.Throughput, v.MultiAttach = m.TargetSize, m.TargetType, m.TargetIOPS, m.TargetThroughput, m.TargetMultiAttach
		m.Phase = ModOptimizing
		m.OptimizeUntil = s.cfg.Now().UTC().Truncate(time.Millisecond).Add(s.cfg.OptimizeDuration)
		return nil
	})
	return err
}

// Modifications returns the most recent modification of every volume
// that has one, by volume.
func (s *Service) Modifications(ctx context.Context) ([]*Modification, error) {
	all, err := s.Volumes(ctx)
	if err != nil {
		return nil, err
	}
	var out []*Modification
	for _, v := range all {
		if v.Modification != nil {
			out = append(out, v.Modification)
		}
	}
	return out, nil
}
