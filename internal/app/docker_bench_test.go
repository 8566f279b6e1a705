package app_test

import (
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/gantry-lb/gantry/internal/discovery/docker/dockertest"
)

// BenchmarkDockerStartToRouted measures, over 20 containers started one
// after the other, the time from `docker start` (the API call) to the
// first request routed to the new container through gantry serve, health
// gating included: each container has gantry.healthcheck.path, so it is
// routed only after gantry's first check passed. It reports the p50, p99
// and max of that time, and the p50 of the start call alone (the engine's
// share). Not a timed test: run it with
//
//	go test -run '^$' -bench DockerStartToRouted -benchtime 1x ./internal/app
func BenchmarkDockerStartToRouted(b *testing.B) {
	image := dockertest.BuildImage(b)
	cli := dockertest.Client(b)
	g := startDockerServe(b, nil)
	nw := testNetwork(b, cli)
	sfx := dockertest.RandomSuffix()
	const containers = 20
	var routed, started []time.Duration
	for round := 0; round < b.N; round++ {
		var ids []string
		for i := range containers {
			name := "bench-" + strconv.Itoa(round) + "-" + strconv.Itoa(i)
			host := fmt.Sprintf("%s-%s.example.test", name, sfx)
			id := dockertest.Create(b, cli, image, dockertest.Spec{Network: nw, Name: dockertest.UniqueName(name), Env: []string{"NAME=" + name},
				Labels: labels("gantry.enable", "true", "gantry.http.hosts", host, "gantry.healthcheck.path", "/healthz")})
			ids = append(ids, id)
			t0 := time.Now()
			dockertest.Start(b, cli, id)
			started = append(started, time.Since(t0))
			deadline := t0.Add(10 * time.Second)
			for {
				if code, be, err := g.hit(0, host, "/"); err == nil && code == 200 && be == name {
					break
				}
				if time.Now().After(deadline) {
					b.Fatalf("container %s not routed 10 s after its start; %s", name, g.describe(b))
				}
				time.Sleep(2 * time.Millisecond)
			}
			routed = append(routed, time.Since(t0))
		}
		for _, id := range ids {
			dockertest.Remove(cli, id)
		}
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	pct := func(ds []time.Duration, p float64) time.Duration {
		s := slices.Sorted(slices.Values(ds))
		i := int(float64(len(s))*p+0.999999) - 1
		return s[max(0, min(i, len(s)-1))]
	}
	b.ReportMetric(ms(pct(routed, 0.50)), "p50-ms")
	b.ReportMetric(ms(pct(routed, 0.99)), "p99-ms")
	b.ReportMetric(ms(pct(routed, 1)), "max-ms")
	b.ReportMetric(ms(pct(started, 0.50)), "start-call-p50-ms")
}
