package api

import (
	"net/http"

	"github.com/gantry-lb/gantry/internal/config"
	"github.com/gantry-lb/gantry/internal/control"
)

// kind describes one kind of named object of an LB (frontends, backends)
// for the generic list, get, put and delete handlers below: the shapes
// differ, the handling does not.
type kind[C any, In any, Out any] struct {
	noun, plural string
	items        func(lb *config.LB) []C
	nameOf       func(c *C) string
	find         func(cfg *config.Config, lb, name string) (*C, error)
	path         func(lb, name string) string
	out          func(c *C, m control.ObjectMeta) Out
	outName      func(o Out) string
	outCreated   func(o Out) int64
	// current returns the current object in a vocabulary In decodes, the
	// base of a PATCH.
	current  func(c *C) any
	toConfig func(in In) (C, error)
	inName   func(in *In) string
	aliases  func(map[string]any) error
	put      func(lb, name string, edit func(cur *C) (C, error)) func(*config.Config) error
	del      func(lb, name string) func(*config.Config) error
}

var frontends = &kind[config.Frontend, frontendIn, frontendOut]{
	noun: "frontend", plural: "frontends",
	items:      func(lb *config.LB) []config.Frontend { return lb.Frontends },
	nameOf:     func(f *config.Frontend) string { return f.Name },
	find:       control.FindFrontend,
	path:       control.FrontendPath,
	out:        toFrontendOut,
	outName:    func(o frontendOut) string { return o.Name },
	outCreated: func(o frontendOut) int64 { return o.CreatedAt.UnixNano() },
	current:    func(f *config.Frontend) any { return frontendInOf(f) },
	toConfig:   frontendToConfig,
	inName:     func(in *frontendIn) string { return in.Name },
	aliases:    frontendAliases,
	put:        control.PutFrontend,
	del:        control.DeleteFrontend,
}

var backends = &kind[config.Backend, backendIn, backendOut]{
	noun: "backend", plural: "backends",
	items:      func(lb *config.LB) []config.Backend { return lb.Backends },
	nameOf:     func(b *config.Backend) string { return b.Name },
	find:       control.FindBackend,
	path:       control.BackendPath,
	out:        toBackendOut,
	outName:    func(o backendOut) string { return o.Name },
	outCreated: func(o backendOut) int64 { return o.CreatedAt.UnixNano() },
	current: func(b *config.Backend) any {
		c := *b
		c.Name = ""
		return c // the model's JSON is valid backendIn JSON
	},
	toConfig: backendToConfig,
	inName:   func(in *backendIn) string { return in.Name },
	aliases:  backendAliases,
	put:      control.PutBackend,
	del:      control.DeleteBackend,
}

// shown reads the object at revision rev as the API shows it.
func (k *kind[C, In, Out]) shown(s *Server, r *http.Request, rev uint64, lbName, name string) (any, error) {
	st, err := s.ctl.Get(r.Context(), rev)
	if err != nil {
		return nil, err
	}
	c, err := k.find(st.Config, lbName, name)
	if err != nil {
		return nil, err
	}
	return k.out(c, st.Meta[k.path(lbName, name)]), nil
}

func listOf[C, In, Out any](s *Server, k *kind[C, In, Out]) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
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
		items := k.items(lb)
		all := make([]Out, 0, len(items))
		for i := range items {
			all = append(all, k.out(&items[i], st.Meta[k.path(lb.Name, k.nameOf(&items[i]))]))
		}
		out, total, err := page(r, all, k.outName, k.outCreated)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		reply(w, http.StatusOK, st.Revision, map[string]any{k.plural: out, "total_count": total})
	}
}

func getOf[C, In, Out any](s *Server, k *kind[C, In, Out]) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		st, err := s.state(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		lbName, name := r.PathValue("lb"), r.PathValue("name")
		c, err := k.find(st.Config, lbName, name)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		reply(w, http.StatusOK, st.Revision, k.out(c, st.Meta[k.path(lbName, name)]))
	}
}

// putOf handles PUT (create or replace) and, with patch, PATCH (a merge
// patch on the current object, read inside the change so it is atomic).
func putOf[C, In, Out any](s *Server, k *kind[C, In, Out], patch bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
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
		req.Mutate = k.put(lbName, name, func(cur *C) (C, error) {
			var zero C
			var curIn any
			if cur != nil {
				curIn = k.current(cur)
			}
			var in In
			if err := body(reqWithBody(r, raw), patch, curIn, &in, k.aliases); err != nil {
				return zero, err
			}
			if err := checkName(k.inName(&in), name); err != nil {
				return zero, err
			}
			return k.toConfig(in)
		})
		s.change(w, r, req, http.StatusOK, func(rev uint64) (any, error) { return k.shown(s, r, rev, lbName, name) })
	}
}

func deleteOf[C, In, Out any](s *Server, k *kind[C, In, Out]) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		req, err := s.writeRequest(r, k.del(r.PathValue("lb"), r.PathValue("name")))
		if err != nil {
			s.fail(w, r, err)
			return
		}
		s.change(w, r, req, http.StatusNoContent, nil)
	}
}
