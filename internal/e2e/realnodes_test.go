package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/transport/spdy"
	"k8s.io/utils/ptr"

	"github.com/berthproject/berth/internal/realnode"
)

// busyboxImage is the test workload: the host's static busybox as a
// one-layer image (no registry is reachable here), with the applets the
// tests use.
const busyboxImage = "docker.io/library/busybox:berth-test"

// skipWithoutRealNodes skips a test on a machine that cannot run real
// nodes, saying what it lacks.
func skipWithoutRealNodes(t testing.TB) {
	t.Helper()
	skipShort(t)
	if _, err := realnode.Check(); err != nil {
		t.Skipf("real nodes cannot run here: %v", err)
	}
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Skip("real node tests need /bin/busybox for their workload image: apt-get install busybox-static")
	}
}

// writeBusyboxImage writes busyboxImage, or the same image under the
// name given, as an OCI layout archive.
func writeBusyboxImage(t testing.TB, name ...string) string {
	t.Helper()
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	files := []realnode.File{{Path: "bin/busybox", Mode: 0o755, Data: bb}}
	for _, applet := range []string{"sh", "httpd", "cat", "echo", "sleep", "hostname", "mkdir", "nc", "df", "nslookup"} {
		files = append(files, realnode.File{Path: "bin/" + applet, Mode: 0o777, Link: "busybox"})
	}
	var buf bytes.Buffer
	ref := busyboxImage
	if len(name) > 0 {
		ref = name[0]
	}
	if err := realnode.WriteImage(&buf, realnode.Image{Name: ref, Arch: runtime.GOARCH, Cmd: []string{"sh"}, Files: files}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "busybox.tar")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// execIn runs a command in a pod's container through the API server
// and the node's kubelet, as kubectl exec does.
func execIn(ctx context.Context, rc *rest.Config, kc kubernetes.Interface, pod string, cmd ...string) (string, error) {
	req := kc.CoreV1().RESTClient().Post().Resource("pods").Namespace("default").Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Command: cmd, Stdout: true, Stderr: true}, scheme.ParameterCodec)
	ex, err := remotecommand.NewSPDYExecutor(rc, "POST", req.URL())
	if err != nil {
		return "", err
	}
	var out, errOut bytes.Buffer
	err = ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &out, Stderr: &errOut})
	if err != nil {
		return out.String(), fmt.Errorf("%w: %s", err, errOut.String())
	}
	return out.String(), nil
}

// portForwardGet forwards a loopback port to a pod's port through the
// API server and the node's kubelet, as kubectl port-forward does, and
// fetches / through it.
func portForwardGet(ctx context.Context, rc *rest.Config, kc kubernetes.Interface, pod string, port int) (string, error) {
	transport, upgrader, err := spdy.RoundTripperFor(rc)
	if err != nil {
		return "", err
	}
	req := kc.CoreV1().RESTClient().Post().Resource("pods").Namespace("default").Name(pod).SubResource("portforward")
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: transport}, http.MethodPost, req.URL())
	stop, ready := make(chan struct{}), make(chan struct{})
	defer close(stop)
	fw, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{fmt.Sprintf("0:%d", port)}, stop, ready, io.Discard, io.Discard)
	if err != nil {
		return "", err
	}
	errc := make(chan error, 1)
	go func() { errc <- fw.ForwardPorts() }()
	select {
	case <-ready:
	case err := <-errc:
		return "", fmt.Errorf("port-forward: %v", err)
	case <-time.After(30 * time.Second):
		return "", errors.New("port-forward not ready after 30 s")
	}
	ports, err := fw.GetPorts()
	if err != nil || len(ports) != 1 {
		return "", fmt.Errorf("forwarded ports %v: %v", ports, err)
	}
	hreq, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/", ports[0].Local), nil)
	resp, err := http.DefaultClient.Do(hreq)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(body)), err
}

