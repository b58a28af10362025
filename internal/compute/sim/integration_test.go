package sim

import (
	"github.com/berthproject/berth/internal/compute/ipam"
	"github.com/berthproject/berth/internal/controlplane/cptest"

	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	testingclock "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

var containerIDPattern = regexp.MustCompile(`^containerd://[0-9a-f]{64}$`)

// TestSimulatedNodesSharedControlPlane runs every integration check against
// one control plane, in order: joining, pods of a Deployment, a Job, a
// failing pod, a DaemonSet, stopping a node, and 200 nodes joining at once.
func TestSimulatedNodesSharedControlPlane(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real control plane")
	}
	cp := startControlPlane(t)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	admin := kubernetes.NewForConfigOrDie(cp.Admin)

	if err := EnsureBootstrapRBAC(ctx, admin); err != nil {
		t.Fatal(err)
	}
	if err := EnsureBootstrapRBAC(ctx, admin); err != nil {
		t.Fatalf("second EnsureBootstrapRBAC: %v", err)
	}
	token, err := CreateBootstrapToken(ctx, admin, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ips := ipam.NewSubnetAllocator()
	c, err := NewCluster(ClusterConfig{
		IPs:              ips,
		Server:           cp.Admin.Host,
		CAData:           cp.CAData,
		BootstrapToken:   token,
		AdminConfig:      cp.Admin,
		Logger:           slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: testLogLevel()})),
		TerminationDelay: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stopCluster := context.WithCancel(ctx)
	started := make(chan error, 1)
	go func() { started <- c.Start(runCtx) }()
	defer func() {
		stopCluster()
		if err := <-started; err != nil {
			t.Errorf("Start: %v", err)
		}
	}()

	subnet := netip.MustParsePrefix("10.0.0.0/24")
	specs := []NodeSpec{
		testNodeSpec("ng-1", netip.MustParseAddr("10.0.0.10"), subnet, 29, nil),
		testNodeSpec("ng-1", netip.MustParseAddr("10.0.0.11"), subnet, 29, nil),
		testNodeSpec("ng-1", netip.MustParseAddr("10.0.0.12"), subnet, 29,
			[]corev1.Taint{{Key: "example.com/dedicated", Value: "batch", Effect: corev1.TaintEffectNoSchedule}}),
	}
	began := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, len(specs))
	for i, s := range specs {
		wg.Go(func() { errs[i] = c.AddNode(ctx, s) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("3 nodes joined in %s", time.Since(began).Round(time.Millisecond))
	if got := c.Nodes(); len(got) != 3 {
		t.Fatalf("Nodes() = %v", got)
	}
	// Twice is harmless.
	if err := c.AddNode(ctx, specs[0]); err != nil {
		t.Fatal(err)
	}

	t.Run("nodes", func(t *testing.T) {
		for _, s := range specs {
			n, err := admin.CoreV1().Nodes().Get(ctx, s.Name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if !nodeReady(n) {
				t.Errorf("node %s not Ready: %+v", s.Name, n.Status.Conditions)
			}
			if n.Spec.ProviderID != s.ProviderID {
				t.Errorf("providerID = %q, want %q", n.Spec.ProviderID, s.ProviderID)
			}
			for k, v := range s.Labels {
				if n.Labels[k] != v {
					t.Errorf("node %s label %s = %q, want %q", s.Name, k, n.Labels[k], v)
				}
			}
			if n.Labels[corev1.LabelHostname] != s.Name {
				t.Errorf("hostname label = %q", n.Labels[corev1.LabelHostname])
			}
			for _, taint := range s.Taints {
				found := false
				for _, got := range n.Spec.Taints {
					found = found || got.MatchTaint(&taint)
				}
				if !found {
					t.Errorf("node %s taints %v lack %v", s.Name, n.Spec.Taints, taint)
				}
			}
			if got := n.Status.Capacity.Cpu(); got.Cmp(s.Capacity[corev1.ResourceCPU]) != 0 {
				t.Errorf("cpu capacity = %s", got)
			}
			if got := n.Status.Allocatable.Pods(); got.Value() != 29 {
				t.Errorf("allocatable pods = %s, want 29", got)
			}
			if len(n.Status.Addresses) == 0 || n.Status.Addresses[0].Address != s.InternalIP.String() {
				t.Errorf("addresses = %v", n.Status.Addresses)
			}
			lease, err := admin.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, s.Name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if ptr.Deref(lease.Spec.HolderIdentity, "") != s.Name || lease.Spec.RenewTime == nil {
				t.Errorf("lease = %+v", lease.Spec)
			}
			if len(lease.OwnerReferences) != 1 || lease.OwnerReferences[0].UID != n.UID {
				t.Errorf("lease owners = %v, want node %s", lease.OwnerReferences, n.UID)
			}
		}
		// The node's own identity came from the CSR that was auto-approved.
		csrs, err := admin.CertificatesV1().CertificateSigningRequests().List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		signed := 0
		for _, csr := range csrs.Items {
			if strings.HasPrefix(csr.Spec.Username, "system:bootstrap:") && len(csr.Status.Certificate) > 0 {
				signed++
				for _, cond := range csr.Status.Conditions {
					if cond.Type == certificatesv1.CertificateApproved {
						t.Logf("CSR %s created %s, approved %s later (%s)", csr.Name, csr.CreationTimestamp.Format(time.TimeOnly), cond.LastUpdateTime.Sub(csr.CreationTimestamp.Time), cond.Reason)
					}
				}
			}
		}
		if signed < 3 {
			t.Errorf("%d signed bootstrap CSRs, want 3", signed)
		}
	})
	leaseBefore := renewTimes(ctx, t, admin, specs)

	t.Run("deployment", func(t *testing.T) {
		dep := testDeployment("web", 10)
		if _, err := admin.AppsV1().Deployments("default").Create(ctx, dep, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		began := time.Now()
		pods := waitPods(ctx, t, admin, "app=web", 10, func(p *corev1.Pod) bool { return podReady(p) })
		t.Logf("10 pods Running and Ready in %s", time.Since(began).Round(time.Millisecond))
		seen := map[string]string{}
		for _, p := range pods {
			ip, err := netip.ParseAddr(p.Status.PodIP)
			if err != nil || !subnet.Contains(ip) {
				t.Errorf("pod %s IP %q not in %s", p.Name, p.Status.PodIP, subnet)
			}
			if other, dup := seen[p.Status.PodIP]; dup {
				t.Errorf("pods %s and %s share IP %s", p.Name, other, p.Status.PodIP)
			}
			seen[p.Status.PodIP] = p.Name
			if p.Spec.NodeName == specs[2].Name {
				t.Errorf("pod %s on the tainted node", p.Name)
			}
			if p.Status.HostIP == "" || p.Status.StartTime == nil || len(p.Status.PodIPs) != 1 {
				t.Errorf("pod %s status incomplete: %+v", p.Name, p.Status)
			}
			for _, cs := range p.Status.ContainerStatuses {
				if cs.State.Running == nil || !cs.Ready || !ptr.Deref(cs.Started, false) || !containerIDPattern.MatchString(cs.ContainerID) || cs.ImageID == "" {
					t.Errorf("pod %s container status %+v", p.Name, cs)
				}
			}
			for _, cs := range p.Status.InitContainerStatuses {
				if cs.State.Terminated == nil || cs.State.Terminated.Reason != "Completed" {
					t.Errorf("pod %s init container status %+v", p.Name, cs)
				}
			}
			for _, typ := range []corev1.PodConditionType{corev1.PodScheduled, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady, corev1.PodReadyToStartContainers} {
				if condition(&p.Status, typ) != corev1.ConditionTrue {
					t.Errorf("pod %s condition %s not True", p.Name, typ)
				}
			}
		}
		err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			d, err := admin.AppsV1().Deployments("default").Get(ctx, "web", metav1.GetOptions{})
			return err == nil && d.Status.AvailableReplicas == 10, nil
		})
		if err != nil {
			t.Errorf("deployment not available: %v", err)
		}

		// kube-controller-manager marks the pods of a node whose Lease is
		// late not ready; kubelet reports them ready again once it is
		// heard from.
		marked := pods[0].DeepCopy()
		for i := range marked.Status.Conditions {
			if marked.Status.Conditions[i].Type == corev1.PodReady {
				marked.Status.Conditions[i].Status = corev1.ConditionFalse
				marked.Status.Conditions[i].Reason = "NodeNotReady"
			}
		}
		if _, err := admin.CoreV1().Pods("default").UpdateStatus(ctx, marked, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			p, err := admin.CoreV1().Pods("default").Get(ctx, marked.Name, metav1.GetOptions{})
			return err == nil && podReady(p), nil
		})
		if err != nil {
			t.Errorf("pod %s marked not ready was not reported ready again: %v", marked.Name, err)
		}

		// Scaling to zero deletes the pods gracefully; they go away.
		began = time.Now()
		// The Deployment's status may still be moving after the pod above
		// became ready again: retry on a conflict.
		if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			scale, err := admin.AppsV1().Deployments("default").GetScale(ctx, "web", metav1.GetOptions{})
			if err != nil {
				return err
			}
			scale.Spec.Replicas = 0
			_, err = admin.AppsV1().Deployments("default").UpdateScale(ctx, "web", scale, metav1.UpdateOptions{})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		waitPods(ctx, t, admin, "app=web", 0, nil)
		t.Logf("10 pods deleted in %s", time.Since(began).Round(time.Millisecond))
		if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
			return ips.Len() == len(specs), nil
		}); err != nil {
			t.Errorf("%d addresses still taken, want the %d of the nodes", ips.Len(), len(specs))
		}
	})

	t.Run("kubelet endpoint", func(t *testing.T) { testKubeletEndpoint(ctx, t, cp, c, admin, specs[0]) })

	t.Run("job", func(t *testing.T) {
		job := &batchv1.Job{
			ObjectMeta: metav1.ObjectMeta{Name: "batch", Namespace: "default"},
			Spec: batchv1.JobSpec{
				BackoffLimit: ptr.To(int32(0)),
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{AnnotationRunDuration: "2s"}},
					Spec: corev1.PodSpec{
						RestartPolicy: corev1.RestartPolicyNever,
						Containers:    []corev1.Container{{Name: "work", Image: "busybox:1.36"}},
					},
				},
			},
		}
		began := time.Now()
		if _, err := admin.BatchV1().Jobs("default").Create(ctx, job, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			j, err := admin.BatchV1().Jobs("default").Get(ctx, "batch", metav1.GetOptions{})
			return err == nil && j.Status.Succeeded == 1, nil
		})
		if err != nil {
			t.Fatalf("job did not succeed: %v", err)
		}
		t.Logf("job succeeded after %s", time.Since(began).Round(time.Millisecond))
		pods := waitPods(ctx, t, admin, "batch.kubernetes.io/job-name=batch", 1, nil)
		cs := pods[0].Status.ContainerStatuses
		if pods[0].Status.Phase != corev1.PodSucceeded || len(cs) != 1 || cs[0].State.Terminated == nil || cs[0].State.Terminated.ExitCode != 0 {
			t.Fatalf("job pod status %+v", pods[0].Status)
		}
		// Times in status have seconds: 2s of running shows as 1 to 3.
		if term := cs[0].State.Terminated; term.FinishedAt.Sub(term.StartedAt.Time) < time.Second {
			t.Errorf("container ran from %s to %s, want 2s", term.StartedAt, term.FinishedAt)
		}
	})

	t.Run("failing pod", func(t *testing.T) {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "fails", Namespace: "default", Labels: map[string]string{"app": "fails"},
				Annotations: map[string]string{AnnotationRunDuration: "500ms", AnnotationExitCode: "3"}},
			Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever,
				Containers:    []corev1.Container{{Name: "main", Image: "busybox"}},
			},
		}
		if _, err := admin.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		pods := waitPods(ctx, t, admin, "app=fails", 1, func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed })
		if term := pods[0].Status.ContainerStatuses[0].State.Terminated; term == nil || term.ExitCode != 3 || term.Reason != "Error" {
			t.Errorf("container state %+v", pods[0].Status.ContainerStatuses[0].State)
		}
	})

	t.Run("restarts", func(t *testing.T) {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "crashes", Namespace: "default", Labels: map[string]string{"app": "crashes"},
				Annotations: map[string]string{AnnotationRunDuration: "1s", AnnotationExitCode: "1"}},
			Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyOnFailure,
				Containers:    []corev1.Container{{Name: "main", Image: "busybox"}},
			},
		}
		if _, err := admin.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		pods := waitPods(ctx, t, admin, "app=crashes", 1, func(p *corev1.Pod) bool {
			return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].RestartCount >= 1
		})
		cs := pods[0].Status.ContainerStatuses[0]
		if pods[0].Status.Phase != corev1.PodRunning || cs.LastTerminationState.Terminated == nil || cs.LastTerminationState.Terminated.ExitCode != 1 {
			t.Errorf("restarted pod status %+v", pods[0].Status)
		}
	})

	t.Run("daemonset", func(t *testing.T) {
		ds := &appsv1.DaemonSet{
			ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "kube-system"},
			Spec: appsv1.DaemonSetSpec{
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "agent"}},
					Spec: corev1.PodSpec{
						Tolerations: []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
						Containers:  []corev1.Container{{Name: "agent", Image: "public.ecr.aws/eks/agent:v1"}},
					},
				},
			},
		}
		if _, err := admin.AppsV1().DaemonSets("kube-system").Create(ctx, ds, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		pods := waitPodsIn(ctx, t, admin, "kube-system", "app=agent", len(specs), podReady)
		nodes := map[string]bool{}
		for _, p := range pods {
			nodes[p.Spec.NodeName] = true
		}
		if len(nodes) != len(specs) {
			t.Errorf("daemon pods on %v, want one on each of %d nodes", nodes, len(specs))
		}
	})

	t.Run("leases renew", func(t *testing.T) {
		err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 2*leaseRenewInterval, true, func(ctx context.Context) (bool, error) {
			now := renewTimes(ctx, t, admin, specs)
			for name, before := range leaseBefore {
				if !now[name].After(before) {
					return false, nil
				}
			}
			return true, nil
		})
		if err != nil {
			t.Errorf("leases not renewed within %s: %v", 2*leaseRenewInterval, err)
		}
	})

	t.Run("fake clock", func(t *testing.T) { testFakeClock(ctx, t, cp, token) })

	// Stop one node; its Lease must stop moving while the others go on.
	stopped := specs[2].Name
	c.RemoveNode(stopped)
	c.RemoveNode(stopped)
	removedAt := time.Now()
	if got := c.Nodes(); len(got) != 2 {
		t.Errorf("Nodes() after RemoveNode = %v", got)
	}
	time.Sleep(time.Second) // a renewal in flight at RemoveNode may land
	stoppedRenew := renewTimes(ctx, t, admin, specs[2:])[stopped]

	t.Run("scale", func(t *testing.T) {
		selfCPU, cpCPU := cpuTime(os.Getpid()), cpuTime(cp.PID())
		began := time.Now()
		testScale(ctx, t, c, admin)
		t.Logf("CPU during the scale test (%s): this process (the simulated nodes, and the test's own client) %s, control plane %s",
			time.Since(began).Round(time.Second), cpuTime(os.Getpid())-selfCPU, cpuTime(cp.PID())-cpCPU)
	})

	t.Run("removed node", func(t *testing.T) {
		err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 2*leaseRenewInterval, true, func(ctx context.Context) (bool, error) {
			return renewTimes(ctx, t, admin, specs[:1])[specs[0].Name].After(removedAt.Add(time.Second)) &&
				time.Since(removedAt) > leaseRenewInterval+time.Second, nil
		})
		if err != nil {
			t.Fatalf("the live node's lease did not move: %v", err)
		}
		if got := renewTimes(ctx, t, admin, specs[2:])[stopped]; !got.Equal(stoppedRenew) {
			t.Errorf("lease of the removed node renewed at %s, after RemoveNode at %s", got, removedAt)
		}
		n, err := admin.CoreV1().Nodes().Get(ctx, stopped, metav1.GetOptions{})
		if err != nil {
			t.Errorf("Node of a removed node: %v", err)
		} else {
			t.Logf("removed node's Ready condition after %s: %s", time.Since(removedAt).Round(time.Second), readyStatus(n))
		}
	})

	t.Run("no free address", func(t *testing.T) { testNoFreeAddress(ctx, t, c, admin) })
}

