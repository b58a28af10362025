package components

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/berthproject/berth/internal/kubeconfig"
	"github.com/berthproject/berth/internal/nodeproxy"
	"github.com/berthproject/berth/internal/pki"
)

const (
	// componentStopTimeout bounds how long Run waits for one component to
	// stop before it gives up on it and moves on to the next.
	componentStopTimeout = 10 * time.Second
	// startingStopTimeout replaces componentStopTimeout until
	// kube-apiserver is ready: kube-apiserver does not watch its context
	// while it builds its storage (it waits for etcd instead), so waiting
	// longer for it would only delay Run's return.
	startingStopTimeout = 3 * time.Second
	// readyPollInterval is how often Run asks kube-apiserver's /readyz.
	readyPollInterval = 25 * time.Millisecond

	// Files below Config.Dir.
	controllerManagerKubeconfig = "controller-manager.kubeconfig"
	csrControllersKubeconfig    = "csr-controllers.kubeconfig"
	schedulerKubeconfig         = "scheduler.kubeconfig"
	authnWebhookKubeconfig      = "authn-webhook.kubeconfig"
	authzWebhookKubeconfig      = "authz-webhook.kubeconfig"
	egressSelectorConfig        = "egress-selector.yaml"
)

var (
	// ErrExited means a component returned without being asked to stop
	// and without an error of its own.
	ErrExited = errors.New("components: component exited")
	// ErrAlreadyRun means Run was called a second time in this process.
	ErrAlreadyRun = errors.New("components: Run already called in this process")
)

// running guards the process-wide state Run sets up: it works once per
// process.
var running atomic.Bool

// Run runs the cluster's control plane until ctx is done, then stops
// kube-scheduler, kube-controller-manager, kube-apiserver and etcd in that
// order and returns nil. If a component fails first, Run stops the others the
// same way and returns the failure. ready, if not nil, is called once, as
// soon as kube-apiserver's /readyz answers ok; kube-controller-manager and
// kube-scheduler start when it returns, so it should not block. Run has no
// start timeout of its own: the caller bounds it with ctx.
//
// Run waits at most componentStopTimeout for each component to stop, and
// startingStopTimeout before kube-apiserver is ready. A component that does
// not stop in time is left running and reported in the error: the process
// should then exit, which is its only remaining way out. That happens when
// Run is stopped, or etcd fails, while kube-apiserver is still starting.
//
// Run may be called once per process (see the package doc); it sets klog's
// output and the Go garbage collector's goals for the whole process.
func Run(ctx context.Context, cfg Config, ready func()) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if !running.CompareAndSwap(false, true) {
		return ErrAlreadyRun
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("cluster", cfg.ClusterName)

	p := pki.PathsFor(filepath.Join(cfg.Dir, "pki"))
	if err := checkPKI(p); err != nil {
		return fmt.Errorf("starting control plane of %s: %w", cfg.ClusterName, err)
	}
	flush, err := redirectKlog(filepath.Join(cfg.Dir, "logs"))
	if err != nil {
		return fmt.Errorf("starting control plane of %s: %w", cfg.ClusterName, err)
	}
	defer flush()

	server := "https://" + loopback(cfg.APIServerPort)
	for _, k := range []struct{ file, cert, key string }{
		{controllerManagerKubeconfig, p.ControllerManagerCert, p.ControllerManagerKey},
		{schedulerKubeconfig, p.SchedulerCert, p.SchedulerKey},
		{csrControllersKubeconfig, p.AdminCert, p.AdminKey},
	} {
		if err := writeKubeconfig(filepath.Join(cfg.Dir, k.file), server, p.CACert, k.cert, k.key); err != nil {
			return fmt.Errorf("starting control plane of %s: %w", cfg.ClusterName, err)
		}
	}

	if w := cfg.AuthWebhook; w.URL != "" {
		for _, k := range []struct{ file, path string }{
			{authnWebhookKubeconfig, "/authenticate"},
			{authzWebhookKubeconfig, "/authorize"},
		} {
			if err := writeWebhookKubeconfig(filepath.Join(cfg.Dir, k.file), w.URL+k.path, w.CABundle); err != nil {
				return fmt.Errorf("starting control plane of %s: %w", cfg.ClusterName, err)
			}
		}
	}

	if cfg.NodeProxySocket != "" {
		if err := writeFile(filepath.Join(cfg.Dir, egressSelectorConfig), nodeproxy.EgressConfig(cfg.NodeProxySocket)); err != nil {
			return fmt.Errorf("starting control plane of %s: %w", cfg.ClusterName, err)
		}
	}

	if err := run(ctx, cfg, p, log, ready); err != nil {
		return fmt.Errorf("control plane of %s: %w", cfg.ClusterName, err)
	}
	return nil
}

