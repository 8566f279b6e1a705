package api_test

import (
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/gantry-lb/gantry/internal/api"
)

// The traffic options of issue 5 through the native API: every new field
// of the model round-trips through PUT, GET and PATCH, seed 004's body
// works as written, wrong values are refused with their field and store
// nothing, and the ACLs of a frontend are a sub-resource of their own.

// apiEnv is a real API server over a real store, with an admin token.
type apiEnv struct {
	t     *testing.T
	url   string
	admin string
	c     *http.Client
}

func newAPIEnv(t *testing.T) *apiEnv {
	t.Helper()
	srv, admin := newAdminServer(t, api.Options{})
	return &apiEnv{t: t, url: srv.URL, admin: admin, c: srv.Client()}
}

// reply is one answer: its status, ETag and body, decoded when it is JSON.
type reply struct {
	status int
	etag   string
	raw    string
	v      map[string]any
}

func (e *apiEnv) do(method, path, body string, header ...string) reply {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.admin)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := e.c.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	r := reply{status: resp.StatusCode, etag: resp.Header.Get("ETag"), raw: string(b)}
	json.Unmarshal(b, &r.v)
	return r
}

func (e *apiEnv) must(want int, method, path, body string, header ...string) reply {
	e.t.Helper()
	r := e.do(method, path, body, header...)
	if r.status != want {
		e.t.Fatalf("%s %s: %d, want %d: %s", method, path, r.status, want, r.raw)
	}
	return r
}

// problemFields returns the errors[].field of a problem answer.
func (r reply) problemFields() []string {
	var out []string
	errs, _ := r.v["errors"].([]any)
	for _, e := range errs {
		if m, ok := e.(map[string]any); ok {
			f, _ := m["field"].(string)
			out = append(out, f)
		}
	}
	return out
}

// webLB makes LB web with http backends api (two servers) and spare, and
// an http frontend main on api.
func (e *apiEnv) webLB() {
	e.t.Helper()
	e.must(200, "PUT", "/v1/lbs/web", `{}`)
	e.must(200, "PUT", "/v1/lbs/web/backends/api", `{"forward_protocol": "http", "forward_port": 8080, "pool": ["10.0.0.1", "10.0.0.2"]}`)
	e.must(200, "PUT", "/v1/lbs/web/backends/spare", `{"forward_protocol": "http", "forward_port": 8080, "pool": ["10.0.0.9"]}`)
	e.must(200, "PUT", "/v1/lbs/web/frontends/main", `{"inbound_port": 8000, "protocol": "http", "backend": "api"}`)
}

// subset reports every key of want whose value in got differs, as JSON.
func subset(t *testing.T, what string, got, want map[string]any) {
	t.Helper()
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if !sameJSON(got[k], want[k]) {
			t.Errorf("%s: %s is %s, want %s", what, k, mustJSON(got[k]), mustJSON(want[k]))
		}
	}
}

func decodeMap(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("test body %s: %v", s, err)
	}
	return m
}

func TestSeed004AsWritten(t *testing.T) {
	e := newAPIEnv(t)
	e.must(200, "PUT", "/v1/lbs/web", `{}`)
	e.must(200, "PUT", "/v1/lbs/web/backends/api-backend", seed004)
	got := e.must(200, "GET", "/v1/lbs/web/backends/api-backend", "").v
	subset(t, "seed 004 backend", got, map[string]any{
		"forward_protocol": "http", "forward_port": 8080.0, "forward_port_algorithm": "roundrobin",
		"proxy_protocol": "proxy_protocol_v2", "sticky_sessions": "cookie", "sticky_sessions_cookie_name": "SERVERID",
		"sticky_sessions_ttl": 300000.0,
		"health_check":        map[string]any{"port": 80.0, "http_config": map[string]any{"uri": "/health", "method": "GET", "code": 200.0, "host_header": "example.com"}},
		"servers":             []any{map[string]any{"ip": "10.0.0.23"}, map[string]any{"ip": "10.0.0.24"}},
	})
	if _, ok := got["send_proxy_v2"]; ok {
		t.Errorf("the option is stored as proxy_protocol, not send_proxy_v2: %v", got)
	}
	// The same body again changes nothing: no new revision.
	again := e.must(200, "PUT", "/v1/lbs/web/backends/api-backend", seed004)
	if after := e.must(200, "GET", "/v1/lbs/web/backends/api-backend", ""); again.etag != after.etag || !sameJSON(after.v, got) {
		t.Errorf("an identical PUT changed the backend: %s", after.raw)
	}
	// Scaleway's older boolean still works, and means v2.
	e.must(200, "PUT", "/v1/lbs/web/backends/old", `{"forward_protocol": "tcp", "forward_port": 5432, "pool": ["10.0.0.5"], "send_proxy_v2": true}`)
	if got := e.must(200, "GET", "/v1/lbs/web/backends/old", "").v; got["send_proxy_v2"] != true {
		t.Errorf("send_proxy_v2: %v", got)
	}
}

