package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/berthproject/berth/internal/apierror"
	"github.com/berthproject/berth/internal/store"
)

// ConfigInput is an UpdateClusterConfig request. A nil member was not in
// the request.
type ConfigInput struct {
	Name               string
	ClientRequestToken string
	// Access is accessConfig. EKS's UpdateAccessConfigRequest has only
	// authenticationMode; BootstrapClusterCreatorAdminPermissions is
	// kept so that a request trying to change it can be refused.
	Access *AccessInput
	// Logging is logging.clusterLogging.
	Logging *LoggingInput
	// Endpoint is the endpoint access part of resourcesVpcConfig.
	Endpoint           *EndpointInput
	UpgradePolicy      *UpgradePolicyInput
	ZonalShift         *ZonalShiftInput
	DeletionProtection *bool
	// Unsupported names the changes the request asks for that berth does
	// not implement (kubernetesNetworkConfig, computeConfig...), one
	// entry per kind of update.
	Unsupported []string
}

// LoggingInput is logging in an UpdateClusterConfig request.
type LoggingInput struct {
	ClusterLogging []LogSetup
}

// EndpointInput is the endpoint access part of resourcesVpcConfig in an
// UpdateClusterConfig request.
type EndpointInput struct {
	Public            *bool
	Private           *bool
	PublicAccessCIDRs []string
}

// UpgradePolicyInput is upgradePolicy in an UpdateClusterConfig request.
type UpgradePolicyInput struct {
	SupportType string
}

// ZonalShiftInput is zonalShiftConfig in an UpdateClusterConfig request.
type ZonalShiftInput struct {
	Enabled *bool
}

// updateType returns the one kind of update a request asks for, after
// checking the request's values as far as they do not depend on the
// cluster.
func (in *ConfigInput) updateType() (string, error) {
	var kinds []string
	if in.Access != nil {
		kinds = append(kinds, UpdateTypeAccessConfig)
	}
	if in.Logging != nil {
		kinds = append(kinds, UpdateTypeLogging)
	}
	if in.Endpoint != nil {
		kinds = append(kinds, UpdateTypeEndpointAccess)
	}
	if in.UpgradePolicy != nil {
		kinds = append(kinds, UpdateTypeUpgradePolicy)
	}
	if in.ZonalShift != nil {
		kinds = append(kinds, UpdateTypeZonalShift)
	}
	if in.DeletionProtection != nil {
		kinds = append(kinds, UpdateTypeDeletionProtection)
	}
	switch {
	case len(kinds)+len(in.Unsupported) > 1:
		return "", invalid("Only one type of update can be allowed.")
	case len(in.Unsupported) > 0:
		return "", invalid("berth does not support changing %s yet.", in.Unsupported[0])
	case len(kinds) == 0:
		return "", invalid("No changes were requested: the request must change one of accessConfig, logging, resourcesVpcConfig, upgradePolicy, zonalShiftConfig or deletionProtection.")
	}
	switch kinds[0] {
	case UpdateTypeAccessConfig:
		switch in.Access.AuthenticationMode {
		case "API", "API_AND_CONFIG_MAP", "CONFIG_MAP":
		default:
			return "", invalid("Unsupported authentication mode %q: valid values are API, API_AND_CONFIG_MAP, CONFIG_MAP.", in.Access.AuthenticationMode)
		}
	case UpdateTypeLogging:
		if _, err := normalizeLogging(in.Logging.ClusterLogging); err != nil {
			return "", err
		}
	case UpdateTypeEndpointAccess:
		if len(in.Endpoint.PublicAccessCIDRs) > 40 {
			return "", invalid("A maximum of 40 public access CIDR blocks can be specified.")
		}
		for _, c := range in.Endpoint.PublicAccessCIDRs {
			if err := validatePublicCIDR(c); err != nil {
				return "", err
			}
		}
	case UpdateTypeUpgradePolicy:
		switch in.UpgradePolicy.SupportType {
		case "STANDARD", "EXTENDED":
		default:
			return "", invalid("Unsupported support type %q: valid values are STANDARD, EXTENDED.", in.UpgradePolicy.SupportType)
		}
	case UpdateTypeZonalShift:
		if in.ZonalShift.Enabled == nil {
			return "", invalid("zonalShiftConfig.enabled is required.")
		}
	}
	return kinds[0], nil
}

