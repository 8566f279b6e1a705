package snapshot

import (
	"strings"
	"testing"

	"github.com/gantry-lb/gantry/internal/config"
	"github.com/gantry-lb/gantry/internal/health"
	"github.com/gantry-lb/gantry/internal/upstream"
)

func cfg() *config.Config {
	code := 204
	return &config.Config{LBs: []config.LB{{
		Name: "main", IPs: []string{"127.0.0.1", "::1"},
		Backends: []config.Backend{
			{Name: "api", ForwardProtocol: config.ProtocolHTTP, ForwardPort: 9000,
				Servers:     []config.Server{{IP: "10.0.0.1"}, {IP: "10.0.0.2", Port: 9001}},
				HealthCheck: &config.HealthCheck{Port: 8081, HTTPConfig: &config.HTTPCheck{URI: "/ok", Code: &code}}},
			{Name: "site", ForwardProtocol: config.ProtocolHTTP, Servers: []config.Server{{IP: "10.0.0.3", Port: 80}}},
		},
		Frontends: []config.Frontend{{Name: "web", InboundPort: 8080, Backend: "site", TimeoutClient: 1500,
			Routes: config.RoutesOf(config.Route{Backend: "api", HostHeader: "api.example.com"})}},
	}}}
}

func TestBuild(t *testing.T) {
	reg := upstream.NewRegistry()
	s, err := Build(cfg(), reg, 7)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(s.Addrs(), " "); got != "127.0.0.1:8080 [::1]:8080" {
		t.Fatalf("addrs %q: one listener per LB IP", got)
	}
	fe := s.Frontend("[::1]:8080")
	if fe == nil || fe.Name != "web" || fe.TimeoutClient.Milliseconds() != 1500 || !fe.XForwardedFor || s.Revision != 7 {
		t.Fatalf("frontend %+v", fe)
	}
	if b := fe.Route([]byte("API.example.com:8080"), []byte("/"), nil); b == nil || b.Name != "api" {
		t.Fatalf("route by host: %v", b)
	}
	if b := fe.Route([]byte("other"), []byte("/"), nil); b == nil || b.Name != "site" {
		t.Fatalf("default backend: %v", b)
	}
	api := s.Backends()[0]
	if len(api.Endpoints) != 2 || api.Endpoints[0].Addr != "10.0.0.1:9000" || api.Endpoints[1].Addr != "10.0.0.2:9001" {
		t.Fatalf("endpoints %v %v", api.Endpoints[0].Addr, api.Endpoints[1].Addr)
	}
	if api.Group.Pick() == nil {
		t.Fatal("picker over up endpoints returned nil")
	}
	ht := s.HealthTargets()
	if len(ht) != 2 || ht[0].Spec.Kind != health.HTTP || ht[0].Spec.Addr != "10.0.0.1:8081" || ht[0].Spec.URI != "/ok" || ht[0].Spec.ExpectCode != 204 || ht[0].Spec.Fall != 3 {
		t.Fatalf("health targets %+v", ht)
	}
	if len(s.EndpointKeys()) != 3 {
		t.Fatalf("keys %v", s.EndpointKeys())
	}
}

func TestLiveStateSurvivesRebuild(t *testing.T) {
	reg := upstream.NewRegistry()
	s1, err := Build(cfg(), reg, 1)
	if err != nil {
		t.Fatal(err)
	}
	ep := s1.Backends()[0].Endpoints[0]
	ep.Begin()
	ep.SetState(upstream.StateDown, "test")
	c := cfg()
	c.LBs[0].Backends[0].ForwardPortAlgorithm = config.AlgoLeastConn
	s2, err := Build(c, reg, 2)
	if err != nil {
		t.Fatal(err)
	}
	if got := s2.Backends()[0].Endpoints[0]; got != ep || got.Inflight() != 1 || got.State() != upstream.StateDown {
		t.Fatal("a rebuilt snapshot did not keep the endpoint's live state")
	}
}

func TestBuildRejectsInvalid(t *testing.T) {
	c := cfg()
	c.LBs[0].Frontends[0].Routes = c.LBs[0].Frontends[0].Routes.Edit(0, func(r *config.Route) { r.HostHeader = "*." })
	if _, err := Build(c, upstream.NewRegistry(), 1); err == nil || !strings.Contains(err.Error(), "host_header") {
		t.Fatalf("Build = %v", err)
	}
}

func TestHolder(t *testing.T) {
	var h Holder
	if h.Load() != nil {
		t.Fatal("empty holder")
	}
	s, err := Build(cfg(), upstream.NewRegistry(), 1)
	if err != nil {
		t.Fatal(err)
	}
	h.Store(s)
	if h.Load() != s {
		t.Fatal("Load after Store")
	}
}
