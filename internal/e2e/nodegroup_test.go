package e2e

import (
	"context"
	"errors"
	"fmt"
	"github.com/aws/smithy-go"
	"net/netip"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
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

// ec2Client is an EC2 client configured from the files berth wrote.
func (d *daemon) ec2(t testing.TB) *ec2.Client {
	t.Helper()
	cfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithSharedCredentialsFiles([]string{filepath.Join(d.dataDir, "credentials")}),
		config.WithSharedConfigFiles([]string{filepath.Join(d.dataDir, "config")}),
	)
	if err != nil {
		t.Fatal(err)
	}
	return ec2.NewFromConfig(cfg)
}

// instancesWhere lists the instances DescribeInstances finds with the
// given filters (name: values).
func instancesWhere(t testing.TB, ec *ec2.Client, filters map[string][]string) []ec2types.Instance {
	t.Helper()
	var in ec2.DescribeInstancesInput
	for name, values := range filters {
		in.Filters = append(in.Filters, ec2types.Filter{Name: aws.String(name), Values: values})
	}
	out, err := ec.DescribeInstances(context.Background(), &in)
	if err != nil {
		t.Fatalf("DescribeInstances %v: %v", filters, err)
	}
	var all []ec2types.Instance
	for _, r := range out.Reservations {
		all = append(all, r.Instances...)
	}
	return all
}

// waitNodegroupActive waits with the SDK's own waiter.
func waitNodegroupActive(t testing.TB, c *eks.Client, cluster, name string, max time.Duration) *ekstypes.Nodegroup {
	t.Helper()
	w := eks.NewNodegroupActiveWaiter(c, func(o *eks.NodegroupActiveWaiterOptions) { o.MinDelay, o.MaxDelay = time.Second, 2*time.Second })
	out, err := w.WaitForOutput(context.Background(), &eks.DescribeNodegroupInput{ClusterName: aws.String(cluster), NodegroupName: aws.String(name)}, max)
	if err != nil {
		t.Fatalf("waiting for node group %s to be ACTIVE: %v", name, err)
	}
	return out.Nodegroup
}

// readyNodes lists the Ready nodes of a node group.
func readyNodes(ctx context.Context, kc kubernetes.Interface, nodegroup string) ([]corev1.Node, error) {
	list, err := kc.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: "eks.amazonaws.com/nodegroup=" + nodegroup})
	if err != nil {
		return nil, err
	}
	var out []corev1.Node
	for _, n := range list.Items {
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				out = append(out, n)
			}
		}
	}
	return out, nil
}

func waitNodes(t testing.TB, kc kubernetes.Interface, nodegroup string, n int, max time.Duration) []corev1.Node {
	t.Helper()
	var nodes []corev1.Node
	err := eventually(max, func() error {
		all, err := kc.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{LabelSelector: "eks.amazonaws.com/nodegroup=" + nodegroup})
		if err != nil {
			return err
		}
		nodes, err = readyNodes(context.Background(), kc, nodegroup)
		if err != nil {
			return err
		}
		if len(nodes) != n || len(all.Items) != n {
			return fmt.Errorf("%d nodes, %d Ready, want %d", len(all.Items), len(nodes), n)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("node group %s: %v", nodegroup, err)
	}
	return nodes
}

func deployment(name string, replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "web", Image: "public.ecr.aws/nginx/nginx:1.27",
					Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}},
				}}},
			},
		},
	}
}

// runningPods waits for n Running pods of an app and returns them.
func runningPods(t testing.TB, kc kubernetes.Interface, app string, n int, max time.Duration) []corev1.Pod {
	t.Helper()
	var pods []corev1.Pod
	err := eventually(max, func() error {
		list, err := kc.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{LabelSelector: "app=" + app})
		if err != nil {
			return err
		}
		pods = pods[:0]
		for _, p := range list.Items {
			if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
				pods = append(pods, p)
			}
		}
		if len(pods) != n || len(list.Items) != n {
			return fmt.Errorf("%d pods, %d Running, want %d", len(list.Items), len(pods), n)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("pods of %s: %v", app, err)
	}
	return pods
}

