package nodegroup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/berthproject/berth/internal/apierror"
	"github.com/berthproject/berth/internal/cluster"
	"github.com/berthproject/berth/internal/compute"
	"github.com/berthproject/berth/internal/compute/instancetypes"
	"github.com/berthproject/berth/internal/paging"
	"github.com/berthproject/berth/internal/store"
	"github.com/berthproject/berth/internal/versions"
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
	// Versions is the catalog node groups may run (default: the cluster
	// service's).
	Versions *versions.Catalog
	Account  string
	Region   string
	// MaxNodegroupsPerCluster is the EKS quota "Managed node groups per
	// cluster" (default 30).
	MaxNodegroupsPerCluster int
	// MaxNodesPerNodegroup is the EKS quota "Nodes per managed node
	// group": the largest maxSize (default 450).
	MaxNodesPerNodegroup int
	Now                  func() time.Time
	// CheckProvider says whether this machine can run the nodes of an
	// instance provider (compute.ProviderReal needs containerd); nil
	// accepts every provider.
	CheckProvider func(provider string) error
}

// Service implements the managed node group operations of the EKS API.
type Service struct {
	cfg Config
}

// New checks cfg and returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Clusters == nil || cfg.Network == nil {
		return nil, errors.New("nodegroup: Store, Clusters and Network are required")
	}
	if cfg.Account == "" || cfg.Region == "" {
		return nil, errors.New("nodegroup: Account and Region are required")
	}
	if cfg.Versions == nil {
		cfg.Versions = cfg.Clusters.Versions()
	}
	if cfg.MaxNodegroupsPerCluster == 0 {
		cfg.MaxNodegroupsPerCluster = 30
	}
	if cfg.MaxNodesPerNodegroup == 0 {
		cfg.MaxNodesPerNodegroup = 450
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{cfg: cfg}, nil
}

// ARN returns the ARN of a node group.
func (s *Service) ARN(clusterName, name, id string) string {
	return fmt.Sprintf("arn:aws:eks:%s:%s:nodegroup/%s/%s/%s", s.cfg.Region, s.cfg.Account, clusterName, name, id)
}

// ARNPrefix is the part every node group ARN of this account and region
// starts with; the rest is CLUSTER/NAME/ID.
func (s *Service) ARNPrefix() string {
	return fmt.Sprintf("arn:aws:eks:%s:%s:nodegroup/", s.cfg.Region, s.cfg.Account)
}

func (s *Service) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Millisecond) }

// CreateInput is a CreateNodegroup request; Create validates it.
type CreateInput struct {
	Cluster            string
	Name               string
	Scaling            *ScalingInput
	DiskSize           *int
	Subnets            []string
	InstanceTypes      []string
	AMIType            string
	RemoteAccess       *RemoteAccess
	NodeRole           string
	Labels             map[string]string
	Taints             []Taint
	Tags               map[string]string
	ClientRequestToken string
	LaunchTemplate     *LaunchTemplate
	UpdateConfig       *UpdateSettings
	NodeRepair         *bool
	CapacityType       string
	Version            string
	ReleaseVersion     string
	// Unsupported names request members berth does not implement
	// (warmPoolConfig, the node repair thresholds...).
	Unsupported []string
}

// ScalingInput is scalingConfig in a request; nil members were not given.
type ScalingInput struct {
	Min, Max, Desired *int
}

// UpdateSettings is updateConfig in a request; nil members were not given.
type UpdateSettings struct {
	MaxUnavailable           *int
	MaxUnavailablePercentage *int
	UpdateStrategy           string
}

// fields adds the node group's names to the errors whose EKS exception
// shapes carry them.
func fields(err error, clusterName, name string) error {
	e, ok := apierror.As(err)
	if !ok {
		return err
	}
	switch e.Kind {
	case apierror.InvalidParameter, apierror.InvalidRequest, apierror.ResourceInUse, apierror.ResourceLimit, apierror.ResourceNotFound:
		if clusterName != "" {
			e.With("clusterName", clusterName)
		}
		if name != "" {
			e.With("nodegroupName", name)
		}
	}
	return e
}

func notFound(clusterName, name string) error {
	return fields(apierror.New(apierror.ResourceNotFound, "No node group found for name: %s.", name), clusterName, name)
}

func alreadyExists(clusterName, name string) error {
	return fields(apierror.New(apierror.ResourceInUse, "NodeGroup already exists with name %s and cluster name %s", name, clusterName), clusterName, name)
}

