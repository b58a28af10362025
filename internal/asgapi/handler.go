package asgapi

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
	"time"

	"github.com/berthproject/berth/internal/apierror"
	"github.com/berthproject/berth/internal/compute"
	"github.com/berthproject/berth/internal/nodegroup"
	"github.com/berthproject/berth/internal/sigv4"
)

// APIVersion is the Auto Scaling API version berth speaks.
const APIVersion = "2011-01-01"

// Namespace is the XML namespace of every Auto Scaling answer.
const Namespace = "http://autoscaling.amazonaws.com/doc/" + APIVersion + "/"

// SigningName is the service of the SigV4 credential scope.
const SigningName = "autoscaling"

// Config wires a Handler.
type Config struct {
	// Compute holds the groups and their instances. Required.
	Compute *compute.Service
	// Nodegroups owns the groups of managed node groups; their size
	// changes become the node groups' scalingConfig. Nil means no group
	// belongs to a node group.
	Nodegroups *nodegroup.Service
	// Auth verifies every request; it must accept the autoscaling scope
	// (sigv4.Config.Service "autoscaling" or empty) and look keys up in
	// berth's keyring. Required.
	Auth *sigv4.Verifier
	// Account is the 12-digit account the groups belong to. Required.
	Account string
	// Region is berth's region; requests must be scoped to it (default
	// Compute's region).
	Region string
	// DrainTimeout: see ResizerConfig.
	DrainTimeout time.Duration
	// MaxBodyBytes bounds request bodies (default 1 MiB).
	MaxBodyBytes int64
	Logger       *slog.Logger
}

// Handler serves the Auto Scaling query API subset.
type Handler struct {
	cfg     Config
	log     *slog.Logger
	resizer *Resizer
	actions map[string]action
}

// action serves one action: it reads its parameters from c and returns
// the content of its Result element (nil for none).
type action func(ctx context.Context, c *call) (any, error)

var accountRE = regexp.MustCompile(`^[0-9]{12}$`)

// New checks cfg, fills its defaults and returns a Handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Compute == nil || cfg.Auth == nil {
		return nil, errors.New("asgapi: Compute and Auth are required")
	}
	if !accountRE.MatchString(cfg.Account) {
		return nil, fmt.Errorf("asgapi: Account %q is not a 12-digit account id", cfg.Account)
	}
	if cfg.Region == "" {
		cfg.Region = cfg.Compute.Region()
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	r, err := NewResizer(ResizerConfig{Compute: cfg.Compute, Nodegroups: cfg.Nodegroups, DrainTimeout: cfg.DrainTimeout})
	if err != nil {
		return nil, err
	}
	h := &Handler{cfg: cfg, log: cfg.Logger, resizer: r}
	h.actions = map[string]action{
		"DescribeAutoScalingGroups":           h.describeAutoScalingGroups,
		"UpdateAutoScalingGroup":              h.updateAutoScalingGroup,
		"SetDesiredCapacity":                  h.setDesiredCapacity,
		"TerminateInstanceInAutoScalingGroup": h.terminateInstance,
		"DescribeScalingActivities":           h.describeScalingActivities,
	}
	return h, nil
}

// call is one verified, decoded request.
type call struct {
	action string
	params url.Values
}

// ServeHTTP verifies, decodes, dispatches and answers one request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := requestID()
	w.Header().Set("x-amzn-RequestId", id)
	c, err := h.decode(w, r)
	if err != nil {
		h.log.Debug("autoscaling request refused", "err", err)
		h.writeError(w, id, err)
		return
	}
	out, err := h.dispatch(r.Context(), c)
	if err != nil {
		h.log.Debug("autoscaling request failed", "action", c.action, "err", err)
		h.writeError(w, id, err)
		return
	}
	h.log.Debug("autoscaling request", "action", c.action)
	h.writeResponse(w, id, c.action, out)
}

