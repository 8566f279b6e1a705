// Package balance chooses the endpoint of a backend that takes the next
// request or connection.
//
// A Picker is built once per snapshot by New, off the hot path, and then only
// read: Pick takes no lock, writes no map and allocates nothing (allocation
// budget: 0 allocs/op for every algorithm, checked by the benchmarks). The
// only shared write on the hot path is one atomic counter per picker, kept on
// its own cache line. Live endpoint state (health, in-flight counts) is read
// from the *upstream.Endpoint atomics, so a Picker never needs rebuilding when
// an endpoint goes down or comes back.
//
// Weights are 1..256 as in the Scaleway API; 0 means the endpoint takes no new
// traffic (it is drained). Out-of-range weights are clamped: below 0 counts as
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
)

// ErrUnknownAlgorithm is returned by ParseAlgorithm for a name it does not know.
var ErrUnknownAlgorithm = errors.New("balance: unknown algorithm")

// ParseAlgorithm returns the Algorithm named s: "roundrobin", "leastconn" or
// "first" (the Scaleway API names).
func ParseAlgorithm(s string) (Algorithm, error) {
	switch s {
	case "roundrobin":
		return RoundRobin, nil
	case "leastconn":
		return LeastConn, nil
	case "first":
		return First, nil
	}
	return 0, fmt.Errorf("%w %q (want roundrobin, leastconn or first)", ErrUnknownAlgorithm, s)
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
	}
	return "Algorithm(" + strconv.Itoa(int(a)) + ")"
}

// MaxWeight is the largest weight an endpoint can have.
const MaxWeight = 256

// Picker chooses an endpoint for a new request or connection. Implementations
// are safe for concurrent use; Pick is on the hot path: it takes no lock and
// allocates nothing.
type Picker interface {
	// Pick returns an available endpoint, or nil when no endpoint with a
	// weight above 0 is Available(). The caller calls Begin on it when the
	// request starts (LeastConn reads the in-flight count that Begin raises).
	Pick() *upstream.Endpoint
}

// New builds a picker over eps; weights[i] is the weight of eps[i]. A nil
// weights means every endpoint has weight 1. eps may be empty; then Pick
// always returns nil. New copies both slices. It runs when a snapshot is
// built, never on the hot path.
//
// New panics if a is not one of the Algorithm constants or if weights is
// non-nil and not as long as eps: both are programming errors, since
// configuration is validated with ParseAlgorithm before it gets here.
func New(a Algorithm, eps []*upstream.Endpoint, weights []int) Picker {
	if weights != nil && len(weights) != len(eps) {
		panic("balance: New called with " + strconv.Itoa(len(eps)) + " endpoints and " +
			strconv.Itoa(len(weights)) + " weights")
	}
	// Endpoints with weight 0 never take new traffic, so they are dropped
	// here once rather than skipped on every pick.
	live := make([]*upstream.Endpoint, 0, len(eps))
	ws := make([]int, 0, len(eps))
	for i, e := range eps {
		w := 1
		if weights != nil {
			w = min(max(weights[i], 0), MaxWeight)
		}
		if w == 0 || e == nil {
			continue
		}
		live = append(live, e)
		ws = append(ws, w)
	}
	switch a {
	case RoundRobin:
		return newRoundRobin(live, ws)
	case LeastConn:
		return newLeastConn(live, ws)
	case First:
		return &first{eps: live}
	}
	panic("balance: New called with unknown algorithm " + a.String())
}

// counter is an atomic counter alone on its cache line, so that the writes of
// every Pick do not invalidate the line holding the picker's read-only fields.
type counter struct {
	_ [64]byte
	n atomic.Uint64
	_ [56]byte
}

// PickUntried picks an available endpoint that is not in tried, or nil. A
// policy that keeps returning a tried endpoint (first, or the only one up)
// gets n chances, n being the number of endpoints of the backend. Used to
// try another server after a failed connect. On the hot path only after a
// failure; no allocation.
func PickUntried(p Picker, n int, tried []*upstream.Endpoint) *upstream.Endpoint {
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
