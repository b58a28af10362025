package fargate

import "github.com/berthproject/berth/internal/wildcard"

// Match returns the profile EKS runs a pod with: among the ACTIVE
// profiles, those with a selector that matches the pod's namespace and
// labels; when several match, the first by name, as Fargate sorts them. A
// pod labelled eks.amazonaws.com/fargate-profile is matched against that
// profile only, as the EKS user guide says.
func Match(profiles []*Profile, namespace string, podLabels map[string]string) (*Profile, bool) {
	pinned, isPinned := podLabels[ProfileLabel]
	var best *Profile
	for _, p := range profiles {
		if p == nil || p.Status != StatusActive || isPinned && p.Name != pinned {
			continue
		}
		if p.Selects(namespace, podLabels) && (best == nil || p.Name < best.Name) {
			best = p
		}
	}
	return best, best != nil
}

// Selects reports whether one of the profile's selectors matches a pod,
// whatever the profile's status.
func (p *Profile) Selects(namespace string, podLabels map[string]string) bool {
	for _, sel := range p.Selectors {
		if sel.Matches(namespace, podLabels) {
			return true
		}
	}
	return false
}

// Matches reports whether a pod's namespace matches the selector's and
// every label of the selector is among the pod's labels, wildcards
// expanded.
func (sel Selector) Matches(namespace string, podLabels map[string]string) bool {
	if !wildcard.Match(sel.Namespace, namespace) {
		return false
	}
	for k, v := range sel.Labels {
		if !hasLabel(podLabels, k, v) {
			return false
		}
	}
	return true
}

// hasLabel reports whether labels has a label whose key matches the
// pattern kp and whose value matches vp.
func hasLabel(labels map[string]string, kp, vp string) bool {
	if !hasWildcard(kp) {
		v, ok := labels[kp]
		return ok && wildcard.Match(vp, v)
	}
	for k, v := range labels {
		if wildcard.Match(kp, k) && wildcard.Match(vp, v) {
			return true
		}
	}
	return false
}

func hasWildcard(s string) bool {
	for i := range len(s) {
		if s[i] == '*' || s[i] == '?' {
			return true
		}
	}
	return false
}
