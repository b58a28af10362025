package sim

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"
)

// sandboxRetry is how long a pod whose sandbox could not be set up waits
// before the next try: kubelet's pod workers back off 10 s after a failed
// sync.
const sandboxRetry = 10 * time.Second

// recorder is n's event recorder, as kubelet's: client-go's record
// package (its spam filter and aggregation), source kubelet on the node's
// host, writing with the node's own credentials. It starts on the first
// event, so nodes that never report a problem cost nothing, and stops with
// the node or ctx.
func (c *Cluster) recorder(ctx context.Context, n *node) record.EventRecorder {
	n.eventsOnce.Do(func() {
		b := record.NewBroadcaster(record.WithContext(ctx))
		b.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: n.core.Events("")})
		n.events = b.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "kubelet", Host: n.spec.Name})
		n.stopEvents = b.Shutdown
	})
	if n.events == nil { // the node was removed first
		return discard{}
	}
	return n.events
}

// discard is the recorder of a node that is gone.
type discard struct{}

func (discard) Event(runtime.Object, string, string, string)          {}
func (discard) Eventf(runtime.Object, string, string, string, ...any) {}
func (discard) AnnotatedEventf(runtime.Object, map[string]string, string, string, string, ...any) {
}

// noAddress reports, as the Amazon VPC CNI's failure reaches kubelet, that
// pod got no IP address because its node's subnet has none free.
func (c *Cluster) noAddress(ctx context.Context, n *node, pod *corev1.Pod) {
	id := make([]byte, 32)
	_, _ = rand.Read(id)
	c.recorder(ctx, n).Eventf(pod, corev1.EventTypeWarning, "FailedCreatePodSandBox",
		"Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox %q: "+
			"plugin type=\"aws-cni\" name=\"aws-cni\" failed (add): add cmd: failed to assign an IP address to container",
		hex.EncodeToString(id))
}
