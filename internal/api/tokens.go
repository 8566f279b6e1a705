package api

import (
	"fmt"
	"net/http"

	"github.com/gantry-lb/gantry/client"
	"github.com/gantry-lb/gantry/internal/control"
)

// Tokens are not config: their writes move no config revision, so every
// answer here carries the config revision as ETag, like a read.

func toToken(t control.Token) client.Token {
	return client.Token{ID: t.ID, Name: t.Name, Role: string(t.Role), Project: t.Project, CreatedAt: t.Created}
}

// adminOnly answers 403 unless the request's token is an admin token
// bound to no project. Only /v1/tokens needs it: it is the one place a
// token can be made, so an editor or a project token can never mint itself
// a wider one.
func (s *Server) adminOnly(w http.ResponseWriter, r *http.Request) bool {
	p, _ := r.Context().Value(ctxKey{}).(principal)
	if p.tok.ManagesTokens() {
		return true
	}
	detail := "only an admin token may manage tokens"
	if p.tok.Role == control.RoleAdmin {
		detail = fmt.Sprintf("only an admin token bound to no project may manage tokens; this one is bound to project %q", p.tok.Project)
	}
	s.problem(w, r, http.StatusForbidden, "forbidden", detail, nil)
	return false
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) {
	if !s.adminOnly(w, r) {
		return
	}
	toks, err := s.ctl.Tokens(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rev, err := s.ctl.Revision(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := client.TokenList{Tokens: make([]client.Token, len(toks)), TotalCount: len(toks)}
	for i, t := range toks {
		out.Tokens[i] = toToken(t)
	}
	reply(w, http.StatusOK, rev, out)
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) {
	if !s.adminOnly(w, r) {
		return
	}
	var in client.TokenInput
	if err := decode(r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	secret, t, err := s.ctl.CreateToken(r.Context(), in.Name, control.Role(in.Role), control.InProject(in.Project))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rev, err := s.ctl.Revision(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.log.Info("token created", "id", t.ID, "name", t.Name, "role", t.Role, "project", t.Project, "by", author(r))
	w.Header().Set("Cache-Control", "no-store") // the secret must not sit in a cache
	reply(w, http.StatusCreated, rev, client.NewToken{Token: toToken(t), Secret: secret})
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) {
	if !s.adminOnly(w, r) {
		return
	}
	id := r.PathValue("id")
	if err := s.ctl.RevokeToken(r.Context(), id); err != nil {
		s.fail(w, r, err)
		return
	}
	s.log.Info("token revoked", "id", id, "by", author(r))
	rev, err := s.ctl.Revision(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("ETag", etag(rev))
	w.WriteHeader(http.StatusNoContent)
}
