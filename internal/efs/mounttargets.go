package efs

import (
	"context"
	"errors"
	"net/netip"
	"regexp"
	"slices"
	"time"

	"github.com/berthproject/berth/internal/apierror"
	"github.com/berthproject/berth/internal/store"
)

// CreateMountTargetInput is a CreateMountTarget request.
type CreateMountTargetInput struct {
	FileSystemID string
	SubnetID     string
	// IPAddress, when set, is the address to take; else one is taken from
	// the subnet.
	IPAddress string
	// SecurityGroups default to the VPC's default group; at most five.
	SecurityGroups []string
}

const maxSecurityGroups = 5

var (
	subnetIDRE = regexp.MustCompile(`^subnet-[0-9a-f]{8,40}$`)
	sgIDRE     = regexp.MustCompile(`^sg-[0-9a-f]{8,40}$`)
)

// CreateMountTarget gives a file system a mount target in a subnet of the
// VPC: an address there and a network interface. EFS allows one mount
// target per Availability Zone and file system.
func (s *Service) CreateMountTarget(ctx context.Context, in CreateMountTargetInput) (*MountTarget, error) {
	if in.FileSystemID == "" || in.SubnetID == "" {
		return nil, badRequest("FileSystemId and SubnetId are required.")
	}
	if !subnetIDRE.MatchString(in.SubnetID) {
		return nil, badRequest("Invalid subnet ID '%s'.", in.SubnetID)
	}
	groups, err := s.securityGroups(in.SecurityGroups)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.load(ctx); err != nil {
		return nil, err
	}
	fs, _, err := s.getFileSystem(ctx, in.FileSystemID)
	if err != nil {
		return nil, err
	}
	if st := s.state(fs.State, fs.CreatedAt); st != StateAvailable {
		return nil, wrongState(fs, st)
	}
	subnet, ok := s.cfg.Network.Subnet(in.SubnetID)
	if !ok {
		return nil, apierror.New(SubnetNotFound, "The subnet ID '%s' does not exist", in.SubnetID)
	}
	if fs.AvailabilityZoneName != "" && subnet.AZ != fs.AvailabilityZoneName {
		return nil, apierror.New(AvailabilityZonesMismatch,
			"The Availability Zone of subnet '%s' (%s) does not match the Availability Zone of One Zone file system '%s' (%s).",
			subnet.ID, subnet.AZ, fs.ID, fs.AvailabilityZoneName)
	}
	existing, err := s.mountTargetsOf(ctx, fs.ID)
	if err != nil {
		return nil, err
	}
	for _, mt := range existing {
		if mt.AvailabilityZone == subnet.AZ {
			return nil, apierror.New(MountTargetConflict, "mount target already exists in this AZ")
		}
		if mt.VpcID != subnet.VpcID {
			return nil, apierror.New(MountTargetConflict, "requested subnet for new mount target is not in the same VPC as existing mount targets")
		}
	}
	mt := &MountTarget{
		ID:                 newID("fsmt"),
		FileSystemID:       fs.ID,
		OwnerID:            s.cfg.Account,
		CreatedAt:          s.cfg.Now().UTC().Truncate(time.Second),
		State:              StateCreating,
		SubnetID:           subnet.ID,
		VpcID:              subnet.VpcID,
		AvailabilityZone:   subnet.AZ,
		AvailabilityZoneID: subnet.AZID,
		NetworkInterfaceID: newID("eni"),
		SecurityGroups:     groups,
	}
	owner := mountTargetOwner(mt.ID)
	if in.IPAddress != "" {
		addr, err := netip.ParseAddr(in.IPAddress)
		if err != nil || !addr.Is4() {
			return nil, badRequest("Invalid IP address '%s'.", in.IPAddress)
		}
		if !usable(subnet.CIDR, addr) {
			return nil, badRequest("IP address '%s' is not a usable address of subnet '%s' (%s).", in.IPAddress, subnet.ID, subnet.CIDR)
		}
		if !s.cfg.IPs.Reserve(owner, addr) {
			return nil, apierror.New(IPAddressInUse, "IP address '%s' is already in use in subnet '%s'.", in.IPAddress, subnet.ID)
		}
		mt.IPAddress = addr.String()
	} else {
		addr, err := s.cfg.IPs.Allocate(owner, subnet.CIDR)
		if err != nil {
			return nil, apierror.New(NoFreeAddressesInSubnet, "The subnet '%s' has no free addresses.", subnet.ID)
		}
		mt.IPAddress = addr.String()
	}
	if _, err := s.cfg.Store.Apply(ctx, store.Op{Kind: KindMountTarget, Key: mt.ID, Value: marshal(mt), Create: true}); err != nil {
		s.cfg.IPs.Release(owner)
		return nil, storeErr("storing mount target", err)
	}
	s.log.Debug("mount target created", "mountTargetId", mt.ID, "fileSystemId", fs.ID, "zone", mt.AvailabilityZone, "ip", mt.IPAddress)
	return mt, nil
}

