// Package bolt is the embedded default store.Store: one bbolt file in the
// data directory, for a single gantry process.
//
// Invariants:
//
//   - Durability: Commit returns only after bbolt's tx.Commit, which writes
//     the pages and fsyncs the file (NoSync is never set), so an acknowledged
//     revision survives kill -9 and power loss. A process killed mid-commit
//     leaves the previous revision intact; Open recovers it (bbolt's two
//     meta pages make the last fully written transaction win).
//   - Single process: Open takes bbolt's exclusive file lock and gives up
//     after one second with an error wrapping ErrLocked that names the path.
//     Watch fan-out is therefore in memory: every commit of the file goes
//     through this *Store.
//   - Concurrency: *Store is safe for concurrent use. Commits are serialised
//     by bbolt's single writer, and the compare-and-set runs inside the write
//     transaction, so of N commits on one base exactly one wins. Reads run in
//     bbolt read transactions (MVCC snapshots) and never block commits.
//   - Revisions are dense: revision r exists for every 1 <= r <= head that is
//     not compacted.
//   - Limits: bbolt caps keys at 32 KiB, and a key is stored escaped plus 10
//     bytes, so keys must stay a little below that; values may be large, but
//     every version of a value is kept until compaction, and each commit
//     also stores the previous values of the keys it changes (for History).
//
// On-disk layout (format 1), four buckets:
//
//	meta   "format"  → 8-byte big-endian layout version (1)
//	       "head"    → 8-byte big-endian head revision (absent = 0)
//	       "compact" → 8-byte big-endian oldest readable revision (absent = 0)
//	rev    be64(rev) → entry: version byte, varint UnixNano time, uvarint-length
//	                   author and message, uvarint change count, then per change
//	                   (in key order) kind byte, key, value, prev, each
//	                   uvarint-length-prefixed
//	kv     esc(key) 0x00 0x00 be64(rev) → 0x00 be64(createRev) value (a put)
//	                                    | 0x01 (a tombstone)
//	live   key → be64(createRev) be64(modRev) value, for live keys at the head
//
// esc doubles every 0x00 of a key as 0x00 0xFF, so the 0x00 0x00 terminator
// sorts before any continuation: all versions of one key are adjacent and
// ordered by revision, keys keep their byte order, and esc(prefix) is a byte
// prefix of esc(key) exactly when prefix is a prefix of key. Keys may
// therefore hold any bytes.
//
// Costs (n = keys matching a prefix, V = versions in the file):
//
//   - Get at the head and Range at the head read the live bucket: one lookup,
//     or a cursor scan of the n matching keys.
//   - Get at an old revision is one cursor seek. Range at an old revision
//     steps through at most walkSteps (8) versions of each matching key and
//     seeks past the rest, O(n × (8 + log V)): never a scan of every version
//     of a key with a long history.
//   - History walks the rev bucket backwards. With a prefix, each visited
//     entry's change keys are compared and the values of non-matching changes
//     are skipped by length without copying, so the cost is O(revisions
//     visited × changes per revision); a prefix touched rarely makes History
//     visit many revisions until limit matches are found.
//   - Commit costs one fsync plus O(ops log V); with KeepRevisions it also
//     compacts incrementally: only keys changed by the revisions that fall out
//     of the window are visited.
package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gantry-lb/gantry/internal/store"
	bbolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Options configures Open.
type Options struct {
	// KeepRevisions, when positive, compacts after every commit so that only
	// the newest KeepRevisions revisions stay readable by History and by
	// Range and Get at old revisions. 0 keeps every revision.
	KeepRevisions int
}

// ErrLocked is wrapped by the error Open returns when another process (or
// another open Store in this process) holds the database file.
var ErrLocked = errors.New("bolt: database is locked")

// lockTimeout bounds how long Open waits for the file lock: long enough to
// ride out a previous process that is still exiting, short enough that a
// second gantry on the same data directory fails fast.
const lockTimeout = time.Second

const formatVersion = 1

const (
	bucketMeta = "meta"
	bucketRev  = "rev"
	bucketKV   = "kv"
	bucketLive = "live"

	keyFormat  = "format"
	keyHead    = "head"
	keyCompact = "compact"
)

