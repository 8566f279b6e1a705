package httpproxy

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gantry-lb/gantry/internal/config"
	"github.com/gantry-lb/gantry/internal/httpproxy/h1"
	"github.com/gantry-lb/gantry/internal/listener"
	"github.com/gantry-lb/gantry/internal/snapshot"
	"github.com/gantry-lb/gantry/internal/upstream"
)

func parseReq(t testing.TB, raw string) *h1.Request {
	t.Helper()
	req := new(h1.Request)
	if err := h1.ReadRequest(bufio.NewReader(strings.NewReader(raw)), req, h1.DefaultLimits()); err != nil {
		t.Fatalf("parsing %q: %v", raw, err)
	}
	return req
}

func TestAppendRequestHead(t *testing.T) {
	on, off := &snapshot.Frontend{XForwardedFor: true}, &snapshot.Frontend{}
	fwd := &snapshot.Frontend{XForwardedFor: true, Forwarded: true}
	tests := []struct {
		name string
		raw  string
		fe   *snapshot.Frontend
		ip   string
		up   bool
		want string
	}{
		{"hop-by-hop and nominated fields go, gantry's fields cannot be stripped",
			"GET /a?b HTTP/1.1\r\nHost: x.test\r\nConnection: keep-alive, X-Secret, X-Forwarded-For\r\nKeep-Alive: 5\r\nX-Secret: s\r\nTE: trailers\r\nProxy-Connection: x\r\nAccept: */*\r\n\r\n",
			on, "10.1.2.3", false,
			"GET /a?b HTTP/1.1\r\nHost: x.test\r\nAccept: */*\r\nX-Forwarded-For: 10.1.2.3\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: x.test\r\n\r\n"},
		{"X-Forwarded-For is combined into one field, client -Proto/-Host replaced",
			"GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 1.1.1.1\r\nX-Forwarded-Proto: https\r\nx-forwarded-for: 2.2.2.2\r\nX-Forwarded-Host: evil\r\n\r\n",
			on, "10.0.0.1", false,
			"GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 1.1.1.1, 2.2.2.2, 10.0.0.1\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: x\r\n\r\n"},
		{"x_forwarded_for off passes the client's through",
			"GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 1.1.1.1\r\n\r\n",
			off, "10.0.0.1", false,
			"GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 1.1.1.1\r\n\r\n"},
		{"Forwarded with IPv6 is quoted and appended",
			"GET / HTTP/1.1\r\nHost: x\r\nForwarded: for=1.1.1.1\r\n\r\n",
			fwd, "2001:db8::1", false,
			"GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 2001:db8::1\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: x\r\nForwarded: for=1.1.1.1, for=\"[2001:db8::1]\";proto=http;host=\"x\"\r\n\r\n"},
		{"content-length re-emitted from the parsed value",
			"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 007\r\n\r\n",
			off, "10.0.0.1", false,
			"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\n\r\n"},
		{"transfer-encoding kept for a chunked body",
			"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
			off, "10.0.0.1", false,
			"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"},
		{"upgrade forwarded only when asked",
			"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k\r\n\r\n",
			off, "10.0.0.1", true,
			"GET /ws HTTP/1.1\r\nHost: x\r\nSec-WebSocket-Key: k\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"},
		{"h2c upgrade is dropped",
			"GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n",
			off, "10.0.0.1", false,
			"GET / HTTP/1.1\r\nHost: x\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := parseReq(t, tt.raw)
			u := &upstreamRequest{target: req.Target, host: req.Host, clientIP: tt.ip, upgrade: tt.up}
			got := string(appendRequestHead(nil, req, u, tt.fe, &snapshot.Backend{}))
			if got != tt.want {
				t.Fatalf("got\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestOriginForm(t *testing.T) {
	tests := []struct{ target, origin string }{
		{"/p?q", "/p?q"},
		{"http://Example.com:8080/p?q", "/p?q"},
		{"https://h.test?q=1", "/?q=1"},
		{"http://h.test", "/"},
		{"*", "*"},
	}
	for _, tt := range tests {
		if got := string(originForm([]byte(tt.target))); got != tt.origin {
			t.Errorf("originForm(%q) = %q, want %q", tt.target, got, tt.origin)
		}
	}
}

// rawBackend answers every request on every connection with a fixed
// 13-byte response, reusing one buffer per connection, so that a benchmark
// counts the proxy's allocations and not the backend's.
func rawBackend(tb testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nhello, world\n")
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 8192)
				have := 0
				for {
					n, err := c.Read(buf[have:])
					if err != nil {
						return
					}
					have += n
					for {
						i := bytes.Index(buf[:have], []byte("\r\n\r\n"))
						if i < 0 {
							break
						}
						if _, err := c.Write(resp); err != nil {
							return
						}
						have = copy(buf, buf[i+4:have])
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// startProxy runs an HTTP frontend on a real listener in front of backend.
func startProxy(tb testing.TB, backend string) string {
	host, port, _ := net.SplitHostPort(backend)
	pn, _ := strconv.Atoi(port)
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	fport := free.Addr().(*net.TCPAddr).Port
	free.Close()
	cfg := &config.Config{LBs: []config.LB{{Name: "b", IPs: []string{"127.0.0.1"},
		Backends:  []config.Backend{{Name: "app", ForwardProtocol: config.ProtocolHTTP, Servers: []config.Server{{IP: host, Port: pn}}}},
		Frontends: []config.Frontend{{Name: "web", InboundPort: fport, Backend: "app"}}}}}
	reg := upstream.NewRegistry()
	snap, err := snapshot.Build(cfg, reg, 1)
	if err != nil {
		tb.Fatal(err)
	}
	holder := new(snapshot.Holder)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := New(holder, log)
	m := listener.New(srv.Serve, log)
	if err := m.Sync(snap.Addrs(), func() { holder.Store(snap) }); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		m.Shutdown(context.Background())
		reg.Retain(nil) // closes the idle upstream connections
	})
	return snap.Addrs()[0]
}

// BenchmarkProxyHTTP1 measures one keep-alive GET through gantry's HTTP/1.1
// path over real loopback sockets: client -> gantry -> backend and back.
// Allocation budget: 0 per request.
func BenchmarkProxyHTTP1(b *testing.B) {
	addr := startProxy(b, rawBackend(b))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	req := []byte("GET / HTTP/1.1\r\nHost: bench.test\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")
	buf := make([]byte, 4096)
	// Warm up pools and the upstream connection.
	for range 100 {
		c.Write(req)
		readOne(b, c, buf)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		readOne(b, c, buf)
	}
}

// readOne reads one response of the raw backend (with its 13-byte body).
func readOne(tb testing.TB, c net.Conn, buf []byte) {
	have := 0
	for {
		n, err := c.Read(buf[have:])
		if err != nil {
			tb.Fatal(err)
		}
		have += n
		if i := bytes.Index(buf[:have], []byte("\r\n\r\n")); i >= 0 && have >= i+4+13 {
			return
		}
	}
}

func TestProxyEndToEndAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("measures allocations over 2,000 requests")
	}
	addr := startProxy(t, rawBackend(t))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := []byte("GET / HTTP/1.1\r\nHost: bench.test\r\nUser-Agent: bench\r\n\r\n")
	buf := make([]byte, 4096)
	for range 100 {
		c.Write(req)
		readOne(t, c, buf)
	}
	// Allocations of the whole process per request: the client and the raw
	// backend allocate nothing per request, so this is the proxy's.
	avg := testing.AllocsPerRun(2000, func() {
		c.Write(req)
		readOne(t, c, buf)
	})
	if avg > 0.5 {
		t.Fatalf("%.2f allocations per proxied request, want 0", avg)
	}
}

func TestAlive(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 3)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	dial := func() (net.Conn, net.Conn) {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		return c, <-accepted
	}
	c, s := dial()
	defer c.Close()
	if !alive(c) {
		t.Fatal("an open, quiet connection is not alive")
	}
	s.Close()
	waitClosed := time.Now().Add(2 * time.Second)
	for alive(c) && time.Now().Before(waitClosed) {
		time.Sleep(5 * time.Millisecond)
	}
	if alive(c) {
		t.Fatal("a connection the server closed is still alive")
	}
	c2, s2 := dial()
	defer c2.Close()
	defer s2.Close()
	s2.Write([]byte("x")) // bytes nobody asked for: out of step
	for alive(c2) && time.Now().Before(waitClosed) {
		time.Sleep(5 * time.Millisecond)
	}
	if alive(c2) {
		t.Fatal("a connection with unsolicited bytes is alive")
	}
}
