package health

import (
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pires/go-proxyproto"

	"github.com/gantry-lb/gantry/internal/upstream"
)

func TestTCPSendExpect(t *testing.T) {
	pong := func(reply string) func(net.Conn) {
		return func(c net.Conn) {
			c.SetReadDeadline(time.Now().Add(wait))
			b := make([]byte, 5)
			if _, err := io.ReadFull(c, b); err != nil || string(b) != "PING\n" {
				c.Close()
				return
			}
			io.WriteString(c, reply)
			c.Close()
		}
	}
	tests := []struct {
		name         string
		answer       func(net.Conn)
		send, expect string
		passed       bool
		reason       func(string) bool
	}{
		{
			name:   "banner",
			answer: func(c net.Conn) { io.WriteString(c, "SSH-2.0-OpenSSH_9.2\r\n"); c.Close() },
			expect: "SSH-2.0-", passed: true, reason: equals("tcp: reply matched"),
		},
		{
			name: "send and expect", answer: pong("PONG\n"),
			send: "PING\n", expect: "PONG", passed: true, reason: equals("tcp: reply matched"),
		},
		{
			name: "binary", answer: func(c net.Conn) { c.Write([]byte{0, 1, 2, 0xff}); c.Close() },
			expect: "\x00\x01\x02", passed: true, reason: equals("tcp: reply matched"),
		},
		{
			// The server only answers PING; without the send, it closes.
			name: "send only", answer: pong(""), send: "PING\n", passed: true, reason: equals("tcp connect: ok"),
		},
		{
			name: "mismatch", answer: pong("NOPE\n"), send: "PING\n", expect: "PONG",
			reason: func(r string) bool {
				return strings.HasPrefix(r, `tcp: got "N`) && strings.HasSuffix(r, `, want "PONG"`)
			},
		},
		{
			name: "short reply", answer: pong("PO"), send: "PING\n", expect: "PONG",
			reason: equals(`tcp: reply ended after "PO", want "PONG"`),
		},
		{
			name: "no reply", answer: func(c net.Conn) { io.Copy(io.Discard, c) }, expect: "x",
			reason: equals("timeout after 100ms"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := rawServer(t, tt.answer)
			ep := checkOnce(t, addr, Spec{Kind: TCP, Send: tt.send, Expect: tt.expect, Timeout: 100 * time.Millisecond})
			wantCheck(t, ep, tt.passed, tt.reason)
		})
	}
}

func TestRedisReplies(t *testing.T) {
	tests := []struct {
		reply  string
		passed bool
		reason string
	}{
		{"+PONG\r\n", true, "redis: +PONG"},
		{"-LOADING Redis is loading the dataset in memory\r\n", false, `redis: got "-LOADING Redis is loading the dataset in memory" want +PONG`},
		{"+PONGPONG\r\n", false, `redis: got "+PONGPONG" want +PONG`},
		{"+PONG", false, `redis: got "+PONG" then EOF, want +PONG`},
		{"", false, "redis: reading reply: EOF"},
		{"+" + strings.Repeat("x", 1000) + "\r\n", false, `redis: got "+` + strings.Repeat("x", 63) + `" want +PONG`},
		{"-ERR \x1b[31mred\r\n", false, `redis: got "-ERR ?[31mred" want +PONG`},
	}
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			addr := rawServer(t, func(c net.Conn) {
				c.Read(make([]byte, 6))
				io.WriteString(c, tt.reply)
				c.Close()
			})
			wantCheck(t, checkOnce(t, addr, Spec{Kind: Redis}), tt.passed, equals(tt.reason))
		})
	}
}

// tlsHit is what an HTTPS server saw of one check.
type tlsHit struct{ sni, host string }

