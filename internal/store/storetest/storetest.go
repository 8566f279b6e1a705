// Package storetest is the conformance suite of store.Store: every backend
// (bolt, etcd) runs Run from its own tests, so the backends cannot drift
// apart in revision, conflict, history, watch or compaction semantics.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gantry-lb/gantry/internal/store"
)

// waitTimeout bounds every wait for a watch value; generous because a
// backend's commits may be slow on a loaded CI machine.
const waitTimeout = 10 * time.Second

// Run runs the conformance suite. open must return a new, empty store for
// the subtest t and close it in t.Cleanup; the suite closes some stores
// itself, so a second Close must return nil.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Empty", testEmpty},
		{"CommitRangeGet", testCommitRangeGet},
		{"Revisions", testRevisions},
		{"ValuesAreCopies", testValuesAreCopies},
		{"Conflict", testConflict},
		{"DeleteMissing", testDeleteMissing},
		{"InvalidOps", testInvalidOps},
		{"Prefix", testPrefix},
		{"History", testHistory},
		{"HistoryPaging", testHistoryPaging},
		{"HistoryPrefix", testHistoryPrefix},
		{"WatchFirstValue", testWatchFirstValue},
		{"WatchCoalesces", testWatchCoalesces},
		{"WatchEveryCommit", testWatchEveryCommit},
		{"WatchConcurrentWriters", testWatchConcurrentWriters},
		{"WatchCancel", testWatchCancel},
		{"Compact", testCompact},
		{"CompactHead", testCompactHead},
		{"Future", testFuture},
		{"RandomModel", testRandomModel},
		{"ConcurrentSameBase", testConcurrentSameBase},
		{"ConcurrentRetry", testConcurrentRetry},
		{"ContextDone", testContextDone},
		{"Closed", testClosed},
		{"CloseWhileBusy", testCloseWhileBusy},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, open(t))
		})
	}
}

// --- helpers ---

func put(key, value string) store.Op { return store.Op{Key: key, Value: []byte(value)} }
func del(key string) store.Op        { return store.Op{Key: key, Delete: true} }

func commit(t *testing.T, s store.Store, base uint64, ops ...store.Op) uint64 {
	t.Helper()
	rev, err := s.Commit(context.Background(), base, ops, store.Meta{Author: "test"})
	if err != nil {
		t.Fatalf("Commit(base %d): %v", base, err)
	}
	if rev != base+1 {
		t.Fatalf("Commit(base %d) = revision %d, want %d", base, rev, base+1)
	}
	return rev
}

func revision(t *testing.T, s store.Store) uint64 {
	t.Helper()
	rev, err := s.Revision(context.Background())
	if err != nil {
		t.Fatalf("Revision: %v", err)
	}
	return rev
}

// kvString renders a key for comparison: key=value@create/mod.
func kvString(kv store.KV) string {
	return fmt.Sprintf("%q=%q@%d/%d", kv.Key, kv.Value, kv.CreateRevision, kv.ModRevision)
}

func kvsString(kvs []store.KV) string {
	parts := make([]string, len(kvs))
	for i, kv := range kvs {
		parts[i] = kvString(kv)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func rangeAt(t *testing.T, s store.Store, prefix string, rev uint64) []store.KV {
	t.Helper()
	kvs, at, err := s.Range(context.Background(), prefix, rev)
	if err != nil {
		t.Fatalf("Range(%q, %d): %v", prefix, rev, err)
	}
	if head := revision(t, s); at != head {
		t.Errorf("Range(%q, %d) read at %d, head is %d", prefix, rev, at, head)
	}
	return kvs
}

func wantRange(t *testing.T, s store.Store, prefix string, rev uint64, want []store.KV) {
	t.Helper()
	if got := rangeAt(t, s, prefix, rev); kvsString(got) != kvsString(want) {
		t.Errorf("Range(%q, %d) =\n  %s\nwant\n  %s", prefix, rev, kvsString(got), kvsString(want))
	}
}

func wantGet(t *testing.T, s store.Store, key string, rev uint64, want *store.KV) {
	t.Helper()
	got, err := s.Get(context.Background(), key, rev)
	if want == nil {
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Get(%q, %d) = %s, %v; want ErrNotFound", key, rev, kvString(got), err)
		}
		return
	}
	if err != nil {
		t.Errorf("Get(%q, %d): %v", key, rev, err)
		return
	}
	if kvString(got) != kvString(*want) {
		t.Errorf("Get(%q, %d) = %s, want %s", key, rev, kvString(got), kvString(*want))
	}
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: error %v, want %v", what, err, target)
	}
}

func kv(key, value string, create, mod uint64) store.KV {
	return store.KV{Key: key, Value: []byte(value), CreateRevision: create, ModRevision: mod}
}