// testNoFreeAddress fills a /28 (11 usable addresses, AWS keeps 5; the node
// takes one) with 11 pods: ten run, the eleventh waits with kubelet's
// FailedCreatePodSandBox event, as on EKS with the VPC CNI, and runs once
// another pod frees an address.
func testNoFreeAddress(ctx context.Context, t *testing.T, c *Cluster, admin kubernetes.Interface) {
	small := netip.MustParsePrefix("10.0.99.0/28")
	// The taint keeps the earlier subtest's DaemonSet off the node.
	spec := testNodeSpec("ng-small", netip.MustParseAddr("10.0.99.4"), small, 29,
		[]corev1.Taint{{Key: "example.com/crowd", Effect: corev1.TaintEffectNoSchedule}})
	if err := c.AddNode(ctx, spec); err != nil {
		t.Fatal(err)
	}
	defer c.RemoveNode(spec.Name)
	for i := range 11 {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("crowd-%d", i), Namespace: "default", Labels: map[string]string{"app": "crowd"}},
			Spec: corev1.PodSpec{NodeName: spec.Name, TerminationGracePeriodSeconds: ptr.To[int64](0),
				Containers: []corev1.Container{{Name: "main", Image: "busybox"}}},
		}
		if _, err := admin.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// Every pod runs or waits with the event; at least one waits (other
	// pods on the node, such as DaemonSets tolerating every taint, may
	// hold addresses too).
	var running []corev1.Pod
	waiting := map[string]corev1.Event{}
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		list, err := admin.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=crowd"})
		if err != nil {
			return false, err
		}
		evs, err := admin.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "reason=FailedCreatePodSandBox"})
		if err != nil {
			return false, err
		}
		running, waiting = nil, map[string]corev1.Event{}
		for _, p := range list.Items {
			if p.Status.Phase == corev1.PodRunning {
				running = append(running, p)
				continue
			}
			for _, e := range evs.Items {
				if e.InvolvedObject.UID == p.UID {
					waiting[p.Name] = e
				}
			}
		}
		return len(waiting) > 0 && len(running)+len(waiting) == 11, nil
	})
	if err != nil {
		t.Fatalf("pods running %d, waiting with an event %d: %v", len(running), len(waiting), err)
	}
	for _, p := range running {
		if ip, err := netip.ParseAddr(p.Status.PodIP); err != nil || !small.Contains(ip) {
			t.Errorf("pod %s IP %q not in %s", p.Name, p.Status.PodIP, small)
		}
	}
	for name, e := range waiting {
		if e.Type != corev1.EventTypeWarning || e.Source.Component != "kubelet" || e.Source.Host != spec.Name ||
			!strings.Contains(e.Message, "failed to assign an IP address to container") {
			t.Errorf("pod %s: event %s %s from %+v: %s", name, e.Type, e.Reason, e.Source, e.Message)
		}
	}
	// Freeing as many addresses as pods wait lets them all run.
	for _, p := range running[:len(waiting)] {
		if err := admin.CoreV1().Pods("default").Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
			t.Fatal(err)
		}
	}
	waitPods(ctx, t, admin, "app=crowd", 11-len(waiting), func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
	if err := admin.CoreV1().Pods("default").DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}, metav1.ListOptions{LabelSelector: "app=crowd"}); err != nil {
		t.Fatal(err)
	}
}

