package balance

import (
	"errors"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"

	"github.com/gantry-lb/gantry/internal/upstream"
)

var algorithms = []Algorithm{RoundRobin, LeastConn, First, Random, Source, URI, Header}

func endpoints(n int) []*upstream.Endpoint {
	eps := make([]*upstream.Endpoint, n)
	for i := range eps {
		eps[i] = upstream.NewEndpoint(upstream.Key{Backend: "lb/be", Addr: "10.0.0." + strconv.Itoa(i) + ":80"})
	}
	return eps
}

// indexOf maps each endpoint to its position, to write expectations as indices.
func indexOf(eps []*upstream.Endpoint) map[*upstream.Endpoint]int {
	m := make(map[*upstream.Endpoint]int, len(eps))
	for i, e := range eps {
		m[e] = i
	}
	return m
}

// picks returns the indices of n successive picks; -1 stands for nil.
func picks(p Picker, eps []*upstream.Endpoint, n int) []int {
	idx := indexOf(eps)
	out := make([]int, n)
	for i := range out {
		e := p.Pick()
		if e == nil {
			out[i] = -1
			continue
		}
		out[i] = idx[e]
	}
	return out
}

func counts(seq []int, n int) []int {
	c := make([]int, n)
	for _, i := range seq {
		if i >= 0 {
			c[i]++
		}
	}
	return c
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func repeat(cycle []int, times int) []int {
	var out []int
	for range times {
		out = append(out, cycle...)
	}
	return out
}

func TestParseAlgorithm(t *testing.T) {
	tests := []struct {
		in      string
		want    Algorithm
		wantErr bool
	}{
		{in: "roundrobin", want: RoundRobin},
		{in: "leastconn", want: LeastConn},
		{in: "first", want: First},
		{in: "random", want: Random},
		{in: "source", want: Source},
		{in: "uri", want: URI},
		{in: "hdr", want: Header},
		{in: "", wantErr: true},
		{in: "RoundRobin", wantErr: true},
		{in: "hash", wantErr: true},
		{in: "hdr(x-user)", wantErr: true},
		{in: "leastconn ", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(strconv.Quote(tt.in), func(t *testing.T) {
			got, err := ParseAlgorithm(tt.in)
			if tt.wantErr {
				if !errors.Is(err, ErrUnknownAlgorithm) {
					t.Fatalf("ParseAlgorithm(%q) error = %v, want ErrUnknownAlgorithm", tt.in, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseAlgorithm(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
			if got.String() != tt.in {
				t.Fatalf("%v.String() = %q, want %q", got, got.String(), tt.in)
			}
		})
	}
	if s := Algorithm(9).String(); s != "Algorithm(9)" {
		t.Errorf("Algorithm(9).String() = %q", s)
	}
	for _, a := range algorithms {
		if want := a == Source || a == URI || a == Header; a.Hashed() != want {
			t.Errorf("%v.Hashed() = %v, want %v", a, a.Hashed(), want)
		}
	}
}

func TestNewPanicsOnProgrammingErrors(t *testing.T) {
	tests := []struct {
		name string
		fn   func()
	}{
		{"weights shorter than endpoints", func() { New(RoundRobin, endpoints(2), []int{1}) }},
		{"unknown algorithm", func() { New(Algorithm(7), endpoints(1), nil) }},
		{"unknown algorithm (NewGroup)", func() { NewGroup(Algorithm(8), nil) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("New did not panic")
				}
			}()
			tt.fn()
		})
	}
}

func TestRoundRobinSequence(t *testing.T) {
	tests := []struct {
		weights []int
		cycle   []int
	}{
		{weights: []int{5, 1, 1}, cycle: []int{0, 0, 1, 0, 2, 0, 0}},
		{weights: []int{1, 1}, cycle: []int{0, 1}},
		{weights: nil, cycle: []int{0, 1, 2}},
		{weights: []int{2, 1}, cycle: []int{0, 1, 0}},
		{weights: []int{10, 5, 5}, cycle: []int{0, 1, 2, 0}}, // gcd 5: same as 2,1,1
		{weights: []int{1, 0, 1}, cycle: []int{0, 2}},
		{weights: []int{0, 3}, cycle: []int{1}},
		{weights: []int{256, 256, 256, 256}, cycle: []int{0, 1, 2, 3}},
		{weights: []int{-4, 1}, cycle: []int{1}},        // negative counts as 0
		{weights: []int{1000, 256}, cycle: []int{0, 1}}, // clamped to 256
	}
	for _, tt := range tests {
		n := len(tt.weights)
		if tt.weights == nil {
			n = 3
		}
		t.Run(strconv.Itoa(n)+"/"+intsName(tt.weights), func(t *testing.T) {
			eps := endpoints(n)
			p := New(RoundRobin, eps, tt.weights)
			got := picks(p, eps, 3*len(tt.cycle))
			if want := repeat(tt.cycle, 3); !equalInts(got, want) {
				t.Fatalf("picks = %v, want %v", got, want)
			}
		})
	}
}

func intsName(w []int) string {
	if w == nil {
		return "nil"
	}
	s := ""
	for i, x := range w {
		if i > 0 {
			s += ","
		}
		s += strconv.Itoa(x)
	}
	return s
}

// TestRoundRobinProportions checks that over whole cycles every endpoint gets
// exactly its reduced weight's share, and that a scaled schedule stays within
// its documented error.
func TestRoundRobinProportions(t *testing.T) {
	for _, n := range []int{2, 16, 256} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(n)))
			weights := make([]int, n)
			sum := 0
			for i := range weights {
				weights[i] = 1 + rng.IntN(MaxWeight)
				sum += weights[i]
			}
			eps := endpoints(n)
			p := New(RoundRobin, eps, weights)
			scaled := scaledWeights(weights)
			cycle := 0
			for _, w := range scaled {
				cycle += w
			}
			if cycle > maxSchedule+n {
				t.Fatalf("cycle length %d exceeds maxSchedule+n = %d", cycle, maxSchedule+n)
			}
			const cycles = 5
			got := counts(picks(p, eps, cycles*cycle), n)
			for i := range n {
				if got[i] != cycles*scaled[i] {
					t.Fatalf("endpoint %d (weight %d) got %d picks, want %d", i, weights[i], got[i], cycles*scaled[i])
				}
				// Against the configured weights: off by at most one
				// slot per cycle (half a slot of rounding, plus the
				// minimum of 1).
				ideal := float64(cycles*cycle) * float64(weights[i]) / float64(sum)
				if d := float64(got[i]) - ideal; d > cycles || d < -cycles {
					t.Errorf("endpoint %d (weight %d) got %d picks, ideal %.1f", i, weights[i], got[i], ideal)
				}
			}
		})
	}
}

