package app

import (
	"github.com/gantry-lb/gantry/internal/config"
	"github.com/gantry-lb/gantry/internal/control"
	"github.com/gantry-lb/gantry/internal/snapshot"
)

// Incremental compiles: the dry run of a change (snapshot.Check, the
// control's compiler) checks only what the change touched, and the data
// plane makes the snapshot of a revision from the one it published
// (ApplyState), so that a route changed among 100,000 costs little more
// than among 1,000.

// ApplyState is ApplyRevision for a stored state: only what changed since
// the state published last is compiled.
func (d *Dataplane) ApplyState(st *control.State) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	var delta *config.Delta
	if d.compiled != nil && d.state != nil {
		delta = st.DeltaFrom(d.state)
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
func (d *Dataplane) buildDelta(cfg *config.Config, rev uint64, delta *config.Delta) (*snapshot.Snapshot, *snapshot.Compiled, error) {
	if d.disc != nil {
		snap, err := d.build(cfg, rev)
		return snap, nil, err
	}
	// Update builds whole without a published Compiled or a delta.
	comp, err := d.compiled.Update(cfg, delta, snapshot.Live{Registry: d.reg, Tables: d.tables, CookieSecret: d.secret})
	if err != nil {
		return nil, nil, err
	}
	return comp.Snapshot(rev), comp, nil
}
