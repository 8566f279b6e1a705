// Package upstream owns endpoint identity and the live state of each endpoint:
// health, in-flight and total counters, and idle upstream connections.
//
// Live state is kept outside snapshots, keyed by Key, so that it survives every
// snapshot swap: a new snapshot that still names an endpoint gets the same
// *Endpoint back from the Registry. Everything read on the hot path is an
// atomic; nothing here takes a lock per request.
//
// Allocation budget on the hot path (Available, Begin, End, Pool.Get,
// Pool.Put, Traffic.Observe): none (BenchmarkPoolGetPut). Registry
// methods run when a snapshot is built, not per request.
package upstream

import (
	"bufio"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Key identifies an endpoint across snapshots: the backend it serves (qualified
// by its load balancer) and the address it is reached at.
type Key struct {
	Backend string // "lb/backend"
	Addr    string // host:port
}

// String returns "lb/backend@host:port".
func (k Key) String() string { return k.Backend + "@" + k.Addr }

// State is the health state of an endpoint.
type State uint32

const (
	// StateUp endpoints take new traffic.
	StateUp State = iota
	// StateDown endpoints failed their health check and take no new traffic.
	StateDown
	// StateStarting endpoints have not passed their first health check yet
	// and take no new traffic.
	StateStarting
)

// String returns the name used in stats and logs.
func (s State) String() string {
	switch s {
	case StateUp:
		return "up"
	case StateDown:
		return "down"
	case StateStarting:
		return "starting"
	}
	return "unknown"
}

// CheckResult is the outcome of the last health check.
type CheckResult uint32

const (
	// CheckUnknown means no check has completed (or none is configured).
	CheckUnknown CheckResult = iota
	// CheckPassed means the last check succeeded.
	CheckPassed
	// CheckFailed means the last check failed.
	CheckFailed
)

// String returns "unknown", "passed" or "failed".
func (c CheckResult) String() string {
	switch c {
	case CheckPassed:
		return "passed"
	case CheckFailed:
		return "failed"
	}
	return "unknown"
}

// Endpoint is the live state of one server of one backend. It is created by a
// Registry, shared by every snapshot that names its Key, and safe for
// concurrent use. Its fields are read on the hot path without locks.
type Endpoint struct {
	Key  Key
	Addr string // host:port, the same as Key.Addr

	state     atomic.Uint32 // State
	since     atomic.Int64  // unix nanoseconds of the last state change
	lastCheck atomic.Uint32 // CheckResult
	reason    atomic.Pointer[string]

	inflight atomic.Int64 // requests or connections in progress
	failures atomic.Uint64

	// Traffic counts what this server answered.
	Traffic Traffic

	// Idle holds idle keep-alive connections to this endpoint.
	Idle Pool

	// Passive ejects the endpoint when traffic keeps failing on it.
	Passive Passive

	removed atomic.Bool

	// sessions holds the open sessions of a backend whose servers close
	// them when they go down (on_marked_down_action shutdown_sessions).
	sessions sessionSet
}

// NewEndpoint returns an endpoint in state StateUp. Most callers use a
// Registry instead, so that live state survives snapshot swaps.
func NewEndpoint(k Key) *Endpoint {
	e := &Endpoint{Key: k, Addr: k.Addr}
	e.since.Store(time.Now().UnixNano())
	return e
}

// State returns the current health state.
func (e *Endpoint) State() State { return State(e.state.Load()) }

// Available reports whether the endpoint may take new traffic. On the hot path.
func (e *Endpoint) Available() bool { return e.state.Load() == uint32(StateUp) }

// SetState changes the health state and records when it changed. It returns
// true if the state was different before.
func (e *Endpoint) SetState(s State, reason string) bool {
	// The reason is stored first, so a reader that sees the new state
	// also sees why.
	if reason != "" || e.state.Load() != uint32(s) {
		e.reason.Store(&reason)
	}
	old := e.state.Swap(uint32(s))
	if old != uint32(s) {
		e.since.Store(time.Now().UnixNano())
		if s == StateDown {
			e.sessions.closeAll()
		}
		return true
	}
	return false
}

// Since returns when the endpoint entered its current state.
func (e *Endpoint) Since() time.Time { return time.Unix(0, e.since.Load()) }

// Reason returns why the endpoint is in its state (the last check's detail).
func (e *Endpoint) Reason() string {
	if p := e.reason.Load(); p != nil {
		return *p
	}
	return ""
}

// SetLastCheck records the result of the last completed health check.
func (e *Endpoint) SetLastCheck(c CheckResult) { e.lastCheck.Store(uint32(c)) }

// LastCheck returns the result of the last completed health check.
func (e *Endpoint) LastCheck() CheckResult { return CheckResult(e.lastCheck.Load()) }

// Inflight returns the number of requests or connections in progress.
func (e *Endpoint) Inflight() int64 { return e.inflight.Load() }

// Begin counts the start of a request or connection. On the hot path.
func (e *Endpoint) Begin() { e.inflight.Add(1) }

// End counts the end of a request or connection started with Begin.
func (e *Endpoint) End() { e.inflight.Add(-1) }

// CountConn counts a new upstream connection.
func (e *Endpoint) CountConn() { e.Traffic.CountConn() }

// CountFailure counts a failed connection attempt or a malformed response.
func (e *Endpoint) CountFailure() { e.failures.Add(1) }

// Stats is a point-in-time copy of an endpoint's counters.
type Stats struct {
	State     State
	Since     time.Time
	LastCheck CheckResult
	Reason    string
	Inflight  int64
	Failures  uint64
	IdleConns int
	Traffic   TrafficStats
}

// Stats returns a copy of the counters.
func (e *Endpoint) Stats() Stats {
	return Stats{
		State: e.State(), Since: e.Since(), LastCheck: e.LastCheck(), Reason: e.Reason(),
		Inflight: e.inflight.Load(), Failures: e.failures.Load(), IdleConns: e.Idle.Len(),
		Traffic: e.Traffic.Stats(),
	}
}

// Removed reports whether the registry dropped this endpoint; a connection
// finished on a removed endpoint is closed instead of pooled.
func (e *Endpoint) Removed() bool { return e.removed.Load() }

// Registry hands out the one *Endpoint for each Key. It is used by the
// reconcile loop when a snapshot is built, never on the hot path. Safe for
// concurrent use.
type Registry struct {
	mu        sync.Mutex
	m         map[Key]*Endpoint
	frontends map[string]*Traffic
	queues    map[string]*Queue
	limiters  map[string]*RateLimiter
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{m: make(map[Key]*Endpoint), frontends: make(map[string]*Traffic), queues: make(map[string]*Queue), limiters: make(map[string]*RateLimiter)}
}

// Queue returns the wait queue of the backend named backend ("lb/backend"),
// created on first use; it survives snapshot swaps until Retain keeps no
// endpoint of that backend.
func (r *Registry) Queue(backend string) *Queue {
	r.mu.Lock()
	defer r.mu.Unlock()
	q, ok := r.queues[backend]
	if !ok {
		q = NewQueue()
		r.queues[backend] = q
	}
	return q
}

// Frontend returns the traffic counters of the frontend named name
// ("lb/frontend"), created on first use; they survive snapshot swaps.
func (r *Registry) Frontend(name string) *Traffic {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.frontends[name]
	if !ok {
		t = new(Traffic)
		r.frontends[name] = t
	}
	return t
}

// RateLimiter returns the connection rate limiter of the frontend named
// name ("lb/frontend") for perSecond connections per second: the same one
// while the rate is unchanged, so that a snapshot swap does not refill its
// bucket. It returns nil (no limit) when perSecond <= 0.
func (r *Registry) RateLimiter(name string, perSecond int) *RateLimiter {
	r.mu.Lock()
	defer r.mu.Unlock()
	if l := r.limiters[name]; l != nil && l.Rate() == perSecond {
		return l
	}
	l := NewRateLimiter(perSecond, nil)
	if l == nil {
		delete(r.limiters, name)
		return nil
	}
	r.limiters[name] = l
	return l
}

// RetainFrontends drops the counters and rate limiters of frontends not in
// keep.
func (r *Registry) RetainFrontends(keep map[string]bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for name := range r.frontends {
		if !keep[name] {
			delete(r.frontends, name)
		}
	}
	for name := range r.limiters {
		if !keep[name] {
			delete(r.limiters, name)
		}
	}
}

// Get returns the endpoint for k, creating it in state initial if it is new.
func (r *Registry) Get(k Key, initial State) *Endpoint {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.m[k]; ok {
		return e
	}
	e := NewEndpoint(k)
	e.state.Store(uint32(initial))
	r.m[k] = e
	return e
}

// Retain drops every endpoint whose key is not in keep, closes its idle
// connections and marks it removed. Connections in flight keep their pointer
// and finish normally.
func (r *Registry) Retain(keep map[Key]bool) {
	r.mu.Lock()
	var gone []*Endpoint
	for k, e := range r.m {
		if !keep[k] {
			delete(r.m, k)
			gone = append(gone, e)
		}
	}
	backends := make(map[string]bool, len(r.queues))
	for k := range keep {
		backends[k.Backend] = true
	}
	for name, q := range r.queues {
		if !backends[name] {
			delete(r.queues, name)
			q.Signal() // nobody will free a slot: let waiters give up
		}
	}
	r.mu.Unlock()
	for _, e := range gone {
		e.removed.Store(true)
		e.Idle.CloseAll()
		e.Passive.Stop()
	}
}

// All returns every registered endpoint, in no particular order.
func (r *Registry) All() []*Endpoint {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*Endpoint, 0, len(r.m))
	for _, e := range r.m {
		out = append(out, e)
	}
	return out
}

// CloseIdle closes idle connections that have been idle longer than maxIdle,
// on every endpoint. The app calls it periodically.
func (r *Registry) CloseIdle(maxIdle time.Duration) {
	for _, e := range r.All() {
		e.Idle.CloseOlder(time.Now().Add(-maxIdle))
	}
}

// Conn is a keep-alive connection to an endpoint with its read buffer. Bytes
// buffered in R belong to the connection, so it travels with it.
type Conn struct {
	net.Conn
	R *bufio.Reader

	idleSince atomic.Int64 // unix nanoseconds, set by Pool.Put
}

// IdleSince returns when c was last put in a pool.
func (c *Conn) IdleSince() time.Time { return time.Unix(0, c.idleSince.Load()) }

// Pool is a bounded, lock-free set of idle connections. Get and Put are a few
// compare-and-swaps on a fixed slot array; on the hot path. The zero value is
// ready to use.
type Pool struct {
	slots [poolSlots]atomic.Pointer[Conn]
	hint  atomic.Uint32
	// n approximates the stored connections, so that Get on an empty
	// pool (every request that then dials) returns without a scan.
	n atomic.Int32
}

// poolSlots bounds the idle connections kept per endpoint; more are closed.
const poolSlots = 256

// Get takes an idle connection, or returns nil if there is none.
func (p *Pool) Get() *Conn {
	if p.n.Load() <= 0 {
		return nil
	}
	start := p.hint.Load()
	for i := uint32(0); i < poolSlots; i++ {
		s := &p.slots[(start+poolSlots-i)%poolSlots]
		if c := s.Load(); c != nil && s.CompareAndSwap(c, nil) {
			p.n.Add(-1)
			p.hint.Store((start + poolSlots - i) % poolSlots)
			return c
		}
	}
	return nil
}

// Put stores an idle connection. It returns false, and the caller must close
// c, when the pool is full.
func (p *Pool) Put(c *Conn) bool {
	c.idleSince.Store(time.Now().UnixNano())
	start := p.hint.Load()
	for i := uint32(0); i < poolSlots; i++ {
		idx := (start + i) % poolSlots
		s := &p.slots[idx]
		if s.Load() == nil && s.CompareAndSwap(nil, c) {
			p.n.Add(1)
			p.hint.Store(idx)
			return true
		}
	}
	return false
}

// Len returns how many idle connections are stored.
func (p *Pool) Len() int {
	n := 0
	for i := range p.slots {
		if p.slots[i].Load() != nil {
			n++
		}
	}
	return n
}

// CloseOlder closes idle connections stored before t.
func (p *Pool) CloseOlder(t time.Time) {
	limit := t.UnixNano()
	for i := range p.slots {
		s := &p.slots[i]
		if c := s.Load(); c != nil && c.idleSince.Load() < limit && s.CompareAndSwap(c, nil) {
			p.n.Add(-1)
			c.Close()
		}
	}
}

// CloseAll closes every idle connection.
func (p *Pool) CloseAll() {
	for i := range p.slots {
		if c := p.slots[i].Swap(nil); c != nil {
			p.n.Add(-1)
			c.Close()
		}
	}
}
