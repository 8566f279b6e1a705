package health

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gantry-lb/gantry/internal/upstream"
)

// TestMain stops the real servers some tests started, then checks that no
// goroutine leaked.
func TestMain(m *testing.M) {
	code := m.Run()
	if err := fixtures.stopAll(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping test servers:", err)
		code = 1
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

const (
	tick = 10 * time.Millisecond // probe interval in tests
	wait = 5 * time.Second       // bound of every wait
	long = time.Hour             // an interval after which only the first check runs
)

// waitFor polls cond until it holds, failing the test after wait.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", wait, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// upAfterPass and downAfterFail wait for a state together with the result of
// the check that led to it: SetState publishes the state a moment before
// the reason, and the probe records LastCheck after both.
func upAfterPass(ep *upstream.Endpoint) func() bool {
	return func() bool { return ep.State() == upstream.StateUp && ep.LastCheck() == upstream.CheckPassed }
}

func downAfterFail(ep *upstream.Endpoint) func() bool {
	return func() bool { return ep.State() == upstream.StateDown && ep.LastCheck() == upstream.CheckFailed }
}

func newEndpoint(addr string, s upstream.State) *upstream.Endpoint {
	return upstream.NewRegistry().Get(upstream.Key{Backend: "lb/be", Addr: addr}, s)
}

func newChecker(t *testing.T, log *slog.Logger) *Checker {
	c := NewChecker(log)
	t.Cleanup(c.Close)
	return c
}

// tcpServer accepts and closes connections; it can be stopped and started
// again on the same address.
type tcpServer struct {
	t    *testing.T
	addr string
	ln   net.Listener
	wg   sync.WaitGroup
}

func startTCP(t *testing.T) *tcpServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &tcpServer{t: t, addr: ln.Addr().String()}
	s.serve(ln)
	t.Cleanup(s.stop)
	return s
}

func (s *tcpServer) serve(ln net.Listener) {
	s.ln = ln
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
}

func (s *tcpServer) stop() {
	if s.ln != nil {
		s.ln.Close()
		s.wg.Wait()
		s.ln = nil
	}
}

func (s *tcpServer) restart() {
	s.t.Helper()
	deadline := time.Now().Add(wait)
	for {
		ln, err := net.Listen("tcp", s.addr)
		if err == nil {
			s.serve(ln)
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("listening again on %s: %v", s.addr, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// hit is one request an httpServer received.
type hit struct {
	method, uri, host, conn, agent string
	seen                           upstream.State // the endpoint's state when the request arrived
	code                           int            // the status answered
}

// httpServer answers every request with code, and records each request with
// the state its endpoint had when the request arrived. Because a probe's
// checks are sequential, hit k+1 sees the state after the results of hits
// 1..k: the hits show exactly when a transition happened.
type httpServer struct {
	*httptest.Server
	code  atomic.Int64
	ep    atomic.Pointer[upstream.Endpoint]
	block func(n int) // if set, runs before answering hit n (1-based)

	mu   sync.Mutex
	hits []hit
}

func startHTTP(t *testing.T, code int) *httpServer {
	s := &httpServer{}
	s.code.Store(int64(code))
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := hit{
			method: r.Method, uri: r.RequestURI, host: r.Host,
			conn: r.Header.Get("Connection"), agent: r.UserAgent(), seen: upstream.State(99),
		}
		if ep := s.ep.Load(); ep != nil {
			h.seen = ep.State()
		}
		s.mu.Lock()
		s.hits = append(s.hits, h)
		n := len(s.hits)
		s.mu.Unlock()
		if s.block != nil {
			s.block(n)
		}
		code := int(s.code.Load())
		s.mu.Lock()
		s.hits[n-1].code = code
		s.mu.Unlock()
		w.WriteHeader(code)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *httpServer) addr() string { return s.Listener.Addr().String() }

func (s *httpServer) snapshot() []hit {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]hit(nil), s.hits...)
}

func (s *httpServer) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.hits)
}

// logRecorder is a slog.Handler keeping every record's attributes.
type logRecorder struct {
	mu    *sync.Mutex
	recs  *[]map[string]string
	attrs []slog.Attr
}

func newLogRecorder() (*slog.Logger, func() []map[string]string) {
	h := logRecorder{mu: new(sync.Mutex), recs: new([]map[string]string)}
	return slog.New(h), func() []map[string]string {
		h.mu.Lock()
		defer h.mu.Unlock()
		return append([]map[string]string(nil), *h.recs...)
	}
}

func (h logRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (h logRecorder) Handle(_ context.Context, r slog.Record) error {
	m := map[string]string{"level": r.Level.String(), "msg": r.Message, "time": r.Time.Format(time.RFC3339Nano)}
	for _, a := range h.attrs {
		m[a.Key] = a.Value.String()
	}
	r.Attrs(func(a slog.Attr) bool {
		m[a.Key] = a.Value.String()
		return true
	})
	h.mu.Lock()
	*h.recs = append(*h.recs, m)
	h.mu.Unlock()
	return nil
}

func (h logRecorder) WithAttrs(as []slog.Attr) slog.Handler {
	h.attrs = append(append([]slog.Attr(nil), h.attrs...), as...)
	return h
}

func (h logRecorder) WithGroup(string) slog.Handler { return h }

// only returns the records with message msg.
func only(recs []map[string]string, msg string) []map[string]string {
	var out []map[string]string
	for _, r := range recs {
		if r["msg"] == msg {
			out = append(out, r)
		}
	}
	return out
}

func TestTCPDownAndUp(t *testing.T) {
	srv := startTCP(t)
	log, records := newLogRecorder()
	c := newChecker(t, log)
	ep := newEndpoint(srv.addr, upstream.StateStarting)
	c.Sync([]Target{{Endpoint: ep, Spec: Spec{Kind: TCP, Addr: srv.addr, Interval: tick, Timeout: time.Second, Fall: 3, Rise: 2}}})

	waitFor(t, "up", upAfterPass(ep))
	if r := ep.Reason(); r != "tcp connect: ok" {
		t.Errorf("reason when up = %q", r)
	}
	srv.stop()
	waitFor(t, "down", downAfterFail(ep))
	if r, lc := ep.Reason(), ep.LastCheck(); r != "tcp connect: connection refused" || lc != upstream.CheckFailed {
		t.Errorf("down: reason %q, last check %v", r, lc)
	}
	srv.restart()
	waitFor(t, "up again", upAfterPass(ep))
	if lc := ep.LastCheck(); lc != upstream.CheckPassed {
		t.Errorf("last check when up again = %v", lc)
	}
	c.Close()

	// Every transition is logged once at Info; checks that change nothing
	// only at Debug.
	want := []struct{ from, to, reason string }{
		{"starting", "up", "tcp connect: ok"},
		{"up", "down", "tcp connect: connection refused"},
		{"down", "up", "tcp connect: ok"},
	}
	recs := only(records(), "endpoint state changed")
	if len(recs) != len(want) {
		t.Fatalf("logged %d records, want %d: %v", len(recs), len(want), recs)
	}
	for i, w := range want {
		r := recs[i]
		if r["level"] != "INFO" || r["component"] != "health" || r["endpoint"] != ep.Key.String() ||
			r["from"] != w.from || r["to"] != w.to || r["reason"] != w.reason {
			t.Errorf("record %d = %v, want %s -> %s (%s) for %s", i, r, w.from, w.to, w.reason, ep.Key)
		}
	}
}

// TestHTTPFallRise checks that exactly Fall failures take an up endpoint
// down and exactly Rise successes bring it back, and what the request is.
func TestHTTPFallRise(t *testing.T) {
	const fall, rise = 2, 3
	srv := startHTTP(t, 200)
	c := newChecker(t, nil)
	ep := newEndpoint(srv.addr(), upstream.StateStarting)
	srv.ep.Store(ep)
	c.Sync([]Target{{Endpoint: ep, Spec: Spec{Kind: HTTP, Addr: srv.addr(), Interval: tick, Timeout: time.Second, Fall: fall, Rise: rise}}})

	waitFor(t, "up", func() bool { return ep.State() == upstream.StateUp })
	srv.code.Store(500)
	waitFor(t, "down", downAfterFail(ep))
	if r := ep.Reason(); r != "http: status 500, want 2xx/3xx" {
		t.Errorf("reason when down = %q", r)
	}
	srv.code.Store(200)
	waitFor(t, "up again", upAfterPass(ep))
	if r := ep.Reason(); r != "http: status 200" {
		t.Errorf("reason when up = %q", r)
	}
	// One more request, to see the state the last transition left.
	n := srv.count()
	waitFor(t, "one more check", func() bool { return srv.count() > n })
	c.Close()

	hits := srv.snapshot()
	if hits[0].seen != upstream.StateStarting {
		t.Errorf("first check saw %v, want starting", hits[0].seen)
	}
	firstFail := indexOf(hits, 0, func(h hit) bool { return h.code == 500 })
	if firstFail < 0 || firstFail+fall >= len(hits) {
		t.Fatalf("no complete failing run in %v", hits)
	}
	for i := firstFail; i < firstFail+fall; i++ {
		if hits[i].seen != upstream.StateUp {
			t.Fatalf("hit %d saw %v before %d failures, want up: %v", i, hits[i].seen, fall, hits)
		}
	}
	if hits[firstFail+fall].seen != upstream.StateDown {
		t.Fatalf("hit %d saw %v after %d failures, want down: %v", firstFail+fall, hits[firstFail+fall].seen, fall, hits)
	}
	firstPass := indexOf(hits, firstFail, func(h hit) bool { return h.code == 200 })
	if firstPass < 0 || firstPass+rise >= len(hits) {
		t.Fatalf("no complete passing run in %v", hits)
	}
	for i := firstPass; i < firstPass+rise; i++ {
		if hits[i].seen != upstream.StateDown {
			t.Fatalf("hit %d saw %v before %d successes, want down: %v", i, hits[i].seen, rise, hits)
		}
	}
	if hits[firstPass+rise].seen != upstream.StateUp {
		t.Fatalf("hit %d saw %v after %d successes, want up: %v", firstPass+rise, hits[firstPass+rise].seen, rise, hits)
	}
	for i, h := range hits {
		if h.method != "GET" || h.uri != "/" || h.host != srv.addr() || h.conn != "close" || h.agent != "gantry-health" {
			t.Fatalf("hit %d = %+v, want GET / with Host %s, Connection: close, User-Agent: gantry-health", i, h, srv.addr())
		}
	}
}

func indexOf(hits []hit, from int, f func(hit) bool) int {
	for i := from; i < len(hits); i++ {
		if f(hits[i]) {
			return i
		}
	}
	return -1
}

func TestHTTPExpectCode(t *testing.T) {
	tests := []struct {
		code, expect int
		want         upstream.State
		reason       string
	}{
		{code: 200, want: upstream.StateUp, reason: "http: status 200"},
		{code: 302, want: upstream.StateUp, reason: "http: status 302"},
		{code: 399, want: upstream.StateUp, reason: "http: status 399"},
		{code: 199, want: upstream.StateStarting, reason: "http: status 199, want 2xx/3xx"},
		{code: 404, want: upstream.StateStarting, reason: "http: status 404, want 2xx/3xx"},
		{code: 500, want: upstream.StateStarting, reason: "http: status 500, want 2xx/3xx"},
		{code: 204, expect: 204, want: upstream.StateUp, reason: "http: status 204"},
		{code: 200, expect: 204, want: upstream.StateStarting, reason: "http: status 200, want 204"},
		{code: 503, expect: 503, want: upstream.StateUp, reason: "http: status 503"},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.code)+"/expect"+strconv.Itoa(tt.expect), func(t *testing.T) {
			srv := startHTTP(t, tt.code)
			c := newChecker(t, nil)
			ep := newEndpoint(srv.addr(), upstream.StateStarting)
			c.Sync([]Target{{Endpoint: ep, Spec: Spec{Kind: HTTP, Addr: srv.addr(), Interval: long, Timeout: time.Second, ExpectCode: tt.expect}}})
			waitFor(t, "a check", func() bool { return ep.LastCheck() != upstream.CheckUnknown })
			wantCheck := upstream.CheckFailed
			if tt.want == upstream.StateUp {
				wantCheck = upstream.CheckPassed
			}
			if ep.State() != tt.want || ep.Reason() != tt.reason || ep.LastCheck() != wantCheck {
				t.Fatalf("state %v (%q), last check %v; want %v (%q), %v",
					ep.State(), ep.Reason(), ep.LastCheck(), tt.want, tt.reason, wantCheck)
			}
		})
	}
}

