package iam

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/berthproject/berth/internal/credentials"
)

// GetCallerIdentity says who the caller is.
func (s *Service) GetCallerIdentity(_ context.Context, c Caller) (Identity, error) {
	if err := authorize(c, access{action: "sts:GetCallerIdentity", resource: c.ARN}); err != nil {
		return Identity{}, err
	}
	return Identity{UserID: c.ID, Account: s.cfg.Account, ARN: c.ARN}, nil
}

// AssumeRoleInput is an AssumeRole request. Nil pointers are absent
// parameters.
type AssumeRoleInput struct {
	RoleARN         *string
	RoleSessionName *string
	// DurationSeconds is 900 up to the role's MaxSessionDuration
	// (default 3600).
	DurationSeconds *int
	ExternalID      *string
}

// sweepEvery bounds how often AssumeRole sweeps expired sessions away.
const sweepEvery = time.Minute

// AssumeRole returns temporary credentials for a role whose trust policy
// names the caller. They are in the keyring at once, with their session
// token and expiry, so every API of the endpoint accepts them until they
// expire.
func (s *Service) AssumeRole(ctx context.Context, c Caller, in AssumeRoleInput) (*Session, error) {
	var v violations
	if in.RoleARN == nil {
		v.null("roleArn")
	} else {
		v.text(*in.RoleARN, "roleArn", 20, 2048, arnPattern, isARNText)
	}
	if in.RoleSessionName == nil {
		v.null("roleSessionName")
	} else {
		v.text(*in.RoleSessionName, "roleSessionName", 2, 64, sessionNamePattern, sessionNameRE.MatchString)
	}
	if in.DurationSeconds != nil {
		v.number(*in.DurationSeconds, "durationSeconds", MinSessionDuration, MaxSessionDuration)
	}
	if in.ExternalID != nil {
		v.text(*in.ExternalID, "externalId", 2, 1224, externalIDPattern, externalIDRE.MatchString)
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	roleARN, session := *in.RoleARN, *in.RoleSessionName
	if !roleARNRE.MatchString(roleARN) {
		return nil, errorf(CodeValidation, "%s is invalid", roleARN)
	}
	if err := authorize(c, access{action: "sts:AssumeRole", resource: roleARN}); err != nil {
		return nil, err
	}
	if c.Kind == CallerRoot {
		return nil, errorf(CodeAccessDenied, "Roles may not be assumed by root accounts.")
	}
	// A role that does not exist is refused as one that does not trust
	// the caller: STS does not tell them apart.
	r, err := s.roleByARN(ctx, roleARN)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return nil, assumeDenied(c, roleARN)
		}
		return nil, err
	}
	duration := DefaultMaxSessionDuration
	if in.DurationSeconds != nil {
		duration = *in.DurationSeconds
	}
	if duration > r.MaxSessionDuration {
		return nil, errorf(CodeValidation, "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
	}
	trust, err := parseTrust(r.AssumeRolePolicyDocument, func(string) bool { return true })
	if err != nil {
		return nil, assumeDenied(c, roleARN)
	}
	req := trustRequest{callerARN: c.ARN, account: s.cfg.Account, sessionName: session}
	if in.ExternalID != nil {
		req.externalID = *in.ExternalID
	}
	if !trust.trusts(req) {
		return nil, assumeDenied(c, roleARN)
	}

	return s.newSession(ctx, r, session, time.Duration(duration)*time.Second)
}

// newSession puts temporary credentials of a role session in the
// keyring and returns them.
func (s *Service) newSession(ctx context.Context, r *Role, session string, d time.Duration) (*Session, error) {
	now := s.now()
	s.sweep(ctx, now)
	key := credentials.Key{
		AccessKeyID:     credentials.NewAccessKeyID(credentials.TemporaryPrefix),
		SecretAccessKey: credentials.NewSecret(),
		SessionToken:    credentials.NewSessionToken(),
		Principal:       "arn:aws:sts::" + s.cfg.Account + ":assumed-role/" + r.Name + "/" + session,
		PrincipalID:     r.ID + ":" + session,
		Created:         now,
		Expires:         now.Add(d),
	}
	if err := s.cfg.Keys.Create(ctx, key); err != nil {
		return nil, err
	}
	return &Session{
		AccessKeyID: key.AccessKeyID, SecretAccessKey: key.SecretAccessKey, SessionToken: key.SessionToken,
		Expiration: key.Expires, AssumedRoleID: key.PrincipalID, ARN: key.Principal,
	}, nil
}

// roleByARN returns the role of this account an ARN names, with its path.
func (s *Service) roleByARN(ctx context.Context, arn string) (*Role, error) {
	prefix := "arn:aws:iam::" + s.cfg.Account + ":role/"
	rest, ok := strings.CutPrefix(arn, prefix)
	if !ok || rest == "" {
		return nil, noSuchRole(arn)
	}
	name := rest[strings.LastIndexByte(rest, '/')+1:]
	r, _, err := s.role(ctx, name)
	if err != nil {
		return nil, err
	}
	if r.ARN != arn {
		return nil, noSuchRole(name)
	}
	return r, nil
}

// sweep removes the session credentials that expired more than
// ExpiredRetention ago, at most once every sweepEvery. A failed sweep
// is tried again next time.
func (s *Service) sweep(ctx context.Context, now time.Time) {
	s.mu.Lock()
	due := now.Sub(s.lastSweep) >= sweepEvery
	if due {
		s.lastSweep = now
	}
	s.mu.Unlock()
	if !due {
		return
	}
	if _, err := s.cfg.Keys.Sweep(ctx, now.Add(-s.cfg.ExpiredRetention)); err != nil {
		s.mu.Lock()
		s.lastSweep = time.Time{}
		s.mu.Unlock()
	}
}
