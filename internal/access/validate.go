package access

import (
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/validate/content"

	"github.com/berthproject/berth/internal/apierror"
)

// types are the access entry types EKS accepts.
var types = []string{TypeStandard, TypeEC2Linux, TypeEC2Windows, TypeFargateLinux, TypeHybridLinux, TypeHyperPodLinux, TypeEC2}

// reservedUsernamePrefixes are the prefixes a username of an entry must
// not have (the EKS user guide, "Create access entries").
var reservedUsernamePrefixes = []string{"system:", "eks:", "aws:", "amazon:", "iam:"}

// Messages EKS answers with.
const (
	msgPrincipalFormat = "The principalArn parameter format is not valid"
	msgNotStandard     = `This operation can only be performed on Access Entries with a type of "STANDARD".`
	msgAuthMode        = "The cluster's authentication mode must be set to one of [API, API_AND_CONFIG_MAP] to perform this operation."
	msgInUse           = "The specified access entry resource is already in use on this cluster."
	msgNotFound        = "The specified principalArn could not be found. You can view your available access entries with 'list-access-entries'."
)

func invalid(format string, args ...any) *apierror.Error {
	return apierror.New(apierror.InvalidParameter, format, args...)
}

// principalFor checks the principalArn of a new entry of the given type
// in a cluster of the given account: an IAM user, role or the root for
// STANDARD entries, a role of the cluster's account for the node types;
// never an STS session nor a service-linked role.
func principalFor(arn, typ, account string) (Principal, error) {
	if arn == "" {
		return Principal{}, invalid("principalArn is required.")
	}
	p, err := ParsePrincipal(arn)
	if err != nil || p.Kind == KindSession {
		return Principal{}, invalid(msgPrincipalFormat)
	}
	if p.Kind == KindRole && strings.HasPrefix(p.Path, "/aws-service-role/") {
		return Principal{}, invalid("The principalArn %s is a service-linked role: access entries do not support service-linked roles.", arn)
	}
	if typ != TypeStandard {
		if p.Kind != KindRole {
			return Principal{}, invalid("Access entries of type %s can only be created for IAM roles; %s is not one.", typ, arn)
		}
		if p.Account != account {
			return Principal{}, invalid("Access entries of type %s must be for an IAM role of the cluster's account %s.", typ, account)
		}
	}
	return p, nil
}

// validateType checks an entry type; "" is STANDARD.
func validateType(typ string) (string, error) {
	if typ == "" {
		return TypeStandard, nil
	}
	if !slices.Contains(types, typ) {
		return "", invalid("The access entry type %s is not valid: valid types are %s.", typ, strings.Join(types, ", "))
	}
	return typ, nil
}

// validateUsername checks a username given for an entry: no reserved
// prefix, and a colon somewhere before {{SessionName}} or
// {{SessionNameRaw}}.
func validateUsername(u string) error {
	if strings.TrimSpace(u) == "" {
		return invalid("The username must not be empty.")
	}
	for _, p := range reservedUsernamePrefixes {
		if strings.HasPrefix(u, p) {
			return invalid("The username must not begin with %s", p)
		}
	}
	if i := strings.Index(u, "{{SessionName"); i >= 0 && !strings.Contains(u[:i], ":") {
		return invalid("The username %s is not valid: a username with {{SessionName}} or {{SessionNameRaw}} must have a colon before it.", u)
	}
	return nil
}

// validateGroups checks kubernetesGroups and returns them without
// duplicates, in the order given.
func validateGroups(groups []string) ([]string, error) {
	var out []string
	for _, g := range groups {
		if strings.TrimSpace(g) == "" {
			return nil, invalid("The kubernetes group names must not be empty.")
		}
		if strings.HasPrefix(g, "system:") {
			return nil, invalid("The kubernetes group name %s is invalid, it cannot start with system:", g)
		}
		if !slices.Contains(out, g) {
			out = append(out, g)
		}
	}
	return out, nil
}

// validateScope checks an accessScope: cluster, with no namespaces, or
// namespace, with one or more namespace names, each of which may hold
// the wildcard *. It returns the scope with duplicates removed.
func validateScope(s *Scope) (Scope, error) {
	if s == nil || s.Type == "" {
		return Scope{}, invalid("accessScope.type is required: it must be cluster or namespace.")
	}
	switch s.Type {
	case ScopeCluster:
		if len(s.Namespaces) > 0 {
			return Scope{}, invalid("Namespaces cannot be specified when the access scope type is cluster.")
		}
		return Scope{Type: ScopeCluster}, nil
	case ScopeNamespace:
		if len(s.Namespaces) == 0 {
			return Scope{}, invalid("At least one namespace must be specified when the access scope type is namespace.")
		}
		var ns []string
		for _, n := range s.Namespaces {
			if errs := content.IsDNS1123Label(strings.ReplaceAll(n, "*", "a")); n == "" || len(errs) > 0 {
				return Scope{}, invalid("The namespace %q is not valid: a namespace is a Kubernetes namespace name, in which * stands for any characters.", n)
			}
			if !slices.Contains(ns, n) {
				ns = append(ns, n)
			}
		}
		return Scope{Type: ScopeNamespace, Namespaces: ns}, nil
	}
	return Scope{}, invalid("The access scope type %s is not valid: it must be cluster or namespace.", s.Type)
}

// canHavePolicies reports whether access policies can be associated with
// entries of a type: STANDARD entries, and EC2 (EKS Auto Mode) node
// entries, which take AmazonEKSAutoNodePolicy.
func canHavePolicies(typ string) bool { return typ == TypeStandard || typ == TypeEC2 }
