package e2e

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// readyNodeNames lists the Ready nodes of a cluster.
func readyNodeNames(ctx context.Context, kc kubernetes.Interface) (map[string]bool, error) {
	l, err := kc.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, n := range l.Items {
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				out[n.Name] = true
			}
		}
	}
	return out, nil
}

// BenchmarkSelfManaged measures self-managed nodes on one cluster whose
// node role has its EC2_LINUX access entry: RunInstances of one instance
// to its node Ready (median of 10), RunInstances of 100 to all Ready, and
// 10 `berth node join` processes to all Ready with their memory.
func BenchmarkSelfManaged(b *testing.B) {
	skipShort(b)
	d := startDaemon(b, "", "--log-level", "info")
	ctx := context.Background()
	c := d.eks(b)
	in := createInput("smb", d.subnets(b))
	in.AccessConfig = &ekstypes.CreateAccessConfigRequest{AuthenticationMode: ekstypes.AuthenticationModeApiAndConfigMap}
	if _, err := c.CreateCluster(ctx, in); err != nil {
		b.Fatal(err)
	}
	cl := waitActive(b, c, "smb", 2*time.Minute)
	kc, _ := d.kubeClient(b, "smb")
	roleARN := nodeRole(b, d, "NodeRole", "NodeProfile")
	if _, err := c.CreateAccessEntry(ctx, &eks.CreateAccessEntryInput{ClusterName: aws.String("smb"), PrincipalArn: aws.String(roleARN), Type: aws.String("EC2_LINUX")}); err != nil {
		b.Fatal(err)
	}
	ec := d.ec2(b)
	userData := base64.StdEncoding.EncodeToString([]byte(nodeConfig(cl, "bench=yes")))
	run := func(n int) []string {
		out, err := ec.RunInstances(ctx, &ec2.RunInstancesInput{ImageId: aws.String("ami-0123456789abcdef0"), InstanceType: ec2types.InstanceTypeM5Large,
			MinCount: aws.Int32(int32(n)), MaxCount: aws.Int32(int32(n)), UserData: aws.String(userData),
			IamInstanceProfile: &ec2types.IamInstanceProfileSpecification{Name: aws.String("NodeProfile")}})
		if err != nil {
			b.Fatal(err)
		}
		var names []string
		for _, i := range out.Instances {
			names = append(names, aws.ToString(i.PrivateDnsName))
		}
		return names
	}
	waitAll := func(names []string, max time.Duration) {
		if err := eventually(max, func() error {
			ready, err := readyNodeNames(ctx, kc)
			if err != nil {
				return err
			}
			for _, n := range names {
				if !ready[n] {
					return fmt.Errorf("node %s not Ready", n)
				}
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	for range b.N {
		var times []time.Duration
		for range 10 {
			start := time.Now()
			waitAll(run(1), time.Minute)
			times = append(times, time.Since(start))
		}
		reportSpread(b, times, "RunInstances to node Ready")

		start := time.Now()
		waitAll(run(100), 5*time.Minute)
		b.ReportMetric(time.Since(start).Seconds(), "100-instances-ready-s")

		tok, err := exec.Command(berthBin, "node", "token", "smb", "--data-dir", d.dataDir, "--bootstrap-kubeconfig").Output()
		if err != nil {
			b.Fatal(err)
		}
		bk := filepath.Join(b.TempDir(), "bootstrap.kubeconfig")
		if err := os.WriteFile(bk, tok, 0o600); err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		var agents []*agent
		var names []string
		for i := range 10 {
			name := fmt.Sprintf("agent-%d", i)
			agents = append(agents, startAgent(b, b.TempDir(), "--bootstrap-kubeconfig", bk, "--node-name", name, "--instance-type", "m5.large"))
			names = append(names, name)
		}
		waitAll(names, 2*time.Minute)
		b.ReportMetric(time.Since(start).Seconds(), "10-agents-ready-s")
		time.Sleep(5 * time.Second)
		var total float64
		for _, a := range agents {
			total += rssMB(b, a.cmd.Process.Pid)
		}
		b.ReportMetric(total/float64(len(agents)), "MB/agent")
		for _, a := range agents {
			a.kill()
		}
	}
}
