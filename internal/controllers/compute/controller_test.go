package compute_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthproject/berth/internal/compute"
	"github.com/berthproject/berth/internal/compute/ipam"
	computectl "github.com/berthproject/berth/internal/controllers/compute"
	"github.com/berthproject/berth/internal/store"
	"github.com/berthproject/berth/internal/vpc"
)

// fakeProvider records which nodes run; joins of clusters named "broken"
// fail.
type fakeProvider struct {
	mu      sync.Mutex
	running map[string]bool
	stopped []string
}

func (p *fakeProvider) Start(_ context.Context, in *compute.Instance) error {
	if in.Cluster == "broken" {
		return errors.New("cluster unreachable")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.running[in.ID] = true
	return nil
}

func (p *fakeProvider) Stop(_ context.Context, in *compute.Instance) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.running, in.ID)
	p.stopped = append(p.stopped, in.ID)
	return nil
}

func (p *fakeProvider) Running(in *compute.Instance) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.running[in.ID]
}

// fakeDrainer drains at once, or fails for nodes in blocked.
type fakeDrainer struct {
	mu      sync.Mutex
	drained []string
	blocked map[string]bool
}

func (d *fakeDrainer) Drain(_ context.Context, in *compute.Instance) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.blocked[in.ID] {
		return errors.New("PodEvictionFailure: blocked")
	}
	d.drained = append(d.drained, in.ID)
	return nil
}

type fixture struct {
	svc     *compute.Service
	prov    *fakeProvider
	drainer *fakeDrainer
	net     *vpc.Network
}

