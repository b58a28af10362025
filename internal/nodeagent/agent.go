// Package nodeagent runs a self-managed node outside berth's daemon: the
// simulated kubelet of internal/compute/sim as a process of its own
// (`berth node join`), on this machine or another, joined to a cluster
// the way a real node joins: with a bootstrap token and TLS
// bootstrapping, or with IAM credentials whose role an EC2_LINUX access
// entry or the aws-auth ConfigMap maps. It watches only its own pods,
// with its own identity, keeps its client certificate in its state
// directory across restarts, and retries until it is admitted; when it
// stops, its node goes NotReady as a dead machine's does.
package nodeagent

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/berthproject/berth/internal/compute/instancetypes"
	"github.com/berthproject/berth/internal/compute/sim"
	"github.com/berthproject/berth/internal/compute/simprovider"
	"github.com/berthproject/berth/internal/ekstoken"
)

// Config configures a node agent.
type Config struct {
	// Server and CAData (PEM) name the cluster's API server. Required.
	Server string
	CAData []byte
	// ClusterName is the EKS cluster's name, signed into IAM tokens.
	ClusterName string
	// BootstrapToken joins by TLS bootstrapping ("ID.SECRET"); else
	// Credentials and Region sign EKS tokens (STSEndpoint, when set, is
	// the STS endpoint they name: berth's own for `--endpoint-url`).
	BootstrapToken string
	Credentials    aws.CredentialsProvider
	Region         string
	STSEndpoint    string
	// NodeName is the Node's name. Required.
	NodeName string
	Labels   map[string]string
	Taints   []corev1.Taint
	// InstanceType sizes the node (capacity, allocatable, max pods) as
	// the EKS AMI would; CPU, Memory and MaxPods, when set, override it.
	InstanceType string
	CPU          resource.Quantity
	Memory       resource.Quantity
	MaxPods      int
	// PodCIDR is where pod addresses come from; NodeIP is the node's
	// address. Zero values derive them from the node name in
	// 100.64.0.0/10 (a /24 per node).
	PodCIDR netip.Prefix
	NodeIP  netip.Addr
	// StateDir keeps the node's client certificate. Required with
	// BootstrapToken.
	StateDir string
	Logger   *slog.Logger
}

// Agent is one self-managed node.
type Agent struct {
	cfg  Config
	log  *slog.Logger
	spec sim.NodeSpec
	sim  *sim.Cluster
}

// New checks cfg and returns an Agent.
func New(cfg Config) (*Agent, error) {
	var errs []error
	if cfg.Server == "" || len(cfg.CAData) == 0 {
		errs = append(errs, errors.New("the cluster endpoint and CA are required"))
	}
	if cfg.NodeName == "" {
		errs = append(errs, errors.New("a node name is required"))
	}
	switch {
	case cfg.BootstrapToken != "" && cfg.Credentials != nil:
		errs = append(errs, errors.New("give a bootstrap token or IAM credentials, not both"))
	case cfg.BootstrapToken != "" && cfg.StateDir == "":
		errs = append(errs, errors.New("a state directory is required to keep the node's certificate"))
	case cfg.BootstrapToken == "" && cfg.Credentials == nil:
		errs = append(errs, errors.New("a bootstrap token or IAM credentials are required"))
	case cfg.Credentials != nil && (cfg.ClusterName == "" || cfg.Region == ""):
		errs = append(errs, errors.New("IAM credentials need the cluster name and region"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("nodeagent: %w", err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if !cfg.PodCIDR.IsValid() {
		cfg.PodCIDR = derivedCIDR(cfg.NodeName)
	}
	if !cfg.NodeIP.IsValid() {
		cfg.NodeIP = cfg.PodCIDR.Addr().Next().Next().Next().Next()
	}
	if !cfg.PodCIDR.Contains(cfg.NodeIP) || cfg.PodCIDR.Bits() > 28 || !cfg.NodeIP.Is4() {
		return nil, fmt.Errorf("nodeagent: the node address %s must be IPv4 in the pod CIDR %s (a /28 or larger)", cfg.NodeIP, cfg.PodCIDR)
	}
	spec, err := nodeSpec(cfg)
	if err != nil {
		return nil, err
	}
	c, err := sim.NewCluster(sim.ClusterConfig{
		Server: cfg.Server, CAData: cfg.CAData, BootstrapToken: cfg.BootstrapToken, Logger: cfg.Logger,
	})
	if err != nil {
		return nil, err
	}
	return &Agent{cfg: cfg, log: cfg.Logger, spec: spec, sim: c}, nil
}

// derivedCIDR is a /24 of 100.64.0.0/10 picked by the node name.
func derivedCIDR(name string) netip.Prefix {
	sum := sha256.Sum256([]byte(name))
	block := binary.BigEndian.Uint32(sum[:4]) % (1 << 14) // 2^14 /24s in a /10
	base := uint32(100)<<24 | uint32(64)<<16 | block<<8
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], base)
	return netip.PrefixFrom(netip.AddrFrom4(b), 24)
}

// nodeSpec is what the node registers.
func nodeSpec(cfg Config) (sim.NodeSpec, error) {
	labels := map[string]string{corev1.LabelHostname: cfg.NodeName, corev1.LabelOSStable: "linux", corev1.LabelArchStable: "amd64"}
	capacity := corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("8Gi"),
		corev1.ResourcePods: resource.MustParse("110"), corev1.ResourceEphemeralStorage: resource.MustParse("20Gi"),
	}
	allocatable := capacity.DeepCopy()
	if cfg.InstanceType != "" {
		t, ok := instancetypes.Lookup(cfg.InstanceType)
		if !ok {
			return sim.NodeSpec{}, fmt.Errorf("nodeagent: unknown instance type %s", cfg.InstanceType)
		}
		pods := t.RecommendedMaxPods()
		capacity = simprovider.Resources(t.Capacity(20), pods)
		allocatable = simprovider.Resources(t.Allocatable(20), pods)
		labels[corev1.LabelInstanceTypeStable] = cfg.InstanceType
		if t.Architecture == instancetypes.Arm64 {
			labels[corev1.LabelArchStable] = "arm64"
		}
	}
	for name, q := range map[corev1.ResourceName]resource.Quantity{corev1.ResourceCPU: cfg.CPU, corev1.ResourceMemory: cfg.Memory} {
		if !q.IsZero() {
			capacity[name], allocatable[name] = q, q
		}
	}
	if cfg.MaxPods > 0 {
		q := *resource.NewQuantity(int64(cfg.MaxPods), resource.DecimalSI)
		capacity[corev1.ResourcePods], allocatable[corev1.ResourcePods] = q, q
	}
	for k, v := range cfg.Labels {
		labels[k] = v
	}
	spec := sim.NodeSpec{
		Name: cfg.NodeName, ProviderID: "", InternalIP: cfg.NodeIP, Subnet: cfg.PodCIDR,
		Capacity: capacity, Allocatable: allocatable, Labels: labels, Taints: cfg.Taints,
	}
	if cfg.Credentials != nil {
		spec.Token = &ekstoken.Source{Credentials: cfg.Credentials, Cluster: cfg.ClusterName, Region: cfg.Region, Endpoint: cfg.STSEndpoint}
	}
	return spec, nil
}

// certFile is where the node's client certificate and key are kept, as
// kubelet keeps kubelet-client-current.pem.
func (a *Agent) certFile() string { return filepath.Join(a.cfg.StateDir, "kubelet-client-current.pem") }

// loadCert returns a kept certificate and key that are still valid for
// an hour at least.
func (a *Agent) loadCert() (cert, key []byte) {
	if a.cfg.StateDir == "" {
		return nil, nil
	}
	raw, err := os.ReadFile(a.certFile())
	if err != nil {
		return nil, nil
	}
	for rest := raw; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		switch b.Type {
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil || time.Until(c.NotAfter) < time.Hour {
				return nil, nil
			}
			cert = pem.EncodeToMemory(b)
		case "EC PRIVATE KEY":
			key = pem.EncodeToMemory(b)
		}
	}
	if cert == nil || key == nil {
		return nil, nil
	}
	return cert, key
}