// Create validates a CreateNodegroup request and records the node group
// as CREATING in one store commit. A repeated request with the same
// clientRequestToken returns the node group the first one created.
func (s *Service) Create(ctx context.Context, in CreateInput) (*Nodegroup, error) {
	if err := validateName(in.Name); err != nil {
		return nil, fields(err, in.Cluster, in.Name)
	}
	c, _, err := s.cfg.Clusters.Get(ctx, in.Cluster)
	if err != nil {
		return nil, fields(err, in.Cluster, in.Name)
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
		return nil, fields(apierror.New(apierror.InvalidRequest, "Cluster '%s' is not in ACTIVE status", in.Cluster), in.Cluster, in.Name)
	}
	ng, err := s.build(in, c)
	if err != nil {
		return nil, fields(err, in.Cluster, in.Name)
	}
	recs, err := s.cfg.Store.List(ctx, KindNodegroup, in.Cluster+"/")
	if err != nil {
		return nil, fmt.Errorf("listing node groups of %s: %w", in.Cluster, err)
	}
	if len(recs) >= s.cfg.MaxNodegroupsPerCluster {
		return nil, fields(apierror.New(apierror.ResourceLimit,
			"Nodegroup limit exceeded for cluster %s: a cluster can have at most %d managed node groups.", in.Cluster, s.cfg.MaxNodegroupsPerCluster), in.Cluster, in.Name)
	}
	raw, err := json.Marshal(ng)
	if err != nil {
		return nil, err
	}
	if _, err := s.cfg.Store.Apply(ctx, store.Op{Kind: KindNodegroup, Key: Key(in.Cluster, in.Name), Value: raw, Create: true}); err != nil {
		if errors.Is(err, store.ErrExists) {
			return nil, alreadyExists(in.Cluster, in.Name)
		}
		return nil, fmt.Errorf("storing node group %s/%s: %w", in.Cluster, in.Name, err)
	}
	return ng, nil
}

// build validates a request and returns the record it asks for.
func (s *Service) build(in CreateInput, c *cluster.Cluster) (*Nodegroup, error) {
	if len(in.Unsupported) > 0 {
		return nil, invalid("berth does not support %s.", strings.Join(in.Unsupported, ", "))
	}
	// EKS creates node groups only at the cluster's version.
	version := in.Version
	if version == "" {
		version = c.Version
	}
	v, ok := s.cfg.Versions.Get(version)
	if version != c.Version || !ok {
		return nil, versionError(version, c.Version)
	}
	release := ReleaseVersion(v)
	if in.ReleaseVersion != "" && in.ReleaseVersion != release {
		return nil, releaseError(in.ReleaseVersion, release)
	}
	if err := validateNodeRole(in.NodeRole); err != nil {
		return nil, err
	}
	if err := s.validateSubnets(in.Subnets); err != nil {
		return nil, err
	}
	amiType := in.AMIType
	if amiType == "" {
		amiType = DefaultAMIType
	}
	if err := validateAMIType(amiType, version); err != nil {
		return nil, err
	}
	capacity, err := validateCapacityType(in.CapacityType)
	if err != nil {
		return nil, err
	}
	if err := validateLaunchTemplate(in.LaunchTemplate, in.DiskSize, in.RemoteAccess); err != nil {
		return nil, err
	}
	types := slices.Clone(in.InstanceTypes)
	if len(types) == 0 {
		types = []string{DefaultInstanceType}
	}
	if err := validateInstanceTypes(types, amiType, capacity); err != nil {
		return nil, err
	}
	scaling, err := createScaling(in.Scaling)
	if err != nil {
		return nil, err
	}
	if err := s.validateScaling(scaling, false); err != nil {
		return nil, err
	}
	disk := instancetypes.DefaultDiskGiB
	if in.DiskSize != nil {
		if err := validateDiskSize(*in.DiskSize); err != nil {
			return nil, err
		}
		disk = *in.DiskSize
	}
	if err := s.validateRemoteAccess(in.RemoteAccess, c.VPC.ClusterSecurityGroupID); err != nil {
		return nil, err
	}
	if err := validateLabels(in.Labels); err != nil {
		return nil, err
	}
	if err := validateTaints(in.Taints); err != nil {
		return nil, err
	}
	if err := cluster.ValidateTags(in.Tags); err != nil {
		return nil, err
	}
	if p, ok := in.Tags[compute.TagProvider]; ok {
		if err := compute.ValidProvider(p); err != nil {
			return nil, err
		}
		if s.cfg.CheckProvider != nil {
			if err := s.cfg.CheckProvider(p); err != nil {
				return nil, apierror.New(apierror.InvalidParameter, "Node group %s cannot have %s nodes on this machine: %v", in.Name, p, err)
			}
		}
	}
	uc := UpdateConfig{MaxUnavailable: 1}
	if in.UpdateConfig != nil {
		uc, err = applyUpdateSettings(uc, *in.UpdateConfig)
		if err != nil {
			return nil, err
		}
	}
	if err := validateUpdateConfig(uc, scaling.Max); err != nil {
		return nil, err
	}
	now := s.now()
	id := uuid.NewString()
	ng := &Nodegroup{
		Name:               in.Name,
		ARN:                s.ARN(in.Cluster, in.Name, id),
		Cluster:            in.Cluster,
		ID:                 id,
		Version:            version,
		ReleaseVersion:     release,
		CreatedAt:          now,
		ModifiedAt:         now,
		Status:             StatusCreating,
		CapacityType:       capacity,
		Scaling:            scaling,
		InstanceTypes:      types,
		Subnets:            slices.Clone(in.Subnets),
		AMIType:            amiType,
		NodeRole:           in.NodeRole,
		Labels:             nonEmpty(maps.Clone(in.Labels)),
		Taints:             slices.Clone(in.Taints),
		DiskSize:           disk,
		UpdateConfig:       uc,
		NodeRepair:         in.NodeRepair != nil && *in.NodeRepair,
		Tags:               nonEmpty(maps.Clone(in.Tags)),
		ClientRequestToken: in.ClientRequestToken,
		ASG:                "eks-" + in.Name + "-" + id,
	}
	if ra := in.RemoteAccess; ra != nil {
		ng.RemoteAccess = &RemoteAccess{EC2SSHKey: ra.EC2SSHKey, SourceSecurityGroups: slices.Clone(ra.SourceSecurityGroups)}
	}
	return ng, nil
}

