// Package store defines the revisioned key-value store that holds gantry's
// desired-state configuration, modelled on etcd's MVCC so that an embedded
// backend (package bolt) and an etcd backend can pass one conformance suite
// (package storetest).
//
// Invariants every implementation keeps:
//
//   - One global revision. The empty store is at revision 0; every successful
//     Commit creates exactly revision base+1, so revisions are dense (1, 2, 3,
//     ...) and never reused. A commit is all or nothing.
//   - Compare-and-set. Commit succeeds only if base is the head revision; a
//     stale base returns an error wrapping ErrConflict and stores nothing, so
//     of N writers racing on one base exactly one wins.
//   - Durability. Commit returns only after the revision is durable (fsync or
//     a quorum write); an acknowledged revision survives kill -9 of the
//     process.
//   - Reads at a revision are repeatable: Range and Get at revision r return
//     the same answer until r is compacted (then ErrCompacted), and a revision
//     above the head returns ErrFuture.
//   - Returned slices are copies owned by the caller, and Commit does not keep
//     references to the caller's slices after it returns.
//   - Every Store is safe for concurrent use by multiple goroutines.
//
// Keys are arbitrary non-empty byte strings (including NUL and 0xFF bytes);
// gantry uses slash-separated paths so that a prefix selects a subtree.
//
// The package also holds what every implementation needs alike: Watchers
// (the in-memory fan-out behind Watch), SortedOps (Commit's op validation)
// and CheckRevision (the bounds of a read revision).
package store

import (
	"context"
	"errors"
	"time"
)

// KV is one key at some revision.
type KV struct {
	Key            string
	Value          []byte
	CreateRevision uint64 // revision that created this key (since its last delete)
	ModRevision    uint64 // revision that last changed it
}

// Op is one change of a commit: a put, or a delete when Delete is true
// (deleting a missing key is an error: ErrNotFound).
type Op struct {
	Key    string
	Value  []byte
	Delete bool
}

// Meta says who made a revision and why; Time is set by the store if zero.
type Meta struct {
	Author  string    `json:"author"`
	Message string    `json:"message,omitempty"`
	Time    time.Time `json:"time"`
}

// Entry is one revision of the history.
type Entry struct {
	Revision uint64
	Meta
	Changes []Change // every key the revision changed, in key order
}

// Change is what one revision did to one key.
type Change struct {
	Key         string
	Kind        ChangeKind // Created, Updated, Deleted
	Value, Prev []byte     // new value (nil for Deleted) and previous value (nil for Created)
}

// ChangeKind says whether a Change created, updated or deleted its key.
type ChangeKind uint8

// The kinds of change. The zero value is invalid so that a forgotten Kind is
// caught instead of read as "created".
const (
	Created ChangeKind = iota + 1
	Updated
	Deleted
)

// String returns "created", "updated" or "deleted".
func (k ChangeKind) String() string {
	switch k {
	case Created:
		return "created"
	case Updated:
		return "updated"
	case Deleted:
		return "deleted"
	default:
		return "invalid"
	}
}

// The sentinel errors of every Store. Implementations wrap them with %w and
// context (the key, the revisions involved), so test them with errors.Is.
var (
	ErrConflict  = errors.New("store: revision conflict") // base is not the head
	ErrNotFound  = errors.New("store: not found")
	ErrCompacted = errors.New("store: revision compacted") // older than the oldest kept revision
	ErrFuture    = errors.New("store: revision not yet written")
	ErrClosed    = errors.New("store: closed")
)

// Store is a revisioned key-value store. Safe for concurrent use.
type Store interface {
	// Revision returns the head revision (0 for an empty store).
	Revision(ctx context.Context) (uint64, error)
	// Commit applies ops atomically as revision base+1 if base is the head
	// revision, else returns an error wrapping ErrConflict (and stores
	// nothing). It returns only once the revision is durable (fsync). ops must
	// be non-empty, keys non-empty and unique within ops; invalid ops are
	// rejected without storing anything. A delete of a missing key fails the
	// whole commit with an error wrapping ErrNotFound.
	Commit(ctx context.Context, base uint64, ops []Op, meta Meta) (uint64, error)
	// Range returns every live key with the prefix as of revision rev (0 =
	// head), sorted by key, with the head revision it was read at.
	Range(ctx context.Context, prefix string, rev uint64) (kvs []KV, at uint64, err error)
	// Get returns one key as of rev (0 = head), or ErrNotFound.
	Get(ctx context.Context, key string, rev uint64) (KV, error)
	// History returns up to limit revisions (limit <= 0: all), newest first,
	// starting below `before` (0 = from the head); with prefix != "", only
	// revisions (and changes) touching keys with that prefix. It returns
	// ErrCompacted if the first revision it would read is compacted, and
	// stops silently at the oldest kept revision otherwise.
	History(ctx context.Context, prefix string, before uint64, limit int) ([]Entry, error)
	// Watch sends the head revision after every commit (by any writer of this
	// store) until ctx is done or the store is closed, then closes the
	// channel. Slow readers get only the newest revision (coalesced, never
	// blocking Commit); values are strictly increasing. The first value sent
	// is the head at the time of the call.
	Watch(ctx context.Context) <-chan uint64
	// Compact forgets versions older than rev (History and Range at older
	// revisions then return ErrCompacted); the live state at rev and after is
	// kept. Compacting to a revision at or below the current compaction point
	// is a no-op; above the head it returns ErrFuture.
	Compact(ctx context.Context, rev uint64) error
	// Close releases the store; afterwards every method returns ErrClosed and
	// open Watch channels are closed. Calling Close again returns nil.
	Close() error
}