// backendAll sets every traffic option of a backend to a value other than
// its default.
const backendAll = `{"forward_protocol": "http", "forward_port": 8080, "forward_port_algorithm": "hdr", "hash_header": "X-Tenant",
	"servers": [{"ip": "10.0.0.3", "weight": 2}, {"ip": "10.0.0.4", "backup": true}],
	"sticky_sessions": "cookie", "sticky_sessions_cookie_name": "GANTRY", "sticky_sessions_ttl": 120000,
	"sticky_sessions_cookie_secure": true, "sticky_sessions_cookie_httponly": false, "sticky_sessions_cookie_samesite": "strict",
	"proxy_protocol": "proxy_protocol_v2_ssl_cn", "failover_host": "spare", "max_connections": 50, "timeout_queue": 3000,
	"max_retries": 0, "redispatch_attempt_count": 2, "host": "app.internal:8080",
	"passive_health_check": {"consecutive_failures": 7, "backoff": 15000},
	"on_marked_down_action": "shutdown_sessions",
	"health_check": {"port": 8443, "check_delay": 3000, "transient_check_delay": 250, "check_send_proxy": true,
		"https_config": {"uri": "/ready", "method": "HEAD", "code": 204, "host_header": "app.example.com", "sni": "tls.example.com"}}}`

