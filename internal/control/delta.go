package control

import (
	"encoding/json"

	"github.com/gantry-lb/gantry/internal/config"
)

// The Delta of a change (config.Delta) is made here: by the plan of a
// change (plan.go), by diffConfigs when two configs are compared whole,
// and by thenDelta when the deltas of several changes add up
// (State.Since).

// entry returns (*m)[key], made (with the map) when absent.
func entry[V any](m *map[string]*V, key string) *V {
	if *m == nil {
		*m = map[string]*V{}
	}
	v := (*m)[key]
	if v == nil {
		v = new(V)
		(*m)[key] = v
	}
	return v
}

// markBackend records that backend name of l changed.
func markBackend(l *config.LBDelta, name string) {
	if l.Backends == nil {
		l.Backends = map[string]bool{}
	}
	l.Backends[name] = true
}

// thenDelta returns the delta of d followed by e (d: X to Y, e: Y to Z;
// the result: X to Z). Neither is changed.
func thenDelta(d, e *config.Delta) *config.Delta {
	out := &config.Delta{IPs: d.IPs || e.IPs, Certificates: d.Certificates || e.Certificates}
	for _, src := range []*config.Delta{d, e} {
		for name, l := range src.LBs {
			o := entry(&out.LBs, name)
			o.Fields = o.Fields || l.Fields
			for b := range l.Backends {
				markBackend(o, b)
			}
		}
	}
	for name := range out.LBs {
		var fd, fe map[string]*config.FrontendDelta
		if l := d.LBs[name]; l != nil {
			fd = l.Frontends
		}
		if l := e.LBs[name]; l != nil {
			fe = l.Frontends
		}
		o := out.LBs[name]
		for fname, a := range fd {
			*entry(&o.Frontends, fname) = *a
		}
		for fname, b := range fe {
			f := entry(&o.Frontends, fname)
			switch {
			case f.Fields || b.Fields:
				f.Fields, f.Routes = true, nil
			case f.Routes == nil:
				f.Routes = b.Routes
			case b.Routes != nil:
				f.Routes = thenSpan(f.Routes, b.Routes)
			}
		}
	}
	return out
}

// thenSpan composes two spans: s on lists L0 to L1, t on L1 to L2. The
// result, on L0 to L2, covers both (and whatever lies between them).
func thenSpan(s, t *config.RouteSpan) *config.RouteSpan {
	// The union of both in L1's indexes, mapped back to L0 and on to L2:
	// before a span the lists agree index for index, after it they agree
	// with an offset.
	a, b := min(s.From, t.From), max(s.NewTo, t.OldTo)
	return &config.RouteSpan{From: a, OldTo: s.OldTo + (b - s.NewTo), NewTo: t.NewTo + (b - t.OldTo)}
}

// diffConfigs compares two configs object by object (by memory, then by
// stored form) and returns what changed from a to b.
func diffConfigs(a, b *config.Config) *config.Delta {
	d := &config.Delta{}
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
	old := byName(a.LBs, func(l *config.LB) string { return l.Name })
	for i := range b.LBs {
		lb := &b.LBs[i]
		o := old[lb.Name]
		delete(old, lb.Name)
		if o == nil {
			entry(&d.LBs, lb.Name).Fields = true
			continue
		}
		x, y := *o, *lb
		x.Frontends, x.Backends, y.Frontends, y.Backends = nil, nil, nil, nil
		if !sameMemory(&x, &y) && !same(&x, &y) {
			entry(&d.LBs, lb.Name).Fields = true
		}
		obe := byName(o.Backends, func(b *config.Backend) string { return b.Name })
		for j := range lb.Backends {
			be := &lb.Backends[j]
			ob := obe[be.Name]
			delete(obe, be.Name)
			if ob == nil || !sameMemory(ob, be) && !same(ob, be) {
				markBackend(entry(&d.LBs, lb.Name), be.Name)
			}
		}
		for name := range obe {
			markBackend(entry(&d.LBs, lb.Name), name)
		}
		ofe := byName(o.Frontends, func(f *config.Frontend) string { return f.Name })
		for j := range lb.Frontends {
			f := &lb.Frontends[j]
			of := ofe[f.Name]
			delete(ofe, f.Name)
			if of == nil {
				entry(&entry(&d.LBs, lb.Name).Frontends, f.Name).Fields = true
				continue
			}
			x, y := *of, *f
			x.Routes, y.Routes = config.RouteList{}, config.RouteList{}
			if !sameMemory(&x, &y) && !same(&x, &y) {
				entry(&entry(&d.LBs, lb.Name).Frontends, f.Name).Fields = true
				continue
			}
			if sp := routesSpan(of.Routes, f.Routes); sp != nil {
				entry(&entry(&d.LBs, lb.Name).Frontends, f.Name).Routes = sp
			}
		}
		for name := range ofe {
			entry(&entry(&d.LBs, lb.Name).Frontends, name).Fields = true
		}
	}
	for name := range old {
		entry(&d.LBs, name).Fields = true
	}
	return d
}

// byName indexes items by the name name gives each, pointing into items.
func byName[T any](items []T, name func(*T) string) map[string]*T {
	m := make(map[string]*T, len(items))
	for i := range items {
		m[name(&items[i])] = &items[i]
	}
	return m
}

// routesSpan returns the span of b that differs from a (nil: none), the
// lists compared from both ends.
func routesSpan(a, b config.RouteList) *config.RouteSpan {
	n, m := a.Len(), b.Len()
	if a.Same(b) {
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
	for head < min(n, m) && sameRoute(a.At(head), b.At(head)) {
		head++
	}
	tail := 0
	for tail < min(n, m)-head && sameRoute(a.At(n-1-tail), b.At(m-1-tail)) {
		tail++
	}
	if head == n && head == m {
		return nil
	}
	return &config.RouteSpan{From: head, OldTo: n - tail, NewTo: m - tail}
}