func nonEmpty(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}

// createScaling applies CreateNodegroup's rule: all of minSize, maxSize and
// desiredSize, or none of them (then min 1, max 2, desired 2).
func createScaling(in *ScalingInput) (Scaling, error) {
	if in == nil || in.Min == nil && in.Max == nil && in.Desired == nil {
		return Scaling{Min: DefaultMinSize, Max: DefaultMaxSize, Desired: DefaultDesiredSize}, nil
	}
	if in.Min == nil || in.Max == nil || in.Desired == nil {
		return Scaling{}, invalid("When creating a node group, specify all of minSize, maxSize and desiredSize in scalingConfig, or none of them.")
	}
	return Scaling{Min: *in.Min, Max: *in.Max, Desired: *in.Desired}, nil
}

// applyUpdateSettings returns uc with the given members of in applied.
func applyUpdateSettings(uc UpdateConfig, in UpdateSettings) (UpdateConfig, error) {
	if in.MaxUnavailable != nil && in.MaxUnavailablePercentage != nil {
		return uc, invalid("Only one of maxUnavailable and maxUnavailablePercentage can be specified in updateConfig.")
	}
	if in.MaxUnavailable != nil {
		if *in.MaxUnavailable < 1 {
			return uc, invalid("maxUnavailable must be between 1 and %d, not %d.", maxUnavailable, *in.MaxUnavailable)
		}
		uc.MaxUnavailable, uc.MaxUnavailablePercentage = *in.MaxUnavailable, 0
	}
	if in.MaxUnavailablePercentage != nil {
		if *in.MaxUnavailablePercentage < 1 {
			return uc, invalid("maxUnavailablePercentage must be between 1 and 100, not %d.", *in.MaxUnavailablePercentage)
		}
		uc.MaxUnavailable, uc.MaxUnavailablePercentage = 0, *in.MaxUnavailablePercentage
	}
	if in.UpdateStrategy != "" {
		uc.UpdateStrategy = in.UpdateStrategy
	}
	return uc, nil
}

// get reads a node group and its store revision.
func (s *Service) get(ctx context.Context, clusterName, name string) (*Nodegroup, uint64, error) {
	if name == "" || len(name) > maxNameLength || !validNameChars(name) {
		return nil, 0, notFound(clusterName, name)
	}
	ng, rev, err := store.Read[Nodegroup](ctx, s.cfg.Store, KindNodegroup, Key(clusterName, name))
	if errors.Is(err, store.ErrNotFound) {
		return nil, 0, notFound(clusterName, name)
	}
	return ng, rev, err
}

