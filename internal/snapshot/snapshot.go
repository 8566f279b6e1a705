// Package snapshot compiles a config into the immutable runtime view that the
// data plane reads, and holds the current one behind an atomic pointer.
//
// A Snapshot is never modified after Build returns: readers load it once per
// request or connection and keep it, without locks. The only mutable things
// it points at are live state (upstream.Endpoint) and balancer counters, both
// atomics that survive swaps.
package snapshot

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gantry-lb/gantry/internal/balance"
	"github.com/gantry-lb/gantry/internal/config"
	"github.com/gantry-lb/gantry/internal/health"
	"github.com/gantry-lb/gantry/internal/route"
	"github.com/gantry-lb/gantry/internal/upstream"
)

// Snapshot is one compiled revision of the config. Immutable; safe for
// concurrent use.
type Snapshot struct {
	Revision  uint64
	frontends map[string]*Frontend // by listen address
	backends  []*Backend
	health    []health.Target
	keys      map[upstream.Key]bool
	feKeys    map[string]bool
	sticky    map[string]bool
}

// Frontend is the compiled form of a config.Frontend bound to one address.
type Frontend struct {
	LB, Name string
	Addr     string // listen address, "ip:port" or ":port" for all addresses
	Protocol config.Protocol

	routes  *route.Table[*Backend] // nil without routes
	Default *Backend               // nil when only routes may match

	TimeoutClient      time.Duration
	TimeoutHTTPRequest time.Duration
	MaxHeaderBytes     int
	MaxHeaders         int
	XForwardedFor      bool
	Forwarded          bool

	// RequestHeaders and ResponseHeaders edit forwarded requests and
	// returned responses, in order.
	RequestHeaders, ResponseHeaders []HeaderRule

	// ACLs decide, before routing, whether a request or connection is
	// allowed, denied or redirected; nil when the frontend has none.
	ACLs *route.ACLs

	// AcceptProxy lists the senders trusted to start connections with a
	// PROXY protocol header; when non-empty, every connection must come
	// from one of them and carry one.
	AcceptProxy []netip.Prefix

	// Traffic counts this frontend's requests; live state that survives
	// swaps. Never nil.
	Traffic *upstream.Traffic
	// RateLimit caps new connections per second (live state, nil when
	// unlimited).
	RateLimit *upstream.RateLimiter

	// TLS terminates TLS on an https frontend; nil on every other. The
	// data plane sets it (and the two fields below) before publishing:
	// its certificates are looked up per handshake, so they change
	// without a new snapshot.
	TLS *tls.Config
	// HTTPSRedirect is the status (301-308) an http frontend redirects
	// every request to https with, naming HTTPSPort (0: the default port);
	// 0 for none.
	HTTPSRedirect, HTTPSPort int
}

// Backend is the compiled form of a config.Backend.
type Backend struct {
	LB, Name  string
	Protocol  config.Protocol
	Endpoints []*upstream.Endpoint
	// Group picks servers (weights, backups, the algorithm). Never nil.
	Group *balance.Group
	// HashHeader is the header the hdr algorithm hashes.
	HashHeader string
	// Cookies, when set, pins clients to servers by cookie; Sticky, when
	// set, by source address (a live table shared across snapshots).
	Cookies *balance.Cookies
	Sticky  *balance.StickyView

	TimeoutServer  time.Duration
	TimeoutConnect time.Duration
	TimeoutTunnel  time.Duration

	// Proxy is the PROXY protocol header sent to servers (ProxyNone: none).
	Proxy ProxyVersion
	// MaxConnections caps what is in flight per server (0: no cap); over
	// it, requests wait in Queue for up to TimeoutQueue.
	MaxConnections int
	TimeoutQueue   time.Duration
	// Queue is live state shared by every snapshot naming this backend.
	// Never nil.
	Queue *upstream.Queue
	// MaxRetries and Redispatch: see config.Backend.
	MaxRetries, Redispatch int
	// Failover takes the traffic while no server of this backend is
	// available (failover_host); nil when none.
	Failover *Backend
	// Host, when set, replaces the Host header sent to servers.
	Host []byte
	// ShutdownSessions closes the sessions of a server that goes down.
	ShutdownSessions bool
	// TLS, when set (ssl_bridging), is the client config of TLS to the
	// servers; the proxy sets ServerName per connection.
	TLS *tls.Config
	// H2 forwards HTTP/2 streams to the servers over HTTP/2 (h2c, or h2
	// by ALPN with TLS).
	H2 bool
}

