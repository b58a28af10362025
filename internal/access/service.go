package access

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/berthproject/berth/internal/apierror"
	"github.com/berthproject/berth/internal/cluster"
	"github.com/berthproject/berth/internal/paging"
	"github.com/berthproject/berth/internal/store"
)

// Store is what the service needs of berth's store.
type Store interface {
	Get(ctx context.Context, kind, key string) (store.Record, error)
	List(ctx context.Context, kind, prefix string) ([]store.Record, error)
	Apply(ctx context.Context, ops ...store.Op) (uint64, error)
}

// Clusters is what the service needs of the cluster service.
type Clusters interface {
	Get(ctx context.Context, name string) (*cluster.Cluster, uint64, error)
}

var _ Clusters = (*cluster.Service)(nil)

// Config wires a Service.
type Config struct {
	Store    Store
	Clusters Clusters
	Now      func() time.Time
}

// Service implements the access entry operations of the EKS API.
type Service struct {
	cfg Config
}

// New checks cfg and returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Clusters == nil {
		return nil, errors.New("access: Store and Clusters are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{cfg: cfg}, nil
}

func (s *Service) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Millisecond) }

// fields adds the cluster name to the errors whose EKS exception shapes
// carry it.
func fields(err error, clusterName string) error {
	e, ok := apierror.As(err)
	if !ok || clusterName == "" {
		return err
	}
	switch e.Kind {
	case apierror.InvalidParameter, apierror.InvalidRequest, apierror.ResourceNotFound, apierror.ResourceInUse, apierror.ResourceLimit:
		e.With("clusterName", clusterName)
	}
	return e
}

func notFound() error { return apierror.New(apierror.ResourceNotFound, msgNotFound) }

// cluster returns a cluster whose access entries can be used: it exists,
// and its authentication mode includes the EKS API.
func (s *Service) cluster(ctx context.Context, name string) (*cluster.Cluster, error) {
	c, _, err := s.cfg.Clusters.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	if c.Access.AuthenticationMode == ModeConfigMap {
		return nil, apierror.New(apierror.InvalidRequest, msgAuthMode)
	}
	return c, nil
}

// entryARN is the ARN of an entry:
// arn:aws:eks:REGION:ACCOUNT:access-entry/CLUSTER/KIND/PRINCIPAL-ACCOUNT/NAME/ID,
// in the cluster's partition, region and account.
func entryARN(c *cluster.Cluster, p Principal, id string) string {
	prefix := "arn:aws:eks:::"
	if parts := strings.SplitN(c.ARN, ":", 6); len(parts) == 6 {
		prefix = strings.Join(parts[:5], ":") + ":"
	}
	return fmt.Sprintf("%saccess-entry/%s/%s/%s/%s/%s", prefix, c.Name, p.Kind, p.Account, p.Name, id)
}

// clusterAccount is the account a cluster's ARN names.
func clusterAccount(c *cluster.Cluster) string {
	if parts := strings.SplitN(c.ARN, ":", 6); len(parts) == 6 {
		return parts[4]
	}
	return ""
}

// CreateInput is a CreateAccessEntry request; Create validates it.
type CreateInput struct {
	Cluster      string
	PrincipalARN string
	// Type is STANDARD when empty.
	Type             string
	KubernetesGroups []string
	// Username is EKS's default for the type and principal when empty.
	Username           string
	Tags               map[string]string
	ClientRequestToken string
}

// Create validates a CreateAccessEntry request and records the entry. A
// repeated request with the same clientRequestToken returns the entry
// the first one created.
func (s *Service) Create(ctx context.Context, in CreateInput) (*Entry, error) {
	e, err := s.create(ctx, in)
	return e, fields(err, in.Cluster)
}

