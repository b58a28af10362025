package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// BenchmarkAutoscaler measures, on a node group that starts at zero: a
// pending pod to Running on a new node (each pod needs a node of its own,
// median of 5), then 1,000 pending pods to the scale-up decision (from the
// moment the scheduler has marked them all unschedulable to the node
// group's desired size changing).
func BenchmarkAutoscaler(b *testing.B) {
	skipShort(b)
	d := startDaemon(b, "", "--log-level", "info", "--max-nodes-per-nodegroup", "1000")
	c := d.eks(b)
	ctx := context.Background()
	subnets := d.subnets(b)
	if _, err := c.CreateCluster(ctx, createInput("asb", subnets)); err != nil {
		b.Fatal(err)
	}
	waitActive(b, c, "asb", 2*time.Minute)
	kc, _ := d.kubeClient(b, "asb")
	if _, err := c.CreateNodegroup(ctx, autoscaledInput("asb", "one", subnets[:2], 10, ekstypes.CapacityTypesOnDemand, "m5.large", map[string]string{"pool": "one"})); err != nil {
		b.Fatal(err)
	}
	// "many" is not autoscaled until its 1,000 pods wait: then it gets the
	// tags, and the decision is timed from there.
	many := autoscaledInput("asb", "many", subnets[:2], 1000, ekstypes.CapacityTypesOnDemand, "m5.large", map[string]string{"pool": "many"})
	tags := many.Tags
	many.Tags = nil
	out, err := c.CreateNodegroup(ctx, many)
	if err != nil {
		b.Fatal(err)
	}
	waitNodegroupActive(b, c, "asb", "one", time.Minute)
	waitNodegroupActive(b, c, "asb", "many", time.Minute)
	for range b.N {
		var times []time.Duration
		for i := range 5 {
			name := fmt.Sprintf("solo-%d", i)
			w, err := kc.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + name})
			if err != nil {
				b.Fatal(err)
			}
			// 1.5 CPU: one such pod per m5.large, so each needs a new node.
			p := newPod("default", name, nil, bareCtr("1500m", ""))
			p.Spec.NodeSelector = map[string]string{"pool": "one"}
			start := time.Now()
			createPod(b, kc, p)
			deadline := time.After(time.Minute)
		wait:
			for {
				select {
				case ev := <-w.ResultChan():
					if p, ok := ev.Object.(*corev1.Pod); ok && ev.Type != watch.Deleted && p.Status.Phase == corev1.PodRunning {
						times = append(times, time.Since(start))
						break wait
					}
				case <-deadline:
					b.Fatalf("pod %s not Running within a minute", name)
				}
			}
			w.Stop()
		}
		reportSpread(b, times, "pending pod to Running on a new node")

		dep := workload("fleet", 1000, "100m", map[string]string{"pool": "many"}, nil)
		if _, err := kc.AppsV1().Deployments("default").Create(ctx, dep, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
		err := eventually(5*time.Minute, func() error {
			list, err := kc.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=fleet"})
			if err != nil {
				return err
			}
			n := 0
			for _, p := range list.Items {
				if unschedulableNow(&p) {
					n++
				}
			}
			if n < 1000 {
				return fmt.Errorf("%d of 1000 pods unschedulable", n)
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if _, err := c.TagResource(ctx, &eks.TagResourceInput{ResourceArn: out.Nodegroup.NodegroupArn, Tags: tags}); err != nil {
			b.Fatal(err)
		}
		// 19 pods of 0.1 CPU fit an m5.large: 53 nodes.
		var got int32
		err = eventually(time.Minute, func() error {
			if got = desiredSize(b, c, "asb", "many"); got < 53 {
				return fmt.Errorf("desired %d", got)
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(time.Since(start).Seconds(), "1000-pods-decision-s")
		b.Logf("1,000 pending pods: scale-up to %d nodes %v after the node group was tagged (polled every 200 ms)", got, time.Since(start))
	}
}

func unschedulableNow(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
			return true
		}
	}
	return false
}