func TestHTTPRequestFields(t *testing.T) {
	srv := startHTTP(t, 200)
	c := newChecker(t, nil)
	ep := newEndpoint(srv.addr(), upstream.StateStarting)
	c.Sync([]Target{{Endpoint: ep, Spec: Spec{
		Kind: HTTP, Addr: srv.addr(), Interval: long, Timeout: time.Second,
		Method: "HEAD", URI: "/healthz?deep=1", Host: "svc.example",
	}}})
	waitFor(t, "up", func() bool { return ep.State() == upstream.StateUp })
	h := srv.snapshot()[0]
	if h.method != "HEAD" || h.uri != "/healthz?deep=1" || h.host != "svc.example" {
		t.Fatalf("request = %+v, want HEAD /healthz?deep=1 for svc.example", h)
	}
}

// rawServer runs answer on every accepted connection, for backends that do
// not speak proper HTTP.
func rawServer(t *testing.T, answer func(net.Conn)) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				answer(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// readRequest reads a request's head, so that closing afterwards sends FIN
// rather than a reset for unread data.
func readRequest(c net.Conn) {
	c.SetReadDeadline(time.Now().Add(wait))
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil || line == "\r\n" {
			return
		}
	}
}

func TestHTTPBadBackends(t *testing.T) {
	tests := []struct {
		name   string
		answer func(net.Conn)
		reason string
	}{
		{
			name:   "never answers",
			answer: func(c net.Conn) { io.Copy(io.Discard, c) },
			reason: "timeout after 50ms",
		},
		{
			name:   "closes without answering",
			answer: func(c net.Conn) { readRequest(c); c.Close() },
			reason: "http: reading status line: EOF",
		},
		{
			name:   "not http",
			answer: func(c net.Conn) { readRequest(c); io.WriteString(c, "SSH-2.0-OpenSSH_9.2\r\n"); c.Close() },
			reason: `http: malformed status line "SSH-2.0-OpenSSH_9.2\r\n"`,
		},
		{
			name: "endless status line",
			answer: func(c net.Conn) {
				readRequest(c)
				io.WriteString(c, "HTTP/1.1 200 "+strings.Repeat("x", 4096))
				c.Close()
			},
			reason: "http: status 200",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := rawServer(t, tt.answer)
			c := newChecker(t, nil)
			ep := newEndpoint(addr, upstream.StateStarting)
			start := time.Now()
			c.Sync([]Target{{Endpoint: ep, Spec: Spec{Kind: HTTP, Addr: addr, Interval: long, Timeout: 50 * time.Millisecond}}})
			waitFor(t, "a check", func() bool { return ep.LastCheck() != upstream.CheckUnknown })
			if r := ep.Reason(); r != tt.reason {
				t.Fatalf("reason = %q, want %q", r, tt.reason)
			}
			if strings.HasPrefix(tt.reason, "timeout") {
				if d := time.Since(start); d < 50*time.Millisecond {
					t.Errorf("timed out after %v, before the 50ms timeout", d)
				}
				if ep.State() != upstream.StateStarting {
					t.Errorf("state after timeout = %v, want starting", ep.State())
				}
			}
		})
	}
}

