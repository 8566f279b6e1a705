package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/gantry-lb/gantry/internal/api"
	"github.com/gantry-lb/gantry/internal/control"
	"github.com/gantry-lb/gantry/internal/snapshot"
	"github.com/gantry-lb/gantry/internal/store"
	"github.com/gantry-lb/gantry/internal/store/bolt"
	"github.com/gantry-lb/gantry/internal/store/etcd"
	"github.com/gantry-lb/gantry/internal/telemetry"
)

// ServeOptions is what `gantry serve` takes.
type ServeOptions struct {
	Admin   string // admin API address
	DataDir string // where the store and the admin token live
	// Store selects the desired-state store: "" (or "bolt") is the embedded
	// bolt file in DataDir, for one process; etcd://host:port[,host:port...]
	// [/prefix] is a store in etcd shared by every gantry serve given the
	// same URL (they must share the sealing key certs.key too).
	Store        string
	Log          *slog.Logger
	DrainTimeout time.Duration
	// Docker configures Docker discovery (discovery.go).
	Docker DockerOptions
	// File configures the discovery file (discovery.go).
	File FileOptions
	// ACME configures certificates of type letsencrypt (tls.go).
	ACME ACMEOptions
	// Ready, if set, is called with the admin API's bound address once it
	// accepts requests.
	Ready func(adminAddr string)
}

// openStore opens the store o.Store names: the embedded bolt file by
// default, or etcd.
func openStore(ctx context.Context, o ServeOptions) (store.Store, error) {
	switch {
	case o.Store == "" || o.Store == "bolt":
		return bolt.Open(filepath.Join(o.DataDir, storeFile), bolt.Options{KeepRevisions: keepRevisions})
	case strings.HasPrefix(o.Store, "etcd://"):
		eo, err := etcd.ParseURL(o.Store)
		if err != nil {
			return nil, fmt.Errorf("--store: %w", err)
		}
		eo.KeepRevisions = keepRevisions
		return etcd.Open(ctx, eo)
	default:
		return nil, fmt.Errorf("--store %q: want bolt or etcd://host:port[,host:port...][/prefix]", o.Store)
	}
}

// TokenFile is the name of the admin token file in the data directory.
const TokenFile = "admin.token"

// Serve runs the admin API and the data plane over the embedded store until
// ctx is done, then drains. On first start it creates an admin token,
// prints it once to out and writes it to <data>/admin.token (0600).
func Serve(ctx context.Context, o ServeOptions, out io.Writer) error {
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	st, err := openStore(ctx, o)
	if err != nil {
		return err
	}
	defer st.Close()
	ctl := control.New(st, snapshot.Check, o.Log)
	if err := ensureAdminToken(ctx, ctl, o.DataDir, out); err != nil {
		return err
	}
	d := NewDataplane(o.Log)
	d.SetDrainTimeout(o.DrainTimeout)
	secret, err := loadOrCreateKey(filepath.Join(o.DataDir, cookieKeyFile))
	if err != nil {
		return err
	}
	d.SetCookieSecret(secret)
	certMgr, sealer, err := startCertificates(o, st, d) // tls.go
	if err != nil {
		d.Shutdown(context.Background())
		return err
	}
	// Closed after the data plane has drained, below.
	defer certMgr.Close()
	disc, err := startDiscovery(ctx, o.Docker, o.File, d, o.Log) // nil when off
	if err != nil {
		d.Shutdown(context.Background())
		return err
	}
	rec := &reconciler{ctl: ctl, d: d, log: o.Log.With("component", "reconcile"), changed: make(chan struct{})}
	rctx, stopReconcile := context.WithCancel(ctx)
	recDone := make(chan struct{})
	go func() {
		defer close(recDone)
		rec.run(rctx, st.Watch(rctx))
	}()

	ln, err := net.Listen("tcp", o.Admin)
	if err != nil {
		stopReconcile()
		<-recDone
		disc.stop()
		d.Shutdown(context.Background())
		return fmt.Errorf("admin API: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", api.New(api.Options{Control: ctl, Status: disc.withStatus(rec.status), WaitApplied: rec.wait, Stats: d.stats, Discovery: disc.view(),
		Sealer: sealer, CertStatus: d.CertStatus, Log: o.Log}))
	// /metrics needs no token, like every Prometheus target: keep the admin
	// address private (the default is loopback).
	mux.Handle("GET /metrics", telemetry.MetricsHandler(telemetry.NewCollector(func() telemetry.Scrape {
		s := d.scrape()
		s.Stored, _ = ctl.Revision(context.Background())
		s.Applied = rec.status().AppliedRevision
		s.Discovery = disc.metrics()
		return s
	})))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 2 * time.Minute, IdleTimeout: 2 * time.Minute}
	srvErr := make(chan error, 1)
	go func() { srvErr <- srv.Serve(ln) }()
	o.Log.Info("admin API listening", "addr", ln.Addr().String(), "data", o.DataDir)
	if o.Ready != nil {
		o.Ready(ln.Addr().String())
	}
	select {
	case <-ctx.Done():
	case err = <-srvErr:
	}
	o.Log.Info("shutting down: draining connections", "timeout", o.DrainTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), o.DrainTimeout)
	defer cancel()
	srv.Shutdown(sctx)
	stopReconcile()
	<-recDone
	disc.stop()
	d.Shutdown(sctx)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

