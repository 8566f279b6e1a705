// Package config is gantry's desired-state model: load balancers, their
// frontends and backends, servers, routes, ACLs, health checks and
// certificate references, with defaults and validation.
//
// Field names and enums follow the Scaleway Load Balancer API v1 wherever it
// has one (inbound_port, forward_port, forward_protocol, timeout_* in
// milliseconds, check_delay, ...). A Config is plain data: it imports no other
// gantry package, and everything that turns it into running state lives in
// internal/snapshot.
package config

import (
	"net/netip"
	"time"
)

// Config is the whole desired state of one gantry node or cluster.
type Config struct {
	LBs []LB `json:"lbs"`
	// IPs are the addresses load balancers may bind, as objects of their
	// own: deleting an LB keeps its IP unless asked to release it. When IPs
	// is empty (configs written before IPs were objects), an LB may bind
	// any address; otherwise every address of an LB must be one of them.
	IPs []IP `json:"ips,omitempty"`
	// Certificates are the TLS certificates https frontends serve, by
	// name (see certificates.go).
	Certificates []Certificate `json:"certificates,omitempty"`
}

// IP is an address a load balancer may bind. Addresses are unique.
type IP struct {
	// Address is an IPv4 or IPv6 literal, without a zone.
	Address string `json:"address"`
	// Reverse is the DNS name the address resolves back to, if any.
	Reverse string   `json:"reverse,omitempty"`
	Tags    []string `json:"tags,omitempty"`
}

// LB is a load balancer: the addresses it binds and its frontends and
// backends. Names of frontends and backends are unique within an LB.
type LB struct {
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	Tags        []string `json:"tags,omitempty"`
	// Project, when set, is the tenant the LB belongs to: a token bound to
	// a project sees and changes only the LBs of that project. Empty means
	// the LB belongs to no project (only unscoped tokens see it).
	Project string `json:"project,omitempty"`
	// IPs are the addresses every frontend of this LB binds. Empty means all
	// addresses of the host (0.0.0.0 and ::).
	IPs       []string   `json:"ips,omitempty"`
	Frontends []Frontend `json:"frontends,omitempty"`
	Backends  []Backend  `json:"backends,omitempty"`
}

// Protocol is what a frontend speaks to clients or a backend to servers.
type Protocol string

// Protocols.
const (
	ProtocolTCP  Protocol = "tcp"
	ProtocolHTTP Protocol = "http"
)

