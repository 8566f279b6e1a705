package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	gclient "github.com/gantry-lb/gantry/client"
	"github.com/gantry-lb/gantry/internal/api"
)

// fakeDiscovery is a discovery that sees one routed container, vpn-1, of
// a route on the entry point (lb docker) and of backend "sel" of any LB.
type fakeDiscovery struct{}

var fakeContainer = gclient.DiscoveredContainer{ID: "3f2a9c0d1e2b", Name: "vpn-1", Image: "vpn:1", State: "running", Health: "healthy",
	Networks: []gclient.ContainerNet{{Name: "bridge", IP: "172.17.0.2"}}, Ports: []string{"80/tcp"},
	Labels: map[string]string{"gantry.enable": "true", "gantry.http.hosts": "vpn.example.com"}, Mode: "native",
	Routed: true, Code: gclient.CodeRouted, Reason: "routed: a server of 1 backend(s)",
	Routes: []gclient.ContainerRoute{{LB: "docker", Frontend: "http", Route: "docker-vpn.example.com-1a2b3c", Backend: "docker-vpn.example.com-1a2b3c",
		Match: gclient.RouteMatch{HostHeader: "vpn.example.com"}}},
	Servers: []gclient.ContainerServer{{LB: "docker", Backend: "docker-vpn.example.com-1a2b3c", Address: "172.17.0.2:80", State: "running", LastCheck: "unknown"}}}

func (fakeDiscovery) Status() gclient.DiscoveryStatus {
	at := time.Unix(1_700_000_000, 0).UTC()
	return gclient.DiscoveryStatus{Enabled: true, Provider: "docker", Host: "unix:///var/run/docker.sock", Connected: true, Generation: 7,
		Trigger: "event", ListedAt: at, ResyncedAt: at, AppliedAt: at, LagMillis: 12.5,
		Containers: gclient.DiscoveryCounts{Seen: 1, Routed: 1}, EntryPoints: []gclient.EntryPoint{{LB: "docker", Frontend: "http", Address: ":80"}}}
}

func (fakeDiscovery) Containers() []gclient.DiscoveredContainer {
	return []gclient.DiscoveredContainer{fakeContainer}
}

func (fakeDiscovery) Explain(_ context.Context, ref string) (*gclient.DiscoveredContainer, bool) {
	if ref != fakeContainer.Name && !strings.HasPrefix(fakeContainer.ID, ref) {
		return nil, false
	}
	c := fakeContainer
	c.PortChecks = []gclient.PortCheck{{Address: "172.17.0.2:80", Listening: true}}
	return &c, true
}

func (fakeDiscovery) Routes() []gclient.DiscoveredRoute {
	return []gclient.DiscoveredRoute{{Source: gclient.SourceDocker, ReadOnly: true, LB: "docker", Frontend: "http", Name: "docker-vpn.example.com-1a2b3c",
		Backend: "docker-vpn.example.com-1a2b3c", Match: gclient.RouteMatch{HostHeader: "vpn.example.com"}, Containers: []string{"vpn-1"}}}
}

func (fakeDiscovery) Backends() []gclient.DiscoveredBackend {
	return []gclient.DiscoveredBackend{{Source: gclient.SourceDocker, LB: "docker", Name: "docker-vpn.example.com-1a2b3c",
		Servers: []gclient.ResolvedServer{{Container: "vpn-1", ContainerID: fakeContainer.ID, Address: "172.17.0.2:80", Weight: 1, State: "running"}}}}
}

func (fakeDiscovery) Resolved(lb, backend string) []gclient.ResolvedServer {
	if backend != "sel" {
		return nil
	}
	return []gclient.ResolvedServer{{Container: "vpn-1", ContainerID: fakeContainer.ID, Address: "172.17.0.2:80", Weight: 1, State: "running"}}
}

func (fakeDiscovery) ReadOnly(lb, frontend, route string) string {
	switch {
	case lb == "docker":
		return "load balancer \"docker\" is the entry point of gantry serve --http (source: docker)"
	case route == "docker-vpn.example.com-1a2b3c":
		return "route \"docker-vpn.example.com-1a2b3c\" is made by discovery (source: docker)"
	}
	return ""
}

// discoveryServer is an API over a real store, with disc as discovery.
func discoveryServer(t *testing.T, disc api.Discovery) (url, admin string) {
	t.Helper()
	srv, admin := newAdminServer(t, api.Options{Discovery: disc})
	return srv.URL, admin
}

func do(t *testing.T, url, tok, method, path, body string) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, url+path, rd)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	raw, _ := io.ReadAll(resp.Body)
	json.Unmarshal(raw, &m)
	if m == nil {
		m = map[string]any{"raw": string(raw)}
	}
	return resp.StatusCode, m
}

