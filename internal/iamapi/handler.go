package iamapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/berthproject/berth/internal/iam"
	"github.com/berthproject/berth/internal/queryapi"
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
	// dialects and actions map a signing service ("iam", "sts") to its
	// dialect and its actions.
	dialects map[string]queryapi.Dialect
	actions  map[string]map[string]action
	api      queryapi.Service[*call]
	// scope is what the credential scope of a request must name.
	scope queryapi.Scope
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
	h.dialects = map[string]queryapi.Dialect{
		"iam": {Protocol: queryapi.Query, Version: IAMVersion, Namespace: IAMNamespace, InternalCode: "ServiceFailure"},
		"sts": {Protocol: queryapi.Query, Version: STSVersion, Namespace: STSNamespace},
	}
	h.api = queryapi.Service[*call]{Decode: h.decode, Run: h.dispatch, WireError: h.toWire, Log: cfg.Logger, LogAttrs: logAttrs}
	h.scope = queryapi.Scope{Services: []string{"iam", "sts"}, Regions: []string{GlobalRegion, cfg.Region}}
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

			"CreateInstanceProfile":         h.createInstanceProfile,
			"GetInstanceProfile":            h.getInstanceProfile,
			"ListInstanceProfiles":          h.listInstanceProfiles,
			"ListInstanceProfilesForRole":   h.listInstanceProfilesForRole,
			"DeleteInstanceProfile":         h.deleteInstanceProfile,
			"AddRoleToInstanceProfile":      h.addRoleToInstanceProfile,
			"RemoveRoleFromInstanceProfile": h.removeRoleFromInstanceProfile,
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
	queryapi.Params
	api    string // "iam" or "sts"
	caller iam.Caller
}

// ServeHTTP verifies, decodes, dispatches and answers one request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.api.ServeHTTP(w, r) }

// decode reads the body, verifies the signature, resolves the caller and
// decodes the parameters. The returned call always has its api, for the
// error format: the one the signature names, or else the one its
// credential scope seems to.
func (h *Handler) decode(w http.ResponseWriter, r *http.Request) (*call, error) {
	c := h.newCall(scopeService(r))
	body, err := c.Dialect().ReadBody(w, r, h.cfg.MaxBodyBytes)
	if err != nil {
		return c, err
	}
	res, err := queryapi.Authenticate(r.Context(), h.cfg.Auth, r, body, h.scope)
	if _, ok := h.actions[res.Service]; ok {
		c = h.newCall(res.Service)
	}
	if err != nil {
		return c, err
	}
	c.caller, err = h.cfg.Service.Caller(r.Context(), res.Credential.AccessKeyID)
	if errors.Is(err, iam.ErrUnknownCaller) {
		return c, &queryapi.Error{Status: http.StatusForbidden, Code: "InvalidClientTokenId", Message: "The security token included in the request is invalid."}
	}
	if err != nil {
		return c, err
	}
	c.Params, err = c.Dialect().Decode(r, body)
	return c, err
}

// logAttrs adds the API and the caller to the debug record of a request.
func logAttrs(c *call) []any { return []any{"api", c.api, "caller", c.caller.ARN} }

// newCall starts a call to api: sts, or else iam.
func (h *Handler) newCall(api string) *call {
	if api != "sts" {
		api = "iam"
	}
	return &call{Params: h.dialects[api].Params(nil), api: api}
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

// dispatch runs the action among those of the request's API.
func (h *Handler) dispatch(ctx context.Context, c *call) (any, error) {
	return queryapi.Dispatch(h.actions[c.api])(ctx, c)
}

// listInput reads the paging (and, with pathPrefix, filter) parameters.
func (c *call) listInput(pathPrefix bool) (iam.ListInput, error) {
	var in iam.ListInput
	if pathPrefix {
		if p := c.Opt("PathPrefix"); p != nil {
			in.PathPrefix = *p
		}
	}
	if m := c.Opt("Marker"); m != nil {
		in.Marker = *m
	}
	var err error
	in.MaxItems, err = c.Int("MaxItems")
	return in, err
}

// tags reads Tags.member.N.Key and .Value.
func (c *call) tags() []iam.Tag {
	var tags []iam.Tag
	for i := 1; ; i++ {
		p := "Tags.member." + strconv.Itoa(i) + "."
		k, hasKey := c.Values[p+"Key"]
		v, hasValue := c.Values[p+"Value"]
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
func (h *Handler) toWire(c *call, err error) *queryapi.Error {
	var we *queryapi.Error
	if errors.As(err, &we) {
		return we
	}
	var ie *iam.Error
	if errors.As(err, &ie) {
		if status, ok := iamStatus[ie.Code]; ok {
			return &queryapi.Error{Status: status, Code: ie.Code, Message: ie.Message}
		}
	}
	h.log.Error("iam request failed", "api", c.api, "err", err)
	return c.Dialect().Internal()
}

// timestamp writes a time as IAM and STS do: ISO 8601, UTC, seconds.
func timestamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }
