package ec2api

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/berthproject/berth/internal/compute"
	"github.com/berthproject/berth/internal/compute/instancetypes"
	"github.com/berthproject/berth/internal/vpc"
)

// APIVersion is the EC2 API version berth speaks.
const APIVersion = "2016-11-15"

// Namespace is the XML namespace of every EC2 response.
const Namespace = "http://ec2.amazonaws.com/doc/" + APIVersion + "/"

// Config wires a Handler.
type Config struct {
	// Network is the default VPC the describe actions show. Required.
	Network *vpc.Network
	// Region defaults to Network.Region; when set it must match it.
	Region string
	// Account is the 12-digit owner of the network. Required.
	Account string
	// InstanceTypes is the catalog DescribeInstanceTypes serves
	// (default instancetypes.All()).
	InstanceTypes []instancetypes.Type
	// Instances holds the instances DescribeInstances shows and
	// TerminateInstances ends. Nil means there are none: DescribeInstances
	// answers with an empty list and every instance ID is unknown.
	Instances *compute.Service
	// MaxBodyBytes bounds request bodies (default 1 MiB).
	MaxBodyBytes int64
	Logger       *slog.Logger
}

// Handler serves the EC2 query API subset.
type Handler struct {
	cfg     Config
	log     *slog.Logger
	actions map[string]action
}

// action serves one EC2 action.
type action func(ctx context.Context, c *call) (any, error)

// withoutContext adapts an action that needs no context.
func withoutContext(fn func(*call) (any, error)) action {
	return func(_ context.Context, c *call) (any, error) { return fn(c) }
}

var accountRE = regexp.MustCompile(`^[0-9]{12}$`)

// New checks cfg, fills its defaults and returns a Handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Network == nil {
		return nil, errors.New("ec2api: Network is required")
	}
	if !accountRE.MatchString(cfg.Account) {
		return nil, fmt.Errorf("ec2api: Account %q is not a 12-digit account id", cfg.Account)
	}
	switch {
	case cfg.Region == "":
		cfg.Region = cfg.Network.Region
	case cfg.Region != cfg.Network.Region:
		return nil, fmt.Errorf("ec2api: Region %s differs from the network's region %s", cfg.Region, cfg.Network.Region)
	}
	if cfg.InstanceTypes == nil {
		cfg.InstanceTypes = instancetypes.All()
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	h := &Handler{cfg: cfg, log: cfg.Logger}
	h.actions = map[string]action{
		"DescribeAvailabilityZones": withoutContext(h.describeAvailabilityZones),
		"DescribeInstances":         h.describeInstances,
		"DescribeInstanceTypes":     withoutContext(h.describeInstanceTypes),
		"DescribeSubnets":           withoutContext(h.describeSubnets),
		"DescribeVpcs":              withoutContext(h.describeVpcs),
		"TerminateInstances":        h.terminateInstances,
		actionSendSpotInterruptions: h.sendSpotInterruptions,
	}
	return h, nil
}

// call is one decoded request.
type call struct {
	action string
	params url.Values
}

// ServeHTTP decodes, dispatches and answers one request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := requestID()
	w.Header().Set("x-amzn-RequestId", id)
	params, err := h.readParams(w, r)
	if err != nil {
		h.writeError(w, id, err)
		return
	}
	c := &call{action: params.Get("Action"), params: params}
	out, err := h.dispatch(r.Context(), c)
	if err != nil {
		h.log.Debug("ec2 request failed", "action", c.action, "err", err)
		h.writeError(w, id, err)
		return
	}
	h.log.Debug("ec2 request", "action", c.action)
	h.writeResponse(w, id, out)
}

