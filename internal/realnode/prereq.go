package realnode

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Packages are the Debian packages a real node needs.
const Packages = "containerd runc containernetworking-plugins iptables"

// cniDirs are where Debian (and the upstream tarball) put the CNI plugins.
var cniDirs = []string{"/usr/lib/cni", "/opt/cni/bin"}

// cniPlugins are the plugins a real node's network uses.
var cniPlugins = []string{"bridge", "host-local", "loopback", "portmap"}

// Tools are the host programs a real node runs, found by Check.
type Tools struct {
	Containerd, Runc, Ctr, IP, Nsenter, Iptables string
	CNIDir                                       string
}

// ErrMissing means the machine cannot run real nodes; its message names
// what is missing and the packages that bring it.
var ErrMissing = errors.New("realnode: missing prerequisites")

// Check finds the programs real nodes need and checks that berth runs as
// root: without them it says which Debian packages to install, and
// installs nothing itself.
func Check() (Tools, error) {
	var t Tools
	var missing []string
	look := func(name string, dst *string) {
		for _, dir := range []string{"", "/usr/sbin/", "/sbin/", "/usr/local/sbin/"} {
			if p, err := exec.LookPath(dir + name); err == nil {
				*dst = p
				return
			}
		}
		missing = append(missing, name)
	}
	look("containerd", &t.Containerd)
	look("runc", &t.Runc)
	look("ctr", &t.Ctr)
	look("ip", &t.IP)
	look("nsenter", &t.Nsenter)
	look("iptables", &t.Iptables)
	for _, dir := range cniDirs {
		ok := true
		for _, p := range cniPlugins {
			if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
				ok = false
			}
		}
		if ok {
			t.CNIDir = dir
			break
		}
	}
	if t.CNIDir == "" {
		missing = append(missing, "the CNI plugins "+strings.Join(cniPlugins, ", ")+" (in "+strings.Join(cniDirs, " or ")+")")
	}
	var errs []string
	if len(missing) > 0 {
		errs = append(errs, fmt.Sprintf("missing %s: install them with `apt-get install %s`", strings.Join(missing, ", "), Packages))
	}
	if os.Geteuid() != 0 {
		errs = append(errs, "berth must run as root (real nodes use network namespaces, mounts and cgroups)")
	}
	if len(errs) > 0 {
		return t, fmt.Errorf("%w: real nodes need containerd, runc and the CNI plugins on this machine: %s", ErrMissing, strings.Join(errs, "; "))
	}
	return t, nil
}
