package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gantry-lb/gantry/client"
)

var spaces = regexp.MustCompile(`  +`)

const explained = `{"id": "3f2a9c0d1e2b4455", "name": "vpn-1", "state": "running", "health": "starting", "paused": false, "stopping": false,
	"networks": [{"name": "bridge", "ip": "172.17.0.2"}], "ports": ["80/tcp"], "labels": {"gantry.enable": "true", "gantry.http.port": "8o"},
	"mode": "none", "routed": false, "code": "label_error", "reason": "invalid labels: label gantry.http.port: \"8o\": not a port number",
	"label_errors": ["label gantry.http.port: \"8o\": not a port number"], "routes": [], "servers": [],
	"port_checks": [{"address": "172.17.0.2:80", "listening": false, "error": "connect: connection refused"}]}`

const routedOne = `{"id": "99aa", "name": "vpc", "state": "running", "health": "none", "paused": false, "stopping": false,
	"networks": [{"name": "bridge", "ip": "172.17.0.3"}], "ports": ["8081/tcp"], "labels": {}, "mode": "native", "routed": true,
	"code": "routed", "reason": "a server of 1 backend(s), taking new traffic",
	"routes": [{"lb": "docker", "frontend": "http", "route": "docker-vpc-1", "backend": "docker-vpc-1", "match": {"host_header": "vpc.example.com"}}],
	"servers": [{"lb": "docker", "backend": "docker-vpc-1", "address": "172.17.0.3:8081", "state": "running", "last_check": "passed"}]}`

func TestCLIDiscovery(t *testing.T) {
	t.Setenv("GANTRY_TOKEN", "tok")
	t.Setenv("GANTRY_SERVER", "")
	tests := []struct {
		name     string
		routes   map[string]string
		args     []string
		code     int
		want     []string
		wantPath string
		wantBody string
	}{
		{name: "explain a label error", routes: map[string]string{"GET /v1/discovery/containers/vpn-1": explained},
			args: []string{"explain", "vpn-1"},
			want: []string{"container:         vpn-1 (3f2a9c0d1e2b)\n", "routed:            no\n",
				`why:               label_error: invalid labels: label gantry.http.port: "8o": not a port number`,
				"state:             running, health starting\n", "port check:        172.17.0.2:80 not listening: connect: connection refused\n"}},
		{name: "explain a routed container", routes: map[string]string{"GET /v1/discovery/containers/vpc": routedOne},
			args: []string{"explain", "vpc"},
			want: []string{"routed:       yes\n", "route:        vpc.example.com on docker/http -> backend docker-vpc-1 (docker-vpc-1)\n",
				"server:       docker/docker-vpc-1 172.17.0.3:8081: running, last check passed\n"}},
		{name: "explain every container", routes: map[string]string{"GET /v1/discovery/containers": `{"containers": [` + explained + `,` + routedOne + `], "total_count": 2}`},
			args: []string{"explain"}, want: []string{"CONTAINER  ID            ROUTED  CODE         REASON\n", "vpc        99aa          yes     routed"}},
		{name: "explain an unknown container", routes: map[string]string{},
			args: []string{"explain", "nope"}, code: 1, want: []string{"not found (404)"}},
		{name: "explain as json", routes: map[string]string{"GET /v1/discovery/containers/vpc": routedOne},
			args: []string{"explain", "vpc", "-o", "json"}, want: []string{`"code": "routed"`}},
		{name: "explain takes one container", args: []string{"explain", "a", "b"}, code: 2, want: []string{"explain takes one CONTAINER"}},
		{name: "route put --rule", routes: map[string]string{"GET /v1/lbs": oneLB,
			"GET /v1/lbs/web/frontends":                 `{"frontends": [{"name": "main", "inbound_port": 80, "routes": []}], "total_count": 1}`,
			"PUT /v1/lbs/web/frontends/main/routes/vpn": `{"name": "vpn", "backend": "b", "match": {"host_header": "vpn.example.com", "path_begin": "/api"}, "index": 0}`},
			args: []string{"route", "put", "vpn", "--rule", "vpn.example.com/api=8080", "--backend", "b"},
			want: []string{`route "vpn" saved (revision 7)`}, wantPath: "PUT /v1/lbs/web/frontends/main/routes/vpn",
			wantBody: `{"name":"vpn","backend":"b","rule":"vpn.example.com/api=8080"}`},
		{name: "status with discovery", routes: map[string]string{"GET /v1/status": `{"stored_revision": 3, "applied_revision": 3, "listeners": [":80"],
			"discovery": {"enabled": true, "provider": "docker", "host": "unix:///var/run/docker.sock", "connected": false, "error": "docker: ping: refused",
			"generation": 4, "lag_ms": 12.5, "containers": {"seen": 3, "routed": 2, "rejected": 1}, "entry_points": [{"lb": "docker", "frontend": "http", "address": ":80"}]}}`},
			args: []string{"status"},
			want: []string{"discovery:         docker at unix:///var/run/docker.sock, NOT connected (keeping the last-known containers): docker: ping: refused\n",
				"containers:        3 seen, 2 routed, 1 rejected (generation 4, lag 12.5 ms)\n", "entry point:       :80 (docker/http)\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f fakeAPI
			url := f.start(t, tt.routes)
			var out, errb bytes.Buffer
			code := runWith(append(tt.args, "--server", url), strings.NewReader(""), &out, &errb)
			all := out.String() + errb.String()
			if code != tt.code {
				t.Fatalf("exit %d, want %d: %s", code, tt.code, all)
			}
			for _, w := range tt.want {
				// Key/value lines align on the longest key: compare
				// with runs of spaces as one.
				if !strings.Contains(spaces.ReplaceAllString(all, " "), spaces.ReplaceAllString(w, " ")) {
					t.Errorf("output lacks %q:\n%s", w, all)
				}
			}
			f.checkRequests(t, "", tt.wantPath, tt.wantBody)
		})
	}
}

// TestServeDockerFlags: bad discovery flags are refused before anything
// starts.
func TestServeDockerFlags(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--docker", "maybe"}, `--docker "maybe": want auto, on or off`},
		{[]string{"--docker", "on", "--http", "localhost:80"}, `is not an IP address`},
		{[]string{"--docker", "on", "--stack-domain", "*.bad"}, `stack domain`},
	} {
		var out, errb bytes.Buffer
		args := append([]string{"serve", "--admin", "127.0.0.1:0", "--data", filepath.Join(dir, "d")}, tt.args...)
		if code := runWith(args, strings.NewReader(""), &out, &errb); code != 1 || !strings.Contains(errb.String(), tt.want) {
			t.Errorf("%v: exit %d, output %s; want 1 and %q", tt.args, code, errb.String(), tt.want)
		}
	}
	os.RemoveAll(dir)
}

func TestDiscoveryRowsFileOnly(t *testing.T) {
	rows := discoveryRows(&client.DiscoveryStatus{File: &client.FileStatus{Path: "/etc/gantry/lbs.yaml", InSync: false,
		Error: `lbs[a].frontends[web].inbound_port: 70000 is not a port (1-65535)`, LBs: []string{"a"}}})
	if len(rows) != 1 || rows[0][0] != "file:" ||
		rows[0][1] != `/etc/gantry/lbs.yaml, NOT in sync: lbs[a].frontends[web].inbound_port: 70000 is not a port (1-65535), serving 1 load balancer(s)` {
		t.Fatalf("rows %q: want only the file line", rows)
	}
}