func startHTTPS(t *testing.T, wrap func(net.Listener) net.Listener) (*httptest.Server, func() []tlsHit) {
	var mu sync.Mutex
	var hits []tlsHit
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits = append(hits, tlsHit{sni: r.TLS.ServerName, host: r.Host})
		mu.Unlock()
	}))
	if wrap != nil {
		srv.Listener = wrap(srv.Listener)
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, func() []tlsHit {
		mu.Lock()
		defer mu.Unlock()
		return append([]tlsHit(nil), hits...)
	}
}

func TestHTTPS(t *testing.T) {
	srv, hits := startHTTPS(t, nil)
	addr := srv.Listener.Addr().String()
	// The test certificate names example.com and 127.0.0.1.
	ca := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
	tests := []struct {
		name   string
		spec   Spec
		passed bool
		reason func(string) bool
		hit    tlsHit // the SNI and Host the server saw, if passed
	}{
		{
			name: "no host, no sni", spec: Spec{},
			passed: true, reason: equals("https: status 200"), hit: tlsHit{sni: "", host: addr},
		},
		{
			name: "sni from host", spec: Spec{Host: "svc.example:8443"},
			passed: true, reason: equals("https: status 200"), hit: tlsHit{sni: "svc.example", host: "svc.example:8443"},
		},
		{
			name: "sni set", spec: Spec{Host: "svc.example", SNI: "other.example"},
			passed: true, reason: equals("https: status 200"), hit: tlsHit{sni: "other.example", host: "svc.example"},
		},
		{
			name: "verify by address", spec: Spec{Verify: true, RootCAs: ca},
			passed: true, reason: equals("https: status 200"), hit: tlsHit{sni: "", host: addr},
		},
		{
			name: "verify by sni", spec: Spec{Verify: true, RootCAs: ca, Host: "example.com"},
			passed: true, reason: equals("https: status 200"), hit: tlsHit{sni: "example.com", host: "example.com"},
		},
		{
			name: "verify wrong name", spec: Spec{Verify: true, RootCAs: ca, SNI: "wrong.example"},
			reason: func(r string) bool {
				return strings.HasPrefix(r, "https: tls handshake: ") && strings.Contains(r, "not wrong.example")
			},
		},
		{
			name: "verify unknown authority", spec: Spec{Verify: true},
			reason: func(r string) bool {
				return strings.HasPrefix(r, "https: tls handshake: ") && strings.Contains(r, "unknown authority")
			},
		},
		{
			name: "bad root cas", spec: Spec{Verify: true, RootCAs: "not a pem"},
			reason: equals("https: root_cas holds no PEM certificate"),
		},
		{
			name: "invalid uri", spec: Spec{URI: "/ HTTP/1.0"},
			reason: equals(`https: invalid uri "/ HTTP/1.0"`),
		},
		{
			name: "expect code", spec: Spec{ExpectCode: 204},
			reason: equals("https: status 200, want 204"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(hits())
			spec := tt.spec
			spec.Kind = HTTPS
			wantCheck(t, checkOnce(t, addr, spec), tt.passed, tt.reason)
			if tt.passed {
				h := hits()
				if len(h) != before+1 || h[before] != tt.hit {
					t.Fatalf("server saw %+v, want one %+v", h[before:], tt.hit)
				}
			}
		})
	}
	t.Run("plain http server", func(t *testing.T) {
		plain := startHTTP(t, 200)
		ep := checkOnce(t, plain.addr(), Spec{Kind: HTTPS})
		wantCheck(t, ep, false, func(r string) bool { return strings.HasPrefix(r, "https: tls handshake: ") })
	})
}

// proxyServer accepts connections that must start with a PROXY header and
// records the headers; answer then serves each connection.
func proxyServer(t *testing.T, answer func(net.Conn)) (string, func() []*proxyproto.Header) {
	var mu sync.Mutex
	var headers []*proxyproto.Header
	addr := rawServer(t, func(c net.Conn) {
		pc := proxyproto.NewConn(c, proxyproto.WithPolicy(proxyproto.REQUIRE), proxyproto.SetReadHeaderTimeout(wait))
		h := pc.ProxyHeader() // reads the header
		mu.Lock()
		headers = append(headers, h)
		mu.Unlock()
		if h == nil {
			c.Close()
			return
		}
		answer(pc)
	})
	return addr, func() []*proxyproto.Header {
		mu.Lock()
		defer mu.Unlock()
		return append([]*proxyproto.Header(nil), headers...)
	}
}

