package app

import (
	"github.com/gantry-lb/gantry/client"
	"github.com/gantry-lb/gantry/internal/telemetry"
	"github.com/gantry-lb/gantry/internal/upstream"
)

// scrape reads the live traffic counters of the running snapshot for the
// metrics collector. Off the hot path: it runs once per scrape.
func (d *Dataplane) scrape() telemetry.Scrape {
	var s telemetry.Scrape
	snap := d.Snapshot()
	if snap == nil {
		return s
	}
	seen := map[*upstream.Traffic]bool{} // a frontend bound to several IPs shares its counters
	for _, fe := range snap.Frontends() {
		if seen[fe.Traffic] {
			continue
		}
		seen[fe.Traffic] = true
		s.Frontends = append(s.Frontends, telemetry.FrontendSeries{LB: fe.LB, Frontend: fe.Name, Traffic: traffic(fe.Traffic.Stats())})
	}
	for _, be := range snap.Backends() {
		for _, ep := range be.Endpoints {
			st := ep.Stats()
			s.Servers = append(s.Servers, telemetry.ServerSeries{LB: be.LB, Backend: be.Name, Server: ep.Addr,
				Up: st.State == upstream.StateUp, Inflight: st.Inflight, ConnectFailures: st.Failures, Traffic: traffic(st.Traffic)})
		}
	}
	s.Applied = snap.Revision
	return s
}

func traffic(t upstream.TrafficStats) telemetry.Traffic {
	return telemetry.Traffic{Requests: t.Requests, Conns: t.Conns, Classes: t.Classes, BytesIn: t.BytesIn, BytesOut: t.BytesOut,
		Buckets: t.Buckets[:], Bounds: upstream.LatencyBuckets[:], SumSeconds: t.LatencySum.Seconds()}
}

// stats returns the live state of the servers of lb's backends in the
// running snapshot, for GET /v1/lbs/{lb}/stats.
func (d *Dataplane) stats(lb string) []client.ServerStats {
	snap := d.Snapshot()
	if snap == nil {
		return nil
	}
	var out []client.ServerStats
	for _, be := range snap.Backends() {
		if be.LB != lb {
			continue
		}
		for _, ep := range be.Endpoints {
			st := ep.Stats()
			s := client.ServerStats{Backend: be.Name, Server: ep.Addr, ServerStateChangedAt: st.Since.UTC(),
				LastHealthCheckStatus: st.LastCheck.String(), LastHealthCheckReason: st.Reason,
				ActiveConnections: st.Inflight, TotalConnections: st.Traffic.Conns, TotalRequests: st.Traffic.Requests,
				ConnectFailures: st.Failures, BytesIn: st.Traffic.BytesIn, BytesOut: st.Traffic.BytesOut,
				Responses: map[string]uint64{}}
			switch st.State {
			case upstream.StateUp:
				s.ServerState = "running"
			case upstream.StateDown:
				s.ServerState = "stopped"
			case upstream.StateStarting:
				s.ServerState = "starting"
			}
			for i, name := range [...]string{"none", "1xx", "2xx", "3xx", "4xx", "5xx"} {
				s.Responses[name] = st.Traffic.Classes[i]
			}
			out = append(out, s)
		}
	}
	return out
}
