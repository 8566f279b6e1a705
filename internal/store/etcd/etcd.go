// Package etcd is a store.Store over an etcd v3 cluster, so that several
// gantry processes share one desired state (and one ACME lock space).
//
// Invariants:
//
//   - One gantry revision counter per store, kept in the key <prefix>meta/head
//     (decimal). Every Commit is one etcd transaction guarded by
//     If(ModRevision(head) == the ModRevision read with base) that writes the
//     changed keys, the new head and the history record of the revision, so
//     revisions are dense, all or nothing, and of N writers racing on one
//     base (in any number of processes) exactly one wins; the others get
//     store.ErrConflict.
//   - Durability: etcd acknowledges a transaction only after a quorum of
//     members has written it to its WAL and fsynced it, so an acknowledged
//     revision survives kill -9 of gantry and of etcd.
//   - Reads at a revision: the history record <prefix>rev/<%020d> of gantry
//     revision N is created by N's transaction and never modified, so its
//     etcd ModRevision is the etcd revision of N; Range and Get at N read the
//     data keys at that etcd revision. A revision below the store's
//     compaction point (or one etcd itself has compacted) returns
//     store.ErrCompacted; above the head, store.ErrFuture.
//   - Watch fan-out: one etcd watch per *Store on the head key, plus local
//     commits announced at once; slow readers get the newest revision only.
//   - Several stores share one etcd through distinct prefixes; every key of a
//     store starts with its prefix.
//
// Key layout under the prefix (default "/gantry/"):
//
//	meta/head        gantry head revision, decimal (absent = 0)
//	meta/compact     oldest readable gantry revision, decimal (absent = 0)
//	rev/<%020d>      history record of one revision: JSON {time, author,
//	                 message, changes [{key, kind, value, prev}]}
//	kv/<key>         a live key: be64(createRev) be64(modRev) value
//
// Limits: one Commit is one etcd transaction of len(ops)+2 operations, so
// etcd's --max-txn-ops (default 128) must exceed the largest commit plus 2,
// and the request (values plus, in the history record, values and previous
// values again) must fit --max-request-bytes (default 1.5 MiB). Compact
// deletes history records; old versions of data keys stay in etcd until
// etcd's own compaction (run etcd with --auto-compaction-retention).
//
// Costs: Commit is two round trips (a read of the head and the op keys, the
// guarded write); Range and Get at the head are one, at a past revision two;
// History is one plus one per 64 records visited.
package etcd

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/gantry-lb/gantry/internal/store"
)

// DefaultPrefix is the key prefix of a store opened without one.
const DefaultPrefix = "/gantry/"

// Options configures Open.
type Options struct {
	// Endpoints are the etcd client addresses (host:port or http://host:port).
	Endpoints []string
	// Prefix is prepended to every key; default DefaultPrefix. A trailing
	// "/" is added if missing.
	Prefix string
	// DialTimeout bounds the first connection; default 5 seconds.
	DialTimeout time.Duration
	// KeepRevisions, when positive, compacts so that at least the newest
	// KeepRevisions revisions stay readable (checked after every commit of
	// this store, compacting in steps of compactStep revisions).
	KeepRevisions int
}

// compactStep is how many revisions may fall out of the KeepRevisions window
// before a commit compacts: batching keeps the cost off most commits.
const compactStep = 64

// historyBatch is how many history records one History round trip reads.
const historyBatch = 64

// readChunk is how many keys one read transaction of Commit fetches, below
// etcd's default --max-txn-ops of 128.
const readChunk = 100

// ParseURL parses etcd://host:port[,host:port...][/prefix] into Options.
func ParseURL(raw string) (Options, error) {
	rest, ok := strings.CutPrefix(raw, "etcd://")
	if !ok {
		return Options{}, fmt.Errorf("etcd: store URL %q: want etcd://host:port[,host:port...][/prefix]", raw)
	}
	hosts, path, _ := strings.Cut(rest, "/")
	var o Options
	for h := range strings.SplitSeq(hosts, ",") {
		if h == "" {
			return Options{}, fmt.Errorf("etcd: store URL %q: empty endpoint", raw)
		}
		if _, err := url.Parse("http://" + h); err != nil {
			return Options{}, fmt.Errorf("etcd: store URL %q: endpoint %q: %w", raw, h, err)
		}
		o.Endpoints = append(o.Endpoints, h)
	}
	if path != "" {
		o.Prefix = "/" + path
	}
	return o, nil
}

