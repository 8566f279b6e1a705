package upstream

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestRegistryKeepsLiveStateAcrossGets(t *testing.T) {
	r := NewRegistry()
	k := Key{Backend: "lb/b", Addr: "127.0.0.1:1"}
	a := r.Get(k, StateStarting)
	a.Begin()
	if b := r.Get(k, StateUp); b != a {
		t.Fatal("a second Get of the same key returned a new endpoint")
	}
	if a.State() != StateStarting || a.Inflight() != 1 {
		t.Fatalf("state %v inflight %d", a.State(), a.Inflight())
	}
	other := r.Get(Key{Backend: "lb/b", Addr: "127.0.0.1:2"}, StateUp)
	r.Retain(map[Key]bool{k: true})
	if !other.Removed() || a.Removed() {
		t.Fatalf("Retain: removed %v/%v", a.Removed(), other.Removed())
	}
	if got := len(r.All()); got != 1 {
		t.Fatalf("%d endpoints after Retain", got)
	}
	if c := r.Get(other.Key, StateUp); c == other {
		t.Fatal("a removed endpoint came back instead of a fresh one")
	}
}

func TestSetState(t *testing.T) {
	e := NewEndpoint(Key{Addr: "x:1"})
	since := e.Since()
	time.Sleep(time.Millisecond)
	if e.SetState(StateUp, "") {
		t.Fatal("SetState to the same state reported a change")
	}
	if !e.SetState(StateDown, "tcp connect: refused") || e.Available() || e.Reason() != "tcp connect: refused" || !e.Since().After(since) {
		t.Fatalf("after down: available %v reason %q", e.Available(), e.Reason())
	}
	e.SetLastCheck(CheckFailed)
	s := e.Stats()
	if s.State != StateDown || s.LastCheck != CheckFailed || s.State.String() != "down" || s.LastCheck.String() != "failed" {
		t.Fatalf("stats %+v", s)
	}
}

type fakeConn struct {
	net.Conn
	closed bool
}

func (f *fakeConn) Close() error { f.closed = true; return nil }

func TestPool(t *testing.T) {
	var p Pool
	if p.Get() != nil {
		t.Fatal("empty pool returned a connection")
	}
	conns := make([]*Conn, poolSlots+1)
	for i := range conns {
		conns[i] = &Conn{Conn: &fakeConn{}}
	}
	for i := range poolSlots {
		if !p.Put(conns[i]) {
			t.Fatalf("Put %d failed below capacity", i)
		}
	}
	if p.Put(conns[poolSlots]) {
		t.Fatal("Put beyond capacity succeeded")
	}
	if p.Len() != poolSlots {
		t.Fatalf("Len %d", p.Len())
	}
	seen := map[*Conn]bool{}
	for range poolSlots {
		c := p.Get()
		if c == nil || seen[c] {
			t.Fatal("Get returned nil or a duplicate before the pool was empty")
		}
		seen[c] = true
	}
	if p.Get() != nil {
		t.Fatal("pool not empty after taking everything")
	}
	old, fresh := &Conn{Conn: &fakeConn{}}, &Conn{Conn: &fakeConn{}}
	p.Put(old)
	cut := time.Now()
	time.Sleep(time.Millisecond)
	p.Put(fresh)
	p.CloseOlder(cut)
	if !old.Conn.(*fakeConn).closed || fresh.Conn.(*fakeConn).closed || p.Len() != 1 {
		t.Fatal("CloseOlder closed the wrong connections")
	}
	p.CloseAll()
	if !fresh.Conn.(*fakeConn).closed || p.Len() != 0 {
		t.Fatal("CloseAll left a connection")
	}
}

// TestPoolConcurrent: no connection is ever handed to two takers at once.
func TestPoolConcurrent(t *testing.T) {
	var p Pool
	owned := map[*Conn]*atomic.Bool{}
	for range 4 {
		c := &Conn{Conn: &fakeConn{}}
		owned[c] = new(atomic.Bool)
		p.Put(c)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5000 {
				c := p.Get()
				if c == nil {
					continue
				}
				if !owned[c].CompareAndSwap(false, true) {
					t.Error("a connection was handed to two takers")
					return
				}
				owned[c].Store(false)
				if !p.Put(c) {
					t.Error("put failed with the pool nearly empty")
					return
				}
			}
		}()
	}
	wg.Wait()
	if p.Len() != 4 {
		t.Fatalf("%d connections in the pool after the run, want 4", p.Len())
	}
}

// BenchmarkPoolGetPut is the per-request cost of taking and returning an
// idle upstream connection. Allocation budget: 0.
func BenchmarkPoolGetPut(b *testing.B) {
	var p Pool
	for range 32 {
		p.Put(&Conn{Conn: &fakeConn{}})
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if c := p.Get(); c != nil {
				p.Put(c)
			}
		}
	})
}
