// Package control is the write path of gantry's desired state: it turns
// "change this object" into a validated, compiled, compare-and-set commit of
// the store, and keeps transactions, history and rollback.
//
// The config lives in the store as one object per key, so a commit writes
// only what changed and history says what changed:
//
//	config/lbs/<lb>                          the LB's own fields (name, description, tags, ips)
//	config/lbs/<lb>/frontends/<name>         a frontend, its ACLs inline
//	config/lbs/<lb>/frontends/<name>/routes/ a route of it, one key each (see layout.go)
//	config/lbs/<lb>/backends/<name>          a backend
//	config/ips/<address>                     an IP object (address, reverse, tags)
//	config/certificates/<name>               a certificate (see certificates.go)
//
// Every object is stored in an envelope with its creation and update times.
// Control is safe for concurrent use: writers race through the store's
// compare-and-set, never through a lock held across a commit.
//
// # Cost of a change
//
// A change costs what it changes, not the size of the config: the head
// State is kept in memory and shared; a change copies the config's object
// lists but not the objects (Request.Mutate copies what it changes),
// compares objects by memory before their stored form, stores only changed
// objects (a route is one), asks the Compiler to check only what changed
// (a Delta), and hands the new State to every reader without decoding it
// back from the store. The data plane compiles from the previous snapshot
// the same way (State.Since). A change of one route said as such
// (Request.Route) is applied without scanning or copying its frontend's
// route list: config.Frontend.Routes is a persistent config.RouteList, and
// replacing one route copies one chunk of it and its chunk index.
package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gantry-lb/gantry/internal/config"
	"github.com/gantry-lb/gantry/internal/store"
)

// Sentinel errors; the API maps them to statuses.
var (
	// ErrPrecondition: the caller's If-Match (or transaction version) is not
	// the head revision (412).
	ErrPrecondition = errors.New("control: revision is not the latest")
	// ErrConflict: the head moved while a transaction was open (409).
	ErrConflict = errors.New("control: conflicting change")
	// ErrNotFound: no such object, revision or transaction (404).
	ErrNotFound = errors.New("control: not found")
	// ErrInvalid wraps config validation errors (the *config.FieldError
	// chain is kept, for the field path).
	ErrInvalid = errors.New("control: invalid config")
	// ErrBusy: too many concurrent writers kept winning the race (503).
	ErrBusy = errors.New("control: too many concurrent changes, try again")
)

const configPrefix = "config/"

// maxRetries bounds optimistic retries of a change without If-Match; with
// jittered backoff between them, writers that collide spread out.
const maxRetries = 40

// Compiler checks that a config can be served: the data plane's dry-run
// build. It must not publish anything, nor change cfg. When d is not nil,
// cfg is a config that passed the Compiler changed by d, and the Compiler
// may check only what d names; with d nil it checks everything.
type Compiler func(cfg *config.Config, d *config.Delta) error

// Control applies changes to the desired state. Safe for concurrent use.
type Control struct {
	st      store.Store
	compile Compiler
	log     *slog.Logger
	now     func() time.Time
	txns    *txnTable

	// last is the newest state, shared by every reader of its revision:
	// the state a commit made, or the newest one decoded (a revision
	// never changes).
	last atomic.Pointer[State]
	// committing is the commit in flight, if any: the store announces a
	// revision (Watch) before Commit returns, and a reader of that
	// revision waits for its state rather than decoding the store.
	committing atomic.Pointer[inflight]
}

// inflight is a commit of this Control that may make revision head; done
// is closed once the commit returned (and its state is kept if it won).
type inflight struct {
	head uint64
	done chan struct{}
}

// New returns a Control over st. compile may be nil (validation only).
func New(st store.Store, compile Compiler, log *slog.Logger) *Control {
	return &Control{st: st, compile: compile, log: log.With("component", "control"), now: time.Now, txns: newTxnTable()}
}

// envelope is how an object is stored: its spec and its times.
type envelope struct {
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
	Spec      json.RawMessage `json:"spec"`
}

// ObjectMeta is the creation and update time and revision of one object.
type ObjectMeta struct {
	CreatedAt, UpdatedAt             time.Time
	CreatedRevision, UpdatedRevision uint64
}

// State is the config at one revision, with per-object metadata keyed by
// object path ("lbs/web", "lbs/web/backends/api"; routes have none). A
// State is shared between callers: treat it as read-only, all the way
// down (Clone the Config to change it). States share the objects that did
// not change between them.
type State struct {
	// Revision is the config revision: the newest revision that changed
	// the config. Writes that are not config (tokens) do not move it, so
	// they never fail a client's If-Match or a transaction.
	Revision uint64
	Config   *config.Config
	Meta     map[string]ObjectMeta

	head uint64 // the store's revision when this was read, for compare-and-set
	// checked is true when Config passed the Compiler (or Validate): a
	// change from it may then be checked incrementally.
	checked bool
	// routes are the stored positions of each frontend's routes, by
	// frontend path ("" for routes stored inline, an older layout).
	routes map[string]chunkSeq[string]
	// stale are route keys of a frontend that decode could not place (see
	// decode); the frontend's next change rewrites its routes.
	stale map[string][]string
	// steps say what changed from recent config revisions to this one,
	// newest first.
	steps []step
}

