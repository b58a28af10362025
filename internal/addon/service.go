package addon

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
	"github.com/berthproject/berth/internal/versions"
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
	// Catalog is the add-ons offered (default: Builtin()).
	Catalog *Catalog
	// Versions is the Kubernetes versions DescribeAddonVersions reports
	// compatibilities for (default: the cluster service's).
	Versions *versions.Catalog
	Account  string
	Region   string
	Now      func() time.Time
}

// Service implements the add-on operations of the EKS API.
type Service struct {
	cfg Config
}

// ErrNotDeleting is returned by FinishDelete for an add-on that is not
// being deleted.
var ErrNotDeleting = errors.New("addon: add-on is not DELETING")

// ErrDeleting is returned by MarkActive for an add-on that is being
// deleted.
var ErrDeleting = errors.New("addon: add-on is DELETING")

// New checks cfg and returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Clusters == nil {
		return nil, errors.New("addon: Store and Clusters are required")
	}
	if cfg.Account == "" || cfg.Region == "" {
		return nil, errors.New("addon: Account and Region are required")
	}
	if cfg.Catalog == nil {
		cfg.Catalog = Builtin()
	}
	if cfg.Versions == nil {
		cfg.Versions = cfg.Clusters.Versions()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{cfg: cfg}, nil
}

// Catalog is the catalog the service offers (the controller reads Runs
// from it).
func (s *Service) Catalog() *Catalog { return s.cfg.Catalog }

// ARN returns the ARN of an add-on.
func (s *Service) ARN(clusterName, name, id string) string {
	return s.ARNPrefix() + clusterName + "/" + name + "/" + id
}

// ARNPrefix is the part every add-on ARN of this account and region
// starts with; the rest is CLUSTER/ADDON/ID.
func (s *Service) ARNPrefix() string {
	return fmt.Sprintf("arn:aws:eks:%s:%s:addon/", s.cfg.Region, s.cfg.Account)
}

func (s *Service) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Millisecond) }

// CreateInput is a CreateAddon request; Create validates it.
type CreateInput struct {
	Cluster string
	Name    string
	// Version defaults to the catalog's default for the cluster's
	// Kubernetes version.
	Version               string
	ServiceAccountRoleARN string
	ResolveConflicts      string
	ConfigurationValues   string
	Tags                  map[string]string
	ClientRequestToken    string
	// Namespace is namespaceConfig's namespace: "" or the add-on's
	// default namespace, the only one berth installs into.
	Namespace string
	// Unsupported names request members berth does not implement
	// (podIdentityAssociations).
	Unsupported []string
}

// Create validates a CreateAddon request and records the add-on in one
// store commit: CREATING for an add-on berth runs, ACTIVE for one it
// keeps as a record only. A repeated request with the same
// clientRequestToken returns the add-on the first one created.
func (s *Service) Create(ctx context.Context, in CreateInput) (*Addon, error) {
	a, err := s.create(ctx, in)
	if err != nil {
		return nil, fields(err, in.Cluster, in.Name)
	}
	return a, nil
}