func TestBackendTrafficOptionsRoundTrip(t *testing.T) {
	e := newAPIEnv(t)
	e.webLB()
	want := decodeMap(t, backendAll)
	put := e.must(200, "PUT", "/v1/lbs/web/backends/b", backendAll).v
	subset(t, "PUT answer", put, want)
	got := e.must(200, "GET", "/v1/lbs/web/backends/b", "").v
	subset(t, "GET", got, want)

	// What GET shows, sent back as a PUT, changes nothing.
	shown := e.must(200, "GET", "/v1/lbs/web/backends/b", "")
	delete(shown.v, "created_at")
	delete(shown.v, "updated_at")
	back := e.must(200, "PUT", "/v1/lbs/web/backends/b", mustJSON(shown.v))
	if back.etag != shown.etag {
		t.Errorf("the shown backend, put back, made revision %s (was %s)", back.etag, shown.etag)
	}

	// A PATCH of something else keeps every option.
	e.must(200, "PATCH", "/v1/lbs/web/backends/b", `{"timeout_server": 1000}`)
	subset(t, "after an unrelated PATCH", e.must(200, "GET", "/v1/lbs/web/backends/b", "").v, want)

	// Each option can be patched on its own, and removed with null.
	patches := []struct{ patch, key string }{
		{`{"hash_header": "X-Other"}`, "hash_header"},
		{`{"sticky_sessions_ttl": 1000}`, "sticky_sessions_ttl"},
		{`{"sticky_sessions_cookie_samesite": "lax"}`, "sticky_sessions_cookie_samesite"},
		{`{"proxy_protocol": "proxy_protocol_v1"}`, "proxy_protocol"},
		{`{"max_connections": 5}`, "max_connections"},
		{`{"timeout_queue": 100}`, "timeout_queue"},
		{`{"max_retries": 9}`, "max_retries"},
		{`{"redispatch_attempt_count": 0}`, "redispatch_attempt_count"},
		{`{"host": "other.internal"}`, "host"},
		{`{"passive_health_check": {"consecutive_failures": 2, "backoff": 1000}}`, "passive_health_check"},
		{`{"failover_host": null}`, "failover_host"},
		{`{"max_connections": null}`, "max_connections"},
	}
	for _, p := range patches {
		e.must(200, "PATCH", "/v1/lbs/web/backends/b", p.patch)
		got := e.must(200, "GET", "/v1/lbs/web/backends/b", "").v
		subset(t, "PATCH "+p.patch, got, decodeMap(t, p.patch))
		if v := decodeMap(t, p.patch)[p.key]; v == nil {
			if _, still := got[p.key]; still {
				t.Errorf("PATCH %s left %s: %v", p.patch, p.key, got[p.key])
			}
		}
	}

	// Seed 004's options in a PATCH, in its own vocabulary.
	e.must(200, "PATCH", "/v1/lbs/web/backends/b", `{"options": {"proxy_protocol": "v2_ssl", "sticky_session": {"type": "cookie", "cookie": "SID", "ttl": "30s"}}}`)
	subset(t, "PATCH with options", e.must(200, "GET", "/v1/lbs/web/backends/b", "").v,
		map[string]any{"proxy_protocol": "proxy_protocol_v2_ssl", "sticky_sessions_cookie_name": "SID", "sticky_sessions_ttl": 30000.0})
	r := e.must(400, "PATCH", "/v1/lbs/web/backends/b", `{"options": {"proxy_protocol": "v1"}, "proxy_protocol": "proxy_protocol_v2"}`)
	if f := r.problemFields(); !slices.Equal(f, []string{"options.proxy_protocol"}) {
		t.Errorf("a PATCH naming proxy_protocol twice: fields %q", f)
	}
	// A backend that had send_proxy_v2 takes options.proxy_protocol in a
	// PATCH: the option replaces the boolean.
	e.must(200, "PUT", "/v1/lbs/web/backends/old", `{"forward_protocol": "http", "forward_port": 80, "pool": ["10.0.0.5"], "send_proxy_v2": true}`)
	e.must(200, "PATCH", "/v1/lbs/web/backends/old", `{"options": {"proxy_protocol": "v1"}}`)
	if got := e.must(200, "GET", "/v1/lbs/web/backends/old", "").v; got["proxy_protocol"] != "proxy_protocol_v1" || got["send_proxy_v2"] != nil {
		t.Errorf("after patching the option: %v", got)
	}
}

func TestHealthCheckKindsRoundTrip(t *testing.T) {
	e := newAPIEnv(t)
	e.webLB()
	for _, body := range []string{
		`{"transient_check_delay": 100, "check_send_proxy": true, "tcp_config": {"send": "PING\r\n", "expect": "+PONG"}}`,
		`{"http_config": {"uri": "/h", "method": "GET", "code": 200, "host_header": "a.example.com"}}`,
		`{"https_config": {"uri": "/h", "method": "GET", "sni": "b.example.com"}}`,
		`{"mysql_config": {"user": "haproxy"}}`,
		`{"pgsql_config": {"user": "check"}}`,
		`{"redis_config": {}}`,
		`{"ldap_config": {}}`,
	} {
		want := decodeMap(t, body)
		subset(t, "PUT healthcheck "+body, e.must(200, "PUT", "/v1/lbs/web/backends/api/healthcheck", body).v, want)
		subset(t, "GET healthcheck "+body, e.must(200, "GET", "/v1/lbs/web/backends/api/healthcheck", "").v, want)
	}
	// Seed 004's shape for every type.
	for body, want := range map[string]string{
		`{"type": "tcp"}`: `{"tcp_config": {}}`,
		`{"type": "https", "path": "/x", "sni": "c.example.com", "expected_code": "200"}`: `{"https_config": {"uri": "/x", "code": 200, "sni": "c.example.com"}}`,
		`{"type": "mysql", "user": "u"}`: `{"mysql_config": {"user": "u"}}`,
		`{"type": "pgsql", "user": "u"}`: `{"pgsql_config": {"user": "u"}}`,
		`{"type": "redis"}`:              `{"redis_config": {}}`,
		`{"type": "ldap", "port": 389}`:  `{"ldap_config": {}, "port": 389}`,
	} {
		e.must(200, "PUT", "/v1/lbs/web/backends/api/healthcheck", body)
		got := e.must(200, "GET", "/v1/lbs/web/backends/api/healthcheck", "").v
		subset(t, "seed 004 "+body, got, decodeMap(t, want))
	}
}

