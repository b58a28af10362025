package cluster

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	clustersvc "github.com/berthproject/berth/internal/cluster"
	"github.com/berthproject/berth/internal/controlplane"
	"github.com/berthproject/berth/internal/store"
	"github.com/berthproject/berth/internal/versions"
	"github.com/berthproject/berth/internal/vpc"
)

// fakeRuntime reports whatever phase the test sets; the real runtime is
// covered by the e2e tests.
type fakeRuntime struct {
	mu      sync.Mutex
	phase   map[string]controlplane.Phase
	specs   map[string]controlplane.Spec
	stopped map[string]bool
	lastErr string
}

func newFake() *fakeRuntime {
	return &fakeRuntime{phase: map[string]controlplane.Phase{}, specs: map[string]controlplane.Spec{}, stopped: map[string]bool{}}
}

func (f *fakeRuntime) Ensure(s controlplane.Spec) (controlplane.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.specs[s.Name] = s
	delete(f.stopped, s.Name)
	ph, ok := f.phase[s.Name+"@"+s.Version]
	if !ok {
		ph = controlplane.PhaseStarting
	}
	return controlplane.Status{Phase: ph, Version: s.Version, LastError: f.lastErr}, nil
}

func (f *fakeRuntime) Stop(_ context.Context, name, _ string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stopped[name] = true
	delete(f.specs, name)
	return nil
}

func (f *fakeRuntime) set(name, version string, ph controlplane.Phase, lastErr string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.phase[name+"@"+version] = ph
	f.lastErr = lastErr
}

type env struct {
	svc *clustersvc.Service
	rt  *fakeRuntime
	ctl *Controller
	dir string
	net *vpc.Network
}

