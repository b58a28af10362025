package autoscaler

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/reference"
	"sigs.k8s.io/yaml"
)

// Settings are read from the ConfigMap kube-system/berth-autoscaler, each
// key optional, named after Cluster Autoscaler's flags; the priority
// expander's patterns from kube-system/cluster-autoscaler-priority-expander
// as Cluster Autoscaler reads them.
type settings struct {
	expander         string
	unneededTime     time.Duration // scale-down-unneeded-time
	delayAfterAdd    time.Duration // scale-down-delay-after-add
	threshold        float64       // scale-down-utilization-threshold
	scaleDownEnabled bool          // scale-down-enabled
	priorities       map[int][]*regexp.Regexp
	problems         []string
}

const (
	settingsConfigMap = "berth-autoscaler"
	priorityConfigMap = "cluster-autoscaler-priority-expander"
	statusConfigMap   = "cluster-autoscaler-status"
)

func (s *scaler) settings(ctx context.Context) settings {
	st := settings{expander: ExpanderLeastWaste, unneededTime: 10 * time.Minute, delayAfterAdd: 10 * time.Minute, threshold: 0.5, scaleDownEnabled: true}
	cm, err := s.client.CoreV1().ConfigMaps("kube-system").Get(ctx, settingsConfigMap, metav1.GetOptions{})
	if err == nil {
		d := cm.Data
		if v, ok := d["expander"]; ok {
			switch v {
			case ExpanderLeastWaste, ExpanderPrice, ExpanderPriority, ExpanderRandom:
				st.expander = v
			default:
				st.problems = append(st.problems, fmt.Sprintf("expander %q is not one of least-waste, price, priority, random", v))
			}
		}
		for key, dst := range map[string]*time.Duration{"scale-down-unneeded-time": &st.unneededTime, "scale-down-delay-after-add": &st.delayAfterAdd} {
			if v, ok := d[key]; ok {
				if dur, err := time.ParseDuration(v); err == nil && dur >= 0 {
					*dst = dur
				} else {
					st.problems = append(st.problems, fmt.Sprintf("%s %q is not a duration", key, v))
				}
			}
		}
		if v, ok := d["scale-down-utilization-threshold"]; ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil && f >= 0 && f <= 1 {
				st.threshold = f
			} else {
				st.problems = append(st.problems, fmt.Sprintf("scale-down-utilization-threshold %q is not a number from 0 to 1", v))
			}
		}
		if v, ok := d["scale-down-enabled"]; ok {
			b, err := strconv.ParseBool(v)
			if err != nil {
				st.problems = append(st.problems, fmt.Sprintf("scale-down-enabled %q is not true or false", v))
			} else {
				st.scaleDownEnabled = b
			}
		}
	}
	if st.expander == ExpanderPriority {
		st.priorities = map[int][]*regexp.Regexp{}
		cm, err := s.client.CoreV1().ConfigMaps("kube-system").Get(ctx, priorityConfigMap, metav1.GetOptions{})
		if err == nil {
			var raw map[int][]string
			if err := yaml.Unmarshal([]byte(cm.Data["priorities"]), &raw); err != nil {
				st.problems = append(st.problems, "priorities of "+priorityConfigMap+" are not a map of numbers to lists of patterns: "+err.Error())
			}
			for prio, pats := range raw {
				for _, p := range pats {
					re, err := regexp.Compile("^(?:" + p + ")$")
					if err != nil {
						st.problems = append(st.problems, fmt.Sprintf("priority pattern %q: %v", p, err))
						continue
					}
					st.priorities[prio] = append(st.priorities[prio], re)
				}
			}
		}
	}
	return st
}

