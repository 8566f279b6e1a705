package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gantry-lb/gantry/internal/app"
)

// server is a running `gantry serve` for a test.
type server struct {
	admin, token string
	// stop stops serve and waits for it; it runs at cleanup, and may be
	// called before (then again is a no-op).
	stop func()
}

// startServe runs gantry serve on dir, with the options edit changes.
func startServe(t testing.TB, dir string, edit ...func(*app.ServeOptions)) *server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	var out bytes.Buffer
	o := app.ServeOptions{Admin: "127.0.0.1:0", DataDir: dir, Log: testLog(t), DrainTimeout: 5 * time.Second, Ready: func(a string) { ready <- a }}
	for _, e := range edit {
		e(&o)
	}
	go func() { done <- app.Serve(ctx, o, &out) }()
	var admin string
	select {
	case admin = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("serve: %v", err)
	case <-time.After(20 * time.Second):
		cancel()
		t.Fatal("serve did not start")
	}
	tok, err := os.ReadFile(filepath.Join(dir, app.TokenFile))
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(filepath.Join(dir, app.TokenFile))
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v, want 0600", fi.Mode().Perm())
	}
	s := &server{admin: admin, token: strings.TrimSpace(string(tok))}
	stopped := false
	s.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve returned %v", err)
		}
	}
	t.Cleanup(func() { s.stop() }) // the stop of the moment: callers may wrap it
	return s
}

type apiResp struct {
	status int
	etag   string
	body   map[string]any
	raw    string
}

// call makes one API call; body may be nil, a string (sent as is) or a value (JSON).
func (s *server) call(t *testing.T, method, path string, body any, hdr ...string) apiResp {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		js, _ := json.Marshal(b)
		rd = bytes.NewReader(js)
	}
	req, _ := http.NewRequest(method, "http://"+s.admin+path, rd)
	req.Header.Set("Authorization", "Bearer "+s.token)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := apiResp{status: resp.StatusCode, etag: resp.Header.Get("ETag"), raw: string(raw)}
	json.Unmarshal(raw, &out.body)
	return out
}

func (s *server) must(t *testing.T, want int, method, path string, body any, hdr ...string) apiResp {
	t.Helper()
	r := s.call(t, method, path, body, hdr...)
	if r.status != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.status, want, r.raw)
	}
	return r
}

// get sends a request through the data plane with the given Host.
func get(t *testing.T, port int, host string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://127.0.0.1:"+strconv.Itoa(port)+"/", nil)
	req.Host = host
	// A new connection each time: a kept-alive one may still be draining
	// after its frontend went away.
	req.Close = true
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header.Get("X-Backend")
}

