package route

import (
	"strconv"
	"testing"
)

// benchTable builds a table with n exact hosts, n wildcard suffixes, one
// host with 50 path prefixes and a header rule, so that the same lookups can
// be timed at different sizes.
func benchTable(b *testing.B, n int) *Table[int] {
	b.Helper()
	var rules []Rule[int]
	for i := range n {
		s := strconv.Itoa(i)
		rules = append(rules,
			Rule[int]{Host: "host" + s + ".example.com", Target: len(rules)},
			Rule[int]{Host: "*.w" + s + ".example.net", Target: len(rules) + 1},
		)
	}
	for i := range 50 {
		rules = append(rules, Rule[int]{Host: "paths.example.com", PathPrefix: "/p" + strconv.Itoa(100+i) + "/", Target: len(rules)})
	}
	rules = append(rules, Rule[int]{
		Host: "hdr.example.com", Headers: []HeaderMatch{{Name: "X-Canary", Value: "yes"}, {Name: "User-Agent", Value: "curl/", Prefix: true}},
		Target: len(rules),
	})
	tab, err := NewTable(rules)
	if err != nil {
		b.Fatal(err)
	}
	return tab
}

func BenchmarkMatch(b *testing.B) {
	h := hdr("host", "hdr.example.com", "user-agent", "curl/8.5.0", "x-canary", "yes")
	lookups := []struct {
		name, host, path string
		hit              bool
	}{
		{"exact", "host7.example.com", "/index.html", true},
		{"exact-port-case", "HOST7.Example.com:8443", "/index.html", true},
		{"wildcard", "a.b.w7.example.net", "/", true},
		{"miss", "nohost.example.org", "/", false},
		{"paths50", "paths.example.com", "/p149/x", true}, // the last of 50 prefixes of equal length
		{"headers", "hdr.example.com", "/", true},
		{"ipv6-miss", "[2001:db8::1]:443", "/", false},
	}
	for _, n := range []int{10, 10000} {
		tab := benchTable(b, n)
		for _, l := range lookups {
			b.Run("hosts="+strconv.Itoa(n)+"/"+l.name, func(b *testing.B) {
				host, path := []byte(l.host), []byte(l.path)
				if _, ok := tab.Match(host, path, h); ok != l.hit {
					b.Fatalf("Match(%q) ok = %v, want %v", l.host, ok, l.hit)
				}
				b.ReportAllocs()
				for b.Loop() {
					tab.Match(host, path, h)
				}
			})
		}
	}
}

func BenchmarkNewTable(b *testing.B) {
	for _, n := range []int{10, 10000} {
		b.Run("hosts="+strconv.Itoa(n), func(b *testing.B) {
			rules := make([]Rule[int], n)
			for i := range rules {
				rules[i] = Rule[int]{Host: "host" + strconv.Itoa(i) + ".example.com", Target: i}
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := NewTable(rules); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSplice replaces one rule of tables of 1,000 and 100,000 hosts, as
// a route change does: the cost should barely grow with the table.
func BenchmarkSplice(b *testing.B) {
	for _, n := range []int{1000, 100000} {
		b.Run("hosts="+strconv.Itoa(n), func(b *testing.B) {
			rules := make([]Rule[int], n)
			for i := range rules {
				rules[i] = Rule[int]{Host: "host" + strconv.Itoa(i) + ".example.com", Target: i}
			}
			tab, err := NewTable(rules)
			if err != nil {
				b.Fatal(err)
			}
			repl := []Rule[int]{{Host: "changed.example.com", Target: -1}}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				at := i * 7919 % n
				if _, err := tab.Splice(at, at+1, repl); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