// Store is a store.Store over etcd. Safe for concurrent use.
type Store struct {
	cli    *clientv3.Client
	prefix string
	keep   uint64
	closed atomic.Bool
	cancel context.CancelFunc // stops the head watch
	done   chan struct{}      // closed when the head watch has stopped

	compacting atomic.Bool // one background KeepRevisions compaction at a time

	// watchers fans out every head this store learns of: its own commits
	// at once, other processes' through watchHead.
	watchers store.Watchers
}

var _ store.Store = (*Store)(nil)

// Open connects to etcd and reads the head revision (failing if etcd does
// not answer within DialTimeout), then starts watching the head key.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if len(opts.Endpoints) == 0 {
		return nil, errors.New("etcd: Endpoints: at least one is required")
	}
	if opts.KeepRevisions < 0 {
		return nil, fmt.Errorf("etcd: KeepRevisions %d is negative", opts.KeepRevisions)
	}
	prefix := opts.Prefix
	if prefix == "" {
		prefix = DefaultPrefix
	}
	if !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	dial := opts.DialTimeout
	if dial <= 0 {
		dial = 5 * time.Second
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   opts.Endpoints,
		DialTimeout: dial,
		Logger:      zap.NewNop(),
		// Without keepalives a watch on a dead member would hang forever.
		DialKeepAliveTime:    10 * time.Second,
		DialKeepAliveTimeout: 5 * time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("etcd: connecting to %v: %w", opts.Endpoints, err)
	}
	s := &Store{cli: cli, prefix: prefix, keep: uint64(opts.KeepRevisions), done: make(chan struct{})}
	rctx, cancel := context.WithTimeout(ctx, dial)
	resp, err := cli.Get(rctx, s.headKey())
	cancel()
	if err != nil {
		_ = cli.Close()
		return nil, fmt.Errorf("etcd: reading the head from %v: %w", opts.Endpoints, err)
	}
	head, err := decodeUint(resp.Kvs)
	if err != nil {
		_ = cli.Close()
		return nil, fmt.Errorf("etcd: %s: %w", s.headKey(), err)
	}
	s.watchers.Announce(head)
	wctx, wcancel := context.WithCancel(context.Background())
	s.cancel = wcancel
	go s.watchHead(wctx, resp.Header.Revision+1)
	return s, nil
}

func (s *Store) headKey() string    { return s.prefix + "meta/head" }
func (s *Store) compactKey() string { return s.prefix + "meta/compact" }
func (s *Store) dataKey(k string) string {
	return s.prefix + "kv/" + k
}
func (s *Store) recKey(rev uint64) string { return fmt.Sprintf("%srev/%020d", s.prefix, rev) }

