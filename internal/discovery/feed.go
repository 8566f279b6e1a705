package discovery

import "sync/atomic"

// Feed hands the newest Set of one provider to its consumer. Publish never
// blocks: a Set the consumer did not read yet is replaced by the newer one,
// so the consumer only ever sees the latest. Latest may be called by any
// number of readers (an API handler, `gantry explain`); Ready is meant for
// one consumer loop. Safe for concurrent use.
type Feed struct {
	cur   atomic.Pointer[Set]
	ready chan struct{}
}

// NewFeed returns an empty Feed.
func NewFeed() *Feed { return &Feed{ready: make(chan struct{}, 1)} }

// Publish makes s the latest Set and wakes the consumer. s must not be
// modified afterwards. Publish never blocks.
func (f *Feed) Publish(s *Set) {
	f.cur.Store(s)
	select {
	case f.ready <- struct{}{}:
	default: // a wake-up is already pending; it will read s
	}
}

// Latest returns the newest published Set, or nil before the first.
func (f *Feed) Latest() *Set { return f.cur.Load() }

// Ready receives a value after each Publish; several Publish calls before
// the consumer wakes up give one wake-up. After a wake-up, the consumer
// reads Latest.
func (f *Feed) Ready() <-chan struct{} { return f.ready }
