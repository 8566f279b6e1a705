// Package route matches a request's host, path and headers against the
// routes of one frontend, through an immutable Table built once per snapshot.
//
// # Lookup
//
// Host lookup never scans the rules. A Table keeps one map from a name to
// the rules that match that name itself (exact hosts and match_subdomains
// hosts) and the rules that match every name strictly below it (wildcards
// "*.name" and match_subdomains hosts), and one map from IPv6 address to its
// rules. Match looks up the name, then each of its suffixes label by label
// (a.b.example.com → b.example.com → example.com → com), then the any-host
// rules: its cost grows with the number of labels in the request's host,
// not with the number of hosts in the table (BenchmarkMatch shows 10 and
// 10,000 hosts side by side).
//
// # Tie-break
//
// When several rules match, the winner is decided by, in order:
//
//  1. the higher Priority;
//  2. the more specific host: an exact host (or IPv6 literal), then a
//     wildcard or match_subdomains host with a longer suffix, then one with a
//     shorter suffix ("*.example.com" and match_subdomains "example.com" both
//     have the suffix "example.com", and rank the same even for the name
//     example.com itself), then the any-host rules;
//  3. the longer PathPrefix;
//  4. more Headers conditions;
//  5. the earlier rule (its index in the slice given to NewTable).
//
// This is a total order, so exactly one rule wins. Every candidate list is
// sorted by it at build time, so Match takes the first matching rule of each
// list it visits and compares only those.
//
// # Normalisation
//
// Hosts are compared in ASCII lower case, without a ":port" and without one
// trailing dot, on both sides: rules at build time, requests in Match. IPv6
// literals ("[2001:db8::1]:8443") are compared as addresses, so any text
// form of the address matches. A request host longer than 255 bytes, empty
// or malformed matches only the any-host rules.
//
// # Allocation budget
//
// Match is on the hot path: 0 allocations, no locks, no map writes. It
// lower-cases into a fixed-size array on its stack. Building a Table
// allocates freely; it happens once per snapshot, off the request path.
package route

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// HeaderMatch requires a request header. Name is case-insensitive. Value ""
// means the header only has to be present; otherwise its value must equal
// Value exactly (case-sensitive) or, if Prefix is true, start with Value.
type HeaderMatch struct {
	Name, Value string
	Prefix      bool
}

// Rule is one route.
//
// Host is "" (any host), an exact name ("example.com"), a wildcard
// ("*.example.com", matching any name that ends in ".example.com", at any
// depth, but not "example.com" itself) or an IPv6 literal; see ValidHost.
// MatchSubdomains on an exact name means the name and all its subdomains
// match; it changes nothing on a wildcard, an IPv6 literal or "".
// PathPrefix "" matches every path; otherwise it is a byte prefix of the
// path, like HAProxy's path_beg. All Headers must match. Priority: higher
// wins; see the package doc for the full tie-break.
type Rule[T any] struct {
	Host            string
	MatchSubdomains bool
	PathPrefix      string
	Headers         []HeaderMatch
	Priority        int
	Target          T
}

// Headers gives request header values to Match. The proxy implements it
// over its parsed request with a pointer receiver, so passing it to Match
// costs no allocation. Get is given the name in lower case and must compare
// names case-insensitively; for a header sent more than once it returns the
// value the proxy treats as authoritative (usually the first).
type Headers interface {
	Get(name string) ([]byte, bool)
}

// rankExact is the host rank of exact names and IPv6 literals: above every
// suffix length (at most maxPattern), which is the rank of wildcard and
// match_subdomains rules. Any-host rules rank 0.
const rankExact = 1 << 16

// entry is a compiled rule, without its target. It is not generic, so that
// the code scanning candidate lists is compiled once and can inline.
type entry struct {
	priority int
	rank     int
	index    int // into the rules given to NewTable, and into Table.targets
	prefix   string
	headers  []HeaderMatch // names lower-cased
}

// before reports whether e wins over o by the package's tie-break.
func (e *entry) before(o *entry) bool {
	return compareEntries(e, o) < 0
}

func compareEntries(a, b *entry) int {
	if c := cmp.Compare(b.priority, a.priority); c != 0 {
		return c
	}
	if c := cmp.Compare(b.rank, a.rank); c != 0 {
		return c
	}
	if c := cmp.Compare(len(b.prefix), len(a.prefix)); c != 0 {
		return c
	}
	if c := cmp.Compare(len(b.headers), len(a.headers)); c != 0 {
		return c
	}
	return cmp.Compare(a.index, b.index)
}

// matches reports whether the path and headers satisfy e; the host was
// matched by the lookup that found e.
func (e *entry) matches(path []byte, h Headers) bool {
	if len(path) < len(e.prefix) || string(path[:len(e.prefix)]) != e.prefix {
		return false
	}
	if len(e.headers) == 0 {
		return true
	}
	return e.matchHeaders(h)
}

func (e *entry) matchHeaders(h Headers) bool {
	if h == nil {
		return false
	}
	for i := range e.headers {
		m := &e.headers[i]
		v, ok := h.Get(m.Name)
		if !ok {
			return false
		}
		switch {
		case m.Value == "":
		case m.Prefix:
			if len(v) < len(m.Value) || string(v[:len(m.Value)]) != m.Value {
				return false
			}
		default:
			if string(v) != m.Value {
				return false
			}
		}
	}
	return true
}

// node holds the rules found under one name, each list sorted by the
// tie-break. Entries are stored by value so that a scan walks contiguous
// memory; a match_subdomains rule is copied into both lists.
type node struct {
	here []entry // match the name itself: exact and match_subdomains rules
	sub  []entry // match names strictly below it: wildcard and match_subdomains rules
}

// Table is an immutable set of routes for one frontend. It is safe for
// concurrent use; Match is on the hot path and neither allocates nor locks.
type Table[T any] struct {
	names   map[string]*node
	ips     map[[16]byte][]entry
	any     []entry
	targets []T // by rule index
	// subs is false when no rule matches below a name, so that Match can
	// skip the suffix walk.
	subs bool
}

// NewTable compiles rules into a Table. It copies what it keeps, so the
// caller may reuse rules. It fails, naming the rule's index, on an invalid
// Host pattern (see ValidHost) or a header condition with an empty name.
func NewTable[T any](rules []Rule[T]) (*Table[T], error) {
	t := &Table[T]{
		names:   make(map[string]*node),
		ips:     make(map[[16]byte][]entry),
		targets: make([]T, len(rules)),
	}
	for i := range rules {
		r := &rules[i]
		p, err := parsePattern(r.Host)
		if err != nil {
			return nil, fmt.Errorf("route: rule %d: invalid host %w", i, err)
		}
		t.targets[i] = r.Target
		e := entry{priority: r.Priority, index: i, prefix: r.PathPrefix}
		if len(r.Headers) > 0 {
			e.headers = make([]HeaderMatch, len(r.Headers))
			for j, hm := range r.Headers {
				if hm.Name == "" {
					return nil, fmt.Errorf("route: rule %d: header condition %d has an empty name", i, j)
				}
				hm.Name = strings.ToLower(hm.Name)
				e.headers[j] = hm
			}
		}
		switch p.kind {
		case kindAny:
			t.any = append(t.any, e)
		case kindIPv6:
			e.rank = rankExact
			t.ips[p.ip] = append(t.ips[p.ip], e)
		case kindName:
			n := t.node(p.name)
			if r.MatchSubdomains {
				e.rank = len(p.name)
				n.here = append(n.here, e)
				n.sub = append(n.sub, e)
				t.subs = true
			} else {
				e.rank = rankExact
				n.here = append(n.here, e)
			}
		case kindWildcard:
			e.rank = len(p.name)
			n := t.node(p.name)
			n.sub = append(n.sub, e)
			t.subs = true
		}
	}
	sortEntries(t.any)
	for _, l := range t.ips {
		sortEntries(l)
	}
	for _, n := range t.names {
		sortEntries(n.here)
		sortEntries(n.sub)
	}
	return t, nil
}

func sortEntries(l []entry) {
	slices.SortFunc(l, func(a, b entry) int { return compareEntries(&a, &b) })
}

func (t *Table[T]) node(name string) *node {
	n := t.names[name]
	if n == nil {
		n = &node{}
		t.names[name] = n
	}
	return n
}

// Len returns the number of rules in t.
func (t *Table[T]) Len() int { return len(t.targets) }

// Match returns the target of the rule that wins for a request, and false if
// no rule matches. host is the Host header (or the TLS SNI name), path the
// request path, h the request headers; h may be nil, and rules with Headers
// conditions then never match. Match is on the hot path: it does not
// allocate and does not lock.
//
// The winner is the matching rule with the highest Priority; among equal
// priority the more specific host (exact, then longer wildcard or
// match_subdomains suffix, then shorter, then any host), then the longer
// PathPrefix, then more Headers conditions, then the lower index. Because
// each candidate list was sorted in that order by NewTable, Match compares
// only the first matching rule of each list, and stops scanning a list as
// soon as its next rule could not beat the best so far.
func (t *Table[T]) Match(host, path []byte, h Headers) (T, bool) {
	var buf [maxName]byte
	var best *entry
	name, ip, kind := normalize(&buf, host)
	switch kind {
	case nameIPv6:
		best = pick(t.ips[ip], best, path, h)
	case nameDNS:
		if n := t.names[string(name)]; n != nil {
			best = pick(n.here, best, path, h)
		}
		if t.subs {
			// Longest suffix first: at equal priority it ranks higher, so
			// later lists are cut short sooner.
			for i := 0; i < len(name); i++ {
				if name[i] != '.' {
					continue
				}
				if n := t.names[string(name[i+1:])]; n != nil {
					best = pick(n.sub, best, path, h)
				}
			}
		}
	}
	best = pick(t.any, best, path, h)
	if best == nil {
		var zero T
		return zero, false
	}
	return t.targets[best.index], true
}

// pick returns the first rule of list that matches and beats best, or best.
// list is sorted by the tie-break, so once a rule cannot beat best no later
// rule can either.
func pick(list []entry, best *entry, path []byte, h Headers) *entry {
	for i := range list {
		e := &list[i]
		if best != nil && !e.before(best) {
			break
		}
		if e.matches(path, h) {
			return e
		}
	}
	return best
}
