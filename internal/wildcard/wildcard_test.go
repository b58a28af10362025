package wildcard

import "testing"

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{"", "", true}, {"", "a", false}, {"*", "", true}, {"*", "anything", true},
		{"a?c", "abc", true}, {"a?c", "ac", false}, {"team-*", "team-a", true}, {"team-*", "team", false},
		{"*-prod", "web-prod", true}, {"a*b*c", "aXXbYYc", true}, {"a*b*c", "aXXbYY", false},
		{"*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},
		{"é?", "éa", true}, {"literal", "literal", true}, {"literal", "Literal", false},
	} {
		if got := Match(tc.pattern, tc.s); got != tc.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}