// testFakeClock runs a second Cluster on a fake clock next to the first:
// its Lease renewals and its pods' run durations follow that clock.
func testFakeClock(ctx context.Context, t *testing.T, cp *cptest.ControlPlane, token string) {
	admin := kubernetes.NewForConfigOrDie(cp.Admin)
	clk := testingclock.NewFakeClock(time.Now())
	c, err := NewCluster(ClusterConfig{Server: cp.Admin.Host, CAData: cp.CAData, BootstrapToken: token, AdminConfig: cp.Admin, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- c.Start(runCtx) }()
	defer func() {
		stop()
		<-done
	}()
	spec := testNodeSpec("ng-fake", netip.MustParseAddr("10.0.64.10"), netip.MustParsePrefix("10.0.64.0/24"), 29, nil)
	if err := c.AddNode(ctx, spec); err != nil {
		t.Fatal(err)
	}
	first := renewTimes(ctx, t, admin, []NodeSpec{spec})[spec.Name]

	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "hour", Namespace: "default", Labels: map[string]string{"app": "hour"},
			Annotations: map[string]string{AnnotationRunDuration: "1h"}},
		Spec: corev1.PodSpec{
			NodeSelector:  map[string]string{corev1.LabelHostname: spec.Name},
			RestartPolicy: corev1.RestartPolicyNever,
			Containers:    []corev1.Container{{Name: "main", Image: "busybox"}},
		},
	}
	if _, err := admin.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPods(ctx, t, admin, "app=hour", 1, podReady)
	clk.Step(time.Hour)
	waitPods(ctx, t, admin, "app=hour", 1, func(p *corev1.Pod) bool {
		clk.Step(time.Second) // retries and renewals wait on this clock too
		return p.Status.Phase == corev1.PodSucceeded
	})
	if got := renewTimes(ctx, t, admin, []NodeSpec{spec})[spec.Name]; got.Sub(first) < time.Hour {
		t.Errorf("lease renewed at %s, want an hour after %s on the fake clock", got, first)
	}
	c.RemoveNode(spec.Name)
}

