// Package daemon wires berth's components into the `berth serve` process:
// the store, the credentials, the EKS API front door, the cluster
// controller and the control-plane runtime.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"k8s.io/client-go/rest"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/berthproject/berth/internal/access"
	"github.com/berthproject/berth/internal/addon"
	"github.com/berthproject/berth/internal/asgapi"
	"github.com/berthproject/berth/internal/cluster"
	"github.com/berthproject/berth/internal/compute"
	"github.com/berthproject/berth/internal/compute/ipam"
	"github.com/berthproject/berth/internal/compute/realprovider"
	"github.com/berthproject/berth/internal/compute/simprovider"
	addonctl "github.com/berthproject/berth/internal/controllers/addon"
	"github.com/berthproject/berth/internal/controllers/autoscaler"
	clusterctl "github.com/berthproject/berth/internal/controllers/cluster"
	computectl "github.com/berthproject/berth/internal/controllers/compute"
	fargatectl "github.com/berthproject/berth/internal/controllers/fargate"
	nodegroupctl "github.com/berthproject/berth/internal/controllers/nodegroup"
	"github.com/berthproject/berth/internal/controlplane"
	"github.com/berthproject/berth/internal/credentials"
	"github.com/berthproject/berth/internal/csi/bindmount"
	csiebs "github.com/berthproject/berth/internal/csi/ebs"
	"github.com/berthproject/berth/internal/drain"
	"github.com/berthproject/berth/internal/ebs"
	"github.com/berthproject/berth/internal/ec2api"
	"github.com/berthproject/berth/internal/efs"
	"github.com/berthproject/berth/internal/efsapi"
	"github.com/berthproject/berth/internal/eksapi"
	"github.com/berthproject/berth/internal/fargate"
	"github.com/berthproject/berth/internal/fsx"
	"github.com/berthproject/berth/internal/fsxapi"
	"github.com/berthproject/berth/internal/iam"
	"github.com/berthproject/berth/internal/iamapi"
	"github.com/berthproject/berth/internal/iamauth"
	"github.com/berthproject/berth/internal/nodegroup"
	"github.com/berthproject/berth/internal/registry"
	"github.com/berthproject/berth/internal/sigv4"
	"github.com/berthproject/berth/internal/store"
	"github.com/berthproject/berth/internal/versions"
	"github.com/berthproject/berth/internal/vpc"
	"github.com/berthproject/berth/internal/webhooks"
)

// Config is what `berth serve` is told.
type Config struct {
	DataDir string
	Listen  string // host:port of the AWS API endpoint
	Region  string
	Account string
	// Executable is the berth binary that runs control planes.
	Executable string
	// Versions are the Kubernetes minors this build serves, newest first,
	// and BinaryPatch the compiled-in Kubernetes version ("1.37.2").
	Versions    []string
	BinaryPatch string
	// DescribeHold: see eksapi.Config.
	DescribeHold time.Duration
	Ports        controlplane.PortRange
	Logger       *slog.Logger
	// Out receives the startup banner (how to use berth).
	Out io.Writer

	// MaxNodegroupsPerCluster and MaxNodesPerNodegroup are the node group
	// quotas (see nodegroup.Config; zero means EKS's 30 and 450).
	MaxNodegroupsPerCluster int
	MaxNodesPerNodegroup    int
	// EvictionTimeout is how long node group updates wait for evictions
	// that PodDisruptionBudgets block (zero: EKS's 15 minutes).
	EvictionTimeout time.Duration
	// SpotInterruptionRate is the chance per hour that a running Spot
	// instance is reclaimed (chaos testing); zero never.
	SpotInterruptionRate float64
	// WarmControlPlanes is how many control planes of the default version
	// berth keeps started ahead of time, so that a new cluster is ACTIVE
	// at once; 0 turns them off.
	WarmControlPlanes int
	// InstanceProvider runs the nodes of instances launched without a
	// berth:provider tag: compute.ProviderSimulated (default when empty)
	// or compute.ProviderReal.
	InstanceProvider string
}

