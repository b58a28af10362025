package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// privateSubnets are the private subnets the banner lists, one per zone.
func (d *daemon) privateSubnets(t testing.TB) []string {
	t.Helper()
	var out []string
	for _, line := range strings.Split(d.banner(t), "\n") {
		f := strings.Fields(line)
		if len(f) >= 4 && strings.HasPrefix(f[0], "subnet-") && f[3] == "private" {
			out = append(out, f[0])
		}
	}
	if len(out) < 2 {
		t.Fatalf("banner lists %d private subnets", len(out))
	}
	return out
}

func fargateInput(cluster, name string, subnets []string, selectors ...ekstypes.FargateProfileSelector) *eks.CreateFargateProfileInput {
	return &eks.CreateFargateProfileInput{
		ClusterName:         aws.String(cluster),
		FargateProfileName:  aws.String(name),
		PodExecutionRoleArn: aws.String("arn:aws:iam::000000000000:role/fargate-pods"),
		Subnets:             subnets,
		Selectors:           selectors,
	}
}

func waitProfileActive(t testing.TB, c *eks.Client, cluster, name string) {
	t.Helper()
	w := eks.NewFargateProfileActiveWaiter(c, func(o *eks.FargateProfileActiveWaiterOptions) {
		o.MinDelay = 100 * time.Millisecond
		o.MaxDelay = time.Second
	})
	if err := w.Wait(context.Background(), &eks.DescribeFargateProfileInput{ClusterName: aws.String(cluster), FargateProfileName: aws.String(name)}, time.Minute); err != nil {
		t.Fatalf("waiting for Fargate profile %s: %v", name, err)
	}
}

func bareCtr(cpu, mem string) corev1.Container {
	c := corev1.Container{Name: "app", Image: "public.ecr.aws/nginx/nginx:1.27"}
	if cpu != "" || mem != "" {
		c.Resources.Requests = corev1.ResourceList{}
		if cpu != "" {
			c.Resources.Requests[corev1.ResourceCPU] = resource.MustParse(cpu)
		}
		if mem != "" {
			c.Resources.Requests[corev1.ResourceMemory] = resource.MustParse(mem)
		}
	}
	return c
}

func newPod(ns, name string, labels map[string]string, ctrs ...corev1.Container) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels}, Spec: corev1.PodSpec{Containers: ctrs}}
}

func createPod(t testing.TB, kc kubernetes.Interface, p *corev1.Pod) *corev1.Pod {
	t.Helper()
	out, err := kc.CoreV1().Pods(p.Namespace).Create(context.Background(), p, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating pod %s/%s: %v", p.Namespace, p.Name, err)
	}
	return out
}

// waitPod waits until cond holds for the pod and returns it.
func waitPod(t testing.TB, kc kubernetes.Interface, ns, name string, max time.Duration, what string, cond func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	var last *corev1.Pod
	err := eventually(max, func() error {
		p, err := kc.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		last = p
		if !cond(p) {
			return fmt.Errorf("pod %s/%s is not %s: phase %s node %q", ns, name, what, p.Status.Phase, p.Spec.NodeName)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return last
}

func running(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning }

func ensureNamespace(t testing.TB, kc kubernetes.Interface, ns string) {
	t.Helper()
	_, err := kc.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	// Pods need the namespace's default service account, which
	// kube-controller-manager makes a moment later.
	if err := eventually(30*time.Second, func() error {
		_, err := kc.CoreV1().ServiceAccounts(ns).Get(context.Background(), "default", metav1.GetOptions{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

// fargateNodes lists the cluster's Fargate nodes.
func fargateNodes(t testing.TB, kc kubernetes.Interface) []corev1.Node {
	t.Helper()
	l, err := kc.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{LabelSelector: "eks.amazonaws.com/compute-type=fargate"})
	if err != nil {
		t.Fatal(err)
	}
	return l.Items
}

// TestFargateProfiles walks the Fargate story through the EKS API and
// client-go: matching and non-matching pods, wildcard and label selectors,
// precedence, sizing, refused pods, the node per pod, a crash, profile
// deletion.
func TestFargateProfiles(t *testing.T) {
	skipShort(t)
	d := startDaemon(t, "")
	c := d.eks(t)
	ctx := context.Background()
	if _, err := c.CreateCluster(ctx, createInput("fg", d.subnets(t))); err != nil {
		t.Fatal(err)
	}
	waitActive(t, c, "fg", 2*time.Minute)
	kc, _ := d.kubeClient(t, "fg")
	private := d.privateSubnets(t)
	for _, ns := range []string{"apps", "team-a", "other"} {
		ensureNamespace(t, kc, ns)
	}

	// A pod from before any profile is left to the default scheduler.
	createPod(t, kc, newPod("apps", "early", nil, bareCtr("", "")))

	// Bad input is refused as EKS refuses it.
	_, err := c.CreateFargateProfile(ctx, fargateInput("fg", "bad", d.subnets(t)[:1], ekstypes.FargateProfileSelector{Namespace: aws.String("apps")}))
	if code := apiCode(err); code != "InvalidParameterException" {
		t.Errorf("public subnet: %v (code %q), want InvalidParameterException", err, code)
	}
	_, err = c.CreateFargateProfile(ctx, fargateInput("nope", "x", private[:2], ekstypes.FargateProfileSelector{Namespace: aws.String("apps")}))
	if code := apiCode(err); code != "ResourceNotFoundException" {
		t.Errorf("unknown cluster: %v, want ResourceNotFoundException", err)
	}

	out, err := c.CreateFargateProfile(ctx, fargateInput("fg", "fp-apps", private[:2],
		ekstypes.FargateProfileSelector{Namespace: aws.String("apps")},
		ekstypes.FargateProfileSelector{Namespace: aws.String("team-*"), Labels: map[string]string{"run": "fargate"}}))
	if err != nil {
		t.Fatal(err)
	}
	if p := out.FargateProfile; p.Status != ekstypes.FargateProfileStatusCreating || !strings.Contains(aws.ToString(p.FargateProfileArn), ":fargateprofile/fg/fp-apps/") {
		t.Errorf("create answered %s %s", p.Status, aws.ToString(p.FargateProfileArn))
	}
	waitProfileActive(t, c, "fg", "fp-apps")

	// A matching pod: mutated, sized, given a node of its own, Running
	// with the node's address.
	createPod(t, kc, newPod("apps", "web", nil, bareCtr("", "")))
	p := waitPod(t, kc, "apps", "web", 30*time.Second, "Running", running)
	if p.Spec.SchedulerName != "fargate-scheduler" || p.Labels["eks.amazonaws.com/fargate-profile"] != "fp-apps" {
		t.Errorf("pod scheduler %q labels %v", p.Spec.SchedulerName, p.Labels)
	}
	if got := p.Annotations["CapacityProvisioned"]; got != "0.25vCPU 0.5GB" {
		t.Errorf("CapacityProvisioned %q, want 0.25vCPU 0.5GB", got)
	}
	if !strings.HasPrefix(p.Spec.NodeName, "fargate-ip-") || p.Status.PodIP != p.Status.HostIP {
		t.Errorf("node %q pod IP %s host IP %s", p.Spec.NodeName, p.Status.PodIP, p.Status.HostIP)
	}
	node, err := kc.CoreV1().Nodes().Get(ctx, p.Spec.NodeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if node.Labels["eks.amazonaws.com/compute-type"] != "fargate" || len(node.Spec.Taints) != 1 || node.Spec.Taints[0].Key != "eks.amazonaws.com/compute-type" {
		t.Errorf("node labels %v taints %v", node.Labels, node.Spec.Taints)
	}
	if early, _ := kc.CoreV1().Pods("apps").Get(ctx, "early", metav1.GetOptions{}); early.Spec.SchedulerName != corev1.DefaultSchedulerName || early.Spec.NodeName != "" {
		t.Errorf("a pod from before the profile was touched: scheduler %q node %q", early.Spec.SchedulerName, early.Spec.NodeName)
	}

	// Sizing: requests plus 256 MB, rounded up.
	createPod(t, kc, newPod("apps", "big", nil, bareCtr("1", "2Gi")))
	if p := waitPod(t, kc, "apps", "big", 30*time.Second, "Running", running); p.Annotations["CapacityProvisioned"] != "1vCPU 3GB" {
		t.Errorf("big pod got %q, want 1vCPU 3GB", p.Annotations["CapacityProvisioned"])
	}

	// Wildcard namespace with a label selector.
	createPod(t, kc, newPod("team-a", "plain", nil, bareCtr("", "")))
	createPod(t, kc, newPod("team-a", "labelled", map[string]string{"run": "fargate"}, bareCtr("", "")))
	waitPod(t, kc, "team-a", "labelled", 30*time.Second, "Running on Fargate", func(p *corev1.Pod) bool {
		return running(p) && strings.HasPrefix(p.Spec.NodeName, "fargate-")
	})
	if p, _ := kc.CoreV1().Pods("team-a").Get(ctx, "plain", metav1.GetOptions{}); p.Spec.SchedulerName == "fargate-scheduler" {
		t.Error("a pod without the selector's label went to Fargate")
	}
	if p := createPod(t, kc, newPod("other", "x", map[string]string{"run": "fargate"}, bareCtr("", ""))); p.Spec.SchedulerName == "fargate-scheduler" {
		t.Error("a pod of an unselected namespace went to Fargate")
	}

	// Precedence: the alphabetically first matching profile, unless the
	// pod's annotation names another that matches.
	if _, err := c.CreateFargateProfile(ctx, fargateInput("fg", "a-first", private[:2], ekstypes.FargateProfileSelector{Namespace: aws.String("apps")})); err != nil {
		t.Fatal(err)
	}
	waitProfileActive(t, c, "fg", "a-first")
	if p := createPod(t, kc, newPod("apps", "which", nil, bareCtr("", ""))); p.Labels["eks.amazonaws.com/fargate-profile"] != "a-first" {
		t.Errorf("two matching profiles: pod got %q, want a-first", p.Labels["eks.amazonaws.com/fargate-profile"])
	}
	chosen := newPod("apps", "chosen", nil, bareCtr("", ""))
	chosen.Annotations = map[string]string{"eks.amazonaws.com/fargate-profile": "fp-apps"}
	if p := createPod(t, kc, chosen); p.Labels["eks.amazonaws.com/fargate-profile"] != "fp-apps" {
		t.Errorf("annotated pod got %q, want fp-apps", p.Labels["eks.amazonaws.com/fargate-profile"])
	}

	// What Fargate cannot run is refused with a reason.
	priv := bareCtr("", "")
	priv.SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
	createPod(t, kc, newPod("apps", "privileged", nil, priv))
	hostNet := newPod("apps", "hostnet", nil, bareCtr("", ""))
	hostNet.Spec.HostNetwork = true
	createPod(t, kc, hostNet)
	gpu := bareCtr("", "")
	gpu.Resources.Limits = corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("1")}
	createPod(t, kc, newPod("apps", "gpu", nil, gpu))
	for name, want := range map[string]string{"privileged": "Privileged", "hostnet": "HostNetwork", "gpu": "nvidia.com/gpu"} {
		p := waitPod(t, kc, "apps", name, 30*time.Second, "refused", func(p *corev1.Pod) bool {
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && strings.Contains(c.Message, want) {
					return true
				}
			}
			return false
		})
		if p.Spec.NodeName != "" {
			t.Errorf("refused pod %s runs on %s", name, p.Spec.NodeName)
		}
		evs, err := kc.CoreV1().Events("apps").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + name + ",reason=FailedScheduling"})
		if err != nil || len(evs.Items) == 0 || !strings.Contains(evs.Items[0].Message, "Pod not supported on Fargate") {
			t.Errorf("no FailedScheduling event for %s: %v %v", name, evs, err)
		}
	}

	// DaemonSet pods never land on Fargate nodes.
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "agent"},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "agent"}},
				Spec: corev1.PodSpec{
					Containers:  []corev1.Container{bareCtr("", "")},
					Tolerations: []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
				},
			},
		},
	}
	if _, err := kc.AppsV1().DaemonSets("apps").Create(ctx, ds, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// A deleted pod's node goes with it.
	webNode := p.Spec.NodeName
	if err := kc.CoreV1().Pods("apps").Delete(ctx, "web", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}
	err = eventually(30*time.Second, func() error {
		if _, err := kc.CoreV1().Nodes().Get(ctx, webNode, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("node %s still there (%v)", webNode, err)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
	dsPods, err := kc.CoreV1().Pods("apps").List(ctx, metav1.ListOptions{LabelSelector: "app=agent"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range dsPods.Items {
		if strings.HasPrefix(p.Spec.NodeName, "fargate-") && p.Status.Phase == corev1.PodRunning {
			t.Errorf("DaemonSet pod %s runs on Fargate node %s", p.Name, p.Spec.NodeName)
		}
		if p.Spec.SchedulerName == "fargate-scheduler" {
			t.Errorf("DaemonSet pod %s was sent to fargate-scheduler", p.Name)
		}
	}

	// A cluster with profiles cannot be deleted.
	if _, err := c.DeleteCluster(ctx, &eks.DeleteClusterInput{Name: aws.String("fg")}); apiCode(err) != "ResourceInUseException" {
		t.Errorf("DeleteCluster with profiles: %v, want ResourceInUseException", err)
	}

	// A crash: the Fargate pods keep their nodes, which come back Ready.
	d.kill()
	d.start()
	c = d.eks(t)
	waitActive(t, c, "fg", 2*time.Minute)
	kc, _ = d.kubeClient(t, "fg")
	// The control plane restarts with the daemon: the first calls may
	// find it starting.
	err = eventually(60*time.Second, func() error {
		big, err := kc.CoreV1().Pods("apps").Get(ctx, "big", metav1.GetOptions{})
		if err != nil {
			return err
		}
		n, err := kc.CoreV1().Nodes().Get(ctx, big.Spec.NodeName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		l, err := kc.CoordinationV1().Leases("kube-node-lease").Get(ctx, n.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if l.Spec.RenewTime == nil || time.Since(l.Spec.RenewTime.Time) > 5*time.Second {
			return fmt.Errorf("lease of %s not renewed since the restart (%v)", n.Name, l.Spec.RenewTime)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
	// A pod made after the restart still gets a node.
	createPod(t, kc, newPod("apps", "after", nil, bareCtr("", "")))
	waitPod(t, kc, "apps", "after", 30*time.Second, "Running", running)

	// Deleting a profile stops the pods it placed; then it goes.
	if _, err := c.DeleteFargateProfile(ctx, &eks.DeleteFargateProfileInput{ClusterName: aws.String("fg"), FargateProfileName: aws.String("a-first")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DeleteFargateProfile(ctx, &eks.DeleteFargateProfileInput{ClusterName: aws.String("fg"), FargateProfileName: aws.String("fp-apps")})
	if code := apiCode(err); code != "ResourceInUseException" {
		// Only one profile of a cluster may be DELETING at a time; the
		// first may already be gone on a fast machine.
		if err != nil {
			t.Errorf("second delete: %v", err)
		}
	}
	w := eks.NewFargateProfileDeletedWaiter(c, func(o *eks.FargateProfileDeletedWaiterOptions) {
		o.MinDelay = 100 * time.Millisecond
		o.MaxDelay = time.Second
	})
	if err := w.Wait(ctx, &eks.DescribeFargateProfileInput{ClusterName: aws.String("fg"), FargateProfileName: aws.String("a-first")}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := kc.CoreV1().Pods("apps").Get(ctx, "which", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("a pod of the deleted profile is still there: %v", err)
	}
	for {
		_, err := c.DeleteFargateProfile(ctx, &eks.DeleteFargateProfileInput{ClusterName: aws.String("fg"), FargateProfileName: aws.String("fp-apps")})
		var nf *ekstypes.ResourceNotFoundException
		if err == nil || errors.As(err, &nf) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := w.Wait(ctx, &eks.DescribeFargateProfileInput{ClusterName: aws.String("fg"), FargateProfileName: aws.String("fp-apps")}, time.Minute); err != nil {
		t.Fatal(err)
	}
	err = eventually(30*time.Second, func() error {
		if n := fargateNodes(t, kc); len(n) != 0 {
			return fmt.Errorf("%d Fargate nodes left", len(n))
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
	list, err := c.ListFargateProfiles(ctx, &eks.ListFargateProfilesInput{ClusterName: aws.String("fg")})
	if err != nil || len(list.FargateProfileNames) != 0 {
		t.Errorf("profiles left: %v %v", list, err)
	}
	if _, err := c.DeleteCluster(ctx, &eks.DeleteClusterInput{Name: aws.String("fg")}); err != nil {
		t.Errorf("DeleteCluster after the profiles went: %v", err)
	}
}
