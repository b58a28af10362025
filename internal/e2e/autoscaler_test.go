package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// autoscaledInput is a node group the autoscaler may size: min 0, the
// Cluster Autoscaler auto-discovery tags.
func autoscaledInput(cluster, name string, subnets []string, max int32, capacity ekstypes.CapacityTypes, typ string, labels map[string]string, taints ...ekstypes.Taint) *eks.CreateNodegroupInput {
	in := nodegroupInput(cluster, name, subnets, 0, typ)
	in.ScalingConfig.MaxSize = aws.Int32(max)
	in.CapacityType = capacity
	in.Labels = labels
	in.Taints = taints
	in.Tags = map[string]string{"k8s.io/cluster-autoscaler/enabled": "true", "k8s.io/cluster-autoscaler/" + cluster: "owned"}
	return in
}

func desiredSize(t testing.TB, c *eks.Client, cluster, ng string) int32 {
	t.Helper()
	out, err := c.DescribeNodegroup(context.Background(), &eks.DescribeNodegroupInput{ClusterName: aws.String(cluster), NodegroupName: aws.String(ng)})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToInt32(out.Nodegroup.ScalingConfig.DesiredSize)
}

func workload(name string, replicas int32, cpu string, selector map[string]string, annotations map[string]string, tolerations ...corev1.Toleration) *appsv1.Deployment {
	d := deployment(name, replicas)
	d.Spec.Template.Spec.NodeSelector = selector
	d.Spec.Template.Spec.Tolerations = tolerations
	d.Spec.Template.Annotations = annotations
	d.Spec.Template.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}
	return d
}

// eventFor waits for an event of the reason, with the text, about a pod
// whose name starts with pod.
func eventFor(t testing.TB, kc kubernetes.Interface, pod, reason, contains string, max time.Duration) {
	t.Helper()
	err := eventually(max, func() error {
		evs, err := kc.CoreV1().Events("default").List(context.Background(), metav1.ListOptions{FieldSelector: "reason=" + reason})
		if err != nil {
			return err
		}
		for _, e := range evs.Items {
			if strings.HasPrefix(e.InvolvedObject.Name, pod) && strings.Contains(e.Message, contains) {
				return nil
			}
		}
		return fmt.Errorf("no %s event with %q for %s (%d events)", reason, contains, pod, len(evs.Items))
	})
	if err != nil {
		t.Error(err)
	}
}

