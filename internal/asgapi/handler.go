package asgapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"time"

	"github.com/berthproject/berth/internal/apierror"
	"github.com/berthproject/berth/internal/compute"
	"github.com/berthproject/berth/internal/nodegroup"
	"github.com/berthproject/berth/internal/queryapi"
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
	dialect queryapi.Dialect
	// scope is what the credential scope of a request must name.
	scope   queryapi.Scope
	api     queryapi.Service[*call]
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
	h.dialect = queryapi.Dialect{Protocol: queryapi.Query, Version: APIVersion, Namespace: Namespace, MemberNames: true}
	h.actions = map[string]action{
		"DescribeAutoScalingGroups":           h.describeAutoScalingGroups,
		"UpdateAutoScalingGroup":              h.updateAutoScalingGroup,
		"SetDesiredCapacity":                  h.setDesiredCapacity,
		"TerminateInstanceInAutoScalingGroup": h.terminateInstance,
		"DescribeScalingActivities":           h.describeScalingActivities,
	}
	h.api = queryapi.Service[*call]{Decode: h.decode, Run: queryapi.Dispatch(h.actions), WireError: h.toWire, Log: cfg.Logger}
	h.scope = queryapi.Scope{Services: []string{SigningName}, Regions: []string{cfg.Region}}
	return h, nil
}

// ServeHTTP verifies, decodes, dispatches and answers one request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.api.ServeHTTP(w, r) }

// decode reads the body, verifies the signature and decodes the
// parameters.
func (h *Handler) decode(w http.ResponseWriter, r *http.Request) (*call, error) {
	c := &call{Params: h.dialect.Params(nil)}
	body, err := h.dialect.ReadBody(w, r, h.cfg.MaxBodyBytes)
	if err != nil {
		return c, err
	}
	if _, err := queryapi.Authenticate(r.Context(), h.cfg.Auth, r, body, h.scope); err != nil {
		return c, err
	}
	c.Params, err = h.dialect.Decode(r, body)
	return c, err
}

// validation returns Auto Scaling's usual client error, ValidationError.
func validation(format string, args ...any) *queryapi.Error {
	return queryapi.Errorf("ValidationError", format, args...)
}

// Codes of the Auto Scaling errors berth returns besides ValidationError.
const (
	codeScalingActivityInProgress = "ScalingActivityInProgress"
	codeInvalidNextToken          = "InvalidNextToken"
	codeLimitExceeded             = "LimitExceeded"
)

// invalidToken refuses a NextToken berth did not write.
func invalidToken(tok string) *queryapi.Error {
	return queryapi.Errorf(codeInvalidNextToken, "The token '%s' is invalid.", tok)
}

// toWire is the one place where errors become wire errors. Auto Scaling
// reports unknown groups and instances, bad sizes and bad requests alike
// as ValidationError.
func (h *Handler) toWire(_ *call, err error) *queryapi.Error {
	var we *queryapi.Error
	if errors.As(err, &we) {
		return we
	}
	if e, ok := apierror.As(err); ok {
		switch e.Kind {
		case apierror.ResourceInUse:
			return queryapi.Errorf(codeScalingActivityInProgress, "%s", e.Message)
		case apierror.ResourceLimit:
			return queryapi.Errorf(codeLimitExceeded, "%s", e.Message)
		case apierror.Server, apierror.ServiceUnavailable:
		default:
			return validation("%s", e.Message)
		}
	}
	h.log.Error("autoscaling request failed", "err", err)
	return h.dialect.Internal()
}

// timestamp writes a time as Auto Scaling does: ISO 8601, UTC,
// milliseconds.
func timestamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }
