package store_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gantry-lb/gantry/internal/store"
)

// recv returns the next value of ch, failing if none comes within a second;
// ok is false if ch is closed.
func recv(t *testing.T, ch <-chan uint64) (uint64, bool) {
	t.Helper()
	select {
	case v, ok := <-ch:
		return v, ok
	case <-time.After(time.Second):
		t.Fatal("no value and not closed after 1s")
		return 0, false
	}
}

func TestWatchersFirstValueIsHead(t *testing.T) {
	var ws store.Watchers
	ctx := t.Context()
	if v, ok := recv(t, ws.Add(ctx)); !ok || v != 0 {
		t.Fatalf("zero Watchers: first value %d, %v; want 0", v, ok)
	}
	ws.Announce(7)
	ws.Announce(5) // older: must not lower the head
	if v, ok := recv(t, ws.Add(ctx)); !ok || v != 7 {
		t.Fatalf("after Announce(7), Announce(5): first value %d, %v; want 7", v, ok)
	}
}

func TestWatchersCoalesceAndIncrease(t *testing.T) {
	var ws store.Watchers
	ch := ws.Add(t.Context())
	for rev := uint64(1); rev <= 100; rev++ {
		ws.Announce(rev) // nobody reads: must not block
	}
	ws.Announce(50) // out of order: dropped
	if v, _ := recv(t, ch); v != 100 {
		t.Fatalf("slow reader got %d, want only the newest, 100", v)
	}
	ws.Announce(100) // not newer than what ch was sent: dropped
	ws.Announce(99)
	select {
	case v := <-ch:
		t.Fatalf("got %d after announcing nothing newer than 100", v)
	default:
	}
	ws.Announce(101)
	if v, _ := recv(t, ch); v != 101 {
		t.Fatalf("got %d, want 101", v)
	}
}

func TestWatchersContextCloses(t *testing.T) {
	var ws store.Watchers
	ctx, cancel := context.WithCancel(t.Context())
	ch := ws.Add(ctx)
	other := ws.Add(t.Context())
	recv(t, ch)
	recv(t, other)
	cancel()
	if v, ok := recv(t, ch); ok {
		t.Fatalf("after cancel: got %d, want the channel closed", v)
	}
	ws.Announce(3) // must not send on (or panic over) the closed channel
	if v, ok := recv(t, other); !ok || v != 3 {
		t.Fatalf("the other watch got %d, %v; want 3", v, ok)
	}
	ws.CloseAll()
	if _, ok := recv(t, other); ok {
		t.Fatal("CloseAll left a channel open")
	}
}

func TestWatchersCloseAll(t *testing.T) {
	var ws store.Watchers
	ctx, cancel := context.WithCancel(t.Context())
	chs := []<-chan uint64{ws.Add(ctx), ws.Add(ctx), ws.Add(t.Context())}
	ws.Announce(4)
	ws.CloseAll()
	ws.CloseAll() // again: nothing to do
	cancel()      // the AfterFuncs were stopped: no double close
	ws.Announce(5)
	for i, ch := range chs {
		if v, ok := recv(t, ch); !ok || v != 4 {
			t.Fatalf("watch %d: buffered value %d, %v; want 4", i, v, ok)
		}
		if _, ok := recv(t, ch); ok {
			t.Fatalf("watch %d still open after CloseAll", i)
		}
	}
	if _, ok := recv(t, ws.Add(t.Context())); ok {
		t.Fatal("Add after CloseAll returned an open channel")
	}
}

// TestWatchersConcurrent runs Add, Announce, cancellations and CloseAll at
// once (meaningful under -race) and checks every reader saw strictly
// increasing values and a closed channel at the end.
func TestWatchersConcurrent(t *testing.T) {
	var ws store.Watchers
	var wg sync.WaitGroup
	var announcers sync.WaitGroup
	for a := range 4 {
		announcers.Go(func() {
			for i := range 500 {
				ws.Announce(uint64(i*4 + a + 1))
			}
		})
	}
	errs := make(chan error, 16)
	for r := range 16 {
		ctx, cancel := context.WithCancel(t.Context())
		if r%2 == 0 {
			time.AfterFunc(time.Duration(r)*time.Millisecond, cancel)
		} else {
			defer cancel()
		}
		ch := ws.Add(ctx)
		wg.Go(func() {
			var last uint64
			first := true
			timeout := time.After(10 * time.Second)
			for {
				select {
				case v, ok := <-ch:
					if !ok {
						return
					}
					if !first && v <= last {
						errs <- errors.New("values not strictly increasing")
						return
					}
					first, last = false, v
				case <-timeout:
					errs <- errors.New("channel never closed")
					return
				}
			}
		})
	}
	announcers.Wait()
	ws.CloseAll()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestSortedOps(t *testing.T) {
	ops := []store.Op{{Key: "b"}, {Key: "a", Value: []byte("1")}, {Key: "c", Delete: true}}
	sorted, err := store.SortedOps(ops)
	if err != nil {
		t.Fatal(err)
	}
	if got := sorted[0].Key + sorted[1].Key + sorted[2].Key; got != "abc" {
		t.Fatalf("sorted keys %q, want abc", got)
	}
	if ops[0].Key != "b" {
		t.Fatal("SortedOps reordered the caller's slice")
	}
	for _, tc := range []struct {
		name string
		ops  []store.Op
		want string
	}{
		{"none", nil, "no ops"},
		{"empty key", []store.Op{{Key: "a"}, {Key: ""}}, "op 1: empty key"},
		{"duplicate", []store.Op{{Key: "x"}, {Key: "a"}, {Key: "x", Delete: true}}, `duplicate key "x"`},
	} {
		if _, err := store.SortedOps(tc.ops); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

func TestCheckRevision(t *testing.T) {
	for _, tc := range []struct {
		rev, head, compacted uint64
		want                 error
	}{
		{0, 0, 0, nil},
		{0, 9, 5, nil}, // the head is always readable
		{5, 9, 5, nil},
		{9, 9, 5, nil},
		{10, 9, 5, store.ErrFuture},
		{4, 9, 5, store.ErrCompacted},
	} {
		err := store.CheckRevision(tc.rev, tc.head, tc.compacted)
		if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("CheckRevision(%d, %d, %d) = %v, want %v", tc.rev, tc.head, tc.compacted, err, tc.want)
		}
	}
}
