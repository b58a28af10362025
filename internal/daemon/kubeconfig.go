package daemon

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

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
