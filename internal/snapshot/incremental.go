package snapshot

import (
	"slices"
	"strings"

	"github.com/gantry-lb/gantry/internal/config"
	"github.com/gantry-lb/gantry/internal/health"
	"github.com/gantry-lb/gantry/internal/route"
	"github.com/gantry-lb/gantry/internal/upstream"
)

// Incremental compiles. A change of one route among 100,000 must not cost a
// build of the whole config, twice (the check before the commit, and the
// build the data plane publishes). Check validates and dry-run compiles
// only what a config.Delta names, and Update makes the next snapshot from the
// previous one: it reuses every load balancer, backend and frontend the
// change did not touch, and splices the route table of a frontend whose
// routes changed (route.Table.Splice), so that both cost what changed.
//
// What they rely on: the config the Delta starts from passed Check (or
// Build); a route is valid or not by itself, its frontend's protocol and
// its LB's backends (so a route is checked again when one of those changes);
// a frontend depends on its LB's name, addresses and backends. When Check
// or Update fails, they do the full Build, so that errors read exactly as
// they always did.

// Compiled is a snapshot with what Update needs to make the next one from
// it. Immutable; safe for concurrent use.
type Compiled struct {
	snap *Snapshot
	lbs  map[string]*lbParts
}

// lbParts are the compiled objects of one load balancer.
type lbParts struct {
	backends  []*Backend // in config order
	health    []health.Target
	keys      []upstream.Key
	sticky    []string
	frontends map[string][]*Frontend // by name: one per listen address, sharing everything but Addr
}

// Snapshot returns the compiled snapshot as revision rev. Its Frontends are
// its own copies, whose fields the data plane may set before it publishes
// the snapshot (TLS); everything else, route tables and Backends included,
// is shared with c, with the snapshots made before and with those Update
// makes from c, and is never written.
func (c *Compiled) Snapshot(rev uint64) *Snapshot {
	s := *c.snap
	s.Revision = rev
	s.frontends = make(map[string]*Frontend, len(c.snap.frontends))
	for addr, f := range c.snap.frontends {
		nf := *f
		s.frontends[addr] = &nf
	}
	return &s
}

// BuildCompiled is BuildLive, keeping what Update needs.
func BuildCompiled(cfg *config.Config, live Live) (*Compiled, error) {
	s, err := BuildLive(cfg, live, 0)
	if err != nil {
		return nil, err
	}
	return &Compiled{snap: s, lbs: partsOf(s)}, nil
}

// partsOf splits a snapshot by load balancer.
func partsOf(s *Snapshot) map[string]*lbParts {
	out := map[string]*lbParts{}
	part := func(lb string) *lbParts {
		p := out[lb]
		if p == nil {
			p = &lbParts{frontends: map[string][]*Frontend{}}
			out[lb] = p
		}
		return p
	}
	lbOf := func(qualified string) string { lb, _, _ := strings.Cut(qualified, "/"); return lb }
	for _, b := range s.backends {
		part(b.LB).backends = append(part(b.LB).backends, b)
	}
	for _, t := range s.health {
		p := part(lbOf(t.Endpoint.Key.Backend))
		p.health = append(p.health, t)
	}
	for k := range s.keys {
		p := part(lbOf(k.Backend))
		p.keys = append(p.keys, k)
	}
	for k := range s.sticky {
		p := part(lbOf(k))
		p.sticky = append(p.sticky, k)
	}
	for _, addr := range s.Addrs() {
		f := s.frontends[addr]
		p := part(f.LB)
		p.frontends[f.Name] = append(p.frontends[f.Name], f)
	}
	return out
}

// whole reports whether a change d must be compiled whole: d is nil
// (unknown), or certificates changed, which the frontends serving them
// read while they compile. A change of IP objects alone changes nothing
// compiled.
func whole(d *config.Delta) bool { return d == nil || d.Certificates }

// Check validates cfg and compiles it without publishing anything, like
// Build with a registry of its own. With d, cfg is a config that passed
// Check changed by d, and only what d names is checked and compiled.
func Check(cfg *config.Config, d *config.Delta) error {
	dry := Live{Registry: upstream.NewRegistry()}
	if whole(d) {
		_, err := BuildLive(cfg, dry, 0)
		return err
	}
	if err := check(cfg, d, dry); err != nil {
		// The full build says exactly what is wrong, with the indexes
		// of the whole route lists.
		_, err := BuildLive(cfg, dry, 0)
		return err
	}
	return nil
}

