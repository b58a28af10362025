package autoscaler

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/klog/v2"

	"github.com/berthproject/berth/internal/compute/instancetypes"
	"github.com/berthproject/berth/internal/nodegroup"
)

// group is what the autoscaler knows of one enabled node group.
type group struct {
	ng    *nodegroup.Nodegroup
	typ   instancetypes.Type // the first instance type: the template's
	zones []string
	// ready counts the group's nodes that are Ready; the rest of Desired
	// is on its way (upcoming).
	ready int
	// upcomingRoom is the room left on the upcoming nodes while a plan
	// places pods on them.
	upcomingRoom []capacity
	templates    map[string]*corev1.Node // by zone, made once
}

func (g *group) name() string { return g.ng.Name }

// upcoming is how many nodes the group was asked for that are not Ready.
func (g *group) upcoming() int { return max(0, g.ng.Scaling.Desired-g.ready) }

// price is what a node of the group costs per hour.
func (g *group) price() float64 {
	if g.ng.CapacityType == nodegroup.CapacitySpot {
		return g.typ.SpotPrice
	}
	return g.typ.OnDemandPrice
}

// template is the node a new instance of the group in a zone becomes, as
// the simulated kubelet registers it.
func (g *group) template(zone string) *corev1.Node {
	if n, ok := g.templates[zone]; ok {
		return n
	}
	if g.templates == nil {
		g.templates = map[string]*corev1.Node{}
	}
	n := g.newTemplate(zone)
	g.templates[zone] = n
	return n
}

func (g *group) newTemplate(zone string) *corev1.Node {
	arch := "amd64"
	if g.typ.Architecture == instancetypes.Arm64 {
		arch = "arm64"
	}
	labels := map[string]string{
		corev1.LabelOSStable: "linux", corev1.LabelArchStable: arch,
		corev1.LabelInstanceTypeStable:    g.typ.Name,
		corev1.LabelTopologyZone:          zone,
		corev1.LabelFailureDomainBetaZone: zone,
		"eks.amazonaws.com/nodegroup":     g.ng.Name,
		"eks.amazonaws.com/capacityType":  g.ng.CapacityType,
		corev1.LabelHostname:              "template-" + g.ng.Name,
	}
	maps.Copy(labels, g.ng.Labels)
	var taints []corev1.Taint
	for _, t := range g.ng.Taints {
		taints = append(taints, corev1.Taint{Key: t.Key, Value: t.Value, Effect: taintEffect(t.Effect)})
	}
	alloc := g.typ.Allocatable(g.ng.DiskSize)
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "template-" + g.ng.Name + "-" + zone, Labels: labels},
		Spec:       corev1.NodeSpec{Taints: taints},
		Status: corev1.NodeStatus{Allocatable: corev1.ResourceList{
			corev1.ResourceCPU:    *resource.NewMilliQuantity(alloc.CPUMilli, resource.DecimalSI),
			corev1.ResourceMemory: *resource.NewQuantity(alloc.MemoryMiB<<20, resource.BinarySI),
			corev1.ResourcePods:   *resource.NewQuantity(int64(g.typ.RecommendedMaxPods()), resource.DecimalSI),
		}},
	}
}

func taintEffect(e string) corev1.TaintEffect {
	switch e {
	case "NO_EXECUTE":
		return corev1.TaintEffectNoExecute
	case "PREFER_NO_SCHEDULE":
		return corev1.TaintEffectPreferNoSchedule
	}
	return corev1.TaintEffectNoSchedule
}

// request is what a pod asks of a node.
type request struct{ cpu, mem int64 } // milli-CPU, bytes

func podRequest(p *corev1.Pod) request {
	var r request
	for _, c := range p.Spec.Containers {
		r.cpu += c.Resources.Requests.Cpu().MilliValue()
		r.mem += c.Resources.Requests.Memory().Value()
	}
	for _, c := range p.Spec.InitContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			r.cpu += c.Resources.Requests.Cpu().MilliValue()
			r.mem += c.Resources.Requests.Memory().Value()
		}
	}
	for _, c := range p.Spec.InitContainers {
		if c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways {
			r.cpu = max(r.cpu, c.Resources.Requests.Cpu().MilliValue())
			r.mem = max(r.mem, c.Resources.Requests.Memory().Value())
		}
	}
	return r
}

