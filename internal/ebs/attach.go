package ebs

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/berthproject/berth/internal/apierror"
	"github.com/berthproject/berth/internal/compute"
)

// maxMultiAttach is how many instances a Multi-Attach volume may be
// attached to at once (EBS User Guide, "Amazon EBS Multi-Attach").
const maxMultiAttach = 16

// instance returns a live instance.
func (s *Service) instance(ctx context.Context, id string) (*compute.Instance, error) {
	if s.cfg.Instances == nil {
		return nil, instanceNotFound(id)
	}
	in, _, err := s.cfg.Instances.Instance(ctx, id)
	if apierror.IsKind(err, apierror.ResourceNotFound) {
		return nil, instanceNotFound(id)
	}
	if err != nil {
		return nil, err
	}
	return in, nil
}

// AttachVolume attaches a volume to a running instance in its zone as a
// device. The answer is the attachment as EC2 gives it (attaching); the
// record says attached at once, as berth has no device to wait for.
func (s *Service) AttachVolume(ctx context.Context, volumeID, instanceID, device string) (Attachment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !ValidDevice(device) {
		return Attachment{}, errorf(InvalidParameterValue, "Value (%s) for parameter device is invalid. %s is not a valid EBS device name.", device, device)
	}
	v, err := s.Volume(ctx, volumeID)
	if err != nil {
		return Attachment{}, err
	}
	in, err := s.instance(ctx, instanceID)
	if err != nil {
		return Attachment{}, err
	}
	if _, ok := v.AttachmentTo(instanceID); ok {
		return Attachment{}, errorf(VolumeInUse, "%s is already attached to an instance", volumeID)
	}
	switch {
	case v.State == StateInUse && !v.MultiAttach:
		return Attachment{}, errorf(VolumeInUse, "%s is already attached to an instance", volumeID)
	case v.State != StateAvailable && v.State != StateInUse:
		return Attachment{}, errorf(IncorrectState, "%s is not 'available'.", volumeID)
	case len(v.Attachments) >= maxMultiAttach:
		return Attachment{}, errorf(AttachmentLimitExceeded, "Volume %s is attached to %d instances, the most a Multi-Attach volume can be attached to.", volumeID, maxMultiAttach)
	}
	if in.State != compute.StateRunning {
		return Attachment{}, errorf(IncorrectInstanceState, "The instance '%s' is not in the 'running' state.", instanceID)
	}
	if in.AZ != v.AZ {
		return Attachment{}, errorf(ZoneMismatch, "The volume '%s' is not in the same availability zone as instance '%s'", volumeID, instanceID)
	}
	attached, err := s.attachedTo(ctx, instanceID)
	if err != nil {
		return Attachment{}, err
	}
	point := attachmentPoint(device)
	if point == attachmentPoint(RootDevice) || slices.ContainsFunc(attached, func(a Attachment) bool { return attachmentPoint(a.Device) == point }) {
		return Attachment{}, errorf(InvalidParameterValue, "Invalid value '%s' for unixDevice. Attachment point %s is already in use", device, device)
	}
	if limit := AttachLimitOf(in.Type); len(attached) >= limit.DataVolumes() {
		return Attachment{}, errorf(AttachmentLimitExceeded,
			"Instance %s has reached its maximum number of EBS volume attachments (%d, the root volume included).", instanceID, len(attached)+1)
	}
	a := Attachment{InstanceID: instanceID, Device: device, State: AttachAttached, AttachTime: s.cfg.Now().UTC().Truncate(time.Millisecond)}
	if _, err := s.mutateVolume(ctx, volumeID, func(v *Volume) error {
		if _, ok := v.AttachmentTo(instanceID); ok {
			return errorf(VolumeInUse, "%s is already attached to an instance", volumeID)
		}
		v.Attachments = append(v.Attachments, a)
		v.State = StateInUse
		return nil
	}); err != nil {
		return Attachment{}, err
	}
	a.State = AttachAttaching
	return a, nil
}

// attachedTo lists the attachments of volumes to an instance.
func (s *Service) attachedTo(ctx context.Context, instanceID string) ([]Attachment, error) {
	all, err := s.Volumes(ctx)
	if err != nil {
		return nil, err
	}
	var out []Attachment
	for _, v := range all {
		if a, ok := v.AttachmentTo(instanceID); ok {
			out = append(out, a)
		}
	}
	return out, nil
}

