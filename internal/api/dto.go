package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

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

func aclsToConfig(as []client.ACL) []config.ACL {
	if as == nil {
		return nil
	}
	out := make([]config.ACL, len(as))
	for i, a := range as {
		out[i] = config.ACL{Name: a.Name, Index: a.Index,
			Match: config.ACLMatch{IPSubnet: a.Match.IPSubnet, HTTPFilter: a.Match.HTTPFilter, HTTPFilterValue: a.Match.HTTPFilterValue,
				HTTPFilterOption: a.Match.HTTPFilterOption, Invert: a.Match.Invert},
			Action: config.ACLAction{Type: a.Action.Type}}
		if r := a.Action.Redirect; r != nil {
			out[i].Action.Redirect = &config.ACLRedirect{Type: r.Type, Target: r.Target, Code: r.Code}
		}
	}
	return out
}

func aclsOut(as []config.ACL) []client.ACL {
	if as == nil {
		return nil
	}
	out := make([]client.ACL, len(as))
	for i, a := range as {
		out[i] = client.ACL{Name: a.Name, Index: a.Index,
			Match: client.ACLMatch{IPSubnet: a.Match.IPSubnet, HTTPFilter: a.Match.HTTPFilter, HTTPFilterValue: a.Match.HTTPFilterValue,
				HTTPFilterOption: a.Match.HTTPFilterOption, Invert: a.Match.Invert},
			Action: client.ACLAction{Type: a.Action.Type}}
		if r := a.Action.Redirect; r != nil {
			out[i].Action.Redirect = &client.ACLRedirect{Type: r.Type, Target: r.Target, Code: r.Code}
		}
	}
	return out
}

// frontendToConfig maps the body of a frontend PUT to the model, resolving
// Scaleway's aliases.
func frontendToConfig(f frontendIn) (config.Frontend, error) {
	out := config.Frontend{InboundPort: f.InboundPort, Protocol: config.Protocol(f.Protocol), Backend: f.Backend,
		TimeoutClient: config.Millis(f.TimeoutClient), TimeoutHTTPRequest: config.Millis(f.TimeoutHTTPRequest), MaxHeaderBytes: f.MaxHeaderBytes,
		MaxHeaders: f.MaxHeaders, XForwardedFor: f.XForwardedFor, Forwarded: f.Forwarded, ACLs: aclsToConfig(f.ACLs), Certificates: f.Certificates}
	if f.BackendID != "" {
		if f.Backend != "" && f.Backend != f.BackendID {
			return out, &badRequest{"backend_id", "differs from backend; give one"}
		}
		out.Backend = f.BackendID
	}
	if f.CertificateID != "" {
		out.Certificates = append(out.Certificates, f.CertificateID)
	}
	for i, r := range f.Routes {
		cr, err := routeToConfig(r, fmt.Sprintf("routes[%d]", i))
		if err != nil {
			return out, err
		}
		out.Routes = append(out.Routes, cr)
	}
	return out, nil
}

// frontendInOf is the body that would PUT f as it is: the base a PATCH
// merges into.
func frontendInOf(f *config.Frontend) frontendIn {
	return frontendIn{InboundPort: f.InboundPort, Protocol: client.Protocol(f.Protocol), Backend: f.Backend,
		TimeoutClient: client.Millis(f.TimeoutClient), TimeoutHTTPRequest: client.Millis(f.TimeoutHTTPRequest), MaxHeaderBytes: f.MaxHeaderBytes,
		MaxHeaders: f.MaxHeaders, XForwardedFor: f.XForwardedFor, Forwarded: f.Forwarded,
		Routes: toFrontendOut(f, control.ObjectMeta{}).Routes, ACLs: aclsOut(f.ACLs), Certificates: f.Certificates}
}

func toFrontendOut(f *config.Frontend, m control.ObjectMeta) frontendOut {
	out := frontendOut{Name: f.Name, InboundPort: f.InboundPort, Protocol: client.Protocol(f.Protocol), Backend: f.Backend,
		TimeoutClient: client.Millis(f.TimeoutClient), TimeoutHTTPRequest: client.Millis(f.TimeoutHTTPRequest), MaxHeaderBytes: f.MaxHeaderBytes,
		MaxHeaders: f.MaxHeaders, XForwardedFor: f.XForwardedFor, Forwarded: f.Forwarded, ACLs: aclsOut(f.ACLs),
		Certificates: f.Certificates, Routes: []routeDTO{}, CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt}
	for _, r := range f.Routes {
		out.Routes = append(out.Routes, routeOut(r))
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
	if out.Servers, err = backendServers(b); err != nil {
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
		case "computer":
			return nil, &badRequest{"servers.type", `"computer" names machines of another provider; use "ip" with addresses`}
		default:
			return nil, &badRequest{"servers.type", fmt.Sprintf("%q is not one of ip", obj.Type)}
		}
	default:
		return nil, &badRequest{"servers", "must be a list of servers or an object {type, addresses}"}
	}
	return out, nil
}

