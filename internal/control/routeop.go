package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/gantry-lb/gantry/internal/config"
	"github.com/gantry-lb/gantry/internal/store"
)

// RouteOp is a change of one named route of a frontend, said as such so
// that control applies it without scanning the frontend's route list:
// control finds the route through its stored position (a store read and a
// binary search), makes the new list by a splice of the persistent
// config.RouteList (it copies one chunk and the chunk index, not the list),
// and plans only the span the operation touched. See Request.Route.
type RouteOp struct {
	LB, Frontend, Name string
	// Delete removes the route; otherwise Route (its Name is set to Name)
	// creates or replaces it at Index, as PutRoute: a negative Index keeps
	// an existing route where it is and appends a new one; an Index past
	// the end appends.
	Delete bool
	Route  config.Route
	Index  int
}

// Mutate returns the Request.Mutate that does what op says: PutRoute or
// DeleteRoute. A Request with Route set must have this Mutate (or one that
// does the same), which control uses when it cannot take the fast path (a
// transaction, a frontend stored in an older layout).
func (op *RouteOp) Mutate() func(*config.Config) error {
	if op.Delete {
		return DeleteRoute(op.LB, op.Frontend, op.Name)
	}
	r, idx := op.Route, op.Index
	return PutRoute(op.LB, op.Frontend, op.Name, func(*config.Route, int) (config.Route, int, error) {
		return r, idx, nil
	})
}

// routeHint says, for the frontend at path, how many routes at the head
// and the tail of its list a change kept as they were (the same memory):
// the plan then compares only what lies between.
type routeHint struct {
	path       string
	head, tail int
}

// applyRoute applies op to next, a shallow copy of cur's config, and
// returns the hint of what it touched. It returns a nil hint and no error,
// leaving next as it was, when it cannot apply op without a scan: the
// caller then runs Request.Mutate.
func (c *Control) applyRoute(ctx context.Context, cur *State, next *config.Config, op *RouteOp) (*routeHint, error) {
	if op.Name == "" || strings.HasPrefix(op.Name, "_") {
		return nil, nil
	}
	li := slices.IndexFunc(next.LBs, func(l config.LB) bool { return l.Name == op.LB })
	if li < 0 {
		return nil, nil
	}
	lb := &next.LBs[li]
	fi := slices.IndexFunc(lb.Frontends, func(f config.Frontend) bool { return f.Name == op.Frontend })
	if fi < 0 {
		return nil, nil
	}
	f := &lb.Frontends[fi]
	path := FrontendPath(op.LB, op.Frontend)
	at, ok, err := c.routeIndex(ctx, cur, path, f.Routes, op.Name)
	if err != nil || !ok {
		return nil, err
	}
	old := f.Routes
	n := old.Len()
	h := &routeHint{path: path}
	var routes config.RouteList
	switch {
	case op.Delete:
		if at < 0 {
			return nil, fmt.Errorf("route %q of frontend %q of load balancer %q: %w", op.Name, op.Frontend, op.LB, ErrNotFound)
		}
		routes = old.Delete(at, at+1)
		h.head, h.tail = at, n-at-1
	case at >= 0 && op.Index < 0:
		r := op.Route
		r.Name = op.Name
		routes = old.Set(at, r)
		h.head, h.tail = at, n-at-1
	default:
		r := op.Route
		r.Name = op.Name
		rest := n
		if at >= 0 {
			rest--
		}
		j := op.Index
		if j < 0 || j > rest {
			j = rest
		}
		switch {
		case at < 0:
			routes = old.Insert(j, r)
			h.head, h.tail = j, n-j
		case j <= at:
			// [j, at] becomes r, old[j:at].
			routes = old.Splice(j, at+1, append([]config.Route{r}, old.Slice(j, at)...)...)
			h.head, h.tail = j, n-at-1
		default:
			// [at, j] becomes old[at+1:j+1], r.
			routes = old.Splice(at, j+1, append(old.Slice(at+1, j+1), r)...)
			h.head, h.tail = at, n-j-1
		}
	}
	f.Routes = routes
	return h, nil
}

// routeIndex returns the index of the route called name in routes, the
// list of the frontend at path in cur (-1: there is none), found through
// its stored position. ok is false when the positions cannot tell (an
// older layout, positions decode could not use, a store that no longer
// has cur's revision).
func (c *Control) routeIndex(ctx context.Context, cur *State, path string, routes config.RouteList, name string) (int, bool, error) {
	if _, stale := cur.stale[path]; stale {
		return 0, false, nil
	}
	pos, ok := cur.routes[path]
	if !ok || pos.len() != routes.Len() || routes.Len() > 0 && pos.at(0) == "" {
		return 0, false, nil
	}
	kv, err := c.st.Get(ctx, configPrefix+routePath(path, name), cur.head)
	if errors.Is(err, store.ErrNotFound) {
		return -1, true, nil
	}
	if err != nil {
		if ctx.Err() != nil {
			return 0, false, ctx.Err()
		}
		return 0, false, nil
	}
	var rec routeRecord
	if err := json.Unmarshal(kv.Value, &rec); err != nil {
		return 0, false, nil
	}
	i, found := pos.search(rec.Pos, strings.Compare)
	if !found || routes.At(i).Name != name {
		return 0, false, nil
	}
	return i, true, nil
}

// FindRoute returns the route called name of frontend fe of LB lb in st
// and its index, or ErrNotFound. It finds it through the stored positions
// (a store read and a binary search) when it can, and by a scan of the
// list otherwise. Unnamed routes are never found.
func (c *Control) FindRoute(ctx context.Context, st *State, lb, fe, name string) (config.Route, int, error) {
	f, err := FindFrontend(st.Config, lb, fe)
	if err != nil {
		return config.Route{}, 0, err
	}
	notFound := fmt.Errorf("route %q of frontend %q of load balancer %q: %w", name, fe, lb, ErrNotFound)
	if name == "" {
		return config.Route{}, 0, notFound
	}
	i, ok, err := c.routeIndex(ctx, st, FrontendPath(lb, fe), f.Routes, name)
	if err != nil {
		return config.Route{}, 0, err
	}
	if !ok {
		i = f.Routes.Index(func(r *config.Route) bool { return r.Name == name })
	}
	if i < 0 {
		return config.Route{}, 0, notFound
	}
	return *f.Routes.At(i), i, nil
}
