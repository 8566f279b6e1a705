package config

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func intp(i int) *int { return &i }

// valid returns a small config that validates; tests break one field.
func valid() *Config {
	return &Config{LBs: []LB{{
		Name: "main",
		IPs:  []string{"127.0.0.1"},
		Backends: []Backend{
			{Name: "api", ForwardProtocol: ProtocolHTTP, ForwardPort: 8080,
				Servers:     []Server{{IP: "10.0.0.1"}, {IP: "10.0.0.2", Port: 9090, Weight: intp(3)}},
				HealthCheck: &HealthCheck{HTTPConfig: &HTTPCheck{URI: "/health", Code: intp(200)}}},
			{Name: "db", ForwardProtocol: ProtocolTCP, Servers: []Server{{IP: "::1", Port: 5432}}},
		},
		Frontends: []Frontend{
			{Name: "web", InboundPort: 80, Backend: "api", Routes: RoutesOf(
				Route{Backend: "api", HostHeader: "api.example.com"},
				Route{Backend: "api", HostHeader: "*.example.com", PathBegin: "/v1", Priority: 2},
				Route{Backend: "api", HostHeader: "example.org", MatchSubdomains: true, Headers: []HeaderMatch{{Name: "X-Env", Value: "prod"}}},
			)},
			{Name: "pg", InboundPort: 5432, Backend: "db"},
		},
	}}}
}

func TestValidConfig(t *testing.T) {
	if err := valid().Validate(); err != nil {
		t.Fatalf("valid config rejected: %v", err)
	}
}

