package control

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gantry-lb/gantry/internal/config"
	"github.com/gantry-lb/gantry/internal/store/bolt"
)

func newControl(t *testing.T) *Control {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return New(st, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

func putLB(name string) func(*config.Config) error {
	return PutLB(name, func(*config.LB) (config.LB, error) { return config.LB{IPs: []string{"127.0.0.1"}}, nil })
}

func putBackend(lb, name string, port int) func(*config.Config) error {
	return PutBackend(lb, name, func(*config.Backend) (config.Backend, error) {
		return config.Backend{ForwardProtocol: config.ProtocolHTTP, Servers: []config.Server{{IP: "127.0.0.1", Port: port}}}, nil
	})
}

func TestChangeStoresOnlyWhatChanged(t *testing.T) {
	c := newControl(t)
	ctx := context.Background()
	if _, err := c.Change(ctx, Request{Mutate: putLB("web")}); err != nil {
		t.Fatal(err)
	}
	res, err := c.Change(ctx, Request{Mutate: putBackend("web", "api", 8080)})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Changes) != 1 || res.Changes[0].Path != "lbs/web/backends/api" || res.Changes[0].Kind != Created {
		t.Fatalf("changes %+v", res.Changes)
	}
	// The same write again changes nothing and makes no revision.
	again, err := c.Change(ctx, Request{Mutate: putBackend("web", "api", 8080)})
	if err != nil || len(again.Changes) != 0 || again.Revision != res.Revision {
		t.Fatalf("idempotent PUT: %+v %v", again, err)
	}
	st, _ := c.Get(ctx, 0)
	created := st.Meta["lbs/web/backends/api"].CreatedAt
	time.Sleep(2 * time.Millisecond)
	up, err := c.Change(ctx, Request{Mutate: putBackend("web", "api", 8081)})
	if err != nil || up.Changes[0].Kind != Updated {
		t.Fatalf("update: %+v %v", up, err)
	}
	st, _ = c.Get(ctx, 0)
	if m := st.Meta["lbs/web/backends/api"]; !m.CreatedAt.Equal(created) || !m.UpdatedAt.After(created) {
		t.Fatalf("meta after update: %+v (created %v)", m, created)
	}
	old, _ := c.Get(ctx, res.Revision)
	if old.Config.LBs[0].Backends[0].Servers[0].Port != 8080 {
		t.Fatal("the old revision does not read back as it was")
	}
}

func TestChangeErrors(t *testing.T) {
	c := newControl(t)
	ctx := context.Background()
	if _, err := c.Change(ctx, Request{Mutate: putBackend("nope", "api", 1)}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("backend of a missing LB: %v", err)
	}
	c.Change(ctx, Request{Mutate: putLB("web")})
	_, err := c.Change(ctx, Request{Mutate: PutFrontend("web", "f", func(*config.Frontend) (config.Frontend, error) {
		return config.Frontend{InboundPort: 80, Backend: "missing"}, nil
	})})
	var fe config.Errors
	if !errors.Is(err, ErrInvalid) || !errors.As(err, &fe) {
		t.Fatalf("invalid frontend: %v", err)
	}
	stale, _ := c.Revision(ctx)
	c.Change(ctx, Request{Mutate: putLB("web2")})
	rev, _ := c.Revision(ctx)
	if _, err := c.Change(ctx, Request{IfMatch: stale, HasIfMatch: true, Mutate: putLB("x")}); !errors.Is(err, ErrPrecondition) {
		t.Fatalf("stale If-Match: %v", err)
	}
	if r2, _ := c.Revision(ctx); r2 != rev {
		t.Fatal("a rejected change was stored")
	}
	dry, err := c.Change(ctx, Request{DryRun: true, Mutate: putLB("dry")})
	if err != nil || !dry.DryRun || len(dry.Changes) != 1 {
		t.Fatalf("dry run: %+v %v", dry, err)
	}
	if st, _ := c.Get(ctx, 0); st.Config.LB("dry") != nil {
		t.Fatal("a dry run was stored")
	}
}

// TestConcurrentChangesAllLand: writers without If-Match retry on conflicts,
// so every change lands.
func TestConcurrentChangesAllLand(t *testing.T) {
	c := newControl(t)
	ctx := context.Background()
	c.Change(ctx, Request{Mutate: putLB("web")})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Change(ctx, Request{Mutate: putBackend("web", "b"+string(rune('a'+i)), 1000+i)}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	st, _ := c.Get(ctx, 0)
	if n := len(st.Config.LBs[0].Backends); n != 8 {
		t.Fatalf("%d backends after 8 concurrent writes", n)
	}
}

func TestTransactions(t *testing.T) {
	c := newControl(t)
	ctx := context.Background()
	c.Change(ctx, Request{Mutate: putLB("web")})
	base, _ := c.Revision(ctx)
	tx, err := c.Begin(ctx, base, "test")
	if err != nil {
		t.Fatal(err)
	}
	// A frontend staged before its backend: valid only together.
	if _, err := c.Change(ctx, Request{Txn: tx.ID, Mutate: PutFrontend("web", "f", func(*config.Frontend) (config.Frontend, error) {
		return config.Frontend{InboundPort: 8080, Backend: "api"}, nil
	})}); err != nil {
		t.Fatal(err)
	}
	c.Change(ctx, Request{Txn: tx.ID, Mutate: putBackend("web", "api", 9000)})
	if r, _ := c.Revision(ctx); r != base {
		t.Fatal("staged changes were stored")
	}
	res, err := c.Commit(ctx, tx.ID, false, "both")
	if err != nil || res.Revision != base+1 || len(res.Changes) != 2 {
		t.Fatalf("commit: %+v %v", res, err)
	}
	if _, err := c.Commit(ctx, tx.ID, false, ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second commit: %v", err)
	}
	// A base that moved: conflict, nothing stored.
	tx2, _ := c.Begin(ctx, 0, "test")
	c.Change(ctx, Request{Txn: tx2.ID, Mutate: putBackend("web", "api", 9001)})
	c.Change(ctx, Request{Mutate: putLB("other")})
	if _, err := c.Commit(ctx, tx2.ID, false, ""); !errors.Is(err, ErrConflict) {
		t.Fatalf("commit on a moved base: %v", err)
	}
	if _, err := c.Begin(ctx, base, "test"); !errors.Is(err, ErrPrecondition) {
		t.Fatalf("begin on an old version: %v", err)
	}
	// Expiry.
	c.SetTxnTTL(time.Millisecond)
	tx3, _ := c.Begin(ctx, 0, "test")
	time.Sleep(5 * time.Millisecond)
	if _, err := c.Transaction(tx3.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("expired transaction: %v", err)
	}
}

func TestRollbackAndHistory(t *testing.T) {
	c := newControl(t)
	ctx := context.Background()
	c.Change(ctx, Request{Mutate: putLB("web"), Author: "alice", Message: "first"})
	r1, _ := c.Revision(ctx)
	c.Change(ctx, Request{Mutate: putBackend("web", "api", 9000), Author: "bob"})
	c.Change(ctx, Request{Mutate: DeleteLB("web", false)})
	res, err := c.Rollback(ctx, r1, Request{Author: "carol"})
	if err != nil {
		t.Fatal(err)
	}
	st, _ := c.Get(ctx, 0)
	if st.Revision != res.Revision || len(st.Config.LBs) != 1 || len(st.Config.LBs[0].Backends) != 0 {
		t.Fatalf("after rollback: %+v", st.Config)
	}
	h, err := c.History(ctx, 0, 10)
	if err != nil || len(h) != 4 {
		t.Fatalf("history: %d entries, %v", len(h), err)
	}
	if h[0].Author != "carol" || h[0].Message != "rollback to revision 1" || h[3].Author != "alice" || h[3].Message != "first" {
		t.Fatalf("history order or meta: %+v", h)
	}
	if h[2].Changes[0].Path != "lbs/web/backends/api" || h[2].Changes[0].Kind != Created || h[2].Changes[0].After == nil {
		t.Fatalf("history changes: %+v", h[2].Changes)
	}
}

func TestTokens(t *testing.T) {
	c := newControl(t)
	ctx := context.Background()
	secret, tok, err := c.CreateToken(ctx, "ci", RoleEditor)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Authenticate(ctx, secret)
	if err != nil || got.ID != tok.ID || got.Role != RoleEditor {
		t.Fatalf("authenticate: %+v %v", got, err)
	}
	if _, err := c.Authenticate(ctx, secret+"x"); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("wrong secret: %v", err)
	}
	if _, _, err := c.CreateToken(ctx, "x", "root"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad role: %v", err)
	}
	// Token writes are not config changes.
	if h, _ := c.History(ctx, 0, 10); len(h) != 0 {
		t.Fatalf("config history has token writes: %+v", h)
	}
}

// TestIfMatchZero: If-Match "0" (an empty store's ETag) is a real
// precondition, not "no If-Match".
func TestIfMatchZero(t *testing.T) {
	c := newControl(t)
	ctx := context.Background()
	if _, err := c.Change(ctx, Request{IfMatch: 0, HasIfMatch: true, Mutate: putLB("web")}); err != nil {
		t.Fatalf("If-Match 0 on an empty store: %v", err)
	}
	if _, err := c.Change(ctx, Request{IfMatch: 0, HasIfMatch: true, Mutate: putLB("again")}); !errors.Is(err, ErrPrecondition) {
		t.Fatalf("If-Match 0 on revision 1: %v", err)
	}
}

// TestManyConcurrentWritersNeverPrecondition: writers without If-Match are
// never told their (absent) precondition failed.
func TestManyConcurrentWritersNeverPrecondition(t *testing.T) {
	c := newControl(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Change(ctx, Request{Mutate: putLB("lb" + string(rune('a'+i%26)) + string(rune('a'+i/26)))}); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if errors.Is(err, ErrPrecondition) {
			t.Fatalf("a writer without If-Match got %v", err)
		}
		if !errors.Is(err, ErrBusy) {
			t.Fatal(err)
		}
	}
}

// TestTokensDoNotMoveTheConfigRevision: creating a token fails neither an
// open transaction nor a held If-Match.
func TestTokensDoNotMoveTheConfigRevision(t *testing.T) {
	c := newControl(t)
	ctx := context.Background()
	c.Change(ctx, Request{Mutate: putLB("web")})
	rev, _ := c.Revision(ctx)
	tx, err := c.Begin(ctx, rev, "test")
	if err != nil {
		t.Fatal(err)
	}
	c.Change(ctx, Request{Txn: tx.ID, Mutate: putBackend("web", "a", 9000)})
	if _, _, err := c.CreateToken(ctx, "ci", RoleEditor); err != nil {
		t.Fatal(err)
	}
	if r, _ := c.Revision(ctx); r != rev {
		t.Fatalf("a token write moved the config revision from %d to %d", rev, r)
	}
	if _, err := c.Change(ctx, Request{IfMatch: rev, HasIfMatch: true, Mutate: putLB("other")}); err != nil {
		t.Fatalf("If-Match after a token write: %v", err)
	}
	// The transaction's base moved now (the change above), so it conflicts.
	if _, err := c.Commit(ctx, tx.ID, false, ""); !errors.Is(err, ErrConflict) {
		t.Fatalf("commit: %v", err)
	}
	rev, _ = c.Revision(ctx)
	tx2, _ := c.Begin(ctx, rev, "test")
	c.Change(ctx, Request{Txn: tx2.ID, Mutate: putBackend("web", "b", 9001)})
	c.CreateToken(ctx, "ci2", RoleViewer)
	res, err := c.Commit(ctx, tx2.ID, false, "")
	if err != nil || len(res.Changes) != 1 {
		t.Fatalf("commit after only a token write: %+v %v", res, err)
	}
}
