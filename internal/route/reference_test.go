package route

import (
	"fmt"
	"math/rand"
	"net/netip"
	"strconv"
	"strings"
	"testing"
)

// refMatch is the naive reference for Table.Match: it scans every rule,
// decides each one on its own with plain string functions, and applies the
// tie-break from the package doc. It returns the Target of the winner.
func refMatch[T any](rules []Rule[T], host, path string, h Headers) (T, bool) {
	name, addr, kind := refNormalize(host)
	best := -1
	var bestKey [5]int
	for i, r := range rules {
		rank, ok := refHostRank(r, name, addr, kind)
		if !ok || !strings.HasPrefix(path, r.PathPrefix) || !refHeaders(r.Headers, h) {
			continue
		}
		// Smaller key wins: negate what "higher wins" compares.
		key := [5]int{-r.Priority, -rank, -len(r.PathPrefix), -len(r.Headers), i}
		if best < 0 || lessKey(key, bestKey) {
			best, bestKey = i, key
		}
	}
	if best < 0 {
		var zero T
		return zero, false
	}
	return rules[best].Target, true
}

func lessKey(a, b [5]int) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

const (
	refNone = iota
	refName
	refIPv6
)

func refNormalize(host string) (string, netip.Addr, int) {
	ipv6 := func(s string) (string, netip.Addr, int) {
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is6() || a.Zone() != "" {
			return "", netip.Addr{}, refNone
		}
		return "", a, refIPv6
	}
	switch {
	case strings.HasPrefix(host, "["):
		inner, rest, found := strings.Cut(host[1:], "]")
		if !found || rest != "" && rest[0] != ':' {
			return "", netip.Addr{}, refNone
		}
		return ipv6(inner)
	case strings.Count(host, ":") >= 2:
		return ipv6(host)
	}
	if i := strings.Index(host, ":"); i >= 0 {
		host = host[:i]
	}
	host = strings.TrimSuffix(host, ".")
	if host == "" || len(host) > 255 {
		return "", netip.Addr{}, refNone
	}
	return asciiLower(host), netip.Addr{}, refName
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// refHostRank decides whether rule r's host matches, and how specific the
// match is: rankExact for an exact name or address, the suffix length for a
// wildcard or match_subdomains rule, 0 for any host.
func refHostRank[T any](r Rule[T], name string, addr netip.Addr, kind int) (int, bool) {
	p := r.Host
	if p == "" {
		return 0, true
	}
	if strings.HasPrefix(p, "[") || strings.Count(p, ":") >= 2 {
		a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(p, "["), "]"))
		if err != nil {
			panic("reference given an invalid pattern " + p)
		}
		return rankExact, kind == refIPv6 && a == addr
	}
	if kind != refName {
		return 0, false
	}
	if suffix, ok := strings.CutPrefix(p, "*."); ok {
		suffix = asciiLower(strings.TrimSuffix(suffix, "."))
		return len(suffix), strings.HasSuffix(name, "."+suffix)
	}
	p = asciiLower(strings.TrimSuffix(p, "."))
	if r.MatchSubdomains {
		return len(p), name == p || strings.HasSuffix(name, "."+p)
	}
	return rankExact, name == p
}

func refHeaders(conds []HeaderMatch, h Headers) bool {
	for _, c := range conds {
		if h == nil {
			return false
		}
		v, ok := h.Get(strings.ToLower(c.Name))
		switch {
		case !ok:
			return false
		case c.Value == "":
		case c.Prefix:
			if !strings.HasPrefix(string(v), c.Value) {
				return false
			}
		default:
			if string(v) != c.Value {
				return false
			}
		}
	}
	return true
}

// gen draws rules and requests from small alphabets, so that random rules
// overlap often and every tie-break step gets exercised.
type gen struct{ r *rand.Rand }