// testScale joins 200 nodes at once, then runs a Deployment over them, and
// logs how long that took and what it cost in memory.
func testScale(ctx context.Context, t *testing.T, c *Cluster, admin kubernetes.Interface) {
	// $BERTH_SIM_SCALE_NODES and $BERTH_SIM_SCALE_PODS change the sizes
	// for measurements by hand.
	nodes, replicas, bare := envInt("BERTH_SIM_SCALE_NODES", 200), envInt("BERTH_SIM_SCALE_PODS", 500), 1000
	const parallel = 50
	rssBefore, heapBefore := memory()
	subnet := netip.MustParsePrefix("10.0.32.0/19")
	specs := make([]NodeSpec, nodes)
	for i := range specs {
		ip := netip.AddrFrom4([4]byte{10, 0, 32 + byte((i+10)/256), byte((i + 10) % 256)})
		specs[i] = testNodeSpec("ng-scale", ip, subnet, 110, nil)
	}
	began := time.Now()
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for _, s := range specs {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := c.AddNode(ctx, s); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d joins failed, first: %v", len(errs), errs[0])
	}
	joined := time.Since(began)
	err := wait.PollUntilContextTimeout(ctx, pollInterval(nodes), 30*time.Second, true, func(ctx context.Context) (bool, error) {
		list, err := admin.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: "eks.amazonaws.com/nodegroup=ng-scale", ResourceVersion: "0"})
		if err != nil {
			return false, nil
		}
		ready := 0
		for i := range list.Items {
			if nodeReady(&list.Items[i]) {
				ready++
			}
		}
		return ready == nodes, nil
	})
	if err != nil {
		t.Fatalf("not every node Ready: %v", err)
	}
	allReady := time.Since(began)
	rssAfter, heapAfter := memory()
	t.Logf("%d nodes joined in %s (%s per node with %d joining at once), all Ready after %s",
		nodes, joined.Round(time.Millisecond), (joined / time.Duration(nodes)).Round(time.Microsecond), parallel, allReady.Round(time.Millisecond))
	t.Logf("test process: RSS %d MiB -> %d MiB, Go heap in use %d MiB -> %d MiB: about %d KiB RSS and %d KiB heap per node",
		rssBefore>>20, rssAfter>>20, heapBefore>>20, heapAfter>>20, (rssAfter-rssBefore)/uint64(nodes)>>10, (heapAfter-heapBefore)/uint64(nodes)>>10)

	dep := testDeployment("scale", int32(replicas))
	dep.Spec.Template.Spec.NodeSelector = map[string]string{"eks.amazonaws.com/nodegroup": "ng-scale"}
	dep.Spec.Template.Spec.InitContainers = nil
	began = time.Now()
	if _, err := admin.AppsV1().Deployments("default").Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pods := waitPods(ctx, t, admin, "app=scale", replicas, func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
	took := time.Since(began)
	t.Logf("%d pods Running in %s: %.0f pods/s (scheduling included)", replicas, took.Round(time.Millisecond), float64(replicas)/took.Seconds())
	logPhaseTimes(t, pods)
	ips := map[string]bool{}
	for _, p := range pods {
		ips[p.Status.PodIP] = true
	}
	if len(ips) != replicas {
		t.Errorf("%d distinct IPs among %d pods", len(ips), replicas)
	}
	rss, heap := memory()
	t.Logf("with %d nodes and %d pods: RSS %d MiB, Go heap in use %d MiB", nodes+3, replicas, rss>>20, heap>>20)

	// Pods created already bound, as kubelet's own throughput is measured:
	// no ReplicaSet controller or scheduler in the way.
	began = time.Now()
	var created sync.WaitGroup
	var createErrs, firstErr = 0, error(nil)
	for w := range parallel {
		created.Go(func() {
			for i := w; i < bare; i += parallel {
				pod := &corev1.Pod{
					ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("bare-%d", i), Namespace: "default", Labels: map[string]string{"app": "bare"}},
					Spec: corev1.PodSpec{
						NodeName:   specs[i%nodes].Name,
						Containers: []corev1.Container{{Name: "c", Image: "nginx:1.27"}},
					},
				}
				if _, err := admin.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
					mu.Lock()
					createErrs++
					firstErr = err
					mu.Unlock()
				}
			}
		})
	}
	created.Wait()
	if createErrs > 0 {
		t.Fatalf("%d pod creates failed, one: %v", createErrs, firstErr)
	}
	createdIn := time.Since(began)
	waitPods(ctx, t, admin, "app=bare", bare, func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
	took = time.Since(began)
	t.Logf("%d pre-bound pods created in %s, all Running after %s: %.0f pods/s", bare, createdIn.Round(time.Millisecond), took.Round(time.Millisecond), float64(bare)/took.Seconds())
}

