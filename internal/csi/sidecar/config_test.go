package sidecar

import (
	"strings"
	"testing"

	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"

	csiebs "github.com/berthproject/berth/internal/csi/ebs"
)

func TestConfigCheck(t *testing.T) {
	valid := func() Config {
		return Config{Kube: fake.NewClientset(), KubeConfig: &rest.Config{}, Driver: csiebs.DriverName,
			Controller: &csiebs.Controller{}, Identity: csiebs.NewIdentity(true, nil), SocketDir: "/run/berth/csi"}
	}
	for _, tc := range []struct {
		name   string
		change func(*Config)
		err    string
		fsType string
	}{
		{name: "block driver defaults to ext4", change: func(c *Config) { c.Attach = true }, fsType: "ext4"},
		{name: "file system driver has no default", change: func(*Config) {}, fsType: ""},
		{name: "explicit fstype kept", change: func(c *Config) { c.Attach, c.DefaultFSType = true, "xfs" }, fsType: "xfs"},
		{name: "no client", change: func(c *Config) { c.Kube = nil }, err: "Kube is required"},
		{name: "no kubeconfig", change: func(c *Config) { c.KubeConfig = nil }, err: "KubeConfig is required"},
		{name: "no driver", change: func(c *Config) { c.Driver = "" }, err: "Driver is required"},
		{name: "no controller", change: func(c *Config) { c.Controller = nil }, err: "Controller and Identity"},
		{name: "no socket dir", change: func(c *Config) { c.SocketDir = "" }, err: "SocketDir is required"},
		{name: "socket path too long", change: func(c *Config) { c.SocketDir = "/" + strings.Repeat("d", 100) }, err: "longer than 107 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := valid()
			tc.change(&cfg)
			err := cfg.check()
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("check() = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.DefaultFSType != tc.fsType {
				t.Errorf("DefaultFSType = %q, want %q", cfg.DefaultFSType, tc.fsType)
			}
			if cfg.Logger == nil {
				t.Error("no default logger")
			}
		})
	}
}
