package components

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"

	"k8s.io/client-go/tools/cache"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	scheduleroptions "k8s.io/kubernetes/cmd/kube-scheduler/app/options"
	"k8s.io/kubernetes/pkg/scheduler/apis/config/latest"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/names"

	"github.com/berthproject/berth/internal/controlplane/spread"
)

// schedulerConfigFile is kube-scheduler's configuration, written at each
// start (see schedulerConfig).
const schedulerConfigFile = "scheduler-config.yaml"

// schedulerArgs are kube-scheduler's flags for cfg: like
// kube-controller-manager, one instance and no serving port. The rest of
// its settings are in the configuration file at config.
func schedulerArgs(cfg Config, config string) []string {
	args := []string{
		"--config=" + config,
		"--secure-port=0",
		"--bind-address=127.0.0.1",
		"--leader-elect=false",
	}
	return append(args, emulationArgs(cfg)...)
}

// schedulerConfig is kube-scheduler's configuration file: its credentials,
// no profiling, and client limits fit for one bind per pod (the default
// 50 QPS would take minutes to place a 10,000-replica Deployment); and the
// default profile, every default plugin in its place with its weight,
// except that PodTopologySpread is spread.Plugin, which gives the same
// scores at a cost that does not grow with the pods already placed.
//
// The plugin list comes from kube-scheduler's own defaults, taken after
// the emulated version's feature gates are set, so it follows them.
func schedulerConfig(kubeconfig string) ([]byte, error) {
	def, err := latest.Default()
	if err != nil {
		return nil, err
	}
	if len(def.Profiles) != 1 || def.Profiles[0].Plugins == nil {
		return nil, fmt.Errorf("kube-scheduler's defaults have %d profiles, want 1", len(def.Profiles))
	}
	type plugin struct {
		Name   string `json:"name"`
		Weight int32  `json:"weight,omitempty"`
	}
	var enabled []plugin
	replaced := false
	for _, p := range def.Profiles[0].Plugins.MultiPoint.Enabled {
		if p.Name == names.PodTopologySpread {
			p.Name, replaced = spread.Name, true
		}
		enabled = append(enabled, plugin{p.Name, p.Weight})
	}
	if !replaced {
		return nil, fmt.Errorf("kube-scheduler's default profile has no %s plugin", names.PodTopologySpread)
	}
	// JSON is YAML, which the configuration file is.
	return json.MarshalIndent(map[string]any{
		"apiVersion":      "kubescheduler.config.k8s.io/v1",
		"kind":            "KubeSchedulerConfiguration",
		"enableProfiling": false,
		"clientConnection": map[string]any{
			"kubeconfig": kubeconfig,
			"qps":        1000,
			"burst":      2000,
		},
		"profiles": []any{map[string]any{
			"schedulerName": def.Profiles[0].SchedulerName,
			"plugins": map[string]any{
				"multiPoint": map[string]any{
					"enabled":  enabled,
					"disabled": []plugin{{Name: "*"}},
				},
			},
		}},
	}, "", "  ")
}

// runScheduler runs kube-scheduler for cfg until ctx is done. It does what
// the cobra command does, minus the signal handler, flag printing and
// logging setup, plus writing its configuration file and registering
// berth's plugin.
func runScheduler(ctx context.Context, cfg Config) error {
	config := filepath.Join(cfg.Dir, schedulerConfigFile)
	opts, err := schedulerOptions(schedulerArgs(cfg, config))
	if err != nil {
		return err
	}
	if err := opts.ComponentGlobalsRegistry.Set(); err != nil {
		return err
	}
	b, err := schedulerConfig(filepath.Join(cfg.Dir, schedulerKubeconfig))
	if err != nil {
		return fmt.Errorf("kube-scheduler configuration: %w", err)
	}
	if err := writeFile(config, b); err != nil {
		return err
	}
	name, err := cache.NewInformerName("kube-scheduler")
	if err != nil {
		return err
	}
	opts.InformerName = name
	cc, sched, err := scheduler.Setup(ctx, opts, scheduler.WithPlugin(spread.Name, spread.New))
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
