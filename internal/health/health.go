// Package health runs active health checks and writes their outcome into the
// live state of upstream endpoints, where the balancer reads it.
//
// A Checker runs one probe goroutine per Target. It is off the hot path: the
// data plane only reads Endpoint.Available(), an atomic the probes write.
//
// The semantics follow HAProxy:
//
//   - The first check of a new target runs at once, then one check every
//     Interval, moved by a random ±10% so that probes started together do
//     not stay in step. Each check is bounded by Timeout.
//   - After every check the probe records its result with SetLastCheck and
//     calls SetState with the check's detail as the reason, such as
//     "tcp connect: connection refused", "http: status 500, want 2xx/3xx" or
//     "timeout after 1s".
//   - An endpoint in StateStarting goes up after its first passing check and
//     stays starting while checks fail, so a new server takes no traffic
//     before it has proved healthy once. An up endpoint goes down after Fall
//     consecutive failures; a down endpoint comes up after Rise consecutive
//     successes. Consecutive counts restart whenever the probe sees that
//     something else changed the endpoint's state.
//   - TCP checks connect and close. HTTP checks open a fresh connection, send
//     "METHOD URI HTTP/1.1" with Host, "Connection: close" and
//     "User-Agent: gantry-health", and judge only the status code of the
//     status line: ExpectCode if set, else any 2xx or 3xx.
//   - State changes, not individual checks, are logged at Info.
//   - Stopping a probe (Sync without its target, or Close) leaves the
//     endpoint's state as it is, and a check cut short by the stop is not
//     recorded.
package health

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/gantry-lb/gantry/internal/upstream"
)

// Kind is the protocol a check speaks.
type Kind uint8

const (
	// TCP checks that a connection can be opened.
	TCP Kind = iota
	// HTTP checks the status code of an HTTP/1.1 request.
	HTTP
)

// String returns "tcp" or "http".
func (k Kind) String() string {
	switch k {
	case TCP:
		return "tcp"
	case HTTP:
		return "http"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Defaults for Spec fields left at their zero value (HAProxy's defaults).
const (
	DefaultInterval = 2 * time.Second
	DefaultFall     = 3
	DefaultRise     = 2
)

// Spec describes one health check. It is comparable: the Checker tells an
// unchanged check from a changed one by comparing Spec values.
type Spec struct {
	Kind     Kind
	Addr     string        // host:port to probe: the endpoint's address, or another port given by the check
	Interval time.Duration // check_delay; DefaultInterval if <= 0
	Timeout  time.Duration // check_timeout, for the whole check; Interval if <= 0
	Fall     int           // consecutive failures that mark an up endpoint down (check_max_retries); DefaultFall if < 1
	Rise     int           // consecutive successes that mark a down endpoint up; DefaultRise if < 1

	// HTTP only.
	Method     string // "GET" if empty
	URI        string // "/" if empty
	Host       string // the Host header; Addr if empty
	ExpectCode int    // the status code that passes; 0 means any 2xx or 3xx
}

// withDefaults returns s with its zero fields replaced by their defaults.
func (s Spec) withDefaults() Spec {
	if s.Interval <= 0 {
		s.Interval = DefaultInterval
	}
	if s.Timeout <= 0 {
		s.Timeout = s.Interval
	}
	if s.Fall < 1 {
		s.Fall = DefaultFall
	}
	if s.Rise < 1 {
		s.Rise = DefaultRise
	}
	if s.Kind == HTTP {
		if s.Method == "" {
			s.Method = "GET"
		}
		if s.URI == "" {
			s.URI = "/"
		}
		if s.Host == "" {
			s.Host = s.Addr
		}
	}
	return s
}

// Target is one endpoint and the check that decides its health. It is
// comparable and identifies a probe: the same endpoint pointer with the same
// Spec is the same probe. An endpoint should have at most one target; with
// two, both probes write its state.
type Target struct {
	Endpoint *upstream.Endpoint
	Spec     Spec
}

// Checker runs one probe goroutine per target. Safe for concurrent use. The
// zero value is not usable; call NewChecker.
type Checker struct {
	log *slog.Logger

	mu     sync.Mutex
	probes map[Target]*probe
	closed bool
}

// NewChecker returns a checker with no targets. It logs state changes to log
// with component=health; a nil log discards them.
func NewChecker(log *slog.Logger) *Checker {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Checker{
		log:    log.With("component", "health"),
		probes: make(map[Target]*probe),
	}
}

// Sync makes the running probes exactly targets. A target that was already
// running (same *Endpoint, equal Spec) keeps running untouched, with its
// consecutive counts and its schedule. A running target that is not in
// targets is stopped, and Sync waits for it to exit before starting new ones,
// so an old and a new check of the same endpoint never overlap. Targets with
// a nil Endpoint and duplicates are ignored. After Close, Sync does nothing.
func (c *Checker) Sync(targets []Target) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	want := make(map[Target]bool, len(targets))
	for _, t := range targets {
		if t.Endpoint != nil {
			want[t] = true
		}
	}
	var stopped []*probe
	for t, p := range c.probes {
		if !want[t] {
			p.cancel()
			stopped = append(stopped, p)
			delete(c.probes, t)
		}
	}
	// Cancelled first, waited for together: stopping N probes takes as long
	// as the slowest one, which is quick since cancellation aborts a check.
	for _, p := range stopped {
		<-p.done
	}
	for t := range want {
		if _, ok := c.probes[t]; !ok {
			c.probes[t] = startProbe(t, c.log)
		}
	}
}

// Close stops every probe and waits for them to exit. Endpoint states are
// left as they are. Close is idempotent.
func (c *Checker) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for _, p := range c.probes {
		p.cancel()
	}
	for t, p := range c.probes {
		<-p.done
		delete(c.probes, t)
	}
}

// startProbe starts the goroutine checking t.
func startProbe(t Target, log *slog.Logger) *probe {
	ctx, cancel := context.WithCancel(context.Background())
	p := newProbe(t.Endpoint, t.Spec.withDefaults(), log)
	p.cancel = cancel
	go p.run(ctx)
	return p
}
