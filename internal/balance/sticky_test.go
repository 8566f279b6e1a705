package balance

import (
	"net/netip"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-lb/gantry/internal/upstream"
)

// fakeClock is a clock tests move by hand; safe for concurrent use.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

func clientAddr(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{198, 51, byte(i >> 8), byte(i)})
}

func TestStickyTableStoreLookup(t *testing.T) {
	clock := newFakeClock()
	tables := NewTables(clock.Now)
	eps := endpoints(3)
	g := NewGroup(RoundRobin, spec(eps, nil))
	v := tables.Table("lb/be", 1024).Bind(g, 10*time.Second)
	a, b := clientAddr(1), netip.MustParseAddr("2001:db8::7")

	if v.Lookup(a) != nil {
		t.Fatal("hit in an empty table")
	}
	v.Store(a, eps[1])
	v.Store(b, eps[2])
	if v.Lookup(a) != eps[1] || v.Lookup(b) != eps[2] {
		t.Fatal("stored clients not found")
	}
	if v.Lookup(netip.MustParseAddr("::ffff:198.51.0.1")) != eps[1] {
		t.Fatal("the IPv4-mapped form of a client missed its entry")
	}
	v.Store(a, eps[0]) // re-balanced: the entry is replaced, not duplicated
	if v.Lookup(a) != eps[0] || v.Table().Len() != 2 {
		t.Fatalf("after re-store: Lookup = %v, Len = %d, want endpoint 0 and 2 entries", v.Lookup(a), v.Table().Len())
	}
	v.Store(netip.Addr{}, eps[0])
	v.Store(clientAddr(3), upstream.NewEndpoint(upstream.Key{Backend: "lb/be", Addr: "10.9.9.9:80"}))
	if v.Lookup(netip.Addr{}) != nil || v.Lookup(clientAddr(3)) != nil || v.Table().Len() != 2 {
		t.Fatal("an invalid address or a foreign endpoint was stored")
	}
}

// TestStickyTableExpiry checks the inactivity timeout: an entry lives ttl
// after its last use, a lookup counts as use, and an expired entry is
// ignored and then overwritten.
func TestStickyTableExpiry(t *testing.T) {
	clock := newFakeClock()
	tables := NewTables(clock.Now)
	eps := endpoints(2)
	g := NewGroup(RoundRobin, spec(eps, nil))
	st := tables.Table("lb/be", 64)
	v := st.Bind(g, 10*time.Second)
	a := clientAddr(1)
	v.Store(a, eps[0])

	clock.Advance(9 * time.Second)
	if v.Lookup(a) != eps[0] {
		t.Fatal("entry expired before its ttl")
	}
	// The lookup at 9 s refreshed it: still there 9 s later.
	clock.Advance(9 * time.Second)
	if v.Lookup(a) != eps[0] {
		t.Fatal("a lookup did not refresh the entry")
	}
	clock.Advance(10*time.Second + 500*time.Millisecond)
	if v.Lookup(a) != nil {
		t.Fatal("entry alive after ttl of inactivity")
	}
	if st.Len() != 0 {
		t.Fatalf("Len = %d with only an expired entry", st.Len())
	}
	v.Store(a, eps[1])
	if v.Lookup(a) != eps[1] || st.Len() != 1 {
		t.Fatal("an expired entry was not overwritten")
	}

	// A new snapshot with a longer ttl keeps the entries and uses the new
	// ttl from their next use.
	v2 := st.Bind(g, time.Minute)
	if v2.Lookup(a) != eps[1] {
		t.Fatal("rebinding lost the entry")
	}
	clock.Advance(50 * time.Second)
	if v2.Lookup(a) != eps[1] {
		t.Fatal("the new ttl was not applied on refresh")
	}
	// Zero ttl means the default.
	v3 := st.Bind(g, 0)
	v3.Store(a, eps[0])
	clock.Advance(DefaultTableTTL - time.Second)
	if v3.Lookup(a) != eps[0] {
		t.Fatal("the default ttl was not applied")
	}
	clock.Advance(DefaultTableTTL + time.Second)
	if v3.Lookup(a) != nil {
		t.Fatal("entry outlived the default ttl")
	}
}

