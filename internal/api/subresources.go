package api

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/gantry-lb/gantry/client"
	"github.com/gantry-lb/gantry/internal/config"
	"github.com/gantry-lb/gantry/internal/control"
)

// This file holds the sub-resources of frontends and backends: a
// frontend's routes, addressed by name with an index for their order, a
// frontend's ACLs, addressed by name and applied in the order of their own
// index field, and a backend's health check. Each write changes only its
// part of the parent object, atomically with respect to other writers, and
// the parent is validated as a whole.

// listRoutes answers every route of a frontend in order, named or not:
// the index is the order, so the list is not paged or sorted.
func (s *Server) listRoutes(w http.ResponseWriter, r *http.Request) {
	s.answer(w, r, func(st *control.State) (any, error) {
		f, err := frontends.find(st.Config, r.PathValue("lb"), r.PathValue("frontend"))
		if err != nil {
			return nil, err
		}
		out := make([]indexedRoute, f.Routes.Len())
		for i, rt := range f.Routes.All() {
			out[i] = toIndexedRoute(*rt, i)
		}
		return map[string]any{"routes": out, "total_count": len(out)}, nil
	})
}

// routeView shows route name of frontend fe of load balancer lb. Unnamed
// routes are never found: they have no address here. Control finds the
// route without a scan of the frontend's list (Control.FindRoute).
func (s *Server) routeView(r *http.Request, lb, fe, name string) view {
	return func(st *control.State) (any, error) {
		rt, i, err := s.ctl.FindRoute(r.Context(), st, lb, fe, name)
		if err != nil {
			return nil, err
		}
		return toIndexedRoute(rt, i), nil
	}
}

func (s *Server) getRoute(w http.ResponseWriter, r *http.Request) {
	s.answer(w, r, s.routeView(r, r.PathValue("lb"), r.PathValue("frontend"), r.PathValue("name")))
}

