// Package components runs one cluster's etcd, kube-apiserver,
// kube-controller-manager and kube-scheduler inside this process.
//
// The components are the upstream ones, compiled in from k8s.io/kubernetes
// and go.etcd.io/etcd, and driven through their option and Run functions
// rather than their cobra commands, so that no component installs signal
// handlers, parses the process's arguments or exits the process: Run owns
// the lifetime of all four and its caller owns signals.
//
// Kubernetes keeps process-wide state: one feature gate and emulation
// version for every component, one metrics registry, one klog. That is why a
// process runs exactly one cluster, and why Run may be called only once per
// process. The three Kubernetes components share that state on purpose:
// --emulated-version set for the cluster applies to all of them. Under
// emulation, /version keeps reporting the compiled-in gitVersion, major and
// minor, and the emulated minor in emulationMajor and emulationMinor.
//
// Everything listens on 127.0.0.1 only. kube-apiserver advertises 127.0.0.1
// and does not maintain the endpoints of the default/kubernetes Service (its
// reconcilers refuse a loopback address); the Service itself, with the first
// address of the service CIDR, is there.
//
// Layout below Config.Dir:
//
//	pki/                          certificates and keys (written by package pki)
//	etcd/                         etcd's data directory
//	controller-manager.kubeconfig kube-controller-manager's credentials
//	scheduler.kubeconfig          kube-scheduler's credentials
//	scheduler-config.yaml         kube-scheduler's configuration (its default
//	                              profile, PodTopologySpread memoized: package spread)
//	logs/kube.log                 klog output of the Kubernetes components
//	logs/etcd.log                 etcd's log
package components
