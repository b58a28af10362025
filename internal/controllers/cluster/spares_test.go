package cluster

import (
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	clustersvc "github.com/berthproject/berth/internal/cluster"
	"github.com/berthproject/berth/internal/controlplane"
	"github.com/berthproject/berth/internal/store"
)

// adoptingRuntime is a fakeRuntime that can hand a spare over, moving its
// directory as the process runtime does.
type adoptingRuntime struct{ *fakeRuntime }

func (f adoptingRuntime) Adopt(from string, to controlplane.Spec) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.specs[from]
	if !ok {
		return errors.New("no such control plane")
	}
	if err := os.Rename(s.Dir, to.Dir); err != nil {
		return err
	}
	delete(f.specs, from)
	f.specs[to.Name] = to
	f.phase[to.Name+"@"+to.Version] = f.phase[from+"@"+s.Version]
	return nil
}

func (f adoptingRuntime) Status(name string) (controlplane.Status, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.specs[name]
	if !ok {
		return controlplane.Status{Phase: controlplane.PhaseStopped}, false
	}
	ph, ok := f.phase[name+"@"+s.Version]
	if !ok {
		ph = controlplane.PhaseStarting
	}
	return controlplane.Status{Phase: ph, Version: s.Version}, true
}

func (f adoptingRuntime) spares() []controlplane.Spec {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []controlplane.Spec
	for n, s := range f.specs {
		if strings.HasPrefix(n, sparePrefix) {
			out = append(out, s)
		}
	}
	return out
}

func setupSpares(t *testing.T) (*env, adoptingRuntime) {
	t.Helper()
	e := setup(t)
	rt := adoptingRuntime{e.rt}
	ctl, err := New(Config{Clusters: e.svc, Runtime: rt, Changes: nopWatcher{}, DataDir: e.dir, WarmSpares: 1})
	if err != nil {
		t.Fatal(err)
	}
	e.ctl = ctl
	return e, rt
}

type nopWatcher struct{}

func (nopWatcher) Watch(context.Context) (<-chan store.Event, error) { return nil, nil }

func TestNewClusterTakesOverASpare(t *testing.T) {
	e, rt := setupSpares(t)
	ctx := t.Context()
	sp := e.ctl.spares
	sp.fill(ctx)
	got := rt.spares()
	if len(got) != 1 {
		t.Fatalf("%d spares started, want 1", len(got))
	}
	spare := got[0]
	if spare.Version != "1.37" || spare.ServiceCIDR != "10.100.0.0/16" || !strings.HasPrefix(spare.Dir, filepath.Join(e.dir, "spares")) {
		t.Fatalf("spare spec %+v", spare)
	}
	// One start at a time: no second spare while the first is starting,
	// even when more are wanted.
	sp.want = 2
	sp.fill(ctx)
	if n := len(rt.spares()); n != 1 {
		t.Fatalf("%d spares while the first starts, want 1", n)
	}
	sp.want = 1
	rt.set(spare.Name, "1.37", controlplane.PhaseReady, "")

	// A cluster at another version starts its own control plane.
	e.create(t, "old", "1.36")
	if err := e.ctl.reconcile(ctx, "old"); err != nil {
		t.Fatal(err)
	}
	if s := rt.specs["old"]; s.APIServerPort == spare.APIServerPort {
		t.Fatal("a 1.36 cluster took the 1.37 spare")
	}

	e.create(t, "demo", "1.37")
	if err := e.ctl.reconcile(ctx, "demo"); err != nil {
		t.Fatal(err)
	}
	c := e.status(t, "demo")
	if c.Status != clustersvc.StatusActive {
		t.Fatalf("status %s right after taking over a ready spare, want ACTIVE", c.Status)
	}
	if c.Runtime.APIServerPort != spare.APIServerPort || c.OIDCIssuer() != spare.ServiceAccountIssuer {
		t.Fatalf("record %+v issuer %s; spare %+v", c.Runtime, c.OIDCIssuer(), spare)
	}
	ca, err := os.ReadFile(filepath.Join(ClusterDir(e.dir, "demo"), "pki", "ca.crt"))
	if err != nil || c.Runtime.CAData != base64.StdEncoding.EncodeToString(ca) {
		t.Fatalf("the cluster's CA is not the spare's: %v", err)
	}
	if _, err := os.Stat(spare.Dir); !os.IsNotExist(err) {
		t.Fatalf("spare directory still there: %v", err)
	}
	// The cluster's spec is the spare's, renamed: the runtime does not
	// restart it.
	want := spare
	want.Name, want.Dir = "demo", ClusterDir(e.dir, "demo")
	if got := rt.specs["demo"]; got != want {
		t.Fatalf("spec %+v, want %+v", got, want)
	}
	// The pool starts a new spare.
	sp.fill(ctx)
	if got := rt.spares(); len(got) != 1 || got[0].Name == spare.Name {
		t.Fatalf("spares after the claim: %+v", got)
	}
}

func TestFailedSpareIsReplacedLater(t *testing.T) {
	e, rt := setupSpares(t)
	ctx := t.Context()
	sp := e.ctl.spares
	sp.fill(ctx)
	first := rt.spares()[0]
	rt.set(first.Name, "1.37", controlplane.PhaseFailed, "boom")
	e.create(t, "demo", "1.37")
	if err := e.ctl.reconcile(ctx, "demo"); err != nil {
		t.Fatal(err)
	}
	if s := rt.specs["demo"]; s.APIServerPort == first.APIServerPort {
		t.Fatal("a cluster took a failed spare")
	}
	sp.fill(ctx)
	if n := len(rt.spares()); n != 0 {
		t.Fatalf("%d spares right after a failure, want 0 until the retry delay", n)
	}
	if _, err := os.Stat(first.Dir); !os.IsNotExist(err) {
		t.Fatalf("the failed spare's directory is still there: %v", err)
	}
}

func TestLeftoverSparesAreRemoved(t *testing.T) {
	e, _ := setupSpares(t)
	old := filepath.Join(e.dir, "spares", "0123456789abcdef")
	if err := os.MkdirAll(filepath.Join(old, "pki"), 0o700); err != nil {
		t.Fatal(err)
	}
	e.ctl.spares.removeLeftovers(t.Context())
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Fatalf("leftover spare still there: %v", err)
	}
}
