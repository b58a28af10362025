package fargate

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	"github.com/berthproject/berth/internal/fargate"
	"github.com/berthproject/berth/internal/webhooks"
)

type staticProfiles []*fargate.Profile

func (s staticProfiles) All(context.Context, string) ([]*fargate.Profile, error) { return s, nil }
func (s staticProfiles) Mutate(context.Context, string, string, func(*fargate.Profile) error) (*fargate.Profile, error) {
	return nil, nil
}
func (s staticProfiles) Remove(context.Context, string, string) error { return nil }

func active(name string, sels ...fargate.Selector) *fargate.Profile {
	return &fargate.Profile{Name: name, Status: fargate.StatusActive, Selectors: sels}
}

func TestMutation(t *testing.T) {
	profiles := []*fargate.Profile{
		active("zeta", fargate.Selector{Namespace: "apps"}),
		active("alpha", fargate.Selector{Namespace: "apps"}),
		active("labelled", fargate.Selector{Namespace: "team-*", Labels: map[string]string{"run": "fargate"}}),
		{Name: "creating", Status: fargate.StatusCreating, Selectors: []fargate.Selector{{Namespace: "new"}}},
	}
	dsOwner := []metav1.OwnerReference{{Kind: "DaemonSet", Name: "x", Controller: ptr.To(true)}}
	for _, tc := range []struct {
		name    string
		ns      string
		pod     corev1.Pod
		profile string // "" for no mutation
	}{
		{"alphabetically first", "apps", corev1.Pod{}, "alpha"},
		{"annotation picks a matching profile", "apps", corev1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{ProfileLabel: "zeta"}}}, "zeta"},
		{"annotation of a profile that does not match", "apps", corev1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{ProfileLabel: "labelled"}}}, "alpha"},
		{"wildcard namespace and label", "team-x", corev1.Pod{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"run": "fargate"}}}, "labelled"},
		{"label missing", "team-x", corev1.Pod{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"run": "ec2"}}}, ""},
		{"no profile for the namespace", "other", corev1.Pod{}, ""},
		{"profile still creating", "new", corev1.Pod{}, ""},
		{"daemonset pod", "apps", corev1.Pod{ObjectMeta: metav1.ObjectMeta{OwnerReferences: dsOwner}}, ""},
		{"own scheduler", "apps", corev1.Pod{Spec: corev1.PodSpec{SchedulerName: "mine"}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ops := mutation(&tc.pod, tc.ns, profiles)
			if tc.profile == "" {
				if ops != nil {
					t.Fatalf("mutated: %+v", ops)
				}
				return
			}
			got := applyPatch(t, &tc.pod, ops)
			if got.Spec.SchedulerName != SchedulerName || got.Labels[ProfileLabel] != tc.profile {
				t.Fatalf("scheduler %q labels %v, want profile %s", got.Spec.SchedulerName, got.Labels, tc.profile)
			}
		})
	}
}

// applyPatch applies a JSON patch of add operations the way the API
// server would, through a generic map.
func applyPatch(t *testing.T, pod *corev1.Pod, ops []patchOp) *corev1.Pod {
	t.Helper()
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(pod)
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range ops {
		if op.Op != "add" {
			t.Fatalf("unexpected op %s", op.Op)
		}
		switch op.Path {
		case "/spec/schedulerName":
			obj["spec"].(map[string]any)["schedulerName"] = op.Value
		case "/metadata/labels":
			m := map[string]any{}
			for k, v := range op.Value.(map[string]string) {
				m[k] = v
			}
			obj["metadata"].(map[string]any)["labels"] = m
		case "/metadata/labels/eks.amazonaws.com~1fargate-profile":
			obj["metadata"].(map[string]any)["labels"].(map[string]any)[ProfileLabel] = op.Value
		default:
			t.Fatalf("unexpected path %s", op.Path)
		}
	}
	var out corev1.Pod
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj, &out); err != nil {
		t.Fatal(err)
	}
	return &out
}

func TestWebhookServesAdmissionReviews(t *testing.T) {
	w, err := webhooks.New(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	w.Handle("/fargate/", NewMutator(staticProfiles{active("fp", fargate.Selector{Namespace: "apps"})}, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- w.Serve(ctx) }()
	defer func() { cancel(); <-done }()
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(w.CABundle())
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}

	review := func(ns string) *admissionv1.AdmissionReview {
		raw, _ := json.Marshal(corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Labels: map[string]string{"a": "b"}}})
		body, _ := json.Marshal(admissionv1.AdmissionReview{
			TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
			Request: &admissionv1.AdmissionRequest{UID: "u1", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
				Namespace: ns, Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw}},
		})
		resp, err := client.Post(w.URL(MutatePath("demo")), "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out admissionv1.AdmissionReview
		if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&out) != nil || out.Response == nil {
			t.Fatalf("status %d", resp.StatusCode)
		}
		return &out
	}
	got := review("apps").Response
	if !got.Allowed || got.UID != "u1" || got.PatchType == nil || !bytes.Contains(got.Patch, []byte("fargate-scheduler")) {
		t.Errorf("matching pod: %+v patch %s", got, got.Patch)
	}
	if got := review("other").Response; !got.Allowed || got.Patch != nil {
		t.Errorf("other namespace: %+v", got)
	}
	for _, bad := range []struct {
		path, body string
		want       int
	}{
		{"/fargate/demo/mutate", "{", http.StatusBadRequest},
		{"/fargate/demo/mutate", `{"kind":"AdmissionReview"}`, http.StatusBadRequest},
		{"/elsewhere", "{}", http.StatusNotFound},
	} {
		resp, err := client.Post(w.URL(bad.path), "application/json", bytes.NewReader([]byte(bad.body)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != bad.want {
			t.Errorf("%s %q: status %d, want %d", bad.path, bad.body, resp.StatusCode, bad.want)
		}
	}
}
