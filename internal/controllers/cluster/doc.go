// Package cluster is the cluster controller: a level-triggered loop that,
// for each cluster in the store, makes the world match it. It assigns
// ports, writes the PKI, keeps the control plane running at the version
// the record asks for, moves CREATING to ACTIVE once kube-apiserver is
// ready (or to FAILED with a health issue), carries version updates
// through, and on DELETING stops the control plane, removes every file and
// then the record. It also removes the files of clusters that no longer
// exist in the store.
package cluster
