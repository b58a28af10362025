// Package gates registers the feature gates of the kubernetes-csi
// sidecars in k8s.io/apiserver's process-wide feature gate before the
// sidecars' own feature packages do, so that a binary linking both them
// and k8s.io/kubernetes/pkg/features (berth links kube-apiserver and
// kube-controller-manager) starts.
//
// The problem it solves: external-provisioner, external-attacher and
// external-resizer register VolumeAttributesClass,
// CrossNamespaceVolumeDataSource and MutableCSINodeAllocatableCount as
// plain (unversioned) gates in their init; Kubernetes registers the same
// names with their version history, and its init panics on the
// mismatch. Go initializes ready packages in import-path order, so the
// sidecars' packages (github.com/kubernetes-csi/...) always run before
// k8s.io/kubernetes/pkg/features. This package (github.com/berthproject/...)
// runs before both: it registers the shared gates exactly as Kubernetes
// v1.37 does, and the sidecars' own gates exactly as they do. The
// sidecars' registrations then fail as a whole and are ignored (they
// drop the error), Kubernetes' finds its specs already there and
// succeeds, and every gate the sidecars read is known.
//
// Registering in init is the one thing this package is for. When
// Kubernetes changes one of the shared specs, a binary with both panics
// at start ("feature gate ... with different spec already exists"):
// copy the new spec from kube_features.go.
package gates

import (
	"k8s.io/apimachinery/pkg/util/version"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"k8s.io/component-base/featuregate"
)

// Shared are the gates Kubernetes and the sidecars both register, as
// k8s.io/kubernetes v1.37.2's pkg/features/kube_features.go specifies
// them.
var Shared = map[featuregate.Feature]featuregate.VersionedSpecs{
	"VolumeAttributesClass": {
		{Version: version.MustParse("1.29"), Default: false, PreRelease: featuregate.Alpha},
		{Version: version.MustParse("1.31"), Default: false, PreRelease: featuregate.Beta},
		{Version: version.MustParse("1.34"), Default: true, PreRelease: featuregate.GA},
		{Version: version.MustParse("1.36"), Default: true, PreRelease: featuregate.GA, LockToDefault: true},
	},
	"CrossNamespaceVolumeDataSource": {
		{Version: version.MustParse("1.26"), Default: false, PreRelease: featuregate.Alpha},
	},
	"MutableCSINodeAllocatableCount": {
		{Version: version.MustParse("1.33"), Default: false, PreRelease: featuregate.Alpha},
		{Version: version.MustParse("1.34"), Default: false, PreRelease: featuregate.Beta},
		{Version: version.MustParse("1.35"), Default: true, PreRelease: featuregate.Beta},
		{Version: version.MustParse("1.36"), Default: true, PreRelease: featuregate.GA, LockToDefault: true},
	},
}

// Own are the gates only the sidecars register, as they specify them
// (external-provisioner v6.4.0, external-attacher v4.13.0,
// external-resizer v2.3.0, external-snapshotter v8.7.0).
var Own = map[featuregate.Feature]featuregate.FeatureSpec{
	"Topology":                    {Default: true, PreRelease: featuregate.GA},
	"ReleaseLeaderElectionOnExit": {Default: false, PreRelease: featuregate.Alpha},
	"AnnotateFsResize":            {Default: true, PreRelease: featuregate.Beta},
	"VolumeGroupSnapshot":         {Default: true, PreRelease: featuregate.GA},
}

func init() {
	// One gate at a time (a registration is all or nothing), errors
	// ignored as the sidecars ignore theirs: a gate already registered
	// with another spec belongs to whoever registered it.
	for name, specs := range Shared {
		_ = utilfeature.DefaultMutableFeatureGate.AddVersioned(map[featuregate.Feature]featuregate.VersionedSpecs{name: specs})
	}
	for name, spec := range Own {
		_ = utilfeature.DefaultMutableFeatureGate.Add(map[featuregate.Feature]featuregate.FeatureSpec{name: spec})
	}
}
