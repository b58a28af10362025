package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/berthproject/berth/internal/arns"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/berthproject/berth/internal/apierror"
	"github.com/berthproject/berth/internal/paging"
	"github.com/berthproject/berth/internal/store"
	"github.com/berthproject/berth/internal/versions"
	"github.com/berthproject/berth/internal/vpc"
)

// Store is what the service needs of berth's store.
type Store interface {
	Get(ctx context.Context, kind, key string) (store.Record, error)
	Revision(ctx context.Context, kind, key string) (uint64, error)
	List(ctx context.Context, kind, prefix string) ([]store.Record, error)
	Apply(ctx context.Context, ops ...store.Op) (uint64, error)
}

// Config wires a Service.
type Config struct {
	Store    Store
	Network  *vpc.Network
	Versions *versions.Catalog
	Account  string
	Region   string
	// MaxClusters is the per-region cluster quota (EKS: 100).
	MaxClusters int
	Now         func() time.Time
	// Nodegroups lists the managed node groups of a cluster
	// (nodegroup.Attached); nil means a cluster never has any. Delete
	// refuses a cluster that has node groups, UpdateVersion one whose node
	// groups lag its version, and DescribeUpdate and ListUpdates check
	// the nodegroupName they are given against it.
	Nodegroups func(ctx context.Context, cluster string) ([]NodegroupRef, error)
	// FargateProfiles lists the names of the Fargate profiles of a
	// cluster, in any status (fargate.AttachedIn); nil means a cluster
	// never has any. Delete refuses a cluster that has profiles.
	FargateProfiles func(ctx context.Context, cluster string) ([]string, error)
	// AccessEntries keeps the access entries of clusters with them
	// (access.RecordsIn); nil means clusters have none: Create writes no
	// entry for the creator and Remove removes none.
	AccessEntries AccessEntries
	// Addons returns the ops that delete a cluster's add-ons
	// (addon.RemoveOpsIn), committed with its removal: EKS deletes them
	// with the cluster. Nil means clusters have none.
	Addons func(ctx context.Context, cluster string) ([]store.Op, error)
}

// AccessEntries is what the cluster service needs of the access entry
// records: the ops that write the entry of a new cluster's creator,
// committed with the cluster, and those that delete every entry of a
// cluster, committed with its removal.
type AccessEntries interface {
	CreatorOps(c *Cluster, principalARN string) ([]store.Op, error)
	RemoveOps(ctx context.Context, cluster string) ([]store.Op, error)
}

// NodegroupRef is what the cluster service knows of a managed node group.
type NodegroupRef struct {
	Name    string
	Version string
}

// Service implements the cluster operations of the EKS API.
type Service struct {
	cfg Config

	issuersMu sync.Mutex
	issuers   map[string]string // OIDC issuer id -> cluster name, as last seen
}

// New checks cfg and returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Network == nil || cfg.Versions == nil {
		return nil, errors.New("cluster: Store, Network and Versions are required")
	}
	if cfg.Account == "" || cfg.Region == "" {
		return nil, errors.New("cluster: Account and Region are required")
	}
	if cfg.MaxClusters == 0 {
		cfg.MaxClusters = 100
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{cfg: cfg, issuers: map[string]string{}}, nil
}

// ErrNoIssuer means that no cluster has a control plane with the OIDC
// issuer id asked for (a warm control plane no cluster has adopted).
var ErrNoIssuer = errors.New("no cluster has this control plane")

// ByIssuer returns the cluster whose control plane has the OIDC issuer
// id (berth's webhooks and node proxy know a control plane by it): from
// the ids seen before, else by reading every cluster.
func (s *Service) ByIssuer(ctx context.Context, issuerID string) (*Cluster, error) {
	s.issuersMu.Lock()
	name, ok := s.issuers[issuerID]
	s.issuersMu.Unlock()
	if ok {
		if cl, _, err := s.Get(ctx, name); err == nil && cl.OIDCIssuerID == issuerID {
			return cl, nil
		}
	}
	names, err := s.Names(ctx)
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		cl, _, err := s.Get(ctx, n)
		if err != nil {
			continue
		}
		s.issuersMu.Lock()
		s.issuers[cl.OIDCIssuerID] = cl.Name
		s.issuersMu.Unlock()
		if cl.OIDCIssuerID == issuerID {
			return cl, nil
		}
	}
	return nil, ErrNoIssuer
}

