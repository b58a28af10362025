package autoscaler

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/reference"

	"github.com/berthproject/berth/internal/drain"
)

// Annotations Cluster Autoscaler reads.
const (
	safeToEvict      = "cluster-autoscaler.kubernetes.io/safe-to-evict"
	scaleDownDisable = "cluster-autoscaler.kubernetes.io/scale-down-disabled"
)

// drainTimeout bounds how long a scale-down waits for evictions that
// PodDisruptionBudgets hold back before it gives the node up.
const drainTimeout = 2 * time.Minute

// scaleDown finds nodes of enabled groups whose pods ask for less than
// the threshold of what they offer and could all move elsewhere, and
// removes the one unneeded the longest once that lasted the unneeded
// time: drained with PodDisruptionBudgets honoured, then terminated with
// the group's desired size lowered. It returns the status and adds why
// nodes stay to the report.
func (s *scaler) scaleDown(ctx context.Context, now time.Time, st settings, groups []*group, nodes []*corev1.Node, report []string) (string, []string) {
	byName := map[string]*group{}
	for _, g := range groups {
		byName[g.name()] = g
	}
	podsOn := map[string][]*corev1.Pod{}
	for _, o := range s.pods.GetStore().List() {
		p := o.(*corev1.Pod)
		if p.Spec.NodeName != "" && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			podsOn[p.Spec.NodeName] = append(podsOn[p.Spec.NodeName], p)
		}
	}
	seen := map[string]bool{}
	var unneeded []*corev1.Node
	for _, n := range nodes {
		g := byName[n.Labels["eks.amazonaws.com/nodegroup"]]
		if g == nil || !nodeReady(n) || n.Spec.Unschedulable || n.DeletionTimestamp != nil {
			continue
		}
		seen[n.Name] = true
		if n.Annotations[scaleDownDisable] == "true" {
			report = append(report, fmt.Sprintf("node %s: scale-down disabled by annotation", n.Name))
			delete(s.unneededSince, n.Name)
			continue
		}
		if u := utilization(n, podsOn[n.Name]); u >= st.threshold {
			delete(s.unneededSince, n.Name)
			continue
		}
		if why := blocker(podsOn[n.Name]); why != "" {
			report = append(report, fmt.Sprintf("node %s: underused, but %s", n.Name, why))
			delete(s.unneededSince, n.Name)
			continue
		}
		if !fitsElsewhere(n, podsOn, nodes) {
			report = append(report, fmt.Sprintf("node %s: underused, but its pods fit on no other node", n.Name))
			delete(s.unneededSince, n.Name)
			continue
		}
		if _, ok := s.unneededSince[n.Name]; !ok {
			s.unneededSince[n.Name] = now
		}
		unneeded = append(unneeded, n)
	}
	for name := range s.unneededSince {
		if !seen[name] {
			delete(s.unneededSince, name)
		}
	}
	if len(unneeded) == 0 {
		return "NoCandidates", report
	}
	sort.Slice(unneeded, func(i, j int) bool {
		return s.unneededSince[unneeded[i].Name].Before(s.unneededSince[unneeded[j].Name])
	})
	for _, n := range unneeded {
		g := byName[n.Labels["eks.amazonaws.com/nodegroup"]]
		since := now.Sub(s.unneededSince[n.Name])
		switch {
		case g.ng.Scaling.Desired <= g.ng.Scaling.Min:
			report = append(report, fmt.Sprintf("node %s: unneeded, but node group %s is at its minimum size %d", n.Name, g.name(), g.ng.Scaling.Min))
		case since < st.unneededTime:
			report = append(report, fmt.Sprintf("node %s: unneeded for %s of %s", n.Name, since.Round(time.Second), st.unneededTime))
		case s.removing.TryLock():
			g.ng.Scaling.Desired--
			delete(s.unneededSince, n.Name)
			report = append(report, fmt.Sprintf("node %s: being removed", n.Name))
			go s.remove(context.WithoutCancel(ctx), n)
		}
	}
	return "CandidatesPresent", report
}

