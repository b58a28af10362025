package sim

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"

	"github.com/berthproject/berth/internal/controlplane/cptest"
	"github.com/berthproject/berth/internal/pki"
)

// testKubeletEndpoint calls a node's kubelet endpoint as kube-apiserver
// does, with its kubelet client certificate, and without one.
func testKubeletEndpoint(ctx context.Context, t *testing.T, cp *cptest.ControlPlane, c *Cluster, admin kubernetes.Interface, spec NodeSpec) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "stats", Namespace: "default", Labels: map[string]string{"app": "stats"}},
		Spec:       corev1.PodSpec{NodeName: spec.Name, Containers: []corev1.Container{{Name: "app", Image: "nginx"}}},
	}
	if _, err := admin.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	defer admin.CoreV1().Pods("default").Delete(ctx, "stats", metav1.DeleteOptions{GracePeriodSeconds: new(int64)})
	waitPods(ctx, t, admin, "app=stats", 1, podReady)

	paths := pki.PathsFor(filepath.Join(cp.Dir, "pki"))
	cert, err := tls.LoadX509KeyPair(paths.APIServerKubeletCert, paths.APIServerKubeletKey)
	if err != nil {
		t.Fatal(err)
	}
	addr := spec.InternalIP.String() + ":10250"
	get := func(path string, certs ...tls.Certificate) (int, []byte, error) {
		conn, err := c.DialKubelet(addr)
		if err != nil {
			return 0, nil, err
		}
		tc := tls.Client(conn, &tls.Config{InsecureSkipVerify: true, Certificates: certs}) // kube-apiserver does not verify kubelets either
		defer tc.Close()
		req, _ := http.NewRequest(http.MethodGet, "https://"+addr+path, nil)
		if err := req.Write(tc); err != nil {
			return 0, nil, err
		}
		resp, err := http.ReadResponse(bufio.NewReader(tc), req)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return resp.StatusCode, body, err
	}

	if code, body, err := get("/healthz", cert); err != nil || code != 200 || string(body) != "ok" {
		t.Errorf("healthz: %d %q %v", code, body, err)
	}
	code, body, err := get("/stats/summary", cert)
	if err != nil || code != 200 {
		t.Fatalf("summary: %d %s %v", code, body, err)
	}
	var summary statsv1alpha1.Summary
	if err := json.Unmarshal(body, &summary); err != nil {
		t.Fatal(err)
	}
	if summary.Node.NodeName != spec.Name || summary.Node.StartTime.IsZero() {
		t.Errorf("summary node %+v", summary.Node)
	}
	found := false
	for _, p := range summary.Pods {
		if p.PodRef.Name == "stats" {
			found = true
			if len(p.Containers) != 1 || p.Containers[0].Name != "app" {
				t.Errorf("pod stats containers %+v", p.Containers)
			}
		}
	}
	if !found {
		t.Errorf("summary has no stats pod: %s", body)
	}
	if code, body, err := get("/pods", cert); err != nil || code != 200 || !strings.Contains(string(body), `"name":"stats"`) {
		t.Errorf("pods: %d %.200s %v", code, body, err)
	}
	if code, body, err := get("/containerLogs/default/stats/app", cert); err != nil || code != 200 || len(body) != 0 {
		t.Errorf("logs: %d %q %v", code, body, err)
	}
	if code, _, err := get("/containerLogs/default/stats/other", cert); err != nil || code != 404 {
		t.Errorf("logs of a container the pod lacks: %d %v", code, err)
	}
	if code, _, err := get("/containerLogs/default/nothere/app", cert); err != nil || code != 404 {
		t.Errorf("logs of a pod elsewhere: %d %v", code, err)
	}
	// Without the cluster's client certificate: no handshake.
	if _, _, err := get("/healthz"); err == nil {
		t.Error("a client without a certificate was served")
	}
	for _, bad := range []string{"10.0.0.99:10250", spec.InternalIP.String() + ":22", "nonsense"} {
		if _, err := c.DialKubelet(bad); !errors.Is(err, ErrNoNode) {
			t.Errorf("DialKubelet(%q) = %v, want ErrNoNode", bad, err)
		}
	}
}
