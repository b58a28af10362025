package iam

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/berthproject/berth/internal/arns"
	"github.com/berthproject/berth/internal/credentials"
	"github.com/berthproject/berth/internal/store"
)

// CreateRoleInput is a CreateRole request. Nil pointers are absent
// parameters.
type CreateRoleInput struct {
	RoleName                 *string
	Path                     *string
	AssumeRolePolicyDocument *string
	Description              *string
	// MaxSessionDuration in seconds, 3600 to 43200 (default 3600).
	MaxSessionDuration *int
	Tags               []Tag
}

// CreateRole creates an IAM role with its trust policy.
func (s *Service) CreateRole(ctx context.Context, c Caller, in CreateRoleInput) (*Role, error) {
	var v violations
	v.name(in.RoleName, "roleName", 64)
	v.path(in.Path, "path")
	if in.AssumeRolePolicyDocument == nil {
		v.null("assumeRolePolicyDocument")
	} else {
		v.text(*in.AssumeRolePolicyDocument, "assumeRolePolicyDocument", 1, 131072, policyPattern, isPolicyText)
	}
	if in.Description != nil {
		v.text(*in.Description, "description", 0, 1000, descriptionPattern, isDescription)
	}
	if in.MaxSessionDuration != nil {
		v.number(*in.MaxSessionDuration, "maxSessionDuration", DefaultMaxSessionDuration, MaxSessionDuration)
	}
	dup := v.tags(in.Tags)
	if err := v.err(); err != nil {
		return nil, err
	}
	if dup != nil {
		return nil, dup
	}
	name, path := *in.RoleName, cleanPath(in.Path)
	r := &Role{
		Name: name, Path: path, ID: "AROA" + credentials.RandomID(17), ARN: s.arn("role", path, name), Created: s.now(),
		AssumeRolePolicyDocument: *in.AssumeRolePolicyDocument,
		MaxSessionDuration:       DefaultMaxSessionDuration,
		Tags:                     in.Tags,
	}
	if in.Description != nil {
		r.Description = *in.Description
	}
	if in.MaxSessionDuration != nil {
		r.MaxSessionDuration = *in.MaxSessionDuration
	}
	if err := authorize(c, access{action: "iam:CreateRole", resource: r.ARN}); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := parseTrust(r.AssumeRolePolicyDocument, func(p string) bool { return s.principalExists(ctx, p) }); err != nil {
		return nil, err
	}
	if policySize(r.AssumeRolePolicyDocument) > MaxTrustPolicySize {
		return nil, errorf(CodeLimitExceeded, "Cannot exceed quota for ACLSizePerRole: %d", MaxTrustPolicySize)
	}
	raw, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	if _, err := s.cfg.Store.Apply(ctx, store.Op{Kind: KindRole, Key: recordKey(name), Value: raw, Create: true}); err != nil {
		if errors.Is(err, store.ErrExists) {
			return nil, errorf(CodeEntityAlreadyExists, "Role with name %s already exists.", name)
		}
		return nil, fmt.Errorf("storing role %s: %w", name, err)
	}
	return r, nil
}

// principalExists tells whether a trust policy's Principal.AWS value
// names a principal: "*", an account id, or the ARN of a root, user,
// role or assumed role. Users and roles of this account must exist, as
// IAM requires; those of other accounts cannot be checked and pass.
func (s *Service) principalExists(ctx context.Context, p string) bool {
	if p == "*" || arns.IsAccount(p) {
		return true
	}
	parts := strings.SplitN(p, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || !strings.HasPrefix(parts[1], "aws") || parts[3] != "" || !arns.IsAccount(parts[4]) {
		return false
	}
	service, account, resource := parts[2], parts[4], parts[5]
	switch {
	case service == "iam" && resource == "root":
		return true
	case service == "sts":
		return strings.HasPrefix(resource, "assumed-role/") && strings.Count(resource, "/") >= 2
	case service != "iam":
		return false
	}
	kind, rest, ok := strings.Cut(resource, "/")
	if !ok || (kind != "user" && kind != "role") || rest == "" {
		return false
	}
	if account != s.cfg.Account {
		return true
	}
	name := rest[strings.LastIndexByte(rest, '/')+1:]
	storeKind := KindUser
	if kind == "role" {
		storeKind = KindRole
	}
	rec, err := s.cfg.Store.Get(ctx, storeKind, recordKey(name))
	if err != nil {
		return false
	}
	var e struct {
		ARN string `json:"arn"`
	}
	return json.Unmarshal(rec.Value, &e) == nil && e.ARN == p
}

// role returns the role named name, or NoSuchEntity.
func (s *Service) role(ctx context.Context, name string) (*Role, uint64, error) {
	r, rev, err := getRecord[Role](ctx, s.cfg.Store, KindRole, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, 0, noSuchRole(name)
	}
	return r, rev, err
}

// GetRole returns a role.
func (s *Service) GetRole(ctx context.Context, c Caller, roleName *string) (*Role, error) {
	var v violations
	v.name(roleName, "roleName", 64)
	if err := v.err(); err != nil {
		return nil, err
	}
	r, _, err := s.role(ctx, *roleName)
	if err != nil {
		return nil, err
	}
	if err := authorize(c, access{action: "iam:GetRole", resource: r.ARN}); err != nil {
		return nil, err
	}
	return r, nil
}

// ListRoles lists the roles, by name.
func (s *Service) ListRoles(ctx context.Context, c Caller, in ListInput) (Page[Role], error) {
	var v violations
	v.list(in, true)
	if err := v.err(); err != nil {
		return Page[Role]{}, err
	}
	if err := authorize(c, access{action: "iam:ListRoles", resource: s.arn("role", "/", "")}); err != nil {
		return Page[Role]{}, err
	}
	keys, roles, err := listRecords[Role](ctx, s.cfg.Store, KindRole)
	if err != nil {
		return Page[Role]{}, err
	}
	keys, roles = filterPath(keys, roles, in.PathPrefix, func(r Role) string { return r.Path })
	return page(in, keys, roles)
}

// DeleteRole deletes a role. Sessions that assumed it keep working until
// they expire, as on AWS.
func (s *Service) DeleteRole(ctx context.Context, c Caller, roleName *string) error {
	var v violations
	v.name(roleName, "roleName", 64)
	if err := v.err(); err != nil {
		return err
	}
	name := *roleName
	s.mu.Lock()
	defer s.mu.Unlock()
	r, rev, err := s.role(ctx, name)
	if err != nil {
		if denied := authorize(c, access{action: "iam:DeleteRole", resource: s.arn("role", "/", name)}); denied != nil {
			return denied
		}
		return err
	}
	if err := authorize(c, access{action: "iam:DeleteRole", resource: r.ARN}); err != nil {
		return err
	}
	if in, err := s.roleInProfile(ctx, r.Name); err != nil {
		return err
	} else if in {
		return errorf(CodeDeleteConflict, "Cannot delete entity, must remove roles from instance profile first.")
	}
	if _, err := s.cfg.Store.Apply(ctx, store.Op{Kind: KindRole, Key: recordKey(name), Delete: true, IfRevision: rev}); err != nil {
		return fmt.Errorf("deleting role %s: %w", name, err)
	}
	return nil
}
