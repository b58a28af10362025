package iam

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/berthproject/berth/internal/arns"
	"github.com/berthproject/berth/internal/credentials"
	"github.com/berthproject/berth/internal/store"
)

// Store is what the service needs of berth's store.
type Store interface {
	Get(ctx context.Context, kind, key string) (store.Record, error)
	List(ctx context.Context, kind, prefix string) ([]store.Record, error)
	Apply(ctx context.Context, ops ...store.Op) (uint64, error)
}

// Config wires a Service.
type Config struct {
	// Store holds the user and role records. Required.
	Store Store
	// Keys holds the access keys, the ones SigV4 verification reads.
	// Required.
	Keys *credentials.Keyring
	// Account is the 12-digit account id. Required.
	Account string
	// Now is the clock (default time.Now); session expiry follows it.
	Now func() time.Time
	// ExpiredRetention is how long expired session credentials are kept,
	// so that requests signed with them fail with ExpiredToken rather than
	// as unknown (default one hour). AssumeRole sweeps older ones away.
	ExpiredRetention time.Duration
}

// Service is berth's IAM and STS.
type Service struct {
	cfg Config
	// mu serializes the writes of users, roles and keys, so that what
	// they check (the access key quota, DeleteUser's keys, names in use)
	// still holds when they commit. One process owns a data directory, so
	// a process-wide lock is enough.
	mu        sync.Mutex
	lastSweep time.Time
}

// New checks cfg, fills its defaults and returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Keys == nil {
		return nil, errors.New("iam: Store and Keys are required")
	}
	if !arns.IsAccount(cfg.Account) {
		return nil, fmt.Errorf("iam: Account %q is not a 12-digit account id", cfg.Account)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ExpiredRetention == 0 {
		cfg.ExpiredRetention = time.Hour
	}
	if cfg.ExpiredRetention < 0 {
		return nil, fmt.Errorf("iam: ExpiredRetention %v is negative", cfg.ExpiredRetention)
	}
	return &Service{cfg: cfg}, nil
}

func (s *Service) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Second) }

func (s *Service) rootARN() string { return "arn:aws:iam::" + s.cfg.Account + ":root" }

func (s *Service) arn(kind, path, name string) string {
	return "arn:aws:iam::" + s.cfg.Account + ":" + kind + path + name
}

// ErrUnknownCaller is returned by Caller for an access key that is not
// (or no longer) stored.
var ErrUnknownCaller = errors.New("iam: unknown access key")

// Caller returns the identity of the access key that signed a request.
func (s *Service) Caller(ctx context.Context, accessKeyID string) (Caller, error) {
	key, err := s.cfg.Keys.Key(ctx, accessKeyID)
	if errors.Is(err, credentials.ErrNotFound) {
		return Caller{}, ErrUnknownCaller
	}
	if err != nil {
		return Caller{}, err
	}
	c := Caller{Account: s.cfg.Account, ARN: key.Principal, ID: key.PrincipalID, AccessKeyID: key.AccessKeyID}
	switch {
	case key.Root:
		c.Kind, c.ID = CallerRoot, s.cfg.Account
	case key.Temporary():
		c.Kind = CallerSession
	case key.UserName != "":
		c.Kind, c.UserName = CallerUser, key.UserName
	default:
		return Caller{}, fmt.Errorf("iam: access key %s belongs to no identity", accessKeyID)
	}
	return c, nil
}

// recordKey is the store key of a user or role: names are unique
// regardless of case.
func recordKey(name string) string { return strings.ToLower(name) }

func getRecord[T any](ctx context.Context, st Store, kind, name string) (*T, uint64, error) {
	return store.Read[T](ctx, st, kind, recordKey(name))
}

