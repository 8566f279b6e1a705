package route

import (
	"errors"
	"math/rand"
	"net/netip"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
	"testing"
)

func mustACLs(t testing.TB, mode ACLMode, specs ...ACLSpec) *ACLs {
	t.Helper()
	a, err := CompileACLs(specs, mode)
	if err != nil {
		t.Fatalf("CompileACLs: %v", err)
	}
	return a
}

func addr(s string) netip.Addr {
	if s == "" {
		return netip.Addr{}
	}
	return netip.MustParseAddr(s)
}

type aclReq struct {
	src, path string
	h         *testHeaders // nil: Eval gets a nil Headers
	want      string       // "allow", "deny", "redirect" or "-" (no ACL matched)
	name      string       // the deciding ACL, when want is not "-"
}

func (r aclReq) headers() Headers {
	if r.h == nil {
		return nil
	}
	return r.h
}

func checkEval(t *testing.T, a *ACLs, specs []ACLSpec, reqs []aclReq) {
	t.Helper()
	for _, r := range reqs {
		v := a.Eval(addr(r.src), []byte(r.path), r.headers())
		got := "-"
		if v.Matched() {
			got = v.Action.String()
		}
		if got != r.want || (v.Matched() && v.Name() != r.name) {
			t.Errorf("Eval(%s, %q, %v) = %s by %q; want %s by %q", r.src, r.path, r.h, got, v.Name(), r.want, r.name)
		}
		if !v.Matched() && (v.Action != ACLAllow || v.Index() != -1 || v.Status() != 0) {
			t.Errorf("Eval(%s, %q): unmatched verdict %+v is not the zero allow", r.src, r.path, v)
		}
		if specs != nil {
			ref := refEval(specs, addr(r.src), r.path, r.headers())
			if ref < 0 && v.Matched() || ref >= 0 && (v.Index() != specs[ref].Index || v.Name() != specs[ref].Name) {
				t.Errorf("Eval(%s, %q) decided by %q, reference says position %d", r.src, r.path, v.Name(), ref)
			}
		}
	}
}

func TestACLOrderAndDefault(t *testing.T) {
	specs := []ACLSpec{
		{Name: "late-allow", Index: 9},
		{Name: "deny-admin", Index: 2, HTTPFilter: ACLFilterPathBegin, HTTPFilterValue: []string{"/admin"}, Action: ACLActionDeny},
		{Name: "allow-office", Index: 1, IPSubnet: []string{"192.0.2.0/24"}, Action: ACLActionAllow},
		{Name: "tie-b", Index: 5, HTTPFilter: ACLFilterPathEnd, HTTPFilterValue: []string{".php"}, Action: ACLActionAllow},
		{Name: "tie-a", Index: 5, HTTPFilter: ACLFilterPathEnd, HTTPFilterValue: []string{".php"}, Action: ACLActionDeny},
		{Name: "", Index: 7, HTTPFilter: ACLFilterPathEnd, HTTPFilterValue: []string{".js"}, Action: ACLActionDeny},
		{Name: "", Index: 7, HTTPFilter: ACLFilterPathEnd, HTTPFilterValue: []string{".js"}, Action: ACLActionAllow},
	}
	a := mustACLs(t, ACLModeHTTP, specs...)
	if a.Len() != 7 {
		t.Fatalf("Len() = %d", a.Len())
	}
	checkEval(t, a, specs, []aclReq{
		{src: "192.0.2.9", path: "/admin", want: "allow", name: "allow-office"}, // index 1 before 2
		{src: "198.51.100.1", path: "/admin/x", want: "deny", name: "deny-admin"},
		{src: "198.51.100.1", path: "/x.php", want: "deny", name: "tie-a"}, // equal index: by name
		{src: "198.51.100.1", path: "/x.js", want: "deny", name: ""},       // equal index and name: slice order
		{src: "198.51.100.1", path: "/", want: "allow", name: "late-allow"},
	})

	none := mustACLs(t, ACLModeHTTP)
	checkEval(t, none, nil, []aclReq{{src: "192.0.2.1", path: "/", want: "-"}})
	var nilACLs *ACLs
	if v := nilACLs.Eval(addr("192.0.2.1"), nil, nil); v.Matched() || v.Action != ACLAllow || nilACLs.Len() != 0 {
		t.Errorf("nil ACLs: %+v", v)
	}
	onlyDeny := mustACLs(t, ACLModeHTTP, ACLSpec{Name: "d", IPSubnet: []string{"10.0.0.0/8"}, Action: ACLActionDeny})
	checkEval(t, onlyDeny, nil, []aclReq{
		{src: "10.1.1.1", path: "/", want: "deny", name: "d"},
		{src: "11.1.1.1", path: "/", want: "-"},
	})
}

func TestACLIPSubnet(t *testing.T) {
	specs := []ACLSpec{
		{Name: "v4", Index: 0, IPSubnet: []string{"10.0.0.0/8", "192.0.2.7", "172.16.5.9/12"}, Action: ACLActionDeny},
		{Name: "v6", Index: 1, IPSubnet: []string{"2001:db8::/32", "fe80::1"}, Action: ACLActionDeny},
		{Name: "mapped", Index: 2, IPSubnet: []string{"::ffff:203.0.113.0/120"}, Action: ACLActionDeny},
		{Name: "all-v6", Index: 3, IPSubnet: []string{"::/0"}, Action: ACLActionAllow},
	}
	a := mustACLs(t, ACLModeHTTP, specs...)
	checkEval(t, a, specs, []aclReq{
		{src: "10.255.255.255", want: "deny", name: "v4"},
		{src: "10.0.0.0", want: "deny", name: "v4"},
		{src: "11.0.0.0", want: "allow", name: "all-v6"}, // ::/0 covers the IPv4-mapped block
		{src: "9.255.255.255", want: "allow", name: "all-v6"},
		{src: "::ffff:10.1.2.3", want: "deny", name: "v4"}, // mapped client counts as IPv4
		{src: "192.0.2.7", want: "deny", name: "v4"},       // a bare address is a /32
		{src: "192.0.2.8", want: "allow", name: "all-v6"},
		{src: "172.31.0.1", want: "deny", name: "v4"}, // host bits of 172.16.5.9/12 ignored
		{src: "172.32.0.1", want: "allow", name: "all-v6"},
		{src: "2001:db8:ffff::1", want: "deny", name: "v6"},
		{src: "fe80::1", want: "deny", name: "v6"},
		{src: "fe80::1%eth0", want: "deny", name: "v6"}, // the client's zone is ignored
		{src: "fe80::2", want: "allow", name: "all-v6"},
		{src: "203.0.113.200", want: "deny", name: "mapped"}, // a mapped CIDR matches IPv4 clients
		{src: "", want: "-"},                                 // invalid client address: no ip_subnet matches
	})

	// 0.0.0.0/0 is the IPv4 block only.
	v4all := mustACLs(t, ACLModeHTTP, ACLSpec{Name: "any4", IPSubnet: []string{"0.0.0.0/0"}, Action: ACLActionDeny})
	checkEval(t, v4all, nil, []aclReq{
		{src: "255.255.255.255", want: "deny", name: "any4"},
		{src: "::ffff:1.2.3.4", want: "deny", name: "any4"},
		{src: "::1", want: "-"},
		{src: "::", want: "-"},
	})
	// Without ip_subnet an invalid address still reaches HTTP filters.
	nosub := mustACLs(t, ACLModeHTTP, ACLSpec{Name: "p", HTTPFilter: ACLFilterPathBegin, HTTPFilterValue: []string{"/"}, Action: ACLActionDeny})
	checkEval(t, nosub, nil, []aclReq{{src: "", path: "/x", want: "deny", name: "p"}})
}

func TestACLFilters(t *testing.T) {
	specs := []ACLSpec{
		{Name: "begin", Index: 0, HTTPFilter: ACLFilterPathBegin, HTTPFilterValue: []string{"/admin", "/private/"}, Action: ACLActionDeny},
		{Name: "end", Index: 1, HTTPFilter: ACLFilterPathEnd, HTTPFilterValue: []string{".env", ".git"}, Action: ACLActionDeny},
		{Name: "re", Index: 2, HTTPFilter: ACLFilterRegex, HTTPFilterValue: []string{`^/v[0-9]+/internal`, `\Q/a.b`}, Action: ACLActionDeny},
		{Name: "hdr", Index: 3, HTTPFilter: ACLFilterHeader, HTTPFilterOption: "X-Block", HTTPFilterValue: []string{"yes", ""}, Action: ACLActionDeny},
		{Name: "rest", Index: 4, Action: ACLActionAllow},
	}
	a := mustACLs(t, ACLModeHTTP, specs...)
	checkEval(t, a, specs, []aclReq{
		{src: "192.0.2.1", path: "/admin", want: "deny", name: "begin"},
		{src: "192.0.2.1", path: "/administrator", want: "deny", name: "begin"}, // a byte prefix, like path_beg
		{src: "192.0.2.1", path: "/Admin", want: "allow", name: "rest"},         // case-sensitive
		{src: "192.0.2.1", path: "/private", want: "allow", name: "rest"},
		{src: "192.0.2.1", path: "/private/x", want: "deny", name: "begin"},
		{src: "192.0.2.1", path: "/x/.env", want: "deny", name: "end"},
		{src: "192.0.2.1", path: "/x/.env?a=b", want: "deny", name: "end"},       // the query is not part of the path
		{src: "192.0.2.1", path: "/x?p=/admin", want: "allow", name: "rest"},     // nor matched as one
		{src: "192.0.2.1", path: "/x/.envy", want: "allow", name: "rest"},        //
		{src: "192.0.2.1", path: "/v12/internal/x", want: "deny", name: "re"},    //
		{src: "192.0.2.1", path: "/x/v12/internal", want: "allow", name: "rest"}, // anchored by the regexp itself
		{src: "192.0.2.1", path: "/z/a.b/c", want: "deny", name: "re"},           // unanchored search, \Q on its own
		{src: "192.0.2.1", path: "/z/axb", want: "allow", name: "rest"},
		{src: "192.0.2.1", path: "/", h: hdr("x-block", "yes"), want: "deny", name: "hdr"}, // name case-insensitive
		{src: "192.0.2.1", path: "/", h: hdr("X-BLOCK", ""), want: "deny", name: "hdr"},    // the empty value
		{src: "192.0.2.1", path: "/", h: hdr("X-Block", "Yes"), want: "allow", name: "rest"},
		{src: "192.0.2.1", path: "/", h: hdr("X-Block", "yes "), want: "allow", name: "rest"},
		{src: "192.0.2.1", path: "/", h: hdr("Other", "yes"), want: "allow", name: "rest"},
		{src: "192.0.2.1", path: "/", want: "allow", name: "rest"}, // nil Headers
		{src: "192.0.2.1", path: "", want: "allow", name: "rest"},
	})
}

func TestACLInvert(t *testing.T) {
	specs := []ACLSpec{
		// "deny unless from the office and under /api": invert negates
		// the conjunction, not each condition.
		{Name: "not-office-api", Index: 0, IPSubnet: []string{"192.0.2.0/24"}, HTTPFilter: ACLFilterPathBegin,
			HTTPFilterValue: []string{"/api"}, Invert: true, Action: ACLActionDeny},
		{Name: "rest", Index: 1},
	}
	a := mustACLs(t, ACLModeHTTP, specs...)
	checkEval(t, a, specs, []aclReq{
		{src: "192.0.2.5", path: "/api/x", want: "allow", name: "rest"},
		{src: "192.0.2.5", path: "/web", want: "deny", name: "not-office-api"},
		{src: "198.51.100.5", path: "/api/x", want: "deny", name: "not-office-api"},
		{src: "", path: "/api/x", want: "deny", name: "not-office-api"},
	})
	hdrInv := []ACLSpec{{Name: "need-token", HTTPFilter: ACLFilterHeader, HTTPFilterOption: "x-token",
		HTTPFilterValue: []string{"s3cret"}, Invert: true, Action: ACLActionDeny}}
	b := mustACLs(t, ACLModeHTTP, hdrInv...)
	checkEval(t, b, hdrInv, []aclReq{
		{src: "192.0.2.5", path: "/", want: "deny", name: "need-token"}, // nil headers: no match, inverted
		{src: "192.0.2.5", path: "/", h: hdr("x-token", "nope"), want: "deny", name: "need-token"},
		{src: "192.0.2.5", path: "/", h: hdr("X-Token", "s3cret"), want: "-"},
	})
}

