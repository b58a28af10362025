// Package drain cordons a node and evicts its pods, with kubectl's drain
// library, the way EKS drains managed nodes: DaemonSet pods stay,
// PodDisruptionBudgets are respected until a deadline, and then either the
// remaining pods are deleted (force) or the drain fails with
// PodEvictionFailure.
package drain

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	kubedrain "k8s.io/kubectl/pkg/drain"

	"github.com/berthproject/berth/internal/compute"
)

// ErrPodEvictionFailure is returned when PodDisruptionBudgets kept pods
// from being evicted until the deadline and the drain was not forced.
var ErrPodEvictionFailure = errors.New("PodEvictionFailure")

// AdminFunc returns an admin client of a cluster.
type AdminFunc func(ctx context.Context, cluster string) (kubernetes.Interface, error)

// Drainer drains the nodes of instances.
type Drainer struct {
	Admin AdminFunc
	// Log receives kubectl's drain messages; nil discards them.
	Log io.Writer
	// Now is the clock deadlines are read against; nil is time.Now.
	Now func() time.Time
}

// Drain cordons the instance's node and evicts its pods until its drain
// deadline. A node that does not exist is drained already.
func (d *Drainer) Drain(ctx context.Context, in *compute.Instance) error {
	if in.Drain == nil {
		return errors.New("drain: instance is not out of service")
	}
	client, err := d.Admin(ctx, in.Cluster)
	if err != nil {
		return err
	}
	now := time.Now
	if d.Now != nil {
		now = d.Now
	}
	return Node(ctx, client, in.Node.Name, in.Drain.Deadline.Sub(now()), in.Drain.Force, d.Log)
}

// Node drains one node: cordon, then evict every pod but DaemonSet and
// mirror pods, waiting for them to go. Evictions that PodDisruptionBudgets
// refuse are retried until timeout; then force deletes what is left, and
// no force fails with ErrPodEvictionFailure (the node stays cordoned).
func Node(ctx context.Context, client kubernetes.Interface, name string, timeout time.Duration, force bool, log io.Writer) error {
	if log == nil {
		log = io.Discard
	}
	node, err := client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading node %s: %w", name, err)
	}
	h := &kubedrain.Helper{
		Ctx:                 ctx,
		Client:              client,
		Force:               true, // pods without a controller go too, as on EKS
		GracePeriodSeconds:  -1,
		IgnoreAllDaemonSets: true,
		DeleteEmptyDirData:  true,
		Timeout:             max(timeout, time.Second),
		Out:                 log,
		ErrOut:              log,
	}
	if err := kubedrain.RunCordonOrUncordon(h, node, true); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("cordoning node %s: %w", name, err)
	}
	err = kubedrain.RunNodeDrain(h, name)
	if err == nil || ctx.Err() != nil {
		return err
	}
	if !force {
		return fmt.Errorf("%w: pods on node %s could not be evicted before the deadline (a PodDisruptionBudget allows no disruption): %v", ErrPodEvictionFailure, name, err)
	}
	h.DisableEviction = true
	h.Timeout = time.Minute
	if err := kubedrain.RunNodeDrain(h, name); err != nil {
		return fmt.Errorf("deleting the pods of node %s: %w", name, err)
	}
	return nil
}