func listRecords[T any](ctx context.Context, st Store, kind string) ([]string, []T, error) {
	recs, err := st.List(ctx, kind, "")
	if err != nil {
		return nil, nil, fmt.Errorf("listing %s: %w", kind, err)
	}
	keys := make([]string, 0, len(recs))
	out := make([]T, 0, len(recs))
	for _, r := range recs {
		var v T
		if err := json.Unmarshal(r.Value, &v); err != nil {
			return nil, nil, fmt.Errorf("decoding %s %s: %w", kind, r.Key, err)
		}
		keys = append(keys, r.Key)
		out = append(out, v)
	}
	return keys, out, nil
}

// page cuts the page that in asks for out of items, whose sorted store
// keys are keys.
func page[T any](in ListInput, keys []string, items []T) (Page[T], error) {
	size := 100
	if in.MaxItems != nil {
		size = *in.MaxItems
	}
	after := ""
	if in.Marker != "" {
		b, err := base64.RawURLEncoding.DecodeString(in.Marker)
		if err != nil || !strings.HasPrefix(string(b), "v1:") {
			return Page[T]{}, errorf(CodeValidation, "Invalid Marker.")
		}
		after = strings.TrimPrefix(string(b), "v1:")
	}
	p := Page[T]{Items: []T{}}
	for i, k := range keys {
		if after != "" && k <= after {
			continue
		}
		if len(p.Items) == size {
			p.Truncated = true
			p.Marker = base64.RawURLEncoding.EncodeToString([]byte("v1:" + keys[i-1]))
			break
		}
		p.Items = append(p.Items, items[i])
	}
	return p, nil
}

// CreateUserInput is a CreateUser request. Nil pointers are absent
// parameters.
type CreateUserInput struct {
	UserName *string
	Path     *string
	Tags     []Tag
}

// CreateUser creates an IAM user.
func (s *Service) CreateUser(ctx context.Context, c Caller, in CreateUserInput) (*User, error) {
	var v violations
	v.name(in.UserName, "userName", 64)
	v.path(in.Path, "path")
	dup := v.tags(in.Tags)
	if err := v.err(); err != nil {
		return nil, err
	}
	if dup != nil {
		return nil, dup
	}
	name, path := *in.UserName, cleanPath(in.Path)
	u := &User{Name: name, Path: path, ID: "AIDA" + credentials.RandomID(17), ARN: s.arn("user", path, name), Created: s.now(), Tags: in.Tags}
	if err := authorize(c, access{action: "iam:CreateUser", resource: u.ARN}); err != nil {
		return nil, err
	}
	raw, err := json.Marshal(u)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.cfg.Store.Apply(ctx, store.Op{Kind: KindUser, Key: recordKey(name), Value: raw, Create: true}); err != nil {
		if errors.Is(err, store.ErrExists) {
			return nil, errorf(CodeEntityAlreadyExists, "User with name %s already exists.", name)
		}
		return nil, fmt.Errorf("storing user %s: %w", name, err)
	}
	return u, nil
}

// user returns the user named name, or NoSuchEntity.
func (s *Service) user(ctx context.Context, name string) (*User, uint64, error) {
	u, rev, err := getRecord[User](ctx, s.cfg.Store, KindUser, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, 0, noSuchUser(name)
	}
	return u, rev, err
}

// GetUser returns the user named userName; nil means the caller's own
// user (for the root, the account's root user: its id and ARN).
func (s *Service) GetUser(ctx context.Context, c Caller, userName *string) (*User, error) {
	if userName == nil {
		switch c.Kind {
		case CallerRoot:
			return &User{ID: s.cfg.Account, ARN: s.rootARN()}, nil
		case CallerSession:
			return nil, errNotUserCredentials
		}
		userName = &c.UserName
	}
	var v violations
	v.name(userName, "userName", 128)
	if err := v.err(); err != nil {
		return nil, err
	}
	u, _, err := s.user(ctx, *userName)
	if err != nil {
		return nil, err
	}
	if err := authorize(c, access{action: "iam:GetUser", resource: u.ARN}); err != nil {
		return nil, err
	}
	return u, nil
}