func TestE2EServeAPIToTraffic(t *testing.T) {
	dir := t.TempDir()
	s := startServe(t, dir)
	api, vpn := startBackend(t, "api", nil), startBackend(t, "vpn", nil)
	port := freePort(t)

	// Auth.
	req, _ := http.NewRequest("GET", "http://"+s.admin+"/v1/lbs", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 401 {
		t.Fatalf("no token: %v %v", resp.StatusCode, err)
	}
	resp.Body.Close()

	s.must(t, 200, "PUT", "/v1/lbs/web", `{"description": "public web", "tags": ["prod"], "ips": ["127.0.0.1"]}`)
	// The seed-004 body (its options that need later features left out),
	// with servers of type ip.
	seed := fmt.Sprintf(`{"name": "api-backend", "mode": "http", "balancing_method": "roundrobin", "port": %q,
		"servers": {"type": "ip", "addresses": ["127.0.0.1"]},
		"options": {"tls": false, "tls_verify": false, "forward_for": true,
			"health_check": {"type": "http", "path": "/health", "method": "GET", "port": %d, "expected_code": "200", "host_header": "example.com"}}}`,
		strconv.Itoa(serverAt(api.addr).Port), serverAt(api.addr).Port)
	b := s.must(t, 200, "PUT", "/v1/lbs/web/backends/api-backend", seed)
	if b.body["forward_protocol"] != "http" || b.body["forward_port"] != float64(serverAt(api.addr).Port) {
		t.Fatalf("backend as stored: %s", b.raw)
	}
	// Scaleway's field names map to the same model.
	s.must(t, 200, "PUT", "/v1/lbs/web/backends/vpn", map[string]any{"forward_protocol": "http",
		"forward_port": serverAt(vpn.addr).Port, "forward_port_algorithm": "leastconn", "pool": []string{"127.0.0.1"}})
	f := s.must(t, 200, "PUT", "/v1/lbs/web/frontends/main?wait=applied", map[string]any{
		"inbound_port": port, "protocol": "http", "backend": "api-backend", "timeout_client": 30000,
		"routes": []map[string]any{{"match": map[string]any{"host_header": "vpn.example.com"}, "backend": "vpn"}}})
	if code, who := get(t, port, "vpn.example.com"); code != 200 || who != "vpn" {
		t.Fatalf("vpn.example.com -> %d %q", code, who)
	}
	if code, who := get(t, port, "www.example.com"); code != 200 || who != "api" {
		t.Fatalf("default route -> %d %q", code, who)
	}

	// Bad input: the field and why, and nothing stored.
	rev := s.must(t, 200, "GET", "/v1/status", nil).body["stored_revision"]
	bad := s.must(t, 422, "PATCH", "/v1/lbs/web/frontends/main", `{"routes": [{"match": {"host_header": "*."}, "backend": "vpn"}]}`)
	if !strings.Contains(bad.raw, `"field":"lbs[web].frontends[main].routes[0].host_header"`) || !strings.Contains(bad.raw, "empty label") {
		t.Fatalf("invalid route: %s", bad.raw)
	}
	unk := s.must(t, 400, "PUT", "/v1/lbs/web/backends/x", `{"forward_protocl": "http"}`)
	if !strings.Contains(unk.raw, `"field":"forward_protocl"`) {
		t.Fatalf("unknown field: %s", unk.raw)
	}
	badOpt := s.must(t, 400, "PUT", "/v1/lbs/web/backends/pp", `{"mode": "http", "port": 80, "servers": {"type": "ip", "addresses": ["127.0.0.1"]}, "options": {"proxy_protocol": "v3"}}`)
	if !strings.Contains(badOpt.raw, `"field":"options.proxy_protocol"`) {
		t.Fatalf("bad option: %s", badOpt.raw)
	}
	if got := s.must(t, 200, "GET", "/v1/status", nil).body["stored_revision"]; got != rev {
		t.Fatalf("rejected writes moved the revision from %v to %v", rev, got)
	}

	// ETag and If-Match: a stale write fails with 412.
	g := s.must(t, 200, "GET", "/v1/lbs/web/frontends/main", nil)
	if g.etag != f.etag {
		t.Fatalf("ETag %s after a GET, %s after the PUT", g.etag, f.etag)
	}
	s.must(t, 200, "PATCH", "/v1/lbs/web", `{"description": "changed"}`)
	s.must(t, 412, "PATCH", "/v1/lbs/web/frontends/main", `{"timeout_client": 1000}`, "If-Match", g.etag)

	// Lists, paging, ordering.
	l := s.must(t, 200, "GET", "/v1/lbs/web/backends?order_by=name_desc&page_size=1", nil)
	if l.body["total_count"] != float64(2) || l.body["backends"].([]any)[0].(map[string]any)["name"] != "vpn" {
		t.Fatalf("list: %s", l.raw)
	}

	// History and rollback: back to before the frontend existed.
	h := s.must(t, 200, "GET", "/v1/history?limit=50", nil)
	var beforeFrontend float64
	for _, e := range h.body["revisions"].([]any) {
		e := e.(map[string]any)
		for _, c := range e["changes"].([]any) {
			if c.(map[string]any)["path"] == "lbs/web/frontends/main" && c.(map[string]any)["kind"] == "created" {
				beforeFrontend = e["revision"].(float64) - 1
			}
		}
	}
	if beforeFrontend == 0 {
		t.Fatalf("history has no creation of the frontend: %s", h.raw)
	}
	s.must(t, 200, "POST", "/v1/rollback?wait=applied", map[string]any{"revision": beforeFrontend})
	s.must(t, 404, "GET", "/v1/lbs/web/frontends/main", nil)
	if code, _ := get(t, port, "vpn.example.com"); code != 0 {
		t.Fatalf("the rolled-back frontend still serves: %d", code)
	}

	// A transaction: staged writes, one revision at commit.
	st := s.must(t, 200, "GET", "/v1/status", nil)
	base := uint64(st.body["stored_revision"].(float64))
	tx := s.must(t, 201, "POST", "/v1/transactions?version="+strconv.FormatUint(base, 10), nil)
	id := tx.body["id"].(string)
	s.must(t, 200, "PUT", "/v1/lbs/web/backends/late?transaction_id="+id, map[string]any{"forward_protocol": "http", "forward_port": serverAt(vpn.addr).Port, "pool": []string{"127.0.0.1"}})
	s.must(t, 200, "PUT", "/v1/lbs/web/frontends/main?transaction_id="+id, map[string]any{"inbound_port": port, "backend": "late"})
	if got := s.must(t, 200, "GET", "/v1/status", nil).body["stored_revision"]; got != float64(base) {
		t.Fatalf("staged writes were stored: revision %v", got)
	}
	s.must(t, 200, "PUT", "/v1/transactions/"+id+"?wait=applied", nil)
	if got := s.must(t, 200, "GET", "/v1/status", nil).body["stored_revision"]; got != float64(base+1) {
		t.Fatalf("commit gave revision %v, want %d", got, base+1)
	}
	if code, who := get(t, port, "x"); code != 200 || who != "vpn" {
		t.Fatalf("after the transaction: %d %q", code, who)
	}
	// A transaction whose base moved fails with 409.
	tx2 := s.must(t, 201, "POST", "/v1/transactions", nil).body["id"].(string)
	s.must(t, 200, "PATCH", "/v1/lbs/web/backends/late?transaction_id="+tx2, `{"timeout_server": 1234}`)
	s.must(t, 200, "PATCH", "/v1/lbs/web", `{"description": "moved"}`)
	s.must(t, 409, "PUT", "/v1/transactions/"+tx2, nil)

	// Restart: everything comes back from the store, with the same token.
	s.stop()
	if code, _ := get(t, port, "x"); code != 0 {
		t.Fatal("still serving after stop")
	}
	s2 := startServe(t, dir)
	if s2.token != s.token {
		t.Fatal("a restart made a new admin token")
	}
	waitFor(t, 5*time.Second, "traffic after restart", func() bool {
		code, who := get(t, port, "x")
		return code == 200 && who == "vpn"
	})
}

// TestE2EBodyLimitAndProblemETag: an oversized body is a 413 that stores
// nothing (never a truncated config), and errors carry the ETag too.
func TestE2EBodyLimitAndProblemETag(t *testing.T) {
	s := startServe(t, t.TempDir())
	s.must(t, 200, "PUT", "/v1/lbs/web", `{}`)
	big := "lbs:\n- name: web\n  description: " + strings.Repeat("x", 65<<20) + "\n"
	r := s.must(t, 413, "PUT", "/v1/config", big)
	if r.etag != `"2"` {
		t.Fatalf("413 ETag %q, want the current revision", r.etag)
	}
	nf := s.must(t, 404, "GET", "/v1/lbs/nope", nil)
	if nf.etag != `"2"` {
		t.Fatalf("404 ETag %q", nf.etag)
	}
	if got := s.must(t, 200, "GET", "/v1/lbs/web", nil).body["description"]; got != "" {
		t.Fatalf("the oversized write changed the LB: description %v", got)
	}
}

// TestE2ETwoWritersOneWins: two clients race on one object with the same
// If-Match: exactly one wins, the other gets 412.
func TestE2ETwoWritersOneWins(t *testing.T) {
	s := startServe(t, t.TempDir())
	s.must(t, 200, "PUT", "/v1/lbs/web", `{}`)
	for round := range 20 {
		etag := s.must(t, 200, "GET", "/v1/lbs/web", nil).etag
		var wg sync.WaitGroup
		codes := make([]int, 2)
		for i := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				codes[i] = s.call(t, "PUT", "/v1/lbs/web", fmt.Sprintf(`{"description": "writer %d round %d"}`, i, round), "If-Match", etag).status
			}()
		}
		wg.Wait()
		if !(codes[0] == 200 && codes[1] == 412 || codes[0] == 412 && codes[1] == 200) {
			t.Fatalf("round %d: statuses %v, want one 200 and one 412", round, codes)
		}
	}
}

