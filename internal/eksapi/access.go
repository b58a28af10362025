package eksapi

import (
	"net/http"
	"strings"

	"github.com/berthproject/berth/internal/access"
)

// The access entry operations: CreateAccessEntry, DescribeAccessEntry,
// ListAccessEntries, UpdateAccessEntry, DeleteAccessEntry,
// AssociateAccessPolicy, DisassociateAccessPolicy,
// ListAssociatedAccessPolicies and ListAccessPolicies, in the shapes of
// the EKS model.

// routeAccess routes the paths under /clusters/NAME/access-entries; rest
// is what follows. The SDKs send the principal and policy ARNs as one
// URL-encoded segment each; accessPath also takes them unencoded.
func (h *Handler) routeAccess(q *request, clusterName string, rest []string) {
	m := q.r.Method
	if len(rest) == 0 {
		switch m {
		case http.MethodPost:
			h.createAccessEntry(q, clusterName)
		case http.MethodGet:
			h.listAccessEntries(q, clusterName)
		default:
			unknownOperation(q)
		}
		return
	}
	principal, policies, policy := accessPath(rest)
	switch {
	case !policies && m == http.MethodGet:
		h.describeAccessEntry(q, clusterName, principal)
	case !policies && m == http.MethodPost:
		h.updateAccessEntry(q, clusterName, principal)
	case !policies && m == http.MethodDelete:
		h.deleteAccessEntry(q, clusterName, principal)
	case policies && policy == "" && m == http.MethodPost:
		h.associateAccessPolicy(q, clusterName, principal)
	case policies && policy == "" && m == http.MethodGet:
		h.listAssociatedAccessPolicies(q, clusterName, principal)
	case policies && policy != "" && m == http.MethodDelete:
		h.disassociateAccessPolicy(q, clusterName, principal, policy)
	default:
		unknownOperation(q)
	}
}

// accessPath splits the segments after access-entries into the
// principal ARN and, after an "access-policies" segment, the policy ARN.
// An ARN sent with its slashes unencoded spans several segments: the
// principal runs up to the last "access-policies" segment that ends the
// path or is followed by an ARN.
func accessPath(rest []string) (principal string, policies bool, policy string) {
	k := -1
	for i := len(rest) - 1; i > 0; i-- {
		if rest[i] == "access-policies" && (i == len(rest)-1 || strings.HasPrefix(rest[i+1], "arn:")) {
			k = i
			break
		}
	}
	if k < 0 {
		return strings.Join(rest, "/"), false, ""
	}
	return strings.Join(rest[:k], "/"), true, strings.Join(rest[k+1:], "/")
}

func (h *Handler) createAccessEntry(q *request, clusterName string) {
	var in createAccessEntryRequest
	if err := decode(q, &in); err != nil {
		writeError(q.w, err)
		return
	}
	e, err := h.cfg.Access.Create(q.ctx, access.CreateInput{
		Cluster:            clusterName,
		PrincipalARN:       str(in.PrincipalArn),
		Type:               str(in.Type),
		KubernetesGroups:   in.KubernetesGroups,
		Username:           str(in.Username),
		Tags:               in.Tags,
		ClientRequestToken: str(in.ClientRequestToken),
	})
	if err != nil {
		writeError(q.w, err)
		return
	}
	writeJSON(q.w, http.StatusOK, map[string]any{"accessEntry": accessEntryToWire(e)})
}

func (h *Handler) describeAccessEntry(q *request, clusterName, principal string) {
	e, err := h.cfg.Access.Get(q.ctx, clusterName, principal)
	if err != nil {
		writeError(q.w, err)
		return
	}
	writeJSON(q.w, http.StatusOK, map[string]any{"accessEntry": accessEntryToWire(e)})
}

func (h *Handler) listAccessEntries(q *request, clusterName string) {
	writeList(q, "accessEntries", func(max int, token string) ([]string, string, error) {
		return h.cfg.Access.List(q.ctx, clusterName, q.query.Get("associatedPolicyArn"), max, token)
	})
}

func (h *Handler) updateAccessEntry(q *request, clusterName, principal string) {
	var in updateAccessEntryRequest
	if err := decode(q, &in); err != nil {
		writeError(q.w, err)
		return
	}
	e, err := h.cfg.Access.Update(q.ctx, access.UpdateInput{
		Cluster:          clusterName,
		PrincipalARN:     principal,
		KubernetesGroups: in.KubernetesGroups,
		Username:         str(in.Username),
	})
	if err != nil {
		writeError(q.w, err)
		return
	}
	writeJSON(q.w, http.StatusOK, map[string]any{"accessEntry": accessEntryToWire(e)})
}

func (h *Handler) deleteAccessEntry(q *request, clusterName, principal string) {
	if err := h.cfg.Access.Delete(q.ctx, clusterName, principal); err != nil {
		writeError(q.w, err)
		return
	}
	writeJSON(q.w, http.StatusOK, map[string]any{})
}