// run starts etcd and kube-apiserver at once (kube-apiserver's etcd clients
// retry until etcd serves), then, once kube-apiserver is ready, the
// controller-manager and the scheduler, which would otherwise compete for
// CPU with kube-apiserver's start.
func run(ctx context.Context, cfg Config, p pki.Paths, log *slog.Logger, ready func()) error {
	begin := time.Now()
	// Components get contexts of their own so that they stop in order.
	s := newSupervisor(context.WithoutCancel(ctx), log)
	// helpers is done when run returns, for the goroutines that only help.
	helpers, stopHelpers := context.WithCancel(ctx)
	defer stopHelpers()

	etcdStarted := make(chan struct{})
	s.start("etcd", func(ctx context.Context) error {
		return runEtcd(ctx, etcdConfig(cfg, p, filepath.Join(cfg.Dir, "logs")), etcdStarted)
	})
	go func() {
		select {
		case <-etcdStarted:
			log.Debug("etcd ready", "after", time.Since(begin).Round(time.Millisecond))
		case <-helpers.Done():
		}
	}()
	s.start("kube-apiserver", func(ctx context.Context) error {
		return runAPIServer(ctx, apiServerArgs(cfg, p))
	})

	server := "https://" + loopback(cfg.APIServerPort)
	readyErr := make(chan error, 1)
	go func() { readyErr <- waitReady(helpers, server, p) }()
	select {
	case <-ctx.Done():
		return s.stop(nil, nil)
	case c := <-s.exited:
		return s.stop(c.failure(), c)
	case err := <-readyErr:
		if ctx.Err() != nil {
			return s.stop(nil, nil)
		}
		if err != nil {
			return s.stop(fmt.Errorf("waiting for kube-apiserver: %w", err), nil)
		}
	}
	log.Info("kube-apiserver ready", "after", time.Since(begin).Round(time.Millisecond))
	s.stopTimeout = componentStopTimeout
	settleGC(helpers, log)
	go releaseMemory(helpers)
	if ready != nil {
		ready()
	}

	s.start("kube-controller-manager", func(ctx context.Context) error {
		return runControllerManager(ctx, controllerManagerArgs(cfg, p, filepath.Join(cfg.Dir, controllerManagerKubeconfig)))
	})
	s.start("kube-scheduler", func(ctx context.Context) error {
		return runScheduler(ctx, cfg)
	})
	s.start("csr-controllers", func(ctx context.Context) error {
		return runCSRControllers(ctx, filepath.Join(cfg.Dir, csrControllersKubeconfig), p)
	})
	select {
	case <-ctx.Done():
		return s.stop(nil, nil)
	case c := <-s.exited:
		return s.stop(c.failure(), c)
	}
}

// checkPKI fails early, with the file's name, when the daemon has not
// written the cluster's PKI.
func checkPKI(p pki.Paths) error {
	for _, f := range []string{
		p.CACert, p.CAKey, p.APIServerCert, p.APIServerKey,
		p.APIServerKubeletCert, p.APIServerKubeletKey, p.AdminCert, p.AdminKey,
		p.ControllerManagerCert, p.ControllerManagerKey, p.SchedulerCert, p.SchedulerKey,
		p.ServiceAccountKey, p.ServiceAccountPub,
		p.FrontProxyCACert, p.FrontProxyClientCert, p.FrontProxyClientKey,
		p.EtcdCACert, p.EtcdServerCert, p.EtcdServerKey, p.EtcdClientCert, p.EtcdClientKey,
	} {
		if _, err := os.Stat(f); err != nil {
			return fmt.Errorf("reading PKI: %w", err)
		}
	}
	return nil
}

