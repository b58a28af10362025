package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
)

// BenchmarkCSIProvision measures, on a cluster with two nodes, 100 gp3
// claims of an Immediate StorageClass from their create calls to all
// Bound: external-provisioner,
// the EBS driver's CreateVolume (a record and a sparse file each), the PV
// and the binding by kube-controller-manager.
func BenchmarkCSIProvision(b *testing.B) {
	skipShort(b)
	d := startDaemon(b, "", "--log-level", "info")
	ctx := context.Background()
	c := d.eks(b)
	if _, err := c.CreateCluster(ctx, createInput("pvb", d.subnets(b))); err != nil {
		b.Fatal(err)
	}
	waitActive(b, c, "pvb", 2*time.Minute)
	// The claims are created by ten writers with a client that is not
	// throttled: client-go's default 5 requests a second would make 100
	// creates alone take 18 s, measuring the client rather than berth.
	_, raw := d.kubeClient(b, "pvb")
	rc, err := clientcmd.RESTConfigFromKubeConfig(raw)
	if err != nil {
		b.Fatal(err)
	}
	rc.QPS, rc.Burst = -1, 0
	kc, err := kubernetes.NewForConfig(rc)
	if err != nil {
		b.Fatal(err)
	}
	// Immediate binding places volumes in the zones of the nodes the
	// driver runs on, as external-provisioner does with topology.
	if _, err := c.CreateNodegroup(ctx, &eks.CreateNodegroupInput{
		ClusterName: aws.String("pvb"), NodegroupName: aws.String("workers"), NodeRole: aws.String("arn:aws:iam::000000000000:role/node"),
		Subnets: d.subnets(b)[:2], InstanceTypes: []string{"m5.large"},
		ScalingConfig: &ekstypes.NodegroupScalingConfig{MinSize: aws.Int32(2), MaxSize: aws.Int32(2), DesiredSize: aws.Int32(2)},
	}); err != nil {
		b.Fatal(err)
	}
	waitNodegroupActive(b, c, "pvb", "workers", 2*time.Minute)
	if _, err := c.CreateAddon(ctx, &eks.CreateAddonInput{ClusterName: aws.String("pvb"), AddonName: aws.String("aws-ebs-csi-driver")}); err != nil {
		b.Fatal(err)
	}
	waitAddonActive(b, c, "pvb", "aws-ebs-csi-driver")
	immediate := storagev1.VolumeBindingImmediate
	if _, err := kc.StorageV1().StorageClasses().Create(ctx, &storagev1.StorageClass{
		ObjectMeta: metav1.ObjectMeta{Name: "gp3"}, Provisioner: "ebs.csi.aws.com", VolumeBindingMode: &immediate,
		Parameters: map[string]string{"type": "gp3"},
	}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	const n = 100
	for round := range b.N {
		start := time.Now()
		var g errgroup.Group
		g.SetLimit(10)
		for i := range n {
			g.Go(func() error {
				_, err := kc.CoreV1().PersistentVolumeClaims("default").Create(ctx, &corev1.PersistentVolumeClaim{
					ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("c-%d-%d", round, i)},
					Spec: corev1.PersistentVolumeClaimSpec{
						AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}, StorageClassName: ptr.To("gp3"),
						Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
					},
				}, metav1.CreateOptions{})
				return err
			})
		}
		if err := g.Wait(); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(time.Since(start).Seconds(), "100-claims-created-s")
		// The provisioner's part: the PVs exist; then kube-controller-
		// manager's binder binds them.
		if err := eventually(5*time.Minute, func() error {
			l, err := kc.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
			if err != nil {
				return err
			}
			if len(l.Items) < n*(round+1) {
				return fmt.Errorf("%d volumes", len(l.Items))
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(time.Since(start).Seconds(), "100-pvs-created-s")
		if err := eventually(5*time.Minute, func() error {
			l, err := kc.CoreV1().PersistentVolumeClaims("default").List(ctx, metav1.ListOptions{})
			if err != nil {
				return err
			}
			bound := 0
			for _, p := range l.Items {
				if p.Status.Phase == corev1.ClaimBound {
					bound++
				}
			}
			if bound < n*(round+1) {
				return fmt.Errorf("%d claims bound", bound)
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(time.Since(start).Seconds(), "100-claims-bound-s")
	}
}
