package fargate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/berthproject/berth/internal/apierror"
	"github.com/berthproject/berth/internal/cluster"
	"github.com/berthproject/berth/internal/paging"
	"github.com/berthproject/berth/internal/store"
	"github.com/berthproject/berth/internal/vpc"
)

// Store is what the service needs of berth's store.
type Store interface {
	Get(ctx context.Context, kind, key string) (store.Record, error)
	List(ctx context.Context, kind, prefix string) ([]store.Record, error)
	Apply(ctx context.Context, ops ...store.Op) (uint64, error)
}

// Config wires a Service.
type Config struct {
	Store    Store
	Clusters *cluster.Service
	Network  *vpc.Network
	Account  string
	Region   string
	// MaxProfilesPerCluster is the EKS quota "Fargate profiles per
	// cluster" (default 10).
	MaxProfilesPerCluster int
	Now                   func() time.Time
}

// Service implements the Fargate profile operations of the EKS API.
type Service struct {
	cfg Config
	// mu serializes Create and Delete: what they check of the other
	// profiles of a cluster (one CREATING or DELETING at a time, the
	// quota) must still hold when their write commits. One process owns
	// a data directory, so a process-wide lock is enough.
	mu sync.Mutex
}

// New checks cfg and returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Clusters == nil || cfg.Network == nil {
		return nil, errors.New("fargate: Store, Clusters and Network are required")
	}
	if cfg.Account == "" || cfg.Region == "" {
		return nil, errors.New("fargate: Account and Region are required")
	}
	if cfg.MaxProfilesPerCluster == 0 {
		cfg.MaxProfilesPerCluster = 10
	}
	if cfg.MaxProfilesPerCluster < 0 {
		return nil, fmt.Errorf("fargate: MaxProfilesPerCluster %d is negative", cfg.MaxProfilesPerCluster)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{cfg: cfg}, nil
}

// ARN returns the ARN of a Fargate profile.
func (s *Service) ARN(clusterName, name, id string) string {
	return s.ARNPrefix() + clusterName + "/" + name + "/" + id
}

// ARNPrefix is the part every Fargate profile ARN of this account and
// region starts with; the rest is CLUSTER/NAME/ID.
func (s *Service) ARNPrefix() string {
	return fmt.Sprintf("arn:aws:eks:%s:%s:fargateprofile/", s.cfg.Region, s.cfg.Account)
}

// CreateInput is a CreateFargateProfile request; Create validates it.
type CreateInput struct {
	Cluster             string
	Name                string
	PodExecutionRoleARN string
	// Subnets default to the private subnets of the cluster's VPC
	// configuration.
	Subnets            []string
	Selectors          []Selector
	Tags               map[string]string
	ClientRequestToken string
}

// fields adds the cluster and profile names to the errors whose EKS
// exception shapes carry them (only InvalidParameterException and
// ResourceNotFoundException have fargateProfileName).
func fields(err error, clusterName, name string) error {
	e, ok := apierror.As(err)
	if !ok {
		return err
	}
	switch e.Kind {
	case apierror.InvalidParameter, apierror.ResourceNotFound:
		if name != "" {
			e.With("fargateProfileName", name)
		}
		fallthrough
	case apierror.InvalidRequest, apierror.ResourceInUse, apierror.ResourceLimit:
		if clusterName != "" {
			e.With("clusterName", clusterName)
		}
	}
	return e
}

func notFound(clusterName, name string) error {
	return fields(apierror.New(apierror.ResourceNotFound, "No Fargate Profile found with name: %s.", name), clusterName, name)
}

func alreadyExists(clusterName, name string) error {
	return fields(apierror.New(apierror.ResourceInUse, "A Fargate Profile already exists with this name in this cluster."), clusterName, name)
}

// Create validates a CreateFargateProfile request and records the profile
// as CREATING in one store commit. A repeated request with the same
// clientRequestToken returns the profile the first one created.
func (s *Service) Create(ctx context.Context, in CreateInput) (*Profile, error) {
	p, err := s.create(ctx, in)
	if err != nil {
		return nil, fields(err, in.Cluster, in.Name)
	}
	return p, nil
}

