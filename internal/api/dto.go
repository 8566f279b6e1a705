package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gantry-lb/gantry/client"
	"github.com/gantry-lb/gantry/internal/config"
	"github.com/gantry-lb/gantry/internal/control"
)

// The request and response bodies are package client's wire types, written
// once for the server, the CLI and Go users. The names below are the API's
// own names for them; this file converts them to and from the config model.
type (
	lbIn           = client.LBInput
	lbOut          = client.LB
	routeMatch     = client.RouteMatch
	routeDTO       = client.Route
	frontendIn     = client.FrontendInput
	frontendOut    = client.Frontend
	backendIn      = client.BackendInput
	backendOptions = client.BackendOptions
	healthOption   = client.HealthCheckOption
	routeIn        = client.RouteInput
	indexedRoute   = client.IndexedRoute
	serversObject  = client.ServersObject
	backendOut     = client.Backend
)

func toLBOut(lb *config.LB, m control.ObjectMeta) lbOut {
	return lbOut{Name: lb.Name, Description: lb.Description, Tags: nonNil(lb.Tags), IPs: nonNil(lb.IPs), Project: lb.Project,
		Status: "ready", FrontendCount: len(lb.Frontends), BackendCount: len(lb.Backends),
		CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func headersToConfig(hs []client.HeaderMatch) []config.HeaderMatch {
	if hs == nil {
		return nil
	}
	out := make([]config.HeaderMatch, len(hs))
	for i, h := range hs {
		out[i] = config.HeaderMatch{Name: h.Name, Value: h.Value, Prefix: h.Prefix}
	}
	return out
}

func headersOut(hs []config.HeaderMatch) []client.HeaderMatch {
	if hs == nil {
		return nil
	}
	out := make([]client.HeaderMatch, len(hs))
	for i, h := range hs {
		out[i] = client.HeaderMatch{Name: h.Name, Value: h.Value, Prefix: h.Prefix}
	}
	return out
}

// routeToConfig maps a route of a request, whose conditions are under
// match or flat, never both; at is the route's field path in the request
// ("routes[2]", or "match" for a route body of its own).
func routeToConfig(r routeDTO, at string) (config.Route, error) {
	if r.Rule != "" { // PUT .../routes/{name} turns it into conditions first (ruleRoute)
		return config.Route{}, &badRequest{at + ".rule", "a port rule is taken by PUT /v1/lbs/{lb}/frontends/{frontend}/routes/{name} only; give host_header and path_begin here"}
	}
	out := config.Route{Name: r.Name, Backend: r.Backend, Priority: r.Priority,
		HostHeader: r.HostHeader, SNI: r.SNI, MatchSubdomains: r.MatchSubdomains, PathBegin: r.PathBegin, Headers: headersToConfig(r.Headers)}
	if m := r.Match; m != nil {
		if r.HostHeader != "" || r.SNI != "" || r.MatchSubdomains || r.PathBegin != "" || len(r.Headers) > 0 {
			return out, &badRequest{at, "give the conditions either under match or flat, not both"}
		}
		out.HostHeader, out.SNI, out.MatchSubdomains, out.PathBegin, out.Headers = m.HostHeader, m.SNI, m.MatchSubdomains, m.PathBegin, headersToConfig(m.Headers)
	}
	return out, nil
}

func routeOut(r config.Route) routeDTO {
	return routeDTO{Name: r.Name, Backend: r.Backend, Priority: r.Priority, Match: &routeMatch{
		HostHeader: r.HostHeader, SNI: r.SNI, MatchSubdomains: r.MatchSubdomains, PathBegin: r.PathBegin, Headers: headersOut(r.Headers)}}
}

func aclToConfig(a client.ACL) config.ACL {
	out := config.ACL{Name: a.Name, Index: a.Index, Match: config.ACLMatch(a.Match), Action: config.ACLAction{Type: a.Action.Type}}
	if r := a.Action.Redirect; r != nil {
		out.Action.Redirect = &config.ACLRedirect{Type: r.Type, Target: r.Target, Code: r.Code}
	}
	return out
}

func aclOut(a config.ACL) client.ACL {
	out := client.ACL{Name: a.Name, Index: a.Index, Match: client.ACLMatch(a.Match), Action: client.ACLAction{Type: a.Action.Type}}
	if r := a.Action.Redirect; r != nil {
		out.Action.Redirect = &client.ACLRedirect{Type: r.Type, Target: r.Target, Code: r.Code}
	}
	return out
}

func aclsToConfig(as []client.ACL) []config.ACL { return mapSlice(as, aclToConfig) }

func aclsOut(as []config.ACL) []client.ACL { return mapSlice(as, aclOut) }

// mapSlice converts every element of s with f; nil stays nil, so an
// absent list stays absent.
func mapSlice[A, B any](s []A, f func(A) B) []B {
	if s == nil {
		return nil
	}
	out := make([]B, len(s))
	for i, a := range s {
		out[i] = f(a)
	}
	return out
}

func headerRulesToConfig(hs []client.HeaderRule) []config.HeaderRule {
	return mapSlice(hs, func(h client.HeaderRule) config.HeaderRule { return config.HeaderRule(h) })
}

func headerRulesOut(hs []config.HeaderRule) []client.HeaderRule {
	return mapSlice(hs, func(h config.HeaderRule) client.HeaderRule { return client.HeaderRule(h) })
}

// frontendToConfig maps the body of a frontend PUT to the model, resolving
// Scaleway's aliases.
func frontendToConfig(f frontendIn) (config.Frontend, error) {
	out := config.Frontend{InboundPort: f.InboundPort, Protocol: config.Protocol(f.Protocol), Backend: f.Backend,
		TimeoutClient: config.Millis(f.TimeoutClient), TimeoutHTTPRequest: config.Millis(f.TimeoutHTTPRequest), MaxHeaderBytes: f.MaxHeaderBytes,
		MaxHeaders: f.MaxHeaders, XForwardedFor: f.XForwardedFor, Forwarded: f.Forwarded, ACLs: aclsToConfig(f.ACLs), Certificates: f.Certificates,
		ConnectionRateLimit: f.ConnectionRateLimit, AcceptProxyFrom: f.AcceptProxyFrom,
		RequestHeaders: headerRulesToConfig(f.RequestHeaders), ResponseHeaders: headerRulesToConfig(f.ResponseHeaders)}
	frontendTLSToConfig(f.FrontendTLS, &out)
	if f.BackendID != "" {
		if f.Backend != "" && f.Backend != f.BackendID {
			return out, &badRequest{"backend_id", "differs from backend; give one"}
		}
		out.Backend = f.BackendID
	}
	if f.CertificateID != "" {
		out.Certificates = append(out.Certificates, f.CertificateID)
	}
	var routes []config.Route
	for i, r := range f.Routes {
		cr, err := routeToConfig(r, fmt.Sprintf("routes[%d]", i))
		if err != nil {
			return out, err
		}
		routes = append(routes, cr)
	}
	out.Routes = config.RoutesOf(routes...)
	return out, nil
}

// frontendInOf is the body that would PUT f as it is: the base a PATCH
// merges into.
func frontendInOf(f *config.Frontend) frontendIn {
	return frontendIn{InboundPort: f.InboundPort, Protocol: client.Protocol(f.Protocol), Backend: f.Backend,
		TimeoutClient: client.Millis(f.TimeoutClient), TimeoutHTTPRequest: client.Millis(f.TimeoutHTTPRequest), MaxHeaderBytes: f.MaxHeaderBytes,
		MaxHeaders: f.MaxHeaders, XForwardedFor: f.XForwardedFor, Forwarded: f.Forwarded,
		Routes: toFrontendOut(f, control.ObjectMeta{}).Routes, ACLs: aclsOut(f.ACLs), Certificates: f.Certificates,
		ConnectionRateLimit: f.ConnectionRateLimit, AcceptProxyFrom: f.AcceptProxyFrom,
		RequestHeaders: headerRulesOut(f.RequestHeaders), ResponseHeaders: headerRulesOut(f.ResponseHeaders),
		FrontendTLS: frontendTLSOut(f)}
}

func toFrontendOut(f *config.Frontend, m control.ObjectMeta) frontendOut {
	out := frontendOut{Name: f.Name, InboundPort: f.InboundPort, Protocol: client.Protocol(f.Protocol), Backend: f.Backend,
		TimeoutClient: client.Millis(f.TimeoutClient), TimeoutHTTPRequest: client.Millis(f.TimeoutHTTPRequest), MaxHeaderBytes: f.MaxHeaderBytes,
		MaxHeaders: f.MaxHeaders, XForwardedFor: f.XForwardedFor, Forwarded: f.Forwarded, ACLs: aclsOut(f.ACLs),
		Certificates: f.Certificates, ConnectionRateLimit: f.ConnectionRateLimit, AcceptProxyFrom: f.AcceptProxyFrom,
		RequestHeaders: headerRulesOut(f.RequestHeaders), ResponseHeaders: headerRulesOut(f.ResponseHeaders),
		Routes: []routeDTO{}, CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt, FrontendTLS: frontendTLSOut(f)}
	for _, r := range f.Routes.All() {
		out.Routes = append(out.Routes, routeOut(*r))
	}
	return out
}

// pick merges a setting given under two names.
func pick[T comparable](a, b T, fa, fb string) (T, error) {
	var zero T
	switch {
	case a == zero:
		return b, nil
	case b == zero || a == b:
		return a, nil
	}
	return zero, &badRequest{fa, fmt.Sprintf("%v differs from %s (%v); give one", a, fb, b)}
}

// backendToConfig maps the body of a backend PUT, in any of its three
// vocabularies, to the model.
func backendToConfig(b backendIn) (config.Backend, error) {
	var out config.Backend
	proto, err := pick(b.Mode, b.ForwardProtocol, "mode", "forward_protocol")
	if err != nil {
		return out, err
	}
	out.ForwardProtocol = config.Protocol(proto)
	if out.ForwardPortAlgorithm, err = pick(b.BalancingMethod, b.ForwardPortAlgorithm, "balancing_method", "forward_port_algorithm"); err != nil {
		return out, err
	}
	port := 0
	if len(b.Port) > 0 {
		var n int
		var s string
		if json.Unmarshal(b.Port, &n) != nil {
			if json.Unmarshal(b.Port, &s) != nil {
				return out, &badRequest{"port", "must be a number or a numeric string"}
			}
			if n, err = strconv.Atoi(s); err != nil {
				return out, &badRequest{"port", fmt.Sprintf("%q is not a number", s)}
			}
		}
		port = n
	}
	if out.ForwardPort, err = pick(port, b.ForwardPort, "port", "forward_port"); err != nil {
		return out, err
	}
	out.StickySessions, out.StickySessionsCookieName = b.StickySessions, b.StickySessionsCookieName
	out.HealthCheck, out.SendProxyV2 = healthToConfig(b.HealthCheck), b.SendProxyV2
	out.TimeoutServer, out.TimeoutConnect, out.TimeoutTunnel = config.Millis(b.TimeoutServer), config.Millis(b.TimeoutConnect), config.Millis(b.TimeoutTunnel)
	out.OnMarkedDownAction = b.OnMarkedDownAction
	out.HashHeader, out.StickySessionsTTL = b.HashHeader, config.Millis(b.StickySessionsTTL)
	out.StickySessionsCookieSecure, out.StickySessionsCookieHTTPOnly = b.StickySessionsCookieSecure, b.StickySessionsCookieHTTPOnly
	out.StickySessionsCookieSameSite, out.ProxyProtocol, out.FailoverHost = b.StickySessionsCookieSameSite, b.ProxyProtocol, b.FailoverHost
	out.MaxConnections, out.TimeoutQueue = b.MaxConnections, config.Millis(b.TimeoutQueue)
	out.MaxRetries, out.RedispatchAttemptCount, out.Host = b.MaxRetries, b.RedispatchAttemptCount, b.Host
	out.PassiveHealthCheck = passiveToConfig(b.PassiveHealthCheck)
	out.SSLBridging, out.IgnoreSSLServerVerify, out.H2 = b.SSLBridging, b.IgnoreSSLServerVerify, b.H2
	if out.Servers, err = backendServers(b); err != nil {
		return out, err
	}
	if out.Docker, err = dockerSelector(b); err != nil { // discovery.go
		return out, err
	}
	if o := b.Options; o != nil {
		if err := applyOptions(o, &out); err != nil {
			return out, err
		}
	}
	return out, nil
}

func backendServers(b backendIn) ([]config.Server, error) {
	var out []config.Server
	for i, ip := range append(append([]string{}, b.Pool...), b.ServerIP...) {
		if ip == "" {
			return nil, &badRequest{fmt.Sprintf("pool[%d]", i), "empty address"}
		}
		out = append(out, config.Server{IP: ip})
	}
	raw := strings.TrimSpace(string(b.Servers))
	switch {
	case raw == "" || raw == "null":
	case strings.HasPrefix(raw, "["):
		var list []client.Server
		dec := json.NewDecoder(strings.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&list); err != nil {
			return nil, &badRequest{"servers", err.Error()}
		}
		out = append(out, serversToConfig(list)...)
	case strings.HasPrefix(raw, "{"):
		var obj serversObject
		dec := json.NewDecoder(strings.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&obj); err != nil {
			return nil, &badRequest{"servers", err.Error()}
		}
		switch obj.Type {
		case "ip":
			for _, a := range obj.Addresses {
				out = append(out, config.Server{IP: a})
			}
		case "docker": // a selector, read by dockerSelector (discovery.go)
		case "computer":
			return nil, &badRequest{"servers.type", `"computer" names machines of another provider; use "ip" with addresses`}
		default:
			return nil, &badRequest{"servers.type", fmt.Sprintf("%q is not one of ip, docker", obj.Type)}
		}
	default:
		return nil, &badRequest{"servers", "must be a list of servers or an object {type, addresses}"}
	}
	return out, nil
}

func passiveToConfig(p *client.PassiveHealthCheck) *config.PassiveHealthCheck {
	if p == nil {
		return nil
	}
	return &config.PassiveHealthCheck{ConsecutiveFailures: p.ConsecutiveFailures, Backoff: config.Millis(p.Backoff)}
}

func passiveOut(p *config.PassiveHealthCheck) *client.PassiveHealthCheck {
	if p == nil {
		return nil
	}
	return &client.PassiveHealthCheck{ConsecutiveFailures: p.ConsecutiveFailures, Backoff: client.Millis(p.Backoff)}
}

// proxyProtocolOf maps seed 004's options.proxy_protocol, short or in
// Scaleway's full names, to the model's.
func proxyProtocolOf(s string) (string, bool) {
	switch s {
	case "none", config.ProxyNone:
		return config.ProxyNone, true
	case "v1", config.ProxyV1:
		return config.ProxyV1, true
	case "v2", config.ProxyV2:
		return config.ProxyV2, true
	case "v2_ssl", config.ProxyV2SSL:
		return config.ProxyV2SSL, true
	case "v2_ssl_cn", config.ProxyV2SSLCN:
		return config.ProxyV2SSLCN, true
	}
	return "", false
}

// parseTTL reads seed 004's sticky_session.ttl: a Go duration string
// ("5m", "1h30m"), or a number of milliseconds (a JSON number or a string
// of digits). It must be whole milliseconds, not negative.
func parseTTL(raw json.RawMessage, at string) (config.Millis, error) {
	v := strings.TrimSpace(string(raw))
	if v == "" || v == "null" {
		return 0, nil
	}
	bad := func(why string) error { return &badRequest{at, why} }
	var ms int64
	var text string
	if err := json.Unmarshal(raw, &text); err != nil {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, bad(fmt.Sprintf("%s is neither a duration string (\"5m\", \"1h30m\") nor a whole number of milliseconds", v))
		}
		ms = n
	} else if n, err := strconv.ParseInt(text, 10, 64); err == nil {
		ms = n
	} else {
		d, err := time.ParseDuration(text)
		if err != nil {
			return 0, bad(fmt.Sprintf("%q is not a duration (\"30s\", \"5m\", \"1h30m\") or a number of milliseconds", text))
		}
		if d%time.Millisecond != 0 {
			return 0, bad(fmt.Sprintf("%q is not a whole number of milliseconds", text))
		}
		ms = d.Milliseconds()
	}
	if ms < 0 {
		return 0, bad(fmt.Sprintf("%s is negative", v))
	}
	return config.Millis(ms), nil
}

// applyOptions maps seed 004's options onto b. A setting also given by its
// model name (proxy_protocol, sticky_sessions...) must agree.
func applyOptions(o *backendOptions, b *config.Backend) error {
	if err := tlsOptions(o, b); err != nil {
		return err
	}
	if o.ForwardFor != nil && !*o.ForwardFor {
		return &badRequest{"options.forward_for", "X-Forwarded-For is a frontend setting: set x_forwarded_for: false on the frontend"}
	}
	if o.ProxyProtocol != "" {
		pp, ok := proxyProtocolOf(o.ProxyProtocol)
		if !ok {
			return &badRequest{"options.proxy_protocol", fmt.Sprintf("%q is not one of none, v1, v2, v2_ssl, v2_ssl_cn (or proxy_protocol_none...)", o.ProxyProtocol)}
		}
		var err error
		if b.ProxyProtocol, err = pick(pp, b.ProxyProtocol, "options.proxy_protocol", "proxy_protocol"); err != nil {
			return err
		}
	}
	if s := o.StickySession; s != nil {
		switch s.Type {
		case config.StickyNone, config.StickyCookie, config.StickyTable:
		default:
			return &badRequest{"options.sticky_session.type", fmt.Sprintf("%q is not one of none, cookie, table", s.Type)}
		}
		ttl, err := parseTTL(s.TTL, "options.sticky_session.ttl")
		if err != nil {
			return err
		}
		if b.StickySessions, err = pick(s.Type, b.StickySessions, "options.sticky_session.type", "sticky_sessions"); err != nil {
			return err
		}
		if b.StickySessionsCookieName, err = pick(s.Cookie, b.StickySessionsCookieName, "options.sticky_session.cookie", "sticky_sessions_cookie_name"); err != nil {
			return err
		}
		if b.StickySessionsTTL, err = pick(ttl, b.StickySessionsTTL, "options.sticky_session.ttl", "sticky_sessions_ttl"); err != nil {
			return err
		}
	}
	if h := o.HealthCheck; h != nil {
		if b.HealthCheck != nil {
			return &badRequest{"options.health_check", "health_check is also given at the top level; give one"}
		}
		hc, err := healthOptionToConfig(h, "options.health_check.")
		if err != nil {
			return err
		}
		b.HealthCheck = hc
	}
	return nil
}

// healthOptionToConfig maps seed 004's health_check option to the model;
// at prefixes the field paths of its errors. A field the type does not
// use is an error rather than silently dropped.
func healthOptionToConfig(h *healthOption, at string) (*config.HealthCheck, error) {
	hc := &config.HealthCheck{Port: h.Port}
	switch h.Type {
	case "tcp":
		hc.TCPConfig = &config.TCPCheck{}
	case "http":
		hc.HTTPConfig = &config.HTTPCheck{}
	case "https":
		hc.HTTPSConfig = &config.HTTPCheck{}
	case "mysql":
		hc.MySQLConfig = &config.UserCheck{User: h.User}
	case "pgsql":
		hc.PgSQLConfig = &config.UserCheck{User: h.User}
	case "redis":
		hc.RedisConfig = &config.EmptyCheck{}
	case "ldap":
		hc.LDAPConfig = &config.EmptyCheck{}
	default:
		return nil, &badRequest{at + "type", fmt.Sprintf("%q is not one of tcp, http, https, mysql, pgsql, redis, ldap", h.Type)}
	}
	web := hc.HTTPConfig != nil || hc.HTTPSConfig != nil
	for _, f := range []struct {
		name         string
		given, takes bool
		takers       string
	}{
		{"path", h.Path != "", web, "http and https"},
		{"method", h.Method != "", web, "http and https"},
		{"expected_code", h.ExpectedCode != "", web, "http and https"},
		{"host_header", h.HostHeader != "", web, "http and https"},
		{"sni", h.SNI != "", hc.HTTPSConfig != nil, "https"},
		{"user", h.User != "", hc.MySQLConfig != nil || hc.PgSQLConfig != nil, "mysql and pgsql"},
	} {
		if f.given && !f.takes {
			return nil, &badRequest{at + f.name, fmt.Sprintf("only %s checks use it, not %s", f.takers, h.Type)}
		}
	}
	for _, c := range []*config.HTTPCheck{hc.HTTPConfig, hc.HTTPSConfig} {
		if c == nil {
			continue
		}
		*c = config.HTTPCheck{URI: h.Path, Method: h.Method, HostHeader: h.HostHeader, SNI: h.SNI}
		if h.ExpectedCode != "" {
			code, err := strconv.Atoi(h.ExpectedCode)
			if err != nil {
				return nil, &badRequest{at + "expected_code", fmt.Sprintf("%q is not a status code", h.ExpectedCode)}
			}
			c.Code = &code
		}
	}
	return hc, nil
}

// healthBodyToConfig maps the body of PUT .../healthcheck, in Scaleway's
// shape or seed 004's, to the model. The two are told apart by "type",
// which only seed 004's has (and requires).
func healthBodyToConfig(raw []byte) (*config.HealthCheck, error) {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(raw, &probe); err != nil || probe == nil {
		return nil, &badRequest{"body", "want a JSON object: a health check in Scaleway's shape or seed 004's {type, ...}"}
	}
	if _, seed := probe["type"]; seed {
		var h healthOption
		if err := decodeStrict(raw, &h); err != nil {
			return nil, err
		}
		return healthOptionToConfig(&h, "")
	}
	var h client.HealthCheck
	if err := decodeStrict(raw, &h); err != nil {
		return nil, err
	}
	return healthToConfig(&h), nil
}

// toIndexedRoute is route i of a frontend as the routes sub-resource shows it.
func toIndexedRoute(r config.Route, i int) indexedRoute {
	return indexedRoute{Route: routeOut(r), Index: i}
}

func serversToConfig(ss []client.Server) []config.Server {
	if ss == nil {
		return nil
	}
	out := make([]config.Server, len(ss))
	for i, s := range ss {
		out[i] = config.Server{Name: s.Name, IP: s.IP, Port: s.Port, Weight: s.Weight, Backup: s.Backup}
	}
	return out
}

func serversOut(ss []config.Server) []client.Server {
	if ss == nil {
		return nil
	}
	out := make([]client.Server, len(ss))
	for i, s := range ss {
		out[i] = client.Server{Name: s.Name, IP: s.IP, Port: s.Port, Weight: s.Weight, Backup: s.Backup}
	}
	return out
}

func httpCheckToConfig(h *client.HTTPCheck) *config.HTTPCheck {
	if h == nil {
		return nil
	}
	return &config.HTTPCheck{URI: h.URI, Method: h.Method, Code: h.Code, HostHeader: h.HostHeader, SNI: h.SNI}
}

func httpCheckOut(h *config.HTTPCheck) *client.HTTPCheck {
	if h == nil {
		return nil
	}
	return &client.HTTPCheck{URI: h.URI, Method: h.Method, Code: h.Code, HostHeader: h.HostHeader, SNI: h.SNI}
}

func userCheckToConfig(u *client.UserCheck) *config.UserCheck {
	if u == nil {
		return nil
	}
	return &config.UserCheck{User: u.User}
}

func userCheckOut(u *config.UserCheck) *client.UserCheck {
	if u == nil {
		return nil
	}
	return &client.UserCheck{User: u.User}
}

func healthToConfig(h *client.HealthCheck) *config.HealthCheck {
	if h == nil {
		return nil
	}
	out := &config.HealthCheck{Port: h.Port, CheckDelay: config.Millis(h.CheckDelay), CheckTimeout: config.Millis(h.CheckTimeout),
		CheckMaxRetries: h.CheckMaxRetries, CheckRise: h.CheckRise,
		TransientCheckDelay: config.Millis(h.TransientCheckDelay), CheckSendProxy: h.CheckSendProxy,
		HTTPConfig: httpCheckToConfig(h.HTTPConfig), HTTPSConfig: httpCheckToConfig(h.HTTPSConfig),
		MySQLConfig: userCheckToConfig(h.MySQLConfig), PgSQLConfig: userCheckToConfig(h.PgSQLConfig)}
	if t := h.TCPConfig; t != nil {
		out.TCPConfig = &config.TCPCheck{Send: t.Send, Expect: t.Expect}
	}
	if h.RedisConfig != nil {
		out.RedisConfig = &config.EmptyCheck{}
	}
	if h.LDAPConfig != nil {
		out.LDAPConfig = &config.EmptyCheck{}
	}
	return out
}

func healthOut(h *config.HealthCheck) *client.HealthCheck {
	if h == nil {
		return nil
	}
	out := &client.HealthCheck{Port: h.Port, CheckDelay: client.Millis(h.CheckDelay), CheckTimeout: client.Millis(h.CheckTimeout),
		CheckMaxRetries: h.CheckMaxRetries, CheckRise: h.CheckRise,
		TransientCheckDelay: client.Millis(h.TransientCheckDelay), CheckSendProxy: h.CheckSendProxy,
		HTTPConfig: httpCheckOut(h.HTTPConfig), HTTPSConfig: httpCheckOut(h.HTTPSConfig),
		MySQLConfig: userCheckOut(h.MySQLConfig), PgSQLConfig: userCheckOut(h.PgSQLConfig)}
	if t := h.TCPConfig; t != nil {
		out.TCPConfig = &client.TCPCheck{Send: t.Send, Expect: t.Expect}
	}
	if h.RedisConfig != nil {
		out.RedisConfig = &client.EmptyCheck{}
	}
	if h.LDAPConfig != nil {
		out.LDAPConfig = &client.EmptyCheck{}
	}
	return out
}

// toBackendOut is backend b as the API shows it.
func toBackendOut(b *config.Backend, m control.ObjectMeta) backendOut {
	return backendOut{Name: b.Name, ForwardProtocol: client.Protocol(b.ForwardProtocol), ForwardPort: b.ForwardPort,
		ForwardPortAlgorithm: b.ForwardPortAlgorithm, StickySessions: b.StickySessions, StickySessionsCookieName: b.StickySessionsCookieName,
		HealthCheck: healthOut(b.HealthCheck), Servers: serversOut(b.Servers), SendProxyV2: b.SendProxyV2,
		TimeoutServer: client.Millis(b.TimeoutServer), TimeoutConnect: client.Millis(b.TimeoutConnect), TimeoutTunnel: client.Millis(b.TimeoutTunnel),
		OnMarkedDownAction: b.OnMarkedDownAction,
		HashHeader:         b.HashHeader, StickySessionsTTL: client.Millis(b.StickySessionsTTL),
		StickySessionsCookieSecure: b.StickySessionsCookieSecure, StickySessionsCookieHTTPOnly: b.StickySessionsCookieHTTPOnly,
		StickySessionsCookieSameSite: b.StickySessionsCookieSameSite, ProxyProtocol: b.ProxyProtocol, FailoverHost: b.FailoverHost,
		MaxConnections: b.MaxConnections, TimeoutQueue: client.Millis(b.TimeoutQueue),
		MaxRetries: b.MaxRetries, RedispatchAttemptCount: b.RedispatchAttemptCount, Host: b.Host,
		PassiveHealthCheck: passiveOut(b.PassiveHealthCheck),
		Docker:             dockerOut(b.Docker),
		BackendTLS:         client.BackendTLS{SSLBridging: b.SSLBridging, IgnoreSSLServerVerify: b.IgnoreSSLServerVerify, H2: b.H2},
		CreatedAt:          m.CreatedAt, UpdatedAt: m.UpdatedAt}
}

// renameKey moves a patch's value from an alias to the model's name.
func renameKey(p map[string]any, from, to string, v any) error {
	if _, both := p[to]; both {
		return &badRequest{from, "also given as " + to + "; give one"}
	}
	delete(p, from)
	p[to] = v
	return nil
}

// backendAliases rewrites a backend PATCH written with seed 004's or
// Scaleway's names into the model's names, converting the values the same
// way a PUT does (backendToConfig), so both paths agree.
func backendAliases(p map[string]any) error {
	alias := map[string]any{}
	for _, k := range []string{"mode", "balancing_method", "port", "pool", "server_ip", "options"} {
		if v, ok := p[k]; ok {
			alias[k] = v
		}
	}
	if sv, ok := p["servers"].(map[string]any); ok { // the {type, addresses} object
		alias["servers"] = sv
	}
	if len(alias) == 0 {
		return nil
	}
	raw, err := json.Marshal(alias)
	if err != nil {
		return err
	}
	var in backendIn
	if err := decodeStrict(raw, &in); err != nil {
		return err
	}
	b, err := backendToConfig(in)
	if err != nil {
		return err
	}
	model, err := json.Marshal(b)
	if err != nil {
		return err
	}
	var m map[string]any
	if err := json.Unmarshal(model, &m); err != nil {
		return err
	}
	for from, to := range map[string]string{"mode": "forward_protocol", "balancing_method": "forward_port_algorithm", "port": "forward_port"} {
		if _, ok := alias[from]; ok {
			if err := renameKey(p, from, to, m[to]); err != nil {
				return err
			}
		}
	}
	_, pool := alias["pool"]
	_, sip := alias["server_ip"]
	_, sobj := alias["servers"]
	if pool || sip || sobj {
		delete(p, "pool")
		delete(p, "server_ip")
		p["servers"] = m["servers"] // replaces the list, as a PUT would
		if _, given := p["docker"]; !given {
			p["docker"] = m["docker"] // a servers object of type docker is the docker field
		}
	}
	if o, ok := alias["options"].(map[string]any); ok {
		delete(p, "options")
		// set puts the model's value of key in the patch; the patch may
		// name key itself only with the same value, as a PUT may.
		set := func(from, key string) error {
			v, ok := m[key]
			if !ok {
				v = nil // the option turns it off: delete it in the merge
			}
			if given, both := p[key]; both && given != nil && !sameJSON(given, v) {
				return &badRequest{"options." + from, "also given as " + key + " with another value; give one"}
			}
			p[key] = v
			return nil
		}
		var sets [][2]string
		if _, ok := o["health_check"]; ok {
			sets = append(sets, [2]string{"health_check", "health_check"})
		}
		if _, ok := o["proxy_protocol"]; ok {
			sets = append(sets, [2]string{"proxy_protocol", "proxy_protocol"})
			// Scaleway's older boolean would contradict it: the option
			// says it all (unless the patch sets both, for validation to judge).
			if v, given := p["send_proxy_v2"]; !given || v == false {
				p["send_proxy_v2"] = nil
			}
		}
		_, tlsOn := o["tls"]
		if _, verify := o["tls_verify"]; tlsOn || verify {
			sets = append(sets, [2]string{"tls", "ssl_bridging"}, [2]string{"tls_verify", "ignore_ssl_server_verify"})
		}
		if _, ok := o["sticky_session"]; ok {
			sets = append(sets, [2]string{"sticky_session.type", "sticky_sessions"}, [2]string{"sticky_session.cookie", "sticky_sessions_cookie_name"},
				[2]string{"sticky_session.ttl", "sticky_sessions_ttl"})
		}
		for _, s := range sets {
			if err := set(s[0], s[1]); err != nil {
				return err
			}
		}
	}
	return nil
}

// sameJSON reports whether two decoded JSON values are equal.
func sameJSON(a, b any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}

// frontendAliases rewrites a frontend PATCH's Scaleway names.
func frontendAliases(p map[string]any) error {
	if v, ok := p["backend_id"]; ok {
		if err := renameKey(p, "backend_id", "backend", v); err != nil {
			return err
		}
	}
	if v, ok := p["certificate_id"]; ok {
		if v == nil {
			return renameKey(p, "certificate_id", "certificates", nil)
		}
		if err := renameKey(p, "certificate_id", "certificates", []any{v}); err != nil {
			return err
		}
	}
	return nil
}

// decodeStrict decodes raw into v, rejecting unknown fields.
func decodeStrict(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if strings.HasPrefix(err.Error(), "json: unknown field ") {
			return &badRequest{strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`), "unknown field"}
		}
		return &badRequest{"body", err.Error()}
	}
	return nil
}
