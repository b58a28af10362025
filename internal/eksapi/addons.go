package eksapi

import (
	"context"
	"net/http"
	"strings"

	"github.com/berthproject/berth/internal/addon"
	"github.com/berthproject/berth/internal/apierror"
)

// The add-on operations: CreateAddon, ListAddons, DescribeAddon,
// UpdateAddon, DeleteAddon, DescribeAddonVersions and
// DescribeAddonConfiguration, DescribeUpdate and ListUpdates with an
// addonName, and the tagging operations on add-on ARNs, in the shapes of
// the EKS model.

// routeAddons serves the request if it is an add-on operation and
// reports whether it was.
func (h *Handler) routeAddons(q *request) bool {
	m, s := q.r.Method, q.segs
	switch {
	case len(s) == 3 && s[0] == "clusters" && s[2] == "addons" && m == http.MethodPost:
		h.createAddon(q, s[1])
	case len(s) == 3 && s[0] == "clusters" && s[2] == "addons" && m == http.MethodGet:
		h.listAddons(q, s[1])
	case len(s) == 4 && s[0] == "clusters" && s[2] == "addons" && m == http.MethodGet:
		h.describeAddon(q, s[1], s[3])
	case len(s) == 4 && s[0] == "clusters" && s[2] == "addons" && m == http.MethodDelete:
		h.deleteAddon(q, s[1], s[3])
	case len(s) == 5 && s[0] == "clusters" && s[2] == "addons" && s[4] == "update" && m == http.MethodPost:
		h.updateAddon(q, s[1], s[3])
	case len(s) == 2 && s[0] == "addons" && s[1] == "supported-versions" && m == http.MethodGet:
		h.describeAddonVersions(q)
	case len(s) == 2 && s[0] == "addons" && s[1] == "configuration-schemas" && m == http.MethodGet:
		h.describeAddonConfiguration(q)
	case len(s) == 3 && s[0] == "clusters" && s[2] == "updates" && m == http.MethodGet && q.query.Get("addonName") != "":
		h.listAddonUpdates(q, s[1], q.query.Get("addonName"))
	case len(s) == 4 && s[0] == "clusters" && s[2] == "updates" && m == http.MethodGet && q.query.Get("addonName") != "":
		h.describeAddonUpdate(q, s[1], q.query.Get("addonName"), s[3])
	case len(s) == 2 && s[0] == "tags" && strings.HasPrefix(s[1], h.cfg.Addons.ARNPrefix()):
		h.addonTags(q, s[1])
	default:
		return false
	}
	return true
}

func (h *Handler) createAddon(q *request, clusterName string) {
	var in createAddonRequest
	if err := decode(q, &in); err != nil {
		writeError(q.w, err)
		return
	}
	ci := addon.CreateInput{
		Cluster:               clusterName,
		Name:                  str(in.AddonName),
		Version:               str(in.AddonVersion),
		ServiceAccountRoleARN: str(in.ServiceAccountRoleArn),
		ResolveConflicts:      str(in.ResolveConflicts),
		ConfigurationValues:   str(in.ConfigurationValues),
		Tags:                  in.Tags,
		ClientRequestToken:    str(in.ClientRequestToken),
	}
	if in.NamespaceConfig != nil {
		ci.Namespace = str(in.NamespaceConfig.Namespace)
	}
	if !emptyOption(in.PodIdentityAssociations) {
		ci.Unsupported = append(ci.Unsupported, "podIdentityAssociations")
	}
	a, err := h.cfg.Addons.Create(q.ctx, ci)
	if err != nil {
		writeError(q.w, err)
		return
	}
	writeJSON(q.w, http.StatusOK, map[string]any{"addon": h.addonToWire(a)})
}

func (h *Handler) listAddons(q *request, clusterName string) {
	writeList(q, "addons", func(max int, token string) ([]string, string, error) {
		return h.cfg.Addons.ListNames(q.ctx, clusterName, max, token)
	})
}

