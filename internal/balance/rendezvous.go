package balance

import (
	"math"

	"github.com/gantry-lb/gantry/internal/upstream"
)

// rendezvous is weighted rendezvous (highest random weight) hashing: for a
// key k, endpoint i scores w_i / -ln(u_i), where u_i in (0, 1) is
// mix64(k ^ seed_i) read as a fraction and seed_i is XXH64 of the endpoint's
// address. The available endpoint with the highest score takes the key.
//
// Each endpoint's score for a key depends only on the key and that endpoint,
// so removing an endpoint moves only the keys it held (each to its
// next-highest endpoint), adding one takes from each of the others only the
// keys it now wins (a w/W share), and an endpoint that is down and comes back
// gets back exactly its keys. The score's distribution makes each endpoint
// win a share w_i / sum(w) of the keys. The seeds hash the address only, not
// the backend name, so backends with the same servers send a key to the same
// server.
//
// A pick computes every endpoint's mixed hash: O(endpoints). Within one
// weight, the score orders endpoints as u does, so endpoints are grouped by
// weight at build and a pick takes a logarithm only for the best endpoint of
// each weight (once when all weights are equal, the usual case).
type rendezvous struct {
	eps     []*upstream.Endpoint // in configuration order, for score
	seeds   []uint64             // of eps
	invW    []float64            // of eps
	classes []weightClass
}

// weightClass is the endpoints of one weight.
type weightClass struct {
	invW  float64
	eps   []*upstream.Endpoint
	seeds []uint64
}

func newRendezvous(eps []*upstream.Endpoint, weights []int) *rendezvous {
	p := &rendezvous{eps: eps, seeds: make([]uint64, len(eps)), invW: make([]float64, len(eps))}
	byWeight := map[int]int{} // weight → index in classes
	for i, e := range eps {
		p.seeds[i] = xxh64(e.Addr)
		p.invW[i] = 1 / float64(weights[i])
		c, ok := byWeight[weights[i]]
		if !ok {
			c = len(p.classes)
			byWeight[weights[i]] = c
			p.classes = append(p.classes, weightClass{invW: p.invW[i]})
		}
		p.classes[c].eps = append(p.classes[c].eps, e)
		p.classes[c].seeds = append(p.classes[c].seeds, p.seeds[i])
	}
	return p
}

// unit maps a 64-bit hash to (0, 1), never 0 or 1, from its top 53 bits.
func unit(h uint64) float64 {
	return (float64(h>>11) + 0.5) / (1 << 53)
}

// pick returns the usable endpoint of highest score for key k. On the hot
// path; 0 allocs.
func (p *rendezvous) pick(k uint64, skip []*upstream.Endpoint) *upstream.Endpoint {
	if len(p.classes) == 1 {
		e, _ := p.classes[0].best(k, skip)
		return e
	}
	var best *upstream.Endpoint
	// Highest w/-ln(u) is lowest -ln(u)/w, which is one multiply.
	bestS := math.Inf(1)
	for i := range p.classes {
		c := &p.classes[i]
		e, h := c.best(k, skip)
		if e == nil {
			continue
		}
		if s := -math.Log(unit(h)) * c.invW; s < bestS {
			best, bestS = e, s
		}
	}
	return best
}

// best returns the usable endpoint of c with the highest mixed hash for k,
// and that hash.
func (c *weightClass) best(k uint64, skip []*upstream.Endpoint) (*upstream.Endpoint, uint64) {
	best := -1
	var bestH uint64
	for i, seed := range c.seeds {
		// Only the top 53 bits count, as in unit, so that the order
		// here is exactly the order of the scores.
		h := mix64(k^seed) >> 11
		// Compare first: the atomic load of Available is only needed
		// for a candidate that would win.
		if (best < 0 || h > bestH) && usable(c.eps[i], skip) {
			best, bestH = i, h
		}
	}
	if best < 0 {
		return nil, 0
	}
	return c.eps[best], bestH << 11
}

// score is endpoint i's rendezvous score for key k, as the weighted formula
// defines it (pick compares an equivalent, cheaper form). For tests.
func (p *rendezvous) score(k uint64, i int) float64 {
	return -1 / (math.Log(unit(mix64(k^p.seeds[i]))) * p.invW[i])
}
