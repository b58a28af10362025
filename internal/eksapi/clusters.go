package eksapi

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"github.com/berthproject/berth/internal/access"
	"github.com/berthproject/berth/internal/apierror"
	"github.com/berthproject/berth/internal/cluster"
	"github.com/berthproject/berth/internal/fargate"
	"github.com/berthproject/berth/internal/nodegroup"
)

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func (h *Handler) createCluster(q *request) {
	var in createClusterRequest
	if err := decode(q, &in); err != nil {
		writeError(q.w, err)
		return
	}
	if in.Name == nil {
		writeError(q.w, apierror.New(apierror.InvalidParameter, "name is required."))
		return
	}
	if in.RoleArn == nil {
		writeError(q.w, apierror.New(apierror.InvalidParameter, "roleArn is required."))
		return
	}
	if in.ResourcesVpcConfig == nil {
		writeError(q.w, apierror.New(apierror.InvalidParameter, "resourcesVpcConfig is required."))
		return
	}
	ci := cluster.CreateInput{
		Name:               *in.Name,
		Version:            str(in.Version),
		RoleARN:            *in.RoleArn,
		SubnetIDs:          in.ResourcesVpcConfig.SubnetIDs,
		SecurityGroupIDs:   in.ResourcesVpcConfig.SecurityGroupIDs,
		EndpointPublic:     in.ResourcesVpcConfig.EndpointPublicAccess,
		EndpointPrivate:    in.ResourcesVpcConfig.EndpointPrivateAccess,
		PublicAccessCIDRs:  in.ResourcesVpcConfig.PublicAccessCidrs,
		ClientRequestToken: str(in.ClientRequestToken),
		Tags:               in.Tags,
		DeletionProtection: in.DeletionProtection,
		Principal:          q.caller,
	}
	if n := in.KubernetesNetworkConfig; n != nil {
		ci.ServiceIPv4CIDR = str(n.ServiceIPv4Cidr)
		ci.IPFamily = str(n.IPFamily)
		if n.ElasticLoadBalancing != nil {
			ci.ELBEnabled = n.ElasticLoadBalancing.Enabled
		}
	}
	if in.Logging != nil {
		for _, ls := range in.Logging.ClusterLogging {
			ci.Logging = append(ci.Logging, cluster.LogSetup{Types: ls.Types, Enabled: ls.Enabled != nil && *ls.Enabled})
		}
	}
	for _, e := range in.EncryptionConfig {
		enc := cluster.Encryption{Resources: e.Resources}
		if e.Provider != nil {
			enc.KeyARN = e.Provider.KeyArn
		}
		ci.Encryption = append(ci.Encryption, enc)
	}
	if a := in.AccessConfig; a != nil {
		ci.Access = &cluster.AccessInput{BootstrapClusterCreatorAdminPermissions: a.BootstrapClusterCreatorAdminPermissions, AuthenticationMode: a.AuthenticationMode}
	}
	if in.UpgradePolicy != nil {
		ci.SupportType = in.UpgradePolicy.SupportType
	}
	if in.ZonalShiftConfig != nil {
		ci.ZonalShift = in.ZonalShiftConfig.Enabled
	}
	for name, v := range map[string]any{
		"outpostConfig": in.OutpostConfig, "remoteNetworkConfig": in.RemoteNetworkConfig,
		"computeConfig": in.ComputeConfig, "storageConfig": in.StorageConfig,
		"controlPlaneScalingConfig": in.ControlPlaneScalingConfig,
	} {
		if !emptyOption(v) {
			ci.Unsupported = append(ci.Unsupported, name)
		}
	}
	slices.Sort(ci.Unsupported)
	c, err := h.cfg.Clusters.Create(q.ctx, ci)
	if err != nil {
		writeError(q.w, err)
		return
	}
	writeJSON(q.w, http.StatusOK, map[string]any{"cluster": toWire(c)})
}

