package app_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestE2EMetrics: traffic shows up in /metrics per frontend, backend and
// server, with the stored and applied revisions.
func TestE2EMetrics(t *testing.T) {
	s := startServe(t, t.TempDir())
	ok := startBackend(t, "ok", nil)
	fail := startBackend(t, "fail", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", 500) })
	port := freePort(t)
	s.must(t, 200, "PUT", "/v1/lbs/web", `{"ips": ["127.0.0.1"]}`)
	s.must(t, 200, "PUT", "/v1/lbs/web/backends/ok", map[string]any{"forward_protocol": "http", "servers": []any{serverAt(ok.addr)}})
	s.must(t, 200, "PUT", "/v1/lbs/web/backends/fail", map[string]any{"forward_protocol": "http", "servers": []any{serverAt(fail.addr)}})
	s.must(t, 200, "PUT", "/v1/lbs/web/frontends/main?wait=applied", map[string]any{"inbound_port": port, "backend": "ok",
		"routes": []any{map[string]any{"match": map[string]any{"host_header": "fail.test"}, "backend": "fail"}}})
	for range 5 {
		get(t, port, "ok.test")
	}
	for range 2 {
		get(t, port, "fail.test")
	}
	// A request is counted right after its response is written, so the
	// last ones may land a moment after the client has its answers.
	var text string
	scrape := func() bool {
		resp, err := http.Get("http://" + s.admin + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		text = string(body)
		return strings.Contains(text, `gantry_frontend_requests_total{frontend="main",lb="web"} 7`) &&
			strings.Contains(text, `gantry_backend_requests_total{backend="fail",lb="web"} 2`)
	}
	waitFor(t, 5*time.Second, "all 7 requests to be counted", scrape)
	okSrv := `lb="web",server="` + ok.addr + `"`
	for _, want := range []string{
		`gantry_frontend_requests_total{frontend="main",lb="web"} 7`,
		`gantry_frontend_responses_total{code="2xx",frontend="main",lb="web"} 5`,
		`gantry_frontend_responses_total{code="5xx",frontend="main",lb="web"} 2`,
		`gantry_frontend_request_duration_seconds_count{frontend="main",lb="web"} 7`,
		`gantry_backend_requests_total{backend="fail",lb="web"} 2`,
		`gantry_server_responses_total{backend="ok",code="2xx",` + okSrv + `} 5`,
		`gantry_server_up{backend="ok",` + okSrv + `} 1`,
		`gantry_server_bytes_out_total{backend="ok",` + okSrv + `} 70`, // 5 × "hello from ok\n" (14 bytes)
		`gantry_config_revision{state="applied"} 5`,                    // the admin token is revision 1,
		`gantry_config_revision{state="stored"} 5`,
		`go_goroutines`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", text)
	}
	st := s.must(t, 200, "GET", "/v1/lbs/web/stats", nil)
	var okStats map[string]any
	for _, v := range st.body["backend_servers_stats"].([]any) {
		if m := v.(map[string]any); m["backend"] == "ok" {
			okStats = m
		}
	}
	if okStats == nil || okStats["server"] != ok.addr || okStats["server_state"] != "running" ||
		okStats["total_requests"] != float64(5) || okStats["responses"].(map[string]any)["2xx"] != float64(5) ||
		okStats["last_health_check_status"] != "unknown" || okStats["total_connections"].(float64) < 1 {
		t.Fatalf("stats of the ok server: %s", st.raw)
	}
	s.must(t, 404, "GET", "/v1/lbs/nope/stats", nil)
}