// ListUsers lists the users, by name.
func (s *Service) ListUsers(ctx context.Context, c Caller, in ListInput) (Page[User], error) {
	var v violations
	v.list(in, true)
	if err := v.err(); err != nil {
		return Page[User]{}, err
	}
	if err := authorize(c, access{action: "iam:ListUsers", resource: s.arn("user", "/", "")}); err != nil {
		return Page[User]{}, err
	}
	keys, users, err := listRecords[User](ctx, s.cfg.Store, KindUser)
	if err != nil {
		return Page[User]{}, err
	}
	keys, users = filterPath(keys, users, in.PathPrefix, func(u User) string { return u.Path })
	return page(in, keys, users)
}

func filterPath[T any](keys []string, items []T, prefix string, path func(T) string) ([]string, []T) {
	if prefix == "" || prefix == "/" {
		return keys, items
	}
	var k2 []string
	var i2 []T
	for i, it := range items {
		if strings.HasPrefix(path(it), prefix) {
			k2 = append(k2, keys[i])
			i2 = append(i2, it)
		}
	}
	return k2, i2
}

// DeleteUser deletes a user that has no access keys left.
func (s *Service) DeleteUser(ctx context.Context, c Caller, userName *string) error {
	var v violations
	v.name(userName, "userName", 128)
	if err := v.err(); err != nil {
		return err
	}
	name := *userName
	s.mu.Lock()
	defer s.mu.Unlock()
	u, rev, err := s.user(ctx, name)
	if err != nil {
		// Without the permission, a caller learns nothing of the user.
		if denied := authorize(c, access{action: "iam:DeleteUser", resource: s.arn("user", "/", name)}); denied != nil {
			return denied
		}
		return err
	}
	if err := authorize(c, access{action: "iam:DeleteUser", resource: u.ARN}); err != nil {
		return err
	}
	keys, err := s.keysOf(ctx, u.Name)
	if err != nil {
		return err
	}
	if len(keys) > 0 {
		return errorf(CodeDeleteConflict, "Cannot delete entity, must delete access keys first.")
	}
	if _, err := s.cfg.Store.Apply(ctx, store.Op{Kind: KindUser, Key: recordKey(name), Delete: true, IfRevision: rev}); err != nil {
		return fmt.Errorf("deleting user %s: %w", name, err)
	}
	return nil
}

// keysOf returns the long-term keys of a user, or of the root when
// userName is empty, by access key id.
func (s *Service) keysOf(ctx context.Context, userName string) ([]credentials.Key, error) {
	all, err := s.cfg.Keys.List(ctx)
	if err != nil {
		return nil, err
	}
	var out []credentials.Key
	for _, k := range all {
		if k.Temporary() {
			continue
		}
		if userName == "" && k.Root || userName != "" && strings.EqualFold(k.UserName, userName) {
			out = append(out, k)
		}
	}
	return out, nil
}

// keyOwner resolves the user an access key action is about: the named
// user, or with no name the caller itself ("" for the root).
func (s *Service) keyOwner(c Caller, userName *string) (name string, own bool, err error) {
	if userName == nil {
		switch c.Kind {
		case CallerRoot:
			return "", true, nil
		case CallerSession:
			return "", false, errNotUserCredentials
		}
		return c.UserName, true, nil
	}
	var v violations
	v.name(userName, "userName", 128)
	if err := v.err(); err != nil {
		return "", false, err
	}
	return *userName, c.Kind == CallerUser && strings.EqualFold(*userName, c.UserName), nil
}

// keyAccess is the access an access key action asks for.
func keyAccess(action, owner string, own bool) access {
	resource := "user " + owner
	if owner == "" {
		resource = "root"
	}
	return access{action: action, resource: resource, ownUser: own}
}

