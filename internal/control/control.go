// Package control is the write path of gantry's desired state: it turns
// "change this object" into a validated, compiled, compare-and-set commit of
// the store, and keeps transactions, history and rollback.
//
// The config lives in the store as one object per key, so a commit writes
// only what changed and history says what changed:
//
//	config/lbs/<lb>                   the LB's own fields (name, description, tags, ips)
//	config/lbs/<lb>/frontends/<name>  a frontend, its routes and ACLs inline
//	config/lbs/<lb>/backends/<name>   a backend
//	config/ips/<address>              an IP object (address, reverse, tags)
//
// Every object is stored in an envelope with its creation and update times.
// Control is safe for concurrent use: writers race through the store's
// compare-and-set, never through a lock held across a commit.
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
// build. It must not publish anything.
type Compiler func(*config.Config) error

// Control applies changes to the desired state. Safe for concurrent use.
type Control struct {
	st      store.Store
	compile Compiler
	log     *slog.Logger
	now     func() time.Time
	txns    *txnTable

	// last is the newest state decoded, shared by every reader of its
	// revision: decoding the whole config was most of a commit's cost, and
	// a revision never changes.
	last atomic.Pointer[State]
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
// object path ("lbs/web", "lbs/web/backends/api"). A State may be shared
// between callers: treat it as read-only (Clone the Config to change it).
type State struct {
	// Revision is the config revision: the newest revision that changed
	// the config. Writes that are not config (tokens) do not move it, so
	// they never fail a client's If-Match or a transaction.
	Revision uint64
	Config   *config.Config
	Meta     map[string]ObjectMeta

	head uint64 // the store's revision when this was read, for compare-and-set
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
func (c *Control) Get(ctx context.Context, rev uint64) (*State, error) {
	if rev == 0 {
		head, err := c.st.Revision(ctx)
		if err != nil {
			return nil, err
		}
		if head == 0 {
			return c.get(ctx, 0)
		}
		rev = head
	}
	if s := c.last.Load(); s != nil && s.head == rev {
		return s, nil
	}
	s, err := c.get(ctx, rev)
	if err != nil {
		return nil, err
	}
	// Keep the newest state decoded: the next change, the reconciler and
	// the API's answer all read the same revision.
	for {
		old := c.last.Load()
		if old != nil && old.head >= s.head || c.last.CompareAndSwap(old, s) {
			break
		}
	}
	return s, nil
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

func decode(kvs []store.KV, rev uint64) (*State, error) {
	s := &State{Revision: rev, Config: &config.Config{}, Meta: map[string]ObjectMeta{}}
	type item struct {
		meta ObjectMeta
		spec json.RawMessage
	}
	lbs := map[string]*config.LB{}
	var order []string
	ips := map[string]*config.IP{}
	var ipOrder []string
	fes, bes := map[string][]item{}, map[string][]item{}
	names := map[string][]string{} // "fe|lb" and "be|lb" -> object names, in item order
	for _, kv := range kvs {
		var env envelope
		if err := json.Unmarshal(kv.Value, &env); err != nil {
			return nil, fmt.Errorf("control: decoding %s: %w", kv.Key, err)
		}
		path := strings.TrimPrefix(kv.Key, configPrefix)
		m := ObjectMeta{CreatedAt: env.CreatedAt, UpdatedAt: env.UpdatedAt, CreatedRevision: kv.CreateRevision, UpdatedRevision: kv.ModRevision}
		s.Meta[path] = m
		parts := strings.Split(path, "/")
		switch {
		case len(parts) == 2 && parts[0] == "lbs":
			lb := new(config.LB)
			if err := json.Unmarshal(env.Spec, lb); err != nil {
				return nil, fmt.Errorf("control: decoding %s: %w", kv.Key, err)
			}
			lbs[parts[1]] = lb
			order = append(order, parts[1])
		case len(parts) == 2 && parts[0] == "ips":
			ip := new(config.IP)
			if err := json.Unmarshal(env.Spec, ip); err != nil {
				return nil, fmt.Errorf("control: decoding %s: %w", kv.Key, err)
			}
			ip.Address = parts[1]
			ips[parts[1]] = ip
			ipOrder = append(ipOrder, parts[1])
		case len(parts) == 4 && parts[0] == "lbs" && parts[2] == "frontends":
			fes[parts[1]] = append(fes[parts[1]], item{m, env.Spec})
			names["fe|"+parts[1]] = append(names["fe|"+parts[1]], parts[3])
		case len(parts) == 4 && parts[0] == "lbs" && parts[2] == "backends":
			bes[parts[1]] = append(bes[parts[1]], item{m, env.Spec})
			names["be|"+parts[1]] = append(names["be|"+parts[1]], parts[3])
		default:
			return nil, fmt.Errorf("control: unexpected key %s", kv.Key)
		}
	}
	byCreation := func(a, b ObjectMeta) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return int(a.CreatedRevision) - int(b.CreatedRevision)
	}
	slices.SortStableFunc(order, func(a, b string) int {
		if c := byCreation(s.Meta[LBPath(a)], s.Meta[LBPath(b)]); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	slices.SortStableFunc(ipOrder, func(a, b string) int {
		if c := byCreation(s.Meta[IPPath(a)], s.Meta[IPPath(b)]); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	for _, addr := range ipOrder {
		s.Config.IPs = append(s.Config.IPs, *ips[addr])
	}
	for _, name := range order {
		lb := lbs[name]
		lb.Name = name
		fs := fes[name]
		idx := make([]int, len(fs))
		for i := range idx {
			idx[i] = i
		}
		slices.SortStableFunc(idx, func(a, b int) int { return byCreation(fs[a].meta, fs[b].meta) })
		for _, i := range idx {
			var f config.Frontend
			if err := json.Unmarshal(fs[i].spec, &f); err != nil {
				return nil, fmt.Errorf("control: decoding frontend %s/%s: %w", name, names["fe|"+name][i], err)
			}
			f.Name = names["fe|"+name][i]
			lb.Frontends = append(lb.Frontends, f)
		}
		bs := bes[name]
		idx = make([]int, len(bs))
		for i := range idx {
			idx[i] = i
		}
		slices.SortStableFunc(idx, func(a, b int) int { return byCreation(bs[a].meta, bs[b].meta) })
		for _, i := range idx {
			var b config.Backend
			if err := json.Unmarshal(bs[i].spec, &b); err != nil {
				return nil, fmt.Errorf("control: decoding backend %s/%s: %w", name, names["be|"+name][i], err)
			}
			b.Name = names["be|"+name][i]
			lb.Backends = append(lb.Backends, b)
		}
		s.Config.LBs = append(s.Config.LBs, *lb)
	}
	return s, nil
}

// objects splits a config into its stored objects: path -> spec JSON.
func objects(cfg *config.Config) (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, ip := range cfg.IPs {
		b, err := json.Marshal(ip)
		if err != nil {
			return nil, err
		}
		out[IPPath(ip.Address)] = b
	}
	for i := range cfg.LBs {
		lb := cfg.LBs[i]
		fes, bes := lb.Frontends, lb.Backends
		lb.Frontends, lb.Backends = nil, nil
		b, err := json.Marshal(lb)
		if err != nil {
			return nil, err
		}
		out[LBPath(lb.Name)] = b
		for _, f := range fes {
			if out[FrontendPath(lb.Name, f.Name)], err = json.Marshal(f); err != nil {
				return nil, err
			}
		}
		for _, be := range bes {
			if out[BackendPath(lb.Name, be.Name)], err = json.Marshal(be); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
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

// diff returns the changes that turn from into to, in path order, and the
// store ops that make them (envelopes keep creation times).
func (c *Control) diff(from *State, to *config.Config) ([]Change, []store.Op, error) {
	old, err := objects(from.Config)
	if err != nil {
		return nil, nil, err
	}
	next, err := objects(to)
	if err != nil {
		return nil, nil, err
	}
	now := c.now().UTC()
	var changes []Change
	var ops []store.Op
	for path, spec := range next {
		prev, had := old[path]
		if had && bytes.Equal(prev, spec) {
			continue
		}
		env := envelope{CreatedAt: now, UpdatedAt: now, Spec: spec}
		kind := Created
		if had {
			kind = Updated
			env.CreatedAt = from.Meta[path].CreatedAt
		}
		val, err := json.Marshal(env)
		if err != nil {
			return nil, nil, err
		}
		changes = append(changes, Change{Path: path, Kind: kind, Before: prev, After: spec})
		ops = append(ops, store.Op{Key: configPrefix + path, Value: val})
	}
	for path, prev := range old {
		if _, ok := next[path]; !ok {
			changes = append(changes, Change{Path: path, Kind: Deleted, Before: prev})
			ops = append(ops, store.Op{Key: configPrefix + path, Delete: true})
		}
	}
	slices.SortFunc(changes, func(a, b Change) int { return strings.Compare(a.Path, b.Path) })
	slices.SortFunc(ops, func(a, b store.Op) int { return strings.Compare(a.Key, b.Key) })
	return changes, ops, nil
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
	// (ErrNotFound, a *config.FieldError...) aborts the change.
	Mutate func(cfg *config.Config) error
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
		return c.stage(req)
	}
	for attempt := 0; ; attempt++ {
		cur, err := c.Get(ctx, 0)
		if err != nil {
			return nil, err
		}
		if req.HasIfMatch && req.IfMatch != cur.Revision {
			return nil, fmt.Errorf("%w: you read %d, the head is %d", ErrPrecondition, req.IfMatch, cur.Revision)
		}
		next := cur.Config.Clone()
		if err := req.Mutate(next); err != nil {
			return nil, err
		}
		if err := checkProject(cur.Config, next, req.Project); err != nil {
			return nil, err
		}
		res, err := c.commit(ctx, cur, next, req)
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

// commit validates and compiles next, and stores its difference from cur.
func (c *Control) commit(ctx context.Context, cur *State, next *config.Config, req Request) (*Result, error) {
	if err := c.check(next); err != nil {
		return nil, err
	}
	changes, ops, err := c.diff(cur, next)
	if err != nil {
		return nil, err
	}
	res := &Result{Revision: cur.Revision, Changes: changes, DryRun: req.DryRun}
	if req.DryRun || len(ops) == 0 {
		return res, nil
	}
	rev, err := c.st.Commit(ctx, cur.head, ops, store.Meta{Author: req.Author, Message: req.Message})
	if err != nil {
		return nil, err
	}
	res.Revision = rev
	c.log.Info("committed", "revision", rev, "author", req.Author, "changes", len(changes))
	return res, nil
}

// check validates cfg and compiles it without publishing (compiling
// validates too, so it is not done twice).
func (c *Control) check(cfg *config.Config) error {
	check := c.compile
	if check == nil {
		check = (*config.Config).Validate
	}
	if err := check(cfg); err != nil {
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