func addonTransitional(status string) bool {
	return status == addon.StatusCreating || status == addon.StatusUpdating || status == addon.StatusDeleting
}

func (h *Handler) describeAddon(q *request, clusterName, name string) {
	a, _, err := h.cfg.Addons.Get(q.ctx, clusterName, name)
	if err == nil && addonTransitional(a.Status) && h.cfg.DescribeHold > 0 {
		a, err = hold(q.ctx, h, addon.KindAddon, addon.Key(clusterName, name), a.Status, func(ctx context.Context) (*addon.Addon, string, error) {
			a, _, err := h.cfg.Addons.Get(ctx, clusterName, name)
			if err != nil {
				return nil, "", err
			}
			return a, a.Status, nil
		})
	}
	if err != nil {
		writeError(q.w, err)
		return
	}
	writeJSON(q.w, http.StatusOK, map[string]any{"addon": h.addonToWire(a)})
}

func (h *Handler) updateAddon(q *request, clusterName, name string) {
	var in updateAddonRequest
	if err := decode(q, &in); err != nil {
		writeError(q.w, err)
		return
	}
	ui := addon.UpdateInput{
		Cluster:               clusterName,
		Name:                  name,
		Version:               str(in.AddonVersion),
		ServiceAccountRoleARN: in.ServiceAccountRoleArn,
		ResolveConflicts:      str(in.ResolveConflicts),
		ConfigurationValues:   in.ConfigurationValues,
		ClientRequestToken:    str(in.ClientRequestToken),
	}
	if !emptyOption(in.PodIdentityAssociations) {
		ui.Unsupported = append(ui.Unsupported, "podIdentityAssociations")
	}
	u, err := h.cfg.Addons.Update(q.ctx, ui)
	if err != nil {
		writeError(q.w, err)
		return
	}
	writeJSON(q.w, http.StatusOK, map[string]any{"update": updateToWire(u)})
}

func (h *Handler) deleteAddon(q *request, clusterName, name string) {
	preserve, err := queryBool(q, "preserve")
	if err != nil {
		writeError(q.w, err)
		return
	}
	a, err := h.cfg.Addons.Delete(q.ctx, clusterName, name, preserve)
	if err != nil {
		writeError(q.w, err)
		return
	}
	writeJSON(q.w, http.StatusOK, map[string]any{"addon": h.addonToWire(a)})
}

func (h *Handler) describeAddonVersions(q *request) {
	writeList(q, "addons", func(max int, token string) ([]addonInfoWire, string, error) {
		infos, next, err := h.cfg.Addons.DescribeVersions(q.ctx, addon.VersionsQuery{
			KubernetesVersion: q.query.Get("kubernetesVersion"),
			Name:              q.query.Get("addonName"),
			Types:             q.query["types"],
			Publishers:        q.query["publishers"],
			Owners:            q.query["owners"],
			MaxResults:        max,
			NextToken:         token,
		})
		if err != nil {
			return nil, "", err
		}
		list := make([]addonInfoWire, 0, len(infos))
		for _, info := range infos {
			list = append(list, addonInfoToWire(info))
		}
		return list, next, nil
	})
}

func addonInfoToWire(info addon.Info) addonInfoWire {
	w := addonInfoWire{
		AddonName:        info.Name,
		Type:             info.Type,
		Publisher:        info.Publisher,
		Owner:            info.Owner,
		DefaultNamespace: info.DefaultNamespace,
		AddonVersions:    make([]addonVersionWire, 0, len(info.Compatible)),
	}
	for _, v := range info.Compatible {
		vw := addonVersionWire{
			AddonVersion:           v.Version.Version,
			Architecture:           v.Architectures(),
			ComputeTypes:           v.ComputeTypes(),
			Compatibilities:        make([]compatibilityWire, 0, len(v.Compatibilities)),
			RequiresConfiguration:  false,
			RequiresIamPermissions: info.RequiresIAMPermissions,
		}
		for _, c := range v.Compatibilities {
			vw.Compatibilities = append(vw.Compatibilities, compatibilityWire{ClusterVersion: c.ClusterVersion, PlatformVersions: c.PlatformVersions, DefaultVersion: c.Default})
		}
		w.AddonVersions = append(w.AddonVersions, vw)
	}
	return w
}