// HeaderRule is a compiled config.HeaderRule.
type HeaderRule struct {
	// Action is HeaderSet, HeaderAdd or HeaderRemove.
	Action HeaderAction
	Name   string // as configured; compared case-insensitively
	Value  []byte
}

// HeaderAction is what a HeaderRule does.
type HeaderAction uint8

// Header rule actions.
const (
	HeaderSet HeaderAction = iota
	HeaderAdd
	HeaderRemove
)

// ProxyVersion is the PROXY protocol header a backend sends.
type ProxyVersion uint8

// PROXY protocol versions.
const (
	ProxyNone    ProxyVersion = iota
	ProxyV1                   // text
	ProxyV2                   // binary
	ProxyV2SSL                // binary with the client's TLS details
	ProxyV2SSLCN              // and its certificate's common name
)

// Route returns the backend for a request: the best matching route, else the
// default backend; nil when neither exists. h may be nil. On the hot path:
// no allocation.
func (f *Frontend) Route(host, path []byte, h route.Headers) *Backend {
	if f.routes != nil {
		if b, ok := f.routes.Match(host, path, h); ok {
			return b
		}
	}
	return f.Default
}

// TrustsProxy reports whether a connection from a may send a PROXY header.
func (f *Frontend) TrustsProxy(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range f.AcceptProxy {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// HasRoutes reports whether the frontend routes by host, path, header or SNI.
func (f *Frontend) HasRoutes() bool { return f.routes != nil }

// Frontend returns the frontend listening on addr, or nil. On the hot path.
func (s *Snapshot) Frontend(addr string) *Frontend { return s.frontends[addr] }

// Addrs returns every listen address, sorted.
func (s *Snapshot) Addrs() []string {
	out := make([]string, 0, len(s.frontends))
	for a := range s.frontends {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

// Backends returns every backend in config order.
func (s *Snapshot) Backends() []*Backend { return s.backends }

// HealthTargets returns the active health checks this snapshot asks for.
func (s *Snapshot) HealthTargets() []health.Target { return s.health }

// FrontendKeys returns the "lb/frontend" name of every frontend.
func (s *Snapshot) FrontendKeys() map[string]bool { return s.feKeys }

// Frontends returns every frontend, one per listen address, sorted by address.
func (s *Snapshot) Frontends() []*Frontend {
	out := make([]*Frontend, 0, len(s.frontends))
	for _, a := range s.Addrs() {
		out = append(out, s.frontends[a])
	}
	return out
}

// StickyKeys returns the "lb/backend" name of every backend with a sticky
// table, for balance.Tables.Retain.
func (s *Snapshot) StickyKeys() map[string]bool { return s.sticky }

// EndpointKeys returns the identity of every endpoint the snapshot uses.
func (s *Snapshot) EndpointKeys() map[upstream.Key]bool { return s.keys }

// Live is the state that outlives snapshots and that Build hands to them:
// endpoints (with health, counters and pools), sticky tables and the
// secret of sticky cookies.
type Live struct {
	Registry *upstream.Registry
	// Tables holds the sticky tables; nil gives every build fresh ones
	// (dry runs).
	Tables *balance.Tables
	// CookieSecret keys sticky cookie values (at least 16 bytes); nil gives
	// a fixed one, fine for dry runs only.
	CookieSecret []byte
	// Starting, when set, says which new endpoints start in
	// upstream.StateStarting instead of StateUp when their backend has a
	// health check, so that they take no traffic before their first check
	// passes (discovered containers). Endpoints that exist keep their state.
	Starting func(upstream.Key) bool
}

// dryRunSecret keys the cookies of builds that never serve.
var dryRunSecret = make([]byte, 32)

// Build validates cfg and compiles it. Endpoints come from reg, so their live
// state is shared with earlier snapshots. A rejected config returns the
// validation error and publishes nothing.
func Build(cfg *config.Config, reg *upstream.Registry, revision uint64) (*Snapshot, error) {
	return BuildLive(cfg, Live{Registry: reg}, revision)
}

// BuildLive is Build with all of the live state.
func BuildLive(cfg *config.Config, live Live, revision uint64) (*Snapshot, error) {
	reg := live.Registry
	if live.Tables == nil {
		live.Tables = balance.NewTables(nil)
	}
	if live.CookieSecret == nil {
		live.CookieSecret = dryRunSecret
	}
	d, err := cfg.Prepare()
	if err != nil {
		return nil, err
	}
	s := &Snapshot{
		Revision:  revision,
		frontends: make(map[string]*Frontend),
		keys:      make(map[upstream.Key]bool),
		feKeys:    make(map[string]bool),
		sticky:    make(map[string]bool),
	}
	for i := range d.LBs {
		lb := &d.LBs[i]
		backends := make(map[string]*Backend, len(lb.Backends))
		for j := range lb.Backends {
			b, err := s.backend(lb.Name, &lb.Backends[j], &live)
			if err != nil {
				return nil, err
			}
			backends[b.Name] = b
			s.backends = append(s.backends, b)
		}
		for j := range lb.Backends {
			if name := lb.Backends[j].FailoverHost; name != "" {
				backends[lb.Backends[j].Name].Failover = backends[name]
			}
		}
		for j := range lb.Frontends {
			if err := s.frontend(lb, &lb.Frontends[j], backends, reg); err != nil {
				return nil, err
			}
		}
	}
	return s, nil
}

func (s *Snapshot) backend(lbName string, cb *config.Backend, live *Live) (*Backend, error) {
	reg := live.Registry
	algo, err := balance.ParseAlgorithm(cb.ForwardPortAlgorithm)
	if err != nil {
		return nil, fmt.Errorf("lbs[%s].backends[%s].forward_port_algorithm: %w", lbName, cb.Name, err)
	}
	b := &Backend{
		LB: lbName, Name: cb.Name, Protocol: cb.ForwardProtocol,
		TimeoutServer:    cb.TimeoutServer.Duration(),
		TimeoutConnect:   cb.TimeoutConnect.Duration(),
		TimeoutTunnel:    cb.TimeoutTunnel.Duration(),
		Proxy:            proxyVersion(cb.ProxyProtocol),
		MaxConnections:   cb.MaxConnections,
		TimeoutQueue:     cb.TimeoutQueue.Duration(),
		Queue:            reg.Queue(lbName + "/" + cb.Name),
		MaxRetries:       *cb.MaxRetries,
		Redispatch:       *cb.RedispatchAttemptCount,
		ShutdownSessions: cb.OnMarkedDownAction == config.MarkedDownShutdown,
	}
	if cb.Host != "" {
		b.Host = []byte(cb.Host)
	}
	b.H2 = cb.H2
	if cb.SSLBridging {
		b.TLS = &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: cb.IgnoreSSLServerVerify,
			NextProtos: []string{"http/1.1"}, ClientSessionCache: tls.NewLRUClientSessionCache(64)}
	}
	// Passive ejection is live state: the policy applies from this build
	// on (a build that is not published does not get here with a live
	// registry unless only its listeners failed).
	var passive upstream.PassivePolicy
	if p := cb.PassiveHealthCheck; p != nil {
		passive = upstream.PassivePolicy{Failures: p.ConsecutiveFailures, Backoff: p.Backoff.Duration(), ActiveCheck: cb.HealthCheck != nil}
	}
	servers := make([]balance.Server, 0, len(cb.Servers))
	for k := range cb.Servers {
		srv := &cb.Servers[k]
		addr := net.JoinHostPort(srv.IP, strconv.Itoa(srv.Port))
		key := upstream.Key{Backend: lbName + "/" + cb.Name, Addr: addr}
		initial := upstream.StateUp
		if cb.HealthCheck != nil && live.Starting != nil && live.Starting(key) {
			initial = upstream.StateStarting
		}
		ep := reg.Get(key, initial)
		ep.Passive.SetPolicy(ep, passive)
		s.keys[key] = true
		b.Endpoints = append(b.Endpoints, ep)
		servers = append(servers, balance.Server{Endpoint: ep, Weight: *srv.Weight, Backup: srv.Backup})
		if hc := cb.HealthCheck; hc != nil {
			s.health = append(s.health, health.Target{Endpoint: ep, Spec: healthSpec(hc, srv)})
		}
	}
	b.Group = balance.NewGroup(algo, servers)
	b.HashHeader = cb.HashHeader
	at := "lbs[" + lbName + "].backends[" + cb.Name + "]"
	switch cb.StickySessions {
	case config.StickyCookie:
		ss, err := balance.ParseSameSite(cb.StickySessionsCookieSameSite)
		if err != nil {
			return nil, fmt.Errorf("%s.sticky_sessions_cookie_samesite: %w", at, err)
		}
		b.Cookies, err = balance.NewCookies(live.CookieSecret, balance.CookieOptions{
			Name: cb.StickySessionsCookieName, TTL: cb.StickySessionsTTL.Duration(),
			Secure: cb.StickySessionsCookieSecure, HTTPOnly: *cb.StickySessionsCookieHTTPOnly, SameSite: ss,
		}, b.Group)
		if err != nil {
			return nil, fmt.Errorf("%s.sticky_sessions: %w", at, err)
		}
	case config.StickyTable:
		b.Sticky = live.Tables.Table(lbName+"/"+cb.Name, 0).Bind(b.Group, cb.StickySessionsTTL.Duration())
		s.sticky[lbName+"/"+cb.Name] = true
	}
	return b, nil
}

func proxyVersion(s string) ProxyVersion {
	switch s {
	case config.ProxyV1:
		return ProxyV1
	case config.ProxyV2:
		return ProxyV2
	case config.ProxyV2SSL:
		return ProxyV2SSL
	case config.ProxyV2SSLCN:
		return ProxyV2SSLCN
	}
	return ProxyNone
}

func aclSpecs(as []config.ACL) []route.ACLSpec {
	out := make([]route.ACLSpec, len(as))
	for i, a := range as {
		out[i] = route.ACLSpec{Name: a.Name, Index: a.Index, IPSubnet: a.Match.IPSubnet, HTTPFilter: a.Match.HTTPFilter,
			HTTPFilterValue: a.Match.HTTPFilterValue, HTTPFilterOption: a.Match.HTTPFilterOption, Invert: a.Match.Invert,
			Action: a.Action.Type}
		if r := a.Action.Redirect; r != nil {
			out[i].RedirectType, out[i].RedirectTarget, out[i].RedirectCode = r.Type, r.Target, r.Code
		}
	}
	return out
}

func headerRules(rs []config.HeaderRule) []HeaderRule {
	if len(rs) == 0 {
		return nil
	}
	out := make([]HeaderRule, len(rs))
	for i, r := range rs {
		out[i] = HeaderRule{Name: r.Name, Value: []byte(r.Value)}
		switch r.Action {
		case config.HeaderAdd:
			out[i].Action = HeaderAdd
		case config.HeaderRemove:
			out[i].Action = HeaderRemove
		}
	}
	return out
}

func healthSpec(hc *config.HealthCheck, srv *config.Server) health.Spec {
	port := srv.Port
	if hc.Port != 0 {
		port = hc.Port
	}
	spec := health.Spec{
		Kind:              health.TCP,
		Addr:              net.JoinHostPort(srv.IP, strconv.Itoa(port)),
		Interval:          hc.CheckDelay.Duration(),
		TransientInterval: hc.TransientCheckDelay.Duration(),
		Timeout:           hc.CheckTimeout.Duration(),
		Fall:              hc.CheckMaxRetries,
		Rise:              hc.CheckRise,
		SendProxy:         hc.CheckSendProxy,
	}
	switch {
	case hc.TCPConfig != nil:
		spec.Send, spec.Expect = hc.TCPConfig.Send, hc.TCPConfig.Expect
	case hc.HTTPConfig != nil, hc.HTTPSConfig != nil:
		h := hc.HTTPConfig
		spec.Kind = health.HTTP
		if h == nil {
			h = hc.HTTPSConfig
			spec.Kind = health.HTTPS
			spec.SNI = h.SNI
		}
		spec.Method, spec.URI, spec.Host = h.Method, h.URI, h.HostHeader
		if h.Code != nil {
			spec.ExpectCode = *h.Code
		}
	case hc.MySQLConfig != nil:
		spec.Kind, spec.User = health.MySQL, hc.MySQLConfig.User
	case hc.PgSQLConfig != nil:
		spec.Kind, spec.User = health.PgSQL, hc.PgSQLConfig.User
	case hc.RedisConfig != nil:
		spec.Kind = health.Redis
	case hc.LDAPConfig != nil:
		spec.Kind = health.LDAP
	}
	return spec
}

func (s *Snapshot) frontend(lb *config.LB, cf *config.Frontend, backends map[string]*Backend, reg *upstream.Registry) error {
	s.feKeys[lb.Name+"/"+cf.Name] = true
	f := &Frontend{
		Traffic: reg.Frontend(lb.Name + "/" + cf.Name),
		LB:      lb.Name, Name: cf.Name, Protocol: cf.Protocol,
		Default:            backends[cf.Backend],
		TimeoutClient:      cf.TimeoutClient.Duration(),
		TimeoutHTTPRequest: cf.TimeoutHTTPRequest.Duration(),
		MaxHeaderBytes:     cf.MaxHeaderBytes,
		MaxHeaders:         cf.MaxHeaders,
		XForwardedFor:      *cf.XForwardedFor,
		Forwarded:          cf.Forwarded,
		RateLimit:          reg.RateLimiter(lb.Name+"/"+cf.Name, cf.ConnectionRateLimit),
		RequestHeaders:     headerRules(cf.RequestHeaders),
		ResponseHeaders:    headerRules(cf.ResponseHeaders),
	}
	if len(cf.ACLs) > 0 {
		mode := route.ACLModeHTTP
		if cf.Protocol == config.ProtocolTCP {
			mode = route.ACLModeTCP
		}
		acls, err := route.CompileACLs(aclSpecs(cf.ACLs), mode)
		if err != nil {
			return fmt.Errorf("lbs[%s].frontends[%s].acls: %w", lb.Name, cf.Name, err)
		}
		f.ACLs = acls
	}
	for _, c := range cf.AcceptProxyFrom {
		p, err := config.ParseCIDR(c)
		if err != nil {
			return fmt.Errorf("lbs[%s].frontends[%s].accept_proxy_from: %w", lb.Name, cf.Name, err)
		}
		f.AcceptProxy = append(f.AcceptProxy, p.Masked())
	}
	if cf.Routes.Len() > 0 {
		rules := make([]route.Rule[*Backend], cf.Routes.Len())
		for i, r := range cf.Routes.All() {
			rules[i] = routeRule(cf.Protocol, r, backends)
		}
		t, err := route.NewTable(rules)
		if err != nil {
			return fmt.Errorf("lbs[%s].frontends[%s].routes: %w", lb.Name, cf.Name, err)
		}
		f.routes = t
	}
	ips := lb.IPs
	if len(ips) == 0 {
		ips = []string{""}
	}
	for _, ip := range ips {
		addr := net.JoinHostPort(ip, strconv.Itoa(cf.InboundPort))
		fa := *f
		fa.Addr = addr
		s.frontends[addr] = &fa
	}
	return nil
}

// routeRule compiles route r of a frontend speaking proto (Build and
// Update share it).
func routeRule(proto config.Protocol, r *config.Route, backends map[string]*Backend) route.Rule[*Backend] {
	host := r.HostHeader
	if proto == config.ProtocolTCP {
		host = r.SNI
	}
	rule := route.Rule[*Backend]{
		Host: host, MatchSubdomains: r.MatchSubdomains, PathPrefix: r.PathBegin,
		Priority: r.Priority, Target: backends[r.Backend],
	}
	for _, h := range r.Headers {
		rule.Headers = append(rule.Headers, route.HeaderMatch{Name: h.Name, Value: h.Value, Prefix: h.Prefix})
	}
	return rule
}

// Holder publishes the current snapshot. Load is one atomic load and never
// returns nil once Store was called. Safe for concurrent use.
type Holder struct {
	p atomic.Pointer[Snapshot]
}

// Load returns the current snapshot, or nil before the first Store. On the
// hot path.
func (h *Holder) Load() *Snapshot { return h.p.Load() }

// Store publishes s. Requests already holding the previous snapshot finish
// with it.
func (h *Holder) Store(s *Snapshot) { h.p.Store(s) }
