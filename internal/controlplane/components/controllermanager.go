package components

import (
	"context"

	"k8s.io/client-go/rest"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	controllermanageroptions "k8s.io/kubernetes/cmd/kube-controller-manager/app/options"

	"github.com/berthproject/berth/internal/pki"
)

// controllerManagerArgs are kube-controller-manager's flags for cfg. It has no
// serving port: its health shows in the API it maintains, and a port would be
// one more listener per cluster on the host.
func controllerManagerArgs(cfg Config, p pki.Paths, kubeconfig string) []string {
	args := []string{
		"--kubeconfig=" + kubeconfig,
		"--secure-port=0",
		"--bind-address=127.0.0.1",
		"--cluster-name=" + cfg.ClusterName,
		// One instance per cluster: nothing to elect.
		"--leader-elect=false",
		// Every default controller plus the two that make bootstrap-token
		// node joining work: signing the cluster-info ConfigMap and
		// deleting expired tokens. The CSR approver and the kubelet client
		// signer run beside it, the same controllers with more workers
		// (runCSRControllers).
		"--controllers=*,bootstrapsigner,tokencleaner,-csrapproving",
		"--use-service-account-credentials=true",
		"--service-account-private-key-file=" + p.ServiceAccountKey,
		"--root-ca-file=" + p.CACert,
		// The cluster CA signs kubelet serving certificates and every
		// other approved CertificateSigningRequest of the built-in
		// signers; kubelet client certificates too, by
		// runCSRControllers' signer (kube-controller-manager skips the
		// signer whose files it is not given).
		"--cluster-signing-kubelet-serving-cert-file=" + p.CACert,
		"--cluster-signing-kubelet-serving-key-file=" + p.CAKey,
		"--cluster-signing-kube-apiserver-client-cert-file=" + p.CACert,
		"--cluster-signing-kube-apiserver-client-key-file=" + p.CAKey,
		"--cluster-signing-legacy-unknown-cert-file=" + p.CACert,
		"--cluster-signing-legacy-unknown-key-file=" + p.CAKey,
		"--service-cluster-ip-range=" + cfg.ServiceCIDR,
		// Pod IPs come from the VPC CNI in EKS, not from node podCIDRs.
		"--allocate-node-cidrs=false",
		"--profiling=false",
		// Client-side limits sized for thousands of nodes and tens of
		// thousands of pods per cluster (the defaults, 20 and 30, pace
		// a 1,000-node join at two writes per CSR and a 10,000-replica
		// Deployment at one pod create each over minutes).
		"--kube-api-qps=500",
		"--kube-api-burst=1000",
		// Within the time Run gives each component to stop.
		"--controller-shutdown-timeout=" + (componentStopTimeout / 2).String(),
	}
	return append(args, emulationArgs(cfg)...)
}

// runControllerManager runs kube-controller-manager until ctx is done and
// its controllers have stopped. It does what the cobra command does, minus
// flag printing and logging setup.
func runControllerManager(ctx context.Context, args []string) error {
	s, err := controllerManagerOptions(args)
	if err != nil {
		return err
	}
	if err := s.ComponentGlobalsRegistry.Set(); err != nil {
		return err
	}
	rest.SetDefaultWarningHandler(rest.NoWarnings{})
	c, err := s.Config(ctx, controllermanager.KnownControllers(), controllermanager.ControllersDisabledByDefault(), controllermanager.ControllerAliases())
	if err != nil {
		return err
	}
	return controllermanager.Run(ctx, c.Complete())
}

// controllerManagerOptions are kube-controller-manager's options with args
// parsed into them.
func controllerManagerOptions(args []string) (*controllermanageroptions.KubeControllerManagerOptions, error) {
	s, err := controllermanageroptions.NewKubeControllerManagerOptions()
	if err != nil {
		return nil, err
	}
	fss := s.Flags(controllermanager.KnownControllers(), controllermanager.ControllersDisabledByDefault(), controllermanager.ControllerAliases())
	s.ParsedFlags = &fss
	if err := parseFlags("kube-controller-manager", fss.FlagSets, args); err != nil {
		return nil, err
	}
	return s, nil
}
