package sim

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/berthproject/berth/internal/compute/ipam"
)

// Pod annotations the simulation reads.
const (
	// AnnotationRunDuration makes a pod's containers exit after the given
	// time.Duration ("5s") of running.
	AnnotationRunDuration = "berth.dev/run-duration"
	// AnnotationExitCode is the exit code of those containers, 0 unless
	// set.
	AnnotationExitCode = "berth.dev/exit-code"
)

// exitCodeTerminated is what a container killed by a graceful delete
// reports when it is not a long-running service (SIGTERM).
const exitCodeTerminated = 143

func metaKey(obj any) (string, error) { return cache.MetaNamespaceKeyFunc(obj) }

// processPod takes one pod key from the queue and syncs it.
func (c *Cluster) processPod(ctx context.Context) bool {
	key, shutdown := c.podQueue.Get()
	if shutdown {
		return false
	}
	defer c.podQueue.Done(key)
	after, err := c.syncPod(ctx, key)
	switch {
	case err != nil:
		if ctx.Err() != nil {
			return true
		}
		if apierrors.IsConflict(err) {
			c.log.Debug("pod changed meanwhile", "pod", key)
		} else {
			c.log.Debug("pod sync failed", "pod", key, "err", err)
		}
		c.podQueue.AddRateLimited(key)
	case after > 0:
		c.podQueue.Forget(key)
		c.podQueue.AddAfter(key, after)
	default:
		c.podQueue.Forget(key)
	}
	return true
}

// syncPod moves the pod one step along its lifecycle, as the kubelet of its
// node would, and says when to look at it again (0: when it changes).
func (c *Cluster) syncPod(ctx context.Context, key string) (time.Duration, error) {
	obj, exists, err := c.pods.GetIndexer().GetByKey(key)
	if err != nil || !exists {
		return 0, err
	}
	pod := obj.(*corev1.Pod)
	n := c.node(pod.Spec.NodeName)
	if n == nil {
		return 0, nil
	}
	now := c.clock.Now()
	switch {
	case pod.DeletionTimestamp != nil:
		return c.stopPod(ctx, n, pod, now)
	case isTerminal(pod):
		// Kubelet takes down the volumes of a pod whose containers ended.
		return 0, c.unmountVolumes(ctx, n, pod.UID)
	case pod.Status.StartTime == nil || pod.Status.Phase == corev1.PodPending:
		if err := c.mountVolumes(ctx, n, pod); err != nil {
			return 0, err
		}
		err := c.startPod(ctx, n, pod, now)
		if errors.Is(err, ipam.ErrSubnetFull) {
			c.log.Debug("no address for pod", "pod", key, "subnet", n.spec.Subnet)
			c.noAddress(ctx, n, pod)
			return sandboxRetry, nil
		}
		return 0, err
	default:
		if hasClaims(pod) {
			// After a restart, the volumes a running pod had are known
			// again (publishing is idempotent).
			n.volMu.Lock()
			_, known := n.mounts[pod.UID]
			n.volMu.Unlock()
			if !known {
				if err := c.mountVolumes(ctx, n, pod); err != nil {
					c.log.Debug("volumes of a running pod", "pod", key, "err", err)
				}
			}
		}
		if wrote, err := c.restoreReady(ctx, n, pod, now); wrote || err != nil {
			// The write's own update brings the pod back; acting on
			// this copy now would only conflict with it.
			return 0, err
		}
		after, err := c.runPod(ctx, n, pod, now)
		if err != nil || !hasClaims(pod) {
			return after, err
		}
		if err := c.expandVolumes(ctx, n, pod); err != nil {
			c.log.Debug("expanding volumes", "pod", key, "err", err)
		}
		if after == 0 || after > resizeCheckInterval {
			after = resizeCheckInterval
		}
		return after, nil
	}
}

