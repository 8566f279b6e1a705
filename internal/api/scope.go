package api

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/gantry-lb/gantry/internal/config"
	"github.com/gantry-lb/gantry/internal/control"
)

// Projects. A token bound to a project sees only the LBs of its project;
// every other LB, and everything under it, answers 404 exactly as if it did
// not exist. The scoping lives here, in three pieces every route goes
// through, never in a handler:
//
//   - scoped wraps every route: an {lb} path parameter naming an LB of
//     another project answers that LB's 404 before the handler runs;
//   - writeRequest stamps every write with the token's project, so control
//     refuses, at the base of the commit, a write that would touch another
//     project's LB whatever raced with the check above;
//   - unscopedOnly guards the config-wide resources (the whole config, its
//     history, rollback, transactions, IPs), which no project owns.
//
// Lists of LBs filter with visible.

// principalOf returns the request's token (the zero Token, unscoped with
// no role, outside ServeHTTP).
func principalOf(r *http.Request) control.Token {
	p, _ := r.Context().Value(ctxKey{}).(principal)
	return p.tok
}

// visible reports whether the request's token may see lb.
func visible(r *http.Request, lb *config.LB) bool {
	tok := principalOf(r)
	return tok.Unscoped() || lb.Project == tok.Project
}

// scoped runs h unless the request names, in {lb}, an LB the token may not
// see, or stages a write in a transaction (transactions span every
// project, so only unscoped tokens use them).
func (s *Server) scoped(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok := principalOf(r)
		if tok.Unscoped() {
			h(w, r)
			return
		}
		if r.URL.Query().Get("transaction_id") != "" {
			s.problem(w, r, http.StatusForbidden, "forbidden", fmt.Sprintf(
				"this token is bound to project %q: transactions span every project, so only a token bound to no project may use them", tok.Project), nil)
			return
		}
		if name := r.PathValue("lb"); name != "" {
			// At the head, which every write and /stats act on, and at
			// ?revision= too when a read names one: the LB must be the
			// token's in both.
			revs := []uint64{0}
			if v := r.URL.Query().Get("revision"); v != "" {
				st, err := s.state(r)
				if err != nil {
					s.fail(w, r, err)
					return
				}
				revs = append(revs, st.Revision)
			}
			for _, rev := range revs {
				st, err := s.ctl.Get(r.Context(), rev)
				if err != nil {
					s.fail(w, r, err)
					return
				}
				if lb := st.Config.LB(name); lb != nil && !visible(r, lb) {
					// The very error of an LB that does not exist.
					_, err := control.FindLB(&config.Config{}, name)
					s.fail(w, r, err)
					return
				}
			}
		}
		h(w, r)
	}
}

// outsideProject rewrites, for a token bound to a project, what a
// config-wide answer would tell about other projects: validation messages
// that name their objects, and changes to paths it cannot see.
func (s *Server) outsideProject(r *http.Request) (hide func(path string) bool, ok bool) {
	tok := principalOf(r)
	if tok.Unscoped() {
		return nil, false
	}
	st, err := s.ctl.Get(r.Context(), 0)
	if err != nil {
		return func(string) bool { return true }, true
	}
	var others []string
	for i := range st.Config.LBs {
		if lb := &st.Config.LBs[i]; !visible(r, lb) {
			others = append(others, lb.Name)
		}
	}
	return func(text string) bool {
		for _, n := range others {
			if strings.Contains(text, "lbs["+n+"]") || strings.HasPrefix(text, "lbs/"+n+"/") || text == "lbs/"+n {
				return true
			}
		}
		return false
	}, true
}

// scrubFields hides, from a project token, field errors about other
// projects' objects.
func (s *Server) scrubFields(r *http.Request, fields []fieldError) []fieldError {
	hide, ok := s.outsideProject(r)
	if !ok {
		return fields
	}
	for i := range fields {
		if hide(fields[i].Field) || hide(fields[i].Detail) {
			fields[i].Detail = "conflicts with an object outside your project"
			if hide(fields[i].Field) {
				fields[i].Field = "(outside your project)"
			}
		}
	}
	return fields
}

// scrubChanges drops, for a project token, changes to objects it cannot see
// (IP objects included: they belong to no project).
func (s *Server) scrubChanges(r *http.Request, res *control.Result) {
	if principalOf(r).Unscoped() {
		return
	}
	hide, _ := s.outsideProject(r)
	kept := res.Changes[:0:0]
	for _, c := range res.Changes {
		if !strings.HasPrefix(c.Path, "ips/") && !hide(c.Path) {
			kept = append(kept, c)
		}
	}
	res.Changes = kept
}

// unscopedOnly runs h only for a token bound to no project: h reads or
// writes something that belongs to no single project.
func (s *Server) unscopedOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if tok := principalOf(r); !tok.Unscoped() {
			s.problem(w, r, http.StatusForbidden, "forbidden", fmt.Sprintf(
				"this token is bound to project %q and %s spans every project (the whole config, its history and transactions, the IPs); use a token bound to no project",
				tok.Project, r.URL.Path), nil)
			return
		}
		h(w, r)
	}
}
