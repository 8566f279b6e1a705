package route

import (
	"errors"
	"math/rand"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// testHeaders is a Headers over a fixed list; the pointer receiver mirrors
// the proxy's implementation, so passing it to Match does not allocate.
type testHeaders struct{ kv []headerKV }

type headerKV struct {
	name  string
	value []byte
}

func (h *testHeaders) Get(name string) ([]byte, bool) {
	for i := range h.kv {
		if strings.EqualFold(h.kv[i].name, name) {
			return h.kv[i].value, true
		}
	}
	return nil, false
}

// hdr builds headers from name, value pairs.
func hdr(pairs ...string) *testHeaders {
	h := &testHeaders{}
	for i := 0; i+1 < len(pairs); i += 2 {
		h.kv = append(h.kv, headerKV{pairs[i], []byte(pairs[i+1])})
	}
	return h
}

type request struct {
	host, path string
	h          *testHeaders // nil means Match gets a nil Headers
	want       string       // target name; "" means no match
}

func (r request) headers() Headers {
	if r.h == nil {
		return nil
	}
	return r.h
}

func runCases(t *testing.T, cases []struct {
	name  string
	rules []Rule[string]
	reqs  []request
}) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tab, err := NewTable(tc.rules)
			if err != nil {
				t.Fatalf("NewTable: %v", err)
			}
			if tab.Len() != len(tc.rules) {
				t.Errorf("Len() = %d, want %d", tab.Len(), len(tc.rules))
			}
			for _, r := range tc.reqs {
				got, ok := tab.Match([]byte(r.host), []byte(r.path), r.headers())
				if ok != (r.want != "") || got != r.want {
					t.Errorf("Match(%q, %q, %v) = %q, %v; want %q", r.host, r.path, r.h, got, ok, r.want)
				}
				// The reference implementation must agree on every case.
				ref, refOK := refMatch(tc.rules, r.host, r.path, r.headers())
				if refOK != ok || ref != got {
					t.Errorf("reference(%q, %q) = %q, %v; Match gave %q, %v", r.host, r.path, ref, refOK, got, ok)
				}
			}
		})
	}
}

