package cluster

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"k8s.io/client-go/util/workqueue"

	"github.com/berthproject/berth/internal/apierror"
	clustersvc "github.com/berthproject/berth/internal/cluster"
	"github.com/berthproject/berth/internal/controllers/reconcile"
	"github.com/berthproject/berth/internal/controlplane"
	"github.com/berthproject/berth/internal/pki"
	"github.com/berthproject/berth/internal/store"
)

// Runtime runs control planes (controlplane.ProcessRuntime, or a runtime
// that places them elsewhere).
type Runtime interface {
	Ensure(spec controlplane.Spec) (controlplane.Status, error)
	Stop(ctx context.Context, name, dir string) error
}

// Watcher delivers store change events.
type Watcher interface {
	Watch(ctx context.Context) (<-chan store.Event, error)
}

// Config wires a Controller.
type Config struct {
	Clusters *clustersvc.Service
	Runtime  Runtime
	Changes  Watcher
	// DataDir holds one directory per cluster under clusters/.
	DataDir string
	Ports   controlplane.PortRange
	Logger  *slog.Logger
	// Resync is how often every cluster is reconciled even without events
	// (default 10 s).
	Resync time.Duration
	// Workers is the number of clusters reconciled at once (default 4).
	Workers int
	// WarmSpares is how many control planes of the default version the
	// controller keeps started ahead of time for new clusters (see
	// spares.go); 0 turns them off. It needs a Runtime that is an Adopter.
	WarmSpares int
	// AuthWebhook gives the URL and CA of berth's authentication and
	// authorization webhook for the control plane with the given OIDC
	// issuer id (an id no other control plane has, which a warm control
	// plane keeps when a cluster adopts it); nil means none.
	AuthWebhook func(issuerID string) (url string, caPEM []byte)
	// NodeProxy gives the unix socket of berth's node proxy for the
	// control plane with the given OIDC issuer id, listening by the time
	// it returns; nil means kube-apiserver dials nodes itself.
	NodeProxy func(issuerID string) (socket string)
}

// Controller reconciles clusters.
type Controller struct {
	cfg    Config
	log    *slog.Logger
	queue  workqueue.TypedRateLimitingInterface[string]
	spares *spares // nil without warm spares
	// portsMu is held from choosing a control plane's ports until they
	// are recorded (in the cluster's record or the spares' list), so that
	// two control planes never pick the same ones.
	portsMu sync.Mutex
}

var _ Runtime = (*controlplane.ProcessRuntime)(nil)

// New checks cfg and returns a Controller.
func New(cfg Config) (*Controller, error) {
	if cfg.Clusters == nil || cfg.Runtime == nil || cfg.Changes == nil || cfg.DataDir == "" {
		return nil, errors.New("cluster controller: Clusters, Runtime, Changes and DataDir are required")
	}
	if cfg.Ports == (controlplane.PortRange{}) {
		cfg.Ports = controlplane.DefaultPorts
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Resync == 0 {
		cfg.Resync = 10 * time.Second
	}
	if cfg.Workers == 0 {
		cfg.Workers = 4
	}
	q := workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.NewTypedItemExponentialFailureRateLimiter[string](200*time.Millisecond, 30*time.Second),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "clusters"})
	c := &Controller{cfg: cfg, log: cfg.Logger, queue: q}
	if cfg.WarmSpares < 0 {
		return nil, errors.New("cluster controller: WarmSpares is negative")
	}
	if cfg.WarmSpares > 0 {
		rt, ok := cfg.Runtime.(Adopter)
		if !ok {
			return nil, errors.New("cluster controller: warm spares need a runtime that can adopt control planes")
		}
		c.spares = newSpares(c, rt, cfg.WarmSpares)
	}
	return c, nil
}

// Enqueue asks for a cluster to be reconciled (the runtime calls it on
// status changes; a spare's changes go to the spares).
func (c *Controller) Enqueue(name string) {
	if isSpare(name) {
		if c.spares != nil {
			c.spares.notify()
		}
		return
	}
	c.queue.Add(name)
}

// ClusterDir is the directory of one cluster's files.
func ClusterDir(dataDir, name string) string { return filepath.Join(dataDir, "clusters", name) }

// Start runs the controller until ctx is done.
func (c *Controller) Start(ctx context.Context) error {
	events, err := c.cfg.Changes.Watch(ctx)
	if err != nil {
		return err
	}
	defer c.queue.ShutDown()
	c.enqueueAll(ctx)
	if c.spares != nil {
		go c.spares.run(ctx)
	}
	for i := 0; i < c.cfg.Workers; i++ {
		go reconcile.Work(ctx, c.queue, c.reconcile, c.log, "cluster")
	}
	reconcile.Feed(ctx, events, c.cfg.Resync, func(ev store.Event) {
		if ev.Kind == clustersvc.KindCluster {
			c.queue.Add(ev.Key)
		}
	}, func() { c.enqueueAll(ctx) })
	return nil
}

