// Package tcpproxy forwards TCP connections: plain port forwarding, or
// routing by the SNI of a TLS ClientHello without terminating TLS.
//
// The hot path is one balancer pick and one dial per connection; bytes are
// copied between unwrapped *net.TCPConn with half-close, which Linux splices.
// Allocation budget per connection: the dial, the tunnel's goroutine and idle
// watchdog, and with SNI routing the server name (the 16 KiB peek buffer is
// pooled and returned before the tunnel starts).
package tcpproxy

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/gantry-lb/gantry/internal/balance"
	"github.com/gantry-lb/gantry/internal/listener"
	"github.com/gantry-lb/gantry/internal/route"
	"github.com/gantry-lb/gantry/internal/snapshot"
	"github.com/gantry-lb/gantry/internal/tcpproxy/sni"
)

// peekSize bounds the bytes read while looking for the SNI: a TLS record is
// at most 16 KiB plus its 5-byte header.
const peekSize = 16<<10 + 5

// Proxy serves TCP frontends. Safe for concurrent use.
type Proxy struct {
	log   *slog.Logger
	peeks sync.Pool // *[peekSize]byte
}

// New returns a TCP proxy.
func New(log *slog.Logger) *Proxy {
	return &Proxy{
		log:   log.With("component", "tcpproxy"),
		peeks: sync.Pool{New: func() any { return new([peekSize]byte) }},
	}
}

// Serve forwards c for frontend fe until either side is done.
func (p *Proxy) Serve(c *listener.Conn, fe *snapshot.Frontend) {
	c.SetIdle(false)
	fe.Traffic.CountConn()
	if fe.ACLs != nil && fe.ACLs.Eval(c.Peer.Addr(), nil, nil).Action != route.ACLAllow {
		p.debug("denied by an ACL", "frontend", fe.Name, "remote", c.Peer)
		return
	}
	be := fe.Default
	var buf *[peekSize]byte
	var pending []byte
	if fe.HasRoutes() {
		buf = p.peeks.Get().(*[peekSize]byte)
		defer func() {
			if buf != nil {
				p.peeks.Put(buf)
			}
		}()
		c.SetReadDeadline(time.Now().Add(fe.TimeoutClient))
		name, n, err := sni.Peek(c.Conn, buf[:])
		c.SetReadDeadline(time.Time{})
		pending = buf[:n]
		switch {
		case err == nil:
			be = fe.Route([]byte(name), nil, nil)
		case errors.Is(err, sni.ErrNotTLS):
			// Not TLS: only the default backend can take it.
		default:
			p.debug("no client hello", "frontend", fe.Name, "remote", c.RemoteAddr(), "err", err)
			return
		}
	}
	if be == nil {
		p.debug("no backend for connection", "frontend", fe.Name, "remote", c.RemoteAddr())
		return
	}
	client := c.Peer.Addr()
	var key balance.HashKey
	if be.Group.Algorithm().Hashed() {
		key = balance.KeyAddr(client)
	}
	sticky := be.Sticky.Lookup(client)
	be, ep, uc, err := Connect(be, sticky, key, &Client{Src: c.Peer, Dst: c.Local}, nil)
	if err != nil {
		p.debug("no server", "backend", be.Name, "remote", c.RemoteAddr(), "err", err)
		return
	}
	if ep != sticky {
		be.Sticky.Store(client, ep)
	}
	defer Done(be, ep)
	if be.ShutdownSessions {
		defer ep.Track(c.Conn)()
	}
	if len(pending) > 0 {
		// Deliver the peeked bytes now and give the 16 KiB buffer back,
		// rather than holding it for the life of the tunnel.
		uc.SetWriteDeadline(time.Now().Add(be.TimeoutTunnel))
		_, err := uc.Write(pending)
		uc.SetWriteDeadline(time.Time{})
		p.peeks.Put(buf)
		buf = nil
		if err != nil {
			uc.Close()
			return
		}
	}
	in, out := Tunnel(c.Conn, uc, nil, nil, be.TimeoutTunnel)
	in += int64(len(pending))
	fe.Traffic.AddBytes(in, out)
	ep.Traffic.AddBytes(in, out)
}

// debug logs at debug level. It is called only on error paths (the caller
// builds its arguments either way), never per byte or per healthy
// connection.
func (p *Proxy) debug(msg string, args ...any) {
	if p.log.Enabled(context.Background(), slog.LevelDebug) {
		p.log.Debug(msg, args...)
	}
}
