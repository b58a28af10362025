// Package spread is kube-scheduler's PodTopologySpread plugin with one
// change: the scores it gives pods under the system-default constraints
// (no topologySpreadConstraints of their own) are computed from per-node
// counts kept between scheduling cycles, where upstream counts again, for
// every pod it places, every matching pod on every node.
//
// Upstream's cost per pod therefore grows with the pods already placed: a
// 10,000-replica Deployment on 1,000 nodes spent two thirds of the control
// plane's CPU in it. Here a node's count is reused while the node's
// NodeInfo generation (which changes with any pod added, removed or
// updated on it) is the one it was counted at, so a pod costs O(nodes).
//
// The scores are upstream's to the bit: same constraints (hostname with
// maxSkew 3, zone with maxSkew 5), same selector (helper.DefaultSelector),
// same node inclusion (the pod's required node affinity), same weights and
// normalisation, same float arithmetic in the same order. A differential
// test compares both on random clusters. Everything else (PreFilter,
// Filter, pods with their own constraints, queueing hints) is the upstream
// plugin itself, embedded.
package spread

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/apis/config"
	plfeature "k8s.io/kubernetes/pkg/scheduler/framework/plugins/feature"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/helper"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/podtopologyspread"
)

// Name is the plugin's name in the scheduler profile, where it takes
// PodTopologySpread's place (the scheduler refuses a second plugin of an
// in-tree plugin's name).
const Name = "BerthPodTopologySpread"

// The system-default constraints, as upstream's systemDefaultConstraints:
// hostname first, then zone (the order of the float sum in Score).
const (
	hostnameMaxSkew = 3
	zoneMaxSkew     = 5
)

const stateKey fwk.StateKey = "PreScore" + Name

// maxSelectors bounds the memo: selectors not used among the most recent
// this many are forgotten.
const maxSelectors = 64

// Plugin is upstream's PodTopologySpread with memoized default scoring.
type Plugin struct {
	*podtopologyspread.PodTopologySpread

	systemDefaulted bool
	nodes           fwk.SharedLister
	services        corelisters.ServiceLister
	controllers     corelisters.ReplicationControllerLister
	replicaSets     appslisters.ReplicaSetLister
	statefulSets    appslisters.StatefulSetLister

	mu       sync.RWMutex
	tick     uint64
	memo     map[string]*selectorCounts
	computed uint64 // node counts made rather than reused, for tests
}

var (
	_ fwk.PreFilterPlugin   = &Plugin{}
	_ fwk.FilterPlugin      = &Plugin{}
	_ fwk.PreScorePlugin    = &Plugin{}
	_ fwk.ScorePlugin       = &Plugin{}
	_ fwk.EnqueueExtensions = &Plugin{}
	_ fwk.SignPlugin        = &Plugin{}
)

// selectorCounts are, for one namespace and selector, the matching pods
// on each node at the node's generation when counted, in the order of the
// snapshot's node list (which changes only when nodes come or go).
type selectorCounts struct {
	namespace string
	selector  labels.Selector
	used      uint64
	nodes     []nodeCount
	index     map[fwk.NodeInfo]int // position in nodes
}

// nodeCount is what PreScore and Score need of a node at a generation: the
// NodeInfo's generation changes with its pods and with its Node's labels.
type nodeCount struct {
	info       fwk.NodeInfo
	generation int64
	pods       int64
	zone       string
	hasZone    bool
	hasHost    bool
}

// fresh reports whether e counts n as it is now.
func (e *nodeCount) fresh(n fwk.NodeInfo) bool {
	return e.info == n && e.generation == n.GetGeneration()
}

// New builds the plugin from PodTopologySpreadArgs (nil means upstream's
// defaults: system-defaulted constraints).
func New(ctx context.Context, obj runtime.Object, h fwk.Handle) (fwk.Plugin, error) {
	args, ok := obj.(*config.PodTopologySpreadArgs)
	if obj == nil {
		args, ok = &config.PodTopologySpreadArgs{DefaultingType: config.SystemDefaulting}, true
	}
	if !ok {
		return nil, fmt.Errorf("want args to be of type PodTopologySpreadArgs, got %T", obj)
	}
	fts := plfeature.NewSchedulerFeaturesFromGates(utilfeature.DefaultFeatureGate)
	upstream, err := podtopologyspread.New(ctx, args, h, fts)
	if err != nil {
		return nil, err
	}
	p := &Plugin{
		PodTopologySpread: upstream.(*podtopologyspread.PodTopologySpread),
		systemDefaulted:   args.DefaultingType == config.SystemDefaulting,
		nodes:             h.SnapshotSharedLister(),
		memo:              map[string]*selectorCounts{},
	}
	if p.systemDefaulted {
		f := h.SharedInformerFactory()
		p.services = f.Core().V1().Services().Lister()
		p.controllers = f.Core().V1().ReplicationControllers().Lister()
		p.replicaSets = f.Apps().V1().ReplicaSets().Lister()
		p.statefulSets = f.Apps().V1().StatefulSets().Lister()
	}
	return p, nil
}

