package balance

import (
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gantry-lb/gantry/internal/upstream"
)

// DefaultTableSize is the number of entries of a sticky table when the size
// given is 0 or less: 64 Ki clients, 1 MiB.
const DefaultTableSize = 1 << 16

// MaxTableSize bounds the entries of one sticky table (64 MiB).
const MaxTableSize = 1 << 22

// DefaultTableTTL is the inactivity timeout of a sticky-table entry when the
// TTL given is 0 or less.
const DefaultTableTTL = 30 * time.Minute

// ways is the number of slots of a bucket: 4 slots of 16 bytes fill one
// 64-byte cache line, so a lookup reads one line.
const ways = 4

// Tables holds the sticky tables of every backend that has one. It is
// long-lived (the app owns one for the process), so that entries survive
// snapshot swaps. Table and Retain run when a snapshot is built; they lock.
// A nil *Tables has no tables: Table returns nil, so that dry-run builds can
// pass nil and leave the live tables alone.
type Tables struct {
	now func() time.Time // nil: the real clock
	mu  sync.Mutex
	m   map[string]*StickyTable
}

// NewTables returns an empty set of tables that read the time from now; nil
// means the real clock (its monotonic reading). Tests inject a fake clock.
func NewTables(now func() time.Time) *Tables {
	return &Tables{now: now, m: make(map[string]*StickyTable)}
}

// Table returns the sticky table of backend (its "lb/backend" key), created
// on first use with room for size entries (0 or less means DefaultTableSize;
// rounded up to a power of two, at most MaxTableSize). When the table exists
// with another size it is replaced by an empty one: resizing drops the
// entries, and clients are balanced again once. Never nil on a non-nil t.
func (t *Tables) Table(backend string, size int) *StickyTable {
	if t == nil {
		return nil
	}
	slots := tableSlots(size)
	t.mu.Lock()
	defer t.mu.Unlock()
	if st, ok := t.m[backend]; ok && st.Size() == slots {
		return st
	}
	st := newStickyTable(slots, t.now)
	t.m[backend] = st
	return st
}

// Retain drops the tables of backends not in keep (keys as given to Table).
// Views bound to a dropped table keep working on it until their snapshot is
// gone.
func (t *Tables) Retain(keep map[string]bool) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for k := range t.m {
		if !keep[k] {
			delete(t.m, k)
		}
	}
}