// Frontend listens on InboundPort of every IP of its LB.
type Frontend struct {
	Name        string `json:"name"`
	InboundPort int    `json:"inbound_port"`
	// Protocol defaults to the forward_protocol of the default backend (or
	// of the first routed backend when there is no default).
	Protocol Protocol `json:"protocol,omitempty"`
	// Backend is the default backend: what requests that match no route go to.
	Backend string `json:"backend,omitempty"`
	// TimeoutClient is the maximum inactivity time on the client side, and the
	// keep-alive idle time between HTTP requests.
	TimeoutClient Millis `json:"timeout_client,omitempty"`
	// TimeoutHTTPRequest bounds the time to receive a whole request head
	// (408 when exceeded). HTTP only.
	TimeoutHTTPRequest Millis `json:"timeout_http_request,omitempty"`
	// MaxHeaderBytes bounds request line plus headers (414/431). HTTP only.
	MaxHeaderBytes int `json:"max_header_bytes,omitempty"`
	// MaxHeaders bounds the number of request header fields (431). HTTP only.
	MaxHeaders int `json:"max_headers,omitempty"`
	// XForwardedFor adds X-Forwarded-For/-Proto/-Host (default true).
	XForwardedFor *bool `json:"x_forwarded_for,omitempty"`
	// Forwarded adds an RFC 7239 Forwarded header (default false).
	Forwarded bool `json:"forwarded,omitempty"`
	// Routes is a persistent list: a change makes a new list sharing
	// the untouched chunks (see RouteList).
	Routes       RouteList `json:"routes,omitzero"`
	ACLs         []ACL     `json:"acls,omitempty"`
	Certificates []string  `json:"certificates,omitempty"`
	// ConnectionRateLimit caps new connections per second on this
	// frontend (all its addresses together); 0 means no limit. Connections
	// over the limit are closed at once.
	ConnectionRateLimit int `json:"connection_rate_limit,omitempty"`
	// AcceptProxyFrom lists the CIDRs trusted to send a PROXY protocol
	// header (v1 or v2). When set, every connection must come from one of
	// them and start with a valid header, whose source address then stands
	// for the client's; anything else is dropped.
	AcceptProxyFrom []string `json:"accept_proxy_from,omitempty"`
	// RequestHeaders and ResponseHeaders edit the headers of requests
	// before they are forwarded and of responses before they are returned,
	// in order. HTTP only.
	RequestHeaders  []HeaderRule `json:"request_headers,omitempty"`
	ResponseHeaders []HeaderRule `json:"response_headers,omitempty"`

	// TLS (https frontends; see certificates.go). Certificates above
	// names the certificates served, the first available being the
	// default when no name matches the client's SNI.
	//
	// HTTPSRedirect (http frontends) redirects every request to https.
	HTTPSRedirect *HTTPSRedirect `json:"https_redirect,omitempty"`
	// SSLCompatibilityLevel is Scaleway's TLS profile:
	// ssl_compatibility_level_intermediate (default: TLS 1.2 and 1.3, AEAD
	// suites only), _modern (TLS 1.3 only) or _old.
	SSLCompatibilityLevel string `json:"ssl_compatibility_level,omitempty"`
	// HSTS, when set, adds Strict-Transport-Security to every response.
	HSTS *HSTS `json:"hsts,omitempty"`
	// ClientCA is a PEM bundle client certificates are verified against
	// (mTLS); ClientAuth is required (the default with a ClientCA) or
	// optional.
	ClientCA   string `json:"client_ca,omitempty"`
	ClientAuth string `json:"client_auth,omitempty"`
	// DisableHTTP2 offers only http/1.1 by ALPN.
	DisableHTTP2 bool `json:"disable_http2,omitempty"`
}

// HeaderRule sets, adds or removes one header field.
type HeaderRule struct {
	// Action is set (replace every field of that name), add (append one
	// more) or remove (delete every field of that name).
	Action string `json:"action"`
	Name   string `json:"name"`
	// Value is required for set and add, and must be empty for remove.
	Value string `json:"value,omitempty"`
}

// Header rule actions.
const (
	HeaderSet    = "set"
	HeaderAdd    = "add"
	HeaderRemove = "remove"
)

// Route sends matching requests (HTTP) or connections (TCP, by SNI) to a
// backend. All given conditions must match.
type Route struct {
	Name    string `json:"name,omitempty"`
	Backend string `json:"backend"`
	// HostHeader is an exact name or a wildcard "*.example.com" (HTTP).
	HostHeader string `json:"host_header,omitempty"`
	// SNI is an exact name or a wildcard, matched against the TLS ClientHello
	// of a TCP frontend without terminating TLS.
	SNI string `json:"sni,omitempty"`
	// MatchSubdomains makes an exact HostHeader or SNI match its subdomains too.
	MatchSubdomains bool `json:"match_subdomains,omitempty"`
	// PathBegin is a byte prefix of the request path (HTTP).
	PathBegin string        `json:"path_begin,omitempty"`
	Headers   []HeaderMatch `json:"headers,omitempty"`
	// Priority orders routes: higher first. See docs/routing.md for ties.
	Priority int `json:"priority,omitempty"`
}

// HeaderMatch requires a request header. An empty Value means "present".
type HeaderMatch struct {
	Name   string `json:"name"`
	Value  string `json:"value,omitempty"`
	Prefix bool   `json:"prefix,omitempty"`
}

// ACL is an access rule of a frontend, applied in ascending Index.
type ACL struct {
	Name   string    `json:"name"`
	Index  int       `json:"index"`
	Match  ACLMatch  `json:"match"`
	Action ACLAction `json:"action"`
}

// ACLMatch is what an ACL tests.
type ACLMatch struct {
	IPSubnet         []string `json:"ip_subnet,omitempty"`
	HTTPFilter       string   `json:"http_filter,omitempty"`
	HTTPFilterValue  []string `json:"http_filter_value,omitempty"`
	HTTPFilterOption string   `json:"http_filter_option,omitempty"`
	Invert           bool     `json:"invert,omitempty"`
}

