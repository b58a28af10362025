package fargate

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func ctr(cpu, mem string) corev1.Container {
	c := corev1.Container{Name: "c", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{}}}
	if cpu != "" {
		c.Resources.Requests[corev1.ResourceCPU] = resource.MustParse(cpu)
	}
	if mem != "" {
		c.Resources.Requests[corev1.ResourceMemory] = resource.MustParse(mem)
	}
	return c
}

func TestPodSize(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	sidecar := ctr("500m", "1Gi")
	sidecar.RestartPolicy = &always
	for _, tc := range []struct {
		name       string
		containers []corev1.Container
		inits      []corev1.Container
		want       string
	}{
		{"nothing requested", []corev1.Container{ctr("", "")}, nil, "0.25vCPU 0.5GB"},
		{"256 MB overhead fits 0.5 GB", []corev1.Container{ctr("100m", "256Mi")}, nil, "0.25vCPU 0.5GB"},
		{"overhead pushes past 0.5 GB", []corev1.Container{ctr("100m", "257Mi")}, nil, "0.25vCPU 1GB"},
		{"exactly 0.25 vCPU", []corev1.Container{ctr("250m", "")}, nil, "0.25vCPU 0.5GB"},
		{"just over 0.25 vCPU", []corev1.Container{ctr("251m", "")}, nil, "0.5vCPU 1GB"},
		{"memory beyond the tier moves up a vCPU", []corev1.Container{ctr("250m", "2Gi")}, nil, "0.5vCPU 3GB"},
		{"sum of containers", []corev1.Container{ctr("500m", "1Gi"), ctr("500m", "1Gi")}, nil, "1vCPU 3GB"},
		{"largest init container wins", []corev1.Container{ctr("250m", "")}, []corev1.Container{ctr("2", "")}, "2vCPU 4GB"},
		{"init smaller than the sum", []corev1.Container{ctr("1", "1Gi"), ctr("1", "1Gi")}, []corev1.Container{ctr("1", "1Gi")}, "2vCPU 4GB"},
		{"sidecars add up", []corev1.Container{ctr("500m", "1Gi")}, []corev1.Container{sidecar}, "1vCPU 3GB"},
		{"4 vCPU 1 GB steps", []corev1.Container{ctr("4", "20Gi")}, nil, "4vCPU 21GB"},
		{"8 vCPU 4 GB steps", []corev1.Container{ctr("8", "17Gi")}, nil, "8vCPU 20GB"},
		{"16 vCPU 8 GB steps", []corev1.Container{ctr("16", "33Gi")}, nil, "16vCPU 40GB"},
		{"largest", []corev1.Container{ctr("16", "119Gi")}, nil, "16vCPU 120GB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: tc.containers, InitContainers: tc.inits}}
			got, err := podSize(pod)
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
	for _, tc := range [][]corev1.Container{{ctr("17", "")}, {ctr("1", "120Gi")}} {
		if got, err := podSize(&corev1.Pod{Spec: corev1.PodSpec{Containers: tc}}); err == nil {
			t.Errorf("no error for a pod beyond Fargate's largest size; got %s", got)
		}
	}
}
