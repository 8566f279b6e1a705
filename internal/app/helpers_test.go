package app_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-lb/gantry/internal/app"
	"github.com/gantry-lb/gantry/internal/config"
)

// testLog logs warnings and errors to the test output.
func testLog(t testing.TB) *slog.Logger {
	lv := slog.LevelWarn
	if os.Getenv("GANTRY_TEST_DEBUG") != "" {
		lv = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: lv}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// backend is a real HTTP server on loopback that names itself in every
// answer and records what it received.
type backend struct {
	name  string
	addr  string
	srv   *http.Server
	ln    net.Listener
	conns atomic.Int64
	reqs  atomic.Int64
	last  atomic.Pointer[http.Request]
}

func startBackend(t testing.TB, name string, h http.HandlerFunc) *backend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{name: name, addr: ln.Addr().String(), ln: ln}
	if h == nil {
		h = func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			w.Header().Set("X-Backend", name)
			fmt.Fprintf(w, "hello from %s\n", name)
		}
	}
	b.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b.reqs.Add(1)
			b.last.Store(r)
			h(w, r)
		}),
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				b.conns.Add(1)
			}
		},
	}
	go b.srv.Serve(ln)
	t.Cleanup(func() { b.srv.Close() })
	return b
}

func (b *backend) server() config.Server { return serverAt(b.addr) }

// serverAt is the config.Server for "ip:port".
func serverAt(addr string) config.Server {
	h, p, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(p)
	return config.Server{IP: h, Port: n}
}

// rawServer calls handle with every connection accepted on a loopback
// port (n counts connections from 0), each in a goroutine of its own, and
// closes the connection when handle returns; for backends that misbehave
// in ways net/http will not, and for servers net/http is not. It returns
// the address. At cleanup it stops accepting, closes the connections
// still open, and waits for every handle to return.
func rawServer(t testing.TB, handle func(c net.Conn, n int)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns = map[net.Conn]bool{}
	)
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n := 0; ; n++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = true
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() {
					mu.Lock()
					delete(conns, c)
					mu.Unlock()
					c.Close()
				}()
				handle(c, n)
			}()
		}
	}()
	return ln.Addr().String()
}

// httpConfig returns a config with one HTTP frontend on port, default
// backend "app" over bs.
func httpConfig(port int, bs ...*backend) *config.Config {
	addrs := make([]string, len(bs))
	for i, b := range bs {
		addrs[i] = b.addr
	}
	return httpConfigTo(port, addrs...)
}

// httpConfigTo is httpConfig for servers given by address.
func httpConfigTo(port int, addrs ...string) *config.Config {
	be := config.Backend{Name: "app", ForwardProtocol: config.ProtocolHTTP}
	for _, a := range addrs {
		be.Servers = append(be.Servers, serverAt(a))
	}
	return &config.Config{LBs: []config.LB{{
		Name: "main", IPs: []string{"127.0.0.1"},
		Backends:  []config.Backend{be},
		Frontends: []config.Frontend{{Name: "web", InboundPort: port, Backend: "app"}},
	}}}
}

// startDataplane applies cfg to a new data plane that is shut down with the test.
func startDataplane(t testing.TB, cfg *config.Config) *app.Dataplane {
	t.Helper()
	return startDataplaneDrain(t, cfg, 5*time.Second)
}

func startDataplaneDrain(t testing.TB, cfg *config.Config, drain time.Duration) *app.Dataplane {
	t.Helper()
	d := app.NewDataplane(testLog(t))
	d.SetDrainTimeout(drain)
	if err := d.Apply(cfg); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		d.Shutdown(ctx)
	})
	return d
}

// rawExchange writes req on a new connection to addr and returns what
// came back until the server closed the connection or 2 s passed.
func rawExchange(t testing.TB, addr, req string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(c)
	return string(out)
}

// readResponse reads one response from br and returns it with its body read.
func readResponse(t testing.TB, br *bufio.Reader, method string) (*http.Response, string) {
	t.Helper()
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	resp.Body.Close()
	return resp, string(body)
}

// waitFor polls cond every 10 ms until it is true or d passed.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
