package bolt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gantry-lb/gantry/internal/store"
	"github.com/gantry-lb/gantry/internal/store/storetest"
	bbolt "go.etcd.io/bbolt"
	"go.uber.org/goleak"
)

// crashEnv names the database file a crash child of TestCrashDurability
// commits to.
const crashEnv = "GANTRY_BOLT_CRASH_DB"

func TestMain(m *testing.M) {
	if os.Getenv(crashEnv) != "" {
		// A crash child is killed, so there is no exit to check for leaks.
		os.Exit(m.Run())
	}
	goleak.VerifyTestMain(m)
}

func openTemp(t testing.TB, opts Options) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gantry.db")
	s, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s, path
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, _ := openTemp(t, Options{})
		return s
	})
}

func commit(t testing.TB, s store.Store, base uint64, ops ...store.Op) {
	t.Helper()
	if _, err := s.Commit(context.Background(), base, ops, store.Meta{Author: "test", Message: fmt.Sprint("rev ", base+1)}); err != nil {
		t.Fatalf("Commit(base %d): %v", base, err)
	}
}

func put(k, v string) store.Op { return store.Op{Key: k, Value: []byte(v)} }
func del(k string) store.Op    { return store.Op{Key: k, Delete: true} }

// dump renders everything a reader can see: the head, every readable
// revision's range, and the history.
func dump(t *testing.T, s *Store) string {
	t.Helper()
	ctx := context.Background()
	var b strings.Builder
	head, err := s.Revision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&b, "head %d\n", head)
	for rev := uint64(1); rev <= head; rev++ {
		kvs, _, err := s.Range(ctx, "", rev)
		if errors.Is(err, store.ErrCompacted) {
			fmt.Fprintf(&b, "@%d compacted\n", rev)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "@%d", rev)
		for _, kv := range kvs {
			fmt.Fprintf(&b, " %q=%q@%d/%d", kv.Key, kv.Value, kv.CreateRevision, kv.ModRevision)
		}
		b.WriteByte('\n')
	}
	h, err := s.History(ctx, "", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range h {
		fmt.Fprintf(&b, "#%d %s %q %s", e.Revision, e.Author, e.Message, e.Time.Format(time.RFC3339Nano))
		for _, c := range e.Changes {
			fmt.Fprintf(&b, " %q %s %q<-%q", c.Key, c.Kind, c.Value, c.Prev)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gantry.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	commit(t, s, 0, put("a", "1"), put("b\x00", "1"))
	commit(t, s, 1, put("a", "2"), del("b\x00"))
	commit(t, s, 2, put("c", "3"))
	commit(t, s, 3, put("a", "4"))
	if err := s.Compact(context.Background(), 2); err != nil {
		t.Fatal(err)
	}
	want := dump(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := dump(t, s); got != want {
		t.Fatalf("after reopen:\n%s\nwant\n%s", got, want)
	}
	// A watch on the reopened store starts at the stored head.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if got := <-s.Watch(ctx); got != 4 {
		t.Errorf("first watch value after reopen = %d, want 4", got)
	}
	commit(t, s, 4, put("d", "5"))
}

func TestLocked(t *testing.T) {
	s, path := openTemp(t, Options{})
	start := time.Now()
	other, err := Open(path, Options{})
	if err == nil {
		other.Close()
		t.Fatal("second Open of a locked file succeeded")
	}
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), path) {
		t.Errorf("second Open: %v; want ErrLocked naming %s", err, path)
	}
	if waited := time.Since(start); waited < lockTimeout/2 || waited > 10*lockTimeout {
		t.Errorf("second Open gave up after %s, want about %s", waited, lockTimeout)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	again.Close()
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, bytes.Repeat([]byte("not a bolt file "), 1024), 0o600); err != nil {
		t.Fatal(err)
	}
	foreign := filepath.Join(dir, "foreign.db")
	db, err := bbolt.Open(foreign, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bbolt.Tx) error {
		m, err := tx.CreateBucket([]byte(bucketMeta))
		if err != nil {
			return err
		}
		return putUint(m, keyFormat, 99)
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	other := filepath.Join(dir, "other.db")
	if db, err = bbolt.Open(other, 0o600, nil); err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bbolt.Tx) error {
		_, err := tx.CreateBucket([]byte("someone else's"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()

	tests := []struct {
		name string
		path string
		opts Options
		want string
	}{
		{"missing directory", filepath.Join(dir, "missing", "x.db"), Options{}, "no such file"},
		{"not a bolt file", garbage, Options{}, "invalid"},
		{"other layout version", foreign, Options{}, "layout version 99"},
		{"another program's file", other, Options{}, "not a gantry store"},
		{"negative KeepRevisions", filepath.Join(dir, "neg.db"), Options{KeepRevisions: -1}, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(tt.path, tt.opts)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), tt.path) {
				t.Errorf("Open: %v; want an error naming %s and containing %q", err, tt.path, tt.want)
			}
		})
	}
}

