package sigv4

import (
	"net/http"
	"strconv"
	"testing"
	"time"
)

func TestNormalizePath(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "/"},
		{"/", "/"},
		{"/clusters/demo", "/clusters/demo"},
		{"/clusters//demo", "/clusters/demo"},
		{"//", "/"},
		{"/a/./b/../c/", "/a/c/"},
		{"/a/..", "/"},
		{"/../..", "/"},
		{"/.hidden/x", "/.hidden/x"},
		{"/tags/arn%3Aaws%2Fx", "/tags/arn%3Aaws%2Fx"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := normalizePath(tt.in); got != tt.want {
				t.Errorf("normalizePath(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestCanonicalPath(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "/"},
		{"/clusters/demo", "/clusters/demo"},
		{"/tags/arn%3Aaws%3Aeks%3Aus-east-1%3A000000000000%3Acluster%2Fdemo",
			"/tags/arn%253Aaws%253Aeks%253Aus-east-1%253A000000000000%253Acluster%252Fdemo"},
		{"/a:b~c d", "/a%3Ab~c%20d"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := string(appendCanonicalPath(nil, tt.in)); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCanonicalQuery(t *testing.T) {
	tests := []struct {
		name, raw string
		presigned bool
		want      string
	}{
		{"empty", "", false, ""},
		{"sorted by key then value", "b=2&a=2&a=1", false, "a=1&a=2&b=2"},
		// '%' sorts before '-', so the encoded a%2Fb comes before a-b.
		{"sorted after encoding", "k=a-b&k=a/b", false, "k=a%2Fb&k=a-b"},
		{"key sorted apart from value", "a-b=1&a=2", false, "a=2&a-b=1"},
		{"plus is a space", "q=a+b", false, "q=a%20b"},
		{"escapes normalized", "q=%7e%2a%41", false, "q=~%2AA"},
		{"raw reserved bytes escaped", "q=a:b/c", false, "q=a%3Ab%2Fc"},
		{"no value", "flag&x=", false, "flag=&x="},
		{"empty pairs skipped", "&&a=1&", false, "a=1"},
		{"bad escape kept", "q=%zz%4", false, "q=%25zz%254"},
		{"signature dropped when presigned", "X-Amz-Signature=abc&A=1", true, "A=1"},
		{"signature kept otherwise", "X-Amz-Signature=abc&A=1", false, "A=1&X-Amz-Signature=abc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := getScratch()
			defer putScratch(s)
			if got := string(s.appendCanonicalQuery(nil, tt.raw, tt.presigned)); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestHeaderValue(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"application/json", "application/json"},
		{"  a   b  c ", "a b c"},
		{"\ta b\t", "a b"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := string(appendHeaderValue(nil, tt.in)); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestHeaderValues(t *testing.T) {
	h := http.Header{"X-Amz-Date": {"d"}, "Content-Type": {"a", "b"}, "odd_name": {"o"}}
	tests := []struct {
		name string
		want []string
	}{
		{"x-amz-date", []string{"d"}},
		{"content-type", []string{"a", "b"}},
		{"odd_name", []string{"o"}},
		{"absent", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := headerValues(h, tt.name)
			if len(got) != len(tt.want) || len(got) > 0 && got[0] != tt.want[0] {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseStamp(t *testing.T) {
	want := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in       string
		httpDate bool
		ok       bool
	}{
		{"20261127T120000Z", false, true},
		{"20261127T120000Z", true, true},
		{"Fri, 27 Nov 2026 12:00:00 GMT", true, true},
		{"Fri, 27 Nov 2026 12:00:00 -0000", true, true},
		{"Fri, 27 Nov 2026 12:00:00 GMT", false, false},
		{"20261127T120000", false, false},
		{"2026112XT120000Z", false, false},
		{"20261327T120000Z", false, false},
		{"20260230T120000Z", false, false},
		{"20261127T250000Z", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := parseStamp(tt.in, tt.httpDate)
			if ok != tt.ok || ok && !got.Equal(want) {
				t.Errorf("parseStamp(%q) = %v, %v; want ok=%v", tt.in, got, ok, tt.ok)
			}
		})
	}
}

func TestKeyCacheBounded(t *testing.T) {
	var c keyCache
	first := c.get("secret", "20261127", "us-east-1", "eks")
	if c.get("secret", "20261127", "us-east-1", "eks") != first {
		t.Fatal("second lookup derived the key again")
	}
	for i := range 2 * maxCachedKeys {
		c.get("secret", "20261127", "region-"+strconv.Itoa(i), "eks")
	}
	if n := len(c.keys); n > maxCachedKeys {
		t.Fatalf("cache holds %d keys, bound is %d", n, maxCachedKeys)
	}
}
