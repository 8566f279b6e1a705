package balance

import (
	"math"
	"net/netip"
	"strconv"
	"testing"

	"github.com/gantry-lb/gantry/internal/upstream"
)

// ranking returns the order in which g hands out endpoints to key k (the
// first pick, then each retry), as indices of eps.
func ranking(g *Group, eps []*upstream.Endpoint, k HashKey) []int {
	idx := indexOf(eps)
	var tried []*upstream.Endpoint
	for e := g.PickUntried(k, nil); e != nil; e = g.PickUntried(k, tried) {
		tried = append(tried, e)
	}
	out := make([]int, len(tried))
	for i, e := range tried {
		out[i] = idx[e]
	}
	return out
}

// TestRendezvousPinned pins the order of endpoints for some keys, computed
// once: the same key must go to the same server in every process, on every
// node and after an upgrade (unless this test is changed on purpose).
func TestRendezvousPinned(t *testing.T) {
	keys := []HashKey{
		KeyString("alice"), KeyString("bob"), KeyString("/index.html"),
		KeyAddr(netip.MustParseAddr("192.0.2.7")), KeyAddr(netip.MustParseAddr("2001:db8::42")),
	}
	tests := []struct {
		weights []int
		want    [][]int
	}{
		{weights: nil, want: [][]int{{3, 1, 0, 2, 4}, {2, 1, 3, 4, 0}, {1, 3, 2, 4, 0}, {3, 2, 4, 0, 1}, {4, 0, 1, 2, 3}}},
		{weights: []int{1, 2, 3, 4, 5}, want: [][]int{{3, 1, 4, 2, 0}, {2, 3, 4, 1, 0}, {1, 3, 4, 2, 0}, {3, 4, 2, 1, 0}, {4, 3, 2, 1, 0}}},
	}
	for _, tt := range tests {
		eps := endpoints(5) // 10.0.0.0:80 .. 10.0.0.4:80
		g := NewGroup(Source, spec(eps, tt.weights))
		for i, k := range keys {
			if got := ranking(g, eps, k); !equalInts(got, tt.want[i]) {
				t.Errorf("weights %v, key %d: order %v, want %v", tt.weights, i, got, tt.want[i])
			}
		}
	}
	// The weighted score itself, for key "alice" and weights 1..5.
	p := newRendezvous(endpoints(5), []int{1, 2, 3, 4, 5})
	wantScores := []float64{1.0537906451665773, 11.532539995528909, 2.9621658224821696, 45.890332789550769, 4.0226563462794491}
	for i, want := range wantScores {
		if got := p.score(KeyString("alice").Sum(), i); math.Abs(got-want) > 1e-12*want {
			t.Errorf("score(alice, %d) = %.17g, want %.17g", i, got, want)
		}
	}
}

// TestRendezvousOrderMatchesScore checks that pick's cheaper comparisons
// give the order of the weighted formula score = -w/ln(u).
func TestRendezvousOrderMatchesScore(t *testing.T) {
	weights := []int{3, 1, 256, 17, 2, 9, 1, 40}
	eps := endpoints(len(weights))
	g := NewGroup(URI, spec(eps, weights))
	p := newRendezvous(eps, weights)
	for i := range 500 {
		k := KeyString("/item/" + strconv.Itoa(i))
		got := ranking(g, eps, k)
		for j := 1; j < len(got); j++ {
			if p.score(k.Sum(), got[j-1]) < p.score(k.Sum(), got[j]) {
				t.Fatalf("key %d: order %v is not by decreasing score", i, got)
			}
		}
	}
}

// keyOwners maps n keys to the index of the endpoint each is picked on.
func keyOwners(g *Group, eps []*upstream.Endpoint, n int) []int {
	idx := indexOf(eps)
	out := make([]int, n)
	for i := range out {
		e := g.PickKey(KeyString("session-" + strconv.Itoa(i)))
		if e == nil {
			out[i] = -1
			continue
		}
		out[i] = idx[e]
	}
	return out
}

