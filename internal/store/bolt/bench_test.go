package bolt

import (
	"context"
	"fmt"
	"testing"

	"github.com/gantry-lb/gantry/internal/store"
)

// BenchmarkCommit measures one small put per revision. The fsync of bbolt's
// commit dominates, so the number is the disk's sync latency plus a few µs.
func BenchmarkCommit(b *testing.B) {
	for _, keep := range []int{0, 100} {
		b.Run(fmt.Sprint("keep=", keep), func(b *testing.B) {
			s, _ := openTemp(b, Options{KeepRevisions: keep})
			ctx := context.Background()
			value := []byte(`{"address":"10.0.0.1:8080","weight":1}`)
			b.ReportAllocs()
			var rev uint64
			for i := 0; b.Loop(); i++ {
				var err error
				rev, err = s.Commit(ctx, rev, []store.Op{{Key: fmt.Sprintf("lbs/a/backends/b%03d", i%100), Value: value}}, store.Meta{Author: "bench"})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// fill commits keys k/00000.. with `versions` revisions of every key, the
// last revision of each batch touching every key once.
func fill(b *testing.B, s *Store, keys, versions int) {
	b.Helper()
	ctx := context.Background()
	var rev uint64
	for v := range versions {
		ops := make([]store.Op, keys)
		for i := range ops {
			ops[i] = store.Op{Key: fmt.Sprintf("k/%05d", i), Value: fmt.Appendf(nil, `{"version":%d,"pad":"0123456789abcdef"}`, v)}
		}
		var err error
		if rev, err = s.Commit(ctx, rev, ops, store.Meta{Author: "bench"}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRangeHead reads 10k live keys at the head, as a snapshot build
// does after every change.
func BenchmarkRangeHead(b *testing.B) {
	s, _ := openTemp(b, Options{})
	fill(b, s, 10000, 3)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		kvs, _, err := s.Range(ctx, "k/", 0)
		if err != nil || len(kvs) != 10000 {
			b.Fatal(len(kvs), err)
		}
	}
}

// BenchmarkRangeAtRevision reads 10k keys at an old revision (two cursor
// seeks per key), as a diff or rollback preview does.
func BenchmarkRangeAtRevision(b *testing.B) {
	s, _ := openTemp(b, Options{})
	fill(b, s, 10000, 3)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		kvs, _, err := s.Range(ctx, "k/", 2)
		if err != nil || len(kvs) != 10000 {
			b.Fatal(len(kvs), err)
		}
	}
}

// BenchmarkGetAtRevision reads one key at an old revision: one cursor seek.
func BenchmarkGetAtRevision(b *testing.B) {
	s, _ := openTemp(b, Options{})
	fill(b, s, 1000, 10)
	ctx := context.Background()
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = fmt.Sprintf("k/%05d", i)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		kv, err := s.Get(ctx, keys[i%len(keys)], uint64(1+i%9))
		if err != nil || kv.ModRevision != uint64(1+i%9) {
			b.Fatal(kv, err)
		}
	}
}

// BenchmarkHistoryPrefix pages 20 entries of a prefix touched by one
// revision in ten, so History skips nine non-matching revisions per match.
func BenchmarkHistoryPrefix(b *testing.B) {
	s, _ := openTemp(b, Options{})
	ctx := context.Background()
	// Many ops per commit would be faster to fill, but each revision must
	// be its own entry; keep the count modest because each costs an fsync.
	var rev uint64
	for i := range 500 {
		key := fmt.Sprintf("other/%d", i%50)
		if i%10 == 0 {
			key = fmt.Sprintf("lbs/x/%d", i%7)
		}
		var err error
		if rev, err = s.Commit(ctx, rev, []store.Op{{Key: key, Value: []byte("0123456789abcdef0123456789abcdef")}}, store.Meta{Author: "bench"}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		h, err := s.History(ctx, "lbs/", 0, 20)
		if err != nil || len(h) != 20 {
			b.Fatal(len(h), err)
		}
	}
}