// AttachedVolumes lists the volumes attached to an instance.
func (s *Service) AttachedVolumes(ctx context.Context, instanceID string) ([]*Volume, error) {
	all, err := s.Volumes(ctx)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(v *Volume) bool { _, ok := v.AttachmentTo(instanceID); return !ok }), nil
}

// DetachVolumeInput is a DetachVolume request.
type DetachVolumeInput struct {
	VolumeID string
	// InstanceID is required for a Multi-Attach volume attached to several
	// instances.
	InstanceID string
	// Device, when set, must be the attachment's device.
	Device string
	// Force is accepted; berth has no guest to wait for either way.
	Force bool
}

// DetachVolume detaches a volume. The answer is the attachment as EC2
// gives it (detaching); the record forgets it at once.
func (s *Service) DetachVolume(ctx context.Context, in DetachVolumeInput) (Attachment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, err := s.Volume(ctx, in.VolumeID)
	if err != nil {
		return Attachment{}, err
	}
	if len(v.Attachments) == 0 {
		return Attachment{}, errorf(IncorrectState, "Volume '%s' is in the '%s' state.", v.ID, v.State)
	}
	instanceID := in.InstanceID
	if instanceID == "" {
		if len(v.Attachments) > 1 {
			return Attachment{}, errorf(InvalidParameterCombination,
				"The volume %s is attached to more than one instance; the instance ID must be specified.", v.ID)
		}
		instanceID = v.Attachments[0].InstanceID
	}
	a, ok := v.AttachmentTo(instanceID)
	if !ok {
		return Attachment{}, errorf(AttachmentNotFound, "Volume %s can not be detached from %s because it is not attached", v.ID, instanceID)
	}
	if in.Device != "" && in.Device != a.Device {
		return Attachment{}, errorf(AttachmentNotFound, "The volume %s is not attached to instance %s as device %s", v.ID, instanceID, in.Device)
	}
	if err := s.detach(ctx, v.ID, instanceID); err != nil {
		return Attachment{}, err
	}
	a.State = AttachDetaching
	return a, nil
}

// detach removes a volume's attachment to an instance.
func (s *Service) detach(ctx context.Context, volumeID, instanceID string) error {
	_, err := s.mutateVolume(ctx, volumeID, func(v *Volume) error {
		v.Attachments = slices.DeleteFunc(v.Attachments, func(a Attachment) bool { return a.InstanceID == instanceID })
		if len(v.Attachments) == 0 && v.State == StateInUse {
			v.State = StateAvailable
		}
		return nil
	})
	return err
}

// DetachAll detaches every volume from an instance that is terminating,
// and deletes the volumes whose attachment said deleteOnTermination. The
// instance controller calls it when an instance ends; running it again
// is harmless.
func (s *Service) DetachAll(ctx context.Context, instanceID string) error {
	vols, err := s.AttachedVolumes(ctx, instanceID)
	if err != nil {
		return err
	}
	var errs []error
	for _, v := range vols {
		a, _ := v.AttachmentTo(instanceID)
		s.mu.Lock()
		err := s.detach(ctx, v.ID, instanceID)
		s.mu.Unlock()
		if err != nil && !IsNotFound(err) {
			errs = append(errs, err)
			continue
		}
		if a.DeleteOnTermination {
			if err := s.DeleteVolume(ctx, v.ID); err != nil && !IsNotFound(err) && !apierror.IsKind(err, VolumeInUse) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// SetDeleteOnTermination sets whether a volume is deleted when the
// instance it is attached to terminates (EC2's
// ModifyInstanceAttribute BlockDeviceMapping).
func (s *Service) SetDeleteOnTermination(ctx context.Context, volumeID, instanceID string, deleteOnTermination bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.mutateVolume(ctx, volumeID, func(v *Volume) error {
		for i := range v.Attachments {
			if v.Attachments[i].InstanceID == instanceID {
				v.Attachments[i].DeleteOnTermination = deleteOnTermination
				return nil
			}
		}
		return errorf(AttachmentNotFound, "Volume %s is not attached to %s", volumeID, instanceID)
	})
	return err
}