func TestMatchHosts(t *testing.T) {
	runCases(t, []struct {
		name  string
		rules []Rule[string]
		reqs  []request
	}{
		{
			name:  "exact",
			rules: []Rule[string]{{Host: "example.com", Target: "ex"}},
			reqs: []request{
				{host: "example.com", want: "ex"},
				{host: "www.example.com"},
				{host: "example.org"},
				{host: "xexample.com"},
				{host: ""},
			},
		},
		{
			name:  "wildcard at any depth but not the bare name",
			rules: []Rule[string]{{Host: "*.example.com", Target: "wild"}},
			reqs: []request{
				{host: "a.example.com", want: "wild"},
				{host: "a.b.example.com", want: "wild"},
				{host: "a.b.c.d.example.com", want: "wild"},
				{host: "example.com"},
				{host: "xexample.com"},
				{host: "example.com.evil.org"},
				{host: "com"},
			},
		},
		{
			name:  "match_subdomains covers the name and all subdomains",
			rules: []Rule[string]{{Host: "example.com", MatchSubdomains: true, Target: "ms"}},
			reqs: []request{
				{host: "example.com", want: "ms"},
				{host: "a.example.com", want: "ms"},
				{host: "a.b.example.com", want: "ms"},
				{host: "notexample.com"},
				{host: "com"},
			},
		},
		{
			name:  "any host",
			rules: []Rule[string]{{Target: "any"}},
			reqs: []request{
				{host: "whatever.test", want: "any"},
				{host: "", want: "any"},
				{host: "[::1]", want: "any"},
				{host: "[not-an-ip]", want: "any"},
				{host: strings.Repeat("a", 300), want: "any"},
			},
		},
		{
			name:  "case port and trailing dot",
			rules: []Rule[string]{{Host: "Example.COM.", Target: "ex"}, {Host: "*.Wild.Test", Target: "wild"}},
			reqs: []request{
				{host: "example.com", want: "ex"},
				{host: "EXAMPLE.com", want: "ex"},
				{host: "example.com:8080", want: "ex"},
				{host: "example.com.", want: "ex"},
				{host: "Example.Com.:443", want: "ex"},
				{host: "example.com:", want: "ex"},
				{host: "example.com..", want: ""}, // only one trailing dot is stripped
				{host: "A.WILD.test:80", want: "wild"},
				{host: "a.wild.test.", want: "wild"},
				{host: ":80"},
				{host: "."},
			},
		},
		{
			name: "IPv6 literals match as addresses",
			rules: []Rule[string]{
				{Host: "[2001:db8::1]", Target: "v6"},
				{Host: "::1", Target: "loop"},
				{Host: "::ffff:192.0.2.1", Target: "mapped"},
				{Host: "*.example.com", Target: "wild"},
			},
			reqs: []request{
				{host: "[2001:db8::1]", want: "v6"},
				{host: "[2001:db8::1]:8080", want: "v6"},
				{host: "[2001:DB8:0:0::1]:8080", want: "v6"},
				{host: "[2001:0db8:0000:0000:0000:0000:0000:0001]", want: "v6"},
				{host: "2001:db8::1", want: "v6"}, // bare, as some clients send it
				{host: "[::1]:80", want: "loop"},
				{host: "[0:0:0:0:0:0:0:1]", want: "loop"},
				{host: "[::ffff:c000:201]", want: "mapped"},
				{host: "[::ffff:192.0.2.1]:1", want: "mapped"},
				{host: "[2001:db8::2]"},
				{host: "[2001:db8::1"},                       // no closing bracket
				{host: "2001:db8::1::2"},                     // bare and invalid
				{host: "[2001:db8::1]x"},                     // junk after the bracket
				{host: "[fe80::1%25eth0]"},                   // zones never match
				{host: "[192.0.2.1]"},                        // IPv4 in brackets is not an IPv6 literal
				{host: "[::1]:80.example.com", want: "loop"}, // all after "]:" is the port
			},
		},
		{
			name:  "IPv4 literals are names",
			rules: []Rule[string]{{Host: "192.0.2.1", Target: "v4"}},
			reqs: []request{
				{host: "192.0.2.1", want: "v4"},
				{host: "192.0.2.1:8080", want: "v4"},
				{host: "192.0.2.10"},
			},
		},
		{
			name: "names longer than 255 bytes never match a host rule",
			rules: []Rule[string]{
				{Host: "*.example.com", Target: "wild"},
				{Host: "", PathPrefix: "/any", Target: "any"},
			},
			reqs: []request{
				{host: strings.Repeat("a.", 121) + "example.com", want: "wild"}, // 253 bytes
				{host: strings.Repeat("a", 243) + ".example.com", want: "wild"}, // 255 bytes
				{host: strings.Repeat("a", 243) + ".example.com.", want: "wild"},
				{host: strings.Repeat("a", 243) + ".example.com:443", want: "wild"},
				{host: strings.Repeat("a", 244) + ".example.com"},
				{host: strings.Repeat("a", 244) + ".example.com", path: "/any", want: "any"},
				{host: strings.Repeat("a", 5000) + ".example.com"},
			},
		},
	})
}

func TestMatchTieBreak(t *testing.T) {
	runCases(t, []struct {
		name  string
		rules []Rule[string]
		reqs  []request
	}{
		{
			name: "priority beats host specificity",
			rules: []Rule[string]{
				{Host: "a.example.com", Target: "exact"},
				{Host: "", Priority: 1, Target: "any-high"},
			},
			reqs: []request{{host: "a.example.com", want: "any-high"}},
		},
		{
			name: "priority beats path length and headers",
			rules: []Rule[string]{
				{Host: "h", PathPrefix: "/long/path", Headers: []HeaderMatch{{Name: "X"}}, Target: "specific"},
				{Host: "h", Priority: 2, Target: "high"},
			},
			reqs: []request{{host: "h", path: "/long/path", h: hdr("x", "1"), want: "high"}},
		},
		{
			name: "exact beats match_subdomains on the same name",
			rules: []Rule[string]{
				{Host: "example.com", MatchSubdomains: true, Target: "ms"},
				{Host: "example.com", Target: "exact"},
			},
			reqs: []request{
				{host: "example.com", want: "exact"},
				{host: "a.example.com", want: "ms"},
			},
		},
		{
			name: "exact beats wildcard",
			rules: []Rule[string]{
				{Host: "*.example.com", Target: "wild"},
				{Host: "a.example.com", Target: "exact"},
			},
			reqs: []request{
				{host: "a.example.com", want: "exact"},
				{host: "b.example.com", want: "wild"},
			},
		},
		{
			name: "longer suffix beats shorter",
			rules: []Rule[string]{
				{Host: "*.com", Target: "com"},
				{Host: "example.com", MatchSubdomains: true, Target: "ms-example"},
				{Host: "*.b.example.com", Target: "b"},
			},
			reqs: []request{
				{host: "x.b.example.com", want: "b"},
				{host: "b.example.com", want: "ms-example"},
				{host: "example.com", want: "ms-example"},
				{host: "other.com", want: "com"},
			},
		},
		{
			name: "wildcard and match_subdomains with the same suffix tie on host",
			rules: []Rule[string]{
				{Host: "*.example.com", Target: "wild"},
				{Host: "example.com", MatchSubdomains: true, Target: "ms"},
				{Host: "*.example.com", PathPrefix: "/p", Target: "wild-p"},
				{Host: "example.com", MatchSubdomains: true, PathPrefix: "/pp", Target: "ms-pp"},
			},
			reqs: []request{
				{host: "a.example.com", want: "wild"},               // earlier index
				{host: "a.example.com", path: "/p", want: "wild-p"}, // longer path
				{host: "a.example.com", path: "/pp", want: "ms-pp"}, // longer path
				{host: "example.com", want: "ms"},
			},
		},
		{
			name: "match_subdomains on the bare name ranks by its suffix, not as exact",
			rules: []Rule[string]{
				{Host: "example.com", MatchSubdomains: true, Target: "ms"},
				{Host: "*.com", PathPrefix: "/x", Target: "com-x"},
				{Host: "", PathPrefix: "/xyz", Target: "any-xyz"},
			},
			reqs: []request{
				{host: "example.com", path: "/xyz", want: "ms"},
				{host: "other.com", path: "/xyz", want: "com-x"},
				{host: "other.org", path: "/xyz", want: "any-xyz"},
			},
		},
		{
			name: "any host is least specific",
			rules: []Rule[string]{
				{Host: "", PathPrefix: "/long", Target: "any"},
				{Host: "*.example.com", Target: "wild"},
			},
			reqs: []request{
				{host: "a.example.com", path: "/long", want: "wild"},
				{host: "a.example.org", path: "/long", want: "any"},
				{host: "a.example.org", path: "/short"},
			},
		},
		{
			name: "longer path prefix wins",
			rules: []Rule[string]{
				{Host: "h", PathPrefix: "/", Target: "root"},
				{Host: "h", PathPrefix: "/api/v1", Target: "v1"},
				{Host: "h", PathPrefix: "/api", Target: "api"},
				{Host: "h", Target: "all"},
			},
			reqs: []request{
				{host: "h", path: "/api/v1/users", want: "v1"},
				{host: "h", path: "/api/v2", want: "api"},
				{host: "h", path: "/apix", want: "api"}, // a byte prefix, like path_beg
				{host: "h", path: "/index", want: "root"},
				{host: "h", path: "", want: "all"},
				{host: "h", path: "api", want: "all"},
			},
		},
		{
			name: "more header conditions win",
			rules: []Rule[string]{
				{Host: "h", Headers: []HeaderMatch{{Name: "X-A"}}, Target: "one"},
				{Host: "h", Headers: []HeaderMatch{{Name: "X-A"}, {Name: "X-B"}}, Target: "two"},
				{Host: "h", Target: "none"},
			},
			reqs: []request{
				{host: "h", h: hdr("x-a", "", "x-b", ""), want: "two"},
				{host: "h", h: hdr("x-a", ""), want: "one"},
				{host: "h", h: hdr("x-b", ""), want: "none"},
				{host: "h", want: "none"},
			},
		},
		{
			name: "earlier rule wins a full tie",
			rules: []Rule[string]{
				{Host: "h", PathPrefix: "/a", Target: "first"},
				{Host: "h", PathPrefix: "/b", Target: "other"},
				{Host: "h", PathPrefix: "/a", Target: "second"},
			},
			reqs: []request{{host: "h", path: "/a", want: "first"}},
		},
		{
			name: "a non-matching better rule does not hide a worse matching one",
			rules: []Rule[string]{
				{Host: "a.example.com", PathPrefix: "/only", Target: "exact"},
				{Host: "*.example.com", PathPrefix: "/only", Priority: 5, Headers: []HeaderMatch{{Name: "x"}}, Target: "wild-h"},
				{Host: "", Target: "any"},
			},
			reqs: []request{
				{host: "a.example.com", path: "/only", want: "exact"},
				{host: "a.example.com", path: "/only", h: hdr("X", "1"), want: "wild-h"},
				{host: "a.example.com", path: "/other", want: "any"},
			},
		},
	})
}

