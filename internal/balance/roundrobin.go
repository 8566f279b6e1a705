package balance

import "github.com/gantry-lb/gantry/internal/upstream"

// maxSchedule bounds the total weight, and so the length of one round robin
// cycle. Up to 32 endpoints of weight 256 (or any set whose weights, divided
// by their gcd, sum to at most 8192) keep their weights exactly; larger sets
// are scaled down so that they sum to about maxSchedule, each endpoint keeping
// at least 1. Scaling changes each share by at most half a slot of the cycle
// (about 0.006% of all traffic per endpoint), and the cycle stays at most
// maxSchedule + number of endpoints slots long: 64 KiB of pointers at worst.
const maxSchedule = 8192

// roundRobin is smooth weighted round robin (nginx's algorithm) made
// lock-free: NewGroup runs the algorithm for one full cycle and stores the
// order, and pick walks that order with one atomic counter.
//
// An endpoint that is not Available (or already tried by this request) gives
// up its slots: a pick that lands on one moves on to the next available slot
// and consumes the slots it skipped.
// So while some endpoints are down, every cycle still visits each slot of the
// others exactly once, and the others share the traffic in proportion to
// their weights, still interleaved. With concurrent picks that skip at the
// same moment, two of them may take the same slot; that bias is transient and
// does not accumulate.
type roundRobin struct {
	sched []*upstream.Endpoint // one cycle; every entry has weight > 0
	eps   []*upstream.Endpoint // each endpoint of sched once
	next  counter
}

func newRoundRobin(eps []*upstream.Endpoint, weights []int) *roundRobin {
	return &roundRobin{sched: smoothSchedule(eps, weights), eps: eps}
}

// pick returns the endpoint of the next slot, skipping unavailable ones and
// those in skip for at most one cycle. On the hot path; 0 allocs.
func (p *roundRobin) pick(skip []*upstream.Endpoint) *upstream.Endpoint {
	l := uint64(len(p.sched))
	if l == 0 {
		return nil
	}
	pos := (p.next.n.Add(1) - 1) % l
	if e := p.sched[pos]; usable(e, skip) {
		return e
	}
	return p.skip(int(pos), skip)
}

// skip is pick's slow path, when the slot at pos is unavailable or tried.
func (p *roundRobin) skip(pos int, skip []*upstream.Endpoint) *upstream.Endpoint {
	// Checking each endpoint once makes "everything is down" cost O(endpoints)
	// rather than a walk over the whole cycle.
	if !anyUsable(p.eps, skip) {
		return nil
	}
	l := len(p.sched)
	for k := 1; k < l; k++ {
		pos++
		if pos == l {
			pos = 0
		}
		if e := p.sched[pos]; usable(e, skip) {
			// The slot at pos was consumed by the first Add; k more
			// (the skipped ones and this one) are consumed now.
			p.next.n.Add(uint64(k))
			return e
		}
	}
	return nil
}

// smoothSchedule runs nginx's smooth weighted round robin for one cycle of
// eps with weights (all > 0). Each step adds every weight to its endpoint's
// current value, picks the highest (the first one on a tie) and subtracts the
// total from it; after total steps every current value is 0 again, so the
// sequence repeats. Weights 5,1,1 give a a b a c a a.
//
// Weights are first divided by their gcd, and scaled as described at
// maxSchedule. It takes O(cycle × endpoints) time, at snapshot build.
func smoothSchedule(eps []*upstream.Endpoint, weights []int) []*upstream.Endpoint {
	w := scaledWeights(weights)
	total := 0
	uniform := true
	for _, x := range w {
		total += x
		uniform = uniform && x == 1
	}
	sched := make([]*upstream.Endpoint, 0, total)
	if uniform {
		// Equal weights give plain rotation in slice order; no need to run
		// the quadratic loop over possibly many endpoints.
		return append(sched, eps...)
	}
	cur := make([]int, len(w))
	for range total {
		best := 0
		for i, x := range w {
			cur[i] += x
			if cur[i] > cur[best] {
				best = i
			}
		}
		cur[best] -= total
		sched = append(sched, eps[best])
	}
	return sched
}

// scaledWeights returns weights divided by their gcd and, if they still sum to
// more than maxSchedule, scaled to sum to about maxSchedule, each at least 1.
func scaledWeights(weights []int) []int {
	w := append([]int(nil), weights...)
	reduce(w)
	total := 0
	for _, x := range w {
		total += x
	}
	if total <= maxSchedule {
		return w
	}
	for i, x := range w {
		w[i] = max(1, (x*maxSchedule+total/2)/total)
	}
	reduce(w)
	return w
}

// reduce divides every weight by the gcd of all of them.
func reduce(w []int) {
	g := 0
	for _, x := range w {
		g = gcd(g, x)
	}
	if g <= 1 {
		return
	}
	for i := range w {
		w[i] /= g
	}
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