// frontendAll sets every new frontend option.
const frontendAll = `{"inbound_port": 8001, "protocol": "http", "backend": "api", "connection_rate_limit": 500,
	"accept_proxy_from": ["10.0.0.0/8", "192.0.2.1"],
	"request_headers": [{"action": "set", "name": "X-Env", "value": "prod"}, {"action": "remove", "name": "X-Debug"}],
	"response_headers": [{"action": "add", "name": "Strict-Transport-Security", "value": "max-age=63072000"}],
	"acls": [{"name": "lan", "index": 3, "match": {"ip_subnet": ["10.0.0.0/8"], "invert": true}, "action": {"type": "deny"}}]}`

func TestFrontendTrafficOptionsRoundTrip(t *testing.T) {
	e := newAPIEnv(t)
	e.webLB()
	want := decodeMap(t, frontendAll)
	subset(t, "PUT answer", e.must(200, "PUT", "/v1/lbs/web/frontends/edge", frontendAll).v, want)
	subset(t, "GET", e.must(200, "GET", "/v1/lbs/web/frontends/edge", "").v, want)
	e.must(200, "PATCH", "/v1/lbs/web/frontends/edge", `{"timeout_client": 1000}`)
	subset(t, "after an unrelated PATCH", e.must(200, "GET", "/v1/lbs/web/frontends/edge", "").v, want)
	e.must(200, "PATCH", "/v1/lbs/web/frontends/edge", `{"connection_rate_limit": null, "request_headers": [{"action": "add", "name": "Via", "value": "gantry"}]}`)
	got := e.must(200, "GET", "/v1/lbs/web/frontends/edge", "").v
	if _, ok := got["connection_rate_limit"]; ok || !sameJSON(got["request_headers"], []any{map[string]any{"action": "add", "name": "Via", "value": "gantry"}}) {
		t.Errorf("after PATCH: %v", got)
	}
	// The frontend's ACL is also the sub-resource's.
	a := e.must(200, "GET", "/v1/lbs/web/frontends/edge/acls/lan", "").v
	subset(t, "the ACL of the frontend body", a, want["acls"].([]any)[0].(map[string]any))
}