// watchHead announces every new head written by any process until ctx is
// done. A broken or compacted watch is re-established from a fresh read of
// the head, with a bounded pause between attempts.
func (s *Store) watchHead(ctx context.Context, from int64) {
	defer close(s.done)
	for ctx.Err() == nil {
		wch := s.cli.Watch(clientv3.WithRequireLeader(ctx), s.headKey(), clientv3.WithRev(from))
		for resp := range wch {
			if resp.Err() != nil {
				break
			}
			for _, ev := range resp.Events {
				if ev.Type != mvccpb.PUT {
					continue
				}
				if rev, err := strconv.ParseUint(string(ev.Kv.Value), 10, 64); err == nil {
					s.watchers.Announce(rev)
				}
				from = ev.Kv.ModRevision + 1
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(500 * time.Millisecond):
		}
		// Resynchronise: the watch may have missed revisions.
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		resp, err := s.cli.Get(rctx, s.headKey())
		cancel()
		if err != nil {
			continue
		}
		if head, err := decodeUint(resp.Kvs); err == nil {
			s.watchers.Announce(head)
		}
		from = resp.Header.Revision + 1
	}
}

// usable rejects calls on a closed store or with a done context.
func (s *Store) usable(ctx context.Context) error {
	if s.closed.Load() {
		return fmt.Errorf("etcd: %w", store.ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("etcd: %w", err)
	}
	return nil
}

// fail wraps an etcd error with the operation; any error seen after Close
// (the client connection closing under a call) becomes store.ErrClosed, and
// etcd's own compaction becomes store.ErrCompacted.
func (s *Store) fail(ctx context.Context, err error, format string, args ...any) error {
	if s.closed.Load() {
		return fmt.Errorf("etcd: %s: %w", fmt.Sprintf(format, args...), store.ErrClosed)
	}
	err = clientv3.ContextError(ctx, err)
	if errors.Is(err, rpctypes.ErrCompacted) {
		return fmt.Errorf("etcd: %s: %w (%w)", fmt.Sprintf(format, args...), store.ErrCompacted, err)
	}
	return fmt.Errorf("etcd: %s: %w", fmt.Sprintf(format, args...), err)
}

func decodeUint(kvs []*mvccpb.KeyValue) (uint64, error) {
	if len(kvs) == 0 {
		return 0, nil
	}
	return strconv.ParseUint(string(kvs[0].Value), 10, 64)
}

func rangeKvs(r *clientv3.TxnResponse, i int) []*mvccpb.KeyValue {
	return r.Responses[i].GetResponseRange().Kvs
}

// Revision returns the head revision (0 for an empty store).
func (s *Store) Revision(ctx context.Context) (uint64, error) {
	if err := s.usable(ctx); err != nil {
		return 0, err
	}
	resp, err := s.cli.Get(ctx, s.headKey())
	if err != nil {
		return 0, s.fail(ctx, err, "revision")
	}
	head, err := decodeUint(resp.Kvs)
	if err != nil {
		return 0, fmt.Errorf("etcd: %s: %w", s.headKey(), err)
	}
	return head, nil
}

// record is the stored form of a history entry.
type record struct {
	Time    int64       `json:"time"` // UnixNano
	Author  string      `json:"author"`
	Message string      `json:"message,omitempty"`
	Changes []recChange `json:"changes"`
}

// recChange is one change of a record; keys are bytes because JSON strings
// cannot carry invalid UTF-8.
type recChange struct {
	Key   []byte           `json:"key"`
	Kind  store.ChangeKind `json:"kind"`
	Value []byte           `json:"value"`
	Prev  []byte           `json:"prev"`
}

// Commit applies ops atomically as revision base+1 if base is the head. It
// returns once etcd has acknowledged the transaction (quorum WAL fsync).
func (s *Store) Commit(ctx context.Context, base uint64, ops []store.Op, meta store.Meta) (uint64, error) {
	sorted, err := store.SortedOps(ops)
	if err != nil {
		return 0, fmt.Errorf("etcd: commit: %w", err)
	}
	if err := s.usable(ctx); err != nil {
		return 0, err
	}
	// Read the head and every op key at one etcd revision.
	current := make([]*mvccpb.KeyValue, len(sorted))
	var headMod, etcdRev int64
	for lo := 0; lo < len(sorted) || lo == 0; lo += readChunk {
		hi := min(lo+readChunk, len(sorted))
		var reads []clientv3.Op
		if lo == 0 {
			reads = append(reads, clientv3.OpGet(s.headKey()))
		}
		for _, op := range sorted[lo:hi] {
			if lo == 0 {
				reads = append(reads, clientv3.OpGet(s.dataKey(op.Key)))
			} else {
				reads = append(reads, clientv3.OpGet(s.dataKey(op.Key), clientv3.WithRev(etcdRev)))
			}
		}
		resp, err := s.cli.Txn(ctx).Then(reads...).Commit()
		if err != nil {
			return 0, s.fail(ctx, err, "commit on base %d: reading", base)
		}
		off := 0
		if lo == 0 {
			etcdRev = resp.Header.Revision
			hk := rangeKvs(resp, 0)
			head, err := decodeUint(hk)
			if err != nil {
				return 0, fmt.Errorf("etcd: %s: %w", s.headKey(), err)
			}
			if head != base {
				return 0, fmt.Errorf("etcd: commit on base %d, head is %d: %w", base, head, store.ErrConflict)
			}
			if len(hk) > 0 {
				headMod = hk[0].ModRevision
			}
			off = 1
		}
		for i := range hi - lo {
			if kvs := rangeKvs(resp, off+i); len(kvs) > 0 {
				current[lo+i] = kvs[0]
			}
		}
		if hi >= len(sorted) {
			break
		}
	}
	rev := base + 1
	if meta.Time.IsZero() {
		meta.Time = time.Now()
	}
	rec := record{Time: meta.Time.UnixNano(), Author: meta.Author, Message: meta.Message, Changes: make([]recChange, len(sorted))}
	writes := make([]clientv3.Op, 0, len(sorted)+2)
	for i, op := range sorted {
		cur := current[i]
		var prev []byte
		create := rev
		if cur != nil {
			c, _, v, err := decodeValue(cur.Value)
			if err != nil {
				return 0, fmt.Errorf("etcd: key %q: %w", op.Key, err)
			}
			create, prev = c, v
		}
		if op.Delete {
			if cur == nil {
				return 0, fmt.Errorf("etcd: commit: delete of %q: %w", op.Key, store.ErrNotFound)
			}
			rec.Changes[i] = recChange{Key: []byte(op.Key), Kind: store.Deleted, Prev: prev}
			writes = append(writes, clientv3.OpDelete(s.dataKey(op.Key)))
			continue
		}
		value := op.Value
		if value == nil {
			value = []byte{}
		}
		kind := store.Created
		if cur != nil {
			kind = store.Updated
		}
		rec.Changes[i] = recChange{Key: []byte(op.Key), Kind: kind, Value: value, Prev: prev}
		writes = append(writes, clientv3.OpPut(s.dataKey(op.Key), string(encodeValue(create, rev, value))))
	}
	recBytes, err := json.Marshal(rec)
	if err != nil {
		return 0, fmt.Errorf("etcd: commit: encoding the history record: %w", err)
	}
	writes = append(writes,
		clientv3.OpPut(s.headKey(), strconv.FormatUint(rev, 10)),
		clientv3.OpPut(s.recKey(rev), string(recBytes)))
	resp, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(s.headKey()), "=", headMod)).
		Then(writes...).Commit()
	if err != nil {
		return 0, s.fail(ctx, err, "commit on base %d", base)
	}
	if !resp.Succeeded {
		return 0, fmt.Errorf("etcd: commit on base %d: another writer committed first: %w", base, store.ErrConflict)
	}
	s.watchers.Announce(rev)
	s.maybeCompact(rev)
	return rev, nil
}