// emptyOption reports whether an unsupported option is absent or switched
// off (computeConfig {"enabled": false} is what tools send by default).
func emptyOption(v any) bool {
	switch t := v.(type) {
	case nil:
		return true
	case map[string]any:
		for k, val := range t {
			if k == "enabled" && val == false {
				continue
			}
			if !emptyOption(val) {
				return false
			}
		}
		return true
	case []any:
		return len(t) == 0
	case bool:
		return !t
	case string:
		return t == ""
	}
	return false
}

func (h *Handler) listClusters(q *request) {
	writeList(q, "clusters", func(max int, token string) ([]string, string, error) {
		return h.cfg.Clusters.List(q.ctx, max, token)
	})
}

func transitional(status string) bool {
	return status == cluster.StatusCreating || status == cluster.StatusDeleting || status == cluster.StatusUpdating
}

func (h *Handler) describeCluster(q *request, name string) {
	// The answer for an unchanged record is the same bytes: reuse them.
	if rev, err := h.cfg.Clusters.Revision(q.ctx, name); err == nil {
		if e, ok := h.described.Load(name); ok && e.(describeEntry).rev == rev {
			writeBytes(q.w, http.StatusOK, e.(describeEntry).body)
			return
		}
	}
	c, rev, err := h.cfg.Clusters.Get(q.ctx, name)
	if err == nil && transitional(c.Status) && h.cfg.DescribeHold > 0 {
		c, err = hold(q.ctx, h, cluster.KindCluster, name, c.Status, func(ctx context.Context) (*cluster.Cluster, string, error) {
			c, _, err := h.cfg.Clusters.Get(ctx, name)
			if err != nil {
				return nil, "", err
			}
			return c, c.Status, nil
		})
		rev = 0
	}
	if err != nil {
		h.described.Delete(name)
		writeError(q.w, err)
		return
	}
	body, err := json.Marshal(map[string]any{"cluster": toWire(c)})
	if err != nil {
		writeError(q.w, err)
		return
	}
	if rev != 0 && !transitional(c.Status) {
		h.described.Store(name, describeEntry{rev: rev, body: body})
	}
	writeBytes(q.w, http.StatusOK, body)
}

// describeEntry is a DescribeCluster response for one record revision.
type describeEntry struct {
	rev  uint64
	body []byte
}

func (h *Handler) deleteCluster(q *request, name string) {
	c, err := h.cfg.Clusters.Delete(q.ctx, name)
	if err != nil {
		writeError(q.w, err)
		return
	}
	writeJSON(q.w, http.StatusOK, map[string]any{"cluster": toWire(c)})
}

func (h *Handler) updateClusterVersion(q *request, name string) {
	var in updateClusterVersionRequest
	if err := decode(q, &in); err != nil {
		writeError(q.w, err)
		return
	}
	u, err := h.cfg.Clusters.UpdateVersion(q.ctx, name, str(in.Version), str(in.ClientRequestToken))
	if err != nil {
		writeError(q.w, err)
		return
	}
	writeJSON(q.w, http.StatusOK, map[string]any{"update": updateToWire(u)})
}

// updateClusterConfigRequest is the UpdateClusterConfig body.
type updateClusterConfigRequest struct {
	ResourcesVpcConfig *updateVpcConfig `json:"resourcesVpcConfig"`
	Logging            *logging         `json:"logging"`
	ClientRequestToken *string          `json:"clientRequestToken"`
	AccessConfig       *accessConfig    `json:"accessConfig"`
	UpgradePolicy      *upgradePolicy   `json:"upgradePolicy"`
	ZonalShiftConfig   *zonalShift      `json:"zonalShiftConfig"`
	DeletionProtection *bool            `json:"deletionProtection"`

	KubernetesNetworkConfig     any `json:"kubernetesNetworkConfig"`
	ComputeConfig               any `json:"computeConfig"`
	StorageConfig               any `json:"storageConfig"`
	RemoteNetworkConfig         any `json:"remoteNetworkConfig"`
	ControlPlaneScalingConfig   any `json:"controlPlaneScalingConfig"`
	KubeAPIServerConfig         any `json:"kubeApiServerConfig"`
	KubeSchedulerConfig         any `json:"kubeSchedulerConfig"`
	KubeControllerManagerConfig any `json:"kubeControllerManagerConfig"`
}

