package route

import (
	"bytes"
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"
)

const (
	// maxName is the longest normalised request host, in bytes, that Match
	// looks up. Longer names are not valid DNS names; they still reach the
	// any-host rules. It also sizes the stack buffer Match lower-cases into.
	maxName = 255
	// maxPattern is the longest host pattern NewTable accepts (the DNS limit
	// for a name in text form without its trailing dot).
	maxPattern = 253
	// maxLabel is the DNS limit for one label.
	maxLabel = 63
)

// HostError reports why a host pattern is invalid. Its message names the
// pattern and the reason, as in `"*.": empty label`, so that config
// validation can prefix it with the field that holds the pattern.
type HostError struct {
	Pattern string
	Reason  string
}

// Error returns `"<pattern>": <reason>`.
func (e *HostError) Error() string { return strconv.Quote(e.Pattern) + ": " + e.Reason }

// ValidHost reports whether pattern is a host NewTable accepts: "" (any
// host), a DNS name ("example.com", any case, one optional trailing dot), a
// wildcard whose "*" is the whole leftmost label ("*.example.com"), or an
// IPv6 literal with or without brackets ("[2001:db8::1]", "::1"). Labels are
// 1 to 63 bytes of letters, digits, '-' and '_'; the name is at most 253
// bytes. A port is never part of a pattern: Match strips the request's port.
// The error, if any, is a *HostError.
func ValidHost(pattern string) error {
	_, err := parsePattern(pattern)
	return err
}

// hostKind says which lookup a rule's host pattern lives in.
type hostKind uint8

const (
	kindAny      hostKind = iota // "": every request
	kindName                     // "example.com": the name (and, with MatchSubdomains, its subdomains)
	kindWildcard                 // "*.example.com": names strictly below example.com
	kindIPv6                     // "[2001:db8::1]": that address, in any text form
)

// pattern is a parsed, normalised host pattern.
type pattern struct {
	kind hostKind
	name string   // kindName: the name; kindWildcard: the suffix after "*."; lower-case, no trailing dot
	ip   [16]byte // kindIPv6
}

func parsePattern(p string) (pattern, error) {
	if p == "" {
		return pattern{kind: kindAny}, nil
	}
	bad := func(reason string) (pattern, error) {
		return pattern{}, &HostError{Pattern: p, Reason: reason}
	}
	if p[0] == '[' || strings.Count(p, ":") > 1 {
		lit := p
		if p[0] == '[' {
			end := strings.IndexByte(p, ']')
			if end < 0 {
				return bad("missing ']' after IPv6 literal")
			}
			if end != len(p)-1 {
				return bad("unexpected text after IPv6 literal (a port is not allowed)")
			}
			lit = p[1:end]
		}
		if strings.IndexByte(lit, '%') >= 0 {
			return bad("IPv6 zone not allowed")
		}
		a, err := netip.ParseAddr(lit)
		if err != nil || !a.Is6() {
			return bad("invalid IPv6 literal")
		}
		return pattern{kind: kindIPv6, ip: a.As16()}, nil
	}
	if strings.IndexByte(p, ':') >= 0 {
		return bad("a port is not allowed")
	}
	name, kind := p, kindName
	if name == "*" {
		return bad(`wildcard must be "*." followed by a name`)
	}
	if strings.HasPrefix(name, "*.") {
		name, kind = name[2:], kindWildcard
	}
	name = strings.TrimSuffix(name, ".")
	if name == "" {
		return bad("empty label")
	}
	if strings.IndexByte(name, '*') >= 0 {
		return bad(`"*" is allowed only as the whole leftmost label, as in "*.example.com"`)
	}
	if len(name) > maxPattern {
		return bad("longer than " + strconv.Itoa(maxPattern) + " bytes")
	}
	for label := range strings.SplitSeq(name, ".") {
		if label == "" {
			return bad("empty label")
		}
		if len(label) > maxLabel {
			return bad("label longer than " + strconv.Itoa(maxLabel) + " bytes")
		}
		for i := 0; i < len(label); i++ {
			if c := label[i]; !isLabelByte(c) {
				r, size := utf8.DecodeRuneInString(label[i:])
				if r == utf8.RuneError && size <= 1 {
					return bad("invalid UTF-8")
				}
				if c >= utf8.RuneSelf {
					return bad("non-ASCII character " + strconv.QuoteRune(r) + " (use the xn-- form)")
				}
				return bad("invalid character " + strconv.QuoteRune(r))
			}
		}
	}
	return pattern{kind: kind, name: strings.ToLower(name)}, nil
}

func isLabelByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

// nameKind classifies a normalised request host.
type nameKind uint8

const (
	nameNone nameKind = iota // empty, malformed or too long: only any-host rules apply
	nameDNS                  // a name to look up, lower-cased
	nameIPv6                 // an IPv6 literal, parsed
)

// normalize turns a request host (a Host header or an SNI name) into what
// Match looks up: ASCII lower-case, without a ":port", without one trailing
// dot. IPv6 literals ("[::1]:8080", or bare "::1") are parsed so that every
// text form of an address matches. The name is lower-cased into buf, which
// the caller keeps on its stack; nothing allocates.
func normalize(buf *[maxName]byte, host []byte) ([]byte, [16]byte, nameKind) {
	var ip [16]byte
	if len(host) == 0 {
		return nil, ip, nameNone
	}
	if host[0] == '[' {
		end := bytes.IndexByte(host, ']')
		if end < 0 || end+1 < len(host) && host[end+1] != ':' {
			return nil, ip, nameNone
		}
		ip, ok := parseIPv6(host[1:end])
		if !ok {
			return nil, ip, nameNone
		}
		return nil, ip, nameIPv6
	}
	if i := bytes.IndexByte(host, ':'); i >= 0 {
		if bytes.IndexByte(host[i+1:], ':') >= 0 {
			// Two colons: a bare IPv6 literal, which has no port to strip.
			ip, ok := parseIPv6(host)
			if !ok {
				return nil, ip, nameNone
			}
			return nil, ip, nameIPv6
		}
		host = host[:i]
	}
	if n := len(host); n > 0 && host[n-1] == '.' {
		host = host[:n-1]
	}
	if len(host) == 0 || len(host) > maxName {
		return nil, ip, nameNone
	}
	for i, c := range host {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	return buf[:len(host)], ip, nameDNS
}
