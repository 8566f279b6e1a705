package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/gantry-lb/gantry/internal/config"
)

// TestRouteOpIsMutate applies random route operations to two controls, one
// through Request.Route (control's path without a scan) and one through
// Mutate alone, and checks after each that both answer and store the same,
// that the fast path was taken, that the state in memory is the stored one,
// that the state the change started from did not move, and that the delta
// covers what changed. Invalid routes and missing ones fail the same way
// and store nothing; a dry run stores nothing.
func TestRouteOpIsMutate(t *testing.T) {
	ctx := context.Background()
	fast, slow := newControl(t), newControl(t)
	rec := &deltaRecorder{}
	fast.compile = rec.compile
	cfg := routeCfg()
	cfg.LBs[0].Backends[0].HealthCheck = nil
	cfg.LBs[0].Backends[0].Servers = []config.Server{{IP: "127.0.0.1", Port: 1}}
	cfg.LBs[0].Backends[0].ForwardProtocol = config.ProtocolHTTP
	for i := range 40 {
		cfg.LBs[0].Frontends[0].Routes = cfg.LBs[0].Frontends[0].Routes.Append(config.Route{Name: fmt.Sprint("r", i), Backend: "b", HostHeader: fmt.Sprintf("h%d.example.com", i)})
	}
	for _, c := range []*Control{fast, slow} {
		if _, err := c.Replace(ctx, cfg, Request{}); err != nil {
			t.Fatal(err)
		}
	}
	rnd := rand.New(rand.NewPCG(3, 4))
	j := func(v any) string { b, _ := json.Marshal(v); return string(b) }
	for step := range 300 {
		before, err := fast.Get(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		beforeJSON := deepCopy(t, before.Config)
		n := before.Config.LBs[0].Frontends[0].Routes.Len()
		op := &RouteOp{LB: "web", Frontend: "main", Name: fmt.Sprint("r", rnd.IntN(60)), Index: rnd.IntN(n+4) - 2}
		switch k := rnd.IntN(10); {
		case k < 3:
			op.Delete = true
		case k == 3:
			op.Route = config.Route{Backend: "nope", HostHeader: "x.example.com"} // invalid: unknown backend
		default:
			op.Route = config.Route{Backend: "b", HostHeader: fmt.Sprintf("s%d.example.com", rnd.IntN(1000))}
		}
		dry := rnd.IntN(8) == 0
		what := fmt.Sprintf("step %d: %+v dry=%v", step, *op, dry)
		if hint, err := fast.applyRoute(ctx, before, shallowClone(before.Config), op); hint == nil && err == nil {
			t.Fatalf("%s: the fast path was not taken", what)
		}
		rf, ef := fast.Change(ctx, Request{Route: op, Mutate: op.Mutate(), DryRun: dry})
		rs, es := slow.Change(ctx, Request{Mutate: op.Mutate(), DryRun: dry})
		if (ef == nil) != (es == nil) || ef != nil && ef.Error() != es.Error() {
			t.Fatalf("%s: errors differ: %v / %v", what, ef, es)
		}
		if ef != nil && !errors.Is(ef, ErrNotFound) && !errors.Is(ef, ErrInvalid) {
			t.Fatalf("%s: %v", what, ef)
		}
		if ef == nil && (j(rf.Changes) != j(rs.Changes) || rf.Revision != rs.Revision) {
			t.Fatalf("%s: results differ:\n%s\n%s", what, j(rf), j(rs))
		}
		if got := deepCopy(t, before.Config); string(got) != string(beforeJSON) {
			t.Fatalf("%s: the state the change started from changed", what)
		}
		after, _ := fast.Get(ctx, 0)
		other, _ := slow.Get(ctx, 0)
		if j(after.Config) != j(other.Config) {
			t.Fatalf("%s: configs differ:\n%s\n%s", what, j(after.Config), j(other.Config))
		}
		if (ef != nil || dry) && after != before {
			t.Fatalf("%s: a rejected or dry change made a new state", what)
		}
		if ef == nil && !dry && after != before {
			checkDelta(t, what, before.Config, after.Config, after.Since(before.Revision))
			if d := rec.last(); d == nil {
				t.Fatalf("%s: the change was checked whole", what)
			}
		}
		sameState(t, fast, what)
	}
}