// Name is the plugin's name in the profile.
func (p *Plugin) Name() string { return Name }

// scoreState is PreScore's result for a pod under the default constraints.
type scoreState struct {
	hostWeight, zoneWeight float64
	counts                 *selectorCounts // per node, fresh for this cycle
	zones                  []string        // the domains: filtered nodes' zones
	zonePods               []int64         // matching pods per domain
}

func (s *scoreState) Clone() fwk.StateData { return s }

// defaulted reports whether pod is scored under the system defaults.
func (p *Plugin) defaulted(pod *v1.Pod) bool {
	return p.systemDefaulted && len(pod.Spec.TopologySpreadConstraints) == 0
}

// PreScore counts, for a pod under the default constraints, its matching
// pods per zone over all nodes its node affinity admits and per filtered
// node, as upstream's PreScore and Score do between them.
func (p *Plugin) PreScore(ctx context.Context, cs fwk.CycleState, pod *v1.Pod, filtered []fwk.NodeInfo) *fwk.Status {
	if !p.defaulted(pod) {
		return p.PodTopologySpread.PreScore(ctx, cs, pod, filtered)
	}
	all, err := p.nodes.NodeInfos().List()
	if err != nil {
		return fwk.AsStatus(fmt.Errorf("getting all nodes: %w", err))
	}
	if len(all) == 0 {
		return fwk.NewStatus(fwk.Skip)
	}
	selector := helper.DefaultSelector(pod, p.services, p.controllers, p.replicaSets, p.statefulSets)
	if selector.Empty() {
		return fwk.NewStatus(fwk.Skip)
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.counts(pod.Namespace, selector, all)
	s := &scoreState{counts: c}
	// A zone is a domain when a filtered node is in it; a node without
	// the label counts in the domain "", as upstream's map lookup has it.
	for _, n := range filtered {
		e := p.entry(c, n)
		if !slices.Contains(s.zones, e.zone) {
			s.zones = append(s.zones, e.zone)
		}
	}
	s.zonePods = make([]int64, len(s.zones))
	s.hostWeight = math.Log(float64(len(filtered) + 2))
	s.zoneWeight = math.Log(float64(len(s.zones) + 2))

	required := nodeaffinity.GetRequiredNodeAffinity(pod)
	affinity := pod.Spec.NodeSelector != nil || pod.Spec.Affinity != nil && pod.Spec.Affinity.NodeAffinity != nil
	for i, n := range all {
		e := p.refresh(c, i, n)
		zone := slices.Index(s.zones, e.zone)
		if zone < 0 {
			continue
		}
		// Both default constraints honour the pod's node affinity and
		// ignore taints.
		if affinity {
			if match, _ := required.Match(n.Node()); !match {
				continue
			}
		}
		s.zonePods[zone] += e.pods
	}
	cs.Write(stateKey, s)
	return nil
}

// counts returns the memo for namespace and selector, its nodes in the
// order of all; p.mu is held.
func (p *Plugin) counts(namespace string, selector labels.Selector, all []fwk.NodeInfo) *selectorCounts {
	key := namespace + "\x00" + selector.String()
	p.tick++
	c := p.memo[key]
	if c == nil {
		if len(p.memo) >= maxSelectors {
			p.forgetOldest()
		}
		c = &selectorCounts{namespace: namespace, selector: selector}
		p.memo[key] = c
	}
	c.used = p.tick
	if len(c.nodes) != len(all) || !sameOrder(c.nodes, all) {
		// Nodes came or went: counts are kept for the nodes still there.
		old := c.nodes
		c.nodes = make([]nodeCount, len(all))
		c.index = make(map[fwk.NodeInfo]int, len(all))
		for i, n := range all {
			c.index[n] = i
		}
		for _, e := range old {
			if i, ok := c.index[e.info]; ok {
				c.nodes[i] = e
			}
		}
	}
	return c
}

// sameOrder reports whether nodes are all's, in order (slots never counted
// match anything).
func sameOrder(nodes []nodeCount, all []fwk.NodeInfo) bool {
	for i, n := range all {
		if nodes[i].info != n && nodes[i].info != nil {
			return false
		}
	}
	return true
}

// forgetOldest drops the least recently used half of the memo.
func (p *Plugin) forgetOldest() {
	cut := p.tick - maxSelectors/2
	for k, c := range p.memo {
		if c.used < cut {
			delete(p.memo, k)
		}
	}
	if len(p.memo) >= maxSelectors {
		clear(p.memo)
	}
}

// entry is n's count in c, made again if n changed since; p.mu is held.
func (p *Plugin) entry(c *selectorCounts, n fwk.NodeInfo) *nodeCount {
	i, ok := c.index[n]
	if !ok {
		// Not in the snapshot's list (not expected): count, do not keep.
		e := newNodeCount(n, c.selector, c.namespace)
		return &e
	}
	return p.refresh(c, i, n)
}

// refresh is c's count of n, at position i, made again if n changed
// since; p.mu is held.
func (p *Plugin) refresh(c *selectorCounts, i int, n fwk.NodeInfo) *nodeCount {
	e := &c.nodes[i]
	if !e.fresh(n) {
		p.computed++
		*e = newNodeCount(n, c.selector, c.namespace)
	}
	return e
}

// newNodeCount counts the pods on n that match selector in namespace and
// are not terminating, as upstream's countPodsMatchSelector.
func newNodeCount(n fwk.NodeInfo, selector labels.Selector, namespace string) nodeCount {
	node := n.Node()
	e := nodeCount{info: n, generation: n.GetGeneration()}
	e.zone, e.hasZone = node.Labels[v1.LabelTopologyZone]
	_, e.hasHost = node.Labels[v1.LabelHostname]
	for _, pi := range n.GetPods() {
		pod := pi.GetPod()
		if pod.DeletionTimestamp != nil || pod.Namespace != namespace {
			continue
		}
		if selector.Matches(labels.Set(pod.Labels)) {
			e.pods++
		}
	}
	return e
}

// Score is upstream's score from the counts PreScore made.
func (p *Plugin) Score(ctx context.Context, cs fwk.CycleState, pod *v1.Pod, n fwk.NodeInfo) (int64, *fwk.Status) {
	s, ok := readState(cs)
	if !ok {
		return p.PodTopologySpread.Score(ctx, cs, pod, n)
	}
	p.mu.RLock()
	var e nodeCount
	if i, ok := s.counts.index[n]; ok && s.counts.nodes[i].info == n {
		e = s.counts.nodes[i]
	}
	p.mu.RUnlock()
	if !e.fresh(n) {
		e = newNodeCount(n, s.counts.selector, s.counts.namespace)
	}
	var score float64
	if e.hasHost {
		score += float64(e.pods)*s.hostWeight + float64(hostnameMaxSkew-1)
	}
	if e.hasZone {
		var pods int64
		if i := slices.Index(s.zones, e.zone); i >= 0 { // scored nodes are filtered ones: always
			pods = s.zonePods[i]
		}
		score += float64(pods)*s.zoneWeight + float64(zoneMaxSkew-1)
	}
	return int64(math.Round(score)), nil
}

// ScoreExtensions returns the plugin itself, for NormalizeScore.
func (p *Plugin) ScoreExtensions() fwk.ScoreExtensions { return p }

// NormalizeScore is upstream's: fewer matching pods, higher score. Under
// the default constraints no node is ignored.
func (p *Plugin) NormalizeScore(ctx context.Context, cs fwk.CycleState, pod *v1.Pod, scores fwk.NodeScoreList) *fwk.Status {
	if _, ok := readState(cs); !ok {
		return p.PodTopologySpread.NormalizeScore(ctx, cs, pod, scores)
	}
	var minScore int64 = math.MaxInt64
	var maxScore int64
	for _, s := range scores {
		minScore = min(minScore, s.Score)
		maxScore = max(maxScore, s.Score)
	}
	for i := range scores {
		if maxScore == 0 {
			scores[i].Score = fwk.MaxNodeScore
			continue
		}
		s := scores[i].Score
		scores[i].Score = fwk.MaxNodeScore * (maxScore + minScore - s) / maxScore
	}
	return nil
}

func readState(cs fwk.CycleState) (*scoreState, bool) {
	d, err := cs.Read(stateKey)
	if err != nil {
		return nil, false
	}
	s, ok := d.(*scoreState)
	return s, ok
}
