package certs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/gantry-lb/gantry/internal/store"
)

// Storage key layout under the prefix (default "acme/"):
//
//	<prefix>data/<certmagic key>    certmagic's own assets: ACME accounts
//	                                (users/...), challenge tokens for
//	                                distributed solving; values ending in
//	                                ".key" are sealed
//	<prefix>locks/<name>            a lock: JSON {owner, expires}
//	<prefix>certs/<ca>/<set>        gantry's record of one ACME certificate:
//	                                names, chain, sealed key, last error
const (
	subData  = "data/"
	subLocks = "locks/"
	subCerts = "certs/"
)

// storeAuthor is the Meta.Author of every revision this package commits.
const storeAuthor = "gantry/certs"

// StorageOptions configures a Storage.
type StorageOptions struct {
	// Prefix is prepended to every key; default "acme/".
	Prefix string
	// Sealer seals values whose key ends in ".key" (private keys). Required.
	Sealer *Sealer
	// Owner names this node in lock values (for operators); a random
	// suffix is added per lock acquisition. Default: the host name.
	Owner string
	// LockTTL is how long a lock stays valid without refresh; a holder
	// refreshes it every LockTTL/3, so a crashed holder's lock expires after
	// at most LockTTL. Default 2 minutes. Nodes' clocks must agree to well
	// within LockTTL*2/3.
	LockTTL time.Duration
	// LockPoll is how often Lock retries a lock held by someone else;
	// default 1 second.
	LockPoll time.Duration
	Logger   *slog.Logger
}

// Storage is a certmagic.Storage (with TryLocker and LockLeaseRenewer) over
// gantry's revisioned store, so that every node sharing the store shares
// ACME accounts, challenge answers, certificates and locks. Every write is a
// compare-and-set commit on the head revision, retried on conflict. Safe for
// concurrent use.
type Storage struct {
	st     store.Store
	prefix string
	sealer *Sealer
	owner  string
	ttl    time.Duration
	poll   time.Duration
	log    *slog.Logger

	mu   sync.Mutex
	held map[string]*heldLock
}

type heldLock struct {
	token  string
	cancel context.CancelFunc
	done   chan struct{}
}

// lockValue is the stored form of a lock.
type lockValue struct {
	Owner   string    `json:"owner"`
	Expires time.Time `json:"expires"`
}

var (
	_ certmagic.Storage          = (*Storage)(nil)
	_ certmagic.TryLocker        = (*Storage)(nil)
	_ certmagic.LockLeaseRenewer = (*Storage)(nil)
)

