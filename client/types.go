package client

import (
	"encoding/json"
	"time"
)

// This file holds the wire types of the native API: the request and
// response bodies exactly as gantry's server decodes and encodes them. The
// server uses these same types, so a field added here is a field of the API.

// Protocol is what a frontend speaks to clients or a backend to servers.
type Protocol string

// Protocols.
const (
	ProtocolTCP  Protocol = "tcp"
	ProtocolHTTP Protocol = "http"
	// ProtocolHTTPS is a frontend terminating TLS (HTTP/1.1 and h2 by ALPN).
	ProtocolHTTPS Protocol = "https"
)

// Millis is a duration in milliseconds, as the API writes timeouts and
// check intervals.
type Millis int64

// Duration converts m to a time.Duration.
func (m Millis) Duration() time.Duration { return time.Duration(m) * time.Millisecond }

// LBInput is the body of PUT /v1/lbs/{lb}.
type LBInput struct {
	// Name, if given, must equal the name in the path.
	Name        string   `json:"name,omitempty"`
	Description string   `json:"description,omitempty"`
	Tags        []string `json:"tags,omitempty"`
	// IPs are the addresses every frontend of the LB binds; empty means all.
	IPs []string `json:"ips,omitempty"`
	// Project is the project the LB belongs to. A project token's LBs are
	// always in its project (it may omit the field); an unscoped token
	// sets it or leaves the LB in no project.
	Project string `json:"project,omitempty"`
}

