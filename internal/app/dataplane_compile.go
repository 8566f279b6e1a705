package app

import (
	"github.com/gantry-lb/gantry/internal/config"
	"github.com/gantry-lb/gantry/internal/control"
	"github.com/gantry-lb/gantry/internal/snapshot"
)

// Incremental compiles: the dry run of a change (dryRun) checks only what
// the change touched, and the data plane makes the snapshot of a revision
// from the one it published (ApplyState), so that a route changed among
// 100,000 is served as fast as among 1,000.

// dryRun compiles a config the way the data plane would, publishing
// nothing; with d, only what d changed in a config that passed dryRun.
func dryRun(cfg *config.Config, d *control.Delta) error {
	return snapshot.Check(cfg, snapDelta(d))
}

// ApplyState is ApplyRevision for a stored state: only what changed since
// the state published last is compiled.
func (d *Dataplane) ApplyState(st *control.State) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	var delta *snapshot.Delta
	if d.compiled != nil && d.state != nil {
		delta = snapDelta(st.DeltaFrom(d.state))
	}
	if err := d.applyDelta(st.Config, st.Revision, delta); err != nil {
		return err
	}
	d.state = st
	return nil
}

// buildDelta is build (discovery.go), compiling from the published
// snapshot only what delta changed when it can. With discovery on, the
// config built is the stored one merged with what discovery found, whose
// changes delta does not describe: it builds whole, and returns no
// Compiled.
func (d *Dataplane) buildDelta(cfg *config.Config, rev uint64, delta *snapshot.Delta) (*snapshot.Snapshot, *snapshot.Compiled, error) {
	if d.disc != nil {
		snap, err := d.build(cfg, rev)
		return snap, nil, err
	}
	live := snapshot.Live{Registry: d.reg, Tables: d.tables, CookieSecret: d.secret}
	var comp *snapshot.Compiled
	var err error
	if d.compiled != nil && delta != nil {
		comp, err = d.compiled.Update(cfg, delta, live)
	} else {
		comp, err = snapshot.BuildCompiled(cfg, live)
	}
	if err != nil {
		return nil, nil, err
	}
	return comp.Snapshot(rev), comp, nil
}

// snapDelta translates control's Delta into the data plane's. nil stays
// nil (compile everything), and so does a change of certificates, which
// the frontends serving them read while they compile.
func snapDelta(d *control.Delta) *snapshot.Delta {
	if d == nil || d.Certificates {
		return nil
	}
	out := &snapshot.Delta{LBs: make(map[string]*snapshot.LBDelta, len(d.LBs))}
	for name, l := range d.LBs {
		sl := &snapshot.LBDelta{Fields: l.Fields, Backends: l.Backends, Frontends: make(map[string]*snapshot.FrontendDelta, len(l.Frontends))}
		for fname, f := range l.Frontends {
			sf := &snapshot.FrontendDelta{Fields: f.Fields}
			if r := f.Routes; r != nil {
				sf.Routes = &snapshot.RouteSpan{From: r.From, OldTo: r.OldTo, NewTo: r.NewTo}
			}
			sl.Frontends[fname] = sf
		}
		out.LBs[name] = sl
	}
	return out
}
