// Package listener keeps the data plane's sockets in step with the snapshots.
//
// Listeners are identified by their address. Sync opens the sockets a new
// snapshot needs before it is published (so a port that cannot be bound
// rejects the change and nothing moves), leaves unchanged ones untouched, and
// drains removed ones: they stop accepting at once, idle keep-alive
// connections are closed, and connections in flight finish (up to a drain
// timeout, after which they are closed).
package listener

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Conn is an accepted client connection. Conn.Conn is the raw *net.TCPConn
// (never wrapped, so the proxies can splice). Safe for concurrent use.
type Conn struct {
	net.Conn
	// Peer is the client's address and Local the address it connected
	// to: the socket's, or those a trusted PROXY protocol header gave
	// (AcceptProxy). IPv4-mapped addresses are unmapped.
	Peer, Local netip.AddrPort

	l    *Listener
	idle atomic.Bool
}

// Listener returns the listener that accepted c.
func (c *Conn) Listener() *Listener { return c.l }

// SetIdle marks the connection idle (between requests, safe to close when
// draining) or busy. On the hot path: one atomic store.
func (c *Conn) SetIdle(idle bool) { c.idle.Store(idle) }

// Draining reports whether the connection's listener is being removed; the
// HTTP proxy then ends keep-alive after the current response.
func (c *Conn) Draining() bool { return c.l.draining.Load() }

// Handler serves one accepted connection; the manager closes c when it returns.
type Handler func(c *Conn)

// Listener is one bound socket and the connections it accepted.
type Listener struct {
	Addr string

	ln       net.Listener
	draining atomic.Bool
	done     chan struct{} // closed when the accept loop has exited

	mu    sync.Mutex
	conns map[*Conn]struct{}
	wg    sync.WaitGroup
}

// Manager owns every listener. Safe for concurrent use.
type Manager struct {
	handler Handler
	log     *slog.Logger
	// DrainTimeout bounds how long a removed listener's connections may
	// take to finish before they are closed.
	DrainTimeout time.Duration

	mu       sync.Mutex
	ls       map[string]*Listener
	draining sync.WaitGroup
}

// New returns a manager that serves accepted connections with h.
func New(h Handler, log *slog.Logger) *Manager {
	return &Manager{handler: h, log: log.With("component", "listener"), DrainTimeout: 30 * time.Second, ls: map[string]*Listener{}}
}

// Sync makes the open listeners exactly addrs. It binds the new addresses
// first; if one fails it closes what it opened and returns the error without
// calling publish. Otherwise it calls publish (which stores the snapshot
// that names the new addresses), then starts accepting on the new listeners
// and drains the removed ones in the background.
func (m *Manager) Sync(addrs []string, publish func()) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	want := make(map[string]bool, len(addrs))
	var opened []*Listener
	for _, a := range addrs {
		want[a] = true
		if _, ok := m.ls[a]; ok {
			continue
		}
		ln, err := net.Listen("tcp", a)
		if err != nil {
			for _, l := range opened {
				l.ln.Close()
			}
			return fmt.Errorf("listener: binding %s: %w", a, err)
		}
		opened = append(opened, &Listener{Addr: a, ln: ln, done: make(chan struct{}), conns: map[*Conn]struct{}{}})
	}
	publish()
	for _, l := range opened {
		m.ls[l.Addr] = l
		go m.accept(l)
		m.log.Info("listening", "addr", l.Addr)
	}
	for a, l := range m.ls {
		if !want[a] {
			delete(m.ls, a)
			// Stop accepting now, so the port is free for whatever
			// binds it next; connections drain in the background.
			l.stopAccepting()
			m.draining.Add(1)
			go func() {
				defer m.draining.Done()
				m.drain(l, m.DrainTimeout)
			}()
		}
	}
	return nil
}

// Addrs returns the configured addresses of every open listener, sorted.
func (m *Manager) Addrs() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]string, 0, len(m.ls))
	for a := range m.ls {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

// Shutdown drains every listener: no new connections, idle ones closed at
// once, the rest given until ctx is done.
func (m *Manager) Shutdown(ctx context.Context) {
	m.mu.Lock()
	ls := m.ls
	m.ls = map[string]*Listener{}
	m.mu.Unlock()
	timeout := m.DrainTimeout
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
	}
	var wg sync.WaitGroup
	for _, l := range ls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.drain(l, timeout)
		}()
	}
	wg.Wait()
	m.draining.Wait()
}

func (m *Manager) accept(l *Listener) {
	defer close(l.done)
	var backoff time.Duration
	for {
		c, err := l.ln.Accept()
		if err != nil {
			if l.draining.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off instead of
			// spinning, as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			m.log.Warn("accept failed", "addr", l.Addr, "err", err, "retry_in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		tc := &Conn{Conn: c, l: l, Peer: addrPort(c.RemoteAddr()), Local: addrPort(c.LocalAddr())}
		l.mu.Lock()
		if l.draining.Load() {
			l.mu.Unlock()
			c.Close()
			continue
		}
		l.conns[tc] = struct{}{}
		l.wg.Add(1)
		l.mu.Unlock()
		go m.serve(tc)
	}
}

func (m *Manager) serve(c *Conn) {
	l := c.l
	defer func() {
		c.Close()
		l.mu.Lock()
		delete(l.conns, c)
		l.mu.Unlock()
		l.wg.Done()
	}()
	m.handler(c)
}

// stopAccepting marks l draining and closes its socket. Idempotent.
func (l *Listener) stopAccepting() {
	l.mu.Lock()
	l.draining.Store(true)
	l.mu.Unlock()
	l.ln.Close()
}

// drain stops l accepting, closes its idle connections and waits for the
// others up to timeout, then closes them.
func (m *Manager) drain(l *Listener, timeout time.Duration) {
	l.stopAccepting()
	<-l.done
	m.log.Info("draining", "addr", l.Addr)
	finished := make(chan struct{})
	go func() { l.wg.Wait(); close(finished) }()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		l.closeConns(true)
		select {
		case <-finished:
			m.log.Info("drained", "addr", l.Addr)
			return
		case <-deadline.C:
			l.closeConns(false)
			<-finished
			m.log.Warn("drain timed out; closed remaining connections", "addr", l.Addr, "timeout", timeout)
			return
		case <-tick.C:
		}
	}
}

// closeConns closes the idle connections, or all of them when onlyIdle is false.
func (l *Listener) closeConns(onlyIdle bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for c := range l.conns {
		if !onlyIdle || c.idle.Load() {
			c.Conn.Close()
		}
	}
}

// addrPort returns a TCP address as an AddrPort with IPv4-mapped addresses
// unmapped (the zero AddrPort for other kinds of address).
func addrPort(a net.Addr) netip.AddrPort {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return netip.AddrPort{}
	}
	ap := ta.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