func TestACLRedirect(t *testing.T) {
	specs := []ACLSpec{
		{Name: "https", Index: 0, HTTPFilter: ACLFilterPathBegin, HTTPFilterValue: []string{"/secure"},
			Action: ACLActionRedirect, RedirectType: ACLRedirectScheme, RedirectTarget: "HTTPS", RedirectCode: 301},
		{Name: "moved", Index: 1, HTTPFilter: ACLFilterPathBegin, HTTPFilterValue: []string{"/old"},
			Action: ACLActionRedirect, RedirectTarget: "https://new.example.com/landing"},
		{Name: "tmpl", Index: 2, HTTPFilter: ACLFilterPathBegin, HTTPFilterValue: []string{"/t"},
			Action: ACLActionRedirect, RedirectType: ACLRedirectLocation, RedirectCode: 308,
			RedirectTarget: "{{scheme}}://www.{{host}}/new{{path}}?from=old&{{query}}"},
		{Name: "deny", Index: 3, Action: ACLActionDeny},
	}
	a := mustACLs(t, ACLModeHTTP, specs...)
	cases := []struct {
		path, pathAndQuery, scheme, host string
		status                           int
		want                             string
	}{
		{"/secure/x", "/secure/x?a=1", "http", "example.com:8080", 301, "https://example.com:8080/secure/x?a=1"},
		{"/secure", "", "http", "example.com", 301, "https://example.com/"},
		{"/old/page", "/old/page?q", "http", "example.com", 302, "https://new.example.com/landing"},
		{"/t/x", "/t/x?a=1&b=2", "https", "example.com", 308, "https://www.example.com/new/t/x?from=old&a=1&b=2"},
		{"/t", "/t", "http", "h", 308, "http://www.h/new/t?from=old&"},
		{"/t", "/t", "http", "h\r\nSet-Cookie: x", 308, "http://www.h%0D%0ASet-Cookie:%20x/new/t?from=old&"},
		{"/t\x00", "/t\x00?\x7f", "http", "h", 308, "http://www.h/new/t%00?from=old&%7F"},
	}
	for _, c := range cases {
		v := a.Eval(addr("192.0.2.1"), []byte(c.path), nil)
		if v.Action != ACLRedirect || v.Status() != c.status {
			t.Errorf("Eval(%q) = %v status %d; want redirect %d", c.path, v.Action, v.Status(), c.status)
			continue
		}
		buf := []byte("Location: ")
		got := v.AppendLocation(buf, []byte(c.scheme), []byte(c.host), []byte(c.pathAndQuery))
		if string(got) != "Location: "+c.want {
			t.Errorf("AppendLocation(%q, %q, %q) = %q; want %q", c.scheme, c.host, c.pathAndQuery, got, "Location: "+c.want)
		}
	}
	v := a.Eval(addr("192.0.2.1"), []byte("/other"), nil)
	if v.Action != ACLDeny || v.Status() != 403 || v.Name() != "deny" || v.Index() != 3 {
		t.Errorf("deny verdict: %v %d %q %d", v.Action, v.Status(), v.Name(), v.Index())
	}
	if got := v.AppendLocation([]byte("x"), nil, nil, nil); string(got) != "x" {
		t.Errorf("AppendLocation on deny = %q", got)
	}
	if got := (Verdict{}).AppendLocation(nil, nil, nil, nil); got != nil {
		t.Errorf("AppendLocation on zero verdict = %q", got)
	}
}

func TestACLModeTCP(t *testing.T) {
	specs := []ACLSpec{
		{Name: "deny-net", Index: 1, IPSubnet: []string{"10.0.0.0/8"}, Action: ACLActionDeny},
		{Name: "allow-some", Index: 0, IPSubnet: []string{"10.1.0.0/16"}, HTTPFilter: ACLFilterNone},
		{Name: "deny-rest", Index: 2, IPSubnet: []string{"10.0.0.0/8"}, Invert: true, Action: ACLActionDeny},
	}
	a := mustACLs(t, ACLModeTCP, specs...)
	checkEval(t, a, specs, []aclReq{
		{src: "10.1.2.3", want: "allow", name: "allow-some"},
		{src: "10.2.2.3", want: "deny", name: "deny-net"},
		{src: "11.0.0.1", want: "deny", name: "deny-rest"},
	})
	for _, s := range []ACLSpec{
		{Name: "p", HTTPFilter: ACLFilterPathBegin, HTTPFilterValue: []string{"/"}},
		{Name: "h", HTTPFilter: ACLFilterHeader, HTTPFilterOption: "x", HTTPFilterValue: []string{"y"}},
		{Name: "r", Action: ACLActionRedirect, RedirectType: ACLRedirectScheme, RedirectTarget: "https"},
	} {
		_, err := CompileACLs([]ACLSpec{s}, ACLModeTCP)
		var ae *ACLError
		if !errors.As(err, &ae) || !strings.Contains(ae.Reason, "TCP frontend") {
			t.Errorf("TCP %s: err = %v; want a TCP frontend error", s.Name, err)
		}
		if _, err := CompileACLs([]ACLSpec{s}, ACLModeHTTP); err != nil {
			t.Errorf("HTTP %s: %v", s.Name, err)
		}
	}
}

func TestCompileACLsErrors(t *testing.T) {
	ok := ACLSpec{Name: "ok", Index: 0}
	cases := []struct {
		spec   ACLSpec
		field  string
		reason string // substring
		cause  any    // pointer to an error type the chain must hold, or nil
	}{
		{ACLSpec{Index: -1}, "index", "0 or more", nil},
		{ACLSpec{IPSubnet: []string{"10.0.0.0/8", "10.0.0.0/33"}}, "match.ip_subnet[1]", `"10.0.0.0/33"`, nil},
		{ACLSpec{IPSubnet: []string{"10.0.0"}}, "match.ip_subnet[0]", "invalid address", nil},
		{ACLSpec{IPSubnet: []string{""}}, "match.ip_subnet[0]", "invalid address", nil},
		{ACLSpec{IPSubnet: []string{"fe80::1%eth0"}}, "match.ip_subnet[0]", "invalid address", nil},
		{ACLSpec{IPSubnet: []string{"fe80::1%eth0/64"}}, "match.ip_subnet[0]", "invalid address", nil},
		{ACLSpec{HTTPFilter: "path_beg"}, "match.http_filter", "unknown filter", nil},
		{ACLSpec{HTTPFilter: ACLFilterPathBegin}, "match.http_filter_value", "at least one value", nil},
		{ACLSpec{HTTPFilter: ACLFilterPathEnd, HTTPFilterValue: []string{".x", ""}}, "match.http_filter_value[1]", "empty", nil},
		{ACLSpec{HTTPFilter: ACLFilterRegex, HTTPFilterValue: []string{"ok", "a("}}, "match.http_filter_value[1]", "invalid regexp", new(*syntax.Error)},
		{ACLSpec{HTTPFilter: ACLFilterRegex, HTTPFilterValue: []string{"x"}, HTTPFilterOption: "h"}, "match.http_filter_option", "only used", nil},
		{ACLSpec{HTTPFilterValue: []string{"/x"}}, "match.http_filter_value", "must be empty", nil},
		{ACLSpec{HTTPFilter: ACLFilterNone, HTTPFilterOption: "h"}, "match.http_filter_option", "only used", nil},
		{ACLSpec{HTTPFilter: ACLFilterHeader, HTTPFilterValue: []string{"x"}}, "match.http_filter_option", "header name", nil},
		{ACLSpec{HTTPFilter: ACLFilterHeader, HTTPFilterValue: []string{"x"}, HTTPFilterOption: "X Bad"}, "match.http_filter_option", "not a valid header name", nil},
		{ACLSpec{Action: "reject"}, "action.type", "unknown action", nil},
		{ACLSpec{Action: ACLActionRedirect}, "action.redirect.target", "needs a target", nil},
		{ACLSpec{Action: ACLActionRedirect, RedirectTarget: "https", RedirectType: "prefix"}, "action.redirect.type", "unknown redirect type", nil},
		{ACLSpec{Action: ACLActionRedirect, RedirectTarget: "https", RedirectType: ACLRedirectScheme, RedirectCode: 304}, "action.redirect.code", "not a redirect code", nil},
		{ACLSpec{Action: ACLActionRedirect, RedirectTarget: "https", RedirectCode: 200}, "action.redirect.code", "not a redirect code", nil},
		{ACLSpec{Action: ACLActionRedirect, RedirectTarget: "https://x", RedirectType: ACLRedirectScheme}, "action.redirect.target", "not a URI scheme", nil},
		{ACLSpec{Action: ACLActionRedirect, RedirectTarget: "1http", RedirectType: ACLRedirectScheme}, "action.redirect.target", "not a URI scheme", nil},
		{ACLSpec{Action: ACLActionRedirect, RedirectTarget: "https://x/\r\nSet-Cookie: a"}, "action.redirect.target", "percent-encode", nil},
		{ACLSpec{Action: ACLActionRedirect, RedirectTarget: "https://x/é"}, "action.redirect.target", "percent-encode", nil},
		{ACLSpec{Action: ACLActionRedirect, RedirectTarget: "https://{{host}}{{uri}}"}, "action.redirect.target", "unknown placeholder {{uri}}", nil},
		{ACLSpec{Action: ACLActionRedirect, RedirectTarget: "https://{{host"}, "action.redirect.target", "unclosed", nil},
	}
	for i, c := range cases {
		c.spec.Name = "acl" + strconv.Itoa(i)
		_, err := CompileACLs([]ACLSpec{ok, c.spec}, ACLModeHTTP)
		var ae *ACLError
		if !errors.As(err, &ae) {
			t.Errorf("case %d (%+v): err = %v; want *ACLError", i, c.spec, err)
			continue
		}
		if !errors.Is(err, ErrInvalidACL) {
			t.Errorf("case %d: %v is not ErrInvalidACL", i, err)
		}
		if ae.Pos != 1 || ae.Name != c.spec.Name || ae.Index != c.spec.Index || ae.Field != c.field || !strings.Contains(ae.Reason, c.reason) {
			t.Errorf("case %d: got pos %d name %q index %d field %q reason %q; want field %q reason ~%q",
				i, ae.Pos, ae.Name, ae.Index, ae.Field, ae.Reason, c.field, c.reason)
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, "route: acl \""+c.spec.Name+"\" (index "+strconv.Itoa(c.spec.Index)+"): "+c.field+": ") {
			t.Errorf("case %d: message %q does not name the acl and field", i, msg)
		}
		if c.cause != nil && !errors.As(err, c.cause) {
			t.Errorf("case %d: %v does not wrap %T", i, err, c.cause)
		}
	}
	// An unnamed ACL is named by its position.
	_, err := CompileACLs([]ACLSpec{ok, {Index: 4, HTTPFilter: "bogus"}}, ACLModeHTTP)
	if err == nil || !strings.HasPrefix(err.Error(), "route: acl #1 (index 4): match.http_filter: ") {
		t.Errorf("unnamed: %v", err)
	}
	// Redirect details are ignored for other actions; defaults apply.
	if _, err := CompileACLs([]ACLSpec{{Action: ACLActionDeny, RedirectType: "bogus", RedirectCode: 1}, {}}, ACLModeHTTP); err != nil {
		t.Errorf("redirect fields on deny: %v", err)
	}
}

