package ec2api

import (
	"encoding/base64"
	"slices"
	"strconv"
	"strings"

	"github.com/berthproject/berth/internal/queryapi"

	"github.com/berthproject/berth/internal/wildcard"
)

// call is one decoded request.
type call struct {
	queryapi.Params
}

// flag reads a boolean parameter; absent or empty is false.
func (c *call) flag(name string) (bool, error) {
	b, err := c.Bool(name)
	return b != nil && *b, err
}

// filters decodes Filter.N.Name and Filter.N.Value.M and checks every name
// against the action's known filters.
func (c *call) filters(known func(name string) bool) ([]queryapi.Filter, error) {
	return c.Filters("Filter", "Value", func(p, name string) error {
		if name == "" {
			return queryapi.Errorf("MissingParameter", "The request must contain the parameter %s.Name.", p)
		}
		if !known(name) {
			return queryapi.Errorf("InvalidParameterValue", "The filter '%s' is invalid", name)
		}
		// The values are read here too, so that a filter without any is
		// refused before the next filter is looked at.
		if values, err := c.List(p + ".Value"); err != nil {
			return err
		} else if len(values) == 0 {
			return queryapi.Errorf("MissingParameter", "The request must contain the parameter %s.Value.", p)
		}
		return nil
	})
}

// attributes gives a resource's values for a filter name.
type attributes func(name string) []string

// matches reports whether a resource passes every filter: for each filter
// one of its values matches one of the filter's values. Values may use the
// * and ? wildcards, as in EC2.
func matches(attr attributes, filters []queryapi.Filter) bool {
	for _, f := range filters {
		have := attr(f.Name)
		if !slices.ContainsFunc(have, func(h string) bool {
			return slices.ContainsFunc(f.Values, func(pattern string) bool { return wildcard.Match(pattern, h) })
		}) {
			return false
		}
	}
	return true
}

// tagFilter answers the tag filters (tag:KEY, tag-key, tag-value) of a
// resource with the given tags; ok is false for other names.
func tagFilter(name string, tags []tag) (values []string, ok bool) {
	switch {
	case strings.HasPrefix(name, "tag:"):
		for _, t := range tags {
			if t.Key == name[len("tag:"):] {
				values = append(values, t.Value)
			}
		}
	case name == "tag-key":
		for _, t := range tags {
			values = append(values, t.Key)
		}
	case name == "tag-value":
		for _, t := range tags {
			values = append(values, t.Value)
		}
	default:
		return nil, false
	}
	return values, true
}

func isTagFilter(name string) bool {
	return (strings.HasPrefix(name, "tag:") && len(name) > len("tag:")) || name == "tag-key" || name == "tag-value"
}

// page describes MaxResults bounds of an action: min and max, and the page
// size when MaxResults is absent (0: everything).
type page struct {
	min, max, def int
	// capped: a MaxResults above max is taken as max rather than
	// refused (DescribeVolumes and DescribeSnapshots, which the AWS CLI
	// pages with 1,000).
	capped bool
}

// paginate cuts one page out of n results according to MaxResults and
// NextToken and returns its bounds and the token of the next page.
func (c *call) paginate(p page, n int) (from, to int, next string, err error) {
	size := p.def
	if v := c.Get("MaxResults"); v != "" {
		m, err := strconv.Atoi(v)
		if err == nil && p.capped && m > p.max {
			m = p.max
		}
		if err != nil || m < p.min || m > p.max {
			return 0, 0, "", queryapi.Errorf("InvalidParameterValue",
				"Value ( %s ) for parameter maxResults is invalid. Parameter must be between %d and %d.", v, p.min, p.max)
		}
		size = m
	}
	if tok := c.Get("NextToken"); tok != "" {
		from, err = decodeToken(c.Action(), tok)
		if err != nil || from > n {
			return 0, 0, "", queryapi.Errorf("InvalidPaginationToken", "The pagination token %s is not valid.", tok)
		}
	}
	to = n
	if size > 0 && from+size < n {
		to = from + size
		next = encodeToken(c.Action(), to)
	}
	return from, to, next, nil
}

// Tokens are opaque to clients: the action and the offset of the next item.
func encodeToken(action string, offset int) string {
	return base64.RawURLEncoding.EncodeToString([]byte(action + ":" + strconv.Itoa(offset)))
}

func decodeToken(action, tok string) (int, error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return 0, err
	}
	rest, ok := strings.CutPrefix(string(b), action+":")
	if !ok {
		return 0, strconv.ErrSyntax
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n < 0 {
		return 0, strconv.ErrSyntax
	}
	return n, nil
}
