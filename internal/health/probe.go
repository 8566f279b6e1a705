package health

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gantry-lb/gantry/internal/upstream"
)

// probe checks one endpoint until cancelled. Everything but cancel and done
// is owned by its goroutine.
type probe struct {
	ep   *upstream.Endpoint
	spec Spec // with defaults
	log  *slog.Logger

	req     []byte // the HTTP request, built once
	invalid string // why the HTTP request cannot be sent, if it cannot

	cancel context.CancelFunc
	done   chan struct{} // closed when run returns

	seen      upstream.State // the endpoint's state after this probe's last write
	seenSince time.Time      // and when it entered it, to notice changes back and forth
	successes int            // consecutive; reset when the state moves under the probe
	failures  int
	dialer    net.Dialer
}

func newProbe(ep *upstream.Endpoint, spec Spec, log *slog.Logger) *probe {
	p := &probe{ep: ep, spec: spec, log: log, done: make(chan struct{}), seen: ep.State(), seenSince: ep.Since()}
	if spec.Kind == HTTP {
		p.req, p.invalid = buildRequest(spec)
	}
	return p
}

// buildRequest returns the request an HTTP check sends, or why it cannot be
// sent: config validation should reject such specs, but a header injected
// through a stray CR or LF must never reach a backend.
func buildRequest(s Spec) ([]byte, string) {
	switch {
	case strings.ContainsAny(s.Method, " \t\r\n"):
		return nil, "http: invalid method " + strconv.Quote(s.Method)
	case strings.ContainsAny(s.URI, " \t\r\n"):
		return nil, "http: invalid uri " + strconv.Quote(s.URI)
	case strings.ContainsAny(s.Host, "\r\n"):
		return nil, "http: invalid host " + strconv.Quote(s.Host)
	}
	return []byte(s.Method + " " + s.URI + " HTTP/1.1\r\n" +
		"Host: " + s.Host + "\r\n" +
		"Connection: close\r\n" +
		"User-Agent: gantry-health\r\n" +
		"\r\n"), ""
}

// run checks at once, then every jittered Interval, until ctx is cancelled.
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
		t.Reset(jitter(p.spec.Interval))
	}
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
		// Something else (an operator, passive checks) moved the
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
	if p.ep.SetState(next, reason) {
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
	if p.spec.Kind != HTTP {
		return true, "tcp connect: ok"
	}
	// The deadline bounds writing and reading; cancellation (Sync, Close)
	// unblocks them at once.
	deadline, _ := ctx.Deadline()
	conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	if _, err := conn.Write(p.req); err != nil {
		return false, p.failure(ctx, "http: sending request", err)
	}
	line, err := bufio.NewReaderSize(conn, 256).ReadSlice('\n')
	if err != nil && !(errors.Is(err, bufio.ErrBufferFull) && len(line) > 0) {
		return false, p.failure(ctx, "http: reading status line", err)
	}
	code, ok := parseStatusLine(line)
	if !ok {
		return false, "http: malformed status line " + strconv.Quote(truncate(string(line), 64))
	}
	if p.spec.ExpectCode != 0 {
		if code != p.spec.ExpectCode {
			return false, "http: status " + strconv.Itoa(code) + ", want " + strconv.Itoa(p.spec.ExpectCode)
		}
	} else if code < 200 || code > 399 {
		return false, "http: status " + strconv.Itoa(code) + ", want 2xx/3xx"
	}
	return true, "http: status " + strconv.Itoa(code)
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

// parseStatusLine returns the status code of an HTTP/1.x status line such as
// "HTTP/1.1 200 OK\r\n". The line comes from the backend: it is untrusted.
func parseStatusLine(line []byte) (int, bool) {
	s := string(line)
	if !strings.HasPrefix(s, "HTTP/1.") || len(s) < len("HTTP/1.x 200") || s[8] != ' ' {
		return 0, false
	}
	code := s[9:12]
	if len(s) > 12 && s[12] != ' ' && s[12] != '\r' && s[12] != '\n' {
		return 0, false
	}
	n := 0
	for i := range len(code) {
		c := code[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	if n < 100 {
		return 0, false
	}
	return n, true
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
