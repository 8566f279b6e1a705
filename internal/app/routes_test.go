package app_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/gantry-lb/gantry/client"
)

// strictly decodes raw into v as the client would, failing on a field the
// client's types do not know.
func strictly(t *testing.T, raw string, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s into %T: %v", raw, v, err)
	}
}

// TestE2ERoutesSubResource drives a frontend's routes one by one through
// /routes/{name}: traffic follows each write, index moves a route, and a
// wrong route is a 422 naming its field that stores nothing.
func TestE2ERoutesSubResource(t *testing.T) {
	s := startServe(t, t.TempDir())
	api, vpn, dev := startBackend(t, "api", nil), startBackend(t, "vpn", nil), startBackend(t, "dev", nil)
	port := freePort(t)
	s.must(t, 200, "PUT", "/v1/lbs/web", `{"ips": ["127.0.0.1"]}`)
	for _, b := range []*backend{api, vpn, dev} {
		s.must(t, 200, "PUT", "/v1/lbs/web/backends/"+b.name, map[string]any{"forward_protocol": "http",
			"servers": []map[string]any{{"ip": "127.0.0.1", "port": serverAt(b.addr).Port}}})
	}
	s.must(t, 200, "PUT", "/v1/lbs/web/frontends/main?wait=applied", map[string]any{"inbound_port": port, "protocol": "http", "backend": "api"})
	routes := "/v1/lbs/web/frontends/main/routes/"

	// Two named routes, each appended; the exact host wins over the wildcard.
	r1 := s.must(t, 200, "PUT", routes+"wild?wait=applied", `{"match": {"host_header": "*.example.com"}, "backend": "dev"}`)
	if r1.body["index"] != float64(0) || r1.body["name"] != "wild" {
		t.Fatalf("first route: %s", r1.raw)
	}
	r2 := s.must(t, 200, "PUT", routes+"vpn?wait=applied", `{"host_header": "vpn.example.com", "backend": "vpn"}`)
	if r2.body["index"] != float64(1) {
		t.Fatalf("second route is appended: %s", r2.raw)
	}
	for host, want := range map[string]string{"vpn.example.com": "vpn", "www.example.com": "dev", "other.org": "api"} {
		if code, who := get(t, port, host); code != 200 || who != want {
			t.Fatalf("%s -> %d %q, want %s", host, code, who, want)
		}
	}

	// Moving a route changes the list's order and nothing else.
	s.must(t, 200, "PUT", routes+"vpn?wait=applied", `{"host_header": "vpn.example.com", "backend": "vpn", "index": 0}`)
	l := s.must(t, 200, "GET", "/v1/lbs/web/frontends/main/routes", nil)
	strictly(t, l.raw, &client.RouteList{})
	strictly(t, r2.raw, &client.IndexedRoute{})
	rs, _ := l.body["routes"].([]any)
	if l.body["total_count"] != float64(2) || len(rs) != 2 || rs[0].(map[string]any)["name"] != "vpn" || rs[1].(map[string]any)["index"] != float64(1) {
		t.Fatalf("after the move: %s", l.raw)
	}
	if code, who := get(t, port, "vpn.example.com"); code != 200 || who != "vpn" {
		t.Fatalf("vpn.example.com after the move -> %d %q", code, who)
	}

	// A bad host: 422 with the field's path, and nothing stored.
	rev := s.must(t, 200, "GET", "/v1/status", nil).body["stored_revision"]
	bad := s.must(t, 422, "PUT", routes+"bad", `{"match": {"host_header": "*."}, "backend": "dev"}`)
	if !strings.Contains(bad.raw, `"field":"lbs[web].frontends[main].routes[2].host_header"`) {
		t.Fatalf("bad host: %s", bad.raw)
	}
	if got := s.must(t, 200, "GET", "/v1/status", nil).body["stored_revision"]; got != rev {
		t.Fatalf("a rejected route moved the revision from %v to %v", rev, got)
	}
	s.must(t, 404, "GET", routes+"bad", nil)

	// Deleting a route: its hosts fall back to the others.
	s.must(t, 204, "DELETE", routes+"wild?wait=applied", nil)
	if code, who := get(t, port, "www.example.com"); code != 200 || who != "api" {
		t.Fatalf("www.example.com after the delete -> %d %q", code, who)
	}
	if code, who := get(t, port, "vpn.example.com"); code != 200 || who != "vpn" {
		t.Fatalf("vpn.example.com after the delete -> %d %q", code, who)
	}
	s.must(t, 404, "DELETE", routes+"wild", nil)

	// The frontend shows the same routes.
	f := s.must(t, 200, "GET", "/v1/lbs/web/frontends/main", nil)
	if fr, _ := f.body["routes"].([]any); len(fr) != 1 || fr[0].(map[string]any)["name"] != "vpn" {
		t.Fatalf("frontend routes: %s", f.raw)
	}
}

// TestE2EHealthCheckSubResource sets, reads and removes a backend's health
// check alone; the rest of the backend stays as it was.
func TestE2EHealthCheckSubResource(t *testing.T) {
	s := startServe(t, t.TempDir())
	s.must(t, 200, "PUT", "/v1/lbs/web", `{"ips": ["127.0.0.1"]}`)
	s.must(t, 200, "PUT", "/v1/lbs/web/backends/b", `{"forward_protocol": "http", "forward_port_algorithm": "leastconn", "servers": [{"ip": "127.0.0.1", "port": 1}]}`)
	hc := "/v1/lbs/web/backends/b/healthcheck"
	s.must(t, 404, "GET", hc, nil)
	h := s.must(t, 200, "PUT", hc, `{"type": "http", "path": "/health", "expected_code": "204"}`)
	if !strings.Contains(h.raw, `"uri": "/health"`) || !strings.Contains(h.raw, `"code": 204`) {
		t.Fatalf("seed 004 check: %s", h.raw)
	}
	strictly(t, h.raw, &client.HealthCheck{})
	s.must(t, 200, "PUT", hc, `{"check_delay": 5000, "tcp_config": {}}`)
	b := s.must(t, 200, "GET", "/v1/lbs/web/backends/b", nil)
	if b.body["forward_port_algorithm"] != "leastconn" || !strings.Contains(b.raw, `"tcp_config": {}`) || !strings.Contains(b.raw, `"check_delay": 5000`) {
		t.Fatalf("backend after the check: %s", b.raw)
	}
	s.must(t, 204, "DELETE", hc, nil)
	if b := s.must(t, 200, "GET", "/v1/lbs/web/backends/b", nil); strings.Contains(b.raw, "health_check") {
		t.Fatalf("backend after the delete: %s", b.raw)
	}
	s.must(t, 404, "PUT", "/v1/lbs/web/backends/nope/healthcheck", `{"type": "tcp"}`)
}
