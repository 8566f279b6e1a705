package balance

import "github.com/gantry-lb/gantry/internal/upstream"

// leastConn picks the available endpoint with the lowest Inflight()/weight.
// Each pick scans the endpoints once (O(endpoints), stopping early at an idle
// one); the scan starts at a position rotated by an atomic counter, and a
// later endpoint must be strictly better to win, so equal endpoints share the
// load evenly instead of the first one taking every tie.
//
// The in-flight counts move between Pick and the caller's Begin, so two
// concurrent picks may choose the same endpoint; like HAProxy's leastconn this
// is a heuristic, not a reservation.
type leastConn struct {
	eps  []weighted
	next counter
}

// weighted keeps an endpoint beside its weight so the scan reads one array.
type weighted struct {
	e *upstream.Endpoint
	w int64 // 1..MaxWeight
}

func newLeastConn(eps []*upstream.Endpoint, weights []int) *leastConn {
	ws := make([]weighted, len(eps))
	for i, e := range eps {
		ws[i] = weighted{e: e, w: int64(weights[i])}
	}
	return &leastConn{eps: ws}
}

// pick returns the least loaded available endpoint not in skip. On the hot
// path; 0 allocs.
func (p *leastConn) pick(skip []*upstream.Endpoint) *upstream.Endpoint {
	n := len(p.eps)
	if n == 0 {
		return nil
	}
	start := int((p.next.n.Add(1) - 1) % uint64(n))
	var best *upstream.Endpoint
	var bestIn, bestW int64
	// Two plain loops instead of one with a wrapping index keep the body
	// free of the wrap branch and let the compiler drop bounds checks.
	for _, half := range [2][]weighted{p.eps[start:], p.eps[:start]} {
		for _, x := range half {
			if !usable(x.e, skip) {
				continue
			}
			in := x.e.Inflight()
			if in <= 0 {
				// Nothing beats an idle endpoint, and the rotated start
				// already chose which idle endpoint comes first.
				return x.e
			}
			// in/w < bestIn/bestW without division; both products stay
			// far below 2^63 since weights are at most 256.
			if best == nil || in*bestW < bestIn*x.w {
				best, bestIn, bestW = x.e, in, x.w
			}
		}
	}
	return best
}
