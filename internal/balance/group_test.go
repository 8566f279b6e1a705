package balance

import (
	"net/netip"
	"strconv"
	"testing"

	"github.com/gantry-lb/gantry/internal/upstream"
)

// spec builds servers over eps: weights (nil: all 1) and the indices of the
// backup servers.
func spec(eps []*upstream.Endpoint, weights []int, backups ...int) []Server {
	s := make([]Server, len(eps))
	for i, e := range eps {
		s[i] = Server{Endpoint: e, Weight: 1}
		if weights != nil {
			s[i].Weight = weights[i]
		}
	}
	for _, i := range backups {
		s[i].Backup = true
	}
	return s
}

func setState(eps []*upstream.Endpoint, st upstream.State, idx ...int) {
	for _, i := range idx {
		eps[i].SetState(st, "test")
	}
}

// keyed returns a key for the algorithm's picks: a valid key for hashing
// algorithms (varying with i), the zero key otherwise.
func keyed(a Algorithm, i int) HashKey {
	if !a.Hashed() {
		return HashKey{}
	}
	return KeyString("client-" + strconv.Itoa(i))
}

// TestBackupOnlyWhenAllPrimaryDown checks, for every algorithm and with and
// without a key, that backups take no traffic while any primary of weight
// above 0 is available, take all of it (shared among the available backups)
// when none is, and give it back when a primary returns.
func TestBackupOnlyWhenAllPrimaryDown(t *testing.T) {
	for _, a := range algorithms {
		for _, withKey := range []bool{false, true} {
			if withKey && !a.Hashed() {
				continue
			}
			name := a.String()
			if withKey {
				name += "/key"
			}
			t.Run(name, func(t *testing.T) {
				// 0, 1, 2 primary (2 of weight 0); 3, 4 backup.
				eps := endpoints(5)
				g := NewGroup(a, spec(eps, []int{2, 1, 0, 1, 3}, 3, 4))
				// pick returns the count of picks per endpoint, and
				// of nil picks at index 5.
				pick := func(n int) []int {
					idx := indexOf(eps)
					out := make([]int, 6)
					for i := range n {
						var k HashKey
						if withKey {
							k = keyed(a, i)
						}
						e := g.PickKey(k)
						if e == nil {
							out[5]++
							continue
						}
						e.Begin() // leastconn and random must spread
						out[idx[e]]++
					}
					for _, e := range eps {
						for e.Inflight() > 0 {
							e.End()
						}
					}
					return out
				}
				got := pick(300)
				if got[3]+got[4] != 0 || got[0]+got[1] != 300 {
					t.Fatalf("all up: counts %v, backups used", got)
				}
				setState(eps, upstream.StateDown, 0)
				got = pick(300)
				if got[1] != 300 {
					t.Fatalf("one primary left: counts %v, want all on 1", got)
				}
				setState(eps, upstream.StateStarting, 1)
				got = pick(400)
				if got[0]+got[1]+got[2] != 0 || got[3]+got[4] != 400 {
					t.Fatalf("primaries down (2 has weight 0): counts %v, want all on backups", got)
				}
				if a != First && (got[3] == 0 || got[4] == 0) {
					t.Fatalf("primaries down: counts %v, want both backups used", got)
				}
				if a == First && got[3] != 400 {
					t.Fatalf("first with primaries down: counts %v, want the first backup", got)
				}
				setState(eps, upstream.StateDown, 3)
				if got = pick(50); got[4] != 50 {
					t.Fatalf("one backup left: counts %v", got)
				}
				setState(eps, upstream.StateDown, 4)
				if got = pick(10); got[5] != 10 {
					t.Fatalf("everything down: %v, want nil picks", got)
				}
				setState(eps, upstream.StateUp, 1, 3, 4)
				if got = pick(100); got[1] != 100 {
					t.Fatalf("primary back: counts %v, want all on 1", got)
				}
			})
		}
	}
}