// httpGet asks a pod to fetch a URL's body with busybox nc (its static
// wget cannot resolve through glibc's NSS).
func httpGet(ctx context.Context, rc *rest.Config, kc kubernetes.Interface, pod, hostPort string) (string, error) {
	host, port, _ := strings.Cut(hostPort, ":")
	out, err := execIn(ctx, rc, kc, pod, "sh", "-c", fmt.Sprintf(`printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 5 %s %s`, host, port))
	if err != nil {
		return "", err
	}
	_, body, _ := strings.Cut(out, "\r\n\r\n")
	return strings.TrimSpace(body), nil
}

// TestRealNodes runs a managed node group of real nodes (containerd and
// the upstream kubelet in network namespaces): a Deployment serving HTTP
// from an image loaded with `berth image load`, its Service reached from
// a pod on the other node, logs and exec, an EBS volume whose data
// follows its pod to the other node, and a terminated node replaced.
func TestRealNodes(t *testing.T) {
	skipWithoutRealNodes(t)
	d := startDaemon(t, "")
	ctx := context.Background()
	c := d.eks(t)
	subnets := d.subnets(t)
	in := createInput("realc", subnets)
	in.AccessConfig = &ekstypes.CreateAccessConfigRequest{AuthenticationMode: ekstypes.AuthenticationModeApiAndConfigMap}
	if _, err := c.CreateCluster(ctx, in); err != nil {
		t.Fatal(err)
	}
	cl := waitActive(t, c, "realc", 2*time.Minute)
	kc, raw := d.kubeClient(t, "realc")
	rc, err := clientcmd.RESTConfigFromKubeConfig(raw)
	if err != nil {
		t.Fatal(err)
	}

	// A bad provider is refused.
	_, err = c.CreateNodegroup(ctx, &eks.CreateNodegroupInput{
		ClusterName: aws.String("realc"), NodegroupName: aws.String("bad"), NodeRole: aws.String("arn:aws:iam::000000000000:role/node"),
		Subnets: subnets[:1], Tags: map[string]string{"berth:provider": "metal"},
	})
	if code := apiCode(err); code != "InvalidParameterException" || !strings.Contains(err.Error(), "must be simulated or real") {
		t.Errorf("node group with berth:provider=metal: %v (code %q)", err, code)
	}

	// Two real nodes in one zone, so that an EBS volume can move between them.
	began := time.Now()
	if _, err := c.CreateNodegroup(ctx, &eks.CreateNodegroupInput{
		ClusterName: aws.String("realc"), NodegroupName: aws.String("real"), NodeRole: aws.String("arn:aws:iam::000000000000:role/node"),
		Subnets: subnets[:1], InstanceTypes: []string{"m5.large"},
		ScalingConfig: &ekstypes.NodegroupScalingConfig{MinSize: aws.Int32(2), MaxSize: aws.Int32(2), DesiredSize: aws.Int32(2)},
		Tags:          map[string]string{"berth:provider": "real"},
	}); err != nil {
		t.Fatal(err)
	}
	waitNodegroupActive(t, c, "realc", "real", 3*time.Minute)
	nodes := waitNodes(t, kc, "real", 2, time.Minute)
	t.Logf("2 real nodes ACTIVE in %s", time.Since(began).Round(time.Millisecond))
	for _, n := range nodes {
		if !strings.HasPrefix(n.Status.NodeInfo.ContainerRuntimeVersion, "containerd://") || n.Spec.ProviderID == "" ||
			n.Labels["eks.amazonaws.com/nodegroup"] != "real" || n.Labels[corev1.LabelInstanceTypeStable] != "m5.large" {
			t.Errorf("node %s: runtime %s, providerID %s, labels %v", n.Name, n.Status.NodeInfo.ContainerRuntimeVersion, n.Spec.ProviderID, n.Labels)
		}
	}
	nodeA, nodeB := nodes[0].Name, nodes[1].Name

	// The workload image, loaded as a user loads one.
	if out, err := exec.Command(berthBin, "image", "load", "--data-dir", d.dataDir, writeBusyboxImage(t)).CombinedOutput(); err != nil ||
		!strings.Contains(string(out), "Loaded image: index.docker.io/library/busybox:berth-test") {
		t.Fatalf("berth image load: %v\n%s", err, out)
	}

	// A Deployment serving HTTP on both nodes, and its Service.
	labels := map[string]string{"app": "web"}
	web := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					TopologySpreadConstraints: []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: corev1.LabelHostname,
						WhenUnsatisfiable: corev1.DoNotSchedule, LabelSelector: &metav1.LabelSelector{MatchLabels: labels}}},
					Containers: []corev1.Container{{Name: "web", Image: "busybox:berth-test",
						Command: []string{"sh", "-c", "mkdir -p /www && hostname > /www/index.html && echo serving && exec httpd -f -p 8080 -h /www"},
						Ports:   []corev1.ContainerPort{{ContainerPort: 8080}}}},
				},
			},
		},
	}
	if _, err := kc.AppsV1().Deployments("default").Create(ctx, web, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc, err := kc.CoreV1().Services("default").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec:       corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var pods []corev1.Pod
	if err := eventually(2*time.Minute, func() error {
		l, err := kc.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil {
			return err
		}
		running := 0
		for _, p := range l.Items {
			if p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" {
				running++
			}
		}
		if running != 2 {
			return fmt.Errorf("%d of 2 web pods running", running)
		}
		pods = l.Items
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if pods[0].Spec.NodeName == pods[1].Spec.NodeName {
		t.Fatalf("both web pods on %s", pods[0].Spec.NodeName)
	}

	// Logs and exec, through the API server and the kubelets.
	if logs, err := kc.CoreV1().Pods("default").GetLogs(pods[0].Name, &corev1.PodLogOptions{}).DoRaw(ctx); err != nil || strings.TrimSpace(string(logs)) != "serving" {
		t.Errorf("logs of %s: %q %v", pods[0].Name, logs, err)
	}
	if out, err := execIn(ctx, rc, kc, pods[0].Name, "cat", "/www/index.html"); err != nil || strings.TrimSpace(out) != pods[0].Name {
		t.Errorf("exec in %s: %q %v", pods[0].Name, out, err)
	}
	if body, err := portForwardGet(ctx, rc, kc, pods[1].Name, 8080); err != nil || body != pods[1].Name {
		t.Errorf("port-forward to %s: %q %v", pods[1].Name, body, err)
	}
	// A pod on one node reaches the other node's pod, and the Service
	// answers from both.
	if body, err := httpGet(ctx, rc, kc, pods[0].Name, pods[1].Status.PodIP+":8080"); err != nil || body != pods[1].Name {
		t.Errorf("%s -> %s: %q %v", pods[0].Name, pods[1].Status.PodIP, body, err)
	}
	seen := map[string]bool{}
	if err := eventually(time.Minute, func() error {
		body, err := httpGet(ctx, rc, kc, pods[0].Name, svc.Spec.ClusterIP+":80")
		if err != nil {
			return err
		}
		seen[body] = true
		if !seen[pods[0].Name] || !seen[pods[1].Name] {
			return fmt.Errorf("the Service answered from %v", seen)
		}
		return nil
	}); err != nil {
		t.Errorf("Service %s from %s: %v", svc.Spec.ClusterIP, pods[0].Name, err)
	}
	// The kubernetes Service reaches the API server (Go's TLS server
	// answers plain HTTP with a 400 that says so).
	k8s, err := kc.CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := eventually(30*time.Second, func() error {
		body, err := httpGet(ctx, rc, kc, pods[1].Name, k8s.Spec.ClusterIP+":443")
		if err == nil && !strings.Contains(body, "HTTPS server") {
			err = fmt.Errorf("answered %q", body)
		}
		return err
	}); err != nil {
		t.Errorf("the API server through %s from %s: %v", k8s.Spec.ClusterIP, pods[1].Name, err)
	}

	// Cluster DNS: Service names resolve to their ClusterIPs.
	for name, want := range map[string]string{"web.default.svc.cluster.local": svc.Spec.ClusterIP, "kubernetes.default.svc.cluster.local": k8s.Spec.ClusterIP} {
		if err := eventually(30*time.Second, func() error {
			out, err := execIn(ctx, rc, kc, pods[1].Name, "nslookup", name)
			if err != nil {
				return err
			}
			for _, line := range strings.Split(out, "\n") {
				if v, ok := strings.CutPrefix(line, "Address:"); ok && strings.TrimSpace(v) == want {
					return nil
				}
			}
			return fmt.Errorf("nslookup %s answered %q", name, out)
		}); err != nil {
			t.Errorf("DNS from %s: %v", pods[1].Name, err)
		}
	}

	// An EBS volume: written on one node, read on the other.
	if _, err := c.CreateAddon(ctx, &eks.CreateAddonInput{ClusterName: aws.String("realc"), AddonName: aws.String("aws-ebs-csi-driver")}); err != nil {
		t.Fatal(err)
	}
	waitAddonActive(t, c, "realc", "aws-ebs-csi-driver")
	wffc := storagev1.VolumeBindingWaitForFirstConsumer
	if _, err := kc.StorageV1().StorageClasses().Create(ctx, &storagev1.StorageClass{
		ObjectMeta: metav1.ObjectMeta{Name: "gp3"}, Provisioner: "ebs.csi.aws.com", VolumeBindingMode: &wffc,
		Parameters: map[string]string{"type": "gp3"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	createClaim(t, kc, "data", "gp3", corev1.ReadWriteOnce, "1Gi")
	volumePod := func(name, node, script string) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PodSpec{
				NodeSelector: map[string]string{corev1.LabelHostname: node},
				Containers: []corev1.Container{{Name: "c", Image: "busybox:berth-test", Command: []string{"sh", "-c", script},
					VolumeMounts: []corev1.VolumeMount{{Name: "d", MountPath: "/data"}}}},
				Volumes: []corev1.Volume{{Name: "d", VolumeSource: corev1.VolumeSource{
					PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}}},
			},
		}
	}
	if _, err := kc.CoreV1().Pods("default").Create(ctx, volumePod("writer", nodeA, "echo written-on-a > /data/f && df /data && sleep 3600"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPodRunning(t, kc, "writer", 2*time.Minute)
	if logs := podLogs(ctx, t, kc, "writer"); !strings.Contains(logs, "/dev/loop") && !strings.Contains(logs, "/data") {
		t.Errorf("writer's df: %q", logs)
	}
	if err := kc.CoreV1().Pods("default").Delete(ctx, "writer", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		t.Fatal(err)
	}
	if _, err := kc.CoreV1().Pods("default").Create(ctx, volumePod("reader", nodeB, "cat /data/f && sleep 3600"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPodRunning(t, kc, "reader", 3*time.Minute)
	if err := eventually(30*time.Second, func() error {
		if logs := podLogs(ctx, t, kc, "reader"); strings.TrimSpace(logs) != "written-on-a" {
			return fmt.Errorf("reader on %s logged %q", nodeB, logs)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}

	// An EFS file system shared by containers on both nodes (an access
	// point provisioned for the claim), written on one, read on the other.
	if _, err := c.CreateAddon(ctx, &eks.CreateAddonInput{ClusterName: aws.String("realc"), AddonName: aws.String("aws-efs-csi-driver")}); err != nil {
		t.Fatal(err)
	}
	waitAddonActive(t, c, "realc", "aws-efs-csi-driver")
	createEFSClass(t, d, kc, subnets[:1], "777")
	createClaim(t, kc, "shared", "efs", corev1.ReadWriteMany, "5Gi")
	sharedBy := func(claim, prefix string) {
		t.Helper()
		pod := func(name, node, script string) *corev1.Pod {
			p := volumePod(name, node, script)
			p.Spec.Volumes[0].PersistentVolumeClaim.ClaimName = claim
			return p
		}
		a, b := prefix+"-a", prefix+"-b"
		if _, err := kc.CoreV1().Pods("default").Create(ctx, pod(a, nodeA, "echo from-a > /data/a && sleep 3600"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := kc.CoreV1().Pods("default").Create(ctx, pod(b, nodeB, "sleep 3600"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitPodRunning(t, kc, a, 2*time.Minute)
		waitPodRunning(t, kc, b, 2*time.Minute)
		if err := eventually(30*time.Second, func() error {
			out, err := execIn(ctx, rc, kc, b, "cat", "/data/a")
			if err == nil && strings.TrimSpace(out) != "from-a" {
				err = fmt.Errorf("read %q", out)
			}
			return err
		}); err != nil {
			t.Errorf("%s on %s reading what %s wrote on %s: %v", b, nodeB, a, nodeA, err)
		}
	}
	sharedBy("shared", "efs")

	// An FSx for Lustre file system provisioned for a claim, shared the
	// same way.
	if _, err := c.CreateAddon(ctx, &eks.CreateAddonInput{ClusterName: aws.String("realc"), AddonName: aws.String("aws-fsx-csi-driver")}); err != nil {
		t.Fatal(err)
	}
	waitAddonActive(t, c, "realc", "aws-fsx-csi-driver")
	if _, err := kc.StorageV1().StorageClasses().Create(ctx, &storagev1.StorageClass{
		ObjectMeta: metav1.ObjectMeta{Name: "fsx"}, Provisioner: "fsx.csi.aws.com",
		Parameters: map[string]string{"subnetId": subnets[0], "deploymentType": "SCRATCH_2"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	createClaim(t, kc, "lustre", "fsx", corev1.ReadWriteMany, "1200Gi")
	sharedBy("lustre", "fsx")

	// A self-managed real instance, launched with AL2023 user data: its
	// kubelet authenticates with EKS tokens of its instance role (no
	// bootstrap token) once an EC2_LINUX access entry maps the role, and
	// its pod reaches the Service. Its image is of a private ECR
	// registry, loaded now: a registry host new to nodes that run.
	ec := d.ec2(t)
	self := runRealSelfManaged(t, d, c, cl, subnets[0])
	const ecrImage = "000000000000.dkr.ecr.us-east-1.amazonaws.com/tools:1"
	if out, err := exec.Command(berthBin, "image", "load", "--data-dir", d.dataDir, writeBusyboxImage(t, ecrImage)).CombinedOutput(); err != nil {
		t.Fatalf("berth image load: %v\n%s", err, out)
	}
	selfPod := newPod("default", "self", nil, corev1.Container{Name: "sh", Image: ecrImage, Command: []string{"sleep", "3600"}})
	selfPod.Spec.NodeName = self
	createPod(t, kc, selfPod)
	waitPod(t, kc, "default", "self", 2*time.Minute, "Running", running)
	if err := eventually(time.Minute, func() error {
		body, err := httpGet(ctx, rc, kc, "self", svc.Spec.ClusterIP+":80")
		if err == nil && body != pods[0].Name && body != pods[1].Name {
			err = fmt.Errorf("answered %q", body)
		}
		return err
	}); err != nil {
		t.Errorf("Service %s from the self-managed node's pod: %v", svc.Spec.ClusterIP, err)
	}

	// A node terminated through the EC2 API is replaced by a new real node.
	ids := instanceIDs(t, nodes)
	if _, err := ec.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: ids[:1]}); err != nil {
		t.Fatal(err)
	}
	if err := eventually(3*time.Minute, func() error {
		l, err := kc.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: "eks.amazonaws.com/nodegroup=real"})
		if err != nil {
			return err
		}
		ready := 0
		for _, n := range l.Items {
			if n.Name == nodes[0].Name {
				return fmt.Errorf("terminated node %s still there", n.Name)
			}
			if nodeIsReady(&n) {
				ready++
			}
		}
		if ready != 2 {
			return fmt.Errorf("%d of 2 real nodes Ready", ready)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	// Stopped, berth leaves no real node behind: no namespaces, no
	// processes in their cgroups, no mounts, no loop devices.
	l, err := kc.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: "eks.amazonaws.com/nodegroup=real"})
	if err != nil {
		t.Fatal(err)
	}
	selfNode, err := kc.CoreV1().Nodes().Get(ctx, self, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d.stop()
	for _, id := range append(append(ids, instanceIDs(t, l.Items)...), instanceIDs(t, []corev1.Node{*selfNode})...) {
		if _, err := os.Stat("/run/netns/berth-" + id); err == nil {
			t.Errorf("the network namespace of %s is still there", id)
		}
		if _, err := os.Stat("/sys/fs/cgroup/memory/berth/" + id); err == nil {
			t.Errorf("the cgroup of %s is still there", id)
		}
	}
	if raw, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(raw), d.dataDir) {
		t.Errorf("mounts below %s are still there", d.dataDir)
	}
	if out, _ := exec.Command("losetup", "-a").Output(); strings.Contains(string(out), d.dataDir) {
		t.Errorf("loop devices of berth's volumes are still bound:\n%s", out)
	}
}

// runRealSelfManaged launches a self-managed instance tagged for a real
// node into cluster cl: refused until an EC2_LINUX access entry maps its
// role, then Ready. It returns the node's name.
func runRealSelfManaged(t *testing.T, d *daemon, c *eks.Client, cl *ekstypes.Cluster, subnet string) string {
	t.Helper()
	ctx := context.Background()
	ec := d.ec2(t)
	kc, _ := d.kubeClient(t, aws.ToString(cl.Name))
	roleARN := nodeRole(t, d, "RealNodeRole", "RealNodeProfile")
	run, err := ec.RunInstances(ctx, &ec2.RunInstancesInput{
		ImageId: aws.String("ami-0123456789abcdef0"), InstanceType: ec2types.InstanceTypeM5Large, MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		SubnetId: aws.String(subnet), IamInstanceProfile: &ec2types.IamInstanceProfileSpecification{Name: aws.String("RealNodeProfile")},
		UserData: aws.String(base64.StdEncoding.EncodeToString([]byte(nodeConfig(cl, "team=self")))),
		TagSpecifications: []ec2types.TagSpecification{{ResourceType: ec2types.ResourceTypeInstance,
			Tags: []ec2types.Tag{{Key: aws.String("berth:provider"), Value: aws.String("real")}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	id, name := aws.ToString(run.Instances[0].InstanceId), aws.ToString(run.Instances[0].PrivateDnsName)
	waitConsole(t, ec, id, "Unauthorized", "EC2_LINUX")
	if _, err := c.CreateAccessEntry(ctx, &eks.CreateAccessEntryInput{ClusterName: cl.Name, PrincipalArn: aws.String(roleARN),
		Type: aws.String("EC2_LINUX")}); err != nil {
		t.Fatal(err)
	}
	waitNodeReady(t, kc, name, true, 3*time.Minute)
	n, err := kc.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(n.Status.NodeInfo.ContainerRuntimeVersion, "containerd://") || n.Labels["team"] != "self" ||
		n.Spec.ProviderID != "aws:///"+aws.ToString(run.Instances[0].Placement.AvailabilityZone)+"/"+id {
		t.Errorf("self-managed real node %s: runtime %s, providerID %s, labels %v", name, n.Status.NodeInfo.ContainerRuntimeVersion, n.Spec.ProviderID, n.Labels)
	}
	return name
}

func podLogs(ctx context.Context, t *testing.T, kc kubernetes.Interface, pod string) string {
	t.Helper()
	raw, err := kc.CoreV1().Pods("default").GetLogs(pod, &corev1.PodLogOptions{}).DoRaw(ctx)
	if err != nil {
		t.Logf("logs of %s: %v", pod, err)
	}
	return string(raw)
}

// instanceIDs are the instance ids of nodes, from their provider ids.
func instanceIDs(t *testing.T, nodes []corev1.Node) []string {
	t.Helper()
	var ids []string
	for _, n := range nodes {
		id := n.Spec.ProviderID[strings.LastIndex(n.Spec.ProviderID, "/")+1:]
		if !strings.HasPrefix(id, "i-") {
			t.Fatalf("node %s providerID %s", n.Name, n.Spec.ProviderID)
		}
		ids = append(ids, id)
	}
	return ids
}

func nodeIsReady(n *corev1.Node) bool {
	return slices.ContainsFunc(n.Status.Conditions, func(c corev1.NodeCondition) bool {
		return c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue
	})
}
