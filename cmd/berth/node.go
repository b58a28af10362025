package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	clientauthv1 "k8s.io/client-go/pkg/apis/clientauthentication/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/berthproject/berth/internal/compute/sim"
	"github.com/berthproject/berth/internal/daemon"
	"github.com/berthproject/berth/internal/ekstoken"
	"github.com/berthproject/berth/internal/kubeconfig"
	"github.com/berthproject/berth/internal/nodeagent"
	"github.com/berthproject/berth/internal/nodeconfig"
)

const nodeUsage = `usage:
  berth node token CLUSTER [--ttl 24h] [--bootstrap-kubeconfig] [--data-dir DIR]
  berth node join --bootstrap-kubeconfig FILE --node-name NAME [options]
  berth node join --node-config FILE --node-name NAME [--sts-endpoint URL] [options]
  berth node get-token --cluster-name NAME [--region REGION] [--sts-endpoint URL]
`

// nodeCmd runs the node subcommands.
func nodeCmd(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("%s", nodeUsage)
	}
	switch args[0] {
	case "token":
		return nodeTokenCmd(ctx, args[1:], out)
	case "join":
		return nodeJoinCmd(ctx, args[1:])
	case "get-token":
		return nodeGetTokenCmd(ctx, args[1:], out)
	}
	return fmt.Errorf("unknown node command %q\n%s", args[0], nodeUsage)
}

// nodeTokenCmd creates a bootstrap token in a cluster (and the RBAC that
// lets its holders request node certificates), as `kubeadm token create`
// does, and prints it, or a bootstrap kubeconfig for kubelet's
// --bootstrap-kubeconfig.
func nodeTokenCmd(ctx context.Context, args []string, out io.Writer) error {
	fs := newFlags("node token")
	dataDir := fs.String("data-dir", defaultDataDir(), "berth's data directory")
	ttl := fs.Duration("ttl", 24*time.Hour, "lifetime of the token (1m to 720h)")
	asKubeconfig := fs.Bool("bootstrap-kubeconfig", false, "print a bootstrap kubeconfig (server, CA, token) instead of the token")
	var name string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if name == "" && fs.NArg() == 1 {
		name = fs.Arg(0)
	} else if fs.NArg() > 0 || name == "" {
		return fmt.Errorf("%s", nodeUsage)
	}
	if *ttl < time.Minute || *ttl > 720*time.Hour {
		return fmt.Errorf("--ttl must be between 1m and 720h")
	}
	kc, err := daemon.AdminKubeconfig(*dataDir, name)
	if err != nil {
		return err
	}
	rc, err := clientcmd.RESTConfigFromKubeConfig(kc)
	if err != nil {
		return err
	}
	admin, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := sim.EnsureBootstrapRBAC(ctx, admin); err != nil {
		return fmt.Errorf("cluster %s: %w", name, err)
	}
	token, err := sim.CreateBootstrapToken(ctx, admin, *ttl)
	if err != nil {
		return fmt.Errorf("cluster %s: %w", name, err)
	}
	if !*asKubeconfig {
		_, err = fmt.Fprintln(out, token)
		return err
	}
	raw, err := kubeconfig.ForBootstrap(name, rc.Host, rc.CAData, token)
	if err != nil {
		return err
	}
	_, err = out.Write(raw)
	return err
}

