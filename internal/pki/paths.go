package pki

import "path/filepath"

// Paths names every file of one cluster's PKI below its directory. The
// daemon writes them (Generate); the control-plane process and the
// kubeconfig writer read them.
type Paths struct {
	Dir string

	CACert, CAKey                               string // cluster CA: serving, clients, CSR signing
	APIServerCert, APIServerKey                 string // kube-apiserver serving certificate
	APIServerKubeletCert, APIServerKubeletKey   string // kube-apiserver -> kubelet client
	AdminCert, AdminKey                         string // CN=kubernetes-admin, O=system:masters
	ControllerManagerCert, ControllerManagerKey string // CN=system:kube-controller-manager
	SchedulerCert, SchedulerKey                 string // CN=system:kube-scheduler
	ServiceAccountKey, ServiceAccountPub        string // service-account token signing pair
	FrontProxyCACert, FrontProxyCAKey           string // request-header (aggregation) CA
	FrontProxyClientCert, FrontProxyClientKey   string
	EtcdCACert, EtcdCAKey                       string // etcd's own CA
	EtcdServerCert, EtcdServerKey               string // etcd serving and peer certificate (127.0.0.1, localhost)
	EtcdClientCert, EtcdClientKey               string // kube-apiserver -> etcd client
}

// PathsFor returns the PKI file names below dir.
func PathsFor(dir string) Paths {
	j := func(name string) string { return filepath.Join(dir, name) }
	return Paths{
		Dir:                   dir,
		CACert:                j("ca.crt"),
		CAKey:                 j("ca.key"),
		APIServerCert:         j("apiserver.crt"),
		APIServerKey:          j("apiserver.key"),
		APIServerKubeletCert:  j("apiserver-kubelet-client.crt"),
		APIServerKubeletKey:   j("apiserver-kubelet-client.key"),
		AdminCert:             j("admin.crt"),
		AdminKey:              j("admin.key"),
		ControllerManagerCert: j("controller-manager.crt"),
		ControllerManagerKey:  j("controller-manager.key"),
		SchedulerCert:         j("scheduler.crt"),
		SchedulerKey:          j("scheduler.key"),
		ServiceAccountKey:     j("sa.key"),
		ServiceAccountPub:     j("sa.pub"),
		FrontProxyCACert:      j("front-proxy-ca.crt"),
		FrontProxyCAKey:       j("front-proxy-ca.key"),
		FrontProxyClientCert:  j("front-proxy-client.crt"),
		FrontProxyClientKey:   j("front-proxy-client.key"),
		EtcdCACert:            j("etcd-ca.crt"),
		EtcdCAKey:             j("etcd-ca.key"),
		EtcdServerCert:        j("etcd-server.crt"),
		EtcdServerKey:         j("etcd-server.key"),
		EtcdClientCert:        j("apiserver-etcd-client.crt"),
		EtcdClientKey:         j("apiserver-etcd-client.key"),
	}
}