// Value tags in the kv bucket.
const (
	tagPut       = 0
	tagTombstone = 1
)

// entryVersion is the first byte of every encoded entry in the rev bucket.
const entryVersion = 1

// errNoop rolls back a write transaction that turned out to change nothing,
// which spares an fsync; it never leaves this package.
var errNoop = errors.New("bolt: no-op")

// Store is a store.Store in one bbolt file. Safe for concurrent use.
type Store struct {
	db     *bbolt.DB
	path   string
	keep   uint64
	closed atomic.Bool

	// watchers fans commits out to Watch; every commit of the file goes
	// through this *Store (the file lock sees to that), so announcing each
	// commit here is enough.
	watchers store.Watchers
}

var _ store.Store = (*Store)(nil)

// Open opens or creates the database file at path. A file left by a killed
// process opens normally, at its last committed revision.
func Open(path string, opts Options) (*Store, error) {
	if opts.KeepRevisions < 0 {
		return nil, fmt.Errorf("bolt: opening %s: KeepRevisions %d is negative", path, opts.KeepRevisions)
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: lockTimeout})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("bolt: opening %s: %w: another process holds its lock (waited %s)", path, ErrLocked, lockTimeout)
		}
		return nil, fmt.Errorf("bolt: opening %s: %w", path, err)
	}
	head, err := initialize(db)
	if err == nil {
		// bbolt fsyncs the file but not the directory entry of a new file:
		// without this, power loss could lose the whole file and with it the
		// first acknowledged revisions. Done on every Open, because a
		// process killed right after creating the file never got to it.
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("bolt: opening %s: %w", path, err)
	}
	s := &Store{db: db, path: path, keep: uint64(opts.KeepRevisions)}
	s.watchers.Announce(head)
	return s, nil
}

// initialize creates the buckets of a new file, or checks the layout
// version of an existing one and returns its head revision. It writes (and
// fsyncs) only a new file.
func initialize(db *bbolt.DB) (uint64, error) {
	var head uint64
	created := false
	err := db.View(func(tx *bbolt.Tx) error {
		m := tx.Bucket([]byte(bucketMeta))
		if m == nil {
			created = true
			// Refuse to add buckets to some other program's bbolt file.
			return tx.ForEach(func(name []byte, _ *bbolt.Bucket) error {
				return fmt.Errorf("not a gantry store: it holds bucket %q", name)
			})
		}
		if v := getUint(m, keyFormat); v != formatVersion {
			return fmt.Errorf("unsupported layout version %d (want %d)", v, formatVersion)
		}
		for _, name := range []string{bucketRev, bucketKV, bucketLive} {
			if tx.Bucket([]byte(name)) == nil {
				return fmt.Errorf("bucket %q missing", name)
			}
		}
		head = getUint(m, keyHead)
		return nil
	})
	if err != nil || !created {
		return head, err
	}
	return 0, db.Update(func(tx *bbolt.Tx) error {
		for _, name := range []string{bucketMeta, bucketRev, bucketKV, bucketLive} {
			if _, err := tx.CreateBucketIfNotExists([]byte(name)); err != nil {
				return err
			}
		}
		return putUint(tx.Bucket([]byte(bucketMeta)), keyFormat, formatVersion)
	})
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	return nil
}

// buckets are the four buckets of one transaction.
type buckets struct {
	meta, rev, kv, live *bbolt.Bucket
}

func bucketsOf(tx *bbolt.Tx) buckets {
	return buckets{
		meta: tx.Bucket([]byte(bucketMeta)),
		rev:  tx.Bucket([]byte(bucketRev)),
		kv:   tx.Bucket([]byte(bucketKV)),
		live: tx.Bucket([]byte(bucketLive)),
	}
}

// usable rejects calls on a closed store or with a done context before any
// work starts.
func (s *Store) usable(ctx context.Context) error {
	if s.closed.Load() {
		return fmt.Errorf("bolt: %s: %w", s.path, store.ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("bolt: %w", err)
	}
	return nil
}

// fail wraps the error of a transaction with the operation. bbolt's "not
// open", which a call racing Close can see, becomes store.ErrClosed.
func (s *Store) fail(err error, format string, args ...any) error {
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return fmt.Errorf("bolt: %s: %w", s.path, store.ErrClosed)
	}
	return fmt.Errorf("bolt: %s: %w", fmt.Sprintf(format, args...), err)
}