// capacity is a node's room: what is allocatable less what is requested.
type capacity struct {
	cpu, mem int64
	pods     int64
}

func allocatable(n *corev1.Node) capacity {
	a := n.Status.Allocatable
	return capacity{cpu: a.Cpu().MilliValue(), mem: a.Memory().Value(), pods: a.Pods().Value()}
}

func (c capacity) fits(r request) bool { return r.cpu <= c.cpu && r.mem <= c.mem && c.pods >= 1 }

func (c *capacity) take(r request) { c.cpu -= r.cpu; c.mem -= r.mem; c.pods-- }

// misfit says why a pod cannot run on a node, ignoring the resources
// other pods use, or "" when it can.
func misfit(p *corev1.Pod, n *corev1.Node, volumeZones []string) string {
	if ok, _ := nodeaffinity.GetRequiredNodeAffinity(p).Match(n); !ok {
		return "didn't match Pod's node affinity/selector"
	}
	if t, untolerated := corev1helpers.FindMatchingUntoleratedTaint(klog.Background(), n.Spec.Taints, p.Spec.Tolerations, func(t *corev1.Taint) bool {
		return t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute
	}, false); untolerated {
		return fmt.Sprintf("had untolerated taint {%s: %s}", t.Key, t.Value)
	}
	if len(volumeZones) > 0 && !slices.Contains(volumeZones, n.Labels[corev1.LabelTopologyZone]) {
		return "had volume node affinity conflict"
	}
	if !allocatable(n).fits(podRequest(p)) {
		return "had insufficient resources"
	}
	return ""
}

// pending is a pod waiting for a node, with the zones its volumes pin it
// to (none: any zone).
type pending struct {
	pod   *corev1.Pod
	zones []string
}

// option is a scale-up of one group that helps some pending pods.
type option struct {
	g     *group
	nodes int
	pods  []*corev1.Pod
	// waste is the share of the new nodes' CPU, then memory, left idle.
	wasteCPU, wasteMem float64
}

// plan decides what to scale up for the pending pods: the pods the
// upcoming nodes will take are left out, the rest are packed onto new
// template nodes of each group that can take them, and the expander picks
// one group. reasons says, for each pod no option helps, why not.
func plan(pods []pending, groups []*group, expander string, priorities map[int][]*regexp.Regexp) (*option, map[*corev1.Pod]string) {
	reasons := map[*corev1.Pod]string{}
	// Bigger pods first: first-fit decreasing.
	sort.SliceStable(pods, func(i, j int) bool {
		ri, rj := podRequest(pods[i].pod), podRequest(pods[j].pod)
		return ri.cpu+ri.mem>>20 > rj.cpu+rj.mem>>20
	})
	// Upcoming nodes of every group take what they can first.
	rest := pods[:0:0]
	for _, p := range pods {
		if !placeUpcoming(p, groups) {
			rest = append(rest, p)
		}
	}
	var options []*option
	why := map[*corev1.Pod][]string{}
	for _, g := range groups {
		o := &option{g: g}
		var open []capacity
		var templ *corev1.Node
		for _, p := range rest {
			n, reason := fitZone(p, g)
			if n == nil {
				why[p.pod] = append(why[p.pod], "1 "+reason)
				continue
			}
			templ = n
			r := podRequest(p.pod)
			placed := false
			for i := range open {
				if open[i].fits(r) {
					open[i].take(r)
					placed = true
					break
				}
			}
			if !placed {
				if g.ng.Scaling.Desired+len(open) >= g.ng.Scaling.Max {
					why[p.pod] = append(why[p.pod], "1 max node group size reached")
					continue
				}
				c := allocatable(n)
				c.take(r)
				open = append(open, c)
			}
			o.pods = append(o.pods, p.pod)
		}
		if len(open) == 0 {
			continue
		}
		o.nodes = len(open)
		full := allocatable(templ)
		var freeCPU, freeMem float64
		for _, c := range open {
			freeCPU += float64(c.cpu)
			freeMem += float64(c.mem)
		}
		o.wasteCPU = freeCPU / (float64(full.cpu) * float64(o.nodes))
		o.wasteMem = freeMem / (float64(full.mem) * float64(o.nodes))
		options = append(options, o)
	}
	for _, p := range rest {
		helped := false
		for _, o := range options {
			helped = helped || slices.Contains(o.pods, p.pod)
		}
		if !helped {
			reasons[p.pod] = summarize(why[p.pod])
		}
	}
	if len(options) == 0 {
		return nil, reasons
	}
	return expand(options, expander, priorities), reasons
}