// nodeJoinCmd runs a node agent until interrupted.
func nodeJoinCmd(ctx context.Context, args []string) error {
	fs := newFlags("node join")
	bootstrap := fs.String("bootstrap-kubeconfig", "", "join with the bootstrap token of this kubeconfig (berth node token --bootstrap-kubeconfig)")
	nodeConfigFile := fs.String("node-config", "", "join with IAM credentials (the standard AWS environment, profile or files) to the cluster of this AL2023 NodeConfig")
	stsEndpoint := fs.String("sts-endpoint", "", "STS endpoint the IAM tokens name (berth's endpoint, when the credentials are berth's; default the region's STS)")
	region := fs.String("region", "", "AWS region (default from the AWS configuration, else us-east-1)")
	nodeName := fs.String("node-name", "", "the Node's name (required)")
	labels := fs.String("labels", "", "node labels, k=v,k2=v2")
	taints := fs.String("taints", "", "node taints, key=value:Effect,...")
	instanceType := fs.String("instance-type", "", "size the node as this EC2 instance type")
	cpu := fs.String("cpu", "", "CPU capacity (overrides the instance type)")
	memory := fs.String("memory", "", "memory capacity, e.g. 8Gi (overrides the instance type)")
	maxPods := fs.Int("max-pods", 0, "max pods (overrides the instance type)")
	podCIDR := fs.String("pod-cidr", "", "pod addresses (default a /24 of 100.64.0.0/10 picked by the node name)")
	nodeIP := fs.String("node-ip", "", "the node's address, in the pod CIDR (default its fifth address)")
	stateDir := fs.String("state-dir", "", "where the node keeps its certificate (default ~/.berth-node/NAME)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q\n%s", fs.Args(), nodeUsage)
	}
	if (*bootstrap == "") == (*nodeConfigFile == "") {
		return fmt.Errorf("give one of --bootstrap-kubeconfig and --node-config\n%s", nodeUsage)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	cfg := nodeagent.Config{NodeName: *nodeName, InstanceType: *instanceType, MaxPods: *maxPods,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))}
	if *maxPods < 0 {
		return fmt.Errorf("--max-pods must be positive")
	}
	var err error
	if cfg.Labels, err = nodeconfig.ParseLabels(*labels); err != nil {
		return fmt.Errorf("--labels: %w", err)
	}
	ts, err := nodeconfig.ParseTaints(*taints)
	if err != nil {
		return fmt.Errorf("--taints: %w", err)
	}
	for _, t := range ts {
		cfg.Taints = append(cfg.Taints, corev1.Taint{Key: t.Key, Value: t.Value, Effect: corev1.TaintEffect(t.Effect)})
	}
	for flagName, dst := range map[string]struct {
		s string
		q *resource.Quantity
	}{"--cpu": {*cpu, &cfg.CPU}, "--memory": {*memory, &cfg.Memory}} {
		if dst.s == "" {
			continue
		}
		q, err := resource.ParseQuantity(dst.s)
		if err != nil || q.Sign() <= 0 {
			return fmt.Errorf("%s %q is not a positive quantity", flagName, dst.s)
		}
		*dst.q = q
	}
	if *podCIDR != "" {
		if cfg.PodCIDR, err = netip.ParsePrefix(*podCIDR); err != nil {
			return fmt.Errorf("--pod-cidr: %w", err)
		}
		cfg.PodCIDR = cfg.PodCIDR.Masked()
	}
	if *nodeIP != "" {
		if cfg.NodeIP, err = netip.ParseAddr(*nodeIP); err != nil {
			return fmt.Errorf("--node-ip: %w", err)
		}
	}
	if *bootstrap != "" {
		kc, err := clientcmd.LoadFromFile(*bootstrap)
		if err != nil {
			return fmt.Errorf("--bootstrap-kubeconfig: %w", err)
		}
		rc, err := clientcmd.NewDefaultClientConfig(*kc, nil).ClientConfig()
		if err != nil {
			return fmt.Errorf("--bootstrap-kubeconfig: %w", err)
		}
		if rc.BearerToken == "" || len(rc.CAData) == 0 {
			return fmt.Errorf("--bootstrap-kubeconfig: %s has no token or no embedded CA", *bootstrap)
		}
		cfg.Server, cfg.CAData, cfg.BootstrapToken = rc.Host, rc.CAData, rc.BearerToken
	} else {
		raw, err := os.ReadFile(*nodeConfigFile)
		if err != nil {
			return fmt.Errorf("--node-config: %w", err)
		}
		nc, err := nodeconfig.Parse(raw)
		if err != nil {
			return fmt.Errorf("--node-config: %w", err)
		}
		if nc.APIServerEndpoint == "" || len(nc.CertificateAuthority) == 0 {
			return fmt.Errorf("--node-config: the configuration has no API server endpoint or certificate authority")
		}
		cfg.Server, cfg.CAData, cfg.ClusterName = nc.APIServerEndpoint, nc.CertificateAuthority, nc.ClusterName
		for k, v := range nc.Labels {
			if _, set := cfg.Labels[k]; !set {
				cfg.Labels[k] = v
			}
		}
		for _, t := range nc.Taints {
			cfg.Taints = append(cfg.Taints, corev1.Taint{Key: t.Key, Value: t.Value, Effect: corev1.TaintEffect(t.Effect)})
		}
		if cfg.MaxPods == 0 {
			cfg.MaxPods = nc.MaxPods
		}
		awsCfg, err := loadAWSConfig(ctx, *region)
		if err != nil {
			return fmt.Errorf("AWS credentials: %w", err)
		}
		cfg.Credentials, cfg.Region, cfg.STSEndpoint = awsCfg.Credentials, awsCfg.Region, *stsEndpoint
		if cfg.STSEndpoint == "" && awsCfg.BaseEndpoint != nil {
			cfg.STSEndpoint = *awsCfg.BaseEndpoint
		}
	}
	if *stateDir == "" && cfg.NodeName != "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return fmt.Errorf("--state-dir: %w", err)
		}
		*stateDir = filepath.Join(home, ".berth-node", cfg.NodeName)
	}
	cfg.StateDir = *stateDir
	agent, err := nodeagent.New(cfg)
	if err != nil {
		return err
	}
	return agent.Run(ctx)
}

