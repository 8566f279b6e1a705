package app

import (
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/gantry-lb/gantry/client"
	"github.com/gantry-lb/gantry/internal/config"
	"github.com/gantry-lb/gantry/internal/discovery"
	"github.com/gantry-lb/gantry/internal/snapshot"
	"github.com/gantry-lb/gantry/internal/upstream"
)

// ctr is a running container on the bridge network at ip with labels,
// parsed as the Docker provider parses them.
func ctr(t *testing.T, name, ip string, labels map[string]string, opts discovery.LabelOptions) discovery.Container {
	t.Helper()
	c := discovery.Container{ID: name + "-id-0123456789", Name: name, Labels: labels, State: discovery.StateRunning,
		Ports:    []discovery.Port{{Port: 80, Proto: "tcp"}},
		Networks: []discovery.Network{{Name: "bridge", IP: netip.MustParseAddr(ip)}}}
	c.Project, c.Service = labels[discovery.LabelComposeProject], labels[discovery.LabelComposeService]
	c.Intent, c.LabelErr = discovery.ParseIntent(labels, c.Ports, opts)
	return c
}

func lbls(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// built compiles and builds, failing the test if the result does not build.
func built(t *testing.T, stored *config.Config, entry *entryPoint, cs ...discovery.Container) (*compiled, *snapshot.Snapshot) {
	t.Helper()
	cmp := compile(stored, &discovery.Set{Connected: true, Containers: cs}, entry, "")
	snap, err := snapshot.BuildLive(cmp.cfg, snapshot.Live{Registry: upstream.NewRegistry(), Starting: func(k upstream.Key) bool { return cmp.starting[k] }}, 1)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	return cmp, snap
}

// route returns the backend and its server addresses for host and path on
// the frontend listening on addr.
func route(t *testing.T, snap *snapshot.Snapshot, addr, host, path string) (string, []string) {
	t.Helper()
	fe := snap.Frontend(addr)
	if fe == nil {
		t.Fatalf("no frontend on %s (have %v)", addr, snap.Addrs())
	}
	b := fe.Route([]byte(host), []byte(path), nil)
	if b == nil {
		return "", nil
	}
	var addrs []string
	for _, ep := range b.Endpoints {
		addrs = append(addrs, ep.Addr)
	}
	return b.Name, addrs
}

func entry(t *testing.T) *entryPoint {
	e, err := parseEntry("127.0.0.1:8080")
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestCompileSeed000(t *testing.T) {
	e := entry(t)
	vpn := lbls("gantry.enable", "true", "gantry.http.port", "80", "gantry.http.hosts", "vpn.example.com")
	vpc := lbls("gantry.enable", "true", "gantry.http.rules", "vpc.example.com=8081")
	cmp, snap := built(t, nil, e,
		ctr(t, "vpn1", "172.17.0.2", vpn, discovery.LabelOptions{}),
		ctr(t, "vpn2", "172.17.0.3", vpn, discovery.LabelOptions{}),
		ctr(t, "vpc", "172.17.0.4", vpc, discovery.LabelOptions{}))
	name, addrs := route(t, snap, "127.0.0.1:8080", "vpn.example.com", "/")
	if !slices.Equal(addrs, []string{"172.17.0.2:80", "172.17.0.3:80"}) {
		t.Errorf("vpn: %s %v", name, addrs)
	}
	if _, addrs := route(t, snap, "127.0.0.1:8080", "VPC.example.com.", "/x"); !slices.Equal(addrs, []string{"172.17.0.4:8081"}) {
		t.Errorf("vpc: %v", addrs)
	}
	if b, _ := route(t, snap, "127.0.0.1:8080", "other.example.com", "/"); b != "" {
		t.Errorf("an unknown host goes to %s, want none (404)", b)
	}
	if len(cmp.routes) != 2 || cmp.routes[0].Source != client.SourceDocker || !cmp.routes[0].ReadOnly {
		t.Errorf("routes %+v", cmp.routes)
	}
	// The same key gives the same name: live state survives rebuilds.
	cmp2, _ := built(t, nil, e, ctr(t, "vpn1", "172.17.0.2", vpn, discovery.LabelOptions{}))
	if cmp2.routes[0].Name != name {
		t.Errorf("route renamed from %s to %s when a replica left", name, cmp2.routes[0].Name)
	}
	// Stored config stays free of discovered objects.
	stored := &config.Config{}
	built(t, stored, e, ctr(t, "vpn1", "172.17.0.2", vpn, discovery.LabelOptions{}))
	if len(stored.LBs) != 0 {
		t.Errorf("compile changed the stored config: %+v", stored)
	}
}

func TestCompileReadiness(t *testing.T) {
	e := entry(t)
	l := lbls("gantry.enable", "true", "gantry.http.hosts", "a.example.com")
	up := ctr(t, "up", "172.17.0.2", l, discovery.LabelOptions{})
	stopping := ctr(t, "stopping", "172.17.0.3", l, discovery.LabelOptions{})
	stopping.Stopping = true
	starting := ctr(t, "starting", "172.17.0.4", l, discovery.LabelOptions{})
	starting.Health = discovery.HealthStarting
	exited := ctr(t, "exited", "172.17.0.5", l, discovery.LabelOptions{})
	exited.State = discovery.StateExited
	_, snap := built(t, nil, e, up, stopping, starting, exited)
	if _, addrs := route(t, snap, "127.0.0.1:8080", "a.example.com", "/"); !slices.Equal(addrs, []string{"172.17.0.2:80"}) {
		t.Errorf("only the ready container is a server, got %v", addrs)
	}
	// With none ready, the route stays, with no server (503, not 404).
	b, _ := route(t, snap, "127.0.0.1:8080", "a.example.com", "/")
	_, snap2 := built(t, nil, e, stopping)
	if b2, addrs := route(t, snap2, "127.0.0.1:8080", "a.example.com", "/"); b2 != b || len(addrs) != 0 {
		t.Errorf("a host whose containers all stop: backend %q servers %v, want %q with none", b2, addrs, b)
	}
}

func TestCompileHealthGating(t *testing.T) {
	e := entry(t)
	c := ctr(t, "web", "172.17.0.2", lbls("gantry.enable", "true", "gantry.http.hosts", "a.example.com", "gantry.healthcheck.path", "/healthz"), discovery.LabelOptions{})
	_, snap := built(t, nil, e, c)
	fe := snap.Frontend("127.0.0.1:8080")
	b := fe.Route([]byte("a.example.com"), []byte("/"), nil)
	if len(b.Endpoints) != 1 || b.Endpoints[0].State() != upstream.StateStarting {
		t.Fatalf("a new checked container must start in StateStarting: %+v", b.Endpoints)
	}
	hts := snap.HealthTargets()
	if len(hts) != 1 || hts[0].Spec.URI != "/healthz" || hts[0].Spec.TransientInterval != labelCheckTransient.Duration() {
		t.Errorf("health targets %+v", hts)
	}
	// Without a check, a ready container is up at once.
	c2 := ctr(t, "web", "172.17.0.2", lbls("gantry.enable", "true", "gantry.http.hosts", "b.example.com"), discovery.LabelOptions{})
	_, snap = built(t, nil, e, c2)
	if b := snap.Frontend("127.0.0.1:8080").Route([]byte("b.example.com"), []byte("/"), nil); b.Endpoints[0].State() != upstream.StateUp {
		t.Errorf("an unchecked container: %v", b.Endpoints[0].State())
	}
}

func TestCompileRancher(t *testing.T) {
	opts := discovery.LabelOptions{StackDomain: "dev.test"}
	c := ctr(t, "web", "172.17.0.2", lbls("com.docker.compose.project", "test-webservice-r123", "map-public-http", "80",
		"aliases", "www", "proxy_protocol", "send-proxy"), opts)
	_, snap := built(t, nil, entry(t), c)
	for _, h := range []string{"test-webservice-r123.dev.test", "www.dev.test"} {
		name, addrs := route(t, snap, "127.0.0.1:8080", h, "/")
		if !slices.Equal(addrs, []string{"172.17.0.2:80"}) {
			t.Errorf("%s: %s %v", h, name, addrs)
		}
		for _, b := range snap.Backends() {
			if b.Name == name && b.Proxy != snapshot.ProxyV1 {
				t.Errorf("%s: PROXY %v, want v1 (send-proxy)", h, b.Proxy)
			}
		}
	}
}

func TestCompileAPIObjects(t *testing.T) {
	w := 1
	stored := &config.Config{LBs: []config.LB{{Name: "edge", IPs: []string{"127.0.0.1"},
		Backends: []config.Backend{
			{Name: "vpn", ForwardProtocol: config.ProtocolHTTP, ForwardPort: 1194, HealthCheck: &config.HealthCheck{}},
			{Name: "sel", ForwardProtocol: config.ProtocolHTTP, Docker: &config.DockerSelector{Labels: map[string]string{"app": "x"}, Port: 8080},
				Servers: []config.Server{{IP: "10.0.0.1", Port: 8080, Weight: &w}}},
			{Name: "svc", ForwardProtocol: config.ProtocolHTTP, ForwardPort: 81, Docker: &config.DockerSelector{Project: "prod", Service: "api"}},
		},
		Frontends: []config.Frontend{{Name: "web", InboundPort: 8081, Backend: "vpn"}, {Name: "alt", InboundPort: 8082, Backend: "sel"}},
	}}}
	e := entry(t)
	joiner := ctr(t, "joiner", "172.17.0.2", lbls("gantry.enable", "true", "gantry.lb", "edge", "gantry.backend", "vpn"), discovery.LabelOptions{})
	joiner.Ports = nil
	joiner.Intent, joiner.LabelErr = discovery.ParseIntent(joiner.Labels, nil, discovery.LabelOptions{})
	routed := ctr(t, "routed", "172.17.0.3", lbls("gantry.enable", "true", "gantry.lb", "edge", "gantry.http.rules", "r.example.com:8082=80"), discovery.LabelOptions{})
	selected := ctr(t, "selected", "172.17.0.4", lbls("app", "x"), discovery.LabelOptions{})
	selectedStopping := ctr(t, "selected2", "172.17.0.5", lbls("app", "x"), discovery.LabelOptions{})
	selectedStopping.Stopping = true
	svc := ctr(t, "svc", "172.17.0.6", lbls("com.docker.compose.project", "prod", "com.docker.compose.service", "api"), discovery.LabelOptions{})
	cmp, snap := built(t, stored, e, joiner, routed, selected, selectedStopping, svc)

	if _, addrs := route(t, snap, "127.0.0.1:8081", "any", "/"); !slices.Equal(addrs, []string{"172.17.0.2:1194"}) {
		t.Errorf("joiner (gantry.backend, at the forward_port): %v", addrs)
	}
	for _, b := range snap.Backends() {
		if b.Name == "vpn" && b.Endpoints[0].State() != upstream.StateStarting {
			t.Errorf("a container joining a checked backend starts %v, want starting", b.Endpoints[0].State())
		}
	}
	if _, addrs := route(t, snap, "127.0.0.1:8082", "r.example.com", "/"); !slices.Equal(addrs, []string{"172.17.0.3:80"}) {
		t.Errorf("a rule on source port 8082 attaches to frontend alt: %v", addrs)
	}
	if _, addrs := route(t, snap, "127.0.0.1:8082", "other", "/"); !slices.Equal(addrs, []string{"10.0.0.1:8080", "172.17.0.4:8080"}) {
		t.Errorf("selector backend: static server and the ready selected container: %v", addrs)
	}
	if rs := cmp.resolved["edge/svc"]; len(rs) != 1 || rs[0].addr != "172.17.0.6:81" {
		t.Errorf("project/service selector at forward_port: %+v", rs)
	}
	v := cmp.verdicts[selectedStopping.ID]
	if v.selectorErr == nil || !strings.Contains(v.selectorErr.Error(), "stopping") {
		t.Errorf("a stopping selected container: %v", v.selectorErr)
	}
	// The stored config is untouched.
	if n := len(stored.LBs[0].Backends[0].Servers); n != 0 {
		t.Errorf("the stored backend got %d servers", n)
	}
}

func TestCompileRejections(t *testing.T) {
	stored := &config.Config{LBs: []config.LB{{Name: "edge",
		Backends:  []config.Backend{{Name: "tcp", ForwardPort: 22}},
		Frontends: []config.Frontend{{Name: "ssh", InboundPort: 2222, Backend: "tcp"}}}}}
	e := entry(t)
	mk := func(name string, kv ...string) discovery.Container {
		return ctr(t, name, "172.17.0.9", lbls(append([]string{"gantry.enable", "true"}, kv...)...), discovery.LabelOptions{})
	}
	tests := []struct {
		c    discovery.Container
		want string
	}{
		{mk("nolb", "gantry.lb", "nope"), `no load balancer named "nope"`},
		{mk("nobackend", "gantry.backend", "nope"), `no backend named "nope" in load balancer "docker"`},
		{mk("nofrontend", "gantry.lb", "edge", "gantry.frontend", "nope"), `no frontend named "nope"`},
		{mk("tcpfrontend", "gantry.lb", "edge", "gantry.frontend", "ssh"), `speaks tcp`},
		{mk("noport", "gantry.http.rules", "a.example.com:9999=80"), `no http frontend of load balancer "docker" listens on port 9999`},
		{mk("tcpbackend", "gantry.lb", "edge", "gantry.backend", "tcp", "gantry.http.hosts", "a.example.com", "gantry.http.port", "22"), `forwards tcp`},
	}
	var cs []discovery.Container
	for _, tt := range tests {
		cs = append(cs, tt.c)
	}
	cmp, _ := built(t, stored, e, cs...)
	for _, tt := range tests {
		v := cmp.verdicts[tt.c.ID]
		if v.rejected == nil || !strings.Contains(v.rejected.Error(), tt.want) {
			t.Errorf("%s: rejected %v, want %q", tt.c.Name, v.rejected, tt.want)
		}
	}

	// Without an entry point, a container with no gantry.lb says so.
	cmp, _ = built(t, nil, nil, mk("noentry"))
	if v := cmp.verdicts[mk("noentry").ID]; v.rejected == nil || !strings.Contains(v.rejected.Error(), "--http") {
		t.Errorf("no entry point: %v", v.rejected)
	}
}

func TestCompileConflicts(t *testing.T) {
	e := entry(t)
	plain := ctr(t, "a", "172.17.0.2", lbls("gantry.enable", "true", "gantry.http.hosts", "x.example.com"), discovery.LabelOptions{})
	proxied := ctr(t, "b", "172.17.0.3", lbls("gantry.enable", "true", "gantry.http.hosts", "x.example.com,y.example.com", "gantry.proxy_protocol", "v2"), discovery.LabelOptions{})
	cmp, snap := built(t, nil, e, plain, proxied)
	va, vb := cmp.verdicts[plain.ID], cmp.verdicts[proxied.ID]
	if (va.rejected == nil) == (vb.rejected == nil) {
		t.Fatalf("one of two containers asking for x.example.com with other settings is rejected: %v / %v", va.rejected, vb.rejected)
	}
	loser := vb
	if va.rejected != nil {
		loser = va
	}
	if !strings.Contains(loser.rejected.Error(), "also asked for") {
		t.Errorf("reason: %v", loser.rejected)
	}
	if _, addrs := route(t, snap, "127.0.0.1:8080", "x.example.com", "/"); len(addrs) != 1 {
		t.Errorf("x.example.com: %v", addrs)
	}
	// The loser is rejected whole: y.example.com is not routed either
	// when b lost.
	if loser == vb {
		if b, _ := route(t, snap, "127.0.0.1:8080", "y.example.com", "/"); b != "" {
			t.Errorf("y.example.com routed to %s for a rejected container", b)
		}
	}

	// An API route with the same host and path shadows a discovered one.
	stored := &config.Config{LBs: []config.LB{{Name: "edge", Backends: []config.Backend{{Name: "api", ForwardProtocol: config.ProtocolHTTP}},
		Frontends: []config.Frontend{{Name: "web", InboundPort: 9000, Routes: config.RoutesOf([]config.Route{{Name: "x", HostHeader: "x.example.com", Backend: "api"}}...)}}}}}
	c := ctr(t, "c", "172.17.0.4", lbls("gantry.enable", "true", "gantry.lb", "edge", "gantry.http.hosts", "x.example.com"), discovery.LabelOptions{})
	cmp, _ = built(t, stored, e, c)
	if v := cmp.verdicts[c.ID]; v.rejected == nil || !strings.Contains(v.rejected.Error(), "shadowed") {
		t.Errorf("shadowed: %v", v.rejected)
	}
}

func TestCompileEntryPoint(t *testing.T) {
	e := entry(t)
	// No containers: the entry point listens and answers 404.
	_, snap := built(t, nil, e)
	if b, _ := route(t, snap, "127.0.0.1:8080", "a.example.com", "/"); b != "" {
		t.Errorf("an empty entry point routes to %s", b)
	}
	// A stored LB of the same name: the entry point is not added.
	stored := &config.Config{LBs: []config.LB{{Name: EntryLB, Backends: []config.Backend{{Name: "b", ForwardProtocol: config.ProtocolHTTP}},
		Frontends: []config.Frontend{{Name: "f", InboundPort: 9000, Backend: "b"}}}}}
	cmp, _ := built(t, stored, e)
	if cmp.entryErr == nil {
		t.Error("no error for an LB named like the entry point")
	}
	// IP objects: the entry point's address gets one in the private copy.
	stored = &config.Config{IPs: []config.IP{{Address: "10.0.0.1"}}, LBs: []config.LB{{Name: "x", IPs: []string{"10.0.0.1"},
		Backends: []config.Backend{{Name: "b", ForwardProtocol: config.ProtocolHTTP}}, Frontends: []config.Frontend{{Name: "f", InboundPort: 9000, Backend: "b"}}}}}
	built(t, stored, e)
	if len(stored.IPs) != 1 {
		t.Error("the stored IPs changed")
	}
	for _, bad := range []string{"localhost:80", ":0", "80", "1.2.3.4:99999"} {
		if _, err := parseEntry(bad); err == nil {
			t.Errorf("--http %q accepted", bad)
		}
	}
}

func TestGroupName(t *testing.T) {
	k := groupKey{lb: "docker", fe: "http", host: "*.Example.com", path: "/api/v1"}
	n := groupName(k)
	if err := config.ValidName(n); err != nil || !strings.HasPrefix(n, "docker-wildcard.example.com.api.v1-") {
		t.Errorf("name %q: %v", n, err)
	}
	long := groupKey{host: strings.Repeat("a", 63) + "." + strings.Repeat("b", 63) + ".example.com", path: "/" + strings.Repeat("p", 200)}
	if n := groupName(long); config.ValidName(n) != nil {
		t.Errorf("long name %q is not a valid name", n)
	}
	if groupName(k) == groupName(groupKey{lb: "docker", fe: "http", host: "*.Example.com", path: "/api/v1", proxy: config.ProxyV1}) {
		t.Error("different settings, same name")
	}
}

// TestBuildFallback: when discovered objects do not fit the stored config
// (here the entry point's port, which an API frontend binds), the stored
// config is still served, and the status says why discovery is not.
func TestBuildFallback(t *testing.T) {
	e := entry(t)
	ds := &discoveryState{log: slog.New(slog.DiscardHandler), entry: e, set: &discovery.Set{Connected: true, Containers: []discovery.Container{
		ctr(t, "web", "172.17.0.2", lbls("gantry.enable", "true", "gantry.http.hosts", "a.example.com"), discovery.LabelOptions{})}}}
	stored := &config.Config{LBs: []config.LB{{Name: "edge", IPs: []string{"127.0.0.1"},
		Backends:  []config.Backend{{Name: "b", ForwardProtocol: config.ProtocolHTTP, Servers: []config.Server{{IP: "10.0.0.1", Port: 80}}}},
		Frontends: []config.Frontend{{Name: "f", InboundPort: 8080, Backend: "b"}}}}}
	snap, err := ds.build(stored, snapshot.Live{Registry: upstream.NewRegistry()}, 3)
	if err != nil {
		t.Fatalf("the stored config must still build: %v", err)
	}
	if fe := snap.Frontend("127.0.0.1:8080"); fe == nil || fe.LB != "edge" {
		t.Fatalf("the stored frontend is not served: %v", snap.Addrs())
	}
	if ds.applyErr == nil || !strings.Contains(ds.applyErr.Error(), "entry point") || ds.cur.entryErr == nil {
		t.Errorf("apply error %v, entry error %v", ds.applyErr, ds.cur.entryErr)
	}
	if v := ds.cur.verdicts["web-id-0123456789"]; v != nil {
		t.Errorf("the fallback shows a verdict: %+v", v)
	}
	// Without the conflict, everything is served again.
	stored.LBs[0].Frontends[0].InboundPort = 9090
	if _, err := ds.build(stored, snapshot.Live{Registry: upstream.NewRegistry()}, 4); err != nil || ds.applyErr != nil {
		t.Errorf("build %v, apply error %v", err, ds.applyErr)
	}
}
