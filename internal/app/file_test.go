package app_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gantry-lb/gantry/internal/app"
)

// routesFile is a discovery file: load balancer "files" on 127.0.0.1:port,
// host a.test to server a, anything else to server b.
func routesFile(port int, a, b string) string {
	h, ap, _ := net.SplitHostPort(a)
	_, bp, _ := net.SplitHostPort(b)
	return fmt.Sprintf(`# routes kept in git
lbs:
- name: files
  ips: [127.0.0.1]
  frontends:
  - name: web
    inbound_port: %d
    backend: b
    routes:
    - {name: to-a, host_header: a.test, backend: a}
  backends:
  - {name: a, forward_protocol: http, servers: [{ip: %s, port: %s}]}
  - {name: b, forward_protocol: http, servers: [{ip: %s, port: %s}]}
`, port, h, ap, h, bp)
}

// putFile writes content at path: in place (the same inode), or with
// rename, into a new file renamed over path, as editors and deploy tools
// do.
func putFile(t *testing.T, path, content string, rename bool) {
	t.Helper()
	target := path
	if rename {
		target = path + ".new"
	}
	err := os.WriteFile(target, []byte(content), 0o644)
	if err == nil && rename {
		err = os.Rename(target, path)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// fileStatus returns the file part of GET /v1/discovery.
func (s *server) fileStatus(t *testing.T) map[string]any {
	t.Helper()
	r := s.must(t, 200, "GET", "/v1/discovery", nil)
	f, _ := r.body["file"].(map[string]any)
	if f == nil {
		t.Fatalf("no file in the discovery status: %s", r.raw)
	}
	return f
}

// metricsText scrapes GET /metrics.
func (s *server) metricsText(t *testing.T) string {
	t.Helper()
	resp, err := http.Get("http://" + s.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

// metricValue returns the value of the series named series (with its
// labels, as Prometheus writes them) in text, or -1 when it is absent.
func metricValue(text, series string) float64 {
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(text)
	if m == nil {
		return -1
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return -1
	}
	return v
}

// follows waits until host on port answers from backend want, and returns
// how long it took.
func follows(t *testing.T, port int, host, want string, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		code, got := get(t, port, host)
		if code == 200 && got == want {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("%s never reached %s within %v (last: %d %q)", host, want, within, code, got)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestFileDiscovery: gantry serve --file serves the file's load balancers,
// follows its changes (in place and by rename) within the poll interval,
// keeps the last good version of a file that does not validate and says
// why, withdraws the objects of a removed file, and shows them read-only
// with source file.
func TestFileDiscovery(t *testing.T) {
	a, b := startBackend(t, "a", nil), startBackend(t, "b", nil)
	port := freePort(t)
	path := filepath.Join(t.TempDir(), "routes.yaml")
	putFile(t, path, routesFile(port, a.addr, b.addr), false)
	const interval = 100 * time.Millisecond
	s := startServe(t, t.TempDir(), func(o *app.ServeOptions) { o.File = app.FileOptions{Path: path, Interval: interval} })

	// Served at start.
	follows(t, port, "a.test", "a", 5*time.Second)
	if code, be := get(t, port, "other.test"); code != 200 || be != "b" {
		t.Errorf("the default backend: %d %q", code, be)
	}
	f := s.fileStatus(t)
	if f["in_sync"] != true || f["path"] != path || fmt.Sprint(f["lbs"]) != "[files]" || f["interval_ms"] != float64(100) || f["sha256"] == "" {
		t.Errorf("file status: %v", f)
	}

	// Read-only in the API, with source file; never in the stored config.
	rl := s.must(t, 200, "GET", "/v1/discovery/routes", nil)
	routes, _ := rl.body["routes"].([]any)
	if len(routes) != 1 {
		t.Fatalf("discovered routes: %s", rl.raw)
	}
	if r := routes[0].(map[string]any); r["source"] != "file" || r["read_only"] != true || r["lb"] != "files" || r["name"] != "to-a" ||
		r["match"].(map[string]any)["host_header"] != "a.test" {
		t.Errorf("the file's route: %v", r)
	}
	bl := s.must(t, 200, "GET", "/v1/discovery/backends", nil)
	if bs, _ := bl.body["backends"].([]any); len(bs) != 2 || bs[0].(map[string]any)["source"] != "file" || bs[0].(map[string]any)["name"] != "a" {
		t.Errorf("the file's backends: %s", bl.raw)
	}
	for _, w := range []struct{ method, path string }{
		{"PUT", "/v1/lbs/files"},
		{"DELETE", "/v1/lbs/files"},
		{"PUT", "/v1/lbs/files/backends/a"},
		{"DELETE", "/v1/lbs/files/frontends/web/routes/to-a"},
	} {
		body := any(nil)
		if w.method == "PUT" {
			body = map[string]any{}
		}
		if r := s.call(t, w.method, w.path, body); r.status != 409 || !strings.Contains(r.raw, "source: file") {
			t.Errorf("%s %s: %d %s, want 409 naming source file", w.method, w.path, r.status, r.raw)
		}
	}
	if cfg := s.must(t, 200, "GET", "/v1/config", nil); strings.Contains(cfg.raw, "files") {
		t.Errorf("the stored config holds the file's objects: %s", cfg.raw)
	}

	// Changed in place: traffic follows within the poll interval (plus
	// the time to read, build and publish, and a loaded machine's slack).
	putFile(t, path, strings.Replace(routesFile(port, a.addr, b.addr), "backend: a}", "backend: b}", 1), false)
	d := follows(t, port, "a.test", "b", 5*time.Second)
	t.Logf("in-place change served after %v (interval %v)", d, interval)
	if d > interval+time.Second {
		t.Errorf("an in-place change took %v with a %v interval", d, interval)
	}

	// Replaced by a rename: followed as well.
	renamed := strings.Replace(routesFile(port, a.addr, b.addr), "host_header: a.test", "host_header: c.test", 1)
	putFile(t, path, renamed, true)
	d = follows(t, port, "c.test", "a", 5*time.Second)
	t.Logf("renamed file served after %v", d)
	if d > interval+time.Second {
		t.Errorf("a renamed file took %v with a %v interval", d, interval)
	}
	if code, be := get(t, port, "a.test"); be != "b" {
		t.Errorf("a.test after its route left: %d %q, want the default backend", code, be)
	}

	// Invalid: the previous routes stay, and the status and metrics say
	// why, with the field path.
	gen := s.fileStatus(t)["generation"].(float64)
	putFile(t, path, strings.Replace(renamed, "host_header: c.test", "hostheader: c.test", 1), true)
	waitFor(t, 5*time.Second, "the status to report the invalid file", func() bool {
		f = s.fileStatus(t)
		return f["generation"].(float64) > gen
	})
	if f["in_sync"] != false || !strings.Contains(fmt.Sprint(f["error"]), "lbs[files].frontends[web].routes[to-a].hostheader: unknown field") ||
		fmt.Sprint(f["lbs"]) != "[files]" {
		t.Errorf("status of an invalid file: %v", f)
	}
	for range 5 {
		if code, be := get(t, port, "c.test"); code != 200 || be != "a" {
			t.Fatalf("the last good routes are not served: %d %q", code, be)
		}
	}
	text := s.metricsText(t)
	if v := metricValue(text, `gantry_discovery_connected{provider="file"}`); v != 0 {
		t.Errorf("gantry_discovery_connected of an invalid file: %v", v)
	}
	if v := metricValue(text, `gantry_discovery_lag_seconds_count{provider="file"}`); v < 3 {
		t.Errorf("gantry_discovery_lag_seconds_count: %v, want every version applied", v)
	}
	if v := metricValue(text, `gantry_discovery_last_resync_timestamp_seconds{provider="file"}`); v < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Errorf("gantry_discovery_last_resync_timestamp_seconds: %v", v)
	}

	// A file that does not fit the config: the API wins (here, the same
	// port on an API load balancer), the file is dropped, and the status
	// says why.
	putFile(t, path, renamed, true)
	follows(t, port, "c.test", "a", 5*time.Second)
	other := freePort(t)
	s.must(t, 200, "PUT", "/v1/lbs/api", map[string]any{"ips": []string{"127.0.0.1"}})
	s.must(t, 200, "PUT", "/v1/lbs/api/backends/x", map[string]any{"forward_protocol": "http", "servers": []any{serverAt(b.addr)}})
	s.must(t, 200, "PUT", "/v1/lbs/api/frontends/x?wait=applied", map[string]any{"inbound_port": other, "backend": "x"})
	putFile(t, path, strings.Replace(renamed, fmt.Sprintf("inbound_port: %d", port), fmt.Sprintf("inbound_port: %d", other), 1), true)
	waitFor(t, 5*time.Second, "the status to report the conflict", func() bool {
		f = s.fileStatus(t)
		return f["in_sync"] == true && strings.Contains(fmt.Sprint(f["apply_error"]), "are not served")
	})
	if code, be := get(t, other, "c.test"); code != 200 || be != "b" {
		t.Errorf("the API's frontend on the port the file asks for: %d %q", code, be)
	}

	// Removed: its objects are withdrawn (the port closes).
	putFile(t, path, renamed, true)
	follows(t, port, "c.test", "a", 5*time.Second)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the removed file's listener to close", func() bool {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	f = s.fileStatus(t)
	if f["in_sync"] != false || !strings.Contains(fmt.Sprint(f["error"]), "no such file") || fmt.Sprint(f["lbs"]) != "[]" {
		t.Errorf("status of a removed file: %v", f)
	}
	if rl := s.must(t, 200, "GET", "/v1/discovery/routes", nil); rl.body["total_count"] != float64(0) {
		t.Errorf("routes of a removed file: %s", rl.raw)
	}
	// And back.
	putFile(t, path, routesFile(port, a.addr, b.addr), false)
	follows(t, port, "a.test", "a", 5*time.Second)
}

// TestFileDiscoverySIGHUP: with a long interval, a SIGHUP makes gantry
// serve read the file at once.
func TestFileDiscoverySIGHUP(t *testing.T) {
	a, b := startBackend(t, "a", nil), startBackend(t, "b", nil)
	port := freePort(t)
	path := filepath.Join(t.TempDir(), "routes.yaml")
	putFile(t, path, routesFile(port, a.addr, b.addr), false)
	startServe(t, t.TempDir(), func(o *app.ServeOptions) { o.File = app.FileOptions{Path: path, Interval: time.Hour} })
	follows(t, port, "a.test", "a", 5*time.Second)
	putFile(t, path, strings.Replace(routesFile(port, a.addr, b.addr), "backend: a}", "backend: b}", 1), true)
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	follows(t, port, "a.test", "b", 5*time.Second)
}
