// Package sim runs simulated kubelets: nodes that join a real cluster the
// way a real kubelet does and run the lifecycle of the pods bound to them,
// without containers.
//
// A Cluster serves one Kubernetes cluster and any number of nodes in it.
//
// Joining follows kubelet TLS bootstrapping: with a bootstrap token the node
// creates a CertificateSigningRequest for the signer
// kubernetes.io/kube-apiserver-client-kubelet (CN system:node:NAME,
// O system:nodes), kube-controller-manager's csrapproving controller approves
// it because of the bindings EnsureBootstrapRBAC creates, the csrsigning
// controller signs it, and from then on the node acts as system:node:NAME,
// under the Node authorizer and the NodeRestriction admission plugin. Every
// write about a node or its pods is made with that node's certificate:
// registering the Node, renewing its Lease, reporting its status, and
// updating and deleting its pods.
//
// Reads are shared. A node identity can only watch its own pods, so one
// watch per node would mean thousands of watches; instead the Cluster runs
// one pod informer with ClusterConfig.AdminConfig (list and watch only,
// server-side filtered to bound pods) and hands the pods of managed nodes
// to a work queue. A fixed pool of workers writes pod status, rate limited
// by one token bucket per Cluster; a second queue with its own small pool
// renews Leases every 10 s and reports node status every 5 minutes, as
// kubelet does. No goroutine runs per node or per pod.
//
// Pods go from Pending to Running in one status write (pod IP, conditions,
// container statuses). Pod IPs come from the node's subnet through an
// ipam.Allocator, unique among the addresses it knows: the Cluster's own, or
// one shared with whoever gives instances their addresses. A pod with the
// annotation berth.dev/run-duration, and any pod of a Job, exits after that
// duration (JobDuration for Job pods without the annotation) with the exit
// code of berth.dev/exit-code (0 by default); restartPolicy decides whether
// it restarts or ends Succeeded or Failed. A pod being deleted gracefully has its containers stopped after
// min(grace period, TerminationDelay) and is then deleted with grace period
// 0, as kubelet does.
package sim
