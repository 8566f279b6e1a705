package upstream

import (
	"sync/atomic"
	"time"
)

// LatencyBuckets are the upper bounds of the latency histogram, in seconds.
var LatencyBuckets = [...]float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// Traffic counts what passed through a frontend or a server: requests,
// responses by class, bytes and latency. It is live state: every field is
// an atomic, updated on the hot path without locks or allocation, and read
// by the metrics collector at scrape time. The zero value is ready.
type Traffic struct {
	requests atomic.Uint64
	conns    atomic.Uint64
	classes  [6]atomic.Uint64 // index 1-5: 1xx-5xx; 0: no response (error)
	bytesIn  atomic.Uint64
	bytesOut atomic.Uint64
	buckets  [len(LatencyBuckets) + 1]atomic.Uint64
	sumMicro atomic.Uint64
}

// CountConn counts a new client (frontend) or upstream (server) connection.
func (t *Traffic) CountConn() { t.conns.Add(1) }

// Observe counts one finished request: its status (0 when no response was
// sent), its duration and the body bytes received and sent. On the hot path.
func (t *Traffic) Observe(status int, d time.Duration, in, out int64) {
	t.requests.Add(1)
	c := status / 100
	if c < 1 || c > 5 {
		c = 0
	}
	t.classes[c].Add(1)
	t.AddBytes(in, out)
	s := d.Seconds()
	i := 0
	for i < len(LatencyBuckets) && s > LatencyBuckets[i] {
		i++
	}
	t.buckets[i].Add(1)
	t.sumMicro.Add(uint64(d.Microseconds()))
}

// AddBytes counts bytes received from and sent to the peer.
func (t *Traffic) AddBytes(in, out int64) {
	if in > 0 {
		t.bytesIn.Add(uint64(in))
	}
	if out > 0 {
		t.bytesOut.Add(uint64(out))
	}
}

// TrafficStats is a copy of a Traffic's counters.
type TrafficStats struct {
	Requests, Conns   uint64
	Classes           [6]uint64 // [0] errors without a response, [1..5] 1xx..5xx
	BytesIn, BytesOut uint64
	Buckets           [len(LatencyBuckets) + 1]uint64 // per bucket, not cumulative; last is +Inf
	LatencySum        time.Duration
}

// Stats copies the counters (not atomically as a whole; each is exact).
func (t *Traffic) Stats() TrafficStats {
	s := TrafficStats{Requests: t.requests.Load(), Conns: t.conns.Load(), BytesIn: t.bytesIn.Load(),
		BytesOut: t.bytesOut.Load(), LatencySum: time.Duration(t.sumMicro.Load()) * time.Microsecond}
	for i := range t.classes {
		s.Classes[i] = t.classes[i].Load()
	}
	for i := range t.buckets {
		s.Buckets[i] = t.buckets[i].Load()
	}
	return s
}
