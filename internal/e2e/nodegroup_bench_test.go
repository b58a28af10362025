package e2e

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	slices.Sort(times)
	b.ReportMetric(times[len(times)/2].Seconds(), "median-s")
	b.ReportMetric(times[0].Seconds(), "min-s")
	b.ReportMetric(times[len(times)-1].Seconds(), "max-s")
	b.Logf("create node group to ACTIVE over %d runs: %v", len(times), times)
}

// BenchmarkNodegroup1000Nodes creates one node group of 1,000 nodes and
// measures until the API server shows every node Ready, then runs one
// Deployment of 10,000 replicas on them and measures until every pod is
// Running. It reports berth's memory per simulated node.
func BenchmarkNodegroup1000Nodes(b *testing.B) {
	skipShort(b)
	const nodes, pods = 1000, 10000
	d := startDaemon(b, "", "--max-nodes-per-nodegroup", "1000")
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
		start := time.Now()
		// m5.4xlarge: 234 pods per node (capped at 110 by the EKS
		// recommendation for fewer than 30 vCPUs) holds 10 pods each.
		if _, err := c.CreateNodegroup(ctx, nodegroupInput("big", "many", subnets[:3], nodes, "m5.4xlarge")); err != nil {
			b.Fatal(err)
		}
		err := eventually(3*time.Minute, func() error {
			ready, err := readyNodes(ctx, kc, "many")
			if err != nil {
				return err
			}
			if len(ready) < nodes {
				return fmt.Errorf("%d of %d nodes Ready", len(ready), nodes)
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		nodesReady := time.Since(start)
		b.ReportMetric(nodesReady.Seconds(), "nodes-ready-s")
		waitNodegroupActive(b, c, "big", "many", time.Minute)
		b.ReportMetric(time.Since(start).Seconds(), "nodegroup-active-s")
		time.Sleep(5 * time.Second) // let joins' garbage go
		after := rssMB(b, d.cmd.Process.Pid)
		b.ReportMetric((after-before)*1024/nodes, "KB/node")

		start = time.Now()
		dep := deployment("scale", pods)
		dep.Spec.Template.Spec.Containers[0].Resources = corev1.ResourceRequirements{}
		if _, err := kc.AppsV1().Deployments("default").Create(ctx, dep, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
		err = eventually(5*time.Minute, func() error {
			list, err := kc.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=scale", ResourceVersion: "0"})
			if err != nil {
				return err
			}
			running := 0
			for _, p := range list.Items {
				if p.Status.Phase == corev1.PodRunning {
					running++
				}
			}
			if running < pods {
				return fmt.Errorf("%d of %d pods Running", running, pods)
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(time.Since(start).Seconds(), "pods-running-s")
		b.ReportMetric(rssMB(b, d.cmd.Process.Pid), "daemon-MB")
		if pid, ok := d.controlPlanePID("big"); ok {
			b.ReportMetric(rssMB(b, pid), "controlplane-MB")
		}
	}
}