func (s *Service) create(ctx context.Context, in CreateInput) (*Profile, error) {
	if err := validateName(in.Name); err != nil {
		return nil, err
	}
	c, _, err := s.cfg.Clusters.Get(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if existing, _, err := s.get(ctx, in.Cluster, in.Name); err == nil {
		if in.ClientRequestToken != "" && existing.ClientRequestToken == in.ClientRequestToken {
			return existing, nil
		}
		return nil, alreadyExists(in.Cluster, in.Name)
	} else if !apierror.IsKind(err, apierror.ResourceNotFound) {
		return nil, err
	}
	if c.Status != cluster.StatusActive {
		return nil, apierror.New(apierror.InvalidRequest, "Cluster '%s' is not in ACTIVE status", in.Cluster)
	}
	p, err := s.build(in, c)
	if err != nil {
		return nil, err
	}
	all, err := s.All(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	for _, o := range all {
		if o.Status == StatusCreating || o.Status == StatusDeleting {
			return nil, apierror.New(apierror.ResourceInUse,
				"Cannot create Fargate Profile %s because cluster %s currently has Fargate profile %s in status %s", in.Name, in.Cluster, o.Name, o.Status)
		}
	}
	if len(all) >= s.cfg.MaxProfilesPerCluster {
		return nil, apierror.New(apierror.ResourceLimit,
			"Fargate profile limit exceeded for cluster %s: a cluster can have at most %d Fargate profiles.", in.Cluster, s.cfg.MaxProfilesPerCluster)
	}
	raw, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	if _, err := s.cfg.Store.Apply(ctx, store.Op{Kind: KindProfile, Key: Key(in.Cluster, in.Name), Value: raw, Create: true}); err != nil {
		if errors.Is(err, store.ErrExists) {
			return nil, alreadyExists(in.Cluster, in.Name)
		}
		return nil, fmt.Errorf("storing Fargate profile %s/%s: %w", in.Cluster, in.Name, err)
	}
	return p, nil
}

// build validates a request and returns the record it asks for.
func (s *Service) build(in CreateInput, c *cluster.Cluster) (*Profile, error) {
	if err := validateRole(in.PodExecutionRoleARN); err != nil {
		return nil, err
	}
	subnets, err := s.profileSubnets(in.Subnets, c)
	if err != nil {
		return nil, err
	}
	if err := validateSelectors(in.Selectors); err != nil {
		return nil, err
	}
	if err := cluster.ValidateTags(in.Tags); err != nil {
		return nil, err
	}
	sels := make([]Selector, len(in.Selectors))
	for i, sel := range in.Selectors {
		sels[i] = Selector{Namespace: sel.Namespace, Labels: nonEmpty(maps.Clone(sel.Labels))}
	}
	id := uuid.NewString()
	return &Profile{
		Name:                in.Name,
		ARN:                 s.ARN(in.Cluster, in.Name, id),
		Cluster:             in.Cluster,
		ID:                  id,
		CreatedAt:           s.cfg.Now().UTC().Truncate(time.Millisecond),
		Status:              StatusCreating,
		PodExecutionRoleARN: in.PodExecutionRoleARN,
		Subnets:             subnets,
		Selectors:           sels,
		Tags:                nonEmpty(maps.Clone(in.Tags)),
		ClientRequestToken:  in.ClientRequestToken,
	}, nil
}

func nonEmpty(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}

// get reads a profile and its store revision.
func (s *Service) get(ctx context.Context, clusterName, name string) (*Profile, uint64, error) {
	if name == "" || len(name) > maxNameLength || !validNameChars(name) {
		return nil, 0, notFound(clusterName, name)
	}
	p, rev, err := store.Read[Profile](ctx, s.cfg.Store, KindProfile, Key(clusterName, name))
	if errors.Is(err, store.ErrNotFound) {
		return nil, 0, notFound(clusterName, name)
	}
	return p, rev, err
}

// Get returns a profile and the store revision it was read at. A missing
// cluster is reported as such.
func (s *Service) Get(ctx context.Context, clusterName, name string) (*Profile, uint64, error) {
	p, rev, err := s.get(ctx, clusterName, name)
	if apierror.IsKind(err, apierror.ResourceNotFound) {
		if _, _, cerr := s.cfg.Clusters.Get(ctx, clusterName); cerr != nil {
			return nil, 0, fields(cerr, clusterName, name)
		}
	}
	return p, rev, err
}

// List returns the profile names of a cluster in order, a page at a time.
// The token is opaque to callers.
func (s *Service) List(ctx context.Context, clusterName string, maxResults int, token string) ([]string, string, error) {
	limit, err := paging.Limit(maxResults)
	if err != nil {
		return nil, "", err
	}
	after, err := paging.After(token)
	if err != nil {
		return nil, "", err
	}
	if _, _, err := s.cfg.Clusters.Get(ctx, clusterName); err != nil {
		return nil, "", err
	}
	all, err := names(ctx, s.cfg.Store, clusterName)
	if err != nil {
		return nil, "", err
	}
	page, next := paging.Page(all, limit, after)
	return page, next, nil
}

// names lists the profile names of a cluster in key order.
func names(ctx context.Context, st Store, clusterName string) ([]string, error) {
	recs, err := st.List(ctx, KindProfile, clusterName+"/")
	if err != nil {
		return nil, fmt.Errorf("listing Fargate profiles of %s: %w", clusterName, err)
	}
	out := make([]string, 0, len(recs))
	for _, r := range recs {
		out = append(out, strings.TrimPrefix(r.Key, clusterName+"/"))
	}
	return out, nil
}

// All returns every profile of a cluster, sorted by name (for the
// controller, and for Match).
func (s *Service) All(ctx context.Context, clusterName string) ([]*Profile, error) {
	out, err := store.ReadAll[Profile](ctx, s.cfg.Store, KindProfile, clusterName+"/")
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b *Profile) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Attached returns the names of the profiles of a cluster, in any status
// (for the controller).
func (s *Service) Attached(ctx context.Context, clusterName string) ([]string, error) {
	return names(ctx, s.cfg.Store, clusterName)
}

// AttachedIn returns the hook cluster.Config.FargateProfiles wants: the
// profile names of a cluster as st holds them. (The cluster service
// cannot import this package, which imports it, and is built before the
// Service.)
func AttachedIn(st Store) func(ctx context.Context, clusterName string) ([]string, error) {
	return func(ctx context.Context, clusterName string) ([]string, error) {
		return names(ctx, st, clusterName)
	}
}

// Mutate reads a profile, applies fn and writes it back if nothing else
// changed it in between; it retries on conflicts. A profile fn leaves
// unchanged is not written.
func (s *Service) Mutate(ctx context.Context, clusterName, name string, fn func(p *Profile) error) (*Profile, error) {
	get := func(ctx context.Context) (*Profile, uint64, error) { return s.Get(ctx, clusterName, name) }
	p, err := store.Mutate(ctx, s.cfg.Store.Apply, KindProfile, Key(clusterName, name), get,
		func(p *Profile) ([]store.Op, error) { return nil, fn(p) })
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound(clusterName, name)
	}
	if err != nil {
		if _, ok := apierror.As(err); !ok {
			return nil, fmt.Errorf("writing Fargate profile %s/%s: %w", clusterName, name, err)
		}
		return nil, err
	}
	return p, nil
}

// Delete marks a profile DELETING. Deleting a profile that is already
// being deleted returns it unchanged. EKS deletes one profile of a
// cluster at a time, and none while the cluster has an update in
// progress.
func (s *Service) Delete(ctx context.Context, clusterName, name string) (*Profile, error) {
	p, err := s.delete(ctx, clusterName, name)
	if err != nil {
		return nil, fields(err, clusterName, name)
	}
	return p, nil
}

func (s *Service) delete(ctx context.Context, clusterName, name string) (*Profile, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, _, err := s.Get(ctx, clusterName, name)
	if err != nil {
		return nil, err
	}
	if p.Status == StatusDeleting {
		return p, nil
	}
	all, err := s.All(ctx, clusterName)
	if err != nil {
		return nil, err
	}
	for _, o := range all {
		if o.Name != name && o.Status == StatusDeleting {
			return nil, apierror.New(apierror.ResourceInUse,
				"Cannot Delete Fargate Profile %s because cluster %s currently has Fargate profile %s in status DELETING", name, clusterName, o.Name)
		}
	}
	ups, err := s.cfg.Clusters.Updates(ctx, clusterName)
	if err != nil {
		return nil, err
	}
	if slices.ContainsFunc(ups, func(u *cluster.Update) bool { return u.Status == cluster.UpdateInProgress }) {
		return nil, apierror.New(apierror.ResourceInUse,
			"Cannot Delete Fargate Profile %s because cluster %s currently has an update in progress", name, clusterName)
	}
	return s.Mutate(ctx, clusterName, name, func(p *Profile) error {
		p.Status = StatusDeleting
		return nil
	})
}

// Remove deletes a profile record (for the controller, once the profile's
// pods are gone). Removing a profile that is gone already succeeds.
func (s *Service) Remove(ctx context.Context, clusterName, name string) error {
	_, err := s.cfg.Store.Apply(ctx, store.Op{Kind: KindProfile, Key: Key(clusterName, name), Delete: true})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("removing Fargate profile %s/%s: %w", clusterName, name, err)
	}
	return nil
}

// Tag adds or replaces tags on a profile.
func (s *Service) Tag(ctx context.Context, clusterName, name string, tags map[string]string) error {
	return cluster.ApplyTags(tags, s.tagsOf(ctx, clusterName, name))
}

// Untag removes tags from a profile; missing keys are ignored.
func (s *Service) Untag(ctx context.Context, clusterName, name string, keys []string) error {
	return cluster.ApplyUntags(keys, s.tagsOf(ctx, clusterName, name))
}

func (s *Service) tagsOf(ctx context.Context, clusterName, name string) cluster.TagsUpdate {
	return func(change func(*map[string]string) error) error {
		_, err := s.Mutate(ctx, clusterName, name, func(p *Profile) error { return change(&p.Tags) })
		return err
	}
}