// Revision returns the head revision (0 for an empty store).
func (s *Store) Revision(ctx context.Context) (uint64, error) {
	if err := s.usable(ctx); err != nil {
		return 0, err
	}
	var head uint64
	err := s.db.View(func(tx *bbolt.Tx) error {
		head = getUint(tx.Bucket([]byte(bucketMeta)), keyHead)
		return nil
	})
	if err != nil {
		return 0, s.fail(err, "revision")
	}
	return head, nil
}

// Commit applies ops atomically as revision base+1 if base is the head. It
// returns after bbolt's fsync. The context is checked only before the write
// starts: a commit that began runs to completion.
func (s *Store) Commit(ctx context.Context, base uint64, ops []store.Op, meta store.Meta) (uint64, error) {
	if err := s.usable(ctx); err != nil {
		return 0, err
	}
	sorted, err := store.SortedOps(ops)
	if err != nil {
		return 0, fmt.Errorf("bolt: commit: %w", err)
	}
	if meta.Time.IsZero() {
		meta.Time = time.Now()
	}
	var rev uint64
	err = s.db.Update(func(tx *bbolt.Tx) error {
		b := bucketsOf(tx)
		head := getUint(b.meta, keyHead)
		if base != head {
			return fmt.Errorf("head is %d: %w", head, store.ErrConflict)
		}
		rev = head + 1
		entry := appendEntryHeader(nil, meta, len(sorted))
		for _, op := range sorted {
			var err error
			if entry, err = applyOp(b, op, rev, entry); err != nil {
				return err
			}
		}
		// Revisions only grow, so the rev bucket is append-only: full pages
		// waste no space.
		b.rev.FillPercent = 1
		if err := b.rev.Put(be64(rev), entry); err != nil {
			return err
		}
		if err := putUint(b.meta, keyHead, rev); err != nil {
			return err
		}
		if s.keep > 0 && rev > s.keep {
			return compact(b, rev-s.keep+1)
		}
		return nil
	})
	if err != nil {
		return 0, s.fail(err, "commit on base %d", base)
	}
	// Commits can finish out of order (bbolt releases its writer lock before
	// this runs); Announce drops a revision older than a watcher holds.
	s.watchers.Announce(rev)
	return rev, nil
}

// applyOp writes one op of revision rev to the live and kv buckets and
// appends its change to entry. The previous value is appended before the
// live bucket is written, because bbolt may reuse its memory afterwards.
func applyOp(b buckets, op store.Op, rev uint64, entry []byte) ([]byte, error) {
	key := []byte(op.Key)
	cur := b.live.Get(key)
	if cur != nil && len(cur) < 16 {
		return nil, fmt.Errorf("key %q: corrupt live record", op.Key)
	}
	if op.Delete {
		if cur == nil {
			return nil, fmt.Errorf("deleting %q: %w", op.Key, store.ErrNotFound)
		}
		entry = appendChange(entry, store.Deleted, op.Key, nil, cur[16:])
		if err := b.live.Delete(key); err != nil {
			return nil, err
		}
		return entry, b.kv.Put(versionKey(op.Key, rev), []byte{tagTombstone})
	}
	created := rev
	if cur == nil {
		entry = appendChange(entry, store.Created, op.Key, op.Value, nil)
	} else {
		created = binary.BigEndian.Uint64(cur)
		entry = appendChange(entry, store.Updated, op.Key, op.Value, cur[16:])
	}
	live := make([]byte, 16+len(op.Value))
	binary.BigEndian.PutUint64(live, created)
	binary.BigEndian.PutUint64(live[8:], rev)
	copy(live[16:], op.Value)
	if err := b.live.Put(key, live); err != nil {
		return nil, err
	}
	version := make([]byte, 9+len(op.Value))
	version[0] = tagPut
	binary.BigEndian.PutUint64(version[1:], created)
	copy(version[9:], op.Value)
	return entry, b.kv.Put(versionKey(op.Key, rev), version)
}

