package config

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// FieldError says which field of a Config is wrong and why. Path reads like
// `lbs[main].frontends[web].routes[2].host_header`.
type FieldError struct {
	Path string
	Msg  string
}

func (e *FieldError) Error() string { return e.Path + ": " + e.Msg }

// Errors is every FieldError of one validation, in config order.
type Errors []*FieldError

func (es Errors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "; ")
}

// ErrUnsupported marks options the model carries but this version of gantry
// cannot honour yet; they are rejected rather than silently ignored.
var ErrUnsupported = errors.New("config: not supported yet")

// Validate checks c with its defaults applied and returns Errors naming every
// field that is wrong, or nil.
func (c *Config) Validate() error {
	_, err := c.Prepare()
	return err
}

// Prepare validates c and returns the copy of it with defaults applied,
// which is what snapshots are built from: one copy and one validation.
func (c *Config) Prepare() (*Config, error) {
	d := c.WithDefaults()
	v := &validator{}
	v.config(d)
	if len(v.errs) > 0 {
		return nil, v.errs
	}
	return d, nil
}

type validator struct {
	errs  Errors
	certs map[string]*Certificate // the certificates of the config, by name
}

func (v *validator) add(path, format string, args ...any) {
	v.errs = append(v.errs, &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (v *validator) unsupported(path, what string) {
	v.add(path, "%s is %s", what, ErrUnsupported.Error()[len("config: "):])
}

func (v *validator) config(c *Config) {
	known := v.ips(c.IPs)
	v.certs = v.certificates(c.Certificates)
	lbNames := map[string]bool{}
	binds := map[string]string{} // "ip|port" -> path of the frontend that binds it
	for i := range c.LBs {
		lb := &c.LBs[i]
		p := "lbs[" + key(lb.Name, i) + "]"
		v.name(p+".name", lb.Name)
		if lbNames[lb.Name] {
			v.add(p+".name", "duplicate load balancer name %q", lb.Name)
		}
		lbNames[lb.Name] = true
		if lb.Project != "" {
			v.name(p+".project", lb.Project)
		}
		v.lb(p, lb, binds, known)
	}
}

// ips checks the IP objects and returns their canonical addresses, or nil
// when there are none: then an LB may bind any address (configs written
// before IPs were objects).
func (v *validator) ips(ips []IP) map[string]bool {
	if len(ips) == 0 {
		return nil
	}
	known := map[string]bool{}
	for i := range ips {
		ip := &ips[i]
		p := "ips[" + key(ip.Address, i) + "]"
		a, err := netip.ParseAddr(ip.Address)
		if err != nil || a.Zone() != "" {
			v.add(p+".address", "%q is not an IP address", ip.Address)
			continue
		}
		if known[a.String()] {
			v.add(p+".address", "duplicate address %s", ip.Address)
		}
		known[a.String()] = true
		if ip.Reverse != "" {
			if err := ValidHostPattern(ip.Reverse); err != nil || strings.HasPrefix(ip.Reverse, "*") || strings.HasPrefix(ip.Reverse, "[") {
				v.add(p+".reverse", "%q is not a DNS name", ip.Reverse)
			}
		}
	}
	return known
}

func (v *validator) lb(p string, lb *LB, binds map[string]string, known map[string]bool) {
	ips := map[string]bool{}
	for i, ip := range lb.IPs {
		a, err := netip.ParseAddr(ip)
		if err != nil || a.Zone() != "" {
			v.add(fmt.Sprintf("%s.ips[%d]", p, i), "%q is not an IP address", ip)
			continue
		}
		if ips[a.String()] {
			v.add(fmt.Sprintf("%s.ips[%d]", p, i), "duplicate address %s", ip)
		}
		ips[a.String()] = true
		if known != nil && !known[a.String()] {
			v.add(fmt.Sprintf("%s.ips[%d]", p, i), "no IP object for %s: add it to ips", ip)
		}
	}
	backends := map[string]*Backend{}
	for i := range lb.Backends {
		b := &lb.Backends[i]
		bp := p + ".backends[" + key(b.Name, i) + "]"
		v.name(bp+".name", b.Name)
		if backends[b.Name] != nil {
			v.add(bp+".name", "duplicate backend name %q", b.Name)
		}
		backends[b.Name] = b
		v.backend(bp, b)
	}
	for i := range lb.Backends {
		b := &lb.Backends[i]
		if b.FailoverHost == "" {
			continue
		}
		fp := p + ".backends[" + key(b.Name, i) + "].failover_host"
		switch fb := backends[b.FailoverHost]; {
		case fb == nil:
			v.add(fp, "no backend named %q", b.FailoverHost)
		case fb == b:
			v.add(fp, "a backend cannot fail over to itself")
		case fb.ForwardProtocol != b.ForwardProtocol:
			v.add(fp, "backend %q forwards %s but this one forwards %s", fb.Name, fb.ForwardProtocol, b.ForwardProtocol)
		}
	}
	names := map[string]bool{}
	ports := map[int]string{}
	for i := range lb.Frontends {
		f := &lb.Frontends[i]
		fp := p + ".frontends[" + key(f.Name, i) + "]"
		v.name(fp+".name", f.Name)
		if names[f.Name] {
			v.add(fp+".name", "duplicate frontend name %q", f.Name)
		}
		names[f.Name] = true
		if f.InboundPort < 1 || f.InboundPort > 65535 {
			v.add(fp+".inbound_port", "%d is not a port (1-65535)", f.InboundPort)
		} else if other, ok := ports[f.InboundPort]; ok {
			v.add(fp+".inbound_port", "port %d is already used by %s", f.InboundPort, other)
		} else {
			ports[f.InboundPort] = fp
			v.binds(fp, lb.IPs, f.InboundPort, binds)
		}
		v.frontend(fp, f, backends)
	}
}

// binds records the sockets a frontend opens and reports overlaps with other
// load balancers: an LB without IPs binds every address.
func (v *validator) binds(fp string, ips []string, port int, binds map[string]string) {
	if len(ips) == 0 {
		ips = []string{""}
	}
	for _, ip := range ips {
		if a, err := netip.ParseAddr(ip); err == nil {
			ip = a.String()
		}
		k := ip + "|" + strconv.Itoa(port)
		if other, ok := binds[k]; ok {
			v.add(fp+".inbound_port", "port %d on %s is already bound by %s", port, addrName(ip), other)
			continue
		}
		if ip == "" {
			for k2, other := range binds {
				if strings.HasSuffix(k2, "|"+strconv.Itoa(port)) {
					v.add(fp+".inbound_port", "port %d on all addresses overlaps %s", port, other)
					break
				}
			}
		} else if other, ok := binds["|"+strconv.Itoa(port)]; ok {
			v.add(fp+".inbound_port", "port %d on %s overlaps %s, which binds all addresses", port, ip, other)
		}
		binds[k] = fp
	}
}

func addrName(ip string) string {
	if ip == "" {
		return "all addresses"
	}
	return ip
}

func (v *validator) frontend(fp string, f *Frontend, backends map[string]*Backend) {
	switch f.Protocol {
	case ProtocolHTTP, ProtocolTCP, ProtocolHTTPS:
	case "":
		v.add(fp+".protocol", "cannot be derived: set protocol, or a backend")
	default:
		v.add(fp+".protocol", "%q is not one of tcp, http, https", f.Protocol)
	}
	if f.Backend == "" && f.Routes.Len() == 0 {
		v.add(fp+".backend", "required when the frontend has no routes")
	}
	if f.Backend != "" {
		v.backendRef(fp+".backend", f.Backend, f.Protocol, backends)
	}
	v.positive(fp+".timeout_client", int64(f.TimeoutClient))
	v.positive(fp+".timeout_http_request", int64(f.TimeoutHTTPRequest))
	if f.MaxHeaderBytes < 1024 || f.MaxHeaderBytes > 1<<20 {
		v.add(fp+".max_header_bytes", "%d is out of range 1024-1048576", f.MaxHeaderBytes)
	}
	if f.MaxHeaders < 1 || f.MaxHeaders > 1000 {
		v.add(fp+".max_headers", "%d is out of range 1-1000", f.MaxHeaders)
	}
	routeNames := map[string]bool{}
	for i, r := range f.Routes.All() {
		rp := fmt.Sprintf("%s.routes[%d]", fp, i)
		// A name is optional, but a named route is addressable in the API
		// (/routes/{name}), so the name must be a valid path segment and
		// unique within its frontend.
		if n := r.Name; n != "" {
			v.name(rp+".name", n)
			if routeNames[n] {
				v.add(rp+".name", "duplicate route name %q", n)
			}
			routeNames[n] = true
		}
		v.route(rp, r, f.Protocol, backends)
	}
	v.acls(fp, f)
	if f.ConnectionRateLimit < 0 || f.ConnectionRateLimit > 1_000_000 {
		v.add(fp+".connection_rate_limit", "%d is out of range 0-1000000 (connections per second; 0 means no limit)", f.ConnectionRateLimit)
	}
	for i, c := range f.AcceptProxyFrom {
		if _, err := parseCIDR(c); err != nil {
			v.add(fmt.Sprintf("%s.accept_proxy_from[%d]", fp, i), "%q: %v", c, err)
		}
	}
	v.headerRules(fp+".request_headers", f.RequestHeaders, f.Protocol)
	v.headerRules(fp+".response_headers", f.ResponseHeaders, f.Protocol)
	v.frontendTLS(fp, f, v.certs)
}

func (v *validator) backendRef(path, name string, proto Protocol, backends map[string]*Backend) {
	b := backends[name]
	if b == nil {
		v.add(path, "no backend named %q", name)
		return
	}
	if proto == ProtocolHTTPS {
		proto = ProtocolHTTP // TLS ends at the frontend
	}
	if proto != "" && b.ForwardProtocol != proto {
		v.add(path, "backend %q forwards %s but the frontend speaks %s", name, b.ForwardProtocol, proto)
	}
}

func (v *validator) route(rp string, r *Route, proto Protocol, backends map[string]*Backend) {
	if r.Backend == "" {
		v.add(rp+".backend", "required")
	} else {
		v.backendRef(rp+".backend", r.Backend, proto, backends)
	}
	if r.HostHeader != "" {
		if err := ValidHostPattern(r.HostHeader); err != nil {
			v.add(rp+".host_header", "%q: %v", r.HostHeader, err)
		}
	}
	if r.SNI != "" {
		if err := ValidHostPattern(r.SNI); err != nil {
			v.add(rp+".sni", "%q: %v", r.SNI, err)
		}
	}
	if r.PathBegin != "" && !strings.HasPrefix(r.PathBegin, "/") {
		v.add(rp+".path_begin", "%q must start with /", r.PathBegin)
	} else if i := strings.IndexFunc(r.PathBegin, func(c rune) bool { return c <= ' ' || c >= 0x7f }); i >= 0 {
		v.add(rp+".path_begin", "%q has a space or control character at byte %d", r.PathBegin, i)
	}
	if r.MatchSubdomains && r.HostHeader == "" && r.SNI == "" {
		v.add(rp+".match_subdomains", "needs host_header or sni")
	}
	if r.MatchSubdomains && (strings.HasPrefix(r.HostHeader, "*.") || strings.HasPrefix(r.SNI, "*.")) {
		v.add(rp+".match_subdomains", "already implied by a wildcard name")
	}
	for i, h := range r.Headers {
		hp := fmt.Sprintf("%s.headers[%d]", rp, i)
		if !httpguts.ValidHeaderFieldName(h.Name) {
			v.add(hp+".name", "%q is not a header field name", h.Name)
		}
		if strings.ContainsAny(h.Value, "\x00\r\n") {
			v.add(hp+".value", "contains NUL, CR or LF")
		}
	}
	switch proto {
	case ProtocolTCP:
		if r.HostHeader != "" || r.PathBegin != "" || len(r.Headers) > 0 {
			v.add(rp, "a tcp frontend routes by sni only (host_header, path_begin and headers need http)")
		}
	case ProtocolHTTP, ProtocolHTTPS:
		if r.SNI != "" {
			v.add(rp+".sni", "sni routing needs a tcp frontend (TLS is passed through)")
		}
	}
	v.nonNegative(rp+".priority", int64(r.Priority))
}

func (v *validator) backend(bp string, b *Backend) {
	switch b.ForwardProtocol {
	case ProtocolHTTP, ProtocolTCP:
	default:
		v.add(bp+".forward_protocol", "%q is not one of tcp, http", b.ForwardProtocol)
	}
	if b.ForwardPort < 0 || b.ForwardPort > 65535 {
		v.add(bp+".forward_port", "%d is not a port (0-65535)", b.ForwardPort)
	}
	switch b.ForwardPortAlgorithm {
	case AlgoRoundRobin, AlgoLeastConn, AlgoFirst, AlgoRandom, AlgoSource:
	case AlgoURI, AlgoHeader:
		if b.ForwardProtocol == ProtocolTCP {
			v.add(bp+".forward_port_algorithm", "%q hashes a part of HTTP requests: it needs forward_protocol http", b.ForwardPortAlgorithm)
		}
	default:
		v.add(bp+".forward_port_algorithm", "%q is not one of roundrobin, leastconn, first, random, source, uri, hdr", b.ForwardPortAlgorithm)
	}
	switch {
	case b.ForwardPortAlgorithm == AlgoHeader && !httpguts.ValidHeaderFieldName(b.HashHeader):
		v.add(bp+".hash_header", "%q is not a header field name (required by forward_port_algorithm hdr)", b.HashHeader)
	case b.ForwardPortAlgorithm != AlgoHeader && b.HashHeader != "":
		v.add(bp+".hash_header", "only used by forward_port_algorithm hdr")
	}
	v.sticky(bp, b)
	v.backendTLS(bp, b)
	switch b.ProxyProtocol {
	case ProxyNone, ProxyV1, ProxyV2, ProxyV2SSL, ProxyV2SSLCN:
		if b.SendProxyV2 && b.ProxyProtocol != ProxyV2 {
			v.add(bp+".send_proxy_v2", "contradicts proxy_protocol %s; give proxy_protocol only", b.ProxyProtocol)
		}
	default:
		v.add(bp+".proxy_protocol", "%q is not one of proxy_protocol_none, proxy_protocol_v1, proxy_protocol_v2, proxy_protocol_v2_ssl, proxy_protocol_v2_ssl_cn", b.ProxyProtocol)
	}
	if b.MaxConnections < 0 || b.MaxConnections > 1_000_000 {
		v.add(bp+".max_connections", "%d is out of range 0-1000000 (0 means no limit)", b.MaxConnections)
	}
	v.positive(bp+".timeout_queue", int64(b.TimeoutQueue))
	if n := *b.MaxRetries; n < 0 || n > 100 {
		v.add(bp+".max_retries", "%d is out of range 0-100", n)
	}
	if n := *b.RedispatchAttemptCount; n < 0 || n > 100 {
		v.add(bp+".redispatch_attempt_count", "%d is out of range 0-100", n)
	}
	if b.Host != "" {
		if b.ForwardProtocol != ProtocolHTTP {
			v.add(bp+".host", "rewrites the Host header: it needs forward_protocol http")
		} else if !validHostPort(b.Host) {
			v.add(bp+".host", "%q is not a host name or host:port", b.Host)
		}
	}
	if p := b.PassiveHealthCheck; p != nil {
		if p.ConsecutiveFailures < 1 || p.ConsecutiveFailures > 1000 {
			v.add(bp+".passive_health_check.consecutive_failures", "%d is out of range 1-1000", p.ConsecutiveFailures)
		}
		v.positive(bp+".passive_health_check.backoff", int64(p.Backoff))
	}
	switch b.OnMarkedDownAction {
	case MarkedDownNone, MarkedDownShutdown:
	default:
		v.add(bp+".on_marked_down_action", "%q is not one of on_marked_down_action_none, shutdown_sessions", b.OnMarkedDownAction)
	}
	v.positive(bp+".timeout_server", int64(b.TimeoutServer))
	v.positive(bp+".timeout_connect", int64(b.TimeoutConnect))
	v.positive(bp+".timeout_tunnel", int64(b.TimeoutTunnel))
	seen := map[string]int{}
	names := map[string]bool{}
	for i := range b.Servers {
		s := &b.Servers[i]
		sp := fmt.Sprintf("%s.servers[%d]", bp, i)
		a, err := netip.ParseAddr(s.IP)
		if err != nil {
			v.add(sp+".ip", "%q is not an IP address", s.IP)
		}
		if s.Port < 1 || s.Port > 65535 {
			if s.Port == 0 {
				v.add(sp+".port", "no port: set port or the backend's forward_port")
			} else {
				v.add(sp+".port", "%d is not a port (1-65535)", s.Port)
			}
		}
		if s.Weight != nil && (*s.Weight < 0 || *s.Weight > 256) {
			v.add(sp+".weight", "%d is out of range 0-256", *s.Weight)
		}
		if s.Name != "" {
			v.name(sp+".name", s.Name)
			if names[s.Name] {
				v.add(sp+".name", "duplicate server name %q", s.Name)
			}
			names[s.Name] = true
		}
		if err == nil {
			addr := netip.AddrPortFrom(a, uint16(s.Port)).String()
			if j, dup := seen[addr]; dup {
				v.add(sp, "duplicate of servers[%d] (%s)", j, addr)
			}
			seen[addr] = i
		}
	}
	if b.HealthCheck != nil {
		v.healthCheck(bp+".health_check", b.HealthCheck)
	}
	v.docker(bp, b)
}

func (hc *HealthCheck) kinds() int {
	n := 0
	for _, set := range []bool{hc.TCPConfig != nil, hc.HTTPConfig != nil, hc.HTTPSConfig != nil,
		hc.MySQLConfig != nil, hc.PgSQLConfig != nil, hc.RedisConfig != nil, hc.LDAPConfig != nil} {
		if set {
			n++
		}
	}
	return n
}

func (v *validator) healthCheck(hp string, hc *HealthCheck) {
	if hc.kinds() > 1 {
		v.add(hp, "only one of tcp_config, http_config, https_config, mysql_config, pgsql_config, redis_config, ldap_config may be set")
	}
	if hc.Port < 0 || hc.Port > 65535 {
		v.add(hp+".port", "%d is not a port (0-65535)", hc.Port)
	}
	v.positive(hp+".check_delay", int64(hc.CheckDelay))
	v.positive(hp+".check_timeout", int64(hc.CheckTimeout))
	if hc.CheckMaxRetries < 1 || hc.CheckMaxRetries > 100 {
		v.add(hp+".check_max_retries", "%d is out of range 1-100", hc.CheckMaxRetries)
	}
	if hc.CheckRise < 1 || hc.CheckRise > 100 {
		v.add(hp+".check_rise", "%d is out of range 1-100", hc.CheckRise)
	}
	if hc.TransientCheckDelay < 0 {
		v.add(hp+".transient_check_delay", "%d must not be negative (milliseconds; 0 means check_delay)", hc.TransientCheckDelay)
	}
	if t := hc.TCPConfig; t != nil && (strings.ContainsRune(t.Send, 0) || strings.ContainsRune(t.Expect, 0)) {
		v.add(hp+".tcp_config", "send and expect are text without NUL bytes")
	}
	for _, c := range []struct {
		h    *HTTPCheck
		name string
	}{{hc.HTTPConfig, "http_config"}, {hc.HTTPSConfig, "https_config"}} {
		h := c.h
		if h == nil {
			continue
		}
		cp := hp + "." + c.name
		if !httpguts.ValidHeaderFieldName(h.Method) {
			v.add(cp+".method", "%q is not an HTTP method", h.Method)
		}
		if !strings.HasPrefix(h.URI, "/") || strings.ContainsFunc(h.URI, func(c rune) bool { return c <= ' ' || c >= 0x7f }) {
			v.add(cp+".uri", "%q must start with / and have no spaces or control characters", h.URI)
		}
		if h.Code != nil && (*h.Code < 100 || *h.Code > 599) {
			v.add(cp+".code", "%d is not an HTTP status (100-599)", *h.Code)
		}
		if h.HostHeader != "" {
			if err := ValidHostPattern(h.HostHeader); err != nil || strings.HasPrefix(h.HostHeader, "*") {
				v.add(cp+".host_header", "%q is not a host name", h.HostHeader)
			}
		}
		if h.SNI != "" {
			if c.name != "https_config" {
				v.add(cp+".sni", "only https checks send a server name")
			} else if err := ValidHostPattern(h.SNI); err != nil || strings.HasPrefix(h.SNI, "*") || strings.HasPrefix(h.SNI, "[") {
				v.add(cp+".sni", "%q is not a DNS name", h.SNI)
			}
		}
	}
	for _, u := range []struct {
		c    *UserCheck
		name string
	}{{hc.MySQLConfig, "mysql_config"}, {hc.PgSQLConfig, "pgsql_config"}} {
		if u.c == nil {
			continue
		}
		if u.c.User == "" {
			v.add(hp+"."+u.name+".user", "required: the check logs in as this user")
		} else if len(u.c.User) > 63 || strings.ContainsFunc(u.c.User, func(c rune) bool { return c <= ' ' || c >= 0x7f }) {
			v.add(hp+"."+u.name+".user", "%q must be 1-63 printable characters without spaces", u.c.User)
		}
	}
}

func (v *validator) name(path, s string) {
	if err := ValidName(s); err != nil {
		v.add(path, "%q: %v", s, err)
	}
}

func (v *validator) positive(path string, n int64) {
	if n <= 0 {
		v.add(path, "%d must be positive (milliseconds)", n)
	}
}

func (v *validator) nonNegative(path string, n int64) {
	if n < 0 {
		v.add(path, "%d must not be negative", n)
	}
}

// ValidName accepts 1-63 of [A-Za-z0-9._-], starting with a letter or
// digit: names appear in URLs, store keys, metrics labels and logs.
func ValidName(s string) error {
	if s == "" {
		return errors.New("required")
	}
	if len(s) > 63 {
		return errors.New("longer than 63 characters")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case (c == '.' || c == '_' || c == '-') && i > 0:
		default:
			return fmt.Errorf("character %q at %d: use letters, digits, '.', '_' and '-', starting with a letter or digit", c, i)
		}
	}
	return nil
}

// ValidHostPattern accepts an exact host name ("example.com", "10.0.0.1",
// "[::1]") or a wildcard whose first label is "*" ("*.example.com").
func ValidHostPattern(p string) error {
	name := strings.TrimSuffix(p, ".")
	if strings.HasPrefix(name, "[") {
		a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(name, "["), "]"))
		if err != nil || !strings.HasSuffix(name, "]") || !a.Is6() {
			return errors.New("not a bracketed IPv6 address")
		}
		return nil
	}
	if rest, ok := strings.CutPrefix(p, "*."); ok {
		if rest == "" || rest == "." {
			return errors.New("empty label")
		}
		name = strings.TrimSuffix(rest, ".")
	} else if name == "*" {
		return errors.New("a wildcard needs a domain, like *.example.com")
	}
	if name == "" {
		return errors.New("empty name")
	}
	if len(name) > 253 {
		return errors.New("longer than 253 characters")
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" {
			return errors.New("empty label")
		}
		if len(label) > 63 {
			return fmt.Errorf("label %q is longer than 63 characters", label)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			switch {
			case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
			case c == '*':
				return errors.New("'*' is only allowed as the whole first label")
			default:
				return fmt.Errorf("character %q in label %q", c, label)
			}
		}
	}
	return nil
}

// key is how a path names a list element: by name when it has one, else by index.
func key(name string, i int) string {
	if name == "" {
		return strconv.Itoa(i)
	}
	return name
}