// step is what changed from config revision from to a later state.
type step struct {
	from uint64
	d    *config.Delta
}

// maxSteps bounds State.steps: the data plane falling further behind than
// that compiles from scratch.
const maxSteps = 16

// Since returns what changed in the config from revision rev to s: an empty
// Delta when rev is s's revision, nil when unknown (rev is too old, or s was
// read from the store rather than made by a change of this Control).
func (s *State) Since(rev uint64) *config.Delta {
	if rev == s.Revision {
		return &config.Delta{}
	}
	for _, st := range s.steps {
		if st.from == rev {
			return st.d
		}
	}
	return nil
}

// DeltaFrom returns what changed in the config from old to s: Since when it
// knows, else a comparison of the two configs, which costs little when
// they share their unchanged objects (states of one Control do) and a pass
// over both when they do not.
func (s *State) DeltaFrom(old *State) *config.Delta {
	if d := s.Since(old.Revision); d != nil {
		return d
	}
	return diffConfigs(old.Config, s.Config)
}

// LBPath names an LB object, as in State.Meta and Change.Path.
func LBPath(lb string) string { return "lbs/" + lb }

// IPPath names an IP object. Addresses never contain "/", the separator of
// path parts.
func IPPath(addr string) string { return "ips/" + addr }

// FrontendPath names a frontend object.
func FrontendPath(lb, name string) string { return "lbs/" + lb + "/frontends/" + name }

// BackendPath names a backend object.
func BackendPath(lb, name string) string { return "lbs/" + lb + "/backends/" + name }

// Get returns the state at revision rev (0 = head). Read-only: see State.
// The head is kept in memory, so reading it costs nothing; an older
// revision is decoded from the store.
func (c *Control) Get(ctx context.Context, rev uint64) (*State, error) {
	if rev == 0 {
		head, err := c.st.Revision(ctx)
		if err != nil {
			return nil, err
		}
		rev = head
	}
	if last := c.last.Load(); last != nil {
		switch {
		case rev == last.head, rev >= last.Revision && rev < last.head:
			// The config did not change between rev and last.head.
			return last, nil
		case rev > last.head:
			if f := c.committing.Load(); f != nil && f.head == rev {
				// A commit of ours is returning: its state is on its way.
				select {
				case <-f.done:
				case <-ctx.Done():
					return nil, ctx.Err()
				}
				if last = c.last.Load(); last.head >= rev && last.Revision <= rev {
					return last, nil
				}
			}
			// Writes that are not config (tokens) moved the head.
			cfgRev, err := c.configRevision(ctx, rev)
			if err == nil && cfgRev == last.Revision {
				s := *last
				s.head = rev
				c.keep(&s)
				return &s, nil
			}
		}
	}
	s, err := c.get(ctx, rev)
	if err != nil {
		return nil, err
	}
	c.keep(s)
	return s, nil
}

// keep makes s the state Get hands out for its revision, unless a newer one
// is kept already.
func (c *Control) keep(s *State) {
	for {
		old := c.last.Load()
		if old != nil && old.head >= s.head || c.last.CompareAndSwap(old, s) {
			return
		}
	}
}

func (c *Control) get(ctx context.Context, rev uint64) (*State, error) {
	kvs, at, err := c.st.Range(ctx, configPrefix, rev)
	if err != nil {
		if errors.Is(err, store.ErrCompacted) || errors.Is(err, store.ErrFuture) {
			return nil, fmt.Errorf("revision %d: %w (%w)", rev, ErrNotFound, err)
		}
		return nil, err
	}
	if rev == 0 {
		rev = at
	}
	cfgRev, err := c.configRevision(ctx, rev)
	if err != nil {
		return nil, err
	}
	s, err := decode(kvs, cfgRev)
	if err != nil {
		return nil, err
	}
	s.head = rev
	return s, nil
}

// configRevision returns the newest revision at or below rev that changed
// the config (0 when none did).
func (c *Control) configRevision(ctx context.Context, rev uint64) (uint64, error) {
	if rev == 0 {
		return 0, nil
	}
	es, err := c.st.History(ctx, configPrefix, rev+1, 1)
	if errors.Is(err, store.ErrCompacted) {
		// The newest config change is older than the history kept; the
		// oldest revision kept stands in for it.
		return rev, nil
	}
	if err != nil || len(es) == 0 {
		return 0, err
	}
	return es[0].Revision, nil
}

