package eksapi

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berthproject/berth/internal/access"
	"github.com/berthproject/berth/internal/addon"
	"github.com/berthproject/berth/internal/apierror"
	"github.com/berthproject/berth/internal/cluster"
	"github.com/berthproject/berth/internal/fargate"
	"github.com/berthproject/berth/internal/nodegroup"
	"github.com/berthproject/berth/internal/sigv4"
	"github.com/berthproject/berth/internal/store"
)

// Authenticator verifies the SigV4 signature of a request.
type Authenticator interface {
	Verify(ctx context.Context, r *http.Request, body []byte) (sigv4.Result, error)
}

// Watcher delivers store change events (for the describe hold).
type Watcher interface {
	Watch(ctx context.Context) (<-chan store.Event, error)
}

// Config wires a Handler.
type Config struct {
	Clusters *cluster.Service
	// Nodegroups serves the managed node group operations; nil leaves
	// them unimplemented.
	Nodegroups *nodegroup.Service
	// Fargate serves the Fargate profile operations; nil leaves them
	// unimplemented.
	Fargate *fargate.Service
	// Access serves the access entry and access policy operations; nil
	// leaves them unimplemented.
	Access *access.Service
	// Addons serves the add-on operations (and DescribeUpdate and
	// ListUpdates with an addonName); nil leaves them unimplemented.
	Addons  *addon.Service
	Auth    Authenticator
	Changes Watcher
	// DescribeHold is how long DescribeCluster, DescribeNodegroup and
	// DescribeFargateProfile may wait, for a resource in a transitional
	// state (CREATING, UPDATING, DELETING), for that state to end before
	// they answer. EKS waiters poll every 10 to 30 s; holding lets `aws
	// eks wait cluster-active`, `nodegroup-active` or
	// `fargate-profile-active` return as soon as the resource is ready.
	// Zero disables it.
	DescribeHold time.Duration
	// MaxBodyBytes bounds request bodies (default 1 MiB).
	MaxBodyBytes int64
	Logger       *slog.Logger
}

// Handler serves the EKS API.
type Handler struct {
	cfg Config
	log *slog.Logger
	// described caches DescribeCluster responses by cluster name.
	described sync.Map
	ids       requestIDs
}

// New checks cfg and returns a Handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Clusters == nil || cfg.Auth == nil {
		return nil, errors.New("eksapi: Clusters and Auth are required")
	}
	if cfg.DescribeHold > 0 && cfg.Changes == nil {
		return nil, errors.New("eksapi: DescribeHold needs Changes")
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Handler{cfg: cfg, log: cfg.Logger}, nil
}

type request struct {
	w     http.ResponseWriter
	r     *http.Request
	ctx   context.Context
	body  []byte
	segs  []string // unescaped path segments
	query url.Values
	// caller is the ARN of the principal whose credential signed the
	// request.
	caller string
}

// ServeHTTP authenticates, routes and answers one request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("x-amzn-RequestId", h.ids.next())
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, apierror.New(apierror.BadRequest, "The request body is larger than the %d bytes allowed.", h.cfg.MaxBodyBytes))
			return
		}
		writeError(w, apierror.New(apierror.BadRequest, "Could not read the request body: %v", err))
		return
	}
	verified, err := h.cfg.Auth.Verify(r.Context(), r, body)
	if err != nil {
		var se *sigv4.Error
		if errors.As(err, &se) {
			writeWire(w, se.Status, se.Code, se.Message, nil)
			return
		}
		h.log.Error("verifying signature", "err", err)
		writeError(w, err)
		return
	}
	segs, err := splitPath(r.URL.EscapedPath())
	if err != nil {
		writeError(w, apierror.New(apierror.BadRequest, "Malformed request path: %v", err))
		return
	}
	req := &request{w: w, r: r, ctx: r.Context(), body: body, segs: segs, query: r.URL.Query(), caller: verified.Credential.Principal}
	h.route(req)
}

func splitPath(escaped string) ([]string, error) {
	escaped = strings.Trim(escaped, "/")
	if escaped == "" {
		return nil, nil
	}
	parts := strings.Split(escaped, "/")
	for i, p := range parts {
		u, err := url.PathUnescape(p)
		if err != nil {
			return nil, err
		}
		parts[i] = u
	}
	return parts, nil
}

func (h *Handler) route(q *request) {
	m, s := q.r.Method, q.segs
	ng := h.cfg.Nodegroups != nil
	fp := h.cfg.Fargate != nil
	ae := h.cfg.Access != nil
	if h.cfg.Addons != nil && h.routeAddons(q) {
		return
	}
	switch {
	case len(s) == 1 && s[0] == "clusters" && m == http.MethodPost:
		h.createCluster(q)
	case len(s) == 1 && s[0] == "clusters" && m == http.MethodGet:
		h.listClusters(q)
	case len(s) == 2 && s[0] == "clusters" && m == http.MethodGet:
		h.describeCluster(q, s[1])
	case len(s) == 2 && s[0] == "clusters" && m == http.MethodDelete:
		h.deleteCluster(q, s[1])
	case len(s) == 3 && s[0] == "clusters" && s[2] == "updates" && m == http.MethodPost:
		h.updateClusterVersion(q, s[1])
	case len(s) == 3 && s[0] == "clusters" && s[2] == "update-config" && m == http.MethodPost:
		h.updateClusterConfig(q, s[1])
	case len(s) == 3 && s[0] == "clusters" && s[2] == "updates" && m == http.MethodGet:
		h.listUpdates(q, s[1])
	case len(s) == 4 && s[0] == "clusters" && s[2] == "updates" && m == http.MethodGet:
		h.describeUpdate(q, s[1], s[3])
	case len(s) == 1 && s[0] == "cluster-versions" && m == http.MethodGet:
		h.describeClusterVersions(q)
	case len(s) == 2 && s[0] == "tags" && m == http.MethodPost:
		h.tagResource(q, s[1])
	case len(s) == 2 && s[0] == "tags" && m == http.MethodDelete:
		h.untagResource(q, s[1])
	case len(s) == 2 && s[0] == "tags" && m == http.MethodGet:
		h.listTags(q, s[1])
	case ng && len(s) == 3 && s[0] == "clusters" && s[2] == "node-groups" && m == http.MethodPost:
		h.createNodegroup(q, s[1])
	case ng && len(s) == 3 && s[0] == "clusters" && s[2] == "node-groups" && m == http.MethodGet:
		h.listNodegroups(q, s[1])
	case ng && len(s) == 4 && s[0] == "clusters" && s[2] == "node-groups" && m == http.MethodGet:
		h.describeNodegroup(q, s[1], s[3])
	case ng && len(s) == 4 && s[0] == "clusters" && s[2] == "node-groups" && m == http.MethodDelete:
		h.deleteNodegroup(q, s[1], s[3])
	case ng && len(s) == 5 && s[0] == "clusters" && s[2] == "node-groups" && s[4] == "update-config" && m == http.MethodPost:
		h.updateNodegroupConfig(q, s[1], s[3])
	case ng && len(s) == 5 && s[0] == "clusters" && s[2] == "node-groups" && s[4] == "update-version" && m == http.MethodPost:
		h.updateNodegroupVersion(q, s[1], s[3])
	case fp && len(s) == 3 && s[0] == "clusters" && s[2] == "fargate-profiles" && m == http.MethodPost:
		h.createFargateProfile(q, s[1])
	case fp && len(s) == 3 && s[0] == "clusters" && s[2] == "fargate-profiles" && m == http.MethodGet:
		h.listFargateProfiles(q, s[1])
	case fp && len(s) == 4 && s[0] == "clusters" && s[2] == "fargate-profiles" && m == http.MethodGet:
		h.describeFargateProfile(q, s[1], s[3])
	case fp && len(s) == 4 && s[0] == "clusters" && s[2] == "fargate-profiles" && m == http.MethodDelete:
		h.deleteFargateProfile(q, s[1], s[3])
	case ae && len(s) == 1 && s[0] == "access-policies" && m == http.MethodGet:
		h.listAccessPolicies(q)
	case ae && len(s) >= 3 && s[0] == "clusters" && s[2] == "access-entries":
		h.routeAccess(q, s[1], s[3:])
	default:
		unknownOperation(q)
	}
}

func unknownOperation(q *request) {
	writeWire(q.w, http.StatusNotFound, "UnknownOperationException",
		fmt.Sprintf("berth does not implement %s %s.", q.r.Method, q.r.URL.Path), nil)
}

// decode unmarshals a JSON body; an empty body is an empty object.
func decode(q *request, v any) error {
	if len(strings.TrimSpace(string(q.body))) == 0 {
		return nil
	}
	if err := json.Unmarshal(q.body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return apierror.New(apierror.BadRequest, "Could not parse request body into json: the field %q expects a %s, not a JSON %s.", te.Field, wireType(te.Type.Kind().String()), te.Value)
		}
		return apierror.New(apierror.BadRequest, "Could not parse request body into json: %v", err)
	}
	return nil
}

