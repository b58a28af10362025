package fargate

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestUnsupported(t *testing.T) {
	base := func(mut func(p *corev1.Pod)) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "apps"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}}}}
		mut(p)
		return p
	}
	ebsClaims := func(_, claim string) string {
		switch claim {
		case "ebs-claim":
			return "EBS"
		case "fsx-claim":
			return "FSx for Lustre"
		}
		return ""
	}
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		want string // "" when supported
	}{
		{"plain", base(func(*corev1.Pod) {}), ""},
		{"privileged", base(func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
		}), "invalid SecurityContext fields: Privileged"},
		{"privileged init container", base(func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "i", SecurityContext: &corev1.SecurityContext{Privileged: ptr.To(true)}}}
		}), "Privileged"},
		{"SYS_PTRACE is allowed", base(func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"SYS_PTRACE"}}}
		}), ""},
		{"other capabilities are not", base(func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_ADMIN"}}}
		}), "Capabilities.Add"},
		{"hostNetwork", base(func(p *corev1.Pod) { p.Spec.HostNetwork = true }), "fields not supported: HostNetwork"},
		{"hostPort", base(func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: 8080}}
		}), "port contains HostIP or HostPort"},
		{"gpu", base(func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Limits = corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("1")}
		}), "resources not supported: nvidia.com/gpu"},
		{"ebs csi volume", base(func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{CSI: &corev1.CSIVolumeSource{Driver: "ebs.csi.aws.com"}}}}
		}), "volumes not supported: v (EBS)"},
		{"ebs claim", base(func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "ebs-claim"}}}}
		}), "data (EBS)"},
		{"fsx claim", base(func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "scratch", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "fsx-claim"}}}}
		}), "scratch (FSx for Lustre)"},
		{"efs claim", base(func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "shared", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "efs-claim"}}}}
		}), ""},
		{"efs claim is fine", base(func(p *corev1.Pod) {
			p.Spec.Volumes = []corev1.Volume{{Name: "shared", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "efs-claim"}}}}
		}), ""},
		{"daemonset", base(func(p *corev1.Pod) {
			p.OwnerReferences = []metav1.OwnerReference{{Kind: "DaemonSet", Name: "d", Controller: ptr.To(true)}}
		}), "DaemonSet pods are not supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := unsupported(tc.pod, ebsClaims)
			switch {
			case tc.want == "" && got != "":
				t.Errorf("refused: %s", got)
			case tc.want != "" && (!strings.Contains(got, tc.want) || !strings.HasPrefix(got, "Pod not supported on Fargate: ")):
				t.Errorf("got %q, want it to contain %q", got, tc.want)
			}
		})
	}
}