func TestMatchHeaders(t *testing.T) {
	runCases(t, []struct {
		name  string
		rules []Rule[string]
		reqs  []request
	}{
		{
			name:  "present",
			rules: []Rule[string]{{Headers: []HeaderMatch{{Name: "X-Canary"}}, Target: "canary"}},
			reqs: []request{
				{h: hdr("X-Canary", ""), want: "canary"},
				{h: hdr("x-canary", "anything"), want: "canary"},
				{h: hdr("X-Other", "1")},
				{h: hdr()},
				{}, // nil Headers
			},
		},
		{
			name:  "exact value is case-sensitive, name is not",
			rules: []Rule[string]{{Headers: []HeaderMatch{{Name: "x-ENV", Value: "Prod"}}, Target: "prod"}},
			reqs: []request{
				{h: hdr("X-Env", "Prod"), want: "prod"},
				{h: hdr("x-env", "prod")},
				{h: hdr("x-env", "Prod2")},
				{h: hdr("x-env", "Pro")},
				{h: hdr("x-env", "")},
			},
		},
		{
			name:  "prefix",
			rules: []Rule[string]{{Headers: []HeaderMatch{{Name: "User-Agent", Value: "curl/", Prefix: true}}, Target: "curl"}},
			reqs: []request{
				{h: hdr("user-agent", "curl/8.5.0"), want: "curl"},
				{h: hdr("user-agent", "curl/"), want: "curl"},
				{h: hdr("user-agent", "curl")},
				{h: hdr("user-agent", "Curl/8")},
				{h: hdr("user-agent", "xcurl/8")},
			},
		},
		{
			name: "all conditions must hold",
			rules: []Rule[string]{{
				Headers: []HeaderMatch{{Name: "a", Value: "1"}, {Name: "b", Value: "2", Prefix: true}},
				Target:  "both",
			}},
			reqs: []request{
				{h: hdr("a", "1", "b", "23"), want: "both"},
				{h: hdr("a", "1")},
				{h: hdr("b", "2")},
				{h: hdr("a", "2", "b", "2")},
			},
		},
	})
}