// updateVpcConfig is resourcesVpcConfig in UpdateClusterConfig.
type updateVpcConfig struct {
	SubnetIDs              []string `json:"subnetIds"`
	SecurityGroupIDs       []string `json:"securityGroupIds"`
	EndpointPublicAccess   *bool    `json:"endpointPublicAccess"`
	EndpointPrivateAccess  *bool    `json:"endpointPrivateAccess"`
	PublicAccessCidrs      []string `json:"publicAccessCidrs"`
	ControlPlaneEgressMode string   `json:"controlPlaneEgressMode"`
}

func (h *Handler) updateClusterConfig(q *request, name string) {
	var in updateClusterConfigRequest
	if err := decode(q, &in); err != nil {
		writeError(q.w, err)
		return
	}
	ci := cluster.ConfigInput{Name: name, ClientRequestToken: str(in.ClientRequestToken), DeletionProtection: in.DeletionProtection}
	if a := in.AccessConfig; a != nil {
		ci.Access = &cluster.AccessInput{AuthenticationMode: a.AuthenticationMode, BootstrapClusterCreatorAdminPermissions: a.BootstrapClusterCreatorAdminPermissions}
	}
	if in.Logging != nil {
		ci.Logging = &cluster.LoggingInput{}
		for _, ls := range in.Logging.ClusterLogging {
			ci.Logging.ClusterLogging = append(ci.Logging.ClusterLogging, cluster.LogSetup{Types: ls.Types, Enabled: ls.Enabled != nil && *ls.Enabled})
		}
	}
	if v := in.ResourcesVpcConfig; v != nil {
		if v.EndpointPublicAccess != nil || v.EndpointPrivateAccess != nil || v.PublicAccessCidrs != nil {
			ci.Endpoint = &cluster.EndpointInput{Public: v.EndpointPublicAccess, Private: v.EndpointPrivateAccess, PublicAccessCIDRs: v.PublicAccessCidrs}
		}
		var vpc []string
		if v.SubnetIDs != nil {
			vpc = append(vpc, "resourcesVpcConfig.subnetIds")
		}
		if v.SecurityGroupIDs != nil {
			vpc = append(vpc, "resourcesVpcConfig.securityGroupIds")
		}
		if len(vpc) > 0 {
			ci.Unsupported = append(ci.Unsupported, strings.Join(vpc, " and "))
		}
		if v.ControlPlaneEgressMode != "" {
			ci.Unsupported = append(ci.Unsupported, "resourcesVpcConfig.controlPlaneEgressMode")
		}
	}
	if in.UpgradePolicy != nil {
		ci.UpgradePolicy = &cluster.UpgradePolicyInput{SupportType: in.UpgradePolicy.SupportType}
	}
	if in.ZonalShiftConfig != nil {
		ci.ZonalShift = &cluster.ZonalShiftInput{Enabled: in.ZonalShiftConfig.Enabled}
	}
	// berth keeps kubernetesNetworkConfig, so any of it is a change berth
	// would not make; the other options a berth cluster never has, and
	// switching them off changes nothing.
	if in.KubernetesNetworkConfig != nil {
		ci.Unsupported = append(ci.Unsupported, "kubernetesNetworkConfig")
	}
	var off []string
	for name, v := range map[string]any{
		"computeConfig": in.ComputeConfig, "storageConfig": in.StorageConfig,
		"remoteNetworkConfig": in.RemoteNetworkConfig, "controlPlaneScalingConfig": in.ControlPlaneScalingConfig,
		"kubeApiServerConfig": in.KubeAPIServerConfig, "kubeSchedulerConfig": in.KubeSchedulerConfig,
		"kubeControllerManagerConfig": in.KubeControllerManagerConfig,
	} {
		if !emptyOption(v) {
			off = append(off, name)
		}
	}
	slices.Sort(off)
	ci.Unsupported = append(ci.Unsupported, off...)
	u, err := h.cfg.Clusters.UpdateConfig(q.ctx, ci)
	if err != nil {
		writeError(q.w, err)
		return
	}
	writeJSON(q.w, http.StatusOK, map[string]any{"update": updateToWire(u)})
}