// TestRoundRobinSmooth checks that picks are interleaved, not in bursts:
// equal weights never repeat an endpoint, and 3,1 puts the light endpoint
// in the middle of the heavy one's run.
func TestRoundRobinSmooth(t *testing.T) {
	eps := endpoints(4)
	p := New(RoundRobin, eps, []int{8, 8, 8, 8})
	seq := picks(p, eps, 64)
	for i := 1; i < len(seq); i++ {
		if seq[i] == seq[i-1] {
			t.Fatalf("equal weights picked %d twice in a row: %v", seq[i], seq)
		}
	}
	eps = endpoints(2)
	p = New(RoundRobin, eps, []int{3, 1})
	if got, want := picks(p, eps, 8), []int{0, 0, 1, 0, 0, 0, 1, 0}; !equalInts(got, want) {
		t.Fatalf("weights 3,1: picks = %v, want %v", got, want)
	}
}

func TestRoundRobinDownAndUp(t *testing.T) {
	eps := endpoints(3)
	p := New(RoundRobin, eps, []int{5, 1, 1})
	if got, want := picks(p, eps, 7), []int{0, 0, 1, 0, 2, 0, 0}; !equalInts(got, want) {
		t.Fatalf("all up: %v, want %v", got, want)
	}
	eps[0].SetState(upstream.StateDown, "test")
	if got, want := picks(p, eps, 6), []int{1, 2, 1, 2, 1, 2}; !equalInts(got, want) {
		t.Fatalf("a down: %v, want %v", got, want)
	}
	eps[1].SetState(upstream.StateDown, "test")
	if got, want := picks(p, eps, 3), []int{2, 2, 2}; !equalInts(got, want) {
		t.Fatalf("a, b down: %v, want %v", got, want)
	}
	eps[2].SetState(upstream.StateStarting, "test")
	if got, want := picks(p, eps, 3), []int{-1, -1, -1}; !equalInts(got, want) {
		t.Fatalf("all down: %v, want %v", got, want)
	}
	for _, e := range eps {
		e.SetState(upstream.StateUp, "test")
	}
	if got := counts(picks(p, eps, 70), 3); !equalInts(got, []int{50, 10, 10}) {
		t.Fatalf("all up again: counts %v, want [50 10 10]", got)
	}
}