// TestRouteNamesAreOptional: routes without a name, and routes with
// distinct names, validate; two unnamed routes are no duplicates.
func TestRouteNamesAreOptional(t *testing.T) {
	c := valid()
	editRoute(&c.LBs[0].Frontends[0], 0, func(r *Route) { r.Name = "api" })
	editRoute(&c.LBs[0].Frontends[0], 1, func(r *Route) { r.Name = "wild.v1" })
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c.LBs[0].Frontends[1].Routes = RoutesOf(Route{Name: "api", Backend: "db"}) // the same name in another frontend
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

// TestIPObjects: an LB may bind an address of the ips list, and with no
// list at all any address (configs from before IPs were objects).
func TestIPObjects(t *testing.T) {
	c := valid()
	c.IPs = []IP{{Address: "127.0.0.1", Reverse: "lb.example.com", Tags: []string{"prod"}}, {Address: "::1"}}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c.LBs[0].IPs = []string{"127.0.0.1", "0:0::1"} // compared in canonical form
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if ip := c.IP("0::1"); ip == nil || ip.Address != "::1" {
		t.Errorf("IP(0::1) = %v, want the ::1 object", ip)
	}
	if got := c.IPUsers("::1"); len(got) != 1 || got[0] != "main" {
		t.Errorf("IPUsers(::1) = %v, want [main]", got)
	}
	if got := c.IPUsers("10.9.9.9"); got != nil {
		t.Errorf("IPUsers(10.9.9.9) = %v, want none", got)
	}
}

func TestDefaults(t *testing.T) {
	c := valid()
	d := c.WithDefaults()
	fe := d.LBs[0].Frontends[0]
	if fe.Protocol != ProtocolHTTP {
		t.Errorf("frontend protocol = %q, want it derived from backend (http)", fe.Protocol)
	}
	if fe.TimeoutClient != DefaultTimeoutClient || fe.MaxHeaderBytes != 16<<10 || fe.MaxHeaders != 100 || !*fe.XForwardedFor {
		t.Errorf("frontend defaults not applied: %+v", fe)
	}
	be := d.LBs[0].Backends[0]
	if be.Servers[0].Port != 8080 || *be.Servers[0].Weight != 1 || be.Servers[1].Port != 9090 {
		t.Errorf("server defaults wrong: %+v %+v", be.Servers[0], be.Servers[1])
	}
	hc := be.HealthCheck
	if hc.CheckDelay != 2000 || hc.CheckTimeout != 1000 || hc.CheckMaxRetries != 3 || hc.CheckRise != 2 || hc.HTTPConfig.Method != "GET" {
		t.Errorf("health check defaults wrong: %+v", hc)
	}
	if d.LBs[0].Backends[1].HealthCheck != nil {
		t.Error("a backend without a health check got one")
	}
	if c.LBs[0].Frontends[0].Protocol != "" || c.LBs[0].Backends[0].Servers[0].Port != 0 {
		t.Error("WithDefaults modified its receiver")
	}
}

func TestValidateNamesTheField(t *testing.T) {
	tests := []struct {
		name   string
		break_ func(c *Config)
		want   string // exact error text of one FieldError
	}{
		{"bad project", func(c *Config) { c.LBs[0].Project = "-team" },
			`lbs[main].project: "-team": character '-' at 0: use letters, digits, '.', '_' and '-', starting with a letter or digit`},
		{"wildcard without domain", func(c *Config) { editRoute(&c.LBs[0].Frontends[0], 1, func(r *Route) { r.HostHeader = "*." }) },
			`lbs[main].frontends[web].routes[1].host_header: "*.": empty label`},
		{"star in middle", func(c *Config) { editRoute(&c.LBs[0].Frontends[0], 0, func(r *Route) { r.HostHeader = "a.*.com" }) },
			`lbs[main].frontends[web].routes[0].host_header: "a.*.com": '*' is only allowed as the whole first label`},
		{"empty label", func(c *Config) { editRoute(&c.LBs[0].Frontends[0], 0, func(r *Route) { r.HostHeader = "a..com" }) },
			`lbs[main].frontends[web].routes[0].host_header: "a..com": empty label`},
		{"bare star", func(c *Config) { editRoute(&c.LBs[0].Frontends[0], 0, func(r *Route) { r.HostHeader = "*" }) },
			`lbs[main].frontends[web].routes[0].host_header: "*": a wildcard needs a domain, like *.example.com`},
		{"unknown backend", func(c *Config) { c.LBs[0].Frontends[0].Backend = "nope" },
			`lbs[main].frontends[web].backend: no backend named "nope"`},
		{"protocol mismatch", func(c *Config) { c.LBs[0].Frontends[1].Routes = RoutesOf(Route{Backend: "api"}) },
			`lbs[main].frontends[pg].routes[0].backend: backend "api" forwards http but the frontend speaks tcp`},
		{"port range", func(c *Config) { c.LBs[0].Frontends[0].InboundPort = 70000 },
			`lbs[main].frontends[web].inbound_port: 70000 is not a port (1-65535)`},
		{"duplicate port", func(c *Config) { c.LBs[0].Frontends[1].InboundPort = 80 },
			`lbs[main].frontends[pg].inbound_port: port 80 is already used by lbs[main].frontends[web]`},
		{"bad server ip", func(c *Config) { c.LBs[0].Backends[0].Servers[0].IP = "backend.local" },
			`lbs[main].backends[api].servers[0].ip: "backend.local" is not an IP address`},
		{"no port", func(c *Config) { c.LBs[0].Backends[0].ForwardPort = 0 },
			`lbs[main].backends[api].servers[0].port: no port: set port or the backend's forward_port`},
		{"weight", func(c *Config) { c.LBs[0].Backends[0].Servers[1].Weight = intp(300) },
			`lbs[main].backends[api].servers[1].weight: 300 is out of range 0-256`},
		{"algorithm", func(c *Config) { c.LBs[0].Backends[0].ForwardPortAlgorithm = "weighted" },
			`lbs[main].backends[api].forward_port_algorithm: "weighted" is not one of roundrobin, leastconn, first, random, source, uri, hdr`},
		{"hash header", func(c *Config) { c.LBs[0].Backends[0].ForwardPortAlgorithm = "hdr" },
			`lbs[main].backends[api].hash_header: "" is not a header field name (required by forward_port_algorithm hdr)`},
		{"uri hash on tcp", func(c *Config) { c.LBs[0].Backends[1].ForwardPortAlgorithm = "uri" },
			`lbs[main].backends[db].forward_port_algorithm: "uri" hashes a part of HTTP requests: it needs forward_protocol http`},
		{"proxy protocol", func(c *Config) { c.LBs[0].Backends[0].ProxyProtocol = "v3" },
			`lbs[main].backends[api].proxy_protocol: "v3" is not one of proxy_protocol_none, proxy_protocol_v1, proxy_protocol_v2, proxy_protocol_v2_ssl, proxy_protocol_v2_ssl_cn`},
		{"proxy protocol contradiction", func(c *Config) {
			c.LBs[0].Backends[0].ProxyProtocol = ProxyV1
			c.LBs[0].Backends[0].SendProxyV2 = true
		}, `lbs[main].backends[api].send_proxy_v2: contradicts proxy_protocol proxy_protocol_v1; give proxy_protocol only`},
		{"failover to nothing", func(c *Config) { c.LBs[0].Backends[0].FailoverHost = "sorry" },
			`lbs[main].backends[api].failover_host: no backend named "sorry"`},
		{"failover across protocols", func(c *Config) { c.LBs[0].Backends[0].FailoverHost = "db" },
			`lbs[main].backends[api].failover_host: backend "db" forwards tcp but this one forwards http`},
		{"max retries", func(c *Config) { c.LBs[0].Backends[0].MaxRetries = intp(-1) },
			`lbs[main].backends[api].max_retries: -1 is out of range 0-100`},
		{"host override", func(c *Config) { c.LBs[0].Backends[0].Host = "bad host" },
			`lbs[main].backends[api].host: "bad host" is not a host name or host:port`},
		{"sticky cookie on tcp", func(c *Config) {
			c.LBs[0].Backends[1].StickySessions = "cookie"
			c.LBs[0].Backends[1].StickySessionsCookieName = "s"
		}, `lbs[main].backends[db].sticky_sessions: cookie stickiness needs forward_protocol http (use table for tcp)`},
		{"samesite none", func(c *Config) {
			c.LBs[0].Backends[0].StickySessions = "cookie"
			c.LBs[0].Backends[0].StickySessionsCookieName = "s"
			c.LBs[0].Backends[0].StickySessionsCookieSameSite = "none"
		}, `lbs[main].backends[api].sticky_sessions_cookie_samesite: none needs sticky_sessions_cookie_secure (browsers drop it otherwise)`},
		{"acl subnet", func(c *Config) {
			c.LBs[0].Frontends[0].ACLs = []ACL{{Name: "a", Match: ACLMatch{IPSubnet: []string{"10.0.0.0/33"}}, Action: ACLAction{Type: "deny"}}}
		}, `lbs[main].frontends[web].acls[a].match.ip_subnet[0]: "10.0.0.0/33": not a CIDR`},
		{"acl regex", func(c *Config) {
			c.LBs[0].Frontends[0].ACLs = []ACL{{Name: "a", Match: ACLMatch{HTTPFilter: "regex", HTTPFilterValue: []string{"("}}, Action: ACLAction{Type: "deny"}}}
		}, "lbs[main].frontends[web].acls[a].match.http_filter_value[0]: \"(\" is not a regular expression: error parsing regexp: missing closing ): `(`"},
		{"acl redirect code", func(c *Config) {
			c.LBs[0].Frontends[0].ACLs = []ACL{{Name: "a", Action: ACLAction{Type: "redirect", Redirect: &ACLRedirect{Type: "location", Target: "https://x/", Code: 304}}}}
		}, `lbs[main].frontends[web].acls[a].action.redirect.code: 304 is not one of 301, 302, 303, 307, 308`},
		{"acl http filter on tcp", func(c *Config) {
			c.LBs[0].Frontends[1].ACLs = []ACL{{Match: ACLMatch{HTTPFilter: "path_begin", HTTPFilterValue: []string{"/"}}, Action: ACLAction{Type: "deny"}}}
		}, `lbs[main].frontends[pg].acls[0].match.http_filter: a tcp frontend matches ip_subnet only`},
		{"header rule framing", func(c *Config) {
			c.LBs[0].Frontends[0].RequestHeaders = []HeaderRule{{Action: "remove", Name: "Content-Length"}}
		}, `lbs[main].frontends[web].request_headers[0].name: Content-Length frames the message or the connection: the proxy owns it`},
		{"header rule action", func(c *Config) {
			c.LBs[0].Frontends[0].ResponseHeaders = []HeaderRule{{Action: "replace", Name: "X-A", Value: "1"}}
		}, `lbs[main].frontends[web].response_headers[0].action: "replace" is not one of set, add, remove`},
		{"accept proxy", func(c *Config) { c.LBs[0].Frontends[0].AcceptProxyFrom = []string{"nope"} },
			`lbs[main].frontends[web].accept_proxy_from[0]: "nope": not an IP address or CIDR`},
		{"mysql user", func(c *Config) {
			c.LBs[0].Backends[0].HealthCheck = &HealthCheck{MySQLConfig: &UserCheck{}}
		}, `lbs[main].backends[api].health_check.mysql_config.user: required: the check logs in as this user`},
		{"duplicate server", func(c *Config) {
			c.LBs[0].Backends[0].Servers[1].Port = 8080
			c.LBs[0].Backends[0].Servers[1].IP = "10.0.0.1"
		},
			`lbs[main].backends[api].servers[1]: duplicate of servers[0] (10.0.0.1:8080)`},
		{"two check kinds", func(c *Config) { c.LBs[0].Backends[0].HealthCheck.TCPConfig = &TCPCheck{} },
			`lbs[main].backends[api].health_check: only one of tcp_config, http_config, https_config, mysql_config, pgsql_config, redis_config, ldap_config may be set`},
		{"check code", func(c *Config) { c.LBs[0].Backends[0].HealthCheck.HTTPConfig.Code = intp(42) },
			`lbs[main].backends[api].health_check.http_config.code: 42 is not an HTTP status (100-599)`},
		{"negative timeout", func(c *Config) { c.LBs[0].Backends[0].TimeoutServer = -1 },
			`lbs[main].backends[api].timeout_server: -1 must be positive (milliseconds)`},
		{"sni on http", func(c *Config) { editRoute(&c.LBs[0].Frontends[0], 0, func(r *Route) { r.SNI = "a.example.com" }) },
			`lbs[main].frontends[web].routes[0].sni: sni routing needs a tcp frontend (TLS is passed through)`},
		{"host on tcp", func(c *Config) {
			c.LBs[0].Frontends[1].Routes = RoutesOf(Route{Backend: "db", HostHeader: "x.example.com"})
		}, `lbs[main].frontends[pg].routes[0]: a tcp frontend routes by sni only (host_header, path_begin and headers need http)`},
		{"path without slash", func(c *Config) { editRoute(&c.LBs[0].Frontends[0], 0, func(r *Route) { r.PathBegin = "api" }) },
			`lbs[main].frontends[web].routes[0].path_begin: "api" must start with /`},
		{"header name", func(c *Config) { editRoute(&c.LBs[0].Frontends[0], 2, func(r *Route) { r.Headers[0].Name = "X Env" }) },
			`lbs[main].frontends[web].routes[2].headers[0].name: "X Env" is not a header field name`},
		{"bad name", func(c *Config) { c.LBs[0].Backends[1].Name = "-db"; c.LBs[0].Frontends[1].Backend = "-db" },
			`lbs[main].backends[-db].name: "-db": character '-' at 0: use letters, digits, '.', '_' and '-', starting with a letter or digit`},
		{"no backend no routes", func(c *Config) { c.LBs[0].Frontends[1].Backend = "" },
			`lbs[main].frontends[pg].backend: required when the frontend has no routes`},
		{"sticky cookie name", func(c *Config) { c.LBs[0].Backends[0].StickySessions = "cookie" },
			`lbs[main].backends[api].sticky_sessions_cookie_name: required with sticky_sessions cookie`},
		{"bad lb ip", func(c *Config) { c.LBs[0].IPs = []string{"1.2.3"} },
			`lbs[main].ips[0]: "1.2.3" is not an IP address`},
		{"ip not an object", func(c *Config) { c.IPs = []IP{{Address: "10.0.0.9"}} },
			`lbs[main].ips[0]: no IP object for 127.0.0.1: add it to ips`},
		{"bad ip address", func(c *Config) { c.IPs = []IP{{Address: "127.0.0.1"}, {Address: "1.2.3"}} },
			`ips[1.2.3].address: "1.2.3" is not an IP address`},
		{"leading zero", func(c *Config) { c.IPs = []IP{{Address: "127.0.0.1"}, {Address: "127.0.0.01"}} },
			`ips[127.0.0.01].address: "127.0.0.01" is not an IP address`},
		{"duplicate ipv6", func(c *Config) { c.IPs = []IP{{Address: "127.0.0.1"}, {Address: "::1"}, {Address: "0::1"}} },
			`ips[0::1].address: duplicate address 0::1`},
		{"bad reverse", func(c *Config) { c.IPs = []IP{{Address: "127.0.0.1", Reverse: "*.example.com"}} },
			`ips[127.0.0.1].reverse: "*.example.com" is not a DNS name`},
		{"bad route name", func(c *Config) { editRoute(&c.LBs[0].Frontends[0], 2, func(r *Route) { r.Name = "a b" }) },
			`lbs[main].frontends[web].routes[2].name: "a b": character ' ' at 1: use letters, digits, '.', '_' and '-', starting with a letter or digit`},
		{"duplicate route name", func(c *Config) {
			editRoute(&c.LBs[0].Frontends[0], 0, func(r *Route) { r.Name = "api" })
			editRoute(&c.LBs[0].Frontends[0], 2, func(r *Route) { r.Name = "api" })
		}, `lbs[main].frontends[web].routes[2].name: duplicate route name "api"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.break_(c)
			err := c.Validate()
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("Validate() = %v, want Errors", err)
			}
			for _, e := range es {
				if e.Error() == tt.want {
					return
				}
			}
			t.Fatalf("Validate() = %v\nwant an error %q", err, tt.want)
		})
	}
}

func TestBindOverlapAcrossLBs(t *testing.T) {
	c := valid()
	other := LB{Name: "other", Backends: []Backend{{Name: "b", ForwardProtocol: ProtocolTCP, Servers: []Server{{IP: "10.0.0.9", Port: 1}}}},
		Frontends: []Frontend{{Name: "f", InboundPort: 80, Backend: "b"}}}
	c.LBs = append(c.LBs, other)
	err := c.Validate()
	if err == nil || !strings.Contains(err.Error(), "lbs[other].frontends[f].inbound_port: port 80 on all addresses overlaps lbs[main].frontends[web]") {
		t.Fatalf("Validate() = %v, want an overlap error", err)
	}
	c.LBs[1].IPs = []string{"127.0.0.2"}
	if err := c.Validate(); err != nil {
		t.Fatalf("different IPs on the same port must be fine: %v", err)
	}
}

func TestParseRejectsUnknownFields(t *testing.T) {
	_, err := Parse([]byte("lbs:\n- name: a\n  frontendz: []\n"))
	if err == nil || !strings.Contains(err.Error(), `unknown field "frontendz"`) {
		t.Fatalf("Parse() = %v, want unknown field error", err)
	}
	c, err := Parse([]byte(`
lbs:
- name: main
  frontends:
  - {name: web, inbound_port: 8080, backend: app, timeout_client: 5000}
  backends:
  - name: app
    forward_protocol: http
    forward_port: 9000
    servers: [{ip: 127.0.0.1}]
`))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := c.LBs[0].Frontends[0].TimeoutClient.Duration().Seconds(); got != 5 {
		t.Fatalf("timeout_client = %vs, want 5s", got)
	}
}

func TestCloneIsDeep(t *testing.T) {
	c := valid()
	d := c.Clone()
	d.LBs[0].Backends[0].Servers[0].IP = "changed"
	*d.LBs[0].Backends[0].Servers[1].Weight = 9
	if c.LBs[0].Backends[0].Servers[0].IP == "changed" || *c.LBs[0].Backends[0].Servers[1].Weight == 9 {
		t.Fatal("Clone shares memory with the original")
	}
}

// editRoute changes route i of f through edit.
func editRoute(f *Frontend, i int, edit func(*Route)) {
	f.Routes = f.Routes.Edit(i, edit)
}

// fill sets every field reachable from v to a non-zero value.
func fill(v reflect.Value, depth int) {
	if v.Type() == reflect.TypeOf(RouteList{}) {
		var rs []Route
		fill(reflect.ValueOf(&rs).Elem(), depth)
		v.Set(reflect.ValueOf(RoutesOf(rs...)))
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.Type().Elem() == reflect.TypeOf(json.RawMessage{}) {
			raw := json.RawMessage(`{"k":1}`)
			v.Set(reflect.ValueOf(&raw))
			return
		}
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), depth)
	case reflect.Struct:
		for i := range v.NumField() {
			fill(v.Field(i), depth)
		}
	case reflect.Slice:
		if v.Type() == reflect.TypeOf(json.RawMessage{}) {
			v.SetBytes([]byte(`{"k":1}`))
			return
		}
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := range 2 {
			fill(v.Index(i), depth+1)
		}
	case reflect.String:
		v.SetString("s")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64:
		v.SetInt(7)
	}
}

// TestCloneCopiesEveryField: Clone equals a JSON round trip on a config
// with every field set, and shares no memory with the original.
func TestCloneCopiesEveryField(t *testing.T) {
	var c Config
	fill(reflect.ValueOf(&c).Elem(), 0)
	want, _ := json.Marshal(&c)
	d := c.Clone()
	got, _ := json.Marshal(d)
	if string(got) != string(want) {
		t.Fatalf("Clone lost fields:\n got %s\nwant %s", got, want)
	}
	// Change every field of the copy: the original must not move.
	mutate(reflect.ValueOf(d).Elem())
	if after, _ := json.Marshal(&c); string(after) != string(want) {
		t.Fatalf("changing the clone changed the original:\n%s", after)
	}
}

// mutate changes every leaf reachable from v in place. A RouteList, whose
// routes are never changed in place, is replaced by a changed copy.
func mutate(v reflect.Value) {
	if l, ok := v.Interface().(RouteList); ok {
		rs := l.Routes()
		for i := range rs {
			rs[i].Headers = slices.Clone(rs[i].Headers)
		}
		mutate(reflect.ValueOf(rs))
		v.Set(reflect.ValueOf(RoutesOf(rs...)))
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			mutate(v.Elem())
		}
	case reflect.Struct:
		for i := range v.NumField() {
			mutate(v.Field(i))
		}
	case reflect.Slice:
		if v.Type() == reflect.TypeOf(json.RawMessage{}) {
			if v.Len() > 0 {
				v.Index(0).SetUint(uint64('['))
			}
			return
		}
		for i := range v.Len() {
			mutate(v.Index(i))
		}
	case reflect.String:
		v.SetString("changed")
	case reflect.Bool:
		v.SetBool(false)
	case reflect.Int, reflect.Int64:
		v.SetInt(99)
	}
}

func BenchmarkClone(b *testing.B) {
	c := valid()
	for i := range 1000 {
		c.LBs[0].Frontends[0].Routes = c.LBs[0].Frontends[0].Routes.Append(Route{Backend: "api", HostHeader: "h" + strconv.Itoa(i) + ".example.com"})
	}
	b.ReportAllocs()
	for b.Loop() {
		c.Clone()
	}
}
