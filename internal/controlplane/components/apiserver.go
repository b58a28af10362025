package components

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apiserver/pkg/server/flagz"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	basecompatibility "k8s.io/component-base/compatibility"
	"k8s.io/component-base/featuregate"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	apiserveroptions "k8s.io/kubernetes/cmd/kube-apiserver/app/options"

	"github.com/berthproject/berth/internal/pki"
)

// defaultAPIAudience is the audience of EKS's service-account tokens; as the
// first of --api-audiences it is the one a token gets when its requester
// names none.
const defaultAPIAudience = "https://kubernetes.default.svc"

// apiServerArgs are kube-apiserver's flags for cfg, as kubeadm and EKS set
// them where they have an opinion.
func apiServerArgs(cfg Config, p pki.Paths) []string {
	args := []string{
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		// The endpoint reconcilers refuse a loopback address, which pods
		// could not reach anyway: default/kubernetes gets its endpoints
		// from whoever knows the address that pods can reach.
		"--endpoint-reconciler-type=none",
		"--secure-port=" + strconv.Itoa(cfg.APIServerPort),
		"--tls-cert-file=" + p.APIServerCert,
		"--tls-private-key-file=" + p.APIServerKey,
		"--client-ca-file=" + p.CACert,

		"--etcd-servers=https://" + loopback(cfg.EtcdClientPort),
		"--etcd-cafile=" + p.EtcdCACert,
		"--etcd-certfile=" + p.EtcdClientCert,
		"--etcd-keyfile=" + p.EtcdClientKey,

		"--authorization-mode=" + authorizationModes(cfg),
		// On top of the default plugins, the two that EKS enables.
		"--enable-admission-plugins=NodeRestriction,ExtendedResourceToleration",
		"--enable-bootstrap-token-auth=true",
		"--allow-privileged=true",

		"--service-cluster-ip-range=" + cfg.ServiceCIDR,
		"--service-account-issuer=" + cfg.ServiceAccountIssuer,
		"--service-account-key-file=" + p.ServiceAccountPub,
		"--service-account-signing-key-file=" + p.ServiceAccountKey,
		"--api-audiences=" + defaultAPIAudience + "," + cfg.ServiceAccountIssuer,

		"--kubelet-client-certificate=" + p.APIServerKubeletCert,
		"--kubelet-client-key=" + p.APIServerKubeletKey,
		"--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname",

		// The aggregation layer's front proxy, as kubeadm configures it.
		"--requestheader-client-ca-file=" + p.FrontProxyCACert,
		"--requestheader-allowed-names=front-proxy-client",
		"--requestheader-username-headers=X-Remote-User",
		"--requestheader-group-headers=X-Remote-Group",
		"--requestheader-extra-headers-prefix=X-Remote-Extra-",
		"--proxy-client-cert-file=" + p.FrontProxyClientCert,
		"--proxy-client-key-file=" + p.FrontProxyClientKey,

		"--profiling=false",
	}
	if cfg.AuthWebhook.URL != "" {
		args = append(args,
			"--authentication-token-webhook-config-file="+authnWebhookKubeconfig,
			"--authentication-token-webhook-version=v1",
			"--authentication-token-webhook-cache-ttl=2m",
			"--authorization-webhook-config-file="+authzWebhookKubeconfig,
			"--authorization-webhook-version=v1",
			"--authorization-webhook-cache-authorized-ttl=1m",
			"--authorization-webhook-cache-unauthorized-ttl=10s",
		)
	}
	if cfg.NodeProxySocket != "" {
		args = append(args, "--egress-selector-config-file="+egressSelectorConfig)
	}
	return append(args, emulationArgs(cfg)...)
}

// authorizationModes are Node and RBAC, as on EKS, then berth's webhook
// for access policies when there is one: RBAC answers first, and the
// webhook decides what RBAC does not allow.
func authorizationModes(cfg Config) string {
	if cfg.AuthWebhook.URL != "" {
		return "Node,RBAC,Webhook"
	}
	return "Node,RBAC"
}

