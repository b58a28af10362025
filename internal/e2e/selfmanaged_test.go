package e2e

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/kubernetes/pkg/kubelet/certificate/bootstrap"
)

// nodeConfig is AL2023 user data joining a cluster.
func nodeConfig(cl *ekstypes.Cluster, labels string) string {
	return fmt.Sprintf(`---
apiVersion: node.eks.aws/v1alpha1
kind: NodeConfig
spec:
  cluster:
    name: %s
    apiServerEndpoint: %s
    certificateAuthority: %s
    cidr: %s
  kubelet:
    flags:
      - --node-labels=%s
`, aws.ToString(cl.Name), aws.ToString(cl.Endpoint), aws.ToString(cl.CertificateAuthority.Data),
		aws.ToString(cl.KubernetesNetworkConfig.ServiceIpv4Cidr), labels)
}

// nodeReady reports whether a node exists and is Ready.
func nodeReady(ctx context.Context, kc kubernetes.Interface, name string) (bool, error) {
	n, err := kc.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return false, err
	}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue, nil
		}
	}
	return false, nil
}

// nodeRole creates an IAM role EC2 may assume and an instance profile
// with it, as a user sets up self-managed nodes, and returns the role's ARN.
func nodeRole(t testing.TB, d *daemon, role, profile string) string {
	t.Helper()
	ctx := context.Background()
	ic := iam.NewFromConfig(d.awsConfig(t, d.rootCreds(t)))
	out, err := ic.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(role),
		AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ic.CreateInstanceProfile(ctx, &iam.CreateInstanceProfileInput{InstanceProfileName: aws.String(profile)}); err != nil {
		t.Fatal(err)
	}
	if _, err := ic.AddRoleToInstanceProfile(ctx, &iam.AddRoleToInstanceProfileInput{InstanceProfileName: aws.String(profile), RoleName: aws.String(role)}); err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.Role.Arn)
}

