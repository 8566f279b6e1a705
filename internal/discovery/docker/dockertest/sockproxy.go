package dockertest

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// EngineSocket returns the path of the engine's unix socket: DOCKER_HOST's
// when it is a unix:// one, else /var/run/docker.sock.
func EngineSocket() string {
	if h := os.Getenv("DOCKER_HOST"); strings.HasPrefix(h, "unix://") {
		return strings.TrimPrefix(h, "unix://")
	}
	return "/var/run/docker.sock"
}

// SockProxy forwards a unix socket of its own (Path) to the engine's, and
// can be stopped and started again, so that a test makes the engine look
// gone and come back without touching the engine. Start and Stop are safe
// for concurrent use with the connections it forwards.
type SockProxy struct {
	// Path is the socket to connect to: DOCKER_HOST=unix://<Path>.
	Path   string
	target string

	mu    sync.Mutex
	ln    net.Listener // nil while stopped
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

// NewSockProxy starts a SockProxy to the engine's socket (EngineSocket);
// it is stopped and its directory removed at cleanup.
func NewSockProxy(tb testing.TB) *SockProxy {
	tb.Helper()
	dir, err := os.MkdirTemp("", "gantry-sock-")
	if err != nil {
		tb.Fatal(err)
	}
	p := &SockProxy{Path: filepath.Join(dir, "docker.sock"), target: EngineSocket(), conns: map[net.Conn]bool{}}
	tb.Cleanup(func() { p.Stop(); os.RemoveAll(dir) })
	p.Start(tb)
	return p
}

// Start listens on Path again after Stop (NewSockProxy starts it first).
func (p *SockProxy) Start(tb testing.TB) {
	tb.Helper()
	ln, err := net.Listen("unix", p.Path)
	if err != nil {
		tb.Fatalf("dockertest: listening on %s: %v", p.Path, err)
	}
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("unix", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			if p.ln != ln { // stopped meanwhile
				p.mu.Unlock()
				c.Close()
				up.Close()
				return
			}
			p.conns[c], p.conns[up] = true, true
			p.mu.Unlock()
			p.wg.Add(2)
			pipe := func(dst, src net.Conn) {
				defer p.wg.Done()
				_, _ = io.Copy(dst, src)
				dst.Close()
				src.Close()
			}
			go pipe(up, c)
			go pipe(c, up)
		}
	}()
}

// Stop closes the listener and every connection, as an engine that died,
// and waits until every goroutine of the proxy has returned.
func (p *SockProxy) Stop() {
	p.mu.Lock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
	p.mu.Unlock()
	p.wg.Wait()
}
