package listener

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// lineEcho answers each line, marking the connection idle between lines as
// the HTTP proxy does between requests.
func lineEcho(c *Conn) {
	br := bufio.NewReader(c)
	for {
		c.SetIdle(true)
		if _, err := br.Peek(1); err != nil {
			return
		}
		c.SetIdle(false)
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		if strings.HasPrefix(line, "slow") {
			time.Sleep(300 * time.Millisecond)
		}
		io.WriteString(c, "ok "+line)
	}
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func TestSyncKeepsUnchangedAndRollsBackOnBindFailure(t *testing.T) {
	m := New(lineEcho, quiet())
	defer m.Shutdown(context.Background())
	a := freeAddr(t)
	published := 0
	if err := m.Sync([]string{a}, func() { published++ }); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", a)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	io.WriteString(c, "1\n")
	if l, _ := br.ReadString('\n'); l != "ok 1\n" {
		t.Fatalf("got %q", l)
	}
	busy, _ := net.Listen("tcp", "127.0.0.1:0")
	defer busy.Close()
	b := freeAddr(t)
	err = m.Sync([]string{a, b, busy.Addr().String()}, func() { published++ })
	if err == nil || published != 1 {
		t.Fatalf("Sync with a busy port = %v, published %d times", err, published)
	}
	if got := m.Addrs(); len(got) != 1 || got[0] != a {
		t.Fatalf("listeners after a failed Sync: %v", got)
	}
	if conn, err := net.Dial("tcp", b); err == nil {
		conn.Close()
		t.Fatalf("%s stayed bound after the failed Sync", b)
	}
	// The unchanged listener and its connection were never touched.
	if err := m.Sync([]string{a, b}, func() { published++ }); err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "2\n")
	if l, _ := br.ReadString('\n'); l != "ok 2\n" {
		t.Fatalf("got %q", l)
	}
}

func TestDrainClosesIdleAndWaitsForBusy(t *testing.T) {
	m := New(lineEcho, quiet())
	defer m.Shutdown(context.Background())
	a := freeAddr(t)
	if err := m.Sync([]string{a}, func() {}); err != nil {
		t.Fatal(err)
	}
	idle, _ := net.Dial("tcp", a)
	defer idle.Close()
	busy, _ := net.Dial("tcp", a)
	defer busy.Close()
	io.WriteString(idle, "x\n")
	bufio.NewReader(idle).ReadString('\n')
	io.WriteString(busy, "slow\n")
	time.Sleep(50 * time.Millisecond) // the slow line is being handled
	if err := m.Sync(nil, func() {}); err != nil {
		t.Fatal(err)
	}
	if c, err := net.Dial("tcp", a); err == nil {
		c.Close()
		t.Fatal("removed listener still accepts")
	}
	busy.SetReadDeadline(time.Now().Add(3 * time.Second))
	if l, err := bufio.NewReader(busy).ReadString('\n'); l != "ok slow\n" {
		t.Fatalf("busy connection got %q, %v: it must finish", l, err)
	}
	idle.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := idle.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("idle connection: %v, want EOF", err)
	}
}

func TestDrainTimeoutClosesStragglers(t *testing.T) {
	block := make(chan struct{})
	m := New(func(c *Conn) { <-block; io.Copy(io.Discard, c) }, quiet())
	m.DrainTimeout = 200 * time.Millisecond
	a := freeAddr(t)
	m.Sync([]string{a}, func() {})
	c, _ := net.Dial("tcp", a)
	defer c.Close()
	time.Sleep(50 * time.Millisecond)
	close(block)
	start := time.Now()
	m.Shutdown(context.Background())
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("shutdown took %v with a 200ms drain timeout", d)
	}
}

// BenchmarkAcceptServeClose is one client connection accepted, handed to
// the handler, tracked for draining and closed. Per-connection cost, not
// per request.
func BenchmarkAcceptServeClose(b *testing.B) {
	m := New(func(c *Conn) {}, quiet())
	defer m.Shutdown(context.Background())
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	a := ln.Addr().String()
	ln.Close()
	if err := m.Sync([]string{a}, func() {}); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 1)
	b.ReportAllocs()
	for b.Loop() {
		c, err := net.Dial("tcp", a)
		if err != nil {
			b.Fatal(err)
		}
		c.Read(buf) // returns when the handler is done and the manager closed it
		c.Close()
	}
}
