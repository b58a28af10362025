package fargate

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"github.com/berthproject/berth/internal/compute"
	"github.com/berthproject/berth/internal/compute/sim"
	"github.com/berthproject/berth/internal/fargate"
)

// schedulerWorkers is how many pods or nodes one cluster's Fargate
// scheduler works on at once: each new pod waits on its node's join.
const schedulerWorkers = 16

// nodeSweep is how often a cluster's Fargate nodes are checked against
// its pods, for what the events missed (a restart, a lost watch).
const nodeSweep = 10 * time.Second

const byNode = "byNode"

// podScheduler is one cluster's Fargate scheduler: it gives each pod that
// fargate-scheduler should place a node of its own, sized to the pod, and
// removes the node when the pod is gone or finished.
type podScheduler struct {
	cluster string
	ctl     *Controller
	log     *slog.Logger
	client  kubernetes.Interface
	sim     *sim.Cluster
	pods    cache.SharedIndexInformer
	queue   workqueue.TypedRateLimitingInterface[string]
	events  record.EventRecorder
	cancel  context.CancelFunc
	done    chan struct{}

	mu       sync.Mutex
	inflight map[string]bool   // nodes started for pods not bound yet
	owners   map[string]string // node name -> its address's ipam owner
	// placed holds the pods bound here whose binding the informer has
	// not shown yet, and their nodes: neither is to be touched meanwhile.
	placed map[types.UID]string
}

func newPodScheduler(ctl *Controller, cluster string, client kubernetes.Interface, s *sim.Cluster) *podScheduler {
	lw := cache.NewFilteredListWatchFromClient(client.CoreV1().RESTClient(), "pods", metav1.NamespaceAll, func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("spec.schedulerName", SchedulerName).String()
	})
	inf := cache.NewSharedIndexInformer(lw, &corev1.Pod{}, 0, cache.Indexers{byNode: func(obj any) ([]string, error) {
		if p, ok := obj.(*corev1.Pod); ok && p.Spec.NodeName != "" {
			return []string{p.Spec.NodeName}, nil
		}
		return nil, nil
	}})
	return &podScheduler{
		cluster: cluster, ctl: ctl, client: client, sim: s, pods: inf,
		log: ctl.log.With("cluster", cluster),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](100*time.Millisecond, 10*time.Second),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "fargate-" + cluster}),
		inflight: map[string]bool{}, owners: map[string]string{}, placed: map[types.UID]string{},
		done: make(chan struct{}),
	}
}

// run schedules until ctx is done.
func (s *podScheduler) run(ctx context.Context) {
	defer close(s.done)
	defer s.queue.ShutDown()
	b := record.NewBroadcaster(record.WithContext(ctx))
	b.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: s.client.CoreV1().Events("")})
	defer b.Shutdown()
	s.events = b.NewRecorder(scheme.Scheme, corev1.EventSource{Component: SchedulerName})
	s.pods.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { s.observe(obj) },
		UpdateFunc: func(_, obj any) { s.observe(obj) },
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			p, ok := obj.(*corev1.Pod)
			if !ok {
				return
			}
			s.mu.Lock()
			node := s.placed[p.UID]
			delete(s.placed, p.UID)
			s.mu.Unlock()
			if p.Spec.NodeName != "" {
				node = p.Spec.NodeName
			}
			if node != "" {
				s.queue.Add("node:" + node)
			}
		},
	})
	go s.pods.Run(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), s.pods.HasSynced) {
		return
	}
	for range schedulerWorkers {
		go s.work(ctx)
	}
	t := time.NewTicker(nodeSweep)
	defer t.Stop()
	for {
		s.sweep(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *podScheduler) observe(obj any) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	if p.Spec.NodeName != "" {
		s.mu.Lock()
		delete(s.placed, p.UID)
		s.mu.Unlock()
		s.queue.Add("node:" + p.Spec.NodeName)
		return
	}
	if key, err := cache.MetaNamespaceKeyFunc(p); err == nil {
		s.queue.Add("pod:" + key)
	}
}

// sweep queues every Fargate node of the cluster, so that nodes whose pod
// went while berth was down go too, and nodes whose pod lives come back.
func (s *podScheduler) sweep(ctx context.Context) {
	nodes, err := s.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: ComputeTypeLabel + "=fargate"})
	if err != nil {
		s.log.Debug("listing fargate nodes", "err", err)
		return
	}
	for _, n := range nodes.Items {
		s.queue.Add("node:" + n.Name)
	}
}

