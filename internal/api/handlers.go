package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/gantry-lb/gantry/client"
	"github.com/gantry-lb/gantry/internal/config"
	"github.com/gantry-lb/gantry/internal/control"
)

func (s *Server) routes() {
	m := s.mux
	// Every route goes through the project scoping (scope.go): scoped,
	// or unscopedOnly for the config-wide ones. The patterns stay literal
	// so the OpenAPI coverage test can read them.
	m.HandleFunc("GET /v1/status", s.scoped(s.getStatus))
	m.HandleFunc("GET /v1/openapi.json", s.scoped(s.getOpenAPI))
	m.HandleFunc("GET /v1/config", s.unscopedOnly(s.getConfig))
	m.HandleFunc("PUT /v1/config", s.unscopedOnly(s.putConfig))
	m.HandleFunc("GET /v1/history", s.unscopedOnly(s.getHistory))
	m.HandleFunc("POST /v1/rollback", s.unscopedOnly(s.postRollback))

	m.HandleFunc("POST /v1/transactions", s.unscopedOnly(s.beginTxn))
	m.HandleFunc("GET /v1/transactions/{id}", s.unscopedOnly(s.getTxn))
	m.HandleFunc("PUT /v1/transactions/{id}", s.unscopedOnly(s.commitTxn))
	m.HandleFunc("DELETE /v1/transactions/{id}", s.unscopedOnly(s.abortTxn))

	m.HandleFunc("GET /v1/tokens", s.scoped(s.listTokens))
	m.HandleFunc("POST /v1/tokens", s.scoped(s.createToken))
	m.HandleFunc("DELETE /v1/tokens/{id}", s.scoped(s.revokeToken))

	m.HandleFunc("GET /v1/lbs", s.scoped(s.listLBs))
	m.HandleFunc("GET /v1/lbs/{lb}", s.scoped(s.getLB))
	m.HandleFunc("PUT /v1/lbs/{lb}", s.scoped(s.putLB(false)))
	m.HandleFunc("PATCH /v1/lbs/{lb}", s.scoped(s.putLB(true)))
	m.HandleFunc("DELETE /v1/lbs/{lb}", s.scoped(s.deleteLB))
	m.HandleFunc("GET /v1/lbs/{lb}/stats", s.scoped(s.getStats))

	m.HandleFunc("GET /v1/ips", s.unscopedOnly(s.listIPs))
	m.HandleFunc("GET /v1/ips/{address}", s.unscopedOnly(s.getIP))
	m.HandleFunc("PUT /v1/ips/{address}", s.unscopedOnly(s.putIP))
	m.HandleFunc("DELETE /v1/ips/{address}", s.unscopedOnly(s.deleteIP))

	m.HandleFunc("GET /v1/certificates", s.unscopedOnly(s.listCertificates))
	m.HandleFunc("GET /v1/certificates/{name}", s.unscopedOnly(s.getCertificate))
	m.HandleFunc("PUT /v1/certificates/{name}", s.unscopedOnly(s.putCertificate))
	m.HandleFunc("DELETE /v1/certificates/{name}", s.unscopedOnly(s.deleteCertificate))

	m.HandleFunc("GET /v1/lbs/{lb}/frontends", s.scoped(listOf(s, frontends)))
	m.HandleFunc("GET /v1/lbs/{lb}/frontends/{name}", s.scoped(getOf(s, frontends)))
	m.HandleFunc("PUT /v1/lbs/{lb}/frontends/{name}", s.scoped(putOf(s, frontends, false)))
	m.HandleFunc("PATCH /v1/lbs/{lb}/frontends/{name}", s.scoped(putOf(s, frontends, true)))
	m.HandleFunc("DELETE /v1/lbs/{lb}/frontends/{name}", s.scoped(deleteOf(s, frontends)))

	m.HandleFunc("GET /v1/lbs/{lb}/frontends/{frontend}/routes", s.scoped(s.listRoutes))
	m.HandleFunc("GET /v1/lbs/{lb}/frontends/{frontend}/routes/{name}", s.scoped(s.getRoute))
	m.HandleFunc("PUT /v1/lbs/{lb}/frontends/{frontend}/routes/{name}", s.scoped(s.putRoute))
	m.HandleFunc("DELETE /v1/lbs/{lb}/frontends/{frontend}/routes/{name}", s.scoped(s.deleteRoute))

	m.HandleFunc("GET /v1/lbs/{lb}/frontends/{frontend}/acls", s.scoped(s.listACLs))
	m.HandleFunc("GET /v1/lbs/{lb}/frontends/{frontend}/acls/{name}", s.scoped(s.getACL))
	m.HandleFunc("PUT /v1/lbs/{lb}/frontends/{frontend}/acls/{name}", s.scoped(s.putACL(false)))
	m.HandleFunc("PATCH /v1/lbs/{lb}/frontends/{frontend}/acls/{name}", s.scoped(s.putACL(true)))
	m.HandleFunc("DELETE /v1/lbs/{lb}/frontends/{frontend}/acls/{name}", s.scoped(s.deleteACL))

	m.HandleFunc("GET /v1/lbs/{lb}/backends", s.scoped(listOf(s, backends)))
	m.HandleFunc("GET /v1/lbs/{lb}/backends/{name}", s.scoped(getOf(s, backends)))
	m.HandleFunc("PUT /v1/lbs/{lb}/backends/{name}", s.scoped(putOf(s, backends, false)))
	m.HandleFunc("PATCH /v1/lbs/{lb}/backends/{name}", s.scoped(putOf(s, backends, true)))
	m.HandleFunc("DELETE /v1/lbs/{lb}/backends/{name}", s.scoped(deleteOf(s, backends)))

	m.HandleFunc("GET /v1/lbs/{lb}/backends/{name}/healthcheck", s.scoped(s.getHealthCheck))
	m.HandleFunc("PUT /v1/lbs/{lb}/backends/{name}/healthcheck", s.scoped(s.putHealthCheck))
	m.HandleFunc("DELETE /v1/lbs/{lb}/backends/{name}/healthcheck", s.scoped(s.deleteHealthCheck))

	s.discoveryRoutes(m) // discovery.go

	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.problem(w, r, http.StatusNotFound, "not found", "no such endpoint: "+r.Method+" "+r.URL.Path, nil)
	})
}

