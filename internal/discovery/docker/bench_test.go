package docker_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/gantry-lb/gantry/internal/discovery"
	"github.com/gantry-lb/gantry/internal/discovery/docker"
	"github.com/gantry-lb/gantry/internal/discovery/docker/dockertest"
)

// benchContainers is how many containers each round starts.
const benchContainers = 20

// BenchmarkStartToReady measures, over rounds of 20 containers started one
// after the other, the time from the docker start call to the first Set
// that shows the container ready (running, and healthy when it has a
// HEALTHCHECK), and reports its p50 and p99 in milliseconds (ready-*), with
// their parts: how long the start call itself takes (startcall-*), the
// provider's own lag from receiving an event to publishing the Set
// (publishlag-*), and, with a healthcheck, when the engine's first passing
// probe ended (enginehealthy-*).
// Containers are created beforehand, outside the measure. The healthcheck
// variant probes every 100ms (Docker 20.10 runs the first probe one
// interval after the start), so its numbers include that interval and the
// probe's exec; each of its containers is removed once measured, so that
// the probes of the earlier ones do not load the engine.
//
//	go test -run '^$' -bench StartToReady -benchtime 1x ./internal/discovery/docker/
func BenchmarkStartToReady(b *testing.B) {
	for _, bc := range []struct {
		name   string
		health *container.HealthConfig
	}{
		{"plain", nil},
		{"healthcheck", dockertest.HealthProbe(100 * time.Millisecond)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			cli := dockertest.Client(b)
			p := startProvider(b, docker.Options{Resync: noResync})
			feed := p.Feed()
			waitFor(b, feed, 10*time.Second, "the first listing", func(s *discovery.Set) bool { return s.Connected })
			var total, call, lag, engine []time.Duration
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				ids := make([]string, benchContainers)
				for i := range ids {
					ids[i] = dockertest.Create(b, cli, testImage, dockertest.Spec{
						Name:   dockertest.UniqueName("bench"),
						Labels: map[string]string{"gantry.enable": "true", "gantry.http.port": "80"},
						Health: bc.health,
					})
				}
				b.StartTimer()
				for _, id := range ids {
					began := time.Now()
					if err := cli.ContainerStart(context.Background(), id, container.StartOptions{}); err != nil {
						b.Fatal(err)
					}
					call = append(call, time.Since(began))
					s := waitFor(b, feed, 10*time.Second, "ready", has(id, ready))
					total = append(total, time.Since(began))
					if !s.EventTime.IsZero() {
						lag = append(lag, s.Time.Sub(s.EventTime))
					}
					if bc.health != nil {
						// When the engine itself saw the first passing probe.
						b.StopTimer()
						ins, err := cli.ContainerInspect(context.Background(), id)
						if err != nil {
							b.Fatal(err)
						}
						for _, r := range ins.State.Health.Log {
							if r.ExitCode == 0 {
								engine = append(engine, r.End.Sub(began))
								break
							}
						}
						// Twenty containers probing every 100ms load a
						// 2-core engine with exec calls; measure each start
						// with only its own probes running.
						dockertest.Remove(cli, id)
						b.StartTimer()
					}
				}
				b.StopTimer()
				for _, id := range ids {
					dockertest.Remove(cli, id)
				}
				b.StartTimer()
			}
			report := func(name string, d []time.Duration) {
				if len(d) == 0 {
					return
				}
				slices.Sort(d)
				ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
				pct := func(q float64) time.Duration { return d[min(len(d)-1, int(q*float64(len(d))))] }
				b.ReportMetric(ms(pct(0.50)), name+"-p50-ms")
				b.ReportMetric(ms(pct(0.99)), name+"-p99-ms")
			}
			report("ready", total)          // docker start called → Set shows it ready
			report("startcall", call)       // docker start called → the call returned
			report("publishlag", lag)       // first event received → Set published
			report("enginehealthy", engine) // docker start called → engine's first passing probe ended
			b.ReportMetric(0, "ns/op")
		})
	}
}