// testNodeSpec is an m5.large of node group group at ip, with room for
// maxPods pods.
func testNodeSpec(group string, ip netip.Addr, subnet netip.Prefix, maxPods int64, taints []corev1.Taint) NodeSpec {
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:              resource.MustParse("2"),
		corev1.ResourceMemory:           resource.MustParse("8Gi"),
		corev1.ResourceEphemeralStorage: resource.MustParse("20Gi"),
		corev1.ResourcePods:             *resource.NewQuantity(maxPods, resource.DecimalSI),
	}
	allocatable := capacity.DeepCopy()
	allocatable[corev1.ResourceCPU] = resource.MustParse("1930m")
	allocatable[corev1.ResourceMemory] = resource.MustParse("7Gi")
	b := ip.As4()
	return NodeSpec{
		Name:        "ip-" + strings.ReplaceAll(ip.String(), ".", "-") + ".ec2.internal",
		ProviderID:  fmt.Sprintf("aws:///us-east-1a/i-%017x", uint32(b[0])<<24|uint32(b[1])<<16|uint32(b[2])<<8|uint32(b[3])),
		InternalIP:  ip,
		Subnet:      subnet,
		Capacity:    capacity,
		Allocatable: allocatable,
		Labels: map[string]string{
			"eks.amazonaws.com/nodegroup":      group,
			"eks.amazonaws.com/capacityType":   "ON_DEMAND",
			"node.kubernetes.io/instance-type": "m5.large",
			"topology.kubernetes.io/region":    "us-east-1",
			"topology.kubernetes.io/zone":      "us-east-1a",
		},
		Taints: taints,
	}
}