// Range returns every live key with the prefix as of rev (0 = head), sorted
// by key, and the head it was read at.
func (s *Store) Range(ctx context.Context, prefix string, rev uint64) ([]store.KV, uint64, error) {
	if err := s.usable(ctx); err != nil {
		return nil, 0, err
	}
	var (
		kvs  []store.KV
		head uint64
	)
	err := s.db.View(func(tx *bbolt.Tx) error {
		meta := tx.Bucket([]byte(bucketMeta))
		head = getUint(meta, keyHead)
		if err := store.CheckRevision(rev, head, getUint(meta, keyCompact)); err != nil {
			return err
		}
		var err error
		if rev == 0 || rev == head {
			kvs, err = rangeLive(tx.Bucket([]byte(bucketLive)), prefix)
		} else {
			kvs, err = rangeAt(tx.Bucket([]byte(bucketKV)), prefix, rev)
		}
		return err
	})
	if err != nil {
		return nil, 0, s.fail(err, "range %q", prefix)
	}
	return kvs, head, nil
}

func rangeLive(live *bbolt.Bucket, prefix string) ([]store.KV, error) {
	var kvs []store.KV
	p := []byte(prefix)
	c := live.Cursor()
	for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
		kv, err := decodeLive(k, v)
		if err != nil {
			return nil, err
		}
		kvs = append(kvs, kv)
	}
	return kvs, nil
}

// walkSteps is how many versions of one key rangeAt steps through with
// Next before it seeks instead: stepping within a leaf page is much cheaper
// than a seek from the root, and most keys have few versions, but a key
// with thousands must not be scanned.
const walkSteps = 8

// rangeAt visits each key under the prefix once: it finds the key's newest
// version at or below rev, then moves past the key's remaining versions,
// each by stepping up to walkSteps versions and seeking beyond that.
func rangeAt(kvb *bbolt.Bucket, prefix string, rev uint64) ([]store.KV, error) {
	var kvs []store.KV
	ep := appendEscaped(nil, prefix)
	var name, buf []byte
	c := kvb.Cursor()
	for k, v := c.Seek(ep); k != nil && bytes.HasPrefix(k, ep); {
		if len(k) < 10 {
			return nil, fmt.Errorf("corrupt version key %x", k)
		}
		n := len(k) - 8
		// name is esc(key) 0x00 0x00: no other key's encoding starts with
		// it, because escaped bytes never hold 0x00 0x00.
		name = append(name[:0], k[:n]...)
		var hitK, hitV []byte
		for steps := 0; k != nil && bytes.HasPrefix(k, name) && binary.BigEndian.Uint64(k[n:]) <= rev; steps++ {
			if steps == walkSteps {
				buf = binary.BigEndian.AppendUint64(append(buf[:0], name...), rev)
				hitK, hitV = seekAtOrBefore(c, buf)
				k, v = c.Next()
				break
			}
			hitK, hitV = k, v
			k, v = c.Next()
		}
		if hitK != nil && len(hitK) == n+8 && bytes.HasPrefix(hitK, name) {
			kv, ok, err := decodeVersion(name[:n-2], hitK[n:], hitV)
			if err != nil {
				return nil, err
			}
			if ok {
				kvs = append(kvs, kv)
			}
		}
		for steps := 0; k != nil && bytes.HasPrefix(k, name); steps++ {
			if steps == walkSteps {
				// esc(key) 0x00 0x01 sorts after every version of key and
				// before every longer key, whose escaped bytes continue
				// with 0x00 0xFF or a non-zero byte.
				buf = append(append(buf[:0], name[:n-1]...), 0x01)
				k, v = c.Seek(buf)
				break
			}
			k, v = c.Next()
		}
	}
	return kvs, nil
}

// seekAtOrBefore positions c at the last item <= target.
func seekAtOrBefore(c *bbolt.Cursor, target []byte) ([]byte, []byte) {
	k, v := c.Seek(target)
	if k != nil && bytes.Equal(k, target) {
		return k, v
	}
	if k == nil {
		// Past the end: bbolt's Prev is only defined from a valid position.
		return c.Last()
	}
	return c.Prev()
}

