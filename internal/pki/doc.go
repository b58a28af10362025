// Package pki creates and loads the certificate authorities, certificates and
// keys of one cluster.
//
// Generate lays out a cluster's PKI the way kubeadm does: a cluster CA that
// signs the kube-apiserver serving certificate and the client certificates of
// the admin, the controller-manager, the scheduler and the kube-apiserver's
// kubelet client; a front-proxy CA for the aggregation layer; an etcd CA for
// etcd's serving certificate and the kube-apiserver's etcd client; and the
// service-account token signing key pair. Every key is ECDSA P-256, which
// keeps a fresh PKI to a few milliseconds of CPU; syncing the files to disk
// takes longer (see BenchmarkGenerate).
//
// Lifetimes follow kubeadm: CAs are valid for ten years, everything else for
// one. Generate is idempotent and meant to run on every start of a cluster: it
// keeps what is valid, completes what a crash left half-written, and renews a
// leaf certificate once two thirds of its lifetime have passed. It never
// replaces the key of a CA or of the service-account pair that has been
// published, because that would invalidate every credential of the cluster;
// it reports ErrKeyMissing instead.
package pki