// ACLAction is what an ACL does when it matches.
type ACLAction struct {
	Type     string       `json:"type"`
	Redirect *ACLRedirect `json:"redirect,omitempty"`
}

// ACLRedirect describes a redirect action.
type ACLRedirect struct {
	Type   string `json:"type"`
	Target string `json:"target"`
	Code   int    `json:"code,omitempty"`
}

// Backend is a set of servers and how traffic is spread and checked.
type Backend struct {
	Name            string   `json:"name"`
	ForwardProtocol Protocol `json:"forward_protocol,omitempty"`
	// ForwardPort is the port of servers that do not give their own.
	ForwardPort              int          `json:"forward_port,omitempty"`
	ForwardPortAlgorithm     string       `json:"forward_port_algorithm,omitempty"`
	StickySessions           string       `json:"sticky_sessions,omitempty"`
	StickySessionsCookieName string       `json:"sticky_sessions_cookie_name,omitempty"`
	HealthCheck              *HealthCheck `json:"health_check,omitempty"`
	Servers                  []Server     `json:"servers,omitempty"`
	SendProxyV2              bool         `json:"send_proxy_v2,omitempty"`
	TimeoutServer            Millis       `json:"timeout_server,omitempty"`
	TimeoutConnect           Millis       `json:"timeout_connect,omitempty"`
	TimeoutTunnel            Millis       `json:"timeout_tunnel,omitempty"`
	OnMarkedDownAction       string       `json:"on_marked_down_action,omitempty"`

	// HashHeader names the header whose value the "hdr" algorithm hashes.
	HashHeader string `json:"hash_header,omitempty"`
	// StickySessionsTTL is how long a sticky cookie or a table entry lasts
	// without use; 0 means a session cookie (cookie) or 30 minutes (table).
	StickySessionsTTL Millis `json:"sticky_sessions_ttl,omitempty"`
	// StickySessionsCookieSecure, ...HTTPOnly and ...SameSite shape the
	// sticky cookie: Secure off, HttpOnly on and SameSite=Lax by default.
	StickySessionsCookieSecure   bool   `json:"sticky_sessions_cookie_secure,omitempty"`
	StickySessionsCookieHTTPOnly *bool  `json:"sticky_sessions_cookie_httponly,omitempty"`
	StickySessionsCookieSameSite string `json:"sticky_sessions_cookie_samesite,omitempty"`
	// ProxyProtocol is the PROXY protocol header sent to servers:
	// proxy_protocol_none (default), _v1, _v2, _v2_ssl or _v2_ssl_cn.
	// SendProxyV2, Scaleway's older boolean, means proxy_protocol_v2.
	ProxyProtocol string `json:"proxy_protocol,omitempty"`
	// FailoverHost names another backend of the same load balancer that
	// takes the traffic while every server of this one is down.
	FailoverHost string `json:"failover_host,omitempty"`
	// MaxConnections caps the requests (HTTP) or connections (TCP) in
	// flight to each server; 0 means no limit. Requests over the cap wait in
	// a queue for up to TimeoutQueue, then get a 503.
	MaxConnections int    `json:"max_connections,omitempty"`
	TimeoutQueue   Millis `json:"timeout_queue,omitempty"`
	// MaxRetries is how many times a failed connection to a server is
	// retried (default 3); a request is sent again only when it is safe to
	// (an idempotent method whose request body is not consumed yet).
	MaxRetries *int `json:"max_retries,omitempty"`
	// RedispatchAttemptCount is how many of those retries go to another
	// server rather than the same one (default 1).
	RedispatchAttemptCount *int `json:"redispatch_attempt_count,omitempty"`
	// Host, when set, replaces the Host header of requests sent to this
	// backend's servers. HTTP only.
	Host string `json:"host,omitempty"`
	// PassiveHealthCheck takes a server out for a back-off time after
	// consecutive connection failures or 5xx answers; nil turns it off.
	PassiveHealthCheck *PassiveHealthCheck `json:"passive_health_check,omitempty"`
	// Docker, when set, makes Docker containers that match it servers of
	// this backend, besides Servers (see DockerSelector, docker.go).
	Docker *DockerSelector `json:"docker,omitempty"`
	// SSLBridging speaks TLS to the servers (HTTP only), with the SNI of
	// Host when set, else of the request's Host header; their certificate
	// is verified against the system roots unless IgnoreSSLServerVerify.
	SSLBridging           bool `json:"ssl_bridging,omitempty"`
	IgnoreSSLServerVerify bool `json:"ignore_ssl_server_verify,omitempty"`
	// H2 speaks HTTP/2 to the servers (h2c with prior knowledge, or h2 by
	// ALPN with SSLBridging): HTTP/2 requests, gRPC included, pass as
	// HTTP/2 streams with their trailers.
	H2 bool `json:"h2,omitempty"`
}