// maybeCompact runs a KeepRevisions compaction in the background once
// compactStep revisions have left the window.
func (s *Store) maybeCompact(rev uint64) {
	if s.keep == 0 || rev <= s.keep || (rev-s.keep)%compactStep != 0 {
		return
	}
	if !s.compacting.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer s.compacting.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = s.Compact(ctx, rev-s.keep+1)
	}()
}

func encodeValue(create, mod uint64, value []byte) []byte {
	b := make([]byte, 16, 16+len(value))
	binary.BigEndian.PutUint64(b, create)
	binary.BigEndian.PutUint64(b[8:], mod)
	return append(b, value...)
}

// decodeValue returns the revisions and a copy of the value of a data key.
func decodeValue(b []byte) (create, mod uint64, value []byte, err error) {
	if len(b) < 16 {
		return 0, 0, nil, fmt.Errorf("stored value of %d bytes is shorter than its 16-byte header", len(b))
	}
	return binary.BigEndian.Uint64(b), binary.BigEndian.Uint64(b[8:]), slices.Clone(b[16:]), nil
}

func (s *Store) toKV(kv *mvccpb.KeyValue) (store.KV, error) {
	c, m, v, err := decodeValue(kv.Value)
	if err != nil {
		return store.KV{}, fmt.Errorf("etcd: key %q: %w", kv.Key, err)
	}
	if v == nil {
		v = []byte{}
	}
	return store.KV{Key: strings.TrimPrefix(string(kv.Key), s.prefix+"kv/"), Value: v, CreateRevision: c, ModRevision: m}, nil
}

