package route

import (
	"bytes"
	"math/rand"
	"net/netip"
	"strconv"
	"testing"
)

var (
	fuzzFilters = []string{"", ACLFilterNone, ACLFilterPathBegin, ACLFilterPathEnd, ACLFilterRegex, ACLFilterHeader}
	fuzzPaths   = []string{"/", "/a", "/a/b", "/admin", ".php", "b", "/a?b"}
	fuzzRegexps = []string{"^/a", "b$", "[0-9]+", `\Q.php`, "(?i)ADMIN", "x|/a/"}
	fuzzSubnets = []string{"10.0.0.0/8", "10.1.0.0/16", "192.0.2.7", "::/0", "0.0.0.0/0", "2001:db8::/32",
		"::ffff:10.0.0.0/104", "10.255.255.255/32", "::1"}
)

// randSpecs draws up to n ACLs from small vocabularies, so that matches and
// index ties are frequent.
func randSpecs(r *rand.Rand, n int) []ACLSpec {
	specs := make([]ACLSpec, r.Intn(n+1))
	for i := range specs {
		s := ACLSpec{Name: "r" + strconv.Itoa(i), Index: r.Intn(5), Invert: r.Intn(4) == 0,
			Action: []string{"", ACLActionAllow, ACLActionDeny}[r.Intn(3)]}
		for range r.Intn(3) {
			s.IPSubnet = append(s.IPSubnet, fuzzSubnets[r.Intn(len(fuzzSubnets))])
		}
		s.HTTPFilter = fuzzFilters[r.Intn(len(fuzzFilters))]
		for range 1 + r.Intn(2) {
			switch s.HTTPFilter {
			case ACLFilterPathBegin, ACLFilterPathEnd:
				s.HTTPFilterValue = append(s.HTTPFilterValue, fuzzPaths[r.Intn(len(fuzzPaths))])
			case ACLFilterRegex:
				s.HTTPFilterValue = append(s.HTTPFilterValue, fuzzRegexps[r.Intn(len(fuzzRegexps))])
			case ACLFilterHeader:
				s.HTTPFilterOption = []string{"X-A", "x-b"}[r.Intn(2)]
				s.HTTPFilterValue = append(s.HTTPFilterValue, []string{"1", "", "yes"}[r.Intn(3)])
			}
		}
		specs[i] = s
	}
	return specs
}

// FuzzACLEval compiles random ACLs plus one fuzzed ACL and holds Eval to
// refEval for a fuzzed request; it also checks that a fuzzed redirect
// target either fails to compile or yields a Location free of control
// characters.
func FuzzACLEval(f *testing.F) {
	f.Add(int64(1), "10.0.0.0/8", "path_begin", "/a", "", false, "10.1.2.3", "/a/b", "1", "https://x/{{path}}")
	f.Add(int64(2), "::/0", "regex", "[", "", true, "::ffff:1.2.3.4", "/x?y", "", "{{query}}")
	f.Add(int64(3), "", "http_header_match", "yes", "X-A", false, "2001:db8::1", "", "yes", "{{host")
	f.Add(int64(4), "1.2.3.4/33", "path_end", "", "", false, "", "/", "\r\n", "https")
	f.Add(int64(5), "fe80::/10", "", "", "", true, "fe80::1%lo", "/a\x00", "x", "/{{scheme}}/{{x}}")
	f.Fuzz(func(t *testing.T, seed int64, subnet, filter, value, option string, invert bool, src, path, hval, target string) {
		r := rand.New(rand.NewSource(seed))
		specs := randSpecs(r, 8)
		fz := ACLSpec{Name: "fuzz", Index: r.Intn(5), HTTPFilter: filter, HTTPFilterOption: option, Invert: invert, Action: ACLActionDeny}
		if subnet != "" {
			fz.IPSubnet = []string{subnet}
		}
		if value != "" || filter == ACLFilterHeader {
			fz.HTTPFilterValue = []string{value}
		}
		if _, err := CompileACLs([]ACLSpec{fz}, ACLModeHTTP); err == nil {
			specs = append(specs, fz)
		}
		a, err := CompileACLs(specs, ACLModeHTTP)
		if err != nil {
			t.Fatalf("CompileACLs: %v", err)
		}
		srcAddr, _ := netip.ParseAddr(src)
		h := &testHeaders{kv: []headerKV{{"x-a", []byte(hval)}, {"X-B", []byte(hval)}}}
		for _, hs := range []Headers{h, nil} {
			v := a.Eval(srcAddr, []byte(path), hs)
			ref := refEval(specs, srcAddr, path, hs)
			if ref < 0 && v.Matched() || ref >= 0 && (v.Name() != specs[ref].Name || v.Index() != specs[ref].Index) {
				t.Fatalf("Eval(%v, %q) decided by %q, reference by position %d\nspecs: %+v", srcAddr, path, v.Name(), ref, specs)
			}
		}

		for _, typ := range []string{ACLRedirectLocation, ACLRedirectScheme} {
			ra, err := CompileACLs([]ACLSpec{{Action: ACLActionRedirect, RedirectType: typ, RedirectTarget: target}}, ACLModeHTTP)
			if err != nil {
				continue
			}
			v := ra.Eval(srcAddr, []byte(path), nil)
			loc := v.AppendLocation(nil, []byte(hval), []byte(hval), []byte(path))
			if v.Action != ACLRedirect || bytes.ContainsFunc(loc, func(c rune) bool { return c <= ' ' || c == 0x7f }) {
				t.Fatalf("redirect %s %q: verdict %v, Location %q", typ, target, v.Action, loc)
			}
		}
	})
}
