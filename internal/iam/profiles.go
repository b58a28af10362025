package iam

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/berthproject/berth/internal/credentials"
	"github.com/berthproject/berth/internal/store"
)

// KindInstanceProfile is the store kind of instance profiles; keys are
// lower-cased names.
const KindInstanceProfile = "iaminstanceprofiles"

// MaxRolesPerInstanceProfile is IAM's InstanceSessionsPerInstanceProfile
// quota.
const MaxRolesPerInstanceProfile = 1

// EC2Service is the service principal EC2 assumes an instance profile's
// role as: the role's trust policy must name it.
const EC2Service = "ec2.amazonaws.com"

// InstanceProfile is the stored record of an instance profile: the
// container that passes a role to an EC2 instance.
type InstanceProfile struct {
	Name    string    `json:"name"`
	Path    string    `json:"path"`
	ID      string    `json:"id"` // AIPA...
	ARN     string    `json:"arn"`
	Created time.Time `json:"created"`
	// Roles are the names of its roles (at most one).
	Roles []string `json:"roles,omitempty"`
	Tags  []Tag    `json:"tags,omitempty"`
}

// ProfileView is an instance profile with its roles, as IAM returns it.
type ProfileView struct {
	InstanceProfile
	RoleRecords []Role
}

func noSuchProfile(name string) *Error {
	return errorf(CodeNoSuchEntity, "Instance Profile %s cannot be found.", name)
}

// CreateInstanceProfileInput is a CreateInstanceProfile request.
type CreateInstanceProfileInput struct {
	InstanceProfileName *string
	Path                *string
	Tags                []Tag
}

// CreateInstanceProfile creates an instance profile without roles.
func (s *Service) CreateInstanceProfile(ctx context.Context, c Caller, in CreateInstanceProfileInput) (*ProfileView, error) {
	var v violations
	v.name(in.InstanceProfileName, "instanceProfileName", 128)
	v.path(in.Path, "path")
	dup := v.tags(in.Tags)
	if err := v.err(); err != nil {
		return nil, err
	}
	if dup != nil {
		return nil, dup
	}
	name, path := *in.InstanceProfileName, cleanPath(in.Path)
	p := &InstanceProfile{
		Name: name, Path: path, ID: "AIPA" + credentials.RandomID(17),
		ARN: s.arn("instance-profile", path, name), Created: s.now(), Tags: in.Tags,
	}
	if err := authorize(c, access{action: "iam:CreateInstanceProfile", resource: p.ARN}); err != nil {
		return nil, err
	}
	raw, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	if _, err := s.cfg.Store.Apply(ctx, store.Op{Kind: KindInstanceProfile, Key: recordKey(name), Value: raw, Create: true}); err != nil {
		if errors.Is(err, store.ErrExists) {
			return nil, errorf(CodeEntityAlreadyExists, "Instance Profile %s already exists.", name)
		}
		return nil, fmt.Errorf("storing instance profile %s: %w", name, err)
	}
	return &ProfileView{InstanceProfile: *p, RoleRecords: []Role{}}, nil
}

// profile returns the instance profile named name, or NoSuchEntity.
func (s *Service) profile(ctx context.Context, name string) (*InstanceProfile, uint64, error) {
	p, rev, err := getRecord[InstanceProfile](ctx, s.cfg.Store, KindInstanceProfile, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, 0, noSuchProfile(name)
	}
	return p, rev, err
}

// view adds the role records to p; a role deleted behind its back (which
// IAM prevents) is left out.
func (s *Service) view(ctx context.Context, p *InstanceProfile) (*ProfileView, error) {
	out := &ProfileView{InstanceProfile: *p, RoleRecords: []Role{}}
	for _, name := range p.Roles {
		r, _, err := s.role(ctx, name)
		var e *Error
		if errors.As(err, &e) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out.RoleRecords = append(out.RoleRecords, *r)
	}
	return out, nil
}

// GetInstanceProfile returns an instance profile with its roles.
func (s *Service) GetInstanceProfile(ctx context.Context, c Caller, name *string) (*ProfileView, error) {
	var v violations
	v.name(name, "instanceProfileName", 128)
	if err := v.err(); err != nil {
		return nil, err
	}
	p, _, err := s.profile(ctx, *name)
	if err != nil {
		return nil, err
	}
	if err := authorize(c, access{action: "iam:GetInstanceProfile", resource: p.ARN}); err != nil {
		return nil, err
	}
	return s.view(ctx, p)
}