func TestSendProxy(t *testing.T) {
	isLocalV2 := func(h *proxyproto.Header) bool {
		return h != nil && h.Version == 2 && h.Command == proxyproto.LOCAL && h.TransportProtocol == proxyproto.UNSPEC
	}
	t.Run("tcp", func(t *testing.T) {
		addr, headers := proxyServer(t, func(c net.Conn) { c.Close() })
		wantCheck(t, checkOnce(t, addr, Spec{Kind: TCP, SendProxy: true}), true, equals("tcp connect: ok"))
		waitFor(t, "the header", func() bool { return len(headers()) == 1 })
		if h := headers()[0]; !isLocalV2(h) {
			t.Fatalf("header %+v, want v2 LOCAL", h)
		}
	})
	t.Run("tcp expect", func(t *testing.T) {
		addr, headers := proxyServer(t, func(c net.Conn) { io.WriteString(c, "READY\n"); c.Close() })
		wantCheck(t, checkOnce(t, addr, Spec{Kind: TCP, SendProxy: true, Expect: "READY"}), true, equals("tcp: reply matched"))
		if h := headers(); len(h) != 1 || !isLocalV2(h[0]) {
			t.Fatalf("headers %+v, want one v2 LOCAL", h)
		}
	})
	t.Run("http", func(t *testing.T) {
		addr, headers := proxyServer(t, func(c net.Conn) {
			readRequest(c)
			io.WriteString(c, "HTTP/1.1 204 No Content\r\n\r\n")
			c.Close()
		})
		wantCheck(t, checkOnce(t, addr, Spec{Kind: HTTP, SendProxy: true}), true, equals("http: status 204"))
		if h := headers(); len(h) != 1 || !isLocalV2(h[0]) {
			t.Fatalf("headers %+v, want one v2 LOCAL", h)
		}
	})
	t.Run("https", func(t *testing.T) {
		// The header comes before the TLS handshake.
		var mu sync.Mutex
		var headers []*proxyproto.Header
		srv, _ := startHTTPS(t, func(ln net.Listener) net.Listener {
			return &proxyproto.Listener{Listener: ln, ValidateHeader: func(h *proxyproto.Header) error {
				mu.Lock()
				headers = append(headers, h)
				mu.Unlock()
				return nil
			}}
		})
		ep := checkOnce(t, srv.Listener.Addr().String(), Spec{Kind: HTTPS, SendProxy: true})
		wantCheck(t, ep, true, equals("https: status 200"))
		mu.Lock()
		defer mu.Unlock()
		if len(headers) != 1 || !isLocalV2(headers[0]) {
			t.Fatalf("headers %+v, want one v2 LOCAL", headers)
		}
	})
	t.Run("without it", func(t *testing.T) {
		// A server that requires the header refuses a check without it.
		addr, _ := proxyServer(t, func(c net.Conn) { c.Close() })
		ep := checkOnce(t, addr, Spec{Kind: HTTP, Timeout: time.Second})
		wantCheck(t, ep, false, func(r string) bool { return strings.HasPrefix(r, "http: reading status line") })
	})
}

