package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/berthproject/berth/internal/cluster"
	"github.com/berthproject/berth/internal/controlplane"
	"github.com/berthproject/berth/internal/pki"
)

// Warm control planes ("spares"): the controller keeps control planes of
// the default version and Service range started ahead of time, and a new
// cluster that matches takes one over (controlplane.ProcessRuntime.Adopt)
// instead of starting its own. CreateCluster then reaches ACTIVE as soon as
// its record is written, instead of after the 3 s or so a control plane
// needs to start on two cores. A spare is disposable: it is not in the
// store, a daemon start removes whatever spares an earlier daemon left, and
// a cluster that cannot get one starts its control plane as before.

// sparePrefix starts the runtime name of a spare. No EKS cluster name
// starts with "_", so spares and clusters never share a name.
const sparePrefix = "_spare-"

// spareRetry is how long the controller waits after a spare failed before
// it starts another.
const spareRetry = time.Minute

// Adopter is a Runtime that can hand a running control plane over to a
// cluster (controlplane.ProcessRuntime is one).
type Adopter interface {
	Adopt(from string, to controlplane.Spec) error
	Status(name string) (controlplane.Status, bool)
}

func isSpare(name string) bool { return strings.HasPrefix(name, sparePrefix) }

type spare struct {
	spec     controlplane.Spec
	issuerID string
}

// spares keeps the warm control planes.
type spares struct {
	c    *Controller
	rt   Adopter
	want int
	dir  string // DataDir/spares
	log  *slog.Logger
	kick chan struct{}

	mu          sync.Mutex
	list        []*spare
	lastFailure time.Time
}

func newSpares(c *Controller, rt Adopter, want int) *spares {
	return &spares{
		c: c, rt: rt, want: want,
		dir:  filepath.Join(c.cfg.DataDir, "spares"),
		log:  c.log.With("spares", want),
		kick: make(chan struct{}, 1),
	}
}

// notify asks the pool to look at its spares again.
func (s *spares) notify() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// run keeps the pool full until ctx is done. The runtime stops the spares'
// processes when it stops; their directories go at the next start.
func (s *spares) run(ctx context.Context) {
	s.removeLeftovers(ctx)
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		s.fill(ctx)
		select {
		case <-ctx.Done():
			return
		case <-s.kick:
		case <-t.C:
		}
	}
}

// removeLeftovers stops and removes the spares of an earlier daemon.
func (s *spares) removeLeftovers(ctx context.Context) {
	entries, _ := os.ReadDir(s.dir)
	for _, e := range entries {
		dir := filepath.Join(s.dir, e.Name())
		if err := s.c.cfg.Runtime.Stop(ctx, sparePrefix+e.Name(), dir); err != nil {
			s.log.Warn("stopping a leftover spare", "dir", dir, "err", err)
			continue
		}
		if err := os.RemoveAll(dir); err != nil {
			s.log.Warn("removing a leftover spare", "dir", dir, "err", err)
		}
	}
}

// fill drops failed spares and starts one when the pool is short and every
// spare it has is ready: one start at a time, since starts compete for CPU.
func (s *spares) fill(ctx context.Context) {
	s.mu.Lock()
	var failed []*spare
	ready := true
	keep := s.list[:0]
	for _, sp := range s.list {
		st, ok := s.rt.Status(sp.spec.Name)
		switch {
		case !ok || st.Phase == controlplane.PhaseFailed || st.Phase == controlplane.PhaseStopped:
			failed = append(failed, sp)
			continue
		case st.Phase != controlplane.PhaseReady:
			ready = false
		}
		keep = append(keep, sp)
	}
	s.list = keep
	if len(failed) > 0 {
		s.lastFailure = time.Now()
	}
	start := ready && len(s.list) < s.want && time.Since(s.lastFailure) >= spareRetry
	s.mu.Unlock()

	for _, sp := range failed {
		st, _ := s.rt.Status(sp.spec.Name)
		s.log.Warn("a spare control plane failed; removing it", "spare", sp.spec.Name, "err", st.LastError)
		s.discard(ctx, sp)
	}
	if !start || ctx.Err() != nil {
		return
	}
	sp, err := s.start()
	if err != nil {
		s.mu.Lock()
		s.lastFailure = time.Now()
		s.mu.Unlock()
		s.log.Warn("starting a spare control plane", "err", err)
		return
	}
	s.log.Debug("spare control plane started", "spare", sp.spec.Name)
}