// TestE2EApplyFailureIsReportedAndRetried: a stored revision whose port is
// taken answers 202 with the reason, status shows it, and it is applied by
// itself once the port is free.
func TestE2EApplyFailureIsReportedAndRetried(t *testing.T) {
	s := startServe(t, t.TempDir())
	b := startBackend(t, "b", nil)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := busy.Addr().(*net.TCPAddr).Port
	s.must(t, 200, "PUT", "/v1/lbs/web", `{"ips": ["127.0.0.1"]}`)
	s.must(t, 200, "PUT", "/v1/lbs/web/backends/b", map[string]any{"forward_protocol": "http", "servers": []any{serverAt(b.addr)}})
	r := s.must(t, 202, "PUT", "/v1/lbs/web/frontends/f?wait=applied", map[string]any{"inbound_port": port, "backend": "b"})
	if r.body["applied"] != false || !strings.Contains(r.raw, "address already in use") || r.etag == "" {
		t.Fatalf("write on a busy port: %s (ETag %q)", r.raw, r.etag)
	}
	st := s.must(t, 200, "GET", "/v1/status", nil)
	if !strings.Contains(st.raw, "address already in use") || st.body["applied_revision"] == st.body["stored_revision"] {
		t.Fatalf("status: %s", st.raw)
	}
	busy.Close()
	waitFor(t, 10*time.Second, "the failed revision to be applied once its port is free", func() bool {
		code, who := get(t, port, "x")
		return code == 200 && who == "b"
	})
	st = s.must(t, 200, "GET", "/v1/status", nil)
	if st.body["applied_revision"] != st.body["stored_revision"] || strings.Contains(st.raw, "apply_error") {
		t.Fatalf("status after the retry: %s", st.raw)
	}
}

