package app_test

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestE2ESeed004AsWritten drives an empty gantry serve with seed 004's
// backend body as written (only servers point at this machine instead of
// another provider's computers): PROXY protocol v2, a SERVERID cookie with a
// 5m ttl and an HTTP health check. Traffic flows with every option in
// effect, and again after a restart.
func TestE2ESeed004AsWritten(t *testing.T) {
	dir := t.TempDir()
	s := startServe(t, dir)
	pb := startProxyBackendOpt(t, true, true)
	host, p, _ := net.SplitHostPort(pb.addr)
	port := freePort(t)

	s.must(t, 200, "PUT", "/v1/lbs/web", map[string]any{"description": "seed 004", "ips": []string{"127.0.0.1"}})
	body := fmt.Sprintf(`{
    "name": "api-backend",
    "mode": "http",
    "balancing_method": "roundrobin",
    "port": %s,
    "servers": {"type": "ip", "addresses": [%q]},
    "options": {
      "tls": false,
      "tls_verify": false,
      "forward_for": true,
      "proxy_protocol": "v2",
      "sticky_session": {"type": "cookie", "cookie": "SERVERID", "ttl": "5m"},
      "health_check": {"type": "http", "path": "/health", "method": "GET", "port": %s,
                       "expected_code": "200", "host_header": "example.com"}
    }
  }`, p, host, p)
	b := s.must(t, 200, "PUT", "/v1/lbs/web/backends/api-backend", body)
	for k, want := range map[string]any{"proxy_protocol": "proxy_protocol_v2", "sticky_sessions": "cookie",
		"sticky_sessions_cookie_name": "SERVERID", "sticky_sessions_ttl": float64(300000)} {
		if b.body[k] != want {
			t.Fatalf("%s = %v, want %v: %s", k, b.body[k], want, b.raw)
		}
	}
	s.must(t, 200, "PUT", "/v1/lbs/web/frontends/main?wait=applied", map[string]any{
		"inbound_port": port, "backend": "api-backend",
		"routes": []map[string]any{{"name": "api", "match": map[string]any{"host_header": "api.example.com"}, "backend": "api-backend"}}})

	call := func(cookie string) (*http.Response, error) {
		req, _ := http.NewRequest("GET", "http://127.0.0.1:"+strconv.Itoa(port)+"/v1/items", nil)
		req.Host = "api.example.com"
		req.Close = true
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		return (&http.Client{Timeout: 5 * time.Second}).Do(req)
	}
	var cookie string
	waitFor(t, 10*time.Second, "the health check to pass and traffic to flow", func() bool {
		resp, err := call("")
		if err != nil {
			return false
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return false
		}
		if src := resp.Header.Get("X-Proxy-Src"); src == "none" || !strings.HasPrefix(src, "127.0.0.1:") {
			t.Fatalf("the server got PROXY source %q", src)
		}
		sc := resp.Header.Get("Set-Cookie")
		if !strings.HasPrefix(sc, "SERVERID=") || !strings.Contains(sc, "Max-Age=300") {
			t.Fatalf("Set-Cookie %q, want SERVERID with a 5m max age", sc)
		}
		cookie, _, _ = strings.Cut(sc, ";")
		return true
	})

	s.stop()
	s = startServe(t, dir)
	waitFor(t, 10*time.Second, "traffic after the restart", func() bool {
		resp, err := call(cookie)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200 && resp.Header.Get("X-Proxy-Src") != "none"
	})
	g := s.must(t, 200, "GET", "/v1/lbs/web/backends/api-backend", nil)
	if g.body["proxy_protocol"] != "proxy_protocol_v2" {
		t.Fatalf("after a restart: %s", g.raw)
	}
}
