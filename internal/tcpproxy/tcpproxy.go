// Package tcpproxy forwards TCP connections: plain port forwarding, or
// routing by the SNI of a TLS ClientHello without terminating TLS.
//
// The hot path is one balancer pick and one dial per connection; bytes are
// copied between unwrapped *net.TCPConn with half-close, which Linux splices.
// Allocation budget: the SNI peek buffer (pooled) and the dial.
package tcpproxy

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/gantry-lb/gantry/internal/listener"
	"github.com/gantry-lb/gantry/internal/snapshot"
	"github.com/gantry-lb/gantry/internal/tcpproxy/sni"
	"github.com/gantry-lb/gantry/internal/upstream"
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
	be := fe.Default
	var pending []byte
	if fe.HasRoutes() {
		buf := p.peeks.Get().(*[peekSize]byte)
		defer p.peeks.Put(buf)
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
			p.log.Debug("no client hello", "frontend", fe.Name, "remote", c.RemoteAddr(), "err", err)
			return
		}
	}
	if be == nil {
		p.log.Debug("no backend for connection", "frontend", fe.Name, "remote", c.RemoteAddr())
		return
	}
	ep, uc := Dial(be)
	if uc == nil {
		p.log.Warn("no server available", "backend", be.Name, "remote", c.RemoteAddr())
		return
	}
	defer ep.End()
	Tunnel(c.Conn, uc, pending, nil, be.TimeoutTunnel)
}

// Dial picks an endpoint of be and connects to it, trying other endpoints
// when a connect fails (at most one attempt per endpoint, and at most 3).
// On success the endpoint's in-flight count is raised: call ep.End when done.
// It returns nil, nil when no endpoint could be reached.
func Dial(be *snapshot.Backend) (*upstream.Endpoint, net.Conn) {
	attempts := min(len(be.Endpoints), 3)
	for range attempts {
		ep := be.Picker.Pick()
		if ep == nil {
			return nil, nil
		}
		ep.Begin()
		c, err := net.DialTimeout("tcp", ep.Addr, be.TimeoutConnect)
		if err == nil {
			ep.CountConn()
			return ep, c
		}
		ep.CountFailure()
		ep.End()
	}
	return nil, nil
}