func testDeployment(name string, replicas int32) *appsv1.Deployment {
	lbl := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: lbl},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbl},
				Spec: corev1.PodSpec{
					InitContainers: []corev1.Container{{Name: "setup", Image: "busybox:1.36"}},
					Containers: []corev1.Container{{
						Name: "web", Image: "nginx:1.27",
						Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m")}},
					}},
					TerminationGracePeriodSeconds: ptr.To(int64(30)),
				},
			},
		},
	}
}

func waitPods(ctx context.Context, t *testing.T, client kubernetes.Interface, selector string, n int, ok func(*corev1.Pod) bool) []corev1.Pod {
	t.Helper()
	return waitPodsIn(ctx, t, client, "default", selector, n, ok)
}

// pollInterval is how often to list n objects: rarely when n is large,
// so that the test does not load the API server it measures.
func pollInterval(n int) time.Duration {
	if n > 100 {
		return time.Second
	}
	return 100 * time.Millisecond
}

// waitPodsIn waits until exactly n pods match selector and ok.
func waitPodsIn(ctx context.Context, t *testing.T, client kubernetes.Interface, ns, selector string, n int, ok func(*corev1.Pod) bool) []corev1.Pod {
	t.Helper()
	if _, err := labels.Parse(selector); err != nil {
		t.Fatal(err)
	}
	var pods []corev1.Pod
	var last string
	err := wait.PollUntilContextTimeout(ctx, pollInterval(n), 90*time.Second, true, func(ctx context.Context) (bool, error) {
		list, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector, ResourceVersion: "0"})
		if err != nil {
			return false, nil
		}
		pods = list.Items
		good := 0
		phases := map[corev1.PodPhase]int{}
		for i := range pods {
			phases[pods[i].Status.Phase]++
			if ok == nil || ok(&pods[i]) {
				good++
			}
		}
		last = fmt.Sprintf("%d pods, %d as wanted, phases %v", len(pods), good, phases)
		return len(pods) == n && good == n, nil
	})
	if err != nil {
		t.Fatalf("waiting for %d pods %s: %v (last: %s)", n, selector, err, last)
	}
	return pods
}

