package control

import (
	"encoding/json"

	"github.com/gantry-lb/gantry/internal/config"
)

// Delta says what changed between two configs, object by object, so that
// the data plane compiles only that (see Compiler and State.Since). A nil
// *Delta means "unknown": compile everything.
//
// A Delta is immutable once made, and may be shared.
type Delta struct {
	// LBs are the load balancers with a change, by name: created,
	// deleted, or with a changed field, frontend, backend or route. An LB
	// that is absent did not change.
	LBs map[string]*LBDelta
	// IPs is true when an IP object changed.
	IPs bool
	// Certificates is true when a certificate object changed.
	Certificates bool
}

// LBDelta is what changed in one load balancer.
type LBDelta struct {
	// Fields is true when the LB was created or deleted, or one of its
	// own fields (name, addresses, tags...) changed.
	Fields bool
	// Backends are the backends created, changed or deleted, by name.
	Backends map[string]bool
	// Frontends are the frontends created, changed or deleted, by name.
	Frontends map[string]*FrontendDelta
}

// FrontendDelta is what changed in one frontend.
type FrontendDelta struct {
	// Fields is true when the frontend was created or deleted or one of
	// its fields other than its routes changed: compile it whole.
	Fields bool
	// Routes, when Fields is false, is the part of the route list that
	// changed (nil: none did).
	Routes *RouteSpan
}

// RouteSpan says that routes [From, OldTo) of the old list became routes
// [From, NewTo) of the new one; the routes before From and from OldTo on
// (NewTo on in the new list) are the same in both.
type RouteSpan struct {
	From, OldTo, NewTo int
}

// lb returns the LBDelta of name, created empty.
func (d *Delta) lb(name string) *LBDelta {
	if d.LBs == nil {
		d.LBs = map[string]*LBDelta{}
	}
	l := d.LBs[name]
	if l == nil {
		l = &LBDelta{}
		d.LBs[name] = l
	}
	return l
}

func (l *LBDelta) backend(name string) {
	if l.Backends == nil {
		l.Backends = map[string]bool{}
	}
	l.Backends[name] = true
}

func (l *LBDelta) frontend(name string) *FrontendDelta {
	if l.Frontends == nil {
		l.Frontends = map[string]*FrontendDelta{}
	}
	f := l.Frontends[name]
	if f == nil {
		f = &FrontendDelta{}
		l.Frontends[name] = f
	}
	return f
}

// then returns the delta of d followed by e (d: X to Y, e: Y to Z; the
// result: X to Z). Neither is changed.
func (d *Delta) then(e *Delta) *Delta {
	out := &Delta{IPs: d.IPs || e.IPs, Certificates: d.Certificates || e.Certificates}
	for _, src := range []*Delta{d, e} {
		for name, l := range src.LBs {
			o := out.lb(name)
			o.Fields = o.Fields || l.Fields
			for b := range l.Backends {
				o.backend(b)
			}
		}
	}
	for name := range out.LBs {
		var fd, fe map[string]*FrontendDelta
		if l := d.LBs[name]; l != nil {
			fd = l.Frontends
		}
		if l := e.LBs[name]; l != nil {
			fe = l.Frontends
		}
		o := out.LBs[name]
		for fname, a := range fd {
			*o.frontend(fname) = *a
		}
		for fname, b := range fe {
			f := o.frontend(fname)
			switch {
			case f.Fields || b.Fields:
				f.Fields, f.Routes = true, nil
			case f.Routes == nil:
				f.Routes = b.Routes
			case b.Routes != nil:
				f.Routes = f.Routes.then(b.Routes)
			}
		}
	}
	return out
}

// then composes two spans: s on lists L0 to L1, t on L1 to L2. The result,
// on L0 to L2, covers both (and whatever lies between them).
func (s *RouteSpan) then(t *RouteSpan) *RouteSpan {
	// The union of both in L1's indexes, mapped back to L0 and on to L2:
	// before a span the lists agree index for index, after it they agree
	// with an offset.
	a, b := min(s.From, t.From), max(s.NewTo, t.OldTo)
	return &RouteSpan{From: a, OldTo: s.OldTo + (b - s.NewTo), NewTo: t.NewTo + (b - t.OldTo)}
}