var (
	genLabels   = []string{"a", "b", "c", "ex-1", "x_y"}
	genPaths    = []string{"", "/", "/a", "/ab", "/a/b", "/b", "/abc", "/c"}
	genHeaders  = []string{"X-A", "x-b", "X-C"}
	genValues   = []string{"", "1", "12", "2", "1x"}
	genIPv6Pats = []string{"::1", "[::1]", "2001:db8::1", "[2001:DB8::1]", "::ffff:192.0.2.1"}
	genIPv6Reqs = []string{
		"[::1]", "[::1]:80", "[0:0::1]", "::1", "[2001:db8:0::1]:443", "[2001:db8::2]",
		"[::ffff:c000:201]", "[::ffff:192.0.2.1]:1", "[::1", "[::1]x", "[fe80::1%eth0]", "1:2",
	}
)

func (g gen) pick(s []string) string { return s[g.r.Intn(len(s))] }

func (g gen) name(maxLabels int) string {
	n := 1 + g.r.Intn(maxLabels)
	labels := make([]string, n)
	for i := range labels {
		labels[i] = g.pick(genLabels)
	}
	return strings.Join(labels, ".")
}

// mangle varies case and adds a trailing dot, as clients and configs do.
func (g gen) mangle(s string) string {
	if g.r.Intn(3) == 0 {
		s = strings.ToUpper(s[:1]) + s[1:]
	}
	if g.r.Intn(4) == 0 {
		s = strings.ToUpper(s)
	}
	if g.r.Intn(5) == 0 {
		s += "."
	}
	return s
}

func (g gen) rules(maxRules int) []Rule[int] {
	rules := make([]Rule[int], 1+g.r.Intn(maxRules))
	for i := range rules {
		r := &rules[i]
		switch g.r.Intn(10) {
		case 0:
			r.Host = ""
		case 1:
			r.Host = g.pick(genIPv6Pats)
		case 2, 3:
			r.Host = g.mangle("*." + g.name(2))
		default:
			r.Host = g.mangle(g.name(3))
		}
		r.MatchSubdomains = g.r.Intn(3) == 0
		r.PathPrefix = g.pick(genPaths)
		for range g.r.Intn(3) {
			r.Headers = append(r.Headers, HeaderMatch{
				Name: g.pick(genHeaders), Value: g.pick(genValues), Prefix: g.r.Intn(2) == 0,
			})
		}
		r.Priority = g.r.Intn(3)
		r.Target = i
	}
	return rules
}

func (g gen) host() string {
	switch g.r.Intn(12) {
	case 0:
		return g.pick(genIPv6Reqs)
	case 1:
		return ""
	case 2:
		return strings.Repeat("a.", 120+g.r.Intn(10)) + g.name(2)
	}
	h := g.mangle(g.name(5))
	if g.r.Intn(4) == 0 {
		h += ":" + strconv.Itoa(g.r.Intn(65536))
	}
	return h
}

func (g gen) headers() Headers {
	if g.r.Intn(4) == 0 {
		return nil
	}
	h := &testHeaders{}
	for range g.r.Intn(4) {
		h.kv = append(h.kv, headerKV{g.pick(genHeaders), []byte(g.pick(genValues))})
	}
	return h
}

// TestMatchAgainstReference compares Match with refMatch over random rule
// sets and requests.
func TestMatchAgainstReference(t *testing.T) {
	g := gen{rand.New(rand.NewSource(1))}
	sets, reqs := 2000, 50
	if testing.Short() {
		sets = 200
	}
	for set := range sets {
		rules := g.rules(30)
		tab, err := NewTable(rules)
		if err != nil {
			t.Fatalf("set %d: NewTable: %v", set, err)
		}
		for range reqs {
			host, path, h := g.host(), g.pick(genPaths), g.headers()
			got, ok := tab.Match([]byte(host), []byte(path), h)
			want, wantOK := refMatch(rules, host, path, h)
			if got != want || ok != wantOK {
				t.Fatalf("set %d: Match(%q, %q, %v) = %d, %v; reference %d, %v\nrules: %s",
					set, host, path, h, got, ok, want, wantOK, dumpRules(rules))
			}
		}
	}
}

func dumpRules(rules []Rule[int]) string {
	var b strings.Builder
	for i, r := range rules {
		fmt.Fprintf(&b, "\n  %d: %+v", i, r)
	}
	return b.String()
}

// FuzzMatch checks that Match never panics and agrees with the reference,
// for a fuzzed request against a rule set drawn from seed plus one rule with
// a fuzzed host pattern (when NewTable accepts it).
func FuzzMatch(f *testing.F) {
	f.Add(int64(1), "*.example.com", "a.example.com", "/a", "1", false)
	f.Add(int64(2), "example.com", "EXAMPLE.com.:443", "/ab", "12", true)
	f.Add(int64(3), "[::1]", "[0::1]:80", "", "", false)
	f.Add(int64(4), "", "[::ffff:1.2.3.4]", "/", "x", true)
	f.Add(int64(5), "a.b", "x.a.b", "/c", "2", false)
	f.Add(int64(6), "*.", "[", "/", "", true)
	f.Fuzz(func(t *testing.T, seed int64, pattern, host, path, value string, subdomains bool) {
		g := gen{rand.New(rand.NewSource(seed))}
		rules := g.rules(20)
		if ValidHost(pattern) == nil {
			rules = append(rules, Rule[int]{
				Host: pattern, MatchSubdomains: subdomains, PathPrefix: g.pick(genPaths),
				Priority: g.r.Intn(3), Target: len(rules),
			})
		}
		tab, err := NewTable(rules)
		if err != nil {
			t.Fatalf("NewTable: %v", err)
		}
		h := &testHeaders{kv: []headerKV{{"x-a", []byte(value)}, {"X-B", []byte(value)}}}
		for _, hs := range []Headers{h, nil} {
			got, ok := tab.Match([]byte(host), []byte(path), hs)
			want, wantOK := refMatch(rules, host, path, hs)
			if got != want || ok != wantOK {
				t.Fatalf("Match(%q, %q) = %d, %v; reference %d, %v\nrules: %s",
					host, path, got, ok, want, wantOK, dumpRules(rules))
			}
		}
	})
}

func TestParseIPv6(t *testing.T) {
	cases := []string{
		"::", "::1", "1::", "1::2", "2001:db8::1", "2001:DB8:0:0:0:0:0:1", "0:0:0:0:0:0:0:0",
		"1:2:3:4:5:6:7:8", "1:2:3:4:5:6::8", "::ffff:192.0.2.1", "1:2:3:4:5:6:1.2.3.4", "::1.2.3.4",
		"fe80::1%eth0", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", "1::2::3", ":1::2", "1::2:", "12345::",
		"::ffff:1.2.3", "::ffff:1.2.3.04", "::ffff:1.2.3.256", "::ffff:1..3.4", "1.2.3.4", "", ":", ":::",
		"1:2:3:4:5:6:7::", "::1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8::", "g::1", "1::2.3.4.5.6", "1:2:3:4:5:1.2.3.4",
		"::ffff:1.2.3.4:1", "0000:0000::00001",
	}
	for _, s := range cases {
		checkParseIPv6(t, s)
	}
}

func checkParseIPv6(t *testing.T, s string) {
	t.Helper()
	got, ok := parseIPv6([]byte(s))
	a, err := netip.ParseAddr(s)
	wantOK := err == nil && a.Is6() && a.Zone() == ""
	if ok != wantOK {
		t.Fatalf("parseIPv6(%q) ok = %v, netip says %v (%v)", s, ok, wantOK, err)
	}
	if ok && got != a.As16() {
		t.Fatalf("parseIPv6(%q) = %x, netip says %x", s, got, a.As16())
	}
}

// FuzzParseIPv6 holds parseIPv6 to netip.ParseAddr's answer.
func FuzzParseIPv6(f *testing.F) {
	for _, s := range []string{"::1", "2001:db8::1", "::ffff:1.2.3.4", "1:2:3:4:5:6:7:8", "1::2::3"} {
		f.Add(s)
	}
	f.Fuzz(checkParseIPv6)
}