// ListInstanceProfiles lists the instance profiles, by name.
func (s *Service) ListInstanceProfiles(ctx context.Context, c Caller, in ListInput) (Page[ProfileView], error) {
	return s.listProfiles(ctx, c, in, "iam:ListInstanceProfiles", nil)
}

// ListInstanceProfilesForRole lists the instance profiles that hold a
// role.
func (s *Service) ListInstanceProfilesForRole(ctx context.Context, c Caller, roleName *string, in ListInput) (Page[ProfileView], error) {
	var v violations
	v.name(roleName, "roleName", 64)
	if err := v.err(); err != nil {
		return Page[ProfileView]{}, err
	}
	r, _, err := s.role(ctx, *roleName)
	if err != nil {
		return Page[ProfileView]{}, err
	}
	return s.listProfiles(ctx, c, in, "iam:ListInstanceProfilesForRole", func(p InstanceProfile) bool {
		return slices.ContainsFunc(p.Roles, func(n string) bool { return strings.EqualFold(n, r.Name) })
	})
}

func (s *Service) listProfiles(ctx context.Context, c Caller, in ListInput, action string, keep func(InstanceProfile) bool) (Page[ProfileView], error) {
	var v violations
	v.list(in, keep == nil)
	if err := v.err(); err != nil {
		return Page[ProfileView]{}, err
	}
	if err := authorize(c, access{action: action, resource: s.arn("instance-profile", "/", "")}); err != nil {
		return Page[ProfileView]{}, err
	}
	keys, profiles, err := listRecords[InstanceProfile](ctx, s.cfg.Store, KindInstanceProfile)
	if err != nil {
		return Page[ProfileView]{}, err
	}
	keys, profiles = filterPath(keys, profiles, in.PathPrefix, func(p InstanceProfile) string { return p.Path })
	views := make([]ProfileView, 0, len(profiles))
	kept := make([]string, 0, len(keys))
	for i := range profiles {
		if keep != nil && !keep(profiles[i]) {
			continue
		}
		pv, err := s.view(ctx, &profiles[i])
		if err != nil {
			return Page[ProfileView]{}, err
		}
		views = append(views, *pv)
		kept = append(kept, keys[i])
	}
	return page(in, kept, views)
}

// DeleteInstanceProfile deletes an instance profile without roles.
// Instances launched with it keep their credentials until they expire.
func (s *Service) DeleteInstanceProfile(ctx context.Context, c Caller, name *string) error {
	var v violations
	v.name(name, "instanceProfileName", 128)
	if err := v.err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, rev, err := s.profile(ctx, *name)
	if err != nil {
		return err
	}
	if err := authorize(c, access{action: "iam:DeleteInstanceProfile", resource: p.ARN}); err != nil {
		return err
	}
	if len(p.Roles) > 0 {
		return errorf(CodeDeleteConflict, "Cannot delete entity, must remove roles from instance profile first.")
	}
	if _, err := s.cfg.Store.Apply(ctx, store.Op{Kind: KindInstanceProfile, Key: recordKey(p.Name), Delete: true, IfRevision: rev}); err != nil {
		return fmt.Errorf("deleting instance profile %s: %w", p.Name, err)
	}
	return nil
}

// AddRoleToInstanceProfile puts a role in an instance profile that has
// none.
func (s *Service) AddRoleToInstanceProfile(ctx context.Context, c Caller, profileName, roleName *string) error {
	return s.changeProfileRole(ctx, c, profileName, roleName, true)
}

// RemoveRoleFromInstanceProfile takes a role out of an instance profile.
func (s *Service) RemoveRoleFromInstanceProfile(ctx context.Context, c Caller, profileName, roleName *string) error {
	return s.changeProfileRole(ctx, c, profileName, roleName, false)
}