// NewStorage returns a Storage over st.
func NewStorage(st store.Store, o StorageOptions) (*Storage, error) {
	if st == nil {
		return nil, errors.New("certs: storage needs a store")
	}
	if o.Sealer == nil {
		return nil, errors.New("certs: storage needs a sealer for private keys")
	}
	if o.Prefix == "" {
		o.Prefix = "acme/"
	}
	if !strings.HasSuffix(o.Prefix, "/") {
		o.Prefix += "/"
	}
	if o.Owner == "" {
		o.Owner, _ = os.Hostname()
	}
	if o.LockTTL <= 0 {
		o.LockTTL = 2 * time.Minute
	}
	if o.LockPoll <= 0 {
		o.LockPoll = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Storage{
		st: st, prefix: o.Prefix, sealer: o.Sealer, owner: o.Owner,
		ttl: o.LockTTL, poll: o.LockPoll, log: o.Logger, held: map[string]*heldLock{},
	}, nil
}

func (s *Storage) dataKey(key string) string  { return s.prefix + subData + key }
func (s *Storage) lockKey(name string) string { return s.prefix + subLocks + name }

// update reads key at the head revision, lets fn decide, and commits the
// decision based on that revision, retrying on conflict. fn returns the new
// value, or del to delete, or skip to write nothing.
func (s *Storage) update(ctx context.Context, key, why string, fn func(cur []byte, exists bool) (next []byte, del, skip bool, err error)) error {
	for attempt := 0; ; attempt++ {
		rev, err := s.st.Revision(ctx)
		if err != nil {
			return fmt.Errorf("reading revision: %w", err)
		}
		var (
			cur    []byte
			exists bool
		)
		kv, err := s.st.Get(ctx, key, rev)
		switch {
		case err == nil:
			cur, exists = kv.Value, true
		case errors.Is(err, store.ErrNotFound):
		case errors.Is(err, store.ErrCompacted) || errors.Is(err, store.ErrFuture):
			continue
		default:
			return fmt.Errorf("reading %s: %w", key, err)
		}
		next, del, skip, err := fn(cur, exists)
		if err != nil || skip {
			return err
		}
		if del && !exists {
			return nil
		}
		_, err = s.st.Commit(ctx, rev, []store.Op{{Key: key, Value: next, Delete: del}}, store.Meta{Author: storeAuthor, Message: why})
		if err == nil {
			return nil
		}
		if !errors.Is(err, store.ErrConflict) || attempt >= 200 {
			return fmt.Errorf("writing %s: %w", key, err)
		}
		if err := sleepCtx(ctx, conflictBackoff(attempt)); err != nil {
			return err
		}
	}
}

// conflictBackoff spreads writers racing on the head revision.
func conflictBackoff(attempt int) time.Duration {
	d := time.Millisecond << min(attempt, 6) // up to 64ms
	return d/2 + mrand.N(d/2+1)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Store puts value at key, sealing it if key ends in ".key".
func (s *Storage) Store(ctx context.Context, key string, value []byte) error {
	ctx = orBackground(ctx)
	v := value
	if strings.HasSuffix(key, ".key") {
		sealed, err := s.sealer.Seal(value)
		if err != nil {
			return err
		}
		v = sealed
	}
	return s.update(ctx, s.dataKey(key), "acme: store "+key, func([]byte, bool) ([]byte, bool, bool, error) {
		return v, false, false, nil
	})
}

// Load returns the value at key (unsealed), or an error wrapping
// fs.ErrNotExist.
func (s *Storage) Load(ctx context.Context, key string) ([]byte, error) {
	ctx = orBackground(ctx)
	kv, err := s.st.Get(ctx, s.dataKey(key), 0)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%s: %w", key, fs.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", key, err)
	}
	if strings.HasSuffix(key, ".key") {
		return s.sealer.Open(kv.Value)
	}
	return kv.Value, nil
}

// under returns the live keys equal to full or below full+"/", and the
// revision they were read at.
func (s *Storage) under(ctx context.Context, full string) ([]store.KV, uint64, error) {
	kvs, at, err := s.st.Range(ctx, full, 0)
	if err != nil {
		return nil, 0, err
	}
	out := kvs[:0]
	for _, kv := range kvs {
		if kv.Key == full || strings.HasPrefix(kv.Key, full+"/") {
			out = append(out, kv)
		}
	}
	return out, at, nil
}

// Delete deletes key and every key below it; a missing key is not an
// error.
func (s *Storage) Delete(ctx context.Context, key string) error {
	ctx = orBackground(ctx)
	full := s.dataKey(key)
	for attempt := 0; ; attempt++ {
		kvs, at, err := s.under(ctx, full)
		if err != nil {
			return fmt.Errorf("deleting %s: %w", key, err)
		}
		if len(kvs) == 0 {
			return nil
		}
		ops := make([]store.Op, len(kvs))
		for i, kv := range kvs {
			ops[i] = store.Op{Key: kv.Key, Delete: true}
		}
		_, err = s.st.Commit(ctx, at, ops, store.Meta{Author: storeAuthor, Message: "acme: delete " + key})
		if err == nil {
			return nil
		}
		if !errors.Is(err, store.ErrConflict) || attempt >= 200 {
			return fmt.Errorf("deleting %s: %w", key, err)
		}
		if err := sleepCtx(ctx, conflictBackoff(attempt)); err != nil {
			return err
		}
	}
}