// TestStickyTableEndpoints checks that entries are resolved against the
// current snapshot's servers, and respect availability and backups.
func TestStickyTableEndpoints(t *testing.T) {
	clock := newFakeClock()
	tables := NewTables(clock.Now)
	reg := upstream.NewRegistry()
	ep := func(addr string) *upstream.Endpoint {
		return reg.Get(upstream.Key{Backend: "lb/be", Addr: addr}, upstream.StateUp)
	}
	a1, a2, a3 := ep("10.0.0.1:80"), ep("10.0.0.2:80"), ep("10.0.0.3:80")
	st := tables.Table("lb/be", 64)
	g1 := NewGroup(LeastConn, []Server{{Endpoint: a1, Weight: 1}, {Endpoint: a2, Weight: 1}, {Endpoint: a3, Weight: 1, Backup: true}})
	v1 := st.Bind(g1, time.Minute)
	c1, c2, c3 := clientAddr(1), clientAddr(2), clientAddr(3)
	v1.Store(c1, a1)
	v1.Store(c2, a2)
	v1.Store(c3, a3)
	if v1.Lookup(c3) != nil {
		t.Fatal("a backup kept a sticky client while primaries are up")
	}

	// Next snapshot: a2 removed, a1 drained; entries survive the swap.
	g2 := NewGroup(LeastConn, []Server{{Endpoint: a1, Weight: 0}, {Endpoint: a3, Weight: 1, Backup: true}})
	v2 := tables.Table("lb/be", 64).Bind(g2, time.Minute)
	if v2.Lookup(c1) != a1 {
		t.Fatal("the entry of a drained server did not survive the snapshot swap")
	}
	if v2.Lookup(c2) != nil {
		t.Fatal("an entry naming a removed server resolved")
	}
	if v2.Lookup(c3) != a3 {
		t.Fatal("with only a drained primary, the backup lost its sticky client")
	}
	a1.SetState(upstream.StateDown, "test")
	if v2.Lookup(c1) != nil {
		t.Fatal("an entry naming a down server resolved")
	}
	a1.SetState(upstream.StateUp, "test")
	if v2.Lookup(c1) != a1 {
		t.Fatal("the entry did not come back with its server")
	}
	// The same address in a new snapshot (same registry key) resolves.
	g3 := NewGroup(LeastConn, []Server{{Endpoint: a1, Weight: 1}, {Endpoint: a2, Weight: 1}})
	if st.Bind(g3, time.Minute).Lookup(c2) != a2 {
		t.Fatal("the entry of a server that came back to the backend did not resolve")
	}
}

// TestStickyTableBounded checks that a full table stays at its size, evicts
// the entries closest to expiry first, and keeps working.
func TestStickyTableBounded(t *testing.T) {
	clock := newFakeClock()
	tables := NewTables(clock.Now)
	eps := endpoints(4)
	g := NewGroup(RoundRobin, spec(eps, nil))
	st := tables.Table("lb/be", 256)
	if st.Size() != 256 {
		t.Fatalf("Size = %d, want 256", st.Size())
	}
	v := st.Bind(g, time.Hour)
	// 128 old clients, then 2048 new ones a minute later.
	for i := range 128 {
		v.Store(clientAddr(i), eps[i%4])
	}
	clock.Advance(time.Minute)
	for i := 1000; i < 1000+2048; i++ {
		v.Store(clientAddr(i), eps[i%4])
	}
	if n := st.Len(); n != 256 {
		t.Fatalf("Len = %d after 2176 clients, want the size 256", n)
	}
	old := 0
	for i := range 128 {
		if v.Lookup(clientAddr(i)) != nil {
			old++
		}
	}
	if old != 0 {
		t.Fatalf("%d of the oldest entries survived 2048 newer ones", old)
	}
	// Whatever is found is right.
	hits := 0
	for i := 1000; i < 1000+2048; i++ {
		if e := v.Lookup(clientAddr(i)); e != nil {
			hits++
			if e != eps[i%4] {
				t.Fatalf("client %d found on %v, stored on %v", i, e.Key, eps[i%4].Key)
			}
		}
	}
	if hits != 256 {
		t.Fatalf("%d hits, want 256 (a full table)", hits)
	}
}