func (s *Service) create(ctx context.Context, in CreateInput) (*Addon, error) {
	c, _, err := s.cfg.Clusters.Get(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	if in.Name == "" {
		return nil, invalid("addonName is required.")
	}
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
	if err := validateUnsupported(in.Unsupported); err != nil {
		return nil, err
	}
	def, v, err := s.resolve(in.Name, in.Version, c.Version)
	if err != nil {
		return nil, err
	}
	if in.Namespace != "" && in.Namespace != def.DefaultNamespace {
		return nil, invalid("berth installs add-on %s in its default namespace %s: namespaceConfig %q is not supported.", in.Name, def.DefaultNamespace, in.Namespace)
	}
	if err := validateRole(in.ServiceAccountRoleARN); err != nil {
		return nil, err
	}
	if err := validateResolveConflicts(in.ResolveConflicts, true); err != nil {
		return nil, err
	}
	if err := validateConfiguration(in.ConfigurationValues, def.Schema); err != nil {
		return nil, err
	}
	if err := cluster.ValidateTags(in.Tags); err != nil {
		return nil, err
	}
	id := uuid.NewString()
	now := s.now()
	a := &Addon{
		Name:                  in.Name,
		Cluster:               in.Cluster,
		ARN:                   s.ARN(in.Cluster, in.Name, id),
		ID:                    id,
		Status:                StatusCreating,
		Version:               v.Version,
		Runs:                  def.Runs,
		CreatedAt:             now,
		ModifiedAt:            now,
		ServiceAccountRoleARN: in.ServiceAccountRoleARN,
		ConfigurationValues:   in.ConfigurationValues,
		ResolveConflicts:      in.ResolveConflicts,
		Tags:                  nonEmpty(maps.Clone(in.Tags)),
		ClientRequestToken:    in.ClientRequestToken,
	}
	if !def.Runs {
		a.Status = StatusActive
	}
	raw, err := json.Marshal(a)
	if err != nil {
		return nil, err
	}
	if _, err := s.cfg.Store.Apply(ctx, store.Op{Kind: KindAddon, Key: Key(in.Cluster, in.Name), Value: raw, Create: true}); err != nil {
		if errors.Is(err, store.ErrExists) {
			return nil, alreadyExists(in.Cluster, in.Name)
		}
		return nil, fmt.Errorf("storing add-on %s/%s: %w", in.Cluster, in.Name, err)
	}
	return a, nil
}

// resolve finds an add-on and the version a request asks for ("" is the
// default) for a cluster's Kubernetes minor.
func (s *Service) resolve(name, version, minor string) (Definition, Version, error) {
	def, ok := s.cfg.Catalog.Get(name)
	if !ok || len(def.For(minor)) == 0 {
		return Definition{}, Version{}, notSupported(name, minor)
	}
	if version == "" {
		v, _ := def.Default(minor)
		return def, v, nil
	}
	v, ok := def.Version(version)
	if !ok || !v.Supports(minor) {
		return Definition{}, Version{}, versionNotSupported()
	}
	return def, v, nil
}

func nonEmpty(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}

// get reads an add-on and its store revision.
func (s *Service) get(ctx context.Context, clusterName, name string) (*Addon, uint64, error) {
	if name == "" || strings.Contains(name, "/") {
		return nil, 0, notFound(clusterName, name)
	}
	a, rev, err := store.Read[Addon](ctx, s.cfg.Store, KindAddon, Key(clusterName, name))
	if errors.Is(err, store.ErrNotFound) {
		return nil, 0, notFound(clusterName, name)
	}
	return a, rev, err
}

// Get returns an add-on and the store revision it was read at. A missing
// cluster is reported as such.
func (s *Service) Get(ctx context.Context, clusterName, name string) (*Addon, uint64, error) {
	a, rev, err := s.get(ctx, clusterName, name)
	if apierror.IsKind(err, apierror.ResourceNotFound) {
		if _, _, cerr := s.cfg.Clusters.Get(ctx, clusterName); cerr != nil {
			return nil, 0, fields(cerr, clusterName, name)
		}
	}
	return a, rev, err
}

// ListNames returns the add-on names of a cluster in order, a page at a
// time (ListAddons). The token is opaque to callers.
func (s *Service) ListNames(ctx context.Context, clusterName string, maxResults int, token string) ([]string, string, error) {
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
	recs, err := s.cfg.Store.List(ctx, KindAddon, clusterName+"/")
	if err != nil {
		return nil, "", fmt.Errorf("listing add-ons of %s: %w", clusterName, err)
	}
	keys := make([]string, 0, len(recs))
	for _, r := range recs {
		keys = append(keys, strings.TrimPrefix(r.Key, clusterName+"/"))
	}
	names, next := paging.Page(keys, limit, after)
	return names, next, nil
}

// List returns every add-on of a cluster, sorted by name (for the
// controller).
func (s *Service) List(ctx context.Context, clusterName string) ([]*Addon, error) {
	return store.ReadAll[Addon](ctx, s.cfg.Store, KindAddon, clusterName+"/")
}

// All returns every add-on of every cluster, in key order (for the
// controller).
func (s *Service) All(ctx context.Context) ([]*Addon, error) {
	return store.ReadAll[Addon](ctx, s.cfg.Store, KindAddon, "")
}

// Mutate reads an add-on, applies fn and writes it back with fn's extra
// ops in one commit if nothing else changed it in between; it retries on
// conflicts. An add-on fn leaves unchanged, with no extra ops, is not
// written.
func (s *Service) Mutate(ctx context.Context, clusterName, name string, fn func(a *Addon) ([]store.Op, error)) (*Addon, error) {
	get := func(ctx context.Context) (*Addon, uint64, error) { return s.Get(ctx, clusterName, name) }
	a, err := store.Mutate(ctx, s.cfg.Store.Apply, KindAddon, Key(clusterName, name), get, fn)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound(clusterName, name)
	}
	if err != nil {
		if _, ok := apierror.As(err); !ok {
			return nil, fmt.Errorf("writing add-on %s/%s: %w", clusterName, name, err)
		}
		return nil, err
	}
	return a, nil
}