func TestValidHost(t *testing.T) {
	valid := []string{
		"", "example.com", "EXAMPLE.com", "example.com.", "*.example.com", "*.example.com.", "*.com",
		"a", "localhost", "my_service", "a-b.c-d", "192.0.2.1", "[::1]", "::1", "[2001:db8::1]",
		"::ffff:192.0.2.1", strings.Repeat("a", 63) + ".com", strings.Repeat("a.", 126) + "a", strings.Repeat("a.", 127),
	}
	for _, p := range valid {
		if err := ValidHost(p); err != nil {
			t.Errorf("ValidHost(%q) = %v, want nil", p, err)
		}
	}
	invalid := []struct{ pattern, msg string }{
		{"*.", `"*.": empty label`},
		{"*", `"*": wildcard must be "*." followed by a name`},
		{"a..b", `"a..b": empty label`},
		{".", `".": empty label`},
		{".example.com", `".example.com": empty label`},
		{"example.com..", `"example.com..": empty label`},
		{"*.a..b", `"*.a..b": empty label`},
		{"*x.com", `"*x.com": "*" is allowed only as the whole leftmost label, as in "*.example.com"`},
		{"foo*.com", `"foo*.com": "*" is allowed only as the whole leftmost label, as in "*.example.com"`},
		{"a.*.com", `"a.*.com": "*" is allowed only as the whole leftmost label, as in "*.example.com"`},
		{"*.*.com", `"*.*.com": "*" is allowed only as the whole leftmost label, as in "*.example.com"`},
		{"**.com", `"**.com": "*" is allowed only as the whole leftmost label, as in "*.example.com"`},
		{"exa mple.com", `"exa mple.com": invalid character ' '`},
		{"exämple.com", `"exämple.com": non-ASCII character 'ä' (use the xn-- form)`},
		{"a\xffb", `"a\xffb": invalid UTF-8`},
		{"example.com/path", `"example.com/path": invalid character '/'`},
		{"example.com:8080", `"example.com:8080": a port is not allowed`},
		{"[::1]:8080", `"[::1]:8080": unexpected text after IPv6 literal (a port is not allowed)`},
		{"[::1", `"[::1": missing ']' after IPv6 literal`},
		{"[example.com]", `"[example.com]": invalid IPv6 literal`},
		{"[192.0.2.1]", `"[192.0.2.1]": invalid IPv6 literal`},
		{"1:2:3", `"1:2:3": invalid IPv6 literal`},
		{"fe80::1%eth0", `"fe80::1%eth0": IPv6 zone not allowed`},
		{strings.Repeat("a", 64) + ".com", `"` + strings.Repeat("a", 64) + `.com": label longer than 63 bytes`},
		{strings.Repeat("a.", 127) + "a", `"` + strings.Repeat("a.", 127) + `a": longer than 253 bytes`},
	}
	for _, tc := range invalid {
		err := ValidHost(tc.pattern)
		if err == nil {
			t.Errorf("ValidHost(%q) = nil, want %s", tc.pattern, tc.msg)
			continue
		}
		if err.Error() != tc.msg {
			t.Errorf("ValidHost(%q) = %s, want %s", tc.pattern, err, tc.msg)
		}
		var he *HostError
		if !errors.As(err, &he) || he.Pattern != tc.pattern {
			t.Errorf("ValidHost(%q) = %#v, want a *HostError for the pattern", tc.pattern, err)
		}
	}
}

func TestNewTableErrors(t *testing.T) {
	cases := []struct {
		name  string
		rules []Rule[int]
		msg   string
	}{
		{"invalid host names the index", []Rule[int]{{Host: "ok.com"}, {Host: "ok.org"}, {Host: "*."}},
			`route: rule 2: invalid host "*.": empty label`},
		{"empty header name", []Rule[int]{{Host: "ok.com", Headers: []HeaderMatch{{Name: "a"}, {Name: ""}}}},
			`route: rule 0: header condition 1 has an empty name`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tab, err := NewTable(tc.rules)
			if err == nil || tab != nil {
				t.Fatalf("NewTable = %v, %v; want an error", tab, err)
			}
			if err.Error() != tc.msg {
				t.Errorf("error = %s, want %s", err, tc.msg)
			}
		})
	}
	var he *HostError
	_, err := NewTable([]Rule[int]{{Host: "a..b"}})
	if !errors.As(err, &he) || he.Reason != "empty label" {
		t.Errorf("NewTable error %v does not wrap a *HostError", err)
	}
}

func TestEmptyTable(t *testing.T) {
	tab, err := NewTable[int](nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := tab.Match([]byte("example.com"), []byte("/"), nil); ok || got != 0 {
		t.Errorf("Match on an empty table = %d, %v", got, ok)
	}
	if tab.Len() != 0 {
		t.Errorf("Len() = %d", tab.Len())
	}
}

func TestNewTableCopiesRules(t *testing.T) {
	rules := []Rule[string]{{Host: "a.com", Headers: []HeaderMatch{{Name: "X", Value: "1"}}, Target: "a"}}
	tab, err := NewTable(rules)
	if err != nil {
		t.Fatal(err)
	}
	rules[0].Host, rules[0].Headers[0].Value, rules[0].Target = "b.com", "2", "b"
	if got, ok := tab.Match([]byte("a.com"), nil, hdr("x", "1")); !ok || got != "a" {
		t.Errorf("after mutating the input, Match = %q, %v; want a", got, ok)
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	tab, err := NewTable([]Rule[int]{
		{Host: "example.com", Target: 1},
		{Host: "*.example.com", PathPrefix: "/api", Target: 2},
		{Host: "example.org", MatchSubdomains: true, Headers: []HeaderMatch{{Name: "X-A", Value: "v", Prefix: true}}, Target: 3},
		{Host: "[2001:db8::1]", Target: 4},
		{Target: 5},
	})
	if err != nil {
		t.Fatal(err)
	}
	h := hdr("x-a", "value")
	hosts := []string{
		"example.com", "EXAMPLE.COM:8080", "a.b.example.com.", "x.example.org", "[2001:DB8::1]:443",
		"2001:db8::1", "[::ffff:192.0.2.1]", "[bad", "nomatch.test", strings.Repeat("a", 300),
	}
	for _, host := range hosts {
		hb, path := []byte(host), []byte("/api/x")
		allocs := testing.AllocsPerRun(100, func() { tab.Match(hb, path, h) })
		if allocs != 0 {
			t.Errorf("Match(%q) allocates %v times per call", host, allocs)
		}
	}
}

// TestSpliceAgainstReference splices random rule sets at random places and
// checks every table against the reference over the rule list it stands
// for, including the tables the splices started from, which must not change.
func TestSpliceAgainstReference(t *testing.T) {
	g := gen{rand.New(rand.NewSource(2))}
	sets, steps := 300, 12
	if testing.Short() {
		sets = 50
	}
	next := 1000 // targets of new rules, distinct from g.rules' indexes
	for set := range sets {
		rules := g.rules(30)
		tab, err := NewTable(rules)
		if err != nil {
			t.Fatal(err)
		}
		type version struct {
			tab   *Table[int]
			rules []Rule[int]
		}
		versions := []version{{tab, rules}}
		for step := range steps {
			from := g.r.Intn(len(rules) + 1)
			to := from + g.r.Intn(len(rules)-from+1)
			if g.r.Intn(2) == 0 {
				to = min(from+g.r.Intn(2), len(rules))
			}
			repl := g.rules(3)
			repl = repl[:g.r.Intn(len(repl)+1)]
			for i := range repl {
				repl[i].Target = next
				next++
			}
			tab, err = tab.Splice(from, to, repl)
			if err != nil {
				t.Fatalf("set %d step %d: Splice(%d, %d): %v", set, step, from, to, err)
			}
			rules = slices.Concat(rules[:from], repl, rules[to:])
			if tab.Len() != len(rules) {
				t.Fatalf("set %d step %d: Len %d, want %d", set, step, tab.Len(), len(rules))
			}
			versions = append(versions, version{tab, rules})
		}
		for vi, v := range versions {
			for range 20 {
				host, path, h := g.host(), g.pick(genPaths), g.headers()
				got, ok := v.tab.Match([]byte(host), []byte(path), h)
				want, wantOK := refMatch(v.rules, host, path, h)
				if got != want || ok != wantOK {
					t.Fatalf("set %d version %d: Match(%q, %q, %v) = %d, %v; reference %d, %v\nrules: %s",
						set, vi, host, path, h, got, ok, want, wantOK, dumpRules(v.rules))
				}
			}
		}
	}
}

// TestSpliceAtOnePlace inserts many rules between the same two neighbours,
// which uses up the order keys between them and makes Splice renumber, and
// at both ends of the list.
func TestSpliceAtOnePlace(t *testing.T) {
	rules := []Rule[int]{{Host: "a.example", Target: 0}, {Host: "a.example", Target: 1}}
	tab, err := NewTable(rules)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		// Same host, same everything: the earlier rule wins, so the winner
		// tells whether the order is right.
		r := Rule[int]{Host: "a.example", Target: 100 + i}
		at := []int{1, 0, len(rules)}[i/70] // 70 at the same place, then the ends
		if tab, err = tab.Splice(at, at, []Rule[int]{r}); err != nil {
			t.Fatal(err)
		}
		rules = slices.Insert(rules, at, r)
		want, _ := refMatch(rules, "a.example", "/", nil)
		if got, ok := tab.Match([]byte("a.example"), []byte("/"), nil); !ok || got != want {
			t.Fatalf("after %d inserts at %d: Match = %d, %v; want %d", i+1, at, got, ok, want)
		}
	}
	for i := range rules {
		// Remove the winner each time: the next one must win.
		want := rules[1:]
		if tab, err = tab.Splice(0, 1, nil); err != nil {
			t.Fatal(err)
		}
		rules = want
		got, ok := tab.Match([]byte("a.example"), []byte("/"), nil)
		if len(rules) == 0 {
			if ok {
				t.Fatalf("empty table matched %d", got)
			}
			break
		}
		if !ok || got != rules[0].Target {
			t.Fatalf("after %d removals: Match = %d, %v; want %d", i+1, got, ok, rules[0].Target)
		}
	}
}

// TestSpliceLargeTable splices a table big enough to be sharded and grows it
// past a re-shard, checking hosts old and new.
func TestSpliceLargeTable(t *testing.T) {
	n := 3000
	rules := make([]Rule[int], n)
	for i := range rules {
		rules[i] = Rule[int]{Host: "h" + strconv.Itoa(i) + ".example.com", Target: i}
	}
	tab, err := NewTable(rules)
	if err != nil {
		t.Fatal(err)
	}
	first := tab
	check := func(tab *Table[int], host string, want int, wantOK bool) {
		t.Helper()
		if got, ok := tab.Match([]byte(host), []byte("/"), nil); ok != wantOK || ok && got != want {
			t.Fatalf("Match(%q) = %d, %v; want %d, %v", host, got, ok, want, wantOK)
		}
	}
	// Replace one, append many (past a re-shard), delete one.
	if tab, err = tab.Splice(7, 8, []Rule[int]{{Host: "changed.example.com", Target: -7}}); err != nil {
		t.Fatal(err)
	}
	for i, end := n, shardMax*len(tab.shards)+1; i < end; i++ {
		if tab, err = tab.Splice(tab.Len(), tab.Len(), []Rule[int]{{Host: "h" + strconv.Itoa(i) + ".example.com", Target: i}}); err != nil {
			t.Fatal(err)
		}
	}
	if tab, err = tab.Splice(100, 101, nil); err != nil {
		t.Fatal(err)
	}
	check(tab, "h7.example.com", 0, false)
	check(tab, "changed.example.com", -7, true)
	check(tab, "h100.example.com", 0, false)
	check(tab, "h99.example.com", 99, true)
	check(tab, "h101.example.com", 101, true)
	check(tab, "h5000.example.com", 5000, true)
	check(first, "h7.example.com", 7, true)
	check(first, "changed.example.com", 0, false)
	check(first, "h100.example.com", 100, true)
	check(first, "h5000.example.com", 0, false)
	if len(tab.shards) <= len(first.shards) {
		t.Fatalf("%d shards after growing from %d", len(tab.shards), len(first.shards))
	}
	// Splice errors name the rule by its index in the new list.
	if _, err := tab.Splice(3, 3, []Rule[int]{{Host: "ok.example"}, {Host: "*."}}); err == nil || !strings.Contains(err.Error(), "rule 4") {
		t.Fatalf("bad host: %v", err)
	}
	if _, err := tab.Splice(5, 4, nil); err == nil {
		t.Fatal("a reversed range was accepted")
	}
}

func TestChunkSeq(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	var want []int
	s := chunkSeqOf[int](nil)
	next := 0
	for step := range 3000 {
		from := r.Intn(len(want) + 1)
		to := min(from+r.Intn(3), len(want))
		if step%500 == 0 {
			to = from + r.Intn(len(want)-from+1)
		}
		repl := make([]int, r.Intn(4))
		if step%97 == 0 {
			repl = make([]int, 1000)
		}
		for i := range repl {
			repl[i] = next
			next++
		}
		old, oldWant := s, slices.Clone(want)
		s = s.splice(from, to, repl)
		want = slices.Concat(want[:from], repl, want[to:])
		if s.len() != len(want) {
			t.Fatalf("step %d: len %d, want %d", step, s.len(), len(want))
		}
		for i := range want {
			if *s.at(i) != want[i] {
				t.Fatalf("step %d: at(%d) = %d, want %d", step, i, *s.at(i), want[i])
			}
		}
		for i := range oldWant {
			if *old.at(i) != oldWant[i] {
				t.Fatalf("step %d: the old sequence changed at %d", step, i)
			}
		}
		for c := range s.chunks {
			if len(s.chunks[c]) == 0 || len(s.chunks[c]) > 2*seqChunk {
				t.Fatalf("step %d: chunk %d has %d elements", step, c, len(s.chunks[c]))
			}
		}
	}
}
