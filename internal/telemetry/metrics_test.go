package telemetry

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// scrapeText serves src through MetricsHandler and returns the text.
func scrapeText(t *testing.T, src Source) string {
	t.Helper()
	rec := httptest.NewRecorder()
	MetricsHandler(NewCollector(src)).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("status %d", rec.Code)
	}
	body, _ := io.ReadAll(rec.Body)
	return string(body)
}

func TestHistogramObserve(t *testing.T) {
	h := NewHistogram(0.1, 1)
	for _, v := range []float64{0.05, 0.1, 0.5, 1, 3} {
		h.Observe(v)
	}
	if got := h.Buckets; got[0] != 2 || got[1] != 2 || got[2] != 1 {
		t.Errorf("buckets %v, want [2 2 1] (a bound is inclusive)", got)
	}
	if h.Sum != 4.65 {
		t.Errorf("sum %v", h.Sum)
	}
	c := h.Clone()
	c.Observe(0)
	if h.Buckets[0] != 2 {
		t.Error("a clone's observation changed the original")
	}
}

// TestDiscoveryMetrics: every discovery series, per provider, as
// Prometheus reads them; the container gauges only for a provider that
// has containers, the resync gauge only once there was one.
func TestDiscoveryMetrics(t *testing.T) {
	lag := NewLagHistogram()
	lag.Observe(0.004)
	lag.Observe(0.2)
	lag.Observe(30)
	resync := time.Unix(1700000000, 500_000_000)
	text := scrapeText(t, func() Scrape {
		return Scrape{Discovery: []DiscoverySeries{
			{Provider: "docker", Connected: true, Resynced: resync, Containers: &ContainerCounts{Seen: 5, Routed: 3, Rejected: 1}, Lag: lag},
			{Provider: "file", Lag: NewLagHistogram()},
		}}
	})
	for _, want := range []string{
		`gantry_discovery_connected{provider="docker"} 1`,
		`gantry_discovery_connected{provider="file"} 0`,
		`gantry_discovery_last_resync_timestamp_seconds{provider="docker"} 1.7000000005e+09`,
		`gantry_discovery_containers_seen{provider="docker"} 5`,
		`gantry_discovery_containers_routed{provider="docker"} 3`,
		`gantry_discovery_containers_rejected{provider="docker"} 1`,
		`gantry_discovery_lag_seconds_bucket{provider="docker",le="0.001"} 0`,
		`gantry_discovery_lag_seconds_bucket{provider="docker",le="0.005"} 1`,
		`gantry_discovery_lag_seconds_bucket{provider="docker",le="0.25"} 2`,
		`gantry_discovery_lag_seconds_bucket{provider="docker",le="10"} 2`,
		`gantry_discovery_lag_seconds_bucket{provider="docker",le="+Inf"} 3`,
		`gantry_discovery_lag_seconds_sum{provider="docker"} 30.204`,
		`gantry_discovery_lag_seconds_count{provider="docker"} 3`,
		`gantry_discovery_lag_seconds_count{provider="file"} 0`,
		`# TYPE gantry_discovery_lag_seconds histogram`,
		`# TYPE gantry_discovery_containers_seen gauge`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("missing %s", want)
		}
	}
	for _, absent := range []string{
		`gantry_discovery_last_resync_timestamp_seconds{provider="file"}`,
		`gantry_discovery_containers_seen{provider="file"}`,
	} {
		if strings.Contains(text, absent) {
			t.Errorf("unexpected %s", absent)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", text)
	}
	// No provider, no discovery series.
	if text := scrapeText(t, func() Scrape { return Scrape{} }); strings.Contains(text, "gantry_discovery_") {
		t.Errorf("discovery series without a provider:\n%s", text)
	}
}

// TestTrafficMetrics: the request histogram keeps its shape after the
// histogram code was shared with discovery's.
func TestTrafficMetrics(t *testing.T) {
	tr := Traffic{Requests: 3, Bounds: []float64{0.1, 1}, Buckets: []uint64{1, 1, 1}, SumSeconds: 2.6}
	text := scrapeText(t, func() Scrape {
		return Scrape{Servers: []ServerSeries{{LB: "a", Backend: "b", Server: "10.0.0.1:80", Up: true, Traffic: tr}}}
	})
	for _, want := range []string{
		`gantry_server_request_duration_seconds_bucket{backend="b",lb="a",server="10.0.0.1:80",le="0.1"} 1`,
		`gantry_server_request_duration_seconds_bucket{backend="b",lb="a",server="10.0.0.1:80",le="1"} 2`,
		`gantry_server_request_duration_seconds_count{backend="b",lb="a",server="10.0.0.1:80"} 3`,
		`gantry_backend_request_duration_seconds_count{backend="b",lb="a"} 3`,
		`gantry_server_up{backend="b",lb="a",server="10.0.0.1:80"} 1`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("missing %s", want)
		}
	}
}
