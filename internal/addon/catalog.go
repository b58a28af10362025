package addon

import (
	"slices"
	"strings"

	"github.com/berthproject/berth/internal/versions"
)

// Catalog is the set of add-ons and versions one berth build offers, as
// DescribeAddonVersions shows them.
type Catalog struct {
	addons []Definition // sorted by name
}

// Definition is one add-on of the catalog (AddonInfo).
type Definition struct {
	Name      string
	Type      string // "storage", "networking", "security"
	Owner     string // "aws"
	Publisher string // "eks"
	// DefaultNamespace is where the add-on's objects live.
	DefaultNamespace string
	// Runs says that berth installs and runs the add-on in the cluster
	// (an add-on controller drives its status). An add-on without it is
	// accepted as a record only.
	Runs bool
	// RequiresIAMPermissions is requiresIamPermissions of every version:
	// the add-on calls AWS APIs and needs a role (serviceAccountRoleArn or
	// a pod identity association).
	RequiresIAMPermissions bool
	// PodIdentity is DescribeAddonConfiguration's
	// podIdentityConfiguration: the service accounts that call AWS and the
	// managed policies EKS recommends for them.
	PodIdentity []PodIdentityConfig
	// Schema is the configurationSchema of every version (draft 2019-09);
	// configurationValues are checked against it.
	Schema string
	// Versions, newest first.
	Versions []Version
}

// Version is one version of an add-on (AddonVersionInfo).
type Version struct {
	Version string
	// MinCluster and MaxCluster bound the Kubernetes minors the version
	// is compatible with, both included; an empty MaxCluster has no
	// upper bound.
	MinCluster, MaxCluster string
	// DefaultFor lists the minors whose default version this is (one per
	// add-on and minor).
	DefaultFor []string
}

// PodIdentityConfig is one AddonPodIdentityConfiguration.
type PodIdentityConfig struct {
	ServiceAccount             string
	RecommendedManagedPolicies []string
}

// Architectures is AddonVersionInfo's architecture: every version of the
// catalog runs on both.
func (Version) Architectures() []string { return []string{"amd64", "arm64"} }

// ComputeTypes is AddonVersionInfo's computeTypes: berth has EC2 nodes
// (and Fargate, which add-ons do not run on).
func (Version) ComputeTypes() []string { return []string{"ec2"} }

// Supports reports whether the version is compatible with a Kubernetes
// minor.
func (v Version) Supports(minor string) bool {
	if versions.Compare(minor, v.MinCluster) < 0 {
		return false
	}
	return v.MaxCluster == "" || versions.Compare(minor, v.MaxCluster) <= 0
}

// IsDefault reports whether the version is the default for a minor.
func (v Version) IsDefault(minor string) bool { return slices.Contains(v.DefaultFor, minor) }

// Get returns the add-on of a name.
func (c *Catalog) Get(name string) (Definition, bool) {
	i := slices.IndexFunc(c.addons, func(d Definition) bool { return d.Name == name })
	if i < 0 {
		return Definition{}, false
	}
	return c.addons[i], true
}

// All returns every add-on, sorted by name.
func (c *Catalog) All() []Definition { return slices.Clone(c.addons) }

// Version returns one version of the add-on.
func (d Definition) Version(v string) (Version, bool) {
	i := slices.IndexFunc(d.Versions, func(x Version) bool { return x.Version == v })
	if i < 0 {
		return Version{}, false
	}
	return d.Versions[i], true
}

// For returns the versions compatible with a Kubernetes minor, newest
// first.
func (d Definition) For(minor string) []Version {
	var out []Version
	for _, v := range d.Versions {
		if v.Supports(minor) {
			out = append(out, v)
		}
	}
	return out
}

// Default returns the default version for a Kubernetes minor: the one
// marked so, else the newest compatible one.
func (d Definition) Default(minor string) (Version, bool) {
	compatible := d.For(minor)
	for _, v := range compatible {
		if v.IsDefault(minor) {
			return v, true
		}
	}
	if len(compatible) == 0 {
		return Version{}, false
	}
	return compatible[0], true
}

