package components

import (
	"context"

	"k8s.io/client-go/tools/cache"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	scheduleroptions "k8s.io/kubernetes/cmd/kube-scheduler/app/options"
)

// schedulerArgs are kube-scheduler's flags for cfg: like
// kube-controller-manager, one instance and no serving port.
func schedulerArgs(cfg Config, kubeconfig string) []string {
	args := []string{
		"--kubeconfig=" + kubeconfig,
		"--secure-port=0",
		"--bind-address=127.0.0.1",
		"--leader-elect=false",
		"--profiling=false",
		// One bind per pod: the default 50 QPS would take minutes to
		// place a 10,000-replica Deployment.
		"--kube-api-qps=1000",
		"--kube-api-burst=2000",
	}
	return append(args, emulationArgs(cfg)...)
}

// runScheduler runs kube-scheduler until ctx is done. It does what the cobra
// command does, minus the signal handler, flag printing and logging setup.
func runScheduler(ctx context.Context, args []string) error {
	opts, err := schedulerOptions(args)
	if err != nil {
		return err
	}
	if err := opts.ComponentGlobalsRegistry.Set(); err != nil {
		return err
	}
	name, err := cache.NewInformerName("kube-scheduler")
	if err != nil {
		return err
	}
	opts.InformerName = name
	cc, sched, err := scheduler.Setup(ctx, opts)
	if err != nil {
		return err
	}
	err = scheduler.Run(ctx, cc, sched)
	if ctx.Err() != nil {
		// Without leader election, Run always ends in an error, also when
		// asked to stop.
		return nil
	}
	return err
}

// schedulerOptions are kube-scheduler's options with args parsed into them.
func schedulerOptions(args []string) (*scheduleroptions.Options, error) {
	opts := scheduleroptions.NewOptions()
	if err := parseFlags("kube-scheduler", opts.Flags.FlagSets, args); err != nil {
		return nil, err
	}
	return opts, nil
}
