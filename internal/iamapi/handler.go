package iamapi

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
	"strconv"
	"strings"
	"time"

	"github.com/berthproject/berth/internal/iam"
	"github.com/berthproject/berth/internal/sigv4"
)

// API versions and XML namespaces.
const (
	IAMVersion   = "2010-05-08"
	STSVersion   = "2011-06-15"
	IAMNamespace = "https://iam.amazonaws.com/doc/" + IAMVersion + "/"
	STSNamespace = "https://sts.amazonaws.com/doc/" + STSVersion + "/"
)

// GlobalRegion is the region IAM requests are signed for, and the one of
// STS's global endpoint.
const GlobalRegion = "us-east-1"

// Config wires a Handler.
type Config struct {
	// Service does the work. Required.
	Service *iam.Service
	// Auth verifies every request. It must accept both the iam and the
	// sts scope (sigv4.Config.Service empty) and look keys up in the
	// keyring the Service writes. Required.
	Auth *sigv4.Verifier
	// Region is berth's region; requests may be scoped to it or to
	// us-east-1. Required.
	Region string
	// MaxBodyBytes bounds request bodies (default 1 MiB).
	MaxBodyBytes int64
	Logger       *slog.Logger
}

// Handler serves the IAM and STS query APIs.
type Handler struct {
	cfg Config
	log *slog.Logger
	// actions maps a signing service ("iam", "sts") to its actions.
	actions map[string]map[string]action
}

// action serves one action: it reads its parameters from c and returns
// the content of its Result element (nil for none).
type action func(ctx context.Context, c *call) (any, error)

// New checks cfg, fills its defaults and returns a Handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Service == nil || cfg.Auth == nil {
		return nil, errors.New("iamapi: Service and Auth are required")
	}
	if cfg.Region == "" {
		return nil, errors.New("iamapi: Region is required")
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	h := &Handler{cfg: cfg, log: cfg.Logger}
	h.actions = map[string]map[string]action{
		"iam": {
			"CreateUser":      h.createUser,
			"GetUser":         h.getUser,
			"ListUsers":       h.listUsers,
			"DeleteUser":      h.deleteUser,
			"CreateAccessKey": h.createAccessKey,
			"ListAccessKeys":  h.listAccessKeys,
			"DeleteAccessKey": h.deleteAccessKey,
			"CreateRole":      h.createRole,
			"GetRole":         h.getRole,
			"ListRoles":       h.listRoles,
			"DeleteRole":      h.deleteRole,
		},
		"sts": {
			"GetCallerIdentity": h.getCallerIdentity,
			"AssumeRole":        h.assumeRole,
		},
	}
	return h, nil
}

// call is one verified, decoded request.
type call struct {
	api    string // "iam" or "sts"
	action string
	params url.Values
	caller iam.Caller
}

// ServeHTTP verifies, decodes, dispatches and answers one request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := requestID()
	w.Header().Set("x-amzn-RequestId", id)
	c, err := h.decode(w, r)
	if err != nil {
		h.log.Debug("iam request refused", "err", err)
		h.writeError(w, id, c.api, err)
		return
	}
	out, err := h.dispatch(r.Context(), c)
	if err != nil {
		h.log.Debug("iam request failed", "api", c.api, "action", c.action, "err", err)
		h.writeError(w, id, c.api, err)
		return
	}
	h.log.Debug("iam request", "api", c.api, "action", c.action, "caller", c.caller.ARN)
	h.writeResponse(w, id, c, out)
}