func (h *Handler) associateAccessPolicy(q *request, clusterName, principal string) {
	var in associateAccessPolicyRequest
	if err := decode(q, &in); err != nil {
		writeError(q.w, err)
		return
	}
	ai := access.AssociateInput{Cluster: clusterName, PrincipalARN: principal, PolicyARN: str(in.PolicyArn)}
	if in.AccessScope != nil {
		ai.Scope = &access.Scope{Type: str(in.AccessScope.Type), Namespaces: in.AccessScope.Namespaces}
	}
	p, err := h.cfg.Access.Associate(q.ctx, ai)
	if err != nil {
		writeError(q.w, err)
		return
	}
	writeJSON(q.w, http.StatusOK, map[string]any{
		"clusterName":            clusterName,
		"principalArn":           principal,
		"associatedAccessPolicy": associatedPolicyToWire(p),
	})
}

func (h *Handler) disassociateAccessPolicy(q *request, clusterName, principal, policy string) {
	if err := h.cfg.Access.Disassociate(q.ctx, clusterName, principal, policy); err != nil {
		writeError(q.w, err)
		return
	}
	writeJSON(q.w, http.StatusOK, map[string]any{})
}

func (h *Handler) listAssociatedAccessPolicies(q *request, clusterName, principal string) {
	out, ok := listed(q, "associatedAccessPolicies", func(max int, token string) ([]associatedPolicyWire, string, error) {
		ps, next, err := h.cfg.Access.ListAssociated(q.ctx, clusterName, principal, max, token)
		if err != nil {
			return nil, "", err
		}
		list := make([]associatedPolicyWire, 0, len(ps))
		for _, p := range ps {
			list = append(list, associatedPolicyToWire(p))
		}
		return list, next, nil
	})
	if !ok {
		return
	}
	out["clusterName"], out["principalArn"] = clusterName, principal
	writeJSON(q.w, http.StatusOK, out)
}

func (h *Handler) listAccessPolicies(q *request) {
	writeList(q, "accessPolicies", func(max int, token string) ([]accessPolicyWire, string, error) {
		ps, next, err := access.ListPolicies(max, token)
		if err != nil {
			return nil, "", err
		}
		list := make([]accessPolicyWire, 0, len(ps))
		for _, p := range ps {
			list = append(list, accessPolicyWire{Name: p.Name, Arn: p.ARN})
		}
		return list, next, nil
	})
}

func accessEntryToWire(e *access.Entry) accessEntryWire {
	w := accessEntryWire{
		ClusterName:      e.Cluster,
		PrincipalArn:     e.PrincipalARN,
		KubernetesGroups: e.KubernetesGroups,
		AccessEntryArn:   e.ARN,
		CreatedAt:        ep(e.CreatedAt),
		ModifiedAt:       ep(e.ModifiedAt),
		Tags:             e.Tags,
		Username:         e.Username,
		Type:             e.Type,
	}
	if w.KubernetesGroups == nil {
		w.KubernetesGroups = []string{}
	}
	if w.Tags == nil {
		w.Tags = map[string]string{}
	}
	return w
}

func associatedPolicyToWire(p access.AssociatedPolicy) associatedPolicyWire {
	ns := p.Scope.Namespaces
	if ns == nil {
		ns = []string{}
	}
	return associatedPolicyWire{
		PolicyArn:    p.PolicyARN,
		AccessScope:  accessScopeWire{Type: p.Scope.Type, Namespaces: ns},
		AssociatedAt: ep(p.AssociatedAt),
		ModifiedAt:   ep(p.ModifiedAt),
	}
}

// Requests.

type createAccessEntryRequest struct {
	PrincipalArn       *string           `json:"principalArn"`
	KubernetesGroups   []string          `json:"kubernetesGroups"`
	Tags               map[string]string `json:"tags"`
	ClientRequestToken *string           `json:"clientRequestToken"`
	Username           *string           `json:"username"`
	Type               *string           `json:"type"`
}

type updateAccessEntryRequest struct {
	// KubernetesGroups is a pointer so that an empty list (remove every
	// group) differs from none (keep them).
	KubernetesGroups   *[]string `json:"kubernetesGroups"`
	ClientRequestToken *string   `json:"clientRequestToken"`
	Username           *string   `json:"username"`
}

type associateAccessPolicyRequest struct {
	PolicyArn   *string             `json:"policyArn"`
	AccessScope *accessScopeRequest `json:"accessScope"`
}

type accessScopeRequest struct {
	Type       *string  `json:"type"`
	Namespaces []string `json:"namespaces"`
}

// Responses.

type accessEntryWire struct {
	ClusterName      string            `json:"clusterName"`
	PrincipalArn     string            `json:"principalArn"`
	KubernetesGroups []string          `json:"kubernetesGroups"`
	AccessEntryArn   string            `json:"accessEntryArn"`
	CreatedAt        *epoch            `json:"createdAt"`
	ModifiedAt       *epoch            `json:"modifiedAt"`
	Tags             map[string]string `json:"tags"`
	Username         string            `json:"username"`
	Type             string            `json:"type"`
}

type associatedPolicyWire struct {
	PolicyArn    string          `json:"policyArn"`
	AccessScope  accessScopeWire `json:"accessScope"`
	AssociatedAt *epoch          `json:"associatedAt"`
	ModifiedAt   *epoch          `json:"modifiedAt"`
}

type accessScopeWire struct {
	Type       string   `json:"type"`
	Namespaces []string `json:"namespaces"`
}

type accessPolicyWire struct {
	Name string `json:"name"`
	Arn  string `json:"arn"`
}