func TestDiscoveryAPI(t *testing.T) {
	defer http.DefaultClient.CloseIdleConnections()
	url, tok := discoveryServer(t, fakeDiscovery{})
	steps := []struct {
		method, path, body string
		status             int
		want               string // a substring of the answer
	}{
		{"PUT", "/v1/lbs/web", `{}`, 200, ""},
		{"PUT", "/v1/lbs/web/backends/vpn", `{"forward_protocol": "http", "forward_port": 80, "pool": ["10.0.0.5"]}`, 200, ""},
		{"PUT", "/v1/lbs/web/frontends/main", `{"inbound_port": 8080, "backend": "vpn"}`, 200, ""},
		// Selectors: seed 004's object, both forms, and the model's name.
		{"PUT", "/v1/lbs/web/backends/sel", `{"mode": "http", "servers": {"type": "docker", "selector": {"labels": {"app": "vpn"}}, "port": 80}}`, 200, `"container_id":"3f2a9c0d1e2b"`},
		{"GET", "/v1/lbs/web/backends/sel", ``, 200, `"docker":{"labels":{"app":"vpn"},"port":80}`},
		{"PUT", "/v1/lbs/web/backends/svc", `{"mode": "http", "servers": {"type": "docker", "service": "vpn", "project": "prod", "port": 80}}`, 200, `"project":"prod"`},
		{"PUT", "/v1/lbs/web/backends/svc2", `{"forward_protocol": "http", "forward_port": 81, "docker": {"service": "vpn"}}`, 200, `"resolved_servers":[]`},
		{"PATCH", "/v1/lbs/web/backends/svc2", `{"servers": {"type": "ip", "addresses": ["10.0.0.9"]}}`, 200, `"ip":"10.0.0.9"`},
		{"PATCH", "/v1/lbs/web/backends/svc2", `{"servers": {"type": "docker", "service": "web"}}`, 200, `"service":"web"`},
		{"PUT", "/v1/lbs/web/backends/both", `{"mode": "http", "servers": {"type": "docker", "service": "a", "port": 80}, "docker": {"service": "b"}}`, 400, `give one`},
		{"PUT", "/v1/lbs/web/backends/all", `{"mode": "http", "servers": {"type": "docker", "port": 80}}`, 422, `selects every container`},
		{"PUT", "/v1/lbs/web/backends/mixed", `{"mode": "http", "servers": {"type": "ip", "addresses": ["10.0.0.1"], "service": "x"}}`, 400, `belong to type`},
		{"PUT", "/v1/lbs/web/backends/addr", `{"mode": "http", "servers": {"type": "docker", "addresses": ["10.0.0.1"], "service": "x"}}`, 400, `not addresses`},
		// Port rules.
		{"PUT", "/v1/lbs/web/frontends/main/routes/r1", `{"rule": "vpn.example.com:8080/api=80", "backend": "vpn"}`, 200, `"host_header":"vpn.example.com","path_begin":"/api"`},
		{"PUT", "/v1/lbs/web/frontends/main/routes/r2", `{"rule": "b.example.com=80", "backend": "sel"}`, 200, `"host_header":"b.example.com"`},
		{"PUT", "/v1/lbs/web/frontends/main/routes/r3", `{"rule": "vpn.example.com:80=80", "backend": "vpn"}`, 422, `source port 80, but frontend \"main\" listens on 8080`},
		{"PUT", "/v1/lbs/web/frontends/main/routes/r3", `{"rule": "vpn.example.com=8080", "backend": "vpn"}`, 422, `target port 8080: backend \"vpn\" serves port 80`},
		{"PUT", "/v1/lbs/web/frontends/main/routes/r3", `{"rule": "vpn.example.com:8o=80", "backend": "vpn"}`, 400, `source port \"8o\": not a port number`},
		{"PUT", "/v1/lbs/web/frontends/main/routes/r3", `{"rule": "a.example.com=80", "host_header": "b.example.com", "backend": "vpn"}`, 400, `do not give host_header`},
		{"PUT", "/v1/lbs/web/frontends/other", `{"inbound_port": 81, "backend": "vpn", "routes": [{"rule": "a.example.com=80", "backend": "vpn"}]}`, 400, `routes/{name} only`},
		// Discovery's own objects are read-only.
		{"PUT", "/v1/lbs/docker", `{}`, 409, `source: docker`},
		{"DELETE", "/v1/lbs/docker/frontends/http", ``, 409, `source: docker`},
		{"PUT", "/v1/lbs/web/frontends/main/routes/docker-vpn.example.com-1a2b3c", `{"backend": "vpn"}`, 409, `made by discovery`},
		{"GET", "/v1/discovery", ``, 200, `"connected":true`},
		{"GET", "/v1/discovery/containers", ``, 200, `"total_count":1`},
		{"GET", "/v1/discovery/containers/3f2a", ``, 200, `"port_checks"`},
		{"GET", "/v1/discovery/containers/nope", ``, 404, `no container`},
		{"GET", "/v1/discovery/routes?lb=docker", ``, 200, `"total_count":1`},
		{"GET", "/v1/discovery/routes?lb=web", ``, 200, `"total_count":0`},
		{"GET", "/v1/discovery/backends", ``, 200, `"source":"docker"`},
	}
	for _, s := range steps {
		code, body := do(t, url, tok, s.method, s.path, s.body)
		raw, _ := json.Marshal(body)
		if code != s.status || !strings.Contains(string(raw), s.want) {
			t.Errorf("%s %s: %d %s, want %d with %s", s.method, s.path, code, raw, s.status, s.want)
		}
	}
}

func TestDiscoveryOff(t *testing.T) {
	defer http.DefaultClient.CloseIdleConnections()
	url, tok := discoveryServer(t, nil)
	if code, body := do(t, url, tok, "GET", "/v1/discovery", ""); code != 200 || body["enabled"] != false {
		t.Errorf("status with discovery off: %d %v", code, body)
	}
	if code, _ := do(t, url, tok, "GET", "/v1/discovery/containers", ""); code != 404 {
		t.Errorf("containers with discovery off: %d", code)
	}
	// Nothing is read-only then: an LB may be called docker.
	if code, body := do(t, url, tok, "PUT", "/v1/lbs/docker", "{}"); code != 200 {
		t.Errorf("PUT /v1/lbs/docker with discovery off: %d %v", code, body)
	}
}