// LB is a load balancer as the API shows it. Tags and IPs are never nil.
type LB struct {
	Name          string    `json:"name"`
	Description   string    `json:"description"`
	Tags          []string  `json:"tags"`
	IPs           []string  `json:"ips"`
	Project       string    `json:"project,omitempty"`
	Status        string    `json:"status"`
	FrontendCount int       `json:"frontend_count"`
	BackendCount  int       `json:"backend_count"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// LBList is one page of GET /v1/lbs.
type LBList struct {
	LBs []LB `json:"lbs"`
	// TotalCount counts every match, not only this page.
	TotalCount int `json:"total_count"`
}

// IPInput is the body of PUT /v1/ips/{address}.
type IPInput struct {
	// Address, if given, must equal the address in the path.
	Address string   `json:"address,omitempty"`
	Reverse string   `json:"reverse,omitempty"`
	Tags    []string `json:"tags,omitempty"`
}

// IP is an address load balancers may bind, as the API shows it. Tags is
// never nil; LB is the load balancer that binds it, or nil.
type IP struct {
	Address   string    `json:"address"`
	Reverse   string    `json:"reverse"`
	Tags      []string  `json:"tags"`
	LB        *string   `json:"lb"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// IPList is one page of GET /v1/ips.
type IPList struct {
	IPs []IP `json:"ips"`
	// TotalCount counts every match, not only this page.
	TotalCount int `json:"total_count"`
}

// HeaderMatch requires a request header. An empty Value means "present".
type HeaderMatch struct {
	Name   string `json:"name"`
	Value  string `json:"value,omitempty"`
	Prefix bool   `json:"prefix,omitempty"`
}

// RouteMatch holds the conditions of a route (Scaleway's "match" object).
// All given conditions must match.
type RouteMatch struct {
	// HostHeader is an exact name or a wildcard "*.example.com" (HTTP).
	HostHeader string `json:"host_header,omitempty"`
	// SNI is an exact name or a wildcard, matched against the TLS
	// ClientHello of a TCP frontend.
	SNI string `json:"sni,omitempty"`
	// MatchSubdomains makes an exact HostHeader or SNI match its subdomains.
	MatchSubdomains bool `json:"match_subdomains,omitempty"`
	// PathBegin is a byte prefix of the request path (HTTP).
	PathBegin string        `json:"path_begin,omitempty"`
	Headers   []HeaderMatch `json:"headers,omitempty"`
}

// Route sends matching requests or connections to Backend. The server
// answers routes with their conditions under Match; on input, the same
// conditions may be given flat instead (not both).
type Route struct {
	Name     string      `json:"name,omitempty"`
	Backend  string      `json:"backend"`
	Match    *RouteMatch `json:"match,omitempty"`
	Priority int         `json:"priority,omitempty"`

	HostHeader      string        `json:"host_header,omitempty"`
	SNI             string        `json:"sni,omitempty"`
	MatchSubdomains bool          `json:"match_subdomains,omitempty"`
	PathBegin       string        `json:"path_begin,omitempty"`
	Headers         []HeaderMatch `json:"headers,omitempty"`

	// Rule is a Rancher port rule, "[host][:source_port][/path]=target_port",
	// a compact way to write host_header and path_begin in PUT
	// .../routes/{name}: source_port must be the frontend's inbound_port and
	// target_port a port of the backend (docs/api.md). Input only.
	Rule string `json:"rule,omitempty"`
}

// RouteInput is the body of PUT /v1/lbs/{lb}/frontends/{frontend}/routes/{name}:
// a route and, optionally, where it goes in the frontend's list.
type RouteInput struct {
	Route
	// Index is the 0-based position the route moves to (past the end:
	// last). Nil keeps an existing route where it is and appends a new one.
	Index *int `json:"index,omitempty"`
}

// IndexedRoute is a route of a frontend as the routes sub-resource shows
// it: conditions under Match, and its position in the frontend's list.
type IndexedRoute struct {
	Route
	Index int `json:"index"`
}

// RouteList is the answer of GET /v1/lbs/{lb}/frontends/{frontend}/routes:
// every route of the frontend, in order, named or not.
type RouteList struct {
	Routes     []IndexedRoute `json:"routes"`
	TotalCount int            `json:"total_count"`
}

// ACL is an access rule of a frontend (Scaleway's shape), applied in
// ascending Index; ties go by name. It is also the body of
// PUT /v1/lbs/{lb}/frontends/{frontend}/acls/{name}, where Name may be left
// empty (it comes from the path) or must equal the path's.
type ACL struct {
	Name   string    `json:"name"`
	Index  int       `json:"index"`
	Match  ACLMatch  `json:"match"`
	Action ACLAction `json:"action"`
}

// ACLMatch is what an ACL tests. Every given condition must hold; Invert
// negates the whole match. An empty match matches everything.
type ACLMatch struct {
	// IPSubnet lists CIDRs (or bare addresses) of the client; any may match.
	IPSubnet []string `json:"ip_subnet,omitempty"`
	// HTTPFilter is acl_http_filter_none (or empty), path_begin, path_end,
	// regex or http_header_match (HTTP frontends only).
	HTTPFilter string `json:"http_filter,omitempty"`
	// HTTPFilterValue lists the values compared; any may match.
	HTTPFilterValue []string `json:"http_filter_value,omitempty"`
	// HTTPFilterOption is the header name of http_header_match.
	HTTPFilterOption string `json:"http_filter_option,omitempty"`
	Invert           bool   `json:"invert,omitempty"`
}

// ACLAction is what an ACL does when it matches: allow, deny (403) or
// redirect (HTTP frontends only).
type ACLAction struct {
	Type     string       `json:"type"`
	Redirect *ACLRedirect `json:"redirect,omitempty"`
}

// ACLRedirect describes a redirect action: Type location (Target is the
// URL) or scheme (Target is http or https); Code is 301, 302 (the default),
// 303, 307 or 308.
type ACLRedirect struct {
	Type   string `json:"type"`
	Target string `json:"target"`
	Code   int    `json:"code,omitempty"`
}

// ACL action, filter and redirect types (Scaleway's names).
const (
	ActionAllow    = "allow"
	ActionDeny     = "deny"
	ActionRedirect = "redirect"

	FilterNone        = "acl_http_filter_none"
	FilterPathBegin   = "path_begin"
	FilterPathEnd     = "path_end"
	FilterRegex       = "regex"
	FilterHeaderMatch = "http_header_match"

	RedirectLocation = "location"
	RedirectScheme   = "scheme"
)

// ACLList is one page of GET /v1/lbs/{lb}/frontends/{frontend}/acls, in
// ascending index, then name.
type ACLList struct {
	ACLs []ACL `json:"acls"`
	// TotalCount counts every match, not only this page.
	TotalCount int `json:"total_count"`
}

// HeaderRule sets, adds or removes one header field of requests or
// responses: Action set (replace every field of that name), add (append
// one more) or remove (delete every field of that name; no Value).
type HeaderRule struct {
	Action string `json:"action"`
	Name   string `json:"name"`
	Value  string `json:"value,omitempty"`
}

// Header rule actions.
const (
	HeaderSet    = "set"
	HeaderAdd    = "add"
	HeaderRemove = "remove"
)

// FrontendInput is the body of PUT /v1/lbs/{lb}/frontends/{name}.
type FrontendInput struct {
	// Name, if given, must equal the name in the path.
	Name        string   `json:"name,omitempty"`
	InboundPort int      `json:"inbound_port"`
	Protocol    Protocol `json:"protocol,omitempty"`
	// Backend is the default backend, for requests no route matches.
	Backend string `json:"backend,omitempty"`
	// BackendID is Scaleway's name for Backend; give one of them.
	BackendID          string `json:"backend_id,omitempty"`
	TimeoutClient      Millis `json:"timeout_client,omitempty"`
	TimeoutHTTPRequest Millis `json:"timeout_http_request,omitempty"`
	MaxHeaderBytes     int    `json:"max_header_bytes,omitempty"`
	MaxHeaders         int    `json:"max_headers,omitempty"`
	// XForwardedFor adds X-Forwarded-For/-Proto/-Host (nil: the default, true).
	XForwardedFor *bool    `json:"x_forwarded_for,omitempty"`
	Forwarded     bool     `json:"forwarded,omitempty"`
	Routes        []Route  `json:"routes,omitempty"`
	ACLs          []ACL    `json:"acls,omitempty"`
	Certificates  []string `json:"certificates,omitempty"`
	// CertificateID is Scaleway's single certificate, added to Certificates.
	CertificateID string `json:"certificate_id,omitempty"`
	// ConnectionRateLimit caps new connections per second on the frontend
	// (0: no limit); connections over it are closed at once.
	ConnectionRateLimit int `json:"connection_rate_limit,omitempty"`
	// AcceptProxyFrom lists the CIDRs trusted to send a PROXY protocol
	// header (v1 or v2); when set, every connection must come from one of
	// them and start with a valid header.
	AcceptProxyFrom []string `json:"accept_proxy_from,omitempty"`
	// RequestHeaders and ResponseHeaders edit headers in order (HTTP only).
	RequestHeaders  []HeaderRule `json:"request_headers,omitempty"`
	ResponseHeaders []HeaderRule `json:"response_headers,omitempty"`
	// FrontendTLS holds the TLS settings (see certificates.go).
	FrontendTLS
}

// Frontend is a frontend as the API shows it. Routes is never nil and every
// route has its conditions under Match.
type Frontend struct {
	Name               string   `json:"name"`
	InboundPort        int      `json:"inbound_port"`
	Protocol           Protocol `json:"protocol,omitempty"`
	Backend            string   `json:"backend,omitempty"`
	TimeoutClient      Millis   `json:"timeout_client,omitempty"`
	TimeoutHTTPRequest Millis   `json:"timeout_http_request,omitempty"`
	MaxHeaderBytes     int      `json:"max_header_bytes,omitempty"`
	MaxHeaders         int      `json:"max_headers,omitempty"`
	XForwardedFor      *bool    `json:"x_forwarded_for,omitempty"`
	Forwarded          bool     `json:"forwarded,omitempty"`
	Routes             []Route  `json:"routes"`
	ACLs               []ACL    `json:"acls,omitempty"`
	Certificates       []string `json:"certificates,omitempty"`
	// ConnectionRateLimit, AcceptProxyFrom, RequestHeaders and
	// ResponseHeaders are as in FrontendInput.
	ConnectionRateLimit int          `json:"connection_rate_limit,omitempty"`
	AcceptProxyFrom     []string     `json:"accept_proxy_from,omitempty"`
	RequestHeaders      []HeaderRule `json:"request_headers,omitempty"`
	ResponseHeaders     []HeaderRule `json:"response_headers,omitempty"`
	CreatedAt           time.Time    `json:"created_at"`
	UpdatedAt           time.Time    `json:"updated_at"`
	// FrontendTLS holds the TLS settings (see certificates.go).
	FrontendTLS
}

// FrontendList is one page of GET /v1/lbs/{lb}/frontends.
type FrontendList struct {
	Frontends  []Frontend `json:"frontends"`
	TotalCount int        `json:"total_count"`
}

// BackendInput is the body of PUT /v1/lbs/{lb}/backends/{name}. It takes
// three vocabularies that map to one model: OpenScaler's (Mode,
// BalancingMethod, Port, Servers as an object, Options), Scaleway's
// (ForwardProtocol, ForwardPort, Pool, ...) and gantry's own (Servers as a
// list). Giving one setting in two of them with different values is a 400.
type BackendInput struct {
	// Name, if given, must equal the name in the path.
	Name string `json:"name,omitempty"`

	Mode            Protocol `json:"mode,omitempty"`
	BalancingMethod string   `json:"balancing_method,omitempty"`
	// Port is a number or a numeric string; kept raw because the server
	// accepts both. Go callers usually set ForwardPort instead.
	Port json.RawMessage `json:"port,omitempty"`
	// Servers is a list of Server or an object {"type": "ip", "addresses":
	// [...]}; kept raw because the server accepts both. Build it with
	// ServerList or IPAddresses.
	Servers json.RawMessage `json:"servers,omitempty"`
	Options *BackendOptions `json:"options,omitempty"`

	ForwardProtocol          Protocol     `json:"forward_protocol,omitempty"`
	ForwardPort              int          `json:"forward_port,omitempty"`
	ForwardPortAlgorithm     string       `json:"forward_port_algorithm,omitempty"`
	StickySessions           string       `json:"sticky_sessions,omitempty"`
	StickySessionsCookieName string       `json:"sticky_sessions_cookie_name,omitempty"`
	HealthCheck              *HealthCheck `json:"health_check,omitempty"`
	// Pool is Scaleway's list of server IPs.
	Pool []string `json:"pool,omitempty"`
	// ServerIP is Scaleway's list of server IPs in its create body.
	ServerIP           []string `json:"server_ip,omitempty"`
	SendProxyV2        bool     `json:"send_proxy_v2,omitempty"`
	TimeoutServer      Millis   `json:"timeout_server,omitempty"`
	TimeoutConnect     Millis   `json:"timeout_connect,omitempty"`
	TimeoutTunnel      Millis   `json:"timeout_tunnel,omitempty"`
	OnMarkedDownAction string   `json:"on_marked_down_action,omitempty"`

	// HashHeader names the header hashed by forward_port_algorithm hdr.
	HashHeader string `json:"hash_header,omitempty"`
	// StickySessionsTTL is how long a sticky cookie or table entry lasts
	// without use (0: a session cookie, or 30 minutes for a table).
	StickySessionsTTL Millis `json:"sticky_sessions_ttl,omitempty"`
	// StickySessionsCookieSecure, ...HTTPOnly (nil: true) and ...SameSite
	// (lax, strict or none; default lax) shape the sticky cookie.
	StickySessionsCookieSecure   bool   `json:"sticky_sessions_cookie_secure,omitempty"`
	StickySessionsCookieHTTPOnly *bool  `json:"sticky_sessions_cookie_httponly,omitempty"`
	StickySessionsCookieSameSite string `json:"sticky_sessions_cookie_samesite,omitempty"`
	// ProxyProtocol is the PROXY protocol header sent to servers, one of
	// the Proxy* constants (default proxy_protocol_none).
	ProxyProtocol string `json:"proxy_protocol,omitempty"`
	// FailoverHost names a backend of the same LB that takes the traffic
	// while every server of this one is down.
	FailoverHost string `json:"failover_host,omitempty"`
	// MaxConnections caps what is in flight to each server (0: no limit);
	// the rest waits up to TimeoutQueue (default 5 s), then gets a 503.
	MaxConnections int    `json:"max_connections,omitempty"`
	TimeoutQueue   Millis `json:"timeout_queue,omitempty"`
	// MaxRetries (nil: 3) retries a failed connection; a request is sent
	// again only when that is safe. RedispatchAttemptCount (nil: 1) of
	// those retries go to another server.
	MaxRetries             *int `json:"max_retries,omitempty"`
	RedispatchAttemptCount *int `json:"redispatch_attempt_count,omitempty"`
	// Host replaces the Host header of requests to the servers (HTTP only).
	Host string `json:"host,omitempty"`
	// PassiveHealthCheck ejects a server after consecutive failures of
	// real traffic; nil turns it off.
	PassiveHealthCheck *PassiveHealthCheck `json:"passive_health_check,omitempty"`
	// BackendTLS holds the TLS settings toward servers.
	BackendTLS
	// Docker makes containers servers of the backend (the model's name
	// of a servers object of type "docker"; give one of the two).
	Docker *DockerSelector `json:"docker,omitempty"`
}

// ServerList returns the "servers" value of a BackendInput for a list of
// servers. It panics only if a Server cannot be marshalled, which it always can.
func ServerList(servers ...Server) json.RawMessage {
	if servers == nil {
		servers = []Server{}
	}
	return mustJSON(servers)
}

// IPAddresses returns seed 004's "servers" value {"type": "ip",
// "addresses": [...]}, whose servers use the backend's port.
func IPAddresses(addrs ...string) json.RawMessage {
	return mustJSON(ServersObject{Type: "ip", Addresses: addrs})
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic("client: marshalling " + err.Error())
	}
	return b
}