// fitZone finds a zone of the group where the pod fits a fresh node.
func fitZone(p pending, g *group) (*corev1.Node, string) {
	reason := "node group has no zone"
	for _, z := range g.zones {
		n := g.template(z)
		if r := misfit(p.pod, n, p.zones); r == "" {
			return n, ""
		} else {
			reason = r
		}
	}
	return nil, reason
}

// placeUpcoming puts a pod on a node a group is bringing up, if one has
// room; the room is used up.
func placeUpcoming(p pending, groups []*group) bool {
	for _, g := range groups {
		if g.upcoming() == 0 {
			continue
		}
		if n, _ := fitZone(p, g); n != nil {
			if g.upcomingRoom == nil {
				for range g.upcoming() {
					g.upcomingRoom = append(g.upcomingRoom, allocatable(n))
				}
			}
			r := podRequest(p.pod)
			for i := range g.upcomingRoom {
				if g.upcomingRoom[i].fits(r) {
					g.upcomingRoom[i].take(r)
					return true
				}
			}
		}
	}
	return false
}

// summarize counts the reasons of the groups that could not take a pod,
// as Cluster Autoscaler words them: "2 node(s) didn't match ..., 1 max
// node group size reached".
func summarize(reasons []string) string {
	counts := map[string]int{}
	for _, r := range reasons {
		counts[strings.TrimPrefix(r, "1 ")]++
	}
	var parts []string
	for r, n := range counts {
		if r == "max node group size reached" {
			parts = append(parts, strconv.Itoa(n)+" "+r)
		} else {
			parts = append(parts, strconv.Itoa(n)+" node(s) "+r)
		}
	}
	slices.Sort(parts)
	if len(parts) == 0 {
		return "no node group is enabled for autoscaling"
	}
	return strings.Join(parts, ", ")
}

// Expanders.
const (
	ExpanderLeastWaste = "least-waste"
	ExpanderPrice      = "price"
	ExpanderPriority   = "priority"
	ExpanderRandom     = "random"
)

// expand picks one option: least-waste (least idle CPU, then memory, on
// the new nodes), price (least cost per pod helped), priority (the
// highest priority whose patterns match the group's name, then
// least-waste), random.
func expand(options []*option, expander string, priorities map[int][]*regexp.Regexp) *option {
	leastWaste := func(os []*option) *option {
		return slices.MinFunc(os, func(a, b *option) int {
			if c := cmpFloat(a.wasteCPU, b.wasteCPU); c != 0 {
				return c
			}
			if c := cmpFloat(a.wasteMem, b.wasteMem); c != 0 {
				return c
			}
			return len(b.pods) - len(a.pods)
		})
	}
	switch expander {
	case ExpanderPrice:
		return slices.MinFunc(options, func(a, b *option) int {
			return cmpFloat(a.g.price()*float64(a.nodes)/float64(len(a.pods)), b.g.price()*float64(b.nodes)/float64(len(b.pods)))
		})
	case ExpanderPriority:
		best, bestPrio := []*option(nil), -1<<31
		for _, o := range options {
			prio, ok := priorityOf(o.g.name(), o.g.ng.ASG, priorities)
			if !ok {
				continue
			}
			switch {
			case prio > bestPrio:
				best, bestPrio = []*option{o}, prio
			case prio == bestPrio:
				best = append(best, o)
			}
		}
		if len(best) > 0 {
			return leastWaste(best)
		}
		return leastWaste(options)
	case ExpanderRandom:
		return options[rand.IntN(len(options))]
	}
	return leastWaste(options)
}

// priorityOf is the highest priority with a pattern that matches the
// group's node group or ASG name in full.
func priorityOf(name, asg string, priorities map[int][]*regexp.Regexp) (int, bool) {
	best, ok := 0, false
	for prio, res := range priorities {
		for _, re := range res {
			if (re.MatchString(name) || re.MatchString(asg)) && (!ok || prio > best) {
				best, ok = prio, true
			}
		}
	}
	return best, ok
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