// TestInvalidTrafficOptions: a wrong value is refused with the path of its
// field, 400 when the request itself is wrong (a field the body does not
// have, a wrong type, a seed-004 option it cannot map) and 422 when the
// config it makes is invalid, and the store is left as it was.
func TestInvalidTrafficOptions(t *testing.T) {
	e := newAPIEnv(t)
	e.webLB()
	e.must(200, "PUT", "/v1/lbs/web/backends/b", backendAll)
	const be = "lbs[web].backends[b]."
	const fe = "lbs[web].frontends[main]."
	withB := func(field string) string { // backendAll with one field replaced
		return strings.Replace(backendAll, `"forward_protocol": "http",`, `"forward_protocol": "http", `+field+`,`, 1)
	}
	tests := []struct {
		name, method, path, body string
		status                   int
		field                    string
	}{
		{"unknown algorithm", "PATCH", "/v1/lbs/web/backends/b", `{"forward_port_algorithm": "hash"}`, 422, be + "forward_port_algorithm"},
		{"hash_header without hdr", "PATCH", "/v1/lbs/web/backends/b", `{"forward_port_algorithm": "source"}`, 422, be + "hash_header"},
		{"uri hashing over tcp", "PUT", "/v1/lbs/web/backends/t", `{"forward_protocol": "tcp", "forward_port": 5432, "forward_port_algorithm": "uri"}`, 422, "lbs[web].backends[t].forward_port_algorithm"},
		{"short proxy_protocol at the top", "PATCH", "/v1/lbs/web/backends/b", `{"proxy_protocol": "v2"}`, 422, be + "proxy_protocol"},
		{"send_proxy_v2 contradicts", "PATCH", "/v1/lbs/web/backends/b", `{"send_proxy_v2": true}`, 422, be + "send_proxy_v2"},
		{"samesite", "PATCH", "/v1/lbs/web/backends/b", `{"sticky_sessions_cookie_samesite": "sometimes"}`, 422, be + "sticky_sessions_cookie_samesite"},
		{"samesite none without secure", "PATCH", "/v1/lbs/web/backends/b", `{"sticky_sessions_cookie_samesite": "none", "sticky_sessions_cookie_secure": false}`, 422, be + "sticky_sessions_cookie_samesite"},
		{"negative ttl", "PATCH", "/v1/lbs/web/backends/b", `{"sticky_sessions_ttl": -1}`, 422, be + "sticky_sessions_ttl"},
		{"failover to nowhere", "PATCH", "/v1/lbs/web/backends/b", `{"failover_host": "nope"}`, 422, be + "failover_host"},
		{"failover to itself", "PATCH", "/v1/lbs/web/backends/b", `{"failover_host": "b"}`, 422, be + "failover_host"},
		{"max_connections", "PATCH", "/v1/lbs/web/backends/b", `{"max_connections": -1}`, 422, be + "max_connections"},
		{"max_retries", "PATCH", "/v1/lbs/web/backends/b", `{"max_retries": 101}`, 422, be + "max_retries"},
		{"redispatch", "PATCH", "/v1/lbs/web/backends/b", `{"redispatch_attempt_count": -2}`, 422, be + "redispatch_attempt_count"},
		{"host", "PATCH", "/v1/lbs/web/backends/b", `{"host": "not a host"}`, 422, be + "host"},
		{"passive failures", "PATCH", "/v1/lbs/web/backends/b", `{"passive_health_check": {"consecutive_failures": 5000}}`, 422, be + "passive_health_check.consecutive_failures"},
		{"transient delay", "PATCH", "/v1/lbs/web/backends/b", `{"health_check": {"transient_check_delay": -5}}`, 422, be + "health_check.transient_check_delay"},
		{"sni of an http check", "PUT", "/v1/lbs/web/backends/b/healthcheck", `{"http_config": {"sni": "a.example.com"}}`, 422, be + "health_check.http_config.sni"},
		{"bad sni", "PUT", "/v1/lbs/web/backends/b/healthcheck", `{"https_config": {"sni": "*.example.com"}}`, 422, be + "health_check.https_config.sni"},
		{"mysql without user", "PUT", "/v1/lbs/web/backends/b/healthcheck", `{"type": "mysql"}`, 422, be + "health_check.mysql_config.user"},
		{"two check kinds", "PUT", "/v1/lbs/web/backends/b/healthcheck", `{"redis_config": {}, "ldap_config": {}}`, 422, be + "health_check"},
		{"settings of redis", "PUT", "/v1/lbs/web/backends/b/healthcheck", `{"redis_config": {"db": 1}}`, 400, "db"},
		{"max_connections not a number", "PUT", "/v1/lbs/web/backends/b", withB(`"pool": [], "max_connections": "ten"`), 400, "max_connections"},
		{"ssl_bridging not a bool", "PUT", "/v1/lbs/web/backends/b", withB(`"pool": [], "ssl_bridging": "x"`), 400, "ssl_bridging"},
		{"backup not a bool", "PATCH", "/v1/lbs/web/backends/b", `{"servers": [{"ip": "10.0.0.3", "backup": "yes"}]}`, 400, "servers"},
		{"seed 004 ttl", "PUT", "/v1/lbs/web/backends/b", withB(`"options": {"sticky_session": {"type": "cookie", "cookie": "GANTRY", "ttl": "soon"}}`), 400, "options.sticky_session.ttl"},
		{"seed 004 proxy protocol", "PATCH", "/v1/lbs/web/backends/b", `{"options": {"proxy_protocol": "v3"}}`, 400, "options.proxy_protocol"},
		{"seed 004 sticky type", "PATCH", "/v1/lbs/web/backends/b", `{"options": {"sticky_session": {"type": "source"}}}`, 400, "options.sticky_session.type"},
		{"seed 004 check type", "PUT", "/v1/lbs/web/backends/b/healthcheck", `{"type": "icmp"}`, 400, "type"},
		{"tls_verify without tls", "PATCH", "/v1/lbs/web/backends/b", `{"options": {"tls_verify": true}}`, 400, "options.tls_verify"},
		{"rate limit", "PATCH", "/v1/lbs/web/frontends/main", `{"connection_rate_limit": -1}`, 422, fe + "connection_rate_limit"},
		{"proxy senders", "PATCH", "/v1/lbs/web/frontends/main", `{"accept_proxy_from": ["10.0.0.0/40"]}`, 422, fe + "accept_proxy_from[0]"},
		{"header action", "PATCH", "/v1/lbs/web/frontends/main", `{"request_headers": [{"action": "replace", "name": "X-A", "value": "1"}]}`, 422, fe + "request_headers[0].action"},
		{"hop-by-hop header", "PATCH", "/v1/lbs/web/frontends/main", `{"response_headers": [{"action": "set", "name": "Connection", "value": "close"}]}`, 422, fe + "response_headers[0].name"},
		{"remove with a value", "PATCH", "/v1/lbs/web/frontends/main", `{"request_headers": [{"action": "remove", "name": "X-A", "value": "1"}]}`, 422, fe + "request_headers[0].value"},
		{"header rule field", "PATCH", "/v1/lbs/web/frontends/main", `{"request_headers": [{"op": "set", "name": "X-A"}]}`, 400, "op"},
	}
	before := e.must(200, "GET", "/v1/config", "")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(tt.method, tt.path, tt.body)
			if r.status != tt.status || !slices.Contains(r.problemFields(), tt.field) {
				t.Fatalf("%d %s, want %d naming %s", r.status, r.raw, tt.status, tt.field)
			}
			if ct := r.v["status"]; ct != float64(tt.status) {
				t.Errorf("problem status %v", ct)
			}
			if after := e.must(200, "GET", "/v1/config", ""); after.etag != before.etag || after.raw != before.raw {
				t.Fatalf("the store changed: revision %s -> %s", before.etag, after.etag)
			}
		})
	}
}