// recvUntil receives from ch until a value >= want arrives, checking that
// values strictly increase; it returns the values received.
func recvUntil(t *testing.T, ch <-chan uint64, after, want uint64) []uint64 {
	t.Helper()
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	var got []uint64
	last := after
	for {
		select {
		case v, ok := <-ch:
			if !ok {
				t.Fatalf("watch closed after %v, waiting for %d", got, want)
			}
			if len(got) > 0 || after > 0 {
				if v <= last {
					t.Fatalf("watch sent %d after %d: not increasing", v, last)
				}
			}
			got = append(got, v)
			last = v
			if v >= want {
				if v > want {
					t.Fatalf("watch sent %d, head is only %d", v, want)
				}
				return got
			}
		case <-timer.C:
			t.Fatalf("watch: no value >= %d within %s (got %v)", want, waitTimeout, got)
		}
	}
}

// waitClosed drains ch until it is closed.
func waitClosed(t *testing.T, ch <-chan uint64) {
	t.Helper()
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-timer.C:
			t.Fatalf("watch channel not closed within %s", waitTimeout)
		}
	}
}

// --- tests ---

func testEmpty(t *testing.T, s store.Store) {
	ctx := context.Background()
	if rev := revision(t, s); rev != 0 {
		t.Errorf("Revision = %d, want 0", rev)
	}
	kvs, at, err := s.Range(ctx, "", 0)
	if err != nil || len(kvs) != 0 || at != 0 {
		t.Errorf("Range = %s, %d, %v; want [], 0, nil", kvsString(kvs), at, err)
	}
	wantGet(t, s, "a", 0, nil)
	if h, err := s.History(ctx, "", 0, 10); err != nil || len(h) != 0 {
		t.Errorf("History = %v, %v; want none", h, err)
	}
	_, _, err = s.Range(ctx, "", 1)
	wantErr(t, "Range at 1", err, store.ErrFuture)
	_, err = s.Get(ctx, "a", 1)
	wantErr(t, "Get at 1", err, store.ErrFuture)
	wantErr(t, "Compact(1)", s.Compact(ctx, 1), store.ErrFuture)
	if err := s.Compact(ctx, 0); err != nil {
		t.Errorf("Compact(0): %v", err)
	}
}

func testCommitRangeGet(t *testing.T, s store.Store) {
	// Ops out of key order: the store orders them.
	commit(t, s, 0, put("b", "2"), put("a", "1"))
	commit(t, s, 1, put("a", "3"), put("c", "4"))
	commit(t, s, 2, del("b"))

	states := map[uint64][]store.KV{
		1: {kv("a", "1", 1, 1), kv("b", "2", 1, 1)},
		2: {kv("a", "3", 1, 2), kv("b", "2", 1, 1), kv("c", "4", 2, 2)},
		3: {kv("a", "3", 1, 2), kv("c", "4", 2, 2)},
	}
	states[0] = states[3]
	for rev := uint64(0); rev <= 3; rev++ {
		want := states[rev]
		wantRange(t, s, "", rev, want)
		for _, key := range []string{"a", "b", "c", "d"} {
			var w *store.KV
			for i := range want {
				if want[i].Key == key {
					w = &want[i]
				}
			}
			wantGet(t, s, key, rev, w)
		}
	}
}

func testRevisions(t *testing.T, s store.Store) {
	steps := []struct {
		op   store.Op
		want *store.KV // k at the new revision
	}{
		{put("k", "v1"), &store.KV{Key: "k", Value: []byte("v1"), CreateRevision: 1, ModRevision: 1}},
		{put("k", "v2"), &store.KV{Key: "k", Value: []byte("v2"), CreateRevision: 1, ModRevision: 2}},
		{put("other", "x"), &store.KV{Key: "k", Value: []byte("v2"), CreateRevision: 1, ModRevision: 2}},
		{del("k"), nil},
		{put("k", "v3"), &store.KV{Key: "k", Value: []byte("v3"), CreateRevision: 5, ModRevision: 5}},
		{put("k", "v4"), &store.KV{Key: "k", Value: []byte("v4"), CreateRevision: 5, ModRevision: 6}},
	}
	for i, step := range steps {
		commit(t, s, uint64(i), step.op)
		wantGet(t, s, "k", 0, step.want)
	}
	// Every earlier state stays readable.
	for i, step := range steps {
		wantGet(t, s, "k", uint64(i+1), step.want)
	}
}

func testValuesAreCopies(t *testing.T, s store.Store) {
	ctx := context.Background()
	buf := []byte("original")
	if _, err := s.Commit(ctx, 0, []store.Op{{Key: "k", Value: buf}, {Key: "empty", Value: []byte{}}}, store.Meta{Author: "test"}); err != nil {
		t.Fatal(err)
	}
	copy(buf, "XXXXXXXX")
	got, err := s.Get(ctx, "k", 0)
	if err != nil || string(got.Value) != "original" {
		t.Fatalf("Get after mutating the committed slice = %q, %v; want %q", got.Value, err, "original")
	}
	got.Value[0] = 'Y'
	kvs := rangeAt(t, s, "", 0)
	if len(kvs) != 2 || string(kvs[1].Value) != "original" {
		t.Fatalf("Range after mutating a returned value = %s", kvsString(kvs))
	}
	kvs[1].Value[0] = 'Z'
	again, err := s.Get(ctx, "k", 1)
	if err != nil || string(again.Value) != "original" {
		t.Errorf("Get after mutating returned values = %q, %v", again.Value, err)
	}
	// An empty value is a live key, not a delete.
	e, err := s.Get(ctx, "empty", 0)
	if err != nil || len(e.Value) != 0 || e.ModRevision != 1 {
		t.Errorf("Get(empty) = %s, %v", kvString(e), err)
	}
}

