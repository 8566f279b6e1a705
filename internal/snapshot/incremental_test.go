package snapshot

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/gantry-lb/gantry/internal/config"
	"github.com/gantry-lb/gantry/internal/upstream"
)

// describe renders what a snapshot serves: listeners, frontends and where
// sample requests go, backends and their endpoints, health checks and the
// live-state keys.
func describe(s *Snapshot, hosts []string) string {
	var b strings.Builder
	for _, addr := range s.Addrs() {
		f := s.frontends[addr]
		def := "-"
		if f.Default != nil {
			def = f.Default.Name
		}
		fmt.Fprintf(&b, "%s %s/%s %s default=%s timeout=%v xff=%v routes=%v\n", addr, f.LB, f.Name, f.Protocol, def, f.TimeoutClient, f.XForwardedFor, f.HasRoutes())
		for _, h := range hosts {
			for _, path := range []string{"/", "/x/1"} {
				name := "-"
				if be := f.Route([]byte(h), []byte(path), nil); be != nil {
					name = be.LB + "/" + be.Name
				}
				fmt.Fprintf(&b, "  %s%s -> %s\n", h, path, name)
			}
		}
	}
	for _, be := range s.backends {
		fmt.Fprintf(&b, "backend %s/%s %s", be.LB, be.Name, be.Protocol)
		for _, e := range be.Endpoints {
			fmt.Fprintf(&b, " %s", e.Key)
		}
		b.WriteString("\n")
	}
	for _, t := range s.health {
		fmt.Fprintf(&b, "check %s %s\n", t.Endpoint.Key, t.Spec.Addr)
	}
	var keys []string
	for k := range s.keys {
		keys = append(keys, k.String())
	}
	for k := range s.feKeys {
		keys = append(keys, "fe "+k)
	}
	for k := range s.sticky {
		keys = append(keys, "sticky "+k)
	}
	sort.Strings(keys)
	b.WriteString(strings.Join(keys, "\n"))
	return b.String()
}

// incCfg is two LBs; "web" has frontend "main" with n routes.
func incCfg(n int) *config.Config {
	routes := make([]config.Route, n)
	for i := range routes {
		routes[i] = config.Route{Name: fmt.Sprint("r", i), Backend: []string{"a", "b"}[i%2], HostHeader: fmt.Sprintf("h%d.example.com", i)}
		if i%5 == 0 {
			routes[i].PathBegin = "/x"
		}
	}
	return &config.Config{LBs: []config.LB{
		{Name: "web", IPs: []string{"127.0.0.1", "::1"},
			Backends: []config.Backend{
				{Name: "a", ForwardProtocol: config.ProtocolHTTP, Servers: []config.Server{{IP: "10.0.0.1", Port: 80}}, HealthCheck: &config.HealthCheck{}},
				{Name: "b", ForwardProtocol: config.ProtocolHTTP, Servers: []config.Server{{IP: "10.0.0.2", Port: 80}, {IP: "10.0.0.3", Port: 80}}},
			},
			Frontends: []config.Frontend{
				{Name: "main", InboundPort: 8080, Backend: "a", Routes: config.RoutesOf(routes...)},
				{Name: "side", InboundPort: 8081, Routes: config.RoutesOf(config.Route{Backend: "b", HostHeader: "side.example.com"})},
			}},
		{Name: "tcp", Backends: []config.Backend{{Name: "t", Servers: []config.Server{{IP: "10.0.1.1", Port: 443}}}},
			Frontends: []config.Frontend{{Name: "sni", InboundPort: 8443, Routes: config.RoutesOf(config.Route{Backend: "t", SNI: "x.example.com"})}}},
	}}
}

var incHosts = []string{"h0.example.com", "h1.example.com", "h2.example.com", "h7.example.com", "h10.example.com", "new.example.com", "side.example.com", "x.example.com", "other"}