func (s *Service) changeProfileRole(ctx context.Context, c Caller, profileName, roleName *string, add bool) error {
	var v violations
	v.name(profileName, "instanceProfileName", 128)
	v.name(roleName, "roleName", 64)
	if err := v.err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, rev, err := s.profile(ctx, *profileName)
	if err != nil {
		return err
	}
	action := "iam:RemoveRoleFromInstanceProfile"
	if add {
		action = "iam:AddRoleToInstanceProfile"
	}
	if err := authorize(c, access{action: action, resource: p.ARN}); err != nil {
		return err
	}
	r, _, err := s.role(ctx, *roleName)
	if err != nil {
		return err
	}
	has := slices.ContainsFunc(p.Roles, func(n string) bool { return strings.EqualFold(n, r.Name) })
	switch {
	case add && len(p.Roles) >= MaxRolesPerInstanceProfile:
		return errorf(CodeLimitExceeded, "Cannot exceed quota for InstanceSessionsPerInstanceProfile: %d", MaxRolesPerInstanceProfile)
	case add:
		p.Roles = append(p.Roles, r.Name)
	case !has:
		return noSuchRole(r.Name)
	default:
		p.Roles = slices.DeleteFunc(p.Roles, func(n string) bool { return strings.EqualFold(n, r.Name) })
	}
	raw, err := json.Marshal(p)
	if err != nil {
		return err
	}
	if _, err := s.cfg.Store.Apply(ctx, store.Op{Kind: KindInstanceProfile, Key: recordKey(p.Name), Value: raw, IfRevision: rev}); err != nil {
		return fmt.Errorf("updating instance profile %s: %w", p.Name, err)
	}
	return nil
}

// roleInProfile reports whether any instance profile holds the role.
func (s *Service) roleInProfile(ctx context.Context, roleName string) (bool, error) {
	_, profiles, err := listRecords[InstanceProfile](ctx, s.cfg.Store, KindInstanceProfile)
	if err != nil {
		return false, err
	}
	for _, p := range profiles {
		if slices.ContainsFunc(p.Roles, func(n string) bool { return strings.EqualFold(n, roleName) }) {
			return true, nil
		}
	}
	return false, nil
}

// InstanceProfileRole resolves an instance profile, named by ARN or name
// as RunInstances takes it, and its role's ARN ("" when it holds none).
// The profile is nil when there is no such profile.
func (s *Service) InstanceProfileRole(ctx context.Context, ref string) (*InstanceProfile, string, error) {
	name := ref
	if strings.HasPrefix(ref, "arn:") {
		prefix := "arn:aws:iam::" + s.cfg.Account + ":instance-profile/"
		rest, found := strings.CutPrefix(ref, prefix)
		if !found || rest == "" {
			return nil, "", nil
		}
		name = rest[strings.LastIndexByte(rest, '/')+1:]
	}
	if !nameRE.MatchString(name) || len(name) > 128 {
		return nil, "", nil
	}
	p, _, err := s.profile(ctx, name)
	var e *Error
	if errors.As(err, &e) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", err
	}
	if strings.HasPrefix(ref, "arn:") && p.ARN != ref {
		return nil, "", nil
	}
	if len(p.Roles) == 0 {
		return p, "", nil
	}
	r, _, err := s.role(ctx, p.Roles[0])
	if errors.As(err, &e) {
		return p, "", nil
	}
	if err != nil {
		return nil, "", err
	}
	return p, r.ARN, nil
}

// InstanceSessionDuration is how long the credentials of an instance's
// role last. EC2 refreshes them well before; so do berth's node agents.
const InstanceSessionDuration = 6 * time.Hour

// InstanceSession returns credentials for the role of an instance
// profile, as EC2 delivers them to an instance through its metadata: a
// session of the role named after the instance id, allowed only when the
// role's trust policy lets ec2.amazonaws.com assume it.
func (s *Service) InstanceSession(ctx context.Context, roleARN, instanceID string) (*Session, error) {
	if !sessionNameRE.MatchString(instanceID) {
		return nil, errorf(CodeValidation, "%s is not a valid session name", instanceID)
	}
	r, err := s.roleByARN(ctx, roleARN)
	if err != nil {
		return nil, err
	}
	trust, err := parseTrust(r.AssumeRolePolicyDocument, func(string) bool { return true })
	if err != nil || !trust.trusts(trustRequest{account: s.cfg.Account, sessionName: instanceID, service: EC2Service}) {
		return nil, errorf(CodeAccessDenied, "The role %s does not trust %s: its trust policy must allow the service principal to call sts:AssumeRole.", roleARN, EC2Service)
	}
	return s.newSession(ctx, r, instanceID, InstanceSessionDuration)
}