// UpdateConfig applies an UpdateClusterConfig request to an ACTIVE cluster
// with no update in progress and records the update. The request changes
// one kind of configuration, and must change it. berth has nothing to roll
// out for these changes, so the update is Successful at once and the
// cluster stays ACTIVE. A repeated request with the same
// clientRequestToken returns the update the first one recorded.
func (s *Service) UpdateConfig(ctx context.Context, in ConfigInput) (*Update, error) {
	typ, err := in.updateType()
	if err != nil {
		if e, ok := apierror.As(err); ok {
			e.With("clusterName", in.Name)
		}
		return nil, err
	}
	var upd *Update
	_, err = s.Mutate(ctx, in.Name, func(c *Cluster) ([]store.Op, error) {
		upd = nil
		existing, err := s.updatesOf(ctx, in.Name, "")
		if err != nil {
			return nil, err
		}
		if upd = byToken(existing, in.ClientRequestToken); upd != nil {
			return nil, nil
		}
		if err := startable(c, existing, typ); err != nil {
			return nil, err
		}
		params, ops, err := s.applyConfig(c, typ, &in)
		if err != nil {
			if e, ok := apierror.As(err); ok {
				e.With("clusterName", in.Name)
			}
			return nil, err
		}
		upd = &Update{
			ID:                 uuid.NewString(),
			Cluster:            in.Name,
			Status:             UpdateSuccessful,
			Type:               typ,
			Params:             params,
			CreatedAt:          s.cfg.Now().UTC().Truncate(time.Millisecond),
			ClientRequestToken: in.ClientRequestToken,
		}
		raw, err := json.Marshal(upd)
		if err != nil {
			return nil, err
		}
		return append([]store.Op{{Kind: KindUpdate, Key: updateKey(in.Name, upd.ID), Value: raw, Create: true}}, ops...), nil
	})
	if err != nil {
		return nil, err
	}
	return upd, nil
}

// applyConfig makes the change of an update of type typ to c and returns
// the update's parameters and the ops to commit with the cluster.
func (s *Service) applyConfig(c *Cluster, typ string, in *ConfigInput) ([]UpdateParam, []store.Op, error) {
	switch typ {
	case UpdateTypeAccessConfig:
		return s.applyAccess(c, in.Access)
	case UpdateTypeLogging:
		next, err := mergeLogging(c.Logging, in.Logging.ClusterLogging)
		if err != nil {
			return nil, nil, err
		}
		if slices.EqualFunc(next, c.Logging, func(a, b LogSetup) bool { return a.Enabled == b.Enabled && slices.Equal(a.Types, b.Types) }) {
			return nil, nil, invalid("No changes needed for the logging config provided")
		}
		c.Logging = next
		asked := make([]LogSetup, 0, len(in.Logging.ClusterLogging))
		for _, ls := range in.Logging.ClusterLogging {
			asked = append(asked, LogSetup{Types: nonNil(ls.Types), Enabled: ls.Enabled})
		}
		value, err := jsonParam(struct {
			ClusterLogging []LogSetup `json:"clusterLogging"`
		}{asked})
		return []UpdateParam{{Type: "ClusterLogging", Value: value}}, nil, err
	case UpdateTypeEndpointAccess:
		return applyEndpoint(c, in.Endpoint)
	case UpdateTypeUpgradePolicy:
		return s.applyUpgradePolicy(c, in.UpgradePolicy.SupportType)
	case UpdateTypeZonalShift:
		enabled := *in.ZonalShift.Enabled
		if enabled == c.ZonalShift {
			return nil, nil, invalid("No changes needed for the zonal shift config provided")
		}
		c.ZonalShift = enabled
		value, err := jsonParam(map[string]bool{"enabled": enabled})
		return []UpdateParam{{Type: "ZonalShiftConfig", Value: value}}, nil, err
	case UpdateTypeDeletionProtection:
		on := *in.DeletionProtection
		if on == c.DeletionProtection {
			return nil, nil, invalid("No changes needed for the deletion protection provided")
		}
		c.DeletionProtection = on
		return []UpdateParam{{Type: "DeletionProtection", Value: strconv.FormatBool(on)}}, nil, nil
	}
	return nil, nil, fmt.Errorf("cluster: no handler for update type %s", typ)
}

