package app

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"time"

	"github.com/gantry-lb/gantry/internal/listener"
	"github.com/gantry-lb/gantry/internal/snapshot"
)

// proxyHeaderTimeout bounds the wait for the PROXY header of a connection
// from a trusted sender, which sends it at once.
const proxyHeaderTimeout = 5 * time.Second

// admit decides whether an accepted connection is served: a frontend over
// its connection_rate_limit closes it at once; on a frontend that accepts the
// PROXY protocol, only trusted senders that start with a
// valid header are, and the header's source becomes the client's address.
func (d *Dataplane) admit(c *listener.Conn, fe *snapshot.Frontend) bool {
	if !fe.RateLimit.Allow() {
		d.debug("dropped: over connection_rate_limit", "frontend", fe.Name, "remote", c.Peer)
		return false
	}
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

// randomSecret returns 32 random bytes: the sticky cookie key of a data
// plane whose cookies need not outlive the process (gantry proxy, run).
func randomSecret() []byte {
	b := make([]byte, 32)
	rand.Read(b)
	return b
}

// SetCookieSecret sets the key of sticky cookie values (at least 16 bytes),
// so that cookies stay valid across restarts and nodes that share it. Call
// it before the first Apply.
func (d *Dataplane) SetCookieSecret(b []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.secret = append([]byte(nil), b...)
}

// cookieKeyFile holds the sticky cookie key in the data directory.
const cookieKeyFile = "cookie.key"

// loadOrCreateKey reads a 32-byte key from path, creating it (0600) with
// random bytes on first use.
func loadOrCreateKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if len(b) != 32 {
			return nil, fmt.Errorf("%s: want 32 bytes, found %d: delete it to make a new key", path, len(b))
		}
		return b, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	b = randomSecret()
	if err := writeFileSync(path, b); err != nil {
		return nil, fmt.Errorf("writing %s: %w", path, err)
	}
	return b, nil
}
