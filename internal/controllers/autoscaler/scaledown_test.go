package autoscaler

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func node(name, cpu string, labels map[string]string) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Status: corev1.NodeStatus{
			Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse("8Gi"), corev1.ResourcePods: resource.MustParse("29")},
			Conditions:  []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
		},
	}
}

func owned(kind string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.OwnerReferences = []metav1.OwnerReference{{Kind: kind, Name: "x", Controller: ptr.To(true)}}
	}
}

func on(n string, p pending) *corev1.Pod { p.pod.Spec.NodeName = n; return p.pod }

func TestUtilizationIgnoresDaemonSets(t *testing.T) {
	n := node("a", "2", nil)
	pods := []*corev1.Pod{on("a", pod("web", "500m", "1Gi", owned("ReplicaSet"))), on("a", pod("ds", "1", "1Gi", owned("DaemonSet")))}
	if u := utilization(n, pods); u != 0.25 {
		t.Errorf("utilization %v, want 0.25 (CPU share, DaemonSet pod left out)", u)
	}
}

func TestBlocker(t *testing.T) {
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		want string
	}{
		{"replicated", pod("a", "1", "1Gi", owned("ReplicaSet")).pod, ""},
		{"bare pod", pod("a", "1", "1Gi").pod, "not replicated"},
		{"safe-to-evict false", pod("a", "1", "1Gi", owned("ReplicaSet"), func(p *corev1.Pod) {
			p.Annotations = map[string]string{safeToEvict: "false"}
		}).pod, "safe-to-evict=false"},
		{"safe-to-evict true wins", pod("a", "1", "1Gi", func(p *corev1.Pod) {
			p.Annotations = map[string]string{safeToEvict: "true"}
			p.Spec.Volumes = []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
		}).pod, ""},
		{"local storage", pod("a", "1", "1Gi", owned("ReplicaSet"), func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
		}).pod, "local storage"},
		{"memory emptyDir is fine", pod("a", "1", "1Gi", owned("ReplicaSet"), func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}}}
		}).pod, ""},
		{"kube-system", pod("a", "1", "1Gi", owned("ReplicaSet"), func(p *corev1.Pod) { p.Namespace = "kube-system" }).pod, "kube-system"},
		{"daemonset pods do not block", pod("a", "1", "1Gi", owned("DaemonSet")).pod, ""},
	} {
		got := blocker([]*corev1.Pod{tc.pod})
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestFitsElsewhere(t *testing.T) {
	a, b := node("a", "2", nil), node("b", "2", nil)
	podsOn := map[string][]*corev1.Pod{
		"a": {on("a", pod("x", "900m", "1Gi", owned("ReplicaSet")))},
		"b": {on("b", pod("y", "900m", "1Gi", owned("ReplicaSet")))},
	}
	if !fitsElsewhere(a, podsOn, []*corev1.Node{a, b}) {
		t.Error("a's pod should fit on b")
	}
	podsOn["b"] = append(podsOn["b"], on("b", pod("z", "900m", "1Gi", owned("ReplicaSet"))))
	if fitsElsewhere(a, podsOn, []*corev1.Node{a, b}) {
		t.Error("a's pod fits nowhere once b is full")
	}
	// A cordoned node takes nothing.
	c := node("c", "4", nil)
	c.Spec.Unschedulable = true
	if fitsElsewhere(a, podsOn, []*corev1.Node{a, b, c}) {
		t.Error("a cordoned node took a pod")
	}
}