// read runs op at gantry revision rev (0 = head) and returns its response
// and the head. At a past revision it first finds the etcd revision of rev
// through its history record.
func (s *Store) read(ctx context.Context, what string, rev uint64, op func(opts ...clientv3.OpOption) clientv3.Op) (*clientv3.TxnResponse, uint64, error) {
	if rev == 0 {
		resp, err := s.cli.Txn(ctx).Then(clientv3.OpGet(s.headKey()), op()).Commit()
		if err != nil {
			return nil, 0, s.fail(ctx, err, "%s", what)
		}
		head, err := decodeUint(rangeKvs(resp, 0))
		if err != nil {
			return nil, 0, fmt.Errorf("etcd: %s: %w", s.headKey(), err)
		}
		return resp, head, nil
	}
	meta, err := s.cli.Txn(ctx).Then(clientv3.OpGet(s.headKey()), clientv3.OpGet(s.compactKey()),
		clientv3.OpGet(s.recKey(rev), clientv3.WithKeysOnly())).Commit()
	if err != nil {
		return nil, 0, s.fail(ctx, err, "%s at %d", what, rev)
	}
	head, err := decodeUint(rangeKvs(meta, 0))
	if err != nil {
		return nil, 0, fmt.Errorf("etcd: %s: %w", s.headKey(), err)
	}
	compacted, err := decodeUint(rangeKvs(meta, 1))
	if err != nil {
		return nil, 0, fmt.Errorf("etcd: %s: %w", s.compactKey(), err)
	}
	if err := store.CheckRevision(rev, head, compacted); err != nil {
		return nil, 0, fmt.Errorf("etcd: %s: %w", what, err)
	}
	recs := rangeKvs(meta, 2)
	if len(recs) == 0 {
		return nil, 0, fmt.Errorf("etcd: %s at %d: history record gone: %w", what, rev, store.ErrCompacted)
	}
	resp, err := s.cli.Txn(ctx).Then(op(clientv3.WithRev(recs[0].ModRevision))).Commit()
	if err != nil {
		return nil, 0, s.fail(ctx, err, "%s at %d", what, rev)
	}
	// Shift so that index 1 is op's answer, as at the head.
	resp.Responses = append(meta.Responses[:1:1], resp.Responses...)
	return resp, head, nil
}

// Range returns every live key with the prefix as of rev (0 = head), sorted
// by key, and the head it was read at.
func (s *Store) Range(ctx context.Context, prefix string, rev uint64) ([]store.KV, uint64, error) {
	if err := s.usable(ctx); err != nil {
		return nil, 0, err
	}
	resp, head, err := s.read(ctx, fmt.Sprintf("range %q", prefix), rev, func(opts ...clientv3.OpOption) clientv3.Op {
		return clientv3.OpGet(s.dataKey(prefix), append(opts, clientv3.WithPrefix())...)
	})
	if err != nil {
		return nil, 0, err
	}
	kvs := rangeKvs(resp, 1)
	out := make([]store.KV, 0, len(kvs))
	for _, kv := range kvs {
		k, err := s.toKV(kv)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, k)
	}
	return out, head, nil
}

// Get returns one key as of rev (0 = head), or store.ErrNotFound.
func (s *Store) Get(ctx context.Context, key string, rev uint64) (store.KV, error) {
	if err := s.usable(ctx); err != nil {
		return store.KV{}, err
	}
	resp, _, err := s.read(ctx, fmt.Sprintf("get %q", key), rev, func(opts ...clientv3.OpOption) clientv3.Op {
		return clientv3.OpGet(s.dataKey(key), opts...)
	})
	if err != nil {
		return store.KV{}, err
	}
	kvs := rangeKvs(resp, 1)
	if len(kvs) == 0 {
		return store.KV{}, fmt.Errorf("etcd: get %q at %d: %w", key, rev, store.ErrNotFound)
	}
	return s.toKV(kvs[0])
}

// History returns up to limit revisions, newest first, below `before`,
// touching keys with the prefix.
func (s *Store) History(ctx context.Context, prefix string, before uint64, limit int) ([]store.Entry, error) {
	if err := s.usable(ctx); err != nil {
		return nil, err
	}
	meta, err := s.cli.Txn(ctx).Then(clientv3.OpGet(s.headKey()), clientv3.OpGet(s.compactKey())).Commit()
	if err != nil {
		return nil, s.fail(ctx, err, "history")
	}
	head, err := decodeUint(rangeKvs(meta, 0))
	if err != nil {
		return nil, fmt.Errorf("etcd: %s: %w", s.headKey(), err)
	}
	compacted, err := decodeUint(rangeKvs(meta, 1))
	if err != nil {
		return nil, fmt.Errorf("etcd: %s: %w", s.compactKey(), err)
	}
	if before > head+1 {
		return nil, fmt.Errorf("etcd: history before %d, head is %d: %w", before, head, store.ErrFuture)
	}
	start := head
	if before != 0 {
		start = before - 1
	}
	entries := []store.Entry{}
	if start == 0 {
		return entries, nil
	}
	if start < compacted {
		return nil, fmt.Errorf("etcd: history before %d, oldest kept is %d: %w", before, compacted, store.ErrCompacted)
	}
	lo := max(compacted, 1)
	for start >= lo {
		resp, err := s.cli.Get(ctx, s.recKey(lo), clientv3.WithRange(s.recKey(start+1)),
			clientv3.WithSort(clientv3.SortByKey, clientv3.SortDescend), clientv3.WithLimit(historyBatch),
			clientv3.WithRev(meta.Header.Revision))
		if err != nil {
			return nil, s.fail(ctx, err, "history")
		}
		for _, kv := range resp.Kvs {
			rev, err := strconv.ParseUint(strings.TrimPrefix(string(kv.Key), s.prefix+"rev/"), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("etcd: history record %q: %w", kv.Key, err)
			}
			e, ok, err := decodeRecord(rev, kv.Value, prefix)
			if err != nil {
				return nil, fmt.Errorf("etcd: history record %d: %w", rev, err)
			}
			if ok {
				entries = append(entries, e)
				if limit > 0 && len(entries) >= limit {
					return entries, nil
				}
			}
			start = rev - 1
		}
		if len(resp.Kvs) < historyBatch {
			break
		}
	}
	return entries, nil
}