// TestStartingUpOnFirstPass checks that a new endpoint is up after its first
// passing check, however high Rise is, and that this first check runs at
// once rather than after an interval.
func TestStartingUpOnFirstPass(t *testing.T) {
	t.Run("http", func(t *testing.T) {
		srv := startHTTP(t, 200)
		c := newChecker(t, nil)
		ep := newEndpoint(srv.addr(), upstream.StateStarting)
		c.Sync([]Target{{Endpoint: ep, Spec: Spec{Kind: HTTP, Addr: srv.addr(), Interval: long, Rise: 10}}})
		waitFor(t, "up", func() bool { return ep.State() == upstream.StateUp })
		if n := srv.count(); n != 1 {
			t.Fatalf("%d checks ran, want 1", n)
		}
	})
	t.Run("tcp", func(t *testing.T) {
		srv := startTCP(t)
		c := newChecker(t, nil)
		ep := newEndpoint(srv.addr, upstream.StateStarting)
		c.Sync([]Target{{Endpoint: ep, Spec: Spec{Kind: TCP, Addr: srv.addr, Interval: long, Rise: 10}}})
		waitFor(t, "up", func() bool { return ep.State() == upstream.StateUp })
	})
	t.Run("stays starting while failing", func(t *testing.T) {
		srv := startHTTP(t, 500)
		c := newChecker(t, nil)
		ep := newEndpoint(srv.addr(), upstream.StateStarting)
		c.Sync([]Target{{Endpoint: ep, Spec: Spec{Kind: HTTP, Addr: srv.addr(), Interval: tick, Fall: 1}}})
		waitFor(t, "five failed checks", func() bool { return srv.count() >= 5 })
		if s := ep.State(); s != upstream.StateStarting {
			t.Fatalf("state after failing checks = %v, want starting", s)
		}
		srv.code.Store(200)
		waitFor(t, "up", func() bool { return ep.State() == upstream.StateUp })
	})
}

