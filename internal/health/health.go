// Package health runs active health checks and writes their outcome into the
// live state of upstream endpoints, where the balancer reads it.
//
// A Checker runs one probe goroutine per Target. It is off the hot path: the
// data plane only reads Endpoint.Available(), an atomic the probes write.
// (Passive ejection, from outcomes the data plane reports, lives beside the
// state it changes, in upstream.Passive; the interplay is described below.)
//
// The semantics follow HAProxy:
//
//   - The first check of a new target runs at once, then one check every
//     Interval, moved by a random ±10% so that probes started together do
//     not stay in step. Each check is bounded by Timeout, connection and
//     exchange together.
//   - While the endpoint is in transition (StateStarting, an up endpoint
//     with some consecutive failures, a down endpoint with some consecutive
//     successes), checks run every TransientInterval instead, if it is set
//     (HAProxy's fastinter, Scaleway's transient_check_delay).
//   - After every check the probe records its result with SetLastCheck and
//     calls SetState with the check's detail as the reason, such as
//     "tcp connect: connection refused", "http: status 500, want 2xx/3xx",
//     "mysql: ERR 1045 Access denied for user 'x'@'127.0.0.1' (using
//     password: NO)" or "timeout after 1s".
//   - An endpoint in StateStarting goes up after its first passing check and
//     stays starting while checks fail, so a new server takes no traffic
//     before it has proved healthy once. An up endpoint goes down after Fall
//     consecutive failures; a down endpoint comes up after Rise consecutive
//     successes. Consecutive counts restart whenever the probe sees that
//     something else changed the endpoint's state.
//   - Passive ejection (upstream.Passive) is such a change: an up endpoint it
//     ejects is down, so the probe's counts restart and the endpoint comes
//     back only after Rise passing checks, exactly as after Fall failed ones.
//     Without an active check, the ejection's back-off brings it back.
//   - State changes are logged at Info; every check is logged at Debug.
//   - Stopping a probe (Sync without its target, or Close) leaves the
//     endpoint's state as it is, and a check cut short by the stop is not
//     recorded.
//
// What each Kind sends and expects:
//
//   - TCP connects; with Send it writes those bytes, with Expect it reads
//     until the reply starts with Expect or cannot (HAProxy's tcp-check send
//     and expect binary, as a prefix).
//   - HTTP opens a fresh connection, sends "METHOD URI HTTP/1.1" with Host,
//     "Connection: close" and "User-Agent: gantry-health", and judges only
//     the status code of the status line: ExpectCode if set, else any 2xx or
//     3xx. HTTPS does the same over TLS, sending SNI (by default the host of
//     the Host field when that was set, else none) and verifying nothing
//     unless Verify is set (HAProxy's check-ssl verify none).
//   - MySQL reads the server's initial handshake; with a User it answers
//     with a HandshakeResponse41 for User with an empty password, expects an
//     OK packet and sends COM_QUIT (HAProxy's option mysql-check user X
//     post-41). Without a User it only reads the handshake. An ERR packet
//     fails the check with the server's code and message.
//   - PgSQL sends a protocol 3.0 StartupMessage for user=User,
//     database=User. An authentication request for a password (any method)
//     passes, as in HAProxy. AuthenticationOk is followed to ReadyForQuery,
//     so that a server that trusts the user but then refuses the session
//     (unknown role or database) fails the check with its ErrorResponse;
//     the probe then sends Terminate.
//   - Redis sends "PING\r\n" and expects a line "+PONG".
//   - LDAP sends an anonymous LDAPv3 simple BindRequest and expects a
//     BindResponse with resultCode 0 (success).
//   - With SendProxy, a PROXY protocol v2 header with the LOCAL command goes
//     first, before TLS or any protocol byte: the PROXY protocol's own
//     specification names health checks as the use of LOCAL, and HAProxy's
//     check-send-proxy sends it.
//
// Every reply is untrusted: parsers are bounded, and server text quoted in a
// reason is truncated and stripped of control characters.
package health

import (
	"context"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gantry-lb/gantry/internal/upstream"
)

// Kind is the protocol a check speaks.
type Kind uint8