// UpdateInput is an UpdateAddon request; nil members were not given.
type UpdateInput struct {
	Cluster string
	Name    string
	// Version is the addonVersion to move to ("": unchanged).
	Version string
	// ServiceAccountRoleARN replaces the role; "" removes it.
	ServiceAccountRoleARN *string
	ResolveConflicts      string
	// ConfigurationValues replaces the configuration; "" removes it.
	ConfigurationValues *string
	ClientRequestToken  string
	// Unsupported names request members berth does not implement
	// (podIdentityAssociations).
	Unsupported []string
}

// Update starts an UpdateAddon update. The record takes the new desired
// version, role and configuration at once. An add-on berth runs is
// UPDATING with an InProgress AddonUpdate, in one commit, until the
// controller calls MarkActive or MarkFailed; for a records-only add-on
// the update is Successful in the same commit. A repeated request with
// the same clientRequestToken returns the update the first one started.
func (s *Service) Update(ctx context.Context, in UpdateInput) (*Update, error) {
	u, err := s.update(ctx, in)
	if err != nil {
		return nil, fields(err, in.Cluster, in.Name)
	}
	return u, nil
}

func (s *Service) update(ctx context.Context, in UpdateInput) (*Update, error) {
	c, _, err := s.cfg.Clusters.Get(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	var upd *Update
	_, err = s.Mutate(ctx, in.Cluster, in.Name, func(a *Addon) ([]store.Op, error) {
		upd = nil
		ups, err := s.updatesOf(ctx, in.Cluster, in.Name)
		if err != nil {
			return nil, err
		}
		if u := byToken(ups, in.ClientRequestToken); u != nil {
			upd = u
			return nil, nil
		}
		switch a.Status {
		case StatusCreating, StatusUpdating, StatusDeleting:
			return nil, apierror.New(apierror.ResourceInUse, "Addon %s cannot be updated as it is currently in %s state", in.Name, a.Status)
		}
		if c.Status != cluster.StatusActive {
			return nil, apierror.New(apierror.InvalidRequest, "Cluster '%s' is not in ACTIVE status", in.Cluster)
		}
		if err := validateUnsupported(in.Unsupported); err != nil {
			return nil, err
		}
		// A new version must fit the cluster's Kubernetes version; the
		// add-on's own stays as it is (a cluster upgrade may have left it
		// behind, as on EKS).
		version := a.Version
		def, ok := s.cfg.Catalog.Get(in.Name)
		if in.Version != "" {
			if def, _, err = s.resolve(in.Name, in.Version, c.Version); err != nil {
				return nil, err
			}
			version = in.Version
		} else if !ok {
			return nil, notSupported(in.Name, c.Version)
		}
		if in.ServiceAccountRoleARN != nil {
			if err := validateRole(*in.ServiceAccountRoleARN); err != nil {
				return nil, err
			}
		}
		if err := validateResolveConflicts(in.ResolveConflicts, false); err != nil {
			return nil, err
		}
		if in.ConfigurationValues != nil {
			if err := validateConfiguration(*in.ConfigurationValues, def.Schema); err != nil {
				return nil, err
			}
		}
		u := &Update{
			ID:                 uuid.NewString(),
			Cluster:            in.Cluster,
			Status:             cluster.UpdateInProgress,
			Type:               UpdateTypeAddon,
			Params:             updateParams(in),
			CreatedAt:          s.now(),
			ClientRequestToken: in.ClientRequestToken,
		}
		a.Version = version
		if in.ServiceAccountRoleARN != nil {
			a.ServiceAccountRoleARN = *in.ServiceAccountRoleARN
		}
		if in.ConfigurationValues != nil {
			a.ConfigurationValues = *in.ConfigurationValues
		}
		if in.ResolveConflicts != "" {
			a.ResolveConflicts = in.ResolveConflicts
		}
		a.ModifiedAt = u.CreatedAt
		if a.Runs {
			a.Status = StatusUpdating
		} else {
			a.Status, a.Health = StatusActive, nil
			u.Status = cluster.UpdateSuccessful
		}
		raw, err := json.Marshal(u)
		if err != nil {
			return nil, err
		}
		upd = u
		return []store.Op{{Kind: KindUpdate, Key: updateKey(in.Cluster, in.Name, u.ID), Value: raw, Create: true}}, nil
	})
	if err != nil {
		return nil, err
	}
	return upd, nil
}

// updateParams are the parameters of an AddonUpdate, as EKS records
// them: those the request gave.
func updateParams(in UpdateInput) []cluster.UpdateParam {
	var out []cluster.UpdateParam
	if in.Version != "" {
		out = append(out, cluster.UpdateParam{Type: ParamAddonVersion, Value: in.Version})
	}
	if in.ServiceAccountRoleARN != nil {
		out = append(out, cluster.UpdateParam{Type: ParamServiceAccountRoleArn, Value: *in.ServiceAccountRoleARN})
	}
	if in.ResolveConflicts != "" {
		out = append(out, cluster.UpdateParam{Type: ParamResolveConflicts, Value: in.ResolveConflicts})
	}
	if in.ConfigurationValues != nil {
		out = append(out, cluster.UpdateParam{Type: ParamConfigurationValues, Value: *in.ConfigurationValues})
	}
	return out
}

func byToken(ups []*Update, token string) *Update {
	if token == "" {
		return nil
	}
	for _, u := range ups {
		if u.ClientRequestToken == token {
			return u
		}
	}
	return nil
}

// Delete deletes an add-on (DeleteAddon). An add-on berth runs is marked
// DELETING, with the preserve flag for the controller, and an update in
// progress is Cancelled in the same commit; the controller calls
// FinishDelete. A records-only add-on is removed with its updates at
// once. Either way the answer shows the add-on DELETING, as EKS's does.
// Deleting an add-on that is already DELETING returns it unchanged.
func (s *Service) Delete(ctx context.Context, clusterName, name string, preserve bool) (*Addon, error) {
	a, err := s.delete(ctx, clusterName, name, preserve)
	if err != nil {
		return nil, fields(err, clusterName, name)
	}
	return a, nil
}

func (s *Service) delete(ctx context.Context, clusterName, name string, preserve bool) (*Addon, error) {
	a, _, err := s.Get(ctx, clusterName, name)
	if err != nil {
		return nil, err
	}
	if !a.Runs {
		if err := s.remove(ctx, clusterName, name, func(*Addon) bool { return true }); err != nil {
			return nil, err
		}
		a.Status = StatusDeleting
		a.Preserve = preserve
		a.ModifiedAt = s.now()
		return a, nil
	}
	return s.Mutate(ctx, clusterName, name, func(a *Addon) ([]store.Op, error) {
		if a.Status == StatusDeleting {
			return nil, nil
		}
		ops, err := s.finishInProgress(ctx, clusterName, name, UpdateCancelled, nil)
		if err != nil {
			return nil, err
		}
		a.Status = StatusDeleting
		a.Preserve = preserve
		a.ModifiedAt = s.now()
		return ops, nil
	})
}

// remove deletes an add-on record and its updates in one commit if ok
// accepts the record as it is then; a record that is gone already is no
// error.
func (s *Service) remove(ctx context.Context, clusterName, name string, ok func(*Addon) bool) error {
	for attempt := 0; ; attempt++ {
		a, rev, err := s.get(ctx, clusterName, name)
		if apierror.IsKind(err, apierror.ResourceNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if !ok(a) {
			return fmt.Errorf("%w: %s/%s is %s", ErrNotDeleting, clusterName, name, a.Status)
		}
		ops := []store.Op{{Kind: KindAddon, Key: Key(clusterName, name), Delete: true, IfRevision: rev}}
		recs, err := s.cfg.Store.List(ctx, KindUpdate, Key(clusterName, name)+"/")
		if err != nil {
			return fmt.Errorf("listing updates of add-on %s/%s: %w", clusterName, name, err)
		}
		for _, r := range recs {
			ops = append(ops, store.Op{Kind: KindUpdate, Key: r.Key, Delete: true})
		}
		_, err = s.cfg.Store.Apply(ctx, ops...)
		if (errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound)) && attempt < 5 {
			continue // changed or removed concurrently: look again
		}
		if err != nil {
			return fmt.Errorf("removing add-on %s/%s: %w", clusterName, name, err)
		}
		return nil
	}
}

// MarkActive records that the controller installed the add-on as the
// record asks (for the controller): the add-on is ACTIVE with no health
// issues, and an update in progress is Successful, in one commit. It
// fails with ErrDeleting for an add-on being deleted.
func (s *Service) MarkActive(ctx context.Context, clusterName, name string) error {
	_, err := s.Mutate(ctx, clusterName, name, func(a *Addon) ([]store.Op, error) {
		if a.Status == StatusDeleting {
			return nil, fmt.Errorf("%w: %s/%s", ErrDeleting, clusterName, name)
		}
		ops, err := s.finishInProgress(ctx, clusterName, name, cluster.UpdateSuccessful, nil)
		if err != nil {
			return nil, err
		}
		if a.Status != StatusActive {
			a.Status = StatusActive
			a.ModifiedAt = s.now()
		}
		a.Health = nil
		return ops, nil
	})
	return err
}

// MarkFailed records that the controller could not bring the add-on to
// what the record asks (for the controller): CREATING becomes
// CREATE_FAILED, UPDATING UPDATE_FAILED, DELETING DELETE_FAILED and
// ACTIVE DEGRADED; the issues become the add-on's health, and an update
// in progress is Failed with them as its errors, in one commit.
func (s *Service) MarkFailed(ctx context.Context, clusterName, name string, issues ...Issue) error {
	if len(issues) == 0 {
		return errors.New("addon: MarkFailed needs at least one issue")
	}
	_, err := s.Mutate(ctx, clusterName, name, func(a *Addon) ([]store.Op, error) {
		errs := make([]cluster.ErrorDetail, len(issues))
		for i, is := range issues {
			errs[i] = cluster.ErrorDetail{Code: is.Code, Message: is.Message, ResourceIDs: is.ResourceIDs}
		}
		ops, err := s.finishInProgress(ctx, clusterName, name, cluster.UpdateFailed, errs)
		if err != nil {
			return nil, err
		}
		next := map[string]string{
			StatusCreating: StatusCreateFailed,
			StatusUpdating: StatusUpdateFailed,
			StatusDeleting: StatusDeleteFailed,
			StatusActive:   StatusDegraded,
		}[a.Status]
		if next != "" {
			a.Status = next
			a.ModifiedAt = s.now()
		}
		a.Health = slices.Clone(issues)
		return ops, nil
	})
	return err
}

// FinishDelete removes a DELETING add-on and its updates (for the
// controller, once it has uninstalled the add-on, or let it be with
// Preserve). Finishing an add-on that is gone already succeeds; one that
// is not DELETING is ErrNotDeleting.
func (s *Service) FinishDelete(ctx context.Context, clusterName, name string) error {
	return s.remove(ctx, clusterName, name, func(a *Addon) bool { return a.Status == StatusDeleting })
}

// finishInProgress returns the ops that record the outcome of an
// add-on's update in progress, if it has one.
func (s *Service) finishInProgress(ctx context.Context, clusterName, name, status string, errs []cluster.ErrorDetail) ([]store.Op, error) {
	ups, err := s.updatesOf(ctx, clusterName, name)
	if err != nil {
		return nil, err
	}
	var ops []store.Op
	for _, u := range ups {
		if u.Status != cluster.UpdateInProgress {
			continue
		}
		op, err := s.finishOp(clusterName, name, u, status, errs)
		if err != nil {
			return nil, err
		}
		ops = append(ops, op)
	}
	return ops, nil
}

func (s *Service) finishOp(clusterName, name string, u *Update, status string, errs []cluster.ErrorDetail) (store.Op, error) {
	u.Status = status
	u.Errors = errs
	raw, err := json.Marshal(u)
	if err != nil {
		return store.Op{}, err
	}
	return store.Op{Kind: KindUpdate, Key: updateKey(clusterName, name, u.ID), Value: raw}, nil
}

// updatesOf reads the updates of an add-on, oldest first, whether or not
// the add-on exists.
func (s *Service) updatesOf(ctx context.Context, clusterName, name string) ([]*Update, error) {
	out, err := store.ReadAll[Update](ctx, s.cfg.Store, KindUpdate, Key(clusterName, name)+"/")
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(out, func(a, b *Update) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out, nil
}

// Updates returns an add-on's updates, oldest first (for the
// controller). It fails with ResourceNotFound when the add-on does not
// exist.
func (s *Service) Updates(ctx context.Context, clusterName, name string) ([]*Update, error) {
	if _, _, err := s.Get(ctx, clusterName, name); err != nil {
		return nil, err
	}
	return s.updatesOf(ctx, clusterName, name)
}

// DescribeUpdate returns one update of an add-on (DescribeUpdate with an
// addonName).
func (s *Service) DescribeUpdate(ctx context.Context, clusterName, name, id string) (*Update, error) {
	ups, err := s.Updates(ctx, clusterName, name)
	if err != nil {
		return nil, err
	}
	for _, u := range ups {
		if u.ID == id {
			return u, nil
		}
	}
	return nil, fields(apierror.New(apierror.ResourceNotFound, "No update found for ID: %s", id), clusterName, name)
}

// ListUpdates lists the update ids of an add-on, oldest first, a page at
// a time (ListUpdates with an addonName).
func (s *Service) ListUpdates(ctx context.Context, clusterName, name string, maxResults int, token string) ([]string, string, error) {
	limit, err := paging.Limit(maxResults)
	if err != nil {
		return nil, "", err
	}
	after, err := paging.After(token)
	if err != nil {
		return nil, "", err
	}
	ups, err := s.Updates(ctx, clusterName, name)
	if err != nil {
		return nil, "", err
	}
	ids := []string{}
	next := ""
	started := after == ""
	for _, u := range ups {
		if !started {
			started = u.ID == after
			continue
		}
		if len(ids) == limit {
			next = paging.Token(ids[len(ids)-1])
			break
		}
		ids = append(ids, u.ID)
	}
	if !started {
		return nil, "", paging.Invalid(token)
	}
	return ids, next, nil
}

// RemoveOps returns the ops that delete every add-on and add-on update of
// a cluster, to commit with the cluster's removal: EKS deletes a
// cluster's add-ons with it.
func (s *Service) RemoveOps(ctx context.Context, clusterName string) ([]store.Op, error) {
	return removeOps(ctx, s.cfg.Store, clusterName)
}

// RemoveOpsIn returns RemoveOps over st as a hook, for the cluster
// service's removal of a cluster (which is built before the Service, and
// cannot import this package, which imports it).
func RemoveOpsIn(st Store) func(ctx context.Context, clusterName string) ([]store.Op, error) {
	return func(ctx context.Context, clusterName string) ([]store.Op, error) {
		return removeOps(ctx, st, clusterName)
	}
}

func removeOps(ctx context.Context, st Store, clusterName string) ([]store.Op, error) {
	var ops []store.Op
	for _, kind := range []string{KindAddon, KindUpdate} {
		recs, err := st.List(ctx, kind, clusterName+"/")
		if err != nil {
			return nil, fmt.Errorf("listing %s of %s: %w", kind, clusterName, err)
		}
		for _, r := range recs {
			ops = append(ops, store.Op{Kind: kind, Key: r.Key, Delete: true})
		}
	}
	return ops, nil
}

// Tag adds or replaces tags on an add-on.
func (s *Service) Tag(ctx context.Context, clusterName, name string, tags map[string]string) error {
	return cluster.ApplyTags(tags, s.tagsOf(ctx, clusterName, name))
}

// Untag removes tags from an add-on; missing keys are ignored.
func (s *Service) Untag(ctx context.Context, clusterName, name string, keys []string) error {
	return cluster.ApplyUntags(keys, s.tagsOf(ctx, clusterName, name))
}

func (s *Service) tagsOf(ctx context.Context, clusterName, name string) cluster.TagsUpdate {
	return func(change func(*map[string]string) error) error {
		_, err := s.Mutate(ctx, clusterName, name, func(a *Addon) ([]store.Op, error) { return nil, change(&a.Tags) })
		return err
	}
}
