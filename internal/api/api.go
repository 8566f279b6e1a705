// Package api maps gantry's native REST API (/v1) onto the control layer:
// routing, authentication, request and response shapes, and the one place
// where errors become HTTP statuses (application/problem+json, naming the
// field that was wrong).
//
// Every response carries ETag: "<revision>"; a write with If-Match fails
// with 412 when the config moved on; ?dry_run=true validates and answers
// the diff without storing; ?transaction_id=T stages a write.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gantry-lb/gantry/client"
	"github.com/gantry-lb/gantry/internal/certs"
	"github.com/gantry-lb/gantry/internal/config"
	"github.com/gantry-lb/gantry/internal/control"
)

// Status is what the data plane reports about itself (StoredRevision is
// filled in by the API).
type Status = client.Status

// Options wires a Server.
type Options struct {
	Control *control.Control
	// Status reports the data plane (nil: nothing is reported).
	Status func() Status
	// Stats returns the live state of the servers of an LB's backends in
	// the running snapshot (nil: none are reported).
	Stats func(lb string) []client.ServerStats
	// WaitApplied blocks until the data plane serves revision rev (for
	// ?wait=applied), or ctx is done.
	WaitApplied func(ctx context.Context, rev uint64) error
	// Discovery shows service discovery (nil: it is off). See discovery.go.
	Discovery Discovery
	// Sealer seals the private keys of custom certificates with the data
	// directory's key (nil: custom certificates are refused with a 503).
	Sealer *certs.Sealer
	// CertStatus reports how this node serves a certificate (nil, or
	// false: the API describes it from the config alone).
	CertStatus func(name string) (certs.Info, bool)
	Log        *slog.Logger
}

// Server is the admin API. Safe for concurrent use.
type Server struct {
	o   Options
	ctl *control.Control
	log *slog.Logger
	mux *http.ServeMux
}

// maxBody bounds request bodies.
const maxBody = 64 << 20

// New returns the API handler.
func New(o Options) *Server {
	s := &Server{o: o, ctl: o.Control, log: o.Log.With("component", "api"), mux: http.NewServeMux()}
	s.routes()
	return s
}

type principal struct{ tok control.Token }

type ctxKey struct{}