// remove drains a node and terminates its instance, lowering its group's
// desired size. removing is held.
func (s *scaler) remove(ctx context.Context, n *corev1.Node) {
	defer s.removing.Unlock()
	ref, err := reference.GetReference(scheme.Scheme, n)
	if err != nil {
		s.log.Warn("scale-down: no reference to the node", "node", n.Name, "err", err)
		return
	}
	s.log.Info("scale-down", "node", n.Name)
	s.events.Event(ref, corev1.EventTypeNormal, "ScaleDown", "marked the node as toBeDeleted/unschedulable")
	if err := drain.Node(ctx, s.client, n.Name, drainTimeout, false, nil); err != nil {
		s.events.Event(ref, corev1.EventTypeWarning, "ScaleDownFailed", "failed to drain the node, aborting ScaleDown: "+err.Error())
		s.log.Warn("scale-down: drain failed", "node", n.Name, "err", err)
		patch := []byte(`{"spec":{"unschedulable":false}}`)
		s.client.CoreV1().Nodes().Patch(ctx, n.Name, types.MergePatchType, patch, metav1.PatchOptions{})
		return
	}
	id := n.Spec.ProviderID[strings.LastIndex(n.Spec.ProviderID, "/")+1:]
	if err := s.c.cfg.Resizer.TerminateInstance(ctx, id, true); err != nil {
		s.events.Event(ref, corev1.EventTypeWarning, "ScaleDownFailed", "failed to terminate instance "+id+": "+err.Error())
		s.log.Warn("scale-down: terminate failed", "node", n.Name, "instance", id, "err", err)
		return
	}
	s.events.Event(ref, corev1.EventTypeNormal, "ScaleDown", "node removed by cluster autoscaler")
}

// counted are the pods a node's utilization and a scale-down consider:
// not DaemonSet or mirror pods.
func counted(pods []*corev1.Pod) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range pods {
		if ownerKind(p) == "DaemonSet" {
			continue
		}
		if _, mirror := p.Annotations[corev1.MirrorPodAnnotationKey]; mirror {
			continue
		}
		out = append(out, p)
	}
	return out
}

// utilization is the larger of the shares of the node's CPU and memory
// that its pods request.
func utilization(n *corev1.Node, pods []*corev1.Pod) float64 {
	a := allocatable(n)
	var r request
	for _, p := range counted(pods) {
		q := podRequest(p)
		r.cpu += q.cpu
		r.mem += q.mem
	}
	if a.cpu == 0 || a.mem == 0 {
		return 1
	}
	return max(float64(r.cpu)/float64(a.cpu), float64(r.mem)/float64(a.mem))
}

// blocker says why the pods of a node cannot be moved, as Cluster
// Autoscaler decides it, or "".
func blocker(pods []*corev1.Pod) string {
	for _, p := range counted(pods) {
		switch p.Annotations[safeToEvict] {
		case "false":
			return fmt.Sprintf("pod %s/%s has %s=false", p.Namespace, p.Name, safeToEvict)
		case "true":
			continue
		}
		if ownerKind(p) == "" {
			return fmt.Sprintf("pod %s/%s is not replicated", p.Namespace, p.Name)
		}
		for _, v := range p.Spec.Volumes {
			if v.HostPath != nil || (v.EmptyDir != nil && v.EmptyDir.Medium != corev1.StorageMediumMemory) {
				return fmt.Sprintf("pod %s/%s has local storage", p.Namespace, p.Name)
			}
		}
		if p.Namespace == metav1.NamespaceSystem {
			return fmt.Sprintf("pod %s/%s is a non-daemonset kube-system pod", p.Namespace, p.Name)
		}
	}
	return ""
}

func ownerKind(p *corev1.Pod) string {
	for _, o := range p.OwnerReferences {
		if o.Controller != nil && *o.Controller {
			return o.Kind
		}
	}
	return ""
}

// fitsElsewhere tells whether every pod of the node has room on another
// schedulable node that takes it (selectors, taints, resources left).
func fitsElsewhere(n *corev1.Node, podsOn map[string][]*corev1.Pod, nodes []*corev1.Node) bool {
	type slot struct {
		node *corev1.Node
		free capacity
	}
	var others []*slot
	for _, o := range nodes {
		if o.Name == n.Name || o.Spec.Unschedulable || !nodeReady(o) || o.DeletionTimestamp != nil {
			continue
		}
		free := allocatable(o)
		for _, p := range podsOn[o.Name] {
			free.take(podRequest(p))
		}
		others = append(others, &slot{node: o, free: free})
	}
	move := counted(podsOn[n.Name])
	sort.Slice(move, func(i, j int) bool { return podRequest(move[i]).cpu > podRequest(move[j]).cpu })
	for _, p := range move {
		r := podRequest(p)
		placed := false
		for _, o := range others {
			if o.free.fits(r) && misfit(p, o.node, nil) == "" {
				o.free.take(r)
				placed = true
				break
			}
		}
		if !placed {
			return false
		}
	}
	return true
}
