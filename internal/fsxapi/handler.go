package fsxapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/berthproject/berth/internal/apierror"
	"github.com/berthproject/berth/internal/fsx"
	"github.com/berthproject/berth/internal/jsonapi"
	"github.com/berthproject/berth/internal/sigv4"
)

// SigningName is the service of the SigV4 credential scope.
const SigningName = "fsx"

// TargetPrefix prefixes the X-Amz-Target of every operation.
const TargetPrefix = "AWSSimbaAPIService_v20180301."

// Config wires a Handler.
type Config struct {
	// Service is berth's FSx for Lustre. Required.
	Service *fsx.Service
	// Auth verifies every request; it must accept the fsx scope. Required.
	Auth *sigv4.Verifier
	// Region requests must be scoped to (default the service's).
	Region string
	// MaxBodyBytes bounds request bodies (default 1 MiB).
	MaxBodyBytes int64
	Logger       *slog.Logger
}

// Handler serves the FSx API subset.
type Handler struct {
	cfg Config
	log *slog.Logger
	ops map[string]operation
}

// operation decodes its input from body and returns its output.
type operation func(ctx context.Context, body []byte) (any, error)

// New checks cfg and returns a Handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Service == nil || cfg.Auth == nil {
		return nil, errors.New("fsxapi: Service and Auth are required")
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
	h := &Handler{cfg: cfg, log: cfg.Logger}
	h.ops = map[string]operation{
		"CreateFileSystem":    h.createFileSystem,
		"DescribeFileSystems": h.describeFileSystems,
		"DeleteFileSystem":    h.deleteFileSystem,
		"UpdateFileSystem":    h.updateFileSystem,
		"TagResource":         h.tagResource,
		"UntagResource":       h.untagResource,
		"ListTagsForResource": h.listTagsForResource,
	}
	return h, nil
}

// ServeHTTP verifies, dispatches and answers one request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("x-amzn-RequestId", uuid.NewString())
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes))
	if err != nil {
		writeError(w, apierror.New(fsx.BadRequest, "The request body could not be read or is larger than %d bytes.", h.cfg.MaxBodyBytes))
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
	target := r.Header.Get("X-Amz-Target")
	op, ok := h.ops[strings.TrimPrefix(target, TargetPrefix)]
	if r.Method != http.MethodPost || !strings.HasPrefix(target, TargetPrefix) || !ok {
		writeWire(w, http.StatusBadRequest, "UnknownOperationException", map[string]any{"message": "berth does not implement the FSx operation " + strconv.Quote(target) + "."})
		return
	}
	out, err := op(r.Context(), body)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// decode unmarshals a JSON body; an empty body is an empty object.
func decode(body []byte, v any) error {
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return apierror.New(fsx.BadRequest, "Could not parse the request body: %v", err)
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(map[string]string{"__type": string(fsx.InternalServerError), "Message": err.Error()})
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

// writeError is the one place a service error becomes an FSx wire error.
func writeError(w http.ResponseWriter, err error) {
	if e, ok := apierror.As(err); ok {
		code := string(e.Kind)
		status := http.StatusBadRequest
		switch e.Kind {
		case fsx.InternalServerError:
			status = http.StatusInternalServerError
		case fsx.BadRequest, fsx.FileSystemNotFound, fsx.IncompatibleParameterError, fsx.InvalidNetworkSettings,
			fsx.InvalidPerUnitStorageThroughput, fsx.ServiceLimitExceeded, fsx.ResourceNotFound,
			fsx.NotServiceResourceError, fsx.UnsupportedOperation, fsx.MissingFileSystemConfiguration:
		default:
			code = string(fsx.BadRequest) // kinds of shared packages
		}
		body := map[string]any{"Message": e.Message}
		for k, v := range e.Fields {
			body[k] = v
		}
		writeWire(w, status, code, body)
		return
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		writeWire(w, http.StatusServiceUnavailable, "ServiceUnavailableException", map[string]any{"Message": "The request was cancelled."})
		return
	}
	writeWire(w, http.StatusInternalServerError, string(fsx.InternalServerError), map[string]any{"Message": err.Error()})
}

func writeWire(w http.ResponseWriter, status int, code string, body map[string]any) {
	body["__type"] = code
	w.Header().Set("x-amzn-ErrorType", code)
	writeJSON(w, status, body)
}
