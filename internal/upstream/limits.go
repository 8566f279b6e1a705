package upstream

import (
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// TryBegin is Begin bounded by max in-flight requests or connections
// (max_connections): it counts the start and returns true only while fewer
// than max are in flight. max <= 0 means no limit. On the hot path: one
// atomic add, or a compare-and-swap loop when limited.
func (e *Endpoint) TryBegin(max int) bool {
	if max <= 0 {
		e.inflight.Add(1)
		return true
	}
	for {
		n := e.inflight.Load()
		if n >= int64(max) {
			return false
		}
		if e.inflight.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// ObserveOutcome reports how one request or connection to e went, for
// passive ejection: ok is false for a failed connection, a timeout or a 5xx
// answer. On the hot path: no lock, no allocation.
func (e *Endpoint) ObserveOutcome(ok bool) { e.Passive.Observe(e, ok) }

// Queue is where requests wait for a server below its max_connections. It
// is live state of one backend, kept across snapshot swaps. Nothing here is
// touched while no request waits: Signal is one atomic load then.
type Queue struct {
	waiting atomic.Int32
	mu      sync.Mutex
	wake    chan struct{} // closed and replaced by Signal
}

// NewQueue returns an empty queue.
func NewQueue() *Queue { return &Queue{wake: make(chan struct{})} }

// Waiting returns the number of requests waiting.
func (q *Queue) Waiting() int { return int(q.waiting.Load()) }

// Enter registers a request as waiting and returns the channel that the
// next Signal closes. The caller then checks once more for a free slot
// (one freed before Enter signalled nobody) and only then waits on the
// channel, so no wake-up is lost. Every Enter needs a Leave.
func (q *Queue) Enter() <-chan struct{} {
	q.waiting.Add(1)
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.wake
}

// Leave ends a request's time in the queue.
func (q *Queue) Leave() { q.waiting.Add(-1) }

// Wait blocks until ch (from Enter) is closed by Signal (a slot may be
// free: try again), the deadline, or done is closed; it reports false on
// the deadline or done.
func Wait(ch <-chan struct{}, deadline time.Time, done <-chan struct{}) bool {
	d := time.Until(deadline)
	if d <= 0 {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
		return true
	case <-t.C:
		return false
	case <-done:
		return false
	}
}

// Signal wakes every waiter after a slot was freed (an End). On the hot
// path: one atomic load when nobody waits.
func (q *Queue) Signal() {
	if q == nil || q.waiting.Load() == 0 {
		return
	}
	q.mu.Lock()
	close(q.wake)
	q.wake = make(chan struct{})
	q.mu.Unlock()
}

// sessionSet holds the sessions to close when an endpoint goes down. It is
// used only by backends with shutdown_sessions, which pay its lock per
// session (not per request on a kept-alive session).
type sessionSet struct {
	mu sync.Mutex
	m  map[io.Closer]struct{}
}

// Track registers a session (a client or server connection) to close when
// the endpoint goes down; call the returned function when the session ends.
// A session tracked on an endpoint that is already down is closed at once.
func (e *Endpoint) Track(c io.Closer) (untrack func()) {
	e.sessions.mu.Lock()
	if e.sessions.m == nil {
		e.sessions.m = make(map[io.Closer]struct{})
	}
	e.sessions.m[c] = struct{}{}
	e.sessions.mu.Unlock()
	if e.State() == StateDown {
		c.Close()
	}
	return func() {
		e.sessions.mu.Lock()
		delete(e.sessions.m, c)
		e.sessions.mu.Unlock()
	}
}

func (s *sessionSet) closeAll() {
	s.mu.Lock()
	cs := make([]io.Closer, 0, len(s.m))
	for c := range s.m {
		cs = append(cs, c)
	}
	s.mu.Unlock()
	for _, c := range cs {
		c.Close()
	}
}
