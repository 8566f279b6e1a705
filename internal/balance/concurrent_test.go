package balance

import (
	"sync"
	"testing"
	"time"

	"github.com/gantry-lb/gantry/internal/upstream"
)

// TestConcurrentEverything runs the hot-path calls of every feature at once
// from several goroutines (meaningful under -race) while another goroutine
// flips servers down and up, and checks every answer is a legal one.
func TestConcurrentEverything(t *testing.T) {
	const (
		goroutines = 6
		perG       = 3000
	)
	clock := newFakeClock()
	tables := NewTables(clock.Now)
	for _, a := range algorithms {
		t.Run(a.String(), func(t *testing.T) {
			eps := endpoints(6)
			// 4 is drained, 5 is a backup; 1 flips.
			g := NewGroup(a, spec(eps, []int{3, 1, 2, 1, 0, 1}, 5))
			idx := indexOf(eps)
			cookies := mustCookies(t, testSecret, lax(), g)
			v := tables.Table("lb/"+a.String(), 256).Bind(g, time.Minute)
			values := make([]string, len(eps))
			for i, e := range eps {
				values[i] = string(value(t, cookies, e))
			}
			stop := make(chan struct{})
			var flipper sync.WaitGroup
			flipper.Add(1)
			go func() {
				defer flipper.Done()
				for i := 0; i < 1_000_000; i++ {
					select {
					case <-stop:
						eps[1].SetState(upstream.StateUp, "test")
						return
					default:
					}
					eps[1].SetState([]upstream.State{upstream.StateDown, upstream.StateUp}[i%2], "test")
					clock.Advance(time.Millisecond)
				}
			}()
			errs := make(chan string, goroutines)
			var wg sync.WaitGroup
			for gi := range goroutines {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var tried [2]*upstream.Endpoint
					for i := range perG {
						k := keyed(a, i%97)
						e := g.PickKey(k)
						if e == nil || idx[e] == 4 || idx[e] == 5 {
							errs <- "PickKey gave a drained, backup or nil endpoint"
							return
						}
						e.Begin()
						tried[0] = e
						if r := g.PickUntried(k, tried[:1]); r == e || r == nil {
							errs <- "PickUntried returned the tried endpoint or nil"
							return
						}
						client := clientAddr(gi*perG + i%50)
						if s := v.Lookup(client); s != nil && idx[s] == 5 {
							errs <- "sticky table gave a backup while primaries are up"
							return
						}
						v.Store(client, e)
						if c := cookies.LookupString(values[i%len(values)]); c != nil && idx[c] == 5 {
							errs <- "cookie gave a backup while primaries are up"
							return
						}
						e.End()
					}
				}()
			}
			wg.Wait()
			close(stop)
			flipper.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			for _, e := range eps {
				if e.Inflight() != 0 {
					t.Fatalf("%v has %d in flight after every End", e.Key, e.Inflight())
				}
			}
		})
	}
}