func (s *Server) getStatus(w http.ResponseWriter, r *http.Request) {
	rev, err := s.ctl.Revision(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	st := Status{Listeners: []string{}}
	if s.o.Status != nil {
		st = s.o.Status()
	}
	st.StoredRevision = rev
	if !principalOf(r).Unscoped() {
		// Listeners, apply errors and discovery span every project.
		st.Listeners = []string{}
		st.Discovery = nil
		if st.ApplyError != "" {
			st.ApplyError = "the latest revision is not applied (details for tokens bound to no project)"
		}
	}
	reply(w, http.StatusOK, rev, st)
}

// state reads the config at ?revision= (default: the head).
func (s *Server) state(r *http.Request) (*control.State, error) {
	var rev uint64
	if v := r.URL.Query().Get("revision"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n == 0 {
			return nil, &badRequest{"revision", fmt.Sprintf("%q is not a revision number", v)}
		}
		rev = n
	}
	return s.ctl.Get(r.Context(), rev)
}

// view makes what a GET of an object or list answers from one state. The
// view of an object also answers the write that changed it, read at the
// revision the write committed (viewAt).
type view func(st *control.State) (any, error)

// answer answers a GET with v of the state the request asks for
// (?revision=, default the head), or the error of either.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, v view) {
	st, err := s.state(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out, err := v(st)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	reply(w, http.StatusOK, st.Revision, out)
}

// viewAt is the body of a write's answer (see change): v of the state at
// the revision the write committed.
func (s *Server) viewAt(r *http.Request, v view) func(rev uint64) (any, error) {
	return func(rev uint64) (any, error) {
		st, err := s.ctl.Get(r.Context(), rev)
		if err != nil {
			return nil, err
		}
		return v(st)
	}
}

// created is v for the answer of a PUT that may create its object: when
// it did (*existed is false once the change ran), the answer carries the
// object's Location.
func created(w http.ResponseWriter, location string, existed *bool, v view) view {
	return func(st *control.State) (any, error) {
		out, err := v(st)
		if err == nil && !*existed {
			w.Header().Set("Location", location)
		}
		return out, err
	}
}

// remove answers a DELETE that mutate carries out: 204 once committed.
func (s *Server) remove(w http.ResponseWriter, r *http.Request, mutate func(*config.Config) error) {
	req, err := s.writeRequest(r, mutate)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.change(w, r, req, http.StatusNoContent, nil)
}

// bodyRequest is writeRequest for a PUT or PATCH, with the body read whole
// (raw) for the change to decode: a PATCH merges it into the object as it
// is inside the change, and a retried change decodes it again.
func (s *Server) bodyRequest(r *http.Request) (control.Request, []byte, error) {
	req, err := s.writeRequest(r, nil)
	if err != nil {
		return req, nil, err
	}
	raw, err := readBody(r)
	return req, raw, err
}

// shape is how the API reads one kind of object from a PUT or PATCH body:
// In is the body's vocabulary, C the model's.
type shape[C, In any] struct {
	// current returns an object in a vocabulary In decodes: the base of a
	// PATCH.
	current  func(c *C) any
	aliases  func(map[string]any) error // nil: none
	inName   func(in *In) string
	toConfig func(in In) (C, error)
}

// edit returns the edit of one object a PUT or PATCH with body raw asks
// for, as control's Put functions take it: from the current object (nil:
// there is none yet), the new one. PUT decodes raw whole; PATCH merges it
// into the current object (see body). A name in the body must be the
// path's (name).
func (sh *shape[C, In]) edit(r *http.Request, raw []byte, patch bool, name string) func(cur *C) (C, error) {
	return func(cur *C) (C, error) {
		var zero C
		var curIn any
		if cur != nil {
			curIn = sh.current(cur)
		}
		var in In
		if err := body(reqWithBody(r, raw), patch, curIn, &in, sh.aliases); err != nil {
			return zero, err
		}
		if err := checkName(sh.inName(&in), name); err != nil {
			return zero, err
		}
		return sh.toConfig(in)
	}
}

func wantsYAML(r *http.Request) bool {
	return r.URL.Query().Get("format") == "yaml" || strings.Contains(r.Header.Get("Accept"), "yaml")
}

func (s *Server) getConfig(w http.ResponseWriter, r *http.Request) {
	st, err := s.state(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	doc := redactConfig(st.Config) // sealed keys are never shown
	if doc.LBs == nil {
		empty := *doc // the state is shared: never modify it
		empty.LBs = []config.LB{}
		doc = &empty
	}
	if wantsYAML(r) {
		js, err := json.Marshal(doc)
		if err == nil {
			var y []byte
			if y, err = yaml.JSONToYAML(js); err == nil {
				w.Header().Set("Content-Type", "application/yaml")
				w.Header().Set("ETag", etag(st.Revision))
				w.Write(y)
				return
			}
		}
		s.fail(w, r, err)
		return
	}
	reply(w, http.StatusOK, st.Revision, doc)
}

// putConfig replaces the whole desired state (gantry apply). JSON or YAML.
func (s *Server) putConfig(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	cfg, err := config.Parse(body)
	if err != nil {
		s.fail(w, r, &badRequest{"body", err.Error()})
		return
	}
	req, err := s.writeRequest(r, nil)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	req.Mutate = func(cur *config.Config) error {
		next := cfg.Clone() // a retried change starts from the body again
		keepSealedKeys(next, cur)
		*cur = *next
		return nil
	}
	s.change(w, r, req, http.StatusOK, func(rev uint64) (any, error) {
		return map[string]any{"revision": rev}, nil
	})
}

func (s *Server) getHistory(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, before := 20, uint64(0)
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			s.fail(w, r, &badRequest{"limit", "must be 1-1000"})
			return
		}
		limit = n
	}
	if v := q.Get("before"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			s.fail(w, r, &badRequest{"before", "must be a revision number"})
			return
		}
		before = n
	}
	hs, err := s.ctl.History(r.Context(), before, limit)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rev, err := s.ctl.Revision(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if hs == nil {
		hs = []control.HistoryEntry{}
	}
	for i := range hs {
		redactChanges(hs[i].Changes)
	}
	reply(w, http.StatusOK, rev, map[string]any{"revisions": hs})
}

