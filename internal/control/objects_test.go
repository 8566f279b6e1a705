package control

import (
	"errors"
	"slices"
	"testing"

	"github.com/gantry-lb/gantry/internal/config"
)

// routeCfg is an LB "web" with frontend "main" whose routes are named
// names ("" for an unnamed route), each to backend "b".
func routeCfg(names ...string) *config.Config {
	f := config.Frontend{Name: "main", InboundPort: 80, Backend: "b"}
	for _, n := range names {
		f.Routes = f.Routes.Append(config.Route{Name: n, Backend: "b"})
	}
	return &config.Config{LBs: []config.LB{{Name: "web", Frontends: []config.Frontend{f},
		Backends: []config.Backend{{Name: "b", HealthCheck: &config.HealthCheck{TCPConfig: &config.TCPCheck{}}}}}}}
}

func routeNames(cfg *config.Config) []string {
	var out []string
	for _, r := range cfg.LBs[0].Frontends[0].Routes.All() {
		out = append(out, r.Name)
	}
	return out
}

func TestPutRoute(t *testing.T) {
	tests := []struct {
		name      string
		have      []string
		put       string
		index     int
		want      []string
		wantCur   bool
		wantAtCur int
	}{
		{name: "new appends", have: []string{"a", "b"}, put: "c", index: -1, want: []string{"a", "b", "c"}, wantAtCur: -1},
		{name: "new at index", have: []string{"a", "b"}, put: "c", index: 0, want: []string{"c", "a", "b"}, wantAtCur: -1},
		{name: "new past the end is clamped", have: []string{"a"}, put: "c", index: 9, want: []string{"a", "c"}, wantAtCur: -1},
		{name: "into an empty list", put: "a", index: 3, want: []string{"a"}, wantAtCur: -1},
		{name: "replace keeps its place", have: []string{"a", "b", "c"}, put: "b", index: -1, want: []string{"a", "b", "c"}, wantCur: true, wantAtCur: 1},
		{name: "move to the front", have: []string{"a", "b", "c"}, put: "c", index: 0, want: []string{"c", "a", "b"}, wantCur: true, wantAtCur: 2},
		{name: "move to the end", have: []string{"a", "b", "c"}, put: "a", index: 2, want: []string{"b", "c", "a"}, wantCur: true, wantAtCur: 0},
		{name: "move past the end is clamped", have: []string{"a", "b", "c"}, put: "a", index: 7, want: []string{"b", "c", "a"}, wantCur: true, wantAtCur: 0},
		{name: "same index", have: []string{"a", "b"}, put: "b", index: 1, want: []string{"a", "b"}, wantCur: true, wantAtCur: 1},
		{name: "unnamed routes count for the index", have: []string{"", "a"}, put: "b", index: 1, want: []string{"", "b", "a"}, wantAtCur: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := routeCfg(tt.have...)
			before := cfg.LBs[0].Frontends[0].Routes
			var gotCur bool
			gotAt := -2
			err := PutRoute("web", "main", tt.put, func(cur *config.Route, at int) (config.Route, int, error) {
				gotCur, gotAt = cur != nil, at
				return config.Route{Name: "ignored", Backend: "new", HostHeader: "x.example.com"}, tt.index, nil
			})(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if got := routeNames(cfg); !slices.Equal(got, tt.want) {
				t.Errorf("routes %q, want %q", got, tt.want)
			}
			if gotCur != tt.wantCur || gotAt != tt.wantAtCur {
				t.Errorf("edit got cur %v at %d, want %v at %d", gotCur, gotAt, tt.wantCur, tt.wantAtCur)
			}
			for _, r := range cfg.LBs[0].Frontends[0].Routes.All() {
				if r.Name == tt.put && (r.Backend != "new" || r.HostHeader != "x.example.com") {
					t.Errorf("route %q is %+v, not the edited one", tt.put, r)
				}
			}
			for i, r := range before.All() {
				if r.Name != tt.have[i] || r.Backend != "b" {
					t.Errorf("the old slice changed at %d: %+v", i, r)
				}
			}
		})
	}
}

func TestRouteErrors(t *testing.T) {
	editErr := errors.New("bad body")
	ok := func(*config.Route, int) (config.Route, int, error) { return config.Route{Backend: "b"}, -1, nil }
	tests := []struct {
		name   string
		mutate func(*config.Config) error
		want   error
	}{
		{"put: no lb", PutRoute("nope", "main", "a", ok), ErrNotFound},
		{"put: no frontend", PutRoute("web", "nope", "a", ok), ErrNotFound},
		{"put: edit fails", PutRoute("web", "main", "a", func(*config.Route, int) (config.Route, int, error) {
			return config.Route{}, 0, editErr
		}), editErr},
		{"delete: no lb", DeleteRoute("nope", "main", "a"), ErrNotFound},
		{"delete: no frontend", DeleteRoute("web", "nope", "a"), ErrNotFound},
		{"delete: no route", DeleteRoute("web", "main", "zz"), ErrNotFound},
		{"delete: the empty name addresses no unnamed route", DeleteRoute("web", "main", ""), ErrNotFound},
		{"health: no backend", PutHealthCheck("web", "nope", func(*config.HealthCheck) (*config.HealthCheck, error) { return nil, nil }), ErrNotFound},
		{"health: edit fails", PutHealthCheck("web", "b", func(*config.HealthCheck) (*config.HealthCheck, error) { return nil, editErr }), editErr},
		{"delete health: no backend", DeleteHealthCheck("web", "nope"), ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := routeCfg("", "a")
			if err := tt.mutate(cfg); !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
			if got := routeNames(cfg); !slices.Equal(got, []string{"", "a"}) {
				t.Errorf("a failed change left routes %q", got)
			}
		})
	}
}

func TestDeleteRoute(t *testing.T) {
	cfg := routeCfg("a", "", "b")
	if err := DeleteRoute("web", "main", "a")(cfg); err != nil {
		t.Fatal(err)
	}
	if got := routeNames(cfg); !slices.Equal(got, []string{"", "b"}) {
		t.Fatalf("routes %q", got)
	}
}

func TestHealthCheckBuilders(t *testing.T) {
	cfg := routeCfg()
	var seen *config.HealthCheck
	err := PutHealthCheck("web", "b", func(cur *config.HealthCheck) (*config.HealthCheck, error) {
		seen = cur
		return &config.HealthCheck{HTTPConfig: &config.HTTPCheck{URI: "/h"}}, nil
	})(cfg)
	if err != nil || seen == nil || seen.TCPConfig == nil {
		t.Fatalf("err %v, edit saw %+v", err, seen)
	}
	if hc := cfg.LBs[0].Backends[0].HealthCheck; hc == nil || hc.HTTPConfig == nil || hc.HTTPConfig.URI != "/h" {
		t.Fatalf("health check %+v", hc)
	}
	if err := DeleteHealthCheck("web", "b")(cfg); err != nil {
		t.Fatal(err)
	}
	if hc := cfg.LBs[0].Backends[0].HealthCheck; hc != nil {
		t.Fatalf("health check %+v after delete", hc)
	}
	if err := DeleteHealthCheck("web", "b")(cfg); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v, want ErrNotFound", err)
	}
}