func TestCompileACLsCopies(t *testing.T) {
	specs := []ACLSpec{{Name: "p", HTTPFilter: ACLFilterPathBegin, HTTPFilterValue: []string{"/a"}, Action: ACLActionDeny,
		IPSubnet: []string{"10.0.0.0/8"}}}
	a := mustACLs(t, ACLModeHTTP, specs...)
	specs[0].HTTPFilterValue[0] = "/b"
	specs[0].IPSubnet[0] = "11.0.0.0/8"
	specs[0].Name = "changed"
	if v := a.Eval(addr("10.0.0.1"), []byte("/a"), nil); v.Action != ACLDeny || v.Name() != "p" {
		t.Errorf("after mutating specs: %+v %q", v, v.Name())
	}
}

// TestIPSetAgainstReference holds the merged-range set to netip's
// Prefix.Contains over random prefix lists, probing around every range edge.
func TestIPSetAgainstReference(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for iter := range 300 {
		n := 1 + r.Intn(40)
		subnets := make([]string, n)
		for i := range subnets {
			subnets[i] = randPrefix(r).String()
		}
		set, aerr := compileIPSet(subnets)
		if aerr != nil {
			t.Fatal(aerr)
		}
		for i := 1; i < len(set); i++ {
			prev, cur := set[i-1], set[i]
			if next, _ := prev.last.inc(); !next.less(cur.first) {
				t.Fatalf("iter %d: ranges %d and %d overlap or touch: %+v", iter, i-1, i, set)
			}
		}
		var probes []netip.Addr
		for _, s := range subnets {
			p := netip.MustParsePrefix(s)
			probes = append(probes, p.Addr(), p.Addr().Prev(), lastAddr(p), lastAddr(p).Next())
		}
		for range 50 {
			probes = append(probes, randAddr(r))
		}
		for _, a := range probes {
			if !a.IsValid() {
				continue
			}
			key, _ := addrKey(a)
			if got, want := set.contains(key), refContains(subnets, a); got != want {
				t.Fatalf("iter %d: contains(%v) = %v, reference %v; subnets %v", iter, a, got, want, subnets)
			}
		}
	}
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := range b {
		if bit := i * 8; bit+8 > p.Bits() {
			keep := max(p.Bits()-bit, 0)
			b[i] |= byte(0xff >> keep)
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

func randAddr(r *rand.Rand) netip.Addr {
	switch r.Intn(4) {
	case 0:
		return netip.AddrFrom4([4]byte{byte(r.Intn(4)) + 9, byte(r.Intn(256)), byte(r.Intn(256)), byte(r.Intn(256))})
	case 1:
		var b [16]byte
		b[0], b[1], b[2], b[15] = 0x20, 0x01, byte(r.Intn(3)), byte(r.Intn(256))
		return netip.AddrFrom16(b)
	case 2:
		return netip.AddrFrom16(netip.AddrFrom4([4]byte{byte(r.Intn(4)) + 9, 1, 2, byte(r.Intn(256))}).As16())
	}
	var b [16]byte
	r.Read(b[:])
	return netip.AddrFrom16(b)
}

func randPrefix(r *rand.Rand) netip.Prefix {
	a := randAddr(r)
	if a.Is4In6() && r.Intn(2) == 0 {
		a = a.Unmap()
	}
	bits := r.Intn(a.BitLen() + 1)
	if r.Intn(3) > 0 { // favour long prefixes so that ranges stay distinct
		bits = a.BitLen() - r.Intn(12)
	}
	return netip.PrefixFrom(a, bits)
}

// refContains is the reference ip_subnet test: IPv4 (and IPv4-mapped)
// clients and prefixes are compared in the IPv4-mapped IPv6 space.
func refContains(subnets []string, a netip.Addr) bool {
	c := netip.AddrFrom16(a.As16())
	for _, s := range subnets {
		p, err := parseSubnet(s)
		if err != nil {
			panic(err)
		}
		if p.Addr().Is4() {
			p = netip.PrefixFrom(netip.AddrFrom16(p.Addr().As16()), p.Bits()+96)
		}
		if p.Masked().Contains(c) {
			return true
		}
	}
	return false
}

// refEval is the reference of Eval, written from the documented semantics
// with the slowest obvious code: it returns the position in specs of the
// deciding ACL, or -1.
func refEval(specs []ACLSpec, src netip.Addr, path string, h Headers) int {
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	best := -1
	for i, s := range specs {
		if best >= 0 && (specs[best].Index < s.Index || specs[best].Index == s.Index && specs[best].Name <= s.Name) {
			continue
		}
		m := len(s.IPSubnet) == 0 || (src.IsValid() && refContains(s.IPSubnet, src))
		if m {
			switch s.HTTPFilter {
			case "", ACLFilterNone:
			default:
				found := false
				for _, v := range s.HTTPFilterValue {
					switch s.HTTPFilter {
					case ACLFilterPathBegin:
						found = found || strings.HasPrefix(path, v)
					case ACLFilterPathEnd:
						found = found || strings.HasSuffix(path, v)
					case ACLFilterRegex:
						found = found || regexp.MustCompile(v).MatchString(path)
					case ACLFilterHeader:
						if h != nil {
							got, ok := h.Get(strings.ToLower(s.HTTPFilterOption))
							found = found || ok && string(got) == v
						}
					}
				}
				m = found
			}
		}
		if m != s.Invert {
			best = i
		}
	}
	return best
}

func TestACLEvalDoesNotAllocate(t *testing.T) {
	a := benchACLs(t, 100)
	h := hdr("host", "example.com", "x-tenant", "t-99")
	buf := make([]byte, 0, 256)
	for _, r := range benchRequests {
		src, path := netip.MustParseAddr(r.src), []byte(r.path)
		a.Eval(src, path, h) // warm regexp's matcher pool
		allocs := testing.AllocsPerRun(200, func() {
			v := a.Eval(src, path, h)
			buf = v.AppendLocation(buf[:0], []byte("http"), []byte("example.com"), path)
		})
		if allocs != 0 {
			t.Errorf("%s: Eval + AppendLocation allocate %v times per run", r.name, allocs)
		}
	}
}

// benchACLs builds n ACLs shaped like real lists: IP deny lists of 20
// subnets, path and regex rules, one header rule, an HTTPS redirect, then
// an allow-list of the office and a final deny, in that order of index.
func benchACLs(t testing.TB, n int) *ACLs {
	t.Helper()
	var specs []ACLSpec
	for i := range n - 3 {
		s := ACLSpec{Name: "acl" + strconv.Itoa(i), Index: 10 + i, Action: ACLActionDeny}
		switch i % 4 {
		case 0:
			for j := range 20 {
				s.IPSubnet = append(s.IPSubnet, "10."+strconv.Itoa(i%250)+"."+strconv.Itoa(j)+".0/24")
			}
			s.IPSubnet = append(s.IPSubnet, "2001:db8:"+strconv.FormatInt(int64(i), 16)+"::/48")
		case 1:
			s.HTTPFilter, s.HTTPFilterValue = ACLFilterPathBegin, []string{"/blocked" + strconv.Itoa(i) + "/", "/old" + strconv.Itoa(i)}
		case 2:
			s.HTTPFilter, s.HTTPFilterValue = ACLFilterRegex, []string{`^/api/v` + strconv.Itoa(i) + `/[a-z]+/internal$`}
		case 3:
			s.HTTPFilter, s.HTTPFilterOption, s.HTTPFilterValue = ACLFilterHeader, "X-Tenant", []string{"banned-" + strconv.Itoa(i)}
		}
		specs = append(specs, s)
	}
	specs = append(specs,
		ACLSpec{Name: "https", Index: 1, HTTPFilter: ACLFilterPathBegin, HTTPFilterValue: []string{"/login"},
			Action: ACLActionRedirect, RedirectType: ACLRedirectScheme, RedirectTarget: "https"},
		ACLSpec{Name: "office", Index: 1000, IPSubnet: []string{"192.0.2.0/24", "2001:db8:ffff::/48"}, Action: ACLActionAllow},
		ACLSpec{Name: "rest", Index: 1001, Action: ACLActionDeny},
	)
	a, err := CompileACLs(specs, ACLModeHTTP)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

var benchRequests = []struct {
	name, src, path, want string
}{
	{"redirect-first", "198.51.100.7", "/login?next=/", "redirect"},
	{"office-v4-last", "192.0.2.55", "/app/page", "allow"},
	{"office-v6-last", "2001:db8:ffff::9", "/app/page", "allow"},
	{"denied-all-visited", "198.51.100.7", "/app/page", "deny"},
}

func benchmarkEval(b *testing.B, n int) {
	a := benchACLs(b, n)
	h := hdr("host", "example.com", "x-tenant", "t-99")
	for _, r := range benchRequests {
		b.Run("acls="+strconv.Itoa(n)+"/"+r.name, func(b *testing.B) {
			src, path := netip.MustParseAddr(r.src), []byte(r.path)
			if v := a.Eval(src, path, h); v.Action.String() != r.want {
				b.Fatalf("Eval = %v by %q, want %s", v.Action, v.Name(), r.want)
			}
			b.ReportAllocs()
			for b.Loop() {
				a.Eval(src, path, h)
			}
		})
	}
}

// BenchmarkACLEval times Eval over a short list (the https redirect, the
// office allow-list and the final deny) and a long one (97 more rules of
// every filter kind before the allow-list). The "last" and "denied" cases
// visit every ACL.
func BenchmarkACLEval(b *testing.B) {
	benchmarkEval(b, 3)
	benchmarkEval(b, 100)
}

// BenchmarkACLIPSet is one ip_subnet test against 10,000 subnets.
func BenchmarkACLIPSet(b *testing.B) {
	subnets := make([]string, 10000)
	for i := range subnets {
		subnets[i] = netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}).String() + "/28"
	}
	set, err := compileIPSet(subnets)
	if err != nil {
		b.Fatal(err)
	}
	key, _ := addrKey(netip.MustParseAddr("10.39.15.7"))
	if !set.contains(key) {
		b.Fatal("miss")
	}
	b.ReportAllocs()
	for b.Loop() {
		set.contains(key)
	}
}

func BenchmarkACLAppendLocation(b *testing.B) {
	a := mustACLs(b, ACLModeHTTP, ACLSpec{Action: ACLActionRedirect,
		RedirectTarget: "https://www.{{host}}{{path}}?src=acl&{{query}}"})
	v := a.Eval(netip.MustParseAddr("192.0.2.1"), []byte("/p"), nil)
	buf := make([]byte, 0, 256)
	scheme, host, pq := []byte("http"), []byte("example.com"), []byte("/some/path?x=1&y=2")
	b.ReportAllocs()
	for b.Loop() {
		buf = v.AppendLocation(buf[:0], scheme, host, pq)
	}
}
