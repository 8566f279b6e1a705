package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// ACL enums (Scaleway's names).
const (
	ActionAllow    = "allow"
	ActionDeny     = "deny"
	ActionRedirect = "redirect"

	FilterNone       = "acl_http_filter_none"
	FilterPathBegin  = "path_begin"
	FilterPathEnd    = "path_end"
	FilterRegex      = "regex"
	FilterHeaderEq   = "http_header_match"
	RedirectLocation = "location"
	RedirectScheme   = "scheme"
)

func (v *validator) sticky(bp string, b *Backend) {
	switch b.StickySessions {
	case StickyNone:
		if b.StickySessionsCookieName != "" {
			v.add(bp+".sticky_sessions_cookie_name", "only used with sticky_sessions cookie")
		}
	case StickyCookie:
		if b.ForwardProtocol != ProtocolHTTP {
			v.add(bp+".sticky_sessions", "cookie stickiness needs forward_protocol http (use table for tcp)")
		}
		if b.StickySessionsCookieName == "" {
			v.add(bp+".sticky_sessions_cookie_name", "required with sticky_sessions cookie")
		} else if !httpguts.ValidHeaderFieldName(b.StickySessionsCookieName) || strings.ContainsAny(b.StickySessionsCookieName, "\"") {
			v.add(bp+".sticky_sessions_cookie_name", "%q is not a cookie name", b.StickySessionsCookieName)
		}
		switch strings.ToLower(b.StickySessionsCookieSameSite) {
		case "lax", "strict":
		case "none":
			if !b.StickySessionsCookieSecure {
				v.add(bp+".sticky_sessions_cookie_samesite", "none needs sticky_sessions_cookie_secure (browsers drop it otherwise)")
			}
		default:
			v.add(bp+".sticky_sessions_cookie_samesite", "%q is not one of lax, strict, none", b.StickySessionsCookieSameSite)
		}
	case StickyTable:
		if b.StickySessionsCookieName != "" {
			v.add(bp+".sticky_sessions_cookie_name", "only used with sticky_sessions cookie")
		}
	default:
		v.add(bp+".sticky_sessions", "%q is not one of none, cookie, table", b.StickySessions)
	}
	if b.StickySessionsTTL < 0 {
		v.add(bp+".sticky_sessions_ttl", "%d must not be negative (milliseconds)", b.StickySessionsTTL)
	}
}

func (v *validator) acls(fp string, f *Frontend) {
	names := map[string]bool{}
	for i := range f.ACLs {
		a := &f.ACLs[i]
		ap := fmt.Sprintf("%s.acls[%s]", fp, key(a.Name, i))
		if a.Name != "" {
			v.name(ap+".name", a.Name)
			if names[a.Name] {
				v.add(ap+".name", "duplicate ACL name %q", a.Name)
			}
			names[a.Name] = true
		}
		if a.Index < 0 {
			v.add(ap+".index", "%d must not be negative", a.Index)
		}
		m := &a.Match
		for j, c := range m.IPSubnet {
			if _, err := parseCIDR(c); err != nil {
				v.add(fmt.Sprintf("%s.match.ip_subnet[%d]", ap, j), "%q: %v", c, err)
			}
		}
		switch m.HTTPFilter {
		case "", FilterNone:
			if len(m.HTTPFilterValue) > 0 {
				v.add(ap+".match.http_filter_value", "needs an http_filter")
			}
		case FilterPathBegin, FilterPathEnd, FilterRegex, FilterHeaderEq:
			if f.Protocol == ProtocolTCP {
				v.add(ap+".match.http_filter", "a tcp frontend matches ip_subnet only")
			}
			if len(m.HTTPFilterValue) == 0 {
				v.add(ap+".match.http_filter_value", "required with http_filter %s", m.HTTPFilter)
			}
			for j, val := range m.HTTPFilterValue {
				vp := fmt.Sprintf("%s.match.http_filter_value[%d]", ap, j)
				if m.HTTPFilter == FilterRegex {
					if _, err := regexp.Compile(val); err != nil {
						v.add(vp, "%q is not a regular expression: %v", val, err)
					}
				} else if val == "" || strings.ContainsAny(val, "\x00\r\n") {
					v.add(vp, "%q must be non-empty, without NUL, CR or LF", val)
				}
			}
		default:
			v.add(ap+".match.http_filter", "%q is not one of acl_http_filter_none, path_begin, path_end, regex, http_header_match", m.HTTPFilter)
		}
		if m.HTTPFilter == FilterHeaderEq {
			if !httpguts.ValidHeaderFieldName(m.HTTPFilterOption) {
				v.add(ap+".match.http_filter_option", "%q is not a header field name (http_header_match compares that header)", m.HTTPFilterOption)
			}
		} else if m.HTTPFilterOption != "" {
			v.add(ap+".match.http_filter_option", "only used with http_filter http_header_match")
		}
		switch a.Action.Type {
		case ActionAllow, ActionDeny:
			if a.Action.Redirect != nil {
				v.add(ap+".action.redirect", "only used with action type redirect")
			}
		case ActionRedirect:
			if f.Protocol == ProtocolTCP {
				v.add(ap+".action.type", "a tcp frontend can only allow or deny")
			}
			v.redirect(ap+".action.redirect", a.Action.Redirect)
		default:
			v.add(ap+".action.type", "%q is not one of allow, deny, redirect", a.Action.Type)
		}
	}
}