// Get returns a node group and the store revision it was read at. A
// missing cluster is reported as such.
func (s *Service) Get(ctx context.Context, clusterName, name string) (*Nodegroup, uint64, error) {
	ng, rev, err := s.get(ctx, clusterName, name)
	if apierror.IsKind(err, apierror.ResourceNotFound) {
		if _, _, cerr := s.cfg.Clusters.Get(ctx, clusterName); cerr != nil {
			return nil, 0, fields(cerr, clusterName, name)
		}
	}
	return ng, rev, err
}

// List returns the node group names of a cluster in order, a page at a
// time. The token is opaque to callers.
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
	recs, err := s.cfg.Store.List(ctx, KindNodegroup, clusterName+"/")
	if err != nil {
		return nil, "", fmt.Errorf("listing node groups of %s: %w", clusterName, err)
	}
	keys := make([]string, 0, len(recs))
	for _, r := range recs {
		keys = append(keys, strings.TrimPrefix(r.Key, clusterName+"/"))
	}
	names, next := paging.Page(keys, limit, after)
	return names, next, nil
}

// All returns every node group of every cluster, in key order (for the
// controller).
func (s *Service) All(ctx context.Context) ([]*Nodegroup, error) {
	recs, err := s.cfg.Store.List(ctx, KindNodegroup, "")
	if err != nil {
		return nil, fmt.Errorf("listing node groups: %w", err)
	}
	out := make([]*Nodegroup, 0, len(recs))
	for _, r := range recs {
		var ng Nodegroup
		if err := json.Unmarshal(r.Value, &ng); err != nil {
			return nil, fmt.Errorf("decoding node group %s: %w", r.Key, err)
		}
		out = append(out, &ng)
	}
	return out, nil
}

// Attached returns the hook cluster.Config.Nodegroups wants: the node
// groups of a cluster as st holds them. (The cluster service cannot
// import this package, which imports it.)
func Attached(st Store) func(ctx context.Context, clusterName string) ([]cluster.NodegroupRef, error) {
	return func(ctx context.Context, clusterName string) ([]cluster.NodegroupRef, error) {
		recs, err := st.List(ctx, KindNodegroup, clusterName+"/")
		if err != nil {
			return nil, fmt.Errorf("listing node groups of %s: %w", clusterName, err)
		}
		out := make([]cluster.NodegroupRef, 0, len(recs))
		for _, r := range recs {
			var ng Nodegroup
			if err := json.Unmarshal(r.Value, &ng); err != nil {
				return nil, fmt.Errorf("decoding node group %s: %w", r.Key, err)
			}
			out = append(out, cluster.NodegroupRef{Name: ng.Name, Version: ng.Version})
		}
		return out, nil
	}
}

// Mutate reads a node group, applies fn and writes it back if nothing
// else changed it in between; it retries on conflicts. fn returns extra
// ops to commit atomically with the node group.
func (s *Service) Mutate(ctx context.Context, clusterName, name string, fn func(ng *Nodegroup) ([]store.Op, error)) (*Nodegroup, error) {
	get := func(ctx context.Context) (*Nodegroup, uint64, error) { return s.Get(ctx, clusterName, name) }
	ng, err := store.Mutate(ctx, s.cfg.Store.Apply, KindNodegroup, Key(clusterName, name), get, fn)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound(clusterName, name)
	}
	if err != nil && !isAPIError(err) {
		return nil, fmt.Errorf("writing node group %s/%s: %w", clusterName, name, err)
	}
	return ng, err
}

func isAPIError(err error) bool {
	_, ok := apierror.As(err)
	return ok
}

// Delete marks a node group DELETING. Deleting a node group that is
// already being deleted returns it unchanged; one with an update in
// progress is refused.
func (s *Service) Delete(ctx context.Context, clusterName, name string) (*Nodegroup, error) {
	return s.Mutate(ctx, clusterName, name, func(ng *Nodegroup) ([]store.Op, error) {
		if ng.Status == StatusDeleting {
			return nil, nil
		}
		ups, err := s.updatesOf(ctx, clusterName, name)
		if err != nil {
			return nil, err
		}
		if u := inProgress(ups); u != nil {
			return nil, fields(apierror.New(apierror.ResourceInUse,
				"Cannot delete because nodegroup %s currently has update %s in progress", name, u.ID), clusterName, name)
		}
		ng.Status = StatusDeleting
		ng.ModifiedAt = s.now()
		return nil, nil
	})
}