// TestE2EPatchWithAliases: PATCH takes the same vocabularies as PUT.
func TestE2EPatchWithAliases(t *testing.T) {
	s := startServe(t, t.TempDir())
	s.must(t, 200, "PUT", "/v1/lbs/web", `{}`)
	s.must(t, 200, "PUT", "/v1/lbs/web/backends/b", `{"mode": "http", "balancing_method": "roundrobin", "port": "8080",
		"servers": {"type": "ip", "addresses": ["10.0.0.1", "10.0.0.2"]}}`)
	r := s.must(t, 200, "PATCH", "/v1/lbs/web/backends/b", `{"balancing_method": "leastconn", "port": 9090,
		"options": {"health_check": {"type": "tcp", "port": 9091}}}`)
	if r.body["forward_port_algorithm"] != "leastconn" || r.body["forward_port"] != float64(9090) ||
		r.body["health_check"].(map[string]any)["port"] != float64(9091) || len(r.body["servers"].([]any)) != 2 {
		t.Fatalf("patch with seed-004 names: %s", r.raw)
	}
	r = s.must(t, 200, "PATCH", "/v1/lbs/web/backends/b", `{"pool": ["10.0.0.9"]}`)
	if sv := r.body["servers"].([]any); len(sv) != 1 || sv[0].(map[string]any)["ip"] != "10.0.0.9" {
		t.Fatalf("pool replaces the servers: %s", r.raw)
	}
	s.must(t, 400, "PATCH", "/v1/lbs/web/backends/b", `{"bogus": null}`)
	s.must(t, 400, "PATCH", "/v1/lbs/web/backends/b", `{"mode": "tcp", "forward_protocol": "http"}`)
	s.must(t, 200, "PUT", "/v1/lbs/web/backends/c", `{"forward_protocol": "http", "forward_port": 80, "pool": ["10.0.0.3"]}`)
	s.must(t, 200, "PUT", "/v1/lbs/web/frontends/f", `{"inbound_port": 18080, "backend": "b"}`)
	if r := s.must(t, 200, "PATCH", "/v1/lbs/web/frontends/f", `{"backend_id": "c"}`); r.body["backend"] != "c" {
		t.Fatalf("backend_id: %s", r.raw)
	}
}
