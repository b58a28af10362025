package eksapi

import (
	"context"
	"net/http"
	"slices"

	"github.com/berthproject/berth/internal/nodegroup"
)

// The managed node group operations: CreateNodegroup, ListNodegroups,
// DescribeNodegroup, DeleteNodegroup, UpdateNodegroupConfig and
// UpdateNodegroupVersion, in the shapes of the EKS model.

func (h *Handler) createNodegroup(q *request, clusterName string) {
	var in createNodegroupRequest
	if err := decode(q, &in); err != nil {
		writeError(q.w, err)
		return
	}
	ci := nodegroup.CreateInput{
		Cluster:            clusterName,
		Name:               str(in.NodegroupName),
		Scaling:            in.ScalingConfig.input(),
		DiskSize:           in.DiskSize,
		Subnets:            in.Subnets,
		InstanceTypes:      in.InstanceTypes,
		AMIType:            str(in.AmiType),
		NodeRole:           str(in.NodeRole),
		Labels:             in.Labels,
		Tags:               in.Tags,
		ClientRequestToken: str(in.ClientRequestToken),
		LaunchTemplate:     in.LaunchTemplate.model(),
		UpdateConfig:       in.UpdateConfig.input(),
		CapacityType:       str(in.CapacityType),
		Version:            str(in.Version),
		ReleaseVersion:     str(in.ReleaseVersion),
	}
	if ra := in.RemoteAccess; ra != nil {
		ci.RemoteAccess = &nodegroup.RemoteAccess{EC2SSHKey: str(ra.Ec2SshKey), SourceSecurityGroups: ra.SourceSecurityGroups}
	}
	for _, t := range in.Taints {
		ci.Taints = append(ci.Taints, t.model())
	}
	ci.NodeRepair, ci.Unsupported = in.NodeRepairConfig.input()
	if !emptyOption(in.WarmPoolConfig) {
		ci.Unsupported = append(ci.Unsupported, "warmPoolConfig")
	}
	ng, err := h.cfg.Nodegroups.Create(q.ctx, ci)
	if err != nil {
		writeError(q.w, err)
		return
	}
	writeJSON(q.w, http.StatusOK, map[string]any{"nodegroup": nodegroupToWire(ng)})
}

func (h *Handler) listNodegroups(q *request, clusterName string) {
	writeList(q, "nodegroups", func(max int, token string) ([]string, string, error) {
		return h.cfg.Nodegroups.List(q.ctx, clusterName, max, token)
	})
}

func nodegroupTransitional(status string) bool {
	return status == nodegroup.StatusCreating || status == nodegroup.StatusUpdating || status == nodegroup.StatusDeleting
}

func (h *Handler) describeNodegroup(q *request, clusterName, name string) {
	ng, _, err := h.cfg.Nodegroups.Get(q.ctx, clusterName, name)
	if err == nil && nodegroupTransitional(ng.Status) && h.cfg.DescribeHold > 0 {
		ng, err = hold(q.ctx, h, nodegroup.KindNodegroup, nodegroup.Key(clusterName, name), ng.Status, func(ctx context.Context) (*nodegroup.Nodegroup, string, error) {
			ng, _, err := h.cfg.Nodegroups.Get(ctx, clusterName, name)
			if err != nil {
				return nil, "", err
			}
			return ng, ng.Status, nil
		})
	}
	if err != nil {
		writeError(q.w, err)
		return
	}
	writeJSON(q.w, http.StatusOK, map[string]any{"nodegroup": nodegroupToWire(ng)})
}

func (h *Handler) deleteNodegroup(q *request, clusterName, name string) {
	ng, err := h.cfg.Nodegroups.Delete(q.ctx, clusterName, name)
	if err != nil {
		writeError(q.w, err)
		return
	}
	writeJSON(q.w, http.StatusOK, map[string]any{"nodegroup": nodegroupToWire(ng)})
}

func (h *Handler) updateNodegroupConfig(q *request, clusterName, name string) {
	var in updateNodegroupConfigRequest
	if err := decode(q, &in); err != nil {
		writeError(q.w, err)
		return
	}
	ui := nodegroup.UpdateConfigInput{
		Cluster:            clusterName,
		Name:               name,
		Scaling:            in.ScalingConfig.input(),
		UpdateConfig:       in.UpdateConfig.input(),
		ClientRequestToken: str(in.ClientRequestToken),
	}
	if l := in.Labels; l != nil {
		ui.AddLabels, ui.RemoveLabels = l.AddOrUpdateLabels, l.RemoveLabels
	}
	if t := in.Taints; t != nil {
		for _, a := range t.AddOrUpdateTaints {
			ui.AddTaints = append(ui.AddTaints, a.model())
		}
		for _, r := range t.RemoveTaints {
			ui.RemoveTaints = append(ui.RemoveTaints, r.model())
		}
	}
	ui.NodeRepair, ui.Unsupported = in.NodeRepairConfig.input()
	if !emptyOption(in.WarmPoolConfig) {
		ui.Unsupported = append(ui.Unsupported, "warmPoolConfig")
	}
	u, err := h.cfg.Nodegroups.UpdateConfig(q.ctx, ui)
	if err != nil {
		writeError(q.w, err)
		return
	}
	writeJSON(q.w, http.StatusOK, map[string]any{"update": updateToWire(u)})
}

func (h *Handler) updateNodegroupVersion(q *request, clusterName, name string) {
	var in updateNodegroupVersionRequest
	if err := decode(q, &in); err != nil {
		writeError(q.w, err)
		return
	}
	u, err := h.cfg.Nodegroups.UpdateVersion(q.ctx, nodegroup.UpdateVersionInput{
		Cluster:            clusterName,
		Name:               name,
		Version:            str(in.Version),
		ReleaseVersion:     str(in.ReleaseVersion),
		LaunchTemplate:     in.LaunchTemplate.model(),
		Force:              in.Force != nil && *in.Force,
		ClientRequestToken: str(in.ClientRequestToken),
	})
	if err != nil {
		writeError(q.w, err)
		return
	}
	writeJSON(q.w, http.StatusOK, map[string]any{"update": updateToWire(u)})
}

func nodegroupToWire(ng *nodegroup.Nodegroup) nodegroupWire {
	w := nodegroupWire{
		NodegroupName:  ng.Name,
		NodegroupArn:   ng.ARN,
		ClusterName:    ng.Cluster,
		Version:        ng.Version,
		ReleaseVersion: ng.ReleaseVersion,
		CreatedAt:      ep(ng.CreatedAt),
		ModifiedAt:     ep(ng.ModifiedAt),
		Status:         ng.Status,
		CapacityType:   ng.CapacityType,
		ScalingConfig:  scalingResponse{MinSize: ng.Scaling.Min, MaxSize: ng.Scaling.Max, DesiredSize: ng.Scaling.Desired},
		InstanceTypes:  ng.InstanceTypes,
		Subnets:        ng.Subnets,
		AmiType:        ng.AMIType,
		NodeRole:       ng.NodeRole,
		Labels:         ng.Labels,
		Resources: nodegroupResources{
			AutoScalingGroups:         []autoScalingGroup{{Name: ng.ASG}},
			RemoteAccessSecurityGroup: ng.RemoteAccessSecurityGroup(),
		},
		Health: health{Issues: []clusterIssue{}},
		UpdateConfig: updateConfigResponse{
			MaxUnavailable:           ng.UpdateConfig.MaxUnavailable,
			MaxUnavailablePercentage: ng.UpdateConfig.MaxUnavailablePercentage,
			UpdateStrategy:           ng.UpdateConfig.UpdateStrategy,
		},
		NodeRepairConfig: nodeRepairResponse{Enabled: ng.NodeRepair},
		Tags:             ng.Tags,
	}
	if w.Labels == nil {
		w.Labels = map[string]string{}
	}
	if w.Tags == nil {
		w.Tags = map[string]string{}
	}
	if ng.LaunchTemplate == nil {
		disk := ng.DiskSize
		w.DiskSize = &disk
	} else {
		w.LaunchTemplate = &launchTemplateWire{ID: ng.LaunchTemplate.ID, Name: ng.LaunchTemplate.Name, Version: ng.LaunchTemplate.Version}
	}
	if ra := ng.RemoteAccess; ra != nil {
		key := ra.EC2SSHKey
		w.RemoteAccess = &remoteAccessWire{Ec2SshKey: &key, SourceSecurityGroups: ra.SourceSecurityGroups}
	}
	for _, t := range ng.Taints {
		w.Taints = append(w.Taints, taintResponse{Key: t.Key, Value: t.Value, Effect: t.Effect})
	}
	for _, is := range ng.Health {
		w.Health.Issues = append(w.Health.Issues, clusterIssue{Code: is.Code, Message: is.Message, ResourceIDs: is.ResourceIDs})
	}
	return w
}

// Requests.

type createNodegroupRequest struct {
	NodegroupName      *string              `json:"nodegroupName"`
	ScalingConfig      *scalingRequest      `json:"scalingConfig"`
	DiskSize           *int                 `json:"diskSize"`
	Subnets            []string             `json:"subnets"`
	InstanceTypes      []string             `json:"instanceTypes"`
	AmiType            *string              `json:"amiType"`
	RemoteAccess       *remoteAccessWire    `json:"remoteAccess"`
	NodeRole           *string              `json:"nodeRole"`
	Labels             map[string]string    `json:"labels"`
	Taints             []taintRequest       `json:"taints"`
	Tags               map[string]string    `json:"tags"`
	ClientRequestToken *string              `json:"clientRequestToken"`
	LaunchTemplate     *launchTemplateWire  `json:"launchTemplate"`
	UpdateConfig       *updateConfigRequest `json:"updateConfig"`
	NodeRepairConfig   *nodeRepairRequest   `json:"nodeRepairConfig"`
	CapacityType       *string              `json:"capacityType"`
	Version            *string              `json:"version"`
	ReleaseVersion     *string              `json:"releaseVersion"`
	WarmPoolConfig     any                  `json:"warmPoolConfig"`
}

type updateNodegroupConfigRequest struct {
	Labels             *updateLabelsPayload `json:"labels"`
	Taints             *updateTaintsPayload `json:"taints"`
	ScalingConfig      *scalingRequest      `json:"scalingConfig"`
	UpdateConfig       *updateConfigRequest `json:"updateConfig"`
	NodeRepairConfig   *nodeRepairRequest   `json:"nodeRepairConfig"`
	WarmPoolConfig     any                  `json:"warmPoolConfig"`
	ClientRequestToken *string              `json:"clientRequestToken"`
}

type updateNodegroupVersionRequest struct {
	Version            *string             `json:"version"`
	ReleaseVersion     *string             `json:"releaseVersion"`
	LaunchTemplate     *launchTemplateWire `json:"launchTemplate"`
	Force              *bool               `json:"force"`
	ClientRequestToken *string             `json:"clientRequestToken"`
}

type updateLabelsPayload struct {
	AddOrUpdateLabels map[string]string `json:"addOrUpdateLabels"`
	RemoveLabels      []string          `json:"removeLabels"`
}

type updateTaintsPayload struct {
	AddOrUpdateTaints []taintRequest `json:"addOrUpdateTaints"`
	RemoveTaints      []taintRequest `json:"removeTaints"`
}

// scalingRequest is NodegroupScalingConfig in a request.
type scalingRequest struct {
	MinSize     *int `json:"minSize"`
	MaxSize     *int `json:"maxSize"`
	DesiredSize *int `json:"desiredSize"`
}

func (s *scalingRequest) input() *nodegroup.ScalingInput {
	if s == nil {
		return nil
	}
	return &nodegroup.ScalingInput{Min: s.MinSize, Max: s.MaxSize, Desired: s.DesiredSize}
}

// updateConfigRequest is NodegroupUpdateConfig in a request.
type updateConfigRequest struct {
	MaxUnavailable           *int    `json:"maxUnavailable"`
	MaxUnavailablePercentage *int    `json:"maxUnavailablePercentage"`
	UpdateStrategy           *string `json:"updateStrategy"`
}

func (u *updateConfigRequest) input() *nodegroup.UpdateSettings {
	if u == nil {
		return nil
	}
	return &nodegroup.UpdateSettings{MaxUnavailable: u.MaxUnavailable, MaxUnavailablePercentage: u.MaxUnavailablePercentage, UpdateStrategy: str(u.UpdateStrategy)}
}

// nodeRepairRequest is NodeRepairConfig in a request. berth implements
// enabled; the thresholds and overrides are refused when given.
type nodeRepairRequest struct {
	Enabled                             *bool `json:"enabled"`
	MaxUnhealthyNodeThresholdCount      any   `json:"maxUnhealthyNodeThresholdCount"`
	MaxUnhealthyNodeThresholdPercentage any   `json:"maxUnhealthyNodeThresholdPercentage"`
	MaxParallelNodesRepairedCount       any   `json:"maxParallelNodesRepairedCount"`
	MaxParallelNodesRepairedPercentage  any   `json:"maxParallelNodesRepairedPercentage"`
	NodeRepairConfigOverrides           any   `json:"nodeRepairConfigOverrides"`
}

// input returns enabled and the names of the members berth does not
// implement.
func (n *nodeRepairRequest) input() (*bool, []string) {
	if n == nil {
		return nil, nil
	}
	var unsupported []string
	for _, m := range []struct {
		name string
		v    any
	}{
		{"maxUnhealthyNodeThresholdCount", n.MaxUnhealthyNodeThresholdCount},
		{"maxUnhealthyNodeThresholdPercentage", n.MaxUnhealthyNodeThresholdPercentage},
		{"maxParallelNodesRepairedCount", n.MaxParallelNodesRepairedCount},
		{"maxParallelNodesRepairedPercentage", n.MaxParallelNodesRepairedPercentage},
		{"nodeRepairConfigOverrides", n.NodeRepairConfigOverrides},
	} {
		if m.v != nil {
			unsupported = append(unsupported, "nodeRepairConfig."+m.name)
		}
	}
	slices.Sort(unsupported)
	return n.Enabled, unsupported
}

// taintRequest is Taint in a request.
type taintRequest struct {
	Key    *string `json:"key"`
	Value  *string `json:"value"`
	Effect *string `json:"effect"`
}

func (t taintRequest) model() nodegroup.Taint {
	return nodegroup.Taint{Key: str(t.Key), Value: str(t.Value), Effect: str(t.Effect)}
}

// launchTemplateWire is LaunchTemplateSpecification.
type launchTemplateWire struct {
	Name    string `json:"name,omitempty"`
	Version string `json:"version,omitempty"`
	ID      string `json:"id,omitempty"`
}

func (l *launchTemplateWire) model() *nodegroup.LaunchTemplate {
	if l == nil {
		return nil
	}
	return &nodegroup.LaunchTemplate{Name: l.Name, ID: l.ID, Version: l.Version}
}

// remoteAccessWire is RemoteAccessConfig.
type remoteAccessWire struct {
	Ec2SshKey            *string  `json:"ec2SshKey,omitempty"`
	SourceSecurityGroups []string `json:"sourceSecurityGroups,omitempty"`
}

// Responses.

type nodegroupWire struct {
	NodegroupName    string               `json:"nodegroupName"`
	NodegroupArn     string               `json:"nodegroupArn"`
	ClusterName      string               `json:"clusterName"`
	Version          string               `json:"version"`
	ReleaseVersion   string               `json:"releaseVersion"`
	CreatedAt        *epoch               `json:"createdAt"`
	ModifiedAt       *epoch               `json:"modifiedAt"`
	Status           string               `json:"status"`
	CapacityType     string               `json:"capacityType"`
	ScalingConfig    scalingResponse      `json:"scalingConfig"`
	InstanceTypes    []string             `json:"instanceTypes,omitempty"`
	Subnets          []string             `json:"subnets"`
	RemoteAccess     *remoteAccessWire    `json:"remoteAccess,omitempty"`
	AmiType          string               `json:"amiType"`
	NodeRole         string               `json:"nodeRole"`
	Labels           map[string]string    `json:"labels"`
	Taints           []taintResponse      `json:"taints,omitempty"`
	Resources        nodegroupResources   `json:"resources"`
	DiskSize         *int                 `json:"diskSize,omitempty"`
	Health           health               `json:"health"`
	UpdateConfig     updateConfigResponse `json:"updateConfig"`
	NodeRepairConfig nodeRepairResponse   `json:"nodeRepairConfig"`
	LaunchTemplate   *launchTemplateWire  `json:"launchTemplate,omitempty"`
	Tags             map[string]string    `json:"tags"`
}

type scalingResponse struct {
	MinSize     int `json:"minSize"`
	MaxSize     int `json:"maxSize"`
	DesiredSize int `json:"desiredSize"`
}

type taintResponse struct {
	Key    string `json:"key"`
	Value  string `json:"value,omitempty"`
	Effect string `json:"effect"`
}

type nodegroupResources struct {
	AutoScalingGroups         []autoScalingGroup `json:"autoScalingGroups"`
	RemoteAccessSecurityGroup string             `json:"remoteAccessSecurityGroup,omitempty"`
}

type autoScalingGroup struct {
	Name string `json:"name"`
}

type updateConfigResponse struct {
	MaxUnavailable           int    `json:"maxUnavailable,omitempty"`
	MaxUnavailablePercentage int    `json:"maxUnavailablePercentage,omitempty"`
	UpdateStrategy           string `json:"updateStrategy,omitempty"`
}

type nodeRepairResponse struct {
	Enabled bool `json:"enabled"`
}
