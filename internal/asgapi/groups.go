package asgapi

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"github.com/berthproject/berth/internal/compute"
	"github.com/berthproject/berth/internal/paging"
	"github.com/berthproject/berth/internal/queryapi"
	"github.com/berthproject/berth/internal/vpc"
)

// The XML shapes of the answers, with the member names of the Auto
// Scaling model. Lists are <Name><member>...</member></Name>; the lists
// AWS writes even when empty are queryapi.Members values.

type launchTemplateXML struct {
	LaunchTemplateID   string `xml:"LaunchTemplateId"`
	LaunchTemplateName string `xml:"LaunchTemplateName"`
	Version            string `xml:"Version"`
}

type overrideXML struct {
	InstanceType string `xml:"InstanceType"`
}

type mixedInstancesPolicyXML struct {
	LaunchTemplate struct {
		LaunchTemplateSpecification launchTemplateXML `xml:"LaunchTemplateSpecification"`
		Overrides                   queryapi.Members[overrideXML]
	} `xml:"LaunchTemplate"`
	InstancesDistribution instancesDistributionXML `xml:"InstancesDistribution"`
}

type instancesDistributionXML struct {
	OnDemandAllocationStrategy          string `xml:"OnDemandAllocationStrategy"`
	OnDemandBaseCapacity                int    `xml:"OnDemandBaseCapacity"`
	OnDemandPercentageAboveBaseCapacity int    `xml:"OnDemandPercentageAboveBaseCapacity"`
	SpotAllocationStrategy              string `xml:"SpotAllocationStrategy"`
	SpotInstancePools                   int    `xml:"SpotInstancePools,omitempty"`
}

type instanceXML struct {
	InstanceID           string             `xml:"InstanceId"`
	InstanceType         string             `xml:"InstanceType"`
	AvailabilityZone     string             `xml:"AvailabilityZone"`
	AvailabilityZoneID   string             `xml:"AvailabilityZoneId,omitempty"`
	LifecycleState       string             `xml:"LifecycleState"`
	HealthStatus         string             `xml:"HealthStatus"`
	LaunchTemplate       *launchTemplateXML `xml:"LaunchTemplate"`
	ProtectedFromScaleIn bool               `xml:"ProtectedFromScaleIn"`
}

type tagXML struct {
	ResourceID        string `xml:"ResourceId"`
	ResourceType      string `xml:"ResourceType"`
	Key               string `xml:"Key"`
	Value             string `xml:"Value"`
	PropagateAtLaunch bool   `xml:"PropagateAtLaunch"`
}

type groupXML struct {
	AutoScalingGroupName             string                   `xml:"AutoScalingGroupName"`
	AutoScalingGroupARN              string                   `xml:"AutoScalingGroupARN"`
	LaunchTemplate                   *launchTemplateXML       `xml:"LaunchTemplate"`
	MixedInstancesPolicy             *mixedInstancesPolicyXML `xml:"MixedInstancesPolicy"`
	MinSize                          int                      `xml:"MinSize"`
	MaxSize                          int                      `xml:"MaxSize"`
	DesiredCapacity                  int                      `xml:"DesiredCapacity"`
	DefaultCooldown                  int                      `xml:"DefaultCooldown"`
	AvailabilityZones                queryapi.Members[string]
	LoadBalancerNames                queryapi.Members[string]
	TargetGroupARNs                  queryapi.Members[string]
	HealthCheckType                  string `xml:"HealthCheckType"`
	HealthCheckGracePeriod           int    `xml:"HealthCheckGracePeriod"`
	Instances                        *queryapi.Members[instanceXML]
	CreatedTime                      string `xml:"CreatedTime"`
	SuspendedProcesses               queryapi.Members[string]
	VPCZoneIdentifier                string `xml:"VPCZoneIdentifier"`
	EnabledMetrics                   queryapi.Members[string]
	Status                           string `xml:"Status,omitempty"`
	Tags                             queryapi.Members[tagXML]
	TerminationPolicies              queryapi.Members[string]
	NewInstancesProtectedFromScaleIn bool   `xml:"NewInstancesProtectedFromScaleIn"`
	ServiceLinkedRoleARN             string `xml:"ServiceLinkedRoleARN"`
	CapacityRebalance                bool   `xml:"CapacityRebalance"`
	TrafficSources                   queryapi.Members[string]
}

// What every group shows: Auto Scaling's defaults, and what EKS sets on
// the groups of managed node groups.
const (
	defaultCooldown = 300
	healthCheckType = "EC2"
	// nodegroupGracePeriod is the HealthCheckGracePeriod of EKS's groups.
	nodegroupGracePeriod = 15
)