// decode reads the body, verifies the signature, resolves the caller and
// decodes the parameters. The returned call always has api set, for the
// error format.
func (h *Handler) decode(w http.ResponseWriter, r *http.Request) (*call, error) {
	c := &call{api: scopeService(r)}
	if c.api != "sts" {
		c.api = "iam"
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return c, &wireError{Status: http.StatusRequestEntityTooLarge, Code: "RequestEntityTooLarge",
				Message: fmt.Sprintf("The request body is larger than the %d bytes allowed.", h.cfg.MaxBodyBytes)}
		}
		return c, &wireError{Status: http.StatusBadRequest, Code: "MalformedQueryString", Message: "The request body could not be read."}
	}
	res, err := h.cfg.Auth.Verify(r.Context(), r, body)
	if err != nil {
		return c, authError(err)
	}
	switch res.Service {
	case "iam", "sts":
		c.api = res.Service
	default:
		return c, &wireError{Status: http.StatusForbidden, Code: "SignatureDoesNotMatch",
			Message: "Credential should be scoped to correct service: '" + c.api + "'."}
	}
	if res.Region != GlobalRegion && res.Region != h.cfg.Region {
		return c, &wireError{Status: http.StatusForbidden, Code: "SignatureDoesNotMatch",
			Message: "Credential should be scoped to a valid region."}
	}
	c.caller, err = h.cfg.Service.Caller(r.Context(), res.Credential.AccessKeyID)
	if errors.Is(err, iam.ErrUnknownCaller) {
		return c, &wireError{Status: http.StatusForbidden, Code: "InvalidClientTokenId", Message: "The security token included in the request is invalid."}
	}
	if err != nil {
		return c, err
	}
	c.params, err = params(r, body)
	if err != nil {
		return c, err
	}
	c.action = c.params.Get("Action")
	return c, nil
}

// scopeService returns the service of a request's SigV4 credential scope
// (Credential=KEY/DATE/REGION/SERVICE/aws4_request), or "".
func scopeService(r *http.Request) string {
	cred := r.URL.Query().Get("X-Amz-Credential")
	if auth := r.Header.Get("Authorization"); auth != "" {
		if i := strings.Index(auth, "Credential="); i >= 0 {
			cred = auth[i+len("Credential="):]
			if j := strings.IndexAny(cred, ", "); j >= 0 {
				cred = cred[:j]
			}
		}
	}
	parts := strings.Split(cred, "/")
	if len(parts) != 5 {
		return ""
	}
	return parts[3]
}

// params merges the query string and a form-encoded body.
func params(r *http.Request, body []byte) (url.Values, error) {
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
	version := IAMVersion
	if c.api == "sts" {
		version = STSVersion
	}
	if c.action == "" {
		return nil, &wireError{Status: http.StatusBadRequest, Code: "MissingAction", Message: "Missing Action"}
	}
	fn, ok := h.actions[c.api][c.action]
	if v := c.params.Get("Version"); !ok || v != version {
		if v == "" {
			v = "NO_VERSION_SPECIFIED"
		}
		return nil, &wireError{Status: http.StatusBadRequest, Code: "InvalidAction",
			Message: fmt.Sprintf("Could not find operation %s for version %s", c.action, v)}
	}
	return fn(ctx, c)
}

// optString returns a parameter, nil when absent.
func (c *call) optString(name string) *string {
	if vs, ok := c.params[name]; ok && len(vs) > 0 {
		return &vs[0]
	}
	return nil
}

// optInt returns an integer parameter, nil when absent.
func (c *call) optInt(name string) (*int, error) {
	s := c.optString(name)
	if s == nil {
		return nil, nil
	}
	n, err := strconv.Atoi(*s)
	if err != nil {
		return nil, &wireError{Status: http.StatusBadRequest, Code: "ValidationError",
			Message: fmt.Sprintf("Value '%s' for parameter %s is not a valid integer.", *s, name)}
	}
	return &n, nil
}

// list reads the paging (and, with pathPrefix, filter) parameters.
func (c *call) list(pathPrefix bool) (iam.ListInput, error) {
	var in iam.ListInput
	if pathPrefix {
		if p := c.optString("PathPrefix"); p != nil {
			in.PathPrefix = *p
		}
	}
	if m := c.optString("Marker"); m != nil {
		in.Marker = *m
	}
	var err error
	in.MaxItems, err = c.optInt("MaxItems")
	return in, err
}

