package efsapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/berthproject/berth/internal/apierror"
	"github.com/berthproject/berth/internal/efs"
	"github.com/berthproject/berth/internal/jsonapi"
	"github.com/berthproject/berth/internal/sigv4"
)

// SigningName is the service of the SigV4 credential scope EFS requests
// carry.
const SigningName = "elasticfilesystem"

// APIVersion is the first segment of every path.
const APIVersion = "2015-02-01"

// Config wires a Handler.
type Config struct {
	// Service is berth's EFS. Required.
	Service *efs.Service
	// Auth verifies every request; it must accept the elasticfilesystem
	// scope (sigv4.Config.Service SigningName or empty) and look keys up
	// in berth's keyring. Required.
	Auth *sigv4.Verifier
	// Region is the region requests must be scoped to (default the
	// service's).
	Region string
	// MaxBodyBytes bounds request bodies (default 1 MiB).
	MaxBodyBytes int64
	Logger       *slog.Logger
}

// Handler serves the EFS API.
type Handler struct {
	cfg Config
	log *slog.Logger
}

// New checks cfg and returns a Handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Service == nil || cfg.Auth == nil {
		return nil, errors.New("efsapi: Service and Auth are required")
	}
	if cfg.Region == "" {
		cfg.Region = cfg.Service.Region()
	}
	if cfg.MaxBodyBytes <= 0 {
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
	query url.Values
}

// ServeHTTP verifies, routes and answers one request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("x-amzn-RequestId", uuid.NewString())
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, apierror.New(efs.BadRequest, "The request body is larger than the %d bytes allowed.", h.cfg.MaxBodyBytes))
			return
		}
		writeError(w, apierror.New(efs.BadRequest, "Could not read the request body: %v", err))
		return
	}
	if _, err := jsonapi.Authenticate(r.Context(), h.cfg.Auth, r, body, SigningName, h.cfg.Region); err != nil {
		var se *sigv4.Error
		if errors.As(err, &se) {
			writeWire(w, se.Status, se.Code, map[string]any{"message": se.Message})
			return
		}
		h.log.Error("verifying signature", "err", err)
		writeError(w, err)
		return
	}
	segs, err := splitPath(r.URL.EscapedPath())
	if err != nil || len(segs) == 0 || segs[0] != APIVersion {
		unknownOperation(w, r)
		return
	}
	h.route(&request{w: w, r: r, ctx: r.Context(), body: body, query: r.URL.Query()}, segs[1:])
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

func (h *Handler) route(q *request, s []string) {
	m := q.r.Method
	switch {
	case len(s) == 1 && s[0] == "file-systems" && m == http.MethodPost:
		h.createFileSystem(q)
	case len(s) == 1 && s[0] == "file-systems" && m == http.MethodGet:
		h.describeFileSystems(q)
	case len(s) == 2 && s[0] == "file-systems" && m == http.MethodDelete:
		h.deleteFileSystem(q, s[1])
	case len(s) == 1 && s[0] == "access-points" && m == http.MethodPost:
		h.createAccessPoint(q)
	case len(s) == 1 && s[0] == "access-points" && m == http.MethodGet:
		h.describeAccessPoints(q)
	case len(s) == 2 && s[0] == "access-points" && m == http.MethodDelete:
		h.deleteAccessPoint(q, s[1])
	case len(s) == 1 && s[0] == "mount-targets" && m == http.MethodPost:
		h.createMountTarget(q)
	case len(s) == 1 && s[0] == "mount-targets" && m == http.MethodGet:
		h.describeMountTargets(q)
	case len(s) == 2 && s[0] == "mount-targets" && m == http.MethodDelete:
		h.deleteMountTarget(q, s[1])
	case len(s) == 3 && s[0] == "mount-targets" && s[2] == "security-groups" && m == http.MethodGet:
		h.describeMountTargetSecurityGroups(q, s[1])
	case len(s) == 2 && s[0] == "resource-tags" && m == http.MethodPost:
		h.tagResource(q, s[1])
	case len(s) == 2 && s[0] == "resource-tags" && m == http.MethodDelete:
		h.untagResource(q, s[1])
	case len(s) == 2 && s[0] == "resource-tags" && m == http.MethodGet:
		h.listTagsForResource(q, s[1])
	default:
		unknownOperation(q.w, q.r)
	}
}

