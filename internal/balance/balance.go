// Package balance chooses the endpoint of a backend that takes the next
// request or connection, and keeps clients on the endpoint they were given
// (sticky sessions by cookie or by client address).
//
// A Group is built once per snapshot by NewGroup, off the hot path, and then
// only read. Its policies follow HAProxy's: roundrobin (smooth weighted),
// leastconn, first, random (power of two random choices) and consistent
// hashing of a request key (source, uri, hdr) by weighted rendezvous hashing.
// Backup servers take traffic only while no other server can.
//
// Live endpoint state (health, in-flight counts) is read from the
// *upstream.Endpoint atomics, so a Group never needs rebuilding when an
// endpoint goes down or comes back. Sticky-table entries are live state too:
// they live in a StickyTable held by Tables, keyed by backend, across
// snapshot swaps.
//
// Allocation budget on the hot path: 0 allocs/op for Group.Pick, PickKey and
// PickUntried with every algorithm, for KeyBytes, KeyString and KeyAddr, for
// Cookies.Lookup, LookupString, LookupHeader, AppendValue and AppendSetCookie
// (into a buffer with room), and for StickyView.Lookup and Store; checked by
// the benchmarks and by AllocsPerRun tests. None of them takes a lock or
// writes a map; the shared writes are one atomic counter per round robin or
// leastconn tier, and the sticky-table slots.
//
// Weights are 1..256 as in the Scaleway API; 0 means the endpoint takes no new
// traffic (it is drained) but keeps its sticky clients, like a server in
// HAProxy's drain state. Out-of-range weights are clamped: below 0 counts as
// 0, above 256 as 256.
package balance

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync/atomic"

	"github.com/gantry-lb/gantry/internal/upstream"
)

// Algorithm is a pick policy. The zero value is RoundRobin.
type Algorithm uint8

const (
	// RoundRobin is smooth weighted round robin: each endpoint gets a share
	// of picks proportional to its weight, interleaved rather than in bursts.
	RoundRobin Algorithm = iota
	// LeastConn picks the endpoint with the fewest requests or connections
	// in flight relative to its weight.
	LeastConn
	// First picks the first available endpoint in configuration order, so
	// that traffic is packed onto as few endpoints as possible.
	First
	// Random draws two endpoints at random, each with a probability
	// proportional to its weight, and picks the one with fewer requests in
	// flight relative to its weight (power of two random choices).
	Random
	// Source hashes the client address (KeyAddr).
	Source
	// URI hashes the request path (KeyString or KeyBytes of what the proxy
	// extracts).
	URI
	// Header hashes the value of one request header (the backend's
	// hash_header); a missing or empty header falls back to round robin.
	Header
)

// ErrUnknownAlgorithm is returned by ParseAlgorithm for a name it does not know.
var ErrUnknownAlgorithm = errors.New("balance: unknown algorithm")

// ParseAlgorithm returns the Algorithm named s: "roundrobin", "leastconn",
// "first" (the Scaleway API names), "random", "source", "uri" or "hdr" (the
// HAProxy names).
func ParseAlgorithm(s string) (Algorithm, error) {
	switch s {
	case "roundrobin":
		return RoundRobin, nil
	case "leastconn":
		return LeastConn, nil
	case "first":
		return First, nil
	case "random":
		return Random, nil
	case "source":
		return Source, nil
	case "uri":
		return URI, nil
	case "hdr":
		return Header, nil
	}
	return 0, fmt.Errorf("%w %q (want roundrobin, leastconn, first, random, source, uri or hdr)", ErrUnknownAlgorithm, s)
}

// String returns the name ParseAlgorithm accepts.
func (a Algorithm) String() string {
	switch a {
	case RoundRobin:
		return "roundrobin"
	case LeastConn:
		return "leastconn"
	case First:
		return "first"
	case Random:
		return "random"
	case Source:
		return "source"
	case URI:
		return "uri"
	case Header:
		return "hdr"
	}
	return "Algorithm(" + strconv.Itoa(int(a)) + ")"
}

// Hashed reports whether a picks by a request key (Source, URI, Header), so
// the proxy must build a HashKey and call PickKey.
func (a Algorithm) Hashed() bool { return a == Source || a == URI || a == Header }

// MaxWeight is the largest weight an endpoint can have.
const MaxWeight = 256