func testConflict(t *testing.T, s store.Store) {
	ctx := context.Background()
	commit(t, s, 0, put("a", "1"))
	commit(t, s, 1, put("a", "2"))
	for _, base := range []uint64{0, 1, 3, 100} {
		rev, err := s.Commit(ctx, base, []store.Op{put("lost", "x"), put("a", "lost")}, store.Meta{Author: "late"})
		if !errors.Is(err, store.ErrConflict) {
			t.Errorf("Commit(base %d) = %d, %v; want ErrConflict", base, rev, err)
		}
	}
	if rev := revision(t, s); rev != 2 {
		t.Errorf("Revision after conflicts = %d, want 2", rev)
	}
	wantRange(t, s, "", 0, []store.KV{kv("a", "2", 1, 2)})
	h, err := s.History(ctx, "", 0, 0)
	if err != nil || len(h) != 2 {
		t.Errorf("History after conflicts: %d entries, %v; want 2", len(h), err)
	}
}

func testDeleteMissing(t *testing.T, s store.Store) {
	ctx := context.Background()
	// The put must not survive the failed delete: commits are atomic.
	_, err := s.Commit(ctx, 0, []store.Op{put("a", "1"), del("missing")}, store.Meta{Author: "test"})
	wantErr(t, "delete of a missing key", err, store.ErrNotFound)
	if rev := revision(t, s); rev != 0 {
		t.Fatalf("Revision after failed commit = %d, want 0", rev)
	}
	wantGet(t, s, "a", 0, nil)

	commit(t, s, 0, put("x", "1"))
	commit(t, s, 1, del("x"))
	_, err = s.Commit(ctx, 2, []store.Op{del("x")}, store.Meta{Author: "test"})
	wantErr(t, "second delete", err, store.ErrNotFound)
	if rev := revision(t, s); rev != 2 {
		t.Errorf("Revision = %d, want 2", rev)
	}
}

func testInvalidOps(t *testing.T, s store.Store) {
	commit(t, s, 0, put("a", "0"))
	tests := []struct {
		name string
		ops  []store.Op
	}{
		{"nil", nil},
		{"empty", []store.Op{}},
		{"empty key put", []store.Op{put("", "x")}},
		{"empty key delete", []store.Op{del("")}},
		{"empty key among others", []store.Op{put("b", "1"), put("", "x")}},
		{"duplicate puts", []store.Op{put("a", "1"), put("b", "1"), put("a", "2")}},
		{"put and delete", []store.Op{put("a", "1"), del("a")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rev, err := s.Commit(context.Background(), 1, tt.ops, store.Meta{Author: "test"})
			if err == nil || errors.Is(err, store.ErrConflict) {
				t.Fatalf("Commit = %d, %v; want an invalid-ops error", rev, err)
			}
			if rev := revision(t, s); rev != 1 {
				t.Errorf("Revision = %d, want 1", rev)
			}
			wantRange(t, s, "", 0, []store.KV{kv("a", "0", 1, 1)})
		})
	}
}

func testPrefix(t *testing.T, s store.Store) {
	keys := []string{
		"a", "a/", "a/b", "a/c/d", "a0", "b", "a\x00", "a\x00b", "a/\xff", "\xff", "\xff\xff", "a\xff",
	}
	ops := make([]store.Op, len(keys))
	for i, k := range keys {
		ops[i] = put(k, "v"+k)
	}
	commit(t, s, 0, ops...)
	commit(t, s, 1, del("a/b"), put("a0", "changed"), del("a\x00"))

	live := map[uint64]map[string]store.KV{1: {}, 2: {}}
	for _, k := range keys {
		live[1][k] = kv(k, "v"+k, 1, 1)
		live[2][k] = kv(k, "v"+k, 1, 1)
	}
	delete(live[2], "a/b")
	delete(live[2], "a\x00")
	live[2]["a0"] = kv("a0", "changed", 1, 2)

	prefixes := []string{"", "a", "a/", "a/c", "a/c/d", "a/c/d/", "a\x00", "a0", "b", "c", "\xff", "a/\xff", "\x00"}
	for _, rev := range []uint64{1, 2} {
		for _, p := range prefixes {
			t.Run(fmt.Sprintf("%q@%d", p, rev), func(t *testing.T) {
				var want []store.KV
				for k, v := range live[rev] {
					if strings.HasPrefix(k, p) {
						want = append(want, v)
					}
				}
				slices.SortFunc(want, func(a, b store.KV) int { return strings.Compare(a.Key, b.Key) })
				wantRange(t, s, p, rev, want)
				if rev == 2 {
					wantRange(t, s, p, 0, want)
				}
			})
		}
	}
	// The classic mistake: a range over "a/" that also returns "a0".
	for _, got := range rangeAt(t, s, "a/", 0) {
		if !strings.HasPrefix(got.Key, "a/") {
			t.Errorf("Range(a/) returned %q", got.Key)
		}
	}
	for _, k := range keys {
		want := live[2][k]
		if _, ok := live[2][k]; !ok {
			wantGet(t, s, k, 0, nil)
			continue
		}
		wantGet(t, s, k, 0, &want)
	}
}