// TestRoundRobinDownShare checks that a down endpoint's share goes to the
// others in proportion to their weights.
func TestRoundRobinDownShare(t *testing.T) {
	weights := []int{1, 2, 3, 4, 6}
	tests := []struct {
		down []int
		want []int // per 10 cycles of the remaining weights
	}{
		{down: []int{0}, want: []int{0, 20, 30, 40, 60}},
		{down: []int{4}, want: []int{10, 20, 30, 40, 0}},
		{down: []int{1, 3}, want: []int{10, 0, 30, 0, 60}},
		{down: []int{0, 1, 2, 3}, want: []int{0, 0, 0, 0, 60}},
	}
	for _, tt := range tests {
		t.Run(intsName(tt.down), func(t *testing.T) {
			eps := endpoints(len(weights))
			p := New(RoundRobin, eps, weights)
			picks(p, eps, 3) // start mid-cycle
			for _, i := range tt.down {
				eps[i].SetState(upstream.StateDown, "test")
			}
			total := 0
			for _, c := range tt.want {
				total += c
			}
			if got := counts(picks(p, eps, total), len(eps)); !equalInts(got, tt.want) {
				t.Fatalf("counts = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNoEndpointAvailable(t *testing.T) {
	tests := []struct {
		name    string
		eps     []*upstream.Endpoint
		weights []int
		down    bool
	}{
		{name: "empty", eps: nil},
		{name: "empty non-nil", eps: []*upstream.Endpoint{}, weights: []int{}},
		{name: "all weight 0", eps: endpoints(3), weights: []int{0, 0, 0}},
		{name: "all down", eps: endpoints(3), weights: []int{1, 2, 3}, down: true},
		{name: "one down", eps: endpoints(1), weights: []int{7}, down: true},
	}
	for _, a := range algorithms {
		for _, tt := range tests {
			t.Run(a.String()+"/"+tt.name, func(t *testing.T) {
				if tt.down {
					for i, e := range tt.eps {
						e.SetState([]upstream.State{upstream.StateDown, upstream.StateStarting}[i%2], "test")
					}
				}
				p := New(a, tt.eps, tt.weights)
				for range 10 {
					if e := p.Pick(); e != nil {
						t.Fatalf("Pick() = %v, want nil", e.Key)
					}
				}
			})
		}
	}
}

func TestWeightZeroNeverPicked(t *testing.T) {
	for _, a := range algorithms {
		t.Run(a.String(), func(t *testing.T) {
			eps := endpoints(4)
			weights := []int{0, 3, 0, 1}
			p := New(a, eps, weights)
			for round := range 3 {
				// Load the weighted endpoints so that leastconn would
				// prefer an idle weight-0 one if it considered it.
				eps[1].Begin()
				eps[3].Begin()
				got := counts(picks(p, eps, 40), 4)
				if got[0] != 0 || got[2] != 0 {
					t.Fatalf("round %d: weight-0 endpoints picked: %v", round, got)
				}
				if got[1]+got[3] != 40 {
					t.Fatalf("round %d: %v picks, want 40", round, got)
				}
			}
		})
	}
}

func TestLeastConn(t *testing.T) {
	t.Run("prefers idle", func(t *testing.T) {
		eps := endpoints(3)
		p := New(LeastConn, eps, nil)
		eps[0].Begin()
		eps[0].Begin()
		eps[1].Begin()
		for range 10 {
			if e := p.Pick(); e != eps[2] {
				t.Fatalf("Pick() = %v, want the idle %v", e.Key, eps[2].Key)
			}
		}
		eps[2].Begin()
		eps[2].Begin()
		eps[2].Begin() // now 2, 1, 3
		if e := p.Pick(); e != eps[1] {
			t.Fatalf("Pick() = %v, want %v (1 in flight)", e.Key, eps[1].Key)
		}
		eps[0].End()
		eps[0].End() // now 0, 1, 3
		if e := p.Pick(); e != eps[0] {
			t.Fatalf("Pick() = %v, want %v after End", e.Key, eps[0].Key)
		}
	})
	t.Run("weighted", func(t *testing.T) {
		eps := endpoints(2)
		p := New(LeastConn, eps, []int{3, 1})
		for range 2 {
			eps[0].Begin() // 2/3
		}
		eps[1].Begin() // 1/1
		if e := p.Pick(); e != eps[0] {
			t.Fatalf("Pick() = %v, want %v (2/3 < 1/1)", e.Key, eps[0].Key)
		}
		// Fill as a proxy would: Begin on every pick. A 3:1 weight
		// should end near 3:1 in flight.
		for range 38 {
			p.Pick().Begin()
		}
		a, b := eps[0].Inflight(), eps[1].Inflight()
		if a+b != 41 || a < 29 || a > 32 {
			t.Fatalf("in flight %d, %d; want about 3:1 of 41", a, b)
		}
	})
	t.Run("ties rotate", func(t *testing.T) {
		eps := endpoints(4)
		p := New(LeastConn, eps, nil)
		if got := counts(picks(p, eps, 400), 4); !equalInts(got, []int{100, 100, 100, 100}) {
			t.Fatalf("idle ties: counts %v, want 100 each", got)
		}
		for _, e := range eps {
			e.Begin()
		}
		if got := counts(picks(p, eps, 400), 4); !equalInts(got, []int{100, 100, 100, 100}) {
			t.Fatalf("busy ties: counts %v, want 100 each", got)
		}
	})
	t.Run("skips unavailable", func(t *testing.T) {
		eps := endpoints(3)
		p := New(LeastConn, eps, nil)
		eps[1].Begin()
		eps[2].Begin()
		eps[0].SetState(upstream.StateDown, "test") // idle but down
		if got := counts(picks(p, eps, 10), 3); got[0] != 0 || got[1]+got[2] != 10 {
			t.Fatalf("counts %v: down endpoint picked", got)
		}
		eps[0].SetState(upstream.StateUp, "test")
		if e := p.Pick(); e != eps[0] {
			t.Fatalf("Pick() = %v, want %v back up and idle", e.Key, eps[0].Key)
		}
	})
}

func TestFirst(t *testing.T) {
	eps := endpoints(4)
	p := New(First, eps, []int{0, 1, 100, 1})
	steps := []struct {
		state map[int]upstream.State
		want  int
	}{
		{want: 1},
		{state: map[int]upstream.State{1: upstream.StateDown}, want: 2},
		{state: map[int]upstream.State{2: upstream.StateStarting}, want: 3},
		{state: map[int]upstream.State{3: upstream.StateDown}, want: -1},
		{state: map[int]upstream.State{2: upstream.StateUp}, want: 2},
		{state: map[int]upstream.State{1: upstream.StateUp}, want: 1},
	}
	for i, s := range steps {
		for j, st := range s.state {
			eps[j].SetState(st, "test")
		}
		eps[1].Begin() // load must not matter to "first"
		got := picks(p, eps, 3)
		if want := []int{s.want, s.want, s.want}; !equalInts(got, want) {
			t.Fatalf("step %d: picks %v, want %v", i, got, want)
		}
	}
}

// TestConcurrentPick runs many goroutines picking at once (meaningful under
// -race) while another flips one endpoint down and up, and checks the totals.
func TestConcurrentPick(t *testing.T) {
	const (
		goroutines = 8
		perG       = 7 * 1000
	)
	weights := []int{5, 1, 1, 0}
	for _, a := range algorithms {
		for _, flip := range []bool{false, true} {
			name := a.String()
			if flip {
				name += "/flipping"
			}
			t.Run(name, func(t *testing.T) {
				eps := endpoints(len(weights))
				idx := indexOf(eps)
				p := New(a, eps, weights)
				var (
					mu     sync.Mutex
					total  = make([]int, len(eps))
					nils   int
					wg     sync.WaitGroup
					stop   = make(chan struct{})
					flipWG sync.WaitGroup
				)
				if flip {
					flipWG.Add(1)
					go func() {
						defer flipWG.Done()
						for i := 0; i < 100000; i++ {
							select {
							case <-stop:
								eps[1].SetState(upstream.StateUp, "test")
								return
							default:
							}
							eps[1].SetState([]upstream.State{upstream.StateDown, upstream.StateUp}[i%2], "test")
						}
						eps[1].SetState(upstream.StateUp, "test")
					}()
				}
				for range goroutines {
					wg.Add(1)
					go func() {
						defer wg.Done()
						local := make([]int, len(eps))
						localNil := 0
						for range perG {
							e := p.Pick()
							if e == nil {
								localNil++
								continue
							}
							e.Begin()
							local[idx[e]]++
							e.End()
						}
						mu.Lock()
						for i, c := range local {
							total[i] += c
						}
						nils += localNil
						mu.Unlock()
					}()
				}
				wg.Wait()
				close(stop)
				flipWG.Wait()
				sum := total[0] + total[1] + total[2]
				if nils != 0 || sum != goroutines*perG {
					t.Fatalf("totals %v, %d nils; want %d picks and no nil", total, nils, goroutines*perG)
				}
				if total[3] != 0 {
					t.Fatalf("weight-0 endpoint picked %d times", total[3])
				}
				for _, e := range eps {
					if e.Inflight() != 0 {
						t.Fatalf("%v in flight %d after all End", e.Key, e.Inflight())
					}
				}
				switch {
				case a == RoundRobin && !flip:
					// Each pick consumes exactly one slot, so whole
					// cycles give exact shares even concurrently.
					want := []int{5 * goroutines * perG / 7, goroutines * perG / 7, goroutines * perG / 7, 0}
					if !equalInts(total, want) {
						t.Fatalf("round robin totals %v, want %v", total, want)
					}
				case a == First && !flip:
					if total[0] != goroutines*perG {
						t.Fatalf("first totals %v, want all on endpoint 0", total)
					}
				}
			})
		}
	}
}

func BenchmarkPick(b *testing.B) {
	for _, a := range algorithms {
		for _, n := range []int{2, 16, 256} {
			eps := endpoints(n)
			weights := make([]int, n)
			rng := rand.New(rand.NewPCG(2, uint64(n)))
			for i := range weights {
				weights[i] = 1 + rng.IntN(MaxWeight)
				if a == LeastConn {
					// Busy endpoints: no early exit on an idle one,
					// so this is leastconn's full scan.
					for range 1 + i%5 {
						eps[i].Begin()
					}
				}
			}
			p := New(a, eps, weights)
			name := a.String() + "/" + strconv.Itoa(n)
			b.Run(name+"/serial", func(b *testing.B) {
				b.ReportAllocs()
				var sink *upstream.Endpoint
				for b.Loop() {
					sink = p.Pick()
				}
				if sink == nil {
					b.Fatal("Pick() = nil")
				}
			})
			b.Run(name+"/parallel", func(b *testing.B) {
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if p.Pick() == nil {
							b.Error("Pick() = nil")
							return
						}
					}
				})
			})
		}
	}
	// Round robin's slow path: half of the weight is down.
	eps := endpoints(16)
	for i := 0; i < 16; i += 2 {
		eps[i].SetState(upstream.StateDown, "bench")
	}
	p := New(RoundRobin, eps, nil)
	b.Run("roundrobin/16/half-down", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if p.Pick() == nil {
					b.Error("Pick() = nil")
					return
				}
			}
		})
	})
}