// enqueueAll queues every stored cluster and every cluster directory (so
// the files of clusters that are gone get removed).
func (c *Controller) enqueueAll(ctx context.Context) {
	names, err := c.cfg.Clusters.Names(ctx)
	if err != nil {
		c.log.Warn("listing clusters", "err", err)
	}
	for _, n := range names {
		c.queue.Add(n)
	}
	entries, _ := os.ReadDir(filepath.Join(c.cfg.DataDir, "clusters"))
	for _, e := range entries {
		if e.IsDir() {
			c.queue.Add(e.Name())
		}
	}
}

// reconcile closes the gap between one cluster's record and the world.
func (c *Controller) reconcile(ctx context.Context, name string) error {
	dir := ClusterDir(c.cfg.DataDir, name)
	cl, _, err := c.cfg.Clusters.Get(ctx, name)
	if apierror.IsKind(err, apierror.ResourceNotFound) || apierror.IsKind(err, apierror.InvalidParameter) {
		return c.remove(ctx, name, dir)
	}
	if err != nil {
		return err
	}
	switch cl.Status {
	case clustersvc.StatusDeleting:
		if err := c.remove(ctx, name, dir); err != nil {
			return err
		}
		c.log.Info("cluster deleted", "cluster", name)
		return c.cfg.Clusters.Remove(ctx, name)
	case clustersvc.StatusFailed:
		// A failed cluster keeps its record for the user to read and
		// delete; its control plane does not run.
		return c.cfg.Runtime.Stop(ctx, name, dir)
	}
	if cl.Runtime.Endpoint == "" {
		if cl, err = c.provision(ctx, cl, dir); err != nil {
			return err
		}
	}
	updates, err := c.cfg.Clusters.Updates(ctx, name)
	if err != nil {
		return err
	}
	var inflight *clustersvc.Update
	for _, u := range updates {
		if u.Status == clustersvc.UpdateInProgress {
			inflight = u
		}
	}
	target := cl.Version
	if inflight != nil && inflight.Type == clustersvc.UpdateTypeVersion {
		target = inflight.Param("Version")
	}
	st, err := c.cfg.Runtime.Ensure(c.spec(cl, dir, target))
	if err != nil {
		return err
	}
	return c.report(ctx, cl, inflight, target, st)
}

// provision gives a new cluster a control plane: a warm spare when one
// fits, else its own ports and PKI; then it records the endpoint.
func (c *Controller) provision(ctx context.Context, cl *clustersvc.Cluster, dir string) (*clustersvc.Cluster, error) {
	c.portsMu.Lock()
	defer c.portsMu.Unlock()
	ports := []int{cl.Runtime.APIServerPort, cl.Runtime.EtcdClientPort, cl.Runtime.EtcdPeerPort}
	if c.spares != nil && ports[0] == 0 {
		// Whatever is in dir was left by a provision that did not get
		// as far as the record: nothing refers to it.
		if _, err := os.Stat(dir); err == nil {
			if err := c.remove(ctx, cl.Name, dir); err != nil {
				return nil, err
			}
		}
		if sp, ok := c.spares.claim(cl, dir); ok {
			s := sp.spec
			return c.record(ctx, cl.Name, []int{s.APIServerPort, s.EtcdClientPort, s.EtcdPeerPort}, dir, sp.issuerID)
		}
	}
	used, err := c.usedPorts(ctx)
	if err != nil {
		return nil, err
	}
	if ports[0] == 0 {
		if ports, err = controlplane.FreePorts(3, used, c.cfg.Ports); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", dir, err)
	}
	svcIP, err := firstServiceIP(cl.Network.ServiceIPv4CIDR)
	if err != nil {
		return nil, err
	}
	if _, err := pki.Generate(filepath.Join(dir, "pki"), pki.Options{ClusterName: cl.Name, ServiceIP: svcIP.AsSlice()}); err != nil {
		return nil, fmt.Errorf("writing the PKI of %s: %w", cl.Name, err)
	}
	return c.record(ctx, cl.Name, ports, dir, "")
}

// record writes a provisioned control plane into the cluster's record:
// ports, endpoint, CA and, for a spare, the OIDC issuer id its
// kube-apiserver was started with.
func (c *Controller) record(ctx context.Context, name string, ports []int, dir, issuerID string) (*clustersvc.Cluster, error) {
	caPEM, err := os.ReadFile(pki.PathsFor(filepath.Join(dir, "pki")).CACert)
	if err != nil {
		return nil, err
	}
	return c.cfg.Clusters.Mutate(ctx, name, func(m *clustersvc.Cluster) ([]store.Op, error) {
		if m.Status == clustersvc.StatusDeleting {
			return nil, fmt.Errorf("cluster %s is being deleted", m.Name)
		}
		m.Runtime.APIServerPort, m.Runtime.EtcdClientPort, m.Runtime.EtcdPeerPort = ports[0], ports[1], ports[2]
		m.Runtime.Endpoint = "https://127.0.0.1:" + strconv.Itoa(ports[0])
		m.Runtime.CAData = base64.StdEncoding.EncodeToString(caPEM)
		if issuerID != "" {
			m.OIDCIssuerID = issuerID
		}
		return nil, nil
	})
}

