package sigv4

import (
	"bytes"
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"sync"
)

const upperHex = "0123456789ABCDEF"

// unreserved reports whether c is an RFC 3986 unreserved character, the
// only bytes SigV4 leaves unescaped.
func unreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func appendEscapedByte(dst []byte, c byte) []byte {
	return append(dst, '%', upperHex[c>>4], upperHex[c&15])
}

// appendCanonicalPath appends the canonical URI of an escaped request path:
// the path as sent on the wire, URI-encoded once more. This double encoding
// is what the SDKs do for every service but S3, so "/tags/arn%3Aaws" becomes
// "/tags/arn%253Aaws".
func appendCanonicalPath(dst []byte, escaped string) []byte {
	if escaped == "" {
		return append(dst, '/')
	}
	for i := 0; i < len(escaped); i++ {
		if c := escaped[i]; unreserved(c) || c == '/' {
			dst = append(dst, c)
		} else {
			dst = appendEscapedByte(dst, c)
		}
	}
	return dst
}

// normalizePath removes empty, "." and ".." segments from an escaped path,
// as AWS and botocore do before signing (RFC 3986 section 5.2.4, plus
// collapsing of repeated slashes). Paths without such segments, which is
// every path the SDKs send in practice, are returned unchanged.
func normalizePath(p string) string {
	if p == "" {
		return "/"
	}
	if !strings.Contains(p, "//") && !strings.Contains(p, "/.") && p[0] == '/' {
		return p
	}
	var out []string
	for _, seg := range strings.Split(p, "/") {
		switch seg {
		case "", ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, seg)
		}
	}
	var b strings.Builder
	if p[0] == '/' {
		b.WriteByte('/')
	}
	b.WriteString(strings.Join(out, "/"))
	if p[len(p)-1] == '/' && len(out) > 0 {
		b.WriteByte('/')
	}
	return b.String()
}

// appendQueryComponent appends s, a raw query key or value, in canonical
// form: percent-decoded ("+" is a space), then encoded again with every byte
// but the unreserved ones escaped in upper-case hex. A "%" that does not
// start a valid escape stands for itself.
func appendQueryComponent(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '+':
			c = ' '
		case '%':
			if i+2 < len(s) {
				hi, ok1 := unhex(s[i+1])
				lo, ok2 := unhex(s[i+2])
				if ok1 && ok2 {
					c = hi<<4 | lo
					i += 2
				}
			}
		}
		if unreserved(c) {
			dst = append(dst, c)
		} else {
			dst = appendEscapedByte(dst, c)
		}
	}
	return dst
}

// scratch holds the reusable buffers of one verification.
type scratch struct {
	buf   []byte // canonical request, then the HMAC input
	query []byte // canonical query keys and values, back to back
	pairs []queryPair
}

// queryPair locates one canonical key and value in scratch.query:
// key is query[start:mid], value is query[mid:end].
type queryPair struct{ start, mid, end int }

var scratchPool = sync.Pool{New: func() any {
	return &scratch{buf: make([]byte, 0, 1024), query: make([]byte, 0, 256), pairs: make([]queryPair, 0, 8)}
}}

func getScratch() *scratch { return scratchPool.Get().(*scratch) }

func putScratch(s *scratch) {
	const maxKeep = 64 << 10
	if cap(s.buf) > maxKeep || cap(s.query) > maxKeep {
		return
	}
	scratchPool.Put(s)
}

// appendCanonicalQuery appends the canonical query string of rawQuery:
// every key=value pair encoded by appendQueryComponent, sorted by key and
// then by value (after encoding, as the SigV4 specification requires),
// joined by "&". With presigned set the X-Amz-Signature parameter is left
// out.
func (s *scratch) appendCanonicalQuery(dst []byte, rawQuery string, presigned bool) []byte {
	s.query, s.pairs = s.query[:0], s.pairs[:0]
	for rest := rawQuery; rest != ""; {
		var part string
		part, rest, _ = strings.Cut(rest, "&")
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		start := len(s.query)
		s.query = appendQueryComponent(s.query, k)
		mid := len(s.query)
		if presigned && string(s.query[start:mid]) == paramSignature {
			s.query = s.query[:start]
			continue
		}
		s.query = appendQueryComponent(s.query, v)
		s.pairs = append(s.pairs, queryPair{start, mid, len(s.query)})
	}
	q := s.query
	slices.SortFunc(s.pairs, func(a, b queryPair) int {
		if c := bytes.Compare(q[a.start:a.mid], q[b.start:b.mid]); c != 0 {
			return c
		}
		return bytes.Compare(q[a.mid:a.end], q[b.mid:b.end])
	})
	for i, p := range s.pairs {
		if i > 0 {
			dst = append(dst, '&')
		}
		dst = append(dst, q[p.start:p.mid]...)
		dst = append(dst, '=')
		dst = append(dst, q[p.mid:p.end]...)
	}
	return dst
}

// appendHeaderValue appends v with leading and trailing blanks trimmed and
// runs of spaces folded into one.
func appendHeaderValue(dst []byte, v string) []byte {
	v = strings.Trim(v, " \t")
	space := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == ' ' {
			if space {
				continue
			}
			space = true
		} else {
			space = false
		}
		dst = append(dst, c)
	}
	return dst
}

// headerValues returns the values of the header whose lower-case name is
// given, without allocating for names of ordinary length.
func headerValues(h http.Header, name string) []string {
	var buf [64]byte
	if len(name) > len(buf) {
		return h[textproto.CanonicalMIMEHeaderKey(name)]
	}
	upper := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case upper && 'a' <= c && c <= 'z':
			c -= 'a' - 'A'
		case !upper && 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		buf[i] = c
		upper = c == '-'
	}
	if vs, ok := h[string(buf[:len(name)])]; ok {
		return vs
	}
	return h[name] // a key stored without canonicalization
}

// message is the part of a request that SigV4 signs.
type message struct {
	method        string
	path          string // escaped, as on the wire
	rawQuery      string
	host          string
	header        http.Header
	contentLength int64 // used when content-length is signed but not in header
}

// appendCanonicalRequest appends the canonical request of m, with path as
// the (already normalized) escaped path and the signed headers in the order
// that signedHeaders lists them.
func (s *scratch) appendCanonicalRequest(dst []byte, m *message, path string, presigned bool, signedHeaders string, payloadHash []byte) []byte {
	dst = append(dst, m.method...)
	dst = append(dst, '\n')
	dst = appendCanonicalPath(dst, path)
	dst = append(dst, '\n')
	dst = s.appendCanonicalQuery(dst, m.rawQuery, presigned)
	dst = append(dst, '\n')
	for rest := signedHeaders; rest != ""; {
		var name string
		name, rest, _ = strings.Cut(rest, ";")
		dst = append(dst, name...)
		dst = append(dst, ':')
		if name == "host" {
			dst = appendHeaderValue(dst, m.host)
		} else if vs := headerValues(m.header, name); len(vs) == 0 && name == "content-length" && m.contentLength > 0 {
			dst = strconv.AppendInt(dst, m.contentLength, 10)
		} else {
			for i, v := range vs {
				if i > 0 {
					dst = append(dst, ',')
				}
				dst = appendHeaderValue(dst, v)
			}
		}
		dst = append(dst, '\n')
	}
	dst = append(dst, '\n')
	dst = append(dst, signedHeaders...)
	dst = append(dst, '\n')
	dst = append(dst, payloadHash...)
	return dst
}

// hasSignedHeader reports whether the ;-separated list names header name.
func hasSignedHeader(signedHeaders, name string) bool {
	for rest := signedHeaders; rest != ""; {
		var h string
		h, rest, _ = strings.Cut(rest, ";")
		if h == name {
			return true
		}
	}
	return false
}
