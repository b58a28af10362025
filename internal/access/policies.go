package access

import "strings"

// PolicyARNPrefix is what every EKS access policy ARN starts with; the
// rest is the policy's name.
const PolicyARNPrefix = "arn:aws:eks::aws:cluster-access-policy/"

// ClusterAdminPolicyARN is AmazonEKSClusterAdminPolicy, the policy EKS
// gives the creator of a cluster.
const ClusterAdminPolicyARN = PolicyARNPrefix + "AmazonEKSClusterAdminPolicy"

// Policy is one AccessPolicy of ListAccessPolicies.
type Policy struct {
	Name string
	ARN  string
}

// policyNames are the access policies EKS offers, sorted by name: those
// `aws eks list-access-policies` lists in the AWS CLI's examples and those
// the EKS user guide's access policy reference describes. berth accepts
// every one of them; which Kubernetes permissions each grants is the
// cluster side's business.
var policyNames = []string{
	"AmazonAIOpsAssistantPolicy",
	"AmazonARCRegionSwitchScalingPolicy",
	"AmazonEKSAdminPolicy",
	"AmazonEKSAdminViewPolicy",
	"AmazonEKSAutoNodePolicy",
	"AmazonEKSBlockStorageClusterPolicy",
	"AmazonEKSBlockStoragePolicy",
	"AmazonEKSClusterAdminPolicy",
	"AmazonEKSClusterInsightsPolicy",
	"AmazonEKSComputeClusterPolicy",
	"AmazonEKSComputePolicy",
	"AmazonEKSEditPolicy",
	"AmazonEKSHybridPolicy",
	"AmazonEKSLoadBalancingClusterPolicy",
	"AmazonEKSLoadBalancingPolicy",
	"AmazonEKSNetworkingClusterPolicy",
	"AmazonEKSNetworkingPolicy",
	"AmazonEKSSecretReaderPolicy",
	"AmazonEKSViewPolicy",
	"AmazonEMRJobPolicy",
	"AmazonSagemakerHyperpodClusterPolicy",
	"AmazonSagemakerHyperpodControllerPolicy",
	"AmazonSagemakerHyperpodSystemNamespacePolicy",
}

// Policies returns every EKS access policy, sorted by name.
func Policies() []Policy {
	out := make([]Policy, len(policyNames))
	for i, n := range policyNames {
		out[i] = Policy{Name: n, ARN: PolicyARNPrefix + n}
	}
	return out
}

// PolicyName returns the name of the access policy an ARN names, and
// whether it is one EKS offers.
func PolicyName(arn string) (string, bool) {
	name, ok := strings.CutPrefix(arn, PolicyARNPrefix)
	if !ok {
		return "", false
	}
	for _, n := range policyNames {
		if n == name {
			return name, true
		}
	}
	return "", false
}