// ServeHTTP authenticates and dispatches.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	secret := ""
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			s.problem(w, r, http.StatusUnauthorized, "unauthorized", "use Authorization: Bearer <token>", nil)
			return
		}
		secret = strings.TrimSpace(tok)
	} else {
		secret = r.Header.Get("X-Auth-Token") // Scaleway's header
	}
	if secret == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="gantry"`)
		s.problem(w, r, http.StatusUnauthorized, "unauthorized", "a token is required (Authorization: Bearer <token>)", nil)
		return
	}
	tok, err := s.ctl.Authenticate(r.Context(), secret)
	if err != nil {
		s.problem(w, r, http.StatusUnauthorized, "unauthorized", "invalid token", nil)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead && tok.Role == control.RoleViewer {
		s.problem(w, r, http.StatusForbidden, "forbidden", "a viewer token cannot write", nil)
		return
	}
	r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, principal{tok}))
	// A body over the limit is an error (413), never silently cut short.
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if r.Method != http.MethodGet && r.Method != http.MethodHead && r.URL.Query().Get("revision") != "" {
		s.problem(w, r, http.StatusBadRequest, "invalid request", "revision= applies to reads; a write always applies to the latest revision (use If-Match to require one)",
			[]fieldError{{Field: "revision", Detail: "only for GET"}})
		return
	}
	if s.readOnly(w, r) { // discovery.go: objects discovery owns
		return
	}
	s.mux.ServeHTTP(w, r)
}

func author(r *http.Request) string {
	if p, ok := r.Context().Value(ctxKey{}).(principal); ok {
		return "token:" + p.tok.Name
	}
	return "api"
}

// fieldError is one wrong field of a request.
type fieldError = client.FieldError

// problem answers an RFC 9457 problem document. Like every response it
// carries the current revision as ETag, so a client that failed a
// precondition learns what to retry with.
func (s *Server) problem(w http.ResponseWriter, r *http.Request, status int, title, detail string, fields []fieldError) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	if status != http.StatusUnauthorized {
		if rev, err := s.ctl.Revision(r.Context()); err == nil {
			w.Header().Set("ETag", etag(rev))
		}
	}
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(client.Problem{Type: "about:blank", Title: title, Status: status, Detail: detail, Instance: r.URL.Path, Errors: fields})
}

// badRequest is an error in the request itself (a field, a parameter).
type badRequest struct {
	field, detail string
}

func (e *badRequest) Error() string { return e.field + ": " + e.detail }

// fail maps an error to its status: the one place that does.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var br *badRequest
	var tooBig *http.MaxBytesError
	var ferrs config.Errors
	var fe *config.FieldError
	switch {
	case errors.As(err, &tooBig):
		s.problem(w, r, http.StatusRequestEntityTooLarge, "body too large", fmt.Sprintf("request bodies are limited to %d bytes", tooBig.Limit), nil)
	case errors.As(err, &br):
		s.problem(w, r, http.StatusBadRequest, "invalid request", err.Error(), []fieldError{{Field: br.field, Detail: br.detail}})
	case errors.As(err, &ferrs):
		fields := make([]fieldError, len(ferrs))
		for i, e := range ferrs {
			fields[i] = fieldError{Field: e.Path, Detail: e.Msg}
		}
		fields = s.scrubFields(r, fields)
		parts := make([]string, len(fields))
		for i, f := range fields {
			parts[i] = f.Field + ": " + f.Detail
		}
		s.problem(w, r, http.StatusUnprocessableEntity, "invalid config", strings.Join(parts, "; "), fields)
	case errors.As(err, &fe):
		s.problem(w, r, http.StatusUnprocessableEntity, "invalid config", fe.Error(), []fieldError{{Field: fe.Path, Detail: fe.Msg}})
	case errors.Is(err, control.ErrInvalid):
		s.problem(w, r, http.StatusUnprocessableEntity, "invalid config", err.Error(), nil)
	case errors.Is(err, control.ErrNotFound):
		s.problem(w, r, http.StatusNotFound, "not found", err.Error(), nil)
	case errors.Is(err, control.ErrPrecondition):
		s.problem(w, r, http.StatusPreconditionFailed, "precondition failed", err.Error(), nil)
	case errors.Is(err, control.ErrConflict), errors.Is(err, control.ErrLastAdmin):
		s.problem(w, r, http.StatusConflict, "conflict", err.Error(), nil)
	case errors.Is(err, errNoSealer):
		s.problem(w, r, http.StatusServiceUnavailable, "unavailable", err.Error(), nil)
	case errors.Is(err, control.ErrBusy):
		w.Header().Set("Retry-After", "1")
		s.problem(w, r, http.StatusServiceUnavailable, "busy", err.Error(), nil)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		s.problem(w, r, http.StatusServiceUnavailable, "timed out", err.Error(), nil)
	default:
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		s.problem(w, r, http.StatusInternalServerError, "internal error", "see the server log", nil)
	}
}

// jsonPath drops from encoding/json's field path the Go names of embedded
// structs ("BackendTLS.ssl_bridging" → "ssl_bridging"): the API's field
// names are all lower case.
func jsonPath(field string) string {
	parts := strings.Split(field, ".")
	kept := parts[:0]
	for _, p := range parts {
		if p != "" && p[0] >= 'A' && p[0] <= 'Z' {
			continue
		}
		kept = append(kept, p)
	}
	return strings.Join(kept, ".")
}

// decode reads a JSON body into v; unknown fields are an error.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.As(err, &te):
			return &badRequest{jsonPath(te.Field), fmt.Sprintf("expected %s, got JSON %s", te.Type, te.Value)}
		case errors.As(err, &se):
			return &badRequest{"body", fmt.Sprintf("invalid JSON at byte %d: %v", se.Offset, err)}
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			return &badRequest{f, "unknown field"}
		case errors.Is(err, io.EOF):
			return &badRequest{"body", "a JSON body is required"}
		}
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return err
		}
		return &badRequest{"body", err.Error()}
	}
	if dec.More() {
		return &badRequest{"body", "more than one JSON value"}
	}
	return nil
}

// reply writes v as JSON with the revision as ETag.
func reply(w http.ResponseWriter, status int, rev uint64, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("ETag", etag(rev))
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func etag(rev uint64) string { return `"` + strconv.FormatUint(rev, 10) + `"` }

// writeRequest reads the write parameters every mutating endpoint takes.
func (s *Server) writeRequest(r *http.Request, mutate func(*config.Config) error) (control.Request, error) {
	req := control.Request{Author: author(r), Mutate: mutate, Txn: r.URL.Query().Get("transaction_id"), Project: principalOf(r).Project}
	if im := r.Header.Get("If-Match"); im != "" && im != "*" {
		n, err := strconv.ParseUint(strings.Trim(strings.TrimPrefix(im, "W/"), `"`), 10, 64)
		if err != nil {
			return req, &badRequest{"If-Match", fmt.Sprintf("%q is not a revision ETag", im)}
		}
		req.IfMatch, req.HasIfMatch = n, true
	}
	var err error
	if req.DryRun, err = boolParam(r, "dry_run"); err != nil {
		return req, err
	}
	return req, nil
}

