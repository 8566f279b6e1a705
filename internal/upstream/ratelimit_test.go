package upstream

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a settable monotonic clock, safe for concurrent use.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) now() time.Duration      { return time.Duration(c.ns.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// take calls Allow n times and returns how many were allowed.
func take(l *RateLimiter, n int) int {
	got := 0
	for range n {
		if l.Allow() {
			got++
		}
	}
	return got
}

func TestRateLimiterBurstAndRefill(t *testing.T) {
	var c fakeClock
	c.advance(1000 * time.Hour) // any origin works
	l := NewRateLimiter(10, c.now)
	if l.Rate() != 10 {
		t.Fatalf("Rate() = %d", l.Rate())
	}
	steps := []struct {
		advance time.Duration
		tries   int
		want    int
	}{
		{0, 25, 10},                                 // starts full: a burst of the rate
		{0, 5, 0},                                   // then empty
		{99 * time.Millisecond, 5, 0},               // a token takes 1/rate s
		{time.Millisecond, 5, 1},                    // ... exactly
		{250 * time.Millisecond, 5, 2},              // 2.5 tokens: the half is kept
		{50 * time.Millisecond, 5, 1},               // ... and completed
		{time.Hour, 50, 10},                         // idle for long: capped at the rate
		{time.Second + 50*time.Millisecond, 50, 10}, // refilled to the cap again...
		{50 * time.Millisecond, 1, 0},               // ... and what was beyond it is lost
		{50 * time.Millisecond, 1, 1},               //
		{-time.Second, 3, 0},                        // a clock going back never grants
		{time.Second + 100*time.Millisecond, 3, 1},  // 0.1 s after the last token
	}
	for i, s := range steps {
		c.advance(s.advance)
		if got := take(l, s.tries); got != s.want {
			t.Fatalf("step %d (+%v, %d tries): allowed %d, want %d", i, s.advance, s.tries, got, s.want)
		}
	}
}

func TestRateLimiterSustainedRate(t *testing.T) {
	var c fakeClock
	l := NewRateLimiter(100, c.now)
	allowed := 0
	for range 10000 { // 10 s in 1 ms steps, 3 attempts each
		allowed += take(l, 3)
		c.advance(time.Millisecond)
	}
	// The initial burst plus one token per 10 ms; the last step's token
	// (at 10 s exactly) is not tried.
	if want := 100 + 999; allowed != want {
		t.Fatalf("allowed %d over 10 s at 100/s, want %d", allowed, want)
	}
}

func TestRateLimiterEdges(t *testing.T) {
	for _, r := range []int{0, -5} {
		l := NewRateLimiter(r, nil)
		if l != nil {
			t.Fatalf("NewRateLimiter(%d) = %+v, want nil", r, l)
		}
		if !l.Allow() || l.Rate() != 0 {
			t.Fatalf("nil limiter must allow everything and have rate 0")
		}
	}
	var c fakeClock
	huge := NewRateLimiter(3_000_000_000, c.now)
	if huge.Rate() != int(time.Second) {
		t.Fatalf("Rate() = %d, want one per ns", huge.Rate())
	}
	if got := take(huge, 1000); got != 1000 {
		t.Fatalf("huge rate allowed %d of 1000", got)
	}
	one := NewRateLimiter(1, c.now)
	if got := take(one, 3); got != 1 {
		t.Fatalf("rate 1 burst: %d", got)
	}
	c.advance(time.Second - 1)
	if one.Allow() {
		t.Fatal("rate 1: allowed before a second passed")
	}
	c.advance(1)
	if !one.Allow() {
		t.Fatal("rate 1: denied after a second")
	}
	// Rates that do not divide a second round the token interval down, so
	// they never grant less than the rate.
	three := NewRateLimiter(3, c.now)
	take(three, 3)
	c.advance(time.Second)
	if got := take(three, 10); got != 3 {
		t.Fatalf("rate 3 after 1 s: %d", got)
	}
}

// TestRateLimiterConcurrent checks that racing goroutines never take more
// tokens than there are: the compare-and-swap loses no update. Each round
// refills the bucket, gets one goroutine running per processor, and lets
// them loose on it together.
func TestRateLimiterConcurrent(t *testing.T) {
	var c fakeClock
	const rate, tries = 5000, 4000
	workers := max(runtime.GOMAXPROCS(0), 2)
	l := NewRateLimiter(rate, c.now)
	take(l, rate) // empty
	for round := range 200 {
		refill := time.Second
		want := int64(rate)
		if round%2 == 1 {
			refill, want = 300*time.Millisecond, rate*3/10
		}
		c.advance(refill)
		var allowed, ready atomic.Int64
		var start atomic.Bool
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				ready.Add(1)
				for !start.Load() {
					runtime.Gosched()
				}
				allowed.Add(int64(take(l, tries)))
			})
		}
		for deadline := time.Now().Add(5 * time.Second); ready.Load() < int64(workers) && time.Now().Before(deadline); {
			runtime.Gosched()
		}
		start.Store(true)
		wg.Wait()
		if got := allowed.Load(); got != want {
			t.Fatalf("round %d: %d racing attempts after %v: %d allowed, want %d", round, workers*tries, refill, got, want)
		}
	}
}

// TestRateLimiterRealClock runs on the real clock: over any run, what is
// allowed is at least the burst and at most the burst plus the elapsed
// time's worth of tokens.
func TestRateLimiterRealClock(t *testing.T) {
	const rate = 1000
	l := NewRateLimiter(rate, nil)
	start := time.Now()
	allowed := 0
	for time.Since(start) < 150*time.Millisecond {
		if l.Allow() {
			allowed++
		}
	}
	elapsed := time.Since(start)
	if limit := rate + int(elapsed.Seconds()*rate) + 1; allowed < rate || allowed > limit {
		t.Fatalf("allowed %d in %v at %d/s; want between %d and %d", allowed, elapsed, rate, rate, limit)
	}
}

// BenchmarkRateLimiterAllow is the cost per accepted connection: on the
// real clock (which dominates) and on a fake one, alone and with every
// goroutine contending for the same bucket.
func BenchmarkRateLimiterAllow(b *testing.B) {
	b.Run("real-clock", func(b *testing.B) {
		l := NewRateLimiter(1_000_000_000, nil)
		b.ReportAllocs()
		for b.Loop() {
			l.Allow()
		}
	})
	b.Run("fake-clock", func(b *testing.B) {
		var c fakeClock
		l := NewRateLimiter(100, c.now)
		b.ReportAllocs()
		for b.Loop() {
			c.advance(10 * time.Millisecond) // one token per call: every call allowed
			if !l.Allow() {
				b.Fatal("denied")
			}
		}
	})
	b.Run("parallel-real-clock", func(b *testing.B) {
		l := NewRateLimiter(1_000_000, nil)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				l.Allow()
			}
		})
	})
}
