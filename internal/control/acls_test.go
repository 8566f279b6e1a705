package control

import (
	"errors"
	"slices"
	"testing"

	"github.com/gantry-lb/gantry/internal/config"
)

// aclCfg is routeCfg's LB with frontend "main" holding ACLs named names
// ("" for an unnamed one), each a deny with index i.
func aclCfg(names ...string) *config.Config {
	cfg := routeCfg()
	f := &cfg.LBs[0].Frontends[0]
	for i, n := range names {
		f.ACLs = append(f.ACLs, config.ACL{Name: n, Index: i, Action: config.ACLAction{Type: config.ActionDeny}})
	}
	return cfg
}

func aclNames(cfg *config.Config) []string {
	var out []string
	for _, a := range cfg.LBs[0].Frontends[0].ACLs {
		out = append(out, a.Name)
	}
	return out
}

func TestPutACL(t *testing.T) {
	tests := []struct {
		name    string
		have    []string
		put     string
		want    []string
		wantCur bool
	}{
		{name: "into an empty list", put: "a", want: []string{"a"}},
		{name: "new appends", have: []string{"a", "b"}, put: "c", want: []string{"a", "b", "c"}},
		{name: "replace keeps its place", have: []string{"a", "b", "c"}, put: "b", want: []string{"a", "b", "c"}, wantCur: true},
		{name: "unnamed ACLs are not replaced", have: []string{"", "a"}, put: "b", want: []string{"", "a", "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := aclCfg(tt.have...)
			before := cfg.LBs[0].Frontends[0].ACLs
			var seen *config.ACL
			err := PutACL("web", "main", tt.put, func(cur *config.ACL) (config.ACL, error) {
				seen = cur
				return config.ACL{Name: "ignored", Index: 7, Action: config.ACLAction{Type: config.ActionAllow}}, nil
			})(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if got := aclNames(cfg); !slices.Equal(got, tt.want) {
				t.Errorf("ACLs %q, want %q", got, tt.want)
			}
			if (seen != nil) != tt.wantCur || (seen != nil && seen.Name != tt.put) {
				t.Errorf("edit saw %+v, want the current one: %v", seen, tt.wantCur)
			}
			a, err := FindACL(cfg, "web", "main", tt.put)
			if err != nil || a.Index != 7 || a.Action.Type != config.ActionAllow {
				t.Errorf("stored %+v, %v; want the edited ACL under its path name", a, err)
			}
			for i, a := range before {
				if a.Name != tt.have[i] || a.Action.Type != config.ActionDeny {
					t.Errorf("the old slice changed at %d: %+v", i, a)
				}
			}
		})
	}
}

func TestDeleteACL(t *testing.T) {
	cfg := aclCfg("a", "", "b")
	before := cfg.LBs[0].Frontends[0].ACLs
	if err := DeleteACL("web", "main", "a")(cfg); err != nil {
		t.Fatal(err)
	}
	if got := aclNames(cfg); !slices.Equal(got, []string{"", "b"}) {
		t.Fatalf("ACLs %q", got)
	}
	if before[0].Name != "a" {
		t.Errorf("the old slice changed: %+v", before)
	}
	cfg = aclCfg("only")
	if err := DeleteACL("web", "main", "only")(cfg); err != nil || cfg.LBs[0].Frontends[0].ACLs != nil {
		t.Fatalf("deleting the last ACL: %v, left %#v", err, cfg.LBs[0].Frontends[0].ACLs)
	}
}

func TestACLErrors(t *testing.T) {
	editErr := errors.New("bad body")
	ok := func(*config.ACL) (config.ACL, error) { return config.ACL{}, nil }
	tests := []struct {
		name   string
		mutate func(*config.Config) error
		want   error
	}{
		{"put: no lb", PutACL("nope", "main", "a", ok), ErrNotFound},
		{"put: no frontend", PutACL("web", "nope", "a", ok), ErrNotFound},
		{"put: edit fails", PutACL("web", "main", "a", func(*config.ACL) (config.ACL, error) { return config.ACL{}, editErr }), editErr},
		{"delete: no lb", DeleteACL("nope", "main", "a"), ErrNotFound},
		{"delete: no frontend", DeleteACL("web", "nope", "a"), ErrNotFound},
		{"delete: no ACL", DeleteACL("web", "main", "zz"), ErrNotFound},
		{"delete: the empty name addresses no unnamed ACL", DeleteACL("web", "main", ""), ErrNotFound},
		{"find: no ACL", func(cfg *config.Config) error { _, err := FindACL(cfg, "web", "main", "zz"); return err }, ErrNotFound},
		{"find: no frontend", func(cfg *config.Config) error { _, err := FindACL(cfg, "web", "nope", "a"); return err }, ErrNotFound},
		{"find: unnamed", func(cfg *config.Config) error { _, err := FindACL(cfg, "web", "main", ""); return err }, ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := aclCfg("", "a")
			if err := tt.mutate(cfg); !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
			if got := aclNames(cfg); !slices.Equal(got, []string{"", "a"}) {
				t.Errorf("a failed change left ACLs %q", got)
			}
		})
	}
}