// TestSyncCounters checks that Sync leaves an unchanged probe running with
// its consecutive failures, and restarts a changed one from zero. The second
// check is held by the server while Sync runs, so the timing is exact: with
// Fall 3, a kept probe is down after hit 3, a restarted one after its own
// third hit.
func TestSyncCounters(t *testing.T) {
	tests := []struct {
		name   string
		change bool
	}{
		{name: "unchanged keeps counts"},
		{name: "changed restarts", change: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startHTTP(t, 500)
			atSecond, release := make(chan struct{}), make(chan struct{})
			srv.block = func(n int) {
				if n == 2 {
					close(atSecond)
					select {
					case <-release:
					case <-time.After(wait):
					}
				}
			}
			c := newChecker(t, nil)
			ep := newEndpoint(srv.addr(), upstream.StateUp)
			srv.ep.Store(ep)
			spec := Spec{Kind: HTTP, Addr: srv.addr(), URI: "/a", Interval: tick, Timeout: wait, Fall: 3}
			old := Target{Endpoint: ep, Spec: spec}
			c.Sync([]Target{old})
			c.mu.Lock()
			p := c.probes[old]
			c.mu.Unlock()

			select {
			case <-atSecond:
			case <-time.After(wait):
				t.Fatal("second check never arrived")
			}
			next := old
			if tt.change {
				next.Spec.URI = "/b"
			}
			c.Sync([]Target{next, next, {Spec: spec}}) // a duplicate and a nil endpoint are ignored
			c.mu.Lock()
			running, kept := len(c.probes), c.probes[old] == p
			c.mu.Unlock()
			if running != 1 || kept == tt.change {
				t.Fatalf("after Sync: %d probes, old probe kept %v; want 1, %v", running, kept, !tt.change)
			}
			if tt.change {
				select {
				case <-p.done:
				default:
					t.Fatal("Sync returned before the changed probe stopped")
				}
			}
			close(release)
			waitFor(t, "down", func() bool { return ep.State() == upstream.StateDown })
			n := srv.count()
			waitFor(t, "one more check", func() bool { return srv.count() > n })
			c.Close()

			hits := srv.snapshot()
			var probeHits []hit // the hits of the probe running at the end
			for _, h := range hits {
				if h.uri == next.Spec.URI {
					probeHits = append(probeHits, h)
				}
			}
			// The probe's own 4th hit is the first to see down: 3 failures
			// counted across a kept Sync, or 3 counted afresh after a
			// restart (the restart cut hit 2 short and did not count it).
			for i, h := range probeHits[:3] {
				if h.seen != upstream.StateUp {
					t.Fatalf("hit %d of %s saw %v, want up; hits %+v", i+1, next.Spec.URI, h.seen, hits)
				}
			}
			if probeHits[3].seen != upstream.StateDown {
				t.Fatalf("hit 4 of %s saw %v, want down; hits %+v", next.Spec.URI, probeHits[3].seen, hits)
			}
			if tt.change && len(hits)-len(probeHits) != 2 {
				t.Fatalf("old probe made %d checks, want 2 (it must stop at Sync); hits %+v", len(hits)-len(probeHits), hits)
			}
		})
	}
}