// TestTransientInterval checks that checks run every TransientInterval while
// the endpoint is in transition and every Interval otherwise, by the gaps
// between the checks an HTTP server sees.
func TestTransientInterval(t *testing.T) {
	const interval, transient = 300 * time.Millisecond, 20 * time.Millisecond
	srv := startHTTP(t, 500)
	var mu sync.Mutex
	var at []time.Time
	srv.block = func(int) {
		mu.Lock()
		at = append(at, time.Now())
		mu.Unlock()
	}
	c := newChecker(t, nil)
	ep := newEndpoint(srv.addr(), upstream.StateStarting)
	srv.ep.Store(ep)
	c.Sync([]Target{{Endpoint: ep, Spec: Spec{
		Kind: HTTP, Addr: srv.addr(), Interval: interval, TransientInterval: transient, Timeout: time.Second, Fall: 2, Rise: 2,
	}}})
	// starting (fails: transient) ×2, then passes: up (steady), then
	// fails: up with a failure (transient), down (steady), then passes:
	// down with a success (transient), up (steady).
	waitFor(t, "two checks while starting", func() bool { return srv.count() >= 2 })
	srv.code.Store(200)
	waitFor(t, "up", upAfterPass(ep))
	srv.code.Store(500)
	waitFor(t, "down", downAfterFail(ep))
	srv.code.Store(200)
	waitFor(t, "up again", upAfterPass(ep))
	n := srv.count()
	waitFor(t, "one more check", func() bool { return srv.count() > n })
	c.Close()

	hits := srv.snapshot()
	mu.Lock()
	defer mu.Unlock()
	for i := 1; i < len(hits); i++ {
		gap := at[i].Sub(at[i-1])
		prev := hits[i-1]
		// The state hit i saw is the one after check i-1; together with
		// check i-1's result it says whether i-1 left a transition.
		inTransition := hits[i].seen == upstream.StateStarting ||
			hits[i].seen == upstream.StateUp && prev.code != 200 ||
			hits[i].seen == upstream.StateDown && prev.code == 200
		if inTransition && gap > interval/2 {
			t.Errorf("check %d came %v after check %d in transition (saw %v), want about %v", i+1, gap, i, hits[i].seen, transient)
		}
		if !inTransition && gap < interval*9/10 {
			t.Errorf("check %d came %v after check %d in a steady state (saw %v), want about %v", i+1, gap, i, hits[i].seen, interval)
		}
	}
}

func TestNextInterval(t *testing.T) {
	const interval, transient = time.Second, time.Millisecond
	tests := []struct {
		state               upstream.State
		successes, failures int
		want                time.Duration
	}{
		{upstream.StateStarting, 0, 0, transient},
		{upstream.StateStarting, 0, 3, transient},
		{upstream.StateUp, 5, 0, interval},
		{upstream.StateUp, 0, 1, transient},
		{upstream.StateDown, 0, 4, interval},
		{upstream.StateDown, 1, 0, transient},
	}
	for _, tt := range tests {
		p := &probe{spec: Spec{Interval: interval, TransientInterval: transient}, seen: tt.state, successes: tt.successes, failures: tt.failures}
		if got := p.nextInterval(); got != tt.want {
			t.Errorf("%v with %d successes, %d failures: next in %v, want %v", tt.state, tt.successes, tt.failures, got, tt.want)
		}
	}
	p := &probe{spec: Spec{Interval: interval}.withDefaults(), seen: upstream.StateStarting}
	if got := p.nextInterval(); got != interval {
		t.Errorf("without TransientInterval: next in %v, want Interval %v", got, interval)
	}
}