func check(cfg *config.Config, d *config.Delta, dry Live) error {
	// The whole config's rules (names, references, ports, addresses), with
	// the routes that did not change left out.
	reduced := trimmed(cfg, d)
	if _, err := reduced.Prepare(); err != nil {
		return err
	}
	// The LBs that changed, with only the frontends that changed.
	for i := range reduced.LBs {
		lb := &reduced.LBs[i]
		ld := d.LBs[lb.Name]
		if ld == nil {
			continue
		}
		one := *lb
		if !ld.Fields && len(ld.Backends) == 0 {
			one.Frontends = slices.DeleteFunc(slices.Clone(lb.Frontends), func(f config.Frontend) bool { return ld.Frontends[f.Name] == nil })
		}
		if _, err := BuildLive(&config.Config{LBs: []config.LB{one}}, dry, 0); err != nil {
			return err
		}
	}
	return nil
}

// trimmed returns cfg with the routes that d says did not change left out
// (but a frontend's first route, which may give it its protocol), where
// nothing they depend on changed.
func trimmed(cfg *config.Config, d *config.Delta) *config.Config {
	out := *cfg
	out.LBs = slices.Clone(cfg.LBs)
	for i := range out.LBs {
		lb := &out.LBs[i]
		ld := d.LBs[lb.Name]
		if ld != nil && len(ld.Backends) > 0 {
			continue // every route may name a changed backend
		}
		lb.Frontends = slices.Clone(lb.Frontends)
		for j := range lb.Frontends {
			f := &lb.Frontends[j]
			var fd *config.FrontendDelta
			if ld != nil {
				fd = ld.Frontends[f.Name]
			}
			if fd != nil && fd.Fields || f.Routes.Len() <= 1 {
				continue
			}
			keep := f.Routes.Slice(0, 1)
			if fd != nil && fd.Routes != nil && fd.Routes.NewTo > max(fd.Routes.From, 1) {
				keep = append(keep, f.Routes.Slice(max(fd.Routes.From, 1), fd.Routes.NewTo)...)
			}
			f.Routes = config.RoutesOf(keep...)
		}
	}
	return &out
}

// Update makes the snapshot of cfg from c, which was compiled from a config
// that d turns into cfg (cfg passed Check). It compiles with live only what
// d names, and reuses the rest of c; on any error it builds cfg whole.
func (c *Compiled) Update(cfg *config.Config, d *config.Delta, live Live) (*Compiled, error) {
	if c == nil || whole(d) {
		return BuildCompiled(cfg, live)
	}
	if u, err := c.update(cfg, d, live); err == nil {
		return u, nil
	}
	return BuildCompiled(cfg, live)
}

func (c *Compiled) update(cfg *config.Config, d *config.Delta, live Live) (*Compiled, error) {
	lbs := make(map[string]*lbParts, len(cfg.LBs))
	for i := range cfg.LBs {
		lb := &cfg.LBs[i]
		prev, ld := c.lbs[lb.Name], d.LBs[lb.Name]
		switch {
		case prev != nil && ld == nil:
			lbs[lb.Name] = prev
		case prev == nil || ld.Fields || len(ld.Backends) > 0:
			// A new LB, or one whose backends or addresses changed: its
			// frontends all depend on them.
			s, err := BuildLive(&config.Config{LBs: []config.LB{*lb}}, live, 0)
			if err != nil {
				return nil, err
			}
			lbs[lb.Name] = partsOf(s)[lb.Name]
			if lbs[lb.Name] == nil {
				lbs[lb.Name] = &lbParts{frontends: map[string][]*Frontend{}}
			}
		default:
			p, err := prev.update(lb, ld, live)
			if err != nil {
				return nil, err
			}
			lbs[lb.Name] = p
		}
	}
	return &Compiled{snap: assemble(cfg, lbs), lbs: lbs}, nil
}