// Revision returns the config revision at the head.
func (c *Control) Revision(ctx context.Context) (uint64, error) {
	head, err := c.st.Revision(ctx)
	if err != nil {
		return 0, err
	}
	return c.configRevision(ctx, head)
}

// ChangeKind says what a change did to an object.
type ChangeKind string

// Change kinds.
const (
	Created ChangeKind = "created"
	Updated ChangeKind = "updated"
	Deleted ChangeKind = "deleted"
)

// Change is what a commit does, or did, to one object.
type Change struct {
	Path   string          `json:"path"`
	Kind   ChangeKind      `json:"kind"`
	Before json.RawMessage `json:"before,omitempty"`
	After  json.RawMessage `json:"after,omitempty"`
}

// Request is one change of the desired state.
type Request struct {
	// IfMatch is the revision the caller read, when HasIfMatch: the change
	// fails with ErrPrecondition if the head moved since.
	IfMatch    uint64
	HasIfMatch bool
	// Txn, when set, stages the change in that transaction instead.
	Txn string
	// DryRun validates, compiles and answers the diff, storing nothing.
	DryRun bool
	// Author and Message go to the history.
	Author, Message string
	// Project, when set, limits the change to the LBs of that project
	// (the write of a project token): touching another LB fails with
	// ErrNotFound, as if it did not exist.
	Project string
	// Mutate changes a private copy of the config; an error it returns
	// (ErrNotFound, a *config.FieldError...) aborts the change. The copy
	// has its own lists of LBs, IPs, frontends and backends, but shares
	// everything below them with the State it was made from (see
	// shallowClone): Mutate may replace an object or a list, never change
	// one in place (rebuild a route list rather than set an element).
	Mutate func(cfg *config.Config) error
	// Route, when set, says that Mutate is the change of one route that
	// Route describes (RouteOp.Mutate), so that control can apply it
	// without scanning the frontend's route list. Control runs Mutate
	// instead when it cannot (see applyRoute), and for a transaction.
	Route *RouteOp
}

// Result is what a change did or would do.
type Result struct {
	// Revision is the new head (or, for a dry run or a staged change, the
	// revision it is based on).
	Revision uint64   `json:"revision"`
	Changes  []Change `json:"changes"`
	Staged   bool     `json:"staged,omitempty"`
	DryRun   bool     `json:"dry_run,omitempty"`
}

// Change applies req. Without IfMatch it retries when another writer
// commits in between, so it only fails on its own errors.
func (c *Control) Change(ctx context.Context, req Request) (*Result, error) {
	if req.Txn != "" {
		return c.stage(ctx, req)
	}
	for attempt := 0; ; attempt++ {
		cur, err := c.Get(ctx, 0)
		if err != nil {
			return nil, err
		}
		if req.HasIfMatch && req.IfMatch != cur.Revision {
			return nil, fmt.Errorf("%w: you read %d, the head is %d", ErrPrecondition, req.IfMatch, cur.Revision)
		}
		next := shallowClone(cur.Config)
		var hint *routeHint
		if req.Route != nil {
			if hint, err = c.applyRoute(ctx, cur, next, req.Route); err != nil {
				return nil, err
			}
		}
		if hint == nil {
			if err := req.Mutate(next); err != nil {
				return nil, err
			}
		}
		res, err := c.commit(ctx, cur, next, req, hint)
		if !errors.Is(err, store.ErrConflict) {
			return res, err
		}
		// Another write landed first. With If-Match, the next round's
		// check tells whether it changed the config (412) or not (tokens).
		if attempt == maxRetries {
			return nil, fmt.Errorf("%w: %w", ErrBusy, err)
		}
		// Back off a random 0-2^n ms (capped at 50), so colliding writers
		// stop colliding.
		backoff := time.Duration(rand.Int64N(int64(min(time.Millisecond<<min(attempt, 6), 50*time.Millisecond)) + 1))
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(backoff):
		}
	}
}

// shallowClone copies the lists of cfg (LBs, IPs, and each LB's frontends
// and backends) and shares everything below them: a change copies what it
// changes (see Request.Mutate), so the state it started from stays as it
// was, and the new state shares the rest.
func shallowClone(cfg *config.Config) *config.Config {
	out := *cfg
	out.IPs = slices.Clone(cfg.IPs)
	out.Certificates = slices.Clone(cfg.Certificates)
	out.LBs = slices.Clone(cfg.LBs)
	for i := range out.LBs {
		out.LBs[i].Frontends = slices.Clone(out.LBs[i].Frontends)
		out.LBs[i].Backends = slices.Clone(out.LBs[i].Backends)
	}
	return &out
}