// Get returns one key as of rev (0 = head), or an error wrapping
// store.ErrNotFound.
func (s *Store) Get(ctx context.Context, key string, rev uint64) (store.KV, error) {
	if err := s.usable(ctx); err != nil {
		return store.KV{}, err
	}
	var (
		kv    store.KV
		found bool
	)
	err := s.db.View(func(tx *bbolt.Tx) error {
		meta := tx.Bucket([]byte(bucketMeta))
		head := getUint(meta, keyHead)
		if err := store.CheckRevision(rev, head, getUint(meta, keyCompact)); err != nil {
			return err
		}
		var err error
		if rev == 0 || rev == head {
			if v := tx.Bucket([]byte(bucketLive)).Get([]byte(key)); v != nil {
				kv, err = decodeLive([]byte(key), v)
				found = true
			}
			return err
		}
		target := versionKey(key, rev)
		n := len(target) - 8
		vk, vv := seekAtOrBefore(tx.Bucket([]byte(bucketKV)).Cursor(), target)
		if vk == nil || len(vk) != len(target) || !bytes.Equal(vk[:n], target[:n]) {
			return nil
		}
		kv, found, err = decodeVersion(target[:n-2], vk[n:], vv)
		return err
	})
	if err != nil {
		return store.KV{}, s.fail(err, "get %q", key)
	}
	if !found {
		return store.KV{}, fmt.Errorf("bolt: get %q: %w", key, store.ErrNotFound)
	}
	return kv, nil
}

// History returns up to limit revisions (limit <= 0: all), newest first,
// starting below before (0 = from the head), filtered by prefix.
func (s *Store) History(ctx context.Context, prefix string, before uint64, limit int) ([]store.Entry, error) {
	if err := s.usable(ctx); err != nil {
		return nil, err
	}
	var entries []store.Entry
	err := s.db.View(func(tx *bbolt.Tx) error {
		b := bucketsOf(tx)
		head := getUint(b.meta, keyHead)
		start := head
		if before != 0 {
			if before-1 > head {
				return fmt.Errorf("head is %d: %w", head, store.ErrFuture)
			}
			start = before - 1
		}
		if start == 0 {
			return nil
		}
		if compacted := getUint(b.meta, keyCompact); start < compacted {
			return fmt.Errorf("revision %d, oldest kept is %d: %w", start, compacted, store.ErrCompacted)
		}
		c := b.rev.Cursor()
		for k, v := seekAtOrBefore(c, be64(start)); k != nil; k, v = c.Prev() {
			if len(k) != 8 {
				return fmt.Errorf("corrupt revision key %x", k)
			}
			e, ok, err := decodeEntry(binary.BigEndian.Uint64(k), v, prefix)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			entries = append(entries, e)
			if limit > 0 && len(entries) == limit {
				return nil
			}
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, s.fail(err, "history %q before %d", prefix, before)
	}
	return entries, nil
}

// Watch sends the head revision after every commit until ctx is done or the
// store is closed, then closes the channel. It starts no goroutine of its
// own; context.AfterFunc closes the channel.
func (s *Store) Watch(ctx context.Context) <-chan uint64 {
	return s.watchers.Add(ctx)
}

// Compact forgets versions older than rev. It is a no-op (and writes
// nothing) at or below the current compaction point.
func (s *Store) Compact(ctx context.Context, rev uint64) error {
	if err := s.usable(ctx); err != nil {
		return err
	}
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b := bucketsOf(tx)
		head := getUint(b.meta, keyHead)
		if rev > head {
			return fmt.Errorf("head is %d: %w", head, store.ErrFuture)
		}
		if rev <= getUint(b.meta, keyCompact) {
			return errNoop
		}
		return compact(b, rev)
	})
	if err != nil && !errors.Is(err, errNoop) {
		return s.fail(err, "compact to %d", rev)
	}
	return nil
}