// update makes the parts of LB lb, whose backends and own fields did not
// change, from p: only its frontends named in ld are compiled.
func (p *lbParts) update(lb *config.LB, ld *config.LBDelta, live Live) (*lbParts, error) {
	out := *p
	out.frontends = make(map[string][]*Frontend, len(lb.Frontends))
	backends := make(map[string]*Backend, len(p.backends))
	for _, b := range p.backends {
		backends[b.Name] = b
	}
	for j := range lb.Frontends {
		cf := &lb.Frontends[j]
		fd, prev := ld.Frontends[cf.Name], p.frontends[cf.Name]
		switch {
		case fd == nil && prev != nil:
			out.frontends[cf.Name] = prev
			continue
		case fd != nil && !fd.Fields && fd.Routes != nil && prev != nil:
			// The protocol comes from the first route when nothing else
			// gives it: then that route changing changes everything.
			if sp := fd.Routes; !(sp.From == 0 && cf.Protocol == "" && cf.Backend == "") {
				fs, err := spliceRoutes(prev, cf, sp, backends)
				if err != nil {
					return nil, err
				}
				out.frontends[cf.Name] = fs
				continue
			}
		}
		fs, err := compileFrontend(lb, cf, backends, live)
		if err != nil {
			return nil, err
		}
		out.frontends[cf.Name] = fs
	}
	return &out, nil
}

// spliceRoutes makes the frontends of cf from prev (the same frontend, whose
// routes sp changed): they share everything with prev but the route table.
func spliceRoutes(prev []*Frontend, cf *config.Frontend, sp *config.RouteSpan, backends map[string]*Backend) ([]*Frontend, error) {
	proto := prev[0].Protocol
	rules := make([]route.Rule[*Backend], 0, sp.NewTo-sp.From)
	for i := sp.From; i < sp.NewTo; i++ {
		rules = append(rules, routeRule(proto, cf.Routes.At(i), backends))
	}
	var t *route.Table[*Backend]
	var err error
	if old := prev[0].routes; old != nil {
		t, err = old.Splice(sp.From, sp.OldTo, rules)
	} else {
		t, err = route.NewTable(rules)
	}
	if err != nil {
		return nil, err
	}
	if t.Len() == 0 {
		t = nil
	}
	out := make([]*Frontend, len(prev))
	for i, f := range prev {
		nf := *f
		nf.routes = t
		out[i] = &nf
	}
	return out, nil
}

// compileFrontend compiles frontend cf of lb against the LB's compiled
// backends.
func compileFrontend(lb *config.LB, cf *config.Frontend, backends map[string]*Backend, live Live) ([]*Frontend, error) {
	// Defaults need the LB's backends (a frontend's protocol may come from
	// one); only this frontend is copied with its routes.
	one := config.LB{Name: lb.Name, IPs: lb.IPs, Backends: lb.Backends, Frontends: []config.Frontend{*cf}}
	dc := (&config.Config{LBs: []config.LB{one}}).WithDefaults()
	s := &Snapshot{frontends: map[string]*Frontend{}, feKeys: map[string]bool{}}
	if err := s.frontend(&dc.LBs[0], &dc.LBs[0].Frontends[0], backends, live.Registry); err != nil {
		return nil, err
	}
	out := make([]*Frontend, 0, len(s.frontends))
	for _, addr := range s.Addrs() {
		out = append(out, s.frontends[addr])
	}
	return out, nil
}

// assemble makes the snapshot of cfg from the parts of its LBs.
func assemble(cfg *config.Config, lbs map[string]*lbParts) *Snapshot {
	s := &Snapshot{
		frontends: make(map[string]*Frontend),
		keys:      make(map[upstream.Key]bool),
		feKeys:    make(map[string]bool),
		sticky:    make(map[string]bool),
	}
	for i := range cfg.LBs {
		name := cfg.LBs[i].Name
		p := lbs[name]
		s.backends = append(s.backends, p.backends...)
		s.health = append(s.health, p.health...)
		for _, k := range p.keys {
			s.keys[k] = true
		}
		for _, k := range p.sticky {
			s.sticky[k] = true
		}
		for fname, fs := range p.frontends {
			s.feKeys[name+"/"+fname] = true
			for _, f := range fs {
				s.frontends[f.Addr] = f
			}
		}
	}
	return s
}
