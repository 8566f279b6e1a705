package balance

import (
	"math/rand/v2"

	"github.com/gantry-lb/gantry/internal/upstream"
)

// drawAttempts bounds the random draws of one pick before random falls back to
// a scan: with a fraction d of the weight unavailable, a pick scans with
// probability d^drawAttempts (1/256 with half of it down).
const drawAttempts = 8

// random is HAProxy's "random" with two draws (power of two random choices):
// two distinct available endpoints are drawn, each with a probability
// proportional to its weight (the second among the others), and the one with
// fewer requests in flight relative to its weight wins; on a tie the first
// drawn wins, so that with
// equal loads the picks follow the weights exactly. Comparing two random
// endpoints instead of scanning all of them keeps a pick O(1) and avoids the
// herd that leastconn sends to the one idle endpoint when many picks race.
//
// A draw is O(1) through Vose's alias table, in integers so that it is exact.
// Unavailable (or tried) endpoints are rejected and drawn again, which keeps
// the draw proportional to the weights of the remaining ones. The random
// numbers come from math/rand/v2's top-level generator, which is per thread
// and takes no lock.
type random struct {
	eps   []*upstream.Endpoint
	w     []int64
	cells []aliasCell
	total uint64 // sum of weights; a draw's threshold is in [0, total)
}

// aliasCell is one column of the alias table: a uniform draw r in [0, total)
// that falls in column i picks i when r < prob, else alias.
type aliasCell struct {
	prob  uint64
	alias uint32
}

func newRandom(eps []*upstream.Endpoint, weights []int) *random {
	p := &random{eps: eps, w: make([]int64, len(eps)), cells: make([]aliasCell, len(eps))}
	for i, w := range weights {
		p.w[i] = int64(w)
		p.total += uint64(w)
	}
	// Vose's method: column i first holds weight[i]*n of probability mass
	// out of total per column; columns below total are topped up by one
	// column above it, which then becomes their alias.
	n := uint64(len(eps))
	mass := make([]uint64, n)
	var small, large []uint32
	for i, w := range weights {
		mass[i] = uint64(w) * n
		if mass[i] < p.total {
			small = append(small, uint32(i))
		} else {
			large = append(large, uint32(i))
		}
	}
	for len(small) > 0 && len(large) > 0 {
		s, l := small[len(small)-1], large[len(large)-1]
		small, large = small[:len(small)-1], large[:len(large)-1]
		p.cells[s] = aliasCell{prob: mass[s], alias: l}
		mass[l] -= p.total - mass[s]
		if mass[l] < p.total {
			small = append(small, l)
		} else {
			large = append(large, l)
		}
	}
	// What is left holds exactly total (integers leave no rounding residue).
	for _, i := range append(small, large...) {
		p.cells[i] = aliasCell{prob: p.total, alias: i}
	}
	return p
}

// draw returns the index of an endpoint drawn with probability proportional
// to its weight. One 64-bit random number gives both the column (high half)
// and the threshold (low half); the multiply-shift bias is below n/2^32.
func (p *random) draw() int {
	x := rand.Uint64()
	i := ((x >> 32) * uint64(len(p.cells))) >> 32
	r := ((x & 0xffffffff) * p.total) >> 32
	if c := &p.cells[i]; r >= c.prob {
		return int(c.alias)
	}
	return int(i)
}

// pick returns the less loaded of two drawn endpoints. On the hot path;
// 0 allocs.
func (p *random) pick(skip []*upstream.Endpoint) *upstream.Endpoint {
	n := len(p.eps)
	if n == 0 {
		return nil
	}
	a := -1
	for range drawAttempts {
		if i := p.draw(); usable(p.eps[i], skip) {
			a = i
			break
		}
	}
	if a < 0 {
		return p.scan(skip)
	}
	if n == 1 {
		return p.eps[a]
	}
	b := p.drawOther(a, skip)
	if b < 0 {
		return p.eps[a] // no other endpoint is usable
	}
	// in_b/w_b < in_a/w_a without division; the products stay far below
	// 2^63 since weights are at most 256.
	if p.eps[b].Inflight()*p.w[a] < p.eps[a].Inflight()*p.w[b] {
		return p.eps[b]
	}
	return p.eps[a]
}

// drawOther draws a usable endpoint other than a, with probability
// proportional to its weight among those; -1 when there is none. When the
// draws keep landing on a (a has most of the weight) or on unusable
// endpoints, it samples exactly by a walk over the weights.
func (p *random) drawOther(a int, skip []*upstream.Endpoint) int {
	for range drawAttempts {
		if i := p.draw(); i != a && usable(p.eps[i], skip) {
			return i
		}
	}
	var sum uint64
	for i, e := range p.eps {
		if i != a && usable(e, skip) {
			sum += uint64(p.w[i])
		}
	}
	if sum == 0 {
		return -1
	}
	r := rand.Uint64N(sum)
	last := -1
	for i, e := range p.eps {
		if i == a || !usable(e, skip) {
			continue
		}
		last = i
		if r < uint64(p.w[i]) {
			return i
		}
		r -= uint64(p.w[i])
	}
	// Endpoints went down between the two walks.
	return last
}

// scan is pick's slow path when the draws kept landing on unavailable
// endpoints: the least loaded usable endpoint, from a random start so that
// ties are shared.
func (p *random) scan(skip []*upstream.Endpoint) *upstream.Endpoint {
	n := len(p.eps)
	start := rand.IntN(n)
	best := -1
	var bestIn int64
	for k := range n {
		i := start + k
		if i >= n {
			i -= n
		}
		e := p.eps[i]
		if !usable(e, skip) {
			continue
		}
		in := e.Inflight()
		if best < 0 || in*p.w[best] < bestIn*p.w[i] {
			best, bestIn = i, in
		}
	}
	if best < 0 {
		return nil
	}
	return p.eps[best]
}