func (s *Service) create(ctx context.Context, in CreateInput) (*Entry, error) {
	c, err := s.cluster(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	if c.Status == cluster.StatusDeleting {
		return nil, apierror.New(apierror.InvalidRequest, "Cluster '%s' is in DELETING status", in.Cluster)
	}
	typ, err := validateType(in.Type)
	if err != nil {
		return nil, err
	}
	p, err := principalFor(in.PrincipalARN, typ, clusterAccount(c))
	if err != nil {
		return nil, err
	}
	e, err := s.build(in, typ, p, c)
	if err != nil {
		return nil, err
	}
	if existing, _, err := s.get(ctx, in.Cluster, in.PrincipalARN); err == nil {
		if in.ClientRequestToken != "" && existing.ClientRequestToken == in.ClientRequestToken {
			return existing, nil
		}
		return nil, apierror.New(apierror.ResourceInUse, msgInUse)
	} else if !apierror.IsKind(err, apierror.ResourceNotFound) {
		return nil, err
	}
	raw, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	if _, err := s.cfg.Store.Apply(ctx, store.Op{Kind: KindEntry, Key: Key(in.Cluster, in.PrincipalARN), Value: raw, Create: true}); err != nil {
		if errors.Is(err, store.ErrExists) {
			return nil, apierror.New(apierror.ResourceInUse, msgInUse)
		}
		return nil, fmt.Errorf("storing access entry %s of %s: %w", in.PrincipalARN, in.Cluster, err)
	}
	return e, nil
}

// build returns the entry a valid request asks for.
func (s *Service) build(in CreateInput, typ string, p Principal, c *cluster.Cluster) (*Entry, error) {
	if in.Username != "" {
		if err := validateUsername(in.Username); err != nil {
			return nil, err
		}
	}
	groups, err := validateGroups(in.KubernetesGroups)
	if err != nil {
		return nil, err
	}
	if typ != TypeStandard && len(groups) > 0 {
		return nil, invalid("kubernetesGroups cannot be specified for access entries of type %s: EKS gives their nodes the groups they need.", typ)
	}
	if typ != TypeStandard && in.Username != "" {
		return nil, invalid("username cannot be specified for access entries of type %s: EKS sets it to %s.", typ, defaultUsername(typ, p))
	}
	if err := cluster.ValidateTags(in.Tags); err != nil {
		return nil, err
	}
	username := in.Username
	if username == "" {
		username = defaultUsername(typ, p)
	}
	if typ != TypeStandard {
		groups = defaultGroups(typ)
	}
	now := s.now()
	return &Entry{
		Cluster:            in.Cluster,
		PrincipalARN:       p.ARN,
		ARN:                entryARN(c, p, uuid.NewString()),
		Type:               typ,
		Username:           username,
		KubernetesGroups:   groups,
		CreatedAt:          now,
		ModifiedAt:         now,
		Tags:               nonEmpty(maps.Clone(in.Tags)),
		ClientRequestToken: in.ClientRequestToken,
	}, nil
}

func nonEmpty(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}

// get reads an entry and its store revision.
func (s *Service) get(ctx context.Context, clusterName, principalARN string) (*Entry, uint64, error) {
	if principalARN == "" {
		return nil, 0, notFound()
	}
	e, rev, err := store.Read[Entry](ctx, s.cfg.Store, KindEntry, Key(clusterName, principalARN))
	if errors.Is(err, store.ErrNotFound) {
		return nil, 0, notFound()
	}
	return e, rev, err
}

// Get returns an entry (DescribeAccessEntry).
func (s *Service) Get(ctx context.Context, clusterName, principalARN string) (*Entry, error) {
	if _, err := s.cluster(ctx, clusterName); err != nil {
		return nil, fields(err, clusterName)
	}
	e, _, err := s.get(ctx, clusterName, principalARN)
	return e, fields(err, clusterName)
}

// List returns the principal ARNs of a cluster's entries in order, a page
// at a time; with policyARN, only those of the entries that policy is
// associated with. The token is opaque to callers.
func (s *Service) List(ctx context.Context, clusterName, policyARN string, maxResults int, token string) ([]string, string, error) {
	arns, next, err := s.list(ctx, clusterName, policyARN, maxResults, token)
	return arns, next, fields(err, clusterName)
}

func (s *Service) list(ctx context.Context, clusterName, policyARN string, maxResults int, token string) ([]string, string, error) {
	limit, err := paging.Limit(maxResults)
	if err != nil {
		return nil, "", err
	}
	after, err := paging.After(token)
	if err != nil {
		return nil, "", err
	}
	if _, err := s.cluster(ctx, clusterName); err != nil {
		return nil, "", err
	}
	all, err := s.All(ctx, clusterName)
	if err != nil {
		return nil, "", err
	}
	var keys []string
	for _, e := range all {
		if _, ok := e.Policy(policyARN); policyARN == "" || ok {
			keys = append(keys, e.PrincipalARN)
		}
	}
	page, next := paging.Page(keys, limit, after)
	return page, next, nil
}

// All returns every entry of a cluster with its policies, sorted by
// principal ARN. It does not look at the cluster.
func (s *Service) All(ctx context.Context, clusterName string) ([]*Entry, error) {
	out, err := store.ReadAll[Entry](ctx, s.cfg.Store, KindEntry, clusterName+"/")
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b *Entry) int { return strings.Compare(a.PrincipalARN, b.PrincipalARN) })
	return out, nil
}

