package components

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	"go.etcd.io/etcd/server/v3/embed"

	"github.com/berthproject/berth/internal/pki"
)

const (
	// etcdQuotaBytes is EKS's etcd database quota (8 GiB); etcd's own
	// default is 2 GiB. Beyond the quota alarm it sizes bbolt's mmap
	// (quota + 10%), which is address space only: pages become resident
	// as the database grows (none at idle).
	etcdQuotaBytes = 8 << 30
	// etcdSnapshotCount is how many applied entries etcd keeps in its
	// in-memory raft log before it snapshots and compacts it. etcd's
	// default, 10000 entries plus 5000 kept for catch-up, holds every
	// write (each a whole object: leases renewed every 10 s, events) in
	// the heap; a single-member cluster has no follower to catch up.
	etcdSnapshotCount = 2000
	// etcdSnapshotCatchUpEntries is what a snapshot leaves of the raft
	// log for slow followers, which a single member does not have.
	etcdSnapshotCatchUpEntries = 500
)

// etcdConfig is the embedded etcd of one cluster: a single member with TLS
// on both its client and peer port, both on 127.0.0.1, requiring client
// certificates signed by the cluster's etcd CA.
func etcdConfig(cfg Config, p pki.Paths, logDir string) *embed.Config {
	ec := embed.NewConfig()
	ec.Name = cfg.ClusterName
	ec.Dir = filepath.Join(cfg.Dir, "etcd")

	client := url.URL{Scheme: "https", Host: loopback(cfg.EtcdClientPort)}
	peer := url.URL{Scheme: "https", Host: loopback(cfg.EtcdPeerPort)}
	ec.ListenClientUrls = []url.URL{client}
	ec.AdvertiseClientUrls = []url.URL{client}
	ec.ListenPeerUrls = []url.URL{peer}
	ec.AdvertisePeerUrls = []url.URL{peer}
	ec.InitialCluster = ec.InitialClusterFromName(ec.Name)
	ec.InitialClusterToken = cfg.ClusterName

	tls := transport.TLSInfo{
		CertFile:       p.EtcdServerCert,
		KeyFile:        p.EtcdServerKey,
		TrustedCAFile:  p.EtcdCACert,
		ClientCertAuth: true,
	}
	ec.ClientTLSInfo = tls
	ec.PeerTLSInfo = tls

	ec.QuotaBackendBytes = etcdQuotaBytes
	ec.SnapshotCount = etcdSnapshotCount
	ec.SnapshotCatchUpEntries = etcdSnapshotCatchUpEntries
	// kube-apiserver talks gRPC; the JSON gateway only costs memory.
	ec.EnableGRPCGateway = false

	ec.LogLevel = "warn"
	ec.LogOutputs = []string{filepath.Join(logDir, "etcd.log")}
	ec.EnableLogRotation = true
	ec.LogRotationConfigJSON = fmt.Sprintf(`{"maxsize": %d, "maxbackups": %d}`, logMaxMegabytes, logBackups)
	return ec
}

// runEtcd serves etcd until ctx is done, then closes it. started is closed
// once etcd has joined its cluster of one and serves clients.
func runEtcd(ctx context.Context, ec *embed.Config, started chan<- struct{}) error {
	e, err := embed.StartEtcd(ec)
	if err != nil {
		return err
	}
	defer e.Close()
	select {
	case <-e.Server.ReadyNotify():
		close(started)
	case err := <-e.Err():
		return err
	case <-ctx.Done():
		return nil
	}
	select {
	case err := <-e.Err():
		return err
	case <-ctx.Done():
		return nil
	}
}

func loopback(port int) string {
	return "127.0.0.1:" + strconv.Itoa(port)
}