// PassiveHealthCheck ejects a server that keeps failing real traffic.
type PassiveHealthCheck struct {
	// ConsecutiveFailures is how many failed connections or 5xx answers in
	// a row eject the server (default 5).
	ConsecutiveFailures int `json:"consecutive_failures,omitempty"`
	// Backoff is how long the first ejection lasts (default 30 s); it doubles
	// on each ejection in a row, up to 10 times. With an active health check
	// the server comes back only once the check passes.
	Backoff Millis `json:"backoff,omitempty"`
}

// PROXY protocol versions sent to servers (Scaleway's enum).
const (
	ProxyNone    = "proxy_protocol_none"
	ProxyV1      = "proxy_protocol_v1"
	ProxyV2      = "proxy_protocol_v2"
	ProxyV2SSL   = "proxy_protocol_v2_ssl"
	ProxyV2SSLCN = "proxy_protocol_v2_ssl_cn"
)

// Server is one static backend server.
type Server struct {
	Name string `json:"name,omitempty"`
	// IP is an IPv4 or IPv6 address (no host names: gantry never resolves
	// names on the data path).
	IP string `json:"ip"`
	// Port overrides the backend's forward_port.
	Port int `json:"port,omitempty"`
	// Weight is 0..256 (default 1); 0 takes no new traffic.
	Weight *int `json:"weight,omitempty"`
	// Backup servers take traffic only while every other server is down.
	Backup bool `json:"backup,omitempty"`
}

// HealthCheck is an active check of every server of a backend. Exactly one of
// the *_config fields is set; none means tcp.
type HealthCheck struct {
	// Port to check; 0 means each server's own port.
	Port            int    `json:"port,omitempty"`
	CheckDelay      Millis `json:"check_delay,omitempty"`
	CheckTimeout    Millis `json:"check_timeout,omitempty"`
	CheckMaxRetries int    `json:"check_max_retries,omitempty"`
	// CheckRise is how many consecutive passes bring a down server back.
	CheckRise int `json:"check_rise,omitempty"`
	// TransientCheckDelay is the interval between checks while a server is
	// changing state (HAProxy's fastinter); 0 means CheckDelay.
	TransientCheckDelay Millis `json:"transient_check_delay,omitempty"`
	// CheckSendProxy sends a PROXY protocol v2 header before each check.
	CheckSendProxy bool        `json:"check_send_proxy,omitempty"`
	TCPConfig      *TCPCheck   `json:"tcp_config,omitempty"`
	HTTPConfig     *HTTPCheck  `json:"http_config,omitempty"`
	HTTPSConfig    *HTTPCheck  `json:"https_config,omitempty"`
	MySQLConfig    *UserCheck  `json:"mysql_config,omitempty"`
	PgSQLConfig    *UserCheck  `json:"pgsql_config,omitempty"`
	RedisConfig    *EmptyCheck `json:"redis_config,omitempty"`
	LDAPConfig     *EmptyCheck `json:"ldap_config,omitempty"`
}

// TCPCheck is a connect check, optionally sending Send and expecting the
// reply to start with Expect.
type TCPCheck struct {
	Send   string `json:"send,omitempty"`
	Expect string `json:"expect,omitempty"`
}

// EmptyCheck is a check kind with no settings (redis: PING/+PONG; ldap: an
// anonymous bind).
type EmptyCheck struct{}

