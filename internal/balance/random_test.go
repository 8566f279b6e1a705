package balance

import (
	"math"
	"testing"

	"github.com/gantry-lb/gantry/internal/upstream"
)

// TestAliasTableExact checks that the alias table gives every endpoint
// exactly its weight's share of the (column, threshold) space.
func TestAliasTableExact(t *testing.T) {
	tests := [][]int{
		{1},
		{1, 1},
		{5, 1, 1},
		{256, 1},
		{1, 2, 3, 4, 5, 6, 7, 8, 9, 10},
		{7, 7, 7},
		{256, 256, 1, 1, 1, 100, 3},
	}
	for _, weights := range tests {
		t.Run(intsName(weights), func(t *testing.T) {
			eps := endpoints(len(weights))
			p := newRandom(eps, weights)
			n := uint64(len(weights))
			// Column i is drawn with probability 1/n, then i with
			// prob/total and alias with the rest: in units of
			// 1/(n*total), endpoint j gets weight[j]*n.
			mass := make([]uint64, n)
			for i, c := range p.cells {
				if c.prob > p.total {
					t.Fatalf("cell %d: prob %d > total %d", i, c.prob, p.total)
				}
				mass[i] += c.prob
				mass[c.alias] += p.total - c.prob
			}
			for j, w := range weights {
				if mass[j] != uint64(w)*n {
					t.Fatalf("endpoint %d (weight %d) has mass %d, want %d", j, w, mass[j], uint64(w)*n)
				}
			}
		})
	}
}

// within reports whether got is within k standard deviations of a binomial
// count with n trials and probability p.
func within(got, n int, p, k float64) bool {
	mean := float64(n) * p
	sd := math.Sqrt(float64(n) * p * (1 - p))
	return math.Abs(float64(got)-mean) <= k*sd+1
}

// TestRandomDistribution checks that with equal loads random follows the
// weights (6 standard deviations: a false failure about once in 10^8 runs),
// also when some endpoints are down.
func TestRandomDistribution(t *testing.T) {
	weights := []int{1, 2, 3, 4, 10, 0}
	const n = 60000
	for _, down := range [][]int{nil, {3}, {0, 4}} {
		t.Run("down="+intsName(down), func(t *testing.T) {
			eps := endpoints(len(weights))
			g := NewGroup(Random, spec(eps, weights))
			setState(eps, upstream.StateDown, down...)
			total := 0
			for i, w := range weights {
				if !contains(down, i) {
					total += w
				}
			}
			got := counts(picks(g, eps, n), len(eps))
			for i, w := range weights {
				p := float64(w) / float64(total)
				if contains(down, i) {
					p = 0
				}
				if !within(got[i], n, p, 6) {
					t.Fatalf("counts %v: endpoint %d (weight %d) got %d, want about %.0f", got, i, w, got[i], p*n)
				}
			}
		})
	}
}

func contains(s []int, x int) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

// TestRandomTwoChoices checks that of the two draws the less loaded
// endpoint wins, relative to weight.
func TestRandomTwoChoices(t *testing.T) {
	t.Run("two endpoints, one busy", func(t *testing.T) {
		eps := endpoints(2)
		g := NewGroup(Random, spec(eps, nil))
		eps[0].Begin()
		for i := range 200 {
			if e := g.Pick(); e != eps[1] {
				t.Fatalf("pick %d = %v, want the idle endpoint", i, e.Key)
			}
		}
	})
	t.Run("weighted loads", func(t *testing.T) {
		eps := endpoints(2)
		g := NewGroup(Random, spec(eps, []int{4, 1}))
		for range 4 {
			eps[0].Begin() // 4/4
		}
		eps[1].Begin()
		eps[1].Begin() // 2/1
		for i := range 100 {
			if e := g.Pick(); e != eps[0] {
				t.Fatalf("pick %d = %v, want endpoint 0 (4/4 < 2/1)", i, e.Key)
			}
		}
	})
	t.Run("fills by weight", func(t *testing.T) {
		// Begin on every pick and never End: in-flight counts end in
		// proportion to the weights, as for leastconn.
		eps := endpoints(4)
		weights := []int{1, 2, 3, 4}
		g := NewGroup(Random, spec(eps, weights))
		const n = 10000
		for range n {
			g.Pick().Begin()
		}
		for i, w := range weights {
			want := float64(n*w) / 10
			if got := float64(eps[i].Inflight()); math.Abs(got-want) > 0.05*want {
				t.Fatalf("endpoint %d (weight %d): %v in flight, want %.0f ± 5%%", i, w, got, want)
			}
		}
	})
	t.Run("mostly down", func(t *testing.T) {
		// Draws keep failing: the scan must still find the one up.
		eps := endpoints(64)
		g := NewGroup(Random, spec(eps, nil))
		for i := 1; i < 64; i++ {
			setState(eps, upstream.StateDown, i)
		}
		for i := range 200 {
			if e := g.Pick(); e != eps[0] {
				t.Fatalf("pick %d = %v, want the only endpoint up", i, e)
			}
		}
	})
}