// Validate checks the configuration a user gave.
func (c *Config) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("--data-dir must not be empty"))
	}
	host, port, err := net.SplitHostPort(c.Listen)
	if err != nil || port == "" {
		errs = append(errs, fmt.Errorf("--listen %q must be HOST:PORT", c.Listen))
	} else if ip := net.ParseIP(host); host != "localhost" && ip == nil {
		errs = append(errs, fmt.Errorf("--listen host %q must be an IP address or localhost", host))
	}
	if !validRegion(c.Region) {
		errs = append(errs, fmt.Errorf("--region %q is not a region name like us-east-1", c.Region))
	}
	if len(c.Account) != 12 || strings.Trim(c.Account, "0123456789") != "" {
		errs = append(errs, fmt.Errorf("--account-id %q must be 12 digits", c.Account))
	}
	if c.Executable == "" || len(c.Versions) == 0 {
		errs = append(errs, errors.New("executable and versions are required"))
	}
	switch c.InstanceProvider {
	case "", compute.ProviderSimulated:
	case compute.ProviderReal:
		if err := checkProvider(compute.ProviderReal); err != nil {
			errs = append(errs, fmt.Errorf("--instance-provider real: %w", err))
		}
	default:
		errs = append(errs, fmt.Errorf("--instance-provider %q must be simulated or real", c.InstanceProvider))
	}
	return errors.Join(errs...)
}

func validRegion(r string) bool {
	parts := strings.Split(r, "-")
	if len(parts) < 3 {
		return false
	}
	for _, p := range parts[:len(parts)-1] {
		if p == "" || strings.Trim(p, "abcdefghijklmnopqrstuvwxyz") != "" {
			return false
		}
	}
	last := parts[len(parts)-1]
	return last != "" && strings.Trim(last, "0123456789") == ""
}

