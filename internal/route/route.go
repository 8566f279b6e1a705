// Package route matches a request's host, path and headers against the
// routes of one frontend, through an immutable Table built once per snapshot.
//
// # Lookup
//
// Host lookup never scans the rules. A Table keeps one hash index from a
// name to the rules that match that name itself (exact hosts and
// match_subdomains hosts) and the rules that match every name strictly below
// it (wildcards "*.name" and match_subdomains hosts), and one map from IPv6
// address to its rules. Match looks up the name, then each of its suffixes
// label by label (a.b.example.com → b.example.com → example.com → com), then
// the any-host rules: its cost grows with the number of labels in the
// request's host, not with the number of hosts in the table (BenchmarkMatch
// shows 10 and 10,000 hosts side by side). The index is split into shards by
// the name's hash (one shard up to 1,024 rules, about 256 names per shard
// above), and each lookup hashes the name once, for both the shard and the
// slot in it.
//
// # Changes
//
// A Table never changes once built. Splice makes the table of a changed
// rule list from an existing one, sharing everything the change does not
// touch: it copies the candidate lists and rebuilds the index shards of the
// hosts involved, so one route changed among 100,000 costs about as much as
// among 100 (BenchmarkSplice). The earlier-rule tie-break (step 5 below)
// compares order keys that keep the list's order without being indexes, so
// inserting a rule does not renumber the rules after it.
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
//  5. the earlier rule (its index in the slice given to NewTable, or in the
//     list a Splice makes).
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
// lower-cases into a fixed-size array on its stack. Building a Table (NewTable
// or Splice) allocates freely; it happens when a snapshot is compiled, off
// the request path.
package route

import (
	"cmp"
	"fmt"
	"hash/maphash"
	"maps"
	"math"
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

// Order keys. A rule's place in the list is an order key rather than its
// index, so that Splice can insert rules without renumbering the ones after
// them: NewTable numbers rules orderBase, orderBase+orderGap, ...; Splice
// gives new rules keys between their neighbours' (spaced by orderGap at the
// ends of the list, evenly in between), and renumbers the whole table only
// when two neighbours have no key left between them.
const (
	orderBase = 1 << 40
	orderGap  = 1 << 32
)

// The name index is split into shards by a hash of the name, so that Splice
// rebuilds one shard, not the whole index: a table of up to shardMax rules
// has one shard; a bigger one about shardTarget names per shard, and Splice
// re-shards when the names outgrow shardMax per shard. Each shard is an
// open-addressing table that Match probes with the same hash that chose the
// shard, so sharding costs a lookup nothing over a plain map.
const (
	shardTarget = 256
	shardMax    = 1024
)

// entry is a compiled rule, without its target. It is not generic, so that
// the code scanning candidate lists is compiled once and can inline.
type entry struct {
	priority int
	rank     int
	order    uint64 // the rule's place in the list: smaller is earlier
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
	return cmp.Compare(a.order, b.order)
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

// ruleList is one candidate list: entries sorted by the tie-break, stored
// by value so that a scan walks contiguous memory, and their targets
// alongside (t[i] is the target of e[i]). A list is never modified once its
// table is built: Splice makes new ones.
type ruleList[T any] struct {
	e []entry
	t []T
}

// pick returns the first rule of l that matches and beats best (with its
// target), or best and target unchanged.
func (l *ruleList[T]) pick(best *entry, target T, path []byte, h Headers) (*entry, T) {
	if i := pick(l.e, best, path, h); i >= 0 {
		return &l.e[i], l.t[i]
	}
	return best, target
}

// with returns a copy of l with e (and its target) at its place by the
// tie-break.
func (l ruleList[T]) with(e entry, target T) ruleList[T] {
	i, _ := slices.BinarySearchFunc(l.e, &e, func(a entry, b *entry) int { return compareEntries(&a, b) })
	return ruleList[T]{e: slices.Insert(slices.Clip(l.e), i, e), t: slices.Insert(slices.Clip(l.t), i, target)}
}

// without returns a copy of l without the entry of order key order.
func (l ruleList[T]) without(order uint64) ruleList[T] {
	i := slices.IndexFunc(l.e, func(e entry) bool { return e.order == order })
	if i < 0 {
		return l
	}
	return ruleList[T]{e: slices.Delete(slices.Clone(l.e), i, i+1), t: slices.Delete(slices.Clone(l.t), i, i+1)}
}

func (l *ruleList[T]) sort() {
	if len(l.e) < 2 {
		return
	}
	idx := make([]int, len(l.e))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return compareEntries(&l.e[a], &l.e[b]) })
	e, t := make([]entry, len(idx)), make([]T, len(idx))
	for i, j := range idx {
		e[i], t[i] = l.e[j], l.t[j]
	}
	l.e, l.t = e, t
}