// decodeRecord decodes a history record, keeping the changes under prefix;
// ok is false if none is.
func decodeRecord(rev uint64, b []byte, prefix string) (store.Entry, bool, error) {
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		return store.Entry{}, false, err
	}
	e := store.Entry{Revision: rev, Meta: store.Meta{Author: r.Author, Message: r.Message, Time: time.Unix(0, r.Time)}}
	for _, c := range r.Changes {
		if !strings.HasPrefix(string(c.Key), prefix) {
			continue
		}
		e.Changes = append(e.Changes, store.Change{Key: string(c.Key), Kind: c.Kind, Value: c.Value, Prev: c.Prev})
	}
	return e, len(e.Changes) > 0, nil
}

// Watch sends the head revision after every commit by any process until ctx
// is done or the store is closed, then closes the channel. The first value
// is the head read from etcd (bounded by 5 seconds; the last known head if
// etcd does not answer).
func (s *Store) Watch(ctx context.Context) <-chan uint64 {
	if ctx.Err() == nil && !s.closed.Load() {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if head, err := s.Revision(rctx); err == nil {
			s.watchers.Announce(head)
		}
		cancel()
	}
	return s.watchers.Add(ctx)
}

// Compact forgets history records older than rev and makes reads below rev
// return store.ErrCompacted. It is a no-op at or below the current point.
func (s *Store) Compact(ctx context.Context, rev uint64) error {
	if err := s.usable(ctx); err != nil {
		return err
	}
	for range 20 {
		meta, err := s.cli.Txn(ctx).Then(clientv3.OpGet(s.headKey()), clientv3.OpGet(s.compactKey())).Commit()
		if err != nil {
			return s.fail(ctx, err, "compact to %d", rev)
		}
		head, err := decodeUint(rangeKvs(meta, 0))
		if err != nil {
			return fmt.Errorf("etcd: %s: %w", s.headKey(), err)
		}
		ck := rangeKvs(meta, 1)
		compacted, err := decodeUint(ck)
		if err != nil {
			return fmt.Errorf("etcd: %s: %w", s.compactKey(), err)
		}
		if rev > head {
			return fmt.Errorf("etcd: compact to %d, head is %d: %w", rev, head, store.ErrFuture)
		}
		if rev <= compacted {
			return nil
		}
		var mod int64
		if len(ck) > 0 {
			mod = ck[0].ModRevision
		}
		resp, err := s.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(s.compactKey()), "=", mod)).
			Then(clientv3.OpPut(s.compactKey(), strconv.FormatUint(rev, 10)),
				clientv3.OpDelete(s.recKey(0), clientv3.WithRange(s.recKey(rev)))).
			Commit()
		if err != nil {
			return s.fail(ctx, err, "compact to %d", rev)
		}
		if resp.Succeeded {
			return nil
		}
	}
	return fmt.Errorf("etcd: compact to %d: concurrent compactions kept winning", rev)
}

// Close closes the open Watch channels, stops the head watch and closes the
// etcd client; calls in flight return store.ErrClosed. Calling it again
// returns nil.
func (s *Store) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	s.watchers.CloseAll()
	s.cancel()
	<-s.done
	if err := s.cli.Close(); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("etcd: closing: %w", err)
	}
	return nil
}
