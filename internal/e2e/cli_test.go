package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCommandLine checks the commands users script against, and that bad
// flags fail with a message and a non-zero exit, never a panic.
func TestCommandLine(t *testing.T) {
	skipShort(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		ok   bool
		want string
	}{
		{[]string{"version"}, true, "Kubernetes 1.37"},
		{[]string{"serve", "--data-dir", dir, "--region", "mars"}, false, "--region"},
		{[]string{"serve", "--data-dir", dir, "--account-id", "12"}, false, "--account-id"},
		{[]string{"serve", "--data-dir", dir, "--listen", "nowhere"}, false, "--listen"},
		{[]string{"serve", "--data-dir", dir, "--no-such-flag"}, false, "not defined"},
		{[]string{"serve", "--data-dir", dir, "extra"}, false, "no arguments"},
		{[]string{"kubeconfig", "nope", "--data-dir", dir}, false, `no cluster "nope"`},
		{[]string{"kubeconfig"}, false, "usage"},
		{[]string{"kubeconfig", "../../etc", "--data-dir", dir}, false, "invalid cluster name"},
		{[]string{"controlplane"}, false, "needs --config"},
		{[]string{"controlplane", "--config", filepath.Join(dir, "missing.json")}, false, "no such file"},
		{[]string{"frobnicate"}, false, "unknown command"},
	} {
		out, err := exec.Command(berthBin, tc.args...).CombinedOutput()
		if (err == nil) != tc.ok || !strings.Contains(string(out), tc.want) || strings.Contains(string(out), "panic") {
			t.Errorf("berth %s: err %v, output %q; want ok=%v and %q", strings.Join(tc.args, " "), err, out, tc.ok, tc.want)
		}
	}
	// A second daemon on the same data dir is refused (the store is locked).
	d := startDaemon(t, dir)
	out, err := exec.Command(berthBin, "serve", "--data-dir", d.dataDir, "--listen", "127.0.0.1:0").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "locked") {
		t.Errorf("second daemon: %v %s", err, out)
	}
	st, err := os.Stat(filepath.Join(d.dataDir, "credentials"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("credentials file: %v %v", st, err)
	}
}
