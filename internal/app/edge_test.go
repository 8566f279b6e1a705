package app_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// TestIntegrationExpectFinalAnswerNotReused: a server that refuses an
// Expect: 100-continue request with a final answer still waits for the
// announced body on that connection, so gantry must never reuse it.
func TestIntegrationExpectFinalAnswerNotReused(t *testing.T) {
	conns := make(chan int, 10)
	srv := rawServer(t, func(c net.Conn, n int) {
		conns <- n
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			if req.Header.Get("Expect") != "" {
				// Refuse, and keep the connection open, reading the
				// announced body as the RFC allows.
				io.WriteString(c, "HTTP/1.1 417 Expectation Failed\r\nContent-Length: 0\r\n\r\n")
				io.Copy(io.Discard, req.Body)
				continue
			}
			io.Copy(io.Discard, req.Body)
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	port := freePort(t)
	startDataplane(t, httpConfigTo(port, srv))
	addr := "127.0.0.1:" + strconv.Itoa(port)
	out := rawExchange(t, addr, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 40\r\nExpect: 100-continue\r\n\r\n")
	if !strings.HasPrefix(out, "HTTP/1.1 417 ") || !strings.Contains(out, "Connection: close") {
		t.Fatalf("expect refusal: %q", out)
	}
	// A smuggling attempt would put a request where the body was owed.
	out = rawExchange(t, addr, "GET /next HTTP/1.1\r\nHost: a\r\nX-Pad: "+strings.Repeat("x", 40)+"\r\nConnection: close\r\n\r\n")
	if !strings.HasPrefix(out, "HTTP/1.1 200 ") || !strings.HasSuffix(out, "ok") {
		t.Fatalf("next request: %q", out)
	}
	if n := len(conns); n != 2 {
		t.Fatalf("%d upstream connections, want 2: the refused one must not be reused", n)
	}
}

// TestIntegrationMethodsAreCaseSensitive: "head" is not HEAD, so its body
// is relayed and the connection stays in step.
func TestIntegrationMethodsAreCaseSensitive(t *testing.T) {
	b := startBackend(t, "b", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "method="+r.Method)
	})
	port := freePort(t)
	startDataplane(t, httpConfig(port, b))
	c, _ := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	io.WriteString(c, "head / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n")
	if _, body := readResponse(t, br, "GET"); body != "method=head" {
		t.Fatalf("lower-case head: body %q", body)
	}
	if _, body := readResponse(t, br, "GET"); body != "method=GET" {
		t.Fatalf("pipelined GET after it: body %q", body)
	}
}

// TestIntegrationEarlyAnswerDuringUpload: a server that answers 413 and
// closes without reading a large body; the client, reading while it
// writes, gets the 413.
func TestIntegrationEarlyAnswerDuringUpload(t *testing.T) {
	srv := rawServer(t, func(c net.Conn, _ int) {
		if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 9\r\nConnection: close\r\n\r\ntoo large")
	})
	port := freePort(t)
	startDataplane(t, httpConfigTo(port, srv))
	c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	const size = 32 << 20
	go func() {
		fmt.Fprintf(c, "POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n", size)
		chunk := make([]byte, 64<<10)
		for sent := 0; sent < size; sent += len(chunk) {
			if _, err := c.Write(chunk); err != nil {
				return // gantry stopped reading: expected
			}
		}
	}()
	resp, body := readResponse(t, bufio.NewReader(c), "POST")
	if resp.StatusCode != 413 || body != "too large" {
		t.Fatalf("got %d %q, want the server's 413", resp.StatusCode, body)
	}
}

// TestIntegrationH2DrainClosesIdleConnection: an h2c connection with no
// stream in flight is closed at once when its frontend is removed.
func TestIntegrationH2DrainClosesIdleConnection(t *testing.T) {
	b := startBackend(t, "b", nil)
	port, other := freePort(t), freePort(t)
	d := startDataplaneDrain(t, httpConfig(port, b), 20*time.Second)
	closed := make(chan struct{})
	tr := &http2.Transport{AllowHTTP: true, DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
		c, err := net.Dial(network, addr)
		if err != nil {
			return nil, err
		}
		return &eofConn{Conn: c, eof: closed}, nil
	}}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	start := time.Now()
	if err := d.Apply(httpConfig(other, b)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-closed:
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("idle h2 connection closed after %v, want promptly (drain timeout is 20s)", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("idle h2 connection still open 5s after its frontend was removed (drain timeout is 20s)")
	}
}

// eofConn closes eof when a read on the connection first fails (gantry
// closed it).
type eofConn struct {
	net.Conn
	eof  chan struct{}
	once sync.Once
}

func (c *eofConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil {
		c.once.Do(func() { close(c.eof) })
	}
	return n, err
}

// TestIntegrationTruncatedLargeBody: a server that promises 1 MiB and
// closes after 100 KiB; the client sees the body cut short (its connection
// is closed), and the next request works on a fresh server connection.
func TestIntegrationTruncatedLargeBody(t *testing.T) {
	b := startBackend(t, "b", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/cut" {
			io.WriteString(w, "fine")
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(1<<20))
		w.Write(make([]byte, 100<<10))
		c, _, _ := http.NewResponseController(w).Hijack()
		c.Close()
	})
	port := freePort(t)
	startDataplane(t, httpConfig(port, b))
	resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/cut")
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err == nil || n >= 1<<20 {
		t.Fatalf("read %d bytes, err %v: a truncated body must not look complete", n, err)
	}
	resp, err = http.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "fine" {
		t.Fatalf("next request: %q", body)
	}
}
