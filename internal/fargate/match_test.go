package fargate_test

import (
	"testing"

	"github.com/berthproject/berth/internal/fargate"
)

func profile(name, status string, sels ...fargate.Selector) *fargate.Profile {
	return &fargate.Profile{Name: name, Status: status, Selectors: sels}
}

func ns(namespace string, labels ...string) fargate.Selector {
	sel := fargate.Selector{Namespace: namespace}
	if len(labels) > 0 {
		sel.Labels = map[string]string{}
		for i := 0; i+1 < len(labels); i += 2 {
			sel.Labels[labels[i]] = labels[i+1]
		}
	}
	return sel
}

// The selector rules of the EKS user guide's "Fargate profile wildcards".
func TestSelectorMatches(t *testing.T) {
	for _, tc := range []struct {
		name      string
		sel       fargate.Selector
		namespace string
		labels    map[string]string
		want      bool
	}{
		{"namespace", ns("default"), "default", nil, true},
		{"other namespace", ns("default"), "kube-system", nil, false},
		{"no labels asked, any labels", ns("default"), "default", map[string]string{"a": "b"}, true},
		{"namespace is exact", ns("prod"), "prod-metrics", nil, false},
		{"* matches none", ns("prod*"), "prod", nil, true},
		{"* matches many", ns("prod*"), "prod-metrics", nil, true},
		{"* in front", ns("*dev"), "team-dev", nil, true},
		{"* in front, no match", ns("*dev"), "dev-team", nil, false},
		{"* alone", ns("*"), "anything", nil, true},
		{"? matches one", ns("value?"), "valuea", nil, true},
		{"? matches not none", ns("value?"), "value", nil, false},
		{"? matches not two", ns("value?"), "value-a", nil, false},
		{"*? needs one", ns("frontend*?"), "frontend", nil, false},
		{"*? with one", ns("frontend*?"), "frontend1", nil, true},
		{"*? with many", ns("frontend*?"), "frontend-web-1", nil, true},
		{"stars in the middle", ns("a*b*c"), "axxbyyc", nil, true},
		{"stars need the order", ns("a*b*c"), "acb", nil, false},
		{"backtracking", ns("*ab*ab"), "abxabab", nil, true},
		{"star runs", ns("a**b"), "ab", nil, true},
		{"label", ns("default", "app", "web"), "default", map[string]string{"app": "web", "tier": "x"}, true},
		{"label missing", ns("default", "app", "web"), "default", map[string]string{"tier": "x"}, false},
		{"label value differs", ns("default", "app", "web"), "default", map[string]string{"app": "db"}, false},
		{"label values are exact", ns("default", "app", "web"), "default", map[string]string{"app": "web2"}, false},
		{"every label", ns("default", "app", "web", "tier", "front"), "default", map[string]string{"app": "web"}, false},
		{"every label there", ns("default", "app", "web", "tier", "front"), "default", map[string]string{"app": "web", "tier": "front"}, true},
		{"labels, wrong namespace", ns("default", "app", "web"), "other", map[string]string{"app": "web"}, false},
		{"value wildcard", ns("default", "app", "web-*"), "default", map[string]string{"app": "web-1"}, true},
		{"key wildcard", ns("default", "key?", "value?"), "default", map[string]string{"keya": "valuea"}, true},
		{"key wildcard, value differs", ns("default", "key?", "value?"), "default", map[string]string{"keya": "value"}, false},
		{"key wildcard, one label has both", ns("default", "key?", "value?"), "default", map[string]string{"keya": "x", "keyb": "valueb"}, true},
		{"prefixed key wildcard", ns("default", "app.kubernetes.io/*", "*"), "default", map[string]string{"app.kubernetes.io/name": "x"}, true},
		{"empty value", ns("default", "canary", ""), "default", map[string]string{"canary": ""}, true},
		{"empty value is not any", ns("default", "canary", ""), "default", map[string]string{"canary": "yes"}, false},
		{"* value matches empty", ns("default", "canary", "*"), "default", map[string]string{"canary": ""}, true},
		{"no pod labels", ns("default", "app", "*"), "default", nil, false},
		{". is not a regexp", ns("a.c"), "abc", nil, false},
		{"a literal * is still a wildcard", ns("default", "a", "x*"), "default", map[string]string{"a": "x*y"}, true},
		{"empty pattern", ns("default", "a", ""), "default", map[string]string{"a": "x"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.sel.Matches(tc.namespace, tc.labels); got != tc.want {
				t.Errorf("%+v matches %s %v = %v, want %v", tc.sel, tc.namespace, tc.labels, got, tc.want)
			}
		})
	}
}

func TestMatch(t *testing.T) {
	beta := profile("beta-workload", fargate.StatusActive, ns("prod*"))
	prod := profile("prod-workload", fargate.StatusActive, ns("kube-system"), ns("prod", "app", "*"))
	creating := profile("a-creating", fargate.StatusCreating, ns("*"))
	deleting := profile("a-deleting", fargate.StatusDeleting, ns("*"))
	failed := profile("a-failed", fargate.StatusCreateFailed, ns("*"))
	all := []*fargate.Profile{prod, nil, creating, beta, deleting, failed}
	for _, tc := range []struct {
		name      string
		profiles  []*fargate.Profile
		namespace string
		labels    map[string]string
		want      *fargate.Profile
	}{
		{"none", nil, "prod", nil, nil},
		{"only ACTIVE profiles", []*fargate.Profile{creating, deleting, failed}, "prod", nil, nil},
		{"one match", all, "kube-system", nil, prod},
		// The user guide's example: beta-workload sorts before
		// prod-workload.
		{"first by name", all, "prod", map[string]string{"app": "web"}, beta},
		{"first by name, in any order", []*fargate.Profile{beta, prod}, "prod", map[string]string{"app": "web"}, beta},
		{"second selector", []*fargate.Profile{prod}, "prod", map[string]string{"app": "web"}, prod},
		{"no selector matches", all, "default", nil, nil},
		{"pinned", all, "prod", map[string]string{"app": "web", fargate.ProfileLabel: "prod-workload"}, prod},
		{"pinned to a profile that does not select", all, "prod-x", map[string]string{fargate.ProfileLabel: "prod-workload"}, nil},
		{"pinned to a missing profile", all, "prod", map[string]string{fargate.ProfileLabel: "nope"}, nil},
		{"pinned to a profile not ACTIVE", all, "prod", map[string]string{fargate.ProfileLabel: "a-creating"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := fargate.Match(tc.profiles, tc.namespace, tc.labels)
			if got != tc.want || ok != (tc.want != nil) {
				t.Errorf("Match = %v %v, want %v", got, ok, tc.want)
			}
		})
	}
}
