package tcpproxy

import (
	"io"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// tcpPair returns the two ends of a real loopback TCP connection.
func tcpPair(t *testing.T) (client, server *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan *net.TCPConn)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- nil
			return
		}
		done <- c.(*net.TCPConn)
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := <-done
	if s == nil {
		t.Fatal("accept failed")
	}
	return c.(*net.TCPConn), s
}

// TestTunnelHalfCloseAndPending: pending bytes go first, then spliced data;
// a half-close in one direction lets the other finish.
func TestTunnelHalfCloseAndPending(t *testing.T) {
	client, proxyA := tcpPair(t) // client <-> gantry (a)
	proxyB, server := tcpPair(t) // gantry (b) <-> server
	defer client.Close()
	defer server.Close()
	type result struct{ ab, ba int64 }
	res := make(chan result)
	go func() {
		ab, ba := Tunnel(proxyA, proxyB, []byte("early-"), []byte("hello-"), time.Minute)
		res <- result{ab, ba}
	}()
	client.SetDeadline(time.Now().Add(5 * time.Second))
	server.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(client, "request")
	client.CloseWrite()
	got, err := io.ReadAll(server) // EOF arrives through the half-close
	if err != nil || string(got) != "early-request" {
		t.Fatalf("server read %q, %v", got, err)
	}
	io.WriteString(server, "response")
	server.CloseWrite()
	got, err = io.ReadAll(client)
	if err != nil || string(got) != "hello-response" {
		t.Fatalf("client read %q, %v", got, err)
	}
	r := <-res
	if r.ab != int64(len("early-request")) || r.ba != int64(len("hello-response")) {
		t.Fatalf("counted %d/%d bytes", r.ab, r.ba)
	}
}

// TestTunnelIdleTimeout: the watchdog closes a tunnel with no data for
// idle, and keeps one that is active.
func TestTunnelIdleTimeout(t *testing.T) {
	client, proxyA := tcpPair(t)
	proxyB, server := tcpPair(t)
	defer client.Close()
	defer server.Close()
	done := make(chan struct{})
	start := time.Now()
	go func() {
		Tunnel(proxyA, proxyB, nil, nil, 300*time.Millisecond)
		close(done)
	}()
	// Active for ~600 ms: a byte every 100 ms keeps it open past idle.
	buf := make([]byte, 1)
	for range 6 {
		time.Sleep(100 * time.Millisecond)
		if _, err := client.Write([]byte{'x'}); err != nil {
			t.Fatalf("write while active: %v", err)
		}
		server.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := io.ReadFull(server, buf); err != nil {
			t.Fatalf("tunnel closed while active after %v: %v", time.Since(start), err)
		}
	}
	select {
	case <-done:
		t.Fatal("tunnel closed while active")
	default:
	}
	// Then silence: closed within idle plus a margin.
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("idle tunnel not closed")
	}
	server.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := server.Read(buf); err == nil {
		t.Fatal("server side still open after the idle timeout")
	}
}

// BenchmarkTunnelRoundTrip is one 64-byte message each way through an
// established tunnel between real loopback sockets (spliced). Allocation
// budget: 0 per message.
func BenchmarkTunnelRoundTrip(b *testing.B) {
	client, proxyA := tcpPairB(b)
	proxyB, server := tcpPairB(b)
	done := make(chan struct{})
	go func() {
		Tunnel(proxyA, proxyB, nil, nil, time.Minute)
		close(done)
	}()
	go func() { // echo server
		buf := make([]byte, 64)
		for {
			if _, err := io.ReadFull(server, buf); err != nil {
				server.Close()
				return
			}
			if _, err := server.Write(buf); err != nil {
				return
			}
		}
	}()
	msg, buf := make([]byte, 64), make([]byte, 64)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := client.Write(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(client, buf); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	client.Close()
	<-done
}

func tcpPairB(b *testing.B) (*net.TCPConn, *net.TCPConn) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	acc := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		acc <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	return c.(*net.TCPConn), (<-acc).(*net.TCPConn)
}