// emulationArgs select the Kubernetes minor a cluster serves. The flag sets
// kube's process-wide component registry, so kube-apiserver,
// kube-controller-manager and kube-scheduler all emulate the same minor; each
// gets the flag anyway so that its flags say what it runs as.
func emulationArgs(cfg Config) []string {
	if cfg.KubernetesVersion == binaryVersion().String() {
		return nil
	}
	return []string{"--emulated-version=" + cfg.KubernetesVersion}
}

// runAPIServer runs kube-apiserver until ctx is done and its graceful
// shutdown has finished. It does what kube-apiserver's cobra command does,
// minus the signal handler, flag printing and logging setup.
func runAPIServer(ctx context.Context, args []string) error {
	s, err := apiServerOptions(args)
	if err != nil {
		return err
	}
	registry := s.GenericServerRunOptions.ComponentGlobalsRegistry
	if err := registry.Set(); err != nil {
		return err
	}
	// Like the command: kube-apiserver's loopback clients do not log the
	// warnings kube-apiserver itself issues. client-go's handler is
	// process-wide; the other components set it the same way.
	rest.SetDefaultWarningHandler(rest.NoWarnings{})

	completed, err := s.Complete(ctx)
	if err != nil {
		return err
	}
	if errs := completed.Validate(); len(errs) != 0 {
		return utilerrors.NewAggregate(errs)
	}
	// Feature and version metrics are process-wide too: registered here
	// once, for all three components, as in the kube-apiserver command.
	registry.FeatureGateFor(basecompatibility.DefaultKubeComponent).(featuregate.MutableFeatureGate).AddMetrics()
	registry.AddMetrics()
	return runServerChain(ctx, completed)
}

// runServerChain is what apiserver.Run does, with the bootstrap hooks
// replaced (see bootstrap.go).
func runServerChain(ctx context.Context, opts apiserveroptions.CompletedOptions) error {
	if opts.InformerName == nil {
		name, err := cache.NewInformerName("kube-apiserver")
		if err != nil {
			return err
		}
		opts.InformerName = name
	}
	config, err := apiserver.NewConfig(opts)
	if err != nil {
		return err
	}
	config.KubeAPIs.ControlPlane.Generic.DisabledPostStartHooks.Insert(replacedHooks...)
	completed, err := config.Complete()
	if err != nil {
		return err
	}
	server, err := apiserver.CreateServerChain(completed)
	if err != nil {
		return err
	}
	if err := server.GenericAPIServer.AddPostStartHook(bootstrapRBACHook, bootstrapRBAC); err != nil {
		return err
	}
	if err := server.GenericAPIServer.AddPostStartHook(bootstrapPriorityHook, bootstrapPriorityClasses); err != nil {
		return err
	}
	prepared, err := server.PrepareRun()
	if err != nil {
		return err
	}
	return prepared.Run(ctx)
}

// apiServerOptions are kube-apiserver's options with args parsed into them.
func apiServerOptions(args []string) (*apiserveroptions.ServerRunOptions, error) {
	s := apiserveroptions.NewServerRunOptions()
	fss := s.Flags()
	s.Flagz = flagz.NamedFlagSetsReader{FlagSets: fss}
	if err := parseFlags("kube-apiserver", fss.FlagSets, args); err != nil {
		return nil, err
	}
	return s, nil
}

// parseFlags parses args into the named flag sets of one component.
func parseFlags(component string, sets map[string]*pflag.FlagSet, args []string) error {
	fs := pflag.NewFlagSet(component, pflag.ContinueOnError)
	for _, set := range sets {
		fs.AddFlagSet(set)
	}
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%s flags: %w", component, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s flags: unexpected arguments %s", component, strings.Join(fs.Args(), " "))
	}
	return nil
}