// TestStopLeavesState checks that removing a target stops its probe without
// touching the endpoint, even in the middle of a check.
func TestStopLeavesState(t *testing.T) {
	srv := startHTTP(t, 200)
	arrived, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	srv.block = func(int) {
		once.Do(func() { close(arrived) })
		select {
		case <-release:
		case <-time.After(wait):
		}
	}
	defer close(release)
	c := newChecker(t, nil)
	ep := newEndpoint(srv.addr(), upstream.StateStarting)
	target := Target{Endpoint: ep, Spec: Spec{Kind: HTTP, Addr: srv.addr(), Interval: tick, Timeout: wait}}
	c.Sync([]Target{target})
	c.mu.Lock()
	p := c.probes[target]
	c.mu.Unlock()
	select {
	case <-arrived:
	case <-time.After(wait):
		t.Fatal("first check never arrived")
	}
	before := ep.Since()
	c.Sync(nil)
	select {
	case <-p.done:
	default:
		t.Fatal("Sync(nil) returned before the probe stopped")
	}
	if ep.State() != upstream.StateStarting || ep.LastCheck() != upstream.CheckUnknown || !ep.Since().Equal(before) {
		t.Fatalf("after stop: state %v, last check %v; want starting, unknown, unchanged", ep.State(), ep.LastCheck())
	}
}