// node holds the rules found under one name. A match_subdomains rule is in
// both lists.
type node[T any] struct {
	here ruleList[T] // match the name itself: exact and match_subdomains rules
	sub  ruleList[T] // match names strictly below it: wildcard and match_subdomains rules
}

// ruleRec is what a table remembers of each rule, in list order, so that
// Splice can find the entries of the rules it replaces.
type ruleRec struct {
	p     pattern
	subs  bool // MatchSubdomains
	order uint64
}

// Table is an immutable set of routes for one frontend. It is safe for
// concurrent use; Match is on the hot path and neither allocates nor locks.
type Table[T any] struct {
	shards []*nameShard[T] // a power of two of them; see hash
	seed   maphash.Seed
	names  int // names in all shards
	ips    map[[16]byte]ruleList[T]
	any    ruleList[T]
	// subs counts the entries of sub lists: with none, Match skips the
	// suffix walk.
	subs int
	recs chunkSeq[ruleRec]
}

// nameShard is one shard of the name index: an open-addressing table with
// linear probing, at most half full, built once and never modified (Splice
// builds a new one).
type nameShard[T any] struct {
	slots []nameSlot[T] // a power of two of them, or none
}

type nameSlot[T any] struct {
	hash uint64
	name string
	node *node[T] // nil: an empty slot
}

// get returns the node of name, whose hash is h, or nil. On the hot path.
func (s *nameShard[T]) get(h uint64, name []byte) *node[T] {
	if len(s.slots) == 0 {
		return nil
	}
	mask := uint64(len(s.slots) - 1)
	for i := (h >> 32) & mask; ; i = (i + 1) & mask {
		sl := &s.slots[i]
		if sl.node == nil {
			return nil
		}
		if sl.hash == h && sl.name == string(name) {
			return sl.node
		}
	}
}

// getString is get for a name held as a string (building a table).
func (s *nameShard[T]) getString(h uint64, name string) *node[T] {
	if len(s.slots) == 0 {
		return nil
	}
	mask := uint64(len(s.slots) - 1)
	for i := (h >> 32) & mask; ; i = (i + 1) & mask {
		sl := &s.slots[i]
		if sl.node == nil {
			return nil
		}
		if sl.hash == h && sl.name == name {
			return sl.node
		}
	}
}

// newNameShard builds a shard holding slots (whose node is never nil).
func newNameShard[T any](slots []nameSlot[T]) *nameShard[T] {
	s := &nameShard[T]{}
	if len(slots) == 0 {
		return s
	}
	size := 8
	for size < 2*len(slots) {
		size <<= 1
	}
	s.slots = make([]nameSlot[T], size)
	mask := uint64(size - 1)
	for _, sl := range slots {
		i := (sl.hash >> 32) & mask
		for s.slots[i].node != nil {
			i = (i + 1) & mask
		}
		s.slots[i] = sl
	}
	return s
}

// hash returns the hash of a name and its shard. maphash.String and
// maphash.Bytes agree, so Match hashes the request's bytes.
func (t *Table[T]) hash(name string) (uint64, int) {
	h := maphash.String(t.seed, name)
	return h, int(h & uint64(len(t.shards)-1))
}