func renewTimes(ctx context.Context, t *testing.T, client kubernetes.Interface, specs []NodeSpec) map[string]time.Time {
	t.Helper()
	times := map[string]time.Time{}
	for _, s := range specs {
		l, err := client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, s.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		times[s.Name] = l.Spec.RenewTime.Time
	}
	return times
}

func nodeReady(n *corev1.Node) bool { return readyStatus(n) == corev1.ConditionTrue }

func readyStatus(n *corev1.Node) corev1.ConditionStatus {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status
		}
	}
	return corev1.ConditionUnknown
}

func podReady(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodRunning && condition(&p.Status, corev1.PodReady) == corev1.ConditionTrue
}

// memory returns the process's resident set size and the Go heap in use
// after a collection, in bytes.
func memory() (rss, heap uint64) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b, err := os.ReadFile("/proc/self/status")
	if err == nil {
		for line := range strings.Lines(string(b)) {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
				kb, _ := strconv.ParseUint(f[1], 10, 64)
				rss = kb << 10
			}
		}
	}
	return rss, ms.HeapInuse
}

// testLogLevel is Debug when $BERTH_SIM_DEBUG is set.
func testLogLevel() slog.Level {
	if os.Getenv("BERTH_SIM_DEBUG") != "" {
		return slog.LevelDebug
	}
	return slog.LevelInfo
}

