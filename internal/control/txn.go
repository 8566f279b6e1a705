package control

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gantry-lb/gantry/internal/config"
	"github.com/gantry-lb/gantry/internal/store"
)

// DefaultTxnTTL is how long an open transaction lives without a write.
const DefaultTxnTTL = 10 * time.Minute

// Txn describes an open transaction: changes staged on a base revision and
// committed together as one revision, or not at all.
type Txn struct {
	ID      string    `json:"id"`
	Version uint64    `json:"version"` // the base revision
	Changes int       `json:"changes"` // staged writes so far
	Expires time.Time `json:"expires"`
	Author  string    `json:"author,omitempty"`
}

type txn struct {
	info  Txn
	base  *State
	next  *config.Config
	mu    sync.Mutex // one staged write at a time
	ended bool
}

type txnTable struct {
	mu  sync.Mutex
	m   map[string]*txn
	ttl time.Duration
}

func newTxnTable() *txnTable { return &txnTable{m: map[string]*txn{}, ttl: DefaultTxnTTL} }

// SetTxnTTL changes how long open transactions live without a write.
func (c *Control) SetTxnTTL(d time.Duration) {
	c.txns.mu.Lock()
	c.txns.ttl = d
	c.txns.mu.Unlock()
}

// Begin opens a transaction on revision version, which must be the head
// (0 means the head, whatever it is).
func (c *Control) Begin(ctx context.Context, version uint64, author string) (*Txn, error) {
	cur, err := c.Get(ctx, 0)
	if err != nil {
		return nil, err
	}
	if version != 0 && version != cur.Revision {
		return nil, fmt.Errorf("%w: version %d, the head is %d", ErrPrecondition, version, cur.Revision)
	}
	var id [12]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, err
	}
	t := &txn{base: cur, next: shallowClone(cur.Config)}
	c.txns.mu.Lock()
	defer c.txns.mu.Unlock()
	c.txns.expire(c.now())
	t.info = Txn{ID: hex.EncodeToString(id[:]), Version: cur.Revision, Expires: c.now().Add(c.txns.ttl), Author: author}
	c.txns.m[t.info.ID] = t
	out := t.info
	return &out, nil
}

// expire drops transactions past their expiry; c.txns.mu is held.
func (tt *txnTable) expire(now time.Time) {
	for id, t := range tt.m {
		if now.After(t.info.Expires) {
			delete(tt.m, id)
		}
	}
}

func (c *Control) txn(id string) (*txn, error) {
	c.txns.mu.Lock()
	defer c.txns.mu.Unlock()
	c.txns.expire(c.now())
	t, ok := c.txns.m[id]
	if !ok {
		return nil, fmt.Errorf("transaction %q: %w (unknown, committed, aborted or expired)", id, ErrNotFound)
	}
	return t, nil
}

// Transaction returns an open transaction.
func (c *Control) Transaction(id string) (*Txn, error) {
	t, err := c.txn(id)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	out := t.info
	return &out, nil
}

// stage applies req.Mutate to the transaction's copy. Validation waits for
// the commit: a transaction may pass through states that are only valid
// together (a frontend written before the backend it names).
func (c *Control) stage(ctx context.Context, req Request) (*Result, error) {
	t, err := c.txn(req.Txn)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ended {
		return nil, fmt.Errorf("transaction %q: %w", req.Txn, ErrNotFound)
	}
	trial := shallowClone(t.next)
	if err := req.Mutate(trial); err != nil {
		return nil, err
	}
	if err := checkProject(t.next, trial, req.Project); err != nil {
		return nil, err
	}
	p, err := c.makePlan(ctx, t.base, trial, t.base.head+1, c.now().UTC(), nil)
	if err != nil {
		return nil, err
	}
	res := &Result{Revision: t.base.Revision, Changes: p.changes, Staged: true, DryRun: req.DryRun}
	if req.DryRun {
		return res, nil
	}
	t.next = trial
	t.info.Changes++
	c.txns.mu.Lock()
	t.info.Expires = c.now().Add(c.txns.ttl)
	c.txns.mu.Unlock()
	return res, nil
}

// Commit validates the transaction's staged config and stores it as one
// revision. It fails with ErrConflict if the head moved since Begin; the
// transaction is then gone and nothing is stored. A dry run keeps the
// transaction open.
func (c *Control) Commit(ctx context.Context, id string, dryRun bool, message string) (*Result, error) {
	t, err := c.txn(id)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ended {
		return nil, fmt.Errorf("transaction %q: %w", id, ErrNotFound)
	}
	var res *Result
	for attempt := 0; ; attempt++ {
		var cur *State
		if cur, err = c.Get(ctx, 0); err != nil {
			return nil, err
		}
		if cur.Revision != t.base.Revision {
			err = fmt.Errorf("the head is %d: %w", cur.Revision, store.ErrConflict)
			break
		}
		// Only writes outside the config (tokens) may have moved the head.
		// States are shared (Get caches them): change a copy.
		base := *t.base
		base.head = cur.head
		res, err = c.commit(ctx, &base, t.next, Request{DryRun: dryRun, Author: t.info.Author, Message: message}, nil)
		if !errors.Is(err, store.ErrConflict) || attempt == maxRetries {
			break
		}
	}
	if dryRun && err == nil {
		return res, nil
	}
	if err != nil && !errors.Is(err, store.ErrConflict) {
		return nil, err // invalid, or the store failed: nothing was stored, the transaction stays open
	}
	t.ended = true
	c.txns.mu.Lock()
	delete(c.txns.m, id)
	c.txns.mu.Unlock()
	if errors.Is(err, store.ErrConflict) {
		return nil, fmt.Errorf("%w: the config changed since revision %d: %w", ErrConflict, t.base.Revision, err)
	}
	return res, err
}

// Abort discards a transaction.
func (c *Control) Abort(id string) error {
	t, err := c.txn(id)
	if err != nil {
		return err
	}
	t.mu.Lock()
	t.ended = true
	t.mu.Unlock()
	c.txns.mu.Lock()
	delete(c.txns.m, id)
	c.txns.mu.Unlock()
	return nil
}