// CreateAccessKey creates a long-term access key for a user (nil: the
// caller's own user, or the root). A user has at most two.
func (s *Service) CreateAccessKey(ctx context.Context, c Caller, userName *string) (*AccessKey, error) {
	owner, own, err := s.keyOwner(c, userName)
	if err != nil {
		return nil, err
	}
	if err := authorize(c, keyAccess("iam:CreateAccessKey", owner, own)); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := credentials.Key{
		AccessKeyID:     credentials.NewAccessKeyID(credentials.LongTermPrefix),
		SecretAccessKey: credentials.NewSecret(),
		Created:         s.now(),
	}
	if owner == "" {
		key.Root, key.Principal, key.PrincipalID = true, s.rootARN(), s.cfg.Account
	} else {
		u, _, err := s.user(ctx, owner)
		if err != nil {
			return nil, err
		}
		key.UserName, key.Principal, key.PrincipalID = u.Name, u.ARN, u.ID
	}
	keys, err := s.keysOf(ctx, key.UserName)
	if err != nil {
		return nil, err
	}
	if len(keys) >= MaxAccessKeysPerUser {
		return nil, errorf(CodeLimitExceeded, "Cannot exceed quota for AccessKeysPerUser: %d", MaxAccessKeysPerUser)
	}
	if err := s.cfg.Keys.Create(ctx, key); err != nil {
		return nil, err
	}
	return &AccessKey{UserName: key.UserName, AccessKeyID: key.AccessKeyID, Status: "Active", SecretAccessKey: key.SecretAccessKey, Created: key.Created}, nil
}

// ListAccessKeys lists the access keys of a user (nil: the caller's own
// user, or the root), without their secrets.
func (s *Service) ListAccessKeys(ctx context.Context, c Caller, userName *string, in ListInput) (Page[AccessKey], error) {
	owner, own, err := s.keyOwner(c, userName)
	if err != nil {
		return Page[AccessKey]{}, err
	}
	var v violations
	v.list(in, false)
	if err := v.err(); err != nil {
		return Page[AccessKey]{}, err
	}
	if err := authorize(c, keyAccess("iam:ListAccessKeys", owner, own)); err != nil {
		return Page[AccessKey]{}, err
	}
	name := ""
	if owner != "" {
		u, _, err := s.user(ctx, owner)
		if err != nil {
			return Page[AccessKey]{}, err
		}
		name = u.Name
	}
	keys, err := s.keysOf(ctx, name)
	if err != nil {
		return Page[AccessKey]{}, err
	}
	ids := make([]string, len(keys))
	out := make([]AccessKey, len(keys))
	for i, k := range keys {
		ids[i] = k.AccessKeyID
		out[i] = AccessKey{UserName: k.UserName, AccessKeyID: k.AccessKeyID, Status: "Active", Created: k.Created}
	}
	return page(in, ids, out)
}

// DeleteAccessKey deletes an access key of a user (nil: the caller's own
// user, or the root). The key stops working at once.
func (s *Service) DeleteAccessKey(ctx context.Context, c Caller, userName, accessKeyID *string) error {
	var v violations
	if accessKeyID == nil {
		v.null("accessKeyId")
	} else {
		v.text(*accessKeyID, "accessKeyId", 16, 128, accessKeyIDPattern, accessKeyRE.MatchString)
	}
	if userName != nil {
		v.name(userName, "userName", 128)
	}
	if err := v.err(); err != nil {
		return err
	}
	owner, own, err := s.keyOwner(c, userName)
	if err != nil {
		return err
	}
	if err := authorize(c, keyAccess("iam:DeleteAccessKey", owner, own)); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	name := ""
	if owner != "" {
		u, _, err := s.user(ctx, owner)
		if err != nil {
			return err
		}
		name = u.Name
	}
	keys, err := s.keysOf(ctx, name)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(keys, func(k credentials.Key) bool { return k.AccessKeyID == *accessKeyID }) {
		return noSuchAccessKey(*accessKeyID)
	}
	if err := s.cfg.Keys.Delete(ctx, *accessKeyID); errors.Is(err, credentials.ErrNotFound) {
		return noSuchAccessKey(*accessKeyID)
	} else if err != nil {
		return err
	}
	return nil
}
