package upstream

import (
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain checks that no goroutine outlives the tests: a back-off's timer
// runs its callback on one.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// passiveEndpoint returns an up endpoint with passive ejection configured
// by pol, and stops its timer when the test ends.
func passiveEndpoint(t testing.TB, pol PassivePolicy) (*Endpoint, *Passive) {
	e := NewEndpoint(Key{Backend: "lb/be", Addr: "127.0.0.1:1"})
	p := new(Passive)
	p.SetPolicy(e, pol)
	t.Cleanup(p.Stop)
	return e, p
}

// waitUntil polls cond for up to 5 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func observe(p *Passive, e *Endpoint, n int, ok bool) {
	for range n {
		p.Observe(e, ok)
	}
}

func TestPassiveEjectsAfterConsecutiveFailures(t *testing.T) {
	e, p := passiveEndpoint(t, PassivePolicy{Failures: 3, ActiveCheck: true})
	observe(p, e, 2, false)
	p.Observe(e, true) // a success ends the run
	observe(p, e, 2, false)
	if e.State() != StateUp {
		t.Fatalf("ejected after runs of 2 failures with Failures 3: %v (%q)", e.State(), e.Reason())
	}
	if s := p.Stats(e); s.Failures != 2 || s.Ejected || s.Ejections != 0 {
		t.Fatalf("stats before the 3rd failure = %+v", s)
	}
	before := e.Since()
	p.Observe(e, false)
	if e.State() != StateDown || e.Reason() != "passive: 3 consecutive failures" || !e.Since().After(before) {
		t.Fatalf("after 3 failures: %v (%q), since moved %v; want down (passive: 3 consecutive failures)",
			e.State(), e.Reason(), e.Since().After(before))
	}
	if s := p.Stats(e); !s.Ejected || s.Ejections != 1 || s.Failures != 0 {
		t.Fatalf("stats after ejection = %+v", s)
	}
	// Outcomes of requests still under way change nothing.
	observe(p, e, 10, false)
	observe(p, e, 10, true)
	if e.State() != StateDown || p.Stats(e).Ejections != 1 {
		t.Fatalf("outcomes while down changed things: %v, %+v", e.State(), p.Stats(e))
	}
}

// TestPassiveActiveCheckDecidesReturn checks that with an active check the
// back-off never brings the endpoint back: only the check does (it is what
// calls SetState up; see the health package's interplay test).
func TestPassiveActiveCheckDecidesReturn(t *testing.T) {
	e, p := passiveEndpoint(t, PassivePolicy{Failures: 1, Backoff: 5 * time.Millisecond, ActiveCheck: true})
	p.Observe(e, false)
	time.Sleep(50 * time.Millisecond)
	if e.State() != StateDown {
		t.Fatalf("state %v %q after 10 back-offs with an active check, want down", e.State(), e.Reason())
	}
	e.SetState(StateUp, "http: status 200") // the probe, after Rise passes
	if p.Stats(e).Ejected {
		t.Fatal("still ejected after the probe brought the endpoint up")
	}
	// Counting starts afresh.
	p.Observe(e, false)
	if e.State() != StateDown || p.Stats(e).Ejections != 2 {
		t.Fatalf("second ejection: %v, %+v", e.State(), p.Stats(e))
	}
}

