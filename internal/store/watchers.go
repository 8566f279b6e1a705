package store

import (
	"context"
	"sync"
)

// Watchers is the in-memory fan-out behind Store.Watch, shared by the
// implementations: it remembers the newest announced revision and keeps one
// channel per open watch.
//
// Invariants:
//
//   - Every channel has a buffer of one that always holds the newest unread
//     revision: Announce replaces an unread value instead of waiting, so a
//     slow reader gets only the newest revision and Announce never blocks.
//   - Values sent on one channel are strictly increasing: a revision at or
//     below what a channel was last sent is dropped, so announcements that
//     arrive out of order (concurrent commits, a remote watch racing a
//     local commit) never go backwards.
//   - A channel is closed exactly once: when its context is done, or by
//     CloseAll, whichever comes first. After CloseAll, Add returns a closed
//     channel.
//
// The zero value is ready to use, with no revision announced (head 0). A
// Watchers must not be copied after first use. It is safe for concurrent
// use; every method takes one mutex and none blocks on a reader.
type Watchers struct {
	mu   sync.Mutex
	shut bool                  // CloseAll has run
	head uint64                // newest revision announced
	set  map[*watcher]struct{} // the open channels
}

// watcher is one Watch channel.
type watcher struct {
	ch   chan uint64
	last uint64      // last revision put in ch; guarded by Watchers.mu
	stop func() bool // unregisters the context.AfterFunc
}

// send replaces any unread revision with rev. It never blocks: the caller
// holds Watchers.mu, so this is the only sender, and the buffer is empty
// once the select has run.
func (w *watcher) send(rev uint64) {
	select {
	case <-w.ch:
	default:
	}
	w.ch <- rev
	w.last = rev
}

// Add opens a watch: it returns a channel that first holds the newest
// announced revision and then every newer one Announce is given, until ctx
// is done or CloseAll runs, when the channel is closed. It starts no
// goroutine; context.AfterFunc closes the channel.
func (ws *Watchers) Add(ctx context.Context) <-chan uint64 {
	ch := make(chan uint64, 1)
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if ws.shut {
		close(ch)
		return ch
	}
	if ws.set == nil {
		ws.set = make(map[*watcher]struct{})
	}
	w := &watcher{ch: ch}
	w.send(ws.head)
	ws.set[w] = struct{}{}
	w.stop = context.AfterFunc(ctx, func() {
		ws.mu.Lock()
		defer ws.mu.Unlock()
		// CloseAll may have won the race; whoever removes w closes its
		// channel.
		if _, ok := ws.set[w]; ok {
			delete(ws.set, w)
			close(w.ch)
		}
	})
	return ch
}

// Announce records rev as the head if it is newer than the newest
// announced revision, and sends it to every open channel that was last sent
// an older one. It never blocks.
func (ws *Watchers) Announce(rev uint64) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if rev > ws.head {
		ws.head = rev
	}
	for w := range ws.set {
		if rev > w.last {
			w.send(rev)
		}
	}
}

// CloseAll closes every open channel and makes later calls of Add return a
// closed channel. Calling it again does nothing.
func (ws *Watchers) CloseAll() {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	ws.shut = true
	for w := range ws.set {
		w.stop()
		delete(ws.set, w)
		close(w.ch)
	}
}