func boolParam(r *http.Request, name string) (bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, &badRequest{name, fmt.Sprintf("%q is not true or false", v)}
	}
	return b, nil
}

// change applies a write and answers it: the result, after waiting for the data plane
// when ?wait=applied.
func (s *Server) change(w http.ResponseWriter, r *http.Request, req control.Request, status int, body func(rev uint64) (any, error)) {
	if req.Project != "" && req.Mutate != nil {
		req.Mutate = keepCertificates(req.Mutate, req.Project)
	}
	res, err := s.ctl.Change(r.Context(), req)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.finish(w, r, res, status, body)
}

func (s *Server) finish(w http.ResponseWriter, r *http.Request, res *control.Result, status int, body func(rev uint64) (any, error)) {
	s.scrubChanges(r, res)
	redactChanges(res.Changes)
	if res.DryRun || res.Staged {
		reply(w, http.StatusOK, res.Revision, res)
		return
	}
	if r.URL.Query().Get("wait") == "applied" && s.o.WaitApplied != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
		defer cancel()
		if err := s.o.WaitApplied(ctx, res.Revision); err != nil {
			// The write is stored: say so (202, with its ETag), and why
			// traffic does not use it yet.
			reply(w, http.StatusAccepted, res.Revision, map[string]any{"revision": res.Revision, "changes": res.Changes,
				"applied": false, "apply_error": err.Error()})
			return
		}
	}
	if body == nil {
		w.Header().Set("ETag", etag(res.Revision))
		w.WriteHeader(http.StatusNoContent)
		return
	}
	v, err := body(res.Revision)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	reply(w, status, res.Revision, v)
}

// keepCertificates wraps the change of a token bound to a project so that
// it cannot make a frontend serve a certificate it did not serve before:
// certificates are config-wide (they belong to no project), so letting a
// tenant name one would let it serve another tenant's certificate and key.
// An unscoped token attaches them; a tenant may still drop them (or delete
// its frontend).
func keepCertificates(mutate func(*config.Config) error, project string) func(*config.Config) error {
	return func(cfg *config.Config) error {
		before := certificateRefs(cfg)
		if err := mutate(cfg); err != nil {
			return err
		}
		for at, names := range certificateRefs(cfg) {
			for name := range names {
				if !before[at][name] {
					return fmt.Errorf("%w: %w", control.ErrInvalid, &config.FieldError{Path: at,
						Msg: fmt.Sprintf("a token of project %q cannot attach certificate %q: certificates belong to no project, so an unscoped token attaches them", project, name)})
				}
			}
		}
		return nil
	}
}

// certificateRefs maps the path of every frontend's certificates field to
// the names it lists.
func certificateRefs(cfg *config.Config) map[string]map[string]bool {
	out := map[string]map[string]bool{}
	for i := range cfg.LBs {
		lb := &cfg.LBs[i]
		for j := range lb.Frontends {
			f := &lb.Frontends[j]
			if len(f.Certificates) == 0 {
				continue
			}
			set := make(map[string]bool, len(f.Certificates))
			for _, n := range f.Certificates {
				set[n] = true
			}
			out["lbs["+lb.Name+"].frontends["+f.Name+"].certificates"] = set
		}
	}
	return out
}