func (s *podScheduler) work(ctx context.Context) {
	for {
		key, quit := s.queue.Get()
		if quit {
			return
		}
		var err error
		if name, ok := strings.CutPrefix(key, "node:"); ok {
			err = s.syncNode(ctx, name)
		} else {
			err = s.syncPod(ctx, strings.TrimPrefix(key, "pod:"))
		}
		switch {
		case err == nil:
			s.queue.Forget(key)
		case ctx.Err() != nil:
		default:
			s.log.Debug("fargate scheduling", "key", key, "err", err)
			s.queue.AddRateLimited(key)
		}
		s.queue.Done(key)
	}
}

func terminal(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

// syncNode keeps a Fargate node exactly as long as its pod runs.
func (s *podScheduler) syncNode(ctx context.Context, name string) error {
	objs, _ := s.pods.GetIndexer().ByIndex(byNode, name)
	var live *corev1.Pod
	for _, o := range objs {
		if p := o.(*corev1.Pod); !terminal(p) {
			live = p
		}
	}
	s.mu.Lock()
	starting := s.inflight[name]
	for _, n := range s.placed {
		starting = starting || n == name
	}
	s.mu.Unlock()
	switch {
	case live != nil && !s.sim.HasNode(name):
		return s.restoreNode(ctx, name)
	case live == nil && !starting:
		return s.removeNode(ctx, name)
	}
	return nil
}

// restoreNode simulates again the node of a pod that runs, after a
// restart of berth, from its Node object.
func (s *podScheduler) restoreNode(ctx context.Context, name string) error {
	n, err := s.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil // the pod lost its node; the pod garbage collector takes it
	}
	if err != nil {
		return err
	}
	spec, owner, err := s.specFromNode(n)
	if err != nil {
		s.log.Warn("cannot restore fargate node", "node", name, "err", err)
		return nil
	}
	if !s.ctl.cfg.IPs.Reserve(owner, spec.InternalIP) {
		s.log.Warn("the address of a fargate node is taken", "node", name, "ip", spec.InternalIP)
	}
	s.mu.Lock()
	s.owners[name] = owner
	s.mu.Unlock()
	return s.sim.AddNode(ctx, spec)
}

