package compute

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/berthproject/berth/internal/apierror"
	"github.com/berthproject/berth/internal/compute/instancetypes"
	"github.com/berthproject/berth/internal/compute/ipam"
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
	Store   Store
	Network *vpc.Network
	// IPs gives instances their private addresses; the same allocator
	// gives pods theirs.
	IPs     ipam.Allocator
	Account string
	Region  string
	Now     func() time.Time
	// DefaultProvider runs the instances launched without a TagProvider
	// tag; empty means ProviderSimulated.
	DefaultProvider string
}

// Service keeps instances and groups.
type Service struct {
	cfg Config
	// mu serialises launches, so IP allocation and the store agree.
	mu     sync.Mutex
	loaded bool

	cacheMu sync.Mutex
	decoded map[string]cachedInstance
}

// New checks cfg and returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Network == nil || cfg.IPs == nil {
		return nil, errors.New("compute: Store, Network and IPs are required")
	}
	if cfg.Account == "" || cfg.Region == "" {
		return nil, errors.New("compute: Account and Region are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{cfg: cfg}, nil
}

// Network returns the VPC model instances live in.
func (s *Service) Network() *vpc.Network { return s.cfg.Network }

// Region returns the region.
func (s *Service) Region() string { return s.cfg.Region }

// Now returns the service's clock reading.
func (s *Service) Now() time.Time { return s.cfg.Now() }

func instanceOwner(id string) string { return "instance/" + id }

// loadIPs reserves the addresses of every live stored instance, once, so
// a restarted berth does not hand them out again. Called with s.mu held.
func (s *Service) loadIPs(ctx context.Context) error {
	if s.loaded {
		return nil
	}
	all, err := s.Instances(ctx)
	if err != nil {
		return err
	}
	for _, in := range all {
		if in.State == StateTerminated {
			continue
		}
		if a, err := netip.ParseAddr(in.PrivateIP); err == nil {
			s.cfg.IPs.Reserve(instanceOwner(in.ID), a)
		}
	}
	s.loaded = true
	return nil
}

// LaunchSpec asks for one instance.
type LaunchSpec struct {
	Type            string
	SubnetID        string
	CapacityType    string
	ImageID         string
	Tags            map[string]string
	Cluster         string
	Group           string
	TemplateVersion int
	Node            NodeConfig
	// For RunInstances: see the Instance fields of the same names.
	UserData        string
	InstanceProfile *ProfileInfo
	KeyName         string
	SecurityGroups  []string
	LaunchTemplate  *TemplateRef
	ClientToken     string
	Reservation     string
	Join            *Join
	// PrivateIP asks for this address in the subnet.
	PrivateIP netip.Addr
	// Provider, when set, runs the instance's node whatever its tags and
	// the default say.
	Provider string
}

// Launch records new instances as pending, all in one commit, with ids,
// addresses and node names assigned. extra ops commit with them.
func (s *Service) Launch(ctx context.Context, specs []LaunchSpec, extra ...store.Op) ([]*Instance, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.loadIPs(ctx); err != nil {
		return nil, err
	}
	now := s.cfg.Now().UTC().Truncate(time.Second)
	out := make([]*Instance, 0, len(specs))
	ops := make([]store.Op, 0, len(specs)+len(extra))
	release := func() {
		for _, in := range out {
			s.cfg.IPs.Release(instanceOwner(in.ID))
		}
	}
	for _, sp := range specs {
		sub, ok := s.cfg.Network.Subnet(sp.SubnetID)
		if !ok {
			release()
			return nil, apierror.New(apierror.InvalidParameter, "The subnet ID '%s' does not exist", sp.SubnetID)
		}
		if _, ok := instancetypes.Lookup(sp.Type); !ok {
			release()
			return nil, apierror.New(apierror.InvalidParameter, "The instance type '%s' does not exist", sp.Type)
		}
		id := NewInstanceID()
		var addr netip.Addr
		var err error
		if sp.PrivateIP.IsValid() {
			addr = sp.PrivateIP
			if !sub.CIDR.Contains(addr) {
				release()
				return nil, ec2Error("InvalidParameterValue", "Address %s does not fall within the subnet's address range", addr)
			}
			if !s.cfg.IPs.Reserve(instanceOwner(id), addr) {
				release()
				return nil, ec2Error("InvalidIPAddress.InUse", "Address %s is in use.", addr)
			}
		} else if addr, err = s.cfg.IPs.Allocate(instanceOwner(id), sub.CIDR); err != nil {
			release()
			return nil, apierror.New(apierror.InsufficientAddresses, "There are not enough free addresses in subnet '%s' to satisfy the requested number of instances.", sp.SubnetID)
		}
		capType := sp.CapacityType
		if capType == "" {
			capType = OnDemand
		}
		in := &Instance{
			ID: id, Type: sp.Type, ImageID: sp.ImageID, SubnetID: sub.ID, VpcID: sub.VpcID, AZ: sub.AZ,
			PrivateIP: addr.String(), PrivateDNS: PrivateDNSName(s.cfg.Region, addr),
			State: StatePending, LaunchTime: now, CapacityType: capType, Tags: maps(sp.Tags),
			Cluster: sp.Cluster, Group: sp.Group, TemplateVersion: sp.TemplateVersion, Node: sp.Node,
			UserData: sp.UserData, InstanceProfile: sp.InstanceProfile, KeyName: sp.KeyName,
			SecurityGroups: sp.SecurityGroups, LaunchTemplate: sp.LaunchTemplate, ClientToken: sp.ClientToken, Join: sp.Join,
			Reservation: sp.Reservation,
		}
		in.Node.Name = in.PrivateDNS
		in.Provider = cmp.Or(sp.Provider, sp.Tags[TagProvider], s.cfg.DefaultProvider, ProviderSimulated)
		if err := ValidProvider(in.Provider); err != nil {
			release()
			return nil, err
		}
		raw, err := json.Marshal(in)
		if err != nil {
			release()
			return nil, err
		}
		out = append(out, in)
		ops = append(ops, store.Op{Kind: KindInstance, Key: id, Value: raw, Create: true})
	}
	ops = append(ops, extra...)
	if _, err := s.cfg.Store.Apply(ctx, ops...); err != nil {
		release()
		return nil, fmt.Errorf("storing instances: %w", err)
	}
	return out, nil
}

func maps(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// NewInstanceID returns "i-" and 17 random hex digits.
func NewInstanceID() string {
	b := make([]byte, 9)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return "i-" + hex.EncodeToString(b)[:17]
}

// PrivateDNSName is EC2's private DNS name of an address in a region.
func PrivateDNSName(region string, a netip.Addr) string {
	host := "ip-" + strings.ReplaceAll(a.String(), ".", "-")
	if region == "us-east-1" {
		return host + ".ec2.internal"
	}
	return host + "." + region + ".compute.internal"
}

// Instance returns one instance and its revision.
func (s *Service) Instance(ctx context.Context, id string) (*Instance, uint64, error) {
	rec, err := s.cfg.Store.Get(ctx, KindInstance, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, 0, apierror.New(apierror.ResourceNotFound, "The instance ID '%s' does not exist", id)
	}
	if err != nil {
		return nil, 0, err
	}
	var in Instance
	if err := json.Unmarshal(rec.Value, &in); err != nil {
		return nil, 0, fmt.Errorf("decoding instance %s: %w", id, err)
	}
	return &in, rec.Revision, nil
}

// Instances returns every stored instance, by launch time then id. The
// records are shared with other callers and must not be modified: the
// decoded form of each record is kept until its revision changes, as
// controllers list all instances on every reconcile.
func (s *Service) Instances(ctx context.Context) ([]*Instance, error) {
	recs, err := s.cfg.Store.List(ctx, KindInstance, "")
	if err != nil {
		return nil, fmt.Errorf("listing instances: %w", err)
	}
	s.cacheMu.Lock()
	defer s.cacheMu.Unlock()
	if s.decoded == nil {
		s.decoded = map[string]cachedInstance{}
	}
	seen := make(map[string]bool, len(recs))
	out := make([]*Instance, 0, len(recs))
	for _, r := range recs {
		seen[r.Key] = true
		if c, ok := s.decoded[r.Key]; ok && c.rev == r.Revision {
			out = append(out, c.in)
			continue
		}
		var in Instance
		if err := json.Unmarshal(r.Value, &in); err != nil {
			return nil, fmt.Errorf("decoding instance %s: %w", r.Key, err)
		}
		s.decoded[r.Key] = cachedInstance{rev: r.Revision, in: &in}
		out = append(out, &in)
	}
	for k := range s.decoded {
		if !seen[k] {
			delete(s.decoded, k)
		}
	}
	slices.SortStableFunc(out, func(a, b *Instance) int {
		if c := a.LaunchTime.Compare(b.LaunchTime); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

type cachedInstance struct {
	rev uint64
	in  *Instance
}

// MutateInstances reads the named instances, applies fn to each and
// writes those fn changed, in one commit, retrying on conflicts. Missing
// instances are skipped. fn reports whether it changed the instance.
func (s *Service) MutateInstances(ctx context.Context, ids []string, fn func(in *Instance) (bool, error)) ([]*Instance, error) {
	for attempt := 0; ; attempt++ {
		var ops []store.Op
		var changed []*Instance
		for _, id := range ids {
			in, rev, err := s.Instance(ctx, id)
			if apierror.IsKind(err, apierror.ResourceNotFound) {
				continue
			}
			if err != nil {
				return nil, err
			}
			ok, err := fn(in)
			if err != nil {
				return nil, err
			}
			if !ok {
				continue
			}
			raw, err := json.Marshal(in)
			if err != nil {
				return nil, err
			}
			ops = append(ops, store.Op{Kind: KindInstance, Key: id, Value: raw, IfRevision: rev})
			changed = append(changed, in)
		}
		if len(ops) == 0 {
			return nil, nil
		}
		_, err := s.cfg.Store.Apply(ctx, ops...)
		if errors.Is(err, store.ErrConflict) && attempt < 20 {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("writing instances: %w", err)
		}
		for _, in := range changed {
			if in.State == StateTerminated {
				s.cfg.IPs.Release(instanceOwner(in.ID))
			}
		}
		return changed, nil
	}
}

// Terminate moves live instances to shutting-down; the instance controller
// stops their nodes and finishes the termination. It returns every named
// instance as it is after the call, with its state before it.
func (s *Service) Terminate(ctx context.Context, ids []string, reason Reason) ([]StateChange, error) {
	before := map[string]string{}
	for _, id := range ids {
		in, _, err := s.Instance(ctx, id)
		if err != nil {
			return nil, err
		}
		before[id] = in.State
	}
	_, err := s.MutateInstances(ctx, ids, func(in *Instance) (bool, error) {
		if !in.Live() {
			return false, nil
		}
		in.State = StateShuttingDown
		in.StateReason = reason
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]StateChange, 0, len(ids))
	for _, id := range ids {
		in, _, err := s.Instance(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, StateChange{ID: id, Previous: before[id], Current: in.State})
	}
	return out, nil
}

// StateChange is one instance's state before and after a call.
type StateChange struct {
	ID                string
	Previous, Current string
}

// Forget deletes the records of instances terminated before cutoff (EC2
// shows terminated instances for about an hour).
func (s *Service) Forget(ctx context.Context, cutoff time.Time) error {
	all, err := s.Instances(ctx)
	if err != nil {
		return err
	}
	var ops []store.Op
	for _, in := range all {
		if in.State == StateTerminated && in.TerminatedAt.Before(cutoff) {
			ops = append(ops, store.Op{Kind: KindInstance, Key: in.ID, Delete: true})
		}
	}
	if len(ops) == 0 {
		return nil
	}
	_, err = s.cfg.Store.Apply(ctx, ops...)
	return err
}

// Group returns one Auto Scaling Group and its revision.
func (s *Service) Group(ctx context.Context, name string) (*Group, uint64, error) {
	rec, err := s.cfg.Store.Get(ctx, KindGroup, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, 0, apierror.New(apierror.ResourceNotFound, "AutoScalingGroup name not found - AutoScalingGroup '%s' not found", name)
	}
	if err != nil {
		return nil, 0, err
	}
	var g Group
	if err := json.Unmarshal(rec.Value, &g); err != nil {
		return nil, 0, fmt.Errorf("decoding group %s: %w", name, err)
	}
	return &g, rec.Revision, nil
}

// Groups returns every group, by name.
func (s *Service) Groups(ctx context.Context) ([]*Group, error) {
	recs, err := s.cfg.Store.List(ctx, KindGroup, "")
	if err != nil {
		return nil, fmt.Errorf("listing groups: %w", err)
	}
	out := make([]*Group, 0, len(recs))
	for _, r := range recs {
		var g Group
		if err := json.Unmarshal(r.Value, &g); err != nil {
			return nil, fmt.Errorf("decoding group %s: %w", r.Key, err)
		}
		out = append(out, &g)
	}
	return out, nil
}

// GroupARN is the ARN of a group.
func (s *Service) GroupARN(name, id string) string {
	return fmt.Sprintf("arn:aws:autoscaling:%s:%s:autoScalingGroup:%s:autoScalingGroupName/%s", s.cfg.Region, s.cfg.Account, id, name)
}

// GroupOp returns the store op that creates or overwrites g.
func GroupOp(g *Group, create bool) (store.Op, error) {
	raw, err := json.Marshal(g)
	if err != nil {
		return store.Op{}, err
	}
	return store.Op{Kind: KindGroup, Key: g.Name, Value: raw, Create: create}, nil
}

// MutateGroup reads a group, applies fn and writes it back, retrying on
// conflicts; fn's extra ops commit with it. A group fn leaves unchanged
// is not written.
func (s *Service) MutateGroup(ctx context.Context, name string, fn func(g *Group) ([]store.Op, error)) (*Group, error) {
	g, err := store.Mutate(ctx, s.cfg.Store.Apply, KindGroup, name, func(ctx context.Context) (*Group, uint64, error) { return s.Group(ctx, name) }, fn)
	if err != nil {
		if _, ok := apierror.As(err); !ok {
			return nil, fmt.Errorf("writing group %s: %w", name, err)
		}
	}
	return g, err
}

// RemoveGroup deletes a group record.
func (s *Service) RemoveGroup(ctx context.Context, name string) error {
	_, err := s.cfg.Store.Apply(ctx, store.Op{Kind: KindGroup, Key: name, Delete: true})
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

// TakeOutOfService marks live instances of a group for draining and
// termination, in one commit; with decrement the group's desired count
// drops by one per instance (EC2 Auto Scaling's
// TerminateInstanceInAutoScalingGroup with ShouldDecrementDesiredCapacity),
// refused below the group's minimum. Without it the group launches
// replacements. Instances already out of service are left as they are.
func (s *Service) TakeOutOfService(ctx context.Context, group string, ids []string, decrement bool, drain Drain) error {
	for attempt := 0; ; attempt++ {
		g, grev, err := s.Group(ctx, group)
		if err != nil {
			return err
		}
		var ops []store.Op
		for _, id := range ids {
			in, rev, err := s.Instance(ctx, id)
			if err != nil {
				return err
			}
			if in.Group != group {
				return apierror.New(apierror.InvalidParameter, "Instance %s is not part of Auto Scaling group %s", id, group)
			}
			if !in.Live() || in.Drain != nil {
				continue
			}
			d := drain
			in.Drain = &d
			raw, err := json.Marshal(in)
			if err != nil {
				return err
			}
			ops = append(ops, store.Op{Kind: KindInstance, Key: id, Value: raw, IfRevision: rev})
		}
		if len(ops) == 0 {
			return nil
		}
		if decrement {
			if g.Desired-len(ops) < g.Min {
				return apierror.New(apierror.InvalidParameter, "Currently, desiredSize equals minSize (%d). Terminating instance without replacement will violate group's min size constraint. Either set shouldDecrementDesiredCapacity flag to false or lower group's min size.", g.Min)
			}
			g.Desired -= len(ops)
			raw, err := json.Marshal(g)
			if err != nil {
				return err
			}
			ops = append(ops, store.Op{Kind: KindGroup, Key: group, Value: raw, IfRevision: grev})
		}
		_, err = s.cfg.Store.Apply(ctx, ops...)
		if errors.Is(err, store.ErrConflict) && attempt < 20 {
			continue
		}
		return err
	}
}

// SpotNotice is the warning a Spot interruption gives on AWS.
const SpotNotice = 2 * time.Minute

// Interrupt announces a Spot interruption to running Spot instances: a
// rebalance recommendation now and termination after notice (SpotNotice
// on AWS). Instances already announced keep their deadline. An instance
// that is not a running Spot instance is refused.
func (s *Service) Interrupt(ctx context.Context, ids []string, notice time.Duration) ([]*Instance, error) {
	if len(ids) == 0 {
		return nil, apierror.New(apierror.InvalidParameter, "At least one instance ID is required.")
	}
	if notice < 0 {
		return nil, apierror.New(apierror.InvalidParameter, "The interruption notice must not be negative.")
	}
	for _, id := range ids {
		in, _, err := s.Instance(ctx, id)
		if err != nil {
			return nil, err
		}
		if in.CapacityType != Spot {
			return nil, apierror.New(apierror.InvalidParameter, "Instance %s is not a Spot Instance.", id)
		}
		if in.State != StateRunning {
			return nil, apierror.New(apierror.InvalidParameter, "Instance %s is %s; only running Spot Instances can be interrupted.", id, in.State)
		}
	}
	now := s.cfg.Now().UTC()
	if _, err := s.MutateInstances(ctx, ids, func(in *Instance) (bool, error) {
		if in.Interruption != nil || in.State != StateRunning {
			return false, nil
		}
		in.Interruption = &Interruption{RebalanceAt: now, TerminateAt: now.Add(notice)}
		return true, nil
	}); err != nil {
		return nil, err
	}
	out := make([]*Instance, 0, len(ids))
	for _, id := range ids {
		in, _, err := s.Instance(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, in)
	}
	return out, nil
}

// CreateGroup stores a new group; extra ops commit with it.
func (s *Service) CreateGroup(ctx context.Context, g *Group, extra ...store.Op) error {
	op, err := GroupOp(g, true)
	if err != nil {
		return err
	}
	_, err = s.cfg.Store.Apply(ctx, append([]store.Op{op}, extra...)...)
	if errors.Is(err, store.ErrExists) {
		return apierror.New(apierror.ResourceInUse, "AutoScalingGroup by this name already exists - A group with the name %s already exists", g.Name)
	}
	return err
}

// InstanceOp returns the store op that writes in if its record is still
// at rev.
func InstanceOp(in *Instance, rev uint64) (store.Op, error) {
	raw, err := json.Marshal(in)
	if err != nil {
		return store.Op{}, err
	}
	return store.Op{Kind: KindInstance, Key: in.ID, Value: raw, IfRevision: rev}, nil
}

// AppendConsole adds lines to an instance's console output, keeping the
// last MaxConsoleBytes.
func (s *Service) AppendConsole(ctx context.Context, id string, text string) error {
	_, err := s.MutateInstances(ctx, []string{id}, func(in *Instance) (bool, error) {
		in.Console += text
		if n := len(in.Console); n > MaxConsoleBytes {
			in.Console = in.Console[n-MaxConsoleBytes:]
		}
		return true, nil
	})
	return err
}
