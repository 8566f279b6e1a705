package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/gantry-lb/gantry/internal/listener"
	"github.com/gantry-lb/gantry/internal/snapshot"
)

// proxyHeaderTimeout bounds the wait for the PROXY header of a connection
// from a trusted sender, which sends it at once.
const proxyHeaderTimeout = 5 * time.Second

// admit decides whether an accepted connection is served: on a frontend
// that accepts the PROXY protocol, only trusted senders that start with a
// valid header are, and the header's source becomes the client's address.
func (d *Dataplane) admit(c *listener.Conn, fe *snapshot.Frontend) bool {
	if len(fe.AcceptProxy) == 0 {
		return true
	}
	if !fe.TrustsProxy(c.Peer.Addr()) {
		d.debug("dropped: not a trusted PROXY protocol sender", "frontend", fe.Name, "remote", c.Peer)
		return false
	}
	if err := listener.AcceptProxy(c, proxyHeaderTimeout); err != nil {
		d.debug("dropped", "frontend", fe.Name, "remote", c.Peer, "err", err)
		return false
	}
	return true
}

// debug logs at debug level, on error paths only.
func (d *Dataplane) debug(msg string, args ...any) {
	if d.log.Enabled(context.Background(), slog.LevelDebug) {
		d.log.Debug(msg, args...)
	}
}
