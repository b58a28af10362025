package sidecar

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	snapshotv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	snapclientset "github.com/kubernetes-csi/external-snapshotter/client/v8/clientset/versioned"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	csiebs "github.com/berthproject/berth/internal/csi/ebs"
	csiefs "github.com/berthproject/berth/internal/csi/efs"
	ebsvc "github.com/berthproject/berth/internal/ebs"
	"github.com/berthproject/berth/internal/efs"
)

const (
	testNode  = "ip-192-168-10-10.ec2.internal"
	namespace = "default"
	// waitLong bounds every wait for the sidecars and the control plane.
	waitLong = 60 * time.Second
)

// TestSidecarsSharedControlPlane runs the EBS driver's sidecars (with
// attacher, resizer and snapshotter), the EFS driver's (provisioner only)
// and the common snapshot controller against one real control plane,
// and drives them through the cluster's objects only.
func TestSidecarsSharedControlPlane(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	cp := startControlPlane(t)
	kube, err := kubernetes.NewForConfig(cp.Admin)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := snapclientset.NewForConfig(cp.Admin)
	if err != nil {
		t.Fatal(err)
	}
	svcs := newServices(t)
	ctx := t.Context()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))

	for range 2 { // idempotent
		if err := InstallSnapshotCRDs(ctx, cp.Admin); err != nil {
			t.Fatalf("InstallSnapshotCRDs: %v", err)
		}
	}
	sockets := t.TempDir()
	run(t, "ebs", func(ctx context.Context) error {
		return Run(ctx, Config{Kube: kube, KubeConfig: cp.Admin, Driver: csiebs.DriverName,
			Controller: svcs.ebsCtrl, Identity: csiebs.NewIdentity(true, nil), SocketDir: sockets,
			Attach: true, Resize: true, Snapshots: true, Logger: log})
	})
	run(t, "efs", func(ctx context.Context) error {
		return Run(ctx, Config{Kube: kube, KubeConfig: cp.Admin, Driver: csiefs.DriverName,
			Controller: svcs.efsCtrl, Identity: svcs.efsCtrl.Identity(), SocketDir: sockets, Logger: log})
	})
	run(t, "snapshot controller", func(ctx context.Context) error {
		return RunSnapshotController(ctx, SnapshotControllerConfig{Kube: kube, KubeConfig: cp.Admin, Logger: log})
	})
	makeNode(t, kube, testNode, testInstance)

	t.Run("EBSImmediate", func(t *testing.T) { testEBSImmediate(t, kube, svcs) })
	t.Run("EBSWaitForFirstConsumer", func(t *testing.T) { testEBSWaitForFirstConsumer(t, kube, svcs) })
	t.Run("EBSUnknownParameter", func(t *testing.T) { testEBSUnknownParameter(t, kube, svcs) })
	t.Run("EBSSnapshotRestore", func(t *testing.T) { testEBSSnapshotRestore(t, kube, snap, svcs) })
	t.Run("EBSClone", func(t *testing.T) { testEBSClone(t, kube, svcs) })
	t.Run("EFSAccessPoint", func(t *testing.T) { testEFSAccessPoint(t, kube, svcs) })
}

// run runs f until the test ends; then f must return nil.
func run(t *testing.T, what string, f func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s: %v", what, err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("%s did not stop within 30s", what)
		}
	})
}

// makeNode creates a Node in testZone and its CSINode with both drivers,
// as the simulated kubelet registers them.
func makeNode(t *testing.T, kube kubernetes.Interface, name, instanceID string) {
	t.Helper()
	ctx := t.Context()
	zoneKeys := []string{csiebs.ZoneTopologyKey, csiebs.WellKnownZoneTopologyKey}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
		csiebs.ZoneTopologyKey:          testZone,
		csiebs.WellKnownZoneTopologyKey: testZone,
		corev1.LabelHostname:            name,
	}}, Spec: corev1.NodeSpec{ProviderID: "aws:///" + testZone + "/" + instanceID}}
	if _, err := kube.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	csiNode := &storagev1.CSINode{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: storagev1.CSINodeSpec{Drivers: []storagev1.CSINodeDriver{
		{Name: csiebs.DriverName, NodeID: instanceID, TopologyKeys: zoneKeys},
		{Name: csiefs.DriverName, NodeID: instanceID, TopologyKeys: []string{csiefs.TopologyZoneKey}},
	}}}
	if _, err := kube.StorageV1().CSINodes().Create(ctx, csiNode, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func storageClass(t *testing.T, kube kubernetes.Interface, name, provisioner string, mode storagev1.VolumeBindingMode, params map[string]string) {
	t.Helper()
	del := corev1.PersistentVolumeReclaimDelete
	sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Provisioner: provisioner, Parameters: params,
		VolumeBindingMode: &mode, ReclaimPolicy: &del, AllowVolumeExpansion: new(true)}
	if _, err := kube.StorageV1().StorageClasses().Create(t.Context(), sc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func claim(name, class, size string, mode corev1.PersistentVolumeAccessMode) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: corev1.PersistentVolumeClaimSpec{
			StorageClassName: &class,
			AccessModes:      []corev1.PersistentVolumeAccessMode{mode},
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}},
		}}
}