// logPhaseTimes logs when the last of pods was created, scheduled and
// ready, relative to the first creation (second precision, from the API).
func logPhaseTimes(t *testing.T, pods []corev1.Pod) {
	var first, created, scheduled, ready time.Time
	var lagSched, lagReady time.Duration
	for _, p := range pods {
		c := p.CreationTimestamp.Time
		if first.IsZero() || c.Before(first) {
			first = c
		}
		created = later(created, c)
		for _, cond := range p.Status.Conditions {
			switch cond.Type {
			case corev1.PodScheduled:
				scheduled = later(scheduled, cond.LastTransitionTime.Time)
				lagSched = max(lagSched, cond.LastTransitionTime.Sub(c))
			case corev1.PodReady:
				ready = later(ready, cond.LastTransitionTime.Time)
				for _, c2 := range p.Status.Conditions {
					if c2.Type == corev1.PodScheduled {
						lagReady = max(lagReady, cond.LastTransitionTime.Sub(c2.LastTransitionTime.Time))
					}
				}
			}
		}
	}
	t.Logf("last pod created +%s, scheduled +%s, ready +%s; longest create->scheduled %s, scheduled->ready %s",
		created.Sub(first), scheduled.Sub(first), ready.Sub(first), lagSched, lagReady)
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// cpuTime is the user and system CPU time process pid has used, from
// /proc (clock ticks of 10 ms, as on Linux with USER_HZ 100).
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command, which is in parentheses and may hold spaces.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}