// Run serves until ctx is done.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	// The API warnings berth's own clients get (a deprecated API it
	// writes for compatibility, say) are for berth's developers, not its
	// users: debug level. client-go's handler is process-wide.
	rest.SetDefaultWarningHandler(apiWarnings{log.With("component", "kubernetes")})
	dataDir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return fmt.Errorf("creating data dir: %w", err)
	}
	st, err := store.Open(filepath.Join(dataDir, "berth.db"))
	if err != nil {
		return err
	}
	defer st.Close()

	keys := credentials.NewKeyring(st)
	root, err := keys.EnsureRoot(ctx, cfg.Account)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.Listen, err)
	}
	endpoint := "http://" + ln.Addr().String()
	files, err := credentials.WriteFiles(dataDir, root, cfg.Region, endpoint)
	if err != nil {
		ln.Close()
		return err
	}

	network := vpc.Default(cfg.Account, cfg.Region)
	catalog := versions.Builtin(cfg.BinaryPatch).Only(cfg.Versions)
	clusters, err := cluster.New(cluster.Config{
		Store: st, Network: network, Versions: catalog, Account: cfg.Account, Region: cfg.Region,
		Nodegroups:      nodegroup.Attached(st),
		FargateProfiles: fargate.AttachedIn(st),
		AccessEntries:   access.RecordsIn(st),
		Addons:          addon.RemoveOpsIn(st),
	})
	if err != nil {
		return err
	}
	entries, err := access.New(access.Config{Store: st, Clusters: clusters})
	if err != nil {
		return err
	}
	// The webhooks clusters call: Fargate admission, IAM authentication
	// and access policies.
	hooks, err := webhooks.New(filepath.Join(dataDir, "webhooks"), log.With("component", "webhooks"))
	if err != nil {
		return err
	}

	profiles, err := fargate.New(fargate.Config{Store: st, Clusters: clusters, Network: network, Account: cfg.Account, Region: cfg.Region})
	if err != nil {
		return err
	}
	nodegroups, err := nodegroup.New(nodegroup.Config{
		Store: st, Clusters: clusters, Network: network, Versions: catalog, Account: cfg.Account, Region: cfg.Region,
		MaxNodegroupsPerCluster: cfg.MaxNodegroupsPerCluster, MaxNodesPerNodegroup: cfg.MaxNodesPerNodegroup,
		CheckProvider: checkProvider,
	})
	if err != nil {
		return err
	}
	iamSvc, err := iam.New(iam.Config{Store: st, Keys: keys, Account: cfg.Account})
	if err != nil {
		return err
	}
	// IAM and STS verify both their scopes with one verifier.
	iamVerifier, err := sigv4.New(sigv4.Config{Credentials: keys})
	if err != nil {
		return err
	}
	iamAPI, err := iamapi.New(iamapi.Config{Service: iamSvc, Auth: iamVerifier, Region: cfg.Region, MaxBodyBytes: 1 << 20, Logger: log.With("component", "iamapi")})
	if err != nil {
		return err
	}
	verifier, err := sigv4.New(sigv4.Config{Credentials: keys, Service: "eks"})
	if err != nil {
		return err
	}
	var ctl *clusterctl.Controller
	rt, err := controlplane.NewProcessRuntime(controlplane.ProcessConfig{
		Executable: cfg.Executable,
		Logger:     log.With("component", "controlplane"),
		OnChange: func(name string) {
			if ctl != nil {
				ctl.Enqueue(name)
			}
		},
	})
	if err != nil {
		return err
	}
	// The kubelet side is wired once the simulated nodes' provider exists.
	proxies := &nodeProxies{dir: proxySocketDir(dataDir), log: log.With("component", "node-proxy"),
		cluster: func(ctx context.Context, issuerID string) (string, bool) {
			cl, err := clusters.ByIssuer(ctx, issuerID)
			if err != nil {
				return "", false
			}
			return cl.Name, true
		},
	}
	defer proxies.close()
	ctl, err = clusterctl.New(clusterctl.Config{
		Clusters: clusters, Runtime: rt, Changes: st, DataDir: dataDir, Ports: cfg.Ports,
		WarmSpares: cfg.WarmControlPlanes,
		AuthWebhook: func(issuerID string) (string, []byte) {
			return hooks.URL(iamauth.Path(issuerID)), hooks.CABundle()
		},
		NodeProxy: proxies.socket,
		Logger:    log.With("component", "cluster-controller"),
	})
	if err != nil {
		return err
	}
	addons, err := addon.New(addon.Config{Store: st, Clusters: clusters, Account: cfg.Account, Region: cfg.Region})
	if err != nil {
		return err
	}
	api, err := eksapi.New(eksapi.Config{
		Clusters: clusters, Nodegroups: nodegroups, Fargate: profiles, Access: entries, Addons: addons,
		Auth: verifier, Changes: st, DescribeHold: cfg.DescribeHold,
		Logger: log.With("component", "eksapi"),
	})
	if err != nil {
		return err
	}
	ec2Auth, err := sigv4.New(sigv4.Config{Credentials: keys, Service: "ec2"})
	if err != nil {
		return err
	}
	// One address space for the VPC: instances and pods of every cluster.
	ips := ipam.NewSubnetAllocator()
	instances, err := compute.New(compute.Config{Store: st, Network: network, IPs: ips, Account: cfg.Account, Region: cfg.Region,
		DefaultProvider: cfg.InstanceProvider})
	if err != nil {
		return err
	}
	asgAuth, err := sigv4.New(sigv4.Config{Credentials: keys, Service: asgapi.SigningName})
	if err != nil {
		return err
	}
	asgAPI, err := asgapi.New(asgapi.Config{
		Compute: instances, Nodegroups: nodegroups, Auth: asgAuth, Account: cfg.Account, Region: cfg.Region,
		MaxBodyBytes: 1 << 20, Logger: log.With("component", "asgapi"),
	})
	if err != nil {
		return err
	}
	// One resizer for the Auto Scaling API and the built-in autoscaler.
	resizer, err := asgapi.NewResizer(asgapi.ResizerConfig{Compute: instances, Nodegroups: nodegroups})
	if err != nil {
		return err
	}
	volumes, err := ebs.New(ebs.Config{
		Store: st, Network: network, Instances: instances, Account: cfg.Account, Region: cfg.Region,
		DataDir: filepath.Join(dataDir, "ebs"), Logger: log.With("component", "ebs"),
	})
	if err != nil {
		return err
	}
	if err := volumes.Reconcile(ctx); err != nil {
		return fmt.Errorf("ebs: %w", err)
	}
	ec2, err := ec2api.New(ec2api.Config{
		Network: network, Region: cfg.Region, Account: cfg.Account, Instances: instances, Volumes: volumes, CheckProvider: checkProvider,
		AddressesInUse: ips.InUse,
		Profiles: func(ctx context.Context, ref string) (*compute.ProfileInfo, error) {
			p, _, err := iamSvc.InstanceProfileRole(ctx, ref)
			if p == nil || err != nil {
				return nil, err
			}
			return &compute.ProfileInfo{ARN: p.ARN, ID: p.ID}, nil
		},
		Logger: log.With("component", "ec2api"),
	})
	if err != nil {
		return err
	}
	fileSystems, err := efs.New(efs.Config{
		Store: st, Network: network, Dir: filepath.Join(dataDir, "efs"), Account: cfg.Account, Region: cfg.Region, IPs: ips,
		Logger: log.With("component", "efs"),
	})
	if err != nil {
		return err
	}
	efsAuth, err := sigv4.New(sigv4.Config{Credentials: keys, Service: efsapi.SigningName})
	if err != nil {
		return err
	}
	efsAPI, err := efsapi.New(efsapi.Config{Service: fileSystems, Auth: efsAuth, Region: cfg.Region, Logger: log.With("component", "efsapi")})
	if err != nil {
		return err
	}
	lustre, err := fsx.New(fsx.Config{
		Store: st, Network: network, Dir: filepath.Join(dataDir, "fsx"), Account: cfg.Account, Region: cfg.Region,
		Logger: log.With("component", "fsx"),
	})
	if err != nil {
		return err
	}
	fsxAuth, err := sigv4.New(sigv4.Config{Credentials: keys, Service: fsxapi.SigningName})
	if err != nil {
		return err
	}
	fsxAPI, err := fsxapi.New(fsxapi.Config{Service: lustre, Auth: fsxAuth, Region: cfg.Region, Logger: log.With("component", "fsxapi")})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	admins := &adminConfigs{dataDir: dataDir, m: map[string]adminConfig{}}
	access := func(ctx context.Context, name string) (*rest.Config, error) {
		cl, _, err := clusters.Get(ctx, name)
		if err != nil {
			return nil, err
		}
		if cl.Status != cluster.StatusActive && cl.Status != cluster.StatusUpdating {
			return nil, fmt.Errorf("cluster %s is %s", name, cl.Status)
		}
		return admins.config(name)
	}
	// Simulated kubelets report the patch release of their minor, as EKS
	// AMIs and Fargate do.
	kubeletVersion := func(minor string) string {
		if v, ok := catalog.Get(minor); ok {
			return "v" + v.PatchVersion + "-eks-berth"
		}
		return "v" + minor + ".0-eks-berth"
	}
	instanceCreds := newInstanceCredentials(iamSvc).provider
	provider, err := simprovider.New(ctx, simprovider.Config{
		Access: access, IPs: ips, Network: network, Region: cfg.Region, DataDir: filepath.Join(dataDir, "nodes"),
		KubeletVersion:      kubeletVersion,
		InstanceCredentials: instanceCreds,
		ClusterVersion: func(ctx context.Context, name string) string {
			cl, _, err := clusters.Get(ctx, name)
			if err != nil {
				return ""
			}
			return cl.Version
		},
		Logger: log.With("component", "simulated-nodes"),
	})
	if err != nil {
		return err
	}
	proxies.kubelet = provider.DialKubelet
	// The registry real nodes pull from, with the pause image in it.
	reg, err := registry.Start(ctx, filepath.Join(dataDir, "registry"), "127.0.0.1:0", log.With("component", "registry"))
	if err != nil {
		return fmt.Errorf("starting the image registry: %w", err)
	}
	defer reg.Close()
	if err := loadPauseImage(dataDir, reg.Addr()); err != nil {
		return fmt.Errorf("loading the pause image: %w", err)
	}
	hostsDir := filepath.Join(dataDir, "real", "hosts.d")
	if err := reg.Mirror(hostsDir); err != nil {
		return fmt.Errorf("registry host configuration: %w", err)
	}
	realNodes, err := realprovider.New(realprovider.Config{
		DataDir: filepath.Join(dataDir, "real"), SocketDir: proxySocketDir(dataDir),
		Join: provider.JoinInfo, Admin: provider.Admin, Spec: provider.NodeSpec,
		InstanceCredentials: instanceCreds, Region: cfg.Region,
		Kubelet: []string{cfg.Executable, "kubelet"}, KubeProxy: []string{cfg.Executable, "kube-proxy"},
		Registry: reg.Addr(), HostsDir: hostsDir,
		Released: func() {
			if err := csiebs.CleanupLoops(filepath.Join(dataDir, "ebs")); err != nil {
				log.Warn("releasing the loop devices of stopped real nodes", "err", err)
			}
		},
		Logger: log.With("component", "real-nodes"),
	})
	if err != nil {
		return err
	}
	proxies.realNode = realNodes.NodeAt
	drainer := &drain.Drainer{Admin: provider.Admin}
	computeCtl, err := computectl.New(computectl.Config{
		Compute: instances, Provider: providers{sim: provider, real: realNodes}, Drainer: drainer, Volumes: volumes, Changes: st,
		SpotInterruptionRate: cfg.SpotInterruptionRate,
		Logger:               log.With("component", "compute-controller"),
	})
	if err != nil {
		return err
	}
	ngCtl, err := nodegroupctl.New(nodegroupctl.Config{
		Nodegroups: nodegroups, Clusters: clusters, Compute: instances, Admin: provider.Admin, Changes: st,
		EvictionTimeout: cfg.EvictionTimeout,
		Logger:          log.With("component", "nodegroup-controller"),
	})
	if err != nil {
		return err
	}
	hooks.Handle("/fargate/", fargatectl.NewMutator(profiles, log.With("component", "fargate-webhook")))
	authn, err := iamauth.New(iamauth.Config{
		Clusters: clusters, Entries: entries, Credentials: keys, Admin: provider.Admin, Region: cfg.Region,
		EndpointHost: ln.Addr().String(),
		NodeName: func(ctx context.Context, id string) (string, bool) {
			in, _, err := instances.Instance(ctx, id)
			if err != nil {
				return "", false
			}
			return in.PrivateDNS, in.PrivateDNS != ""
		},
		Logger: log.With("component", "iam-authenticator"),
	})
	if err != nil {
		return err
	}
	hooks.Handle("/iam/", authn)
	fargateCtl, err := fargatectl.New(fargatectl.Config{
		Profiles: profiles, Sims: provider, Changes: st, Webhooks: hooks, IPs: ips, Network: network, Region: cfg.Region,
		Clusters: clusters.Names,
		KubeletVersion: func(ctx context.Context, name string) string {
			cl, _, err := clusters.Get(ctx, name)
			if err != nil {
				return ""
			}
			return kubeletVersion(cl.Version)
		},
		Logger: log.With("component", "fargate-controller"),
	})
	if err != nil {
		return err
	}
	// The storage add-ons' drivers. Loop devices a crash left bound are
	// released before any node stages a volume.
	if err := csiebs.CleanupLoops(filepath.Join(dataDir, "ebs")); err != nil {
		log.Warn("releasing loop devices left behind", "err", err)
	}
	ebsMode, ebsWhy := csiebs.DetectMode()
	if ebsMode.Emulated() {
		log.Info("EBS volumes are emulated on this machine", "mode", ebsMode, "why", ebsWhy)
	}
	drivers := &storageDrivers{
		dataDir: dataDir, access: access, volumes: volumes, efs: fileSystems, fsx: lustre,
		mounter: bindmount.New(log.With("component", "csi-node"), ""), ebsMode: ebsMode,
		log: log.With("component", "csi"),
	}
	addonCtl, err := addonctl.New(addonctl.Config{
		Addons: addons, Changes: st, Clusters: provider, RealNodes: realNodes, Drivers: drivers.drivers(),
		Ready: func(ctx context.Context, name string) bool {
			cl, _, err := clusters.Get(ctx, name)
			return err == nil && (cl.Status == cluster.StatusActive || cl.Status == cluster.StatusUpdating)
		},
		Logger: log.With("component", "addon-controller"),
	})
	if err != nil {
		return err
	}
	scaler, err := autoscaler.New(autoscaler.Config{
		Nodegroups: nodegroups, Network: network, Admin: provider.Admin, Resizer: resizer,
		Logger: log.With("component", "autoscaler"),
	})
	if err != nil {
		return err
	}
	front := &gateway{eks: api, ec2: ec2, ec2Auth: ec2Auth, iam: iamAPI, asg: asgAPI, efs: efsAPI, fsx: fsxAPI, maxBody: 1 << 20}
	srv := &http.Server{Handler: front, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}

	printBanner(cfg.Out, endpoint, cfg.Region, files, network)
	log.Info("berth serving", "endpoint", endpoint, "data-dir", dataDir, "region", cfg.Region, "account", cfg.Account)

	var wg sync.WaitGroup
	errc := make(chan error, 16)
	run := func(name string, f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil {
				errc <- fmt.Errorf("%s: %w", name, err)
				cancel()
			}
		}()
	}
	run("control-plane runtime", func() error { return rt.Start(ctx) })
	run("cluster controller", func() error { return ctl.Start(ctx) })
	run("compute controller", func() error { return computeCtl.Start(ctx) })
	run("node group controller", func() error { return ngCtl.Start(ctx) })
	run("webhooks", func() error { return hooks.Serve(ctx) })
	run("autoscaler", func() error { return scaler.Start(ctx) })
	run("addon controller", func() error { return addonCtl.Start(ctx) })
	run("simulated nodes", func() error {
		<-ctx.Done()
		provider.Wait()
		return nil
	})
	run("real nodes", func() error {
		<-ctx.Done()
		realNodes.StopAll()
		return nil
	})
	run("fargate controller", func() error {
		defer fargateCtl.Stop()
		return fargateCtl.Start(ctx)
	})
	run("api server", func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	<-ctx.Done()
	shutdownCtx, stop := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	srv.Shutdown(shutdownCtx)
	stop()
	wg.Wait()
	close(errc)
	var errs []error
	for err := range errc {
		errs = append(errs, err)
	}
	log.Info("berth stopped")
	return errors.Join(errs...)
}