func (v *validator) redirect(rp string, r *ACLRedirect) {
	if r == nil {
		v.add(rp, "required with action type redirect")
		return
	}
	switch r.Type {
	case RedirectLocation:
		if r.Target == "" || strings.ContainsFunc(r.Target, func(c rune) bool { return c <= ' ' || c == 0x7f }) {
			v.add(rp+".target", "%q must be a URL without spaces or control characters", r.Target)
		}
	case RedirectScheme:
		if r.Target != "http" && r.Target != "https" {
			v.add(rp+".target", "%q is not a scheme (http or https)", r.Target)
		}
	default:
		v.add(rp+".type", "%q is not one of location, scheme", r.Type)
	}
	switch r.Code {
	case 0, 301, 302, 303, 307, 308:
	default:
		v.add(rp+".code", "%d is not one of 301, 302, 303, 307, 308", r.Code)
	}
}

// hopByHop are the header fields a header rule may not touch: they frame
// the message or the connection, which the proxy owns.
var hopByHop = map[string]bool{"connection": true, "keep-alive": true, "proxy-connection": true, "transfer-encoding": true,
	"content-length": true, "te": true, "trailer": true, "upgrade": true}

func (v *validator) headerRules(p string, rules []HeaderRule, proto Protocol) {
	if len(rules) > 0 && proto == ProtocolTCP {
		v.add(p, "header rules need an http frontend")
		return
	}
	for i, r := range rules {
		rp := fmt.Sprintf("%s[%d]", p, i)
		if !httpguts.ValidHeaderFieldName(r.Name) {
			v.add(rp+".name", "%q is not a header field name", r.Name)
		} else if hopByHop[strings.ToLower(r.Name)] {
			v.add(rp+".name", "%s frames the message or the connection: the proxy owns it", r.Name)
		} else if strings.EqualFold(r.Name, "host") {
			v.add(rp+".name", "the Host header is set by the backend's host option")
		}
		switch r.Action {
		case HeaderSet, HeaderAdd:
			if strings.ContainsAny(r.Value, "\x00\r\n") {
				v.add(rp+".value", "contains NUL, CR or LF")
			}
		case HeaderRemove:
			if r.Value != "" {
				v.add(rp+".value", "remove takes no value")
			}
		default:
			v.add(rp+".action", "%q is not one of set, add, remove", r.Action)
		}
	}
}

// parseCIDR accepts a CIDR ("10.0.0.0/8", "2001:db8::/32") or a bare address
// (a /32 or /128).
func parseCIDR(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return p, errors.New("not a CIDR")
		}
		if p.Addr().Zone() != "" {
			return p, errors.New("zones are not allowed")
		}
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, errors.New("not an IP address or CIDR")
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// ParseCIDR is parseCIDR for the packages that compile a config: a CIDR or a
// bare address. Validate has already rejected anything else.
func ParseCIDR(s string) (netip.Prefix, error) { return parseCIDR(s) }

// validHostPort accepts "name", "name:port", "ip", "ip:port" and "[v6]:port".
func validHostPort(s string) bool {
	host, port := s, ""
	if h, p, err := net.SplitHostPort(s); err == nil {
		host, port = h, p
		if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
	}
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return false
		}
	}
	return ValidHostPattern(host) == nil && !strings.HasPrefix(host, "*")
}