func TestACLSubresource(t *testing.T) {
	e := newAPIEnv(t)
	e.webLB()
	const acls = "/v1/lbs/web/frontends/main/acls"
	names := func(r reply) []string {
		var out []string
		list, _ := r.v["acls"].([]any)
		for _, a := range list {
			out = append(out, a.(map[string]any)["name"].(string))
		}
		return out
	}
	// Created out of order: the list is in the order they apply.
	e.must(200, "PUT", acls+"/moved", `{"index": 1, "match": {"http_filter": "path_begin", "http_filter_value": ["/old"]},
		"action": {"type": "redirect", "redirect": {"type": "location", "target": "https://example.com/new", "code": 301}}}`)
	first := e.must(200, "PUT", acls+"/no-admin", `{"index": 0, "match": {"http_filter": "path_begin", "http_filter_value": ["/admin"], "ip_subnet": ["0.0.0.0/0"]}, "action": {"type": "deny"}}`)
	subset(t, "PUT answer", first.v, map[string]any{"name": "no-admin", "index": 0.0, "action": map[string]any{"type": "deny"}})
	e.must(200, "PUT", acls+"/also-1", `{"index": 1, "action": {"type": "allow"}}`)
	list := e.must(200, "GET", acls, "")
	if got := names(list); !slices.Equal(got, []string{"no-admin", "also-1", "moved"}) || list.v["total_count"] != 3.0 {
		t.Fatalf("list %q (ties by name), total %v", got, list.v["total_count"])
	}
	if got := names(e.must(200, "GET", acls+"?name=-", "")); !slices.Equal(got, []string{"no-admin", "also-1"}) {
		t.Errorf("name filter: %q", got)
	}
	// The frontend shows them too.
	if f := e.must(200, "GET", "/v1/lbs/web/frontends/main", "").v; len(f["acls"].([]any)) != 3 {
		t.Errorf("frontend acls: %v", f["acls"])
	}

	// PATCH merges into the ACL; the rest stays.
	p := e.must(200, "PATCH", acls+"/moved", `{"index": 5, "action": {"redirect": {"type": "scheme", "target": "https", "code": null}}}`, "Content-Type", "application/merge-patch+json")
	subset(t, "PATCH", p.v, map[string]any{"index": 5.0, "match": map[string]any{"http_filter": "path_begin", "http_filter_value": []any{"/old"}},
		"action": map[string]any{"type": "redirect", "redirect": map[string]any{"type": "scheme", "target": "https"}}})
	if got := names(e.must(200, "GET", acls, "")); !slices.Equal(got, []string{"no-admin", "also-1", "moved"}) {
		t.Errorf("after PATCH: %q", got)
	}
	e.must(404, "PATCH", acls+"/nope", `{"index": 1}`)

	// Wrong ACLs store nothing.
	head := e.must(200, "GET", acls, "")
	for _, tt := range []struct {
		name, path, body string
		status           int
		field            string
	}{
		{"bad CIDR", acls + "/bad", `{"match": {"ip_subnet": ["10.0.0.0/8", "10.1.0.0/33"]}, "action": {"type": "deny"}}`, 422, "lbs[web].frontends[main].acls[bad].match.ip_subnet[1]"},
		{"unknown field", acls + "/bad", `{"match": {"source": "10.0.0.0/8"}, "action": {"type": "deny"}}`, 400, "source"},
		{"unknown action", acls + "/bad", `{"action": {"type": "tarpit"}}`, 422, "lbs[web].frontends[main].acls[bad].action.type"},
		{"redirect without target", acls + "/bad", `{"action": {"type": "redirect", "redirect": {"type": "location", "target": ""}}}`, 422, "lbs[web].frontends[main].acls[bad].action.redirect.target"},
		{"bad redirect code", acls + "/moved", `{"action": {"type": "redirect", "redirect": {"type": "scheme", "target": "https", "code": 305}}}`, 422, "lbs[web].frontends[main].acls[moved].action.redirect.code"},
		{"bad regex", acls + "/bad", `{"match": {"http_filter": "regex", "http_filter_value": ["("]}, "action": {"type": "deny"}}`, 422, "lbs[web].frontends[main].acls[bad].match.http_filter_value[0]"},
		{"negative index", acls + "/bad", `{"index": -1, "action": {"type": "deny"}}`, 422, "lbs[web].frontends[main].acls[bad].index"},
		{"header match without a header", acls + "/bad", `{"match": {"http_filter": "http_header_match", "http_filter_value": ["x"]}, "action": {"type": "deny"}}`, 422, "lbs[web].frontends[main].acls[bad].match.http_filter_option"},
		{"name differs", acls + "/bad", `{"name": "good", "action": {"type": "deny"}}`, 400, "name"},
		{"bad name", acls + "/-bad", `{"action": {"type": "deny"}}`, 422, "lbs[web].frontends[main].acls[-bad].name"},
		{"index not a number", acls + "/bad", `{"index": "1", "action": {"type": "deny"}}`, 400, "index"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do("PUT", tt.path, tt.body)
			if r.status != tt.status || !slices.Contains(r.problemFields(), tt.field) {
				t.Fatalf("%d %s, want %d naming %s", r.status, r.raw, tt.status, tt.field)
			}
			if after := e.must(200, "GET", acls, ""); after.etag != head.etag || after.raw != head.raw {
				t.Fatalf("the store changed: %s", after.raw)
			}
		})
	}

	// A tcp frontend matches ip_subnet only.
	e.must(200, "PUT", "/v1/lbs/web/backends/db", `{"forward_protocol": "tcp", "forward_port": 5432, "pool": ["10.0.0.7"]}`)
	e.must(200, "PUT", "/v1/lbs/web/frontends/pg", `{"inbound_port": 5432, "backend": "db"}`)
	e.must(200, "PUT", "/v1/lbs/web/frontends/pg/acls/lan", `{"match": {"ip_subnet": ["10.0.0.0/8"], "invert": true}, "action": {"type": "deny"}}`)
	r := e.must(422, "PUT", "/v1/lbs/web/frontends/pg/acls/path", `{"match": {"http_filter": "path_begin", "http_filter_value": ["/"]}, "action": {"type": "deny"}}`)
	if !slices.Contains(r.problemFields(), "lbs[web].frontends[pg].acls[path].match.http_filter") {
		t.Errorf("tcp frontend with an http filter: %s", r.raw)
	}

	// Dry run, If-Match and transactions, as on every write.
	dry := e.must(200, "PUT", acls+"/dry?dry_run=true", `{"action": {"type": "deny"}}`)
	if dry.v["dry_run"] != true {
		t.Errorf("dry run: %s", dry.raw)
	}
	e.must(404, "GET", acls+"/dry", "")
	cur := e.must(200, "GET", acls, "")
	e.must(412, "PUT", acls+"/late", `{"action": {"type": "deny"}}`, "If-Match", `"1"`)
	e.must(200, "PUT", acls+"/ontime", `{"index": 9, "action": {"type": "allow"}}`, "If-Match", cur.etag)
	txn := e.must(201, "POST", "/v1/transactions", "").v["id"].(string)
	staged := e.must(200, "PUT", acls+"/staged?transaction_id="+txn, `{"index": 2, "action": {"type": "deny"}}`)
	if staged.v["staged"] != true {
		t.Errorf("staged: %s", staged.raw)
	}
	e.must(200, "DELETE", acls+"/ontime?transaction_id="+txn, "")
	e.must(404, "GET", acls+"/staged", "")
	e.must(200, "PUT", "/v1/transactions/"+txn, "")
	if got := names(e.must(200, "GET", acls, "")); !slices.Equal(got, []string{"no-admin", "also-1", "staged", "moved"}) {
		t.Errorf("after the commit: %q", got)
	}

	// DELETE, and paging.
	e.must(204, "DELETE", acls+"/also-1", "")
	e.must(404, "DELETE", acls+"/also-1", "")
	e.must(404, "GET", acls+"/also-1", "")
	pg := e.must(200, "GET", acls+"?page=2&page_size=2", "")
	if got := names(pg); !slices.Equal(got, []string{"moved"}) || pg.v["total_count"] != 3.0 {
		t.Errorf("page 2: %q of %v", got, pg.v["total_count"])
	}
	e.must(400, "GET", acls+"?page_size=500", "")
	e.must(404, "GET", "/v1/lbs/web/frontends/nope/acls", "")
	e.must(404, "GET", "/v1/lbs/nope/frontends/main/acls/no-admin", "")
}

func TestACLsOfAnotherProject(t *testing.T) {
	e := newSecEnv(t)
	e.greenLB()
	e.must(e.green, "PUT", "/v1/lbs/green-web/frontends/main/acls/a", `{"action": {"type": "deny"}}`, 200)
	for _, m := range []struct{ method, suffix, body string }{
		{"GET", "/frontends/main/acls", ""},
		{"GET", "/frontends/main/acls/a", ""},
		{"PUT", "/frontends/main/acls/a", `{"action": {"type": "allow"}}`},
		{"PATCH", "/frontends/main/acls/a", `{"index": 3}`},
		{"DELETE", "/frontends/main/acls/a", ""},
	} {
		e.sameAsMissing(m.method, "/v1/lbs/green-web"+m.suffix, "/v1/lbs/nope"+m.suffix, m.body)
	}
	if b := e.must(e.green, "GET", "/v1/lbs/green-web/frontends/main/acls/a", "", 200); !strings.Contains(b, `"deny"`) {
		t.Fatalf("green's ACL changed: %s", b)
	}
	e.must(e.green, "PUT", "/v1/lbs/green-web/frontends/main/acls/b?transaction_id=x", `{"action": {"type": "deny"}}`, 403)
}