// decode reads the body, verifies the signature and decodes the
// parameters.
func (h *Handler) decode(w http.ResponseWriter, r *http.Request) (*call, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, &wireError{Status: http.StatusRequestEntityTooLarge, Code: "RequestEntityTooLarge",
				Message: fmt.Sprintf("The request body is larger than the %d bytes allowed.", h.cfg.MaxBodyBytes)}
		}
		return nil, &wireError{Status: http.StatusBadRequest, Code: "MalformedQueryString", Message: "The request body could not be read."}
	}
	res, err := h.cfg.Auth.Verify(r.Context(), r, body)
	if err != nil {
		return nil, authError(err)
	}
	if res.Service != SigningName {
		return nil, &wireError{Status: http.StatusForbidden, Code: "SignatureDoesNotMatch",
			Message: "Credential should be scoped to correct service: '" + SigningName + "'."}
	}
	if res.Region != h.cfg.Region {
		return nil, &wireError{Status: http.StatusForbidden, Code: "SignatureDoesNotMatch",
			Message: "Credential should be scoped to a valid region."}
	}
	params, err := formParams(r, body)
	if err != nil {
		return nil, err
	}
	return &call{action: params.Get("Action"), params: params}, nil
}

// formParams merges the query string and a form-encoded body.
func formParams(r *http.Request, body []byte) (url.Values, error) {
	p := r.URL.Query()
	switch r.Method {
	case http.MethodGet:
		return p, nil
	case http.MethodPost:
	default:
		return nil, &wireError{Status: http.StatusMethodNotAllowed, Code: "InvalidAction",
			Message: fmt.Sprintf("The HTTP method %s is not supported.", r.Method)}
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/x-www-form-urlencoded" {
			return nil, &wireError{Status: http.StatusBadRequest, Code: "MalformedQueryString",
				Message: fmt.Sprintf("Unsupported content type %q; the query protocol takes application/x-www-form-urlencoded.", ct)}
		}
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, &wireError{Status: http.StatusBadRequest, Code: "MalformedQueryString", Message: "The request body is not a valid query string."}
	}
	for k, vs := range form {
		p[k] = append(p[k], vs...)
	}
	return p, nil
}

func (h *Handler) dispatch(ctx context.Context, c *call) (any, error) {
	if c.action == "" {
		return nil, &wireError{Status: http.StatusBadRequest, Code: "MissingAction", Message: "Missing Action"}
	}
	fn, ok := h.actions[c.action]
	if v := c.params.Get("Version"); !ok || v != APIVersion {
		if v == "" {
			v = "NO_VERSION_SPECIFIED"
		}
		return nil, &wireError{Status: http.StatusBadRequest, Code: "InvalidAction",
			Message: fmt.Sprintf("Could not find operation %s for version %s", c.action, v)}
	}
	return fn(ctx, c)
}

// wireError is an error already in wire terms.
type wireError struct {
	Status  int
	Code    string
	Message string
}

func (e *wireError) Error() string { return "asgapi: " + e.Code + ": " + e.Message }

// validation returns Auto Scaling's usual client error, ValidationError.
func validation(format string, args ...any) *wireError {
	return &wireError{Status: http.StatusBadRequest, Code: "ValidationError", Message: fmt.Sprintf(format, args...)}
}

// authError maps a verification failure to the query protocol's codes.
func authError(err error) error {
	var se *sigv4.Error
	if !errors.As(err, &se) {
		return err
	}
	switch se.Code {
	case sigv4.CodeMissingAuthenticationToken:
		return &wireError{Status: http.StatusForbidden, Code: "MissingAuthenticationToken", Message: "Request is missing Authentication Token"}
	case sigv4.CodeIncompleteSignature:
		return &wireError{Status: http.StatusBadRequest, Code: "IncompleteSignature", Message: se.Message}
	case sigv4.CodeUnrecognizedClient:
		return &wireError{Status: http.StatusForbidden, Code: "InvalidClientTokenId", Message: se.Message}
	case sigv4.CodeExpiredToken:
		return &wireError{Status: http.StatusForbidden, Code: "ExpiredToken", Message: se.Message}
	}
	return &wireError{Status: http.StatusForbidden, Code: "SignatureDoesNotMatch", Message: se.Message}
}