func printBanner(w io.Writer, endpoint, region string, files credentials.Files, n *vpc.Network) {
	fmt.Fprintf(w, "berth is serving the EKS API at %s (region %s)\n", endpoint, region)
	fmt.Fprintf(w, "(and, on the same endpoint, EC2, IAM, STS and Auto Scaling)\n\n")
	fmt.Fprintf(w, "Use it with the AWS CLI or an SDK:\n")
	fmt.Fprint(w, credentials.Usage(files))
	fmt.Fprintf(w, "  (or: --endpoint-url %s with the keys in %s)\n\n", endpoint, files.Credentials)
	fmt.Fprintf(w, "Default VPC %s %s, subnets:\n", n.VpcID, n.CIDR)
	for _, s := range n.Subnets {
		kind := "private"
		if s.Public {
			kind = "public"
		}
		note := ""
		if !s.EKSCapable {
			note = "  (EKS control planes not supported in this zone)"
		}
		fmt.Fprintf(w, "  %s  %-11s %-16s %s%s\n", s.ID, s.AZ, s.CIDR, kind, note)
	}
	fmt.Fprintln(w)
}

// apiWarnings logs the warnings of Kubernetes API responses at debug level.
type apiWarnings struct{ log *slog.Logger }

func (w apiWarnings) HandleWarningHeader(code int, _ string, text string) {
	if code == 299 && text != "" {
		w.log.Debug("Kubernetes API warning", "warning", text)
	}
}
