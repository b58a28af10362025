// Package sidecar runs the controller side of CSI inside a cluster for one
// driver, in process, as the CSI sidecars run beside a driver's controller
// pod on EKS: the driver's Identity and Controller services are served
// over real CSI gRPC on a unix socket, and the upstream kubernetes-csi
// libraries, connected to that socket with csi-lib-utils as the real
// sidecars connect, drive it from the cluster's objects:
//
//   - external-provisioner (pkg/controller inside
//     sig-storage-lib-external-provisioner's ProvisionController):
//     PersistentVolumeClaims of the driver's StorageClasses become
//     CreateVolume calls and bound PersistentVolumes, with topology
//     (Immediate and WaitForFirstConsumer), extra create metadata, a
//     default filesystem type, clones and snapshot data sources; released
//     volumes are deleted;
//   - external-attacher (pkg/controller and pkg/attacher), for drivers
//     that attach: VolumeAttachments become ControllerPublishVolume and
//     ControllerUnpublishVolume calls;
//   - external-resizer (pkg/controller, pkg/resizer, and pkg/modifycontroller
//     for drivers that modify volumes): larger claims become
//     ControllerExpandVolume calls;
//   - csi-snapshotter (external-snapshotter's pkg/sidecar-controller):
//     VolumeSnapshotContents become CreateSnapshot and DeleteSnapshot
//     calls.
//
// Once per cluster, not per driver, InstallSnapshotCRDs installs the
// VolumeSnapshot CRDs (the upstream YAML, embedded) and
// RunSnapshotController runs the common snapshot-controller, which EKS
// runs as an add-on in the cluster.
//
// The libraries keep some process-wide state that this package cannot
// avoid: they log through klog (Run gives them a contextual logger over
// the Config's slog logger where they take one, at one level lower than
// they log; the rest goes to klog's global logger, which the process
// configures), they register and read feature gates in k8s.io/apiserver's
// default gate (left at their defaults; the gates subpackage registers
// them first, or a binary that also links Kubernetes' own gates panics
// at start), and they register types into
// client-go's scheme.Scheme (done here under one lock).
package sidecar