// TestPickUntried checks that retries visit every available endpoint once,
// primaries before backups, and then return nil, for every algorithm.
func TestPickUntried(t *testing.T) {
	for _, a := range algorithms {
		t.Run(a.String(), func(t *testing.T) {
			eps := endpoints(6)
			// 5 is down, 4 has weight 0, 3 is a backup.
			g := NewGroup(a, spec(eps, []int{1, 3, 2, 1, 0, 1}, 3))
			setState(eps, upstream.StateDown, 5)
			for round := range 20 {
				k := keyed(a, round)
				var tried []*upstream.Endpoint
				for {
					e := g.PickUntried(k, tried)
					if e == nil {
						break
					}
					tried = append(tried, e)
					if len(tried) > 6 {
						t.Fatalf("round %d: more picks than endpoints: %v", round, tried)
					}
				}
				idx := indexOf(eps)
				seq := make([]int, len(tried))
				for i, e := range tried {
					seq[i] = idx[e]
				}
				if len(seq) != 4 || seq[3] != 3 {
					t.Fatalf("round %d: retry order %v, want 0, 1, 2 in some order, then backup 3", round, seq)
				}
				if c := counts(seq[:3], 6); c[0] != 1 || c[1] != 1 || c[2] != 1 {
					t.Fatalf("round %d: retry order %v, want each of 0, 1, 2 once", round, seq)
				}
				if a.Hashed() && g.PickKey(k) != tried[0] {
					t.Fatalf("round %d: first untried pick differs from PickKey", round)
				}
			}
		})
	}
}

// TestPickUntriedCompat checks the deprecated free function on a Group.
func TestPickUntriedCompat(t *testing.T) {
	eps := endpoints(3)
	p := New(First, eps, nil)
	tried := []*upstream.Endpoint{eps[0]}
	if e := PickUntried(p, 3, tried); e != eps[1] {
		t.Fatalf("PickUntried = %v, want %v", e, eps[1].Key)
	}
	tried = append(tried, eps[1], eps[2])
	if e := PickUntried(p, 3, tried); e != nil {
		t.Fatalf("PickUntried = %v with all tried, want nil", e.Key)
	}
}

func TestGroupAccessors(t *testing.T) {
	eps := endpoints(3)
	in := []Server{{Endpoint: eps[0], Weight: 1000}, {Endpoint: nil, Weight: 1}, {Endpoint: eps[2], Weight: -3, Backup: true}}
	g := NewGroup(URI, in)
	if g.Algorithm() != URI {
		t.Fatalf("Algorithm() = %v", g.Algorithm())
	}
	got := g.Servers()
	if len(got) != 2 || got[0].Weight != MaxWeight || got[1].Weight != 0 || !got[1].Backup || got[1].Endpoint != eps[2] {
		t.Fatalf("Servers() = %+v, want clamped weights and the nil endpoint dropped", got)
	}
	in[0].Weight = 5
	if g.Servers()[0].Weight != MaxWeight {
		t.Fatal("NewGroup did not copy its input")
	}
}

// TestPickAllocs checks the allocation budget of every pick path (the
// benchmarks report it too; this makes it fail the normal test run).
func TestPickAllocs(t *testing.T) {
	for _, a := range algorithms {
		eps := endpoints(8)
		g := NewGroup(a, spec(eps, []int{1, 2, 3, 4, 5, 6, 7, 8}, 7))
		setState(eps, upstream.StateDown, 2)
		k := KeyString("/some/path")
		addr := netip.MustParseAddr("2001:db8::1")
		var tried [3]*upstream.Endpoint
		tried[0] = eps[0]
		allocs := testing.AllocsPerRun(200, func() {
			g.Pick()
			g.PickKey(k)
			g.PickKey(KeyAddr(addr))
			g.PickKey(KeyBytes([]byte("x-user-1")))
			g.PickUntried(k, tried[:1])
			PickUntried(g, 8, tried[:1])
		})
		if allocs != 0 {
			t.Errorf("%v: %v allocs per pick round, want 0", a, allocs)
		}
	}
}