func (h *Handler) describeUpdate(q *request, name, id string) {
	u, err := h.cfg.Clusters.DescribeUpdate(q.ctx, name, id, q.query.Get("nodegroupName"), q.query.Get("addonName"))
	if err != nil {
		writeError(q.w, err)
		return
	}
	writeJSON(q.w, http.StatusOK, map[string]any{"update": updateToWire(u)})
}

func (h *Handler) listUpdates(q *request, name string) {
	writeList(q, "updateIds", func(max int, token string) ([]string, string, error) {
		return h.cfg.Clusters.ListUpdates(q.ctx, name, q.query.Get("nodegroupName"), q.query.Get("addonName"), max, token)
	})
}

func (h *Handler) describeClusterVersions(q *request) {
	max, err := queryInt(q, "maxResults")
	if err != nil {
		writeError(q.w, err)
		return
	}
	defaultOnly, err := queryBool(q, "defaultOnly")
	if err != nil {
		writeError(q.w, err)
		return
	}
	includeAll, err := queryBool(q, "includeAll")
	if err != nil {
		writeError(q.w, err)
		return
	}
	if t := q.query.Get("clusterType"); t != "" && t != "eks" {
		writeError(q.w, apierror.New(apierror.InvalidParameter, "Unsupported clusterType %q: the only cluster type is eks.", t))
		return
	}
	wantStatus := q.query.Get("versionStatus")
	if s := q.query.Get("status"); s != "" {
		wantStatus = strings.ToUpper(strings.ReplaceAll(s, "-", "_"))
	}
	if wantStatus != "" && !slices.Contains([]string{"STANDARD_SUPPORT", "EXTENDED_SUPPORT", "UNSUPPORTED"}, wantStatus) {
		writeError(q.w, apierror.New(apierror.InvalidParameter, "Unsupported version status %q.", wantStatus))
		return
	}
	wanted := q.query["clusterVersions"]
	now := h.cfg.Clusters.Now()
	var list []clusterVersionWire
	for _, v := range h.cfg.Clusters.Versions().All() {
		st := v.Status(now)
		switch {
		case defaultOnly && !v.Default,
			len(wanted) > 0 && !slices.Contains(wanted, v.Minor),
			wantStatus != "" && st != wantStatus,
			!includeAll && wantStatus == "" && st == "UNSUPPORTED":
			continue
		}
		list = append(list, clusterVersionWire{
			ClusterVersion:           v.Minor,
			ClusterType:              "eks",
			DefaultPlatformVersion:   v.PlatformVersion,
			DefaultVersion:           v.Default,
			ReleaseDate:              ep(v.Released),
			EndOfStandardSupportDate: ep(v.EndOfStandard),
			EndOfExtendedSupportDate: ep(v.EndOfExtended),
			Status:                   v.LegacyStatus(now),
			VersionStatus:            st,
			KubernetesPatchVersion:   v.PatchVersion,
		})
	}
	start := 0
	if tok := q.query.Get("nextToken"); tok != "" {
		start = slices.IndexFunc(list, func(v clusterVersionWire) bool { return "v:"+v.ClusterVersion == tok }) + 1
		if start == 0 {
			writeError(q.w, apierror.New(apierror.InvalidParameter, "The pagination token %q is invalid.", tok))
			return
		}
	}
	list = list[start:]
	out := map[string]any{}
	if max > 0 && len(list) > max {
		list = list[:max]
		out["nextToken"] = "v:" + list[max-1].ClusterVersion
	}
	if list == nil {
		list = []clusterVersionWire{}
	}
	out["clusterVersions"] = list
	writeJSON(q.w, http.StatusOK, out)
}

