package api

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gantry-lb/gantry/internal/config"
	"github.com/gantry-lb/gantry/internal/control"
)

// lbIn is the body of PUT /v1/lbs/{lb}.
type lbIn struct {
	Name        string   `json:"name,omitempty"`
	Description string   `json:"description,omitempty"`
	Tags        []string `json:"tags,omitempty"`
	IPs         []string `json:"ips,omitempty"`
}

// lbOut is a load balancer as the API shows it.
type lbOut struct {
	Name          string    `json:"name"`
	Description   string    `json:"description"`
	Tags          []string  `json:"tags"`
	IPs           []string  `json:"ips"`
	Status        string    `json:"status"`
	FrontendCount int       `json:"frontend_count"`
	BackendCount  int       `json:"backend_count"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

func toLBOut(lb *config.LB, m control.ObjectMeta) lbOut {
	return lbOut{Name: lb.Name, Description: lb.Description, Tags: nonNil(lb.Tags), IPs: nonNil(lb.IPs),
		Status: "ready", FrontendCount: len(lb.Frontends), BackendCount: len(lb.Backends),
		CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// routeMatch is the "match" object of a route (Scaleway's shape).
type routeMatch struct {
	HostHeader      string               `json:"host_header,omitempty"`
	SNI             string               `json:"sni,omitempty"`
	MatchSubdomains bool                 `json:"match_subdomains,omitempty"`
	PathBegin       string               `json:"path_begin,omitempty"`
	Headers         []config.HeaderMatch `json:"headers,omitempty"`
}

// routeDTO is a route in and out: conditions under "match". The flat
// native fields are accepted on input too.
type routeDTO struct {
	Name     string      `json:"name,omitempty"`
	Backend  string      `json:"backend"`
	Match    *routeMatch `json:"match,omitempty"`
	Priority int         `json:"priority,omitempty"`

	HostHeader      string               `json:"host_header,omitempty"`
	SNI             string               `json:"sni,omitempty"`
	MatchSubdomains bool                 `json:"match_subdomains,omitempty"`
	PathBegin       string               `json:"path_begin,omitempty"`
	Headers         []config.HeaderMatch `json:"headers,omitempty"`
}

func (r routeDTO) toConfig(i int) (config.Route, error) {
	out := config.Route{Name: r.Name, Backend: r.Backend, Priority: r.Priority,
		HostHeader: r.HostHeader, SNI: r.SNI, MatchSubdomains: r.MatchSubdomains, PathBegin: r.PathBegin, Headers: r.Headers}
	if m := r.Match; m != nil {
		if r.HostHeader != "" || r.SNI != "" || r.MatchSubdomains || r.PathBegin != "" || len(r.Headers) > 0 {
			return out, &badRequest{fmt.Sprintf("routes[%d]", i), "give the conditions either under match or flat, not both"}
		}
		out.HostHeader, out.SNI, out.MatchSubdomains, out.PathBegin, out.Headers = m.HostHeader, m.SNI, m.MatchSubdomains, m.PathBegin, m.Headers
	}
	return out, nil
}

func routeOut(r config.Route) routeDTO {
	return routeDTO{Name: r.Name, Backend: r.Backend, Priority: r.Priority, Match: &routeMatch{
		HostHeader: r.HostHeader, SNI: r.SNI, MatchSubdomains: r.MatchSubdomains, PathBegin: r.PathBegin, Headers: r.Headers}}
}

// frontendIn is the body of PUT /v1/lbs/{lb}/frontends/{name}.
type frontendIn struct {
	Name               string          `json:"name,omitempty"`
	InboundPort        int             `json:"inbound_port"`
	Protocol           config.Protocol `json:"protocol,omitempty"`
	Backend            string          `json:"backend,omitempty"`
	BackendID          string          `json:"backend_id,omitempty"` // Scaleway's name for it
	TimeoutClient      config.Millis   `json:"timeout_client,omitempty"`
	TimeoutHTTPRequest config.Millis   `json:"timeout_http_request,omitempty"`
	MaxHeaderBytes     int             `json:"max_header_bytes,omitempty"`
	MaxHeaders         int             `json:"max_headers,omitempty"`
	XForwardedFor      *bool           `json:"x_forwarded_for,omitempty"`
	Forwarded          bool            `json:"forwarded,omitempty"`
	Routes             []routeDTO      `json:"routes,omitempty"`
	ACLs               []config.ACL    `json:"acls,omitempty"`
	Certificates       []string        `json:"certificates,omitempty"`
	CertificateID      string          `json:"certificate_id,omitempty"` // Scaleway: one certificate
}

func (f frontendIn) toConfig() (config.Frontend, error) {
	out := config.Frontend{InboundPort: f.InboundPort, Protocol: f.Protocol, Backend: f.Backend,
		TimeoutClient: f.TimeoutClient, TimeoutHTTPRequest: f.TimeoutHTTPRequest, MaxHeaderBytes: f.MaxHeaderBytes,
		MaxHeaders: f.MaxHeaders, XForwardedFor: f.XForwardedFor, Forwarded: f.Forwarded, ACLs: f.ACLs, Certificates: f.Certificates}
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
		cr, err := r.toConfig(i)
		if err != nil {
			return out, err
		}
		out.Routes = append(out.Routes, cr)
	}
	return out, nil
}

// frontendOut is a frontend as the API shows it.
type frontendOut struct {
	Name               string          `json:"name"`
	InboundPort        int             `json:"inbound_port"`
	Protocol           config.Protocol `json:"protocol,omitempty"`
	Backend            string          `json:"backend,omitempty"`
	TimeoutClient      config.Millis   `json:"timeout_client,omitempty"`
	TimeoutHTTPRequest config.Millis   `json:"timeout_http_request,omitempty"`
	MaxHeaderBytes     int             `json:"max_header_bytes,omitempty"`
	MaxHeaders         int             `json:"max_headers,omitempty"`
	XForwardedFor      *bool           `json:"x_forwarded_for,omitempty"`
	Forwarded          bool            `json:"forwarded,omitempty"`
	Routes             []routeDTO      `json:"routes"`
	ACLs               []config.ACL    `json:"acls,omitempty"`
	Certificates       []string        `json:"certificates,omitempty"`
	CreatedAt          time.Time       `json:"created_at"`
	UpdatedAt          time.Time       `json:"updated_at"`
}

func toFrontendOut(f *config.Frontend, m control.ObjectMeta) frontendOut {
	out := frontendOut{Name: f.Name, InboundPort: f.InboundPort, Protocol: f.Protocol, Backend: f.Backend,
		TimeoutClient: f.TimeoutClient, TimeoutHTTPRequest: f.TimeoutHTTPRequest, MaxHeaderBytes: f.MaxHeaderBytes,
		MaxHeaders: f.MaxHeaders, XForwardedFor: f.XForwardedFor, Forwarded: f.Forwarded, ACLs: f.ACLs,
		Certificates: f.Certificates, Routes: []routeDTO{}, CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt}
	for _, r := range f.Routes {
		out.Routes = append(out.Routes, routeOut(r))
	}
	return out
}

// backendIn is the body of PUT /v1/lbs/{lb}/backends/{name}: the OpenScaler
// shape of seed 004 (mode, balancing_method, port, servers object,
// options), or Scaleway's and gantry's field names, which map to the same
// model. Giving one setting both ways with different values is an error.
type backendIn struct {
	Name string `json:"name,omitempty"`

	Mode            config.Protocol `json:"mode,omitempty"`
	BalancingMethod string          `json:"balancing_method,omitempty"`
	Port            json.RawMessage `json:"port,omitempty"`
	Servers         json.RawMessage `json:"servers,omitempty"`
	Options         *backendOptions `json:"options,omitempty"`

	ForwardProtocol          config.Protocol     `json:"forward_protocol,omitempty"`
	ForwardPort              int                 `json:"forward_port,omitempty"`
	ForwardPortAlgorithm     string              `json:"forward_port_algorithm,omitempty"`
	StickySessions           string              `json:"sticky_sessions,omitempty"`
	StickySessionsCookieName string              `json:"sticky_sessions_cookie_name,omitempty"`
	HealthCheck              *config.HealthCheck `json:"health_check,omitempty"`
	Pool                     []string            `json:"pool,omitempty"`      // Scaleway: server IPs
	ServerIP                 []string            `json:"server_ip,omitempty"` // Scaleway create body
	SendProxyV2              bool                `json:"send_proxy_v2,omitempty"`
	TimeoutServer            config.Millis       `json:"timeout_server,omitempty"`
	TimeoutConnect           config.Millis       `json:"timeout_connect,omitempty"`
	TimeoutTunnel            config.Millis       `json:"timeout_tunnel,omitempty"`
	OnMarkedDownAction       string              `json:"on_marked_down_action,omitempty"`
}

type backendOptions struct {
	TLS           bool          `json:"tls"`
	TLSVerify     bool          `json:"tls_verify"`
	ForwardFor    *bool         `json:"forward_for,omitempty"`
	ProxyProtocol string        `json:"proxy_protocol,omitempty"`
	StickySession *stickyOption `json:"sticky_session,omitempty"`
	HealthCheck   *healthOption `json:"health_check,omitempty"`
}

type stickyOption struct {
	Type   string `json:"type"`
	Cookie string `json:"cookie,omitempty"`
	TTL    string `json:"ttl,omitempty"`
}

type healthOption struct {
	Type         string `json:"type"`
	Path         string `json:"path,omitempty"`
	Method       string `json:"method,omitempty"`
	Port         int    `json:"port,omitempty"`
	ExpectedCode string `json:"expected_code,omitempty"`
	HostHeader   string `json:"host_header,omitempty"`
}

// serversObject is seed 004's "servers": {"type": "ip", "addresses": [...]}.
type serversObject struct {
	Type        string   `json:"type"`
	Addresses   []string `json:"addresses,omitempty"`
	ComputerIDs []string `json:"computer_ids,omitempty"`
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

func (b backendIn) toConfig() (config.Backend, error) {
	var out config.Backend
	var err error
	if out.ForwardProtocol, err = pick(b.Mode, b.ForwardProtocol, "mode", "forward_protocol"); err != nil {
		return out, err
	}
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
	out.HealthCheck, out.SendProxyV2 = b.HealthCheck, b.SendProxyV2
	out.TimeoutServer, out.TimeoutConnect, out.TimeoutTunnel = b.TimeoutServer, b.TimeoutConnect, b.TimeoutTunnel
	out.OnMarkedDownAction = b.OnMarkedDownAction
	if out.Servers, err = b.servers(); err != nil {
		return out, err
	}
	if o := b.Options; o != nil {
		if err := o.apply(&out); err != nil {
			return out, err
		}
	}
	return out, nil
}

func (b backendIn) servers() ([]config.Server, error) {
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
		var list []config.Server
		dec := json.NewDecoder(strings.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&list); err != nil {
			return nil, &badRequest{"servers", err.Error()}
		}
		out = append(out, list...)
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

func (o *backendOptions) apply(b *config.Backend) error {
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
		hc := &config.HealthCheck{Port: h.Port}
		switch h.Type {
		case "tcp":
			hc.TCPConfig = &config.TCPCheck{}
		case "http":
			hc.HTTPConfig = &config.HTTPCheck{URI: h.Path, Method: h.Method, HostHeader: h.HostHeader}
			if h.ExpectedCode != "" {
				code, err := strconv.Atoi(h.ExpectedCode)
				if err != nil {
					return &badRequest{"options.health_check.expected_code", fmt.Sprintf("%q is not a status code", h.ExpectedCode)}
				}
				hc.HTTPConfig.Code = &code
			}
		default:
			return &badRequest{"options.health_check.type", fmt.Sprintf("%q is not one of tcp, http", h.Type)}
		}
		b.HealthCheck = hc
	}
	return nil
}

// backendOut is a backend as the API shows it: the model's fields (with
// Scaleway's names) and its times.
type backendOut struct {
	config.Backend
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}