// startPod gives the pod an IP and reports it Running and Ready.
func (c *Cluster) startPod(ctx context.Context, n *node, pod *corev1.Pod, now time.Time) error {
	ip := n.spec.InternalIP.String()
	if !pod.Spec.HostNetwork && !n.spec.PodsUseNodeIP {
		a, err := c.ips.Allocate(podOwner(pod), n.spec.Subnet)
		if err != nil {
			return err
		}
		ip = a.String()
	}
	t := metav1.NewTime(now)
	st := pod.Status.DeepCopy()
	st.Phase = corev1.PodRunning
	st.HostIP = n.spec.InternalIP.String()
	st.HostIPs = []corev1.HostIP{{IP: st.HostIP}}
	st.PodIP = ip
	st.PodIPs = []corev1.PodIP{{IP: ip}}
	st.StartTime = &t
	st.InitContainerStatuses = nil
	for _, ctr := range pod.Spec.InitContainers {
		cs := containerStatus(pod, ctr, 0)
		if ctr.RestartPolicy != nil && *ctr.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			cs.State.Running = &corev1.ContainerStateRunning{StartedAt: t}
			cs.Ready, cs.Started = true, ptr.To(true)
		} else {
			cs.State.Terminated = &corev1.ContainerStateTerminated{Reason: "Completed", StartedAt: t, FinishedAt: t, ContainerID: cs.ContainerID}
			cs.Ready, cs.Started = true, ptr.To(false)
		}
		st.InitContainerStatuses = append(st.InitContainerStatuses, cs)
	}
	st.ContainerStatuses = nil
	for _, ctr := range pod.Spec.Containers {
		cs := containerStatus(pod, ctr, 0)
		cs.State.Running = &corev1.ContainerStateRunning{StartedAt: t}
		cs.Ready, cs.Started = true, ptr.To(true)
		st.ContainerStatuses = append(st.ContainerStatuses, cs)
	}
	ready := readiness(pod, st)
	for _, typ := range []corev1.PodConditionType{corev1.PodReadyToStartContainers, corev1.PodInitialized, corev1.ContainersReady, corev1.PodScheduled} {
		setCondition(st, typ, corev1.ConditionTrue, "", t)
	}
	setCondition(st, corev1.PodReady, ready, "", t)
	if err := c.writeStatus(ctx, n, pod, st); err != nil {
		return err
	}
	c.starts.Store(pod.UID, now)
	return nil
}

// readiness is the Ready condition kubelet reports for a pod whose
// containers are all ready: true unless a readiness gate is not.
func readiness(pod *corev1.Pod, st *corev1.PodStatus) corev1.ConditionStatus {
	for _, g := range pod.Spec.ReadinessGates {
		if condition(st, g.ConditionType) != corev1.ConditionTrue {
			return corev1.ConditionFalse
		}
	}
	return corev1.ConditionTrue
}

// restoreReady reports a running pod ready again when someone else marked
// it not ready, as kube-controller-manager does to the pods of a node whose
// Lease was late: kubelet owns those conditions, and its status manager
// writes them back on its next sync once the node is heard from again.
// It says whether it wrote the pod's status.
func (c *Cluster) restoreReady(ctx context.Context, n *node, pod *corev1.Pod, now time.Time) (bool, error) {
	if pod.Status.Phase != corev1.PodRunning || len(pod.Status.ContainerStatuses) == 0 {
		return false, nil
	}
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.State.Running == nil || !cs.Ready {
			return false, nil
		}
	}
	want := readiness(pod, &pod.Status)
	if condition(&pod.Status, corev1.PodReady) == want && condition(&pod.Status, corev1.ContainersReady) == corev1.ConditionTrue {
		return false, nil
	}
	st := pod.Status.DeepCopy()
	t := metav1.NewTime(now)
	setCondition(st, corev1.ContainersReady, corev1.ConditionTrue, "", t)
	setCondition(st, corev1.PodReady, want, "", t)
	return true, c.writeStatus(ctx, n, pod, st)
}

