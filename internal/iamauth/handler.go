package iamauth

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/berthproject/berth/internal/access"
	"github.com/berthproject/berth/internal/cluster"
	"github.com/berthproject/berth/internal/sigv4"
)

// maxReviewBytes bounds a TokenReview or SubjectAccessReview body.
const maxReviewBytes = 1 << 20

// Clusters is what the webhooks need of the cluster service.
type Clusters interface {
	Get(ctx context.Context, name string) (*cluster.Cluster, uint64, error)
	ByIssuer(ctx context.Context, issuerID string) (*cluster.Cluster, error)
}

// Entries resolves callers to access entries (access.Service).
type Entries interface {
	Resolve(ctx context.Context, cluster, principalARN string) (*access.Entry, bool, error)
}

// Config wires a Handler.
type Config struct {
	Clusters    Clusters
	Entries     Entries
	Credentials sigv4.Lookup
	// Admin reaches a cluster's API, for its aws-auth ConfigMap.
	Admin  func(ctx context.Context, cluster string) (kubernetes.Interface, error)
	Region string
	// EndpointHost is berth's own endpoint (127.0.0.1:4800): tokens
	// presigned against it, as the CLI does with an endpoint override,
	// are accepted over http.
	EndpointHost string
	// NodeName returns the private DNS name of an instance, for
	// {{EC2PrivateDNSName}}; nil leaves it empty.
	NodeName func(ctx context.Context, instanceID string) (string, bool)
	Now      func() time.Time
	Logger   *slog.Logger
}

// Handler serves /iam/ID/authenticate and /iam/ID/authorize, ID being a
// control plane's OIDC issuer id (Path).
type Handler struct {
	cfg    Config
	log    *slog.Logger
	tokens *verifier
	rules  *policyRules

	mu      sync.Mutex
	awsAuth map[string]cachedAWSAuth
}

// New checks cfg and returns a Handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Clusters == nil || cfg.Entries == nil || cfg.Credentials == nil || cfg.Admin == nil || cfg.Region == "" {
		return nil, errors.New("iamauth: Clusters, Entries, Credentials, Admin and Region are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	v, err := newVerifier(cfg.Credentials, cfg.Region, cfg.EndpointHost, cfg.Now)
	if err != nil {
		return nil, err
	}
	return &Handler{cfg: cfg, log: cfg.Logger, tokens: v, rules: newPolicyRules(), awsAuth: map[string]cachedAWSAuth{}}, nil
}

// Path is where a control plane's webhooks live on berth's webhook
// server: kube-apiserver appends /authenticate and /authorize.
func Path(issuerID string) string { return "/iam/" + issuerID }

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) != 3 || parts[0] != "iam" || parts[1] == "" || (parts[2] != "authenticate" && parts[2] != "authorize") {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	if r.Method != http.MethodPost {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxReviewBytes+1))
	if err != nil || len(body) > maxReviewBytes {
		http.Error(w, "request body unreadable or too large", http.StatusBadRequest)
		return
	}
	cl, err := h.cfg.Clusters.ByIssuer(r.Context(), parts[1])
	if err != nil {
		h.log.Warn("auth webhook for an unknown control plane", "id", parts[1], "err", err)
		http.Error(w, "unknown control plane", http.StatusNotFound)
		return
	}
	var out any
	if parts[2] == "authenticate" {
		out, err = h.authenticate(r.Context(), cl, body)
	} else {
		out, err = h.authorize(r.Context(), cl, body)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}