func wireType(kind string) string {
	switch kind {
	case "ptr", "struct":
		return "structure"
	case "slice":
		return "list"
	case "map":
		return "map"
	case "bool":
		return "boolean"
	case "int", "int64", "int32":
		return "integer"
	}
	return kind
}

func queryInt(q *request, name string) (int, error) {
	v := q.query.Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, apierror.New(apierror.InvalidParameter, "%s must be an integer, not %q.", name, v)
	}
	if n < 1 || n > 100 {
		return 0, apierror.New(apierror.InvalidParameter, "%s must be between 1 and 100.", name)
	}
	return n, nil
}

func queryBool(q *request, name string) (bool, error) {
	v := q.query.Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, apierror.New(apierror.InvalidParameter, "%s must be true or false, not %q.", name, v)
	}
	return b, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeWire(w, http.StatusInternalServerError, string(apierror.Server), "encoding the response: "+err.Error(), nil)
		return
	}
	writeBytes(w, status, b)
}

func writeBytes(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

var statusOf = map[apierror.Kind]int{
	apierror.InvalidParameter:   http.StatusBadRequest,
	apierror.InvalidRequest:     http.StatusBadRequest,
	apierror.ResourceNotFound:   http.StatusNotFound,
	apierror.ResourceInUse:      http.StatusConflict,
	apierror.ResourceLimit:      http.StatusBadRequest,
	apierror.UnsupportedAZ:      http.StatusBadRequest,
	apierror.BadRequest:         http.StatusBadRequest,
	apierror.NotFound:           http.StatusNotFound,
	apierror.Client:             http.StatusBadRequest,
	apierror.Server:             http.StatusInternalServerError,
	apierror.ServiceUnavailable: http.StatusServiceUnavailable,
	apierror.AccessDenied:       http.StatusForbidden,
	apierror.InvalidState:       http.StatusBadRequest,
}

// writeError is the one place a service error becomes a wire error.
func writeError(w http.ResponseWriter, err error) {
	if e, ok := apierror.As(err); ok {
		status, ok := statusOf[e.Kind]
		if !ok {
			status = http.StatusBadRequest
		}
		writeWire(w, status, string(e.Kind), e.Message, e.Fields)
		return
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		writeWire(w, http.StatusServiceUnavailable, string(apierror.ServiceUnavailable), "The request was cancelled.", nil)
		return
	}
	writeWire(w, http.StatusInternalServerError, string(apierror.Server), err.Error(), nil)
}

func writeWire(w http.ResponseWriter, status int, code, message string, fields map[string]string) {
	body := map[string]string{"message": message}
	for k, v := range fields {
		body[k] = v
	}
	w.Header().Set("x-amzn-ErrorType", code)
	writeJSON(w, status, body)
}

// hold waits up to DescribeHold for the record (kind, key) to leave
// status, re-reading it with get on every store event for that record; it
// returns the last read, as it is when the time is up (or the error, such
// as not-found once the record is gone). Describe calls use it so that SDK
// and CLI waiters finish on their first poll.
func hold[T any](ctx context.Context, h *Handler, kind, key, status string, get func(context.Context) (T, string, error)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.DescribeHold)
	defer cancel()
	events, err := h.cfg.Changes.Watch(ctx)
	if err != nil {
		v, _, err := get(ctx)
		return v, err
	}
	for {
		v, st, err := get(context.WithoutCancel(ctx))
		if err != nil || st != status {
			return v, err
		}
	wait:
		for {
			select {
			case <-ctx.Done():
				return v, nil
			case ev, ok := <-events:
				if !ok {
					return v, nil
				}
				if ev.Kind == kind && ev.Key == key {
					break wait
				}
			}
		}
	}
}

// requestIDs makes request ids in the UUID format AWS uses. They need to be
// unique, not secret, so a seeded ChaCha8 stream serves instead of a
// system call per request.
type requestIDs struct {
	mu  sync.Mutex
	rng *rand.ChaCha8
}

func (g *requestIDs) next() string {
	var b [16]byte
	g.mu.Lock()
	if g.rng == nil {
		var seed [32]byte
		crand.Read(seed[:])
		g.rng = rand.NewChaCha8(seed)
	}
	g.rng.Read(b[:])
	g.mu.Unlock()
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:])
}