// taggable is the resource a tagging ARN names: a cluster, or a node
// group or Fargate profile of one.
type taggable struct {
	arn         string
	cluster     string
	nodegroup   string
	fargate     string
	accessEntry bool
}

// resolveARN resolves a taggable ARN.
func (h *Handler) resolveARN(arn string) (taggable, error) {
	if name, ok := strings.CutPrefix(arn, h.cfg.Clusters.ARN("")); ok && name != "" && !strings.Contains(name, "/") {
		return taggable{arn: arn, cluster: name}, nil
	}
	if h.cfg.Nodegroups != nil {
		if rest, ok := strings.CutPrefix(arn, h.cfg.Nodegroups.ARNPrefix()); ok {
			parts := strings.Split(rest, "/")
			if len(parts) == 3 && !slices.Contains(parts, "") {
				return taggable{arn: arn, cluster: parts[0], nodegroup: parts[1]}, nil
			}
		}
	}
	if h.cfg.Fargate != nil {
		if rest, ok := strings.CutPrefix(arn, h.cfg.Fargate.ARNPrefix()); ok {
			parts := strings.Split(rest, "/")
			if len(parts) == 3 && !slices.Contains(parts, "") {
				return taggable{arn: arn, cluster: parts[0], fargate: parts[1]}, nil
			}
		}
	}
	if h.cfg.Access != nil {
		if rest, ok := strings.CutPrefix(arn, h.accessARNPrefix()); ok {
			if name, _, ok := strings.Cut(rest, "/"); ok && name != "" {
				return taggable{arn: arn, cluster: name, accessEntry: true}, nil
			}
		}
	}
	if strings.HasPrefix(arn, "arn:aws:eks:") {
		return taggable{}, apierror.New(apierror.NotFound, "Resource not found: %s", arn)
	}
	return taggable{}, apierror.New(apierror.BadRequest, "Invalid ARN: %s", arn)
}

// nodegroup returns the node group a node group ARN names; the ARN's id
// must be the group's (not that of a deleted group of the same name).
func (h *Handler) nodegroup(ctx context.Context, t taggable) (*nodegroup.Nodegroup, error) {
	ng, _, err := h.cfg.Nodegroups.Get(ctx, t.cluster, t.nodegroup)
	if err != nil {
		return nil, notFoundAsTagError(err, t.arn)
	}
	if ng.ARN != t.arn {
		return nil, apierror.New(apierror.NotFound, "Resource not found: %s", t.arn)
	}
	return ng, nil
}

// accessARNPrefix is what access entry ARNs start with in this region
// and account (taken from a cluster ARN).
func (h *Handler) accessARNPrefix() string {
	return strings.TrimSuffix(h.cfg.Clusters.ARN(""), "cluster/") + "access-entry/"
}

// accessEntry returns the access entry an access entry ARN names.
func (h *Handler) accessEntry(ctx context.Context, t taggable) (*access.Entry, error) {
	e, err := h.cfg.Access.ByARN(ctx, t.cluster, t.arn)
	if err != nil {
		return nil, notFoundAsTagError(err, t.arn)
	}
	return e, nil
}

// fargateProfile returns the Fargate profile a profile ARN names; the
// ARN's id must be the profile's (not that of a deleted profile of the
// same name).
func (h *Handler) fargateProfile(ctx context.Context, t taggable) (*fargate.Profile, error) {
	p, _, err := h.cfg.Fargate.Get(ctx, t.cluster, t.fargate)
	if err != nil {
		return nil, notFoundAsTagError(err, t.arn)
	}
	if p.ARN != t.arn {
		return nil, apierror.New(apierror.NotFound, "Resource not found: %s", t.arn)
	}
	return p, nil
}