// HTTPCheck sends a request and judges the status code.
type HTTPCheck struct {
	URI        string `json:"uri,omitempty"`
	Method     string `json:"method,omitempty"`
	Code       *int   `json:"code,omitempty"`
	HostHeader string `json:"host_header,omitempty"`
	// SNI is the server name sent in the TLS handshake (https only);
	// default the host_header.
	SNI string `json:"sni,omitempty"`
}

// UserCheck is a database check that logs in as User.
type UserCheck struct {
	User string `json:"user,omitempty"`
}

// Millis is a duration in milliseconds, as the Scaleway API writes them.
type Millis int64

// Duration converts m to a time.Duration.
func (m Millis) Duration() time.Duration { return time.Duration(m) * time.Millisecond }

// Enums of the Scaleway API that gantry accepts.
const (
	AlgoRoundRobin = "roundrobin"
	AlgoLeastConn  = "leastconn"
	AlgoFirst      = "first"
	AlgoRandom     = "random" // power of two random choices
	AlgoSource     = "source" // consistent hash of the client address
	AlgoURI        = "uri"    // consistent hash of the request path (without the query)
	AlgoHeader     = "hdr"    // consistent hash of the header hash_header

	StickyNone   = "none"
	StickyCookie = "cookie"
	StickyTable  = "table"

	MarkedDownNone     = "on_marked_down_action_none"
	MarkedDownShutdown = "shutdown_sessions"
)

// Defaults, in milliseconds unless said otherwise.
const (
	DefaultTimeoutClient      Millis = 60_000
	DefaultTimeoutHTTPRequest Millis = 10_000
	DefaultTimeoutServer      Millis = 60_000
	DefaultTimeoutConnect     Millis = 5_000
	DefaultTimeoutTunnel      Millis = 900_000
	DefaultCheckDelay         Millis = 2_000
	DefaultCheckTimeout       Millis = 1_000
	DefaultCheckMaxRetries           = 3
	DefaultCheckRise                 = 2
	DefaultMaxHeaderBytes            = 16 << 10
	DefaultMaxHeaders                = 100
	DefaultMaxRetries                = 3
	DefaultRedispatch                = 1
	DefaultTimeoutQueue       Millis = 5_000
	DefaultStickyTableTTL     Millis = 30 * 60_000
	DefaultPassiveFailures           = 5
	DefaultPassiveBackoff     Millis = 30_000
)

// WithDefaults returns a deep copy of c with every unset field set to its
// default. The copy is what snapshots are built from; c is not modified.
func (c *Config) WithDefaults() *Config {
	out := c.Clone()
	for i := range out.LBs {
		lb := &out.LBs[i]
		byName := make(map[string]*Backend, len(lb.Backends))
		for j := range lb.Backends {
			b := &lb.Backends[j]
			byName[b.Name] = b
			b.setDefaults()
		}
		for j := range lb.Frontends {
			f := &lb.Frontends[j]
			f.setDefaults(byName)
		}
	}
	return out
}