// Remove deletes a node group record and its updates (for the controller,
// once the nodes and the Auto Scaling Group are gone). Removing a node
// group that is gone already succeeds.
func (s *Service) Remove(ctx context.Context, clusterName, name string) error {
	for attempt := 0; ; attempt++ {
		var ops []store.Op
		_, err := s.cfg.Store.Get(ctx, KindNodegroup, Key(clusterName, name))
		switch {
		case err == nil:
			ops = append(ops, store.Op{Kind: KindNodegroup, Key: Key(clusterName, name), Delete: true})
		case !errors.Is(err, store.ErrNotFound):
			return fmt.Errorf("reading node group %s/%s: %w", clusterName, name, err)
		}
		ups, err := s.updatesOf(ctx, clusterName, name)
		if err != nil {
			return err
		}
		for _, u := range ups {
			ops = append(ops, store.Op{Kind: cluster.KindUpdate, Key: cluster.UpdateKey(clusterName, u.ID), Delete: true})
		}
		if len(ops) == 0 {
			return nil
		}
		_, err = s.cfg.Store.Apply(ctx, ops...)
		if errors.Is(err, store.ErrNotFound) && attempt < 5 {
			continue // removed concurrently: look again
		}
		if err != nil {
			return fmt.Errorf("removing node group %s/%s: %w", clusterName, name, err)
		}
		return nil
	}
}

// Updates returns a node group's updates, oldest first. It fails with
// ResourceNotFound when the node group does not exist.
func (s *Service) Updates(ctx context.Context, clusterName, name string) ([]*cluster.Update, error) {
	if _, _, err := s.Get(ctx, clusterName, name); err != nil {
		return nil, err
	}
	return s.updatesOf(ctx, clusterName, name)
}