// nodegroupTerminationPolicies are the termination policies of EKS's
// groups; berth's scale-in follows them (zones first, then the oldest
// template, then the oldest instance).
var nodegroupTerminationPolicies = []string{"AllocationStrategy", "OldestLaunchTemplate", "OldestInstance"}

// serviceLinkedRole is the ARN of the role Auto Scaling acts as.
func (h *Handler) serviceLinkedRole() string {
	return "arn:aws:iam::" + h.cfg.Account + ":role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
}

// groupID is the id in a group's ARN (autoScalingGroup:ID:...).
func groupID(g *compute.Group) string {
	_, rest, ok := strings.Cut(g.ARN, ":autoScalingGroup:")
	if !ok {
		return ""
	}
	id, _, _ := strings.Cut(rest, ":")
	return id
}

// launchTemplate is the launch template a group launches from at a
// version: berth keeps no launch templates, so its id is derived from the
// group, and a node group's is named eks-ID as EKS names its own.
func launchTemplate(g *compute.Group, version int) *launchTemplateXML {
	name := g.Name
	if g.Nodegroup != "" {
		name = "eks-" + groupID(g)
	}
	return &launchTemplateXML{
		LaunchTemplateID:   vpc.ID("lt", g.ARN),
		LaunchTemplateName: name,
		Version:            strconv.Itoa(version),
	}
}

// lifecycle is an instance's LifecycleState and HealthStatus: berth's
// drain is the termination lifecycle hook (Terminating:Wait), then the
// instance proceeds; an instance terminated outside its group is
// Unhealthy, as the EC2 health check finds it.
func lifecycle(in *compute.Instance) (state, health string) {
	switch {
	case in.State == compute.StatePending && in.Drain == nil:
		return "Pending", "Healthy"
	case in.Drain != nil && in.Live() && !in.Drain.Done:
		return "Terminating:Wait", "Healthy"
	case in.Drain != nil:
		return "Terminating:Proceed", "Healthy"
	case in.State == compute.StateShuttingDown:
		return "Terminating", "Unhealthy"
	}
	return "InService", "Healthy"
}

// toGroupXML writes a group as DescribeAutoScalingGroups shows it, with
// its live instances unless withInstances is false.
func (h *Handler) toGroupXML(g *compute.Group, instances []*compute.Instance, withInstances bool) groupXML {
	net := h.cfg.Compute.Network()
	var zones []string
	for _, id := range g.SubnetIDs {
		if s, ok := net.Subnet(id); ok && !slices.Contains(zones, s.AZ) {
			zones = append(zones, s.AZ)
		}
	}
	slices.Sort(zones)
	x := groupXML{
		AutoScalingGroupName: g.Name,
		AutoScalingGroupARN:  g.ARN,
		MinSize:              g.Min,
		MaxSize:              g.Max,
		DesiredCapacity:      g.Desired,
		DefaultCooldown:      defaultCooldown,
		AvailabilityZones:    queryapi.Members[string]{Member: zones},
		HealthCheckType:      healthCheckType,
		CreatedTime:          timestamp(g.CreatedAt),
		VPCZoneIdentifier:    strings.Join(g.SubnetIDs, ","),
		TerminationPolicies:  queryapi.Members[string]{Member: []string{"Default"}},
		ServiceLinkedRoleARN: h.serviceLinkedRole(),
		CapacityRebalance:    g.CapacityType == compute.Spot,
	}
	if g.Nodegroup != "" {
		x.HealthCheckGracePeriod = nodegroupGracePeriod
		x.TerminationPolicies.Member = slices.Clone(nodegroupTerminationPolicies)
	}
	if g.Deleting {
		x.Status = "Delete in progress"
	}
	lt := launchTemplate(g, g.TemplateVersion)
	if len(g.InstanceTypes) > 1 || g.CapacityType == compute.Spot {
		p := &mixedInstancesPolicyXML{}
		p.LaunchTemplate.LaunchTemplateSpecification = *lt
		for _, t := range g.InstanceTypes {
			p.LaunchTemplate.Overrides.Member = append(p.LaunchTemplate.Overrides.Member, overrideXML{InstanceType: t})
		}
		p.InstancesDistribution = instancesDistributionXML{
			OnDemandAllocationStrategy: "prioritized", OnDemandPercentageAboveBaseCapacity: 100,
			SpotAllocationStrategy: "lowest-price", SpotInstancePools: 2,
		}
		if g.CapacityType == compute.Spot {
			p.InstancesDistribution = instancesDistributionXML{
				OnDemandAllocationStrategy: "prioritized", SpotAllocationStrategy: "price-capacity-optimized",
			}
		}
		x.MixedInstancesPolicy = p
	} else {
		x.LaunchTemplate = lt
	}
	keys := make([]string, 0, len(g.Tags))
	for k := range g.Tags {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		x.Tags.Member = append(x.Tags.Member, tagXML{ResourceID: g.Name, ResourceType: "auto-scaling-group", Key: k, Value: g.Tags[k], PropagateAtLaunch: true})
	}
	if withInstances {
		x.Instances = &queryapi.Members[instanceXML]{}
		for _, in := range instances {
			if in.Group != g.Name || in.State == compute.StateTerminated {
				continue
			}
			state, health := lifecycle(in)
			ix := instanceXML{
				InstanceID: in.ID, InstanceType: in.Type, AvailabilityZone: in.AZ,
				LifecycleState: state, HealthStatus: health,
				LaunchTemplate: launchTemplate(g, in.TemplateVersion),
			}
			if s, ok := net.Subnet(in.SubnetID); ok {
				ix.AvailabilityZoneID = s.AZID
			}
			x.Instances.Member = append(x.Instances.Member, ix)
		}
	}
	return x
}

type describeGroupsResult struct {
	AutoScalingGroups queryapi.Members[groupXML]
	NextToken         string `xml:"NextToken,omitempty"`
}

// groupFilter answers a DescribeAutoScalingGroups filter for a group's
// tags: tag-key, tag-value and tag:KEY. Values match exactly; a group
// passes a filter when one of the filter's values matches.
func groupFilter(f queryapi.Filter, tags map[string]string) (bool, error) {
	switch {
	case f.Name == "tag-key":
		for k := range tags {
			if slices.Contains(f.Values, k) {
				return true, nil
			}
		}
		return false, nil
	case f.Name == "tag-value":
		for _, v := range tags {
			if slices.Contains(f.Values, v) {
				return true, nil
			}
		}
		return false, nil
	case strings.HasPrefix(f.Name, "tag:") && len(f.Name) > len("tag:"):
		v, ok := tags[f.Name[len("tag:"):]]
		return ok && slices.Contains(f.Values, v), nil
	case f.Name == "":
		return false, missing("Filters.member.N.Name")
	}
	return false, validation("Filter name '%s' is not valid. DescribeAutoScalingGroups takes the filters tag-key, tag-value and tag:<key>.", f.Name)
}

func (h *Handler) describeAutoScalingGroups(ctx context.Context, c *call) (any, error) {
	names, err := c.List("AutoScalingGroupNames")
	if err != nil {
		return nil, err
	}
	filters, err := c.filters()
	if err != nil {
		return nil, err
	}
	for _, f := range filters {
		if _, err := groupFilter(f, nil); err != nil {
			return nil, err
		}
	}
	limit, err := c.maxRecords(50, 100)
	if err != nil {
		return nil, err
	}
	withInstances := true
	if b, err := c.Bool("IncludeInstances"); err != nil {
		return nil, err
	} else if b != nil {
		withInstances = *b
	}
	var after string
	if tok := c.Opt("NextToken"); tok != nil && *tok != "" {
		if after, err = paging.After(*tok); err != nil {
			return nil, invalidToken(*tok)
		}
	}
	groups, err := h.cfg.Compute.Groups(ctx)
	if err != nil {
		return nil, err
	}
	byName := map[string]*compute.Group{}
	var keys []string
	for _, g := range groups {
		if len(names) > 0 && !slices.Contains(names, g.Name) {
			continue
		}
		ok := true
		for _, f := range filters {
			if ok, err = groupFilter(f, g.Tags); err != nil || !ok {
				break
			}
		}
		if err != nil {
			return nil, err
		}
		if ok {
			byName[g.Name] = g
			keys = append(keys, g.Name)
		}
	}
	slices.Sort(keys)
	page, next := paging.Page(keys, limit, after)
	var instances []*compute.Instance
	if withInstances && len(page) > 0 {
		if instances, err = h.cfg.Compute.Instances(ctx); err != nil {
			return nil, err
		}
	}
	out := &describeGroupsResult{NextToken: next}
	for _, name := range page {
		out.AutoScalingGroups.Member = append(out.AutoScalingGroups.Member, h.toGroupXML(byName[name], instances, withInstances))
	}
	return out, nil
}
