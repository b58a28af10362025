package queryapi_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/berthproject/berth/internal/queryapi"
)

var (
	query = queryapi.Dialect{Protocol: queryapi.Query, Version: "2011-01-01", Namespace: "https://example.amazonaws.com/doc/2011-01-01/"}
	ec2   = queryapi.Dialect{Protocol: queryapi.EC2, Version: "2016-11-15", Namespace: "http://ec2.amazonaws.com/doc/2016-11-15/"}
)

// wantError checks that err is the wire error code (400) with message.
func wantError(t *testing.T, err error, code, message string) {
	t.Helper()
	var e *queryapi.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v, want %s", err, code)
	}
	if e.Status != http.StatusBadRequest || e.Code != code || e.Message != message {
		t.Errorf("error %d %s: %q, want 400 %s: %q", e.Status, e.Code, e.Message, code, message)
	}
}

func TestList(t *testing.T) {
	tests := []struct {
		name    string
		d       queryapi.Dialect
		values  url.Values
		want    []string
		code    string // empty: no error
		message string
	}{
		{"query members in index order", query, url.Values{"Ids.member.3": {"c"}, "Ids.member.1": {"a"}, "Ids.member.10": {"d"}}, []string{"a", "c", "d"}, "", ""},
		{"query ignores flat members", query, url.Values{"Ids.1": {"a"}}, []string{}, "", ""},
		{"query bad index", query, url.Values{"Ids.member.x": {"a"}}, nil, "ValidationError", "The parameter Ids.member.x is not recognized."},
		{"query index 0", query, url.Values{"Ids.member.0": {"a"}}, nil, "ValidationError", "The parameter Ids.member.0 is not recognized."},
		{"ec2 flat members", ec2, url.Values{"Ids.2": {"b"}, "Ids.1": {"a"}}, []string{"a", "b"}, "", ""},
		{"ec2 bad index", ec2, url.Values{"Ids.first": {"a"}}, nil, "InvalidParameterValue", "The parameter Ids.first is not recognized."},
		{"absent", ec2, url.Values{"Other.1": {"a"}}, []string{}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.d.Params(tt.values).List("Ids")
			if tt.code != "" {
				wantError(t, err, tt.code, tt.message)
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Errorf("List = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestIndexes(t *testing.T) {
	p := query.Params(url.Values{"F.2.Name": {"x"}, "F.2.Value.1": {"y"}, "F.5": {"z"}, "G.1": {"w"}})
	got, err := p.Indexes("F.")
	if err != nil || !slices.Equal(got, []int{2, 5}) {
		t.Errorf("Indexes = %v, %v; want [2 5]", got, err)
	}
}

func TestScalars(t *testing.T) {
	asg := query
	asg.MemberNames = true
	values := url.Values{"Name": {"n"}, "Empty": {""}, "Count": {"42"}, "BadCount": {"x"}, "Yes": {"TRUE"}, "No": {"false"}, "Maybe": {"maybe"}}

	t.Run("Opt", func(t *testing.T) {
		p := query.Params(values)
		if v := p.Opt("Name"); v == nil || *v != "n" {
			t.Errorf("Opt(Name) = %v", v)
		}
		if v := p.Opt("Empty"); v == nil || *v != "" {
			t.Errorf("Opt(Empty) = %v, want the empty string", v)
		}
		if v := p.Opt("Absent"); v != nil {
			t.Errorf("Opt(Absent) = %q, want nil", *v)
		}
	})

	tests := []struct {
		name    string
		d       queryapi.Dialect
		read    string // Int or Bool
		param   string
		want    string // the value read, or nil
		code    string // empty: no error
		message string
	}{
		{"integer", query, "Int", "Count", "42", "", ""},
		{"absent integer", query, "Int", "Absent", "nil", "", ""},
		{"query integer", query, "Int", "BadCount", "", "ValidationError", "Value 'x' for parameter BadCount is not a valid integer."},
		{"member names", asg, "Int", "BadCount", "", "ValidationError", "Value 'x' for parameter badCount is not a valid integer."},
		{"ec2 integer", ec2, "Int", "BadCount", "", "InvalidParameterValue", "Value (x) for parameter BadCount is invalid. Expected: an integer."},
		{"true in any case", query, "Bool", "Yes", "true", "", ""},
		{"false", ec2, "Bool", "No", "false", "", ""},
		{"absent boolean", query, "Bool", "Absent", "nil", "", ""},
		{"ec2 empty is absent", ec2, "Bool", "Empty", "nil", "", ""},
		{"query empty is refused", asg, "Bool", "Empty", "", "ValidationError", "Value '' for parameter empty is not a valid boolean."},
		{"query boolean", query, "Bool", "Maybe", "", "ValidationError", "Value 'maybe' for parameter Maybe is not a valid boolean."},
		{"ec2 boolean", ec2, "Bool", "Maybe", "", "InvalidParameterValue", "Value (maybe) for parameter Maybe is invalid. Expected: 'true' or 'false'."},
	}
	for _, tt := range tests {
		t.Run(tt.read+" "+tt.name, func(t *testing.T) {
			p := tt.d.Params(values)
			var got string
			var err error
			if tt.read == "Int" {
				v, e := p.Int(tt.param)
				got, err = show(v), e
			} else {
				v, e := p.Bool(tt.param)
				got, err = show(v), e
			}
			if tt.code != "" {
				wantError(t, err, tt.code, tt.message)
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("%s(%s) = %s, %v; want %s", tt.read, tt.param, got, err, tt.want)
			}
		})
	}
}

func TestFilters(t *testing.T) {
	t.Run("query", func(t *testing.T) {
		p := query.Params(url.Values{
			"Filters.member.2.Name": {"tag-key"}, "Filters.member.2.Values.member.1": {"team"},
			"Filters.member.1.Values.member.2": {"b"}, "Filters.member.1.Values.member.1": {"a"},
		})
		got, err := p.Filters("Filters", "Values", nil)
		if err != nil || len(got) != 2 || got[0].Name != "" || !slices.Equal(got[0].Values, []string{"a", "b"}) ||
			got[1].Name != "tag-key" || !slices.Equal(got[1].Values, []string{"team"}) {
			t.Errorf("Filters = %+v, %v", got, err)
		}
	})

	// check sees each filter in index order, before its values are read.
	refuse := func(param, name string) error {
		if name == "" {
			return queryapi.Errorf("MissingParameter", "The request must contain the parameter %s.Name.", param)
		}
		return nil
	}
	tests := []struct {
		name    string
		values  url.Values
		code    string
		message string
	}{
		{"name checked before values", url.Values{"Filter.1.Value.x": {"a"}}, "MissingParameter", "The request must contain the parameter Filter.1.Name."},
		{"in index order", url.Values{"Filter.1.Name": {"n"}, "Filter.1.Value.x": {"a"}, "Filter.2.Value.1": {"b"}}, "InvalidParameterValue", "The parameter Filter.1.Value.x is not recognized."},
		{"bad index", url.Values{"Filter.one.Name": {"n"}}, "InvalidParameterValue", "The parameter Filter.one.Name is not recognized."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ec2.Params(tt.values).Filters("Filter", "Value", refuse)
			wantError(t, err, tt.code, tt.message)
		})
	}
	got, err := ec2.Params(url.Values{"Filter.1.Name": {"vpc-id"}, "Filter.1.Value.1": {"vpc-1"}}).Filters("Filter", "Value", refuse)
	if err != nil || len(got) != 1 || got[0].Name != "vpc-id" || !slices.Equal(got[0].Values, []string{"vpc-1"}) {
		t.Errorf("Filters = %+v, %v", got, err)
	}
}

func TestMemberName(t *testing.T) {
	for in, want := range map[string]string{"MaxRecords": "maxRecords", "x": "x", "": "", "Éclair": "éclair"} {
		if got := queryapi.MemberName(in); got != want {
			t.Errorf("MemberName(%q) = %q, want %q", in, got, want)
		}
	}
}

// show prints what a reader returned: its value, or nil.
func show[T any](v *T) string {
	if v == nil {
		return "nil"
	}
	return fmt.Sprint(*v)
}