// Codes of the Auto Scaling errors berth returns besides ValidationError.
const (
	codeScalingActivityInProgress = "ScalingActivityInProgress"
	codeInvalidNextToken          = "InvalidNextToken"
	codeLimitExceeded             = "LimitExceeded"
)

// toWire is the one place where errors become wire errors. Auto Scaling
// reports unknown groups and instances, bad sizes and bad requests alike
// as ValidationError.
func (h *Handler) toWire(err error) *wireError {
	var we *wireError
	if errors.As(err, &we) {
		return we
	}
	if e, ok := apierror.As(err); ok {
		switch e.Kind {
		case apierror.ResourceInUse:
			return &wireError{Status: http.StatusBadRequest, Code: codeScalingActivityInProgress, Message: e.Message}
		case apierror.ResourceLimit:
			return &wireError{Status: http.StatusBadRequest, Code: codeLimitExceeded, Message: e.Message}
		case apierror.Server, apierror.ServiceUnavailable:
		default:
			return validation("%s", e.Message)
		}
	}
	h.log.Error("autoscaling request failed", "err", err)
	return &wireError{Status: http.StatusInternalServerError, Code: "InternalFailure",
		Message: "The request processing has failed because of an unknown error, exception or failure."}
}

type errorResponse struct {
	XMLName   xml.Name `xml:"ErrorResponse"`
	Xmlns     string   `xml:"xmlns,attr"`
	Error     errorXML `xml:"Error"`
	RequestID string   `xml:"RequestId"`
}

type errorXML struct {
	Type    string `xml:"Type"`
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

func (h *Handler) writeError(w http.ResponseWriter, id string, err error) {
	e := h.toWire(err)
	typ := "Sender"
	if e.Status >= 500 {
		typ = "Receiver"
	}
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	if err := xml.NewEncoder(&buf).Encode(errorResponse{Xmlns: Namespace, Error: errorXML{Type: typ, Code: e.Code, Message: e.Message}, RequestID: id}); err != nil {
		h.log.Error("encoding autoscaling error", "err", err)
	}
	buf.WriteByte('\n')
	writeXML(w, e.Status, buf.Bytes())
}

type responseMetadata struct {
	RequestID string `xml:"RequestId"`
}

// writeResponse writes <ActionResponse xmlns=...><ActionResult>out
// </ActionResult><ResponseMetadata>...</ActionResponse>; actions without
// a result (out nil) have no Result element, as on AWS.
func (h *Handler) writeResponse(w http.ResponseWriter, id, action string, out any) {
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	enc := xml.NewEncoder(&buf)
	enc.Indent("", "  ")
	start := xml.StartElement{Name: xml.Name{Local: action + "Response"}, Attr: []xml.Attr{{Name: xml.Name{Local: "xmlns"}, Value: Namespace}}}
	err := enc.EncodeToken(start)
	if err == nil && out != nil {
		err = enc.EncodeElement(out, xml.StartElement{Name: xml.Name{Local: action + "Result"}})
	}
	if err == nil {
		err = enc.EncodeElement(responseMetadata{RequestID: id}, xml.StartElement{Name: xml.Name{Local: "ResponseMetadata"}})
	}
	if err == nil {
		err = enc.EncodeToken(start.End())
	}
	if err == nil {
		err = enc.Flush()
	}
	if err != nil {
		h.writeError(w, id, fmt.Errorf("encoding %s response: %w", action, err))
		return
	}
	buf.WriteByte('\n')
	writeXML(w, http.StatusOK, buf.Bytes())
}

func writeXML(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
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

// timestamp writes a time as Auto Scaling does: ISO 8601, UTC,
// milliseconds.
func timestamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }
