package upstream

import (
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for PassivePolicy fields left at their zero value (Envoy's
// outlier detection uses the same base and cap).
const (
	DefaultPassiveBackoff    = 30 * time.Second
	DefaultPassiveMaxBackoff = 5 * time.Minute
)

// PassivePolicy configures passive ejection of one endpoint. It is
// comparable; SetPolicy with an equal policy changes nothing.
type PassivePolicy struct {
	// Failures is how many consecutive failed outcomes eject an up
	// endpoint. Below 1, passive ejection is off.
	Failures int
	// Backoff is how long an ejection lasts when no active check brings
	// the endpoint back; DefaultPassiveBackoff if <= 0. An ejection that
	// comes sooner after the endpoint's return than the previous back-off
	// lasted doubles it, up to MaxBackoff; a longer healthy stretch
	// starts again from Backoff.
	Backoff time.Duration
	// MaxBackoff caps the doubled back-off; DefaultPassiveMaxBackoff if
	// <= 0, and never below Backoff.
	MaxBackoff time.Duration
	// ActiveCheck says an active health check probes the endpoint. An
	// ejection then lasts until that check brings the endpoint back (after
	// Rise passing checks, as after any fall), and no back-off applies.
	ActiveCheck bool
}

// passivePolicy is a PassivePolicy with its defaults applied and what
// ejection needs ready, so that ejecting allocates nothing.
type passivePolicy struct {
	PassivePolicy
	failures uint32
	reason   *string // "passive: 5 consecutive failures"
}

// Passive ejects an endpoint that the data plane sees failing, and brings it
// back when its back-off ends if no active check does. It is the endpoint's
// live passive state; one Passive serves one Endpoint, always passed along
// with it.
//
// The data plane reports every request's or connection's outcome with
// Observe, on the hot path: lock-free and allocation-free, ejection
// included. Only an up endpoint is ejected, and only outcomes reported while
// it is up count: consecutive failures start again from zero at every state
// change, whoever made it.
//
// Ejecting sets the endpoint down with the reason "passive: N consecutive
// failures". With PassivePolicy.ActiveCheck, that is all: the health probe
// sees a state it did not write, restarts its counts, and brings the
// endpoint up after Rise passing checks. Without it, a timer brings the
// endpoint up when the back-off ends, with the reason "passive: back-off of
// 30s ended", unless something else changed its state or reason meanwhile.
//
// The zero value is ready and off. Safe for concurrent use.
type Passive struct {
	mu    sync.Mutex  // serialises SetPolicy and Stop; never taken by Observe
	timer *time.Timer // ends a back-off; set once, before the first policy is published

	policy atomic.Pointer[passivePolicy] // nil: off

	// count is the failure run: the low 32 bits of the endpoint's since
	// (its last state change) when the run began, then the length of the
	// run. A run from before a state change is thereby stale, with no
	// second atomic to keep in step.
	count atomic.Uint64

	ejected  atomic.Pointer[string] // the reason the current ejection stored; nil once it ended
	backoff  atomic.Int64           // nanoseconds; the back-off of the last ejection that had one
	returned atomic.Int64           // unix nanoseconds when the last back-off ended
	total    atomic.Uint64          // ejections ever
	ejecting atomic.Bool            // an eject is under way
}

// SetPolicy configures passive ejection of e, the endpoint p belongs to. It
// is called when a snapshot is built, never on the hot path. Turning
// ejection off (Failures < 1) leaves a back-off under way to end normally.
// Switching ActiveCheck while e is ejected hands the return over: to the
// active check (the back-off timer stops) or to a new back-off of Backoff.
func (p *Passive) SetPolicy(e *Endpoint, pol PassivePolicy) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pol.Failures < 1 {
		p.policy.Store(nil)
		return
	}
	if pol.Backoff <= 0 {
		pol.Backoff = DefaultPassiveBackoff
	}
	if pol.MaxBackoff <= 0 {
		pol.MaxBackoff = DefaultPassiveMaxBackoff
	}
	pol.MaxBackoff = max(pol.MaxBackoff, pol.Backoff)
	old := p.policy.Load()
	if old != nil && old.PassivePolicy == pol {
		return
	}
	if p.timer == nil {
		// Created stopped, here rather than at ejection, so that
		// ejecting only resets it. Published by the policy store below.
		p.timer = time.AfterFunc(time.Duration(math.MaxInt64), func() { p.expire(e) })
		p.timer.Stop()
	}
	reason := "passive: " + strconv.Itoa(pol.Failures) + " consecutive failures"
	p.policy.Store(&passivePolicy{
		PassivePolicy: pol,
		failures:      uint32(min(pol.Failures, math.MaxInt32)),
		reason:        &reason,
	})
	if !p.ejectedNow(e) || (old != nil && old.ActiveCheck == pol.ActiveCheck) {
		return
	}
	if pol.ActiveCheck {
		p.timer.Stop()
	} else {
		p.backoff.Store(int64(pol.Backoff))
		p.timer.Reset(pol.Backoff)
	}
}

// Stop turns passive ejection of e off and cancels a back-off under way,
// leaving e's state as it is. The registry calls it when e is removed.
func (p *Passive) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.policy.Store(nil)
	if p.timer != nil {
		p.timer.Stop()
	}
}

// Observe reports the outcome of one request or connection to e: ok false
// for a connection failure, a timeout or a 5xx answer, true otherwise. On
// the hot path: no lock, no allocation; a success costs three atomic loads
// and, only when it ends a run of failures, one store.
func (p *Passive) Observe(e *Endpoint, ok bool) {
	pol := p.policy.Load()
	if pol == nil {
		return
	}
	gen := uint64(uint32(e.since.Load())) << 32
	old := p.count.Load()
	if ok {
		if old != gen {
			p.count.Store(gen)
		}
		return
	}
	if !e.Available() {
		// Outcomes of requests that were under way when the endpoint
		// went down say nothing new.
		return
	}
	for {
		n := uint32(1)
		if old&^math.MaxUint32 == gen {
			n = uint32(old) + 1
		}
		if p.count.CompareAndSwap(old, gen|uint64(n)) {
			if n >= pol.failures {
				p.eject(e, pol)
			}
			return
		}
		old = p.count.Load()
	}
}

// eject sets e down if it is still up. Of concurrent callers, one wins.
func (p *Passive) eject(e *Endpoint, pol *passivePolicy) {
	// One ejection at a time: a second caller that stored the reason and
	// lost the race would otherwise put back the reason it read before the
	// winner's.
	if !p.ejecting.CompareAndSwap(false, true) {
		return
	}
	defer p.ejecting.Store(false)
	prev := e.reason.Load()
	// The reason first, as in SetState, so that a reader that sees the
	// state down also sees why.
	e.reason.Store(pol.reason)
	if !e.state.CompareAndSwap(uint32(StateUp), uint32(StateDown)) {
		// Something else moved e meanwhile: its reason stands.
		e.reason.CompareAndSwap(pol.reason, prev)
		return
	}
	now := time.Now().UnixNano()
	e.since.Store(now)
	p.ejected.Store(pol.reason)
	p.total.Add(1)
	if pol.ActiveCheck {
		return
	}
	d := int64(pol.Backoff)
	if last := p.backoff.Load(); last > 0 && now-p.returned.Load() < last {
		d = min(2*last, int64(pol.MaxBackoff))
	}
	p.backoff.Store(d)
	p.timer.Reset(time.Duration(d))
}

// ejectedNow reports whether e is down because p ejected it: its reason is
// still the one the ejection stored.
func (p *Passive) ejectedNow(e *Endpoint) bool {
	r := p.ejected.Load()
	return r != nil && e.reason.Load() == r && e.State() == StateDown
}

// expire ends a back-off: e comes back up, unless it is no longer down for
// the ejection's reason, or an active check now decides.
func (p *Passive) expire(e *Endpoint) {
	r := p.ejected.Load()
	if r == nil {
		return
	}
	if pol := p.policy.Load(); pol != nil && pol.ActiveCheck {
		return
	}
	reason := "passive: back-off of " + time.Duration(p.backoff.Load()).String() + " ended"
	if !e.reason.CompareAndSwap(r, &reason) {
		p.ejected.CompareAndSwap(r, nil) // something else owns e's state now
		return
	}
	if !e.state.CompareAndSwap(uint32(StateDown), uint32(StateUp)) {
		e.reason.CompareAndSwap(&reason, r)
		return
	}
	now := time.Now().UnixNano()
	e.since.Store(now)
	p.returned.Store(now)
	p.ejected.CompareAndSwap(r, nil)
}

// PassiveStats is a point-in-time copy of an endpoint's passive state.
type PassiveStats struct {
	Failures  uint32        // the current run of consecutive failures
	Ejected   bool          // e is down because of an ejection
	Ejections uint64        // ejections ever
	Backoff   time.Duration // the back-off of the last ejection that had one
}

// Stats returns a copy of p's state for its endpoint e.
func (p *Passive) Stats(e *Endpoint) PassiveStats {
	s := PassiveStats{
		Ejected: p.ejectedNow(e), Ejections: p.total.Load(),
		Backoff: time.Duration(p.backoff.Load()),
	}
	if c := p.count.Load(); c>>32 == uint64(uint32(e.since.Load())) {
		s.Failures = uint32(c)
	}
	return s
}