// Resolve returns the entry of a cluster that applies to a caller: the
// entry of the caller's ARN for an IAM user, role or the root; for an STS
// assumed-role session arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION, the
// entry of the role arn:aws:iam::ACCOUNT:role/[PATH/]ROLE, whatever its
// path. It reports false when no entry applies, or the ARN is none of
// these.
func (s *Service) Resolve(ctx context.Context, clusterName, principalARN string) (*Entry, bool, error) {
	p, err := ParsePrincipal(principalARN)
	if err != nil {
		return nil, false, nil
	}
	if p.Kind != KindSession {
		e, _, err := s.get(ctx, clusterName, principalARN)
		if apierror.IsKind(err, apierror.ResourceNotFound) {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, err
		}
		return e, true, nil
	}
	all, err := s.All(ctx, clusterName)
	if err != nil {
		return nil, false, err
	}
	for _, e := range all {
		q, err := ParsePrincipal(e.PrincipalARN)
		if err == nil && q.Kind == KindRole && q.Partition == p.Partition && q.Account == p.Account && q.Name == p.Name {
			return e, true, nil
		}
	}
	return nil, false, nil
}

// mutate reads an entry, applies fn and writes it back if nothing else
// changed it in between; it retries on conflicts.
func (s *Service) mutate(ctx context.Context, clusterName, principalARN string, fn func(e *Entry) error) (*Entry, error) {
	get := func(ctx context.Context) (*Entry, uint64, error) { return s.get(ctx, clusterName, principalARN) }
	e, err := store.Mutate(ctx, s.cfg.Store.Apply, KindEntry, Key(clusterName, principalARN), get,
		func(e *Entry) ([]store.Op, error) { return nil, fn(e) })
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound()
	}
	if err != nil {
		if _, ok := apierror.As(err); !ok {
			return nil, fmt.Errorf("writing access entry %s of %s: %w", principalARN, clusterName, err)
		}
		return nil, err
	}
	return e, nil
}

// UpdateInput is an UpdateAccessEntry request.
type UpdateInput struct {
	Cluster      string
	PrincipalARN string
	// KubernetesGroups, when not nil, replaces the entry's groups (an
	// empty list removes them all).
	KubernetesGroups *[]string
	// Username, when not empty, replaces the entry's username.
	Username string
}

// Update changes the groups or the username of a STANDARD entry.
func (s *Service) Update(ctx context.Context, in UpdateInput) (*Entry, error) {
	e, err := s.update(ctx, in)
	return e, fields(err, in.Cluster)
}

func (s *Service) update(ctx context.Context, in UpdateInput) (*Entry, error) {
	if _, err := s.cluster(ctx, in.Cluster); err != nil {
		return nil, err
	}
	if in.Username != "" {
		if err := validateUsername(in.Username); err != nil {
			return nil, err
		}
	}
	var groups []string
	if in.KubernetesGroups != nil {
		var err error
		if groups, err = validateGroups(*in.KubernetesGroups); err != nil {
			return nil, err
		}
	}
	return s.mutate(ctx, in.Cluster, in.PrincipalARN, func(e *Entry) error {
		if in.KubernetesGroups == nil && in.Username == "" {
			return nil
		}
		if e.Type != TypeStandard {
			return invalid(msgNotStandard)
		}
		if in.KubernetesGroups != nil {
			e.KubernetesGroups = groups
		}
		if in.Username != "" {
			e.Username = in.Username
		}
		e.ModifiedAt = s.now()
		return nil
	})
}

// Delete removes an entry and its policy associations.
func (s *Service) Delete(ctx context.Context, clusterName, principalARN string) error {
	return fields(s.delete(ctx, clusterName, principalARN), clusterName)
}

func (s *Service) delete(ctx context.Context, clusterName, principalARN string) error {
	if _, err := s.cluster(ctx, clusterName); err != nil {
		return err
	}
	if principalARN == "" {
		return notFound()
	}
	_, err := s.cfg.Store.Apply(ctx, store.Op{Kind: KindEntry, Key: Key(clusterName, principalARN), Delete: true})
	if errors.Is(err, store.ErrNotFound) {
		return notFound()
	}
	if err != nil {
		return fmt.Errorf("deleting access entry %s of %s: %w", principalARN, clusterName, err)
	}
	return nil
}

// AssociateInput is an AssociateAccessPolicy request.
type AssociateInput struct {
	Cluster      string
	PrincipalARN string
	PolicyARN    string
	Scope        *Scope
}

// Associate associates an access policy with an entry in a scope; a
// policy already associated gets the new scope.
func (s *Service) Associate(ctx context.Context, in AssociateInput) (AssociatedPolicy, error) {
	p, err := s.associate(ctx, in)
	return p, fields(err, in.Cluster)
}

