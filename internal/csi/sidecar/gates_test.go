package sidecar

import (
	"testing"

	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"k8s.io/component-base/featuregate"

	"github.com/berthproject/berth/internal/csi/sidecar/gates"
)

// TestFeatureGates checks that the gates the sidecars read are known,
// with the values their defaults give, in a binary that also links
// Kubernetes' own gates (this test binary links the control plane's
// components): that it starts at all is most of the test.
func TestFeatureGates(t *testing.T) {
	want := map[featuregate.Feature]bool{
		"VolumeAttributesClass":          true,
		"CrossNamespaceVolumeDataSource": false,
		"MutableCSINodeAllocatableCount": true,
		"Topology":                       true,
		"ReleaseLeaderElectionOnExit":    false,
		"AnnotateFsResize":               true,
		"VolumeGroupSnapshot":            true,
		// Kubernetes' own, registered by k8s.io/kubernetes/pkg/features.
		"RecoverVolumeExpansionFailure": true,
	}
	for name := range gates.Shared {
		if _, ok := want[name]; !ok {
			t.Errorf("shared gate %s not checked", name)
		}
	}
	for name := range gates.Own {
		if _, ok := want[name]; !ok {
			t.Errorf("own gate %s not checked", name)
		}
	}
	for name, enabled := range want {
		t.Run(string(name), func(t *testing.T) {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("gate %s: %v", name, r)
				}
			}()
			if got := utilfeature.DefaultFeatureGate.Enabled(name); got != enabled {
				t.Errorf("%s = %v, want %v", name, got, enabled)
			}
		})
	}
}
