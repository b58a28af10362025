package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// BenchmarkFargate measures, on one cluster with one Fargate profile: a
// pod from its create call to Running (one at a time, median of 15), then
// 100 pods of one Deployment from its create call to all Running.
func BenchmarkFargate(b *testing.B) {
	skipShort(b)
	d := startDaemon(b, "", "--log-level", "info")
	c := d.eks(b)
	ctx := context.Background()
	if _, err := c.CreateCluster(ctx, createInput("fgb", d.subnets(b))); err != nil {
		b.Fatal(err)
	}
	waitActive(b, c, "fgb", 2*time.Minute)
	if _, err := c.CreateFargateProfile(ctx, fargateInput("fgb", "fp", d.privateSubnets(b), ekstypes.FargateProfileSelector{Namespace: aws.String("default")})); err != nil {
		b.Fatal(err)
	}
	waitProfileActive(b, c, "fgb", "fp")
	kc, _ := d.kubeClient(b, "fgb")
	for range b.N {
		var times []time.Duration
		for i := range 15 {
			name := fmt.Sprintf("one-%d", i)
			w, err := kc.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + name})
			if err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			createPod(b, kc, newPod("default", name, nil, bareCtr("", "")))
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
		reportSpread(b, times, "Fargate pod create to Running")

		dep := deployment("fleet", 100)
		start := time.Now()
		if _, err := kc.AppsV1().Deployments("default").Create(ctx, dep, metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
		runningPods(b, kc, "fleet", 100, 5*time.Minute)
		b.ReportMetric(time.Since(start).Seconds(), "100-pods-s")
		b.Logf("100 Fargate pods of one Deployment Running after %v", time.Since(start))
	}
}
