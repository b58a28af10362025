package fargate

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/berthproject/berth/internal/fargate"
	"github.com/berthproject/berth/internal/pki"
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

// Webhook is berth's admission webhook server: clusters' API servers call
// it on loopback over TLS, with berth's own CA in the caBundle.
type Webhook struct {
	profiles Profiles
	log      *slog.Logger
	caBundle []byte
	base     string // https://127.0.0.1:PORT
	ln       net.Listener
	tls      *tls.Config
}

// NewWebhook sets up the serving PKI in dir and listens on 127.0.0.1, on
// the port it used last time if it is free (so that the URL the clusters
// know stays right across restarts), else on a new one.
func NewWebhook(dir string, profiles Profiles, log *slog.Logger) (*Webhook, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p, err := pki.GenerateServing(dir, "berth-webhooks")
	if err != nil {
		return nil, err
	}
	ca, err := os.ReadFile(p.CACert)
	if err != nil {
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(p.Cert, p.Key)
	if err != nil {
		return nil, err
	}
	portFile := filepath.Join(dir, "port")
	var ln net.Listener
	if raw, err := os.ReadFile(portFile); err == nil {
		if port, err := strconv.Atoi(strings.TrimSpace(string(raw))); err == nil && port > 0 && port < 65536 {
			ln, _ = net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		}
	}
	if ln == nil {
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return nil, err
		}
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := os.WriteFile(portFile, []byte(strconv.Itoa(port)+"\n"), 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	return &Webhook{
		profiles: profiles, log: log, caBundle: ca,
		base: "https://127.0.0.1:" + strconv.Itoa(port),
		ln:   ln,
		tls:  &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
	}, nil
}

// URL is where a cluster's API server sends its pods for mutation.
func (w *Webhook) URL(cluster string) string { return w.base + "/fargate/" + cluster + "/mutate" }

// CABundle is the CA certificate the webhook's serving certificate chains to.
func (w *Webhook) CABundle() []byte { return w.caBundle }

// Serve serves until ctx is done.
func (w *Webhook) Serve(ctx context.Context) error {
	srv := &http.Server{Handler: w, TLSConfig: w.tls, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(w.log.Handler(), slog.LevelDebug)}
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shut)
	}()
	err := srv.ServeTLS(w.ln, "", "")
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// ServeHTTP answers AdmissionReviews on /fargate/CLUSTER/mutate.
func (w *Webhook) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
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
func (w *Webhook) review(ctx context.Context, cluster string, req *admissionv1.AdmissionRequest) (*admissionv1.AdmissionResponse, error) {
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