// Len returns the number of tables held.
func (t *Tables) Len() int {
	if t == nil {
		return 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}

func tableSlots(size int) int {
	if size <= 0 {
		size = DefaultTableSize
	}
	size = min(max(size, ways), MaxTableSize)
	return 1 << bits.Len(uint(size-1))
}

// StickyTable maps client addresses to the endpoint they were sent to, with
// an inactivity timeout. It is a fixed array of 4-way buckets of atomic
// slots: lookups and stores take no lock and allocate nothing, readers never
// wait, and concurrent writers to one slot both succeed, the last one
// winning. It is a cache, not a record: an entry can be lost to a collision
// (a bucket full of live entries evicts the one closest to expiry) or to a
// race, and the client is then balanced again.
//
// A slot is two words: (fingerprint, endpoint id) and (expiry, fingerprint).
// The fingerprint is 32 bits of the address hash beyond the bucket index, and
// a reader accepts a slot only when both words carry its fingerprint, which
// rejects a pair torn between two writers. The endpoint id is 32 bits of the
// hash of the endpoint's address, so it stays valid across snapshots and is
// resolved by a StickyView against the current servers. The expiry is in
// whole seconds since the table was made; 0 is an empty slot.
type StickyTable struct {
	buckets []bucket
	mask    uint64
	seed    uint64 // random per table: clients cannot aim at one bucket
	// elapsed returns the time since the table was made; with the real
	// clock it reads only the monotonic clock, cheaper than time.Now.
	elapsed func() time.Duration
}

type bucket [ways]slot

type slot struct {
	key atomic.Uint64 // fingerprint<<32 | endpoint id
	exp atomic.Uint64 // expiry<<32 | fingerprint
}

func newStickyTable(slots int, now func() time.Time) *StickyTable {
	nb := slots / ways
	st := &StickyTable{buckets: make([]bucket, nb), mask: uint64(nb - 1), seed: rand.Uint64()}
	if now == nil {
		epoch := time.Now()
		st.elapsed = func() time.Duration { return time.Since(epoch) }
	} else {
		epoch := now()
		st.elapsed = func() time.Duration { return now().Sub(epoch) }
	}
	return st
}

// Size returns the number of entries the table can hold.
func (st *StickyTable) Size() int { return len(st.buckets) * ways }

// nowSec returns the seconds since the epoch plus one, so that an empty slot
// (expiry 0) is always expired.
func (st *StickyTable) nowSec() uint32 {
	d := st.elapsed()
	if d < 0 {
		d = 0
	}
	return uint32(d/time.Second) + 1
}

// Len returns the number of live (unexpired) entries. It reads every slot:
// for stats and tests, not the hot path.
func (st *StickyTable) Len() int {
	now := st.nowSec()
	n := 0
	for i := range st.buckets {
		for j := range st.buckets[i] {
			s := &st.buckets[i][j]
			k, x := s.key.Load(), s.exp.Load()
			if uint32(k>>32) == uint32(x) && uint32(x>>32) > now {
				n++
			}
		}
	}
	return n
}

// locate returns a's bucket and fingerprint. The table is never persisted,
// so its hash need not be stable, only fast and keyed by the table's random
// seed: two rounds of mix64 over the 16-byte form of a.
func (st *StickyTable) locate(a netip.Addr) (*bucket, uint32) {
	b := a.As16()
	h := mix64(binary.LittleEndian.Uint64(b[8:]) ^ mix64(binary.LittleEndian.Uint64(b[:8])^st.seed))
	return &st.buckets[h&st.mask], uint32(h >> 32)
}

// Bind returns the view of the table through g's servers, with entries
// lasting ttl after their last use (rounded up to whole seconds; 0 or less
// means DefaultTableTTL). It runs when a snapshot is built; the TTL of a
// backend can change without losing entries. A nil table gives a nil view.
func (st *StickyTable) Bind(g *Group, ttl time.Duration) *StickyView {
	if st == nil {
		return nil
	}
	if ttl <= 0 {
		ttl = DefaultTableTTL
	}
	secs := min((ttl+time.Second-1)/time.Second, 1<<30)
	v := &StickyView{
		t: st, g: g, ttl: uint32(secs),
		byID: make(map[uint32]int, len(g.servers)),
		ids:  make(map[*upstream.Endpoint]uint32, len(g.servers)),
	}
	clash := make(map[uint32]bool)
	for i := range g.servers {
		e := g.servers[i].Endpoint
		id := uint32(xxh64(e.Addr))
		if j, ok := v.byID[id]; ok && g.servers[j].Endpoint != e {
			clash[id] = true
		}
		if _, ok := v.byID[id]; !ok {
			v.byID[id] = i
		}
		v.ids[e] = id
	}
	// Two addresses of one backend with the same 32-bit id cannot be told
	// apart; their clients are balanced instead (odds: 1 in 10^4 for a
	// thousand servers).
	for id := range clash {
		delete(v.byID, id)
	}
	for e, id := range v.ids {
		if clash[id] {
			delete(v.ids, e)
		}
	}
	return v
}

// StickyView is a StickyTable seen through the servers of one snapshot's
// Group. It is built by Bind, read-only after, and safe for concurrent use.
// A nil *StickyView is valid: Lookup returns nil and Store does nothing.
type StickyView struct {
	t    *StickyTable
	g    *Group
	ttl  uint32                        // seconds
	byID map[uint32]int                // endpoint id → index in g.servers
	ids  map[*upstream.Endpoint]uint32 // the reverse
}

// Table returns the table the view reads.
func (v *StickyView) Table() *StickyTable { return v.t }

// Lookup returns the endpoint client a was last sent to, when its entry has
// not expired and that endpoint may take the client now (available, and not a
// backup while a primary server is available; a weight-0 server keeps its
// clients). A hit counts as activity: it pushes the expiry to now+ttl. nil
// means "balance, then Store". On the hot path; 0 allocs.
func (v *StickyView) Lookup(a netip.Addr) *upstream.Endpoint {
	if v == nil || !a.IsValid() {
		return nil
	}
	b, fp := v.t.locate(a)
	now := v.t.nowSec()
	for i := range b {
		s := &b[i]
		k := s.key.Load()
		if uint32(k>>32) != fp {
			continue
		}
		x := s.exp.Load()
		exp := uint32(x >> 32)
		if uint32(x) != fp || exp <= now {
			continue
		}
		j, ok := v.byID[uint32(k)]
		if !ok {
			return nil // the endpoint left the backend
		}
		srv := &v.g.servers[j]
		if !v.g.stickyOK(srv) {
			return nil
		}
		if next := now + v.ttl; next != exp {
			// A CAS, so that a refresh never revives a slot another
			// client has just taken; at most one write per second.
			s.exp.CompareAndSwap(x, uint64(next)<<32|uint64(fp))
		}
		return srv.Endpoint
	}
	return nil
}

// Store records that client a goes to e, for ttl from now. Call it once the
// connection to e succeeded, unless e came from Lookup (which already
// refreshed the entry). It does nothing when e is not a server of the view's
// group. The slot is the client's own if it has one, else an expired one,
// else the live one closest to expiry. On the hot path; 0 allocs.
func (v *StickyView) Store(a netip.Addr, e *upstream.Endpoint) {
	if v == nil || e == nil || !a.IsValid() {
		return
	}
	id, ok := v.ids[e]
	if !ok {
		return
	}
	b, fp := v.t.locate(a)
	now := v.t.nowSec()
	victim, victimExp := 0, ^uint32(0)
	for i := range b {
		s := &b[i]
		if uint32(s.key.Load()>>32) == fp {
			victim = i
			break
		}
		exp := uint32(s.exp.Load() >> 32)
		if exp <= now {
			exp = 0
		}
		if exp < victimExp {
			victim, victimExp = i, exp
		}
	}
	s := &b[victim]
	key := uint64(fp)<<32 | uint64(id)
	exp := uint64(now+v.ttl)<<32 | uint64(fp)
	if s.key.Load() == key && s.exp.Load() == exp {
		return
	}
	// Key first: a reader that sees the new key with the old expiry word
	// finds the old fingerprint there and skips the slot.
	s.key.Store(key)
	s.exp.Store(exp)
}