// compact moves the compaction point up to `to`. Only keys changed by
// revisions from the old point through `to` can have versions that become
// unreadable (a key untouched there keeps the version it had), so only their
// versions are visited: auto-compaction after each commit stays
// proportional to the changes that leave the window.
func compact(b buckets, to uint64) error {
	from := max(getUint(b.meta, keyCompact), 1)
	touched := make(map[string]struct{})
	for r := from; r <= to; r++ {
		v := b.rev.Get(be64(r))
		if v == nil {
			return fmt.Errorf("revision %d missing", r)
		}
		if err := entryKeys(v, func(key []byte) { touched[string(key)] = struct{}{} }); err != nil {
			return fmt.Errorf("revision %d: %w", r, err)
		}
	}
	var dead [][]byte
	c := b.kv.Cursor()
	for key := range touched {
		p := append(appendEscaped(nil, key), 0, 0)
		// The newest version at or below `to` stays (the state at `to`)
		// unless it is a tombstone older than `to`; everything before it goes.
		var keep []byte
		tomb := false
		for k, v := c.Seek(p); k != nil && len(k) == len(p)+8 && bytes.HasPrefix(k, p); k, v = c.Next() {
			if binary.BigEndian.Uint64(k[len(p):]) > to {
				break
			}
			if keep != nil {
				dead = append(dead, keep)
			}
			keep = bytes.Clone(k)
			tomb = len(v) > 0 && v[0] == tagTombstone
		}
		if keep != nil && tomb && binary.BigEndian.Uint64(keep[len(p):]) < to {
			dead = append(dead, keep)
		}
	}
	// Deleting through a live cursor skips items, so delete afterwards.
	for _, k := range dead {
		if err := b.kv.Delete(k); err != nil {
			return err
		}
	}
	for r := from; r < to; r++ {
		if err := b.rev.Delete(be64(r)); err != nil {
			return err
		}
	}
	return putUint(b.meta, keyCompact, to)
}

// Close closes the open Watch channels and the file. It waits for running
// transactions; later calls return store.ErrClosed. Calling it again
// returns nil.
func (s *Store) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	s.watchers.CloseAll()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("bolt: closing %s: %w", s.path, err)
	}
	return nil
}

// --- encoding ---

func be64(v uint64) []byte { return binary.BigEndian.AppendUint64(make([]byte, 0, 8), v) }

func getUint(b *bbolt.Bucket, key string) uint64 {
	v := b.Get([]byte(key))
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

func putUint(b *bbolt.Bucket, key string, v uint64) error {
	return b.Put([]byte(key), be64(v))
}

// appendEscaped appends key with every 0x00 doubled as 0x00 0xFF.
func appendEscaped(dst []byte, key string) []byte {
	for i := 0; i < len(key); i++ {
		dst = append(dst, key[i])
		if key[i] == 0 {
			dst = append(dst, 0xFF)
		}
	}
	return dst
}

// unescape reverses appendEscaped.
func unescape(esc []byte) string {
	if bytes.IndexByte(esc, 0) < 0 {
		return string(esc)
	}
	out := make([]byte, 0, len(esc))
	for i := 0; i < len(esc); i++ {
		out = append(out, esc[i])
		if esc[i] == 0 {
			i++ // skip the 0xFF
		}
	}
	return string(out)
}

// versionKey returns the kv bucket key of key at rev. It is freshly
// allocated because bbolt keeps keys passed to Put until the commit.
func versionKey(key string, rev uint64) []byte {
	b := make([]byte, 0, len(key)+10+strings.Count(key, "\x00"))
	b = append(appendEscaped(b, key), 0, 0)
	return binary.BigEndian.AppendUint64(b, rev)
}

func decodeLive(k, v []byte) (store.KV, error) {
	if len(v) < 16 {
		return store.KV{}, fmt.Errorf("key %q: corrupt live record", k)
	}
	return store.KV{
		Key:            string(k),
		Value:          bytes.Clone(v[16:len(v):len(v)]),
		CreateRevision: binary.BigEndian.Uint64(v),
		ModRevision:    binary.BigEndian.Uint64(v[8:]),
	}, nil
}

// decodeVersion decodes a kv bucket value; ok is false for a tombstone.
func decodeVersion(escKey, revBytes, v []byte) (kv store.KV, ok bool, err error) {
	switch {
	case len(v) == 1 && v[0] == tagTombstone:
		return store.KV{}, false, nil
	case len(v) >= 9 && v[0] == tagPut:
		value := make([]byte, len(v)-9)
		copy(value, v[9:])
		return store.KV{
			Key:            unescape(escKey),
			Value:          value,
			CreateRevision: binary.BigEndian.Uint64(v[1:]),
			ModRevision:    binary.BigEndian.Uint64(revBytes),
		}, true, nil
	default:
		return store.KV{}, false, fmt.Errorf("key %q: corrupt version record", unescape(escKey))
	}
}

func appendBytes(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendEntryHeader(dst []byte, m store.Meta, changes int) []byte {
	dst = append(dst, entryVersion)
	dst = binary.AppendVarint(dst, m.Time.UnixNano())
	dst = appendString(dst, m.Author)
	dst = appendString(dst, m.Message)
	return binary.AppendUvarint(dst, uint64(changes))
}

func appendChange(dst []byte, kind store.ChangeKind, key string, value, prev []byte) []byte {
	dst = append(dst, byte(kind))
	dst = appendString(dst, key)
	dst = appendBytes(dst, value)
	return appendBytes(dst, prev)
}

// decoder reads an entry; the first error sticks and later reads return
// zero values, so callers check err once per field group.
type decoder struct {
	b   []byte
	err error
}

var errCorrupt = errors.New("bolt: corrupt entry")

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) < 1 {
		d.err = errCorrupt
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errCorrupt
		return 0
	}
	d.b = d.b[n:]
	return v
}