// TestUpdateIsBuild changes a config in every way, and checks that the
// snapshot Update makes from the previous one serves what Build makes from
// scratch, and that Check agrees with Build.
func TestUpdateIsBuild(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	live := Live{Registry: upstream.NewRegistry()}
	cur := incCfg(20)
	comp, err := BuildCompiled(cur, live)
	if err != nil {
		t.Fatal(err)
	}
	main := func(c *config.Config) *config.Frontend { return &c.LBs[0].Frontends[0] }
	type change struct {
		name string
		fn   func(c *config.Config) *config.Delta
	}
	routesOf := func(c *config.Config, sp config.RouteSpan) *config.Delta {
		return &config.Delta{LBs: map[string]*config.LBDelta{"web": {Frontends: map[string]*config.FrontendDelta{"main": {Routes: &sp}}}}}
	}
	changes := []change{
		{"replace a route", func(c *config.Config) *config.Delta {
			f := main(c)
			if f.Routes.Len() == 0 {
				return &config.Delta{}
			}
			i := r.IntN(f.Routes.Len())
			f.Routes = f.Routes.Edit(i, func(rt *config.Route) {
				rt.HostHeader = "new.example.com"
				rt.Backend = "b"
			})
			return routesOf(c, config.RouteSpan{From: i, OldTo: i + 1, NewTo: i + 1})
		}},
		{"insert routes", func(c *config.Config) *config.Delta {
			f := main(c)
			i := r.IntN(f.Routes.Len() + 1)
			f.Routes = f.Routes.Insert(i, config.Route{Backend: "a", HostHeader: fmt.Sprintf("h%d.example.com", r.IntN(30))}, config.Route{Backend: "b", PathBegin: "/x"})
			return routesOf(c, config.RouteSpan{From: i, OldTo: i, NewTo: i + 2})
		}},
		{"delete routes", func(c *config.Config) *config.Delta {
			f := main(c)
			if f.Routes.Len() < 2 {
				return &config.Delta{}
			}
			i := r.IntN(f.Routes.Len() - 1)
			f.Routes = f.Routes.Delete(i, i+2)
			return routesOf(c, config.RouteSpan{From: i, OldTo: i + 2, NewTo: i})
		}},
		{"frontend field", func(c *config.Config) *config.Delta {
			main(c).TimeoutClient = config.Millis(1000 + r.IntN(100))
			return &config.Delta{LBs: map[string]*config.LBDelta{"web": {Frontends: map[string]*config.FrontendDelta{"main": {Fields: true}}}}}
		}},
		{"backend", func(c *config.Config) *config.Delta {
			c.LBs[0].Backends = slices.Clone(c.LBs[0].Backends)
			c.LBs[0].Backends[1].Servers = []config.Server{{IP: "10.0.0.9", Port: 80 + r.IntN(3)}}
			return &config.Delta{LBs: map[string]*config.LBDelta{"web": {Backends: map[string]bool{"b": true}}}}
		}},
		{"LB addresses", func(c *config.Config) *config.Delta {
			c.LBs[0].IPs = [][]string{{"127.0.0.1"}, {"127.0.0.1", "::1"}, nil}[r.IntN(3)]
			return &config.Delta{LBs: map[string]*config.LBDelta{"web": {Fields: true}}}
		}},
		{"new frontend", func(c *config.Config) *config.Delta {
			lb := &c.LBs[1]
			if len(lb.Frontends) > 1 {
				lb.Frontends = lb.Frontends[:1]
			} else {
				lb.Frontends = append(slices.Clip(lb.Frontends), config.Frontend{Name: "more", InboundPort: 9443, Backend: "t"})
			}
			return &config.Delta{LBs: map[string]*config.LBDelta{"tcp": {Frontends: map[string]*config.FrontendDelta{"more": {Fields: true}}}}}
		}},
		{"drop and add an LB", func(c *config.Config) *config.Delta {
			if len(c.LBs) == 3 {
				c.LBs = c.LBs[:2]
			} else {
				c.LBs = append(slices.Clip(c.LBs), config.LB{Name: "extra", Backends: []config.Backend{{Name: "e", ForwardProtocol: config.ProtocolHTTP, Servers: []config.Server{{IP: "10.0.2.1", Port: 80}}}},
					Frontends: []config.Frontend{{Name: "f", InboundPort: 7000, Backend: "e"}}})
			}
			return &config.Delta{LBs: map[string]*config.LBDelta{"extra": {Fields: true}}}
		}},
		{"nothing", func(c *config.Config) *config.Delta { return &config.Delta{} }},
	}
	for step := range 400 {
		ch := changes[r.IntN(len(changes))]
		next := *cur
		next.LBs = slices.Clone(cur.LBs)
		for i := range next.LBs {
			next.LBs[i].Frontends = slices.Clone(next.LBs[i].Frontends)
		}
		d := ch.fn(&next)
		what := fmt.Sprintf("step %d (%s)", step, ch.name)
		if err := Check(&next, d); err != nil {
			t.Fatalf("%s: Check: %v", what, err)
		}
		up, err := comp.Update(&next, d, live)
		if err != nil {
			t.Fatalf("%s: Update: %v", what, err)
		}
		full, err := BuildLive(&next, live, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := describe(up.Snapshot(1), incHosts), describe(full, incHosts); got != want {
			t.Fatalf("%s: Update serves\n%s\nBuild serves\n%s", what, got, want)
		}
		cur, comp = &next, up
	}
}

// TestCheckFindsWhatChanged: Check of an invalid change fails with the
// error Build gives, though it looks only at what changed.
func TestCheckFindsWhatChanged(t *testing.T) {
	base := incCfg(50)
	if err := Check(base, nil); err != nil {
		t.Fatal(err)
	}
	next := *base
	next.LBs = slices.Clone(base.LBs)
	next.LBs[0].Frontends = slices.Clone(base.LBs[0].Frontends)
	f := &next.LBs[0].Frontends[0]
	f.Routes = f.Routes.Edit(30, func(r *config.Route) { r.HostHeader = "bad host" })
	d := &config.Delta{LBs: map[string]*config.LBDelta{"web": {Frontends: map[string]*config.FrontendDelta{"main": {Routes: &config.RouteSpan{From: 30, OldTo: 31, NewTo: 31}}}}}}
	err := Check(&next, d)
	_, want := Build(&next, upstream.NewRegistry(), 0)
	if err == nil || want == nil || err.Error() != want.Error() || !strings.Contains(err.Error(), "routes[30].host_header") {
		t.Fatalf("Check: %v\nBuild: %v", err, want)
	}
	f.Routes = f.Routes.Edit(30, func(r *config.Route) {
		r.HostHeader = "fine.example.com"
		r.Backend = "missing"
	})
	if err := Check(&next, d); err == nil || !strings.Contains(err.Error(), `routes[30].backend: no backend named "missing"`) {
		t.Fatalf("Check of a route to a missing backend: %v", err)
	}
	// A backend deleted while routes still name it: every route is checked.
	next.LBs[0].Frontends[0].Routes = base.LBs[0].Frontends[0].Routes
	next.LBs[0].Backends = next.LBs[0].Backends[:1]
	if err := Check(&next, &config.Delta{LBs: map[string]*config.LBDelta{"web": {Backends: map[string]bool{"b": true}}}}); err == nil || !strings.Contains(err.Error(), "routes[1].backend") {
		t.Fatalf("Check after deleting a backend routes name: %v", err)
	}
}

// BenchmarkUpdateRoute measures Check and Update of one route changed among
// 1,000 and 100,000: the cost should barely grow.
func BenchmarkUpdateRoute(b *testing.B) {
	for _, n := range []int{1000, 100000} {
		b.Run(fmt.Sprint("routes=", n), func(b *testing.B) {
			live := Live{Registry: upstream.NewRegistry()}
			base := incCfg(n)
			comp, err := BuildCompiled(base, live)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				next := *base
				next.LBs = slices.Clone(base.LBs)
				next.LBs[0].Frontends = slices.Clone(base.LBs[0].Frontends)
				f := &next.LBs[0].Frontends[0]
				at := i * 7919 % n
				rs := make([]config.Route, 1) // the span alone: the rest of the list is not read
				rs[0] = config.Route{Name: "changed", Backend: "a", HostHeader: fmt.Sprintf("c%d.example.com", i)}
				f.Routes = f.Routes.Splice(at, at+1, rs...)
				d := &config.Delta{LBs: map[string]*config.LBDelta{"web": {Frontends: map[string]*config.FrontendDelta{"main": {Routes: &config.RouteSpan{From: at, OldTo: at + 1, NewTo: at + 1}}}}}}
				b.StartTimer()
				if err := Check(&next, d); err != nil {
					b.Fatal(err)
				}
				if _, err := comp.Update(&next, d, live); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
