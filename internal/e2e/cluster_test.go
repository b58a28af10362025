package e2e

import (
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestClusterLifecycle walks the user story of the foundation issue on
// one daemon: create, wait, describe, kubectl-equivalent access, crash of
// the daemon with SIGKILL and recovery, update, delete.
func TestClusterLifecycle(t *testing.T) {
	skipShort(t)
	d := startDaemon(t, "")
	c := d.eks(t)
	ctx := context.Background()
	subnets := d.subnets(t)

	created, err := c.CreateCluster(ctx, createInput("demo", subnets))
	if err != nil {
		t.Fatal(err)
	}
	if created.Cluster.Status != ekstypes.ClusterStatusCreating {
		t.Fatalf("CreateCluster status %s, want CREATING", created.Cluster.Status)
	}
	cl := waitActive(t, c, "demo", 2*time.Minute)
	if cl.Endpoint == nil || !strings.HasPrefix(*cl.Endpoint, "https://127.0.0.1:") {
		t.Fatalf("endpoint %v", cl.Endpoint)
	}
	ca, err := base64.StdEncoding.DecodeString(aws.ToString(cl.CertificateAuthority.Data))
	if err != nil || !strings.Contains(string(ca), "BEGIN CERTIFICATE") {
		t.Fatalf("certificateAuthority.data is not a base64 PEM certificate: %v", err)
	}
	if cl.Identity == nil || !strings.HasPrefix(*cl.Identity.Oidc.Issuer, "https://oidc.eks.us-east-1.amazonaws.com/id/") {
		t.Errorf("identity %+v", cl.Identity)
	}

	kc, kubeconfig := d.kubeClient(t, "demo")
	if !strings.Contains(string(kubeconfig), *cl.Endpoint) {
		t.Errorf("kubeconfig does not point at %s", *cl.Endpoint)
	}
	ns, err := kc.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, n := range ns.Items {
		names[n.Name] = true
	}
	for _, want := range []string{"default", "kube-system", "kube-public"} {
		if !names[want] {
			t.Errorf("namespace %s missing: %v", want, names)
		}
	}
	v, err := kc.Discovery().ServerVersion()
	if err != nil || v.GitVersion != "v1.37.2" {
		t.Errorf("server version %v %v", v, err)
	}
	svc, err := kc.CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil || svc.Spec.ClusterIP != "10.100.0.1" {
		t.Errorf("kubernetes service: %v %v", svc, err)
	}
	if _, err := kc.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "survivor"}, Data: map[string]string{"k": "v"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// Crash: SIGKILL the daemon. Its control plane must not outlive it.
	pid, ok := d.controlPlanePID("demo")
	if !ok || !alive(pid) {
		t.Fatalf("no running control-plane process (pid %d)", pid)
	}
	d.kill()
	deadline := time.Now().Add(10 * time.Second)
	for alive(pid) && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if alive(pid) {
		t.Fatalf("control-plane process %d outlived its daemon", pid)
	}
	d.start()
	c = d.eks(t)
	again := waitActive(t, c, "demo", 2*time.Minute)
	if *again.Endpoint != *cl.Endpoint || *again.CertificateAuthority.Data != *cl.CertificateAuthority.Data {
		t.Errorf("endpoint or CA changed across restart: %s -> %s", *cl.Endpoint, *again.Endpoint)
	}
	kc, _ = d.kubeClient(t, "demo")
	if err := eventually(60*time.Second, func() error {
		cm, err := kc.CoreV1().ConfigMaps("default").Get(ctx, "survivor", metav1.GetOptions{})
		if err == nil && cm.Data["k"] != "v" {
			return errors.New("configmap lost its data")
		}
		return err
	}); err != nil {
		t.Fatalf("data written before the crash: %v", err)
	}

	// A control plane that dies is restarted by its supervisor.
	pid, _ = d.controlPlanePID("demo")
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := eventually(60*time.Second, func() error {
		if p, ok := d.controlPlanePID("demo"); !ok || p == pid {
			return errors.New("not restarted yet")
		}
		_, err := kc.CoreV1().ConfigMaps("default").Get(ctx, "survivor", metav1.GetOptions{})
		return err
	}); err != nil {
		t.Fatalf("after the control plane was killed: %v", err)
	}
	waitActive(t, c, "demo", time.Minute)

	// Delete: the record, the process and the files go.
	pid, _ = d.controlPlanePID("demo")
	del, err := c.DeleteCluster(ctx, &eks.DeleteClusterInput{Name: aws.String("demo")})
	if err != nil || del.Cluster.Status != ekstypes.ClusterStatusDeleting {
		t.Fatalf("delete: %v", err)
	}
	waitDeleted(t, c, "demo", time.Minute)
	if alive(pid) {
		t.Errorf("control-plane process %d still running after delete", pid)
	}
	if _, err := os.Stat(filepath.Join(d.dataDir, "clusters", "demo")); !os.IsNotExist(err) {
		t.Errorf("cluster files left behind: %v", err)
	}
	list, err := c.ListClusters(ctx, &eks.ListClustersInput{})
	if err != nil || len(list.Clusters) != 0 {
		t.Errorf("clusters after delete: %v %v", list, err)
	}
}

// TestVersionUpdate creates a cluster one minor below the newest and
// updates it, as EKS does, one minor at a time.
func TestVersionUpdate(t *testing.T) {
	skipShort(t)
	d := startDaemon(t, "")
	c := d.eks(t)
	ctx := context.Background()
	vs, err := c.DescribeClusterVersions(ctx, &eks.DescribeClusterVersionsInput{})
	if err != nil || len(vs.ClusterVersions) < 2 {
		t.Skipf("this build offers one version only: %v", err)
	}
	newest, older := *vs.ClusterVersions[0].ClusterVersion, *vs.ClusterVersions[1].ClusterVersion
	in := createInput("old", d.subnets(t))
	in.Version = aws.String(older)
	if _, err := c.CreateCluster(ctx, in); err != nil {
		t.Fatal(err)
	}
	waitActive(t, c, "old", 2*time.Minute)
	kc, _ := d.kubeClient(t, "old")
	// A newer binary emulating an older minor reports its own version
	// and the emulated one (emulationMajor/Minor), as upstream does.
	v, err := kc.Discovery().ServerVersion()
	if err != nil || v.EmulationMajor+"."+v.EmulationMinor != older {
		t.Fatalf("server version %+v %v, want emulation of %s", v, err, older)
	}
	up, err := c.UpdateClusterVersion(ctx, &eks.UpdateClusterVersionInput{Name: aws.String("old"), Version: aws.String(newest)})
	if err != nil {
		t.Fatal(err)
	}
	w := eks.NewClusterActiveWaiter(c, func(o *eks.ClusterActiveWaiterOptions) { o.MinDelay, o.MaxDelay = time.Second, 2*time.Second })
	if err := eventually(2*time.Minute, func() error {
		u, err := c.DescribeUpdate(ctx, &eks.DescribeUpdateInput{Name: aws.String("old"), UpdateId: up.Update.Id})
		if err != nil {
			return err
		}
		if u.Update.Status != ekstypes.UpdateStatusSuccessful {
			return errors.New("update " + string(u.Update.Status))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	out, err := w.WaitForOutput(ctx, &eks.DescribeClusterInput{Name: aws.String("old")}, time.Minute)
	if err != nil || *out.Cluster.Version != newest {
		t.Fatalf("after update: %v %v", out, err)
	}
	kc, _ = d.kubeClient(t, "old")
	if err := eventually(30*time.Second, func() error {
		v, err := kc.Discovery().ServerVersion()
		if err == nil && (v.Major+"."+v.Minor != newest || v.EmulationMinor != "" && v.EmulationMajor+"."+v.EmulationMinor != newest) {
			return errors.New("server still emulating " + v.EmulationMajor + "." + v.EmulationMinor)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

func eventually(max time.Duration, f func() error) error {
	deadline := time.Now().Add(max)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(200 * time.Millisecond)
	}
}
