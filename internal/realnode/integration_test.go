package realnode

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/berthproject/berth/internal/compute/sim"
	"github.com/berthproject/berth/internal/controlplane/cptest"
)

// TestHelperControlPlaneProcess is not a test: it is the control-plane
// process of the integration test (cptest.Start re-executes this test
// binary into it).
func TestHelperControlPlaneProcess(t *testing.T) { cptest.HelperProcess(t) }

// TestHelperKubeletProcess is not a test: it is the kubelet of the
// integration test's node, the test binary re-executed with kubelet's
// flags after "--".
func TestHelperKubeletProcess(t *testing.T) {
	if os.Getenv("BERTH_TEST_KUBELET") != "1" {
		t.Skip("the kubelet helper process")
	}
	i := 0
	for i < len(os.Args) && os.Args[i] != "--" {
		i++
	}
	if i == len(os.Args) {
		fmt.Fprintln(os.Stderr, "no -- before kubelet's flags")
		os.Exit(2)
	}
	os.Exit(RunKubelet(context.Background(), os.Args[i+1:]))
}

// TestRealNode starts a real node (containerd and the upstream kubelet
// in a network namespace) against a real control plane: it joins by TLS
// bootstrapping, goes Ready, and runs a pod with an address from its pod
// range.
func TestRealNode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane, containerd and kubelet")
	}
	tools, err := Check()
	if err != nil {
		t.Skipf("this machine cannot run real nodes: %v", err)
	}
	os.Setenv("BERTH_TEST_KUBELET", "1")
	cp := cptest.Start(t, "real-it")
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	admin := kubernetes.NewForConfigOrDie(cp.Admin)
	if err := sim.EnsureBootstrapRBAC(ctx, admin); err != nil {
		t.Fatal(err)
	}
	token, err := sim.CreateBootstrapToken(ctx, admin, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "rn")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	name := "ip-10-250-0-10.ec2.internal"
	n, err := Start(ctx, Config{
		Name: name, ID: "i-0123456789abcdef0",
		Dir: filepath.Join(dir, "node"), SocketDir: filepath.Join(dir, "s"),
		IP: netip.MustParsePrefix("10.250.0.10/24"), PodCIDR: netip.MustParsePrefix("10.251.0.0/24"),
		Server: cp.Admin.Host, CAData: cp.CAData, BootstrapToken: token,
		ProviderID: "aws:///us-east-1a/i-0123456789abcdef0",
		Labels:     map[string]string{"eks.amazonaws.com/nodegroup": "real"},
		MaxPods:    17, ClusterDNS: "10.100.0.10",
		CPUMilli: 1000, MemoryBytes: 2 << 30, AllocatableCPUMilli: 900, AllocatableMemory: 1536 << 20,
		Kubelet: []string{os.Args[0], "-test.run=^TestHelperKubeletProcess$", "--"},
		Tools:   tools,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		n.Stop()
		if t.Failed() {
			for _, f := range []string{"kubelet.log", "containerd.log"} {
				raw, _ := os.ReadFile(filepath.Join(dir, "node", f))
				lines := strings.Split(string(raw), "\n")
				t.Logf("%s (last lines):\n%s", f, strings.Join(lines[max(0, len(lines)-40):], "\n"))
			}
		}
	}()
	err = wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		node, err := admin.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		for _, c := range node.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("node %s not Ready: %v", name, err)
	}
	node, _ := admin.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if node.Spec.ProviderID != "aws:///us-east-1a/i-0123456789abcdef0" || node.Labels["eks.amazonaws.com/nodegroup"] != "real" {
		t.Errorf("node %+v %v", node.Spec, node.Labels)
	}
	// It schedules as its instance type (where the host is larger) and its
	// cgroup holds it to the type's size.
	if runtime.NumCPU() > 1 {
		if got := node.Status.Allocatable.Cpu().MilliValue(); got != 900 {
			t.Errorf("allocatable cpu %dm, want 900m", got)
		}
	}
	if got := node.Status.Allocatable.Memory().Value(); got != 1536<<20 {
		t.Errorf("allocatable memory %d, want %d", got, 1536<<20)
	}
	if raw, err := os.ReadFile("/sys/fs/cgroup/memory/berth/i-0123456789abcdef0/memory.limit_in_bytes"); err != nil || strings.TrimSpace(string(raw)) != strconv.Itoa(2<<30) {
		t.Errorf("memory limit %q %v", raw, err)
	}

	if _, err := admin.CoreV1().Pods("default").Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p"},
		Spec: corev1.PodSpec{NodeName: name, Containers: []corev1.Container{{
			Name: "c", Image: PauseImage, ImagePullPolicy: corev1.PullNever}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var pod *corev1.Pod
	err = wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		pod, err = admin.CoreV1().Pods("default").Get(ctx, "p", metav1.GetOptions{})
		return err == nil && pod.Status.Phase == corev1.PodRunning, nil
	})
	if err != nil {
		t.Fatalf("pod not Running: %v (%+v)", err, pod.Status)
	}
	if ip, err := netip.ParseAddr(pod.Status.PodIP); err != nil || !netip.MustParsePrefix("10.251.0.0/24").Contains(ip) {
		t.Errorf("pod IP %q not in the node's pod range", pod.Status.PodIP)
	}

	// Stopped, the node leaves nothing running or mounted behind.
	n.Stop()
	if _, err := os.Stat("/run/netns/berth-i-0123456789abcdef0"); err == nil {
		t.Error("the node's network namespace is still there")
	}
	if _, err := os.Stat("/sys/fs/cgroup/memory/berth/i-0123456789abcdef0"); err == nil {
		t.Error("the node's cgroup is still there")
	}
	if raw, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(raw), dir) {
		t.Error("mounts below the node's directory are still there")
	}
}