func testHistory(t *testing.T, s store.Store) {
	ctx := context.Background()
	t0 := time.Now()
	if _, err := s.Commit(ctx, 0, []store.Op{put("b", "1"), put("a", "1")}, store.Meta{Author: "alice", Message: "one"}); err != nil {
		t.Fatal(err)
	}
	t1 := time.Now()
	fixed := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)
	if _, err := s.Commit(ctx, 1, []store.Op{del("b"), put("a", "2")}, store.Meta{Author: "bob", Time: fixed}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(ctx, 2, []store.Op{put("x/c", "3")}, store.Meta{Author: "carol", Message: "three"}); err != nil {
		t.Fatal(err)
	}

	h, err := s.History(ctx, "", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	type change struct {
		key, kind   string
		value, prev []byte
	}
	want := []struct {
		rev             uint64
		author, message string
		changes         []change
	}{
		{3, "carol", "three", []change{{"x/c", "created", []byte("3"), nil}}},
		{2, "bob", "", []change{{"a", "updated", []byte("2"), []byte("1")}, {"b", "deleted", nil, []byte("1")}}},
		{1, "alice", "one", []change{{"a", "created", []byte("1"), nil}, {"b", "created", []byte("1"), nil}}},
	}
	if len(h) != len(want) {
		t.Fatalf("History: %d entries, want %d", len(h), len(want))
	}
	for i, w := range want {
		e := h[i]
		if e.Revision != w.rev || e.Author != w.author || e.Message != w.message {
			t.Errorf("entry %d = rev %d by %q (%q), want rev %d by %q (%q)", i, e.Revision, e.Author, e.Message, w.rev, w.author, w.message)
		}
		if len(e.Changes) != len(w.changes) {
			t.Errorf("entry %d: %d changes, want %d", i, len(e.Changes), len(w.changes))
			continue
		}
		for j, wc := range w.changes {
			c := e.Changes[j]
			if c.Key != wc.key || c.Kind.String() != wc.kind || !bytes.Equal(c.Value, wc.value) || !bytes.Equal(c.Prev, wc.prev) ||
				(c.Value == nil) != (wc.value == nil) || (c.Prev == nil) != (wc.prev == nil) {
				t.Errorf("entry %d change %d = %q %s %q prev %q, want %q %s %q prev %q",
					i, j, c.Key, c.Kind, c.Value, c.Prev, wc.key, wc.kind, wc.value, wc.prev)
			}
		}
	}
	if !h[1].Time.Equal(fixed) {
		t.Errorf("given time = %v, want %v", h[1].Time, fixed)
	}
	if got := h[2].Time; got.Before(t0.Add(-time.Second)) || got.After(t1.Add(time.Second)) {
		t.Errorf("time set by the store = %v, want between %v and %v", got, t0, t1)
	}
	for kind, s := range map[store.ChangeKind]string{store.Created: "created", store.Updated: "updated", store.Deleted: "deleted"} {
		if kind.String() != s {
			t.Errorf("%d.String() = %q, want %q", kind, kind.String(), s)
		}
	}
}

func testHistoryPaging(t *testing.T, s store.Store) {
	ctx := context.Background()
	const n = 10
	for i := range uint64(n) {
		commit(t, s, i, put(fmt.Sprintf("k%02d", i), "v"))
	}
	revs := func(before uint64, limit int) []uint64 {
		t.Helper()
		h, err := s.History(ctx, "", before, limit)
		if err != nil {
			t.Fatalf("History(before %d, limit %d): %v", before, limit, err)
		}
		out := make([]uint64, len(h))
		for i, e := range h {
			out[i] = e.Revision
		}
		return out
	}
	tests := []struct {
		before uint64
		limit  int
		want   []uint64
	}{
		{0, 3, []uint64{10, 9, 8}},
		{8, 3, []uint64{7, 6, 5}},
		{2, 3, []uint64{1}},
		{1, 3, []uint64{}},
		{11, 2, []uint64{10, 9}},
		{0, 0, []uint64{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}},
		{5, -1, []uint64{4, 3, 2, 1}},
	}
	for _, tt := range tests {
		if got := revs(tt.before, tt.limit); !slices.Equal(got, tt.want) {
			t.Errorf("History(before %d, limit %d) = %v, want %v", tt.before, tt.limit, got, tt.want)
		}
	}
	// Paging with before = the last revision of the previous page visits
	// every revision exactly once.
	var all []uint64
	before := uint64(0)
	for range n + 1 {
		page := revs(before, 4)
		if len(page) == 0 {
			break
		}
		all = append(all, page...)
		before = page[len(page)-1]
	}
	if want := []uint64{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}; !slices.Equal(all, want) {
		t.Errorf("paged History = %v, want %v", all, want)
	}
	_, err := s.History(ctx, "", 12, 1)
	wantErr(t, "History before 12", err, store.ErrFuture)
}

func testHistoryPrefix(t *testing.T, s store.Store) {
	ctx := context.Background()
	commit(t, s, 0, put("a/1", "x"), put("b/1", "x"))
	commit(t, s, 1, put("b/2", "x"))
	commit(t, s, 2, put("a/2", "x"), del("b/1"))
	commit(t, s, 3, put("a0", "x"))

	// summary renders entries as "rev:key,key".
	summary := func(h []store.Entry) string {
		var parts []string
		for _, e := range h {
			keys := make([]string, len(e.Changes))
			for i, c := range e.Changes {
				keys[i] = c.Key
			}
			parts = append(parts, fmt.Sprintf("%d:%s", e.Revision, strings.Join(keys, ",")))
		}
		return strings.Join(parts, " ")
	}
	tests := []struct {
		prefix string
		before uint64
		limit  int
		want   string
	}{
		{"", 0, 0, "4:a0 3:a/2,b/1 2:b/2 1:a/1,b/1"},
		{"a/", 0, 0, "3:a/2 1:a/1"},
		{"a", 0, 0, "4:a0 3:a/2 1:a/1"},
		{"b/", 0, 1, "3:b/1"},
		{"b/", 3, 10, "2:b/2 1:b/1"},
		{"a/", 3, 10, "1:a/1"},
		{"a/", 1, 10, ""},
		{"zzz", 0, 0, ""},
	}
	for _, tt := range tests {
		h, err := s.History(ctx, tt.prefix, tt.before, tt.limit)
		if err != nil {
			t.Errorf("History(%q, %d, %d): %v", tt.prefix, tt.before, tt.limit, err)
			continue
		}
		if got := summary(h); got != tt.want {
			t.Errorf("History(%q, %d, %d) = %q, want %q", tt.prefix, tt.before, tt.limit, got, tt.want)
		}
	}
}

func testWatchFirstValue(t *testing.T, s store.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	empty := s.Watch(ctx)
	recvUntil(t, empty, 0, 0)
	commit(t, s, 0, put("a", "1"))
	commit(t, s, 1, put("a", "2"))
	got := recvUntil(t, s.Watch(ctx), 0, 2)
	if len(got) != 1 {
		t.Errorf("first values of a new watch = %v, want [2]", got)
	}
	recvUntil(t, empty, 0, 2)
}

func testWatchCoalesces(t *testing.T, s store.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := s.Watch(ctx)
	recvUntil(t, ch, 0, 0)
	// Nobody reads while these commit: Commit must not block on the watcher.
	const n = 20
	for i := range uint64(n) {
		commit(t, s, i, put("k", fmt.Sprint(i)))
	}
	got := recvUntil(t, ch, 0, n)
	if len(got) > 3 {
		t.Errorf("slow reader got %d values %v, want them coalesced to the newest", len(got), got)
	}
}

func testWatchEveryCommit(t *testing.T, s store.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := s.Watch(ctx)
	recvUntil(t, ch, 0, 0)
	var last uint64
	for i := range uint64(20) {
		rev := commit(t, s, i, put("k", fmt.Sprint(i)))
		got := recvUntil(t, ch, last, rev)
		last = got[len(got)-1]
	}
}

func testWatchConcurrentWriters(t *testing.T, s store.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	watches := []<-chan uint64{s.Watch(ctx), s.Watch(ctx), s.Watch(ctx)}
	const writers, each = 4, 5
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for g := range writers {
		wg.Go(func() {
			if err := commitRetrying(s, g, each); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, ch := range watches {
		recvUntil(t, ch, 0, writers*each)
	}
}

// commitRetrying makes n commits as writer g, retrying conflicts a bounded
// number of times, and returns the revisions it got through revs if given.
func commitRetrying(s store.Store, g, n int, revs ...*[]uint64) error {
	ctx := context.Background()
	done := 0
	for attempt := 0; done < n; attempt++ {
		if attempt > 200*n {
			return fmt.Errorf("writer %d: %d commits after %d attempts", g, done, attempt)
		}
		base, err := s.Revision(ctx)
		if err != nil {
			return err
		}
		key := fmt.Sprintf("c/%d/%d", g, done)
		rev, err := s.Commit(ctx, base, []store.Op{put(key, fmt.Sprint(base))}, store.Meta{Author: fmt.Sprint(g)})
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return fmt.Errorf("writer %d: %w", g, err)
		}
		if rev != base+1 {
			return fmt.Errorf("writer %d: commit on %d made revision %d", g, base, rev)
		}
		for _, r := range revs {
			*r = append(*r, rev)
		}
		done++
	}
	return nil
}

func testWatchCancel(t *testing.T, s store.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := s.Watch(ctx)
	other, cancelOther := context.WithCancel(context.Background())
	defer cancelOther()
	kept := s.Watch(other)
	cancel()
	waitClosed(t, ch)
	// Commits after a cancel must neither panic nor disturb other watchers.
	commit(t, s, 0, put("a", "1"))
	commit(t, s, 1, put("a", "2"))
	recvUntil(t, kept, 0, 2)

	done, cancelDone := context.WithCancel(context.Background())
	cancelDone()
	waitClosed(t, s.Watch(done))
}

func testCompact(t *testing.T, s store.Store) {
	ctx := context.Background()
	commit(t, s, 0, put("a", "1"), put("b", "1"), put("c", "1"))
	commit(t, s, 1, put("a", "2"), del("b"))
	commit(t, s, 2, put("d", "1"), del("c"))
	commit(t, s, 3, put("a", "3"))
	commit(t, s, 4, put("b", "2"))
	before := map[uint64]string{}
	for rev := uint64(1); rev <= 5; rev++ {
		before[rev] = kvsString(rangeAt(t, s, "", rev))
	}

	if err := s.Compact(ctx, 3); err != nil {
		t.Fatalf("Compact(3): %v", err)
	}
	for _, rev := range []uint64{1, 2} {
		_, _, err := s.Range(ctx, "", rev)
		wantErr(t, fmt.Sprintf("Range at %d", rev), err, store.ErrCompacted)
		_, err = s.Get(ctx, "a", rev)
		wantErr(t, fmt.Sprintf("Get at %d", rev), err, store.ErrCompacted)
	}
	for rev := uint64(3); rev <= 5; rev++ {
		if got := kvsString(rangeAt(t, s, "", rev)); got != before[rev] {
			t.Errorf("Range at %d after Compact(3) = %s, want %s", rev, got, before[rev])
		}
	}
	// Keys deleted before the compaction point stay gone; a key created
	// before it keeps its CreateRevision.
	wantGet(t, s, "b", 3, nil)
	wantGet(t, s, "c", 3, nil)
	wantGet(t, s, "c", 0, nil)
	a := kv("a", "2", 1, 2)
	wantGet(t, s, "a", 3, &a)
	b := kv("b", "2", 5, 5)
	wantGet(t, s, "b", 0, &b)

	h, err := s.History(ctx, "", 0, 0)
	if err != nil || len(h) != 3 || h[0].Revision != 5 || h[2].Revision != 3 {
		t.Errorf("History after Compact(3) = %d entries, %v; want revisions 5..3", len(h), err)
	}
	_, err = s.History(ctx, "", 3, 10)
	wantErr(t, "History before 3", err, store.ErrCompacted)
	if h, err := s.History(ctx, "", 4, 10); err != nil || len(h) != 1 || h[0].Revision != 3 {
		t.Errorf("History before 4 = %v, %v; want revision 3", h, err)
	}

	for _, rev := range []uint64{3, 2, 0} {
		if err := s.Compact(ctx, rev); err != nil {
			t.Errorf("Compact(%d) at or below the compaction point: %v", rev, err)
		}
	}
	wantErr(t, "Compact(6)", s.Compact(ctx, 6), store.ErrFuture)

	// Writing on after a compaction.
	commit(t, s, 5, del("a"))
	commit(t, s, 6, put("c", "2"))
	c := kv("c", "2", 7, 7)
	wantGet(t, s, "c", 0, &c)
	if err := s.Compact(ctx, 6); err != nil {
		t.Fatalf("Compact(6): %v", err)
	}
	wantRange(t, s, "", 6, []store.KV{kv("b", "2", 5, 5), kv("d", "1", 3, 3)})
	wantRange(t, s, "", 0, []store.KV{kv("b", "2", 5, 5), kv("c", "2", 7, 7), kv("d", "1", 3, 3)})
	_, _, err = s.Range(ctx, "", 5)
	wantErr(t, "Range at 5 after Compact(6)", err, store.ErrCompacted)
}

func testCompactHead(t *testing.T, s store.Store) {
	ctx := context.Background()
	for i := range uint64(5) {
		commit(t, s, i, put(fmt.Sprint("k", i%2), fmt.Sprint(i)))
	}
	want := kvsString(rangeAt(t, s, "", 0))
	if err := s.Compact(ctx, 5); err != nil {
		t.Fatalf("Compact(head): %v", err)
	}
	if got := kvsString(rangeAt(t, s, "", 5)); got != want {
		t.Errorf("Range at head after Compact(head) = %s, want %s", got, want)
	}
	if h, err := s.History(ctx, "", 0, 0); err != nil || len(h) != 1 || h[0].Revision != 5 {
		t.Errorf("History after Compact(head) = %v, %v; want revision 5 only", h, err)
	}
	commit(t, s, 5, put("k0", "new"))
}

func testFuture(t *testing.T, s store.Store) {
	ctx := context.Background()
	commit(t, s, 0, put("a", "1"))
	commit(t, s, 1, put("a", "2"))
	_, _, err := s.Range(ctx, "", 3)
	wantErr(t, "Range at 3", err, store.ErrFuture)
	_, err = s.Get(ctx, "a", 3)
	wantErr(t, "Get at 3", err, store.ErrFuture)
	_, err = s.History(ctx, "", 4, 1)
	wantErr(t, "History before 4", err, store.ErrFuture)
	if h, err := s.History(ctx, "", 3, 1); err != nil || len(h) != 1 || h[0].Revision != 2 {
		t.Errorf("History before head+1 = %v, %v; want revision 2", h, err)
	}
	wantErr(t, "Compact(3)", s.Compact(ctx, 3), store.ErrFuture)
}

func testConcurrentSameBase(t *testing.T, s store.Store) {
	const writers, rounds = 8, 15
	ctx := context.Background()
	winners := make([]string, rounds)
	for round := range rounds {
		base := uint64(round)
		start := make(chan struct{})
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			wins []string
			errs []error
		)
		for g := range writers {
			wg.Go(func() {
				<-start
				author := fmt.Sprintf("r%d-w%d", round, g)
				rev, err := s.Commit(ctx, base, []store.Op{put("winner", author), put(author, "x")}, store.Meta{Author: author})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil && rev == base+1:
					wins = append(wins, author)
				case errors.Is(err, store.ErrConflict):
				default:
					errs = append(errs, fmt.Errorf("%s: revision %d, %w", author, rev, err))
				}
			})
		}
		close(start)
		wg.Wait()
		if len(errs) > 0 || len(wins) != 1 {
			t.Fatalf("round %d: winners %v, errors %v; want exactly one winner", round, wins, errs)
		}
		winners[round] = wins[0]
	}
	if rev := revision(t, s); rev != rounds {
		t.Fatalf("Revision = %d, want %d", rev, rounds)
	}
	h, err := s.History(ctx, "", 0, 0)
	if err != nil || len(h) != rounds {
		t.Fatalf("History: %d entries, %v; want %d", len(h), err, rounds)
	}
	for i, e := range h {
		round := rounds - 1 - i
		if e.Revision != uint64(round+1) || e.Author != winners[round] {
			t.Errorf("entry %d = revision %d by %s, want %d by %s", i, e.Revision, e.Author, round+1, winners[round])
		}
	}
	// Only the winners' keys exist.
	if kvs := rangeAt(t, s, "r", 0); len(kvs) != rounds {
		t.Errorf("Range(r) = %d keys, want %d (one per winner)", len(kvs), rounds)
	}
}

func testConcurrentRetry(t *testing.T, s store.Store) {
	const writers, each = 6, 8
	var (
		wg   sync.WaitGroup
		revs = make([][]uint64, writers)
		errs = make([]error, writers)
	)
	for g := range writers {
		wg.Go(func() { errs[g] = commitRetrying(s, g, each, &revs[g]) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	var all []uint64
	for _, r := range revs {
		all = append(all, r...)
	}
	slices.Sort(all)
	for i, rev := range all {
		if rev != uint64(i+1) {
			t.Fatalf("revisions %v: want each of 1..%d exactly once", all, writers*each)
		}
	}
	if rev := revision(t, s); rev != writers*each {
		t.Errorf("Revision = %d, want %d", rev, writers*each)
	}
	kvs := rangeAt(t, s, "c/", 0)
	if len(kvs) != writers*each {
		t.Fatalf("Range(c/) = %d keys, want %d", len(kvs), writers*each)
	}
	for _, kv := range kvs {
		var g, i int
		if _, err := fmt.Sscanf(kv.Key, "c/%d/%d", &g, &i); err != nil {
			t.Fatalf("key %q: %v", kv.Key, err)
		}
		if kv.ModRevision != revs[g][i] {
			t.Errorf("%s: ModRevision %d, the writer got %d", kv.Key, kv.ModRevision, revs[g][i])
		}
	}
}

func testContextDone(t *testing.T, s store.Store) {
	commit(t, s, 0, put("a", "1"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.Commit(ctx, 1, []store.Op{put("b", "1")}, store.Meta{Author: "test"})
	wantErr(t, "Commit", err, context.Canceled)
	_, err = s.Revision(ctx)
	wantErr(t, "Revision", err, context.Canceled)
	_, _, err = s.Range(ctx, "", 0)
	wantErr(t, "Range", err, context.Canceled)
	_, err = s.Get(ctx, "a", 0)
	wantErr(t, "Get", err, context.Canceled)
	_, err = s.History(ctx, "", 0, 0)
	wantErr(t, "History", err, context.Canceled)
	wantErr(t, "Compact", s.Compact(ctx, 1), context.Canceled)
	if rev := revision(t, s); rev != 1 {
		t.Errorf("Revision after a cancelled commit = %d, want 1", rev)
	}
}

func testClosed(t *testing.T, s store.Store) {
	ctx := context.Background()
	commit(t, s, 0, put("a", "1"))
	open := s.Watch(ctx)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	waitClosed(t, open)
	_, err := s.Revision(ctx)
	wantErr(t, "Revision", err, store.ErrClosed)
	_, err = s.Commit(ctx, 1, []store.Op{put("b", "1")}, store.Meta{Author: "test"})
	wantErr(t, "Commit", err, store.ErrClosed)
	_, _, err = s.Range(ctx, "", 0)
	wantErr(t, "Range", err, store.ErrClosed)
	_, err = s.Get(ctx, "a", 0)
	wantErr(t, "Get", err, store.ErrClosed)
	_, err = s.History(ctx, "", 0, 0)
	wantErr(t, "History", err, store.ErrClosed)
	wantErr(t, "Compact", s.Compact(ctx, 1), store.ErrClosed)
	waitClosed(t, s.Watch(ctx))
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// testRandomModel commits seeded random puts and deletes over a few keys
// and compares every revision, before and after a compaction, with a model.
func testRandomModel(t *testing.T, s store.Store) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	keys := []string{"x", "x/", "x/a", "x/b", "x/b/c", "x0", "y/a", "y/b", "\x00", "x\x00", "x/\xff", "z"}
	const n = 60
	states := make([]map[string]store.KV, n+1) // states[rev]
	states[0] = map[string]store.KV{}
	changes := make([]string, n+1)
	for rev := uint64(1); rev <= n; rev++ {
		cur := maps.Clone(states[rev-1])
		var ops []store.Op
		var desc []string
		for _, i := range rng.Perm(len(keys))[:1+rng.IntN(3)] {
			k := keys[i]
			old, live := cur[k]
			switch {
			case live && rng.IntN(2) == 0:
				ops = append(ops, del(k))
				delete(cur, k)
				desc = append(desc, fmt.Sprintf("%q deleted  prev %q", k, old.Value))
			case live:
				v := fmt.Sprint(rng.Uint32())
				ops = append(ops, put(k, v))
				cur[k] = kv(k, v, old.CreateRevision, rev)
				desc = append(desc, fmt.Sprintf("%q updated %q prev %q", k, v, old.Value))
			default:
				v := fmt.Sprint(rng.Uint32())
				ops = append(ops, put(k, v))
				cur[k] = kv(k, v, rev, rev)
				desc = append(desc, fmt.Sprintf("%q created %q prev %q", k, v, ""))
			}
		}
		slices.Sort(desc)
		changes[rev] = strings.Join(desc, "; ")
		states[rev] = cur
		commit(t, s, rev-1, ops...)
	}
	want := func(rev uint64, prefix string) []store.KV {
		var out []store.KV
		for k, v := range states[rev] {
			if strings.HasPrefix(k, prefix) {
				out = append(out, v)
			}
		}
		slices.SortFunc(out, func(a, b store.KV) int { return strings.Compare(a.Key, b.Key) })
		return out
	}
	check := func(from uint64) {
		t.Helper()
		for rev := from; rev <= n; rev++ {
			for _, p := range []string{"", "x/", "x", "y/", "\x00"} {
				wantRange(t, s, p, rev, want(rev, p))
			}
			for _, k := range keys {
				if v, ok := states[rev][k]; ok {
					wantGet(t, s, k, rev, &v)
				} else {
					wantGet(t, s, k, rev, nil)
				}
			}
		}
		h, err := s.History(ctx, "", 0, 0)
		if err != nil {
			t.Fatalf("History: %v", err)
		}
		if len(h) != int(n-from+1) {
			t.Fatalf("History: %d entries, want %d", len(h), n-from+1)
		}
		for _, e := range h {
			var desc []string
			for _, c := range e.Changes {
				desc = append(desc, fmt.Sprintf("%q %s %q prev %q", c.Key, c.Kind, c.Value, c.Prev))
			}
			slices.Sort(desc)
			// The model writes the deleted value as empty; render alike.
			got := strings.ReplaceAll(strings.Join(desc, "; "), "deleted \"\"", "deleted ")
			if got != changes[e.Revision] {
				t.Errorf("revision %d changes:\n  %s\nwant\n  %s", e.Revision, got, changes[e.Revision])
			}
		}
	}
	check(1)
	const point = n / 2
	if err := s.Compact(ctx, point); err != nil {
		t.Fatalf("Compact(%d): %v", point, err)
	}
	check(point)
	for rev := uint64(1); rev < point; rev++ {
		_, _, err := s.Range(ctx, "", rev)
		wantErr(t, fmt.Sprintf("Range at %d", rev), err, store.ErrCompacted)
	}
}

// testCloseWhileBusy closes the store under concurrent readers, writers
// and watchers: every call returns normally or with ErrClosed.
func testCloseWhileBusy(t *testing.T, s store.Store) {
	ctx := context.Background()
	commit(t, s, 0, put("a", "1"))
	const workers, calls = 4, 2000
	var wg sync.WaitGroup
	errs := make([]error, workers)
	started := make(chan struct{}, workers)
	for g := range workers {
		wg.Go(func() {
			started <- struct{}{}
			for i := range calls {
				var err error
				switch i % 4 {
				case 0:
					_, _, err = s.Range(ctx, "", 0)
				case 1:
					_, err = s.Get(ctx, "a", 1)
				case 2:
					_, err = s.History(ctx, "", 0, 1)
				case 3:
					var base uint64
					if base, err = s.Revision(ctx); err == nil {
						_, err = s.Commit(ctx, base, []store.Op{put(fmt.Sprint("w", g), "x")}, store.Meta{Author: "busy"})
						if errors.Is(err, store.ErrConflict) {
							err = nil
						}
					}
				}
				if errors.Is(err, store.ErrClosed) {
					return
				}
				if err != nil {
					errs[g] = fmt.Errorf("worker %d call %d: %w", g, i, err)
					return
				}
			}
		})
	}
	watch := s.Watch(ctx)
	for range workers {
		<-started
	}
	time.Sleep(10 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	wg.Wait()
	waitClosed(t, watch)
	if err := errors.Join(errs...); err != nil {
		t.Error(err)
	}
}