func setup(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "berth.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	n := vpc.Default("000000000000", "us-east-1")
	svc, err := clustersvc.New(clustersvc.Config{Store: st, Network: n, Versions: versions.Builtin("1.37.2"), Account: "000000000000", Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	rt := newFake()
	ctl, err := New(Config{Clusters: svc, Runtime: rt, Changes: st, DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return &env{svc: svc, rt: rt, ctl: ctl, dir: dir, net: n}
}

func (e *env) create(t *testing.T, name, version string) {
	t.Helper()
	_, err := e.svc.Create(t.Context(), clustersvc.CreateInput{
		Name: name, Version: version, RoleARN: "arn:aws:iam::000000000000:role/r",
		SubnetIDs: []string{e.net.Subnets[0].ID, e.net.Subnets[2].ID},
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (e *env) status(t *testing.T, name string) *clustersvc.Cluster {
	t.Helper()
	c, _, err := e.svc.Get(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCreateBecomesActive(t *testing.T) {
	e := setup(t)
	ctx := t.Context()
	e.create(t, "a", "1.37")
	if err := e.ctl.reconcile(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	c := e.status(t, "a")
	if c.Status != clustersvc.StatusCreating || c.Runtime.Endpoint == "" || c.Runtime.CAData == "" {
		t.Fatalf("after first pass: %s endpoint %q", c.Status, c.Runtime.Endpoint)
	}
	spec := e.rt.specs["a"]
	if spec.ServiceCIDR != "10.100.0.0/16" || spec.APIServerPort == 0 || spec.APIServerPort == spec.EtcdClientPort {
		t.Fatalf("spec %+v", spec)
	}
	if _, err := os.Stat(filepath.Join(ClusterDir(e.dir, "a"), "pki", "ca.crt")); err != nil {
		t.Fatalf("pki: %v", err)
	}
	e.rt.set("a", "1.37", controlplane.PhaseReady, "")
	if err := e.ctl.reconcile(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if c := e.status(t, "a"); c.Status != clustersvc.StatusActive || c.Runtime.RunningVersion != "1.37" {
		t.Fatalf("after ready: %s %q", c.Status, c.Runtime.RunningVersion)
	}
	// Reconciling a settled cluster writes nothing.
	_, rev, _ := e.svc.Get(ctx, "a")
	if err := e.ctl.reconcile(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if _, rev2, _ := e.svc.Get(ctx, "a"); rev2 != rev {
		t.Errorf("idle reconcile rewrote the record (%d -> %d)", rev, rev2)
	}
	// A second cluster gets other ports.
	e.create(t, "b", "1.37")
	if err := e.ctl.reconcile(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	pa, pb := e.rt.specs["a"], e.rt.specs["b"]
	for _, p := range []int{pb.APIServerPort, pb.EtcdClientPort, pb.EtcdPeerPort} {
		if p == pa.APIServerPort || p == pa.EtcdClientPort || p == pa.EtcdPeerPort {
			t.Errorf("port %d shared between clusters", p)
		}
	}
}

func TestCreateFails(t *testing.T) {
	e := setup(t)
	ctx := t.Context()
	e.create(t, "bad", "1.37")
	e.rt.set("bad", "1.37", controlplane.PhaseFailed, "etcd: address in use")
	for i := 0; i < 2; i++ {
		if err := e.ctl.reconcile(ctx, "bad"); err != nil {
			t.Fatal(err)
		}
	}
	c := e.status(t, "bad")
	if c.Status != clustersvc.StatusFailed || len(c.Health) != 1 || c.Health[0].Code != "InternalFailure" {
		t.Fatalf("failed cluster: %s %+v", c.Status, c.Health)
	}
	if !e.rt.stopped["bad"] {
		t.Error("a FAILED cluster's control plane still runs")
	}
}

func TestVersionUpdate(t *testing.T) {
	e := setup(t)
	ctx := t.Context()
	e.create(t, "u", "1.36")
	e.rt.set("u", "1.36", controlplane.PhaseReady, "")
	e.ctl.reconcile(ctx, "u")
	e.ctl.reconcile(ctx, "u")
	if c := e.status(t, "u"); c.Status != clustersvc.StatusActive {
		t.Fatalf("status %s", c.Status)
	}
	upd, err := e.svc.UpdateVersion(ctx, "u", "1.37", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.ctl.reconcile(ctx, "u"); err != nil {
		t.Fatal(err)
	}
	if e.rt.specs["u"].Version != "1.37" {
		t.Fatalf("runtime asked for %s", e.rt.specs["u"].Version)
	}
	if c := e.status(t, "u"); c.Status != clustersvc.StatusUpdating || c.Version != "1.36" {
		t.Fatalf("mid-update: %s %s", c.Status, c.Version)
	}
	e.rt.set("u", "1.37", controlplane.PhaseReady, "")
	if err := e.ctl.reconcile(ctx, "u"); err != nil {
		t.Fatal(err)
	}
	c := e.status(t, "u")
	u, _ := e.svc.DescribeUpdate(ctx, "u", upd.ID, "", "")
	if c.Status != clustersvc.StatusActive || c.Version != "1.37" || u.Status != clustersvc.UpdateSuccessful {
		t.Fatalf("after update: %s %s %s", c.Status, c.Version, u.Status)
	}
}

func TestFailedUpdateRollsBack(t *testing.T) {
	e := setup(t)
	ctx := t.Context()
	e.create(t, "r", "1.36")
	e.rt.set("r", "1.36", controlplane.PhaseReady, "")
	e.ctl.reconcile(ctx, "r")
	upd, err := e.svc.UpdateVersion(ctx, "r", "1.37", "")
	if err != nil {
		t.Fatal(err)
	}
	e.rt.set("r", "1.37", controlplane.PhaseFailed, "boom")
	if err := e.ctl.reconcile(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	u, _ := e.svc.DescribeUpdate(ctx, "r", upd.ID, "", "")
	c := e.status(t, "r")
	if u.Status != clustersvc.UpdateFailed || len(u.Errors) == 0 || c.Status != clustersvc.StatusActive || c.Version != "1.36" {
		t.Fatalf("after failed update: update %s, cluster %s %s", u.Status, c.Status, c.Version)
	}
	if err := e.ctl.reconcile(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	if e.rt.specs["r"].Version != "1.36" {
		t.Fatalf("runtime not back at 1.36: %s", e.rt.specs["r"].Version)
	}
}

func TestDeleteRemovesEverything(t *testing.T) {
	e := setup(t)
	ctx := t.Context()
	e.create(t, "d", "1.37")
	e.ctl.reconcile(ctx, "d")
	dir := ClusterDir(e.dir, "d")
	if _, err := os.Stat(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Delete(ctx, "d"); err != nil {
		t.Fatal(err)
	}
	if err := e.ctl.reconcile(ctx, "d"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.svc.Get(ctx, "d"); err == nil {
		t.Fatal("record still there")
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("dir still there: %v", err)
	}
	if !e.rt.stopped["d"] {
		t.Error("runtime not stopped")
	}
	// Files of a cluster the store does not know are removed too.
	orphan := ClusterDir(e.dir, "ghost")
	os.MkdirAll(orphan, 0o700)
	if err := e.ctl.reconcile(ctx, "ghost"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(orphan); !os.IsNotExist(err) {
		t.Fatal("orphan dir kept")
	}
}

func TestStartDrivesToActive(t *testing.T) {
	e := setup(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	e.ctl.cfg.Resync = 50 * time.Millisecond
	go e.ctl.Start(ctx)
	e.create(t, "w", "1.37")
	e.rt.set("w", "1.37", controlplane.PhaseReady, "")
	deadline := time.Now().Add(10 * time.Second)
	for e.status(t, "w").Status != clustersvc.StatusActive {
		if time.Now().After(deadline) {
			t.Fatal("cluster never became ACTIVE")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