// runPod ends or restarts the containers of a pod whose run duration is up.
func (c *Cluster) runPod(ctx context.Context, n *node, pod *corev1.Pod, now time.Time) (time.Duration, error) {
	d, ok := c.runDuration(pod)
	if !ok || len(pod.Status.ContainerStatuses) == 0 {
		return 0, nil
	}
	started := pod.Status.StartTime.Time
	if r := pod.Status.ContainerStatuses[0].State.Running; r != nil {
		started = r.StartedAt.Time
	}
	if t, ok := c.starts.Load(pod.UID); ok && t.(time.Time).After(started) {
		started = t.(time.Time)
	}
	if left := started.Add(d).Sub(now); left > 0 {
		return left, nil
	}
	code := exitCode(pod)
	restart := pod.Spec.RestartPolicy == corev1.RestartPolicyAlways ||
		(pod.Spec.RestartPolicy == corev1.RestartPolicyOnFailure && code != 0)
	t := metav1.NewTime(now)
	st := pod.Status.DeepCopy()
	for i := range st.ContainerStatuses {
		cs := &st.ContainerStatuses[i]
		term := terminated(cs, code, t)
		if restart {
			cs.LastTerminationState = corev1.ContainerState{Terminated: term}
			cs.RestartCount++
			cs.ContainerID = containerID(pod, cs.Name, cs.RestartCount)
			cs.State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: t}}
		} else {
			cs.State = corev1.ContainerState{Terminated: term}
			cs.Ready, cs.Started = false, ptr.To(false)
		}
	}
	if !restart {
		finish(st, code, t)
	}
	if err := c.writeStatus(ctx, n, pod, st); err != nil {
		return 0, err
	}
	if restart {
		c.starts.Store(pod.UID, now)
		return d, nil
	}
	return 0, nil
}

// stopPod handles a pod being deleted: after min(grace period,
// TerminationDelay) its containers are reported stopped and the pod is
// deleted with grace period 0, which removes it.
func (c *Cluster) stopPod(ctx context.Context, n *node, pod *corev1.Pod, now time.Time) (time.Duration, error) {
	if !isTerminal(pod) && pod.Status.StartTime != nil {
		grace := time.Duration(ptr.Deref(pod.DeletionGracePeriodSeconds, 0)) * time.Second
		requested := pod.DeletionTimestamp.Add(-grace)
		if left := requested.Add(min(grace, c.cfg.TerminationDelay)).Sub(now); left > 0 {
			return left, nil
		}
		code := int32(exitCodeTerminated)
		if pod.Spec.RestartPolicy == corev1.RestartPolicyAlways {
			code = 0
		}
		t := metav1.NewTime(now)
		st := pod.Status.DeepCopy()
		for i := range st.ContainerStatuses {
			cs := &st.ContainerStatuses[i]
			if cs.State.Terminated == nil {
				cs.State = corev1.ContainerState{Terminated: terminated(cs, code, t)}
			}
			cs.Ready, cs.Started = false, ptr.To(false)
		}
		finish(st, code, t)
		if err := c.writeStatus(ctx, n, pod, st); err != nil {
			return 0, err
		}
	}
	if err := c.unmountVolumes(ctx, n, pod.UID); err != nil {
		return 0, err
	}
	if err := c.limiter.Wait(ctx); err != nil {
		return 0, err
	}
	err := n.core.Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: ptr.To(int64(0)),
		Preconditions:      &metav1.Preconditions{UID: &pod.UID},
	})
	if err != nil && !apierrors.IsNotFound(err) {
		return 0, fmt.Errorf("deleting pod: %w", err)
	}
	c.ips.Release(podOwner(pod))
	return 0, nil
}

// writeStatus writes st as the status of pod, as pod's node.
func (c *Cluster) writeStatus(ctx context.Context, n *node, pod *corev1.Pod, st *corev1.PodStatus) error {
	if err := c.limiter.Wait(ctx); err != nil {
		return err
	}
	p := pod.DeepCopy()
	p.Status = *st
	if _, err := n.core.Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("updating pod status: %w", err)
	}
	if isTerminal(p) {
		c.ips.Release(podOwner(pod))
		c.starts.Delete(pod.UID)
	}
	return nil
}

