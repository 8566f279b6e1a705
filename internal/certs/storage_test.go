package certs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-lb/gantry/internal/store"
)

func newStorage(t *testing.T, st store.Store, s *Sealer, owner string, ttl time.Duration) *Storage {
	t.Helper()
	cs, err := NewStorage(st, StorageOptions{Sealer: s, Owner: owner, LockTTL: ttl, LockPoll: 20 * time.Millisecond, Logger: logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.releaseAll(context.Background()) })
	return cs
}

func TestStorageFiles(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st := openBolt(t)
	s := newStorage(t, st, testSealer(t), "n1", time.Minute)

	if _, err := s.Load(ctx, "nope"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load missing: %v", err)
	}
	files := map[string]string{
		"users/a@example.com/a.json":              "reg",
		"users/a@example.com/a.key":               "-----BEGIN EC PRIVATE KEY-----\nsecret\n",
		"certificates/ca/x.example/x.example.crt": "crt",
		"certificates/ca/y.example/y.example.crt": "crt2",
		"certificatesX":                           "not a child of certificates",
	}
	for k, v := range files {
		if err := s.Store(ctx, k, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	for k, v := range files {
		if got, err := s.Load(ctx, k); err != nil || string(got) != v {
			t.Fatalf("Load %s = %q, %v", k, got, err)
		}
	}
	// Private keys are sealed in the store.
	raw, err := st.Get(ctx, "acme/data/users/a@example.com/a.key", 0)
	if err != nil || bytes.Contains(raw.Value, []byte("secret")) {
		t.Fatalf("raw key value %q, %v", raw.Value, err)
	}
	if !s.Exists(ctx, "certificates/ca") || !s.Exists(ctx, "users/a@example.com/a.json") || s.Exists(ctx, "certificates/c") {
		t.Fatal("Exists wrong")
	}
	list, err := s.List(ctx, "certificates", false)
	if err != nil || strings.Join(list, ",") != "certificates/ca" {
		t.Fatalf("List = %v, %v", list, err)
	}
	list, _ = s.List(ctx, "certificates", true)
	want := "certificates/ca,certificates/ca/x.example,certificates/ca/x.example/x.example.crt,certificates/ca/y.example,certificates/ca/y.example/y.example.crt"
	if strings.Join(list, ",") != want {
		t.Fatalf("recursive List = %v", list)
	}
	if _, err := s.List(ctx, "nothing", false); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("List missing: %v", err)
	}
	if ki, err := s.Stat(ctx, "users/a@example.com/a.json"); err != nil || !ki.IsTerminal || ki.Size != 3 {
		t.Fatalf("Stat file = %+v, %v", ki, err)
	}
	if ki, err := s.Stat(ctx, "users/a@example.com"); err != nil || ki.IsTerminal {
		t.Fatalf("Stat dir = %+v, %v", ki, err)
	}
	if _, err := s.Stat(ctx, "users/b"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Stat missing: %v", err)
	}
	// Delete removes a directory and everything below, but not siblings
	// that merely share the prefix.
	if err := s.Delete(ctx, "certificates"); err != nil {
		t.Fatal(err)
	}
	if s.Exists(ctx, "certificates/ca/x.example/x.example.crt") || !s.Exists(ctx, "certificatesX") {
		t.Fatal("Delete removed the wrong keys")
	}
	if err := s.Delete(ctx, "certificates"); err != nil {
		t.Fatalf("deleting a missing key: %v", err)
	}
}

func TestStorageLockExclusive(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st := openBolt(t)
	sealer := testSealer(t)
	nodes := []*Storage{newStorage(t, st, sealer, "n1", time.Minute), newStorage(t, st, sealer, "n2", time.Minute)}

	ok, err := nodes[0].TryLock(ctx, "job")
	if err != nil || !ok {
		t.Fatalf("TryLock = %v, %v", ok, err)
	}
	if ok, _ := nodes[1].TryLock(ctx, "job"); ok {
		t.Fatal("second node took a held lock")
	}
	if ok, _ := nodes[0].TryLock(ctx, "job"); ok {
		t.Fatal("same node took its own held lock twice")
	}
	if err := nodes[1].Unlock(ctx, "job"); !errors.Is(err, ErrLockNotHeld) {
		t.Fatalf("Unlock by non-holder: %v", err)
	}
	if err := nodes[0].Unlock(ctx, "job"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := nodes[1].TryLock(ctx, "job"); !ok {
		t.Fatal("lock not free after Unlock")
	}
	if err := nodes[1].Unlock(ctx, "job"); err != nil {
		t.Fatal(err)
	}

	// Many goroutines on two nodes: never two inside at once, and every
	// increment of a shared counter survives.
	var inside, maxInside atomic.Int32
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := nodes[i%2]
			for range 5 {
				if err := n.Lock(ctx, "counter"); err != nil {
					t.Error(err)
					return
				}
				if v := inside.Add(1); v > maxInside.Load() {
					maxInside.Store(v)
				}
				cur, _ := n.Load(ctx, "counter")
				v, _ := strconv.Atoi(string(cur))
				if err := n.Store(ctx, "counter", []byte(strconv.Itoa(v+1))); err != nil {
					t.Error(err)
				}
				inside.Add(-1)
				if err := n.Unlock(ctx, "counter"); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	got, _ := nodes[0].Load(ctx, "counter")
	if string(got) != "30" || maxInside.Load() != 1 {
		t.Fatalf("counter %s, max inside %d", got, maxInside.Load())
	}
	if kvs, _, _ := st.Range(ctx, "acme/locks/", 0); len(kvs) != 0 {
		t.Fatalf("locks left in the store: %v", kvs)
	}
}

func TestStorageLockExpiry(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st := openBolt(t)
	sealer := testSealer(t)
	const ttl = 300 * time.Millisecond
	a := newStorage(t, st, sealer, "a", ttl)
	b := newStorage(t, st, sealer, "b", ttl)

	// While the holder lives, its refreshes keep the lock well past the TTL.
	if ok, _ := a.TryLock(ctx, "job"); !ok {
		t.Fatal("no lock")
	}
	deadline := time.Now().Add(3 * ttl)
	for time.Now().Before(deadline) {
		if ok, _ := b.TryLock(ctx, "job"); ok {
			t.Fatal("lock taken while its holder refreshes it")
		}
		time.Sleep(ttl / 5)
	}

	// The holder "crashes": its refreshes stop, it never unlocks.
	a.mu.Lock()
	h := a.held["job"]
	a.mu.Unlock()
	h.cancel()
	<-h.done
	start := time.Now()
	if err := b.Lock(ctx, "job"); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited > 2*ttl {
		t.Fatalf("took %v to take over an expired lock (TTL %v)", waited, ttl)
	}
	// The old holder's late Unlock must not release the new holder's lock.
	if err := a.Unlock(ctx, "job"); err != nil {
		t.Fatal(err)
	}
	kv, err := st.Get(ctx, "acme/locks/job", 0)
	if err != nil {
		t.Fatalf("new holder's lock was deleted: %v", err)
	}
	var lv lockValue
	_ = json.Unmarshal(kv.Value, &lv)
	if !strings.HasPrefix(lv.Owner, "b/") {
		t.Fatalf("lock owner %q", lv.Owner)
	}
	// RenewLockLease extends it.
	if err := b.RenewLockLease(ctx, "job", time.Hour); err != nil {
		t.Fatal(err)
	}
	kv, _ = st.Get(ctx, "acme/locks/job", 0)
	_ = json.Unmarshal(kv.Value, &lv)
	if time.Until(lv.Expires) < 50*time.Minute {
		t.Fatalf("lease not renewed: expires %v", lv.Expires)
	}
	if err := b.Unlock(ctx, "job"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(ctx, "acme/locks/job", 0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("lock not deleted: %v", err)
	}
	if ok, err := a.TryLock(ctx, "job"); !ok || err != nil {
		t.Fatalf("lock not free: %v %v", ok, err)
	}
	if err := a.Unlock(ctx, "job"); err != nil {
		t.Fatal(err)
	}
}

// TestStorageLockContextCancel checks that waiting for a lock honours the
// context.
func TestStorageLockContextCancel(t *testing.T) {
	st := openBolt(t)
	sealer := testSealer(t)
	a := newStorage(t, st, sealer, "a", time.Minute)
	b := newStorage(t, st, sealer, "b", time.Minute)
	if ok, _ := a.TryLock(context.Background(), "job"); !ok {
		t.Fatal("no lock")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := b.Lock(ctx, "job"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock = %v", err)
	}
}