func TestRendezvousDistribution(t *testing.T) {
	for _, weights := range [][]int{{1, 1, 1, 1}, {1, 2, 3, 4, 10}, {256, 1, 1}} {
		t.Run(intsName(weights), func(t *testing.T) {
			eps := endpoints(len(weights))
			g := NewGroup(Header, spec(eps, weights))
			const n = 50000
			total := 0
			for _, w := range weights {
				total += w
			}
			got := counts(keyOwners(g, eps, n), len(eps))
			for i, w := range weights {
				// The keys are fixed, so this is deterministic; the
				// bound is what a random hash would meet.
				if p := float64(w) / float64(total); !within(got[i], n, p, 5) {
					t.Fatalf("counts %v: endpoint %d (weight %d) got %d, want about %.0f", got, i, w, got[i], p*n)
				}
			}
		})
	}
}

// TestRendezvousMinimalDisruption checks the point of consistent hashing:
// a server that goes down or leaves moves only its own keys, a new server
// takes only the keys it now wins (about its share) and moves no key between
// the others, and a server that comes back gets exactly its keys back.
func TestRendezvousMinimalDisruption(t *testing.T) {
	const n = 20000
	weights := []int{1, 2, 3, 4, 5}
	eps := endpoints(6) // 5 is the newcomer
	g := NewGroup(Source, spec(eps[:5], weights))
	before := keyOwners(g, eps, n)

	t.Run("down", func(t *testing.T) {
		setState(eps, upstream.StateDown, 2)
		defer setState(eps, upstream.StateUp, 2)
		after := keyOwners(g, eps, n)
		for i := range after {
			if before[i] != 2 && after[i] != before[i] {
				t.Fatalf("key %d moved from %d to %d though its server stayed up", i, before[i], after[i])
			}
			if after[i] == 2 {
				t.Fatalf("key %d still on the down server", i)
			}
		}
	})
	t.Run("back up", func(t *testing.T) {
		if after := keyOwners(g, eps, n); !equalInts(after, before) {
			t.Fatal("keys did not return to their servers when the server came back")
		}
	})
	t.Run("removed", func(t *testing.T) {
		// Rebuilt without server 2 (as a new snapshot would be).
		servers := spec(eps[:5], weights)
		g2 := NewGroup(Source, append(servers[:2:2], servers[3:]...))
		after := keyOwners(g2, eps, n)
		moved := 0
		for i := range after {
			if before[i] == 2 {
				moved++
				continue
			}
			if after[i] != before[i] {
				t.Fatalf("key %d moved from %d to %d", i, before[i], after[i])
			}
		}
		if !within(moved, n, 3.0/15, 5) {
			t.Fatalf("%d keys were on the removed server, want about %d", moved, n/5)
		}
	})
	t.Run("added", func(t *testing.T) {
		g2 := NewGroup(Source, spec(eps, append(weights, 5)))
		after := keyOwners(g2, eps, n)
		moved := 0
		for i := range after {
			if after[i] == before[i] {
				continue
			}
			if after[i] != 5 {
				t.Fatalf("key %d moved from %d to %d, not to the new server", i, before[i], after[i])
			}
			moved++
		}
		if !within(moved, n, 5.0/20, 5) {
			t.Fatalf("%d keys moved to the new server, want about %d", moved, n/4)
		}
	})
	t.Run("weight changed", func(t *testing.T) {
		// Raising one server's weight only moves keys onto it.
		w := append([]int(nil), weights...)
		w[0] = 8
		after := keyOwners(NewGroup(Source, spec(eps[:5], w)), eps, n)
		for i := range after {
			if after[i] != before[i] && after[i] != 0 {
				t.Fatalf("key %d moved from %d to %d", i, before[i], after[i])
			}
		}
	})
}

// TestHashWithoutKey checks HAProxy's fallback: no key (a missing header)
// balances as round robin.
func TestHashWithoutKey(t *testing.T) {
	eps := endpoints(3)
	g := NewGroup(Header, spec(eps, []int{5, 1, 1}))
	if got, want := picks(g, eps, 14), repeat([]int{0, 0, 1, 0, 2, 0, 0}, 2); !equalInts(got, want) {
		t.Fatalf("keyless picks %v, want round robin %v", got, want)
	}
	k := KeyString("x")
	first := g.PickKey(k)
	for range 50 {
		if g.PickKey(k) != first {
			t.Fatal("a key changed endpoint while every endpoint stayed up")
		}
	}
}
