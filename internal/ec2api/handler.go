package ec2api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"regexp"

	"github.com/berthproject/berth/internal/compute"
	"github.com/berthproject/berth/internal/compute/instancetypes"
	"github.com/berthproject/berth/internal/ebs"
	"github.com/berthproject/berth/internal/queryapi"
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
	// Volumes holds the EBS volumes and snapshots of the volume actions
	// (volumes.go). Nil means berth runs without EBS: those actions are
	// refused with UnsupportedOperation.
	Volumes *ebs.Service
	// Profiles resolves IAM instance profiles for RunInstances; nil
	// refuses every profile.
	Profiles Profiles
	// CheckProvider says whether this machine can run the nodes of an
	// instance provider (the tag berth:provider); nil accepts both.
	CheckProvider func(provider string) error
	// AddressesInUse says how many addresses of a subnet instances, pods
	// and file system mount targets hold, which DescribeSubnets takes off
	// its availableIpAddressCount as EC2 does; nil counts none.
	AddressesInUse func(subnet netip.Prefix) int
	// MaxBodyBytes bounds request bodies (default 1 MiB).
	MaxBodyBytes int64
	Logger       *slog.Logger
}

// Handler serves the EC2 query API subset.
type Handler struct {
	cfg     Config
	log     *slog.Logger
	dialect queryapi.Dialect
	api     queryapi.Service[*call]
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
	h.dialect = queryapi.Dialect{Protocol: queryapi.EC2, Version: APIVersion, Namespace: Namespace}
	h.actions = map[string]action{
		"DescribeAvailabilityZones": withoutContext(h.describeAvailabilityZones),
		"DescribeInstances":         h.describeInstances,
		"DescribeInstanceTypes":     withoutContext(h.describeInstanceTypes),
		"DescribeSubnets":           withoutContext(h.describeSubnets),
		"DescribeVpcs":              withoutContext(h.describeVpcs),
		"TerminateInstances":        h.terminateInstances,

		actionSendSpotInterruptions: h.sendSpotInterruptions,
		// EBS (volumes.go)
		"AttachVolume":                 h.ebsAction(h.attachVolume),
		"CreateSnapshot":               h.ebsAction(h.createSnapshot),
		"CreateVolume":                 h.ebsAction(h.createVolume),
		"DeleteSnapshot":               h.ebsAction(h.deleteSnapshot),
		"DeleteVolume":                 h.ebsAction(h.deleteVolume),
		"DescribeSnapshots":            h.ebsAction(h.describeSnapshots),
		"DescribeVolumes":              h.ebsAction(h.describeVolumes),
		"DescribeVolumesModifications": h.ebsAction(h.describeVolumesModifications),
		"DetachVolume":                 h.ebsAction(h.detachVolume),
		"ModifyVolume":                 h.ebsAction(h.modifyVolume),
	}
	if cfg.Instances != nil {
		for name, fn := range map[string]action{
			"RunInstances":                   h.runInstances,
			"GetConsoleOutput":               h.getConsoleOutput,
			"CreateLaunchTemplate":           h.createLaunchTemplate,
			"CreateLaunchTemplateVersion":    h.createLaunchTemplateVersion,
			"DescribeLaunchTemplates":        h.describeLaunchTemplates,
			"DescribeLaunchTemplateVersions": h.describeLaunchTemplateVersions,
			"ModifyLaunchTemplate":           h.modifyLaunchTemplate,
			"DeleteLaunchTemplate":           h.deleteLaunchTemplate,
		} {
			h.actions[name] = fn
		}
	}
	h.api = queryapi.Service[*call]{Decode: h.decode, Run: h.dispatch, WireError: h.toWire, Log: cfg.Logger}
	return h, nil
}

// ServeHTTP decodes, dispatches and answers one request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.api.ServeHTTP(w, r) }

// decode reads the parameters; only a POST has its body read.
func (h *Handler) decode(w http.ResponseWriter, r *http.Request) (*call, error) {
	c := &call{Params: h.dialect.Params(nil)}
	var body []byte
	var err error
	if r.Method == http.MethodPost {
		if body, err = h.dialect.ReadBody(w, r, h.cfg.MaxBodyBytes); err != nil {
			return c, err
		}
	}
	c.Params, err = h.dialect.Decode(r, body)
	return c, err
}

// dispatch runs the action, unless the request is a dry run.
func (h *Handler) dispatch(ctx context.Context, c *call) (any, error) {
	fn, err := queryapi.Lookup(c.Params, h.actions)
	if err != nil {
		return nil, err
	}
	if dry, err := c.flag("DryRun"); err != nil {
		return nil, err
	} else if dry {
		return nil, &queryapi.Error{Status: http.StatusPreconditionFailed, Code: "DryRunOperation",
			Message: "Request would have succeeded, but DryRun flag is set."}
	}
	return fn(ctx, c)
}

// toWire is the one place where errors become EC2 wire errors.
func (h *Handler) toWire(_ *call, err error) *queryapi.Error {
	var e *queryapi.Error
	if errors.As(err, &e) {
		return e
	}
	h.log.Error("ec2 request failed", "err", err)
	return h.dialect.Internal()
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