// Server is one endpoint of a backend as NewGroup takes it.
type Server struct {
	// Endpoint is the live state of the server; entries with a nil
	// Endpoint are ignored.
	Endpoint *upstream.Endpoint
	// Weight is 0..MaxWeight (clamped); 0 takes no new traffic but keeps
	// sticky clients.
	Weight int
	// Backup servers take traffic only while no non-backup server of
	// weight above 0 is available.
	Backup bool
}

// Group picks among the servers of one backend: the primary servers, and the
// backup servers when no primary one is available. It is immutable after
// NewGroup and safe for concurrent use; every Pick method is on the hot path:
// no lock, no allocation.
type Group struct {
	algo    Algorithm
	primary tier
	backup  tier
	// servers is every server given to NewGroup (nil endpoints dropped),
	// weights clamped, including weight 0: sticky lookups honour them.
	servers []Server
}

// NewGroup builds a group over servers for algorithm a. servers may be empty;
// then every pick returns nil. NewGroup copies servers. It runs when a
// snapshot is built, never on the hot path.
//
// NewGroup panics if a is not one of the Algorithm constants: that is a
// programming error, since configuration is validated with ParseAlgorithm
// before it gets here.
func NewGroup(a Algorithm, servers []Server) *Group {
	if a > Header {
		panic("balance: NewGroup called with unknown algorithm " + a.String())
	}
	g := &Group{algo: a, servers: make([]Server, 0, len(servers))}
	var prim, back []*upstream.Endpoint
	var primW, backW []int
	for _, s := range servers {
		if s.Endpoint == nil {
			continue
		}
		s.Weight = min(max(s.Weight, 0), MaxWeight)
		g.servers = append(g.servers, s)
		// Endpoints with weight 0 never take new traffic, so they are
		// left out of the tiers once rather than skipped on every pick.
		if s.Weight == 0 {
			continue
		}
		if s.Backup {
			back, backW = append(back, s.Endpoint), append(backW, s.Weight)
		} else {
			prim, primW = append(prim, s.Endpoint), append(primW, s.Weight)
		}
	}
	g.primary = newTier(a, prim, primW)
	g.backup = newTier(a, back, backW)
	return g
}

// Algorithm returns the algorithm the group was built with.
func (g *Group) Algorithm() Algorithm { return g.algo }

// Servers returns the servers the group was built with (weights clamped, nil
// endpoints dropped). The caller must not modify the slice.
func (g *Group) Servers() []Server { return g.servers }

// Pick returns an available endpoint, or nil when none can take traffic. A
// hashing group picks as RoundRobin here. The caller calls Begin on the
// endpoint when the request starts (LeastConn and Random read the in-flight
// count that Begin raises). On the hot path; 0 allocs.
func (g *Group) Pick() *upstream.Endpoint { return g.PickUntried(HashKey{}, nil) }

// PickKey is Pick for a request whose key is k. Only a hashing group (see
// Algorithm.Hashed) looks at k: it returns the available endpoint of highest
// rendezvous score for k, so a key keeps its endpoint while that endpoint is
// available, and a change in the set of endpoints moves only the keys of the
// endpoints that came or went. The zero HashKey picks as RoundRobin. On the
// hot path; 0 allocs.
func (g *Group) PickKey(k HashKey) *upstream.Endpoint { return g.PickUntried(k, nil) }

// PickUntried is PickKey restricted to endpoints not in tried, to retry on
// another server after a failed connect: round robin and random move on,
// leastconn and first take the best untried endpoint, and hashing takes the
// untried endpoint of next-highest score for k (the same fallback order on
// every node and after a restart). A backup endpoint is returned only when
// every available primary endpoint is in tried. It returns nil when no
// untried endpoint is available. tried is only read and not kept, so a
// caller's stack array stays on the stack. On the hot path; 0 allocs.
func (g *Group) PickUntried(k HashKey, tried []*upstream.Endpoint) *upstream.Endpoint {
	if e := g.primary.pick(k, tried); e != nil {
		return e
	}
	if len(g.backup.eps) == 0 {
		return nil
	}
	return g.backup.pick(k, tried)
}

// primaryAvailable reports whether a primary endpoint of weight above 0 is
// available, which is when backup endpoints must not take traffic.
func (g *Group) primaryAvailable() bool { return anyUsable(g.primary.eps, nil) }

// stickyOK reports whether a sticky client may stay on server s: it must be
// available, and a backup server only while no primary one is.
func (g *Group) stickyOK(s *Server) bool {
	return s.Endpoint.Available() && (!s.Backup || !g.primaryAvailable())
}

// tier is one set of endpoints (the primary or the backup ones, weight > 0)
// with the state of its policy. Only the fields of its algorithm are set.
// Dispatch is a switch on concrete types rather than an interface, so that
// the tried slice of PickUntried does not escape to the heap.
type tier struct {
	algo Algorithm
	eps  []*upstream.Endpoint
	rr   *roundRobin // RoundRobin, and the keyless fallback of hashing
	lc   *leastConn
	fst  *first
	rnd  *random
	hrw  *rendezvous
}

func newTier(a Algorithm, eps []*upstream.Endpoint, weights []int) tier {
	t := tier{algo: a, eps: eps}
	switch a {
	case RoundRobin:
		t.rr = newRoundRobin(eps, weights)
	case LeastConn:
		t.lc = newLeastConn(eps, weights)
	case First:
		t.fst = &first{eps: eps}
	case Random:
		t.rnd = newRandom(eps, weights)
	case Source, URI, Header:
		t.rr = newRoundRobin(eps, weights)
		t.hrw = newRendezvous(eps, weights)
	}
	return t
}

func (t *tier) pick(k HashKey, skip []*upstream.Endpoint) *upstream.Endpoint {
	switch t.algo {
	case LeastConn:
		return t.lc.pick(skip)
	case First:
		return t.fst.pick(skip)
	case Random:
		return t.rnd.pick(skip)
	case Source, URI, Header:
		if k.ok {
			return t.hrw.pick(k.h, skip)
		}
	}
	return t.rr.pick(skip)
}

// usable reports whether e may take the next request: it is available and
// not one of skip (the endpoints already tried).
func usable(e *upstream.Endpoint, skip []*upstream.Endpoint) bool {
	if !e.Available() {
		return false
	}
	for _, s := range skip {
		if s == e {
			return false
		}
	}
	return true
}

func anyUsable(eps, skip []*upstream.Endpoint) bool {
	for _, e := range eps {
		if usable(e, skip) {
			return true
		}
	}
	return false
}

// counter is an atomic counter alone on its cache line, so that the writes of
// every Pick do not invalidate the line holding the picker's read-only fields.
type counter struct {
	_ [64]byte
	n atomic.Uint64
	_ [56]byte
}

// Picker chooses an endpoint for a new request or connection; *Group is the
// implementation.
//
// Deprecated: Picker, New and PickUntried are the API before Group, kept so
// that callers build while they move to NewGroup and Group.PickUntried (a
// call through this interface cannot keep a tried slice on the stack).
type Picker interface {
	// Pick returns an available endpoint, or nil when none can take traffic.
	Pick() *upstream.Endpoint
}

var _ Picker = (*Group)(nil)

// New builds a Group over eps without backups; weights[i] is the weight of
// eps[i], and a nil weights means every endpoint has weight 1.
//
// Deprecated: use NewGroup. New panics if weights is non-nil and not as long
// as eps, or if a is unknown.
func New(a Algorithm, eps []*upstream.Endpoint, weights []int) Picker {
	if weights != nil && len(weights) != len(eps) {
		panic("balance: New called with " + strconv.Itoa(len(eps)) + " endpoints and " +
			strconv.Itoa(len(weights)) + " weights")
	}
	servers := make([]Server, len(eps))
	for i, e := range eps {
		servers[i] = Server{Endpoint: e, Weight: 1}
		if weights != nil {
			servers[i].Weight = weights[i]
		}
	}
	return NewGroup(a, servers)
}

// PickUntried picks an available endpoint of p that is not in tried, or nil.
// n is ignored (it was a retry bound before Group.PickUntried existed).
//
// Deprecated: call Group.PickUntried.
func PickUntried(p Picker, n int, tried []*upstream.Endpoint) *upstream.Endpoint {
	if g, ok := p.(*Group); ok {
		return g.PickUntried(HashKey{}, tried)
	}
	for range max(1, n) {
		ep := p.Pick()
		if ep == nil {
			return nil
		}
		if !slices.Contains(tried, ep) {
			return ep
		}
	}
	return nil
}