// lookupString returns the node of name, or nil.
func (t *Table[T]) lookupString(name string) *node[T] {
	h, sh := t.hash(name)
	return t.shards[sh].getString(h, name)
}

// lookup returns the node of name, or nil. On the hot path.
func (t *Table[T]) lookup(name []byte) *node[T] {
	h := maphash.Bytes(t.seed, name)
	return t.shards[h&uint64(len(t.shards)-1)].get(h, name)
}

// shardCount is the number of shards for n names (or rules).
func shardCount(n int) int {
	if n <= shardMax {
		return 1
	}
	s := 1
	for s*shardTarget < n {
		s <<= 1
	}
	return s
}

// tableEdit builds a table from another (or from nothing): the nodes of the
// names it changes are its own copies, kept aside until finish rebuilds the
// shards they live in.
type tableEdit[T any] struct {
	t     *Table[T]
	nodes map[string]*node[T] // changed names; an empty node is removed
	fresh bool                // t has no names yet (NewTable)
	// NewTable takes nodes and one-entry lists from slabs, a few big
	// allocations rather than three per rule.
	nodeSlab  []node[T]
	entrySlab []entry
	targSlab  []T
}

// node returns the editable node of name, created empty or copied from the
// table's.
func (e *tableEdit[T]) node(name string) *node[T] {
	if n, ok := e.nodes[name]; ok {
		return n
	}
	var n *node[T]
	if len(e.nodeSlab) > 0 {
		n, e.nodeSlab = &e.nodeSlab[0], e.nodeSlab[1:]
	} else {
		n = &node[T]{}
	}
	if !e.fresh {
		if old := e.t.lookupString(name); old != nil {
			*n = *old
		}
	}
	e.nodes[name] = n
	return n
}

// place adds e to the lists its rule belongs in, through add (which returns
// a new list or appends to one the edit owns).
func (e *tableEdit[T]) place(rec ruleRec, en entry, target T, add func(ruleList[T], entry, T) ruleList[T]) {
	t := e.t
	switch rec.p.kind {
	case kindAny:
		t.any = add(t.any, en, target)
	case kindIPv6:
		t.ips[rec.p.ip] = add(t.ips[rec.p.ip], en, target)
	case kindName:
		n := e.node(rec.p.name)
		n.here = add(n.here, en, target)
		if rec.subs {
			n.sub = add(n.sub, en, target)
			t.subs++
		}
	case kindWildcard:
		n := e.node(rec.p.name)
		n.sub = add(n.sub, en, target)
		t.subs++
	}
}

// unplace removes the entries of rec's rule.
func (e *tableEdit[T]) unplace(rec ruleRec) {
	t := e.t
	switch rec.p.kind {
	case kindAny:
		t.any = t.any.without(rec.order)
	case kindIPv6:
		l := t.ips[rec.p.ip].without(rec.order)
		if len(l.e) == 0 {
			delete(t.ips, rec.p.ip)
		} else {
			t.ips[rec.p.ip] = l
		}
	case kindName, kindWildcard:
		n := e.node(rec.p.name)
		if rec.p.kind == kindName {
			n.here = n.here.without(rec.order)
		}
		if rec.p.kind == kindWildcard || rec.subs {
			n.sub = n.sub.without(rec.order)
			t.subs--
		}
	}
}