func (s *Server) postRollback(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Revision uint64 `json:"revision"`
	}
	if err := decode(r, &body); err != nil {
		s.fail(w, r, err)
		return
	}
	if body.Revision == 0 {
		s.fail(w, r, &badRequest{"revision", "required"})
		return
	}
	req, err := s.writeRequest(r, nil)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	res, err := s.ctl.Rollback(r.Context(), body.Revision, req)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.finish(w, r, res, http.StatusOK, func(rev uint64) (any, error) { return res, nil })
}

func (s *Server) beginTxn(w http.ResponseWriter, r *http.Request) {
	var version uint64
	if v := r.URL.Query().Get("version"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			s.fail(w, r, &badRequest{"version", "must be a revision number"})
			return
		}
		version = n
	}
	t, err := s.ctl.Begin(r.Context(), version, author(r))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	reply(w, http.StatusCreated, t.Version, t)
}

func (s *Server) getTxn(w http.ResponseWriter, r *http.Request) {
	t, err := s.ctl.Transaction(r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	reply(w, http.StatusOK, t.Version, t)
}

func (s *Server) commitTxn(w http.ResponseWriter, r *http.Request) {
	dry, err := boolParam(r, "dry_run")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	res, err := s.ctl.Commit(r.Context(), r.PathValue("id"), dry, r.URL.Query().Get("message"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.finish(w, r, res, http.StatusOK, func(rev uint64) (any, error) { return res, nil })
}

func (s *Server) abortTxn(w http.ResponseWriter, r *http.Request) {
	if err := s.ctl.Abort(r.PathValue("id")); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// page applies ?name (substring), ?order_by, ?page and ?page_size to a list.
func page[T any](r *http.Request, items []T, name func(T) string, created func(T) int64) ([]T, int, error) {
	q := r.URL.Query()
	if f := q.Get("name"); f != "" {
		items = slices.DeleteFunc(slices.Clone(items), func(t T) bool { return !strings.Contains(name(t), f) })
	}
	switch o := q.Get("order_by"); o {
	case "", "created_at_asc":
		slices.SortStableFunc(items, func(a, b T) int { return int(created(a) - created(b)) })
	case "created_at_desc":
		slices.SortStableFunc(items, func(a, b T) int { return int(created(b) - created(a)) })
	case "name_asc":
		slices.SortStableFunc(items, func(a, b T) int { return strings.Compare(name(a), name(b)) })
	case "name_desc":
		slices.SortStableFunc(items, func(a, b T) int { return strings.Compare(name(b), name(a)) })
	default:
		return nil, 0, &badRequest{"order_by", fmt.Sprintf("%q is not one of created_at_asc, created_at_desc, name_asc, name_desc", o)}
	}
	return paginate(r, items)
}

// paginate applies ?page and ?page_size to a list in its final order and
// returns the page and the length of the whole list.
func paginate[T any](r *http.Request, items []T) ([]T, int, error) {
	q := r.URL.Query()
	pg, size := 1, 20
	var err error
	if v := q.Get("page"); v != "" {
		if pg, err = strconv.Atoi(v); err != nil || pg < 1 {
			return nil, 0, &badRequest{"page", "must be a number from 1"}
		}
	}
	if v := q.Get("page_size"); v != "" {
		if size, err = strconv.Atoi(v); err != nil || size < 1 || size > 100 {
			return nil, 0, &badRequest{"page_size", "must be 1-100"}
		}
	}
	total := len(items)
	lo := min((pg-1)*size, total)
	return items[lo:min(lo+size, total)], total, nil
}

func (s *Server) listLBs(w http.ResponseWriter, r *http.Request) {
	s.answer(w, r, func(st *control.State) (any, error) {
		all := make([]lbOut, 0, len(st.Config.LBs))
		for i := range st.Config.LBs {
			lb := &st.Config.LBs[i]
			if !visible(r, lb) {
				continue
			}
			all = append(all, toLBOut(lb, st.Meta[control.LBPath(lb.Name)]))
		}
		out, total, err := page(r, all, func(l lbOut) string { return l.Name }, func(l lbOut) int64 { return l.CreatedAt.UnixNano() })
		if err != nil {
			return nil, err
		}
		return map[string]any{"lbs": out, "total_count": total}, nil
	})
}

// lbView shows load balancer name.
func lbView(name string) view {
	return func(st *control.State) (any, error) {
		lb, err := control.FindLB(st.Config, name)
		if err != nil {
			return nil, err
		}
		return toLBOut(lb, st.Meta[control.LBPath(lb.Name)]), nil
	}
}

func (s *Server) getLB(w http.ResponseWriter, r *http.Request) {
	s.answer(w, r, lbView(r.PathValue("lb")))
}

// body reads a PUT body, or for a PATCH merges it (RFC 7386) into the
// current object's JSON, then decodes the result into in.
func body(r *http.Request, patch bool, current any, in any, aliases func(map[string]any) error) error {
	if !patch {
		return decode(r, in)
	}
	if current == nil {
		return fmt.Errorf("%w: PATCH needs an existing object (use PUT to create)", control.ErrNotFound)
	}
	raw, err := io.ReadAll(r.Body) // the body was read and bounded already (reqWithBody)
	if err != nil {
		return &badRequest{"body", err.Error()}
	}
	var p any
	if err := json.Unmarshal(raw, &p); err != nil {
		return &badRequest{"body", "invalid JSON: " + err.Error()}
	}
	// The patch itself names only known fields (even to delete them).
	check := reflect.New(reflect.TypeOf(in).Elem()).Interface()
	if err := decodeStrict(raw, check); err != nil {
		if br, ok := err.(*badRequest); ok && br.detail == "unknown field" {
			return err
		}
		// Other decoding errors (a null where the type has none) are for
		// the merged document to report.
	}
	// The current object is in the model's vocabulary: a patch written
	// with another one (seed 004, Scaleway) is translated first.
	if m, ok := p.(map[string]any); ok && aliases != nil {
		if err := aliases(m); err != nil {
			return err
		}
	}
	cur, err := json.Marshal(current)
	if err != nil {
		return err
	}
	var base any
	if err := json.Unmarshal(cur, &base); err != nil {
		return err
	}
	merged, err := json.Marshal(mergePatch(base, p))
	if err != nil {
		return err
	}
	return decodeStrict(merged, in)
}

// mergePatch applies an RFC 7386 JSON merge patch.
func mergePatch(target, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	t, ok := target.(map[string]any)
	if !ok {
		t = map[string]any{}
	}
	for k, v := range p {
		if v == nil {
			delete(t, k)
		} else {
			t[k] = mergePatch(t[k], v)
		}
	}
	return t
}

// checkName rejects a body that names another object than the path.
func checkName(bodyName, pathName string) error {
	if bodyName != "" && bodyName != pathName {
		return &badRequest{"name", fmt.Sprintf("%q differs from the name in the path (%q)", bodyName, pathName)}
	}
	return nil
}

func (s *Server) putLB(patch bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("lb")
		// PATCH reads the body inside the change, against the head.
		req, raw, err := s.bodyRequest(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		lbs := shape[config.LB, lbIn]{
			current: func(cur *config.LB) any {
				return lbIn{Description: cur.Description, Tags: cur.Tags, IPs: cur.IPs, Project: cur.Project}
			},
			inName: func(in *lbIn) string { return in.Name },
			toConfig: func(in lbIn) (config.LB, error) {
				// A project token's LBs are in its project, whatever the
				// body omits; naming another one is a mistake, not a move.
				if tok := principalOf(r); !tok.Unscoped() {
					if in.Project != "" && in.Project != tok.Project {
						return config.LB{}, &badRequest{"project", fmt.Sprintf("%q: this token is bound to project %q and can only create LBs in it", in.Project, tok.Project)}
					}
					in.Project = tok.Project
				}
				return config.LB{Description: in.Description, Tags: in.Tags, IPs: in.IPs, Project: in.Project}, nil
			},
		}
		edit := lbs.edit(r, raw, patch, name)
		existed := false
		req.Mutate = control.PutLB(name, func(cur *config.LB) (config.LB, error) {
			existed = cur != nil
			if patch && cur == nil {
				// The same answer as every other route about a missing LB.
				_, err := control.FindLB(&config.Config{}, name)
				return config.LB{}, err
			}
			return edit(cur)
		})
		s.change(w, r, req, http.StatusOK, s.viewAt(r, created(w, "/v1/lbs/"+name, &existed, lbView(name))))
	}
}

// readBody reads a whole request body (bounded by ServeHTTP's limit).
func readBody(r *http.Request) ([]byte, error) {
	raw, err := io.ReadAll(r.Body)
	var tooBig *http.MaxBytesError
	if err != nil && !errors.As(err, &tooBig) {
		return nil, &badRequest{"body", err.Error()}
	}
	return raw, err
}

// reqWithBody gives a handler's request a fresh reader over body, so a
// change that is retried can read it again.
func reqWithBody(r *http.Request, raw []byte) *http.Request {
	r2 := *r
	r2.Body = io.NopCloser(bytes.NewReader(raw))
	return &r2
}

func (s *Server) deleteLB(w http.ResponseWriter, r *http.Request) {
	release, err := boolParam(r, "release_ip")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if release && !principalOf(r).Unscoped() {
		// IPs belong to no project: releasing one is for tokens bound to
		// no project.
		s.problem(w, r, http.StatusForbidden, "forbidden", "release_ip needs a token bound to no project: IPs belong to no project", nil)
		return
	}
	s.remove(w, r, control.DeleteLB(r.PathValue("lb"), release))
}

// getStats answers the live state of the LB's servers. The LB must exist
// in the stored config; its servers appear once a revision with them is
// applied.
func (s *Server) getStats(w http.ResponseWriter, r *http.Request) {
	st, err := s.ctl.Get(r.Context(), 0)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	lb, err := control.FindLB(st.Config, r.PathValue("lb"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := client.StatsList{BackendServersStats: []client.ServerStats{}}
	if s.o.Stats != nil {
		out.BackendServersStats = append(out.BackendServersStats, s.o.Stats(lb.Name)...)
	}
	out.TotalCount = len(out.BackendServersStats)
	reply(w, http.StatusOK, st.Revision, out)
}
