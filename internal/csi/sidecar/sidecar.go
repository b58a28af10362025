package sidecar

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"github.com/go-logr/logr"
	"github.com/kubernetes-csi/csi-lib-utils/connection"
	"github.com/kubernetes-csi/csi-lib-utils/rpc"
	snapclientset "github.com/kubernetes-csi/external-snapshotter/client/v8/clientset/versioned"
	"google.golang.org/grpc"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"

	"github.com/berthproject/berth/internal/csi/plugin"
	// Registers the sidecars' feature gates before they do; see its doc.
	_ "github.com/berthproject/berth/internal/csi/sidecar/gates"
)

// Config is one driver's controller side in one cluster.
type Config struct {
	// Kube is a client of the cluster with the rights of an admin.
	// Required.
	Kube kubernetes.Interface
	// KubeConfig is the admin's configuration of the same cluster, for
	// the snapshot API's client. Required.
	KubeConfig *rest.Config
	// Driver is the CSI driver's name (ebs.csi.aws.com); its Identity
	// must report the same. Required.
	Driver string
	// Controller and Identity are the driver's services. Required.
	Controller csi.ControllerServer
	Identity   csi.IdentityServer
	// SocketDir is where the driver's socket is made, as
	// SocketDir/<Driver>.sock; the path must fit a unix socket's 107
	// bytes. Required.
	SocketDir string
	// Attach runs the external-attacher: the driver needs
	// ControllerPublishVolume before a node can use a volume.
	Attach bool
	// Snapshots runs csi-snapshotter for the driver, and has the
	// provisioner keep snapshot sources protected. The snapshot CRDs must
	// be installed (InstallSnapshotCRDs) and the common snapshot
	// controller run (RunSnapshotController) for the cluster.
	Snapshots bool
	// Resize runs the external-resizer.
	Resize bool
	// DefaultFSType is the filesystem type of provisioned volumes whose
	// StorageClass names none. Empty: ext4 when Attach (a block driver,
	// as the EBS chart runs its provisioner with --default-fstype=ext4),
	// else none.
	DefaultFSType string
	Logger        *slog.Logger
}

// The sidecars' settings: their upstream flags' defaults unless said.
const (
	// provisionTimeout is external-provisioner's --timeout.
	provisionTimeout = 10 * time.Second
	// attachTimeout is external-attacher's --timeout.
	attachTimeout = 15 * time.Second
	// resizeTimeout is external-resizer's --timeout.
	resizeTimeout = 10 * time.Second
	// snapshotTimeout is csi-snapshotter's --timeout.
	snapshotTimeout = time.Minute
	// resync is the resync period of the informers the sidecars share
	// (external-attacher's and external-resizer's --resync default).
	resync = 10 * time.Minute
	// retryStart and retryMax bound the retries of failed operations
	// (every sidecar's --retry-interval-start and --retry-interval-max).
	retryStart = time.Second
	retryMax   = 5 * time.Minute
	// provisionWorkers is external-provisioner's --worker-threads.
	provisionWorkers = 100
	// workers is the worker count of the other sidecars (their
	// --worker-threads or --workers).
	workers = 10
	// attachReconcile is external-attacher's --reconcile-sync: how often
	// VolumeAttachments are checked against ListVolumes' published nodes.
	attachReconcile = time.Minute
	// probeTimeout bounds each Probe while waiting for the driver.
	probeTimeout = 10 * time.Second
)

// maxSocketPath is the longest path a unix socket address takes.
const maxSocketPath = 107