func TestCloseStopsEverything(t *testing.T) {
	srv := startTCP(t)
	ignore := goleak.IgnoreCurrent()
	c := NewChecker(nil)
	var targets []Target
	eps := make([]*upstream.Endpoint, 20)
	for i := range eps {
		eps[i] = newEndpoint(srv.addr, upstream.StateStarting)
		targets = append(targets, Target{Endpoint: eps[i], Spec: Spec{Kind: TCP, Addr: srv.addr, Interval: tick}})
	}
	c.Sync(targets)
	for _, ep := range eps {
		waitFor(t, "up", func() bool { return ep.State() == upstream.StateUp })
	}
	c.Close()
	goleak.VerifyNone(t, ignore)
	c.Close() // idempotent
	c.Sync(targets)
	c.mu.Lock()
	n := len(c.probes)
	c.mu.Unlock()
	if n != 0 {
		t.Fatalf("Sync after Close started %d probes", n)
	}
}

func TestNextState(t *testing.T) {
	const rise, fall = 2, 3
	tests := []struct {
		name                string
		cur                 upstream.State
		ok                  bool
		successes, failures int
		want                upstream.State
	}{
		{"starting passes once", upstream.StateStarting, true, 1, 0, upstream.StateUp},
		{"starting fails", upstream.StateStarting, false, 0, 5, upstream.StateStarting},
		{"up passes", upstream.StateUp, true, 9, 0, upstream.StateUp},
		{"up fails below fall", upstream.StateUp, false, 0, fall - 1, upstream.StateUp},
		{"up fails fall times", upstream.StateUp, false, 0, fall, upstream.StateDown},
		{"down passes below rise", upstream.StateDown, true, rise - 1, 0, upstream.StateDown},
		{"down passes rise times", upstream.StateDown, true, rise, 0, upstream.StateUp},
		{"down fails", upstream.StateDown, false, 0, 7, upstream.StateDown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := nextState(tt.cur, tt.ok, tt.successes, tt.failures, rise, fall); got != tt.want {
				t.Fatalf("nextState = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestCountsRestartOnOutsideChange checks that successes counted while up do
// not bring back an endpoint that something else marked down.
func TestCountsRestartOnOutsideChange(t *testing.T) {
	ep := newEndpoint("127.0.0.1:1", upstream.StateUp)
	p := newProbe(ep, Spec{Kind: TCP, Rise: 2, Fall: 3}.withDefaults(), slog.New(slog.DiscardHandler))
	for range 5 {
		p.record(true, "ok")
	}
	ep.SetState(upstream.StateDown, "operator")
	p.record(true, "ok")
	if ep.State() != upstream.StateDown {
		t.Fatalf("up after 1 success following an outside change, want down until Rise=2")
	}
	p.record(true, "ok")
	if ep.State() != upstream.StateUp {
		t.Fatalf("state after 2 successes = %v, want up", ep.State())
	}
	p.record(false, "bad")
	p.record(false, "bad")
	ep.SetState(upstream.StateStarting, "operator")
	ep.SetState(upstream.StateUp, "operator")
	p.record(false, "bad")
	if ep.State() != upstream.StateUp {
		t.Fatalf("down after 1 failure following an outside change, want up until Fall=3")
	}
}

func TestJitter(t *testing.T) {
	if got := jitter(0); got != 0 {
		t.Errorf("jitter(0) = %v", got)
	}
	if got := jitter(5); got != 5 {
		t.Errorf("jitter(5ns) = %v", got)
	}
	const d = 100 * time.Millisecond
	seen := make(map[time.Duration]bool)
	for range 1000 {
		got := jitter(d)
		if got < d*9/10 || got > d*11/10 {
			t.Fatalf("jitter(%v) = %v, outside ±10%%", d, got)
		}
		seen[got] = true
	}
	if len(seen) < 100 {
		t.Fatalf("jitter(%v) gave only %d distinct values in 1000", d, len(seen))
	}
}

func TestWithDefaults(t *testing.T) {
	tests := []struct {
		name string
		in   Spec
		want Spec
	}{
		{
			name: "tcp zero",
			in:   Spec{Addr: "a:1"},
			want: Spec{Addr: "a:1", Interval: DefaultInterval, TransientInterval: DefaultInterval, Timeout: DefaultInterval, Fall: DefaultFall, Rise: DefaultRise},
		},
		{
			name: "http zero",
			in:   Spec{Kind: HTTP, Addr: "a:1", Interval: time.Second},
			want: Spec{Kind: HTTP, Addr: "a:1", Interval: time.Second, TransientInterval: time.Second, Timeout: time.Second, Fall: DefaultFall, Rise: DefaultRise, Method: "GET", URI: "/", Host: "a:1"},
		},
		{
			name: "set fields kept",
			in:   Spec{Kind: HTTP, Addr: "a:1", Interval: 3, TransientInterval: 1, Timeout: 2, Fall: 1, Rise: 1, Method: "HEAD", URI: "/h", Host: "h", ExpectCode: 204},
			want: Spec{Kind: HTTP, Addr: "a:1", Interval: 3, TransientInterval: 1, Timeout: 2, Fall: 1, Rise: 1, Method: "HEAD", URI: "/h", Host: "h", ExpectCode: 204},
		},
		{
			name: "https sni from host",
			in:   Spec{Kind: HTTPS, Addr: "10.0.0.1:443", Host: "svc.example:8443"},
			want: Spec{Kind: HTTPS, Addr: "10.0.0.1:443", Interval: DefaultInterval, TransientInterval: DefaultInterval, Timeout: DefaultInterval, Fall: DefaultFall, Rise: DefaultRise, Method: "GET", URI: "/", Host: "svc.example:8443", SNI: "svc.example"},
		},
		{
			name: "https no sni without host",
			in:   Spec{Kind: HTTPS, Addr: "svc.example:443"},
			want: Spec{Kind: HTTPS, Addr: "svc.example:443", Interval: DefaultInterval, TransientInterval: DefaultInterval, Timeout: DefaultInterval, Fall: DefaultFall, Rise: DefaultRise, Method: "GET", URI: "/", Host: "svc.example:443"},
		},
		{
			name: "https no sni for an ip host",
			in:   Spec{Kind: HTTPS, Addr: "10.0.0.1:443", Host: "[::1]:443"},
			want: Spec{Kind: HTTPS, Addr: "10.0.0.1:443", Interval: DefaultInterval, TransientInterval: DefaultInterval, Timeout: DefaultInterval, Fall: DefaultFall, Rise: DefaultRise, Method: "GET", URI: "/", Host: "[::1]:443"},
		},
		{
			name: "https sni kept",
			in:   Spec{Kind: HTTPS, Addr: "10.0.0.1:443", Host: "a.example", SNI: "b.example"},
			want: Spec{Kind: HTTPS, Addr: "10.0.0.1:443", Interval: DefaultInterval, TransientInterval: DefaultInterval, Timeout: DefaultInterval, Fall: DefaultFall, Rise: DefaultRise, Method: "GET", URI: "/", Host: "a.example", SNI: "b.example"},
		},
		{
			name: "mysql gets no http defaults",
			in:   Spec{Kind: MySQL, Addr: "a:1", User: "u"},
			want: Spec{Kind: MySQL, Addr: "a:1", Interval: DefaultInterval, TransientInterval: DefaultInterval, Timeout: DefaultInterval, Fall: DefaultFall, Rise: DefaultRise, User: "u"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.in.withDefaults(); got != tt.want {
				t.Fatalf("withDefaults = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestInvalidRequestNeverSent(t *testing.T) {
	srv := startHTTP(t, 200)
	tests := []struct {
		name   string
		spec   Spec
		reason string
	}{
		{"method", Spec{Method: "GET / HTTP/1.1\r\nX-Evil: 1\r\n\r\nGET"}, `http: invalid method "GET / HTTP/1.1\r\nX-Evil: 1\r\n\r\nGET"`},
		{"uri", Spec{URI: "/ HTTP/1.0"}, `http: invalid uri "/ HTTP/1.0"`},
		{"host", Spec{Host: "a\r\nX-Evil: 1"}, `http: invalid host "a\r\nX-Evil: 1"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := tt.spec
			spec.Kind, spec.Addr = HTTP, srv.addr()
			p := newProbe(newEndpoint(srv.addr(), upstream.StateStarting), spec.withDefaults(), slog.New(slog.DiscardHandler))
			ok, reason := p.check(context.Background())
			if ok || reason != tt.reason {
				t.Fatalf("check = %v, %q; want false, %q", ok, reason, tt.reason)
			}
		})
	}
	if n := srv.count(); n != 0 {
		t.Fatalf("server got %d requests, want none", n)
	}
}

func TestParseStatusLine(t *testing.T) {
	tests := []struct {
		line string
		code int
		ok   bool
	}{
		{"HTTP/1.1 200 OK\r\n", 200, true},
		{"HTTP/1.0 503 Service Unavailable\r\n", 503, true},
		{"HTTP/1.1 204\r\n", 204, true},
		{"HTTP/1.1 204\n", 204, true},
		{"HTTP/1.1 302", 302, true},
		{"HTTP/1.1 999 x\r\n", 999, true},
		{"HTTP/1.1 099 x\r\n", 0, false},
		{"HTTP/1.1 20 OK\r\n", 0, false},
		{"HTTP/1.1 2000 OK\r\n", 0, false},
		{"HTTP/1.1 2x0 OK\r\n", 0, false},
		{"HTTP/1.1  200 OK\r\n", 0, false},
		{"HTTP/2 200\r\n", 0, false},
		{"HTTP/1.1\r\n", 0, false},
		{"SSH-2.0-OpenSSH\r\n", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			code, ok := parseStatusLine([]byte(tt.line))
			if code != tt.code || ok != tt.ok {
				t.Fatalf("parseStatusLine(%q) = %d, %v; want %d, %v", tt.line, code, ok, tt.code, tt.ok)
			}
		})
	}
}

func FuzzParseStatusLine(f *testing.F) {
	for _, s := range []string{"HTTP/1.1 200 OK\r\n", "HTTP/1.0 404\n", "HTTP/1.1 2x0", "garbage"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		code, ok := parseStatusLine(line)
		if ok != (code != 0) {
			t.Fatalf("parseStatusLine(%q) = %d, %v: ok must mean a code", line, code, ok)
		}
		if ok && (code < 100 || code > 999 || !strings.HasPrefix(string(line), "HTTP/1.")) {
			t.Fatalf("parseStatusLine(%q) = %d, true", line, code)
		}
	})
}
