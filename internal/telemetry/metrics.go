package telemetry

import (
	"net/http"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Traffic is what passed through one frontend, backend or server, read at
// scrape time from the data plane's atomic counters.
type Traffic struct {
	Requests, Conns   uint64
	Classes           [6]uint64 // [0] requests answered with nothing, [1..5] 1xx..5xx
	BytesIn, BytesOut uint64
	Buckets           []uint64 // per bucket (not cumulative), len(Bounds)+1, last is +Inf
	Bounds            []float64
	SumSeconds        float64
}

// FrontendSeries is one frontend's traffic.
type FrontendSeries struct {
	LB, Frontend string
	Traffic
}

// ServerSeries is one server of one backend.
type ServerSeries struct {
	LB, Backend, Server string
	Up                  bool
	Inflight            int64
	ConnectFailures     uint64
	Traffic
}

// Scrape is everything the collector reports.
type Scrape struct {
	Frontends       []FrontendSeries
	Servers         []ServerSeries
	Stored, Applied uint64
	// Discovery has one entry per running discovery provider.
	Discovery []DiscoverySeries
}

// DiscoverySeries is the state of one discovery provider.
type DiscoverySeries struct {
	// Provider names it ("docker", "file").
	Provider string
	// Connected reports whether the provider is in step with its source
	// (Docker: the engine answers; file: the file's current content is
	// served).
	Connected bool
	// Resynced is when the provider last compared its whole source with
	// what it published (Docker: the periodic full resync; file: the last
	// check of the file). Zero: never, and the gauge is left out.
	Resynced time.Time
	// Containers counts the containers the provider sees; nil for a
	// provider without containers, whose gauges are left out.
	Containers *ContainerCounts
	// Lag is the discovery lag, in seconds: from the event (or the change
	// noticed) to the publication of the snapshot that applies it.
	Lag Histogram
}

// ContainerCounts counts containers: seen, routed (a server taking new
// traffic) and rejected (asked for routing, not routed: bad labels or a
// request that cannot be met).
type ContainerCounts struct {
	Seen, Routed, Rejected int
}

// Histogram is a distribution kept by its owner, which serialises Observe,
// and reported as it stands at scrape time. Bounds are the upper bounds of
// the buckets, ascending; Buckets counts the observations of each bucket
// (not cumulative), one more than Bounds, the last one +Inf.
type Histogram struct {
	Bounds  []float64
	Buckets []uint64
	Sum     float64
}

// NewHistogram returns an empty histogram over bounds (ascending).
func NewHistogram(bounds ...float64) Histogram {
	return Histogram{Bounds: bounds, Buckets: make([]uint64, len(bounds)+1)}
}

// NewLagHistogram returns an empty histogram over the buckets of
// gantry_discovery_lag_seconds: 1 ms to 10 s.
func NewLagHistogram() Histogram {
	return NewHistogram(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
}

// Observe adds v to h: to the first bucket whose bound is at least v.
// Not safe for concurrent use.
func (h *Histogram) Observe(v float64) {
	h.Buckets[sort.SearchFloat64s(h.Bounds, v)]++
	h.Sum += v
}

// Clone returns a copy of h whose counts share no memory with h's (the
// bounds, never modified, are shared).
func (h Histogram) Clone() Histogram {
	h.Buckets = append([]uint64(nil), h.Buckets...)
	return h
}

// Source produces a Scrape; it is called once per scrape.
type Source func() Scrape

// Collector turns a Source into Prometheus metrics. The data plane keeps
// plain atomic counters on its hot path; labels and series are built only
// here, at scrape time. Safe for concurrent use.
type Collector struct {
	src Source

	feReq, feResp, feConn, feIn, feOut, feDur       *prometheus.Desc
	beReq, beResp, beIn, beOut, beDur               *prometheus.Desc
	srvReq, srvResp, srvConn, srvIn, srvOut, srvDur *prometheus.Desc
	srvUp, srvInflight, srvFail, revision           *prometheus.Desc
	discUp, discResync, discLag                     *prometheus.Desc
	discSeen, discRouted, discRejected              *prometheus.Desc
}

var classLabels = [6]string{"none", "1xx", "2xx", "3xx", "4xx", "5xx"}

// NewCollector returns a collector over src.
func NewCollector(src Source) *Collector {
	fe := []string{"lb", "frontend"}
	be := []string{"lb", "backend"}
	srv := []string{"lb", "backend", "server"}
	prov := []string{"provider"}
	with := func(l []string, more ...string) []string { return append(append([]string{}, l...), more...) }
	d := func(name, help string, labels []string) *prometheus.Desc {
		return prometheus.NewDesc("gantry_"+name, help, labels, nil)
	}
	return &Collector{src: src,
		feReq:       d("frontend_requests_total", "HTTP requests received by a frontend.", fe),
		feResp:      d("frontend_responses_total", "Responses sent by a frontend, by status class (none: the connection ended without one).", with(fe, "code")),
		feConn:      d("frontend_connections_total", "Client connections accepted by a frontend.", fe),
		feIn:        d("frontend_bytes_in_total", "Body bytes received from clients (TCP: all bytes).", fe),
		feOut:       d("frontend_bytes_out_total", "Body bytes sent to clients (TCP: all bytes).", fe),
		feDur:       d("frontend_request_duration_seconds", "Time from a request head to the end of its response.", fe),
		beReq:       d("backend_requests_total", "Requests sent to a backend's servers.", be),
		beResp:      d("backend_responses_total", "Responses from a backend, by status class.", with(be, "code")),
		beIn:        d("backend_bytes_in_total", "Request body bytes sent to a backend.", be),
		beOut:       d("backend_bytes_out_total", "Response body bytes relayed from a backend.", be),
		beDur:       d("backend_request_duration_seconds", "Request duration through a backend.", be),
		srvReq:      d("server_requests_total", "Requests sent to a server.", srv),
		srvResp:     d("server_responses_total", "Responses from a server, by status class.", with(srv, "code")),
		srvConn:     d("server_connections_total", "Connections opened to a server.", srv),
		srvIn:       d("server_bytes_in_total", "Request body bytes sent to a server (TCP: all bytes from clients).", srv),
		srvOut:      d("server_bytes_out_total", "Response body bytes from a server (TCP: all bytes to clients).", srv),
		srvDur:      d("server_request_duration_seconds", "Request duration through a server.", srv),
		srvUp:       d("server_up", "1 when the server takes new traffic (health checks pass).", srv),
		srvInflight: d("server_inflight", "Requests or connections in progress on a server.", srv),
		srvFail:     d("server_connect_failures_total", "Failed connection attempts and malformed responses.", srv),
		revision:    d("config_revision", "Config revision: stored (latest written) and applied (served).", []string{"state"}),
		discUp:      d("discovery_connected", "1 when a discovery provider is in step with its source (Docker: the engine answers; file: its content is served).", prov),
		discResync: d("discovery_last_resync_timestamp_seconds",
			"When a discovery provider last compared its whole source with what it published (Docker: full resync; file: last check), in Unix seconds.", prov),
		discLag:      d("discovery_lag_seconds", "Time from a discovery event (Docker: engine event; file: change noticed) to the snapshot that applies it.", prov),
		discSeen:     d("discovery_containers_seen", "Containers a discovery provider sees, running or not.", prov),
		discRouted:   d("discovery_containers_routed", "Containers taking new traffic as a server of at least one backend.", prov),
		discRejected: d("discovery_containers_rejected", "Containers that ask for routing but are not routed: labels that do not parse, or a request that cannot be met.", prov),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.feReq, c.feResp, c.feConn, c.feIn, c.feOut, c.feDur, c.beReq, c.beResp, c.beIn, c.beOut, c.beDur,
		c.srvReq, c.srvResp, c.srvConn, c.srvIn, c.srvOut, c.srvDur, c.srvUp, c.srvInflight, c.srvFail, c.revision,
		c.discUp, c.discResync, c.discLag, c.discSeen, c.discRouted, c.discRejected} {
		ch <- d
	}
}

func counter(ch chan<- prometheus.Metric, d *prometheus.Desc, v uint64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
}

func (c *Collector) traffic(ch chan<- prometheus.Metric, t *Traffic, req, resp, in, out, dur *prometheus.Desc, labels ...string) {
	counter(ch, req, t.Requests, labels...)
	for i, n := range t.Classes {
		counter(ch, resp, n, append(labels, classLabels[i])...)
	}
	counter(ch, in, t.BytesIn, labels...)
	counter(ch, out, t.BytesOut, labels...)
	histogram(ch, dur, Histogram{Bounds: t.Bounds, Buckets: t.Buckets, Sum: t.SumSeconds}, labels...)
}

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func histogram(ch chan<- prometheus.Metric, d *prometheus.Desc, h Histogram, labels ...string) {
	cum := make(map[float64]uint64, len(h.Bounds))
	var total uint64
	for i, b := range h.Bounds {
		total += h.Buckets[i]
		cum[b] = total
	}
	total += h.Buckets[len(h.Bounds)]
	ch <- prometheus.MustNewConstHistogram(d, total, h.Sum, cum, labels...)
}

func (c *Collector) discovery(ch chan<- prometheus.Metric, p *DiscoverySeries) {
	up := 0.0
	if p.Connected {
		up = 1
	}
	gauge(ch, c.discUp, up, p.Provider)
	if !p.Resynced.IsZero() {
		gauge(ch, c.discResync, float64(p.Resynced.UnixNano())/1e9, p.Provider)
	}
	if len(p.Lag.Buckets) == len(p.Lag.Bounds)+1 {
		histogram(ch, c.discLag, p.Lag, p.Provider)
	}
	if n := p.Containers; n != nil {
		gauge(ch, c.discSeen, float64(n.Seen), p.Provider)
		gauge(ch, c.discRouted, float64(n.Routed), p.Provider)
		gauge(ch, c.discRejected, float64(n.Rejected), p.Provider)
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	s := c.src()
	for i := range s.Frontends {
		f := &s.Frontends[i]
		c.traffic(ch, &f.Traffic, c.feReq, c.feResp, c.feIn, c.feOut, c.feDur, f.LB, f.Frontend)
		counter(ch, c.feConn, f.Conns, f.LB, f.Frontend)
	}
	type beKey struct{ lb, be string }
	backends := map[beKey]*Traffic{}
	var order []beKey
	for i := range s.Servers {
		v := &s.Servers[i]
		c.traffic(ch, &v.Traffic, c.srvReq, c.srvResp, c.srvIn, c.srvOut, c.srvDur, v.LB, v.Backend, v.Server)
		counter(ch, c.srvConn, v.Conns, v.LB, v.Backend, v.Server)
		counter(ch, c.srvFail, v.ConnectFailures, v.LB, v.Backend, v.Server)
		up := 0.0
		if v.Up {
			up = 1
		}
		gauge(ch, c.srvUp, up, v.LB, v.Backend, v.Server)
		gauge(ch, c.srvInflight, float64(v.Inflight), v.LB, v.Backend, v.Server)
		k := beKey{v.LB, v.Backend}
		agg, ok := backends[k]
		if !ok {
			agg = &Traffic{Bounds: v.Bounds, Buckets: make([]uint64, len(v.Buckets))}
			backends[k] = agg
			order = append(order, k)
		}
		agg.Requests += v.Requests
		agg.BytesIn += v.BytesIn
		agg.BytesOut += v.BytesOut
		agg.SumSeconds += v.SumSeconds
		for j := range v.Classes {
			agg.Classes[j] += v.Classes[j]
		}
		for j := range v.Buckets {
			agg.Buckets[j] += v.Buckets[j]
		}
	}
	for _, k := range order {
		c.traffic(ch, backends[k], c.beReq, c.beResp, c.beIn, c.beOut, c.beDur, k.lb, k.be)
	}
	gauge(ch, c.revision, float64(s.Stored), "stored")
	gauge(ch, c.revision, float64(s.Applied), "applied")
	for i := range s.Discovery {
		c.discovery(ch, &s.Discovery[i])
	}
}

// MetricsHandler serves c, with the Go runtime and process metrics, in the
// Prometheus text format.
func MetricsHandler(c *Collector) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(c, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}