func (h *Handler) readParams(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	params := r.URL.Query()
	switch r.Method {
	case http.MethodGet:
		return params, nil
	case http.MethodPost:
	default:
		return nil, &apiError{Status: http.StatusMethodNotAllowed, Code: "UnsupportedOperation",
			Message: fmt.Sprintf("The HTTP method %s is not supported.", r.Method)}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, errorf("InvalidRequest", "The request body is larger than the %d bytes allowed.", h.cfg.MaxBodyBytes)
		}
		return nil, errorf("InvalidRequest", "Could not read the request body: %v", err)
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/x-www-form-urlencoded" {
			return nil, errorf("InvalidRequest", "Unsupported content type %q; EC2 takes application/x-www-form-urlencoded.", ct)
		}
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, errorf("InvalidRequest", "The request body is not a valid query string: %v", err)
	}
	for k, vs := range form {
		params[k] = append(params[k], vs...)
	}
	return params, nil
}

func (h *Handler) dispatch(ctx context.Context, c *call) (any, error) {
	if c.action == "" {
		return nil, errorf("MissingAction", "The request must contain the parameter Action.")
	}
	fn, ok := h.actions[c.action]
	if !ok {
		return nil, errorf("InvalidAction", "The action %s is not valid for this web service.", c.action)
	}
	switch v := c.params.Get("Version"); v {
	case APIVersion:
	case "":
		return nil, errorf("MissingParameter", "The request must contain the parameter Version.")
	default:
		return nil, errorf("NoSuchVersion", "The requested version (%s) of service AmazonEC2 does not exist.", v)
	}
	if dry, err := c.boolParam("DryRun"); err != nil {
		return nil, err
	} else if dry {
		return nil, &apiError{Status: http.StatusPreconditionFailed, Code: "DryRunOperation",
			Message: "Request would have succeeded, but DryRun flag is set."}
	}
	return fn(ctx, c)
}

// apiError is an EC2 wire error: the HTTP status, the error code EC2 uses
// and its message.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string { return "ec2api: " + e.Code + ": " + e.Message }

// errorf returns a client error (400) with a formatted message.
func errorf(code, format string, args ...any) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: code, Message: fmt.Sprintf(format, args...)}
}

type errorResponse struct {
	XMLName   xml.Name   `xml:"Response"`
	Errors    []errorXML `xml:"Errors>Error"`
	RequestID string     `xml:"RequestID"`
}

type errorXML struct {
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

// writeError is the one place where errors become EC2 wire errors.
func (h *Handler) writeError(w http.ResponseWriter, id string, err error) {
	var e *apiError
	if !errors.As(err, &e) {
		h.log.Error("ec2 request failed", "err", err)
		e = &apiError{Status: http.StatusInternalServerError, Code: "InternalError",
			Message: "An internal error has occurred."}
	}
	h.writeXML(w, e.Status, errorResponse{Errors: []errorXML{{Code: e.Code, Message: e.Message}}, RequestID: id})
}

// header starts every successful response.
type header struct {
	Xmlns     string `xml:"xmlns,attr"`
	RequestID string `xml:"requestId"`
}

// response is implemented by the action responses to receive their header.
type response interface{ setHeader(header) }

func (r *header) setHeader(h header) { *r = h }

func (h *Handler) writeResponse(w http.ResponseWriter, id string, out any) {
	if r, ok := out.(response); ok {
		r.setHeader(header{Xmlns: Namespace, RequestID: id})
	}
	h.writeXML(w, http.StatusOK, out)
}

func (h *Handler) writeXML(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	enc := xml.NewEncoder(&buf)
	enc.Indent("", "  ")
	if err := enc.Encode(v); err != nil {
		h.log.Error("encoding ec2 response", "err", err)
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	buf.WriteByte('\n')
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// requestID returns a random id in the UUID format AWS uses.
func requestID() string {
	var b [16]byte
	crand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	s := hex.EncodeToString(b[:])
	return strings.Join([]string{s[0:8], s[8:12], s[12:16], s[16:20], s[20:]}, "-")
}

// set is an EC2 XML list: a wrapper element holding <item> elements. It is
// written even when empty, as EC2 does.
type set[T any] struct {
	Items []T `xml:"item"`
}

// tag is one element of a tagSet.
type tag struct {
	Key   string `xml:"key"`
	Value string `xml:"value"`
}
