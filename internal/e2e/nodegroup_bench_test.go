package e2e

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

func nodegroupInput(cluster, name string, subnets []string, size int32, types ...string) *eks.CreateNodegroupInput {
	if len(types) == 0 {
		types = []string{"m5.large"}
	}
	return &eks.CreateNodegroupInput{
		ClusterName: aws.String(cluster), NodegroupName: aws.String(name),
		NodeRole: aws.String("arn:aws:iam::000000000000:role/node"), Subnets: subnets,
		InstanceTypes: types,
		ScalingConfig: &ekstypes.NodegroupScalingConfig{MinSize: aws.Int32(0), MaxSize: aws.Int32(max(size, 1)), DesiredSize: aws.Int32(size)},
	}
}

// BenchmarkNodegroup3ToActive measures CreateNodegroup (3 nodes) to ACTIVE
// as a client sees it: the describe hold ends as soon as every node is
// Ready. Several node groups in a row on one cluster, each deleted after.
func BenchmarkNodegroup3ToActive(b *testing.B) {
	skipShort(b)
	const runs = 7
	d := startDaemon(b, "")
	c := d.eks(b)
	subnets := d.subnets(b)
	ctx := context.Background()
	if _, err := c.CreateCluster(ctx, createInput("ngbench", subnets)); err != nil {
		b.Fatal(err)
	}
	waitActive(b, c, "ngbench", 2*time.Minute)
	var times []time.Duration
	for range b.N {
		for i := range runs {
			name := fmt.Sprintf("ng-%d", i)
			start := time.Now()
			if _, err := c.CreateNodegroup(ctx, nodegroupInput("ngbench", name, subnets[:3], 3)); err != nil {
				b.Fatal(err)
			}
			waitNodegroupActive(b, c, "ngbench", name, time.Minute)
			times = append(times, time.Since(start))
			if _, err := c.DeleteNodegroup(ctx, &eks.DeleteNodegroupInput{ClusterName: aws.String("ngbench"), NodegroupName: aws.String(name)}); err != nil {
				b.Fatal(err)
			}
		}
	}
	reportSpread(b, times, "create node group to ACTIVE")
}

// BenchmarkNodegroup1000Nodes creates one node group of 1,000 nodes and
// measures until the API server shows every node Ready, then runs one
// Deployment of 10,000 replicas on them and measures until every pod is
// Running. It reports berth's memory per simulated node. Progress is
// followed with watches, as a user's controller would, not by listing
// thousands of objects in a loop (which would itself load the API server).
func BenchmarkNodegroup1000Nodes(b *testing.B) {
	skipShort(b)
	nodes, pods := 1000, 10000
	if v := os.Getenv("BERTH_BENCH_NODES"); v != "" {
		nodes, _ = strconv.Atoi(v)
		pods = nodes * 10
	}
	if v := os.Getenv("BERTH_BENCH_PODS"); v != "" {
		pods, _ = strconv.Atoi(v)
	}
	d := startDaemon(b, "", "--max-nodes-per-nodegroup", strconv.Itoa(max(nodes, 450)), "--log-level", "info")
	c := d.eks(b)
	subnets := d.subnets(b)
	ctx := context.Background()
	if _, err := c.CreateCluster(ctx, createInput("big", subnets)); err != nil {
		b.Fatal(err)
	}
	waitActive(b, c, "big", 2*time.Minute)
	kc, _ := d.kubeClient(b, "big")
	before := rssMB(b, d.cmd.Process.Pid)
	for range b.N {
		readyNodes := &counter{}
		stopNodes := watchCount(b, kc, "nodes", "", readyNodes, func(obj any) bool {
			n := obj.(*corev1.Node)
			for _, c := range n.Status.Conditions {
				if c.Type == corev1.NodeReady {
					return c.Status == corev1.ConditionTrue
				}
			}
			return false
		})
		start := time.Now()
		// m5.4xlarge: 16 vCPUs, 110 pods (the EKS recommendation for
		// fewer than 30 vCPUs): room for ten pods each and more.
		if _, err := c.CreateNodegroup(ctx, nodegroupInput("big", "many", subnets[:3], int32(nodes), "m5.4xlarge")); err != nil {
			b.Fatal(err)
		}
		if err := readyNodes.wait(nodes, 5*time.Minute); err != nil {
			b.Fatalf("nodes: %v", err)
		}
		b.ReportMetric(time.Since(start).Seconds(), "nodes-ready-s")
		stopNodes()
		waitNodegroupActive(b, c, "big", "many", time.Minute)
		b.ReportMetric(time.Since(start).Seconds(), "nodegroup-active-s")
		time.Sleep(5 * time.Second) // let the joins' garbage go
		after := rssMB(b, d.cmd.Process.Pid)
		b.ReportMetric((after-before)*1024/float64(nodes), "KB/node")

		if pods == 0 {
			continue
		}
		running := &counter{}
		stopPods := watchCount(b, kc, "pods", "app=scale", running, func(obj any) bool {
			return obj.(*corev1.Pod).Status.Phase == corev1.PodRunning
		})
		start = time.Now()
		dep := deployment("scale", int32(pods))
		dep.Spec.Template.Spec.Containers[0].Resources = corev1.ResourceRequirements{}
		if _, err := kc.AppsV1().Deployments("default").Create(ctx, dep, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
		if err := running.wait(pods, 10*time.Minute); err != nil {
			b.Fatalf("pods: %v", err)
		}
		b.ReportMetric(time.Since(start).Seconds(), "pods-running-s")
		stopPods()
		b.ReportMetric(rssMB(b, d.cmd.Process.Pid), "daemon-MB")
		if pid, ok := d.controlPlanePID("big"); ok {
			b.ReportMetric(rssMB(b, pid), "controlplane-MB")
		}
	}
}

// counter counts the objects of a watch that satisfy a predicate.
type counter struct {
	mu   sync.Mutex
	keys map[string]bool
}

func (c *counter) set(key string, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.keys == nil {
		c.keys = map[string]bool{}
	}
	if ok {
		c.keys[key] = true
	} else {
		delete(c.keys, key)
	}
}

func (c *counter) n() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.keys)
}

// wait polls the count (a cheap in-memory read) until it reaches want.
func (c *counter) wait(want int, max time.Duration) error {
	deadline := time.Now().Add(max)
	for c.n() < want {
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d after %s", c.n(), want, max)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// watchCount runs an informer on nodes or pods and keeps c up to date;
// the returned func stops it.
func watchCount(b testing.TB, kc kubernetes.Interface, resource, selector string, c *counter, pred func(any) bool) func() {
	b.Helper()
	factory := informers.NewSharedInformerFactoryWithOptions(kc, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = selector }))
	var inf cache.SharedIndexInformer
	switch resource {
	case "nodes":
		inf = factory.Core().V1().Nodes().Informer()
	case "pods":
		inf = factory.Core().V1().Pods().Informer()
	}
	key := func(obj any) string {
		k, _ := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
		return k
	}
	_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { c.set(key(obj), pred(obj)) },
		UpdateFunc: func(_, obj any) { c.set(key(obj), pred(obj)) },
		DeleteFunc: func(obj any) { c.set(key(obj), false) },
	})
	if err != nil {
		b.Fatal(err)
	}
	stop := make(chan struct{})
	factory.Start(stop)
	return func() { close(stop); factory.Shutdown() }
}
