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
		// Listeners and apply errors span every project.
		st.Listeners = []string{}
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

func wantsYAML(r *http.Request) bool {
	return r.URL.Query().Get("format") == "yaml" || strings.Contains(r.Header.Get("Accept"), "yaml")
}

func (s *Server) getConfig(w http.ResponseWriter, r *http.Request) {
	st, err := s.state(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	doc := st.Config
	if doc.LBs == nil {
		doc = &config.Config{LBs: []config.LB{}} // the state is shared: never modify it
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
		*cur = *cfg
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
	st, err := s.state(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
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
		s.fail(w, r, err)
		return
	}
	reply(w, http.StatusOK, st.Revision, map[string]any{"lbs": out, "total_count": total})
}

func (s *Server) getLB(w http.ResponseWriter, r *http.Request) {
	st, err := s.state(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	lb, err := control.FindLB(st.Config, r.PathValue("lb"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	reply(w, http.StatusOK, st.Revision, toLBOut(lb, st.Meta[control.LBPath(lb.Name)]))
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
		req, err := s.writeRequest(r, nil)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		// PATCH reads the body inside the change, against the head.
		raw, err := readBody(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		existed := false
		req.Mutate = control.PutLB(name, func(cur *config.LB) (config.LB, error) {
			existed = cur != nil
			if patch && cur == nil {
				// The same answer as every other route about a missing LB.
				_, err := control.FindLB(&config.Config{}, name)
				return config.LB{}, err
			}
			var curIn any
			if cur != nil {
				curIn = lbIn{Description: cur.Description, Tags: cur.Tags, IPs: cur.IPs, Project: cur.Project}
			}
			var in lbIn
			if err := body(reqWithBody(r, raw), patch, curIn, &in, nil); err != nil {
				return config.LB{}, err
			}
			if err := checkName(in.Name, name); err != nil {
				return config.LB{}, err
			}
			// A project token's LBs are in its project, whatever the body
			// omits; naming another one is a mistake, not a move.
			if tok := principalOf(r); !tok.Unscoped() {
				if in.Project != "" && in.Project != tok.Project {
					return config.LB{}, &badRequest{"project", fmt.Sprintf("%q: this token is bound to project %q and can only create LBs in it", in.Project, tok.Project)}
				}
				in.Project = tok.Project
			}
			return config.LB{Description: in.Description, Tags: in.Tags, IPs: in.IPs, Project: in.Project}, nil
		})
		s.change(w, r, req, http.StatusOK, func(rev uint64) (any, error) {
			st, err := s.ctl.Get(r.Context(), rev)
			if err != nil {
				return nil, err
			}
			lb, err := control.FindLB(st.Config, name)
			if err != nil {
				return nil, err
			}
			if !existed {
				w.Header().Set("Location", "/v1/lbs/"+name)
			}
			return toLBOut(lb, st.Meta[control.LBPath(name)]), nil
		})
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
	req, err := s.writeRequest(r, control.DeleteLB(r.PathValue("lb"), release))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.change(w, r, req, http.StatusNoContent, nil)
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