// Names lists every cluster name, all pages of them.
func (s *Service) Names(ctx context.Context) ([]string, error) {
	var all []string
	token := ""
	for {
		names, next, err := s.List(ctx, 100, token)
		if err != nil {
			return all, err
		}
		all = append(all, names...)
		if next == "" {
			return all, nil
		}
		token = next
	}
}

// Region is the region the service serves.
func (s *Service) Region() string { return s.cfg.Region }

// ARN returns the ARN of a cluster name.
func (s *Service) ARN(name string) string {
	return fmt.Sprintf("arn:aws:eks:%s:%s:cluster/%s", s.cfg.Region, s.cfg.Account, name)
}

// Versions returns the catalog the service offers.
func (s *Service) Versions() *versions.Catalog { return s.cfg.Versions }

// Now returns the service's clock reading.
func (s *Service) Now() time.Time { return s.cfg.Now() }

// CreateInput is a validated-by-Create CreateCluster request.
type CreateInput struct {
	Name               string
	Version            string
	RoleARN            string
	SubnetIDs          []string
	SecurityGroupIDs   []string
	EndpointPublic     *bool
	EndpointPrivate    *bool
	PublicAccessCIDRs  []string
	ServiceIPv4CIDR    string
	IPFamily           string
	Logging            []LogSetup
	ClientRequestToken string
	Tags               map[string]string
	Access             *AccessInput
	SupportType        string
	DeletionProtection *bool
	ZonalShift         *bool
	Encryption         []Encryption
	ELBEnabled         *bool
	// Principal is the ARN of the IAM principal that called CreateCluster
	// (the verified signer). With bootstrapClusterCreatorAdminPermissions
	// and an authentication mode other than CONFIG_MAP, it gets an access
	// entry with AmazonEKSClusterAdminPolicy, as EKS gives the creator.
	Principal string
	// Unsupported names request members berth does not implement
	// (outpostConfig, remoteNetworkConfig, computeConfig...).
	Unsupported []string
}

// AccessInput is accessConfig in a request.
type AccessInput struct {
	BootstrapClusterCreatorAdminPermissions *bool
	AuthenticationMode                      string
}

func invalid(format string, args ...any) *apierror.Error {
	return apierror.New(apierror.InvalidParameter, format, args...)
}

// Create validates a CreateCluster request and records the cluster as
// CREATING. A repeated request with the same clientRequestToken returns
// the cluster the first one created.
func (s *Service) Create(ctx context.Context, in CreateInput) (*Cluster, error) {
	if err := validateName(in.Name); err != nil {
		return nil, err
	}
	if existing, _, err := s.get(ctx, in.Name); err == nil {
		if in.ClientRequestToken != "" && existing.ClientRequestToken == in.ClientRequestToken {
			return existing, nil
		}
		return nil, apierror.New(apierror.ResourceInUse, "Cluster already exists with name: %s", in.Name).With("clusterName", in.Name)
	} else if !apierror.IsKind(err, apierror.ResourceNotFound) {
		return nil, err
	}
	c, err := s.build(in)
	if err != nil {
		return nil, err
	}
	all, err := s.cfg.Store.List(ctx, KindCluster, "")
	if err != nil {
		return nil, fmt.Errorf("listing clusters: %w", err)
	}
	if len(all) >= s.cfg.MaxClusters {
		return nil, apierror.New(apierror.ResourceLimit, "Cluster limit exceeded for account %s in region %s (%d clusters)", s.cfg.Account, s.cfg.Region, s.cfg.MaxClusters).With("clusterName", in.Name)
	}
	raw, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	ops := []store.Op{{Kind: KindCluster, Key: c.Name, Value: raw, Create: true}}
	if s.cfg.AccessEntries != nil && in.Principal != "" && c.Access.BootstrapClusterCreatorAdminPermissions && c.Access.AuthenticationMode != "CONFIG_MAP" {
		creator, err := s.cfg.AccessEntries.CreatorOps(c, in.Principal)
		if err != nil {
			return nil, fmt.Errorf("the access entry of the creator of cluster %s: %w", c.Name, err)
		}
		ops = append(ops, creator...)
	}
	if _, err := s.cfg.Store.Apply(ctx, ops...); err != nil {
		if errors.Is(err, store.ErrExists) {
			return nil, apierror.New(apierror.ResourceInUse, "Cluster already exists with name: %s", in.Name).With("clusterName", in.Name)
		}
		return nil, fmt.Errorf("storing cluster %s: %w", c.Name, err)
	}
	return c, nil
}