func (c *Controller) usedPorts(ctx context.Context) (map[int]bool, error) {
	names, err := c.cfg.Clusters.Names(ctx)
	if err != nil {
		return nil, err
	}
	used := map[int]bool{}
	if c.spares != nil {
		for _, p := range c.spares.ports() {
			used[p] = true
		}
	}
	for _, n := range names {
		other, _, err := c.cfg.Clusters.Get(ctx, n)
		if err != nil {
			continue
		}
		used[other.Runtime.APIServerPort] = true
		used[other.Runtime.EtcdClientPort] = true
		used[other.Runtime.EtcdPeerPort] = true
	}
	return used, nil
}

func firstServiceIP(cidr string) (netip.Addr, error) {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("service CIDR %q: %w", cidr, err)
	}
	return p.Masked().Addr().Next(), nil
}

func (c *Controller) spec(cl *clustersvc.Cluster, dir, version string) controlplane.Spec {
	return c.withAuth(controlplane.Spec{
		Name:                 cl.Name,
		Dir:                  dir,
		Version:              version,
		APIServerPort:        cl.Runtime.APIServerPort,
		EtcdClientPort:       cl.Runtime.EtcdClientPort,
		EtcdPeerPort:         cl.Runtime.EtcdPeerPort,
		ServiceCIDR:          cl.Network.ServiceIPv4CIDR,
		ServiceAccountIssuer: cl.OIDCIssuer(),
	}, cl.OIDCIssuerID)
}

// withAuth adds berth's auth webhook and node proxy for the control plane
// with the given issuer id to a spec.
func (c *Controller) withAuth(s controlplane.Spec, issuerID string) controlplane.Spec {
	if c.cfg.AuthWebhook != nil {
		url, ca := c.cfg.AuthWebhook(issuerID)
		s.AuthWebhookURL, s.AuthWebhookCA = url, string(ca)
	}
	if c.cfg.NodeProxy != nil {
		s.NodeProxySocket = c.cfg.NodeProxy(issuerID)
	}
	return s
}

// report writes the status that the runtime's state implies.
func (c *Controller) report(ctx context.Context, cl *clustersvc.Cluster, inflight *clustersvc.Update, target string, st controlplane.Status) error {
	readyAtTarget := st.Phase == controlplane.PhaseReady && st.Version == target
	if inflight != nil {
		switch {
		case readyAtTarget:
			if err := c.cfg.Clusters.FinishUpdate(ctx, inflight, clustersvc.UpdateSuccessful, nil); err != nil {
				return err
			}
			c.log.Info("cluster updated", "cluster", cl.Name, "version", target)
		case st.Phase == controlplane.PhaseFailed:
			if err := c.cfg.Clusters.FinishUpdate(ctx, inflight, clustersvc.UpdateFailed, []clustersvc.ErrorDetail{{
				Code: "Unknown", Message: "the control plane did not come up at version " + target + ": " + st.LastError,
			}}); err != nil {
				return err
			}
			// The next reconcile runs the old version again.
			c.queue.AddAfter(cl.Name, time.Second)
		}
	}
	_, err := c.cfg.Clusters.Mutate(ctx, cl.Name, func(m *clustersvc.Cluster) ([]store.Op, error) {
		if m.Status == clustersvc.StatusDeleting || m.Status == clustersvc.StatusFailed {
			return nil, nil
		}
		if st.Phase == controlplane.PhaseReady {
			m.Runtime.RunningVersion = st.Version
		}
		switch {
		case readyAtTarget && (m.Status == clustersvc.StatusCreating || m.Status == clustersvc.StatusUpdating):
			if m.Status == clustersvc.StatusCreating {
				c.log.Info("cluster active", "cluster", m.Name, "after", time.Since(m.CreatedAt).Round(time.Millisecond))
			}
			m.Status = clustersvc.StatusActive
			m.Version = target
			m.Health = nil
		case st.Phase == controlplane.PhaseFailed && m.Status == clustersvc.StatusCreating:
			m.Status = clustersvc.StatusFailed
			m.Health = []clustersvc.Issue{{Code: "InternalFailure", Message: "The control plane could not be started: " + st.LastError, ResourceIDs: []string{m.Name}}}
		case st.Phase == controlplane.PhaseFailed && m.Status == clustersvc.StatusUpdating:
			m.Status = clustersvc.StatusActive
		case m.Status == clustersvc.StatusActive && st.Phase != controlplane.PhaseReady && st.LastError != "":
			m.Health = []clustersvc.Issue{{Code: "ClusterUnreachable", Message: "The control plane is restarting: " + st.LastError, ResourceIDs: []string{m.Name}}}
		case m.Status == clustersvc.StatusActive && st.Phase == controlplane.PhaseReady:
			m.Health = nil
		}
		return nil, nil
	})
	return err
}

// remove stops a cluster's control plane and deletes its files.
func (c *Controller) remove(ctx context.Context, name, dir string) error {
	if err := c.cfg.Runtime.Stop(ctx, name, dir); err != nil {
		return fmt.Errorf("stopping the control plane of %s: %w", name, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("removing %s: %w", dir, err)
	}
	return nil
}