func unknownOperation(w http.ResponseWriter, r *http.Request) {
	writeWire(w, http.StatusNotFound, "UnknownOperationException",
		map[string]any{"message": fmt.Sprintf("berth does not implement %s %s.", r.Method, r.URL.Path)})
}

// decode unmarshals a JSON body; an empty body is an empty object.
func decode(q *request, v any) error {
	if len(strings.TrimSpace(string(q.body))) == 0 {
		return nil
	}
	if err := json.Unmarshal(q.body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return apierror.New(efs.BadRequest, "Could not parse the request body: the field %q expects a %s, not a JSON %s.", te.Field, te.Type.Kind(), te.Value)
		}
		return apierror.New(efs.BadRequest, "Could not parse the request body: %v", err)
	}
	return nil
}

// queryInt reads an optional positive integer query parameter.
func queryInt(q *request, name string) (int, error) {
	v := q.query.Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, apierror.New(efs.BadRequest, "%s must be a positive integer, not %q.", name, v)
	}
	return n, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeWire(w, http.StatusInternalServerError, string(efs.InternalServerError),
			map[string]any{"ErrorCode": string(efs.InternalServerError), "Message": "encoding the response: " + err.Error()})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

func writeNoContent(w http.ResponseWriter) {
	w.WriteHeader(http.StatusNoContent)
}

// statusOf is the HTTP status of each EFS error shape, from the model.
var statusOf = map[apierror.Kind]int{
	efs.BadRequest:                        http.StatusBadRequest,
	efs.FileSystemNotFound:                http.StatusNotFound,
	efs.FileSystemAlreadyExists:           http.StatusConflict,
	efs.FileSystemInUse:                   http.StatusConflict,
	efs.FileSystemLimitExceeded:           http.StatusForbidden,
	efs.IncorrectFileSystemLifeCycleState: http.StatusConflict,
	efs.AccessPointNotFound:               http.StatusNotFound,
	efs.AccessPointAlreadyExists:          http.StatusConflict,
	efs.AccessPointLimitExceeded:          http.StatusForbidden,
	efs.MountTargetNotFound:               http.StatusNotFound,
	efs.MountTargetConflict:               http.StatusConflict,
	efs.IncorrectMountTargetState:         http.StatusConflict,
	efs.SubnetNotFound:                    http.StatusBadRequest,
	efs.SecurityGroupNotFound:             http.StatusBadRequest,
	efs.SecurityGroupLimitExceeded:        http.StatusBadRequest,
	efs.IPAddressInUse:                    http.StatusConflict,
	efs.NoFreeAddressesInSubnet:           http.StatusConflict,
	efs.UnsupportedAvailabilityZone:       http.StatusBadRequest,
	efs.AvailabilityZonesMismatch:         http.StatusBadRequest,
	efs.ThroughputLimitExceeded:           http.StatusBadRequest,
	efs.ValidationException:               http.StatusBadRequest,
	efs.InternalServerError:               http.StatusInternalServerError,
}

// writeError is the one place a service error becomes an EFS wire error.
func writeError(w http.ResponseWriter, err error) {
	if e, ok := apierror.As(err); ok {
		code := e.Kind
		status, known := statusOf[code]
		if !known {
			// Kinds of shared packages (paging's InvalidParameterException)
			// are client errors EFS calls BadRequest.
			code, status = efs.BadRequest, http.StatusBadRequest
		}
		body := map[string]any{"ErrorCode": string(code), "Message": e.Message}
		for k, v := range e.Fields {
			body[k] = v
		}
		writeWire(w, status, string(code), body)
		return
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		writeWire(w, http.StatusServiceUnavailable, "ServiceUnavailableException", map[string]any{"message": "The request was cancelled."})
		return
	}
	writeWire(w, http.StatusInternalServerError, string(efs.InternalServerError),
		map[string]any{"ErrorCode": string(efs.InternalServerError), "Message": err.Error()})
}

func writeWire(w http.ResponseWriter, status int, code string, body map[string]any) {
	w.Header().Set("x-amzn-ErrorType", code)
	writeJSON(w, status, body)
}

func badRequest(format string, args ...any) error {
	return apierror.New(efs.BadRequest, format, args...)
}
