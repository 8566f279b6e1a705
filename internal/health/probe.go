package health

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pires/go-proxyproto"

	"github.com/gantry-lb/gantry/internal/upstream"
)

// probe checks one endpoint until cancelled. Everything but cancel and done
// is owned by its goroutine.
type probe struct {
	ep   *upstream.Endpoint
	spec Spec // with defaults
	log  *slog.Logger

	// Built once from spec by prepare.
	invalid     string      // why no check can be sent, if none can
	req         []byte      // what the check sends first (HTTP request, TCP Send, login packet...)
	proxyHeader []byte      // the PROXY v2 header, with SendProxy
	tls         *tls.Config // HTTPS only

	// Reused by every check: the reader over the check's connection and a
	// scratch buffer for whole protocol messages.
	br  *bufio.Reader
	buf []byte

	cancel context.CancelFunc
	done   chan struct{} // closed when run returns

	seen      upstream.State // the endpoint's state after this probe's last write
	seenSince time.Time      // and when it entered it, to notice changes back and forth
	successes int            // consecutive; reset when the state moves under the probe
	failures  int
	dialer    net.Dialer
}

// readerSize bounds what a check reads as one line (an HTTP status line, a
// Redis reply); longer lines are judged on their first readerSize bytes.
const readerSize = 512

func newProbe(ep *upstream.Endpoint, spec Spec, log *slog.Logger) *probe {
	p := &probe{
		ep: ep, spec: spec, log: log, done: make(chan struct{}),
		seen: ep.State(), seenSince: ep.Since(),
		br: bufio.NewReaderSize(nil, readerSize),
	}
	p.invalid = p.prepare()
	return p
}

// prepare builds what every check of the probe sends, and returns why no
// check can be sent, if that is the case. Config validation should reject
// such specs; the probe still refuses them, so that nothing malformed (a
// header injected through a stray CR or LF, a user name with a NUL) ever
// reaches a backend.
func (p *probe) prepare() string {
	s := p.spec
	if s.SendProxy {
		h := proxyproto.Header{Version: 2, Command: proxyproto.LOCAL, TransportProtocol: proxyproto.UNSPEC}
		b, err := h.Format()
		if err != nil {
			return "proxy header: " + err.Error()
		}
		p.proxyHeader = b
	}
	var why string
	switch s.Kind {
	case TCP:
		p.req = []byte(s.Send)
	case HTTP:
		p.req, why = buildRequest(s)
	case HTTPS:
		if p.req, why = buildRequest(s); why == "" {
			p.tls, why = tlsConfig(s)
		}
	case MySQL:
		if s.User != "" {
			p.req, why = mysqlLogin(s.User)
		}
	case PgSQL:
		p.req, why = pgStartup(s.User)
	case Redis:
		p.req = []byte("PING\r\n")
	case LDAP:
		p.req = ldapBindRequest
	default:
		why = "unknown check kind " + s.Kind.String()
	}
	return why
}

// run checks at once, then every jittered interval, until ctx is cancelled.
func (p *probe) run(ctx context.Context) {
	defer close(p.done)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ok, reason := p.check(ctx)
		if ctx.Err() != nil {
			// Stopped mid-check: the result says nothing about the
			// endpoint, and stopping must not change its state.
			return
		}
		p.record(ok, reason)
		t.Reset(jitter(p.nextInterval()))
	}
}

// nextInterval returns the wait before the next check: TransientInterval
// while the endpoint is in transition, Interval otherwise.
func (p *probe) nextInterval() time.Duration {
	switch {
	case p.seen == upstream.StateStarting,
		p.seen == upstream.StateUp && p.failures > 0,
		p.seen == upstream.StateDown && p.successes > 0:
		return p.spec.TransientInterval
	}
	return p.spec.Interval
}

// jitter returns d moved by a random amount within ±10%.
func jitter(d time.Duration) time.Duration {
	j := int64(d / 10)
	if j <= 0 {
		return d
	}
	return d + time.Duration(rand.Int64N(2*j+1)-j)
}