// rawBuckets renders the kv and rev buckets and the compaction point byte
// for byte, to compare the on-disk effect of two compaction paths.
func rawBuckets(t *testing.T, s *Store) string {
	t.Helper()
	var b strings.Builder
	err := s.db.View(func(tx *bbolt.Tx) error {
		bk := bucketsOf(tx)
		fmt.Fprintf(&b, "compact %d\n", getUint(bk.meta, keyCompact))
		for _, bucket := range []*bbolt.Bucket{bk.kv, bk.rev, bk.live} {
			if err := bucket.ForEach(func(k, v []byte) error {
				// Times differ between the stores; compare revisions' keys only.
				if bucket == bk.rev {
					v = nil
				}
				fmt.Fprintf(&b, "%x=%x\n", k, v)
				return nil
			}); err != nil {
				return err
			}
			b.WriteString("--\n")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestKeepRevisions checks the incremental compaction after each commit
// against a store that kept everything: every revision in the window reads
// the same, and one manual compaction of the full store to the same point
// leaves the same bytes on disk.
func TestKeepRevisions(t *testing.T) {
	const keep = 3
	auto, _ := openTemp(t, Options{KeepRevisions: keep})
	full, _ := openTemp(t, Options{})
	ctx := context.Background()
	script := [][]store.Op{
		{put("a", "1"), put("b", "1"), put("c", "1")},
		{put("a", "2")},
		{del("b")},
		{put("b", "2"), del("c")},
		{put("a", "3"), put("d", "1")},
		{del("a")},
		{put("c", "2")},
		{put("a", "4"), del("d")},
		{put("x", "1")},
		{put("x", "2")},
		{del("x"), put("e", "1")},
	}
	var oldest uint64
	for i, ops := range script {
		rev := uint64(i + 1)
		commit(t, auto, rev-1, ops...)
		commit(t, full, rev-1, ops...)
		oldest = 1
		if rev > keep {
			oldest = rev - keep + 1
			if _, _, err := auto.Range(ctx, "", oldest-1); !errors.Is(err, store.ErrCompacted) {
				t.Errorf("after revision %d: Range at %d: %v, want ErrCompacted", rev, oldest-1, err)
			}
		}
		for r := oldest; r <= rev; r++ {
			a, _, errA := auto.Range(ctx, "", r)
			f, _, errF := full.Range(ctx, "", r)
			if errA != nil || errF != nil || fmt.Sprint(a) != fmt.Sprint(f) {
				t.Fatalf("after revision %d: Range at %d = %v, %v; want %v, %v", rev, r, a, errA, f, errF)
			}
		}
		h, err := auto.History(ctx, "", 0, 0)
		if err != nil || uint64(len(h)) != rev-oldest+1 {
			t.Errorf("after revision %d: History has %d entries, %v; want %d", rev, len(h), err, rev-oldest+1)
		}
	}
	if err := full.Compact(ctx, oldest); err != nil {
		t.Fatal(err)
	}
	if a, f := rawBuckets(t, auto), rawBuckets(t, full); a != f {
		t.Fatalf("auto-compacted store\n%s\ndiffers from one manual compaction\n%s", a, f)
	}
	// Nothing but the window and each key's version at its start is left.
	var versions int
	if err := auto.db.View(func(tx *bbolt.Tx) error {
		versions = tx.Bucket([]byte(bucketKV)).Stats().KeyN
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// Window 9..11: at 9 live a@8, b@4, c@7, x@9; then x@10, x@11 (tombstone), e@11.
	if versions != 7 {
		t.Errorf("kv bucket holds %d versions, want 7", versions)
	}
}

// TestCompactedStoreReopens checks that auto-compaction state survives a
// reopen with a different KeepRevisions.
func TestCompactedStoreReopens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gantry.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range uint64(10) {
		commit(t, s, i, put(fmt.Sprint("k", i%3), fmt.Sprint(i)))
	}
	s.Close()
	// Shrinking the window compacts on the next commit, in one step.
	s, err = Open(path, Options{KeepRevisions: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	commit(t, s, 10, put("k0", "x"))
	h, err := s.History(context.Background(), "", 0, 0)
	if err != nil || len(h) != 2 || h[1].Revision != 10 {
		t.Fatalf("History after shrinking the window = %d entries, %v; want 11, 10", len(h), err)
	}
	if got := dump(t, s); !strings.Contains(got, "@10 \"k0\"=\"9\"@1/10 \"k1\"=\"7\"@2/8 \"k2\"=\"8\"@3/9") {
		t.Errorf("state at the window start lost:\n%s", got)
	}
}

func TestEscaping(t *testing.T) {
	tests := []struct{ key, esc string }{
		{"a", "a"},
		{"a\x00", "a\x00\xff"},
		{"\x00\x00", "\x00\xff\x00\xff"},
		{"a\xff", "a\xff"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := string(appendEscaped(nil, tt.key)); got != tt.esc {
			t.Errorf("appendEscaped(%q) = %q, want %q", tt.key, got, tt.esc)
		}
		if got := unescape([]byte(tt.esc)); got != tt.key {
			t.Errorf("unescape(%q) = %q, want %q", tt.esc, got, tt.key)
		}
	}
}

// FuzzKeyEncoding checks the properties Range and compaction rely on:
// version keys sort by key then revision, and escaping keeps prefixes.
func FuzzKeyEncoding(f *testing.F) {
	f.Add("a", "a0", uint64(1), uint64(2))
	f.Add("a", "a\x00", uint64(5), uint64(1))
	f.Add("a\x00", "a\x00\x00", uint64(1<<40), uint64(0))
	f.Add("a/", "a/\xff", uint64(7), uint64(7))
	f.Fuzz(func(t *testing.T, a, b string, ra, rb uint64) {
		ka, kb := versionKey(a, ra), versionKey(b, rb)
		want := strings.Compare(a, b)
		if want == 0 {
			want = cmpUint(ra, rb)
		}
		if got := bytes.Compare(ka, kb); got != want {
			t.Fatalf("versionKey(%q, %d) vs versionKey(%q, %d): compare %d, want %d", a, ra, b, rb, got, want)
		}
		if got := unescape(ka[:len(ka)-10]); got != a {
			t.Fatalf("unescape(esc(%q)) = %q", a, got)
		}
		if got, want := bytes.HasPrefix(kb, appendEscaped(nil, a)), strings.HasPrefix(b, a); got != want {
			t.Fatalf("escaped prefix %q of %q: %t, want %t", a, b, got, want)
		}
	})
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// FuzzDecodeEntry feeds arbitrary bytes to the entry decoder, which must
// fail cleanly instead of panicking on a damaged file.
func FuzzDecodeEntry(f *testing.F) {
	m := store.Meta{Author: "a", Message: "m", Time: time.Unix(1, 2)}
	e := appendEntryHeader(nil, m, 2)
	e = appendChange(e, store.Created, "k", []byte("v"), nil)
	e = appendChange(e, store.Updated, "l", []byte("w"), []byte("v"))
	f.Add(e, "")
	f.Add(e, "l")
	f.Add([]byte{entryVersion, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}, "")
	f.Fuzz(func(t *testing.T, data []byte, prefix string) {
		entry, ok, err := decodeEntry(1, data, prefix)
		keyErr := entryKeys(data, func([]byte) {})
		if (err == nil) != (keyErr == nil) && ok {
			t.Fatalf("decodeEntry error %v, entryKeys error %v", err, keyErr)
		}
		if ok {
			for _, c := range entry.Changes {
				if !strings.HasPrefix(c.Key, prefix) {
					t.Fatalf("change %q outside prefix %q", c.Key, prefix)
				}
			}
		}
	})
}

// TestRangeManyVersions covers keys with more versions than rangeAt steps
// through before it seeks, on both sides of the revision read.
func TestRangeManyVersions(t *testing.T) {
	s, _ := openTemp(t, Options{})
	ctx := context.Background()
	const n = 3 * walkSteps * 2
	states := make([]string, n+1)
	live := map[string]string{}
	for rev := uint64(1); rev <= n; rev++ {
		ops := []store.Op{put("m", fmt.Sprint(rev))}
		live["m"] = fmt.Sprintf("%q=%q", "m", fmt.Sprint(rev))
		if rev%2 == 0 {
			ops = append(ops, put("m\x00", fmt.Sprint(rev)))
			live["m\x00"] = fmt.Sprintf("%q=%q", "m\x00", fmt.Sprint(rev))
		}
		if _, ok := live["n"]; ok && rev%5 == 0 {
			ops = append(ops, del("n"))
			delete(live, "n")
		} else if !ok {
			ops = append(ops, put("n", fmt.Sprint(rev)))
			live["n"] = fmt.Sprintf("%q=%q", "n", fmt.Sprint(rev))
		}
		commit(t, s, rev-1, ops...)
		var parts []string
		for _, k := range []string{"m", "m\x00", "n"} {
			if v, ok := live[k]; ok {
				parts = append(parts, v)
			}
		}
		states[rev] = strings.Join(parts, " ")
	}
	for rev := uint64(1); rev <= n; rev++ {
		kvs, _, err := s.Range(ctx, "", rev)
		if err != nil {
			t.Fatal(err)
		}
		var parts []string
		for _, kv := range kvs {
			parts = append(parts, fmt.Sprintf("%q=%q", kv.Key, kv.Value))
		}
		if got := strings.Join(parts, " "); got != states[rev] {
			t.Errorf("Range at %d = %s, want %s", rev, got, states[rev])
		}
	}
}
