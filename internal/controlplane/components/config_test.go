package components

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/klog/v2"
	scheduleroptions "k8s.io/kubernetes/cmd/kube-scheduler/app/options"
	schedulerconfig "k8s.io/kubernetes/pkg/scheduler/apis/config"
	"k8s.io/kubernetes/pkg/scheduler/apis/config/latest"
	schedulervalidation "k8s.io/kubernetes/pkg/scheduler/apis/config/validation"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/names"

	"github.com/berthproject/berth/internal/controlplane/spread"
	"github.com/berthproject/berth/internal/pki"
)

func validConfig() Config {
	return Config{
		ClusterName:          "demo",
		Dir:                  "/var/lib/berth/clusters/demo",
		KubernetesVersion:    SupportedVersions()[0],
		APIServerPort:        6443,
		EtcdClientPort:       2379,
		EtcdPeerPort:         2380,
		ServiceCIDR:          "10.100.0.0/16",
		ServiceAccountIssuer: "https://oidc.eks.us-east-1.amazonaws.com/id/ABCDEF0123456789",
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr string // substring; empty means valid
	}{
		{"valid", func(*Config) {}, ""},
		{"oldest emulated version", func(c *Config) { c.KubernetesVersion = SupportedVersions()[len(SupportedVersions())-1] }, ""},
		{"IPv6 service CIDR", func(c *Config) { c.ServiceCIDR = "fd00:10:100::/108" }, ""},
		{"no name", func(c *Config) { c.ClusterName = "" }, "cluster name"},
		{"no dir", func(c *Config) { c.Dir = "" }, "data dir is empty"},
		{"version too old", func(c *Config) { c.KubernetesVersion = olderThanSupported() }, "kubernetes version"},
		{"version with patch", func(c *Config) { c.KubernetesVersion += ".2" }, "kubernetes version"},
		{"port zero", func(c *Config) { c.EtcdPeerPort = 0 }, "etcd peer port 0"},
		{"port too big", func(c *Config) { c.APIServerPort = 70000 }, "out of range"},
		{"ports collide", func(c *Config) { c.EtcdClientPort = c.APIServerPort }, "not distinct"},
		{"bad CIDR", func(c *Config) { c.ServiceCIDR = "10.100.0.0" }, "service CIDR"},
		{"host bits", func(c *Config) { c.ServiceCIDR = "10.100.0.1/16" }, "host bits"},
		{"tiny CIDR", func(c *Config) { c.ServiceCIDR = "10.100.0.0/32" }, "too small"},
		{"http issuer", func(c *Config) { c.ServiceAccountIssuer = "http://example.com" }, "https URL"},
		{"no issuer", func(c *Config) { c.ServiceAccountIssuer = "" }, "https URL"},
		{"node proxy", func(c *Config) { c.NodeProxySocket = "/var/lib/berth/run/0123456789abcdef.sock" }, ""},
		{"relative node proxy", func(c *Config) { c.NodeProxySocket = "run/p.sock" }, "node proxy socket"},
		{"long node proxy", func(c *Config) { c.NodeProxySocket = "/" + strings.Repeat("d", 120) + ".sock" }, "at most 107 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.mutate(&c)
			err := c.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("Validate() = nil, want an error containing %q", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("Validate() = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func olderThanSupported() string {
	b := binaryVersion()
	return fmt.Sprintf("%d.%d", b.Major(), b.Minor()-emulationDepth-1)
}

func TestSupportedVersions(t *testing.T) {
	got := SupportedVersions()
	b := binaryVersion()
	if len(got) != emulationDepth+1 {
		t.Fatalf("SupportedVersions() = %v, want %d versions", got, emulationDepth+1)
	}
	for i, v := range got {
		if want := fmt.Sprintf("%d.%d", b.Major(), b.Minor()-uint(i)); v != want {
			t.Errorf("SupportedVersions()[%d] = %s, want %s", i, v, want)
		}
	}
}

func TestFirstServiceIP(t *testing.T) {
	for cidr, want := range map[string]string{
		"10.100.0.0/16":     "10.100.0.1",
		"172.20.0.0/16":     "172.20.0.1",
		"fd00:10:100::/108": "fd00:10:100::1",
	} {
		got, err := firstServiceIP(cidr)
		if err != nil || got.String() != want {
			t.Errorf("firstServiceIP(%s) = %v, %v; want %s", cidr, got, err, want)
		}
	}
}

func TestWatchParent(t *testing.T) {
	t.Run("parent changes", func(t *testing.T) {
		var ppid atomic.Int64
		ppid.Store(100)
		orphaned := make(chan struct{})
		go watchParent(t.Context(), func() int { return int(ppid.Load()) }, time.Millisecond, func() { close(orphaned) })
		select {
		case <-orphaned:
			t.Fatal("orphaned while the parent is alive")
		case <-time.After(20 * time.Millisecond):
		}
		ppid.Store(1)
		select {
		case <-orphaned:
		case <-time.After(10 * time.Second):
			t.Fatal("not orphaned after the parent changed")
		}
	})
	t.Run("context done", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		returned := make(chan struct{})
		go func() {
			defer close(returned)
			watchParent(ctx, func() int { return 100 }, time.Millisecond, func() { t.Error("orphaned") })
		}()
		cancel()
		select {
		case <-returned:
		case <-time.After(10 * time.Second):
			t.Fatal("WatchParent did not return after its context was done")
		}
	})
}

// TestComponentFlags parses each component's flags with the component's own
// options, so that a misspelt or removed flag fails here in seconds rather
// than at a control plane's start.
func TestComponentFlags(t *testing.T) {
	cfg := validConfig()
	cfg.KubernetesVersion = SupportedVersions()[1] // emulated: --emulated-version too
	cfg.NodeProxySocket = "/run/p.sock"            // --egress-selector-config-file too
	p := pki.PathsFor("/pki")
	for _, tt := range []struct {
		name  string
		parse func() error
	}{
		{"kube-apiserver", func() error {
			_, err := apiServerOptions(apiServerArgs(cfg, p))
			return err
		}},
		{"kube-controller-manager", func() error {
			_, err := controllerManagerOptions(controllerManagerArgs(cfg, p, "/cm.kubeconfig"))
			return err
		}},
		{"kube-scheduler", func() error {
			_, err := schedulerOptions(schedulerArgs(cfg, "/scheduler-config.yaml"))
			return err
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.parse(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestSchedulerConfig loads the configuration file as kube-scheduler does
// and finds its defaults in it, PodTopologySpread's place taken by berth's
// plugin with the same weight, and the client settings.
func TestSchedulerConfig(t *testing.T) {
	b, err := schedulerConfig("/sched.kubeconfig")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), schedulerConfigFile)
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := scheduleroptions.LoadConfigFromFile(klog.Background(), file)
	if err != nil {
		t.Fatal(err)
	}
	if err := schedulervalidation.ValidateKubeSchedulerConfiguration(got); err != nil {
		t.Fatal(err)
	}
	def, err := latest.Default()
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(def.Profiles[0].Plugins.MultiPoint.Enabled)
	i := slices.IndexFunc(want, func(p schedulerconfig.Plugin) bool { return p.Name == names.PodTopologySpread })
	if i < 0 || want[i].Weight == 0 {
		t.Fatalf("defaults: %+v", want)
	}
	want[i].Name = spread.Name
	if len(got.Profiles) != 1 {
		t.Fatalf("%d profiles", len(got.Profiles))
	}
	p := got.Profiles[0]
	if !slices.Equal(p.Plugins.MultiPoint.Enabled, want) {
		t.Errorf("multiPoint plugins\n got %+v\nwant %+v", p.Plugins.MultiPoint.Enabled, want)
	}
	if p.SchedulerName != "default-scheduler" {
		t.Errorf("scheduler name %q", p.SchedulerName)
	}
	c := got.ClientConnection
	if c.Kubeconfig != "/sched.kubeconfig" || c.QPS != 1000 || c.Burst != 2000 || got.EnableProfiling {
		t.Errorf("client %+v, profiling %v", c, got.EnableProfiling)
	}
}