// removeNode stops a Fargate node, deletes its Node object and frees its
// address.
func (s *podScheduler) removeNode(ctx context.Context, name string) error {
	s.sim.RemoveNode(name)
	s.mu.Lock()
	owner, ok := s.owners[name]
	s.mu.Unlock()
	if !ok {
		n, err := s.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if _, owner, err = s.specFromNode(n); err != nil {
			owner = ""
		}
	}
	err := s.client.CoreV1().Nodes().Delete(ctx, name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	if owner != "" {
		s.ctl.cfg.IPs.Release(owner)
	}
	s.mu.Lock()
	delete(s.owners, name)
	s.mu.Unlock()
	s.log.Debug("fargate node removed", "node", name)
	return nil
}

// syncPod places one pod that waits for fargate-scheduler.
func (s *podScheduler) syncPod(ctx context.Context, key string) error {
	obj, exists, err := s.pods.GetIndexer().GetByKey(key)
	if err != nil || !exists {
		return err
	}
	pod := obj.(*corev1.Pod)
	if pod.Spec.NodeName != "" || pod.DeletionTimestamp != nil || terminal(pod) {
		return nil
	}
	s.mu.Lock()
	_, placed := s.placed[pod.UID]
	s.mu.Unlock()
	if placed {
		return nil // bound; the informer has not caught up yet
	}
	if msg := unsupported(pod, s.isEBS(ctx)); msg != "" {
		return s.refuse(ctx, pod, msg)
	}
	profile, err := s.profileOf(ctx, pod)
	if err != nil {
		return err
	}
	if profile == nil {
		return s.refuse(ctx, pod, fmt.Sprintf("Pod not supported on Fargate: no ACTIVE Fargate profile %q", pod.Labels[ProfileLabel]))
	}
	size, err := podSize(pod)
	if err != nil {
		return s.refuse(ctx, pod, "Pod not supported on Fargate: "+err.Error())
	}
	return s.place(ctx, pod, profile, size)
}

// profileOf is the ACTIVE profile the pod's label names, or nil.
func (s *podScheduler) profileOf(ctx context.Context, pod *corev1.Pod) (*fargate.Profile, error) {
	name := pod.Labels[ProfileLabel]
	all, err := s.ctl.cfg.Profiles.All(ctx, s.cluster)
	if err != nil {
		return nil, err
	}
	for _, p := range all {
		if p.Name == name && p.Status == fargate.StatusActive {
			return p, nil
		}
	}
	return nil, nil
}

// place starts the pod's node in one of its profile's subnets, then
// records the size and binds the pod.
func (s *podScheduler) place(ctx context.Context, pod *corev1.Pod, profile *fargate.Profile, size Size) error {
	if len(profile.Subnets) == 0 {
		return s.refuse(ctx, pod, "Pod not supported on Fargate: the Fargate profile "+profile.Name+" has no subnets")
	}
	h := fnv.New32a()
	h.Write([]byte(pod.UID))
	subnet, ok := s.ctl.cfg.Network.Subnet(profile.Subnets[int(h.Sum32())%len(profile.Subnets)])
	if !ok {
		return s.refuse(ctx, pod, "Pod not supported on Fargate: unknown subnet in Fargate profile "+profile.Name)
	}
	owner := "fargate/" + s.cluster + "/" + string(pod.UID)
	ip, err := s.ctl.cfg.IPs.Allocate(owner, subnet.CIDR)
	if err != nil {
		s.events.Eventf(pod, corev1.EventTypeWarning, "FailedScheduling", "Pod provisioning failed: no free address in subnet %s", subnet.ID)
		return err
	}
	name := "fargate-" + compute.PrivateDNSName(s.ctl.cfg.Region, ip)
	s.mu.Lock()
	s.inflight[name] = true
	s.owners[name] = owner
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.inflight, name)
		s.mu.Unlock()
	}()
	spec := s.nodeSpec(name, pod.UID, ip, subnet.AZ, subnet.CIDR, size)
	if f := s.ctl.cfg.KubeletVersion; f != nil {
		spec.KubeletVersion = f(ctx, s.cluster)
	}
	fail := func(err error) error {
		s.sim.RemoveNode(name)
		_ = s.client.CoreV1().Nodes().Delete(context.WithoutCancel(ctx), name, metav1.DeleteOptions{})
		s.ctl.cfg.IPs.Release(owner)
		s.mu.Lock()
		delete(s.owners, name)
		s.mu.Unlock()
		return err
	}
	if err := s.sim.AddNode(ctx, spec); err != nil {
		return fail(err)
	}
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{CapacityAnnotation: size.String()}}})
	if _, err := s.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return fail(ignoreGone(err))
	}
	// Recorded before the call: the informer may show the binding first.
	s.mu.Lock()
	s.placed[pod.UID] = name
	s.mu.Unlock()
	err = s.client.CoreV1().Pods(pod.Namespace).Bind(ctx, &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID},
		Target:     corev1.ObjectReference{Kind: "Node", Name: name},
	}, metav1.CreateOptions{})
	if err != nil {
		s.mu.Lock()
		delete(s.placed, pod.UID)
		s.mu.Unlock()
		return fail(ignoreGone(err))
	}
	s.events.Eventf(pod, corev1.EventTypeNormal, "Scheduled", "Successfully assigned %s/%s to %s", pod.Namespace, pod.Name, name)
	return nil
}

func ignoreGone(err error) error {
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil // the pod went or changed; its next event decides
	}
	return err
}

// nodeSpec is a Fargate node: one pod's size, the pod's address, the
// labels and taint EKS puts on Fargate nodes.
func (s *podScheduler) nodeSpec(name string, uid types.UID, ip netip.Addr, az string, cidr netip.Prefix, size Size) sim.NodeSpec {
	res := corev1.ResourceList{
		corev1.ResourceCPU:              *resource.NewMilliQuantity(size.MilliCPU, resource.DecimalSI),
		corev1.ResourceMemory:           *resource.NewQuantity(size.MemoryMiB<<20, resource.BinarySI),
		corev1.ResourceEphemeralStorage: *resource.NewQuantity(20<<30, resource.BinarySI),
		corev1.ResourcePods:             *resource.NewQuantity(1, resource.DecimalSI),
	}
	region := s.ctl.cfg.Region
	return sim.NodeSpec{
		Name:        name,
		ProviderID:  "aws:///" + az + "/" + string(uid) + "/" + name,
		InternalIP:  ip,
		Subnet:      cidr,
		Capacity:    res,
		Allocatable: res,
		Labels: map[string]string{
			ComputeTypeLabel:                    "fargate",
			corev1.LabelHostname:                name,
			corev1.LabelOSStable:                "linux",
			corev1.LabelArchStable:              "amd64",
			"beta.kubernetes.io/os":             "linux",
			"beta.kubernetes.io/arch":           "amd64",
			corev1.LabelTopologyRegion:          region,
			corev1.LabelTopologyZone:            az,
			corev1.LabelFailureDomainBetaRegion: region,
			corev1.LabelFailureDomainBetaZone:   az,
		},
		Taints:        []corev1.Taint{{Key: ComputeTypeLabel, Value: "fargate", Effect: corev1.TaintEffectNoSchedule}},
		PodsUseNodeIP: true,
	}
}