// waitConsole waits until an instance's console output has every one of
// the strings.
func waitConsole(t testing.TB, ec *ec2.Client, id string, want ...string) {
	t.Helper()
	if err := eventually(time.Minute, func() error {
		out, err := ec.GetConsoleOutput(context.Background(), &ec2.GetConsoleOutputInput{InstanceId: aws.String(id)})
		if err != nil {
			return err
		}
		text, _ := base64.StdEncoding.DecodeString(aws.ToString(out.Output))
		for _, w := range want {
			if !strings.Contains(string(text), w) {
				return fmt.Errorf("console output %q", text)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func waitNodeReady(t testing.TB, kc kubernetes.Interface, name string, want bool, max time.Duration) {
	t.Helper()
	if err := eventually(max, func() error {
		ok, err := nodeReady(context.Background(), kc, name)
		if err != nil {
			return err
		}
		if ok != want {
			return fmt.Errorf("node %s Ready=%v", name, ok)
		}
		return nil
	}); err != nil {
		t.Fatalf("waiting for node %s Ready=%v: %v", name, want, err)
	}
}

func TestSelfManagedInstances(t *testing.T) {
	skipShort(t)
	d := startDaemon(t, "")
	ctx := context.Background()
	c := d.eks(t)
	in := createInput("self", d.subnets(t))
	in.AccessConfig = &ekstypes.CreateAccessConfigRequest{AuthenticationMode: ekstypes.AuthenticationModeApiAndConfigMap}
	if _, err := c.CreateCluster(ctx, in); err != nil {
		t.Fatal(err)
	}
	cl := waitActive(t, c, "self", 2*time.Minute)
	kc, _ := d.kubeClient(t, "self")
	ec := d.ec2(t)
	roleARN := nodeRole(t, d, "NodeRole", "NodeProfile")
	userData := base64.StdEncoding.EncodeToString([]byte(nodeConfig(cl, "team=a")))

	// Bad launches are refused as EC2 refuses them.
	bad := []struct {
		name string
		in   *ec2.RunInstancesInput
		code string
	}{
		{"unknown profile", &ec2.RunInstancesInput{ImageId: aws.String("ami-0123456789abcdef0"), InstanceType: ec2types.InstanceTypeM5Large,
			MinCount: aws.Int32(1), MaxCount: aws.Int32(1), IamInstanceProfile: &ec2types.IamInstanceProfileSpecification{Name: aws.String("Nope")}}, "InvalidParameterValue"},
		{"bad image", &ec2.RunInstancesInput{ImageId: aws.String("image"), InstanceType: ec2types.InstanceTypeM5Large, MinCount: aws.Int32(1), MaxCount: aws.Int32(1)}, "InvalidAMIID.Malformed"},
		{"min over max", &ec2.RunInstancesInput{ImageId: aws.String("ami-0123456789abcdef0"), InstanceType: ec2types.InstanceTypeM5Large, MinCount: aws.Int32(3), MaxCount: aws.Int32(2)}, "InvalidParameterValue"},
		{"bad user data", &ec2.RunInstancesInput{ImageId: aws.String("ami-0123456789abcdef0"), InstanceType: ec2types.InstanceTypeM5Large,
			MinCount: aws.Int32(1), MaxCount: aws.Int32(1), UserData: aws.String("not base64!")}, "InvalidParameterValue"},
		{"unknown template", &ec2.RunInstancesInput{MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
			LaunchTemplate: &ec2types.LaunchTemplateSpecification{LaunchTemplateName: aws.String("nope")}}, "InvalidLaunchTemplateName.NotFoundException"},
	}
	for _, b := range bad {
		if _, err := ec.RunInstances(ctx, b.in); apiCode(err) != b.code {
			t.Errorf("%s: RunInstances error %v, want %s", b.name, err, b.code)
		}
	}

	// A launch template carries the user data, type and profile.
	lt, err := ec.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{
		LaunchTemplateName: aws.String("self-nodes"),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{
			ImageId: aws.String("ami-0123456789abcdef0"), InstanceType: ec2types.InstanceTypeM5Large, UserData: aws.String(userData),
			IamInstanceProfile: &ec2types.LaunchTemplateIamInstanceProfileSpecificationRequest{Name: aws.String("NodeProfile")},
			TagSpecifications: []ec2types.LaunchTemplateTagSpecificationRequest{{ResourceType: ec2types.ResourceTypeInstance,
				Tags: []ec2types.Tag{{Key: aws.String("Name"), Value: aws.String("self")}}}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ec.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{LaunchTemplateName: aws.String("self-nodes"),
		LaunchTemplateData: &ec2types.RequestLaunchTemplateData{ImageId: aws.String("ami-0123456789abcdef0")}}); apiCode(err) != "InvalidLaunchTemplateName.AlreadyExistsException" {
		t.Errorf("duplicate template: %v", err)
	}
	versions, err := ec.DescribeLaunchTemplateVersions(ctx, &ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateId: lt.LaunchTemplate.LaunchTemplateId})
	if err != nil || len(versions.LaunchTemplateVersions) != 1 || aws.ToString(versions.LaunchTemplateVersions[0].LaunchTemplateData.UserData) != userData {
		t.Fatalf("DescribeLaunchTemplateVersions = %+v, %v", versions, err)
	}

	run, err := ec.RunInstances(ctx, &ec2.RunInstancesInput{MinCount: aws.Int32(2), MaxCount: aws.Int32(2),
		LaunchTemplate: &ec2types.LaunchTemplateSpecification{LaunchTemplateId: lt.LaunchTemplate.LaunchTemplateId, Version: aws.String("$Latest")},
		SubnetId:       aws.String(d.subnets(t)[0])})
	if err != nil {
		t.Fatal(err)
	}
	if len(run.Instances) != 2 {
		t.Fatalf("RunInstances launched %d instances", len(run.Instances))
	}
	var names []string
	for _, i := range run.Instances {
		names = append(names, aws.ToString(i.PrivateDnsName))
	}

	// No mapping of the role: the instances run, their nodes are refused
	// and their consoles say why.
	waitConsole(t, ec, aws.ToString(run.Instances[0].InstanceId), "Unauthorized", "EC2_LINUX")
	desc, err := ec.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{aws.ToString(run.Instances[0].InstanceId)}})
	if err != nil {
		t.Fatal(err)
	}
	got := desc.Reservations[0].Instances[0]
	if got.State.Name != ec2types.InstanceStateNameRunning || got.IamInstanceProfile == nil ||
		!strings.HasSuffix(aws.ToString(got.IamInstanceProfile.Arn), ":instance-profile/NodeProfile") {
		t.Errorf("self-managed instance = state %s, profile %+v", got.State.Name, got.IamInstanceProfile)
	}
	if _, err := kc.CoreV1().Nodes().Get(ctx, names[0], metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("refused node registered: %v", err)
	}

	// The EC2_LINUX entry admits them as system:node:<private DNS name>.
	if _, err := c.CreateAccessEntry(ctx, &eks.CreateAccessEntryInput{ClusterName: aws.String("self"), PrincipalArn: aws.String(roleARN),
		Type: aws.String("EC2_LINUX")}); err != nil {
		t.Fatal(err)
	}
	for i, name := range names {
		waitNodeReady(t, kc, name, true, 90*time.Second)
		n, err := kc.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		wantID := "aws:///" + aws.ToString(run.Instances[i].Placement.AvailabilityZone) + "/" + aws.ToString(run.Instances[i].InstanceId)
		if n.Spec.ProviderID != wantID || n.Labels["team"] != "a" || n.Labels[corev1.LabelInstanceTypeStable] != "m5.large" {
			t.Errorf("node %s: providerID %s labels %v", name, n.Spec.ProviderID, n.Labels)
		}
	}

	// berth never replaces a self-managed instance: terminated, it stays
	// terminated and its node goes.
	if _, err := ec.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{aws.ToString(run.Instances[1].InstanceId)}}); err != nil {
		t.Fatal(err)
	}
	if err := eventually(time.Minute, func() error {
		_, err := kc.CoreV1().Nodes().Get(ctx, names[1], metav1.GetOptions{})
		if !apierrors.IsNotFound(err) {
			return fmt.Errorf("node of the terminated instance: %v", err)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
	time.Sleep(2 * time.Second)
	all := instancesWhere(t, ec, map[string][]string{"instance-state-name": {"pending", "running"}})
	if len(all) != 1 {
		t.Errorf("%d live instances after terminating one of two, want 1 (nothing replaces it)", len(all))
	}
}

// agent is a `berth node join` process.
type agent struct {
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

func startAgent(t testing.TB, dir string, args ...string) *agent {
	t.Helper()
	a := &agent{log: filepath.Join(dir, "agent.log"), done: make(chan struct{})}
	f, err := os.OpenFile(a.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	a.cmd = exec.Command(berthBin, append([]string{"node", "join", "--state-dir", dir}, args...)...)
	a.cmd.Stdout, a.cmd.Stderr = f, f
	a.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { a.cmd.Wait(); f.Close(); close(a.done) }()
	t.Cleanup(func() { a.kill() })
	return a
}

func (a *agent) kill() {
	if a.cmd.Process != nil {
		a.cmd.Process.Kill()
	}
	<-a.done
}

func TestNodeJoin(t *testing.T) {
	skipShort(t)
	d := startDaemon(t, "")
	ctx := context.Background()
	c := d.eks(t)
	if _, err := c.CreateCluster(ctx, createInput("agents", d.subnets(t))); err != nil {
		t.Fatal(err)
	}
	waitActive(t, c, "agents", 2*time.Minute)
	kc, _ := d.kubeClient(t, "agents")

	bk := filepath.Join(t.TempDir(), "bootstrap.kubeconfig")
	out, err := exec.Command(berthBin, "node", "token", "agents", "--data-dir", d.dataDir, "--bootstrap-kubeconfig").Output()
	if err != nil {
		t.Fatalf("berth node token: %v", err)
	}
	if err := os.WriteFile(bk, out, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(berthBin, "node", "token", "nope", "--data-dir", d.dataDir).CombinedOutput(); err == nil {
		t.Errorf("berth node token of an unknown cluster succeeded: %s", out)
	}

	// Many agents, one process each.
	const n = 6
	agents := make([]*agent, n)
	dirs := make([]string, n)
	for i := range n {
		dirs[i] = t.TempDir()
		agents[i] = startAgent(t, dirs[i], "--bootstrap-kubeconfig", bk, "--node-name", fmt.Sprintf("agent-%d", i),
			"--instance-type", "c5.xlarge", "--labels", "pool=agents", "--taints", "dedicated=agents:NoSchedule")
	}
	for i := range n {
		waitNodeReady(t, kc, fmt.Sprintf("agent-%d", i), true, 90*time.Second)
	}
	// The node lifecycle controller lifts the not-ready taint a moment
	// after the node turns Ready, as on any cluster: wait for it.
	if err := eventually(30*time.Second, func() error {
		node, err := kc.CoreV1().Nodes().Get(ctx, "agent-0", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if node.Labels["pool"] != "agents" || len(node.Spec.Taints) != 1 || node.Status.Capacity.Cpu().Value() != 4 {
			return fmt.Errorf("agent-0: labels %v taints %v capacity %v", node.Labels, node.Spec.Taints, node.Status.Capacity)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}

	// A pod bound to an agent's node runs.
	pod := newPod("default", "on-agent", nil, bareCtr("", ""))
	pod.Spec.NodeSelector = map[string]string{corev1.LabelHostname: "agent-1"}
	pod.Spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpExists}}
	if err := eventually(30*time.Second, func() error {
		_, err := kc.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := eventually(time.Minute, func() error {
		p, err := kc.CoreV1().Pods("default").Get(ctx, "on-agent", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if p.Status.Phase != corev1.PodRunning || p.Status.PodIP == "" {
			return fmt.Errorf("pod %s", p.Status.Phase)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	// The node identity is a node's: it may not touch another node.
	certKC, err := nodeKubeconfig(dirs[0], bk)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := certKC.CoreV1().Nodes().Patch(ctx, "agent-1", types.MergePatchType, []byte(`{"metadata":{"labels":{"x":"y"}}}`), metav1.PatchOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("agent-0's identity patching agent-1: %v, want Forbidden", err)
	}

	// Killed, the node goes NotReady as a dead machine's; restarted, it
	// comes back with the certificate it kept (no new CSR).
	csrs := func() int {
		l, err := kc.CertificatesV1().CertificateSigningRequests().List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return len(l.Items)
	}
	before := csrs()
	agents[0].kill()
	waitNodeReady(t, kc, "agent-0", false, 3*time.Minute)
	agents[0] = startAgent(t, dirs[0], "--bootstrap-kubeconfig", bk, "--node-name", "agent-0",
		"--instance-type", "c5.xlarge", "--labels", "pool=agents", "--taints", "dedicated=agents:NoSchedule")
	waitNodeReady(t, kc, "agent-0", true, time.Minute)
	if after := csrs(); after != before {
		t.Errorf("the restarted agent made %d new CSRs, want 0", after-before)
	}
}

// nodeKubeconfig is a client with the certificate an agent kept.
func nodeKubeconfig(stateDir, bootstrapKubeconfig string) (*kubernetes.Clientset, error) {
	kc, err := clientcmd.LoadFromFile(bootstrapKubeconfig)
	if err != nil {
		return nil, err
	}
	rc, err := clientcmd.NewDefaultClientConfig(*kc, nil).ClientConfig()
	if err != nil {
		return nil, err
	}
	pemFile := filepath.Join(stateDir, "kubelet-client-current.pem")
	if _, err := os.Stat(pemFile); err != nil {
		return nil, err
	}
	rc.BearerToken = ""
	rc.CertFile, rc.KeyFile = pemFile, pemFile
	return kubernetes.NewForConfig(rc)
}

// TestRealKubeletBootstrap runs the real kubelet's TLS bootstrapping code
// (k8s.io/kubernetes/pkg/kubelet/certificate/bootstrap) with the
// bootstrap kubeconfig berth issues, as a kubelet on another machine
// would with --bootstrap-kubeconfig: the CSR is approved and signed, and
// the kubeconfig it writes acts as system:node:NAME under the Node
// authorizer.
func TestRealKubeletBootstrap(t *testing.T) {
	skipShort(t)
	d := startDaemon(t, "")
	ctx := context.Background()
	c := d.eks(t)
	if _, err := c.CreateCluster(ctx, createInput("real", d.subnets(t))); err != nil {
		t.Fatal(err)
	}
	waitActive(t, c, "real", 2*time.Minute)
	admin, _ := d.kubeClient(t, "real")
	dir := t.TempDir()
	bk := filepath.Join(dir, "bootstrap-kubelet.conf")
	out, err := exec.Command(berthBin, "node", "token", "real", "--data-dir", d.dataDir, "--bootstrap-kubeconfig").Output()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bk, out, 0o600); err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(dir, "kubelet.conf")
	bctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := bootstrap.LoadClientCert(bctx, kubeconfig, bk, filepath.Join(dir, "pki"), types.NodeName("ip-10-0-0-1.ec2.internal")); err != nil {
		t.Fatalf("kubelet TLS bootstrap: %v", err)
	}
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	nodeClient, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "ip-10-0-0-1.ec2.internal"}}
	if _, err := nodeClient.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{}); err != nil {
		t.Fatalf("the kubelet's identity registering its node: %v", err)
	}
	other := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "ip-10-0-0-2.ec2.internal"}}
	if _, err := nodeClient.CoreV1().Nodes().Create(ctx, other, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("the kubelet's identity registering another node: %v, want Forbidden", err)
	}
	if _, err := nodeClient.CoreV1().Secrets("kube-system").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("the kubelet's identity listing secrets: %v, want Forbidden", err)
	}
	if _, err := admin.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{}); err != nil {
		t.Errorf("admin reading the registered node: %v", err)
	}
}
