package autoscaler

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/berthproject/berth/internal/compute/instancetypes"
	"github.com/berthproject/berth/internal/nodegroup"
)

func grp(t testing.TB, name, typ, capacity string, min, desired, max int, labels map[string]string, taints ...nodegroup.Taint) *group {
	t.Helper()
	it, ok := instancetypes.Lookup(typ)
	if !ok {
		t.Fatalf("no type %s", typ)
	}
	return &group{
		ng: &nodegroup.Nodegroup{Name: name, ASG: "eks-" + name + "-x", CapacityType: capacity, InstanceTypes: []string{typ},
			Scaling: nodegroup.Scaling{Min: min, Desired: desired, Max: max}, Labels: labels, Taints: taints},
		typ: it, zones: []string{"us-east-1a", "us-east-1b"}, ready: desired,
	}
}

func pod(name, cpu, mem string, mut ...func(*corev1.Pod)) pending {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{Containers: []corev1.Container{{
		Name: "c", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)}},
	}}}}
	for _, m := range mut {
		m(p)
	}
	return pending{pod: p}
}

func TestPlanPacksPodsOntoNewNodes(t *testing.T) {
	g := grp(t, "web", "m5.large", nodegroup.CapacityOnDemand, 0, 0, 10, nil) // 2 vCPU: about 1.9 allocatable
	var pods []pending
	for i := range 5 {
		pods = append(pods, pod("p"+string(rune('a'+i)), "900m", "512Mi"))
	}
	o, reasons := plan(pods, []*group{g}, ExpanderLeastWaste, nil)
	if o == nil || o.g != g || o.nodes != 3 || len(o.pods) != 5 || len(reasons) != 0 {
		t.Fatalf("option %+v reasons %v; want 3 nodes for 5 pods of 0.9 CPU", o, reasons)
	}
	// Up to max only.
	g.ng.Scaling.Max = 2
	o, reasons = plan(pods, []*group{g}, ExpanderLeastWaste, nil)
	if o == nil || o.nodes != 2 || len(o.pods) != 4 || len(reasons) != 1 {
		t.Fatalf("capped: option %+v reasons %v", o, reasons)
	}
	for _, r := range reasons {
		if r != "1 max node group size reached" {
			t.Errorf("reason %q", r)
		}
	}
}

func TestPlanCountsUpcomingNodes(t *testing.T) {
	g := grp(t, "web", "m5.large", nodegroup.CapacityOnDemand, 0, 1, 10, nil)
	g.ready = 0 // one node on its way
	o, _ := plan([]pending{pod("a", "500m", "256Mi"), pod("b", "500m", "256Mi")}, []*group{g}, ExpanderLeastWaste, nil)
	if o != nil {
		t.Fatalf("scaled up for pods the upcoming node takes: %+v", o)
	}
}

func TestPlanLabelsTaintsAndZones(t *testing.T) {
	gpu := grp(t, "gpu", "m5.xlarge", nodegroup.CapacityOnDemand, 0, 0, 5, map[string]string{"hw": "gpu"},
		nodegroup.Taint{Key: "dedicated", Value: "gpu", Effect: "NO_SCHEDULE"})
	web := grp(t, "web", "m5.large", nodegroup.CapacityOnDemand, 0, 0, 5, map[string]string{"hw": "cpu"})
	selects := func(v string) func(*corev1.Pod) {
		return func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"hw": v} }
	}
	tolerates := func(p *corev1.Pod) {
		p.Spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "gpu", Effect: corev1.TaintEffectNoSchedule}}
	}
	// A pod for the tainted group goes there.
	o, _ := plan([]pending{pod("g", "1", "1Gi", selects("gpu"), tolerates)}, []*group{gpu, web}, ExpanderLeastWaste, nil)
	if o == nil || o.g != gpu {
		t.Fatalf("option %+v, want gpu", o)
	}
	// Selecting the tainted group without the toleration helps nobody.
	p := pod("n", "1", "1Gi", selects("gpu"))
	o, reasons := plan([]pending{p}, []*group{gpu, web}, ExpanderLeastWaste, nil)
	if o != nil || !strings.Contains(reasons[p.pod], "untolerated taint {dedicated: gpu}") || !strings.Contains(reasons[p.pod], "didn't match Pod's node affinity/selector") {
		t.Fatalf("option %+v reasons %q", o, reasons[p.pod])
	}
	// A volume in a zone the group lacks.
	p = pod("v", "100m", "64Mi")
	p.zones = []string{"us-east-1c"}
	if o, reasons := plan([]pending{p}, []*group{web}, ExpanderLeastWaste, nil); o != nil || !strings.Contains(reasons[p.pod], "volume node affinity conflict") {
		t.Fatalf("option %+v reasons %v", o, reasons)
	}
	// Too big for any node.
	p = pod("huge", "64", "1Gi")
	if o, reasons := plan([]pending{p}, []*group{web}, ExpanderLeastWaste, nil); o != nil || !strings.Contains(reasons[p.pod], "insufficient") {
		t.Fatalf("option %+v reasons %v", o, reasons)
	}
}

func TestExpanders(t *testing.T) {
	spot := grp(t, "spot", "m5.large", nodegroup.CapacitySpot, 0, 0, 5, nil)
	onDemand := grp(t, "ondemand", "m5.large", nodegroup.CapacityOnDemand, 0, 0, 5, nil)
	big := grp(t, "big", "m5.4xlarge", nodegroup.CapacityOnDemand, 0, 0, 5, nil)
	pods := []pending{pod("a", "1", "1Gi")}
	if o, _ := plan(pods, []*group{onDemand, spot}, ExpanderPrice, nil); o == nil || o.g != spot {
		t.Errorf("price chose %v, want spot", o.g.name())
	}
	if o, _ := plan(pods, []*group{big, onDemand}, ExpanderLeastWaste, nil); o == nil || o.g != onDemand {
		t.Errorf("least-waste chose %v, want the smaller type", o.g.name())
	}
	prio := map[int][]*regexp.Regexp{10: {regexp.MustCompile("^ondemand$")}, 50: {regexp.MustCompile("^big$")}}
	if o, _ := plan(pods, []*group{onDemand, big, spot}, ExpanderPriority, prio); o == nil || o.g != big {
		t.Errorf("priority chose %v, want big", o.g.name())
	}
}

// BenchmarkPlan1000Pods is the scale-up decision for 1,000 pending pods
// over three node groups.
func BenchmarkPlan1000Pods(b *testing.B) {
	groups := []*group{
		grp(b, "a", "m5.large", nodegroup.CapacityOnDemand, 0, 0, 450, nil),
		grp(b, "b", "m5.large", nodegroup.CapacitySpot, 0, 0, 450, nil),
		grp(b, "c", "c5.xlarge", nodegroup.CapacityOnDemand, 0, 0, 450, nil),
	}
	var pods []pending
	for i := range 1000 {
		pods = append(pods, pod("p"+strconv.Itoa(i), "100m", "128Mi"))
	}
	for b.Loop() {
		for _, g := range groups {
			g.upcomingRoom = nil
		}
		if o, _ := plan(pods, groups, ExpanderLeastWaste, nil); o == nil || len(o.pods) != 1000 {
			b.Fatalf("option %+v", o)
		}
	}
}