// cycle is one look at the cluster: scale up for pending pods, else
// consider scaling down, then report.
func (s *scaler) cycle(ctx context.Context) {
	now := s.c.cfg.Now()
	st := s.settings(ctx)
	var nodes []*corev1.Node
	for _, o := range s.nodes.GetStore().List() {
		nodes = append(nodes, o.(*corev1.Node))
	}
	groups := s.groups(nodes)
	var waiting []pending
	podsOn := map[string][]*corev1.Pod{}
	for _, o := range s.pods.GetStore().List() {
		p := o.(*corev1.Pod)
		switch {
		case unschedulable(p):
			waiting = append(waiting, pending{pod: p, zones: s.volumeZones(ctx, p)})
		case p.Spec.NodeName != "" && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed:
			podsOn[p.Spec.NodeName] = append(podsOn[p.Spec.NodeName], p)
		}
	}
	// Pods the scheduler has not placed yet on room that exists now (a
	// node that just joined) need no new node, as in Cluster Autoscaler.
	waiting = fitExisting(waiting, nodes, podsOn)
	var report []string
	scaleUp := "NoActivity"
	if len(waiting) > 0 {
		o, reasons := plan(waiting, groups, st.expander, st.priorities)
		if o != nil {
			desired := min(o.g.ng.Scaling.Desired+o.nodes, o.g.ng.Scaling.Max)
			if err := s.c.cfg.Resizer.SetDesired(ctx, o.g.ng.ASG, desired); err != nil {
				s.log.Warn("scaling up", "nodegroup", o.g.name(), "err", err)
				report = append(report, fmt.Sprintf("scale-up of %s failed: %v", o.g.name(), err))
			} else {
				s.lastScaleUp = now
				scaleUp = "InProgress"
				msg := fmt.Sprintf("pod triggered scale-up: [{%s %d->%d (max: %d)}]", o.g.ng.ASG, o.g.ng.Scaling.Desired, desired, o.g.ng.Scaling.Max)
				s.log.Info("scale-up", "nodegroup", o.g.name(), "from", o.g.ng.Scaling.Desired, "to", desired, "pods", len(o.pods))
				for _, p := range o.pods {
					s.tellPod(p, corev1.EventTypeNormal, "TriggeredScaleUp", msg)
				}
				o.g.ng.Scaling.Desired = desired
			}
		}
		for p, why := range reasons {
			s.tellPod(p, corev1.EventTypeNormal, "NotTriggerScaleUp", "pod didn't trigger scale-up: "+why)
		}
		report = append(report, fmt.Sprintf("%d unschedulable pods", len(waiting)))
	} else {
		for _, g := range groups {
			if g.upcoming() > 0 {
				scaleUp = "InProgress"
			}
		}
	}
	scaleDown := "NoCandidates"
	if st.scaleDownEnabled && scaleUp == "NoActivity" && now.Sub(s.lastScaleUp) >= st.delayAfterAdd {
		scaleDown, report = s.scaleDown(ctx, now, st, groups, nodes, report)
	} else {
		clear(s.unneededSince)
	}
	s.report(ctx, now, st, groups, scaleUp, scaleDown, report)
}

// fitExisting drops the pending pods that fit the free room of the
// cluster's Ready, schedulable nodes, using that room up.
func fitExisting(waiting []pending, nodes []*corev1.Node, podsOn map[string][]*corev1.Pod) []pending {
	type slot struct {
		node *corev1.Node
		free capacity
	}
	var slots []*slot
	for _, n := range nodes {
		if !nodeReady(n) || n.Spec.Unschedulable || n.DeletionTimestamp != nil {
			continue
		}
		free := allocatable(n)
		for _, p := range podsOn[n.Name] {
			free.take(podRequest(p))
		}
		slots = append(slots, &slot{node: n, free: free})
	}
	rest := waiting[:0:0]
	for _, p := range waiting {
		r := podRequest(p.pod)
		placed := false
		for _, sl := range slots {
			if sl.free.fits(r) && misfit(p.pod, sl.node, p.zones) == "" {
				sl.free.take(r)
				placed = true
				break
			}
		}
		if !placed {
			rest = append(rest, p)
		}
	}
	return rest
}

