package sidecar

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"slices"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensions "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"
)

// crdFS holds the snapshot CRDs as external-snapshotter publishes them
// (client/v8 config/crd, v8.7.0): VolumeSnapshotClass,
// VolumeSnapshotContent and VolumeSnapshot, snapshot.storage.k8s.io/v1.
//
//go:embed crds/*.yaml
var crdFS embed.FS

// snapshotCRDs decodes the embedded CRDs.
func snapshotCRDs() ([]*apiextensionsv1.CustomResourceDefinition, error) {
	entries, err := crdFS.ReadDir("crds")
	if err != nil {
		return nil, err
	}
	var out []*apiextensionsv1.CustomResourceDefinition
	for _, e := range entries {
		raw, err := crdFS.ReadFile("crds/" + e.Name())
		if err != nil {
			return nil, err
		}
		raw = bytes.TrimPrefix(raw, []byte("---\n"))
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.UnmarshalStrict(raw, crd); err != nil {
			return nil, fmt.Errorf("decoding %s: %w", e.Name(), err)
		}
		out = append(out, crd)
	}
	return out, nil
}

// InstallSnapshotCRDs installs the VolumeSnapshot, VolumeSnapshotContent
// and VolumeSnapshotClass CRDs in the cluster kubeconfig is an admin of,
// and waits until they are established. It is idempotent: a CRD that is
// there and serves v1 is left as it is (it may be the user's own
// install, as on EKS, where the snapshot add-on or the user installs
// them); one that does not serve v1 is replaced by berth's.
func InstallSnapshotCRDs(ctx context.Context, kubeconfig *rest.Config) error {
	client, err := apiextensions.NewForConfig(kubeconfig)
	if err != nil {
		return fmt.Errorf("apiextensions client: %w", err)
	}
	crds, err := snapshotCRDs()
	if err != nil {
		return fmt.Errorf("sidecar: embedded snapshot CRDs: %w", err)
	}
	api := client.ApiextensionsV1().CustomResourceDefinitions()
	for _, crd := range crds {
		existing, err := api.Create(ctx, crd, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			existing, err = api.Get(ctx, crd.Name, metav1.GetOptions{})
			if err == nil && !servesV1(existing) {
				crd.ResourceVersion = existing.ResourceVersion
				existing, err = api.Update(ctx, crd, metav1.UpdateOptions{})
			}
		}
		if err != nil {
			return fmt.Errorf("installing CRD %s: %w", crd.Name, err)
		}
		if established(existing) {
			continue
		}
		err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			got, err := api.Get(ctx, crd.Name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			return established(got), nil
		})
		if err != nil {
			return fmt.Errorf("waiting for CRD %s to be established: %w", crd.Name, err)
		}
	}
	return nil
}

func servesV1(crd *apiextensionsv1.CustomResourceDefinition) bool {
	return slices.ContainsFunc(crd.Spec.Versions, func(v apiextensionsv1.CustomResourceDefinitionVersion) bool {
		return v.Name == "v1" && v.Served
	})
}

func established(crd *apiextensionsv1.CustomResourceDefinition) bool {
	return slices.ContainsFunc(crd.Status.Conditions, func(c apiextensionsv1.CustomResourceDefinitionCondition) bool {
		return c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue
	})
}
