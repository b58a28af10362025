package asgapi

import (
	"slices"
	"strings"

	"github.com/berthproject/berth/internal/queryapi"
)

// call is one verified, decoded request.
type call struct {
	queryapi.Params
}

// missing is AWS's message for a required member that was not given.
func missing(name string) *queryapi.Error {
	return validation("1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", queryapi.MemberName(name))
}

// required returns a parameter that must be present and not empty.
func (c *call) required(name string) (string, error) {
	v := c.Opt(name)
	if v == nil || *v == "" {
		return "", missing(name)
	}
	return *v, nil
}

// filters decodes Filters.member.N.Name and .Values.member.M.
func (c *call) filters() ([]queryapi.Filter, error) {
	return c.Filters("Filters", "Values", nil)
}

// maxRecords reads MaxRecords: def when absent, 1 to max otherwise.
func (c *call) maxRecords(def, max int) (int, error) {
	n, err := c.Int("MaxRecords")
	if err != nil || n == nil {
		return def, err
	}
	if *n < 1 || *n > max {
		return 0, validation("1 validation error detected: Value '%d' at 'maxRecords' failed to satisfy constraint: Member must have value between 1 and %d", *n, max)
	}
	return *n, nil
}

// topLevel returns the distinct first components of the parameter names
// (LaunchTemplate for LaunchTemplate.Version), sorted.
func (c *call) topLevel() []string {
	var out []string
	for k := range c.Values {
		top, _, _ := strings.Cut(k, ".")
		if !slices.Contains(out, top) {
			out = append(out, top)
		}
	}
	slices.Sort(out)
	return out
}