// unschedulable is a pod the scheduler could not place.
func unschedulable(p *corev1.Pod) bool {
	if p.Spec.NodeName != "" || p.DeletionTimestamp != nil || (p.Spec.SchedulerName != "" && p.Spec.SchedulerName != corev1.DefaultSchedulerName) {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			return true
		}
	}
	return false
}

// volumeZones are the zones the pod's bound volumes pin it to.
func (s *scaler) volumeZones(ctx context.Context, p *corev1.Pod) []string {
	var zones []string
	for _, v := range p.Spec.Volumes {
		if v.PersistentVolumeClaim == nil {
			continue
		}
		pvc, err := s.client.CoreV1().PersistentVolumeClaims(p.Namespace).Get(ctx, v.PersistentVolumeClaim.ClaimName, metav1.GetOptions{})
		if err != nil || pvc.Spec.VolumeName == "" {
			continue
		}
		pv, err := s.client.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
		if err != nil || pv.Spec.NodeAffinity == nil || pv.Spec.NodeAffinity.Required == nil {
			continue
		}
		for _, term := range pv.Spec.NodeAffinity.Required.NodeSelectorTerms {
			for _, e := range term.MatchExpressions {
				if e.Operator == corev1.NodeSelectorOpIn && (e.Key == corev1.LabelTopologyZone || e.Key == corev1.LabelFailureDomainBetaZone || strings.HasSuffix(e.Key, "/zone")) {
					zones = append(zones, e.Values...)
				}
			}
		}
	}
	return zones
}

func (s *scaler) tellPod(p *corev1.Pod, typ, reason, msg string) {
	ref, err := reference.GetReference(scheme.Scheme, p)
	if err != nil {
		return
	}
	s.tell(ref, string(p.UID), typ, reason, msg)
}

// report writes the cluster-autoscaler-status ConfigMap, as Cluster
// Autoscaler does, when what it says changed.
func (s *scaler) report(ctx context.Context, now time.Time, st settings, groups []*group, scaleUp, scaleDown string, notes []string) {
	var b strings.Builder
	health := "Healthy"
	if len(st.problems) > 0 {
		health = "Unhealthy"
	}
	fmt.Fprintf(&b, "Cluster-autoscaler status (berth, cluster %s):\nHealth: %s\nScaleUp: %s\nScaleDown: %s\nExpander: %s\n", s.cluster, health, scaleUp, scaleDown, st.expander)
	for _, p := range st.problems {
		fmt.Fprintf(&b, "Problem: %s\n", p)
	}
	fmt.Fprintf(&b, "\nNodeGroups:\n")
	slices.SortFunc(groups, func(a, c *group) int { return strings.Compare(a.name(), c.name()) })
	for _, g := range groups {
		fmt.Fprintf(&b, "  Name: %s (ASG %s)\n    Ready: %d  Desired: %d  Min: %d  Max: %d  Type: %s %s\n",
			g.name(), g.ng.ASG, g.ready, g.ng.Scaling.Desired, g.ng.Scaling.Min, g.ng.Scaling.Max, g.typ.Name, g.ng.CapacityType)
	}
	if len(notes) > 0 {
		fmt.Fprintf(&b, "\nNotes:\n")
		for _, n := range notes {
			fmt.Fprintf(&b, "  - %s\n", n)
		}
	}
	text := b.String()
	if text == s.status {
		return
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: statusConfigMap,
			Annotations: map[string]string{"cluster-autoscaler.kubernetes.io/last-updated": now.UTC().Format("2006-01-02 15:04:05.999999999 -0700 MST")}},
		Data: map[string]string{"status": text},
	}
	api := s.client.CoreV1().ConfigMaps("kube-system")
	_, err := api.Update(ctx, cm, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		_, err = api.Create(ctx, cm, metav1.CreateOptions{})
	}
	if err == nil {
		s.status = text
	}
}
