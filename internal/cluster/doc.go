// Package cluster is the EKS cluster service: the cluster and update
// records, their validation as EKS validates them, and the state
// transitions the API may ask for. It writes desired state to the store and
// returns at once; the cluster controller (internal/controllers/cluster)
// makes the world match.
package cluster
