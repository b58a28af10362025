package asgapi

import (
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// memberName is a parameter as AWS names it in validation messages:
// the model member with its first letter lowered (MinSize: minSize).
func memberName(name string) string {
	r, n := utf8.DecodeRuneInString(name)
	return string(unicode.ToLower(r)) + name[n:]
}

// missing is AWS's message for a required member that was not given.
func missing(name string) *wireError {
	return validation("1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", memberName(name))
}

// optString returns a parameter, nil when absent.
func (c *call) optString(name string) *string {
	if vs, ok := c.params[name]; ok && len(vs) > 0 {
		return &vs[0]
	}
	return nil
}

// required returns a parameter that must be present and not empty.
func (c *call) required(name string) (string, error) {
	v := c.optString(name)
	if v == nil || *v == "" {
		return "", missing(name)
	}
	return *v, nil
}

// optInt returns an integer parameter, nil when absent.
func (c *call) optInt(name string) (*int, error) {
	s := c.optString(name)
	if s == nil {
		return nil, nil
	}
	n, err := strconv.Atoi(*s)
	if err != nil {
		return nil, validation("Value '%s' for parameter %s is not a valid integer.", *s, memberName(name))
	}
	return &n, nil
}

// optBool returns a boolean parameter, nil when absent.
func (c *call) optBool(name string) (*bool, error) {
	s := c.optString(name)
	if s == nil {
		return nil, nil
	}
	switch strings.ToLower(*s) {
	case "true":
		b := true
		return &b, nil
	case "false":
		b := false
		return &b, nil
	}
	return nil, validation("Value '%s' for parameter %s is not a valid boolean.", *s, memberName(name))
}

// list returns the members of a query list (Name.member.1, Name.member.2,
// ...) in index order.
func (c *call) list(name string) ([]string, error) {
	idx, err := c.indexes(name + ".member.")
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(idx))
	for _, i := range idx {
		out = append(out, c.params.Get(name+".member."+strconv.Itoa(i)))
	}
	return out, nil
}

// indexes returns the sorted, distinct N of the parameters prefix+N[.rest].
func (c *call) indexes(prefix string) ([]int, error) {
	var idx []int
	for k := range c.params {
		rest, ok := strings.CutPrefix(k, prefix)
		if !ok {
			continue
		}
		n, _, _ := strings.Cut(rest, ".")
		i, err := strconv.Atoi(n)
		if err != nil || i < 1 {
			return nil, validation("The parameter %s is not recognized.", k)
		}
		if !slices.Contains(idx, i) {
			idx = append(idx, i)
		}
	}
	slices.Sort(idx)
	return idx, nil
}

// filter is one Filters.member.N of a request.
type filter struct {
	name   string
	values []string
}

// filters decodes Filters.member.N.Name and .Values.member.M.
func (c *call) filters() ([]filter, error) {
	idx, err := c.indexes("Filters.member.")
	if err != nil {
		return nil, err
	}
	var out []filter
	for _, i := range idx {
		p := "Filters.member." + strconv.Itoa(i)
		values, err := c.list(p + ".Values")
		if err != nil {
			return nil, err
		}
		out = append(out, filter{name: c.params.Get(p + ".Name"), values: values})
	}
	return out, nil
}

// maxRecords reads MaxRecords: def when absent, 1 to max otherwise.
func (c *call) maxRecords(def, max int) (int, error) {
	n, err := c.optInt("MaxRecords")
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
	for k := range c.params {
		top, _, _ := strings.Cut(k, ".")
		if !slices.Contains(out, top) {
			out = append(out, top)
		}
	}
	slices.Sort(out)
	return out
}