// specFromNode rebuilds the spec of a Fargate node from its Node object,
// and the ipam owner of its address (from the pod UID in its providerID).
func (s *podScheduler) specFromNode(n *corev1.Node) (sim.NodeSpec, string, error) {
	parts := strings.Split(strings.TrimPrefix(n.Spec.ProviderID, "aws:///"), "/")
	if len(parts) != 3 || parts[2] != n.Name {
		return sim.NodeSpec{}, "", fmt.Errorf("providerID %q is not a Fargate node's", n.Spec.ProviderID)
	}
	var ip netip.Addr
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			ip, _ = netip.ParseAddr(a.Address)
		}
	}
	var cidr netip.Prefix
	for _, sub := range s.ctl.cfg.Network.Subnets {
		if sub.CIDR.Contains(ip) {
			cidr = sub.CIDR
		}
	}
	if !cidr.IsValid() {
		return sim.NodeSpec{}, "", fmt.Errorf("node address %q is in no subnet of the VPC", ip)
	}
	cpu := n.Status.Capacity[corev1.ResourceCPU]
	mem := n.Status.Capacity[corev1.ResourceMemory]
	spec := s.nodeSpec(n.Name, types.UID(parts[1]), ip, parts[0], cidr, Size{MilliCPU: cpu.MilliValue(), MemoryMiB: mem.Value() >> 20})
	spec.KubeletVersion = n.Status.NodeInfo.KubeletVersion
	return spec, "fargate/" + s.cluster + "/" + parts[1], nil
}

// refuse tells why a pod does not run: a FailedScheduling event and the
// PodScheduled condition, once per message.
func (s *podScheduler) refuse(ctx context.Context, pod *corev1.Pod, msg string) error {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Message == msg {
			return nil
		}
	}
	s.events.Event(pod, corev1.EventTypeWarning, "FailedScheduling", msg)
	p := pod.DeepCopy()
	now := metav1.Now()
	cond := corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable, Message: msg, LastTransitionTime: now}
	found := false
	for i, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled {
			p.Status.Conditions[i], found = cond, true
		}
	}
	if !found {
		p.Status.Conditions = append(p.Status.Conditions, cond)
	}
	_, err := s.client.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{})
	return ignoreGone(err)
}

// isEBS tells whether a claim of the namespace is, or will be, a volume
// Fargate cannot mount (EBS, FSx), and which.
func (s *podScheduler) isEBS(ctx context.Context) VolumeLookup {
	return func(namespace, claim string) string {
		pvc, err := s.client.CoreV1().PersistentVolumeClaims(namespace).Get(ctx, claim, metav1.GetOptions{})
		if err != nil {
			return ""
		}
		if pvc.Spec.VolumeName != "" {
			if pv, err := s.client.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{}); err == nil {
				switch {
				case pv.Spec.AWSElasticBlockStore != nil:
					return "EBS"
				case pv.Spec.CSI != nil:
					return notOnFargate[pv.Spec.CSI.Driver]
				}
				return ""
			}
		}
		if sc := pvc.Spec.StorageClassName; sc != nil && *sc != "" {
			if c, err := s.client.StorageV1().StorageClasses().Get(ctx, *sc, metav1.GetOptions{}); err == nil {
				return notOnFargate[c.Provisioner]
			}
		}
		return ""
	}
}

// nodes is how many Fargate nodes the scheduler simulates.
func (s *podScheduler) nodes() int {
	n := 0
	for _, name := range s.sim.Nodes() {
		if strings.HasPrefix(name, "fargate-") {
			n++
		}
	}
	return n
}