func (h *Handler) tagResource(q *request, arn string) {
	var in tagResourceRequest
	if err := decode(q, &in); err != nil {
		writeError(q.w, err)
		return
	}
	t, err := h.resolveARN(arn)
	switch {
	case err != nil:
	case t.nodegroup != "":
		if _, err = h.nodegroup(q.ctx, t); err == nil {
			err = notFoundAsTagError(h.cfg.Nodegroups.Tag(q.ctx, t.cluster, t.nodegroup, in.Tags), arn)
		}
	case t.fargate != "":
		if _, err = h.fargateProfile(q.ctx, t); err == nil {
			err = notFoundAsTagError(h.cfg.Fargate.Tag(q.ctx, t.cluster, t.fargate, in.Tags), arn)
		}
	case t.accessEntry:
		var e *access.Entry
		if e, err = h.accessEntry(q.ctx, t); err == nil {
			err = notFoundAsTagError(h.cfg.Access.Tag(q.ctx, t.cluster, e.PrincipalARN, in.Tags), arn)
		}
	default:
		err = notFoundAsTagError(h.cfg.Clusters.Tag(q.ctx, t.cluster, in.Tags), arn)
	}
	if err != nil {
		writeError(q.w, err)
		return
	}
	writeJSON(q.w, http.StatusOK, map[string]any{})
}

func (h *Handler) untagResource(q *request, arn string) {
	t, err := h.resolveARN(arn)
	switch {
	case err != nil:
	case t.nodegroup != "":
		if _, err = h.nodegroup(q.ctx, t); err == nil {
			err = notFoundAsTagError(h.cfg.Nodegroups.Untag(q.ctx, t.cluster, t.nodegroup, q.query["tagKeys"]), arn)
		}
	case t.fargate != "":
		if _, err = h.fargateProfile(q.ctx, t); err == nil {
			err = notFoundAsTagError(h.cfg.Fargate.Untag(q.ctx, t.cluster, t.fargate, q.query["tagKeys"]), arn)
		}
	case t.accessEntry:
		var e *access.Entry
		if e, err = h.accessEntry(q.ctx, t); err == nil {
			err = notFoundAsTagError(h.cfg.Access.Untag(q.ctx, t.cluster, e.PrincipalARN, q.query["tagKeys"]), arn)
		}
	default:
		err = notFoundAsTagError(h.cfg.Clusters.Untag(q.ctx, t.cluster, q.query["tagKeys"]), arn)
	}
	if err != nil {
		writeError(q.w, err)
		return
	}
	writeJSON(q.w, http.StatusOK, map[string]any{})
}

func (h *Handler) listTags(q *request, arn string) {
	t, err := h.resolveARN(arn)
	var tags map[string]string
	switch {
	case err != nil:
	case t.nodegroup != "":
		var ng *nodegroup.Nodegroup
		if ng, err = h.nodegroup(q.ctx, t); err == nil {
			tags = ng.Tags
		}
	case t.fargate != "":
		var p *fargate.Profile
		if p, err = h.fargateProfile(q.ctx, t); err == nil {
			tags = p.Tags
		}
	case t.accessEntry:
		var e *access.Entry
		if e, err = h.accessEntry(q.ctx, t); err == nil {
			tags = e.Tags
		}
	default:
		var c *cluster.Cluster
		if c, _, err = h.cfg.Clusters.Get(q.ctx, t.cluster); err == nil {
			tags = c.Tags
		}
		err = notFoundAsTagError(err, arn)
	}
	if err != nil {
		writeError(q.w, err)
		return
	}
	if tags == nil {
		tags = map[string]string{}
	}
	writeJSON(q.w, http.StatusOK, map[string]any{"tags": tags})
}