// nodeGetTokenCmd prints an ExecCredential with an EKS token signed with
// the AWS credentials of the environment, as `aws eks get-token` does: the
// exec credential plugin of a real self-managed node's kubelet, which
// authenticates with its instance role.
func nodeGetTokenCmd(ctx context.Context, args []string, out io.Writer) error {
	fs := newFlags("node get-token")
	cluster := fs.String("cluster-name", "", "the cluster the token is for (required)")
	region := fs.String("region", "", "AWS region (default from the AWS configuration, else us-east-1)")
	stsEndpoint := fs.String("sts-endpoint", "", "STS endpoint the token names (default the region's STS)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 || *cluster == "" {
		return fmt.Errorf("give --cluster-name and nothing else\n%s", nodeUsage)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	awsCfg, err := loadAWSConfig(ctx, *region)
	if err != nil {
		return fmt.Errorf("AWS configuration: %w", err)
	}
	if awsCfg.Credentials == nil {
		return errors.New("no AWS credentials")
	}
	src := &ekstoken.Source{Credentials: awsCfg.Credentials, Cluster: *cluster, Region: awsCfg.Region, Endpoint: *stsEndpoint}
	tok, err := src.Token()
	if err != nil {
		return fmt.Errorf("AWS credentials: %w", err)
	}
	expiry := metav1.NewTime(tok.Expiry)
	return json.NewEncoder(out).Encode(&clientauthv1.ExecCredential{
		TypeMeta: metav1.TypeMeta{APIVersion: clientauthv1.SchemeGroupVersion.String(), Kind: "ExecCredential"},
		Status:   &clientauthv1.ExecCredentialStatus{Token: tok.AccessToken, ExpirationTimestamp: &expiry},
	})
}

// loadAWSConfig loads the AWS configuration of the environment, profile
// and files, in region if given, else the configured one, else us-east-1.
func loadAWSConfig(ctx context.Context, region string) (aws.Config, error) {
	var opts []func(*config.LoadOptions) error
	if region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err == nil && cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	return cfg, err
}