// record applies the result of one check to the endpoint.
func (p *probe) record(ok bool, reason string) {
	cur := p.ep.State()
	if cur != p.seen || !p.ep.Since().Equal(p.seenSince) {
		// Something else (an operator, passive ejection) moved the
		// endpoint; counts from before that say nothing about now.
		p.successes, p.failures = 0, 0
	}
	if ok {
		p.successes++
		p.failures = 0
	} else {
		p.failures++
		p.successes = 0
	}
	next := nextState(cur, ok, p.successes, p.failures, p.spec.Rise, p.spec.Fall)
	changed := p.ep.SetState(next, reason)
	p.log.LogAttrs(context.Background(), slog.LevelDebug, "check",
		slog.String("endpoint", p.ep.Key.String()),
		slog.Bool("passed", ok),
		slog.String("state", next.String()),
		slog.String("reason", reason))
	if changed {
		p.log.Info("endpoint state changed",
			slog.String("endpoint", p.ep.Key.String()),
			slog.String("from", cur.String()),
			slog.String("to", next.String()),
			slog.String("reason", reason))
	}
	p.seen, p.seenSince = next, p.ep.Since()
	// Last, so that whoever sees this check's result also sees the state
	// and reason it led to.
	result := upstream.CheckFailed
	if ok {
		result = upstream.CheckPassed
	}
	p.ep.SetLastCheck(result)
}

// nextState is the state machine of the package doc: the state after a check
// that passed (ok) or not, given the consecutive counts including it.
func nextState(cur upstream.State, ok bool, successes, failures, rise, fall int) upstream.State {
	switch cur {
	case upstream.StateUp:
		if !ok && failures >= fall {
			return upstream.StateDown
		}
	case upstream.StateDown:
		if ok && successes >= rise {
			return upstream.StateUp
		}
	case upstream.StateStarting:
		if ok {
			return upstream.StateUp
		}
	}
	return cur
}

// check runs one check bounded by Timeout and returns whether it passed and
// its detail.
func (p *probe) check(ctx context.Context) (bool, string) {
	if p.invalid != "" {
		return false, p.invalid
	}
	ctx, cancel := context.WithTimeout(ctx, p.spec.Timeout)
	defer cancel()
	kind := p.spec.Kind.String()
	conn, err := p.dialer.DialContext(ctx, "tcp", p.spec.Addr)
	if err != nil {
		return false, p.failure(ctx, kind, err)
	}
	defer conn.Close()
	if p.spec.Kind == TCP && p.proxyHeader == nil && len(p.req) == 0 && p.spec.Expect == "" {
		return true, "tcp connect: ok"
	}
	// The deadline bounds writing and reading; cancellation (Sync, Close)
	// unblocks them at once.
	deadline, _ := ctx.Deadline()
	conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	if p.proxyHeader != nil {
		if _, err := conn.Write(p.proxyHeader); err != nil {
			return false, p.failure(ctx, kind+": sending proxy header", err)
		}
	}
	var c net.Conn = conn
	if p.spec.Kind == HTTPS {
		tc := tls.Client(conn, p.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			return false, p.failure(ctx, "https: tls handshake", err)
		}
		c = tc
	}
	p.br.Reset(c)
	defer p.br.Reset(nil) // keep no reference to a closed connection
	return p.converse(ctx, c)
}

// converse runs the protocol part of the check over c, a connection made
// and set up (PROXY header, TLS) for it, whose reader p.br is.
func (p *probe) converse(ctx context.Context, c net.Conn) (bool, string) {
	switch p.spec.Kind {
	case TCP:
		return p.checkTCP(ctx, c)
	case HTTP, HTTPS:
		return p.checkHTTP(ctx, c, p.spec.Kind.String())
	case MySQL:
		return p.checkMySQL(ctx, c)
	case PgSQL:
		return p.checkPgSQL(ctx, c)
	case Redis:
		return p.checkRedis(ctx, c)
	case LDAP:
		return p.checkLDAP(ctx, c)
	}
	return false, "unknown check kind " + p.spec.Kind.String() // unreachable: prepare refused it
}

// failure turns a check error into a reason. A dial error reads like
// "tcp connect: connection refused"; the address is left out, since the
// reason is shown beside the endpoint anyway.
func (p *probe) failure(ctx context.Context, prefix string, err error) string {
	// The connection's deadline is the context's, and may fire a moment
	// before the context notices: both are the check's timeout.
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return "timeout after " + p.spec.Timeout.String()
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		if op.Op == "dial" {
			return prefix + " " + op.Err.Error()
		}
		return prefix + ": " + op.Err.Error()
	}
	return prefix + ": " + err.Error()
}

// message returns my scratch buffer resized to n bytes, for one whole
// protocol message. The caller bounds n.
func (p *probe) message(n int) []byte {
	if cap(p.buf) < n {
		p.buf = make([]byte, n)
	}
	return p.buf[:n]
}

// text makes server-supplied text safe to show in a reason: it is cut to at
// most n bytes, and control characters and invalid UTF-8 (including a rune
// the cut split) become '?'.
func text(s string, n int) string {
	s = strings.TrimRight(truncate(s, n), "\x00\r\n ")
	return strings.Map(func(r rune) rune {
		if r == utf8.RuneError || r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
