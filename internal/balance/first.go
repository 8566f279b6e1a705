package balance

import "github.com/gantry-lb/gantry/internal/upstream"

// first is HAProxy's "first": the first endpoint in configuration order that
// accepts traffic takes it, so that the others can be scaled down or kept
// idle. Endpoints of weight 0 were left out by NewGroup.
type first struct {
	eps []*upstream.Endpoint
}

// pick returns the first endpoint that accepts traffic and is not in skip.
// On the hot path; 0 allocs.
func (p *first) pick(skip []*upstream.Endpoint) *upstream.Endpoint {
	for _, e := range p.eps {
		if p.accepts(e, skip) {
			return e
		}
	}
	return nil
}

// accepts reports whether e may take one more request or connection. It is
// the seam for per-server maximum connections: once the config has them,
// NewGroup stores them beside eps and this also requires e.Inflight() < the
// maximum, which is what makes "first" spill over to the next endpoint when
// one is full rather than only when it is down.
func (p *first) accepts(e *upstream.Endpoint, skip []*upstream.Endpoint) bool {
	return usable(e, skip)
}
