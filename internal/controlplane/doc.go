// Package controlplane runs the control planes of berth's clusters. The
// runtime in this package is the process runtime: each cluster is one
// supervised child process of the berth binary (`berth controlplane`),
// restarted with backoff when it dies and killed with the daemon (Linux
// parent-death signal, plus a pid file that a restarted daemon uses to
// reap any survivor). A runtime that places control planes as pods on a
// management cluster can implement the same small interface the cluster
// controller declares.
package controlplane
