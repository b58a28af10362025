package iamauth

import (
	"context"
	"encoding/json"
	"fmt"
	"path"

	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/kubernetes/plugin/pkg/auth/authorizer/rbac"
	"k8s.io/kubernetes/plugin/pkg/auth/authorizer/rbac/bootstrappolicy"

	"github.com/berthproject/berth/internal/access"
	"github.com/berthproject/berth/internal/cluster"
)

// authorize answers a SubjectAccessReview for a request RBAC did not
// allow: the access policies of the caller's access entry decide, each in
// its scope. No opinion (allowed and denied both false) lets the request
// fail as RBAC would have it.
func (h *Handler) authorize(ctx context.Context, cl *cluster.Cluster, body []byte) (*authorizationv1.SubjectAccessReview, error) {
	var review authorizationv1.SubjectAccessReview
	if err := json.Unmarshal(body, &review); err != nil {
		return nil, fmt.Errorf("decoding the SubjectAccessReview: %w", err)
	}
	out := &authorizationv1.SubjectAccessReview{TypeMeta: metav1.TypeMeta{APIVersion: "authorization.k8s.io/v1", Kind: "SubjectAccessReview"}}
	principal := review.Spec.Extra[ExtraAccessEntry]
	mode := cl.Access.AuthenticationMode
	if len(principal) != 1 || (mode != access.ModeAPI && mode != access.ModeAPIAndConfig) {
		return out, nil
	}
	e, ok, err := h.cfg.Entries.Resolve(ctx, cl.Name, principal[0])
	if err != nil {
		out.Status.EvaluationError = err.Error()
		return out, nil
	}
	if !ok || e.PrincipalARN != principal[0] {
		return out, nil
	}
	attrs := attributes(review.Spec)
	for _, p := range e.Policies {
		if !inScope(p.Scope, attrs) {
			continue
		}
		if rbac.RulesAllow(attrs, h.rules.of(p.PolicyARN)...) {
			name, _ := access.PolicyName(p.PolicyARN)
			out.Status.Allowed = true
			out.Status.Reason = fmt.Sprintf("EKS access policy %s (%s scope) of access entry %s", name, p.Scope.Type, e.PrincipalARN)
			return out, nil
		}
	}
	return out, nil
}

// attributes is a SubjectAccessReview as the authorizer's request.
func attributes(s authorizationv1.SubjectAccessReviewSpec) authorizer.AttributesRecord {
	extra := map[string][]string{}
	for k, v := range s.Extra {
		extra[k] = v
	}
	a := authorizer.AttributesRecord{User: &user.DefaultInfo{Name: s.User, UID: s.UID, Groups: s.Groups, Extra: extra}}
	if r := s.ResourceAttributes; r != nil {
		a.ResourceRequest = true
		a.Verb, a.Namespace, a.APIGroup, a.APIVersion = r.Verb, r.Namespace, r.Group, r.Version
		a.Resource, a.Subresource, a.Name = r.Resource, r.Subresource, r.Name
	} else if n := s.NonResourceAttributes; n != nil {
		a.Verb, a.Path = n.Verb, n.Path
	}
	return a
}

// inScope tells whether a request falls in an access scope: a cluster
// scope holds everything, a namespace scope the namespaced requests of its
// namespaces (each may end in the wildcard *).
func inScope(s access.Scope, a authorizer.AttributesRecord) bool {
	if s.Type == access.ScopeCluster {
		return true
	}
	if !a.ResourceRequest || a.Namespace == "" {
		return false
	}
	for _, ns := range s.Namespaces {
		if ok, _ := path.Match(ns, a.Namespace); ok {
			return true
		}
	}
	return false
}

// policyRules are the RBAC rules of the EKS access policies, built from
// the bootstrap roles of the compiled-in Kubernetes: AmazonEKSClusterAdmin
// as cluster-admin, AmazonEKSAdmin as admin, AmazonEKSEdit as edit,
// AmazonEKSView as view, with their aggregated rules, and
// AmazonEKSAdminView as get, list and watch on everything.
type policyRules struct {
	byPolicy map[string][]rbacv1.PolicyRule
}

func newPolicyRules() *policyRules {
	roles := map[string]rbacv1.ClusterRole{}
	for _, r := range bootstrappolicy.ClusterRoles() {
		roles[r.Name] = r
	}
	p := &policyRules{byPolicy: map[string][]rbacv1.PolicyRule{}}
	for policy, role := range map[string]string{
		"AmazonEKSClusterAdminPolicy": "cluster-admin",
		"AmazonEKSAdminPolicy":        "admin",
		"AmazonEKSEditPolicy":         "edit",
		"AmazonEKSViewPolicy":         "view",
	} {
		p.byPolicy[access.PolicyARNPrefix+policy] = aggregated(roles, role, map[string]bool{})
	}
	p.byPolicy[access.PolicyARNPrefix+"AmazonEKSAdminViewPolicy"] = []rbacv1.PolicyRule{
		{APIGroups: []string{"*"}, Resources: []string{"*"}, Verbs: []string{"get", "list", "watch"}},
	}
	return p
}

// aggregated is a cluster role's rules and those of the roles its
// aggregation rule selects, transitively.
func aggregated(roles map[string]rbacv1.ClusterRole, name string, seen map[string]bool) []rbacv1.PolicyRule {
	if seen[name] {
		return nil
	}
	seen[name] = true
	r := roles[name]
	rules := append([]rbacv1.PolicyRule{}, r.Rules...)
	if r.AggregationRule == nil {
		return rules
	}
	for _, sel := range r.AggregationRule.ClusterRoleSelectors {
		s, err := metav1.LabelSelectorAsSelector(&sel)
		if err != nil {
			continue
		}
		for other, o := range roles {
			if s.Matches(labels.Set(o.Labels)) {
				rules = append(rules, aggregated(roles, other, seen)...)
			}
		}
	}
	return rules
}

// of returns a policy's rules; a policy berth has no rules for grants
// nothing.
func (p *policyRules) of(policyARN string) []rbacv1.PolicyRule { return p.byPolicy[policyARN] }