func (h *Handler) describeAddonConfiguration(q *request) {
	c, err := h.cfg.Addons.DescribeConfiguration(q.ctx, q.query.Get("addonName"), q.query.Get("addonVersion"))
	if err != nil {
		writeError(q.w, err)
		return
	}
	pi := make([]podIdentityConfigWire, 0, len(c.PodIdentity))
	for _, p := range c.PodIdentity {
		pi = append(pi, podIdentityConfigWire{ServiceAccount: p.ServiceAccount, RecommendedManagedPolicies: p.RecommendedManagedPolicies})
	}
	writeJSON(q.w, http.StatusOK, map[string]any{
		"addonName":                c.Name,
		"addonVersion":             c.Version,
		"configurationSchema":      c.Schema,
		"podIdentityConfiguration": pi,
	})
}

func (h *Handler) describeAddonUpdate(q *request, clusterName, name, id string) {
	u, err := h.cfg.Addons.DescribeUpdate(q.ctx, clusterName, name, id)
	if err != nil {
		writeError(q.w, err)
		return
	}
	writeJSON(q.w, http.StatusOK, map[string]any{"update": updateToWire(u)})
}

func (h *Handler) listAddonUpdates(q *request, clusterName, name string) {
	writeList(q, "updateIds", func(max int, token string) ([]string, string, error) {
		return h.cfg.Addons.ListUpdates(q.ctx, clusterName, name, max, token)
	})
}

// addonTags serves TagResource, UntagResource and ListTagsForResource on
// an add-on ARN (CLUSTER/ADDON/ID after the prefix). The ARN's id must be
// the add-on's, not that of a deleted add-on of the same name.
func (h *Handler) addonTags(q *request, arn string) {
	parts := strings.Split(strings.TrimPrefix(arn, h.cfg.Addons.ARNPrefix()), "/")
	var a *addon.Addon
	var err error
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		err = apierror.New(apierror.NotFound, "Resource not found: %s", arn)
	} else if a, _, err = h.cfg.Addons.Get(q.ctx, parts[0], parts[1]); err != nil {
		err = notFoundAsTagError(err, arn)
	} else if a.ARN != arn {
		err = apierror.New(apierror.NotFound, "Resource not found: %s", arn)
	}
	if err != nil {
		writeError(q.w, err)
		return
	}
	switch q.r.Method {
	case http.MethodPost:
		var in tagResourceRequest
		if err = decode(q, &in); err == nil {
			err = notFoundAsTagError(h.cfg.Addons.Tag(q.ctx, a.Cluster, a.Name, in.Tags), arn)
		}
	case http.MethodDelete:
		err = notFoundAsTagError(h.cfg.Addons.Untag(q.ctx, a.Cluster, a.Name, q.query["tagKeys"]), arn)
	case http.MethodGet:
		tags := a.Tags
		if tags == nil {
			tags = map[string]string{}
		}
		writeJSON(q.w, http.StatusOK, map[string]any{"tags": tags})
		return
	default:
		unknownOperation(q)
		return
	}
	if err != nil {
		writeError(q.w, err)
		return
	}
	writeJSON(q.w, http.StatusOK, map[string]any{})
}