// BackendOptions is seed 004's "options" object of a backend.
type BackendOptions struct {
	// TLS speaks TLS to the servers (the backend's ssl_bridging);
	// TLSVerify verifies their certificate (without it,
	// ignore_ssl_server_verify).
	TLS       bool `json:"tls,omitempty"`
	TLSVerify bool `json:"tls_verify,omitempty"`
	// ForwardFor may only be true: X-Forwarded-For is a frontend setting.
	ForwardFor *bool `json:"forward_for,omitempty"`
	// ProxyProtocol is none, v1, v2, v2_ssl or v2_ssl_cn (or the full
	// Scaleway name, proxy_protocol_v2...): the backend's proxy_protocol.
	ProxyProtocol string             `json:"proxy_protocol,omitempty"`
	StickySession *StickySession     `json:"sticky_session,omitempty"`
	HealthCheck   *HealthCheckOption `json:"health_check,omitempty"`
}

// StickySession is seed 004's sticky_session option: the backend's
// sticky_sessions (Type: none, cookie or table), sticky_sessions_cookie_name
// (Cookie) and sticky_sessions_ttl (TTL).
type StickySession struct {
	Type   string `json:"type"`
	Cookie string `json:"cookie,omitempty"`
	// TTL is a Go duration string ("5m", "1h30m") or a number of
	// milliseconds; kept raw because the server accepts both. Build it
	// with TTL.
	TTL json.RawMessage `json:"ttl,omitempty"`
}

