package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// BenchmarkRealNodes measures real nodes: a node group of two from
// CreateNodegroup to ACTIVE (every node Ready), a pod from its create
// call to Running on a real node (image present), and the memory of one
// real node's processes (containerd, its shims, kubelet, kube-proxy).
func BenchmarkRealNodes(b *testing.B) {
	skipWithoutRealNodes(b)
	d := startDaemon(b, "")
	ctx := context.Background()
	c := d.eks(b)
	subnets := d.subnets(b)
	if _, err := c.CreateCluster(ctx, createInput("rb", subnets)); err != nil {
		b.Fatal(err)
	}
	waitActive(b, c, "rb", 2*time.Minute)
	kc, _ := d.kubeClient(b, "rb")
	if out, err := exec.Command(berthBin, "image", "load", "--data-dir", d.dataDir, writeBusyboxImage(b)).CombinedOutput(); err != nil {
		b.Fatalf("berth image load: %v\n%s", err, out)
	}
	for round := range b.N {
		name := fmt.Sprintf("real-%d", round)
		began := time.Now()
		if _, err := c.CreateNodegroup(ctx, &eks.CreateNodegroupInput{
			ClusterName: aws.String("rb"), NodegroupName: aws.String(name), NodeRole: aws.String("arn:aws:iam::000000000000:role/node"),
			Subnets: subnets[:2], ScalingConfig: &ekstypes.NodegroupScalingConfig{MinSize: aws.Int32(2), MaxSize: aws.Int32(2), DesiredSize: aws.Int32(2)},
			Tags: map[string]string{"berth:provider": "real"},
		}); err != nil {
			b.Fatal(err)
		}
		waitNodegroupActive(b, c, "rb", name, 3*time.Minute)
		b.ReportMetric(time.Since(began).Seconds(), "2-real-nodes-active-s")
		nodes := waitNodes(b, kc, name, 2, time.Minute)

		// Pod start on a real node, five in a row; the first pulls the
		// image from berth's registry.
		var starts []float64
		for i := range 6 {
			pod := fmt.Sprintf("p-%d-%d", round, i)
			began := time.Now()
			if _, err := kc.CoreV1().Pods("default").Create(ctx, &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: pod},
				Spec: corev1.PodSpec{NodeName: nodes[0].Name, TerminationGracePeriodSeconds: ptr.To[int64](0),
					Containers: []corev1.Container{{Name: "c", Image: "busybox:berth-test", Command: []string{"sleep", "3600"}}}},
			}, metav1.CreateOptions{}); err != nil {
				b.Fatal(err)
			}
			waitPodRunning(b, kc, pod, 2*time.Minute)
			if i > 0 {
				starts = append(starts, time.Since(began).Seconds())
			} else {
				b.ReportMetric(time.Since(began).Seconds(), "first-pod-running-s")
			}
		}
		slices.Sort(starts)
		b.ReportMetric(starts[len(starts)/2], "pod-running-median-s")

		id := nodes[0].Spec.ProviderID[strings.LastIndex(nodes[0].Spec.ProviderID, "/")+1:]
		rss, pss := realNodeMemory(d.dataDir, id)
		var total, totalPSS int64
		for kind, v := range rss {
			b.ReportMetric(float64(v)/(1<<20), "MB-"+kind)
			total += v
			totalPSS += pss[kind]
		}
		b.ReportMetric(float64(total)/(1<<20), "MB-per-real-node")
		// Proportional: pages shared with the other node's processes and
		// berth's (the berth binary's text, mostly) counted in part.
		b.ReportMetric(float64(totalPSS)/(1<<20), "MB-per-real-node-pss")
	}
}

// realNodeMemory sums the resident memory (RSS) and the proportional set
// size (PSS) of a real node's processes (those whose command line names
// its directory or its containerd socket) by kind: kubelet, kube-proxy,
// containerd, shims and containers.
func realNodeMemory(dataDir, id string) (rss, pss map[string]int64) {
	marks := []string{filepath.Join(dataDir, "real", id), id + ".sock"}
	entries, _ := os.ReadDir("/proc")
	rss, pss = map[string]int64{}, map[string]int64{}
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		cmd, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !slices.ContainsFunc(marks, func(m string) bool { return strings.Contains(string(cmd), m) }) {
			continue
		}
		line := strings.ReplaceAll(string(cmd), "\x00", " ")
		kind := "shims"
		switch {
		case strings.Contains(line, " kube-proxy "):
			kind = "kube-proxy"
		case strings.Contains(line, " kubelet "):
			kind = "kubelet"
		case strings.Contains(line, "containerd --config"):
			kind = "containerd"
		}
		for file, field := range map[string]map[string]int64{"status": rss, "smaps_rollup": pss} {
			raw, _ := os.ReadFile(filepath.Join("/proc", e.Name(), file))
			key := map[string]string{"status": "VmRSS:", "smaps_rollup": "Pss:"}[file]
			for _, line := range strings.Split(string(raw), "\n") {
				if f := strings.Fields(line); len(f) >= 2 && f[0] == key {
					kb, _ := strconv.ParseInt(f[1], 10, 64)
					field[kind] += kb << 10
				}
			}
		}
	}
	return rss, pss
}
