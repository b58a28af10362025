package queryapi

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Params are the parameters of one request, read the way its dialect
// writes them.
type Params struct {
	url.Values
	dialect Dialect
}

// Params wraps parameter values, as Decode does.
func (d Dialect) Params(v url.Values) Params { return Params{Values: v, dialect: d} }

// Dialect is the dialect the parameters are read in.
func (p Params) Dialect() Dialect { return p.dialect }

// Action is the action the request names.
func (p Params) Action() string { return p.Get("Action") }

// Opt returns a parameter, nil when absent.
func (p Params) Opt(name string) *string {
	if vs, ok := p.Values[name]; ok && len(vs) > 0 {
		return &vs[0]
	}
	return nil
}

// Int returns an integer parameter, nil when absent.
func (p Params) Int(name string) (*int, error) {
	s := p.Opt(name)
	if s == nil {
		return nil, nil
	}
	n, err := strconv.Atoi(*s)
	if err != nil {
		return nil, p.dialect.invalidValue(name, *s, "integer")
	}
	return &n, nil
}

// Bool returns a boolean parameter (true or false, in any case), nil
// when absent. In EC2 an empty value counts as absent.
func (p Params) Bool(name string) (*bool, error) {
	s := p.Opt(name)
	if s == nil || (*s == "" && p.dialect.Protocol == EC2) {
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
	return nil, p.dialect.invalidValue(name, *s, "boolean")
}

// member is what stands between a list's name and a member's index:
// Name.member.N in the Query protocol, Name.N in EC2.
func (p Params) member() string {
	if p.dialect.Protocol == EC2 {
		return "."
	}
	return ".member."
}

// List returns the members of a list parameter in index order.
func (p Params) List(name string) ([]string, error) {
	prefix := name + p.member()
	idx, err := p.Indexes(prefix)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(idx))
	for _, i := range idx {
		out = append(out, p.Get(prefix+strconv.Itoa(i)))
	}
	return out, nil
}

// Indexes returns the sorted, distinct N of the parameters prefix+N[.rest].
// A parameter with the prefix and no positive N is refused.
func (p Params) Indexes(prefix string) ([]int, error) {
	var idx []int
	for k := range p.Values {
		rest, ok := strings.CutPrefix(k, prefix)
		if !ok {
			continue
		}
		n, _, _ := strings.Cut(rest, ".")
		i, err := strconv.Atoi(n)
		if err != nil || i < 1 {
			return nil, p.dialect.unrecognized(k)
		}
		if !slices.Contains(idx, i) {
			idx = append(idx, i)
		}
	}
	slices.Sort(idx)
	return idx, nil
}

// Filter is one member of a list of filters: a name and its values.
type Filter struct {
	Name   string
	Values []string
}

// Filters decodes a list of filters: its members' Name and their list of
// values (Filter.N.Name and Filter.N.Value.M in EC2, Filters.member.N.Name
// and Filters.member.N.Values.member.M in the Query protocol). check, when
// not nil, sees each member's parameter prefix (Filter.N) and name before
// its values are read, and may refuse it.
func (p Params) Filters(name, values string, check func(param, name string) error) ([]Filter, error) {
	prefix := name + p.member()
	idx, err := p.Indexes(prefix)
	if err != nil {
		return nil, err
	}
	var out []Filter
	for _, i := range idx {
		param := prefix + strconv.Itoa(i)
		f := Filter{Name: p.Get(param + ".Name")}
		if check != nil {
			if err := check(param, f.Name); err != nil {
				return nil, err
			}
		}
		if f.Values, err = p.List(param + "." + values); err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}