func TestPassiveBackoffBringsBack(t *testing.T) {
	const base = 20 * time.Millisecond
	e, p := passiveEndpoint(t, PassivePolicy{Failures: 2, Backoff: base, MaxBackoff: 70 * time.Millisecond})

	// Each ejection soon after a return doubles the back-off, up to the
	// cap: 20, 40, 70 (not 80), 70.
	for i, want := range []time.Duration{base, 2 * base, 70 * time.Millisecond, 70 * time.Millisecond} {
		start := time.Now()
		observe(p, e, 2, false)
		if e.State() != StateDown {
			t.Fatalf("ejection %d: state %v", i+1, e.State())
		}
		if s := p.Stats(e); s.Backoff != want || !s.Ejected {
			t.Fatalf("ejection %d: %+v, want back-off %v", i+1, s, want)
		}
		waitUntil(t, "the end of the back-off", func() bool { return e.State() == StateUp })
		if d := time.Since(start); d < want {
			t.Fatalf("ejection %d ended after %v, before its back-off %v", i+1, d, want)
		}
		if r, w := e.Reason(), "passive: back-off of "+want.String()+" ended"; r != w {
			t.Fatalf("reason after ejection %d = %q, want %q", i+1, r, w)
		}
	}
	// A healthy stretch longer than the last back-off starts over.
	p.Observe(e, true)
	time.Sleep(80 * time.Millisecond)
	observe(p, e, 2, false)
	if s := p.Stats(e); s.Backoff != base {
		t.Fatalf("back-off after a healthy stretch = %v, want %v", s.Backoff, base)
	}
	waitUntil(t, "up", func() bool { return e.State() == StateUp })
	if s := p.Stats(e); s.Ejections != 5 || s.Ejected {
		t.Fatalf("stats at the end = %+v", s)
	}
}

// TestPassiveLeavesOthersStates checks that passive ejection never undoes or
// overrides a state something else set.
func TestPassiveLeavesOthersStates(t *testing.T) {
	t.Run("operator down during back-off", func(t *testing.T) {
		e, p := passiveEndpoint(t, PassivePolicy{Failures: 1, Backoff: 10 * time.Millisecond})
		p.Observe(e, false)
		e.SetState(StateDown, "maintenance")
		time.Sleep(50 * time.Millisecond)
		if e.State() != StateDown || e.Reason() != "maintenance" {
			t.Fatalf("back-off undid an operator's down: %v %q", e.State(), e.Reason())
		}
	})
	t.Run("only up endpoints are ejected", func(t *testing.T) {
		for _, s := range []State{StateStarting, StateDown} {
			e, p := passiveEndpoint(t, PassivePolicy{Failures: 1, Backoff: time.Hour})
			e.SetState(s, "probe")
			observe(p, e, 5, false)
			if e.State() != s || e.Reason() != "probe" || p.Stats(e).Ejections != 0 {
				t.Fatalf("%v endpoint: now %v %q, %+v", s, e.State(), e.Reason(), p.Stats(e))
			}
		}
	})
	t.Run("a state change restarts the run", func(t *testing.T) {
		e, p := passiveEndpoint(t, PassivePolicy{Failures: 3, Backoff: time.Hour})
		observe(p, e, 2, false)
		e.SetState(StateDown, "probe")
		time.Sleep(time.Microsecond) // a distinct since
		e.SetState(StateUp, "probe")
		observe(p, e, 2, false)
		if e.State() != StateUp {
			t.Fatalf("failures before a state change counted: %v %q", e.State(), e.Reason())
		}
		p.Observe(e, false)
		if e.State() != StateDown {
			t.Fatal("3 failures after the change did not eject")
		}
	})
}