func applyOptions(o *backendOptions, b *config.Backend) error {
	if o.TLS || o.TLSVerify {
		return &badRequest{"options.tls", "TLS to backends is " + config.ErrUnsupported.Error()[len("config: "):]}
	}
	if o.ForwardFor != nil && !*o.ForwardFor {
		return &badRequest{"options.forward_for", "X-Forwarded-For is a frontend setting: set x_forwarded_for: false on the frontend"}
	}
	switch o.ProxyProtocol {
	case "", "none":
	case "v2":
		b.SendProxyV2 = true
	default:
		return &badRequest{"options.proxy_protocol", fmt.Sprintf("%q is not one of none, v2", o.ProxyProtocol)}
	}
	if s := o.StickySession; s != nil {
		b.StickySessions = s.Type
		b.StickySessionsCookieName = s.Cookie
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
// at prefixes the field paths of its errors.
func healthOptionToConfig(h *healthOption, at string) (*config.HealthCheck, error) {
	hc := &config.HealthCheck{Port: h.Port}
	switch h.Type {
	case "tcp":
		hc.TCPConfig = &config.TCPCheck{}
	case "http":
		hc.HTTPConfig = &config.HTTPCheck{URI: h.Path, Method: h.Method, HostHeader: h.HostHeader}
		if h.ExpectedCode != "" {
			code, err := strconv.Atoi(h.ExpectedCode)
			if err != nil {
				return nil, &badRequest{at + "expected_code", fmt.Sprintf("%q is not a status code", h.ExpectedCode)}
			}
			hc.HTTPConfig.Code = &code
		}
	default:
		return nil, &badRequest{at + "type", fmt.Sprintf("%q is not one of tcp, http", h.Type)}
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
		out[i] = config.Server{Name: s.Name, IP: s.IP, Port: s.Port, Weight: s.Weight}
	}
	return out
}

func serversOut(ss []config.Server) []client.Server {
	if ss == nil {
		return nil
	}
	out := make([]client.Server, len(ss))
	for i, s := range ss {
		out[i] = client.Server{Name: s.Name, IP: s.IP, Port: s.Port, Weight: s.Weight}
	}
	return out
}

func httpCheckToConfig(h *client.HTTPCheck) *config.HTTPCheck {
	if h == nil {
		return nil
	}
	return &config.HTTPCheck{URI: h.URI, Method: h.Method, Code: h.Code, HostHeader: h.HostHeader}
}

func httpCheckOut(h *config.HTTPCheck) *client.HTTPCheck {
	if h == nil {
		return nil
	}
	return &client.HTTPCheck{URI: h.URI, Method: h.Method, Code: h.Code, HostHeader: h.HostHeader}
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
		HTTPConfig: httpCheckToConfig(h.HTTPConfig), HTTPSConfig: httpCheckToConfig(h.HTTPSConfig),
		MySQLConfig: userCheckToConfig(h.MySQLConfig), PgSQLConfig: userCheckToConfig(h.PgSQLConfig)}
	if h.TCPConfig != nil {
		out.TCPConfig = &config.TCPCheck{}
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
		HTTPConfig: httpCheckOut(h.HTTPConfig), HTTPSConfig: httpCheckOut(h.HTTPSConfig),
		MySQLConfig: userCheckOut(h.MySQLConfig), PgSQLConfig: userCheckOut(h.PgSQLConfig)}
	if h.TCPConfig != nil {
		out.TCPConfig = &client.TCPCheck{}
	}
	if h.RedisConfig != nil {
		out.RedisConfig = &json.RawMessage{'{', '}'}
	}
	if h.LDAPConfig != nil {
		out.LDAPConfig = &json.RawMessage{'{', '}'}
	}
	return out
}

// toBackendOut is backend b as the API shows it.
func toBackendOut(b *config.Backend, m control.ObjectMeta) backendOut {
	return backendOut{Name: b.Name, ForwardProtocol: client.Protocol(b.ForwardProtocol), ForwardPort: b.ForwardPort,
		ForwardPortAlgorithm: b.ForwardPortAlgorithm, StickySessions: b.StickySessions, StickySessionsCookieName: b.StickySessionsCookieName,
		HealthCheck: healthOut(b.HealthCheck), Servers: serversOut(b.Servers), SendProxyV2: b.SendProxyV2,
		TimeoutServer: client.Millis(b.TimeoutServer), TimeoutConnect: client.Millis(b.TimeoutConnect), TimeoutTunnel: client.Millis(b.TimeoutTunnel),
		OnMarkedDownAction: b.OnMarkedDownAction, CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt}
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
	}
	if o, ok := alias["options"].(map[string]any); ok {
		delete(p, "options")
		set := func(key string) {
			if v, ok := m[key]; ok {
				p[key] = v
			} else {
				p[key] = nil // the option turns it off: delete it in the merge
			}
		}
		if _, ok := o["health_check"]; ok {
			set("health_check")
		}
		if _, ok := o["proxy_protocol"]; ok {
			set("send_proxy_v2")
		}
		if _, ok := o["sticky_session"]; ok {
			set("sticky_sessions")
			set("sticky_sessions_cookie_name")
		}
	}
	return nil
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