func writeKubeconfig(file, server, caFile, certFile, keyFile string) error {
	var pems [3][]byte
	for i, f := range []string{caFile, certFile, keyFile} {
		b, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("writing %s: %w", file, err)
		}
		pems[i] = b
	}
	b, err := kubeconfig.ForComponent(server, pems[0], pems[1], pems[2])
	if err != nil {
		return fmt.Errorf("writing %s: %w", file, err)
	}
	return writeFile(file, b)
}

// writeFile writes b to file atomically.
func writeFile(file string, b []byte) error {
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", file, err)
	}
	if err := os.Rename(tmp, file); err != nil {
		return fmt.Errorf("writing %s: %w", file, err)
	}
	return nil
}

// writeWebhookKubeconfig writes the kubeconfig kube-apiserver reads a
// webhook's address and CA from.
func writeWebhookKubeconfig(file, server string, caPEM []byte) error {
	b, err := kubeconfig.ForWebhook(server, caPEM)
	if err != nil {
		return fmt.Errorf("writing %s: %w", file, err)
	}
	return writeFile(file, b)
}

// waitReady polls kube-apiserver's /readyz, as the cluster admin so that the
// answer does not depend on RBAC being bootstrapped, until it answers ok.
func waitReady(ctx context.Context, server string, p pki.Paths) error {
	caPEM, err := os.ReadFile(p.CACert)
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return fmt.Errorf("no certificate in %s", p.CACert)
	}
	cert, err := tls.LoadX509KeyPair(p.AdminCert, p.AdminKey)
	if err != nil {
		return err
	}
	transport := &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs:      roots,
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
	}}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: time.Second}
	t := time.NewTicker(readyPollInterval)
	defer t.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, server+"/readyz", nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// supervisor runs components, each in its own goroutine with its own
// context, so that they can be stopped one by one in order.
type supervisor struct {
	base        context.Context
	log         *slog.Logger
	comps       []*component
	exited      chan *component
	stopTimeout time.Duration // per component
}

type component struct {
	name    string
	cancel  context.CancelFunc
	done    chan struct{}
	err     error
	stopped atomic.Bool // asked to stop
}

// failure is the error of a component that returned on its own.
func (c *component) failure() error {
	if c.err != nil {
		return fmt.Errorf("%s: %w", c.name, c.err)
	}
	return fmt.Errorf("%s: %w", c.name, ErrExited)
}

// maxComponents sizes the exit channel so that no component blocks on it.
const maxComponents = 8

func newSupervisor(base context.Context, log *slog.Logger) *supervisor {
	return &supervisor{
		base:        base,
		log:         log,
		exited:      make(chan *component, maxComponents),
		stopTimeout: startingStopTimeout,
	}
}

func (s *supervisor) start(name string, run func(context.Context) error) {
	ctx, cancel := context.WithCancel(s.base)
	c := &component{name: name, cancel: cancel, done: make(chan struct{})}
	s.comps = append(s.comps, c)
	s.log.Debug("starting component", "component", name)
	go func() {
		defer close(c.done)
		c.err = run(ctx)
		if !c.stopped.Load() {
			s.exited <- c
		}
	}()
}

// stop stops the components in the reverse order of their start and
// returns cause joined with what went wrong on the way. failed, if not nil,
// is the component whose exit is the cause.
func (s *supervisor) stop(cause error, failed *component) error {
	if cause != nil {
		s.log.Error("control plane failed, stopping", "err", cause)
	}
	errs := []error{cause}
	for i := len(s.comps) - 1; i >= 0; i-- {
		c := s.comps[i]
		c.stopped.Store(true)
		c.cancel()
		began := time.Now()
		select {
		case <-c.done:
			if c.err != nil && c != failed {
				errs = append(errs, fmt.Errorf("stopping %s: %w", c.name, c.err))
			}
			s.log.Debug("component stopped", "component", c.name, "after", time.Since(began).Round(time.Millisecond))
		case <-time.After(s.stopTimeout):
			errs = append(errs, fmt.Errorf("%s did not stop within %s", c.name, s.stopTimeout))
		}
	}
	return errors.Join(errs...)
}
