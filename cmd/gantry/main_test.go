package main

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "Usage:"},
		{[]string{"nope"}, 2, `unknown command "nope"`},
		{[]string{"proxy"}, 2, "--from and --to are required"},
		{[]string{"proxy", "--from", "127.0.0.1", "--to", "127.0.0.1:1"}, 2, "missing port"},
		{[]string{"proxy", "--from", "127.0.0.1:1", "--to", "127.0.0.1:1", "--mode", "udp"}, 1, `"udp" is not one of tcp, http`},
		{[]string{"run"}, 2, "-f FILE is required"},
		{[]string{"version"}, 0, "gantry dev"},
	}
	for _, tt := range tests {
		var out, errb bytes.Buffer
		code := run(tt.args, &out, &errb)
		if code != tt.code || !strings.Contains(out.String()+errb.String(), tt.want) {
			t.Errorf("gantry %v: exit %d, output %q; want exit %d containing %q", tt.args, code, out.String()+errb.String(), tt.code, tt.want)
		}
	}
}

func TestValidateFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("lbs:\n- name: m\n  frontends: [{name: f, inbound_port: 8080, backend: b}]\n  backends: [{name: b, forward_protocol: http, servers: [{ip: 127.0.0.1, port: 9000}]}]\n"), 0o600)
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("lbs:\n- name: m\n  frontends: [{name: f, inbound_port: 8080, backend: b, routes: [{backend: b, host_header: '*.'}]}]\n  backends: [{name: b, forward_protocol: http, servers: [{ip: 127.0.0.1, port: 9000}]}]\n"), 0o600)
	var out, errb bytes.Buffer
	if code := run([]string{"validate", "-f", good}, &out, &errb); code != 0 || !strings.Contains(out.String(), "ok") {
		t.Fatalf("validate good: %d %q %q", code, out.String(), errb.String())
	}
	out.Reset()
	errb.Reset()
	code := run([]string{"validate", "-f", bad}, &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), `lbs[m].frontends[f].routes[0].host_header: "*.": empty label`) {
		t.Fatalf("validate bad: %d %q", code, errb.String())
	}
}

// TestProxyDrainsOnSIGTERM runs the real binary: `gantry proxy` forwards,
// and SIGTERM lets a request in flight finish before the process exits 0.
func TestProxyDrainsOnSIGTERM(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "gantry")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	release := make(chan struct{})
	backend := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-release
		}
		io.WriteString(w, "from backend")
	})}
	bl, _ := net.Listen("tcp", "127.0.0.1:0")
	go backend.Serve(bl)
	defer backend.Close()
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()

	fl, _ := net.Listen("tcp", "127.0.0.1:0")
	from := fl.Addr().String()
	fl.Close()
	cmd := exec.Command(bin, "proxy", "--from", from, "--to", bl.Addr().String(), "--drain-timeout", "10s")
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	logs := bufio.NewScanner(stderr)
	var logLines []string
	for logs.Scan() {
		logLines = append(logLines, logs.Text())
		if strings.Contains(logs.Text(), "gantry is running") {
			break
		}
	}
	go func() {
		for logs.Scan() {
		}
	}()
	resp, err := http.Get("http://" + from + "/")
	if err != nil {
		t.Fatalf("proxy not serving: %v (logs: %v)", err, logLines)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "from backend" {
		t.Fatalf("body %q", body)
	}
	slow := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + from + "/slow")
		if err != nil {
			slow <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		slow <- strconv.Itoa(resp.StatusCode) + " " + string(b)
	}()
	time.Sleep(200 * time.Millisecond) // the slow request is in flight
	cmd.Process.Signal(syscall.SIGTERM)
	time.Sleep(200 * time.Millisecond)
	if c, err := net.Dial("tcp", from); err == nil {
		c.Close()
		t.Error("still accepting after SIGTERM")
	}
	close(release)
	if got := <-slow; got != "200 from backend" {
		t.Errorf("in-flight request across SIGTERM: %q", got)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("gantry did not exit after draining")
	}
}
