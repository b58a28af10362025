package sigv4

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

const (
	// DefaultMaxSkew is how far the signing time may be from the server's
	// clock when Config.MaxSkew is zero; AWS allows the same.
	DefaultMaxSkew = 15 * time.Minute
	// MaxPresignExpires is the longest X-Amz-Expires AWS accepts: seven days.
	MaxPresignExpires = 7 * 24 * time.Hour
)

const (
	algorithm       = "AWS4-HMAC-SHA256"
	timeFormat      = "20060102T150405Z"
	dateFormat      = "20060102"
	terminator      = "aws4_request"
	unsignedPayload = "UNSIGNED-PAYLOAD"

	paramAlgorithm     = "X-Amz-Algorithm"
	paramCredential    = "X-Amz-Credential"
	paramDate          = "X-Amz-Date"
	paramExpires       = "X-Amz-Expires"
	paramSignedHeaders = "X-Amz-SignedHeaders"
	paramSignature     = "X-Amz-Signature"
	paramSecurityToken = "X-Amz-Security-Token"
	paramContentSHA256 = "X-Amz-Content-Sha256"
)

// Credential is a secret berth holds for an access key.
type Credential struct {
	AccessKeyID     string
	SecretAccessKey string
	// SessionToken is set for temporary credentials; requests must then
	// carry it in X-Amz-Security-Token.
	SessionToken string
	// Expires is when a temporary credential stops working; zero is never.
	Expires time.Time
	// Principal is the ARN of the identity; this package does not read it.
	Principal string
}

// Lookup finds the credential for an access key id. It returns an error
// wrapping ErrUnknownKey when there is none; any other error is treated as
// an internal failure and returned to the caller of Verify as it is.
type Lookup interface {
	Credential(ctx context.Context, accessKeyID string) (Credential, error)
}

// StaticCredentials is a Lookup over a fixed map keyed by access key id.
type StaticCredentials map[string]Credential

var _ Lookup = StaticCredentials(nil)

// Credential implements Lookup.
func (s StaticCredentials) Credential(_ context.Context, accessKeyID string) (Credential, error) {
	c, ok := s[accessKeyID]
	if !ok {
		return Credential{}, ErrUnknownKey
	}
	return c, nil
}

// Config configures a Verifier.
type Config struct {
	// Credentials resolves access key ids. Required.
	Credentials Lookup
	// Service, if set, is the only signing name accepted in the credential
	// scope ("eks" for the EKS API, "sts" for EKS bearer tokens); a request
	// scoped to another service fails as it would on AWS. Empty accepts any.
	Service string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// MaxSkew is how far the signing time may be from Now; zero means
	// DefaultMaxSkew.
	MaxSkew time.Duration
}

// Verifier checks SigV4 signatures. It is safe for concurrent use.
type Verifier struct {
	creds   Lookup
	service string
	now     func() time.Time
	maxSkew time.Duration
	keys    keyCache
}

// New returns a Verifier for cfg.
func New(cfg Config) (*Verifier, error) {
	if cfg.Credentials == nil {
		return nil, errors.New("sigv4: Config.Credentials is required")
	}
	if cfg.MaxSkew < 0 {
		return nil, fmt.Errorf("sigv4: Config.MaxSkew is negative (%v)", cfg.MaxSkew)
	}
	v := &Verifier{creds: cfg.Credentials, service: cfg.Service, now: cfg.Now, maxSkew: cfg.MaxSkew}
	if v.now == nil {
		v.now = time.Now
	}
	if v.maxSkew == 0 {
		v.maxSkew = DefaultMaxSkew
	}
	return v, nil
}

// Result describes a verified request.
type Result struct {
	// Credential is the credential that signed the request.
	Credential Credential
	// Region and Service are the credential scope the client signed for.
	Region, Service string
	// Time is the signing time (X-Amz-Date, or the Date header).
	Time time.Time
	// SignedHeaders is the ;-separated, lower-case list of signed headers.
	SignedHeaders string
}

// Verify checks the signature of r, an incoming server request, signed in
// its Authorization header or, failing that, in its query string
// (presigned, valid for at most MaxPresignExpires). body is the complete
// request body, read (and size-limited) by the caller. A failed check
// returns an *Error; other errors come from the Lookup.
func (v *Verifier) Verify(ctx context.Context, r *http.Request, body []byte) (Result, error) {
	m := message{
		method:        r.Method,
		path:          requestPath(r),
		rawQuery:      r.URL.RawQuery,
		host:          r.Host,
		header:        r.Header,
		contentLength: r.ContentLength,
	}
	if m.host == "" {
		m.host = r.URL.Host
	}
	var authz string
	if vs := r.Header["Authorization"]; len(vs) > 0 {
		authz = vs[0]
	}
	if authz == "" {
		if _, ok := queryParam(m.rawQuery, paramAlgorithm); ok {
			return v.verifyPresigned(ctx, &m, body, MaxPresignExpires, false)
		}
		return Result{}, newError(CodeMissingAuthenticationToken, msgMissingAuthToken)
	}
	return v.verifyHeader(ctx, &m, authz, body)
}

// VerifyPresigned checks a presigned URL u, as if requested with method
// and carrying header, which holds the signed headers other than Host (for
// an EKS token, x-k8s-aws-id); Host defaults to u.Host without a default
// port. The URL is valid from X-Amz-Date until X-Amz-Expires seconds later,
// or maxExpires later if that is shorter; maxExpires of zero means
// MaxPresignExpires.
func (v *Verifier) VerifyPresigned(ctx context.Context, method string, u *url.URL, header http.Header, maxExpires time.Duration) (Result, error) {
	if maxExpires <= 0 || maxExpires > MaxPresignExpires {
		maxExpires = MaxPresignExpires
	}
	return v.presignedURL(ctx, method, u, header, maxExpires, false)
}

// VerifyPresignedWindow is VerifyPresigned with a validity of exactly
// window from the signing time, whatever X-Amz-Expires says: the rule of
// EKS bearer tokens, presigned GetCallerIdentity URLs that `aws eks
// get-token` signs for 60 s and the cluster accepts for 15 minutes.
func (v *Verifier) VerifyPresignedWindow(ctx context.Context, method string, u *url.URL, header http.Header, window time.Duration) (Result, error) {
	return v.presignedURL(ctx, method, u, header, window, true)
}

func (v *Verifier) presignedURL(ctx context.Context, method string, u *url.URL, header http.Header, window time.Duration, fixed bool) (Result, error) {
	m := message{method: method, path: u.EscapedPath(), rawQuery: u.RawQuery, host: hostWithoutDefaultPort(u), header: header}
	if vs := header["Host"]; len(vs) > 0 {
		m.host = vs[0]
	}
	if _, ok := queryParam(m.rawQuery, paramAlgorithm); !ok {
		return Result{}, newError(CodeMissingAuthenticationToken, msgMissingAuthToken)
	}
	return v.verifyPresigned(ctx, &m, nil, window, fixed)
}

// signed is what a request claims about its own signature.
type signed struct {
	credential    string // access key id and scope: AKID/date/region/service/aws4_request
	signedHeaders string
	signature     string
	time          time.Time
	token         string // session token
	contentSHA256 string // claimed payload hash, if any
}

func (v *Verifier) verifyHeader(ctx context.Context, m *message, authz string, body []byte) (Result, error) {
	var s signed
	alg, params, _ := strings.Cut(strings.TrimSpace(authz), " ")
	if alg == algorithm {
		for rest := params; rest != ""; {
			i := strings.IndexAny(rest, ", ")
			if i < 0 {
				i = len(rest)
			}
			param := rest[:i]
			rest = rest[min(i+1, len(rest)):]
			if param == "" {
				continue
			}
			key, value, ok := strings.Cut(param, "=")
			if !ok {
				return Result{}, newError(CodeIncompleteSignature, fmt.Sprintf(
					"'%s' not a valid key=value pair (missing equal-sign) in Authorization header: '%s'.", param, authz))
			}
			switch key {
			case "Credential":
				s.credential = value
			case "SignedHeaders":
				s.signedHeaders = value
			case "Signature":
				s.signature = value
			}
		}
	} else if strings.HasPrefix(alg, "AWS4-") {
		return Result{}, newError(CodeIncompleteSignature, "Unsupported AWS 'algorithm': '"+alg+"'.")
	}

	stamp, dateHeader, dateName := "", "x-amz-date", "X-Amz-Date"
	if vs := m.header["X-Amz-Date"]; len(vs) > 0 {
		stamp = vs[0]
	} else if vs := m.header["Date"]; len(vs) > 0 {
		stamp, dateHeader, dateName = vs[0], "date", "Date"
	}

	if s.credential == "" || s.signature == "" || s.signedHeaders == "" || stamp == "" {
		msg := appendIf(nil, s.credential == "", msgReqCredential)
		msg = appendIf(msg, s.signature == "", msgReqSignature)
		msg = appendIf(msg, s.signedHeaders == "", msgReqSignedHeaders)
		msg = appendIf(msg, stamp == "", msgReqDate)
		return Result{}, newError(CodeIncompleteSignature, strings.Join(msg, " ")+" Authorization="+authz)
	}
	if !hasSignedHeader(s.signedHeaders, "host") {
		return Result{}, newError(CodeInvalidSignature, msgHostNotSigned)
	}
	if !hasSignedHeader(s.signedHeaders, dateHeader) {
		return Result{}, newError(CodeInvalidSignature, "'"+dateName+"' must be a 'SignedHeader' in the AWS Authorization.")
	}
	t, ok := parseStamp(stamp, dateHeader == "date")
	if !ok {
		return Result{}, errDateFormat(stamp)
	}
	s.time = t
	now := v.now()
	if t.Before(now.Add(-v.maxSkew)) {
		return Result{}, errExpired(t, now, v.maxSkew)
	}
	if t.After(now.Add(v.maxSkew)) {
		return Result{}, errNotYetCurrent(t, now, v.maxSkew)
	}
	if vs := m.header["X-Amz-Security-Token"]; len(vs) > 0 {
		s.token = vs[0]
	}
	if vs := m.header["X-Amz-Content-Sha256"]; len(vs) > 0 {
		s.contentSHA256 = vs[0]
	}
	return v.check(ctx, m, &s, now, body, false)
}

func (v *Verifier) verifyPresigned(ctx context.Context, m *message, body []byte, maxExpires time.Duration, fixedWindow bool) (Result, error) {
	q := parsePresignQuery(m.rawQuery)
	if q.algorithm != algorithm {
		return Result{}, newError(CodeMissingAuthenticationToken, msgMissingAuthToken)
	}
	s := signed{credential: q.credential, signedHeaders: q.signedHeaders, signature: q.signature, token: q.token, contentSHA256: q.contentSHA256}
	if s.credential == "" || s.signature == "" || s.signedHeaders == "" || q.date == "" {
		msg := appendIf(nil, s.credential == "", msgQueryCredential)
		msg = appendIf(msg, s.signature == "", msgQuerySignature)
		msg = appendIf(msg, s.signedHeaders == "", msgQuerySigned)
		msg = appendIf(msg, q.date == "", msgQueryDate)
		msg = append(msg, msgQueryReexamine)
		return Result{}, newError(CodeIncompleteSignature, strings.Join(msg, " "))
	}
	if !hasSignedHeader(s.signedHeaders, "host") {
		return Result{}, newError(CodeInvalidSignature, msgHostNotSigned)
	}
	t, ok := parseStamp(q.date, false)
	if !ok {
		return Result{}, errDateFormat(q.date)
	}
	s.time = t

	window := min(v.maxSkew, maxExpires)
	if q.expires != "" {
		n, err := strconv.ParseInt(q.expires, 10, 64)
		switch {
		case err != nil:
			return Result{}, newError(CodeIncompleteSignature, "X-Amz-Expires should be a number")
		case n < 0:
			return Result{}, newError(CodeIncompleteSignature, "X-Amz-Expires must be non-negative")
		case n > int64(MaxPresignExpires/time.Second):
			return Result{}, newError(CodeIncompleteSignature, "X-Amz-Expires must be less than a week (in seconds) that is 604800")
		}
		window = min(time.Duration(n)*time.Second, maxExpires)
	}
	if fixedWindow {
		window = maxExpires
	}
	now := v.now()
	if t.After(now.Add(v.maxSkew)) {
		return Result{}, errNotYetCurrent(t, now, v.maxSkew)
	}
	if now.After(t.Add(window)) {
		return Result{}, errExpired(t, now, window)
	}
	return v.check(ctx, m, &s, now, body, true)
}

// check validates the credential scope, resolves the credential and
// compares the signature. The time window has been checked already.
func (v *Verifier) check(ctx context.Context, m *message, s *signed, now time.Time, body []byte, presigned bool) (Result, error) {
	if strings.Count(s.credential, "/") != 4 {
		return Result{}, newError(CodeIncompleteSignature,
			"Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '"+s.credential+"'")
	}
	accessKeyID, scope, _ := strings.Cut(s.credential, "/")
	date, rest, _ := strings.Cut(scope, "/")
	region, rest, _ := strings.Cut(rest, "/")
	service, term, _ := strings.Cut(rest, "/")

	var stampBuf [len(timeFormat)]byte
	stamp := s.time.AppendFormat(stampBuf[:0], timeFormat)
	if region == "" || v.service != "" && service != v.service || term != terminator || date != string(stamp[:len(dateFormat)]) {
		return Result{}, errScope(region, service, v.service, term, date, string(stamp))
	}

	cred, err := v.creds.Credential(ctx, accessKeyID)
	if errors.Is(err, ErrUnknownKey) {
		return Result{}, newError(CodeUnrecognizedClient, msgInvalidToken)
	}
	if err != nil {
		return Result{}, fmt.Errorf("sigv4: looking up access key %s: %w", accessKeyID, err)
	}
	if !constantTimeEqual(s.token, cred.SessionToken) {
		return Result{}, newError(CodeUnrecognizedClient, msgInvalidToken)
	}
	if !cred.Expires.IsZero() && !now.Before(cred.Expires) {
		return Result{}, newError(CodeExpiredToken, msgExpiredToken)
	}

	var want [sha256.Size]byte
	if !decodeHex(want[:], s.signature) {
		return Result{}, errMismatch()
	}

	var hashBuf [2 * sha256.Size]byte
	payloadHash := hashBuf[:]
	if s.contentSHA256 == unsignedPayload {
		payloadHash = append(hashBuf[:0], unsignedPayload...)
	} else {
		sum := sha256.Sum256(body)
		hex.Encode(hashBuf[:], sum[:])
		if s.contentSHA256 != "" && s.contentSHA256 != string(hashBuf[:]) {
			return Result{}, errMismatch()
		}
	}

	key := v.keys.get(cred.SecretAccessKey, date, region, service)
	sc := getScratch()
	defer putScratch(sc)
	// AWS and botocore sign the path with dot segments and repeated slashes
	// removed; aws-sdk-go-v2 signs it as it is. Try the raw path only when
	// the two differ.
	path := normalizePath(m.path)
	ok := sc.matches(key, m, path, presigned, s, payloadHash, stamp, scope, &want)
	if !ok && path != m.path && m.path != "" {
		ok = sc.matches(key, m, m.path, presigned, s, payloadHash, stamp, scope, &want)
	}
	if !ok {
		return Result{}, errMismatch()
	}
	return Result{Credential: cred, Region: region, Service: service, Time: s.time, SignedHeaders: s.signedHeaders}, nil
}

// matches computes the signature of m and compares it with want in
// constant time.
func (sc *scratch) matches(key *signingKey, m *message, path string, presigned bool, s *signed, payloadHash, stamp []byte, scope string, want *[sha256.Size]byte) bool {
	sc.buf = sc.appendCanonicalRequest(sc.buf[:0], m, path, presigned, s.signedHeaders, payloadHash)
	crHash := sha256.Sum256(sc.buf)
	var mac [sha256.Size]byte
	mac, sc.buf = key.sign(sc.buf, stamp, scope, &crHash)
	return subtle.ConstantTimeCompare(mac[:], want[:]) == 1
}

func errDateFormat(stamp string) *Error {
	return newError(CodeIncompleteSignature,
		"Date must be in ISO-8601 'basic format'. Got '"+stamp+"'. See http://en.wikipedia.org/wiki/ISO_8601")
}

// errScope lists every way the credential scope is wrong, as AWS does.
func errScope(region, service, wantService, term, date, stamp string) *Error {
	day := stamp[:len(dateFormat)]
	msg := appendIf(nil, region == "", "Credential should be scoped to a valid region, not '"+region+"'.")
	msg = appendIf(msg, wantService != "" && service != wantService,
		"Credential should be scoped to correct service: '"+wantService+"'.")
	msg = appendIf(msg, term != terminator,
		"Credential should be scoped with a valid terminator: 'aws4_request', not '"+term+"'.")
	msg = appendIf(msg, date != day,
		"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '"+
			date+"' != '"+day+"', from '"+stamp+"'.")
	return newError(CodeInvalidSignature, strings.Join(msg, " "))
}

// appendIf appends m to msgs when cond holds.
func appendIf(msgs []string, cond bool, m string) []string {
	if cond {
		return append(msgs, m)
	}
	return msgs
}

// parseStamp parses an X-Amz-Date value (ISO 8601 basic format, UTC) or,
// with httpDate set, a Date header, which may also use the HTTP formats.
func parseStamp(s string, httpDate bool) (time.Time, bool) {
	if len(s) == len(timeFormat) && s[8] == 'T' && s[15] == 'Z' {
		var n [6]int
		widths := [6]int{4, 2, 2, 2, 2, 2}
		pos := 0
		for i, w := range widths {
			if pos == 8 {
				pos++ // the 'T'
			}
			for j := 0; j < w; j++ {
				c := s[pos]
				if c < '0' || c > '9' {
					return time.Time{}, false
				}
				n[i] = n[i]*10 + int(c-'0')
				pos++
			}
		}
		t := time.Date(n[0], time.Month(n[1]), n[2], n[3], n[4], n[5], 0, time.UTC)
		if t.Month() != time.Month(n[1]) || t.Day() != n[2] || t.Hour() != n[3] || t.Minute() != n[4] || t.Second() != n[5] {
			return time.Time{}, false
		}
		return t, true
	}
	if httpDate {
		if t, err := http.ParseTime(s); err == nil {
			return t.UTC(), true
		}
		// botocore writes the Date header with a numeric zone: "-0000".
		if t, err := time.Parse(time.RFC1123Z, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// requestPath returns the path of r exactly as the client sent it, taken
// from the request line when r came from a server, so that escaping the
// client chose (such as %3A in an ARN) is kept.
func requestPath(r *http.Request) string {
	if u := r.RequestURI; u != "" && u[0] == '/' {
		if i := strings.IndexByte(u, '?'); i >= 0 {
			u = u[:i]
		}
		return u
	}
	return r.URL.EscapedPath()
}

// hostWithoutDefaultPort returns u.Host without :443 for https or :80 for
// http, as the SDKs sign it.
func hostWithoutDefaultPort(u *url.URL) string {
	host := u.Host
	switch {
	case strings.EqualFold(u.Scheme, "https"):
		host = strings.TrimSuffix(host, ":443")
	case strings.EqualFold(u.Scheme, "http"):
		host = strings.TrimSuffix(host, ":80")
	}
	return host
}

// decodeHex decodes s, which must be exactly 2*len(dst) hex digits, into dst.
func decodeHex(dst []byte, s string) bool {
	if len(s) != 2*len(dst) {
		return false
	}
	for i := range dst {
		hi, ok1 := unhex(s[2*i])
		lo, ok2 := unhex(s[2*i+1])
		if !ok1 || !ok2 {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

// constantTimeEqual compares a and b in time that depends only on their
// lengths.
func constantTimeEqual(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	var d byte
	for i := 0; i < len(a); i++ {
		d |= a[i] ^ b[i]
	}
	return subtle.ConstantTimeByteEq(d, 0) == 1
}

// presignQuery holds the authentication parameters of a presigned URL,
// decoded; each is the first occurrence.
type presignQuery struct {
	algorithm, credential, date, expires, signedHeaders, signature, token, contentSHA256 string
}

func parsePresignQuery(raw string) presignQuery {
	var q presignQuery
	for rest := raw; rest != ""; {
		var part string
		part, rest, _ = strings.Cut(rest, "&")
		k, val, _ := strings.Cut(part, "=")
		var dst *string
		switch unescapeQuery(k) {
		case paramAlgorithm:
			dst = &q.algorithm
		case paramCredential:
			dst = &q.credential
		case paramDate:
			dst = &q.date
		case paramExpires:
			dst = &q.expires
		case paramSignedHeaders:
			dst = &q.signedHeaders
		case paramSignature:
			dst = &q.signature
		case paramSecurityToken:
			dst = &q.token
		case paramContentSHA256:
			dst = &q.contentSHA256
		default:
			continue
		}
		if *dst == "" {
			*dst = unescapeQuery(val)
		}
	}
	return q
}

// queryParam returns the first value of the query parameter named key.
func queryParam(raw, key string) (string, bool) {
	for rest := raw; rest != ""; {
		var part string
		part, rest, _ = strings.Cut(rest, "&")
		k, val, _ := strings.Cut(part, "=")
		if unescapeQuery(k) == key {
			return unescapeQuery(val), true
		}
	}
	return "", false
}

// unescapeQuery decodes a query component, allocating only when it has
// escapes; an invalid escape leaves it as it is.
func unescapeQuery(s string) string {
	if !strings.ContainsAny(s, "%+") {
		return s
	}
	u, err := url.QueryUnescape(s)
	if err != nil {
		return s
	}
	return u
}
