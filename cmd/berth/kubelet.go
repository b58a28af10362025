package main

import (
	"context"
	"fmt"
	"os"

	"github.com/berthproject/berth/internal/realnode"
)

// kubeletCmd runs the upstream kubelet for a real node: berth serve
// starts it, one process per node, killed if berth dies.
func kubeletCmd(ctx context.Context, args []string) error {
	if os.Getppid() == 1 {
		return fmt.Errorf("kubelet is started by berth serve for a real node, not by hand")
	}
	os.Exit(realnode.RunKubelet(ctx, args))
	return nil
}

// kubeProxyCmd runs the upstream kube-proxy of a real node.
func kubeProxyCmd(args []string) error {
	if os.Getppid() == 1 {
		return fmt.Errorf("kube-proxy is started by berth serve for a real node, not by hand")
	}
	os.Exit(realnode.RunKubeProxy(args))
	return nil
}
