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
	// shape reads PUT and PATCH bodies.
	shape[C, In]
	put func(lb, name string, edit func(cur *C) (C, error)) func(*config.Config) error
	del func(lb, name string) func(*config.Config) error
	// live, when set, adds to an object what the data plane knows of it
	// now (the servers a Docker selector resolves to).
	live func(s *Server, lb string, o *Out)
}

// show is c as the API shows it, with its live part.
func (k *kind[C, In, Out]) show(s *Server, lb string, c *C, m control.ObjectMeta) Out {
	o := k.out(c, m)
	if k.live != nil {
		k.live(s, lb, &o)
	}
	return o
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
	shape: shape[config.Frontend, frontendIn]{
		current:  func(f *config.Frontend) any { return frontendInOf(f) },
		toConfig: frontendToConfig,
		inName:   func(in *frontendIn) string { return in.Name },
		aliases:  frontendAliases,
	},
	put: control.PutFrontend,
	del: control.DeleteFrontend,
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
	shape: shape[config.Backend, backendIn]{
		current: func(b *config.Backend) any {
			c := *b
			c.Name = ""
			return c // the model's JSON is valid backendIn JSON
		},
		toConfig: backendToConfig,
		inName:   func(in *backendIn) string { return in.Name },
		aliases:  backendAliases,
	},
	put:  control.PutBackend,
	del:  control.DeleteBackend,
	live: (*Server).resolvedServers,
}

// view shows object name of load balancer lb.
func (k *kind[C, In, Out]) view(s *Server, lb, name string) view {
	return func(st *control.State) (any, error) {
		c, err := k.find(st.Config, lb, name)
		if err != nil {
			return nil, err
		}
		return k.show(s, lb, c, st.Meta[k.path(lb, name)]), nil
	}
}

func listOf[C, In, Out any](s *Server, k *kind[C, In, Out]) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.answer(w, r, func(st *control.State) (any, error) {
			lb, err := control.FindLB(st.Config, r.PathValue("lb"))
			if err != nil {
				return nil, err
			}
			items := k.items(lb)
			all := make([]Out, 0, len(items))
			for i := range items {
				all = append(all, k.show(s, lb.Name, &items[i], st.Meta[k.path(lb.Name, k.nameOf(&items[i]))]))
			}
			out, total, err := page(r, all, k.outName, k.outCreated)
			if err != nil {
				return nil, err
			}
			return map[string]any{k.plural: out, "total_count": total}, nil
		})
	}
}

func getOf[C, In, Out any](s *Server, k *kind[C, In, Out]) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.answer(w, r, k.view(s, r.PathValue("lb"), r.PathValue("name")))
	}
}

// putOf handles PUT (create or replace) and, with patch, PATCH (a merge
// patch on the current object, read inside the change so it is atomic).
func putOf[C, In, Out any](s *Server, k *kind[C, In, Out], patch bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		lbName, name := r.PathValue("lb"), r.PathValue("name")
		req, raw, err := s.bodyRequest(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		req.Mutate = k.put(lbName, name, k.edit(r, raw, patch, name))
		s.change(w, r, req, http.StatusOK, s.viewAt(r, k.view(s, lbName, name)))
	}
}

func deleteOf[C, In, Out any](s *Server, k *kind[C, In, Out]) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.remove(w, r, k.del(r.PathValue("lb"), r.PathValue("name")))
	}
}
