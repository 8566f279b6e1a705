// Package app wires gantry together: it compiles configs into snapshots,
// publishes them, keeps listeners and health checks in step, and owns the
// lifecycle of the data plane.
package app

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/gantry-lb/gantry/internal/balance"
	"github.com/gantry-lb/gantry/internal/config"
	"github.com/gantry-lb/gantry/internal/control"
	"github.com/gantry-lb/gantry/internal/health"
	"github.com/gantry-lb/gantry/internal/httpproxy"
	"github.com/gantry-lb/gantry/internal/listener"
	"github.com/gantry-lb/gantry/internal/snapshot"
	"github.com/gantry-lb/gantry/internal/tcpproxy"
	"github.com/gantry-lb/gantry/internal/upstream"
)

// Upstream keep-alive connections idle longer than this are closed.
const upstreamIdleTimeout = 60 * time.Second

// Dataplane is the running proxy: listeners, proxies, health checks and the
// current snapshot. Safe for concurrent use; Apply calls are serialised.
type Dataplane struct {
	log       *slog.Logger
	reg       *upstream.Registry
	snaps     snapshot.Holder
	listeners *listener.Manager
	http      *httpproxy.Server
	tcp       *tcpproxy.Proxy
	checker   *health.Checker
	tables    *balance.Tables
	secret    []byte // keys sticky cookies

	mu       sync.Mutex // serialises Apply
	revision uint64
	// compiled is what the published snapshot was compiled from, and
	// state the stored state it came from when ApplyState published it:
	// the next revision compiles only what changed since
	// (dataplane_compile.go).
	compiled *snapshot.Compiled
	state    *control.State

	// disc, when set, adds discovered containers to every build
	// (discovery.go); stored is the last config applied, which a new
	// container set is applied with.
	disc   *discoveryState
	stored *config.Config

	// tls serves https frontends (tls.go).
	tls tlsState

	stop chan struct{}
	done chan struct{}
}

// NewDataplane returns a data plane with no frontends.
func NewDataplane(log *slog.Logger) *Dataplane {
	d := &Dataplane{
		log:     log.With("component", "dataplane"),
		reg:     upstream.NewRegistry(),
		checker: health.NewChecker(log),
		tables:  balance.NewTables(nil),
		secret:  randomSecret(),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	d.http = httpproxy.New(&d.snaps, log)
	d.tcp = tcpproxy.New(log)
	d.listeners = listener.New(d.serve, log)
	go d.sweep()
	return d
}

// SetDrainTimeout bounds how long removed listeners, and Shutdown, wait for
// connections in flight.
func (d *Dataplane) SetDrainTimeout(t time.Duration) { d.listeners.DrainTimeout = t }

// Apply validates cfg, compiles it and switches traffic to it: new ports
// open before the switch, removed ones drain after it, and requests in flight
// finish on the snapshot they started with. A config that does not validate,
// or whose ports cannot be bound, changes nothing and returns the reason.
func (d *Dataplane) Apply(cfg *config.Config) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.apply(cfg, d.revision+1)
}

// ApplyRevision is Apply for a config that is stored revision rev.
func (d *Dataplane) ApplyRevision(cfg *config.Config, rev uint64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.apply(cfg, rev)
}

func (d *Dataplane) apply(cfg *config.Config, rev uint64) error { return d.applyDelta(cfg, rev, nil) }

// applyDelta compiles cfg, only what delta changed since the published
// snapshot when it can, and publishes it as revision rev.
func (d *Dataplane) applyDelta(cfg *config.Config, rev uint64, delta *config.Delta) error {
	snap, comp, err := d.buildDelta(cfg, rev, delta) // dataplane_compile.go
	if err == nil {
		err = d.attachTLS(snap, cfg) // tls.go
	}
	if err != nil {
		d.reg.Retain(d.keys())
		return err
	}
	publish := func() {
		d.syncCerts(cfg) // tls.go: the certificates before the frontends that serve them
		d.snaps.Store(snap)
	}
	if err := d.listeners.Sync(snap.Addrs(), publish); err != nil {
		d.reg.Retain(d.keys())
		return err
	}
	d.revision = snap.Revision
	d.compiled, d.state = comp, nil
	d.stored = cfg
	d.checker.Sync(snap.HealthTargets())
	d.reg.Retain(snap.EndpointKeys())
	d.reg.RetainFrontends(snap.FrontendKeys())
	d.tables.Retain(snap.StickyKeys())
	d.log.Debug("applied", "revision", snap.Revision, "listeners", len(snap.Addrs()))
	return nil
}

// keys returns the endpoints of the published snapshot (none before the first).
func (d *Dataplane) keys() map[upstream.Key]bool {
	if s := d.snaps.Load(); s != nil {
		return s.EndpointKeys()
	}
	return nil
}

// Snapshot returns the snapshot traffic uses now (nil before the first Apply).
func (d *Dataplane) Snapshot() *snapshot.Snapshot { return d.snaps.Load() }

// Shutdown stops accepting, lets connections in flight finish until ctx is
// done, then stops health checks.
func (d *Dataplane) Shutdown(ctx context.Context) {
	d.listeners.Shutdown(ctx)
	d.http.CloseIdleConnections() // HTTP/2 connections to backends with h2
	close(d.stop)
	<-d.done
	d.checker.Close()
	d.reg.Retain(nil)
}

func (d *Dataplane) serve(c *listener.Conn) {
	snap := d.snaps.Load()
	if snap == nil {
		return
	}
	fe := snap.Frontend(c.Listener().Addr)
	if fe == nil || !d.admit(c, fe) {
		return
	}
	switch fe.Protocol {
	case config.ProtocolHTTP:
		d.http.Serve(c)
	case config.ProtocolHTTPS:
		d.serveTLS(c, fe) // tls.go
	case config.ProtocolTCP:
		d.tcp.Serve(c, fe)
	}
}

// sweep closes upstream connections that idled too long.
func (d *Dataplane) sweep() {
	defer close(d.done)
	t := time.NewTicker(upstreamIdleTimeout / 4)
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-t.C:
			d.reg.CloseIdle(upstreamIdleTimeout)
		}
	}
}
