package control

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gantry-lb/gantry/internal/config"
	"github.com/gantry-lb/gantry/internal/store"
)

// deltaRecorder is a Compiler that validates everything and records the
// deltas it is given.
type deltaRecorder struct {
	mu     sync.Mutex
	deltas []*config.Delta
}

func (r *deltaRecorder) compile(cfg *config.Config, d *config.Delta) error {
	r.mu.Lock()
	r.deltas = append(r.deltas, d)
	r.mu.Unlock()
	return cfg.Validate()
}

func (r *deltaRecorder) last() *config.Delta {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.deltas) == 0 {
		return nil
	}
	return r.deltas[len(r.deltas)-1]
}

// decoded reads the head from the store, bypassing the state in memory.
func decoded(t *testing.T, c *Control) *State {
	t.Helper()
	head, err := c.st.Revision(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.get(context.Background(), head)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// sameState fails unless the head state in memory is what the store reads
// back as: config, metadata and route positions.
func sameState(t *testing.T, c *Control, what string) {
	t.Helper()
	mem, err := c.Get(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	st := decoded(t, c)
	if mem.Revision != st.Revision || mem.head != st.head {
		t.Fatalf("%s: revision %d/%d in memory, %d/%d stored", what, mem.Revision, mem.head, st.Revision, st.head)
	}
	if !reflect.DeepEqual(mem.Config, st.Config) {
		a, _ := json.Marshal(mem.Config)
		b, _ := json.Marshal(st.Config)
		t.Fatalf("%s: config in memory differs from the stored one\nmemory: %s\nstored: %s", what, a, b)
	}
	if !reflect.DeepEqual(mem.Meta, st.Meta) {
		t.Fatalf("%s: meta in memory differs\nmemory: %v\nstored: %v", what, mem.Meta, st.Meta)
	}
	for path, seq := range st.routes {
		if got := mem.routes[path]; !slices.Equal(got.all(), seq.all()) {
			t.Fatalf("%s: positions of %s: %v in memory, %v stored", what, path, got.all(), seq.all())
		}
	}
	for path, seq := range mem.routes {
		if _, ok := st.routes[path]; !ok && seq.len() > 0 {
			t.Fatalf("%s: positions of %s in memory only", what, path)
		}
	}
}

func deepCopy(t *testing.T, cfg *config.Config) []byte {
	t.Helper()
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestHeadStateIsTheStoredOne makes random changes of every kind and checks
// after each that the state handed to readers without reading the store is
// the one the store reads back as, that the state it came from did not
// change, and that the recorded deltas name what changed.
func TestHeadStateIsTheStoredOne(t *testing.T) {
	rec := &deltaRecorder{}
	c := newControl(t)
	c.compile = rec.compile
	ctx := context.Background()
	r := rand.New(rand.NewPCG(1, 2))
	must := func(res *Result, err error) *Result {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	must(c.Change(ctx, Request{Mutate: putLB("web")}))
	must(c.Change(ctx, Request{Mutate: putBackend("web", "b", 9000)}))
	must(c.Change(ctx, Request{Mutate: putBackend("web", "c", 9001)}))
	must(c.Change(ctx, Request{Mutate: PutFrontend("web", "main", func(*config.Frontend) (config.Frontend, error) {
		return config.Frontend{InboundPort: 8080, Backend: "b"}, nil
	})}))
	names := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	route := func(i int) config.Route {
		return config.Route{Backend: []string{"b", "c"}[i%2], HostHeader: fmt.Sprintf("h%d.example.com", i), PathBegin: []string{"", "/x"}[i%2]}
	}
	ops := []struct {
		name string
		fn   func(i int) func(*config.Config) error
	}{
		{"put route", func(i int) func(*config.Config) error {
			idx := r.IntN(12) - 3 // negative: keep or append
			return PutRoute("web", "main", names[r.IntN(len(names))], func(*config.Route, int) (config.Route, int, error) { return route(i), idx, nil })
		}},
		{"delete route", func(i int) func(*config.Config) error {
			return func(cfg *config.Config) error {
				f, _ := FindFrontend(cfg, "web", "main")
				var named []string
				for _, rt := range f.Routes.All() {
					if rt.Name != "" {
						named = append(named, rt.Name)
					}
				}
				if len(named) == 0 {
					return nil
				}
				return DeleteRoute("web", "main", named[r.IntN(len(named))])(cfg)
			}
		}},
		{"add unnamed route", func(i int) func(*config.Config) error {
			return func(cfg *config.Config) error {
				f, _ := FindFrontend(cfg, "web", "main")
				at := r.IntN(f.Routes.Len() + 1)
				f.Routes = f.Routes.Insert(at, route(i))
				return nil
			}
		}},
		{"move unnamed route", func(i int) func(*config.Config) error {
			return func(cfg *config.Config) error {
				f, _ := FindFrontend(cfg, "web", "main")
				if f.Routes.Len() < 2 {
					return nil
				}
				rs := f.Routes.Routes()
				from, to := r.IntN(len(rs)), r.IntN(len(rs))
				x := rs[from]
				rs = slices.Insert(slices.Delete(rs, from, from+1), to, x)
				f.Routes = config.RoutesOf(rs...)
				return nil
			}
		}},
		{"reverse routes", func(i int) func(*config.Config) error {
			return func(cfg *config.Config) error {
				f, _ := FindFrontend(cfg, "web", "main")
				rs := f.Routes.Routes()
				slices.Reverse(rs)
				f.Routes = config.RoutesOf(rs...)
				return nil
			}
		}},
		{"frontend field", func(i int) func(*config.Config) error {
			return PutFrontend("web", "main", func(cur *config.Frontend) (config.Frontend, error) {
				n := *cur
				n.TimeoutClient = config.Millis(1000 + i)
				return n, nil
			})
		}},
		{"backend", func(i int) func(*config.Config) error { return putBackend("web", "c", 9001+i%3) }},
		{"second frontend", func(i int) func(*config.Config) error {
			if i%2 == 0 {
				return DeleteFrontend("web", "other")
			}
			return PutFrontend("web", "other", func(*config.Frontend) (config.Frontend, error) {
				return config.Frontend{InboundPort: 8081, Backend: "b", Routes: config.RoutesOf(route(i), config.Route{Name: "n", Backend: "c"})}, nil
			})
		}},
		{"LB", func(i int) func(*config.Config) error {
			return PutLB("web", func(cur *config.LB) (config.LB, error) {
				n := *cur
				n.Description = fmt.Sprint("change ", i)
				return n, nil
			})
		}},
		{"second LB", func(i int) func(*config.Config) error {
			if i%2 == 0 {
				return DeleteLB("two", false)
			}
			return func(cfg *config.Config) error {
				if err := putLB("two")(cfg); err != nil {
					return err
				}
				if err := PutBackend("two", "t", func(*config.Backend) (config.Backend, error) {
					return config.Backend{ForwardProtocol: config.ProtocolTCP, Servers: []config.Server{{IP: "127.0.0.2", Port: 443}}}, nil
				})(cfg); err != nil {
					return err
				}
				return PutFrontend("two", "f", func(*config.Frontend) (config.Frontend, error) {
					return config.Frontend{InboundPort: 9090, Routes: config.RoutesOf(config.Route{SNI: "x.example.com", Backend: "t"})}, nil
				})(cfg)
			}
		}},
	}
	for i := range 300 {
		op := ops[r.IntN(len(ops))]
		before, err := c.Get(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		frozen := deepCopy(t, before.Config)
		res, err := c.Change(ctx, Request{Mutate: op.fn(i)})
		if err != nil {
			if strings.Contains(err.Error(), "not found") {
				continue
			}
			t.Fatalf("step %d (%s): %v", i, op.name, err)
		}
		what := fmt.Sprintf("step %d (%s)", i, op.name)
		if got := deepCopy(t, before.Config); string(got) != string(frozen) {
			t.Fatalf("%s changed the state it started from", what)
		}
		sameState(t, c, what)
		after, _ := c.Get(ctx, 0)
		if len(res.Changes) == 0 {
			continue
		}
		d := after.Since(before.Revision)
		if d == nil {
			t.Fatalf("%s: no delta from %d", what, before.Revision)
		}
		if d != rec.last() {
			t.Fatalf("%s: the compiler was given another delta than the state holds", what)
		}
		checkDelta(t, what, before.Config, after.Config, d)
	}
	// Deltas from further back compose the steps in between.
	cur, _ := c.Get(ctx, 0)
	for _, s := range cur.steps {
		old, err := c.Get(ctx, s.from)
		if err != nil {
			t.Fatal(err)
		}
		checkDelta(t, fmt.Sprintf("since %d", s.from), old.Config, cur.Config, s.d)
	}
}

// checkDelta fails when d misses a difference between from and to.
func checkDelta(t *testing.T, what string, from, to *config.Config, d *config.Delta) {
	t.Helper()
	j := func(v any) string { b, _ := json.Marshal(v); return string(b) }
	js := func(rs []config.Route) string { return j(append([]config.Route{}, rs...)) }
	for _, lb := range to.LBs {
		old := from.LB(lb.Name)
		ld := d.LBs[lb.Name]
		if old == nil {
			if ld == nil || !ld.Fields {
				t.Fatalf("%s: new LB %s not in the delta", what, lb.Name)
			}
			continue
		}
		o, n := *old, lb
		o.Frontends, o.Backends, n.Frontends, n.Backends = nil, nil, nil, nil
		if j(o) != j(n) && (ld == nil || !ld.Fields) {
			t.Fatalf("%s: LB %s changed, not in the delta", what, lb.Name)
		}
		for _, b := range lb.Backends {
			ob := old.Backend(b.Name)
			if (ob == nil || j(*ob) != j(b)) && (ld == nil || !ld.Backends[b.Name]) {
				t.Fatalf("%s: backend %s changed, not in the delta", what, b.Name)
			}
		}
		for _, ob := range old.Backends {
			if lb.Backend(ob.Name) == nil && (ld == nil || !ld.Backends[ob.Name]) {
				t.Fatalf("%s: backend %s deleted, not in the delta", what, ob.Name)
			}
		}
		for _, f := range lb.Frontends {
			of := find(old.Frontends, f.Name)
			var fd *config.FrontendDelta
			if ld != nil {
				fd = ld.Frontends[f.Name]
			}
			if of == nil {
				if fd == nil || !fd.Fields {
					t.Fatalf("%s: new frontend %s not in the delta", what, f.Name)
				}
				continue
			}
			a, b := *of, f
			a.Routes, b.Routes = config.RouteList{}, config.RouteList{}
			if j(a) != j(b) && (fd == nil || !fd.Fields) {
				t.Fatalf("%s: frontend %s changed, not in the delta", what, f.Name)
			}
			if fd != nil && fd.Fields {
				continue
			}
			ors, frs := of.Routes.Routes(), f.Routes.Routes()
			span := config.RouteSpan{From: len(ors), OldTo: len(ors), NewTo: len(frs)}
			if fd != nil && fd.Routes != nil {
				span = *fd.Routes
			} else if len(ors) != len(frs) {
				t.Fatalf("%s: routes of %s changed, not in the delta", what, f.Name)
			}
			// Outside the span, the lists agree.
			if span.OldTo-span.From < 0 || len(ors)-span.OldTo != len(frs)-span.NewTo ||
				js(ors[:span.From]) != js(frs[:span.From]) || js(ors[span.OldTo:]) != js(frs[span.NewTo:]) {
				t.Fatalf("%s: routes of %s differ outside the span %+v\nold %s\nnew %s", what, f.Name, span, j(of.Routes), j(f.Routes))
			}
		}
	}
	for _, old := range from.LBs {
		if to.LB(old.Name) == nil && (d.LBs[old.Name] == nil || !d.LBs[old.Name].Fields) {
			t.Fatalf("%s: LB %s deleted, not in the delta", what, old.Name)
		}
	}
}

// TestRouteChangeWritesOneRoute: a change of one route among many stores
// that route (and the frontend's times), not the frontend's whole list.
func TestRouteChangeWritesOneRoute(t *testing.T) {
	c := newControl(t)
	ctx := context.Background()
	cfg := routeCfg()
	cfg.LBs[0].Backends[0].Servers = []config.Server{{IP: "127.0.0.1", Port: 1}}
	cfg.LBs[0].Backends[0].ForwardProtocol = config.ProtocolHTTP
	cfg.LBs[0].Backends[0].HealthCheck = nil
	for i := range 500 {
		cfg.LBs[0].Frontends[0].Routes = cfg.LBs[0].Frontends[0].Routes.Append(config.Route{Name: fmt.Sprint("r", i), Backend: "b", HostHeader: fmt.Sprintf("h%d.example.com", i)})
	}
	if _, err := c.Replace(ctx, cfg, Request{}); err != nil {
		t.Fatal(err)
	}
	res, err := c.Change(ctx, Request{Mutate: PutRoute("web", "main", "r250", func(*config.Route, int) (config.Route, int, error) {
		return config.Route{Backend: "b", HostHeader: "changed.example.com"}, -1, nil
	})})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Changes) != 1 || res.Changes[0].Path != "lbs/web/frontends/main/routes/r250" || res.Changes[0].Kind != Updated {
		t.Fatalf("changes: %+v", res.Changes)
	}
	h, err := c.st.History(ctx, configPrefix, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	size := 0
	for _, ch := range h[0].Changes {
		keys = append(keys, ch.Key)
		size += len(ch.Value)
	}
	if !slices.Equal(keys, []string{"config/lbs/web/frontends/main", "config/lbs/web/frontends/main/routes/r250"}) || size > 1000 {
		t.Fatalf("stored %v (%d bytes)", keys, size)
	}
	hist, err := c.History(ctx, 0, 1)
	if err != nil || len(hist[0].Changes) != 1 || hist[0].Changes[0].Path != "lbs/web/frontends/main/routes/r250" {
		t.Fatalf("history: %+v %v", hist, err)
	}
	st, _ := c.Get(ctx, 0)
	if m := st.Meta["lbs/web/frontends/main"]; m.UpdatedRevision != res.Revision {
		t.Fatalf("the frontend's update revision is %d, the route changed at %d", m.UpdatedRevision, res.Revision)
	}
	// Moving a route rewrites it alone.
	res, err = c.Change(ctx, Request{Mutate: PutRoute("web", "main", "r499", func(cur *config.Route, _ int) (config.Route, int, error) {
		return *cur, 3, nil
	})})
	if err != nil || len(res.Changes) != 1 || res.Changes[0].Path != "lbs/web/frontends/main/routes/r499" {
		t.Fatalf("move: %+v %v", res, err)
	}
	sameState(t, c, "after the move")
	if got := st.Config.LBs[0].Frontends[0].Routes.At(250).HostHeader; got != "changed.example.com" {
		t.Fatalf("route 250 is %q", got)
	}
}

// TestOlderLayoutLoads: a frontend stored with its routes inline, as gantry
// did before routes had keys of their own, reads back, and its next change
// moves its routes out.
func TestOlderLayoutLoads(t *testing.T) {
	c := newControl(t)
	ctx := context.Background()
	env := func(v any) []byte {
		spec, _ := json.Marshal(v)
		b, _ := json.Marshal(envelope{Spec: spec})
		return b
	}
	fe := config.Frontend{Name: "main", InboundPort: 80, Backend: "b", Routes: config.RoutesOf(
		config.Route{Name: "a", Backend: "b", HostHeader: "a.example.com"}, config.Route{Backend: "b", PathBegin: "/x"})}
	if _, err := c.st.Commit(ctx, 0, []store.Op{
		{Key: "config/lbs/web", Value: env(config.LB{Name: "web"})},
		{Key: "config/lbs/web/backends/b", Value: env(config.Backend{Name: "b", ForwardProtocol: config.ProtocolHTTP, Servers: []config.Server{{IP: "127.0.0.1", Port: 1}}})},
		{Key: "config/lbs/web/frontends/main", Value: env(fe)},
	}, store.Meta{Author: "old gantry"}); err != nil {
		t.Fatal(err)
	}
	st, err := c.Get(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Config.LBs[0].Frontends[0].Routes.Routes(); len(got) != 2 || got[0].Name != "a" || got[1].PathBegin != "/x" {
		t.Fatalf("routes read %+v", got)
	}
	if _, err := c.Change(ctx, Request{Mutate: PutRoute("web", "main", "c", func(*config.Route, int) (config.Route, int, error) {
		return config.Route{Backend: "b", HostHeader: "c.example.com"}, 1, nil
	})}); err != nil {
		t.Fatal(err)
	}
	sameState(t, c, "after the first change")
	kvs, _, err := c.st.Range(ctx, "config/lbs/web/frontends/main", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(kvs) != 4 || strings.Contains(string(kvs[0].Value), "routes") {
		t.Fatalf("stored after the change: %d keys, frontend %s", len(kvs), kvs[0].Value)
	}
	st, _ = c.Get(ctx, 0)
	var got []string
	for _, r := range st.Config.LBs[0].Frontends[0].Routes.All() {
		got = append(got, r.Name+r.HostHeader+r.PathBegin)
	}
	if !slices.Equal(got, []string{"aa.example.com", "cc.example.com", "/x"}) {
		t.Fatalf("routes %v", got)
	}
}

// TestDuplicateRouteNameIsRejected: a route list that repeats a name
// outside the part that changed fails validation, though only the changed
// part is checked incrementally.
func TestDuplicateRouteNameIsRejected(t *testing.T) {
	rec := &deltaRecorder{}
	c := newControl(t)
	c.compile = rec.compile
	ctx := context.Background()
	cfg := routeCfg("a", "b", "c")
	cfg.LBs[0].Backends[0].Servers = []config.Server{{IP: "127.0.0.1", Port: 1}}
	cfg.LBs[0].Backends[0].ForwardProtocol = config.ProtocolHTTP
	cfg.LBs[0].Backends[0].HealthCheck = nil
	if _, err := c.Replace(ctx, cfg, Request{}); err != nil {
		t.Fatal(err)
	}
	_, err := c.Change(ctx, Request{Mutate: func(cfg *config.Config) error {
		f, _ := FindFrontend(cfg, "web", "main")
		f.Routes = f.Routes.Append(config.Route{Name: "a", Backend: "b"})
		return nil
	}})
	if err == nil || !strings.Contains(err.Error(), `duplicate route name "a"`) {
		t.Fatalf("duplicate name: %v", err)
	}
	if d := rec.last(); d != nil {
		t.Fatalf("the duplicate was checked incrementally (%+v)", d)
	}
	sameState(t, c, "after the rejected change")
}

func TestPositions(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	list := []string{}
	for i := range 5000 {
		at := r.IntN(len(list) + 1)
		switch i % 4 {
		case 0:
			at = 0
		case 1:
			at = len(list)
		case 2:
			at = min(1, len(list))
		}
		lo, hi := "", ""
		if at > 0 {
			lo = list[at-1]
		}
		if at < len(list) {
			hi = list[at]
		}
		k := 1 + r.IntN(3)
		ps := posN(lo, hi, k)
		for _, p := range ps {
			if !validPos(p) || (lo != "" && p <= lo) || (hi != "" && p >= hi) {
				t.Fatalf("step %d: position %q between %q and %q", i, p, lo, hi)
			}
			lo = p
		}
		list = slices.Insert(list, at, ps...)
	}
	if !slices.IsSorted(list) {
		t.Fatal("positions out of order")
	}
	longest := 0
	for _, p := range list {
		longest = max(longest, len(p))
	}
	if longest > 64 {
		t.Fatalf("positions grew to %d characters", longest)
	}
}

func TestDeltaThen(t *testing.T) {
	// [a b c d e] -> replace c by x y -> [a b x y d e] -> delete a -> [b x y d e]
	s1 := &config.RouteSpan{From: 2, OldTo: 3, NewTo: 4}
	s2 := &config.RouteSpan{From: 0, OldTo: 1, NewTo: 0}
	if got := *thenSpan(s1, s2); got != (config.RouteSpan{From: 0, OldTo: 3, NewTo: 3}) {
		t.Fatalf("composed span %+v", got)
	}
	d1 := &config.Delta{LBs: map[string]*config.LBDelta{"web": {Frontends: map[string]*config.FrontendDelta{"f": {Routes: s1}}}}}
	d2 := &config.Delta{LBs: map[string]*config.LBDelta{"web": {Backends: map[string]bool{"b": true}, Frontends: map[string]*config.FrontendDelta{"g": {Fields: true}}}}}
	d := thenDelta(d1, d2)
	if w := d.LBs["web"]; !w.Backends["b"] || !w.Frontends["g"].Fields || *w.Frontends["f"].Routes != *s1 {
		t.Fatalf("composed %+v", d.LBs["web"])
	}
}

// TestSameConfigAgain: writing the config that is there already, read back
// from its stored form (as gantry export | gantry apply does), changes
// nothing and makes no revision, unnamed routes included.
func TestSameConfigAgain(t *testing.T) {
	c := newControl(t)
	ctx := context.Background()
	cfg := routeCfg("a", "", "b", "", "")
	f0 := &cfg.LBs[0].Frontends[0]
	f0.Routes = f0.Routes.Edit(1, func(r *config.Route) { r.PathBegin = "/one" })
	f0.Routes = f0.Routes.Edit(3, func(r *config.Route) { r.PathBegin = "/one" }) // the same as [1]
	cfg.LBs[0].Backends[0].Servers = []config.Server{{IP: "127.0.0.1", Port: 1}}
	cfg.LBs[0].Backends[0].ForwardProtocol = config.ProtocolHTTP
	cfg.LBs[0].Backends[0].HealthCheck = nil
	first, err := c.Replace(ctx, cfg, Request{})
	if err != nil {
		t.Fatal(err)
	}
	st, _ := c.Get(ctx, 0)
	doc, _ := json.Marshal(st.Config)
	again, err := config.Parse(doc)
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Replace(ctx, again, Request{})
	if err != nil || len(res.Changes) != 0 || res.Revision != first.Revision {
		t.Fatalf("the same config again: %+v %v", res, err)
	}
	// Reordering unnamed routes moves them, and nothing else.
	f := &again.LBs[0].Frontends[0]
	r1, r2 := *f.Routes.At(1), *f.Routes.At(2)
	f.Routes = f.Routes.Splice(1, 3, r2, r1)
	res, err = c.Replace(ctx, again, Request{})
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range res.Changes {
		if !strings.HasPrefix(ch.Path, "lbs/web/frontends/main/routes/") {
			t.Fatalf("swapping two routes changed %s", ch.Path)
		}
	}
	sameState(t, c, "after the swap")
}

// TestDeltaFromAnyState: the delta between two states is right whether
// their steps know it, they are too far apart, or one was read from the
// store (nothing shared with the other).
func TestDeltaFromAnyState(t *testing.T) {
	c := newControl(t)
	ctx := context.Background()
	cfg := routeCfg("a", "b", "", "c")
	cfg.LBs[0].Backends[0].Servers = []config.Server{{IP: "127.0.0.1", Port: 1}}
	cfg.LBs[0].Backends[0].ForwardProtocol = config.ProtocolHTTP
	cfg.LBs[0].Backends[0].HealthCheck = nil
	if _, err := c.Replace(ctx, cfg, Request{}); err != nil {
		t.Fatal(err)
	}
	first, _ := c.Get(ctx, 0)
	var states []*State
	for i := range 3 * maxSteps {
		name := fmt.Sprint("r", i%7)
		if _, err := c.Change(ctx, Request{Mutate: PutRoute("web", "main", name, func(*config.Route, int) (config.Route, int, error) {
			return config.Route{Backend: "b", HostHeader: fmt.Sprintf("h%d.example.com", i)}, i % 5, nil
		})}); err != nil {
			t.Fatal(err)
		}
		st, _ := c.Get(ctx, 0)
		states = append(states, st)
	}
	last := states[len(states)-1]
	if last.Since(first.Revision) != nil {
		t.Fatal("steps reach further back than maxSteps")
	}
	for _, from := range []*State{first, states[0], states[len(states)-maxSteps/2], decoded(t, c)} {
		checkDelta(t, fmt.Sprintf("from %d", from.Revision), from.Config, last.Config, last.DeltaFrom(from))
	}
	stored := decoded(t, c)
	checkDelta(t, "stored to memory", first.Config, stored.Config, stored.DeltaFrom(first))
}

// TestReadersWhileWriting reads whole states while writers change routes,
// so that the race detector sees a state changed after it was handed out.
func TestReadersWhileWriting(t *testing.T) {
	c := newControl(t)
	ctx := context.Background()
	cfg := routeCfg("a", "b", "c")
	cfg.LBs[0].Backends[0].Servers = []config.Server{{IP: "127.0.0.1", Port: 1}}
	cfg.LBs[0].Backends[0].ForwardProtocol = config.ProtocolHTTP
	cfg.LBs[0].Backends[0].HealthCheck = nil
	if _, err := c.Replace(ctx, cfg, Request{}); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for range 2 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				st, err := c.Get(ctx, 0)
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := json.Marshal(st.Config); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	var writers sync.WaitGroup
	for w := range 3 {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for i := range 30 {
				name := fmt.Sprintf("w%d-%d", w, i%4)
				if _, err := c.Change(ctx, Request{Mutate: PutRoute("web", "main", name, func(*config.Route, int) (config.Route, int, error) {
					return config.Route{Backend: "b", HostHeader: fmt.Sprintf("h%d.example.com", i)}, i % 3, nil
				})}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	writers.Wait()
	close(stop)
	readers.Wait()
	sameState(t, c, "after concurrent writes")
}
