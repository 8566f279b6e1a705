package etcd_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-lb/gantry/internal/store"
	"github.com/gantry-lb/gantry/internal/store/etcd"
	"github.com/gantry-lb/gantry/internal/store/etcd/etcdtest"
	"github.com/gantry-lb/gantry/internal/store/storetest"
)

func open(t *testing.T, srv *etcdtest.Server, prefix string) *etcd.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := etcd.Open(ctx, etcd.Options{Endpoints: []string{srv.Client}, Prefix: prefix})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestConformance runs the store conformance suite against a real etcd,
// one fresh prefix per subtest.
func TestConformance(t *testing.T) {
	srv := etcdtest.Start(t)
	var n atomic.Int64
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, srv, fmt.Sprintf("/conformance/%d/", n.Add(1)))
	})
}

// TestTwoStoresOneEtcd checks what several gantry processes rely on: a
// commit by one Store wakes the other's Watch, and they race on one counter.
func TestTwoStoresOneEtcd(t *testing.T) {
	srv := etcdtest.Start(t)
	a, b := open(t, srv, "/shared"), open(t, srv, "/shared/")
	other := open(t, srv, "/other/")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	wb := b.Watch(ctx)
	if v := <-wb; v != 0 {
		t.Fatalf("first watch value %d, want 0", v)
	}
	if _, err := a.Commit(ctx, 0, []store.Op{{Key: "k", Value: []byte("v")}}, store.Meta{Author: "a"}); err != nil {
		t.Fatal(err)
	}
	select {
	case v := <-wb:
		if v != 1 {
			t.Fatalf("b's watch got %d, want 1", v)
		}
	case <-ctx.Done():
		t.Fatal("b's watch never saw a's commit")
	}
	kv, err := b.Get(ctx, "k", 0)
	if err != nil || string(kv.Value) != "v" {
		t.Fatalf("b.Get = %v, %v", kv, err)
	}
	if _, err := b.Commit(ctx, 0, []store.Op{{Key: "k", Value: []byte("late")}}, store.Meta{Author: "b"}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("b's commit on a stale base: %v, want ErrConflict", err)
	}
	if rev, err := other.Revision(ctx); err != nil || rev != 0 {
		t.Fatalf("a store under another prefix is at %d, %v; want 0", rev, err)
	}
}

// TestKillEtcd commits, kills etcd with SIGKILL right after the
// acknowledgements, restarts it on the same data directory and checks that
// every acknowledged revision is there.
func TestKillEtcd(t *testing.T) {
	srv := etcdtest.Start(t)
	s := open(t, srv, "/crash/")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const n = 50
	for i := range uint64(n) {
		if _, err := s.Commit(ctx, i, []store.Op{{Key: fmt.Sprint("k", i%7), Value: []byte(fmt.Sprint(i))}}, store.Meta{Author: "crash"}); err != nil {
			t.Fatal(err)
		}
	}
	srv.Kill()
	s.Close()
	srv.Restart()
	s2 := open(t, srv, "/crash/")
	if rev, err := s2.Revision(ctx); err != nil || rev != n {
		t.Fatalf("after kill -9 and restart: revision %d, %v; want %d", rev, err, n)
	}
	for i := uint64(0); i < n; i++ {
		kv, err := s2.Get(ctx, fmt.Sprint("k", i%7), i+1)
		if err != nil || string(kv.Value) != fmt.Sprint(i) || kv.ModRevision != i+1 {
			t.Fatalf("revision %d after restart: %+v, %v", i+1, kv, err)
		}
	}
	h, err := s2.History(ctx, "", 0, 0)
	if err != nil || len(h) != n {
		t.Fatalf("History after restart: %d entries, %v", len(h), err)
	}
}

func TestParseURL(t *testing.T) {
	tests := []struct {
		in        string
		endpoints string
		prefix    string
		bad       bool
	}{
		{"etcd://127.0.0.1:2379", "[127.0.0.1:2379]", "", false},
		{"etcd://a:1,b:2/gantry/prod", "[a:1 b:2]", "/gantry/prod", false},
		{"etcd://a:1,,b:2", "", "", true},
		{"http://a:1", "", "", true},
		{"etcd://", "", "", true},
	}
	for _, tt := range tests {
		o, err := etcd.ParseURL(tt.in)
		if tt.bad {
			if err == nil {
				t.Errorf("ParseURL(%q) = %+v, want an error", tt.in, o)
			}
			continue
		}
		if err != nil || fmt.Sprint(o.Endpoints) != tt.endpoints || o.Prefix != tt.prefix {
			t.Errorf("ParseURL(%q) = %v %q, %v; want %s %q", tt.in, o.Endpoints, o.Prefix, err, tt.endpoints, tt.prefix)
		}
	}
}