// commit checks next and stores its difference from cur; next becomes the
// new head State (it must not be changed afterwards).
func (c *Control) commit(ctx context.Context, cur *State, next *config.Config, req Request, hint *routeHint) (*Result, error) {
	rev := cur.head + 1
	p, err := c.makePlan(ctx, cur, next, rev, c.now().UTC(), hint)
	if err != nil {
		return nil, err
	}
	if err := checkProjectChange(cur.Config, next, p.delta, req.Project); err != nil {
		return nil, err
	}
	// A change of a checked config is checked for what it changed.
	var d *config.Delta
	if cur.checked && !p.wide {
		d = p.delta
	}
	if err := c.check(next, d); err != nil {
		return nil, err
	}
	res := &Result{Revision: cur.Revision, Changes: p.changes, DryRun: req.DryRun}
	if req.DryRun || len(p.ops) == 0 {
		return res, nil
	}
	f := &inflight{head: rev, done: make(chan struct{})}
	c.committing.Store(f)
	defer func() {
		close(f.done)
		c.committing.CompareAndSwap(f, nil)
	}()
	got, err := c.st.Commit(ctx, cur.head, p.ops, store.Meta{Author: req.Author, Message: req.Message})
	if err != nil {
		return nil, err
	}
	res.Revision = got
	c.log.Info("committed", "revision", got, "author", req.Author, "changes", len(p.changes))
	if got == rev {
		// The new head is what was just checked and stored: readers get
		// it without decoding the store.
		steps := make([]step, 1, maxSteps)
		steps[0] = step{from: cur.Revision, d: p.delta}
		for _, s := range cur.steps[:min(len(cur.steps), maxSteps-1)] {
			steps = append(steps, step{from: s.from, d: thenDelta(s.d, p.delta)})
		}
		c.keep(&State{Revision: got, Config: next, Meta: p.meta, head: got, checked: true, routes: p.routes, stale: p.stale, steps: steps})
	}
	return res, nil
}

// check validates cfg and compiles it without publishing (compiling
// validates too, so it is not done twice); with d, only what d changed.
func (c *Control) check(cfg *config.Config, d *config.Delta) error {
	var err error
	if c.compile != nil {
		err = c.compile(cfg, d)
	} else {
		err = cfg.Validate()
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

// Replace makes the whole desired state cfg (gantry apply, PUT /v1/config).
func (c *Control) Replace(ctx context.Context, cfg *config.Config, req Request) (*Result, error) {
	req.Mutate = func(cur *config.Config) error {
		*cur = *cfg.Clone()
		return nil
	}
	return c.Change(ctx, req)
}

// Rollback makes the desired state what it was at revision rev, as a new
// revision.
func (c *Control) Rollback(ctx context.Context, rev uint64, req Request) (*Result, error) {
	old, err := c.Get(ctx, rev)
	if err != nil {
		return nil, err
	}
	if req.Message == "" {
		req.Message = fmt.Sprintf("rollback to revision %d", rev)
	}
	return c.Replace(ctx, old.Config, req)
}

// HistoryEntry is one revision of the desired state.
type HistoryEntry struct {
	Revision uint64    `json:"revision"`
	Author   string    `json:"author"`
	Message  string    `json:"message,omitempty"`
	Time     time.Time `json:"time"`
	Changes  []Change  `json:"changes"`
}

// History returns up to limit revisions that changed the config, newest
// first, below before (0 = from the head).
func (c *Control) History(ctx context.Context, before uint64, limit int) ([]HistoryEntry, error) {
	es, err := c.st.History(ctx, configPrefix, before, limit)
	if errors.Is(err, store.ErrCompacted) || errors.Is(err, store.ErrFuture) {
		return nil, fmt.Errorf("history before %d: %w (%w)", before, ErrNotFound, err)
	}
	if err != nil {
		return nil, err
	}
	out := make([]HistoryEntry, 0, len(es))
	for _, e := range es {
		h := HistoryEntry{Revision: e.Revision, Author: e.Author, Message: e.Message, Time: e.Time}
		for _, ch := range e.Changes {
			ch2 := Change{Path: strings.TrimPrefix(ch.Key, configPrefix), Kind: ChangeKind(ch.Kind.String())}
			if ch2.Before, err = specOf(ch.Prev); err != nil {
				return nil, err
			}
			if ch2.After, err = specOf(ch.Value); err != nil {
				return nil, err
			}
			if ch2.Kind == Updated && !isRoutePath(ch2.Path) && bytes.Equal(ch2.Before, ch2.After) {
				continue // a frontend whose routes changed: its times moved, nothing else
			}
			h.Changes = append(h.Changes, ch2)
		}
		out = append(out, h)
	}
	return out, nil
}

func specOf(envJSON []byte) (json.RawMessage, error) {
	if envJSON == nil {
		return nil, nil
	}
	var env envelope
	if err := json.Unmarshal(envJSON, &env); err != nil {
		return nil, fmt.Errorf("control: decoding history: %w", err)
	}
	return env.Spec, nil
}
