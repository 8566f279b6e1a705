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

// findRoute returns the route called name of a frontend and its index, or
// ErrNotFound. Unnamed routes are never found: they have no address here.
func findRoute(cfg *config.Config, lbName, fe, name string) (config.Route, int, error) {
	f, err := frontends.find(cfg, lbName, fe)
	if err != nil {
		return config.Route{}, 0, err
	}
	if i := slices.IndexFunc(f.Routes, func(r config.Route) bool { return r.Name == name }); name != "" && i >= 0 {
		return f.Routes[i], i, nil
	}
	return config.Route{}, 0, fmt.Errorf("route %q of frontend %q of load balancer %q: %w", name, fe, lbName, control.ErrNotFound)
}

// listRoutes answers every route of a frontend in order, named or not:
// the index is the order, so the list is not paged or sorted.
func (s *Server) listRoutes(w http.ResponseWriter, r *http.Request) {
	st, err := s.state(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f, err := frontends.find(st.Config, r.PathValue("lb"), r.PathValue("frontend"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]indexedRoute, len(f.Routes))
	for i, rt := range f.Routes {
		out[i] = toIndexedRoute(rt, i)
	}
	reply(w, http.StatusOK, st.Revision, map[string]any{"routes": out, "total_count": len(out)})
}

func (s *Server) getRoute(w http.ResponseWriter, r *http.Request) {
	st, err := s.state(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rt, i, err := findRoute(st.Config, r.PathValue("lb"), r.PathValue("frontend"), r.PathValue("name"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	reply(w, http.StatusOK, st.Revision, toIndexedRoute(rt, i))
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
	req.Mutate = control.PutRoute(lbName, fe, name, func(*config.Route, int) (config.Route, int, error) {
		return rt, idx, nil
	})
	s.change(w, r, req, http.StatusOK, func(rev uint64) (any, error) {
		st, err := s.ctl.Get(r.Context(), rev)
		if err != nil {
			return nil, err
		}
		got, i, err := findRoute(st.Config, lbName, fe, name)
		if err != nil {
			return nil, err
		}
		return toIndexedRoute(got, i), nil
	})
}

func (s *Server) deleteRoute(w http.ResponseWriter, r *http.Request) {
	req, err := s.writeRequest(r, control.DeleteRoute(r.PathValue("lb"), r.PathValue("frontend"), r.PathValue("name")))
	if err != nil {
		s.fail(w, r, err)
		return
	}
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

func (s *Server) getHealthCheck(w http.ResponseWriter, r *http.Request) {
	st, err := s.state(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	hc, err := healthCheckOf(st.Config, r.PathValue("lb"), r.PathValue("name"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	reply(w, http.StatusOK, st.Revision, healthOut(hc))
}

// putHealthCheck replaces a backend's health check, in Scaleway's shape or
// seed 004's, leaving the rest of the backend alone.
func (s *Server) putHealthCheck(w http.ResponseWriter, r *http.Request) {
	lbName, name := r.PathValue("lb"), r.PathValue("name")
	req, err := s.writeRequest(r, nil)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	raw, err := readBody(r)
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
	s.change(w, r, req, http.StatusOK, func(rev uint64) (any, error) {
		st, err := s.ctl.Get(r.Context(), rev)
		if err != nil {
			return nil, err
		}
		got, err := healthCheckOf(st.Config, lbName, name)
		if err != nil {
			return nil, err
		}
		return healthOut(got), nil
	})
}

func (s *Server) deleteHealthCheck(w http.ResponseWriter, r *http.Request) {
	req, err := s.writeRequest(r, control.DeleteHealthCheck(r.PathValue("lb"), r.PathValue("name")))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.change(w, r, req, http.StatusNoContent, nil)
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
	st, err := s.state(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f, err := frontends.find(st.Config, r.PathValue("lb"), r.PathValue("frontend"))
	if err != nil {
		s.fail(w, r, err)
		return
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
		s.fail(w, r, err)
		return
	}
	reply(w, http.StatusOK, st.Revision, client.ACLList{ACLs: out, TotalCount: total})
}

func (s *Server) getACL(w http.ResponseWriter, r *http.Request) {
	st, err := s.state(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	a, err := control.FindACL(st.Config, r.PathValue("lb"), r.PathValue("frontend"), r.PathValue("name"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	reply(w, http.StatusOK, st.Revision, aclOut(*a))
}

// putACL handles PUT (create or replace an ACL) and, with patch, PATCH (a
// merge patch on the current ACL, read inside the change so it is atomic),
// as putOf does for frontends and backends.
func (s *Server) putACL(patch bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		lbName, fe, name := r.PathValue("lb"), r.PathValue("frontend"), r.PathValue("name")
		req, err := s.writeRequest(r, nil)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		raw, err := readBody(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		req.Mutate = control.PutACL(lbName, fe, name, func(cur *config.ACL) (config.ACL, error) {
			var curIn any
			if cur != nil {
				curIn = aclOut(*cur)
			}
			var in client.ACL
			if err := body(reqWithBody(r, raw), patch, curIn, &in, nil); err != nil {
				return config.ACL{}, err
			}
			if err := checkName(in.Name, name); err != nil {
				return config.ACL{}, err
			}
			return aclToConfig(in), nil
		})
		s.change(w, r, req, http.StatusOK, func(rev uint64) (any, error) {
			st, err := s.ctl.Get(r.Context(), rev)
			if err != nil {
				return nil, err
			}
			a, err := control.FindACL(st.Config, lbName, fe, name)
			if err != nil {
				return nil, err
			}
			return aclOut(*a), nil
		})
	}
}

func (s *Server) deleteACL(w http.ResponseWriter, r *http.Request) {
	req, err := s.writeRequest(r, control.DeleteACL(r.PathValue("lb"), r.PathValue("frontend"), r.PathValue("name")))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.change(w, r, req, http.StatusNoContent, nil)
}