// Exists reports whether key is a file or a directory.
func (s *Storage) Exists(ctx context.Context, key string) bool {
	ctx = orBackground(ctx)
	kvs, _, err := s.under(ctx, s.dataKey(key))
	return err == nil && len(kvs) > 0
}

// List returns the keys directly below dir (or every key and directory
// below it when recursive), or an error wrapping fs.ErrNotExist when there
// is none.
func (s *Storage) List(ctx context.Context, dir string, recursive bool) ([]string, error) {
	ctx = orBackground(ctx)
	base := s.dataKey(strings.TrimSuffix(dir, "/"))
	kvs, _, err := s.under(ctx, base)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", dir, err)
	}
	seen := map[string]bool{}
	var out []string
	add := func(rel string) {
		k := path.Join(dir, rel)
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	for _, kv := range kvs {
		rel := strings.TrimPrefix(strings.TrimPrefix(kv.Key, base), "/")
		if rel == "" {
			continue
		}
		parts := strings.Split(rel, "/")
		if !recursive {
			add(parts[0])
			continue
		}
		for i := range parts {
			add(strings.Join(parts[:i+1], "/"))
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: %w", dir, fs.ErrNotExist)
	}
	sort.Strings(out)
	return out, nil
}

// Stat describes key. Modified is left zero: the store keeps revisions,
// not times.
func (s *Storage) Stat(ctx context.Context, key string) (certmagic.KeyInfo, error) {
	ctx = orBackground(ctx)
	full := s.dataKey(key)
	kvs, _, err := s.under(ctx, full)
	if err != nil {
		return certmagic.KeyInfo{}, fmt.Errorf("stat %s: %w", key, err)
	}
	for _, kv := range kvs {
		if kv.Key == full {
			return certmagic.KeyInfo{Key: key, Size: int64(len(kv.Value)), IsTerminal: true}, nil
		}
	}
	if len(kvs) > 0 {
		return certmagic.KeyInfo{Key: key}, nil
	}
	return certmagic.KeyInfo{}, fmt.Errorf("%s: %w", key, fs.ErrNotExist)
}

// String names the storage for certmagic's logs.
func (s *Storage) String() string { return "gantry-store:" + s.prefix }

// Lock takes the named lock, waiting while another holder (another node,
// or another goroutine of this one) has it and it has not expired.
func (s *Storage) Lock(ctx context.Context, name string) error {
	ctx = orBackground(ctx)
	for {
		ok, wait, err := s.tryLock(ctx, name)
		if err != nil || ok {
			return err
		}
		if err := sleepCtx(ctx, wait); err != nil {
			return fmt.Errorf("waiting for lock %s: %w", name, err)
		}
	}
}

// TryLock takes the named lock if it is free or expired, without waiting.
func (s *Storage) TryLock(ctx context.Context, name string) (bool, error) {
	ctx = orBackground(ctx)
	ok, _, err := s.tryLock(ctx, name)
	return ok, err
}

// tryLock returns whether it took the lock and, if not, how long to wait
// before trying again.
func (s *Storage) tryLock(ctx context.Context, name string) (bool, time.Duration, error) {
	s.mu.Lock()
	_, mine := s.held[name]
	s.mu.Unlock()
	if mine {
		return false, s.poll, nil
	}
	token := s.owner + "/" + randomID()
	wait := s.poll
	took := false
	err := s.update(ctx, s.lockKey(name), "acme: lock "+name, func(cur []byte, exists bool) ([]byte, bool, bool, error) {
		took = false // fn runs again after a conflict
		now := time.Now()
		if exists {
			var lv lockValue
			if json.Unmarshal(cur, &lv) == nil && now.Before(lv.Expires) {
				if left := lv.Expires.Sub(now); left < wait {
					wait = left + 10*time.Millisecond
				}
				return nil, false, true, nil
			}
			s.log.Info("taking over an expired lock", "lock", name, "previous_owner", lv.Owner, "expired", lv.Expires)
		}
		v, err := json.Marshal(lockValue{Owner: token, Expires: now.Add(s.ttl)})
		took = err == nil
		return v, false, false, err
	})
	if err != nil {
		return false, 0, fmt.Errorf("taking lock %s: %w", name, err)
	}
	if !took {
		return false, wait, nil
	}
	kctx, cancel := context.WithCancel(context.Background())
	h := &heldLock{token: token, cancel: cancel, done: make(chan struct{})}
	s.mu.Lock()
	s.held[name] = h
	s.mu.Unlock()
	go s.keepAlive(kctx, name, h)
	return true, 0, nil
}

// keepAlive pushes the lock's expiry forward every ttl/3 while it is held.
func (s *Storage) keepAlive(ctx context.Context, name string, h *heldLock) {
	defer close(h.done)
	t := time.NewTicker(s.ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := s.extend(ctx, name, h.token, s.ttl); err != nil && ctx.Err() == nil {
			s.log.Warn("refreshing lock", "lock", name, "err", err)
		}
	}
}

// extend moves the expiry of a lock we hold to at least now+d.
func (s *Storage) extend(ctx context.Context, name, token string, d time.Duration) error {
	lost := false
	err := s.update(ctx, s.lockKey(name), "acme: refresh lock "+name, func(cur []byte, exists bool) ([]byte, bool, bool, error) {
		lost = false
		var lv lockValue
		if !exists || json.Unmarshal(cur, &lv) != nil || lv.Owner != token {
			lost = true
			return nil, false, true, nil
		}
		if exp := time.Now().Add(d); exp.After(lv.Expires) {
			lv.Expires = exp
		} else {
			return nil, false, true, nil
		}
		v, err := json.Marshal(lv)
		return v, false, false, err
	})
	if err == nil && lost {
		err = fmt.Errorf("%w: %s was taken over after it expired", ErrLockNotHeld, name)
	}
	return err
}

// RenewLockLease extends a held lock to expire no sooner than
// leaseDuration from now (certmagic calls it before long retries).
func (s *Storage) RenewLockLease(ctx context.Context, name string, leaseDuration time.Duration) error {
	ctx = orBackground(ctx)
	s.mu.Lock()
	h := s.held[name]
	s.mu.Unlock()
	if h == nil {
		return fmt.Errorf("%w: %s", ErrLockNotHeld, name)
	}
	return s.extend(ctx, name, h.token, leaseDuration)
}

// Unlock releases a lock taken by Lock or TryLock. If the lock expired and
// someone else took it meanwhile, their lock is left alone.
func (s *Storage) Unlock(ctx context.Context, name string) error {
	ctx = orBackground(ctx)
	s.mu.Lock()
	h := s.held[name]
	delete(s.held, name)
	s.mu.Unlock()
	if h == nil {
		return fmt.Errorf("%w: %s", ErrLockNotHeld, name)
	}
	h.cancel()
	<-h.done
	return s.update(ctx, s.lockKey(name), "acme: unlock "+name, func(cur []byte, exists bool) ([]byte, bool, bool, error) {
		var lv lockValue
		if !exists || json.Unmarshal(cur, &lv) != nil || lv.Owner != h.token {
			s.log.Warn("lock was taken over before unlock", "lock", name)
			return nil, false, true, nil
		}
		return nil, true, false, nil
	})
}

// releaseAll releases every lock still held (on shutdown).
func (s *Storage) releaseAll(ctx context.Context) {
	s.mu.Lock()
	names := make([]string, 0, len(s.held))
	for n := range s.held {
		names = append(names, n)
	}
	s.mu.Unlock()
	for _, n := range names {
		if err := s.Unlock(ctx, n); err != nil {
			s.log.Warn("releasing lock on close", "lock", n, "err", err)
		}
	}
}

// orBackground guards against a nil context: certmagic passes
// ClientHelloInfo.Context(), which is nil outside a real handshake.
func orBackground(ctx context.Context) context.Context {
	if ctx == nil {
		return context.Background()
	}
	return ctx
}

func randomID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
