package telemetry

import (
	"net/http"

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
}

var classLabels = [6]string{"none", "1xx", "2xx", "3xx", "4xx", "5xx"}

// NewCollector returns a collector over src.
func NewCollector(src Source) *Collector {
	fe := []string{"lb", "frontend"}
	be := []string{"lb", "backend"}
	srv := []string{"lb", "backend", "server"}
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
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.feReq, c.feResp, c.feConn, c.feIn, c.feOut, c.feDur, c.beReq, c.beResp, c.beIn, c.beOut, c.beDur,
		c.srvReq, c.srvResp, c.srvConn, c.srvIn, c.srvOut, c.srvDur, c.srvUp, c.srvInflight, c.srvFail, c.revision} {
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
	cum := make(map[float64]uint64, len(t.Bounds))
	var total uint64
	for i, b := range t.Bounds {
		total += t.Buckets[i]
		cum[b] = total
	}
	total += t.Buckets[len(t.Bounds)]
	ch <- prometheus.MustNewConstHistogram(dur, total, t.SumSeconds, cum, labels...)
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
		ch <- prometheus.MustNewConstMetric(c.srvUp, prometheus.GaugeValue, up, v.LB, v.Backend, v.Server)
		ch <- prometheus.MustNewConstMetric(c.srvInflight, prometheus.GaugeValue, float64(v.Inflight), v.LB, v.Backend, v.Server)
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
	ch <- prometheus.MustNewConstMetric(c.revision, prometheus.GaugeValue, float64(s.Stored), "stored")
	ch <- prometheus.MustNewConstMetric(c.revision, prometheus.GaugeValue, float64(s.Applied), "applied")
}

// MetricsHandler serves c, with the Go runtime and process metrics, in the
// Prometheus text format.
func MetricsHandler(c *Collector) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(c, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}