// finish rebuilds the shards holding the changed names (or, when the names
// outgrew the shards, every shard). sorted says whether the changed nodes'
// lists are sorted already (else finish sorts them).
func (e *tableEdit[T]) finish(sorted bool) {
	t := e.t
	if e.fresh {
		all := make([][]nameSlot[T], len(t.shards))
		for i := range all {
			all[i] = make([]nameSlot[T], 0, len(e.nodes)/len(all)+len(e.nodes)/len(all)/4+1)
		}
		for name, n := range e.nodes {
			if !sorted {
				n.here.sort()
				n.sub.sort()
			}
			h, sh := t.hash(name)
			all[sh] = append(all[sh], nameSlot[T]{hash: h, name: name, node: n})
		}
		for i := range t.shards {
			t.shards[i] = newNameShard(all[i])
		}
		t.names = len(e.nodes)
		return
	}
	byShard := make(map[int][]nameSlot[T])
	gone := make(map[string]bool)
	for name, n := range e.nodes {
		if !sorted {
			n.here.sort()
			n.sub.sort()
		}
		h, sh := t.hash(name)
		existed := !e.fresh && t.shards[sh].getString(h, name) != nil
		if len(n.here.e) == 0 && len(n.sub.e) == 0 {
			if existed {
				t.names--
			}
			gone[name] = true
			byShard[sh] = byShard[sh] // rebuilt without it
			continue
		}
		if !existed {
			t.names++
		}
		byShard[sh] = append(byShard[sh], nameSlot[T]{hash: h, name: name, node: n})
	}
	keep := func(sl nameSlot[T]) bool {
		_, changed := e.nodes[sl.name]
		return !changed
	}
	if t.names > shardMax*len(t.shards) {
		// Re-shard: every name moves, with a fresh seed.
		old := t.shards
		t.shards = make([]*nameShard[T], shardCount(t.names))
		t.seed = maphash.MakeSeed()
		all := make([][]nameSlot[T], len(t.shards))
		add := func(name string, n *node[T]) {
			h, sh := t.hash(name)
			all[sh] = append(all[sh], nameSlot[T]{hash: h, name: name, node: n})
		}
		for _, s := range old {
			for _, sl := range s.slots {
				if sl.node != nil && keep(sl) {
					add(sl.name, sl.node)
				}
			}
		}
		for name, n := range e.nodes {
			if !gone[name] {
				add(name, n)
			}
		}
		for i := range t.shards {
			t.shards[i] = newNameShard(all[i])
		}
		return
	}
	t.shards = slices.Clone(t.shards)
	for sh, changed := range byShard {
		slots := changed
		for _, sl := range t.shards[sh].slots {
			if sl.node != nil && keep(sl) {
				slots = append(slots, sl)
			}
		}
		t.shards[sh] = newNameShard(slots)
	}
}

// NewTable compiles rules into a Table. It copies what it keeps, so the
// caller may reuse rules. It fails, naming the rule's index, on an invalid
// Host pattern (see ValidHost) or a header condition with an empty name.
func NewTable[T any](rules []Rule[T]) (*Table[T], error) {
	t := &Table[T]{
		shards: make([]*nameShard[T], shardCount(len(rules))),
		seed:   maphash.MakeSeed(),
		ips:    make(map[[16]byte]ruleList[T]),
	}
	for i := range t.shards {
		t.shards[i] = &nameShard[T]{}
	}
	e := &tableEdit[T]{t: t, nodes: make(map[string]*node[T], len(rules)), fresh: true,
		nodeSlab: make([]node[T], len(rules)), entrySlab: make([]entry, len(rules)), targSlab: make([]T, len(rules))}
	recs := make([]ruleRec, len(rules))
	appendTo := func(l ruleList[T], en entry, target T) ruleList[T] {
		if len(l.e) == 0 && len(e.entrySlab) > 0 {
			// A list's first entry: its own cell of the slab (capacity
			// one, so that a second entry moves the list out).
			l.e, e.entrySlab = e.entrySlab[:1:1], e.entrySlab[1:]
			l.t, e.targSlab = e.targSlab[:1:1], e.targSlab[1:]
			l.e[0], l.t[0] = en, target
			return l
		}
		return ruleList[T]{e: append(l.e, en), t: append(l.t, target)}
	}
	for i := range rules {
		rec, en, err := compileRule(&rules[i], i)
		if err != nil {
			return nil, err
		}
		rec.order = orderBase + uint64(i)*orderGap
		en.order = rec.order
		recs[i] = rec
		e.place(rec, en, rules[i].Target, appendTo)
	}
	t.any.sort()
	for ip, l := range t.ips {
		l.sort()
		t.ips[ip] = l
	}
	e.finish(false)
	t.recs = chunkSeqOf(recs)
	return t, nil
}

// compileRule parses rule i.
func compileRule[T any](r *Rule[T], i int) (ruleRec, entry, error) {
	p, err := parsePattern(r.Host)
	if err != nil {
		return ruleRec{}, entry{}, fmt.Errorf("route: rule %d: invalid host %w", i, err)
	}
	e := entry{priority: r.Priority, prefix: r.PathPrefix}
	if len(r.Headers) > 0 {
		e.headers = make([]HeaderMatch, len(r.Headers))
		for j, hm := range r.Headers {
			if hm.Name == "" {
				return ruleRec{}, entry{}, fmt.Errorf("route: rule %d: header condition %d has an empty name", i, j)
			}
			hm.Name = strings.ToLower(hm.Name)
			e.headers[j] = hm
		}
	}
	switch p.kind {
	case kindIPv6:
		e.rank = rankExact
	case kindName:
		if r.MatchSubdomains {
			e.rank = len(p.name)
		} else {
			e.rank = rankExact
		}
	case kindWildcard:
		e.rank = len(p.name)
	}
	return ruleRec{p: p, subs: r.MatchSubdomains}, e, nil
}

// Len returns the number of rules in t.
func (t *Table[T]) Len() int { return t.recs.len() }

// Splice returns the table NewTable would build from t's rules with the
// rules at [from, to) replaced by repl (errors name rules by their index in
// that list). t is not changed and stays valid: the new table shares every
// candidate list, name node and index shard that the splice does not touch.
//
// Its cost grows with to-from, len(repl) and the candidate lists and index
// shards of the hosts involved, not with the number of rules in t, except in
// two rare cases that cost one pass over the table: no order key is left
// between the neighbours of the splice (after about 30 inserts at the same
// place), or the names outgrow the index's shards.
func (t *Table[T]) Splice(from, to int, repl []Rule[T]) (*Table[T], error) {
	n := t.recs.len()
	if from < 0 || to < from || to > n {
		return nil, fmt.Errorf("route: splice of rules [%d, %d) of a table of %d", from, to, n)
	}
	recs := make([]ruleRec, len(repl))
	entries := make([]entry, len(repl))
	for j := range repl {
		var err error
		if recs[j], entries[j], err = compileRule(&repl[j], from+j); err != nil {
			return nil, err
		}
	}
	var lo, hi uint64
	hasLo, hasHi := from > 0, to < n
	if hasLo {
		lo = t.recs.at(from - 1).order
	}
	if hasHi {
		hi = t.recs.at(to).order
	}
	orders, ok := ordersBetween(lo, hi, hasLo, hasHi, len(repl))
	if !ok {
		return t.renumbered().Splice(from, to, repl)
	}
	nt := &Table[T]{shards: t.shards, seed: t.seed, names: t.names, ips: t.ips, any: t.any, subs: t.subs}
	e := &tableEdit[T]{t: nt, nodes: make(map[string]*node[T])}
	ipsCopied := false
	for i := from; i < to; i++ {
		rec := t.recs.at(i)
		if rec.p.kind == kindIPv6 && !ipsCopied {
			nt.ips, ipsCopied = maps.Clone(t.ips), true
		}
		e.unplace(*rec)
	}
	for j := range recs {
		recs[j].order = orders[j]
		entries[j].order = orders[j]
		if recs[j].p.kind == kindIPv6 && !ipsCopied {
			nt.ips, ipsCopied = maps.Clone(t.ips), true
		}
		e.place(recs[j], entries[j], repl[j].Target, ruleList[T].with)
	}
	e.finish(true)
	nt.recs = t.recs.splice(from, to, recs)
	return nt, nil
}

// ordersBetween returns k increasing order keys strictly between lo and hi
// (each bound only when it exists), spaced by orderGap at an end of the list
// and evenly in between; false when there is no room.
func ordersBetween(lo, hi uint64, hasLo, hasHi bool, k int) ([]uint64, bool) {
	if k == 0 {
		return nil, true
	}
	switch {
	case !hasLo && !hasHi:
		lo, hi = orderBase-orderGap, math.MaxUint64
	case !hasHi:
		hi = math.MaxUint64
	}
	span := hi - lo
	if span <= uint64(k) {
		return nil, false
	}
	step := span / uint64(k+1)
	if (!hasLo || !hasHi) && step > orderGap {
		step = orderGap
	}
	out := make([]uint64, k)
	for j := range out {
		if !hasLo && hasHi {
			out[j] = hi - step*uint64(k-j) // just before the first rule
		} else {
			out[j] = lo + step*uint64(j+1)
		}
	}
	return out, true
}

// renumbered returns t with fresh order keys, orderGap apart: one pass over
// the table, when Splice finds no room between two neighbours.
func (t *Table[T]) renumbered() *Table[T] {
	re := make(map[uint64]uint64, t.recs.len())
	recs := make([]ruleRec, 0, t.recs.len())
	for i := range t.recs.len() {
		rec := *t.recs.at(i)
		re[rec.order] = orderBase + uint64(i)*orderGap
		rec.order = re[rec.order]
		recs = append(recs, rec)
	}
	// The mapping keeps the order, so every list stays sorted.
	renum := func(l ruleList[T]) ruleList[T] {
		e := slices.Clone(l.e)
		for i := range e {
			e[i].order = re[e[i].order]
		}
		return ruleList[T]{e: e, t: l.t}
	}
	nt := &Table[T]{
		shards: make([]*nameShard[T], len(t.shards)),
		seed:   t.seed, names: t.names, subs: t.subs,
		ips:  make(map[[16]byte]ruleList[T], len(t.ips)),
		any:  renum(t.any),
		recs: chunkSeqOf(recs),
	}
	for i, sh := range t.shards {
		slots := slices.Clone(sh.slots)
		for j := range slots {
			if n := slots[j].node; n != nil {
				slots[j].node = &node[T]{here: renum(n.here), sub: renum(n.sub)}
			}
		}
		nt.shards[i] = &nameShard[T]{slots: slots}
	}
	for ip, l := range t.ips {
		nt.ips[ip] = renum(l)
	}
	return nt
}

// Match returns the target of the rule that wins for a request, and false if
// no rule matches. host is the Host header (or the TLS SNI name), path the
// request path, h the request headers; h may be nil, and rules with Headers
// conditions then never match. Match is on the hot path: it does not
// allocate and does not lock.
//
// The winner is the matching rule with the highest Priority; among equal
// priority the more specific host (exact, then longer wildcard or
// match_subdomains suffix, then shorter, then any host), then the longer
// PathPrefix, then more Headers conditions, then the earlier rule. Because
// each candidate list was sorted in that order when the table was built,
// Match compares only the first matching rule of each list, and stops
// scanning a list as soon as its next rule could not beat the best so far.
func (t *Table[T]) Match(host, path []byte, h Headers) (T, bool) {
	var buf [maxName]byte
	var best *entry
	var target T
	name, ip, kind := normalize(&buf, host)
	switch kind {
	case nameIPv6:
		if l, ok := t.ips[ip]; ok {
			best, target = l.pick(best, target, path, h)
		}
	case nameDNS:
		if n := t.lookup(name); n != nil {
			best, target = n.here.pick(best, target, path, h)
		}
		if t.subs > 0 {
			// Longest suffix first: at equal priority it ranks higher, so
			// later lists are cut short sooner.
			for i := 0; i < len(name); i++ {
				if name[i] != '.' {
					continue
				}
				if n := t.lookup(name[i+1:]); n != nil {
					best, target = n.sub.pick(best, target, path, h)
				}
			}
		}
	}
	best, target = t.any.pick(best, target, path, h)
	if best == nil {
		var zero T
		return zero, false
	}
	return target, true
}