func (s *Service) associate(ctx context.Context, in AssociateInput) (AssociatedPolicy, error) {
	if _, err := s.cluster(ctx, in.Cluster); err != nil {
		return AssociatedPolicy{}, err
	}
	if in.PolicyARN == "" {
		return AssociatedPolicy{}, invalid("policyArn is required.")
	}
	if _, ok := PolicyName(in.PolicyARN); !ok {
		return AssociatedPolicy{}, invalid("The policyArn %s is not a valid access policy ARN: ListAccessPolicies lists them.", in.PolicyARN)
	}
	scope, err := validateScope(in.Scope)
	if err != nil {
		return AssociatedPolicy{}, err
	}
	var out AssociatedPolicy
	_, err = s.mutate(ctx, in.Cluster, in.PrincipalARN, func(e *Entry) error {
		if !canHavePolicies(e.Type) {
			return invalid(msgNotStandard)
		}
		now := s.now()
		i := slices.IndexFunc(e.Policies, func(p AssociatedPolicy) bool { return p.PolicyARN == in.PolicyARN })
		if i < 0 {
			e.Policies = append(e.Policies, AssociatedPolicy{PolicyARN: in.PolicyARN, Scope: scope, AssociatedAt: now, ModifiedAt: now})
			slices.SortFunc(e.Policies, func(a, b AssociatedPolicy) int { return strings.Compare(a.PolicyARN, b.PolicyARN) })
			out, _ = e.Policy(in.PolicyARN)
			return nil
		}
		if !slices.Equal(e.Policies[i].Scope.Namespaces, scope.Namespaces) || e.Policies[i].Scope.Type != scope.Type {
			e.Policies[i].Scope = scope
			e.Policies[i].ModifiedAt = now
		}
		out = e.Policies[i]
		return nil
	})
	return out, err
}

// Disassociate removes an access policy from an entry.
func (s *Service) Disassociate(ctx context.Context, clusterName, principalARN, policyARN string) error {
	return fields(s.disassociate(ctx, clusterName, principalARN, policyARN), clusterName)
}

func (s *Service) disassociate(ctx context.Context, clusterName, principalARN, policyARN string) error {
	if _, err := s.cluster(ctx, clusterName); err != nil {
		return err
	}
	_, err := s.mutate(ctx, clusterName, principalARN, func(e *Entry) error {
		i := slices.IndexFunc(e.Policies, func(p AssociatedPolicy) bool { return p.PolicyARN == policyARN })
		if i < 0 {
			return apierror.New(apierror.ResourceNotFound, "The access policy %s is not associated with the access entry of %s.", policyARN, principalARN)
		}
		e.Policies = slices.Delete(e.Policies, i, i+1)
		return nil
	})
	return err
}

// ListAssociated returns the policies associated with an entry, sorted
// by policy ARN, a page at a time.
func (s *Service) ListAssociated(ctx context.Context, clusterName, principalARN string, maxResults int, token string) ([]AssociatedPolicy, string, error) {
	out, next, err := s.listAssociated(ctx, clusterName, principalARN, maxResults, token)
	return out, next, fields(err, clusterName)
}

func (s *Service) listAssociated(ctx context.Context, clusterName, principalARN string, maxResults int, token string) ([]AssociatedPolicy, string, error) {
	limit, err := paging.Limit(maxResults)
	if err != nil {
		return nil, "", err
	}
	after, err := paging.After(token)
	if err != nil {
		return nil, "", err
	}
	if _, err := s.cluster(ctx, clusterName); err != nil {
		return nil, "", err
	}
	e, _, err := s.get(ctx, clusterName, principalARN)
	if err != nil {
		return nil, "", err
	}
	keys := make([]string, len(e.Policies))
	for i, p := range e.Policies {
		keys[i] = p.PolicyARN
	}
	page, next := paging.Page(keys, limit, after)
	out := make([]AssociatedPolicy, 0, len(page))
	for _, arn := range page {
		p, _ := e.Policy(arn)
		out = append(out, p)
	}
	return out, next, nil
}

// ListPolicies returns the EKS access policies, sorted by name, a page at
// a time (ListAccessPolicies).
func ListPolicies(maxResults int, token string) ([]Policy, string, error) {
	limit, err := paging.Limit(maxResults)
	if err != nil {
		return nil, "", err
	}
	after, err := paging.After(token)
	if err != nil {
		return nil, "", err
	}
	page, next := paging.Page(policyNames, limit, after)
	out := make([]Policy, len(page))
	for i, n := range page {
		out[i] = Policy{Name: n, ARN: PolicyARNPrefix + n}
	}
	return out, next, nil
}
