package fargate

import (
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Size is a Fargate vCPU and memory combination.
type Size struct {
	MilliCPU  int64
	MemoryMiB int64
}

// String is the CapacityProvisioned annotation's form: "0.25vCPU 0.5GB".
func (s Size) String() string {
	return strconv.FormatFloat(float64(s.MilliCPU)/1000, 'f', -1, 64) + "vCPU " +
		strconv.FormatFloat(float64(s.MemoryMiB)/1024, 'f', -1, 64) + "GB"
}

// tier is one vCPU value and the memory sizes Fargate offers with it.
type tier struct {
	milliCPU           int64
	minGiB, maxGiB     float64
	stepGiB            float64
	extraSmallMemories []float64 // offered below minGiB (0.25 vCPU: 0.5 GB)
}

// tiers are the vCPU and memory combinations of Fargate pods on EKS
// (docs.aws.amazon.com/eks/latest/userguide/fargate-pod-configuration.html).
var tiers = []tier{
	{milliCPU: 250, minGiB: 1, maxGiB: 2, stepGiB: 1, extraSmallMemories: []float64{0.5}},
	{milliCPU: 500, minGiB: 1, maxGiB: 4, stepGiB: 1},
	{milliCPU: 1000, minGiB: 2, maxGiB: 8, stepGiB: 1},
	{milliCPU: 2000, minGiB: 4, maxGiB: 16, stepGiB: 1},
	{milliCPU: 4000, minGiB: 8, maxGiB: 30, stepGiB: 1},
	{milliCPU: 8000, minGiB: 16, maxGiB: 60, stepGiB: 4},
	{milliCPU: 16000, minGiB: 32, maxGiB: 120, stepGiB: 8},
}

// kubernetesOverheadMiB is what Fargate adds to a pod's memory for the
// Kubernetes components on its node (kubelet, kube-proxy, containerd).
const kubernetesOverheadMiB = 256

// Sizing of a pod: the larger of the sum of its long-running containers'
// requests (restartable init containers, sidecars, count with them) and the
// largest request of one init container, plus 256 MB of memory, rounded up
// to the next combination Fargate offers. A pod that asks for nothing gets
// the smallest, 0.25 vCPU and 0.5 GB.
func podSize(pod *corev1.Pod) (Size, error) {
	var cpu, mem resource.Quantity
	for _, c := range pod.Spec.Containers {
		cpu.Add(request(c, corev1.ResourceCPU))
		mem.Add(request(c, corev1.ResourceMemory))
	}
	for _, c := range pod.Spec.InitContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			cpu.Add(request(c, corev1.ResourceCPU))
			mem.Add(request(c, corev1.ResourceMemory))
		}
	}
	for _, c := range pod.Spec.InitContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			continue
		}
		if r := request(c, corev1.ResourceCPU); r.Cmp(cpu) > 0 {
			cpu = r
		}
		if r := request(c, corev1.ResourceMemory); r.Cmp(mem) > 0 {
			mem = r
		}
	}
	milli := cpu.MilliValue()
	mib := (mem.Value()+(1<<20)-1)>>20 + kubernetesOverheadMiB
	return roundUp(milli, mib)
}

// request is a container's request, or its limit when it only has one
// (the API server defaults requests to limits, so this is for pods that
// did not go through it).
func request(c corev1.Container, name corev1.ResourceName) resource.Quantity {
	if q, ok := c.Resources.Requests[name]; ok {
		return q
	}
	if q, ok := c.Resources.Limits[name]; ok {
		return q
	}
	return resource.Quantity{}
}

// roundUp returns the smallest combination with at least milliCPU and
// memMiB.
func roundUp(milliCPU, memMiB int64) (Size, error) {
	for _, t := range tiers {
		if t.milliCPU < milliCPU {
			continue
		}
		for _, g := range t.extraSmallMemories {
			if m := int64(g * 1024); m >= memMiB {
				return Size{MilliCPU: t.milliCPU, MemoryMiB: m}, nil
			}
		}
		for g := t.minGiB; g <= t.maxGiB; g += t.stepGiB {
			if m := int64(g * 1024); m >= memMiB {
				return Size{MilliCPU: t.milliCPU, MemoryMiB: m}, nil
			}
		}
	}
	last := tiers[len(tiers)-1]
	return Size{}, fmt.Errorf("the pod needs %s vCPU and %s GB with Kubernetes' overhead, more than Fargate's largest size (%g vCPU, %g GB)",
		strconv.FormatFloat(float64(milliCPU)/1000, 'f', -1, 64), strconv.FormatFloat(float64(memMiB)/1024, 'f', -1, 64),
		float64(last.milliCPU)/1000, last.maxGiB)
}