func ensureAdminToken(ctx context.Context, ctl *control.Control, dir string, out io.Writer) error {
	toks, err := ctl.Tokens(ctx)
	if err != nil {
		return err
	}
	if len(toks) > 0 {
		return nil
	}
	// The file is written (and synced) before the token's hash is
	// committed: a crash in between leaves a file that no token matches,
	// and the next start makes a new one, never a token nobody holds.
	secret, err := control.NewTokenSecret()
	if err != nil {
		return err
	}
	path := filepath.Join(dir, TokenFile)
	if err := writeFileSync(path, []byte(secret+"\n")); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if _, err := ctl.AddToken(ctx, secret, "admin", control.RoleAdmin); err != nil {
		return err
	}
	fmt.Fprintf(out, "Admin token (shown once; also in %s):\n%s\n", path, secret)
	return nil
}

// writeFileSync writes data to path through a synced temporary file and a
// rename, with mode 0600 whatever a previous file had.
func writeFileSync(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// reconciler applies every stored revision to the data plane.
type reconciler struct {
	ctl *control.Control
	d   *Dataplane
	log *slog.Logger

	mu       sync.Mutex
	applied  uint64
	failed   uint64 // newest revision that failed to apply
	applyErr error
	changed  chan struct{} // closed and replaced on every change
}

// retryApply is how often a revision that failed to apply (a port in use)
// is tried again while no newer revision arrives.
const retryApply = 2 * time.Second

func (r *reconciler) run(ctx context.Context, revs <-chan uint64) {
	retry := time.NewTimer(retryApply)
	retry.Stop()
	defer retry.Stop()
	var pending uint64
	for {
		var rev uint64
		select {
		case v, ok := <-revs:
			if !ok {
				return
			}
			rev = v
		case <-retry.C:
			rev = pending
		}
		st, err := r.ctl.Get(ctx, rev)
		if err == nil {
			// The config revision, not the store's: token writes move
			// the latter, and status compares the two. Only what changed
			// since the state applied last is compiled.
			rev = st.Revision
			err = r.d.ApplyState(st)
		}
		if err != nil && ctx.Err() == nil {
			pending = rev
			retry.Reset(retryApply)
		} else {
			retry.Stop()
		}
		r.mu.Lock()
		if err != nil {
			if ctx.Err() == nil {
				r.log.Error("revision not applied; traffic stays on the previous one", "revision", rev, "err", err)
			}
			r.failed, r.applyErr = rev, err
		} else {
			r.applied, r.failed, r.applyErr = rev, 0, nil
		}
		close(r.changed)
		r.changed = make(chan struct{})
		r.mu.Unlock()
	}
}

func (r *reconciler) status() api.Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := api.Status{AppliedRevision: r.applied, Listeners: []string{}}
	if r.applyErr != nil {
		s.ApplyError = fmt.Sprintf("revision %d: %v", r.failed, r.applyErr)
	}
	if snap := r.d.Snapshot(); snap != nil {
		s.Listeners = snap.Addrs()
	}
	return s
}

// wait blocks until revision rev (or a later one) is applied, or fails.
func (r *reconciler) wait(ctx context.Context, rev uint64) error {
	for {
		r.mu.Lock()
		applied, failed, err, ch := r.applied, r.failed, r.applyErr, r.changed
		r.mu.Unlock()
		if applied >= rev {
			return nil
		}
		if failed >= rev {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}