// Builtin returns the catalog of this build. berth offers Kubernetes 1.34
// to 1.37 (internal/versions); versions compatible with earlier minors
// keep their real lower bound.
//
// Sources for the version strings, as found in public change requests
// that quote DescribeAddonVersions (dates are those of the changes):
//   - aws-ebs-csi-driver v1.66.0-eksbuild.1, the default for 1.36, and
//     v1.65.0-eksbuild.1 before it: mitodl/ol-infrastructure#5959
//     (2026-09).
//   - aws-efs-csi-driver v3.4.2-eksbuild.1, the newest for 1.36 (same
//     change), v3.3.0-eksbuild.1: zalando-incubator/kubernetes-on-aws#11666
//     (2026-07); upstream v2.3.0 was released 2026-01
//     (kubernetes-sigs/aws-efs-csi-driver#1788).
//   - aws-fsx-csi-driver v1.7.0-eksbuild.1: awsdocs/amazon-eks-user-guide
//     #1215 (2026-01); the FSx add-on lags new minors (it was not offered
//     for 1.33 at first: aws/containers-roadmap#2625), so its versions have
//     an upper bound.
//   - vpc-cni v1.22.3-eksbuild.1 and v1.21.1-eksbuild.8:
//     ministryofjustice/cloud-platform-infrastructure#4678 and #4638
//     (2026-05 and 2026-07).
//   - kube-proxy v1.35.3-eksbuild.13: zalando-incubator/kubernetes-on-aws
//     #11668 (2026-07); kube-proxy versions are built per minor and
//     compatible with that minor only.
//   - eks-pod-identity-agent v1.3.9-eksbuild.1: aws/eks-hybrid#763
//     (2025-10).
//
// Versions and defaults for minors no source covers (1.37, released
// 2026-10-06 in berth's catalog, and the kube-proxy and coredns builds of
// 1.34, 1.36 and 1.37) are berth's estimates in the same numbering, each
// marked "estimate" below.
func Builtin() *Catalog {
	c := &Catalog{addons: []Definition{
		{
			Name: "aws-ebs-csi-driver", Type: "storage", Owner: "aws", Publisher: "eks", DefaultNamespace: "kube-system",
			Runs: true, RequiresIAMPermissions: true,
			PodIdentity: []PodIdentityConfig{{
				ServiceAccount:             "ebs-csi-controller-sa",
				RecommendedManagedPolicies: []string{"arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"},
			}},
			Schema: ebsSchema,
			Versions: []Version{
				{Version: "v1.66.0-eksbuild.1", MinCluster: "1.30", DefaultFor: []string{"1.36", "1.37"}}, // 1.37: estimate
				{Version: "v1.65.0-eksbuild.1", MinCluster: "1.30"},
				{Version: "v1.54.0-eksbuild.1", MinCluster: "1.29", DefaultFor: []string{"1.35"}}, // estimate
				{Version: "v1.49.0-eksbuild.1", MinCluster: "1.28", DefaultFor: []string{"1.34"}}, // estimate
			},
		},
		{
			Name: "aws-efs-csi-driver", Type: "storage", Owner: "aws", Publisher: "eks", DefaultNamespace: "kube-system",
			Runs: true, RequiresIAMPermissions: true,
			PodIdentity: []PodIdentityConfig{{
				ServiceAccount:             "efs-csi-controller-sa",
				RecommendedManagedPolicies: []string{"arn:aws:iam::aws:policy/service-role/AmazonEFSCSIDriverPolicy"},
			}},
			Schema: efsSchema,
			Versions: []Version{
				{Version: "v3.4.2-eksbuild.1", MinCluster: "1.30", DefaultFor: []string{"1.36", "1.37"}}, // 1.37: estimate
				{Version: "v3.3.0-eksbuild.1", MinCluster: "1.30"},
				{Version: "v2.3.0-eksbuild.1", MinCluster: "1.29", DefaultFor: []string{"1.35"}},  // estimate
				{Version: "v2.1.13-eksbuild.1", MinCluster: "1.28", DefaultFor: []string{"1.34"}}, // estimate
			},
		},
		{
			Name: "aws-fsx-csi-driver", Type: "storage", Owner: "aws", Publisher: "eks", DefaultNamespace: "kube-system",
			Runs: true, RequiresIAMPermissions: true,
			PodIdentity: []PodIdentityConfig{{
				ServiceAccount:             "fsx-csi-controller-sa",
				RecommendedManagedPolicies: []string{"arn:aws:iam::aws:policy/AmazonFSxFullAccess"},
			}},
			Schema: fsxSchema,
			Versions: []Version{
				{Version: "v1.8.0-eksbuild.1", MinCluster: "1.31", MaxCluster: "1.37", DefaultFor: []string{"1.36", "1.37"}}, // estimate
				{Version: "v1.7.0-eksbuild.1", MinCluster: "1.30", MaxCluster: "1.36", DefaultFor: []string{"1.34", "1.35"}},
			},
		},
		{
			Name: "coredns", Type: "networking", Owner: "aws", Publisher: "eks", DefaultNamespace: "kube-system",
			Schema: corednsSchema,
			Versions: []Version{
				{Version: "v1.13.2-eksbuild.4", MinCluster: "1.34", DefaultFor: []string{"1.35", "1.36", "1.37"}},     // estimate
				{Version: "v1.12.4-eksbuild.1", MinCluster: "1.33", MaxCluster: "1.35", DefaultFor: []string{"1.34"}}, // estimate
			},
		},
		{
			Name: "eks-pod-identity-agent", Type: "security", Owner: "aws", Publisher: "eks", DefaultNamespace: "kube-system",
			Schema: podIdentityAgentSchema,
			Versions: []Version{
				{Version: "v1.3.10-eksbuild.2", MinCluster: "1.29", DefaultFor: []string{"1.35", "1.36", "1.37"}}, // estimate
				{Version: "v1.3.9-eksbuild.1", MinCluster: "1.28", DefaultFor: []string{"1.34"}},
			},
		},
		{
			Name: "kube-proxy", Type: "networking", Owner: "aws", Publisher: "eks", DefaultNamespace: "kube-system",
			Schema: kubeProxySchema,
			Versions: []Version{
				{Version: "v1.37.0-eksbuild.2", MinCluster: "1.37", MaxCluster: "1.37", DefaultFor: []string{"1.37"}}, // estimate
				{Version: "v1.36.2-eksbuild.6", MinCluster: "1.36", MaxCluster: "1.36", DefaultFor: []string{"1.36"}}, // estimate
				{Version: "v1.35.3-eksbuild.13", MinCluster: "1.35", MaxCluster: "1.35"},
				{Version: "v1.35.0-eksbuild.2", MinCluster: "1.35", MaxCluster: "1.35", DefaultFor: []string{"1.35"}}, // estimate
				{Version: "v1.34.5-eksbuild.9", MinCluster: "1.34", MaxCluster: "1.34", DefaultFor: []string{"1.34"}}, // estimate
			},
		},
		{
			Name: "vpc-cni", Type: "networking", Owner: "aws", Publisher: "eks", DefaultNamespace: "kube-system",
			RequiresIAMPermissions: true,
			PodIdentity: []PodIdentityConfig{{
				ServiceAccount:             "aws-node",
				RecommendedManagedPolicies: []string{"arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy"},
			}},
			Schema: vpcCNISchema,
			Versions: []Version{
				{Version: "v1.22.3-eksbuild.1", MinCluster: "1.30", DefaultFor: []string{"1.36", "1.37"}}, // 1.37: estimate
				{Version: "v1.21.1-eksbuild.8", MinCluster: "1.29", DefaultFor: []string{"1.35"}},         // estimate
				{Version: "v1.20.4-eksbuild.1", MinCluster: "1.28", DefaultFor: []string{"1.34"}},         // estimate
			},
		},
	}}
	slices.SortFunc(c.addons, func(a, b Definition) int { return strings.Compare(a.Name, b.Name) })
	return c
}
