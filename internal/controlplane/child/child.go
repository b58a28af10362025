// Package child is the entry point of `berth controlplane`, the process the
// daemon starts for each cluster: it reads the spec the daemon wrote, runs
// the cluster's components until it is told to stop, and exits when its
// daemon dies.
package child

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof" // served only when BERTH_CONTROLPLANE_PPROF is set
	"os"
	"path/filepath"
	"runtime/pprof"
	"sync"

	"github.com/berthproject/berth/internal/controlplane"
	"github.com/berthproject/berth/internal/controlplane/components"
)

// Run runs the control plane described by the spec file until ctx is done.
func Run(ctx context.Context, specPath string, log *slog.Logger) error {
	spec, err := controlplane.ReadSpec(specPath)
	if err != nil {
		return err
	}
	// The control plane works in the directory of its spec (the daemon
	// passes a path relative to it), not in spec.Dir, which the daemon may
	// rename from under it (controlplane.ProcessRuntime.Adopt).
	if err := os.Chdir(filepath.Dir(specPath)); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go components.WatchParent(ctx, func() {
		log.Error("the berth daemon is gone; stopping")
		os.Exit(components.ExitOrphaned)
	})
	if addr := os.Getenv("BERTH_CONTROLPLANE_PPROF"); addr != "" {
		// A profiling aid for berth's developers: the control plane's Go
		// profiles on a loopback address.
		if host, _, err := net.SplitHostPort(addr); err != nil || !net.ParseIP(host).IsLoopback() {
			return fmt.Errorf("BERTH_CONTROLPLANE_PPROF=%q must be a loopback HOST:PORT", addr)
		}
		go func() { log.Warn("pprof server stopped", "err", http.ListenAndServe(addr, nil)) }()
	}
	var stopProfile func()
	if file := os.Getenv("BERTH_CONTROLPLANE_CPUPROFILE"); file != "" {
		// A profiling aid for berth's developers: a CPU profile of the
		// control plane's start, written once kube-apiserver is ready.
		f, err := os.Create(file)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		stopProfile = sync.OnceFunc(func() { pprof.StopCPUProfile(); _ = f.Close() })
		defer stopProfile()
	}
	cfg := components.Config{
		ClusterName:          spec.Name,
		Dir:                  ".",
		KubernetesVersion:    spec.Version,
		APIServerPort:        spec.APIServerPort,
		EtcdClientPort:       spec.EtcdClientPort,
		EtcdPeerPort:         spec.EtcdPeerPort,
		ServiceCIDR:          spec.ServiceCIDR,
		ServiceAccountIssuer: spec.ServiceAccountIssuer,
		AuthWebhook:          components.Webhook{URL: spec.AuthWebhookURL, CABundle: []byte(spec.AuthWebhookCA)},
		NodeProxySocket:      spec.NodeProxySocket,
		Logger:               log,
	}
	err = components.Run(ctx, cfg, func() {
		log.Info("control plane ready", "cluster", spec.Name, "version", spec.Version)
		if stopProfile != nil {
			stopProfile()
		}
	})
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("control plane %s: %w", spec.Name, err)
	}
	return nil
}
