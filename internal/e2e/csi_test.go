package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/efs"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
	"k8s.io/utils/ptr"

	snapshotv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	snapclient "github.com/kubernetes-csi/external-snapshotter/client/v8/clientset/versioned"
)

// claimPod is a pod on a node that mounts a claim.
func claimPod(name, node, claim string) *corev1.Pod {
	p := newPod("default", name, map[string]string{"app": name}, bareCtr("", ""))
	p.Spec.NodeName = node
	p.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
		PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}}}
	return p
}

// waitPodRunning waits for a pod to run and returns it.
// createClaim creates a claim in the default namespace.
func createClaim(t testing.TB, kc kubernetes.Interface, name, class string, mode corev1.PersistentVolumeAccessMode, size string) {
	t.Helper()
	if _, err := kc.CoreV1().PersistentVolumeClaims("default").Create(context.Background(), &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{mode}, StorageClassName: ptr.To(class),
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// createEFSClass creates an EFS file system with a mount target in each
// of the subnets, and the StorageClass "efs" that provisions access
// points on it with the given directory permissions; it returns the file
// system's id.
func createEFSClass(t testing.TB, d *daemon, kc kubernetes.Interface, subnets []string, perms string) string {
	t.Helper()
	ctx := context.Background()
	fc := efs.NewFromConfig(d.awsFiles(t))
	fs, err := fc.CreateFileSystem(ctx, &efs.CreateFileSystemInput{CreationToken: aws.String("shared")})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range subnets {
		if err := eventually(30*time.Second, func() error {
			_, err := fc.CreateMountTarget(ctx, &efs.CreateMountTargetInput{FileSystemId: fs.FileSystemId, SubnetId: aws.String(s)})
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := kc.StorageV1().StorageClasses().Create(ctx, &storagev1.StorageClass{
		ObjectMeta: metav1.ObjectMeta{Name: "efs"}, Provisioner: "efs.csi.aws.com",
		Parameters: map[string]string{"provisioningMode": "efs-ap", "fileSystemId": aws.ToString(fs.FileSystemId), "directoryPerms": perms},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return aws.ToString(fs.FileSystemId)
}

func waitPodRunning(t testing.TB, kc kubernetes.Interface, name string, max time.Duration) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	if err := eventually(max, func() error {
		p, err := kc.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if p.Status.Phase != corev1.PodRunning {
			return fmt.Errorf("pod %s is %s", name, p.Status.Phase)
		}
		pod = p
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return pod
}

// deletePod deletes a pod and waits until it is gone.
func deletePod(t testing.TB, kc kubernetes.Interface, name string) {
	t.Helper()
	ctx := context.Background()
	if err := kc.CoreV1().Pods("default").Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := eventually(time.Minute, func() error {
		_, err := kc.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("pod %s still there (%v)", name, err)
	}); err != nil {
		t.Fatal(err)
	}
}

// publishedPath is where a pod's volume is published on its simulated
// node: what its containers would see.
func (d *daemon) publishedPath(cluster string, pod *corev1.Pod, pv string) string {
	return filepath.Join(d.dataDir, "nodes", cluster, pod.Spec.NodeName, "pods", string(pod.UID), "volumes", "kubernetes.io~csi", pv, "mount")
}

func waitAddonActive(t testing.TB, c *eks.Client, cluster, name string) {
	t.Helper()
	if err := eventually(time.Minute, func() error {
		out, err := c.DescribeAddon(context.Background(), &eks.DescribeAddonInput{ClusterName: aws.String(cluster), AddonName: aws.String(name)})
		if err != nil {
			return err
		}
		if out.Addon.Status != ekstypes.AddonStatusActive {
			return fmt.Errorf("add-on %s is %s (%+v)", name, out.Addon.Status, out.Addon.Health)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestCSIVolumes provisions an EBS volume and an EFS file system through
// the add-ons' drivers, as a user of EKS does with kubectl.
func TestCSIVolumes(t *testing.T) {
	skipShort(t)
	d := startDaemon(t, "")
	ctx := context.Background()
	c := d.eks(t)
	subnets := d.subnets(t)
	if _, err := c.CreateCluster(ctx, createInput("vols", subnets)); err != nil {
		t.Fatal(err)
	}
	waitActive(t, c, "vols", 2*time.Minute)
	kc, _ := d.kubeClient(t, "vols")
	if _, err := c.CreateNodegroup(ctx, &eks.CreateNodegroupInput{
		ClusterName: aws.String("vols"), NodegroupName: aws.String("workers"), NodeRole: aws.String("arn:aws:iam::000000000000:role/node"),
		Subnets: subnets[:2], InstanceTypes: []string{"m5.large"},
		ScalingConfig: &ekstypes.NodegroupScalingConfig{MinSize: aws.Int32(4), MaxSize: aws.Int32(4), DesiredSize: aws.Int32(4)},
	}); err != nil {
		t.Fatal(err)
	}
	waitNodegroupActive(t, c, "vols", "workers", 2*time.Minute)
	nodes := waitNodes(t, kc, "workers", 4, time.Minute)
	byZone := map[string][]string{}
	for _, n := range nodes {
		z := n.Labels[corev1.LabelTopologyZone]
		byZone[z] = append(byZone[z], n.Name)
	}
	var zone string
	for z, ns := range byZone {
		if len(ns) >= 2 {
			zone = z
		}
	}
	if zone == "" {
		t.Fatalf("no zone with two nodes: %v", byZone)
	}
	nodeA, nodeB := byZone[zone][0], byZone[zone][1]

	for _, name := range []string{"aws-ebs-csi-driver", "aws-efs-csi-driver"} {
		if _, err := c.CreateAddon(ctx, &eks.CreateAddonInput{ClusterName: aws.String("vols"), AddonName: aws.String(name)}); err != nil {
			t.Fatal(err)
		}
		waitAddonActive(t, c, "vols", name)
	}
	// The nodes register the drivers in their CSINodes.
	if err := eventually(time.Minute, func() error {
		cn, err := kc.StorageV1().CSINodes().Get(ctx, nodeA, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(cn.Spec.Drivers) != 2 {
			return fmt.Errorf("CSINode %s drivers %v", nodeA, cn.Spec.Drivers)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	// A gp3 claim, bound when its first pod is scheduled.
	wffc := storagev1.VolumeBindingWaitForFirstConsumer
	if _, err := kc.StorageV1().StorageClasses().Create(ctx, &storagev1.StorageClass{
		ObjectMeta: metav1.ObjectMeta{Name: "gp3"}, Provisioner: "ebs.csi.aws.com", VolumeBindingMode: &wffc,
		Parameters: map[string]string{"type": "gp3", "iops": "4000"}, AllowVolumeExpansion: ptr.To(true),
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	createClaim(t, kc, "data", "gp3", corev1.ReadWriteOnce, "10Gi")
	first := claimPod("writer", "", "data")
	first.Spec.NodeSelector = map[string]string{corev1.LabelHostname: nodeA}
	if _, err := kc.CoreV1().Pods("default").Create(ctx, first, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := waitPodRunning(t, kc, "writer", 2*time.Minute)
	pvc, err := kc.CoreV1().PersistentVolumeClaims("default").Get(ctx, "data", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pv, err := kc.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
	if err != nil || pv.Spec.CSI == nil {
		t.Fatalf("PV %s: %+v %v", pvc.Spec.VolumeName, pv, err)
	}
	volID := pv.Spec.CSI.VolumeHandle
	ec := d.ec2(t)
	vols, err := ec.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{volID}})
	if err != nil || len(vols.Volumes) != 1 {
		t.Fatalf("DescribeVolumes(%s) = %+v, %v", volID, vols, err)
	}
	v := vols.Volumes[0]
	if aws.ToString(v.AvailabilityZone) != zone || string(v.VolumeType) != "gp3" || aws.ToInt32(v.Iops) != 4000 || string(v.State) != "in-use" {
		t.Errorf("volume %s: zone %s type %s iops %d state %s", volID, aws.ToString(v.AvailabilityZone), v.VolumeType, aws.ToInt32(v.Iops), v.State)
	}
	// What the pod writes is on the volume.
	if err := os.WriteFile(filepath.Join(d.publishedPath("vols", pod, pv.Name), "hello.txt"), []byte("from writer"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Expansion of the mounted volume: the resizer grows the EBS volume,
	// the node grows the filesystem and reports the claim's new size.
	if _, err := kc.CoreV1().PersistentVolumeClaims("default").Patch(ctx, "data", types.MergePatchType,
		[]byte(`{"spec":{"resources":{"requests":{"storage":"20Gi"}}}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := eventually(2*time.Minute, func() error {
		c, err := kc.CoreV1().PersistentVolumeClaims("default").Get(ctx, "data", metav1.GetOptions{})
		if err != nil {
			return err
		}
		resizing := slices.ContainsFunc(c.Status.Conditions, func(c corev1.PersistentVolumeClaimCondition) bool {
			return c.Type == corev1.PersistentVolumeClaimResizing || c.Type == corev1.PersistentVolumeClaimFileSystemResizePending
		})
		if got := c.Status.Capacity[corev1.ResourceStorage]; got.Cmp(resource.MustParse("20Gi")) != 0 || resizing {
			return fmt.Errorf("claim capacity %s, conditions %+v", got.String(), c.Status.Conditions)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if vols, err := ec.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{volID}}); err != nil || aws.ToInt32(vols.Volumes[0].Size) != 20 {
		t.Errorf("the expanded volume: %+v, %v", vols, err)
	}

	// The node reports the volume's stats, from the driver's
	// NodeGetVolumeStats, through kube-apiserver's node proxy.
	raw, err := kc.CoreV1().RESTClient().Get().AbsPath("/api/v1/nodes", nodeA, "proxy", "stats", "summary").DoRaw(ctx)
	if err != nil {
		t.Fatalf("stats summary of %s: %v", nodeA, err)
	}
	var summary statsv1alpha1.Summary
	if err := json.Unmarshal(raw, &summary); err != nil {
		t.Fatal(err)
	}
	var stats *statsv1alpha1.VolumeStats
	for _, p := range summary.Pods {
		for i, v := range p.VolumeStats {
			if p.PodRef.Name == "writer" && v.PVCRef != nil && v.PVCRef.Name == "data" {
				stats = &p.VolumeStats[i]
			}
		}
	}
	if stats == nil || stats.CapacityBytes == nil || *stats.CapacityBytes < 15<<30 || stats.UsedBytes == nil || *stats.UsedBytes == 0 {
		t.Errorf("volume stats of claim data: %+v in %s", stats, raw)
	}
	metrics, err := kc.CoreV1().RESTClient().Get().AbsPath("/api/v1/nodes", nodeA, "proxy", "metrics").DoRaw(ctx)
	if err != nil || !strings.Contains(string(metrics), `kubelet_volume_stats_capacity_bytes{namespace="default",persistentvolumeclaim="data"}`) {
		t.Errorf("kubelet metrics: %v\n%s", err, metrics)
	}
	// Simulated containers write nothing: their logs are empty, not an error.
	if logs, err := kc.CoreV1().Pods("default").GetLogs("writer", &corev1.PodLogOptions{}).DoRaw(ctx); err != nil || len(logs) != 0 {
		t.Errorf("logs of writer: %q %v", logs, err)
	}

	// A snapshot, restored into a new claim that has the data.
	_, raw = d.kubeClient(t, "vols")
	rc, err := clientcmd.RESTConfigFromKubeConfig(raw)
	if err != nil {
		t.Fatal(err)
	}
	snaps := snapclient.NewForConfigOrDie(rc)
	if _, err := snaps.SnapshotV1().VolumeSnapshotClasses().Create(ctx, &snapshotv1.VolumeSnapshotClass{
		ObjectMeta: metav1.ObjectMeta{Name: "ebs"}, Driver: "ebs.csi.aws.com", DeletionPolicy: snapshotv1.VolumeSnapshotContentDelete,
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := snaps.SnapshotV1().VolumeSnapshots("default").Create(ctx, &snapshotv1.VolumeSnapshot{
		ObjectMeta: metav1.ObjectMeta{Name: "snap"},
		Spec: snapshotv1.VolumeSnapshotSpec{VolumeSnapshotClassName: ptr.To("ebs"),
			Source: snapshotv1.VolumeSnapshotSource{PersistentVolumeClaimName: ptr.To("data")}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := eventually(2*time.Minute, func() error {
		vs, err := snaps.SnapshotV1().VolumeSnapshots("default").Get(ctx, "snap", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if vs.Status == nil || vs.Status.ReadyToUse == nil || !*vs.Status.ReadyToUse {
			return fmt.Errorf("snapshot not ready: %+v", vs.Status)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := kc.CoreV1().PersistentVolumeClaims("default").Create(ctx, &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "restored"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}, StorageClassName: ptr.To("gp3"),
			Resources:  corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("20Gi")}},
			DataSource: &corev1.TypedLocalObjectReference{APIGroup: ptr.To("snapshot.storage.k8s.io"), Kind: "VolumeSnapshot", Name: "snap"},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	restorer := claimPod("restorer", "", "restored")
	restorer.Spec.NodeSelector = map[string]string{corev1.LabelHostname: nodeB}
	if _, err := kc.CoreV1().Pods("default").Create(ctx, restorer, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rpod := waitPodRunning(t, kc, "restorer", 2*time.Minute)
	rpvc, err := kc.CoreV1().PersistentVolumeClaims("default").Get(ctx, "restored", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(d.publishedPath("vols", rpod, rpvc.Spec.VolumeName), "hello.txt")); err != nil || string(got) != "from writer" {
		t.Errorf("the restored volume reads %q, %v", got, err)
	}
	deletePod(t, kc, "restorer")
	deletePod(t, kc, "writer")
	if _, err := kc.CoreV1().Pods("default").Create(ctx, claimPod("reader", nodeB, "data"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod = waitPodRunning(t, kc, "reader", 2*time.Minute)
	got, err := os.ReadFile(filepath.Join(d.publishedPath("vols", pod, pv.Name), "hello.txt"))
	if err != nil || string(got) != "from writer" {
		t.Errorf("the reader on %s reads %q, %v", nodeB, got, err)
	}
	deletePod(t, kc, "reader")
	if err := kc.CoreV1().PersistentVolumeClaims("default").Delete(ctx, "data", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := eventually(2*time.Minute, func() error {
		_, err := ec.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{VolumeIds: []string{volID}})
		if apiCode(err) == "InvalidVolume.NotFound" {
			return nil
		}
		return fmt.Errorf("volume %s still there (%v)", volID, err)
	}); err != nil {
		t.Error(err)
	}

	// An EFS file system shared by pods on three nodes.
	fsID := createEFSClass(t, d, kc, subnets[:2], "700")
	createClaim(t, kc, "shared", "efs", corev1.ReadWriteMany, "5Gi")
	var pods []*corev1.Pod
	for i, n := range nodes[:3] {
		name := fmt.Sprintf("share-%d", i)
		if _, err := kc.CoreV1().Pods("default").Create(ctx, claimPod(name, n.Name, "shared"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		pods = append(pods, nil)
	}
	for i := range pods {
		pods[i] = waitPodRunning(t, kc, fmt.Sprintf("share-%d", i), 2*time.Minute)
	}
	pvc, err = kc.CoreV1().PersistentVolumeClaims("default").Get(ctx, "shared", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d.publishedPath("vols", pods[0], pvc.Spec.VolumeName), "note"), []byte("shared"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range pods[1:] {
		got, err := os.ReadFile(filepath.Join(d.publishedPath("vols", p, pvc.Spec.VolumeName), "note"))
		if err != nil || string(got) != "shared" {
			t.Errorf("pod %s on %s reads %q, %v", p.Name, p.Spec.NodeName, got, err)
		}
	}
	for i := range pods {
		deletePod(t, kc, fmt.Sprintf("share-%d", i))
	}

	// Fargate: a static EFS volume mounts; an EBS claim is refused.
	if _, err := c.CreateFargateProfile(ctx, fargateInput("vols", "fg", d.privateSubnets(t), ekstypes.FargateProfileSelector{Namespace: aws.String("fg")})); err != nil {
		t.Fatal(err)
	}
	waitProfileActive(t, c, "vols", "fg")
	if _, err := kc.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "fg"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := kc.CoreV1().PersistentVolumes().Create(ctx, &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "efs-static"},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:    corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("5Gi")},
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}, StorageClassName: "",
			PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{
				Driver: "efs.csi.aws.com", VolumeHandle: fsID}},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for name, spec := range map[string]corev1.PersistentVolumeClaimSpec{
		"static": {AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}, StorageClassName: ptr.To(""), VolumeName: "efs-static",
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("5Gi")}}},
		"block": {AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}, StorageClassName: ptr.To("gp3"),
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")}}},
	} {
		if _, err := kc.CoreV1().PersistentVolumeClaims("fg").Create(ctx, &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []struct{ name, claim string }{{"efs-on-fargate", "static"}, {"ebs-on-fargate", "block"}} {
		pod := claimPod(p.name, "", p.claim)
		pod.Namespace = "fg"
		if err := eventually(30*time.Second, func() error {
			_, err := kc.CoreV1().Pods("fg").Create(ctx, pod, metav1.CreateOptions{})
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := eventually(2*time.Minute, func() error {
		p, err := kc.CoreV1().Pods("fg").Get(ctx, "efs-on-fargate", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if p.Status.Phase != corev1.PodRunning || !strings.HasPrefix(p.Spec.NodeName, "fargate-") {
			return fmt.Errorf("EFS pod on Fargate: %s on %q", p.Status.Phase, p.Spec.NodeName)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
	if err := eventually(time.Minute, func() error {
		evs, err := kc.CoreV1().Events("fg").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=ebs-on-fargate,reason=FailedScheduling"})
		if err != nil {
			return err
		}
		for _, e := range evs.Items {
			if strings.Contains(e.Message, "Pod not supported on Fargate") && strings.Contains(e.Message, "(EBS)") {
				return nil
			}
		}
		return fmt.Errorf("no FailedScheduling event for the EBS pod on Fargate: %+v", evs.Items)
	}); err != nil {
		t.Error(err)
	}
}
