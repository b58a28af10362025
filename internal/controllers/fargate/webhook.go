package fargate

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/berthproject/berth/internal/fargate"
)

// Labels, annotations and names EKS uses for Fargate.
const (
	// SchedulerName is the scheduler of pods that run on Fargate.
	SchedulerName = "fargate-scheduler"
	// ProfileLabel names the profile a pod was placed by; as an
	// annotation, set by the user, it picks the profile among several
	// that match.
	ProfileLabel = "eks.amazonaws.com/fargate-profile"
	// ComputeTypeLabel marks Fargate nodes (and taints them).
	ComputeTypeLabel = "eks.amazonaws.com/compute-type"
	// CapacityAnnotation is the size a pod got: "0.25vCPU 0.5GB".
	CapacityAnnotation = "CapacityProvisioned"
	// webhookName names the mutating webhook and its configuration, as
	// on EKS.
	webhookName = "0500-amazon-eks-fargate-mutation.amazonaws.com"
	// maxReviewBytes bounds an AdmissionReview body (kube-apiserver
	// sends at most a few MB of object).
	maxReviewBytes = 8 << 20
)

// Profiles is what the webhook and the controller need of the Fargate
// profile service.
type Profiles interface {
	All(ctx context.Context, cluster string) ([]*fargate.Profile, error)
	Mutate(ctx context.Context, cluster, name string, fn func(*fargate.Profile) error) (*fargate.Profile, error)
	Remove(ctx context.Context, cluster, name string) error
}

// Mutator is the Fargate admission webhook: it answers AdmissionReviews
// of pod creations on /fargate/CLUSTER/mutate (see MutatePath).
type Mutator struct {
	profiles Profiles
	log      *slog.Logger
}

// NewMutator returns the webhook handler over the profiles.
func NewMutator(profiles Profiles, log *slog.Logger) *Mutator {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Mutator{profiles: profiles, log: log}
}

// MutatePath is the path of a cluster's webhook on berth's webhook server.
func MutatePath(cluster string) string { return "/fargate/" + cluster + "/mutate" }

// ServeHTTP answers AdmissionReviews on /fargate/CLUSTER/mutate.
func (w *Mutator) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) != 3 || parts[0] != "fargate" || parts[2] != "mutate" || parts[1] == "" {
		http.Error(rw, "not found", http.StatusNotFound)
		return
	}
	if r.Method != http.MethodPost {
		http.Error(rw, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxReviewBytes+1))
	if err != nil || len(body) > maxReviewBytes {
		http.Error(rw, "request body unreadable or too large", http.StatusBadRequest)
		return
	}
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &review); err != nil || review.Request == nil {
		http.Error(rw, "not an AdmissionReview with a request", http.StatusBadRequest)
		return
	}
	resp, err := w.review(r.Context(), parts[1], review.Request)
	if err != nil {
		// Refuse rather than let a Fargate pod slip to the default
		// scheduler; the API server reports the message and callers retry.
		w.log.Warn("fargate webhook", "cluster", parts[1], "err", err)
		resp = &admissionv1.AdmissionResponse{Allowed: false, Result: &metav1.Status{Message: "berth fargate webhook: " + err.Error(), Code: http.StatusInternalServerError}}
	}
	resp.UID = review.Request.UID
	review.Response, review.Request = resp, nil
	rw.Header().Set("Content-Type", "application/json")
	json.NewEncoder(rw).Encode(&review)
}

// review decides one admission request.
func (w *Mutator) review(ctx context.Context, cluster string, req *admissionv1.AdmissionRequest) (*admissionv1.AdmissionResponse, error) {
	allow := &admissionv1.AdmissionResponse{Allowed: true}
	if req.Operation != admissionv1.Create || req.Kind.Kind != "Pod" || req.SubResource != "" {
		return allow, nil
	}
	var pod corev1.Pod
	if err := json.Unmarshal(req.Object.Raw, &pod); err != nil {
		return nil, fmt.Errorf("decoding the pod: %w", err)
	}
	namespace := pod.Namespace
	if namespace == "" {
		namespace = req.Namespace
	}
	profiles, err := w.profiles.All(ctx, cluster)
	if err != nil {
		return nil, err
	}
	patch := mutation(&pod, namespace, profiles)
	if patch == nil {
		return allow, nil
	}
	raw, err := json.Marshal(patch)
	if err != nil {
		return nil, err
	}
	pt := admissionv1.PatchTypeJSONPatch
	allow.Patch, allow.PatchType = raw, &pt
	return allow, nil
}

type patchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"`
}

// mutation is the JSON patch that puts a pod on Fargate, or nil when no
// profile takes it. DaemonSet pods and pods that name a scheduler of their
// own are left alone.
func mutation(pod *corev1.Pod, namespace string, profiles []*fargate.Profile) []patchOp {
	if controllerOf(pod) == "DaemonSet" {
		return nil
	}
	if s := pod.Spec.SchedulerName; s != "" && s != corev1.DefaultSchedulerName && s != SchedulerName {
		return nil
	}
	p, ok := choose(pod, namespace, profiles)
	if !ok {
		return nil
	}
	ops := []patchOp{{Op: "add", Path: "/spec/schedulerName", Value: SchedulerName}}
	if pod.Labels == nil {
		ops = append(ops, patchOp{Op: "add", Path: "/metadata/labels", Value: map[string]string{ProfileLabel: p.Name}})
	} else {
		ops = append(ops, patchOp{Op: "add", Path: "/metadata/labels/" + strings.ReplaceAll(ProfileLabel, "/", "~1"), Value: p.Name})
	}
	return ops
}

// choose picks the profile of a pod: the one its
// eks.amazonaws.com/fargate-profile annotation names if that one matches,
// else the alphabetically first that matches.
func choose(pod *corev1.Pod, namespace string, profiles []*fargate.Profile) (*fargate.Profile, bool) {
	if want := pod.Annotations[ProfileLabel]; want != "" {
		for _, p := range profiles {
			if p.Name == want {
				if m, ok := fargate.Match([]*fargate.Profile{p}, namespace, pod.Labels); ok {
					return m, true
				}
			}
		}
	}
	return fargate.Match(profiles, namespace, pod.Labels)
}
