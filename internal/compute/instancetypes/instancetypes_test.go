package instancetypes

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
)

func TestKnownFigures(t *testing.T) {
	tests := []struct {
		name        string
		vcpus       int
		memoryMiB   int64
		arch        Architecture
		enis, ipv4  int
		maxPods     int
		reservedCPU int64
		reservedMem int64
		burstable   bool
	}{
		{"m5.large", 2, 8192, X8664, 3, 10, 29, 70, 574, false},
		{"t3.medium", 2, 4096, X8664, 3, 6, 17, 70, 442, true},
		{"t3.nano", 2, 512, X8664, 2, 2, 4, 70, 299, true},
		{"t4g.large", 2, 8192, Arm64, 3, 12, 35, 70, 640, true},
		{"c5.18xlarge", 72, 147456, X8664, 15, 50, 737, 250, 8362, false},
		{"c7g.medium", 1, 2048, Arm64, 2, 4, 8, 60, 343, false},
		{"m5.xlarge", 4, 16384, X8664, 4, 15, 58, 80, 893, false},
		{"m6i.32xlarge", 128, 524288, X8664, 15, 50, 737, 390, 8362, false},
		{"r6i.metal", 128, 1048576, X8664, 15, 50, 737, 390, 8362, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			typ, ok := Lookup(tt.name)
			if !ok {
				t.Fatalf("Lookup(%q) found nothing", tt.name)
			}
			if typ.VCPUs != tt.vcpus || typ.MemoryMiB != tt.memoryMiB || typ.Architecture != tt.arch {
				t.Errorf("vcpus, memory, arch = %d, %d, %s; want %d, %d, %s",
					typ.VCPUs, typ.MemoryMiB, typ.Architecture, tt.vcpus, tt.memoryMiB, tt.arch)
			}
			if typ.MaxENIs != tt.enis || typ.IPv4PerENI != tt.ipv4 {
				t.Errorf("ENIs × IPs = %d × %d, want %d × %d", typ.MaxENIs, typ.IPv4PerENI, tt.enis, tt.ipv4)
			}
			if got := typ.MaxPods(); got != tt.maxPods {
				t.Errorf("MaxPods = %d, want %d", got, tt.maxPods)
			}
			cpu, mem := typ.KubeReserved()
			if cpu != tt.reservedCPU || mem != tt.reservedMem {
				t.Errorf("KubeReserved = %dm, %dMi; want %dm, %dMi", cpu, mem, tt.reservedCPU, tt.reservedMem)
			}
			if typ.Burstable != tt.burstable {
				t.Errorf("Burstable = %v", typ.Burstable)
			}
		})
	}
}

func TestRecommendedMaxPods(t *testing.T) {
	for name, want := range map[string]int{
		"m5.large":     29,  // under the ceiling
		"t3.medium":    17,  // under the ceiling
		"m5.8xlarge":   234, // 32 vCPUs: the 250 ceiling, above 234
		"c5.4xlarge":   110, // 16 vCPUs, 234 pods
		"c5.18xlarge":  250, // 72 vCPUs, 737 pods
		"m6i.32xlarge": 250,
	} {
		t.Run(name, func(t *testing.T) {
			typ, ok := Lookup(name)
			if !ok {
				t.Fatal("not found")
			}
			if got := typ.RecommendedMaxPods(); got != want {
				t.Errorf("RecommendedMaxPods = %d, want %d (MaxPods %d, %d vCPUs)", got, want, typ.MaxPods(), typ.VCPUs)
			}
		})
	}
}

func TestAllocatable(t *testing.T) {
	m5, _ := Lookup("m5.large")
	tests := []struct {
		name    string
		diskGiB int
		want    Resources
	}{
		{"default disk", 0, Resources{CPUMilli: 1930, MemoryMiB: 8192 - 574 - 100, Pods: 29, EphemeralStorage: 17 << 30}},
		{"20 GiB", 20, Resources{CPUMilli: 1930, MemoryMiB: 7518, Pods: 29, EphemeralStorage: 17 << 30}},
		{"100 GiB", 100, Resources{CPUMilli: 1930, MemoryMiB: 7518, Pods: 29, EphemeralStorage: 89 << 30}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := m5.Allocatable(tt.diskGiB); got != tt.want {
				t.Errorf("Allocatable(%d) = %+v, want %+v", tt.diskGiB, got, tt.want)
			}
		})
	}
	if got := m5.Capacity(0); got.CPUMilli != 2000 || got.EphemeralStorage != 20<<30 {
		t.Errorf("Capacity(0) = %+v", got)
	}
}

// TestMaxPodsMatchesEKSAMI checks the formula against the EKS AMI's own
// eni-max-pods.txt for every type of the catalog.
func TestMaxPodsMatchesEKSAMI(t *testing.T) {
	f, err := os.Open("testdata/eni-max-pods.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, n, _ := strings.Cut(line, " ")
		pods, err := strconv.Atoi(n)
		if err != nil {
			t.Fatalf("bad line %q", line)
		}
		want[name] = pods
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	all := All()
	if len(all) != len(want) {
		t.Errorf("catalog has %d types, eni-max-pods sample %d", len(all), len(want))
	}
	for _, typ := range all {
		w, ok := want[typ.Name]
		if !ok {
			t.Errorf("%s: not in eni-max-pods.txt", typ.Name)
			continue
		}
		if got := typ.MaxPods(); got != w {
			t.Errorf("%s: MaxPods = %d, EKS AMI says %d", typ.Name, got, w)
		}
	}
}

func TestCatalogIsConsistent(t *testing.T) {
	families := map[string]int{}
	seen := map[string]bool{}
	for _, typ := range All() {
		if seen[typ.Name] {
			t.Errorf("%s listed twice", typ.Name)
		}
		seen[typ.Name] = true
		families[typ.Family()]++
		if typ.VCPUs <= 0 || typ.MemoryMiB <= 0 || typ.MaxENIs <= 0 || typ.IPv4PerENI <= 1 {
			t.Errorf("%s: implausible figures %+v", typ.Name, typ)
		}
		if typ.SpotPrice <= 0 || typ.SpotPrice >= typ.OnDemandPrice {
			t.Errorf("%s: spot %v not below on-demand %v", typ.Name, typ.SpotPrice, typ.OnDemandPrice)
		}
		wantArch := X8664
		if strings.HasSuffix(typ.Family(), "g") {
			wantArch = Arm64
		}
		if typ.Architecture != wantArch {
			t.Errorf("%s: architecture %s", typ.Name, typ.Architecture)
		}
		if typ.BareMetal != strings.HasPrefix(typ.Size(), "metal") || typ.BareMetal == (typ.Hypervisor == "nitro") {
			t.Errorf("%s: bare metal %v, hypervisor %q", typ.Name, typ.BareMetal, typ.Hypervisor)
		}
		if !typ.CurrentGeneration || len(typ.UsageClasses) != 2 || typ.NetworkPerformance == "" {
			t.Errorf("%s: %+v", typ.Name, typ)
		}
	}
	for _, f := range []string{"t3", "t4g", "m5", "m6i", "m7i", "m7g", "c5", "c6i", "c7g", "r5", "r6i"} {
		if families[f] == 0 {
			t.Errorf("family %s missing", f)
		}
	}
	if _, ok := Lookup("m5.huge"); ok {
		t.Error("Lookup of an unknown type succeeded")
	}
	a := All()
	a[0].UsageClasses[0] = "changed"
	a[0].Name = "changed"
	if All()[0].Name == "changed" || All()[0].UsageClasses[0] == "changed" {
		t.Error("All returns shared state")
	}
}