// TestAutoscaler walks issue 8: scale up from zero for pending pods,
// choosing between node groups by labels and taints and Spot over
// On-Demand by price; a pod no group can take says why; scale down after
// the delay with a PodDisruptionBudget in place; no scale down for a node
// whose pod may not be evicted.
func TestAutoscaler(t *testing.T) {
	skipShort(t)
	d := startDaemon(t, "")
	c := d.eks(t)
	ctx := context.Background()
	subnets := d.subnets(t)
	if _, err := c.CreateCluster(ctx, createInput("as", subnets)); err != nil {
		t.Fatal(err)
	}
	waitActive(t, c, "as", 2*time.Minute)
	kc, _ := d.kubeClient(t, "as")
	if _, err := kc.CoreV1().ConfigMaps("kube-system").Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "berth-autoscaler"},
		Data:       map[string]string{"expander": "price", "scale-down-unneeded-time": "3s", "scale-down-delay-after-add": "3s"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	general := map[string]string{"pool": "general"}
	gpuTaint := ekstypes.Taint{Key: aws.String("dedicated"), Value: aws.String("gpu"), Effect: ekstypes.TaintEffectNoSchedule}
	for _, in := range []*eks.CreateNodegroupInput{
		autoscaledInput("as", "od", subnets[:2], 5, ekstypes.CapacityTypesOnDemand, "m5.large", general),
		autoscaledInput("as", "spot", subnets[:2], 5, ekstypes.CapacityTypesSpot, "m5.large", general),
		autoscaledInput("as", "gpu", subnets[:2], 2, ekstypes.CapacityTypesOnDemand, "m5.xlarge", map[string]string{"pool": "gpu"}, gpuTaint),
	} {
		if _, err := c.CreateNodegroup(ctx, in); err != nil {
			t.Fatal(err)
		}
		waitNodegroupActive(t, c, "as", aws.ToString(in.NodegroupName), time.Minute)
	}

	// From zero: four pods of 0.9 CPU need two m5.large; price picks Spot.
	if _, err := kc.AppsV1().Deployments("default").Create(ctx, workload("web", 4, "900m", general, nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pods := runningPods(t, kc, "web", 4, time.Minute)
	eventFor(t, kc, "web-", "TriggeredScaleUp", "pod triggered scale-up", 10*time.Second)
	if got := desiredSize(t, c, "as", "spot"); got != 2 {
		t.Errorf("spot desired %d, want 2", got)
	}
	if got := desiredSize(t, c, "as", "od"); got != 0 {
		t.Errorf("on-demand desired %d, want 0 (price prefers Spot)", got)
	}
	for _, p := range pods {
		n, err := kc.CoreV1().Nodes().Get(ctx, p.Spec.NodeName, metav1.GetOptions{})
		if err != nil || n.Labels["eks.amazonaws.com/capacityType"] != "SPOT" {
			t.Errorf("pod %s on %s (%v, %v)", p.Name, p.Spec.NodeName, n.Labels, err)
		}
	}

	// A tolerating pod for the tainted group gets a node there; one that
	// selects it without the toleration says why nothing scales.
	gpuSel := map[string]string{"pool": "gpu"}
	tol := corev1.Toleration{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "gpu", Effect: corev1.TaintEffectNoSchedule}
	keep := map[string]string{"cluster-autoscaler.kubernetes.io/safe-to-evict": "false"}
	if _, err := kc.AppsV1().Deployments("default").Create(ctx, workload("keep", 1, "100m", gpuSel, keep, tol), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	keepPods := runningPods(t, kc, "keep", 1, time.Minute)
	if got := desiredSize(t, c, "as", "gpu"); got != 1 {
		t.Errorf("gpu desired %d, want 1", got)
	}
	orphan := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "no-toleration"}, Spec: corev1.PodSpec{
		NodeSelector: gpuSel, Containers: []corev1.Container{bareCtr("100m", "")}}}
	if _, err := kc.CoreV1().Pods("default").Create(ctx, orphan, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventFor(t, kc, "no-toleration", "NotTriggerScaleUp", "untolerated taint {dedicated: gpu}", 15*time.Second)
	if err := kc.CoreV1().Pods("default").Delete(ctx, "no-toleration", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}

	// Scale down with a PodDisruptionBudget: two replicas left fit on
	// one node; the other goes after the unneeded time.
	pdb := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: policyv1.PodDisruptionBudgetSpec{
		MinAvailable: ptr.To(intstr.FromInt32(1)), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}}
	if _, err := kc.PolicyV1().PodDisruptionBudgets("default").Create(ctx, pdb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	scale, err := kc.AppsV1().Deployments("default").GetScale(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	scale.Spec.Replicas = 2
	if _, err := kc.AppsV1().Deployments("default").UpdateScale(ctx, "web", scale, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	err = eventually(90*time.Second, func() error {
		if got := desiredSize(t, c, "as", "spot"); got != 1 {
			return fmt.Errorf("spot desired %d, want 1", got)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
	runningPods(t, kc, "web", 2, time.Minute)
	waitNodes(t, kc, "spot", 1, time.Minute)

	// The gpu node holds only a pod that may not be evicted: it stays,
	// and the status says why.
	time.Sleep(8 * time.Second)
	if got := desiredSize(t, c, "as", "gpu"); got != 1 {
		t.Errorf("gpu desired %d after the unneeded time, want 1 (its pod may not be evicted)", got)
	}
	if p, err := kc.CoreV1().Pods("default").Get(ctx, keepPods[0].Name, metav1.GetOptions{}); err != nil || p.Spec.NodeName != keepPods[0].Spec.NodeName {
		t.Errorf("the unevictable pod moved or went: %v", err)
	}
	st, err := kc.CoreV1().ConfigMaps("kube-system").Get(ctx, "cluster-autoscaler-status", metav1.GetOptions{})
	if err != nil || !strings.Contains(st.Data["status"], "safe-to-evict=false") {
		t.Errorf("status does not say why the gpu node stays: %v\n%s", err, st.Data["status"])
	}
}