func (cfg *Config) check() error {
	switch {
	case cfg.Kube == nil:
		return errors.New("sidecar: Kube is required")
	case cfg.KubeConfig == nil:
		return errors.New("sidecar: KubeConfig is required")
	case cfg.Driver == "":
		return errors.New("sidecar: Driver is required")
	case cfg.Controller == nil || cfg.Identity == nil:
		return errors.New("sidecar: Controller and Identity are required")
	case cfg.SocketDir == "":
		return errors.New("sidecar: SocketDir is required")
	}
	if p := SocketPath(cfg.SocketDir, cfg.Driver); len(p) > maxSocketPath {
		return fmt.Errorf("sidecar: socket path %s is longer than %d bytes", p, maxSocketPath)
	}
	if cfg.DefaultFSType == "" && cfg.Attach {
		cfg.DefaultFSType = "ext4"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// SocketPath is the socket Run serves driver on in dir.
func SocketPath(dir, driver string) string {
	return filepath.Join(dir, driver+".sock")
}

// sidecars is one Run: what its parts share.
type sidecars struct {
	cfg        Config
	log        *slog.Logger
	conn       *grpc.ClientConn
	plugin     rpc.PluginCapabilitySet
	controller rpc.ControllerCapabilitySet
	snap       snapclientset.Interface
	// factory is the informers of core and storage objects the parts
	// share; snapFactory the snapshot API's (nil without Snapshots).
	factory informers.SharedInformerFactory
	// runs are the parts' loops; each blocks until its context is done.
	runs []func(context.Context, *sync.WaitGroup)
	// started names the parts, for the log.
	started []string
}

// Run serves cfg's driver on its socket, connects to it, and runs the
// sidecars cfg asks for until ctx is done; then it stops them, closes
// the connection, stops the server and removes the socket. It returns an
// error only when it cannot start.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.check(); err != nil {
		return err
	}
	log := cfg.Logger.With("driver", cfg.Driver)
	// The libraries' contextual logs go to the Config's logger, a level
	// lower: their Info is per-object chatter here.
	ctx = klog.NewContext(ctx, logr.FromSlogHandler(demote{log.Handler()}))

	stopServer, serverDone, err := serve(cfg)
	if err != nil {
		return err
	}
	defer func() {
		stopServer()
		<-serverDone
	}()

	// Connect as the sidecars do; a lost connection is re-dialled (the
	// sidecars exit instead, and their pod restarts them), except once
	// Run is stopping.
	var stopping atomic.Bool
	conn, err := connection.Connect(ctx, SocketPath(cfg.SocketDir, cfg.Driver), nil,
		connection.OnConnectionLoss(func(context.Context) bool { return !stopping.Load() }))
	if err != nil {
		return fmt.Errorf("connecting to %s: %w", cfg.Driver, err)
	}
	defer func() {
		stopping.Store(true)
		conn.Close()
	}()

	s := &sidecars{cfg: cfg, log: log, conn: conn, factory: informers.NewSharedInformerFactory(cfg.Kube, resync)}
	if err := s.probe(ctx); err != nil {
		return err
	}
	if s.snap, err = snapclientset.NewForConfig(cfg.KubeConfig); err != nil {
		return fmt.Errorf("snapshot client for %s: %w", cfg.Driver, err)
	}
	if err := s.provisioner(ctx); err != nil {
		return err
	}
	if cfg.Attach {
		s.attacher(ctx)
	}
	if cfg.Resize {
		if err := s.resizer(ctx); err != nil {
			return err
		}
	}
	if cfg.Snapshots {
		if err := s.snapshotter(ctx); err != nil {
			return err
		}
	}

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.factory.Start(runCtx.Done())
	var wg sync.WaitGroup
	for _, run := range s.runs {
		wg.Go(func() { run(runCtx, &wg) })
	}
	log.Info("CSI sidecars running", "socket", SocketPath(cfg.SocketDir, cfg.Driver), "sidecars", s.started)
	<-ctx.Done()
	cancel()
	wg.Wait()
	s.factory.Shutdown()
	log.Debug("CSI sidecars stopped")
	return nil
}

// probe waits for the driver to be ready, checks its name and reads its
// capabilities, as every sidecar does first.
func (s *sidecars) probe(ctx context.Context) error {
	if err := rpc.ProbeForever(ctx, s.conn, probeTimeout); err != nil {
		return fmt.Errorf("probing %s: %w", s.cfg.Driver, err)
	}
	cctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	name, err := rpc.GetDriverName(cctx, s.conn)
	if err != nil {
		return fmt.Errorf("driver name of %s: %w", s.cfg.Driver, err)
	}
	if name != s.cfg.Driver {
		return fmt.Errorf("sidecar: the driver served as %s calls itself %s", s.cfg.Driver, name)
	}
	if s.plugin, err = rpc.GetPluginCapabilities(cctx, s.conn); err != nil {
		return fmt.Errorf("plugin capabilities of %s: %w", s.cfg.Driver, err)
	}
	if !s.plugin[csi.PluginCapability_Service_CONTROLLER_SERVICE] {
		return fmt.Errorf("sidecar: %s has no controller service", s.cfg.Driver)
	}
	if s.controller, err = rpc.GetControllerCapabilities(cctx, s.conn); err != nil {
		return fmt.Errorf("controller capabilities of %s: %w", s.cfg.Driver, err)
	}
	return nil
}

// serve listens on the driver's socket (replacing a stale one) and serves
// its Identity and Controller services until stop is called; done is
// closed when the server has stopped and the socket is gone.
func serve(cfg Config) (stop func(), done <-chan struct{}, err error) {
	if err := os.MkdirAll(cfg.SocketDir, 0o750); err != nil {
		return nil, nil, fmt.Errorf("creating %s: %w", cfg.SocketDir, err)
	}
	path := SocketPath(cfg.SocketDir, cfg.Driver)
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("removing stale socket %s: %w", path, err)
	}
	lis, err := net.Listen("unix", path)
	if err != nil {
		return nil, nil, fmt.Errorf("listening on %s: %w", path, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		defer os.Remove(path)
		if err := plugin.Serve(ctx, lis, cfg.Identity, func(s *grpc.Server) {
			csi.RegisterControllerServer(s, cfg.Controller)
		}); err != nil {
			cfg.Logger.Error("serving the CSI driver", "driver", cfg.Driver, "err", err)
		}
	}()
	return cancel, ch, nil
}

// demote is a slog handler that logs below Error one level lower (Info
// as Debug, Warn as Info): what the libraries say at Info is per-object
// chatter for berth.
type demote struct{ h slog.Handler }

func lower(l slog.Level) slog.Level {
	if l >= slog.LevelError {
		return l
	}
	return l - 4
}

func (d demote) Enabled(ctx context.Context, l slog.Level) bool { return d.h.Enabled(ctx, lower(l)) }

func (d demote) Handle(ctx context.Context, r slog.Record) error {
	r.Level = lower(r.Level)
	return d.h.Handle(ctx, r)
}

func (d demote) WithAttrs(as []slog.Attr) slog.Handler { return demote{d.h.WithAttrs(as)} }
func (d demote) WithGroup(name string) slog.Handler    { return demote{d.h.WithGroup(name)} }