// saveCert keeps a new certificate and key, atomically.
func (a *Agent) saveCert(cert, key []byte) {
	if err := os.MkdirAll(a.cfg.StateDir, 0o700); err != nil {
		a.log.Warn("keeping the node certificate", "err", err)
		return
	}
	tmp := a.certFile() + ".tmp"
	if err := os.WriteFile(tmp, append(append([]byte{}, cert...), key...), 0o600); err != nil {
		a.log.Warn("keeping the node certificate", "err", err)
		return
	}
	if err := os.Rename(tmp, a.certFile()); err != nil {
		a.log.Warn("keeping the node certificate", "err", err)
	}
}

// serverVersion is the API server's version, which the node reports as
// its kubelet's (a node's kubelet matches its control plane's minor);
// "" when the server does not answer, and the compiled-in one is used.
func (a *Agent) serverVersion() string {
	dc, err := discovery.NewDiscoveryClientForConfig(&rest.Config{
		Host: a.cfg.Server, TLSClientConfig: rest.TLSClientConfig{CAData: a.cfg.CAData}, Timeout: 10 * time.Second,
	})
	if err != nil {
		return ""
	}
	v, err := dc.ServerVersion()
	if err != nil {
		return ""
	}
	return v.GitVersion
}

// Run joins the node, retrying as kubelet does until it is admitted, and
// runs it until ctx is done.
func (a *Agent) Run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- a.sim.Start(ctx) }()
	spec := a.spec
	spec.KubeletVersion = a.serverVersion()
	if a.cfg.BootstrapToken != "" {
		spec.ClientCert, spec.ClientKey = a.loadCert()
		spec.OnCertificate = a.saveCert
	}
	backoff := wait.Backoff{Duration: time.Second, Factor: 2, Jitter: 0.1, Steps: math.MaxInt32, Cap: 30 * time.Second}
	for {
		jctx, cancel := context.WithTimeout(ctx, time.Minute)
		err := a.sim.AddNode(jctx, spec)
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return <-errc
		}
		if len(spec.ClientCert) > 0 {
			// A kept certificate the cluster no longer takes: bootstrap anew.
			spec.ClientCert, spec.ClientKey = nil, nil
		}
		a.log.Error("node cannot join its cluster", "node", spec.Name, "server", a.cfg.Server, "err", err)
		select {
		case <-ctx.Done():
			return <-errc
		case <-time.After(backoff.Step()):
		}
	}
	a.log.Info("node joined", "node", spec.Name, "server", a.cfg.Server, "pod-cidr", a.cfg.PodCIDR)
	return <-errc
}