// TestNodegroupLifecycle walks the node group story: create, nodes Ready
// with EKS labels, a Deployment's pods Running with VPC addresses, scale
// up and down, an instance terminated through EC2 and replaced, labels and
// taints updated in place, delete.
func TestNodegroupLifecycle(t *testing.T) {
	skipShort(t)
	d := startDaemon(t, "")
	c := d.eks(t)
	ec := d.ec2(t)
	ctx := context.Background()
	subnets := d.subnets(t)
	if _, err := c.CreateCluster(ctx, createInput("ngdemo", subnets)); err != nil {
		t.Fatal(err)
	}
	waitActive(t, c, "ngdemo", 2*time.Minute)
	kc, _ := d.kubeClient(t, "ngdemo")

	created, err := c.CreateNodegroup(ctx, &eks.CreateNodegroupInput{
		ClusterName:   aws.String("ngdemo"),
		NodegroupName: aws.String("workers"),
		NodeRole:      aws.String("arn:aws:iam::000000000000:role/node"),
		Subnets:       subnets[:3],
		InstanceTypes: []string{"m5.large"},
		ScalingConfig: &ekstypes.NodegroupScalingConfig{MinSize: aws.Int32(1), MaxSize: aws.Int32(6), DesiredSize: aws.Int32(3)},
		Labels:        map[string]string{"team": "blue"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if created.Nodegroup.Status != ekstypes.NodegroupStatusCreating {
		t.Errorf("CreateNodegroup status %s, want CREATING", created.Nodegroup.Status)
	}
	ng := waitNodegroupActive(t, c, "ngdemo", "workers", time.Minute)
	if ng.Resources == nil || len(ng.Resources.AutoScalingGroups) != 1 || !strings.HasPrefix(aws.ToString(ng.Resources.AutoScalingGroups[0].Name), "eks-workers-") {
		t.Errorf("resources %+v", ng.Resources)
	}

	nodes := waitNodes(t, kc, "workers", 3, 30*time.Second)
	zones := map[string]bool{}
	for _, n := range nodes {
		l := n.Labels
		zones[l["topology.kubernetes.io/zone"]] = true
		for k, want := range map[string]string{
			"eks.amazonaws.com/capacityType":   "ON_DEMAND",
			"node.kubernetes.io/instance-type": "m5.large",
			"topology.kubernetes.io/region":    "us-east-1",
			"kubernetes.io/os":                 "linux",
			"kubernetes.io/arch":               "amd64",
			"kubernetes.io/hostname":           n.Name,
			"team":                             "blue",
		} {
			if l[k] != want {
				t.Errorf("node %s label %s = %q, want %q", n.Name, k, l[k], want)
			}
		}
		if !strings.HasPrefix(l["eks.amazonaws.com/nodegroup-image"], "ami-") {
			t.Errorf("node %s image label %q", n.Name, l["eks.amazonaws.com/nodegroup-image"])
		}
		if !strings.HasPrefix(n.Name, "ip-172-31-") || !strings.HasSuffix(n.Name, ".ec2.internal") {
			t.Errorf("node name %s", n.Name)
		}
		if !strings.HasPrefix(n.Spec.ProviderID, "aws:///us-east-1") || !strings.Contains(n.Spec.ProviderID, "/i-") {
			t.Errorf("providerID %s", n.Spec.ProviderID)
		}
		// m5.large: 2 vCPU, 8 GiB; EKS max pods 29.
		if n.Status.Capacity.Cpu().Value() != 2 || n.Status.Allocatable.Pods().Value() != 29 {
			t.Errorf("node %s capacity %v allocatable %v", n.Name, n.Status.Capacity, n.Status.Allocatable)
		}
		if n.Status.Allocatable.Memory().Cmp(*n.Status.Capacity.Memory()) >= 0 {
			t.Errorf("node %s allocatable memory is not below capacity", n.Name)
		}
	}
	if len(zones) != 3 {
		t.Errorf("nodes in zones %v, want 3 zones", zones)
	}

	// EC2 shows the instances with the node group's tags.
	running := map[string][]string{"tag:eks:nodegroup-name": {"workers"}, "instance-state-name": {"running"}}
	if instances := instancesWhere(t, ec, running); len(instances) != 3 {
		t.Fatalf("DescribeInstances found %d running instances of the node group, want 3", len(instances))
	}

	// A Deployment runs, with pod IPs from the nodes' subnets.
	if _, err := kc.AppsV1().Deployments("default").Create(ctx, deployment("web", 6), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	vpcCIDR := netip.MustParsePrefix("172.31.0.0/16")
	for _, p := range runningPods(t, kc, "web", 6, 30*time.Second) {
		ip, err := netip.ParseAddr(p.Status.PodIP)
		if err != nil || !vpcCIDR.Contains(ip) {
			t.Errorf("pod %s IP %q not in the VPC", p.Name, p.Status.PodIP)
		}
	}
	// The subnets count the instances' and pods' addresses as used.
	sub, err := ec.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{SubnetIds: subnets[:3]})
	if err != nil {
		t.Fatal(err)
	}
	used := 0
	for _, s := range sub.Subnets {
		used += 4091 - int(aws.ToInt32(s.AvailableIpAddressCount))
	}
	if used != 3+6 {
		t.Errorf("the node group's subnets have %d addresses in use, want 9 (3 nodes, 6 pods)", used)
	}

	// Scale up, then down.
	scale := func(desired int32) {
		t.Helper()
		u, err := c.UpdateNodegroupConfig(ctx, &eks.UpdateNodegroupConfigInput{
			ClusterName: aws.String("ngdemo"), NodegroupName: aws.String("workers"),
			ScalingConfig: &ekstypes.NodegroupScalingConfig{MinSize: aws.Int32(1), MaxSize: aws.Int32(6), DesiredSize: aws.Int32(desired)},
		})
		if err != nil {
			t.Fatal(err)
		}
		waitUpdate(t, c, "ngdemo", "workers", aws.ToString(u.Update.Id), ekstypes.UpdateStatusSuccessful)
	}
	scale(5)
	waitNodes(t, kc, "workers", 5, 30*time.Second)
	scale(2)
	waitNodes(t, kc, "workers", 2, time.Minute)
	runningPods(t, kc, "web", 6, time.Minute)

	// An instance terminated through EC2 is replaced.
	instances := instancesWhere(t, ec, running)
	if len(instances) != 2 {
		t.Fatalf("%d running instances after scale-in, want 2", len(instances))
	}
	victim := aws.ToString(instances[0].InstanceId)
	victimNode := aws.ToString(instances[0].PrivateDnsName)
	if _, err := ec.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{victim}}); err != nil {
		t.Fatal(err)
	}
	err = eventually(time.Minute, func() error {
		nodes, err := readyNodes(ctx, kc, "workers")
		if err != nil {
			return err
		}
		if len(nodes) != 2 || slices.ContainsFunc(nodes, func(n corev1.Node) bool { return n.Name == victimNode }) {
			return fmt.Errorf("%d Ready nodes; terminated node %s present: %v", len(nodes), victimNode, nodes)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("replacement of %s: %v", victim, err)
	}
	runningPods(t, kc, "web", 6, time.Minute)

	// Labels and taints change in place.
	u, err := c.UpdateNodegroupConfig(ctx, &eks.UpdateNodegroupConfigInput{
		ClusterName: aws.String("ngdemo"), NodegroupName: aws.String("workers"),
		Labels: &ekstypes.UpdateLabelsPayload{AddOrUpdateLabels: map[string]string{"tier": "web"}, RemoveLabels: []string{"team"}},
		Taints: &ekstypes.UpdateTaintsPayload{AddOrUpdateTaints: []ekstypes.Taint{{Key: aws.String("dedicated"), Value: aws.String("web"), Effect: ekstypes.TaintEffectPreferNoSchedule}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	waitUpdate(t, c, "ngdemo", "workers", aws.ToString(u.Update.Id), ekstypes.UpdateStatusSuccessful)
	err = eventually(30*time.Second, func() error {
		nodes, err := readyNodes(ctx, kc, "workers")
		if err != nil {
			return err
		}
		for _, n := range nodes {
			if n.Labels["tier"] != "web" || n.Labels["team"] != "" {
				return fmt.Errorf("node %s labels %v", n.Name, n.Labels)
			}
			if !slices.ContainsFunc(n.Spec.Taints, func(t corev1.Taint) bool {
				return t.Key == "dedicated" && t.Effect == corev1.TaintEffectPreferNoSchedule
			}) {
				return fmt.Errorf("node %s taints %v", n.Name, n.Spec.Taints)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// A cluster with node groups cannot be deleted.
	if _, err := c.DeleteCluster(ctx, &eks.DeleteClusterInput{Name: aws.String("ngdemo")}); apiCode(err) != "ResourceInUseException" {
		t.Errorf("DeleteCluster with a node group: %v, want ResourceInUseException", err)
	}

	if _, err := c.DeleteNodegroup(ctx, &eks.DeleteNodegroupInput{ClusterName: aws.String("ngdemo"), NodegroupName: aws.String("workers")}); err != nil {
		t.Fatal(err)
	}
	w := eks.NewNodegroupDeletedWaiter(c, func(o *eks.NodegroupDeletedWaiterOptions) { o.MinDelay, o.MaxDelay = time.Second, 2*time.Second })
	if err := w.Wait(ctx, &eks.DescribeNodegroupInput{ClusterName: aws.String("ngdemo"), NodegroupName: aws.String("workers")}, time.Minute); err != nil {
		t.Fatal(err)
	}
	waitNodes(t, kc, "workers", 0, 30*time.Second)
	if _, err := c.DeleteCluster(ctx, &eks.DeleteClusterInput{Name: aws.String("ngdemo")}); err != nil {
		t.Fatal(err)
	}
	waitDeleted(t, c, "ngdemo", time.Minute)
}

func waitUpdate(t testing.TB, c *eks.Client, cluster, nodegroup, id string, want ekstypes.UpdateStatus) *ekstypes.Update {
	t.Helper()
	var u *ekstypes.Update
	err := eventually(3*time.Minute, func() error {
		out, err := c.DescribeUpdate(context.Background(), &eks.DescribeUpdateInput{Name: aws.String(cluster), NodegroupName: aws.String(nodegroup), UpdateId: aws.String(id)})
		if err != nil {
			return err
		}
		u = out.Update
		if u.Status == ekstypes.UpdateStatusInProgress {
			return fmt.Errorf("update %s in progress", id)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if u.Status != want {
		t.Fatalf("update %s ended %s (errors %+v), want %s", id, u.Status, u.Errors, want)
	}
	return u
}

// TestNodegroupVersionUpdate rolls a node group from 1.35 to 1.36 with a
// PodDisruptionBudget in place. First the budget allows no disruption:
// the update fails with PodEvictionFailure and the old nodes keep serving.
// Then it allows one: every node is replaced and the budget holds
// throughout.
func TestNodegroupVersionUpdate(t *testing.T) {
	skipShort(t)
	d := startDaemon(t, "", "--nodegroup-eviction-timeout", "3s")
	c := d.eks(t)
	ctx := context.Background()
	subnets := d.subnets(t)
	in := createInput("rolling", subnets)
	in.Version = aws.String("1.35")
	if _, err := c.CreateCluster(ctx, in); err != nil {
		t.Fatal(err)
	}
	waitActive(t, c, "rolling", 2*time.Minute)
	kc, _ := d.kubeClient(t, "rolling")
	ngIn := nodegroupInput("rolling", "ng", subnets[:2], 3)
	ngIn.ScalingConfig.MinSize = aws.Int32(3)
	if _, err := c.CreateNodegroup(ctx, ngIn); err != nil {
		t.Fatal(err)
	}
	waitNodegroupActive(t, c, "rolling", "ng", time.Minute)
	before := waitNodes(t, kc, "ng", 3, 30*time.Second)
	for _, n := range before {
		if !strings.HasPrefix(n.Status.NodeInfo.KubeletVersion, "v1.35.") {
			t.Errorf("node %s kubelet %s, want v1.35.x", n.Name, n.Status.NodeInfo.KubeletVersion)
		}
	}
	if _, err := kc.AppsV1().Deployments("default").Create(ctx, deployment("app", 3), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	runningPods(t, kc, "app", 3, 30*time.Second)
	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "default"},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MinAvailable: ptr.To(intstr.FromInt32(3)),
			Selector:     &metav1.LabelSelector{MatchLabels: map[string]string{"app": "app"}},
		},
	}
	if _, err := kc.PolicyV1().PodDisruptionBudgets("default").Create(ctx, pdb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// The control plane goes first, as on EKS.
	cu, err := c.UpdateClusterVersion(ctx, &eks.UpdateClusterVersionInput{Name: aws.String("rolling"), Version: aws.String("1.36")})
	if err != nil {
		t.Fatal(err)
	}
	err = eventually(2*time.Minute, func() error {
		out, err := c.DescribeUpdate(ctx, &eks.DescribeUpdateInput{Name: aws.String("rolling"), UpdateId: cu.Update.Id})
		if err != nil {
			return err
		}
		if out.Update.Status != ekstypes.UpdateStatusSuccessful {
			return fmt.Errorf("cluster update %s", out.Update.Status)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	waitActive(t, c, "rolling", time.Minute)

	// A budget that allows no disruption: PodEvictionFailure.
	u, err := c.UpdateNodegroupVersion(ctx, &eks.UpdateNodegroupVersionInput{ClusterName: aws.String("rolling"), NodegroupName: aws.String("ng")})
	if err != nil {
		t.Fatal(err)
	}
	failed := waitUpdate(t, c, "rolling", "ng", aws.ToString(u.Update.Id), ekstypes.UpdateStatusFailed)
	if len(failed.Errors) == 0 || failed.Errors[0].ErrorCode != ekstypes.ErrorCodePodEvictionFailure {
		t.Errorf("failed update errors %+v, want PodEvictionFailure", failed.Errors)
	}
	err = eventually(time.Minute, func() error {
		nodes, err := readyNodes(ctx, kc, "ng")
		if err != nil {
			return err
		}
		for _, n := range nodes {
			if !slices.ContainsFunc(before, func(b corev1.Node) bool { return b.Name == n.Name }) || n.Spec.Unschedulable {
				return fmt.Errorf("node %s (unschedulable %v) is not one of the old nodes, back in service", n.Name, n.Spec.Unschedulable)
			}
		}
		if len(nodes) != 3 {
			return fmt.Errorf("%d Ready nodes", len(nodes))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	runningPods(t, kc, "app", 3, time.Minute)
	out, err := c.DescribeNodegroup(ctx, &eks.DescribeNodegroupInput{ClusterName: aws.String("rolling"), NodegroupName: aws.String("ng")})
	if err != nil || out.Nodegroup.Status != ekstypes.NodegroupStatusActive || aws.ToString(out.Nodegroup.Version) != "1.35" {
		t.Fatalf("after the failed update: %+v %v", out.Nodegroup, err)
	}

	// A budget that allows one disruption, watched throughout: never
	// fewer than two Running pods.
	pdb, err = kc.PolicyV1().PodDisruptionBudgets("default").Get(ctx, "app", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pdb.Spec.MinAvailable = ptr.To(intstr.FromInt32(2))
	if _, err := kc.PolicyV1().PodDisruptionBudgets("default").Update(ctx, pdb, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	violations := make(chan string, 1)
	go func() {
		defer close(violations)
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			list, err := kc.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=app"})
			if err != nil {
				continue
			}
			ready := 0
			for _, p := range list.Items {
				if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
					ready++
				}
			}
			if ready < 2 {
				select {
				case violations <- fmt.Sprintf("%d running pods", ready):
				default:
				}
			}
		}
	}()
	u, err = c.UpdateNodegroupVersion(ctx, &eks.UpdateNodegroupVersionInput{ClusterName: aws.String("rolling"), NodegroupName: aws.String("ng"), Version: aws.String("1.36")})
	if err != nil {
		t.Fatal(err)
	}
	waitUpdate(t, c, "rolling", "ng", aws.ToString(u.Update.Id), ekstypes.UpdateStatusSuccessful)
	close(stop)
	if v, ok := <-violations; ok {
		t.Errorf("PodDisruptionBudget violated during the update: %s", v)
	}
	after := waitNodes(t, kc, "ng", 3, time.Minute)
	for _, n := range after {
		if !strings.HasPrefix(n.Status.NodeInfo.KubeletVersion, "v1.36.") {
			t.Errorf("node %s kubelet %s after the update, want v1.36.x", n.Name, n.Status.NodeInfo.KubeletVersion)
		}
		if slices.ContainsFunc(before, func(b corev1.Node) bool { return b.Name == n.Name }) {
			t.Errorf("node %s was not replaced", n.Name)
		}
	}
	out, err = c.DescribeNodegroup(ctx, &eks.DescribeNodegroupInput{ClusterName: aws.String("rolling"), NodegroupName: aws.String("ng")})
	if err != nil || aws.ToString(out.Nodegroup.Version) != "1.36" || out.Nodegroup.Status != ekstypes.NodegroupStatusActive {
		t.Fatalf("after the update: %+v %v", out.Nodegroup, err)
	}
	runningPods(t, kc, "app", 3, time.Minute)
}

// apiCode is the AWS error code of err, or "".
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// TestSpotInterruption interrupts a Spot node with `berth spot interrupt`:
// the group launches a replacement, the doomed node is drained so its
// pods run elsewhere before the deadline, and the instance terminates at
// the deadline.
func TestSpotInterruption(t *testing.T) {
	skipShort(t)
	d := startDaemon(t, "")
	c := d.eks(t)
	ec := d.ec2(t)
	ctx := context.Background()
	subnets := d.subnets(t)
	if _, err := c.CreateCluster(ctx, createInput("spotty", subnets)); err != nil {
		t.Fatal(err)
	}
	waitActive(t, c, "spotty", 2*time.Minute)
	kc, _ := d.kubeClient(t, "spotty")
	in := nodegroupInput("spotty", "spot", subnets[:2], 2, "m5.large", "c5.large", "m6i.large")
	in.CapacityType = ekstypes.CapacityTypesSpot
	if _, err := c.CreateNodegroup(ctx, in); err != nil {
		t.Fatal(err)
	}
	waitNodegroupActive(t, c, "spotty", "spot", time.Minute)
	nodes := waitNodes(t, kc, "spot", 2, 30*time.Second)
	for _, n := range nodes {
		if n.Labels["eks.amazonaws.com/capacityType"] != "SPOT" {
			t.Errorf("node %s capacityType label %q", n.Name, n.Labels["eks.amazonaws.com/capacityType"])
		}
	}
	if _, err := kc.AppsV1().Deployments("default").Create(ctx, deployment("svc", 4), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	runningPods(t, kc, "svc", 4, 30*time.Second)

	spot := instancesWhere(t, ec, map[string][]string{"instance-lifecycle": {"spot"}, "instance-state-name": {"running"}})
	if len(spot) != 2 {
		t.Fatalf("%d running spot instances, want 2", len(spot))
	}
	doomed := spot[0]
	doomedNode := aws.ToString(doomed.PrivateDnsName)
	out, err := exec.Command(berthBin, "spot", "interrupt", "--data-dir", d.dataDir, "--notice", "8s", aws.ToString(doomed.InstanceId)).CombinedOutput()
	if err != nil {
		t.Fatalf("berth spot interrupt: %v: %s", err, out)
	}
	if !strings.Contains(string(out), aws.ToString(doomed.InstanceId)) {
		t.Errorf("berth spot interrupt printed %q", out)
	}
	deadline := time.Now().Add(8 * time.Second)

	// Before the deadline: a replacement is Ready and no pod of the app
	// is left on the doomed node.
	err = eventually(8*time.Second, func() error {
		nodes, err := readyNodes(ctx, kc, "spot")
		if err != nil {
			return err
		}
		if len(nodes) < 3 {
			return fmt.Errorf("%d Ready nodes, want the replacement too", len(nodes))
		}
		pods := runningPodsNow(ctx, kc, "svc")
		for _, p := range pods {
			if p.Spec.NodeName == doomedNode {
				return fmt.Errorf("pod %s still on %s", p.Name, doomedNode)
			}
		}
		if len(pods) != 4 {
			return fmt.Errorf("%d pods running", len(pods))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("before the interruption deadline: %v", err)
	}
	if time.Now().After(deadline) {
		t.Error("pods moved only after the deadline")
	}
	err = eventually(30*time.Second, func() error {
		st, err := ec.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{aws.ToString(doomed.InstanceId)}})
		if err != nil {
			return err
		}
		got := st.Reservations[0].Instances[0]
		if got.State.Name != ec2types.InstanceStateNameTerminated {
			return fmt.Errorf("doomed instance %s", got.State.Name)
		}
		if got.StateReason == nil || aws.ToString(got.StateReason.Code) != "Server.SpotInstanceTermination" {
			return fmt.Errorf("state reason %+v", got.StateReason)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	waitNodes(t, kc, "spot", 2, 30*time.Second)
	runningPods(t, kc, "svc", 4, 30*time.Second)

	// Interrupting an On-Demand instance is refused.
	if _, err := c.CreateNodegroup(ctx, nodegroupInput("spotty", "od", subnets[:2], 1)); err != nil {
		t.Fatal(err)
	}
	waitNodegroupActive(t, c, "spotty", "od", time.Minute)
	od := instancesWhere(t, ec, map[string][]string{"tag:eks:nodegroup-name": {"od"}, "instance-state-name": {"running"}})
	if len(od) != 1 {
		t.Fatalf("%d running on-demand instances, want 1", len(od))
	}
	out, err = exec.Command(berthBin, "spot", "interrupt", "--data-dir", d.dataDir, aws.ToString(od[0].InstanceId)).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "not a Spot Instance") {
		t.Errorf("interrupting an On-Demand instance: %v: %s", err, out)
	}
}

func runningPodsNow(ctx context.Context, kc kubernetes.Interface, app string) []corev1.Pod {
	list, err := kc.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=" + app})
	if err != nil {
		return nil
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out
}

// TestNodegroupSurvivesCrash kills the daemon (its control planes die with
// it) under a node group and starts it again: the same instances come
// back, their nodes Ready again under the same names, with no instance
// launched or lost.
func TestNodegroupSurvivesCrash(t *testing.T) {
	skipShort(t)
	d := startDaemon(t, "")
	c := d.eks(t)
	ctx := context.Background()
	subnets := d.subnets(t)
	if _, err := c.CreateCluster(ctx, createInput("crashy", subnets)); err != nil {
		t.Fatal(err)
	}
	waitActive(t, c, "crashy", 2*time.Minute)
	if _, err := c.CreateNodegroup(ctx, nodegroupInput("crashy", "ng", subnets[:3], 3)); err != nil {
		t.Fatal(err)
	}
	waitNodegroupActive(t, c, "crashy", "ng", time.Minute)
	instances := func() []string {
		t.Helper()
		var ids []string
		for _, in := range instancesWhere(t, d.ec2(t), map[string][]string{"instance-state-name": {"pending", "running"}}) {
			ids = append(ids, aws.ToString(in.InstanceId))
		}
		slices.Sort(ids)
		return ids
	}
	before := instances()
	kc, _ := d.kubeClient(t, "crashy")
	nodesBefore := waitNodes(t, kc, "ng", 3, 30*time.Second)

	d.kill()
	d.start()
	c = d.eks(t)
	waitActive(t, c, "crashy", 2*time.Minute)
	kc, _ = d.kubeClient(t, "crashy")
	nodesAfter := waitNodes(t, kc, "ng", 3, time.Minute)
	for _, n := range nodesAfter {
		if !slices.ContainsFunc(nodesBefore, func(b corev1.Node) bool { return b.Name == n.Name }) {
			t.Errorf("node %s is new after the restart", n.Name)
		}
	}
	// Heartbeats resumed: the Lease is renewed after the restart.
	restarted := time.Now()
	err := eventually(30*time.Second, func() error {
		for _, n := range nodesAfter {
			l, err := kc.CoordinationV1().Leases("kube-node-lease").Get(ctx, n.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if l.Spec.RenewTime == nil || l.Spec.RenewTime.Time.Before(restarted.Add(-time.Second)) {
				return fmt.Errorf("lease of %s last renewed %v", n.Name, l.Spec.RenewTime)
			}
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
	if after := instances(); !slices.Equal(before, after) {
		t.Errorf("instances before the crash %v, after %v", before, after)
	}
	out, err := c.DescribeNodegroup(ctx, &eks.DescribeNodegroupInput{ClusterName: aws.String("crashy"), NodegroupName: aws.String("ng")})
	if err != nil || out.Nodegroup.Status != ekstypes.NodegroupStatusActive {
		t.Errorf("node group after the restart: %+v %v", out, err)
	}
}