func (b *Backend) setDefaults() {
	if b.ForwardProtocol == "" {
		b.ForwardProtocol = ProtocolTCP
	}
	if b.ForwardPortAlgorithm == "" {
		b.ForwardPortAlgorithm = AlgoRoundRobin
	}
	if b.StickySessions == "" {
		b.StickySessions = StickyNone
	}
	if b.OnMarkedDownAction == "" {
		b.OnMarkedDownAction = MarkedDownNone
	}
	setMillis(&b.TimeoutServer, DefaultTimeoutServer)
	setMillis(&b.TimeoutConnect, DefaultTimeoutConnect)
	setMillis(&b.TimeoutTunnel, DefaultTimeoutTunnel)
	setMillis(&b.TimeoutQueue, DefaultTimeoutQueue)
	if b.ProxyProtocol == "" {
		b.ProxyProtocol = ProxyNone
		if b.SendProxyV2 {
			b.ProxyProtocol = ProxyV2
		}
	}
	if b.MaxRetries == nil {
		n := DefaultMaxRetries
		b.MaxRetries = &n
	}
	if b.RedispatchAttemptCount == nil {
		n := DefaultRedispatch
		b.RedispatchAttemptCount = &n
	}
	if b.StickySessions == StickyCookie {
		if b.StickySessionsCookieHTTPOnly == nil {
			t := true
			b.StickySessionsCookieHTTPOnly = &t
		}
		if b.StickySessionsCookieSameSite == "" {
			b.StickySessionsCookieSameSite = "lax"
		}
	}
	if b.StickySessions == StickyTable {
		setMillis(&b.StickySessionsTTL, DefaultStickyTableTTL)
	}
	if p := b.PassiveHealthCheck; p != nil {
		if p.ConsecutiveFailures == 0 {
			p.ConsecutiveFailures = DefaultPassiveFailures
		}
		setMillis(&p.Backoff, DefaultPassiveBackoff)
	}
	for k := range b.Servers {
		s := &b.Servers[k]
		if s.Port == 0 {
			s.Port = b.ForwardPort
		}
		if s.Weight == nil {
			one := 1
			s.Weight = &one
		}
	}
	if hc := b.HealthCheck; hc != nil {
		setMillis(&hc.CheckDelay, DefaultCheckDelay)
		setMillis(&hc.CheckTimeout, DefaultCheckTimeout)
		if hc.CheckMaxRetries == 0 {
			hc.CheckMaxRetries = DefaultCheckMaxRetries
		}
		if hc.CheckRise == 0 {
			hc.CheckRise = DefaultCheckRise
		}
		if hc.kinds() == 0 {
			hc.TCPConfig = &TCPCheck{}
		}
		for _, h := range []*HTTPCheck{hc.HTTPConfig, hc.HTTPSConfig} {
			if h == nil {
				continue
			}
			if h.Method == "" {
				h.Method = "GET"
			}
			if h.URI == "" {
				h.URI = "/"
			}
		}
	}
}

func (f *Frontend) setDefaults(backends map[string]*Backend) {
	derived := f.Protocol == ""
	if f.Protocol == "" {
		name := f.Backend
		if name == "" && f.Routes.Len() > 0 {
			name = f.Routes.At(0).Backend
		}
		if b := backends[name]; b != nil {
			f.Protocol = b.ForwardProtocol
		}
	}
	f.setTLSDefaults(derived)
	setMillis(&f.TimeoutClient, DefaultTimeoutClient)
	setMillis(&f.TimeoutHTTPRequest, DefaultTimeoutHTTPRequest)
	if f.MaxHeaderBytes == 0 {
		f.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if f.MaxHeaders == 0 {
		f.MaxHeaders = DefaultMaxHeaders
	}
	if f.XForwardedFor == nil {
		t := true
		f.XForwardedFor = &t
	}
}

func setMillis(m *Millis, def Millis) {
	if *m == 0 {
		*m = def
	}
}

// LB returns the load balancer named name, or nil.
func (c *Config) LB(name string) *LB {
	for i := range c.LBs {
		if c.LBs[i].Name == name {
			return &c.LBs[i]
		}
	}
	return nil
}

// IP returns the IP object of address addr, or nil. Addresses compare in
// their canonical form, so "::0:1" finds "::1".
func (c *Config) IP(addr string) *IP {
	want := CanonicalIP(addr)
	for i := range c.IPs {
		if CanonicalIP(c.IPs[i].Address) == want {
			return &c.IPs[i]
		}
	}
	return nil
}

// IPUsers returns the names of the LBs that bind address addr.
func (c *Config) IPUsers(addr string) []string {
	want := CanonicalIP(addr)
	var out []string
	for i := range c.LBs {
		for _, a := range c.LBs[i].IPs {
			if CanonicalIP(a) == want {
				out = append(out, c.LBs[i].Name)
				break
			}
		}
	}
	return out
}

// CanonicalIP returns the canonical text of an IP literal, or s itself
// when it is not one (so that invalid addresses still compare as text).
func CanonicalIP(s string) string {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.String()
	}
	return s
}

// Backend returns the backend named name, or nil.
func (lb *LB) Backend(name string) *Backend {
	for i := range lb.Backends {
		if lb.Backends[i].Name == name {
			return &lb.Backends[i]
		}
	}
	return nil
}
