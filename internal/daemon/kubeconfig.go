package daemon

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	clusterctl "github.com/berthproject/berth/internal/controllers/cluster"
	"github.com/berthproject/berth/internal/controlplane"
	"github.com/berthproject/berth/internal/kubeconfig"
	"github.com/berthproject/berth/internal/pki"
)

// AdminKubeconfig returns an admin kubeconfig (client certificate signed by
// the cluster's CA, group system:masters) for a cluster of the daemon whose
// data dir is dataDir. It reads only the cluster's files, so it works while
// the daemon runs.
func AdminKubeconfig(dataDir, name string) ([]byte, error) {
	dir := clusterctl.ClusterDir(dataDir, name)
	if name == "" || filepath.Base(dir) != name {
		return nil, fmt.Errorf("invalid cluster name %q", name)
	}
	spec, err := controlplane.ReadSpec(filepath.Join(dir, controlplane.SpecFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no cluster %q in %s (is it created and not yet deleted? `aws eks describe-cluster --name %s` tells)", name, dataDir, name)
	}
	if err != nil {
		return nil, err
	}
	p := pki.PathsFor(filepath.Join(dir, "pki"))
	ca, err := pki.ReadCACert(p)
	if err != nil {
		return nil, err
	}
	cert, err := os.ReadFile(p.AdminCert)
	if err != nil {
		return nil, err
	}
	key, err := os.ReadFile(p.AdminKey)
	if err != nil {
		return nil, err
	}
	return kubeconfig.Admin(name, "https://127.0.0.1:"+strconv.Itoa(spec.APIServerPort), ca, cert, key)
}

// adminConfigs caches the admin client configuration of each cluster,
// which every simulated node's join asks for: building it from the
// cluster's files (a key pair check and a kubeconfig parse) had been a
// tenth of the daemon's CPU during a 1,000-node join. An entry holds while
// the cluster's spec and admin certificate files are unchanged.
type adminConfigs struct {
	dataDir string
	mu      sync.Mutex
	m       map[string]adminConfig
}

type adminConfig struct {
	stamp string
	rc    *rest.Config
}

// config returns a copy of the cluster's admin configuration.
func (a *adminConfigs) config(name string) (*rest.Config, error) {
	dir := clusterctl.ClusterDir(a.dataDir, name)
	stamp := ""
	for _, f := range []string{filepath.Join(dir, controlplane.SpecFile), pki.PathsFor(filepath.Join(dir, "pki")).AdminCert} {
		fi, err := os.Stat(f)
		if err != nil {
			stamp = ""
			break
		}
		stamp += fmt.Sprintf("%s:%d:%d;", f, fi.Size(), fi.ModTime().UnixNano())
	}
	a.mu.Lock()
	e, ok := a.m[name]
	a.mu.Unlock()
	if ok && stamp != "" && e.stamp == stamp {
		return rest.CopyConfig(e.rc), nil
	}
	kc, err := AdminKubeconfig(a.dataDir, name)
	if err != nil {
		return nil, err
	}
	rc, err := clientcmd.RESTConfigFromKubeConfig(kc)
	if err != nil {
		return nil, err
	}
	rc.QPS, rc.Burst = 200, 400
	if stamp != "" {
		a.mu.Lock()
		a.m[name] = adminConfig{stamp: stamp, rc: rest.CopyConfig(rc)}
		a.mu.Unlock()
	}
	return rc, nil
}