func (s *spares) discard(ctx context.Context, sp *spare) {
	if err := s.c.cfg.Runtime.Stop(ctx, sp.spec.Name, sp.spec.Dir); err != nil {
		s.log.Warn("stopping a spare", "spare", sp.spec.Name, "err", err)
		return
	}
	if err := os.RemoveAll(sp.spec.Dir); err != nil {
		s.log.Warn("removing a spare", "spare", sp.spec.Name, "err", err)
	}
}

// start writes a spare's PKI, starts its control plane and adds it to the
// pool, all under the controller's ports lock so that no cluster picks the
// same ports meanwhile.
func (s *spares) start() (*spare, error) {
	s.c.portsMu.Lock()
	defer s.c.portsMu.Unlock()
	svc := s.c.cfg.Clusters
	id := randomID()
	name := sparePrefix + id
	dir := filepath.Join(s.dir, id)
	used, err := s.c.usedPorts(context.Background())
	if err != nil {
		return nil, err
	}
	ports, err := controlplane.FreePorts(3, used, s.c.cfg.Ports)
	if err != nil {
		return nil, err
	}
	cidr := svc.DefaultServiceCIDR()
	svcIP, err := firstServiceIP(cidr)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if _, err := pki.Generate(filepath.Join(dir, "pki"), pki.Options{ClusterName: name, ServiceIP: svcIP.AsSlice()}); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	issuerID := cluster.NewIssuerID()
	spec := s.c.withAuth(controlplane.Spec{
		Name:                 name,
		Dir:                  dir,
		Version:              svc.Versions().Default().Minor,
		APIServerPort:        ports[0],
		EtcdClientPort:       ports[1],
		EtcdPeerPort:         ports[2],
		ServiceCIDR:          cidr,
		ServiceAccountIssuer: cluster.IssuerURL(svc.Region(), issuerID),
	}, issuerID)
	if _, err := s.c.cfg.Runtime.Ensure(spec); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	sp := &spare{spec: spec, issuerID: issuerID}
	s.mu.Lock()
	s.list = append(s.list, sp)
	s.mu.Unlock()
	return sp, nil
}

// claim gives cl a spare that runs what it asks for, moved to dir (which
// must not exist), and returns the spare; ok is false when none fits.
func (s *spares) claim(cl *cluster.Cluster, dir string) (sp *spare, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, sp := range s.list {
		if sp.spec.Version != cl.Version || sp.spec.ServiceCIDR != cl.Network.ServiceIPv4CIDR {
			continue
		}
		if st, _ := s.rt.Status(sp.spec.Name); st.Phase != controlplane.PhaseReady && st.Phase != controlplane.PhaseStarting {
			continue
		}
		to := sp.spec
		to.Name, to.Dir = cl.Name, dir
		to.ServiceAccountIssuer = cluster.IssuerURL(s.c.cfg.Clusters.Region(), sp.issuerID)
		if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
			s.log.Warn("claiming a spare", "cluster", cl.Name, "err", err)
			return nil, false
		}
		if err := s.rt.Adopt(sp.spec.Name, to); err != nil {
			s.log.Warn("claiming a spare", "cluster", cl.Name, "spare", sp.spec.Name, "err", err)
			continue
		}
		s.list = append(s.list[:i], s.list[i+1:]...)
		s.notify()
		s.log.Info("cluster took over a warm control plane", "cluster", cl.Name, "spare", sp.spec.Name)
		claimed := *sp
		claimed.spec = to
		return &claimed, true
	}
	return nil, false
}

// ports lists the ports the spares hold.
func (s *spares) ports() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []int
	for _, sp := range s.list {
		out = append(out, sp.spec.APIServerPort, sp.spec.EtcdClientPort, sp.spec.EtcdPeerPort)
	}
	return out
}

// randomID is a spare's id: 16 hex digits.
func randomID() string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return hex.EncodeToString(b)
}