// putRoute creates or replaces a named route; with index it also moves it.
func (s *Server) putRoute(w http.ResponseWriter, r *http.Request) {
	lbName, fe, name := r.PathValue("lb"), r.PathValue("frontend"), r.PathValue("name")
	req, err := s.writeRequest(r, nil)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var in routeIn
	if err := decode(r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := checkName(in.Name, name); err != nil {
		s.fail(w, r, err)
		return
	}
	rule, err := ruleRoute(&in.Route) // discovery.go: "host:port/path=port"
	if err != nil {
		s.fail(w, r, err)
		return
	}
	idx := -1
	if in.Index != nil {
		if *in.Index < 0 {
			s.fail(w, r, &badRequest{"index", fmt.Sprintf("%d is negative: give a 0-based position, or none to keep the route's place", *in.Index)})
			return
		}
		idx = *in.Index
	}
	rt, err := routeToConfig(in.Route, "match")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// The change says what it is (Request.Route), so that control applies
	// it without scanning the frontend's routes; a rule may add a backend
	// port as well, which only Mutate does.
	op := &control.RouteOp{LB: lbName, Frontend: fe, Name: name, Route: rt, Index: idx}
	req.Mutate = withRule(lbName, fe, rt.Backend, rule, op.Mutate())
	if rule == nil {
		req.Route = op
	}
	s.change(w, r, req, http.StatusOK, s.viewAt(r, s.routeView(r, lbName, fe, name)))
}

func (s *Server) deleteRoute(w http.ResponseWriter, r *http.Request) {
	op := &control.RouteOp{LB: r.PathValue("lb"), Frontend: r.PathValue("frontend"), Name: r.PathValue("name"), Delete: true}
	req, err := s.writeRequest(r, op.Mutate())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	req.Route = op
	s.change(w, r, req, http.StatusNoContent, nil)
}

// healthCheckOf returns a backend's health check, or ErrNotFound when it
// has none.
func healthCheckOf(cfg *config.Config, lbName, backend string) (*config.HealthCheck, error) {
	b, err := backends.find(cfg, lbName, backend)
	if err != nil {
		return nil, err
	}
	if b.HealthCheck == nil {
		return nil, fmt.Errorf("health check of backend %q of load balancer %q: %w", backend, lbName, control.ErrNotFound)
	}
	return b.HealthCheck, nil
}

// healthCheckView shows the health check of backend name of load
// balancer lb.
func healthCheckView(lb, name string) view {
	return func(st *control.State) (any, error) {
		hc, err := healthCheckOf(st.Config, lb, name)
		if err != nil {
			return nil, err
		}
		return healthOut(hc), nil
	}
}

func (s *Server) getHealthCheck(w http.ResponseWriter, r *http.Request) {
	s.answer(w, r, healthCheckView(r.PathValue("lb"), r.PathValue("name")))
}

// putHealthCheck replaces a backend's health check, in Scaleway's shape or
// seed 004's, leaving the rest of the backend alone.
func (s *Server) putHealthCheck(w http.ResponseWriter, r *http.Request) {
	lbName, name := r.PathValue("lb"), r.PathValue("name")
	req, raw, err := s.bodyRequest(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	hc, err := healthBodyToConfig(raw)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// The change only reads hc (validates, diffs and stores it), so every
	// attempt may share it.
	req.Mutate = control.PutHealthCheck(lbName, name, func(*config.HealthCheck) (*config.HealthCheck, error) { return hc, nil })
	s.change(w, r, req, http.StatusOK, s.viewAt(r, healthCheckView(lbName, name)))
}

func (s *Server) deleteHealthCheck(w http.ResponseWriter, r *http.Request) {
	s.remove(w, r, control.DeleteHealthCheck(r.PathValue("lb"), r.PathValue("name")))
}

// sortACLs orders ACLs as they apply: ascending index, then name.
func sortACLs(as []client.ACL) {
	slices.SortStableFunc(as, func(a, b client.ACL) int {
		if c := cmp.Compare(a.Index, b.Index); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
}

// listACLs answers the ACLs of a frontend in the order they apply, named
// or not, paged like every list; ?name filters by substring.
func (s *Server) listACLs(w http.ResponseWriter, r *http.Request) {
	if o := r.URL.Query().Get("order_by"); o != "" {
		s.fail(w, r, &badRequest{"order_by", "ACLs are listed in the order they apply (index, then name); order_by is not taken"})
		return
	}
	s.answer(w, r, func(st *control.State) (any, error) {
		f, err := frontends.find(st.Config, r.PathValue("lb"), r.PathValue("frontend"))
		if err != nil {
			return nil, err
		}
		all := aclsOut(f.ACLs)
		if all == nil {
			all = []client.ACL{}
		}
		if sub := r.URL.Query().Get("name"); sub != "" {
			all = slices.DeleteFunc(all, func(a client.ACL) bool { return !strings.Contains(a.Name, sub) })
		}
		sortACLs(all)
		out, total, err := paginate(r, all)
		if err != nil {
			return nil, err
		}
		return client.ACLList{ACLs: out, TotalCount: total}, nil
	})
}

// aclView shows ACL name of frontend fe of load balancer lb.
func aclView(lb, fe, name string) view {
	return func(st *control.State) (any, error) {
		a, err := control.FindACL(st.Config, lb, fe, name)
		if err != nil {
			return nil, err
		}
		return aclOut(*a), nil
	}
}

func (s *Server) getACL(w http.ResponseWriter, r *http.Request) {
	s.answer(w, r, aclView(r.PathValue("lb"), r.PathValue("frontend"), r.PathValue("name")))
}

// acls reads ACL bodies: the API's ACL is both their vocabulary and the
// base of a PATCH.
var acls = &shape[config.ACL, client.ACL]{
	current:  func(a *config.ACL) any { return aclOut(*a) },
	inName:   func(in *client.ACL) string { return in.Name },
	toConfig: func(in client.ACL) (config.ACL, error) { return aclToConfig(in), nil },
}

// putACL handles PUT (create or replace an ACL) and, with patch, PATCH (a
// merge patch on the current ACL, read inside the change so it is atomic),
// as putOf does for frontends and backends.
func (s *Server) putACL(patch bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		lbName, fe, name := r.PathValue("lb"), r.PathValue("frontend"), r.PathValue("name")
		req, raw, err := s.bodyRequest(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		req.Mutate = control.PutACL(lbName, fe, name, acls.edit(r, raw, patch, name))
		s.change(w, r, req, http.StatusOK, s.viewAt(r, aclView(lbName, fe, name)))
	}
}

func (s *Server) deleteACL(w http.ResponseWriter, r *http.Request) {
	s.remove(w, r, control.DeleteACL(r.PathValue("lb"), r.PathValue("frontend"), r.PathValue("name")))
}