func createClaim(t *testing.T, kube kubernetes.Interface, pvc *corev1.PersistentVolumeClaim) {
	t.Helper()
	if _, err := kube.CoreV1().PersistentVolumeClaims(namespace).Create(t.Context(), pvc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// eventually polls cond until it is true, fails the test after waitLong.
func eventually(t *testing.T, what string, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	err := wait.PollUntilContextTimeout(t.Context(), 100*time.Millisecond, waitLong, true, cond)
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// waitBound waits until the claim is bound and returns its volume.
func waitBound(t *testing.T, kube kubernetes.Interface, name string) *corev1.PersistentVolume {
	t.Helper()
	var pv *corev1.PersistentVolume
	eventually(t, "claim "+name+" bound", func(ctx context.Context) (bool, error) {
		pvc, err := kube.CoreV1().PersistentVolumeClaims(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil || pvc.Status.Phase != corev1.ClaimBound {
			return false, err
		}
		pv, err = kube.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
		return err == nil, err
	})
	return pv
}

// checkEBSVolume checks a provisioned PV and its volume in the service.
func checkEBSVolume(t *testing.T, svcs *services, pv *corev1.PersistentVolume, claimName string, gib int) *ebsvc.Volume {
	t.Helper()
	src := pv.Spec.CSI
	if src == nil || src.Driver != csiebs.DriverName || !strings.HasPrefix(src.VolumeHandle, "vol-") {
		t.Fatalf("PV %s source = %+v, want an ebs.csi.aws.com volume", pv.Name, pv.Spec.PersistentVolumeSource)
	}
	if src.FSType != "ext4" {
		t.Errorf("fsType = %q, want the default ext4", src.FSType)
	}
	if !zoneAffinity(pv, testZone) {
		t.Errorf("PV node affinity = %+v, want %s", pv.Spec.NodeAffinity, testZone)
	}
	v, err := svcs.ebs.Volume(t.Context(), src.VolumeHandle)
	if err != nil {
		t.Fatalf("volume %s in the EBS service: %v", src.VolumeHandle, err)
	}
	if v.AZ != testZone || v.SizeGiB != gib || v.Type != "gp3" {
		t.Errorf("volume = %s %d GiB in %s, want gp3 %d GiB in %s", v.Type, v.SizeGiB, v.AZ, gib, testZone)
	}
	// --extra-create-metadata: the driver tags the volume with its claim.
	if v.Tags[csiebs.PVCNameTag] != claimName || v.Tags[csiebs.PVNameTag] != pv.Name {
		t.Errorf("volume tags = %v, want the claim %s and PV %s", v.Tags, claimName, pv.Name)
	}
	return v
}

func zoneAffinity(pv *corev1.PersistentVolume, zone string) bool {
	if pv.Spec.NodeAffinity == nil || pv.Spec.NodeAffinity.Required == nil {
		return false
	}
	for _, term := range pv.Spec.NodeAffinity.Required.NodeSelectorTerms {
		for _, e := range term.MatchExpressions {
			if strings.HasSuffix(e.Key, "/zone") && e.Operator == corev1.NodeSelectorOpIn && slices.Contains(e.Values, zone) {
				return true
			}
		}
	}
	return false
}

func testEBSImmediate(t *testing.T, kube kubernetes.Interface, svcs *services) {
	ctx := t.Context()
	storageClass(t, kube, "gp3", csiebs.DriverName, storagev1.VolumeBindingImmediate, map[string]string{"type": "gp3"})
	createClaim(t, kube, claim("data", "gp3", "1Gi", corev1.ReadWriteOnce))
	pv := waitBound(t, kube, "data")
	vol := checkEBSVolume(t, svcs, pv, "data", 1)

	// Attach: a VolumeAttachment as the attach-detach controller makes.
	va := &storagev1.VolumeAttachment{ObjectMeta: metav1.ObjectMeta{Name: "csi-" + pv.Name}, Spec: storagev1.VolumeAttachmentSpec{
		Attacher: csiebs.DriverName, NodeName: testNode,
		Source: storagev1.VolumeAttachmentSource{PersistentVolumeName: &pv.Name},
	}}
	if _, err := kube.StorageV1().VolumeAttachments().Create(ctx, va, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "VolumeAttachment attached", func(ctx context.Context) (bool, error) {
		got, err := kube.StorageV1().VolumeAttachments().Get(ctx, va.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if e := got.Status.AttachError; e != nil {
			t.Logf("attach error: %s", e.Message)
		}
		if !got.Status.Attached {
			return false, nil
		}
		if got.Status.AttachmentMetadata[csiebs.DevicePathKey] == "" {
			return false, fmt.Errorf("attachment metadata %v has no devicePath", got.Status.AttachmentMetadata)
		}
		return true, nil
	})
	v, err := svcs.ebs.Volume(ctx, vol.ID)
	if err != nil {
		t.Fatal(err)
	}
	if v.State != "in-use" || len(v.Attachments) != 1 || v.Attachments[0].InstanceID != testInstance {
		t.Errorf("attached volume: state %s, attachments %+v, want in-use on %s", v.State, v.Attachments, testInstance)
	}

	// Detach.
	if err := kube.StorageV1().VolumeAttachments().Delete(ctx, va.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "VolumeAttachment gone", func(ctx context.Context) (bool, error) {
		_, err := kube.StorageV1().VolumeAttachments().Get(ctx, va.Name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), ignoreNotFound(err)
	})
	eventually(t, "volume detached", func(ctx context.Context) (bool, error) {
		v, err := svcs.ebs.Volume(ctx, vol.ID)
		return err == nil && v.State == "available" && len(v.Attachments) == 0, err
	})

	// Resize: the claim grows, so do the volume and the PV; the claim
	// waits for the node to grow the filesystem.
	patch := []byte(`{"spec":{"resources":{"requests":{"storage":"2Gi"}}}}`)
	if _, err := kube.CoreV1().PersistentVolumeClaims(namespace).Patch(ctx, "data", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "PV capacity 2Gi", func(ctx context.Context) (bool, error) {
		got, err := kube.CoreV1().PersistentVolumes().Get(ctx, pv.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		c := got.Spec.Capacity[corev1.ResourceStorage]
		return c.Cmp(resource.MustParse("2Gi")) == 0, nil
	})
	if v, err := svcs.ebs.Volume(ctx, vol.ID); err != nil || v.SizeGiB != 2 {
		t.Errorf("volume after resize: %+v, %v; want 2 GiB", v, err)
	}
	eventually(t, "claim FileSystemResizePending", func(ctx context.Context) (bool, error) {
		got, err := kube.CoreV1().PersistentVolumeClaims(namespace).Get(ctx, "data", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return slices.ContainsFunc(got.Status.Conditions, func(c corev1.PersistentVolumeClaimCondition) bool {
			return c.Type == corev1.PersistentVolumeClaimFileSystemResizePending && c.Status == corev1.ConditionTrue
		}), nil
	})

	// Delete: reclaim policy Delete removes the PV and the volume.
	if err := kube.CoreV1().PersistentVolumeClaims(namespace).Delete(ctx, "data", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "PV deleted", func(ctx context.Context) (bool, error) {
		_, err := kube.CoreV1().PersistentVolumes().Get(ctx, pv.Name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), ignoreNotFound(err)
	})
	if _, err := svcs.ebs.Volume(ctx, vol.ID); !ebsvc.IsNotFound(err) {
		t.Errorf("volume %s after its claim was deleted: %v, want not found", vol.ID, err)
	}
}

func testEBSWaitForFirstConsumer(t *testing.T, kube kubernetes.Interface, svcs *services) {
	storageClass(t, kube, "gp3-wffc", csiebs.DriverName, storagev1.VolumeBindingWaitForFirstConsumer, map[string]string{"type": "gp3"})
	pvc := claim("late", "gp3-wffc", "3Gi", corev1.ReadWriteOnce)
	// The scheduler's choice, as it annotates a claim of a pod it placed.
	pvc.Annotations = map[string]string{"volume.kubernetes.io/selected-node": testNode}
	createClaim(t, kube, pvc)
	pv := waitBound(t, kube, "late")
	checkEBSVolume(t, svcs, pv, "late", 3)
}

func testEBSUnknownParameter(t *testing.T, kube kubernetes.Interface, svcs *services) {
	ctx := t.Context()
	storageClass(t, kube, "bad", csiebs.DriverName, storagev1.VolumeBindingImmediate, map[string]string{"type": "gp3", "colour": "blue"})
	createClaim(t, kube, claim("bad", "bad", "1Gi", corev1.ReadWriteOnce))
	var msg string
	eventually(t, "ProvisioningFailed event", func(ctx context.Context) (bool, error) {
		evs, err := kube.CoreV1().Events(namespace).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=bad,reason=ProvisioningFailed"})
		if err != nil || len(evs.Items) == 0 {
			return false, err
		}
		msg = evs.Items[0].Message
		return true, nil
	})
	if !strings.Contains(msg, "Invalid parameter key colour for CreateVolume") {
		t.Errorf("event message = %q, want the driver's", msg)
	}
	vols, err := svcs.ebs.Volumes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vols {
		if v.Tags[csiebs.PVCNameTag] == "bad" {
			t.Errorf("volume %s made for the refused claim", v.ID)
		}
	}
}

func testEBSSnapshotRestore(t *testing.T, kube kubernetes.Interface, snap snapclientset.Interface, svcs *services) {
	ctx := t.Context()
	createClaim(t, kube, claim("origin", "gp3", "1Gi", corev1.ReadWriteOnce))
	pv := waitBound(t, kube, "origin")
	class := &snapshotv1.VolumeSnapshotClass{ObjectMeta: metav1.ObjectMeta{Name: "ebs"}, Driver: csiebs.DriverName,
		DeletionPolicy: snapshotv1.VolumeSnapshotContentDelete}
	if _, err := snap.SnapshotV1().VolumeSnapshotClasses().Create(ctx, class, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	vs := &snapshotv1.VolumeSnapshot{ObjectMeta: metav1.ObjectMeta{Name: "origin-1", Namespace: namespace}, Spec: snapshotv1.VolumeSnapshotSpec{
		Source:                  snapshotv1.VolumeSnapshotSource{PersistentVolumeClaimName: new("origin")},
		VolumeSnapshotClassName: new("ebs"),
	}}
	if _, err := snap.SnapshotV1().VolumeSnapshots(namespace).Create(ctx, vs, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var contentName string
	eventually(t, "snapshot ready", func(ctx context.Context) (bool, error) {
		got, err := snap.SnapshotV1().VolumeSnapshots(namespace).Get(ctx, vs.Name, metav1.GetOptions{})
		if err != nil || got.Status == nil {
			return false, err
		}
		if e := got.Status.Error; e != nil && e.Message != nil {
			t.Logf("snapshot error: %s", *e.Message)
		}
		if got.Status.ReadyToUse == nil || !*got.Status.ReadyToUse || got.Status.BoundVolumeSnapshotContentName == nil {
			return false, nil
		}
		contentName = *got.Status.BoundVolumeSnapshotContentName
		return true, nil
	})
	content, err := snap.SnapshotV1().VolumeSnapshotContents().Get(ctx, contentName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	snapID := *content.Status.SnapshotHandle
	s, err := svcs.ebs.Snapshot(ctx, snapID)
	if err != nil {
		t.Fatalf("snapshot %s in the EBS service: %v", snapID, err)
	}
	if s.VolumeID != pv.Spec.CSI.VolumeHandle {
		t.Errorf("snapshot %s is of %s, want %s", s.ID, s.VolumeID, pv.Spec.CSI.VolumeHandle)
	}

	// Restore into a new claim.
	restored := claim("restored", "gp3", "1Gi", corev1.ReadWriteOnce)
	restored.Spec.DataSource = &corev1.TypedLocalObjectReference{APIGroup: new(snapshotv1.GroupName), Kind: "VolumeSnapshot", Name: vs.Name}
	createClaim(t, kube, restored)
	rpv := waitBound(t, kube, "restored")
	v, err := svcs.ebs.Volume(ctx, rpv.Spec.CSI.VolumeHandle)
	if err != nil {
		t.Fatal(err)
	}
	if v.SnapshotID != snapID {
		t.Errorf("restored volume's snapshot = %q, want %s", v.SnapshotID, snapID)
	}

	// Deleting the VolumeSnapshot deletes the EBS snapshot (policy Delete).
	if err := snap.SnapshotV1().VolumeSnapshots(namespace).Delete(ctx, vs.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "EBS snapshot deleted", func(ctx context.Context) (bool, error) {
		_, err := svcs.ebs.Snapshot(ctx, snapID)
		return ebsvc.IsNotFound(err), ignoreEBSNotFound(err)
	})
}

func testEBSClone(t *testing.T, kube kubernetes.Interface, svcs *services) {
	createClaim(t, kube, claim("source", "gp3", "1Gi", corev1.ReadWriteOnce))
	src := waitBound(t, kube, "source")
	clone := claim("clone", "gp3", "2Gi", corev1.ReadWriteOnce)
	clone.Spec.DataSource = &corev1.TypedLocalObjectReference{Kind: "PersistentVolumeClaim", Name: "source"}
	createClaim(t, kube, clone)
	pv := waitBound(t, kube, "clone")
	v := checkEBSVolume(t, svcs, pv, "clone", 2)
	if v.SourceVolumeID != src.Spec.CSI.VolumeHandle {
		t.Errorf("clone's source volume = %q, want %s", v.SourceVolumeID, src.Spec.CSI.VolumeHandle)
	}
}

func testEFSAccessPoint(t *testing.T, kube kubernetes.Interface, svcs *services) {
	ctx := t.Context()
	storageClass(t, kube, "efs", csiefs.DriverName, storagev1.VolumeBindingImmediate, map[string]string{
		"provisioningMode": "efs-ap", "fileSystemId": svcs.fs.ID, "directoryPerms": "700",
		"subPathPattern": "${.PVC.namespace}/${.PVC.name}",
	})
	createClaim(t, kube, claim("shared", "efs", "5Gi", corev1.ReadWriteMany))
	pv := waitBound(t, kube, "shared")
	src := pv.Spec.CSI
	if src == nil || src.Driver != csiefs.DriverName {
		t.Fatalf("PV source = %+v, want efs.csi.aws.com", pv.Spec.PersistentVolumeSource)
	}
	if src.FSType != "" {
		t.Errorf("fsType = %q, want none for a file system driver", src.FSType)
	}
	fsID, apID, ok := strings.Cut(src.VolumeHandle, "::")
	if !ok || fsID != svcs.fs.ID {
		t.Fatalf("volume handle = %q, want %s::fsap-...", src.VolumeHandle, svcs.fs.ID)
	}
	aps, _, err := svcs.efs.DescribeAccessPoints(ctx, efs.DescribeAccessPointsInput{AccessPointID: apID})
	if err != nil || len(aps) != 1 {
		t.Fatalf("access point %s: %v, %v", apID, aps, err)
	}
	// subPathPattern from the claim's metadata, made unique
	// (ensureUniqueDirectory defaults to true).
	if got, want := aps[0].RootDirectory.Path, filepath.Join("/", namespace, "shared")+"-"; !strings.HasPrefix(got, want) {
		t.Errorf("access point root = %q, want %q and a suffix", got, want)
	}
	if err := kube.CoreV1().PersistentVolumeClaims(namespace).Delete(ctx, "shared", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "access point deleted", func(ctx context.Context) (bool, error) {
		aps, _, err := svcs.efs.DescribeAccessPoints(ctx, efs.DescribeAccessPointsInput{FileSystemID: svcs.fs.ID})
		return err == nil && len(aps) == 0, nil
	})
}

func ignoreNotFound(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

func ignoreEBSNotFound(err error) error {
	if ebsvc.IsNotFound(err) {
		return nil
	}
	return err
}