// bytes returns the next length-prefixed field without copying: the slice
// aliases the transaction's memory.
func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.err = errCorrupt
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

type header struct {
	time            time.Time
	author, message []byte
	changes         uint64
}

func (d *decoder) header() header {
	if v := d.byte(); d.err == nil && v != entryVersion {
		d.err = fmt.Errorf("entry version %d: %w", v, errCorrupt)
	}
	var h header
	h.time = time.Unix(0, d.varint()).UTC()
	h.author = d.bytes()
	h.message = d.bytes()
	h.changes = d.uvarint()
	return h
}

// entryKeys calls fn with the key of every change of an encoded entry.
func entryKeys(v []byte, fn func(key []byte)) error {
	d := decoder{b: v}
	h := d.header()
	for i := uint64(0); i < h.changes && d.err == nil; i++ {
		d.byte()
		key := d.bytes()
		d.bytes()
		d.bytes()
		if d.err == nil {
			fn(key)
		}
	}
	return d.err
}

// decodeEntry decodes the changes of an encoded entry whose keys have the
// prefix, copying only their values; ok is false when none match.
func decodeEntry(rev uint64, v []byte, prefix string) (store.Entry, bool, error) {
	d := decoder{b: v}
	h := d.header()
	var changes []store.Change
	for i := uint64(0); i < h.changes && d.err == nil; i++ {
		kind := store.ChangeKind(d.byte())
		key := d.bytes()
		value := d.bytes()
		prev := d.bytes()
		if d.err != nil || !bytes.HasPrefix(key, []byte(prefix)) {
			continue
		}
		c := store.Change{Key: string(key), Kind: kind}
		switch kind {
		case store.Created:
			c.Value = append([]byte{}, value...)
		case store.Updated:
			c.Value = append([]byte{}, value...)
			c.Prev = append([]byte{}, prev...)
		case store.Deleted:
			c.Prev = append([]byte{}, prev...)
		default:
			d.err = fmt.Errorf("change kind %d: %w", kind, errCorrupt)
		}
		changes = append(changes, c)
	}
	if d.err != nil {
		return store.Entry{}, false, fmt.Errorf("revision %d: %w", rev, d.err)
	}
	if len(changes) == 0 {
		return store.Entry{}, false, nil
	}
	return store.Entry{
		Revision: rev,
		Meta:     store.Meta{Author: string(h.author), Message: string(h.message), Time: h.time},
		Changes:  changes,
	}, true, nil
}
