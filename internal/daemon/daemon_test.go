package daemon

import (
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	good := func() Config {
		return Config{DataDir: "/tmp/x", Listen: "127.0.0.1:4800", Region: "us-east-1", Account: "000000000000", Executable: "/bin/berth", Versions: []string{"1.37"}}
	}
	if err := (func() *Config { c := good(); return &c })().Validate(); err != nil {
		t.Fatalf("good config: %v", err)
	}
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"no data dir", func(c *Config) { c.DataDir = "" }, "--data-dir"},
		{"listen without port", func(c *Config) { c.Listen = "127.0.0.1" }, "HOST:PORT"},
		{"listen on a name", func(c *Config) { c.Listen = "example.com:80" }, "IP address"},
		{"region", func(c *Config) { c.Region = "mars" }, "--region"},
		{"region digits", func(c *Config) { c.Region = "us-east-x" }, "--region"},
		{"account short", func(c *Config) { c.Account = "123" }, "12 digits"},
		{"account letters", func(c *Config) { c.Account = "00000000000a" }, "12 digits"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := good()
			tc.mutate(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
	for _, r := range []string{"eu-west-2", "ap-southeast-1", "us-gov-west-1"} {
		c := good()
		c.Region = r
		if err := c.Validate(); err != nil {
			t.Errorf("region %s: %v", r, err)
		}
	}
}
