// Command berth is a self-hosted managed Kubernetes service that speaks
// the Amazon EKS API.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof" // served only when BERTH_PPROF is set
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"k8s.io/klog/v2"

	"github.com/berthproject/berth/internal/controlplane/child"
	"github.com/berthproject/berth/internal/controlplane/components"
	"github.com/berthproject/berth/internal/daemon"
	"github.com/berthproject/berth/internal/realnode"
)

// version is set with -ldflags "-X main.version=...".
var version = "dev"

const usage = `berth: the Amazon EKS API on your own machine.

Usage:
  berth serve [--data-dir DIR] [--listen HOST:PORT] [--region R] [--account-id N]
  berth kubeconfig NAME [--data-dir DIR]
  berth spot interrupt [--notice 2m] [--data-dir DIR] INSTANCE-ID...
  berth node token CLUSTER [--ttl 24h] [--bootstrap-kubeconfig] [--data-dir DIR]
  berth node join (--bootstrap-kubeconfig FILE | --node-config FILE) --node-name NAME [options]
  berth node get-token --cluster-name NAME [--region R] [--sts-endpoint URL]
  berth image load [--data-dir DIR] FILE.tar...
  berth version

Default data dir: $BERTH_DATA_DIR, else ~/.berth. Default listen address: 127.0.0.1:4800.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(ctx, os.Args[2:])
	case "kubeconfig":
		err = kubeconfigCmd(os.Args[2:], os.Stdout)
	case "spot":
		err = spotCmd(ctx, os.Args[2:], os.Stdout)
	case "node":
		err = nodeCmd(ctx, os.Args[2:], os.Stdout)
	case "version", "--version":
		fmt.Printf("berth %s (Kubernetes %s, versions %s)\n", version, kubernetesVersion(), strings.Join(components.SupportedVersions(), ", "))
	case "controlplane":
		err = controlplaneCmd(ctx, os.Args[2:])
	case "kubelet":
		err = kubeletCmd(ctx, os.Args[2:])
	case "kube-proxy":
		err = kubeProxyCmd(os.Args[2:])
	case "image":
		err = imageCmd(os.Args[2:], os.Stdout)
	case "help", "-h", "--help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "berth: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintf(os.Stderr, "berth: %v\n", err)
		os.Exit(1)
	}
}

func defaultDataDir() string {
	if d := os.Getenv("BERTH_DATA_DIR"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ".berth"
	}
	return filepath.Join(home, ".berth")
}

// kubernetesVersion is the compiled-in k8s.io/kubernetes module version.
func kubernetesVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range bi.Deps {
			if m.Path == "k8s.io/kubernetes" {
				return strings.TrimPrefix(m.Version, "v")
			}
		}
	}
	return "unknown"
}

func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("berth "+name, flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	return fs
}

func serve(ctx context.Context, args []string) error {
	fs := newFlags("serve")
	dataDir := fs.String("data-dir", defaultDataDir(), "directory for berth's state")
	listen := fs.String("listen", "127.0.0.1:4800", "address of the AWS API endpoint")
	region := fs.String("region", "us-east-1", "AWS region berth serves")
	account := fs.String("account-id", "000000000000", "AWS account id")
	hold := fs.Duration("describe-hold", 10*time.Second, "how long DescribeCluster may wait for a transitional state to end (0 disables)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	maxNodes := fs.Int("max-nodes-per-nodegroup", 450, "quota: nodes per managed node group (EKS: 450)")
	maxGroups := fs.Int("max-nodegroups-per-cluster", 30, "quota: managed node groups per cluster (EKS: 30)")
	evictionTimeout := fs.Duration("nodegroup-eviction-timeout", 15*time.Minute, "how long node group updates wait for evictions that PodDisruptionBudgets block (EKS: 15m)")
	spotRate := fs.Float64("spot-interruption-rate", 0, "chance per hour that a running Spot instance is reclaimed, for chaos testing (0 never)")
	instanceProvider := fs.String("instance-provider", "simulated", "what runs the nodes of instances launched without a berth:provider tag: simulated (simulated kubelets) or real (containerd and the upstream kubelet; needs root and Debian's "+realnode.Packages+")")
	warm := fs.Int("warm-control-planes", 1, "control planes of the default version kept started ahead of time, so that new clusters are ACTIVE at once (0 turns them off; each takes about 300 MB)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("serve takes no arguments, got %q", fs.Args())
	}
	if *maxNodes < 1 || *maxNodes > 100000 {
		return fmt.Errorf("--max-nodes-per-nodegroup must be between 1 and 100000")
	}
	if *maxGroups < 1 || *maxGroups > 1000 {
		return fmt.Errorf("--max-nodegroups-per-cluster must be between 1 and 1000")
	}
	if *evictionTimeout < time.Second || *evictionTimeout > 24*time.Hour {
		return fmt.Errorf("--nodegroup-eviction-timeout must be between 1s and 24h")
	}
	if *warm < 0 || *warm > 8 {
		return fmt.Errorf("--warm-control-planes must be between 0 and 8")
	}
	if *spotRate < 0 || *spotRate > 3600 {
		return fmt.Errorf("--spot-interruption-rate must be between 0 and 3600 per hour")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	if *hold < 0 || *hold > time.Minute {
		return fmt.Errorf("--describe-hold must be between 0 and 1m")
	}
	if addr := os.Getenv("BERTH_PPROF"); addr != "" {
		// A profiling aid for berth's developers: the daemon's Go profiles
		// on a loopback address (BERTH_CONTROLPLANE_PPROF does the same
		// for control planes).
		if host, _, err := net.SplitHostPort(addr); err != nil || !net.ParseIP(host).IsLoopback() {
			return fmt.Errorf("BERTH_PPROF=%q must be a loopback HOST:PORT", addr)
		}
		go http.ListenAndServe(addr, nil)
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	// The Kubernetes libraries the daemon runs (client-go, the CSI
	// sidecars) log through klog: into the same log.
	klog.SetSlogLogger(logger.With("component", "kubernetes"))
	return daemon.Run(ctx, daemon.Config{
		DataDir:                 *dataDir,
		Listen:                  *listen,
		Region:                  *region,
		Account:                 *account,
		Executable:              exe,
		Versions:                components.SupportedVersions(),
		BinaryPatch:             kubernetesVersion(),
		DescribeHold:            *hold,
		MaxNodesPerNodegroup:    *maxNodes,
		MaxNodegroupsPerCluster: *maxGroups,
		EvictionTimeout:         *evictionTimeout,
		SpotInterruptionRate:    *spotRate,
		WarmControlPlanes:       *warm,
		InstanceProvider:        *instanceProvider,
		Logger:                  logger,
		Out:                     os.Stdout,
	})
}

func kubeconfigCmd(args []string, out io.Writer) error {
	fs := newFlags("kubeconfig")
	dataDir := fs.String("data-dir", defaultDataDir(), "berth's data directory")
	// Accept NAME before or after the flags.
	var name string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if name == "" && fs.NArg() == 1 {
		name = fs.Arg(0)
	} else if fs.NArg() > 0 {
		return fmt.Errorf("kubeconfig takes one cluster name")
	}
	if name == "" {
		return fmt.Errorf("usage: berth kubeconfig NAME [--data-dir DIR]")
	}
	kc, err := daemon.AdminKubeconfig(*dataDir, name)
	if err != nil {
		return err
	}
	_, err = out.Write(kc)
	return err
}

func controlplaneCmd(ctx context.Context, args []string) error {
	fs := newFlags("controlplane")
	spec := fs.String("config", "", "the control-plane spec written by the daemon")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *spec == "" {
		return fmt.Errorf("controlplane is started by berth serve; it needs --config")
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	return child.Run(ctx, *spec, log)
}
