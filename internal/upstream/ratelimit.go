package upstream

import (
	"sync/atomic"
	"time"
)

// RateLimiter caps the rate of new connections of one frontend (the
// Scaleway connection_rate_limit): a token bucket that holds up to perSecond
// tokens, starts full and refills at perSecond tokens per second, so a burst
// of perSecond connections passes at once and the sustained rate is
// perSecond.
//
// It is the generic cell rate algorithm: the bucket is one atomic int64, the
// theoretical arrival time (TAT) of the next connection, and Allow is one
// load and one compare-and-swap, retried only when another goroutine won the
// race. It is safe for concurrent use and on the hot path: no lock, no
// allocation. A nil *RateLimiter allows everything.
//
// Its state is live state: keep one RateLimiter per frontend across
// snapshot swaps while Rate is unchanged, so a config change does not
// refill the bucket.
type RateLimiter struct {
	rate     int
	interval int64 // nanoseconds per token
	burst    int64 // interval * rate: how far TAT may run ahead of now
	now      func() time.Duration
	tat      atomic.Int64 // nanoseconds on the now clock
}

// NewRateLimiter returns a limiter of perSecond connections per second, or
// nil (no limit) when perSecond is 0 or less, as Scaleway reads 0. Rates
// above one per nanosecond are rounded down to that.
//
// now is the clock: a monotonic time since any fixed origin; nil means the
// real monotonic clock. Tests inject a fake one.
func NewRateLimiter(perSecond int, now func() time.Duration) *RateLimiter {
	if perSecond <= 0 {
		return nil
	}
	interval := int64(time.Second) / int64(perSecond)
	if interval < 1 {
		interval = 1
		perSecond = int(time.Second)
	}
	if now == nil {
		start := time.Now()
		now = func() time.Duration { return time.Since(start) }
	}
	l := &RateLimiter{
		rate:     perSecond,
		interval: interval,
		burst:    interval * int64(perSecond),
		now:      now,
	}
	// A full bucket: the next connection is due burst before now.
	l.tat.Store(int64(now()) - l.burst)
	return l
}

// Rate returns the limit in connections per second; 0 for a nil limiter.
func (l *RateLimiter) Rate() int {
	if l == nil {
		return 0
	}
	return l.rate
}

// Allow takes a token and reports whether there was one: true means accept
// the connection, false means it is over the rate (close it at once).
func (l *RateLimiter) Allow() bool {
	if l == nil {
		return true
	}
	now := int64(l.now())
	for {
		tat := l.tat.Load()
		next := max(tat, now-l.burst) + l.interval
		if next > now {
			return false
		}
		if l.tat.CompareAndSwap(tat, next) {
			return true
		}
	}
}
