// Package instancetypes is berth's EC2 instance type catalog, kept as data.
//
// The table (table.go) holds what EC2's DescribeInstanceTypes and the EKS
// AMI need per type; the methods derive what a kubelet on an EKS-optimized
// AMI (AL2023, nodeadm) would configure for it: max pods, kube-reserved and
// allocatable resources.
package instancetypes

import (
	"slices"
	"strings"
)

// Architecture is an EC2 processor architecture, as EC2 spells it.
type Architecture string

// The architectures of the catalog.
const (
	X8664 Architecture = "x86_64"
	Arm64 Architecture = "arm64"
)

// Usage classes, as EC2 spells them.
const (
	UsageClassOnDemand = "on-demand"
	UsageClassSpot     = "spot"
)

// DefaultDiskGiB is the root volume size of an EKS managed node group when
// the request names none.
const DefaultDiskGiB = 20

// EvictionMemoryMiB is the kubelet's memory.available hard eviction
// threshold on the EKS AMI (100Mi).
const EvictionMemoryMiB = 100

// KubeReservedEphemeralGiB is the ephemeral-storage the EKS AMI reserves
// for Kubernetes daemons (kubeReserved ephemeral-storage: 1Gi).
const KubeReservedEphemeralGiB = 1

// EvictionNodefsPercent is the kubelet's nodefs.available hard eviction
// threshold on the EKS AMI (10%).
const EvictionNodefsPercent = 10

// Type is one EC2 instance type.
type Type struct {
	Name         string // m5.large
	VCPUs        int
	MemoryMiB    int64
	Architecture Architecture
	// MaxENIs is the number of network interfaces on the default network
	// card, IPv4PerENI the IPv4 addresses each of them takes (primary
	// included).
	MaxENIs    int
	IPv4PerENI int
	// OnDemandPrice and SpotPrice are USD per hour, Linux, us-east-1.
	OnDemandPrice      float64
	SpotPrice          float64
	CurrentGeneration  bool
	Burstable          bool
	NetworkPerformance string // "Up to 10 Gigabit"
	// Hypervisor is "nitro", or empty for bare metal sizes, as EC2 reports.
	Hypervisor   string
	BareMetal    bool
	UsageClasses []string
}

// Family returns the part of the name before the dot: m5 for m5.large.
func (t Type) Family() string {
	family, _, _ := strings.Cut(t.Name, ".")
	return family
}

// Size returns the part of the name after the dot: large for m5.large.
func (t Type) Size() string {
	_, size, _ := strings.Cut(t.Name, ".")
	return size
}

// MaxPods is the kubelet's maxPods on the EKS AMI without prefix
// delegation: ENIs × (IPv4 addresses per ENI − 1) + 2. Each ENI's primary
// address is not given to pods; the two are the host-network pods (aws-node
// and kube-proxy). This is the AMI's default (nodeadm's CalcMaxPods, the
// AL2 eni-max-pods.txt): no cap, so c5.18xlarge gets 737. For the capped
// figure managed node groups use, see RecommendedMaxPods.
func (t Type) MaxPods() int {
	return t.MaxENIs*(t.IPv4PerENI-1) + 2
}

// RecommendedMaxPods is MaxPods capped as the EKS AMI's
// max-pods-calculator.sh caps it, with or without prefix delegation: at
// 110 for types with 30 vCPUs or fewer and at 250 above. EKS managed node
// groups apply this ceiling; self-managed nodes booted with the AMI's
// defaults do not.
func (t Type) RecommendedMaxPods() int {
	ceiling := 110
	if t.VCPUs > 30 {
		ceiling = 250
	}
	return min(t.MaxPods(), ceiling)
}