// diffConfigs compares two configs object by object (by memory, then by
// stored form) and returns what changed from a to b.
func diffConfigs(a, b *config.Config) *Delta {
	d := &Delta{}
	same := func(x, y any) bool {
		jx, ex := json.Marshal(x)
		jy, ey := json.Marshal(y)
		return ex == nil && ey == nil && string(jx) == string(jy)
	}
	if len(a.IPs) != len(b.IPs) || !sameMemorySlice(a.IPs, b.IPs) && !same(a.IPs, b.IPs) {
		d.IPs = true
	}
	if len(a.Certificates) != len(b.Certificates) || !sameMemorySlice(a.Certificates, b.Certificates) && !same(a.Certificates, b.Certificates) {
		d.Certificates = true
	}
	old := make(map[string]*config.LB, len(a.LBs))
	for i := range a.LBs {
		old[a.LBs[i].Name] = &a.LBs[i]
	}
	for i := range b.LBs {
		lb := &b.LBs[i]
		o := old[lb.Name]
		delete(old, lb.Name)
		if o == nil {
			d.lb(lb.Name).Fields = true
			continue
		}
		x, y := *o, *lb
		x.Frontends, x.Backends, y.Frontends, y.Backends = nil, nil, nil, nil
		if !sameMemory(&x, &y) && !same(&x, &y) {
			d.lb(lb.Name).Fields = true
		}
		obe := make(map[string]*config.Backend, len(o.Backends))
		for j := range o.Backends {
			obe[o.Backends[j].Name] = &o.Backends[j]
		}
		for j := range lb.Backends {
			be := &lb.Backends[j]
			ob := obe[be.Name]
			delete(obe, be.Name)
			if ob == nil || !sameMemory(ob, be) && !same(ob, be) {
				d.lb(lb.Name).backend(be.Name)
			}
		}
		for name := range obe {
			d.lb(lb.Name).backend(name)
		}
		ofe := make(map[string]*config.Frontend, len(o.Frontends))
		for j := range o.Frontends {
			ofe[o.Frontends[j].Name] = &o.Frontends[j]
		}
		for j := range lb.Frontends {
			f := &lb.Frontends[j]
			of := ofe[f.Name]
			delete(ofe, f.Name)
			if of == nil {
				d.lb(lb.Name).frontend(f.Name).Fields = true
				continue
			}
			x, y := *of, *f
			x.Routes, y.Routes = nil, nil
			if !sameMemory(&x, &y) && !same(&x, &y) {
				d.lb(lb.Name).frontend(f.Name).Fields = true
				continue
			}
			if sp := routesSpan(of.Routes, f.Routes); sp != nil {
				d.lb(lb.Name).frontend(f.Name).Routes = sp
			}
		}
		for name := range ofe {
			d.lb(lb.Name).frontend(name).Fields = true
		}
	}
	for name := range old {
		d.lb(name).Fields = true
	}
	return d
}

// routesSpan returns the span of b that differs from a (nil: none), the
// lists compared from both ends.
func routesSpan(a, b []config.Route) *RouteSpan {
	n, m := len(a), len(b)
	if n == m && (n == 0 || &a[0] == &b[0]) {
		return nil
	}
	sameRoute := func(x, y *config.Route) bool {
		if sameMemory(x, y) {
			return true
		}
		jx, _ := json.Marshal(x)
		jy, _ := json.Marshal(y)
		return string(jx) == string(jy)
	}
	head := 0
	for head < min(n, m) && sameRoute(&a[head], &b[head]) {
		head++
	}
	tail := 0
	for tail < min(n, m)-head && sameRoute(&a[n-1-tail], &b[m-1-tail]) {
		tail++
	}
	if head == n && head == m {
		return nil
	}
	return &RouteSpan{From: head, OldTo: n - tail, NewTo: m - tail}
}