// TTL returns the "ttl" value of a StickySession for d, as a duration
// string in whole milliseconds.
func TTL(d time.Duration) json.RawMessage {
	return mustJSON(d.Truncate(time.Millisecond).String())
}

// HealthCheckOption is seed 004's health_check option. Type is tcp, http,
// https, mysql, pgsql, redis or ldap; Path, Method, ExpectedCode and
// HostHeader are for http and https, SNI for https, User for mysql and
// pgsql.
type HealthCheckOption struct {
	Type         string `json:"type"`
	Path         string `json:"path,omitempty"`
	Method       string `json:"method,omitempty"`
	Port         int    `json:"port,omitempty"`
	ExpectedCode string `json:"expected_code,omitempty"`
	HostHeader   string `json:"host_header,omitempty"`
	SNI          string `json:"sni,omitempty"`
	User         string `json:"user,omitempty"`
}

// ServersObject is seed 004's "servers": {"type": "ip", "addresses": [...]}.
type ServersObject struct {
	Type        string   `json:"type"`
	Addresses   []string `json:"addresses,omitempty"`
	ComputerIDs []string `json:"computer_ids,omitempty"`
	// Selector, Project, Service, Port and Network are those of type
	// "docker" (see DockerSelector and DockerServers).
	Selector *LabelSelector `json:"selector,omitempty"`
	Project  string         `json:"project,omitempty"`
	Service  string         `json:"service,omitempty"`
	Port     int            `json:"port,omitempty"`
	Network  string         `json:"network,omitempty"`
}