// runDuration says how long the pod's containers run before they exit,
// and whether they exit at all.
func (c *Cluster) runDuration(pod *corev1.Pod) (time.Duration, bool) {
	if v, ok := pod.Annotations[AnnotationRunDuration]; ok {
		d, err := time.ParseDuration(v)
		if err == nil && d >= 0 {
			return d, true
		}
		c.log.Debug("ignoring bad run duration", "pod", pod.Namespace+"/"+pod.Name, "value", v)
	}
	for _, ref := range pod.OwnerReferences {
		if ref.Kind == "Job" && ref.Controller != nil && *ref.Controller {
			return c.cfg.JobDuration, true
		}
	}
	return 0, false
}

func exitCode(pod *corev1.Pod) int32 {
	v, err := strconv.ParseInt(pod.Annotations[AnnotationExitCode], 10, 32)
	if err != nil {
		return 0
	}
	return int32(v)
}

func isTerminal(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
}

// finish makes st the status of a pod whose containers have all exited
// with code.
func finish(st *corev1.PodStatus, code int32, t metav1.Time) {
	st.Phase = corev1.PodSucceeded
	if code != 0 {
		st.Phase = corev1.PodFailed
	}
	setCondition(st, corev1.PodReady, corev1.ConditionFalse, "PodCompleted", t)
	setCondition(st, corev1.ContainersReady, corev1.ConditionFalse, "PodCompleted", t)
	setCondition(st, corev1.PodReadyToStartContainers, corev1.ConditionFalse, "", t)
}

func terminated(cs *corev1.ContainerStatus, code int32, t metav1.Time) *corev1.ContainerStateTerminated {
	reason := "Completed"
	if code != 0 {
		reason = "Error"
	}
	term := &corev1.ContainerStateTerminated{ExitCode: code, Reason: reason, FinishedAt: t, ContainerID: cs.ContainerID}
	if r := cs.State.Running; r != nil {
		term.StartedAt = r.StartedAt
	}
	return term
}

// containerStatus is the status of a container that has been created.
func containerStatus(pod *corev1.Pod, ctr corev1.Container, restarts int32) corev1.ContainerStatus {
	digest := sha256.Sum256([]byte(ctr.Image))
	return corev1.ContainerStatus{
		Name:         ctr.Name,
		Image:        ctr.Image,
		ImageID:      imageRepo(ctr.Image) + "@sha256:" + hex.EncodeToString(digest[:]),
		ContainerID:  containerID(pod, ctr.Name, restarts),
		RestartCount: restarts,
	}
}

// imageRepo is image without its tag or digest.
func imageRepo(image string) string {
	for i := len(image) - 1; i >= 0; i-- {
		switch image[i] {
		case '@':
			return image[:i]
		case ':':
			return imageRepo(image[:i])
		case '/':
			return image
		}
	}
	return image
}

// containerID is a stable containerd ID for one run of a container.
func containerID(pod *corev1.Pod, name string, restarts int32) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "%s/%s/%d", pod.UID, name, restarts))
	return "containerd://" + hex.EncodeToString(sum[:])
}

func condition(st *corev1.PodStatus, typ corev1.PodConditionType) corev1.ConditionStatus {
	for _, c := range st.Conditions {
		if c.Type == typ {
			return c.Status
		}
	}
	return corev1.ConditionUnknown
}

// setCondition sets a condition of st, keeping its transition time when
// the status does not change.
func setCondition(st *corev1.PodStatus, typ corev1.PodConditionType, status corev1.ConditionStatus, reason string, t metav1.Time) {
	for i := range st.Conditions {
		c := &st.Conditions[i]
		if c.Type == typ {
			if c.Status != status {
				c.LastTransitionTime = t
			}
			c.Status, c.Reason, c.Message = status, reason, ""
			return
		}
	}
	st.Conditions = append(st.Conditions, corev1.PodCondition{Type: typ, Status: status, Reason: reason, LastTransitionTime: t})
}