// applyAccess changes the authentication mode, one way only, a step at a
// time: CONFIG_MAP to API_AND_CONFIG_MAP to API. A cluster that leaves
// CONFIG_MAP gets the access entry of its creator, as EKS creates it then.
func (s *Service) applyAccess(c *Cluster, in *AccessInput) ([]UpdateParam, []store.Op, error) {
	if b := in.BootstrapClusterCreatorAdminPermissions; b != nil && *b != c.Access.BootstrapClusterCreatorAdminPermissions {
		return nil, nil, invalid("bootstrapClusterCreatorAdminPermissions can only be set when the cluster is created; UpdateClusterConfig can change only accessConfig.authenticationMode.")
	}
	from, to := c.Access.AuthenticationMode, in.AuthenticationMode
	if !(from == "CONFIG_MAP" && to == "API_AND_CONFIG_MAP" || from == "API_AND_CONFIG_MAP" && to == "API") {
		return nil, nil, invalid("Unsupported authentication mode update from %s to %s", from, to)
	}
	var ops []store.Op
	if from == "CONFIG_MAP" && s.cfg.AccessEntries != nil && c.Creator != "" && c.Access.BootstrapClusterCreatorAdminPermissions {
		creator, err := s.cfg.AccessEntries.CreatorOps(c, c.Creator)
		if err != nil {
			return nil, nil, fmt.Errorf("the access entry of the creator of cluster %s: %w", c.Name, err)
		}
		ops = creator
	}
	c.Access.AuthenticationMode = to
	value, err := jsonParam(to)
	return []UpdateParam{{Type: "AuthenticationMode", Value: value}}, ops, err
}

// applyEndpoint records the endpoint access settings. berth's endpoint is
// on loopback whatever they say.
func applyEndpoint(c *Cluster, in *EndpointInput) ([]UpdateParam, []store.Op, error) {
	public, private, cidrs := c.VPC.EndpointPublicAccess, c.VPC.EndpointPrivateAccess, c.VPC.PublicAccessCIDRs
	if in.Public != nil {
		public = *in.Public
	}
	if in.Private != nil {
		private = *in.Private
	}
	if len(in.PublicAccessCIDRs) > 0 {
		cidrs = in.PublicAccessCIDRs
	}
	if !public && !private {
		return nil, nil, invalid("Private and public endpoint access cannot both be disabled.")
	}
	if public == c.VPC.EndpointPublicAccess && private == c.VPC.EndpointPrivateAccess && sameSet(cidrs, c.VPC.PublicAccessCIDRs) {
		return nil, nil, invalid("Cluster is already at the desired configuration with endpointPrivateAccess: %t , endpointPublicAccess: %t, and Public Endpoint Restrictions: [%s]",
			private, public, strings.Join(cidrs, ", "))
	}
	c.VPC.EndpointPublicAccess, c.VPC.EndpointPrivateAccess, c.VPC.PublicAccessCIDRs = public, private, slices.Clone(cidrs)
	params := []UpdateParam{
		{Type: "EndpointPublicAccess", Value: strconv.FormatBool(public)},
		{Type: "EndpointPrivateAccess", Value: strconv.FormatBool(private)},
	}
	if len(in.PublicAccessCIDRs) > 0 {
		value, err := jsonParam(in.PublicAccessCIDRs)
		if err != nil {
			return nil, nil, err
		}
		params = append(params, UpdateParam{Type: "PublicAccessCidrs", Value: value})
	}
	return params, nil, nil
}

// applyUpgradePolicy changes the support type while the cluster's version
// is in standard support: extended support must be chosen before the
// version leaves standard support, and cannot be given up once it has.
func (s *Service) applyUpgradePolicy(c *Cluster, support string) ([]UpdateParam, []store.Op, error) {
	if support == c.SupportType {
		return nil, nil, invalid("No changes needed for the upgrade policy provided")
	}
	if v, ok := s.cfg.Versions.Get(c.Version); ok {
		if st := v.Status(s.cfg.Now()); st != "STANDARD_SUPPORT" {
			if support == "STANDARD" {
				return nil, nil, invalid("Cannot disable extended support for cluster %s: Kubernetes version %s is in %s.", c.Name, c.Version, st)
			}
			return nil, nil, invalid("Cannot enable extended support for cluster %s: Kubernetes version %s is in %s; extended support must be enabled before the version leaves standard support.", c.Name, c.Version, st)
		}
	}
	c.SupportType = support
	value, err := jsonParam(map[string]string{"supportType": support})
	return []UpdateParam{{Type: "UpgradePolicy", Value: value}}, nil, err
}

// jsonParam is an update parameter value as EKS writes structured values:
// their JSON.
func jsonParam(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}