// notFoundAsTagError maps a missing resource to the tagging API's
// NotFoundException, as the model declares for these operations.
func notFoundAsTagError(err error, arn string) error {
	if apierror.IsKind(err, apierror.ResourceNotFound) {
		return apierror.New(apierror.NotFound, "Resource not found: %s", arn)
	}
	if e, ok := apierror.As(err); ok && e.Kind == apierror.InvalidParameter {
		return apierror.New(apierror.BadRequest, "%s", e.Message)
	}
	return err
}

func toWire(c *cluster.Cluster) clusterWire {
	w := clusterWire{
		Name:      c.Name,
		Arn:       c.ARN,
		CreatedAt: ep(c.CreatedAt),
		Version:   c.Version,
		Endpoint:  c.Runtime.Endpoint,
		RoleArn:   c.RoleARN,
		ResourcesVpcConfig: vpcConfigResponse{
			SubnetIDs:              c.VPC.SubnetIDs,
			SecurityGroupIDs:       c.VPC.SecurityGroupIDs,
			ClusterSecurityGroupID: c.VPC.ClusterSecurityGroupID,
			VpcID:                  c.VPC.VpcID,
			EndpointPublicAccess:   c.VPC.EndpointPublicAccess,
			EndpointPrivateAccess:  c.VPC.EndpointPrivateAccess,
			PublicAccessCidrs:      c.VPC.PublicAccessCIDRs,
		},
		KubernetesNetworkConfig: kubernetesNetworkResponse{
			ServiceIPv4Cidr:      c.Network.ServiceIPv4CIDR,
			IPFamily:             c.Network.IPFamily,
			ElasticLoadBalancing: &elasticLoadBalancing{Enabled: &c.Network.ELBEnabled},
		},
		Status:               c.Status,
		CertificateAuthority: certificate{Data: c.Runtime.CAData},
		ClientRequestToken:   c.ClientRequestToken,
		PlatformVersion:      c.PlatformVersion,
		Tags:                 c.Tags,
		Health:               health{Issues: []clusterIssue{}},
		AccessConfig: accessConfig{
			BootstrapClusterCreatorAdminPermissions: &c.Access.BootstrapClusterCreatorAdminPermissions,
			AuthenticationMode:                      c.Access.AuthenticationMode,
		},
		UpgradePolicy:      upgradePolicy{SupportType: c.SupportType},
		ZonalShiftConfig:   &zonalShift{Enabled: &c.ZonalShift},
		DeletionProtection: &c.DeletionProtection,
	}
	if w.Tags == nil {
		w.Tags = map[string]string{}
	}
	for _, ls := range c.Logging {
		en := ls.Enabled
		w.Logging.ClusterLogging = append(w.Logging.ClusterLogging, logSetup{Types: ls.Types, Enabled: &en})
	}
	if c.Status != cluster.StatusCreating || c.Runtime.Endpoint != "" {
		w.Identity = &identity{OIDC: oidc{Issuer: c.OIDCIssuer()}}
	}
	for _, e := range c.Encryption {
		w.EncryptionConfig = append(w.EncryptionConfig, encryptionConfig{Resources: e.Resources, Provider: &provider{KeyArn: e.KeyARN}})
	}
	for _, is := range c.Health {
		w.Health.Issues = append(w.Health.Issues, clusterIssue{Code: is.Code, Message: is.Message, ResourceIDs: is.ResourceIDs})
	}
	return w
}

func updateToWire(u *cluster.Update) updateWire {
	w := updateWire{ID: u.ID, Status: u.Status, Type: u.Type, CreatedAt: ep(u.CreatedAt), Errors: []errorDetail{}}
	for _, p := range u.Params {
		w.Params = append(w.Params, updateParam{Type: p.Type, Value: p.Value})
	}
	for _, e := range u.Errors {
		w.Errors = append(w.Errors, errorDetail{ErrorCode: e.Code, ErrorMessage: e.Message, ResourceIDs: e.ResourceIDs})
	}
	return w
}