func newFixture(t *testing.T, tune func(*computectl.Config)) *fixture {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "berth.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	net := vpc.Default("000000000000", "us-east-1")
	svc, err := compute.New(compute.Config{Store: st, Network: net, IPs: ipam.NewSubnetAllocator(), Account: "000000000000", Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{svc: svc, prov: &fakeProvider{running: map[string]bool{}}, drainer: &fakeDrainer{blocked: map[string]bool{}}, net: net}
	cfg := computectl.Config{Compute: svc, Provider: f.prov, Drainer: f.drainer, Changes: st, Resync: 200 * time.Millisecond, MaxJoinFailures: 2}
	if tune != nil {
		tune(&cfg)
	}
	ctl, err := computectl.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); ctl.Start(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return f
}

// publicSubnets are the default VPC's public subnets in zones a, b and c.
func (f *fixture) publicSubnets() []string {
	var out []string
	for _, s := range f.net.Subnets {
		if s.Public && len(out) < 3 {
			out = append(out, s.ID)
		}
	}
	return out
}

func (f *fixture) createGroup(t *testing.T, g *compute.Group) {
	t.Helper()
	if err := f.svc.CreateGroup(context.Background(), g); err != nil {
		t.Fatal(err)
	}
}

// eventually polls cond until it holds or 20 s pass.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	last := ""
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: not reached; last state: %s", what, last)
}

func (f *fixture) groupInstances(t *testing.T, group string) (live, running []*compute.Instance, all []*compute.Instance) {
	t.Helper()
	ins, err := f.svc.Instances(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range ins {
		if in.Group != group {
			continue
		}
		all = append(all, in)
		if in.Live() {
			live = append(live, in)
		}
		if in.State == compute.StateRunning && computectl.InService(in) {
			running = append(running, in)
		}
	}
	return live, running, all
}

func (f *fixture) waitRunning(t *testing.T, group string, n int) []*compute.Instance {
	t.Helper()
	var got []*compute.Instance
	eventually(t, fmt.Sprintf("%d running instances in %s", n, group), func() (bool, string) {
		live, running, _ := f.groupInstances(t, group)
		got = running
		return len(live) == n && len(running) == n, fmt.Sprintf("%d live, %d running", len(live), len(running))
	})
	return got
}

func newGroup(f *fixture, name string, desired int) *compute.Group {
	return &compute.Group{
		Name: name, Cluster: "demo", Min: 0, Max: 10, Desired: desired,
		SubnetIDs: f.publicSubnets(), InstanceTypes: []string{"m5.large", "m6i.large"},
		CapacityType: compute.OnDemand, Template: compute.NodeConfig{KubeletVersion: "1.37"}, TemplateVersion: 1,
	}
}

func TestGroupKeepsDesiredSpreadOverZones(t *testing.T) {
	f := newFixture(t, nil)
	f.createGroup(t, newGroup(f, "eks-ng-1", 6))
	running := f.waitRunning(t, "eks-ng-1", 6)
	perAZ := map[string]int{}
	for _, in := range running {
		perAZ[in.AZ]++
		if in.Type != "m5.large" {
			t.Errorf("%s is %s; On-Demand launches the first type of the list", in.ID, in.Type)
		}
		if in.Tags[compute.TagASGName] != "eks-ng-1" {
			t.Errorf("%s has no ASG tag: %v", in.ID, in.Tags)
		}
		if in.Node.Name != in.PrivateDNS || in.Node.Name == "" {
			t.Errorf("%s node name %q, private DNS %q", in.ID, in.Node.Name, in.PrivateDNS)
		}
	}
	if len(perAZ) != 3 || perAZ["us-east-1a"] != 2 || perAZ["us-east-1b"] != 2 || perAZ["us-east-1c"] != 2 {
		t.Errorf("instances per zone %v, want 2 in each of 3", perAZ)
	}

	// A terminated instance is replaced.
	victim := running[0].ID
	if _, err := f.svc.Terminate(context.Background(), []string{victim}, compute.Reason{Code: "Client.UserInitiatedShutdown"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "replacement", func() (bool, string) {
		in, _, err := f.svc.Instance(context.Background(), victim)
		if err != nil {
			return false, err.Error()
		}
		_, running, _ := f.groupInstances(t, "eks-ng-1")
		return in.State == compute.StateTerminated && len(running) == 6, fmt.Sprintf("victim %s, %d running", in.State, len(running))
	})
	if f.prov.Running(&compute.Instance{ID: victim}) {
		t.Errorf("terminated instance %s still runs its node", victim)
	}

	// Scale in drains before it terminates, and keeps zones balanced.
	if _, err := f.svc.MutateGroup(context.Background(), "eks-ng-1", func(g *compute.Group) ([]store.Op, error) {
		g.Desired = 3
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	running = f.waitRunning(t, "eks-ng-1", 3)
	perAZ = map[string]int{}
	for _, in := range running {
		perAZ[in.AZ]++
	}
	if len(perAZ) != 3 {
		t.Errorf("after scale-in, instances per zone %v, want one in each", perAZ)
	}
	f.drainer.mu.Lock()
	drained := len(f.drainer.drained)
	f.drainer.mu.Unlock()
	if drained != 3 {
		t.Errorf("%d nodes drained during scale-in, want 3", drained)
	}
	g, _, _ := f.svc.Group(context.Background(), "eks-ng-1")
	if len(g.Activities) == 0 {
		t.Error("no scaling activities recorded")
	}
}

func TestSpotPicksCheapestAndInterruptionReplaces(t *testing.T) {
	f := newFixture(t, nil)
	g := newGroup(f, "eks-spot-1", 2)
	g.CapacityType = compute.Spot
	g.InstanceTypes = []string{"m5.xlarge", "m5.large", "t3.medium"}
	f.createGroup(t, g)
	running := f.waitRunning(t, "eks-spot-1", 2)
	for _, in := range running {
		if in.CapacityType != compute.Spot || in.Type != "t3.medium" {
			t.Errorf("%s: %s %s, want spot t3.medium (cheapest)", in.ID, in.CapacityType, in.Type)
		}
	}
	doomed := running[0].ID
	if _, err := f.svc.Interrupt(context.Background(), []string{doomed}, time.Second); err != nil {
		t.Fatal(err)
	}
	eventually(t, "interrupted instance replaced and terminated at its deadline", func() (bool, string) {
		in, _, _ := f.svc.Instance(context.Background(), doomed)
		_, running, _ := f.groupInstances(t, "eks-spot-1")
		return in.State == compute.StateTerminated && len(running) == 2, fmt.Sprintf("doomed %s, %d running", in.State, len(running))
	})
	f.drainer.mu.Lock()
	defer f.drainer.mu.Unlock()
	found := false
	for _, id := range f.drainer.drained {
		found = found || id == doomed
	}
	if !found {
		t.Errorf("interrupted instance %s was not drained before its deadline", doomed)
	}
}

func TestInterruptRefusesOnDemand(t *testing.T) {
	f := newFixture(t, nil)
	f.createGroup(t, newGroup(f, "eks-od", 1))
	running := f.waitRunning(t, "eks-od", 1)
	if _, err := f.svc.Interrupt(context.Background(), []string{running[0].ID}, time.Second); err == nil {
		t.Error("interrupting an On-Demand instance succeeded")
	}
	if _, err := f.svc.Interrupt(context.Background(), []string{"i-0000000000000000f"}, time.Second); err == nil {
		t.Error("interrupting an unknown instance succeeded")
	}
}

func TestFailedJoinsTerminateAndReplace(t *testing.T) {
	f := newFixture(t, nil)
	g := newGroup(f, "eks-broken", 1)
	g.Cluster = "broken"
	f.createGroup(t, g)
	eventually(t, "failed instance terminated with a reason", func() (bool, string) {
		_, _, all := f.groupInstances(t, "eks-broken")
		for _, in := range all {
			if in.State == compute.StateTerminated && in.StateReason.Code == "Server.InternalError" {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d instances", len(all))
	})
}

func TestDeletedGroupTerminatesEverything(t *testing.T) {
	f := newFixture(t, nil)
	f.createGroup(t, newGroup(f, "eks-gone", 3))
	f.waitRunning(t, "eks-gone", 3)
	if _, err := f.svc.MutateGroup(context.Background(), "eks-gone", func(g *compute.Group) ([]store.Op, error) {
		g.Deleting = true
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "group removed", func() (bool, string) {
		_, _, err := f.svc.Group(context.Background(), "eks-gone")
		live, _, _ := f.groupInstances(t, "eks-gone")
		return err != nil && len(live) == 0, fmt.Sprintf("%d live, group err %v", len(live), err)
	})
}

func TestGroupRebalancesZones(t *testing.T) {
	f := newFixture(t, nil)
	f.createGroup(t, newGroup(f, "eks-bal", 2))
	running := f.waitRunning(t, "eks-bal", 2)
	// A third instance of the group lands, by hand, in a zone that has
	// one already: 2, 1 and 0 per zone, and the group wants 3.
	if _, err := f.svc.Launch(context.Background(), []compute.LaunchSpec{{
		Type: "m5.large", SubnetID: running[0].SubnetID, Cluster: "demo", Group: "eks-bal", TemplateVersion: 1,
	}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.MutateGroup(context.Background(), "eks-bal", func(g *compute.Group) ([]store.Op, error) {
		g.Desired = 3
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "one instance per zone", func() (bool, string) {
		live, running, _ := f.groupInstances(t, "eks-bal")
		perAZ := map[string]int{}
		for _, in := range running {
			perAZ[in.AZ]++
		}
		return len(live) == 3 && len(running) == 3 && len(perAZ) == 3, fmt.Sprintf("%d live, zones %v", len(live), perAZ)
	})
	g, _, _ := f.svc.Group(context.Background(), "eks-bal")
	rebalanced := false
	for _, a := range g.Activities {
		rebalanced = rebalanced || strings.HasPrefix(a.Description, "Terminating")
	}
	if !rebalanced {
		t.Errorf("no termination among the activities %+v", g.Activities)
	}
}

func TestChaosReclaimsSpot(t *testing.T) {
	// A rate so high that every running Spot instance is reclaimed at the
	// first tick, each with the two-minute notice.
	f := newFixture(t, func(c *computectl.Config) { c.SpotInterruptionRate = 1e7 })
	g := newGroup(f, "eks-chaos", 2)
	g.CapacityType = compute.Spot
	f.createGroup(t, g)
	od := newGroup(f, "eks-steady", 1)
	f.createGroup(t, od)
	eventually(t, "spot instances announced for interruption", func() (bool, string) {
		_, _, all := f.groupInstances(t, "eks-chaos")
		n := 0
		for _, in := range all {
			if in.Interruption != nil {
				n++
				if d := in.Interruption.TerminateAt.Sub(in.Interruption.RebalanceAt); d != compute.SpotNotice {
					return false, fmt.Sprintf("notice %s", d)
				}
			}
		}
		return n >= 2, fmt.Sprintf("%d interrupted", n)
	})
	_, _, steady := f.groupInstances(t, "eks-steady")
	for _, in := range steady {
		if in.Interruption != nil {
			t.Errorf("On-Demand instance %s was interrupted", in.ID)
		}
	}
}
