package spread

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/apis/config"
	schedcache "k8s.io/kubernetes/pkg/scheduler/backend/cache"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	plfeature "k8s.io/kubernetes/pkg/scheduler/framework/plugins/feature"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/podtopologyspread"
	frameworkruntime "k8s.io/kubernetes/pkg/scheduler/framework/runtime"
	"k8s.io/kubernetes/pkg/scheduler/metrics"
)

// world is a scheduler cache and snapshot with both plugins built on it.
type world struct {
	t        *testing.T
	ctx      context.Context
	logger   klog.Logger
	cache    schedcache.Cache
	snapshot *schedcache.Snapshot
	memo     *Plugin
	upstream fwk.ScorePlugin
	nodes    map[string]*v1.Node
	pods     map[string]*v1.Pod
}

func owner(kind, name string, uid types.UID) []metav1.OwnerReference {
	apiVersion := "apps/v1"
	if kind == "ReplicationController" {
		apiVersion = "v1"
	}
	return []metav1.OwnerReference{{APIVersion: apiVersion, Kind: kind, Name: name, UID: uid, Controller: new(true)}}
}

func newWorld(t *testing.T) *world {
	metrics.Register() // upstream's parallelizer reports to them
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	client := fake.NewClientset(
		&v1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
			Spec: v1.ServiceSpec{Selector: map[string]string{"app": "web"}}},
		&appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web-abc", Namespace: "default", UID: "rs1"},
			Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web", "pod-template-hash": "abc"}}}},
		&appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web-old", Namespace: "default", UID: "rs2"},
			Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web", "pod-template-hash": "old"}}}},
		&appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "api", Namespace: "other", UID: "rs3"},
			Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "app", Operator: metav1.LabelSelectorOpIn, Values: []string{"api", "web"}}}}}},
		&appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "default", UID: "ss1"},
			Spec: appsv1.StatefulSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}}},
	)
	factory := informers.NewSharedInformerFactory(client, 0)
	snapshot := schedcache.NewEmptySnapshot()
	h, err := frameworkruntime.NewFramework(ctx, nil, nil,
		frameworkruntime.WithSnapshotSharedLister(snapshot),
		frameworkruntime.WithInformerFactory(factory))
	if err != nil {
		t.Fatal(err)
	}
	args := &config.PodTopologySpreadArgs{DefaultingType: config.SystemDefaulting}
	memo, err := New(ctx, nil, h)
	if err != nil {
		t.Fatal(err)
	}
	upstream, err := podtopologyspread.New(ctx, args, h, plfeature.NewSchedulerFeaturesFromGates(utilfeature.DefaultFeatureGate))
	if err != nil {
		t.Fatal(err)
	}
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())
	return &world{
		t: t, ctx: ctx, logger: klog.FromContext(ctx),
		cache:    schedcache.New(ctx, nil, false, false),
		snapshot: snapshot,
		memo:     memo.(*Plugin),
		upstream: upstream.(fwk.ScorePlugin),
		nodes:    map[string]*v1.Node{},
		pods:     map[string]*v1.Pod{},
	}
}

func (w *world) sync() {
	if err := w.cache.UpdateSnapshot(w.logger, w.snapshot); err != nil {
		w.t.Fatal(err)
	}
}

// score runs PreScore, Score and NormalizeScore as the framework does and
// returns the normalised scores, or the PreScore status when not success.
func score(ctx context.Context, p fwk.ScorePlugin, pod *v1.Pod, filtered []fwk.NodeInfo) string {
	cs := framework.NewCycleState()
	if st := p.(fwk.PreScorePlugin).PreScore(ctx, cs, pod, filtered); !st.IsSuccess() {
		return "prescore " + st.Code().String() + " " + st.Message()
	}
	scores := make(fwk.NodeScoreList, len(filtered))
	for i, n := range filtered {
		s, st := p.Score(ctx, cs, pod, n)
		if !st.IsSuccess() {
			return "score " + st.Message()
		}
		scores[i] = fwk.NodeScore{Name: n.Node().Name, Score: s}
	}
	if st := p.ScoreExtensions().NormalizeScore(ctx, cs, pod, scores); !st.IsSuccess() {
		return "normalize " + st.Message()
	}
	return fmt.Sprint(scores)
}

