package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gantry-lb/gantry/client"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// seen is one request as the fake server received it.
type seen struct {
	method, path, query string
	header              http.Header
	body                string
}

// fake answers every request with status, header and body, recording it.
func fake(t *testing.T, status int, contentType, etag, body string) (*client.Client, *seen) {
	t.Helper()
	got := &seen{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		*got = seen{method: r.Method, path: r.URL.EscapedPath(), query: r.URL.RawQuery, header: r.Header.Clone(), body: string(b)}
		if contentType != "" {
			w.Header().Set("Content-Type", contentType)
		}
		if etag != "" {
			w.Header().Set("ETag", etag)
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	c, err := client.New(srv.URL, "tok", client.WithHTTPClient(srv.Client()))
	if err != nil {
		t.Fatal(err)
	}
	return c, got
}

// Answers recorded from a real `gantry serve`.
const (
	lbAnswer = `{"name": "web", "description": "public web", "tags": ["prod"], "ips": ["127.0.0.1"], "status": "ready",
		"frontend_count": 1, "backend_count": 4, "created_at": "2026-01-02T03:04:05Z", "updated_at": "2026-01-02T03:04:05Z"}`
	backendAnswer = `{"name": "site", "forward_protocol": "http", "health_check": {"http_config": {"uri": "/x", "code": 204}},
		"servers": [{"name": "s", "ip": "10.0.0.8", "port": 8000, "weight": 2}], "timeout_connect": 100,
		"created_at": "2026-01-02T03:04:05Z", "updated_at": "2026-01-02T03:04:05Z"}`
	frontendAnswer = `{"name": "main", "inbound_port": 18080, "protocol": "http", "backend": "api-backend", "timeout_client": 30000,
		"x_forwarded_for": false, "routes": [{"backend": "vpn", "match": {"host_header": "vpn.example.com"}},
		{"name": "r", "backend": "dev", "match": {"host_header": "*.dev.example.com", "headers": [{"name": "X-A", "value": "b", "prefix": true}]}, "priority": 3}],
		"created_at": "2026-01-02T03:04:05Z", "updated_at": "2026-01-02T03:04:05Z"}`
	routeAnswer = `{"name": "dev", "backend": "dev", "match": {"host_header": "*.dev.example.com"}, "priority": 3, "index": 2}`
	aclAnswer   = `{"name": "moved", "index": 1, "match": {"http_filter": "path_begin", "http_filter_value": ["/old"]},
		"action": {"type": "redirect", "redirect": {"type": "location", "target": "https://example.com/new", "code": 301}}}`
	dryRunAnswer = `{"revision": 11, "changes": [{"path": "lbs/web/backends/site", "kind": "updated",
		"before": {"name": "site"}, "after": {"name": "site", "forward_port": 1}}], "dry_run": true}`
	historyAnswer = `{"revisions": [{"revision": 11, "author": "token:admin", "time": "2026-01-02T03:04:05Z",
		"changes": [{"path": "lbs/web", "kind": "updated", "before": {"name": "web"}, "after": {"name": "web", "description": "x"}}]}]}`
	txnAnswer    = `{"id": "3f2a", "version": 11, "changes": 0, "expires": "2026-01-02T03:14:05Z", "author": "token:admin"}`
	statusAnswer = `{"stored_revision": 12, "applied_revision": 11, "apply_error": "revision 12: port in use", "listeners": ["127.0.0.1:80"]}`
)

var ctx = context.Background()

func TestCalls(t *testing.T) {
	tests := []struct {
		name                string
		status              int
		answer              string
		call                func(c *client.Client) (any, error)
		method, path, query string
		body                string // JSON the server must receive ("" = none)
		text                string // or the text it must receive
		header, headerValue string
		want                any
	}{
		{name: "list lbs", status: 200, answer: `{"lbs": [` + lbAnswer + `], "total_count": 7}`,
			call: func(c *client.Client) (any, error) {
				l, _, err := c.ListLBs(ctx, client.Page(2), client.PageSize(1), client.OrderBy("name_desc"), client.NameContains("w"), client.AtRevision(3))
				return l.TotalCount*100 + len(l.LBs), err
			},
			method: "GET", path: "/v1/lbs", query: "name=w&order_by=name_desc&page=2&page_size=1&revision=3", want: 701},
		{name: "get lb", status: 200, answer: lbAnswer,
			call: func(c *client.Client) (any, error) {
				lb, rev, err := c.GetLB(ctx, "web")
				return []any{lb.Name, lb.Tags[0], lb.IPs[0], lb.BackendCount, lb.CreatedAt.Year(), rev}, err
			},
			method: "GET", path: "/v1/lbs/web", want: []any{"web", "prod", "127.0.0.1", 4, 2026, uint64(8)}},
		{name: "put lb with If-Match", status: 200, answer: lbAnswer,
			call: func(c *client.Client) (any, error) {
				lb, res, err := c.PutLB(ctx, "web", client.LBInput{Description: "public web", Tags: []string{"prod"}}, client.IfMatch(7), client.WaitApplied())
				return []any{lb.Description, res.Revision, res.DryRun}, err
			},
			method: "PUT", path: "/v1/lbs/web", query: "wait=applied", body: `{"description": "public web", "tags": ["prod"]}`,
			header: "If-Match", headerValue: `"7"`, want: []any{"public web", uint64(8), false}},
		{name: "patch lb", status: 200, answer: lbAnswer,
			call: func(c *client.Client) (any, error) {
				lb, _, err := c.PatchLB(ctx, "web", map[string]any{"description": nil})
				return lb.Name, err
			},
			method: "PATCH", path: "/v1/lbs/web", body: `{"description": null}`,
			header: "Content-Type", headerValue: "application/merge-patch+json", want: "web"},
		{name: "delete lb", status: 204,
			call: func(c *client.Client) (any, error) {
				res, err := c.DeleteLB(ctx, "web")
				return res.Revision, err
			},
			method: "DELETE", path: "/v1/lbs/web", want: uint64(8)},
		{name: "names are escaped", status: 200, answer: backendAnswer,
			call: func(c *client.Client) (any, error) {
				b, _, err := c.GetBackend(ctx, "a b", "c/d")
				return b.Name, err
			},
			method: "GET", path: "/v1/lbs/a%20b/backends/c%2Fd", want: "site"},
		{name: "put backend, seed 004 shape", status: 200, answer: backendAnswer,
			call: func(c *client.Client) (any, error) {
				b, _, err := c.PutBackend(ctx, "web", "site", client.BackendInput{Mode: client.ProtocolHTTP, BalancingMethod: "roundrobin",
					Port: json.RawMessage(`"8080"`), Servers: client.IPAddresses("10.0.0.23", "10.0.0.24"),
					Options: &client.BackendOptions{HealthCheck: &client.HealthCheckOption{Type: "http", Path: "/health", ExpectedCode: "200"}}})
				return []any{b.Servers[0].IP, *b.Servers[0].Weight, *b.HealthCheck.HTTPConfig.Code, b.TimeoutConnect.Duration()}, err
			},
			method: "PUT", path: "/v1/lbs/web/backends/site",
			body: `{"mode": "http", "balancing_method": "roundrobin", "port": "8080", "servers": {"type": "ip", "addresses": ["10.0.0.23", "10.0.0.24"]},
				"options": {"health_check": {"type": "http", "path": "/health", "expected_code": "200"}}}`,
			want: []any{"10.0.0.8", 2, 204, 100 * time.Millisecond}},
		{name: "put backend, native list", status: 200, answer: backendAnswer,
			call: func(c *client.Client) (any, error) {
				w := 2
				_, _, err := c.PutBackend(ctx, "web", "site", client.BackendInput{ForwardProtocol: "http",
					Servers: client.ServerList(client.Server{IP: "10.0.0.8", Port: 8000, Weight: &w})})
				return nil, err
			},
			method: "PUT", path: "/v1/lbs/web/backends/site",
			body: `{"forward_protocol": "http", "servers": [{"ip": "10.0.0.8", "port": 8000, "weight": 2}]}`},
		{name: "list backends", status: 200, answer: `{"backends": [` + backendAnswer + `], "total_count": 1}`,
			call: func(c *client.Client) (any, error) {
				l, _, err := c.ListBackends(ctx, "web")
				return l.Backends[0].ForwardProtocol, err
			},
			method: "GET", path: "/v1/lbs/web/backends", want: client.ProtocolHTTP},
		{name: "patch backend", status: 200, answer: backendAnswer,
			call: func(c *client.Client) (any, error) {
				_, _, err := c.PatchBackend(ctx, "web", "site", json.RawMessage(`{"timeout_connect": 100}`))
				return nil, err
			},
			method: "PATCH", path: "/v1/lbs/web/backends/site", body: `{"timeout_connect": 100}`},
		{name: "delete backend staged", status: 200, answer: `{"revision": 5, "changes": [{"path": "lbs/web/backends/site", "kind": "deleted", "before": {}}], "staged": true}`,
			call: func(c *client.Client) (any, error) {
				res, err := c.DeleteBackend(ctx, "web", "site", client.InTxn("t1"))
				return []any{res.Revision, res.Staged, res.Changes[0].Kind}, err
			},
			method: "DELETE", path: "/v1/lbs/web/backends/site", query: "transaction_id=t1", want: []any{uint64(5), true, client.Deleted}},
		{name: "put frontend", status: 200, answer: frontendAnswer,
			call: func(c *client.Client) (any, error) {
				f, _, err := c.PutFrontend(ctx, "web", "main", client.FrontendInput{InboundPort: 80, Protocol: "http", Backend: "api-backend",
					TimeoutClient: 30000, Routes: []client.Route{{Match: &client.RouteMatch{HostHeader: "vpn.example.com"}, Backend: "vpn"}}})
				return []any{f.Routes[1].Match.Headers[0].Name, *f.XForwardedFor, f.TimeoutClient}, err
			},
			method: "PUT", path: "/v1/lbs/web/frontends/main",
			body: `{"inbound_port": 80, "protocol": "http", "backend": "api-backend", "timeout_client": 30000,
				"routes": [{"match": {"host_header": "vpn.example.com"}, "backend": "vpn"}]}`,
			want: []any{"X-A", false, client.Millis(30000)}},
		{name: "put frontend dry run", status: 200, answer: dryRunAnswer,
			call: func(c *client.Client) (any, error) {
				f, res, err := c.PutFrontend(ctx, "web", "main", client.FrontendInput{InboundPort: 80}, client.DryRun())
				return []any{f == nil, res.DryRun, res.Revision, len(res.Changes), res.Changes[0].Path}, err
			},
			method: "PUT", path: "/v1/lbs/web/frontends/main", query: "dry_run=true", body: `{"inbound_port": 80}`,
			want: []any{true, true, uint64(11), 1, "lbs/web/backends/site"}},
		{name: "get frontend", status: 200, answer: frontendAnswer,
			call: func(c *client.Client) (any, error) {
				f, _, err := c.GetFrontend(ctx, "web", "main")
				return f.Routes[1].Priority, err
			},
			method: "GET", path: "/v1/lbs/web/frontends/main", want: 3},
		{name: "list frontends", status: 200, answer: `{"frontends": [` + frontendAnswer + `], "total_count": 1}`,
			call: func(c *client.Client) (any, error) {
				l, _, err := c.ListFrontends(ctx, "web")
				return l.Frontends[0].InboundPort, err
			},
			method: "GET", path: "/v1/lbs/web/frontends", want: 18080},
		{name: "patch frontend", status: 200, answer: frontendAnswer,
			call: func(c *client.Client) (any, error) {
				_, _, err := c.PatchFrontend(ctx, "web", "main", map[string]int{"timeout_client": 1})
				return nil, err
			},
			method: "PATCH", path: "/v1/lbs/web/frontends/main", body: `{"timeout_client": 1}`},
		{name: "delete frontend", status: 204,
			call: func(c *client.Client) (any, error) {
				_, err := c.DeleteFrontend(ctx, "web", "main")
				return nil, err
			},
			method: "DELETE", path: "/v1/lbs/web/frontends/main"},
		{name: "list routes", status: 200, answer: `{"routes": [` + routeAnswer + `], "total_count": 4}`,
			call: func(c *client.Client) (any, error) {
				l, rev, err := c.ListRoutes(ctx, "web", "main", client.AtRevision(3))
				return []any{l.TotalCount, l.Routes[0].Name, l.Routes[0].Index, l.Routes[0].Match.HostHeader, rev}, err
			},
			method: "GET", path: "/v1/lbs/web/frontends/main/routes", query: "revision=3", want: []any{4, "dev", 2, "*.dev.example.com", uint64(8)}},
		{name: "get route", status: 200, answer: routeAnswer,
			call: func(c *client.Client) (any, error) {
				r, _, err := c.GetRoute(ctx, "web", "main", "a/b")
				return []any{r.Backend, r.Priority, r.Index}, err
			},
			method: "GET", path: "/v1/lbs/web/frontends/main/routes/a%2Fb", want: []any{"dev", 3, 2}},
		{name: "put route at an index", status: 200, answer: routeAnswer,
			call: func(c *client.Client) (any, error) {
				i := 0
				r, res, err := c.PutRoute(ctx, "web", "main", "dev", client.RouteInput{Route: client.Route{Backend: "dev",
					Match: &client.RouteMatch{HostHeader: "*.dev.example.com"}, Priority: 3}, Index: &i}, client.WaitApplied())
				return []any{r.Index, res.Revision}, err
			},
			method: "PUT", path: "/v1/lbs/web/frontends/main/routes/dev", query: "wait=applied",
			body: `{"backend": "dev", "match": {"host_header": "*.dev.example.com"}, "priority": 3, "index": 0}`, want: []any{2, uint64(8)}},
		{name: "put route, flat, no index", status: 200, answer: routeAnswer,
			call: func(c *client.Client) (any, error) {
				_, _, err := c.PutRoute(ctx, "web", "main", "dev", client.RouteInput{Route: client.Route{Backend: "dev", PathBegin: "/dev"}})
				return nil, err
			},
			method: "PUT", path: "/v1/lbs/web/frontends/main/routes/dev", body: `{"backend": "dev", "path_begin": "/dev"}`},
		{name: "delete route dry run", status: 200, answer: dryRunAnswer,
			call: func(c *client.Client) (any, error) {
				res, err := c.DeleteRoute(ctx, "web", "main", "dev", client.DryRun())
				return res.DryRun, err
			},
			method: "DELETE", path: "/v1/lbs/web/frontends/main/routes/dev", query: "dry_run=true", want: true},
		{name: "list acls", status: 200, answer: `{"acls": [` + aclAnswer + `], "total_count": 3}`,
			call: func(c *client.Client) (any, error) {
				l, rev, err := c.ListACLs(ctx, "web", "main", client.Page(2), client.PageSize(1))
				return []any{l.TotalCount, l.ACLs[0].Name, l.ACLs[0].Index, l.ACLs[0].Action.Redirect.Code, rev}, err
			},
			method: "GET", path: "/v1/lbs/web/frontends/main/acls", query: "page=2&page_size=1", want: []any{3, "moved", 1, 301, uint64(8)}},
		{name: "get acl", status: 200, answer: aclAnswer,
			call: func(c *client.Client) (any, error) {
				a, _, err := c.GetACL(ctx, "web", "main", "a/b", client.AtRevision(3))
				return []any{a.Match.HTTPFilter, a.Match.HTTPFilterValue[0], a.Action.Type}, err
			},
			method: "GET", path: "/v1/lbs/web/frontends/main/acls/a%2Fb", query: "revision=3", want: []any{"path_begin", "/old", "redirect"}},
		{name: "put acl", status: 200, answer: aclAnswer,
			call: func(c *client.Client) (any, error) {
				a, res, err := c.PutACL(ctx, "web", "main", "no-admin", client.ACL{Index: 0,
					Match:  client.ACLMatch{HTTPFilter: client.FilterPathBegin, HTTPFilterValue: []string{"/admin"}, IPSubnet: []string{"0.0.0.0/0"}},
					Action: client.ACLAction{Type: client.ActionDeny}}, client.IfMatch(7))
				return []any{a.Name, res.Revision}, err
			},
			method: "PUT", path: "/v1/lbs/web/frontends/main/acls/no-admin", header: "If-Match", headerValue: `"7"`,
			body: `{"name": "", "index": 0, "match": {"ip_subnet": ["0.0.0.0/0"], "http_filter": "path_begin", "http_filter_value": ["/admin"]}, "action": {"type": "deny"}}`,
			want: []any{"moved", uint64(8)}},
		{name: "patch acl", status: 200, answer: aclAnswer,
			call: func(c *client.Client) (any, error) {
				a, _, err := c.PatchACL(ctx, "web", "main", "moved", map[string]any{"index": 1})
				return a.Index, err
			},
			method: "PATCH", path: "/v1/lbs/web/frontends/main/acls/moved", body: `{"index": 1}`,
			header: "Content-Type", headerValue: "application/merge-patch+json", want: 1},
		{name: "delete acl in a transaction", status: 200, answer: `{"revision": 8, "changes": [], "staged": true}`,
			call: func(c *client.Client) (any, error) {
				res, err := c.DeleteACL(ctx, "web", "main", "moved", client.InTxn("t1"))
				return res.Staged, err
			},
			method: "DELETE", path: "/v1/lbs/web/frontends/main/acls/moved", query: "transaction_id=t1", want: true},
		{name: "put backend with traffic options", status: 200, answer: backendAnswer,
			call: func(c *client.Client) (any, error) {
				three, no := 3, false
				_, _, err := c.PutBackend(ctx, "web", "site", client.BackendInput{ForwardProtocol: client.ProtocolHTTP,
					ForwardPortAlgorithm: client.AlgoHeader, HashHeader: "X-User", ProxyProtocol: client.ProxyV2,
					StickySessions: client.StickyCookie, StickySessionsCookieName: "S", StickySessionsCookieHTTPOnly: &no, MaxRetries: &three,
					Servers:            client.ServerList(client.Server{IP: "10.0.0.1", Backup: true}),
					PassiveHealthCheck: &client.PassiveHealthCheck{ConsecutiveFailures: 2},
					HealthCheck:        &client.HealthCheck{RedisConfig: &client.EmptyCheck{}},
					Options:            &client.BackendOptions{StickySession: &client.StickySession{Type: client.StickyCookie, TTL: client.TTL(90 * time.Second)}}})
				return nil, err
			},
			method: "PUT", path: "/v1/lbs/web/backends/site",
			body: `{"servers": [{"ip": "10.0.0.1", "backup": true}], "options": {"sticky_session": {"type": "cookie", "ttl": "1m30s"}},
				"forward_protocol": "http", "forward_port_algorithm": "hdr", "sticky_sessions": "cookie", "sticky_sessions_cookie_name": "S",
				"health_check": {"redis_config": {}}, "hash_header": "X-User", "sticky_sessions_cookie_httponly": false,
				"proxy_protocol": "proxy_protocol_v2", "max_retries": 3, "passive_health_check": {"consecutive_failures": 2}}`},
		{name: "get health check", status: 200, answer: `{"check_delay": 2000, "http_config": {"uri": "/x", "code": 204}}`,
			call: func(c *client.Client) (any, error) {
				h, _, err := c.GetHealthCheck(ctx, "web", "site")
				return []any{h.CheckDelay, h.HTTPConfig.URI, *h.HTTPConfig.Code}, err
			},
			method: "GET", path: "/v1/lbs/web/backends/site/healthcheck", want: []any{client.Millis(2000), "/x", 204}},
		{name: "put health check, Scaleway shape", status: 200, answer: `{"check_delay": 3000, "tcp_config": {}}`,
			call: func(c *client.Client) (any, error) {
				h, _, err := c.PutHealthCheck(ctx, "web", "site", client.HealthCheck{CheckDelay: 3000, TCPConfig: &client.TCPCheck{}}, client.IfMatch(7))
				return h.TCPConfig != nil, err
			},
			method: "PUT", path: "/v1/lbs/web/backends/site/healthcheck", body: `{"check_delay": 3000, "tcp_config": {}}`,
			header: "If-Match", headerValue: `"7"`, want: true},
		{name: "put health check, seed 004 shape", status: 200, answer: `{"http_config": {"uri": "/health", "code": 200}}`,
			call: func(c *client.Client) (any, error) {
				h, _, err := c.PutHealthCheckOption(ctx, "web", "site", client.HealthCheckOption{Type: "http", Path: "/health", ExpectedCode: "200"})
				return h.HTTPConfig.URI, err
			},
			method: "PUT", path: "/v1/lbs/web/backends/site/healthcheck", body: `{"type": "http", "path": "/health", "expected_code": "200"}`, want: "/health"},
		{name: "delete health check", status: 204,
			call: func(c *client.Client) (any, error) {
				res, err := c.DeleteHealthCheck(ctx, "web", "site", client.InTxn("t1"))
				return res.Revision, err
			},
			method: "DELETE", path: "/v1/lbs/web/backends/site/healthcheck", query: "transaction_id=t1", want: uint64(8)},
		{name: "get config yaml", status: 200, answer: "lbs:\n- name: web\n",
			call: func(c *client.Client) (any, error) {
				doc, rev, err := c.GetConfig(ctx, client.YAML, client.AtRevision(4))
				return []any{string(doc), rev}, err
			},
			method: "GET", path: "/v1/config", query: "format=yaml&revision=4", want: []any{"lbs:\n- name: web\n", uint64(8)}},
		{name: "put config", status: 200, answer: `{"revision": 9}`,
			call: func(c *client.Client) (any, error) {
				res, err := c.PutConfig(ctx, []byte("lbs: []\n"), client.IfMatch(8))
				return res.Revision, err
			},
			method: "PUT", path: "/v1/config", text: "lbs: []\n", header: "If-Match", headerValue: `"8"`, want: uint64(9)},
		{name: "history", status: 200, answer: historyAnswer,
			call: func(c *client.Client) (any, error) {
				h, err := c.History(ctx, 5, 20)
				return []any{h[0].Revision, h[0].Author, string(h[0].Changes[0].After)}, err
			},
			method: "GET", path: "/v1/history", query: "before=20&limit=5",
			want: []any{uint64(11), "token:admin", `{"name": "web", "description": "x"}`}},
		{name: "rollback", status: 200, answer: `{"revision": 12, "changes": []}`,
			call: func(c *client.Client) (any, error) {
				res, err := c.Rollback(ctx, 4, client.WaitApplied())
				return res.Revision, err
			},
			method: "POST", path: "/v1/rollback", query: "wait=applied", body: `{"revision": 4}`, want: uint64(12)},
		{name: "begin", status: 201, answer: txnAnswer,
			call: func(c *client.Client) (any, error) {
				tx, err := c.BeginTxn(ctx, 11)
				return []any{tx.ID, tx.Version, tx.Expires.Minute()}, err
			},
			method: "POST", path: "/v1/transactions", query: "version=11", want: []any{"3f2a", uint64(11), 14}},
		{name: "get txn", status: 200, answer: txnAnswer,
			call: func(c *client.Client) (any, error) {
				tx, err := c.GetTxn(ctx, "3f2a")
				return tx.Author, err
			},
			method: "GET", path: "/v1/transactions/3f2a", want: "token:admin"},
		{name: "commit", status: 200, answer: `{"revision": 12, "changes": [{"path": "lbs/web", "kind": "created", "after": {}}]}`,
			call: func(c *client.Client) (any, error) {
				res, err := c.CommitTxn(ctx, "3f2a", client.Message("deploy"))
				return []any{res.Revision, res.Changes[0].Kind}, err
			},
			method: "PUT", path: "/v1/transactions/3f2a", query: "message=deploy", want: []any{uint64(12), client.Created}},
		{name: "abort", status: 204,
			call:   func(c *client.Client) (any, error) { return nil, c.AbortTxn(ctx, "3f2a") },
			method: "DELETE", path: "/v1/transactions/3f2a"},
		{name: "status", status: 200, answer: statusAnswer,
			call: func(c *client.Client) (any, error) {
				st, err := c.Status(ctx)
				return []any{st.StoredRevision, st.AppliedRevision, st.ApplyError, st.Listeners[0]}, err
			},
			method: "GET", path: "/v1/status", want: []any{uint64(12), uint64(11), "revision 12: port in use", "127.0.0.1:80"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, got := fake(t, tt.status, "application/json", `"8"`, tt.answer)
			v, err := tt.call(c)
			if err != nil {
				t.Fatal(err)
			}
			if got.method != tt.method || got.path != tt.path || got.query != tt.query {
				t.Errorf("sent %s %s?%s, want %s %s?%s", got.method, got.path, got.query, tt.method, tt.path, tt.query)
			}
			if a := got.header.Get("Authorization"); a != "Bearer tok" {
				t.Errorf("Authorization %q", a)
			}
			if tt.header != "" && got.header.Get(tt.header) != tt.headerValue {
				t.Errorf("%s: %q, want %q", tt.header, got.header.Get(tt.header), tt.headerValue)
			}
			if tt.text != "" && got.body != tt.text || tt.text == "" && !sameJSON(t, got.body, tt.body) {
				t.Errorf("sent body %s, want %s", got.body, tt.body)
			}
			if !reflect.DeepEqual(v, tt.want) {
				t.Errorf("got %#v, want %#v", v, tt.want)
			}
		})
	}
}

// sameJSON compares two JSON texts by value; "" is no body.
func sameJSON(t *testing.T, got, want string) bool {
	t.Helper()
	if want == "" {
		return got == ""
	}
	var g, w any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("the test's body is not JSON: %v", err)
	}
	return json.Unmarshal([]byte(got), &g) == nil && reflect.DeepEqual(g, w)
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name, contentType, body string
		status                  int
		wantTitle, wantField    string
		wantInMsg               string
	}{
		{name: "422 names the field", status: 422, contentType: "application/problem+json",
			body:      `{"type":"about:blank","title":"invalid config","status":422,"detail":"lbs[web].frontends[main].routes[0].host_header: \"*.\": empty label","instance":"/v1/lbs/web/frontends/main","errors":[{"field":"lbs[web].frontends[main].routes[0].host_header","detail":"\"*.\": empty label"}]}`,
			wantTitle: "invalid config", wantField: "lbs[web].frontends[main].routes[0].host_header", wantInMsg: "PUT /v1/lbs/web: 422 invalid config: lbs[web]"},
		{name: "412", status: 412, contentType: "application/problem+json",
			body:      `{"type":"about:blank","title":"precondition failed","status":412,"detail":"control: revision is not the latest: you read 1, the head is 8","instance":"/v1/lbs/web"}`,
			wantTitle: "precondition failed", wantInMsg: "you read 1"},
		{name: "not a problem document", status: 502, contentType: "text/html", body: "<h1>bad gateway</h1>",
			wantTitle: "bad gateway", wantInMsg: "502 bad gateway: <h1>bad gateway</h1>"},
		{name: "JSON that is no problem", status: 500, contentType: "application/json", body: `{"message": "boom"}`,
			wantTitle: "internal server error", wantInMsg: `{"message": "boom"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := fake(t, tt.status, tt.contentType, "", tt.body)
			_, _, err := c.PutLB(ctx, "web", client.LBInput{})
			var e *client.Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T %v, want *client.Error", err, err)
			}
			if e.Status != tt.status || e.Problem.Status != tt.status || e.Problem.Title != tt.wantTitle || client.StatusOf(err) != tt.status {
				t.Errorf("error %+v", e)
			}
			if !strings.Contains(err.Error(), tt.wantInMsg) {
				t.Errorf("message %q lacks %q", err.Error(), tt.wantInMsg)
			}
			if tt.wantField != "" {
				if f, ok := e.Field(tt.wantField); !ok || f.Detail != `"*.": empty label` {
					t.Errorf("field %q: %+v %v", tt.wantField, f, ok)
				}
			}
			if _, ok := e.Field("nope"); ok {
				t.Error("Field found a field the problem does not name")
			}
		})
	}
	t.Run("network error", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		url := srv.URL
		srv.Close()
		c, _ := client.New(url, "tok")
		_, err := c.Status(ctx)
		if err == nil || client.StatusOf(err) != 0 || !strings.Contains(err.Error(), "GET /v1/status") {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("bad answer", func(t *testing.T) {
		c, _ := fake(t, 200, "application/json", "", `{"stored_revision": "x"}`)
		if _, err := c.Status(ctx); err == nil || !strings.Contains(err.Error(), "decoding the answer") {
			t.Fatalf("error %v", err)
		}
	})
}

func TestNew(t *testing.T) {
	tests := []struct {
		url string
		ok  bool
	}{
		{"http://127.0.0.1:9980", true},
		{"https://lb.example.com/", true},
		{"http://127.0.0.1:9980/prefix", true},
		{"127.0.0.1:9980", false},
		{"ftp://x", false},
		{"http://", false},
		{"http://[::1", false},
	}
	for _, tt := range tests {
		if _, err := client.New(tt.url, ""); (err == nil) != tt.ok {
			t.Errorf("New(%q): %v", tt.url, err)
		}
	}
}

func TestNoTokenAndPrefix(t *testing.T) {
	var got seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = seen{path: r.URL.Path, header: r.Header.Clone()}
		io.WriteString(w, statusAnswer)
	}))
	defer srv.Close()
	c, _ := client.New(srv.URL+"/gantry/", "", client.WithHTTPClient(srv.Client()), client.WithUserAgent("test/1"))
	if _, err := c.Status(ctx); err != nil {
		t.Fatal(err)
	}
	if got.path != "/gantry/v1/status" || got.header.Get("Authorization") != "" || got.header.Get("User-Agent") != "test/1" {
		t.Fatalf("sent %s with %v", got.path, got.header)
	}
}

func TestNotApplied(t *testing.T) {
	// What ?wait=applied answers when the write is stored but the data plane
	// cannot apply it.
	c, _ := fake(t, 202, "application/json", `"9"`, `{"revision": 9, "changes": [{"path": "lbs/web", "kind": "updated"}], "applied": false, "apply_error": "listen tcp 127.0.0.1:80: bind: address already in use"}`)
	lb, res, err := c.PutLB(ctx, "web", client.LBInput{}, client.WaitApplied())
	var na *client.NotAppliedError
	if !errors.As(err, &na) || lb != nil || res == nil || res.Revision != 9 || len(res.Changes) != 1 ||
		!strings.Contains(res.ApplyError, "address already in use") || na.Result.Revision != 9 {
		t.Fatalf("put: %+v %+v %v", lb, res, err)
	}
	if !strings.Contains(err.Error(), "revision 9 is stored but not applied: listen tcp") {
		t.Errorf("message %q", err)
	}
	if res, err := c.Rollback(ctx, 3, client.WaitApplied()); !errors.As(err, &na) || res == nil || res.Revision != 9 {
		t.Fatalf("rollback: %+v %v", res, err)
	}
}

func TestServersValues(t *testing.T) {
	if got := string(client.IPAddresses("10.0.0.1")); got != `{"type":"ip","addresses":["10.0.0.1"]}` {
		t.Errorf("IPAddresses: %s", got)
	}
	if got := string(client.ServerList()); got != `[]` {
		t.Errorf("ServerList(): %s", got)
	}
	if got := string(client.ServerList(client.Server{IP: "::1", Port: 80})); got != `[{"ip":"::1","port":80}]` {
		t.Errorf("ServerList: %s", got)
	}
}
