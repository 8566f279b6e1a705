package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gantry-lb/gantry/client"
)

// namedBackend is an HTTP server on loopback that names itself in X-Backend.
func namedBackend(t *testing.T, name string) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Backend", name)
		io.WriteString(w, "hello from "+name)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().(*net.TCPAddr).Port
}

// TestCLIEndToEnd runs the real binary: `gantry serve` in an empty
// directory, then the CLI, finding the server through $GANTRY_SERVER and
// the token through ./gantry-data/admin.token, builds an LB that serves
// traffic, and reads it back.
func TestCLIEndToEnd(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "gantry")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	serve := exec.Command(bin, "serve", "--admin", "127.0.0.1:0")
	serve.Dir = dir
	stderr, _ := serve.StderrPipe()
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		serve.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- serve.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("gantry serve exited with %v", err)
			}
		case <-time.After(15 * time.Second):
			serve.Process.Kill()
			<-done
			t.Error("gantry serve did not exit on SIGTERM")
		}
	}
	t.Cleanup(stop)
	logs := bufio.NewScanner(stderr)
	addrRE := regexp.MustCompile(`msg="admin API listening" addr=(\S+)`)
	var admin string
	var logLines []string
	for admin == "" && logs.Scan() {
		logLines = append(logLines, logs.Text())
		if m := addrRE.FindStringSubmatch(logs.Text()); m != nil {
			admin = m[1]
		}
	}
	if admin == "" {
		t.Fatalf("no admin address in the log: %q", logLines)
	}
	go func() {
		for logs.Scan() {
		}
	}()

	env := append(os.Environ(), "GANTRY_SERVER="+admin, "GANTRY_TOKEN=")
	ctl := func(stdin string, args ...string) (string, string, int) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Dir, cmd.Env = dir, env
		cmd.Stdin = strings.NewReader(stdin)
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("gantry %v: %v", args, err)
		}
		return out.String(), errb.String(), code
	}
	must := func(stdin string, args ...string) string {
		t.Helper()
		out, errs, code := ctl(stdin, args...)
		if code != 0 {
			t.Fatalf("gantry %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
		}
		return out
	}
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	status := func() client.Status {
		t.Helper()
		var st client.Status
		if err := json.Unmarshal([]byte(must("", "status", "-o", "json")), &st); err != nil {
			t.Fatal(err)
		}
		return st
	}

	apiPort, vpnPort := namedBackend(t, "api"), namedBackend(t, "vpn")
	lnPort, _ := net.Listen("tcp", "127.0.0.1:0")
	port := lnPort.Addr().(*net.TCPAddr).Port
	lnPort.Close()

	if out := must("description: public web\ntags: [prod]\nips: [127.0.0.1]\n", "lb", "put", "web", "-f", "-"); !strings.Contains(out, `lb "web" saved`) {
		t.Fatalf("lb put: %q", out)
	}
	// Seed 004's body (without proxy_protocol and sticky_session, not
	// supported yet), named by the file, in the only LB.
	seed := write("seed.json", `{"name": "api-backend", "mode": "http", "balancing_method": "roundrobin", "port": "`+strconv.Itoa(apiPort)+`",
		"servers": {"type": "ip", "addresses": ["127.0.0.1"]},
		"options": {"tls": false, "tls_verify": false, "forward_for": true,
			"health_check": {"type": "http", "path": "/health", "method": "GET", "port": `+strconv.Itoa(apiPort)+`, "expected_code": "200", "host_header": "example.com"}}}`)
	if out := must("", "backend", "put", "-f", seed); !strings.Contains(out, `backend "api-backend" saved`) {
		t.Fatalf("backend put: %q", out)
	}
	must("", "backend", "put", "vpn", "--lb", "web", "-f", write("vpn.yaml", "forward_protocol: http\nforward_port: "+strconv.Itoa(vpnPort)+"\npool: [127.0.0.1]\n"))
	fe := write("fe.yaml", `name: main
inbound_port: `+strconv.Itoa(port)+`
protocol: http
backend: api-backend
timeout_client: 30000
routes:
- {match: {host_header: vpn.example.com}, backend: vpn}
- {match: {host_header: "*.dev.example.com"}, backend: vpn}
- {match: {path_begin: /api}, backend: api-backend}
`)
	must("", "frontend", "put", "-f", fe, "--wait")

	for host, want := range map[string]string{"vpn.example.com": "vpn", "x.dev.example.com": "vpn", "www.example.com": "api"} {
		req, _ := http.NewRequest("GET", "http://127.0.0.1:"+strconv.Itoa(port)+"/", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", host, err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("X-Backend") != want {
			t.Errorf("%s -> %d %q, want %s", host, resp.StatusCode, resp.Header.Get("X-Backend"), want)
		}
	}
	http.DefaultClient.CloseIdleConnections()

	st := status()
	if st.StoredRevision == 0 || st.AppliedRevision != st.StoredRevision || !slices.Contains(st.Listeners, "127.0.0.1:"+strconv.Itoa(port)) {
		t.Fatalf("status: %+v", st)
	}
	if out := must("", "backend", "list"); !regexp.MustCompile(`(?m)^api-backend +http +` + strconv.Itoa(apiPort) + ` +roundrobin +127\.0\.0\.1:\d+ +http /health$`).MatchString(out) {
		t.Errorf("backend list:\n%s", out)
	}
	if out := must("", "frontend", "get", "main"); !strings.Contains(out, "vpn.example.com->vpn, *.dev.example.com->vpn, /api->api-backend") {
		t.Errorf("frontend get:\n%s", out)
	}

	// export, then apply a change with --dry-run: the diff, nothing stored.
	exported := must("", "export")
	if !strings.Contains(exported, "name: api-backend") || !strings.Contains(exported, "host_header: vpn.example.com") {
		t.Fatalf("export:\n%s", exported)
	}
	changed := write("changed.yaml", strings.Replace(exported, "roundrobin", "leastconn", 1))
	out := must("", "apply", "-f", changed, "--dry-run")
	if !strings.Contains(out, "~ lbs/web/backends/api-backend\n") || !strings.Contains(out, `+ forward_port_algorithm: "leastconn"`) {
		t.Errorf("apply --dry-run:\n%s", out)
	}
	if got := status().StoredRevision; got != st.StoredRevision {
		t.Fatalf("apply --dry-run stored revision %d", got)
	}
	if out := must("", "apply", "-f", changed); !strings.Contains(out, "config applied (revision "+strconv.FormatUint(st.StoredRevision+1, 10)+")") {
		t.Errorf("apply: %q", out)
	}

	// Errors: the wrong fields, one per line, exit 1.
	bad := write("bad.yaml", "inbound_port: "+strconv.Itoa(port)+"\nroutes: [{match: {host_header: '*.'}, backend: vpn}, {backend: nope}]\n")
	_, errs, code := ctl("", "frontend", "put", "main", "-f", bad)
	if code != 1 || !strings.Contains(errs, "gantry: invalid config (422):\n") ||
		!strings.Contains(errs, "\n  lbs[web].frontends[main].routes[0].host_header: \"*.\": empty label\n") ||
		!strings.Contains(errs, "\n  lbs[web].frontends[main].routes[1].backend: no backend named \"nope\"\n") {
		t.Errorf("invalid frontend: exit %d\n%s", code, errs)
	}

	out = must("", "history")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 6 || !strings.HasPrefix(lines[0], "REVISION  TIME") || !strings.Contains(lines[1], "updated lbs/web/backends/api-backend") ||
		!strings.Contains(out, "created lbs/web/frontends/main") {
		t.Errorf("history:\n%s", out)
	}
	stop()
}