func TestPassivePolicyChanges(t *testing.T) {
	t.Run("off", func(t *testing.T) {
		e, p := passiveEndpoint(t, PassivePolicy{})
		observe(p, e, 100, false)
		if e.State() != StateUp {
			t.Fatal("ejected with Failures 0")
		}
	})
	t.Run("off during a back-off lets it end", func(t *testing.T) {
		e, p := passiveEndpoint(t, PassivePolicy{Failures: 1, Backoff: 10 * time.Millisecond})
		p.Observe(e, false)
		p.SetPolicy(e, PassivePolicy{})
		waitUntil(t, "up", func() bool { return e.State() == StateUp })
	})
	t.Run("active check removed while ejected", func(t *testing.T) {
		e, p := passiveEndpoint(t, PassivePolicy{Failures: 1, Backoff: 10 * time.Millisecond, ActiveCheck: true})
		p.Observe(e, false)
		p.SetPolicy(e, PassivePolicy{Failures: 1, Backoff: 10 * time.Millisecond})
		waitUntil(t, "up", func() bool { return e.State() == StateUp })
	})
	t.Run("active check added while ejected", func(t *testing.T) {
		e, p := passiveEndpoint(t, PassivePolicy{Failures: 1, Backoff: 10 * time.Millisecond})
		p.Observe(e, false)
		p.SetPolicy(e, PassivePolicy{Failures: 1, Backoff: 10 * time.Millisecond, ActiveCheck: true})
		time.Sleep(50 * time.Millisecond)
		if e.State() != StateDown {
			t.Fatal("the back-off brought back an endpoint an active check now decides on")
		}
	})
	t.Run("stop", func(t *testing.T) {
		e, p := passiveEndpoint(t, PassivePolicy{Failures: 1, Backoff: 10 * time.Millisecond})
		p.Observe(e, false)
		p.Stop()
		time.Sleep(50 * time.Millisecond)
		if e.State() != StateDown {
			t.Fatal("a stopped Passive brought its endpoint back")
		}
		p.SetPolicy(e, PassivePolicy{Failures: 1, Backoff: 10 * time.Millisecond})
		waitUntil(t, "up after a new policy", func() bool { return e.State() == StateUp })
	})
	t.Run("defaults", func(t *testing.T) {
		e, p := passiveEndpoint(t, PassivePolicy{Failures: 1, MaxBackoff: time.Second})
		pol := p.policy.Load()
		if pol.Backoff != DefaultPassiveBackoff || pol.MaxBackoff != DefaultPassiveBackoff {
			t.Fatalf("policy %+v: want back-off %v, cap raised to it", pol.PassivePolicy, DefaultPassiveBackoff)
		}
		p.SetPolicy(e, PassivePolicy{Failures: 1, MaxBackoff: time.Second}) // equal: kept
		if p.policy.Load() != pol {
			t.Fatal("an equal policy was replaced")
		}
	})
}

// TestPassiveConcurrent checks that failures reported at once from many
// goroutines eject exactly once, with no race.
func TestPassiveConcurrent(t *testing.T) {
	e, p := passiveEndpoint(t, PassivePolicy{Failures: 50, ActiveCheck: true})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				p.Observe(e, false)
				_ = p.Stats(e)
			}
		})
	}
	wg.Wait()
	if s := p.Stats(e); e.State() != StateDown || s.Ejections != 1 || e.Reason() != "passive: 50 consecutive failures" {
		t.Fatalf("after 8000 concurrent failures: %v %q, %+v; want one ejection", e.State(), e.Reason(), s)
	}
}

func TestPassiveObserveAllocatesNothing(t *testing.T) {
	e, p := passiveEndpoint(t, PassivePolicy{Failures: 2, Backoff: time.Hour})
	allocs := testing.AllocsPerRun(100, func() {
		p.Observe(e, true)
		p.Observe(e, false)
		p.Observe(e, false) // ejects, arming the back-off
		e.state.Store(uint32(StateUp))
		e.since.Add(1) // a new state, as the back-off's end would make
	})
	if allocs != 0 {
		t.Fatalf("Observe allocates %v times per run, ejection included; want 0", allocs)
	}
	if p.Stats(e).Ejections < 100 {
		t.Fatalf("%d ejections in 100 runs", p.Stats(e).Ejections)
	}
}

func BenchmarkPassiveObserve(b *testing.B) {
	b.Run("off", func(b *testing.B) {
		e, p := passiveEndpoint(b, PassivePolicy{})
		b.ReportAllocs()
		for b.Loop() {
			p.Observe(e, true)
		}
	})
	b.Run("success", func(b *testing.B) {
		e, p := passiveEndpoint(b, PassivePolicy{Failures: 5})
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				p.Observe(e, true)
			}
		})
	})
	b.Run("mixed", func(b *testing.B) {
		e, p := passiveEndpoint(b, PassivePolicy{Failures: 5, ActiveCheck: true})
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			p.Observe(e, i%4 != 0)
		}
	})
}
