package fargate

import (
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/validate/content"

	"github.com/berthproject/berth/internal/apierror"
	"github.com/berthproject/berth/internal/arns"
	"github.com/berthproject/berth/internal/cluster"
)

// Limits of the EKS API and the EKS user guide.
const (
	maxNameLength        = 63
	maxRoleARNLength     = 2048
	maxSelectors         = 5
	maxLabelsPerSelector = 5
	maxLabelValue        = 63
)

func invalid(format string, args ...any) *apierror.Error {
	return apierror.New(apierror.InvalidParameter, format, args...)
}

// validateName checks a profile name by the rules of node group names:
// 1-63 characters, [0-9A-Za-z][A-Za-z0-9\-_]*.
func validateName(name string) error {
	if name == "" {
		return invalid("fargateProfileName is required.")
	}
	if len(name) > maxNameLength {
		return invalid("The Fargate profile name %q is too long: it can have at most %d characters.", name, maxNameLength)
	}
	if !validNameChars(name) {
		return invalid("The Fargate profile name %q is invalid: it must start with an alphanumeric character and contain only alphanumeric characters, hyphens and underscores ([0-9A-Za-z][A-Za-z0-9\\-_]*).", name)
	}
	return nil
}

func validNameChars(name string) bool {
	for i, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || (i > 0 && (r == '-' || r == '_'))
		if !ok {
			return false
		}
	}
	return true
}

// validateRole checks podExecutionRoleArn: an IAM role of a 12-digit
// account.
func validateRole(arn string) error {
	if arn == "" {
		return invalid("podExecutionRoleArn is required.")
	}
	if !arns.IsRole(arn, maxRoleARNLength) {
		return invalid("The pod execution role ARN %q is not a valid IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME).", arn)
	}
	return nil
}

// profileSubnets returns the subnets of a new profile. Given subnets must
// be known, unique and private: pods on Fargate get no public address.
// Without subnets, EKS takes the private subnets of the cluster's VPC
// configuration, and refuses a cluster that has none.
func (s *Service) profileSubnets(ids []string, c *cluster.Cluster) ([]string, error) {
	if len(ids) == 0 {
		var out []string
		for _, id := range c.VPC.SubnetIDs {
			if sn, ok := s.cfg.Network.Subnet(id); ok && !sn.Public {
				out = append(out, id)
			}
		}
		if len(out) == 0 {
			return nil, invalid("Cluster %s has no private subnets in its VPC configuration, and a Fargate profile accepts only private subnets: specify subnets (the private subnets of %s are %s).",
				c.Name, s.cfg.Network.VpcID, strings.Join(s.privateSubnets(), ", "))
		}
		return out, nil
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			return nil, invalid("One or more subnets are duplicate")
		}
		seen[id] = true
		sn, ok := s.cfg.Network.Subnet(id)
		if !ok {
			return nil, invalid("The subnet ID '%s' does not exist (Service: AmazonEC2; Status Code: 400; Error Code: InvalidSubnetID.NotFound)", id)
		}
		if sn.Public {
			return nil, invalid("Subnet %s provided in Fargate Profile is not a private subnet", id)
		}
	}
	return slices.Clone(ids), nil
}

func (s *Service) privateSubnets() []string {
	var out []string
	for _, sn := range s.cfg.Network.Subnets {
		if !sn.Public {
			out = append(out, sn.ID)
		}
	}
	return out
}

// validateSelectors checks the selectors: one to five, each with a
// namespace and at most five labels, in Kubernetes syntax with the
// wildcards * and ? allowed in namespaces, label keys and label values.
func validateSelectors(sels []Selector) error {
	if len(sels) == 0 {
		return invalid("Fargate Profile requires at least one selector.")
	}
	if len(sels) > maxSelectors {
		return invalid("A Fargate profile can have at most %d selectors, %d were given.", maxSelectors, len(sels))
	}
	for _, sel := range sels {
		if sel.Namespace == "" {
			return invalid("Fargate Profile must have at least one selector with at least one namespace value.")
		}
		if errs := content.IsDNS1123Label(concrete(sel.Namespace)); len(errs) > 0 {
			return invalid("Invalid value: %q: selector namespace %s", sel.Namespace, strings.Join(errs, "; "))
		}
		if len(sel.Labels) > maxLabelsPerSelector {
			return invalid("Request contains Selector with more than %d Label pairs", maxLabelsPerSelector)
		}
		keys := make([]string, 0, len(sel.Labels))
		for k := range sel.Labels {
			keys = append(keys, k)
		}
		slices.Sort(keys) // the first error is the same every time
		for _, k := range keys {
			if err := validateLabel(k, sel.Labels[k]); err != nil {
				return err
			}
		}
	}
	return nil
}

// validateLabel checks one selector label. A value may be empty, as a
// Kubernetes label value may.
func validateLabel(k, v string) error {
	if k == "" {
		return invalid("The label keys of a selector must not be empty.")
	}
	if errs := content.IsLabelKey(concrete(k)); len(errs) > 0 {
		return invalid("Invalid value: %q: selector label key %s", k, strings.Join(errs, "; "))
	}
	if len(v) > maxLabelValue {
		return invalid("The value of selector label %q can have at most %d characters.", k, maxLabelValue)
	}
	if errs := content.IsLabelValue(concrete(v)); len(errs) > 0 {
		return invalid("Invalid value: %q: selector label %q: %s", v, k, strings.Join(errs, "; "))
	}
	return nil
}

// concrete replaces the wildcards of a selector pattern with a letter, so
// the pattern can be checked as the names it matches are: "prod-*" as
// "prod-a". A pattern that matches no valid name fails the check.
func concrete(pattern string) string {
	return strings.Map(func(r rune) rune {
		if r == '*' || r == '?' {
			return 'a'
		}
		return r
	}, pattern)
}