// TestPassiveEjectionWithActiveCheck shows the interplay with passive
// ejection: an ejected endpoint is down until the probe has seen Rise passing
// checks after the ejection, counted afresh even if it had passed many
// before; then passive counting starts afresh too.
func TestPassiveEjectionWithActiveCheck(t *testing.T) {
	const rise = 3
	srv := startHTTP(t, 200)
	c := newChecker(t, nil)
	ep := newEndpoint(srv.addr(), upstream.StateStarting)
	srv.ep.Store(ep)
	var passive upstream.Passive
	passive.SetPolicy(ep, upstream.PassivePolicy{Failures: 3, Backoff: time.Millisecond, ActiveCheck: true})
	t.Cleanup(passive.Stop)

	// The data plane sees failures while check 4 is under way, with the
	// endpoint up and 3 passing checks behind it.
	const ejectAt = 4
	var ejected sync.WaitGroup
	ejected.Add(1)
	srv.block = func(n int) {
		if n == ejectAt {
			for range 3 {
				passive.Observe(ep, false)
			}
			ejected.Done()
		}
	}
	c.Sync([]Target{{Endpoint: ep, Spec: Spec{Kind: HTTP, Addr: srv.addr(), Interval: tick, Timeout: time.Second, Fall: 2, Rise: rise}}})
	ejected.Wait()
	if ep.State() != upstream.StateDown || ep.Reason() != "passive: 3 consecutive failures" {
		t.Fatalf("after 3 failures: %v %q, want down by passive ejection", ep.State(), ep.Reason())
	}
	waitFor(t, "checks after the return", func() bool { return srv.count() >= ejectAt+rise })
	c.Close()

	// hits[i].seen is the state check i+1 found: the state checks 1..i
	// left. Check 4 found the endpoint up; it passed after the ejection,
	// as the first of rise passes the probe counts afresh, so checks 5 to
	// 4+rise-1 find it down and check 4+rise finds it up.
	hits := srv.snapshot()
	seen := make([]upstream.State, len(hits))
	for i, h := range hits {
		seen[i] = h.seen
	}
	if seen[ejectAt-1] != upstream.StateUp {
		t.Fatalf("check %d found %v, want up: %v", ejectAt, seen[ejectAt-1], seen)
	}
	for i := ejectAt; i < ejectAt+rise-1; i++ {
		if seen[i] != upstream.StateDown {
			t.Fatalf("check %d found %v, want down until %d checks passed since the ejection: %v", i+1, seen[i], rise, seen)
		}
	}
	if seen[ejectAt+rise-1] != upstream.StateUp {
		t.Fatalf("check %d found %v after %d passes since the ejection, want up: %v", ejectAt+rise, seen[ejectAt+rise-1], rise, seen)
	}
	// The back-off (1ms) played no part, and the next failures count afresh.
	st := passive.Stats(ep)
	if st.Ejections != 1 || st.Ejected || st.Backoff != 0 {
		t.Fatalf("passive stats %+v, want one ejection, over, with no back-off", st)
	}
	passive.Observe(ep, false)
	passive.Observe(ep, false)
	if ep.State() != upstream.StateUp {
		t.Fatal("failures from before the return counted again")
	}
	passive.Observe(ep, false)
	if ep.State() != upstream.StateDown {
		t.Fatal("3 new failures did not eject")
	}
}

// TestPassiveEjectionFallsWithActiveCheck checks that an ejected endpoint
// whose checks fail stays down with the check's reason, however long the
// back-off: only the check brings it back.
func TestPassiveEjectionFallsWithActiveCheck(t *testing.T) {
	srv := startHTTP(t, 200)
	c := newChecker(t, nil)
	ep := newEndpoint(srv.addr(), upstream.StateStarting)
	var passive upstream.Passive
	passive.SetPolicy(ep, upstream.PassivePolicy{Failures: 1, Backoff: time.Millisecond, ActiveCheck: true})
	t.Cleanup(passive.Stop)
	c.Sync([]Target{{Endpoint: ep, Spec: Spec{Kind: HTTP, Addr: srv.addr(), Interval: tick, Timeout: time.Second, Fall: 2, Rise: 2}}})
	waitFor(t, "up", upAfterPass(ep))
	srv.code.Store(503)
	passive.Observe(ep, false)
	n := srv.count()
	waitFor(t, "five more checks", func() bool { return srv.count() > n+5 })
	if ep.State() != upstream.StateDown || ep.Reason() != "http: status 503, want 2xx/3xx" {
		t.Fatalf("ejected endpoint with failing checks: %v %q, want down with the check's reason", ep.State(), ep.Reason())
	}
	srv.code.Store(200)
	waitFor(t, "up", upAfterPass(ep))
}