const (
	// TCP checks that a connection can be opened, and optionally that the
	// reply to Send starts with Expect.
	TCP Kind = iota
	// HTTP checks the status code of an HTTP/1.1 request.
	HTTP
	// HTTPS is HTTP over TLS.
	HTTPS
	// MySQL logs in as User (MySQL 4.1 protocol) or reads the handshake.
	MySQL
	// PgSQL starts a PostgreSQL session for User.
	PgSQL
	// Redis sends PING and expects +PONG.
	Redis
	// LDAP binds anonymously with LDAPv3.
	LDAP
)

// String returns the kind's lower-case name, as used in reasons: "tcp",
// "http", "https", "mysql", "pgsql", "redis" or "ldap".
func (k Kind) String() string {
	switch k {
	case TCP:
		return "tcp"
	case HTTP:
		return "http"
	case HTTPS:
		return "https"
	case MySQL:
		return "mysql"
	case PgSQL:
		return "pgsql"
	case Redis:
		return "redis"
	case LDAP:
		return "ldap"
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
// unchanged check from a changed one by comparing Spec values, which is why
// byte strings and the CA bundle are strings rather than slices or pools.
// Fields that do not apply to Kind are ignored.
type Spec struct {
	Kind     Kind
	Addr     string        // host:port to probe: the endpoint's address, or another port given by the check
	Interval time.Duration // check_delay; DefaultInterval if <= 0
	// TransientInterval (transient_check_delay, HAProxy's fastinter) is
	// the interval while the endpoint is in transition: starting, up with
	// some consecutive failures, or down with some consecutive successes.
	// Interval if <= 0.
	TransientInterval time.Duration
	Timeout           time.Duration // check_timeout, for the whole check; Interval if <= 0
	Fall              int           // consecutive failures that mark an up endpoint down (check_max_retries); DefaultFall if < 1
	Rise              int           // consecutive successes that mark a down endpoint up; DefaultRise if < 1
	// SendProxy (check_send_proxy) writes a PROXY protocol v2 header with
	// the LOCAL command before anything else.
	SendProxy bool

	// TCP only. Send is written after connecting; the reply must then
	// start with Expect. Either may be empty.
	Send   string
	Expect string

	// HTTP and HTTPS.
	Method     string // "GET" if empty
	URI        string // "/" if empty
	Host       string // the Host header; Addr if empty
	ExpectCode int    // the status code that passes; 0 means any 2xx or 3xx

	// HTTPS only.
	//
	// SNI is the server name sent in the TLS handshake. If empty, it is the
	// host part of Host when Host was set and is not an IP address, else no
	// server name is sent.
	SNI string
	// Verify checks the certificate chain against RootCAs and its name
	// against SNI, or against Addr's host when there is no SNI. Off by
	// default, like HAProxy's check-ssl with verify none.
	Verify bool
	// RootCAs is a PEM bundle of the certificates Verify trusts; empty
	// means the system's roots. A bundle without a certificate fails
	// every check.
	RootCAs string

	// MySQL and PgSQL: the user to log in as, with no password. Required
	// for PgSQL. For MySQL, empty means only the handshake is read, as
	// HAProxy does without a user; servers may count such checks as
	// connection errors and block the checker's host (max_connect_errors),
	// so a user is better.
	User string
}

// withDefaults returns s with its zero fields replaced by their defaults.
func (s Spec) withDefaults() Spec {
	if s.Interval <= 0 {
		s.Interval = DefaultInterval
	}
	if s.TransientInterval <= 0 {
		s.TransientInterval = s.Interval
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
	if s.Kind == HTTP || s.Kind == HTTPS {
		if s.Method == "" {
			s.Method = "GET"
		}
		if s.URI == "" {
			s.URI = "/"
		}
		if s.Kind == HTTPS && s.SNI == "" && s.Host != "" {
			s.SNI = serverName(s.Host)
		}
		if s.Host == "" {
			s.Host = s.Addr
		}
	}
	return s
}

// serverName returns the host part of a Host header value, or "" when it is
// an IP address, which SNI cannot carry.
func serverName(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if net.ParseIP(host) != nil {
		return ""
	}
	return host
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