var zones = []string{"us-east-1a", "us-east-1b", "us-east-1c"}

func (w *world) addNode(r *rand.Rand, name string) {
	labels := map[string]string{v1.LabelHostname: name, "pool": []string{"a", "b"}[r.IntN(2)]}
	switch r.IntN(10) {
	case 0: // no zone label
	case 1: // no hostname label
		delete(labels, v1.LabelHostname)
		labels[v1.LabelTopologyZone] = zones[r.IntN(len(zones))]
	default:
		labels[v1.LabelTopologyZone] = zones[r.IntN(len(zones))]
	}
	n := &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	w.cache.AddNode(w.logger, n)
	w.nodes[name] = n
}

// podShape is one of the kinds of pod the test places and schedules.
func podShape(r *rand.Rand, name string) *v1.Pod {
	p := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID(name)}}
	switch r.IntN(7) {
	case 0, 1:
		p.Labels = map[string]string{"app": "web", "pod-template-hash": "abc"}
		p.OwnerReferences = owner("ReplicaSet", "web-abc", "rs1")
	case 2:
		p.Labels = map[string]string{"app": "web", "pod-template-hash": "old"}
		p.OwnerReferences = owner("ReplicaSet", "web-old", "rs2")
	case 3:
		p.Labels = map[string]string{"app": "db"}
		p.OwnerReferences = owner("StatefulSet", "db", "ss1")
	case 4:
		p.Namespace = "other"
		p.Labels = map[string]string{"app": []string{"api", "web"}[r.IntN(2)]}
		p.OwnerReferences = owner("ReplicaSet", "api", "rs3")
	case 5:
		p.Labels = map[string]string{"app": "web"} // the Service's alone
	default:
		p.Labels = map[string]string{"app": "lonely"} // no selector: skipped
	}
	return p
}

// TestMatchesUpstream changes a cluster at random and, after each change,
// scores pods of every shape with both plugins: the scores must be equal.
func TestMatchesUpstream(t *testing.T) {
	for seed := range uint64(4) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 1))
			w := newWorld(t)
			for i := range 40 {
				w.addNode(r, fmt.Sprintf("node-%d", i))
			}
			compared := 0
			for step := range 300 {
				w.change(r, step)
				w.sync()
				all, err := w.snapshot.NodeInfos().List()
				if err != nil {
					t.Fatal(err)
				}
				for k := range 3 {
					pod := podShape(r, fmt.Sprintf("incoming-%d-%d", step, k))
					switch r.IntN(6) {
					case 0:
						pod.Spec.NodeSelector = map[string]string{"pool": "a"}
					case 1: // its own constraints: upstream's path in both
						pod.Spec.TopologySpreadConstraints = []v1.TopologySpreadConstraint{{
							MaxSkew: 1, TopologyKey: v1.LabelTopologyZone, WhenUnsatisfiable: v1.ScheduleAnyway,
							LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}}
					}
					filtered := slices.Clone(all)
					r.Shuffle(len(filtered), func(i, j int) { filtered[i], filtered[j] = filtered[j], filtered[i] })
					filtered = filtered[:1+r.IntN(len(filtered))]
					want := score(w.ctx, w.upstream, pod, filtered)
					got := score(w.ctx, w.memo, pod, filtered)
					if got != want {
						t.Fatalf("step %d pod %v labels %v selector %v on %d nodes:\nupstream %s\nmemo     %s",
							step, pod.Name, pod.Labels, pod.Spec.NodeSelector, len(filtered), want, got)
					}
					compared++
				}
			}
			if compared == 0 {
				t.Fatal("nothing compared")
			}
		})
	}
}