// KubeReserved returns the kubeReserved cpu and memory the EKS AMI sets:
// cpu is 6% of the first core, 1% of the second, 0.5% of the third and
// fourth and 0.25% of the rest, each range rounded down in millicores;
// memory is 11 MiB per pod of MaxPods (nodeadm uses its default max pods
// here, whatever maxPods the kubelet ends up with) plus 255 MiB.
func (t Type) KubeReserved() (cpuMilli, memoryMiB int64) {
	total := int64(t.VCPUs) * 1000
	ranges := []struct{ from, to, basisPoints int64 }{
		{0, 1000, 600},
		{1000, 2000, 100},
		{2000, 4000, 50},
		{4000, total, 25},
	}
	for _, r := range ranges {
		if total <= r.from {
			continue
		}
		cpuMilli += (min(total, r.to) - r.from) * r.basisPoints / 10000
	}
	return cpuMilli, 11*int64(t.MaxPods()) + 255
}

// Resources are node capacity or allocatable figures.
type Resources struct {
	CPUMilli         int64
	MemoryMiB        int64
	Pods             int
	EphemeralStorage int64 // bytes
}

// Capacity is what the node reports as capacity with a root disk of
// diskGiB (DefaultDiskGiB when zero or less). Memory is the nominal EC2
// figure; a real node reports a little less, the kernel's share.
func (t Type) Capacity(diskGiB int) Resources {
	if diskGiB <= 0 {
		diskGiB = DefaultDiskGiB
	}
	return Resources{
		CPUMilli:         int64(t.VCPUs) * 1000,
		MemoryMiB:        t.MemoryMiB,
		Pods:             t.MaxPods(),
		EphemeralStorage: int64(diskGiB) << 30,
	}
}

// Allocatable is capacity minus kubeReserved minus the hard eviction
// thresholds, as the kubelet computes it with the EKS AMI's configuration
// (no systemReserved):
//
//	cpu               = vCPUs − kubeReserved cpu
//	memory            = memory − kubeReserved memory − 100Mi (memory.available)
//	pods              = MaxPods
//	ephemeral-storage = disk − 1Gi (kubeReserved) − 10% of disk (nodefs.available)
//
// For a 20 GiB disk ephemeral-storage is 17 GiB. A caller that caps pods
// (RecommendedMaxPods) sets Pods itself.
func (t Type) Allocatable(diskGiB int) Resources {
	c := t.Capacity(diskGiB)
	cpu, mem := t.KubeReserved()
	c.CPUMilli -= cpu
	c.MemoryMiB -= mem + EvictionMemoryMiB
	c.EphemeralStorage -= KubeReservedEphemeralGiB<<30 + c.EphemeralStorage*EvictionNodefsPercent/100
	return c
}

// Lookup returns the type with the given name.
func Lookup(name string) (Type, bool) {
	i := slices.IndexFunc(table, func(r row) bool { return r.name == name })
	if i < 0 {
		return Type{}, false
	}
	return table[i].typ(), true
}

// All returns every type of the catalog, ordered by family and size. The
// slice is the caller's.
func All() []Type {
	out := make([]Type, len(table))
	for i, r := range table {
		out[i] = r.typ()
	}
	return out
}

// row is one line of the table.
type row struct {
	name       string
	vcpus      int
	memoryMiB  int64
	arch       Architecture
	enis, ipv4 int
	onDemand   float64
	spot       float64
	network    string
	bareMetal  bool
}

const (
	x8664 = X8664
	arm64 = Arm64
)

func (r row) typ() Type {
	t := Type{
		Name:               r.name,
		VCPUs:              r.vcpus,
		MemoryMiB:          r.memoryMiB,
		Architecture:       r.arch,
		MaxENIs:            r.enis,
		IPv4PerENI:         r.ipv4,
		OnDemandPrice:      r.onDemand,
		SpotPrice:          r.spot,
		CurrentGeneration:  true,
		NetworkPerformance: r.network,
		Hypervisor:         "nitro",
		BareMetal:          r.bareMetal,
		UsageClasses:       []string{UsageClassOnDemand, UsageClassSpot},
	}
	switch t.Family() {
	case "t3", "t4g":
		t.Burstable = true
	}
	if r.bareMetal {
		t.Hypervisor = ""
	}
	return t
}
