package realnode

import (
	"context"

	"k8s.io/component-base/cli"
	proxyapp "k8s.io/kubernetes/cmd/kube-proxy/app"
	kubeletapp "k8s.io/kubernetes/cmd/kubelet/app"
)

// RunKubelet runs the upstream kubelet compiled into berth with flags
// and returns its exit code. One kubelet per process: it keeps
// process-wide state, as kube-apiserver does.
func RunKubelet(ctx context.Context, flags []string) int {
	cmd := kubeletapp.NewKubeletCommand(ctx)
	cmd.SetArgs(flags)
	return cli.Run(cmd)
}

// RunKubeProxy runs the upstream kube-proxy compiled into berth with
// flags and returns its exit code: one per real node, in its namespace.
func RunKubeProxy(flags []string) int {
	cmd := proxyapp.NewProxyCommand()
	cmd.SetArgs(flags)
	return cli.Run(cmd)
}