// tags reads Tags.member.N.Key and .Value.
func (c *call) tags() []iam.Tag {
	var tags []iam.Tag
	for i := 1; ; i++ {
		p := "Tags.member." + strconv.Itoa(i) + "."
		k, hasKey := c.params[p+"Key"]
		v, hasValue := c.params[p+"Value"]
		if !hasKey && !hasValue {
			return tags
		}
		t := iam.Tag{}
		if hasKey {
			t.Key = k[0]
		}
		if hasValue {
			t.Value = v[0]
		}
		tags = append(tags, t)
	}
}

// wireError is an error of the protocol layer (authentication, decoding,
// dispatch), already in wire terms.
type wireError struct {
	Status  int
	Code    string
	Message string
}

func (e *wireError) Error() string { return "iamapi: " + e.Code + ": " + e.Message }

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

// iamStatus is the HTTP status of each service error code.
var iamStatus = map[string]int{
	iam.CodeNoSuchEntity:        http.StatusNotFound,
	iam.CodeEntityAlreadyExists: http.StatusConflict,
	iam.CodeDeleteConflict:      http.StatusConflict,
	iam.CodeLimitExceeded:       http.StatusConflict,
	iam.CodeAccessDenied:        http.StatusForbidden,
	iam.CodeValidation:          http.StatusBadRequest,
	iam.CodeMalformedPolicy:     http.StatusBadRequest,
	iam.CodeInvalidInput:        http.StatusBadRequest,
}

// toWire is the one place where errors become wire errors.
func (h *Handler) toWire(api string, err error) *wireError {
	var we *wireError
	if errors.As(err, &we) {
		return we
	}
	var ie *iam.Error
	if errors.As(err, &ie) {
		if status, ok := iamStatus[ie.Code]; ok {
			return &wireError{Status: status, Code: ie.Code, Message: ie.Message}
		}
	}
	h.log.Error("iam request failed", "api", api, "err", err)
	if api == "sts" {
		return &wireError{Status: http.StatusInternalServerError, Code: "InternalFailure",
			Message: "The request processing has failed because of an unknown error, exception or failure."}
	}
	return &wireError{Status: http.StatusInternalServerError, Code: "ServiceFailure",
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

func namespace(api string) string {
	if api == "sts" {
		return STSNamespace
	}
	return IAMNamespace
}

func (h *Handler) writeError(w http.ResponseWriter, id, api string, err error) {
	e := h.toWire(api, err)
	typ := "Sender"
	if e.Status >= 500 {
		typ = "Receiver"
	}
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	if err := xml.NewEncoder(&buf).Encode(errorResponse{Xmlns: namespace(api), Error: errorXML{Type: typ, Code: e.Code, Message: e.Message}, RequestID: id}); err != nil {
		h.log.Error("encoding iam error", "err", err)
	}
	buf.WriteByte('\n')
	writeXML(w, e.Status, buf.Bytes())
}

type responseMetadata struct {
	RequestID string `xml:"RequestId"`
}

// writeResponse writes <ActionResponse xmlns=...><ActionResult>out
// </ActionResult><ResponseMetadata>...</ActionResponse>.
func (h *Handler) writeResponse(w http.ResponseWriter, id string, c *call, out any) {
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	enc := xml.NewEncoder(&buf)
	enc.Indent("", "  ")
	start := xml.StartElement{Name: xml.Name{Local: c.action + "Response"}, Attr: []xml.Attr{{Name: xml.Name{Local: "xmlns"}, Value: namespace(c.api)}}}
	err := enc.EncodeToken(start)
	if err == nil && out != nil {
		err = enc.EncodeElement(out, xml.StartElement{Name: xml.Name{Local: c.action + "Result"}})
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
		h.writeError(w, id, c.api, fmt.Errorf("encoding %s response: %w", c.action, err))
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

// timestamp writes a time as IAM and STS do: ISO 8601, UTC, seconds.
func timestamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }
