package route

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// ACL filter, action and redirect names, as spelled by the Scaleway Load
// Balancer API v1 (and by config.ACL).
const (
	ACLFilterNone       = "acl_http_filter_none"
	ACLFilterPathBegin  = "path_begin"
	ACLFilterPathEnd    = "path_end"
	ACLFilterRegex      = "regex"
	ACLFilterHeader     = "http_header_match"
	ACLActionAllow      = "allow"
	ACLActionDeny       = "deny"
	ACLActionRedirect   = "redirect"
	ACLRedirectLocation = "location"
	ACLRedirectScheme   = "scheme"
)

// ErrInvalidACL is matched (errors.Is) by every error of CompileACLs.
var ErrInvalidACL = errors.New("route: invalid acl")

// ACLSpec is one ACL as configured, field for field the Scaleway shape of
// config.ACL flattened (match.* and action.redirect.*), so that package route
// does not import config. Empty strings take the Scaleway defaults:
// HTTPFilter "" is ACLFilterNone, Action "" is ACLActionAllow, RedirectType
// "" is ACLRedirectLocation, RedirectCode 0 is 302.
type ACLSpec struct {
	Name  string
	Index int // applied in ascending Index, then Name, then slice order

	// IPSubnet lists client addresses ("192.0.2.7", "2001:db8::1") and CIDRs
	// ("10.0.0.0/8", "2001:db8::/32"); empty matches every client.
	IPSubnet []string
	// HTTPFilter is one of the ACLFilter* names (HTTP frontends only).
	HTTPFilter string
	// HTTPFilterValue holds the candidates; any one of them matching is enough.
	HTTPFilterValue []string
	// HTTPFilterOption is the header name of ACLFilterHeader.
	HTTPFilterOption string
	// Invert negates the whole match (ip_subnet and HTTP filter together).
	Invert bool

	Action         string // ACLActionAllow, ACLActionDeny or ACLActionRedirect
	RedirectType   string // ACLRedirectLocation or ACLRedirectScheme
	RedirectTarget string
	RedirectCode   int // 301, 302, 303, 307 or 308
}

// ACLMode says which frontend a set of ACLs is compiled for.
type ACLMode uint8

const (
	// ACLModeHTTP allows every filter and action.
	ACLModeHTTP ACLMode = iota
	// ACLModeTCP allows only ip_subnet conditions and the allow and deny
	// actions: a TCP frontend sees no path, header or HTTP response.
	ACLModeTCP
)

// ACLError is a CompileACLs error. It names the ACL (Pos in the slice given
// to CompileACLs, Name and Index) and the field, with the JSON path of
// config.ACL ("match.ip_subnet[2]", "action.redirect.code"), so the API can
// point at it. It matches ErrInvalidACL and unwraps to Err when there is one.
type ACLError struct {
	Pos    int
	Name   string
	Index  int
	Field  string
	Reason string
	Err    error // the parser's error (netip, regexp), or nil
}

func (e *ACLError) Error() string {
	var b strings.Builder
	b.WriteString("route: acl ")
	if e.Name != "" {
		b.WriteString(strconv.Quote(e.Name))
	} else {
		b.WriteString("#" + strconv.Itoa(e.Pos))
	}
	b.WriteString(" (index " + strconv.Itoa(e.Index) + "): " + e.Field + ": " + e.Reason)
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

// Unwrap returns ErrInvalidACL and the underlying error, if any.
func (e *ACLError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrInvalidACL}
	}
	return []error{ErrInvalidACL, e.Err}
}

// ACLAction is what a Verdict tells the proxy to do. The zero value is
// ACLAllow.
type ACLAction uint8

const (
	// ACLAllow lets the request or connection through.
	ACLAllow ACLAction = iota
	// ACLDeny answers 403 (HTTP) or closes the connection (TCP).
	ACLDeny
	// ACLRedirect answers Verdict.Status with the Location given by
	// Verdict.AppendLocation (HTTP only).
	ACLRedirect
)

func (a ACLAction) String() string {
	switch a {
	case ACLAllow:
		return ACLActionAllow
	case ACLDeny:
		return ACLActionDeny
	case ACLRedirect:
		return ACLActionRedirect
	}
	return "ACLAction(" + strconv.Itoa(int(a)) + ")"
}

// Verdict is the outcome of ACLs.Eval. The zero Verdict allows and matched
// no ACL. It is a small value that points into the immutable ACLs, so it is
// returned without allocation and stays valid as long as they are reachable.
type Verdict struct {
	Action ACLAction
	rule   *aclRule
}

// Matched reports whether an ACL decided (false: no ACL matched, allowed by
// default).
func (v Verdict) Matched() bool { return v.rule != nil }

// Name returns the name of the deciding ACL, or "".
func (v Verdict) Name() string {
	if v.rule == nil {
		return ""
	}
	return v.rule.name
}

// Index returns the index of the deciding ACL, or -1 when none matched.
func (v Verdict) Index() int {
	if v.rule == nil {
		return -1
	}
	return v.rule.index
}

// Status returns the HTTP status to answer: 403 for ACLDeny, the redirect
// code (default 302) for ACLRedirect, and 0 for ACLAllow.
func (v Verdict) Status() int {
	switch v.Action {
	case ACLDeny:
		return 403
	case ACLRedirect:
		if v.rule != nil {
			return v.rule.code
		}
		return 302
	}
	return 0
}

// AppendLocation appends the Location of a redirect verdict to dst and
// returns it; for other verdicts it returns dst unchanged. It allocates only
// if dst lacks capacity.
//
// scheme is the scheme the request came in with ("http" or "https"), host
// its Host header as received (with any port), pathAndQuery its origin-form
// target ("/a/b?x=1"; "" is taken as "/").
//
// A scheme redirect yields target + "://" + host + pathAndQuery, as
// HAProxy's "redirect scheme" does: the port in host is kept. A location
// redirect yields the target with the Scaleway placeholders {{scheme}},
// {{host}}, {{path}} (the path, without the query) and {{query}} (the query,
// without the "?") replaced; a target without placeholders is used as
// given. Bytes taken from the request that are spaces, control characters
// or DEL are percent-encoded, so the result is always a valid header value.
func (v Verdict) AppendLocation(dst, scheme, host, pathAndQuery []byte) []byte {
	if v.Action != ACLRedirect || v.rule == nil {
		return dst
	}
	if len(pathAndQuery) == 0 {
		pathAndQuery = slash
	}
	r := v.rule
	if r.redirectScheme {
		dst = append(dst, r.target...)
		dst = append(dst, "://"...)
		dst = AppendSafe(dst, host)
		return AppendSafe(dst, pathAndQuery)
	}
	path, query := pathAndQuery, []byte(nil)
	if i := bytes.IndexByte(pathAndQuery, '?'); i >= 0 {
		path, query = pathAndQuery[:i], pathAndQuery[i+1:]
	}
	for _, p := range r.location {
		switch p.kind {
		case partLiteral:
			dst = append(dst, p.lit...)
		case partScheme:
			dst = AppendSafe(dst, scheme)
		case partHost:
			dst = AppendSafe(dst, host)
		case partPath:
			dst = AppendSafe(dst, path)
		case partQuery:
			dst = AppendSafe(dst, query)
		}
	}
	return dst
}

var slash = []byte("/")

const hexDigits = "0123456789ABCDEF"

// AppendSafe appends s to dst, percent-encoding the bytes that may not
// appear in a URI nor safely in a header value (spaces, control characters
// and DEL), and returns it; the proxies build redirect Locations with it.
// It allocates only if dst lacks capacity.
func AppendSafe(dst, s []byte) []byte {
	for _, c := range s {
		if c <= ' ' || c == 0x7f {
			dst = append(dst, '%', hexDigits[c>>4], hexDigits[c&15])
			continue
		}
		dst = append(dst, c)
	}
	return dst
}

// ACLs is the compiled, immutable ACL list of one frontend. It is safe for
// concurrent use. A nil *ACLs allows everything.
//
// Eval is on the hot path and does not allocate (see BenchmarkACLEval; a
// regex filter uses regexp's internal pooled matchers, which allocate only
// while the pool warms up). Its cost is linear in the number of ACLs it
// visits before the first match; each ip_subnet test is a binary search over
// the ACL's merged address ranges, so it grows with the logarithm of the
// number of subnets.
type ACLs struct {
	rules []aclRule // sorted by index, then name, stably
}

type filterKind uint8

const (
	filterNone filterKind = iota
	filterPathBegin
	filterPathEnd
	filterRegex
	filterHeader
)

type partKind uint8

const (
	partLiteral partKind = iota
	partScheme
	partHost
	partPath
	partQuery
)

type locationPart struct {
	kind partKind
	lit  string
}

// aclRule is a compiled ACL.
type aclRule struct {
	name   string
	index  int
	ips    ipSet // nil: every client
	filter filterKind
	values []string         // path_begin, path_end, http_header_match
	res    []*regexp.Regexp // regex
	header string           // lower-case name, http_header_match
	invert bool

	action         ACLAction
	code           int
	redirectScheme bool           // else a location redirect
	target         string         // scheme redirect: the scheme, lower case
	location       []locationPart // location redirect
}

// CompileACLs checks and compiles specs for a frontend of the given mode.
// It copies what it keeps. An empty specs gives ACLs that allow everything.
// Errors are *ACLError (errors.Is ErrInvalidACL) naming the first bad field:
// a negative index; an ip_subnet entry that is not an address or CIDR (or
// has a zone); an unknown http_filter; a filter without values, or values
// or an option without a filter; an empty path or regex value; an invalid
// RE2 regexp; a missing or invalid header name; an unknown action or
// redirect type; a redirect without target, with a target that is not a
// URI scheme (scheme redirect) or not printable ASCII or with an unknown
// {{placeholder}} (location redirect); a redirect code other than 301, 302,
// 303, 307 or 308; and on ACLModeTCP any HTTP filter or a redirect.
func CompileACLs(specs []ACLSpec, mode ACLMode) (*ACLs, error) {
	a := &ACLs{rules: make([]aclRule, 0, len(specs))}
	// Interned header names make headerCache's comparison a pointer check.
	names := make(map[string]string)
	for i := range specs {
		r, err := compileACL(&specs[i], mode)
		if err != nil {
			err.Pos, err.Name, err.Index = i, specs[i].Name, specs[i].Index
			return nil, err
		}
		if r.header != "" {
			if n, ok := names[r.header]; ok {
				r.header = n
			} else {
				names[r.header] = r.header
			}
		}
		a.rules = append(a.rules, r)
	}
	// The order of control's ACL objects: index, then name.
	slices.SortStableFunc(a.rules, func(x, y aclRule) int {
		if c := cmp.Compare(x.index, y.index); c != 0 {
			return c
		}
		return strings.Compare(x.name, y.name)
	})
	return a, nil
}

func aclErr(field, reason string, err error) *ACLError {
	return &ACLError{Field: field, Reason: reason, Err: err}
}

func compileACL(s *ACLSpec, mode ACLMode) (aclRule, *ACLError) {
	r := aclRule{name: s.Name, index: s.Index, invert: s.Invert}
	if s.Index < 0 {
		return r, aclErr("index", "must be 0 or more", nil)
	}
	if len(s.IPSubnet) > 0 {
		ips, err := compileIPSet(s.IPSubnet)
		if err != nil {
			return r, err
		}
		r.ips = ips
	}
	if err := r.compileFilter(s, mode); err != nil {
		return r, err
	}
	if err := r.compileAction(s, mode); err != nil {
		return r, err
	}
	return r, nil
}

func (r *aclRule) compileFilter(s *ACLSpec, mode ACLMode) *ACLError {
	switch s.HTTPFilter {
	case "", ACLFilterNone:
		r.filter = filterNone
	case ACLFilterPathBegin:
		r.filter = filterPathBegin
	case ACLFilterPathEnd:
		r.filter = filterPathEnd
	case ACLFilterRegex:
		r.filter = filterRegex
	case ACLFilterHeader:
		r.filter = filterHeader
	default:
		return aclErr("match.http_filter", "unknown filter "+strconv.Quote(s.HTTPFilter)+
			" (want acl_http_filter_none, path_begin, path_end, regex or http_header_match)", nil)
	}
	if r.filter == filterNone {
		if len(s.HTTPFilterValue) > 0 {
			return aclErr("match.http_filter_value", "must be empty without an http_filter", nil)
		}
		if s.HTTPFilterOption != "" {
			return aclErr("match.http_filter_option", "is only used by http_header_match", nil)
		}
		return nil
	}
	if mode == ACLModeTCP {
		return aclErr("match.http_filter", "not supported on a TCP frontend: only ip_subnet applies", nil)
	}
	if len(s.HTTPFilterValue) == 0 {
		return aclErr("match.http_filter_value", "is empty: "+s.HTTPFilter+" needs at least one value", nil)
	}
	if r.filter != filterHeader && s.HTTPFilterOption != "" {
		return aclErr("match.http_filter_option", "is only used by http_header_match", nil)
	}
	for j, v := range s.HTTPFilterValue {
		if v == "" && r.filter != filterHeader {
			return aclErr("match.http_filter_value["+strconv.Itoa(j)+"]", "is empty", nil)
		}
	}
	switch r.filter {
	case filterRegex:
		// Each value stays its own regexp: joining them into one
		// alternation would change the meaning of an unterminated \Q.
		r.res = make([]*regexp.Regexp, len(s.HTTPFilterValue))
		for j, v := range s.HTTPFilterValue {
			re, err := regexp.Compile(v)
			if err != nil {
				return aclErr("match.http_filter_value["+strconv.Itoa(j)+"]", "invalid regexp", err)
			}
			r.res[j] = re
		}
	case filterHeader:
		if s.HTTPFilterOption == "" {
			return aclErr("match.http_filter_option", "is empty: http_header_match needs the header name", nil)
		}
		if !httpguts.ValidHeaderFieldName(s.HTTPFilterOption) {
			return aclErr("match.http_filter_option", strconv.Quote(s.HTTPFilterOption)+" is not a valid header name", nil)
		}
		r.header = strings.ToLower(s.HTTPFilterOption)
		r.values = slices.Clone(s.HTTPFilterValue)
	default:
		r.values = slices.Clone(s.HTTPFilterValue)
	}
	return nil
}

func (r *aclRule) compileAction(s *ACLSpec, mode ACLMode) *ACLError {
	switch s.Action {
	case "", ACLActionAllow:
		r.action = ACLAllow
		return nil
	case ACLActionDeny:
		r.action = ACLDeny
		return nil
	case ACLActionRedirect:
		r.action = ACLRedirect
	default:
		return aclErr("action.type", "unknown action "+strconv.Quote(s.Action)+" (want allow, deny or redirect)", nil)
	}
	if mode == ACLModeTCP {
		return aclErr("action.type", "redirect is not supported on a TCP frontend", nil)
	}
	switch s.RedirectCode {
	case 0:
		r.code = 302
	case 301, 302, 303, 307, 308:
		r.code = s.RedirectCode
	default:
		return aclErr("action.redirect.code", strconv.Itoa(s.RedirectCode)+" is not a redirect code (want 301, 302, 303, 307 or 308)", nil)
	}
	if s.RedirectTarget == "" {
		return aclErr("action.redirect.target", "is empty: a redirect needs a target", nil)
	}
	switch s.RedirectType {
	case "", ACLRedirectLocation:
		parts, err := parseLocation(s.RedirectTarget)
		if err != nil {
			return err
		}
		r.location = parts
	case ACLRedirectScheme:
		if !isScheme(s.RedirectTarget) {
			return aclErr("action.redirect.target", strconv.Quote(s.RedirectTarget)+
				" is not a URI scheme (a letter, then letters, digits, '+', '-' or '.')", nil)
		}
		r.redirectScheme = true
		r.target = strings.ToLower(s.RedirectTarget)
	default:
		return aclErr("action.redirect.type", "unknown redirect type "+strconv.Quote(s.RedirectType)+" (want location or scheme)", nil)
	}
	return nil
}

// isScheme reports whether s is an RFC 3986 scheme.
func isScheme(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20 // lower case for letters
		switch {
		case 'a' <= c && c <= 'z':
		case i > 0 && ('0' <= s[i] && s[i] <= '9' || s[i] == '+' || s[i] == '-' || s[i] == '.'):
		default:
			return false
		}
	}
	return s != ""
}

// parseLocation splits a location target into literals and placeholders.
// Literals must be printable ASCII without spaces: anything else has to be
// percent-encoded in a URI, and CR or LF would split the response header.
func parseLocation(t string) ([]locationPart, *ACLError) {
	const field = "action.redirect.target"
	for i := 0; i < len(t); i++ {
		if c := t[i]; c <= ' ' || c >= 0x7f {
			return nil, aclErr(field, "byte "+strconv.Itoa(i)+" is a space, control or non-ASCII character; percent-encode it", nil)
		}
	}
	var parts []locationPart
	rest := t
	for rest != "" {
		i := strings.Index(rest, "{{")
		if i < 0 {
			parts = append(parts, locationPart{kind: partLiteral, lit: rest})
			break
		}
		if i > 0 {
			parts = append(parts, locationPart{kind: partLiteral, lit: rest[:i]})
		}
		end := strings.Index(rest[i+2:], "}}")
		if end < 0 {
			return nil, aclErr(field, "unclosed placeholder \"{{\"", nil)
		}
		name := rest[i+2 : i+2+end]
		var k partKind
		switch name {
		case "scheme":
			k = partScheme
		case "host":
			k = partHost
		case "path":
			k = partPath
		case "query":
			k = partQuery
		default:
			return nil, aclErr(field, "unknown placeholder {{"+name+"}} (want {{scheme}}, {{host}}, {{path}} or {{query}})", nil)
		}
		parts = append(parts, locationPart{kind: k})
		rest = rest[i+2+end+2:]
	}
	return parts, nil
}

// Len returns the number of ACLs.
func (a *ACLs) Len() int {
	if a == nil {
		return 0
	}
	return len(a.rules)
}

// Eval returns the verdict of the first ACL, in ascending index (then
// name, then the order given to CompileACLs), that matches a request or
// connection; the zero Verdict (allow) if none does.
//
// src is the client address (an IPv4-mapped IPv6 address counts as IPv4;
// an invalid address matches no ip_subnet list, only ACLs without one).
// path is the request path; anything from the first '?' is ignored, and it
// is compared as received (not percent-decoded nor cleaned, like HAProxy's
// path fetch). h gives the request headers and may be nil: a header filter
// then does not match. For ACLModeTCP pass nil path and h.
//
// An ACL matches when src is in one of its ip_subnet entries (or it has
// none) and its HTTP filter matches (or it has none): path_begin when a
// value is a prefix of path, path_end a suffix, regex when an RE2 regexp
// matches anywhere in path, http_header_match when the header named by
// http_filter_option is present and equal, byte for byte, to a value.
// invert negates that whole result. Eval is on the hot path: it does not
// allocate and does not lock.
func (a *ACLs) Eval(src netip.Addr, path []byte, h Headers) Verdict {
	if a == nil || len(a.rules) == 0 {
		return Verdict{}
	}
	if i := bytes.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	ip, ipOK := addrKey(src)
	hc := headerCache{h: h}
	for i := range a.rules {
		r := &a.rules[i]
		if r.matches(ip, ipOK, path, &hc) != r.invert {
			return Verdict{Action: r.action, rule: r}
		}
	}
	return Verdict{}
}

// headerCache remembers the last header Eval looked up, so that a run of
// ACLs on the same header costs one Headers.Get.
type headerCache struct {
	h     Headers
	name  string
	value []byte
	ok    bool
}

func (c *headerCache) get(name string) ([]byte, bool) {
	if c.h == nil {
		return nil, false
	}
	if c.name != name {
		c.value, c.ok = c.h.Get(name)
		c.name = name
	}
	return c.value, c.ok
}

func (r *aclRule) matches(ip u128, ipOK bool, path []byte, hc *headerCache) bool {
	if r.ips != nil && (!ipOK || !r.ips.contains(ip)) {
		return false
	}
	switch r.filter {
	case filterNone:
		return true
	case filterPathBegin:
		for _, v := range r.values {
			if len(path) >= len(v) && string(path[:len(v)]) == v {
				return true
			}
		}
	case filterPathEnd:
		for _, v := range r.values {
			if len(path) >= len(v) && string(path[len(path)-len(v):]) == v {
				return true
			}
		}
	case filterRegex:
		for _, re := range r.res {
			if re.Match(path) {
				return true
			}
		}
	case filterHeader:
		got, ok := hc.get(r.header)
		if !ok {
			return false
		}
		for _, v := range r.values {
			if string(got) == v {
				return true
			}
		}
	}
	return false
}

// u128 is an IPv6 address (IPv4 as IPv4-mapped) as a 128-bit integer.
type u128 struct{ hi, lo uint64 }

func (x u128) less(y u128) bool { return x.hi < y.hi || x.hi == y.hi && x.lo < y.lo }

func addrKey(a netip.Addr) (u128, bool) {
	if !a.IsValid() {
		return u128{}, false
	}
	b := a.As16() // IPv4 and IPv4-mapped IPv6 give the same bytes
	return u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}, true
}

// ipRange is an inclusive range of addresses.
type ipRange struct{ first, last u128 }

// ipSet is a set of addresses as sorted, disjoint, non-adjacent ranges.
// Every CIDR is a range; IPv4 ones sit in the IPv4-mapped block
// ::ffff:0:0/96, so an IPv6 prefix that covers that block (::/0) also
// matches IPv4 clients, as in HAProxy.
type ipSet []ipRange

func compileIPSet(subnets []string) (ipSet, *ACLError) {
	rs := make([]ipRange, 0, len(subnets))
	for j, s := range subnets {
		p, err := parseSubnet(s)
		if err != nil {
			return nil, aclErr("match.ip_subnet["+strconv.Itoa(j)+"]", "invalid address or CIDR "+strconv.Quote(s), err)
		}
		first, _ := addrKey(p.Addr())
		bits := p.Bits()
		if p.Addr().Is4() {
			bits += 96
		}
		m := mask(bits)
		first = u128{first.hi & m.hi, first.lo & m.lo}
		rs = append(rs, ipRange{first, u128{first.hi | ^m.hi, first.lo | ^m.lo}})
	}
	slices.SortFunc(rs, func(x, y ipRange) int {
		switch {
		case x.first.less(y.first):
			return -1
		case y.first.less(x.first):
			return 1
		}
		return 0
	})
	merged := rs[:1]
	for _, r := range rs[1:] {
		last := &merged[len(merged)-1]
		if next, ok := last.last.inc(); !ok || !next.less(r.first) {
			// Overlapping or adjacent (or last reaches the top).
			if last.last.less(r.last) {
				last.last = r.last
			}
			continue
		}
		merged = append(merged, r)
	}
	return ipSet(slices.Clip(merged)), nil
}

func (x u128) inc() (u128, bool) {
	if x.lo != ^uint64(0) {
		return u128{x.hi, x.lo + 1}, true
	}
	if x.hi != ^uint64(0) {
		return u128{x.hi + 1, 0}, true
	}
	return u128{}, false
}

// mask returns the network mask of a prefix length in 0..128.
func mask(bits int) u128 {
	if bits >= 64 {
		return u128{^uint64(0), ^uint64(0) << (128 - bits)}
	}
	return u128{^uint64(0) << (64 - bits), 0}
}

var errZone = errors.New("zones are not allowed")

// parseSubnet parses an address (a full-length prefix) or a CIDR. Host
// bits set in a CIDR are ignored ("10.1.2.3/8" is 10.0.0.0/8).
func parseSubnet(s string) (netip.Prefix, error) {
	if strings.IndexByte(s, '/') >= 0 {
		return netip.ParsePrefix(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	if a.Zone() != "" {
		return netip.Prefix{}, errZone
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// contains reports whether ip is in s: a binary search for the last range
// starting at or below ip.
func (s ipSet) contains(ip u128) bool {
	r := s
	lo, hi := 0, len(r)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if ip.less(r[m].first) {
			hi = m
		} else {
			lo = m + 1
		}
	}
	return lo > 0 && !r[lo-1].last.less(ip)
}