func validateName(name string) error {
	if name == "" {
		return invalid("The cluster name must not be empty.")
	}
	if len(name) > 100 {
		return invalid("The cluster name %q is too long: it can have at most 100 characters.", name)
	}
	for i, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || (i > 0 && (r == '-' || r == '_'))
		if !ok {
			return invalid("The cluster name %q is invalid: it must start with an alphanumeric character and contain only alphanumeric characters, hyphens and underscores ([0-9A-Za-z][A-Za-z0-9\\-_]*).", name)
		}
	}
	return nil
}

func (s *Service) build(in CreateInput) (*Cluster, error) {
	if len(in.Unsupported) > 0 {
		return nil, invalid("berth does not support %s.", strings.Join(in.Unsupported, ", "))
	}
	version := in.Version
	if version == "" {
		version = s.cfg.Versions.Default().Minor
	}
	if _, ok := s.cfg.Versions.Get(version); !ok {
		return nil, invalid("unsupported Kubernetes version %s. Supported versions: %s", version, strings.Join(s.cfg.Versions.Minors(), ", "))
	}
	if err := validateRoleARN(in.RoleARN); err != nil {
		return nil, err
	}
	vpcCfg, err := s.validateVPC(in)
	if err != nil {
		return nil, err
	}
	netCfg, err := s.validateNetwork(in)
	if err != nil {
		return nil, err
	}
	if err := validateTags(in.Tags); err != nil {
		return nil, err
	}
	logging, err := normalizeLogging(in.Logging)
	if err != nil {
		return nil, err
	}
	access := AccessConfig{BootstrapClusterCreatorAdminPermissions: true, AuthenticationMode: "API_AND_CONFIG_MAP"}
	if in.Access != nil {
		if in.Access.BootstrapClusterCreatorAdminPermissions != nil {
			access.BootstrapClusterCreatorAdminPermissions = *in.Access.BootstrapClusterCreatorAdminPermissions
		}
		switch in.Access.AuthenticationMode {
		case "":
		case "API", "API_AND_CONFIG_MAP", "CONFIG_MAP":
			access.AuthenticationMode = in.Access.AuthenticationMode
		default:
			return nil, invalid("Unsupported authentication mode %q: valid values are API, API_AND_CONFIG_MAP, CONFIG_MAP.", in.Access.AuthenticationMode)
		}
		if access.AuthenticationMode == "CONFIG_MAP" && !access.BootstrapClusterCreatorAdminPermissions {
			return nil, invalid("bootstrapClusterCreatorAdminPermissions must be true if cluster authentication mode is set to CONFIG_MAP")
		}
	}
	support := "EXTENDED"
	switch in.SupportType {
	case "":
	case "STANDARD", "EXTENDED":
		support = in.SupportType
	default:
		return nil, invalid("Unsupported support type %q: valid values are STANDARD, EXTENDED.", in.SupportType)
	}
	for _, e := range in.Encryption {
		if len(e.Resources) != 1 || e.Resources[0] != "secrets" {
			return nil, invalid("Encryption config resources must be [\"secrets\"].")
		}
		if !strings.HasPrefix(e.KeyARN, "arn:aws:kms:") {
			return nil, invalid("Invalid KMS key ARN %q.", e.KeyARN)
		}
	}
	if len(in.Encryption) > 1 {
		return nil, invalid("Only one encryption config is supported.")
	}
	now := s.cfg.Now().UTC().Truncate(time.Millisecond)
	c := &Cluster{
		Name:               in.Name,
		ARN:                s.ARN(in.Name),
		CreatedAt:          now,
		Version:            version,
		PlatformVersion:    mustVersion(s.cfg.Versions, version).PlatformVersion,
		RoleARN:            in.RoleARN,
		Status:             StatusCreating,
		ClientRequestToken: in.ClientRequestToken,
		Tags:               in.Tags,
		VPC:                vpcCfg,
		Network:            netCfg,
		Logging:            logging,
		Access:             access,
		SupportType:        support,
		DeletionProtection: in.DeletionProtection != nil && *in.DeletionProtection,
		ZonalShift:         in.ZonalShift != nil && *in.ZonalShift,
		Encryption:         in.Encryption,
		Creator:            in.Principal,
		OIDCIssuerID:       NewIssuerID(),
	}
	c.VPC.ClusterSecurityGroupID = vpc.ID("sg", c.ARN, now.String(), "cluster")
	return c, nil
}

