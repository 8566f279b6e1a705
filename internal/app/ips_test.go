package app_test

import (
	"strings"
	"testing"
)

// TestIPsOutliveTheirLB drives IP objects through a real gantry serve: an
// LB written with ips creates its IP, deleting the LB keeps it, a second LB
// reuses it, and deleting that one with release_ip=true removes it.
func TestIPsOutliveTheirLB(t *testing.T) {
	s := startServe(t, t.TempDir())
	ipLB := func(r apiResp) any {
		ips, _ := r.body["ips"].([]any)
		if len(ips) != 1 {
			t.Fatalf("GET /v1/ips: %s, want one IP", r.raw)
		}
		ip, _ := ips[0].(map[string]any)
		if ip["address"] != "127.0.0.1" {
			t.Fatalf("GET /v1/ips: %s, want 127.0.0.1", r.raw)
		}
		return ip["lb"]
	}

	s.must(t, 200, "PUT", "/v1/lbs/first", map[string]any{"ips": []string{"127.0.0.1"}})
	if lb := ipLB(s.must(t, 200, "GET", "/v1/ips", nil)); lb != "first" {
		t.Fatalf("lb of the new IP = %v, want first", lb)
	}
	s.must(t, 200, "PUT", "/v1/ips/127.0.0.1", map[string]any{"reverse": "lb.example.com"})

	s.must(t, 204, "DELETE", "/v1/lbs/first", nil)
	if lb := ipLB(s.must(t, 200, "GET", "/v1/ips", nil)); lb != nil {
		t.Fatalf("lb of the kept IP = %v, want null", lb)
	}

	s.must(t, 200, "PUT", "/v1/lbs/second", map[string]any{"ips": []string{"127.0.0.1"}})
	got := s.must(t, 200, "GET", "/v1/ips/127.0.0.1", nil)
	if got.body["lb"] != "second" || got.body["reverse"] != "lb.example.com" {
		t.Fatalf("reused IP: %s, want lb second and the reverse kept", got.raw)
	}
	if r := s.must(t, 200, "GET", "/v1/ips", nil); r.body["total_count"] != float64(1) {
		t.Fatalf("reusing the IP made another: %s", r.raw)
	}
	// A bound IP cannot be deleted; the answer names the LB's field.
	if r := s.must(t, 422, "DELETE", "/v1/ips/127.0.0.1", nil); !strings.Contains(r.raw, "lbs[second].ips[0]") {
		t.Fatalf("deleting a bound IP: %s", r.raw)
	}

	s.must(t, 204, "DELETE", "/v1/lbs/second?release_ip=true", nil)
	s.must(t, 404, "GET", "/v1/ips/127.0.0.1", nil)
	if r := s.must(t, 200, "GET", "/v1/ips", nil); r.body["total_count"] != float64(0) {
		t.Fatalf("after release: %s", r.raw)
	}
}