// Server is one static backend server.
type Server struct {
	Name string `json:"name,omitempty"`
	// IP is an IPv4 or IPv6 address; host names are not resolved.
	IP string `json:"ip"`
	// Port overrides the backend's forward_port.
	Port int `json:"port,omitempty"`
	// Weight is 0..256 (nil: 1); 0 takes no new traffic.
	Weight *int `json:"weight,omitempty"`
	// Backup servers take traffic only while every other server is down.
	Backup bool `json:"backup,omitempty"`
}

// HealthCheck is an active check of every server of a backend, in
// Scaleway's shape. At most one of the *Config fields is set; none means tcp.
type HealthCheck struct {
	// Port to check; 0 means each server's own port.
	Port            int    `json:"port,omitempty"`
	CheckDelay      Millis `json:"check_delay,omitempty"`
	CheckTimeout    Millis `json:"check_timeout,omitempty"`
	CheckMaxRetries int    `json:"check_max_retries,omitempty"`
	// CheckRise is how many consecutive passes bring a down server back.
	CheckRise int `json:"check_rise,omitempty"`
	// TransientCheckDelay is the interval between checks while a server
	// is changing state (0: CheckDelay).
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

// EmptyCheck is a check kind without settings: redis (PING, expect
// +PONG) and ldap (an anonymous bind). It is written {}.
type EmptyCheck struct{}

// HTTPCheck sends a request and judges the status code (http_config and
// https_config).
type HTTPCheck struct {
	URI        string `json:"uri,omitempty"`
	Method     string `json:"method,omitempty"`
	Code       *int   `json:"code,omitempty"`
	HostHeader string `json:"host_header,omitempty"`
	// SNI is the server name of the TLS handshake (https only; default
	// HostHeader).
	SNI string `json:"sni,omitempty"`
}

// PassiveHealthCheck ejects a server that keeps failing real traffic.
type PassiveHealthCheck struct {
	// ConsecutiveFailures is how many failed connections or 5xx answers in
	// a row eject a server (0: 5).
	ConsecutiveFailures int `json:"consecutive_failures,omitempty"`
	// Backoff is how long the first ejection lasts (0: 30 s); it doubles
	// with each ejection in a row.
	Backoff Millis `json:"backoff,omitempty"`
}

// Enums of backends (Scaleway's names).
const (
	AlgoRoundRobin = "roundrobin"
	AlgoLeastConn  = "leastconn"
	AlgoFirst      = "first"
	AlgoRandom     = "random"
	AlgoSource     = "source"
	AlgoURI        = "uri"
	AlgoHeader     = "hdr"

	StickyNone   = "none"
	StickyCookie = "cookie"
	StickyTable  = "table"

	ProxyNone    = "proxy_protocol_none"
	ProxyV1      = "proxy_protocol_v1"
	ProxyV2      = "proxy_protocol_v2"
	ProxyV2SSL   = "proxy_protocol_v2_ssl"
	ProxyV2SSLCN = "proxy_protocol_v2_ssl_cn"
)

// UserCheck is a database check that logs in as User.
type UserCheck struct {
	User string `json:"user,omitempty"`
}

// Backend is a backend as the API shows it: the model's fields, with
// Scaleway's names, whichever vocabulary it was written in.
type Backend struct {
	Name                     string       `json:"name"`
	ForwardProtocol          Protocol     `json:"forward_protocol,omitempty"`
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
	// The fields below are as in BackendInput.
	// HashHeader names the header hashed by forward_port_algorithm hdr.
	HashHeader string `json:"hash_header,omitempty"`
	// StickySessionsTTL is how long a sticky cookie or table entry lasts
	// without use (0: a session cookie, or 30 minutes for a table).
	StickySessionsTTL Millis `json:"sticky_sessions_ttl,omitempty"`
	// StickySessionsCookieSecure, ...HTTPOnly (nil: true) and ...SameSite
	// (lax, strict or none; default lax) shape the sticky cookie.
	StickySessionsCookieSecure   bool   `json:"sticky_sessions_cookie_secure,omitempty"`
	StickySessionsCookieHTTPOnly *bool  `json:"sticky_sessions_cookie_httponly,omitempty"`
	StickySessionsCookieSameSite string `json:"sticky_sessions_cookie_samesite,omitempty"`
	// ProxyProtocol is the PROXY protocol header sent to servers, one of
	// the Proxy* constants (default proxy_protocol_none).
	ProxyProtocol string `json:"proxy_protocol,omitempty"`
	// FailoverHost names a backend of the same LB that takes the traffic
	// while every server of this one is down.
	FailoverHost string `json:"failover_host,omitempty"`
	// MaxConnections caps what is in flight to each server (0: no limit);
	// the rest waits up to TimeoutQueue (default 5 s), then gets a 503.
	MaxConnections int    `json:"max_connections,omitempty"`
	TimeoutQueue   Millis `json:"timeout_queue,omitempty"`
	// MaxRetries (nil: 3) retries a failed connection; a request is sent
	// again only when that is safe. RedispatchAttemptCount (nil: 1) of
	// those retries go to another server.
	MaxRetries             *int `json:"max_retries,omitempty"`
	RedispatchAttemptCount *int `json:"redispatch_attempt_count,omitempty"`
	// Host replaces the Host header of requests to the servers (HTTP only).
	Host string `json:"host,omitempty"`
	// PassiveHealthCheck ejects a server after consecutive failures of
	// real traffic; nil turns it off.
	PassiveHealthCheck *PassiveHealthCheck `json:"passive_health_check,omitempty"`
	// Docker makes containers servers of the backend; ResolvedServers
	// are the containers it resolves to now (read-only).
	Docker          *DockerSelector  `json:"docker,omitempty"`
	ResolvedServers []ResolvedServer `json:"resolved_servers,omitzero"`
	BackendTLS
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// BackendList is one page of GET /v1/lbs/{lb}/backends.
type BackendList struct {
	Backends   []Backend `json:"backends"`
	TotalCount int       `json:"total_count"`
}

// ChangeKind says what a change did to an object.
type ChangeKind string

// Change kinds.
const (
	Created ChangeKind = "created"
	Updated ChangeKind = "updated"
	Deleted ChangeKind = "deleted"
)

// Change is what a write does, or did, to one object of the config. Path
// names the object ("lbs/web/backends/api"); Before and After are its JSON
// in the config model (see docs/config.md), absent when it did not exist.
type Change struct {
	Path   string          `json:"path"`
	Kind   ChangeKind      `json:"kind"`
	Before json.RawMessage `json:"before,omitempty"`
	After  json.RawMessage `json:"after,omitempty"`
}

// Result is what a write did. For a stored write, Revision is the new
// revision; for a dry run or a write staged in a transaction, it is the
// revision the write is based on, and Changes is the diff it would make.
type Result struct {
	Revision uint64   `json:"revision"`
	Changes  []Change `json:"changes"`
	Staged   bool     `json:"staged,omitempty"`
	DryRun   bool     `json:"dry_run,omitempty"`
	// ApplyError, with WaitApplied, says why the stored revision is not
	// applied (see NotAppliedError).
	ApplyError string `json:"apply_error,omitempty"`
}

// HistoryEntry is one revision of the desired state.
type HistoryEntry struct {
	Revision uint64    `json:"revision"`
	Author   string    `json:"author"`
	Message  string    `json:"message,omitempty"`
	Time     time.Time `json:"time"`
	Changes  []Change  `json:"changes"`
}

// History is the answer of GET /v1/history, newest first.
type History struct {
	Revisions []HistoryEntry `json:"revisions"`
}

// Transaction is an open transaction: writes staged on base revision
// Version, committed together as one revision or not at all.
type Transaction struct {
	ID      string `json:"id"`
	Version uint64 `json:"version"`
	// Changes counts the writes staged so far.
	Changes int       `json:"changes"`
	Expires time.Time `json:"expires"`
	Author  string    `json:"author,omitempty"`
}

// Status is the answer of GET /v1/status.
type Status struct {
	// StoredRevision is the newest revision of the desired state.
	StoredRevision uint64 `json:"stored_revision"`
	// AppliedRevision is the revision traffic uses now.
	AppliedRevision uint64 `json:"applied_revision"`
	// ApplyError says why the newest revision is not applied, if so.
	ApplyError string `json:"apply_error,omitempty"`
	// Listeners are the addresses the data plane listens on.
	Listeners []string `json:"listeners"`
	// Discovery is the state of service discovery, when it is on.
	Discovery *DiscoveryStatus `json:"discovery,omitempty"`
}

// FieldError is one wrong field of a request: Field is a path in the
// request body ("servers.type") for a 400, or in the config
// ("lbs[web].frontends[main].routes[0].host_header") for a 422.
type FieldError struct {
	Field  string `json:"field"`
	Detail string `json:"detail"`
}

// Problem is an RFC 9457 problem document (application/problem+json), the
// body of every error the API answers.
type Problem struct {
	Type     string       `json:"type"`
	Title    string       `json:"title"`
	Status   int          `json:"status"`
	Detail   string       `json:"detail,omitempty"`
	Instance string       `json:"instance,omitempty"`
	Errors   []FieldError `json:"errors,omitempty"`
}

// ServerStats is the live state of one server of a backend, as the data
// plane sees it now (Scaleway's backend server stats, with gantry's
// traffic counters).
type ServerStats struct {
	Backend string `json:"backend"`
	// Server is the server's ip:port.
	Server string `json:"server"`
	// ServerState is running (takes traffic), stopped (failed its health
	// checks) or starting (not yet passed its first check).
	ServerState          string    `json:"server_state"`
	ServerStateChangedAt time.Time `json:"server_state_changed_at"`
	// LastHealthCheckStatus is passed, failed or unknown (no check ran).
	LastHealthCheckStatus string `json:"last_health_check_status"`
	// LastHealthCheckReason says why the last check failed, or what it saw.
	LastHealthCheckReason string `json:"last_health_check_reason,omitempty"`
	// ActiveConnections counts requests (HTTP) or connections (TCP) in
	// progress.
	ActiveConnections int64  `json:"active_connections"`
	TotalConnections  uint64 `json:"total_connections"`
	TotalRequests     uint64 `json:"total_requests"`
	ConnectFailures   uint64 `json:"connect_failures"`
	// Responses counts responses by class: "1xx".."5xx", and "none" for
	// requests that ended without one.
	Responses map[string]uint64 `json:"responses"`
	BytesIn   uint64            `json:"bytes_in"`
	BytesOut  uint64            `json:"bytes_out"`
}

// StatsList is the answer of GET /v1/lbs/{lb}/stats.
type StatsList struct {
	BackendServersStats []ServerStats `json:"backend_servers_stats"`
	TotalCount          int           `json:"total_count"`
}