func mustVersion(c *versions.Catalog, minor string) versions.Version {
	v, _ := c.Get(minor)
	return v
}

func validateRoleARN(arn string) error {
	if arn == "" {
		return invalid("roleArn is required.")
	}
	if !arns.IsRole(arn, 255) {
		return invalid("Role ARN %q is not a valid IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME).", arn)
	}
	return nil
}

func (s *Service) validateVPC(in CreateInput) (VPCConfig, error) {
	net := s.cfg.Network
	if len(in.SubnetIDs) == 0 {
		return VPCConfig{}, invalid("Subnets specified must be in at least two different AZs")
	}
	if len(in.SubnetIDs) > 16 {
		return VPCConfig{}, invalid("A maximum of 16 subnets can be specified.")
	}
	zones := map[string]bool{}
	var badZone string
	var subnets []string
	for _, id := range in.SubnetIDs {
		sn, ok := net.Subnet(id)
		if !ok {
			return VPCConfig{}, invalid("The subnet ID '%s' does not exist (Service: AmazonEC2; Status Code: 400; Error Code: InvalidSubnetID.NotFound)", id)
		}
		if slices.Contains(subnets, id) {
			continue
		}
		subnets = append(subnets, id)
		zones[sn.AZ] = true
		if !sn.EKSCapable {
			badZone = sn.AZ
		}
	}
	if badZone != "" {
		valid := net.EKSZones()
		e := apierror.New(apierror.UnsupportedAZ,
			"Cannot create cluster '%s' because EKS does not support creating control plane instances in %s, the targeted availability zone. Retry cluster creation using control plane subnets that span at least two of these availability zones: %s. Note, the subnets that you specify must be in the same VPC.",
			in.Name, badZone, strings.Join(valid, ", "))
		e.With("clusterName", in.Name)
		return VPCConfig{}, e
	}
	if len(zones) < 2 {
		return VPCConfig{}, invalid("Subnets specified must be in at least two different AZs")
	}
	if len(in.SecurityGroupIDs) > 5 {
		return VPCConfig{}, invalid("A maximum of 5 security groups can be specified.")
	}
	for _, sg := range in.SecurityGroupIDs {
		if sg != net.SecurityGroupID {
			return VPCConfig{}, invalid("The security group '%s' does not exist (Service: AmazonEC2; Status Code: 400; Error Code: InvalidGroup.NotFound)", sg)
		}
	}
	cfg := VPCConfig{
		SubnetIDs:             subnets,
		SecurityGroupIDs:      nonNil(in.SecurityGroupIDs),
		VpcID:                 net.VpcID,
		EndpointPublicAccess:  in.EndpointPublic == nil || *in.EndpointPublic,
		EndpointPrivateAccess: in.EndpointPrivate != nil && *in.EndpointPrivate,
		PublicAccessCIDRs:     []string{"0.0.0.0/0"},
	}
	if !cfg.EndpointPublicAccess && !cfg.EndpointPrivateAccess {
		return VPCConfig{}, invalid("Private and public endpoint access cannot both be disabled.")
	}
	if len(in.PublicAccessCIDRs) > 0 {
		if len(in.PublicAccessCIDRs) > 40 {
			return VPCConfig{}, invalid("A maximum of 40 public access CIDR blocks can be specified.")
		}
		for _, c := range in.PublicAccessCIDRs {
			if err := validatePublicCIDR(c); err != nil {
				return VPCConfig{}, err
			}
		}
		cfg.PublicAccessCIDRs = in.PublicAccessCIDRs
	}
	return cfg, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// ValidateTags checks tags as EKS does for every taggable resource: at
// most 50, keys of 1 to 128 characters outside the aws: prefix, values of
// at most 256.
func ValidateTags(tags map[string]string) error { return validateTags(tags) }

func validateTags(tags map[string]string) error {
	if len(tags) > 50 {
		return apierror.New(apierror.BadRequest, "A resource can have at most 50 tags, %d were given.", len(tags))
	}
	for k, v := range tags {
		if len(k) < 1 || len(k) > 128 {
			return apierror.New(apierror.BadRequest, "Tag key %q must be 1 to 128 characters long.", k)
		}
		if len(v) > 256 {
			return apierror.New(apierror.BadRequest, "Tag value for key %q must be at most 256 characters long.", k)
		}
		if strings.HasPrefix(strings.ToLower(k), "aws:") {
			return apierror.New(apierror.BadRequest, "Tag key %q uses the reserved prefix aws:.", k)
		}
	}
	return nil
}

var logTypes = []string{"api", "audit", "authenticator", "controllerManager", "scheduler"}

// normalizeLogging returns the full logging setup EKS reports: enabled
// types in one entry, disabled in another.
func normalizeLogging(in []LogSetup) ([]LogSetup, error) { return mergeLogging(nil, in) }

// mergeLogging applies the setups of a request to a cluster's logging
// (normalized as normalizeLogging returns it) and returns the result,
// normalized.
func mergeLogging(base, in []LogSetup) ([]LogSetup, error) {
	enabled := map[string]bool{}
	for _, ls := range base {
		for _, t := range ls.Types {
			enabled[t] = ls.Enabled
		}
	}
	for _, ls := range in {
		for _, t := range ls.Types {
			if !slices.Contains(logTypes, t) {
				return nil, invalid("Unknown log type %q: valid types are %s.", t, strings.Join(logTypes, ", "))
			}
			enabled[t] = ls.Enabled
		}
	}
	var on, off []string
	for _, t := range logTypes {
		if enabled[t] {
			on = append(on, t)
		} else {
			off = append(off, t)
		}
	}
	var out []LogSetup
	if len(on) > 0 {
		out = append(out, LogSetup{Types: on, Enabled: true})
	}
	if len(off) > 0 {
		out = append(out, LogSetup{Types: off, Enabled: false})
	}
	return out, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return hex.EncodeToString(b)
}

// get reads a cluster and its store revision.
func (s *Service) get(ctx context.Context, name string) (*Cluster, uint64, error) {
	rec, err := s.cfg.Store.Get(ctx, KindCluster, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, 0, apierror.New(apierror.ResourceNotFound, "No cluster found for name: %s.", name).With("clusterName", name)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("reading cluster %s: %w", name, err)
	}
	var c Cluster
	if err := json.Unmarshal(rec.Value, &c); err != nil {
		return nil, 0, fmt.Errorf("decoding cluster %s: %w", name, err)
	}
	return &c, rec.Revision, nil
}

// Get returns a cluster and the store revision it was read at.
func (s *Service) Get(ctx context.Context, name string) (*Cluster, uint64, error) {
	if name == "" {
		return nil, 0, invalid("The cluster name must not be empty.")
	}
	return s.get(ctx, name)
}

// Revision returns the store revision of a cluster's record, cheaply, so
// callers can reuse what they derived from an unchanged record.
func (s *Service) Revision(ctx context.Context, name string) (uint64, error) {
	rev, err := s.cfg.Store.Revision(ctx, KindCluster, name)
	if errors.Is(err, store.ErrNotFound) {
		return 0, apierror.New(apierror.ResourceNotFound, "No cluster found for name: %s.", name).With("clusterName", name)
	}
	return rev, err
}

// List returns cluster names in order, a page at a time. The token is
// opaque to callers.
func (s *Service) List(ctx context.Context, maxResults int, token string) ([]string, string, error) {
	limit, err := paging.Limit(maxResults)
	if err != nil {
		return nil, "", err
	}
	after, err := paging.After(token)
	if err != nil {
		return nil, "", err
	}
	recs, err := s.cfg.Store.List(ctx, KindCluster, "")
	if err != nil {
		return nil, "", fmt.Errorf("listing clusters: %w", err)
	}
	keys := make([]string, 0, len(recs))
	for _, r := range recs {
		keys = append(keys, r.Key)
	}
	names, next := paging.Page(keys, limit, after)
	return names, next, nil
}

// Mutate reads a cluster, applies fn and writes it back if fn changed
// nothing else in between; it retries on conflicts. fn returns extra ops
// to commit atomically with the cluster.
func (s *Service) Mutate(ctx context.Context, name string, fn func(c *Cluster) ([]store.Op, error)) (*Cluster, error) {
	c, err := store.Mutate(ctx, s.cfg.Store.Apply, KindCluster, name, func(ctx context.Context) (*Cluster, uint64, error) { return s.get(ctx, name) }, fn)
	if err != nil {
		if _, ok := apierror.As(err); !ok {
			return nil, fmt.Errorf("writing cluster %s: %w", name, err)
		}
	}
	return c, err
}

// Delete marks a cluster DELETING. Deleting a cluster that is already
// being deleted returns it unchanged.
func (s *Service) Delete(ctx context.Context, name string) (*Cluster, error) {
	if err := validateName(name); err != nil {
		return nil, apierror.New(apierror.ResourceNotFound, "No cluster found for name: %s.", name).With("clusterName", name)
	}
	updates, err := s.updates(ctx, name)
	if err != nil {
		return nil, err
	}
	return s.Mutate(ctx, name, func(c *Cluster) ([]store.Op, error) {
		if c.Status == StatusDeleting {
			return nil, nil
		}
		if c.DeletionProtection {
			return nil, apierror.New(apierror.InvalidRequest, "Cannot delete cluster %s because deletion protection is enabled. Disable deletion protection and try again.", name).With("clusterName", name)
		}
		ngs, err := s.nodegroups(ctx, name)
		if err != nil {
			return nil, err
		}
		if len(ngs) > 0 {
			return nil, apierror.New(apierror.ResourceInUse, "Cluster has nodegroups attached").With("clusterName", name).With("nodegroupName", ngs[0].Name)
		}
		if s.cfg.FargateProfiles != nil {
			fps, err := s.cfg.FargateProfiles(ctx, name)
			if err != nil {
				return nil, err
			}
			if len(fps) > 0 {
				return nil, apierror.New(apierror.ResourceInUse, "Cluster has Fargate Profiles in ACTIVE/CREATING state").With("clusterName", name)
			}
		}
		for _, u := range updates {
			if u.Status == UpdateInProgress {
				return nil, apierror.New(apierror.ResourceInUse, "Cannot delete because cluster %s currently has update %s in progress", name, u.ID).With("clusterName", name)
			}
		}
		c.Status = StatusDeleting
		return nil, nil
	})
}

// Tag adds or replaces tags on a cluster.
func (s *Service) Tag(ctx context.Context, name string, tags map[string]string) error {
	return ApplyTags(tags, s.tagsOf(ctx, name))
}

// Untag removes tags from a cluster; missing keys are ignored.
func (s *Service) Untag(ctx context.Context, name string, keys []string) error {
	return ApplyUntags(keys, s.tagsOf(ctx, name))
}

func (s *Service) tagsOf(ctx context.Context, name string) TagsUpdate {
	return func(change func(*map[string]string) error) error {
		_, err := s.Mutate(ctx, name, func(c *Cluster) ([]store.Op, error) { return nil, change(&c.Tags) })
		return err
	}
}