func (h *Handler) addonToWire(a *addon.Addon) addonWire {
	w := addonWire{
		AddonName:             a.Name,
		ClusterName:           a.Cluster,
		Status:                a.Status,
		AddonVersion:          a.Version,
		Health:                health{Issues: []clusterIssue{}},
		AddonArn:              a.ARN,
		CreatedAt:             ep(a.CreatedAt),
		ModifiedAt:            ep(a.ModifiedAt),
		ServiceAccountRoleArn: a.ServiceAccountRoleARN,
		Tags:                  a.Tags,
		ConfigurationValues:   a.ConfigurationValues,
	}
	if def, ok := h.cfg.Addons.Catalog().Get(a.Name); ok {
		w.Publisher, w.Owner = def.Publisher, def.Owner
	}
	if w.Tags == nil {
		w.Tags = map[string]string{}
	}
	for _, is := range a.Health {
		w.Health.Issues = append(w.Health.Issues, clusterIssue{Code: is.Code, Message: is.Message, ResourceIDs: is.ResourceIDs})
	}
	return w
}

// Requests.

type createAddonRequest struct {
	AddonName               *string               `json:"addonName"`
	AddonVersion            *string               `json:"addonVersion"`
	ServiceAccountRoleArn   *string               `json:"serviceAccountRoleArn"`
	ResolveConflicts        *string               `json:"resolveConflicts"`
	ClientRequestToken      *string               `json:"clientRequestToken"`
	Tags                    map[string]string     `json:"tags"`
	ConfigurationValues     *string               `json:"configurationValues"`
	PodIdentityAssociations any                   `json:"podIdentityAssociations"`
	NamespaceConfig         *addonNamespaceConfig `json:"namespaceConfig"`
}

type addonNamespaceConfig struct {
	Namespace *string `json:"namespace"`
}

type updateAddonRequest struct {
	AddonVersion            *string `json:"addonVersion"`
	ServiceAccountRoleArn   *string `json:"serviceAccountRoleArn"`
	ResolveConflicts        *string `json:"resolveConflicts"`
	ClientRequestToken      *string `json:"clientRequestToken"`
	ConfigurationValues     *string `json:"configurationValues"`
	PodIdentityAssociations any     `json:"podIdentityAssociations"`
}

// Responses.

type addonWire struct {
	AddonName             string            `json:"addonName"`
	ClusterName           string            `json:"clusterName"`
	Status                string            `json:"status"`
	AddonVersion          string            `json:"addonVersion"`
	Health                health            `json:"health"`
	AddonArn              string            `json:"addonArn"`
	CreatedAt             *epoch            `json:"createdAt"`
	ModifiedAt            *epoch            `json:"modifiedAt"`
	ServiceAccountRoleArn string            `json:"serviceAccountRoleArn,omitempty"`
	Tags                  map[string]string `json:"tags"`
	Publisher             string            `json:"publisher,omitempty"`
	Owner                 string            `json:"owner,omitempty"`
	ConfigurationValues   string            `json:"configurationValues,omitempty"`
}

type addonInfoWire struct {
	AddonName        string             `json:"addonName"`
	Type             string             `json:"type"`
	AddonVersions    []addonVersionWire `json:"addonVersions"`
	Publisher        string             `json:"publisher"`
	Owner            string             `json:"owner"`
	DefaultNamespace string             `json:"defaultNamespace,omitempty"`
}

type addonVersionWire struct {
	AddonVersion           string              `json:"addonVersion"`
	Architecture           []string            `json:"architecture"`
	ComputeTypes           []string            `json:"computeTypes"`
	Compatibilities        []compatibilityWire `json:"compatibilities"`
	RequiresConfiguration  bool                `json:"requiresConfiguration"`
	RequiresIamPermissions bool                `json:"requiresIamPermissions"`
}

type compatibilityWire struct {
	ClusterVersion   string   `json:"clusterVersion"`
	PlatformVersions []string `json:"platformVersions"`
	DefaultVersion   bool     `json:"defaultVersion"`
}

type podIdentityConfigWire struct {
	ServiceAccount             string   `json:"serviceAccount"`
	RecommendedManagedPolicies []string `json:"recommendedManagedPolicies"`
}