func TestTables(t *testing.T) {
	tables := NewTables(nil)
	a := tables.Table("lb/a", 0)
	if a.Size() != DefaultTableSize {
		t.Fatalf("default size %d", a.Size())
	}
	if tables.Table("lb/a", 0) != a || tables.Table("lb/a", DefaultTableSize-5) != a {
		t.Fatal("Table did not return the existing table")
	}
	b := tables.Table("lb/b", 100)
	if b.Size() != 128 {
		t.Fatalf("size 100 rounded to %d, want 128", b.Size())
	}
	if tables.Table("lb/b", 1000) == b {
		t.Fatal("a size change kept the old table")
	}
	if s := tables.Table("lb/c", 1<<40).Size(); s != MaxTableSize {
		t.Fatalf("huge size gave %d, want MaxTableSize", s)
	}
	if s := tables.Table("lb/d", 1).Size(); s != ways {
		t.Fatalf("size 1 gave %d, want %d", s, ways)
	}
	if tables.Len() != 4 {
		t.Fatalf("Len = %d, want 4", tables.Len())
	}
	tables.Retain(map[string]bool{"lb/a": true})
	if tables.Len() != 1 || tables.Table("lb/a", 0) != a {
		t.Fatal("Retain dropped the wrong tables")
	}

	// Nil-safety, for dry-run builds.
	var none *Tables
	v := none.Table("lb/a", 0).Bind(NewGroup(First, nil), time.Minute)
	if v != nil || v.Lookup(clientAddr(1)) != nil || none.Len() != 0 {
		t.Fatal("a nil Tables gave a table")
	}
	v.Store(clientAddr(1), nil)
	none.Retain(nil)
}

// TestStickyTableIDClash checks that two servers whose 32-bit ids clash are
// left out of the table (balanced) instead of being confused.
func TestStickyTableIDClash(t *testing.T) {
	// Find two addresses with the same id by brute force over ports.
	seen := map[uint32]string{}
	var x, y string
	for p := 1; x == ""; p++ {
		for h := range 256 {
			addr := "10.1." + strconv.Itoa(h) + "." + strconv.Itoa(p%256) + ":" + strconv.Itoa(p)
			id := uint32(xxh64(addr))
			if prev, ok := seen[id]; ok {
				x, y = prev, addr
				break
			}
			seen[id] = addr
		}
		if p > 1<<20 {
			t.Fatal("no clash in 2^28 addresses for 2^32 ids: the id hash is broken")
		}
	}
	ex := upstream.NewEndpoint(upstream.Key{Backend: "lb/be", Addr: x})
	ey := upstream.NewEndpoint(upstream.Key{Backend: "lb/be", Addr: y})
	ez := endpoints(1)[0]
	g := NewGroup(RoundRobin, spec([]*upstream.Endpoint{ex, ey, ez}, nil))
	v := NewTables(nil).Table("lb/be", 64).Bind(g, time.Minute)
	v.Store(clientAddr(1), ex)
	v.Store(clientAddr(2), ez)
	if v.Lookup(clientAddr(1)) != nil {
		t.Fatal("a server with a clashing id was stored")
	}
	if v.Lookup(clientAddr(2)) != ez {
		t.Fatal("the clash affected another server")
	}
}

func TestStickyAllocs(t *testing.T) {
	eps := endpoints(8)
	v := NewTables(nil).Table("lb/be", 1024).Bind(NewGroup(RoundRobin, spec(eps, nil)), time.Minute)
	a := netip.MustParseAddr("2001:db8::1")
	b := clientAddr(9)
	allocs := testing.AllocsPerRun(200, func() {
		if v.Lookup(a) == nil {
			v.Store(a, eps[3])
		}
		v.Lookup(b)
		v.Store(b, eps[1])
	})
	if allocs != 0 {
		t.Fatalf("%v allocs per lookup round, want 0", allocs)
	}
}
