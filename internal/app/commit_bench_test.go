package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/gantry-lb/gantry/client"
)

// BenchmarkCommitToServed measures "commit one route change → served by
// the data plane": a PUT of one route through the API with ?wait=applied,
// which answers once traffic uses the new revision, on a frontend that
// already has N routes. It reports p50 and p99 of the whole round trip.
// Before timing starts, warmUp untimed route changes run (the first adds
// the route, the next ones replace it, and the first store commits after
// the large initial revision are slow) and the garbage of loading the N
// routes is collected, so that what is timed is the steady state of a
// server holding them.
//
//	go test -run '^$' -bench CommitToServed -benchtime 30x ./internal/app
func BenchmarkCommitToServed(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		b.Run("routes="+strconv.Itoa(n), func(b *testing.B) {
			s := startServe(b, b.TempDir())
			be := startBackend(b, "b", nil)
			port := freePort(b)
			c, err := client.New("http://"+s.admin, s.token)
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			routes := make([]map[string]any, n)
			for i := range routes {
				routes[i] = map[string]any{"name": fmt.Sprintf("r%d", i), "backend": "b", "host_header": fmt.Sprintf("h%d.example.com", i)}
			}
			doc, _ := json.Marshal(map[string]any{"lbs": []any{map[string]any{
				"name": "web", "ips": []string{"127.0.0.1"},
				"backends":  []any{map[string]any{"name": "b", "forward_protocol": "http", "servers": []any{serverAt(be.addr)}}},
				"frontends": []any{map[string]any{"name": "main", "inbound_port": port, "backend": "b", "routes": routes}},
			}}})
			start := time.Now()
			if _, err := c.PutConfig(ctx, doc, client.WaitApplied()); err != nil {
				b.Fatal(err)
			}
			b.Logf("%d routes: initial PUT /v1/config (%d KiB) applied in %v", n, len(doc)>>10, time.Since(start))
			put := func(i int) error {
				_, _, err := c.PutRoute(ctx, "web", "main", "changing", client.RouteInput{Route: client.Route{
					Backend: "b", Match: &client.RouteMatch{HostHeader: fmt.Sprintf("changing-%d.example.com", i)}}}, client.WaitApplied())
				return err
			}
			const warmUp = 5
			for i := range warmUp {
				if err := put(-1 - i); err != nil {
					b.Fatal(err)
				}
			}
			lat := make([]time.Duration, 0, b.N)
			runtime.GC()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				t0 := time.Now()
				if err := put(i); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t0))
			}
			b.StopTimer()
			slices.Sort(lat)
			if len(lat) > 0 {
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
				b.ReportMetric(float64(lat[(len(lat)*99)/100].Microseconds())/1000, "p99-ms")
			}
		})
	}
}