// change adds, updates or removes a pod, or now and then a node.
func (w *world) change(r *rand.Rand, step int) {
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range w.pods {
			if !yield(n) {
				return
			}
		}
	})
	nodes := slices.Sorted(func(yield func(string) bool) {
		for n := range w.nodes {
			if !yield(n) {
				return
			}
		}
	})
	switch c := r.IntN(20); {
	case c < 10 || len(names) == 0: // a pod placed
		p := podShape(r, fmt.Sprintf("pod-%d", step))
		p.Spec.NodeName = nodes[r.IntN(len(nodes))]
		if err := w.cache.AddPod(w.logger, p); err != nil {
			w.t.Fatal(err)
		}
		w.pods[p.Name] = p
	case c < 13: // a pod's labels change
		old := w.pods[names[r.IntN(len(names))]]
		p := old.DeepCopy()
		p.Labels = podShape(r, p.Name).Labels
		w.update(old, p)
	case c < 15: // a pod terminating
		old := w.pods[names[r.IntN(len(names))]]
		p := old.DeepCopy()
		p.DeletionTimestamp = &metav1.Time{}
		w.update(old, p)
	case c < 18: // a pod gone
		p := w.pods[names[r.IntN(len(names))]]
		if err := w.cache.RemovePod(w.logger, p); err != nil {
			w.t.Fatal(err)
		}
		delete(w.pods, p.Name)
	case c < 19: // a node relabelled
		old := w.nodes[nodes[r.IntN(len(nodes))]]
		n := old.DeepCopy()
		n.Labels[v1.LabelTopologyZone] = zones[r.IntN(len(zones))]
		w.cache.UpdateNode(w.logger, old, n)
		w.nodes[n.Name] = n
	case c < 20 && r.IntN(2) == 0: // a node without pods gone
		for _, name := range nodes {
			if !slices.ContainsFunc(names, func(p string) bool { return w.pods[p].Spec.NodeName == name }) {
				if err := w.cache.RemoveNode(w.logger, w.nodes[name]); err != nil {
					w.t.Fatal(err)
				}
				delete(w.nodes, name)
				return
			}
		}
	default: // a node added
		w.addNode(r, fmt.Sprintf("node-%d", 1000+step))
	}
}

func (w *world) update(old, p *v1.Pod) {
	if err := w.cache.UpdatePod(w.logger, old, p); err != nil {
		w.t.Fatal(err)
	}
	w.pods[p.Name] = p
}

// TestReusesCounts checks the point of the plugin: scoring a second pod
// on an unchanged cluster counts no node again, and a pod added to one
// node makes only that node counted again.
func TestReusesCounts(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	w := newWorld(t)
	for i := range 20 {
		w.addNode(r, fmt.Sprintf("node-%d", i))
	}
	place := func(name, node string) {
		p := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID(name),
			Labels: map[string]string{"app": "web", "pod-template-hash": "abc"}, OwnerReferences: owner("ReplicaSet", "web-abc", "rs1")},
			Spec: v1.PodSpec{NodeName: node}}
		if err := w.cache.AddPod(w.logger, p); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 60 {
		place(fmt.Sprint("p", i), fmt.Sprintf("node-%d", i%20))
	}
	w.sync()
	all, _ := w.snapshot.NodeInfos().List()
	pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "new", Namespace: "default",
		Labels: map[string]string{"app": "web", "pod-template-hash": "abc"}, OwnerReferences: owner("ReplicaSet", "web-abc", "rs1")}}

	computed := func() int {
		before := w.memo.computed
		if got, want := score(w.ctx, w.memo, pod, all), score(w.ctx, w.upstream, pod, all); got != want {
			t.Fatalf("memo %s, upstream %s", got, want)
		}
		return int(w.memo.computed - before)
	}
	if n := computed(); n != 20 {
		t.Fatalf("first pod counted %d nodes, want all 20", n)
	}
	if n := computed(); n != 0 {
		t.Fatalf("second pod on an unchanged cluster counted %d nodes, want 0", n)
	}
	place("one-more", "node-3")
	w.sync()
	if n := computed(); n != 1 {
		t.Fatalf("after one pod placed, %d nodes counted again, want 1", n)
	}
}

// TestMemoBounded checks that selectors seen long ago are forgotten and
// the recent ones kept.
func TestMemoBounded(t *testing.T) {
	p := &Plugin{memo: map[string]*selectorCounts{}}
	for i := range 10 * maxSelectors {
		p.counts("default", labels.SelectorFromSet(labels.Set{"app": fmt.Sprint(i)}), nil)
		if len(p.memo) > maxSelectors {
			t.Fatalf("after %d selectors the memo holds %d, more than %d", i+1, len(p.memo), maxSelectors)
		}
	}
	last := "default\x00" + labels.SelectorFromSet(labels.Set{"app": fmt.Sprint(10*maxSelectors - 1)}).String()
	if p.memo[last] == nil {
		t.Fatal("the latest selector was forgotten")
	}
}