// pick returns the index of the first rule of list that matches and beats
// best, or -1. list is sorted by the tie-break, so once a rule cannot beat
// best no later rule can either.
func pick(list []entry, best *entry, path []byte, h Headers) int {
	for i := range list {
		e := &list[i]
		if best != nil && !e.before(best) {
			break
		}
		if e.matches(path, h) {
			return i
		}
	}
	return -1
}

// chunkSeq is an immutable sequence stored in chunks, so that splice copies
// the chunks it changes and the chunk directory, not every element: a
// splice of k elements into n costs O(k + chunk + n/chunk).
type chunkSeq[E any] struct {
	chunks [][]E
	ends   []int // ends[i] is the number of elements in chunks[:i+1]
}

// seqChunk is the size chunkSeq aims at for its chunks.
const seqChunk = 256

func chunkSeqOf[E any](es []E) chunkSeq[E] {
	var s chunkSeq[E]
	s.chunks = appendChunks(nil, es)
	s.ends = chunkEnds(s.chunks)
	return s
}

func (s *chunkSeq[E]) len() int {
	if len(s.ends) == 0 {
		return 0
	}
	return s.ends[len(s.ends)-1]
}

// at returns element i; read-only.
func (s *chunkSeq[E]) at(i int) *E {
	c, _ := slices.BinarySearch(s.ends, i+1)
	start := 0
	if c > 0 {
		start = s.ends[c-1]
	}
	return &s.chunks[c][i-start]
}

// splice returns the sequence with [from, to) replaced by repl; s is not
// changed.
func (s chunkSeq[E]) splice(from, to int, repl []E) chunkSeq[E] {
	// The chunks [c0, c1) hold every element of [from, to), and at least
	// one neighbour when the range is empty, so that a small chunk merges
	// with it rather than piling up.
	c0, _ := slices.BinarySearch(s.ends, from+1)
	c1, _ := slices.BinarySearch(s.ends, to)
	c1++
	if c0 > 0 && (c0 == len(s.chunks) || s.chunkLen(c0) < seqChunk/2) {
		c0--
	}
	c1 = min(max(c1, c0+1), len(s.chunks))
	start := 0
	if c0 > 0 {
		start = s.ends[c0-1]
	}
	mid := make([]E, 0, s.rangeLen(c0, c1)-(to-from)+len(repl))
	for c := c0; c < c1; c++ {
		mid = append(mid, s.chunks[c]...)
	}
	mid = slices.Concat(mid[:from-start], repl, mid[to-start:])
	chunks := make([][]E, 0, len(s.chunks)+len(mid)/seqChunk+1)
	chunks = append(chunks, s.chunks[:c0]...)
	chunks = appendChunks(chunks, mid)
	chunks = append(chunks, s.chunks[c1:]...)
	return chunkSeq[E]{chunks: chunks, ends: chunkEnds(chunks)}
}

func (s *chunkSeq[E]) chunkLen(c int) int { return s.rangeLen(c, c+1) }

func (s *chunkSeq[E]) rangeLen(c0, c1 int) int {
	if c1 <= c0 {
		return 0
	}
	n := s.ends[c1-1]
	if c0 > 0 {
		n -= s.ends[c0-1]
	}
	return n
}

// appendChunks cuts es into chunks of at most 2*seqChunk elements.
func appendChunks[E any](chunks [][]E, es []E) [][]E {
	if len(es) == 0 {
		return chunks
	}
	k := (len(es) + seqChunk - 1) / seqChunk
	for i := range k {
		chunks = append(chunks, slices.Clip(es[i*len(es)/k:(i+1)*len(es)/k]))
	}
	return chunks
}

func chunkEnds[E any](chunks [][]E) []int {
	ends := make([]int, len(chunks))
	n := 0
	for i, c := range chunks {
		n += len(c)
		ends[i] = n
	}
	return ends
}