// updatesOf reads the updates of a node group, oldest first, whether or
// not the node group exists.
func (s *Service) updatesOf(ctx context.Context, clusterName, name string) ([]*cluster.Update, error) {
	recs, err := s.cfg.Store.List(ctx, cluster.KindUpdate, clusterName+"/")
	if err != nil {
		return nil, fmt.Errorf("listing updates of %s: %w", clusterName, err)
	}
	var out []*cluster.Update
	for _, r := range recs {
		var u cluster.Update
		if err := json.Unmarshal(r.Value, &u); err != nil {
			return nil, fmt.Errorf("decoding update %s: %w", r.Key, err)
		}
		if u.Nodegroup == name {
			out = append(out, &u)
		}
	}
	slices.SortStableFunc(out, func(a, b *cluster.Update) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out, nil
}

func inProgress(ups []*cluster.Update) *cluster.Update {
	for _, u := range ups {
		if u.Status == cluster.UpdateInProgress {
			return u
		}
	}
	return nil
}

func byToken(ups []*cluster.Update, token string) *cluster.Update {
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

// Update parameter types of node group updates (the UpdateParamType enum).
const (
	paramVersion                  = "Version"
	paramReleaseVersion           = "ReleaseVersion"
	paramLabelsToAdd              = "LabelsToAdd"
	paramLabelsToRemove           = "LabelsToRemove"
	paramTaintsToAdd              = "TaintsToAdd"
	paramTaintsToRemove           = "TaintsToRemove"
	paramMinSize                  = "MinSize"
	paramMaxSize                  = "MaxSize"
	paramDesiredSize              = "DesiredSize"
	paramMaxUnavailable           = "MaxUnavailable"
	paramMaxUnavailablePercentage = "MaxUnavailablePercentage"
	paramUpdateStrategy           = "UpdateStrategy"
	paramNodeRepairEnabled        = "NodeRepairEnabled"
)

// UpdateConfigInput is an UpdateNodegroupConfig request.
type UpdateConfigInput struct {
	Cluster      string
	Name         string
	AddLabels    map[string]string
	RemoveLabels []string
	AddTaints    []Taint
	RemoveTaints []Taint
	Scaling      *ScalingInput
	UpdateConfig *UpdateSettings
	NodeRepair   *bool
	// ClientRequestToken makes the request idempotent.
	ClientRequestToken string
	// Unsupported names request members berth does not implement.
	Unsupported []string
}

func (in UpdateConfigInput) empty() bool {
	sc, uc := in.Scaling, in.UpdateConfig
	return len(in.AddLabels) == 0 && len(in.RemoveLabels) == 0 && len(in.AddTaints) == 0 && len(in.RemoveTaints) == 0 &&
		(sc == nil || sc.Min == nil && sc.Max == nil && sc.Desired == nil) &&
		(uc == nil || uc.MaxUnavailable == nil && uc.MaxUnavailablePercentage == nil && uc.UpdateStrategy == "") &&
		in.NodeRepair == nil
}

// checkRequest validates what an UpdateNodegroupConfig request says on its
// own, before the node group is read.
func (in UpdateConfigInput) checkRequest() error {
	if len(in.Unsupported) > 0 {
		return invalid("berth does not support %s.", strings.Join(in.Unsupported, ", "))
	}
	if in.empty() {
		return invalid("You cannot specify an empty request")
	}
	for _, k := range in.RemoveLabels {
		if _, ok := in.AddLabels[k]; ok {
			return invalid("The label %q cannot be both added and removed in one request.", k)
		}
		if k == "" {
			return invalid("removeLabels cannot contain an empty key.")
		}
	}
	for _, r := range in.RemoveTaints {
		if r.Key == "" {
			return invalid("The taints to remove need a key.")
		}
		if r.Effect != "" {
			if err := validateEffect(r); err != nil {
				return err
			}
		}
		for _, a := range in.AddTaints {
			if a.Key == r.Key && (r.Effect == "" || r.Effect == a.Effect) {
				return invalid("The taint %q cannot be both added and removed in one request.", r.Key)
			}
		}
	}
	return nil
}

// UpdateConfig starts an UpdateNodegroupConfig update. The new desired
// configuration (labels, taints, scaling, updateConfig, node repair) is
// written to the record at once, with the group UPDATING and an
// InProgress ConfigUpdate, in one commit; the controller applies it, then
// finishes the update and makes the group ACTIVE.
func (s *Service) UpdateConfig(ctx context.Context, in UpdateConfigInput) (*cluster.Update, error) {
	if err := in.checkRequest(); err != nil {
		return nil, fields(err, in.Cluster, in.Name)
	}
	var upd *cluster.Update
	_, err := s.Mutate(ctx, in.Cluster, in.Name, func(ng *Nodegroup) ([]store.Op, error) {
		upd = nil
		ups, err := s.updatesOf(ctx, in.Cluster, in.Name)
		if err != nil {
			return nil, err
		}
		if u := byToken(ups, in.ClientRequestToken); u != nil {
			upd = u
			return nil, nil
		}
		if u := inProgress(ups); u != nil {
			return nil, apierror.New(apierror.ResourceInUse, "Update already in progress for nodegroup %s: %s", in.Name, u.ID)
		}
		if ng.Status != StatusActive && ng.Status != StatusDegraded {
			return nil, apierror.New(apierror.ResourceInUse, "Nodegroup cannot be updated as it is currently not in Active State")
		}
		next, err := s.mergeConfig(ng, in)
		if err != nil {
			return nil, err
		}
		if sameConfig(ng, next) {
			return nil, invalid("No changes needed")
		}
		u := s.newUpdate(in.Cluster, in.Name, UpdateTypeConfig, configParams(in), in.ClientRequestToken)
		raw, err := json.Marshal(u)
		if err != nil {
			return nil, err
		}
		ng.Labels, ng.Taints, ng.Scaling, ng.UpdateConfig, ng.NodeRepair = next.Labels, next.Taints, next.Scaling, next.UpdateConfig, next.NodeRepair
		ng.Status = StatusUpdating
		ng.ModifiedAt = u.CreatedAt
		upd = u
		return []store.Op{{Kind: cluster.KindUpdate, Key: cluster.UpdateKey(in.Cluster, u.ID), Value: raw, Create: true}}, nil
	})
	if err != nil {
		return nil, fields(err, in.Cluster, in.Name)
	}
	return upd, nil
}

// mergeConfig returns the node group's configuration with the request
// applied, validated by the rules of Create.
func (s *Service) mergeConfig(ng *Nodegroup, in UpdateConfigInput) (*Nodegroup, error) {
	next := &Nodegroup{
		Labels:       maps.Clone(ng.Labels),
		Scaling:      ng.Scaling,
		UpdateConfig: ng.UpdateConfig,
		NodeRepair:   ng.NodeRepair,
	}
	if next.Labels == nil {
		next.Labels = map[string]string{}
	}
	maps.Copy(next.Labels, in.AddLabels)
	for _, k := range in.RemoveLabels {
		delete(next.Labels, k)
	}
	next.Labels = nonEmpty(next.Labels)
	for _, t := range ng.Taints {
		removed := slices.ContainsFunc(in.RemoveTaints, func(r Taint) bool {
			return r.Key == t.Key && (r.Effect == "" || r.Effect == t.Effect)
		})
		if !removed {
			next.Taints = append(next.Taints, t)
		}
	}
	for _, a := range in.AddTaints {
		i := slices.IndexFunc(next.Taints, func(t Taint) bool { return t.Key == a.Key && t.Effect == a.Effect })
		if i >= 0 {
			next.Taints[i] = a
		} else {
			next.Taints = append(next.Taints, a)
		}
	}
	if sc := in.Scaling; sc != nil {
		if sc.Min != nil {
			next.Scaling.Min = *sc.Min
		}
		if sc.Max != nil {
			next.Scaling.Max = *sc.Max
		}
		if sc.Desired != nil {
			next.Scaling.Desired = *sc.Desired
		}
	}
	if in.UpdateConfig != nil {
		uc, err := applyUpdateSettings(next.UpdateConfig, *in.UpdateConfig)
		if err != nil {
			return nil, err
		}
		next.UpdateConfig = uc
	}
	if in.NodeRepair != nil {
		next.NodeRepair = *in.NodeRepair
	}
	if err := validateLabels(next.Labels); err != nil {
		return nil, err
	}
	if err := validateTaints(next.Taints); err != nil {
		return nil, err
	}
	if err := s.validateScaling(next.Scaling, true); err != nil {
		return nil, err
	}
	if err := validateUpdateConfig(next.UpdateConfig, next.Scaling.Max); err != nil {
		return nil, err
	}
	return next, nil
}

func sameConfig(a, b *Nodegroup) bool {
	return maps.Equal(a.Labels, b.Labels) && slices.Equal(a.Taints, b.Taints) && a.Scaling == b.Scaling &&
		a.UpdateConfig == b.UpdateConfig && a.NodeRepair == b.NodeRepair
}

// configParams are the parameters of a ConfigUpdate, as EKS records them:
// the members the request gave, values as JSON.
func configParams(in UpdateConfigInput) []cluster.UpdateParam {
	var out []cluster.UpdateParam
	add := func(typ string, v any) {
		raw, _ := json.Marshal(v)
		out = append(out, cluster.UpdateParam{Type: typ, Value: string(raw)})
	}
	if len(in.AddLabels) > 0 {
		add(paramLabelsToAdd, in.AddLabels)
	}
	if len(in.RemoveLabels) > 0 {
		add(paramLabelsToRemove, in.RemoveLabels)
	}
	if len(in.AddTaints) > 0 {
		add(paramTaintsToAdd, in.AddTaints)
	}
	if len(in.RemoveTaints) > 0 {
		add(paramTaintsToRemove, in.RemoveTaints)
	}
	if sc := in.Scaling; sc != nil {
		for _, p := range []struct {
			typ string
			v   *int
		}{{paramMinSize, sc.Min}, {paramMaxSize, sc.Max}, {paramDesiredSize, sc.Desired}} {
			if p.v != nil {
				out = append(out, cluster.UpdateParam{Type: p.typ, Value: strconv.Itoa(*p.v)})
			}
		}
	}
	if uc := in.UpdateConfig; uc != nil {
		if uc.MaxUnavailable != nil {
			out = append(out, cluster.UpdateParam{Type: paramMaxUnavailable, Value: strconv.Itoa(*uc.MaxUnavailable)})
		}
		if uc.MaxUnavailablePercentage != nil {
			out = append(out, cluster.UpdateParam{Type: paramMaxUnavailablePercentage, Value: strconv.Itoa(*uc.MaxUnavailablePercentage)})
		}
		if uc.UpdateStrategy != "" {
			out = append(out, cluster.UpdateParam{Type: paramUpdateStrategy, Value: uc.UpdateStrategy})
		}
	}
	if in.NodeRepair != nil {
		out = append(out, cluster.UpdateParam{Type: paramNodeRepairEnabled, Value: strconv.FormatBool(*in.NodeRepair)})
	}
	return out
}

func (s *Service) newUpdate(clusterName, name, typ string, params []cluster.UpdateParam, token string) *cluster.Update {
	return &cluster.Update{
		ID:                 uuid.NewString(),
		Cluster:            clusterName,
		Nodegroup:          name,
		Status:             cluster.UpdateInProgress,
		Type:               typ,
		Params:             params,
		CreatedAt:          s.now(),
		ClientRequestToken: token,
	}
}

// UpdateVersionInput is an UpdateNodegroupVersion request.
type UpdateVersionInput struct {
	Cluster string
	Name    string
	// Version is the Kubernetes minor to update to (default: the
	// cluster's).
	Version string
	// ReleaseVersion is the AMI release to update to (default: the one
	// berth offers for Version).
	ReleaseVersion string
	LaunchTemplate *LaunchTemplate
	// Force replaces nodes even when pods cannot be drained.
	Force              bool
	ClientRequestToken string
}

// UpdateVersion starts an UpdateNodegroupVersion update. The record's
// Version and ReleaseVersion become the target at once, the old ones move
// to PreviousVersion and PreviousReleaseVersion, and the group is
// UPDATING with an InProgress VersionUpdate, in one commit; the controller
// replaces the nodes, then finishes the update.
func (s *Service) UpdateVersion(ctx context.Context, in UpdateVersionInput) (*cluster.Update, error) {
	c, _, err := s.cfg.Clusters.Get(ctx, in.Cluster)
	if err != nil {
		return nil, fields(err, in.Cluster, in.Name)
	}
	var upd *cluster.Update
	_, err = s.Mutate(ctx, in.Cluster, in.Name, func(ng *Nodegroup) ([]store.Op, error) {
		upd = nil
		ups, err := s.updatesOf(ctx, in.Cluster, in.Name)
		if err != nil {
			return nil, err
		}
		if u := byToken(ups, in.ClientRequestToken); u != nil {
			upd = u
			return nil, nil
		}
		if u := inProgress(ups); u != nil {
			return nil, apierror.New(apierror.ResourceInUse, "Update already in progress for nodegroup %s: %s", in.Name, u.ID)
		}
		if ng.Status != StatusActive {
			return nil, apierror.New(apierror.ResourceInUse, "Nodegroup cannot be updated as it is currently not in Active State")
		}
		if c.Status != cluster.StatusActive {
			return nil, apierror.New(apierror.InvalidRequest, "Cluster '%s' is not in ACTIVE status", in.Cluster)
		}
		if in.LaunchTemplate != nil {
			if ng.LaunchTemplate == nil {
				return nil, invalid("Nodegroup %s was not created with a launch template: a launch template can only be given to update a node group created with one.", in.Name)
			}
			return nil, launchTemplateNotFound(in.LaunchTemplate)
		}
		target := in.Version
		if target == "" {
			target = c.Version
		}
		v, ok := s.cfg.Versions.Get(target)
		if !ok || versions.Compare(target, c.Version) > 0 {
			return nil, invalid("Requested Nodegroup version %s is invalid: a node group can run the cluster's version %s or an earlier one.", target, c.Version)
		}
		if versions.Compare(target, ng.Version) < 0 {
			return nil, invalid("Requested Nodegroup version %s is invalid: node group %s runs %s and cannot be rolled back to an earlier Kubernetes version.", target, in.Name, ng.Version)
		}
		release := ReleaseVersion(v)
		if in.ReleaseVersion != "" && in.ReleaseVersion != release {
			return nil, releaseError(in.ReleaseVersion, release)
		}
		if err := validateAMIType(ng.AMIType, target); err != nil {
			return nil, err
		}
		if target == ng.Version && release == ng.ReleaseVersion {
			return nil, invalid("No changes needed: node group %s already runs version %s, release %s.", in.Name, target, release)
		}
		u := s.newUpdate(in.Cluster, in.Name, UpdateTypeVersion, []cluster.UpdateParam{
			{Type: paramVersion, Value: target},
			{Type: paramReleaseVersion, Value: release},
		}, in.ClientRequestToken)
		raw, err := json.Marshal(u)
		if err != nil {
			return nil, err
		}
		ng.PreviousVersion, ng.PreviousReleaseVersion = ng.Version, ng.ReleaseVersion
		ng.Version, ng.ReleaseVersion = target, release
		ng.ForceUpdate = in.Force
		ng.Status = StatusUpdating
		ng.ModifiedAt = u.CreatedAt
		upd = u
		return []store.Op{{Kind: cluster.KindUpdate, Key: cluster.UpdateKey(in.Cluster, u.ID), Value: raw, Create: true}}, nil
	})
	if err != nil {
		return nil, fields(err, in.Cluster, in.Name)
	}
	return upd, nil
}

// Tag adds or replaces tags on a node group.
func (s *Service) Tag(ctx context.Context, clusterName, name string, tags map[string]string) error {
	return cluster.ApplyTags(tags, s.tagsOf(ctx, clusterName, name))
}

// Untag removes tags from a node group; missing keys are ignored.
func (s *Service) Untag(ctx context.Context, clusterName, name string, keys []string) error {
	return cluster.ApplyUntags(keys, s.tagsOf(ctx, clusterName, name))
}

func (s *Service) tagsOf(ctx context.Context, clusterName, name string) cluster.TagsUpdate {
	return func(change func(*map[string]string) error) error {
		_, err := s.Mutate(ctx, clusterName, name, func(ng *Nodegroup) ([]store.Op, error) { return nil, change(&ng.Tags) })
		return err
	}
}