// usable reports whether addr is one of the subnet's addresses that AWS
// hands out (not the first four nor the last).
func usable(cidr netip.Prefix, addr netip.Addr) bool {
	cidr = cidr.Masked()
	if !cidr.Contains(addr) {
		return false
	}
	first := cidr.Addr()
	for range 4 {
		if addr == first {
			return false
		}
		first = first.Next()
	}
	return cidr.Contains(addr.Next())
}

func (s *Service) securityGroups(groups []string) ([]string, error) {
	if len(groups) == 0 {
		return []string{s.cfg.Network.SecurityGroupID}, nil
	}
	if len(groups) > maxSecurityGroups {
		return nil, apierror.New(SecurityGroupLimitExceeded, "A mount target can have at most %d security groups.", maxSecurityGroups)
	}
	for _, g := range groups {
		if !sgIDRE.MatchString(g) {
			return nil, badRequest("Invalid security group ID '%s'.", g)
		}
		if g != s.cfg.Network.SecurityGroupID && s.cfg.SecurityGroupExists != nil && !s.cfg.SecurityGroupExists(g) {
			return nil, apierror.New(SecurityGroupNotFound, "The security group '%s' does not exist in VPC '%s'.", g, s.cfg.Network.VpcID)
		}
	}
	return slices.Compact(slices.Clone(groups)), nil
}

func (s *Service) fillMountTarget(mt *MountTarget) *MountTarget {
	mt.State = s.state(mt.State, mt.CreatedAt)
	return mt
}

// mountTargetsOf returns the mount targets of a file system.
func (s *Service) mountTargetsOf(ctx context.Context, fsID string) ([]*MountTarget, error) {
	all, err := store.ReadAll[MountTarget](ctx, s.cfg.Store, KindMountTarget, "")
	if err != nil {
		return nil, err
	}
	all = slices.DeleteFunc(all, func(mt *MountTarget) bool { return mt.FileSystemID != fsID })
	for _, mt := range all {
		s.fillMountTarget(mt)
	}
	return all, nil
}

// MountTargets returns the mount targets of a file system (for the CSI
// node, which mounts through one).
func (s *Service) MountTargets(ctx context.Context, fileSystemID string) ([]*MountTarget, error) {
	fs, _, err := s.getFileSystem(ctx, fileSystemID)
	if err != nil {
		return nil, err
	}
	return s.mountTargetsOf(ctx, fs.ID)
}

// DescribeMountTargetsInput is a DescribeMountTargets request: one of
// FileSystemID, MountTargetID and AccessPointID is required.
type DescribeMountTargetsInput struct {
	FileSystemID  string
	MountTargetID string
	AccessPointID string
	Marker        string
	MaxItems      int
}

// DescribeMountTargets lists the mount targets of a file system (or of an
// access point's file system), or one mount target.
func (s *Service) DescribeMountTargets(ctx context.Context, in DescribeMountTargetsInput) ([]*MountTarget, string, error) {
	n := 0
	for _, v := range []string{in.FileSystemID, in.MountTargetID, in.AccessPointID} {
		if v != "" {
			n++
		}
	}
	if n != 1 {
		return nil, "", badRequest("You must specify exactly one of FileSystemId, MountTargetId and AccessPointId.")
	}
	if in.MaxItems < 0 {
		return nil, "", badRequest("MaxItems must be at least 1.")
	}
	if in.MountTargetID != "" {
		mt, err := s.MountTarget(ctx, in.MountTargetID)
		if err != nil {
			return nil, "", err
		}
		return []*MountTarget{mt}, "", nil
	}
	fsID := in.FileSystemID
	if in.AccessPointID != "" {
		ap, err := s.AccessPoint(ctx, in.AccessPointID)
		if err != nil {
			return nil, "", err
		}
		fsID = ap.FileSystemID
	}
	all, err := s.MountTargets(ctx, fsID)
	if err != nil {
		return nil, "", err
	}
	keys := make([]string, len(all))
	for i, mt := range all {
		keys[i] = mt.ID
	}
	return pageOf(all, keys, in.MaxItems, in.Marker)
}

// MountTarget returns one mount target.
func (s *Service) MountTarget(ctx context.Context, id string) (*MountTarget, error) {
	if !mountTargetIDRE.MatchString(id) {
		return nil, badRequest("Invalid mount target ID '%s'.", id)
	}
	mt, _, err := store.Read[MountTarget](ctx, s.cfg.Store, KindMountTarget, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, mountTargetNotFound(id)
	}
	if err != nil {
		return nil, err
	}
	return s.fillMountTarget(mt), nil
}

// DeleteMountTarget deletes a mount target and frees its address.
func (s *Service) DeleteMountTarget(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.load(ctx); err != nil {
		return err
	}
	mt, err := s.MountTarget(ctx, id)
	if err != nil {
		return err
	}
	if _, err := s.cfg.Store.Apply(ctx, store.Op{Kind: KindMountTarget, Key: mt.ID, Delete: true}); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return mountTargetNotFound(id)
		}
		return storeErr("deleting mount target", err)
	}
	s.cfg.IPs.Release(mountTargetOwner(mt.ID))
	s.log.Debug("mount target deleted", "mountTargetId", mt.ID)
	return nil
}
