// Package nodeconfig reads what an EKS node learns from its user data:
// the cluster to join (name, API server endpoint, CA, Service CIDR) and
// the kubelet's labels, taints and max pods. It understands the forms the
// EKS-optimized AMIs do: the AL2023 NodeConfig (apiVersion
// node.eks.aws/v1alpha1), alone or as the application/node.eks.aws part
// of a MIME multi-part document, and the AL2 /etc/eks/bootstrap.sh call
// of a shell script, with --kubelet-extra-args; gzip-compressed user
// data too.
package nodeconfig
