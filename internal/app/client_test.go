package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/gantry-lb/gantry/client"
)

// TestClientAgainstServe drives a real `gantry serve` through the public Go
// client: the seed-004 backend, a frontend with host routes, traffic, and
// the errors a caller reads with errors.As.
func TestClientAgainstServe(t *testing.T) {
	s := startServe(t, t.TempDir())
	c, err := client.New("http://"+s.admin, s.token)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	api, vpn, dev := startBackend(t, "api", nil), startBackend(t, "vpn", nil), startBackend(t, "dev", nil)
	port := freePort(t)

	lb, res, err := c.PutLB(ctx, "web", client.LBInput{Description: "public web", Tags: []string{"prod"}, IPs: []string{"127.0.0.1"}})
	if err != nil || lb.Name != "web" || lb.Status != "ready" || res.Revision == 0 {
		t.Fatalf("put lb: %+v %+v %v", lb, res, err)
	}
	// Seed 004's body, without proxy_protocol and sticky_session (not
	// supported yet).
	apiPort := serverAt(api.addr).Port
	yes := true
	b, _, err := c.PutBackend(ctx, "web", "api-backend", client.BackendInput{Name: "api-backend", Mode: client.ProtocolHTTP,
		BalancingMethod: "roundrobin", Port: json.RawMessage(strconv.Quote(strconv.Itoa(apiPort))),
		Servers: client.IPAddresses("127.0.0.1"),
		Options: &client.BackendOptions{ForwardFor: &yes, HealthCheck: &client.HealthCheckOption{Type: "http", Path: "/health",
			Method: "GET", Port: apiPort, ExpectedCode: "200", HostHeader: "example.com"}}})
	if err != nil || b.ForwardProtocol != client.ProtocolHTTP || b.ForwardPort != apiPort || b.HealthCheck == nil ||
		b.HealthCheck.HTTPConfig == nil || *b.HealthCheck.HTTPConfig.Code != 200 || len(b.Servers) != 1 {
		t.Fatalf("seed-004 backend: %+v %v", b, err)
	}
	if _, _, err := c.PutBackend(ctx, "web", "vpn", client.BackendInput{ForwardProtocol: "http", ForwardPort: serverAt(vpn.addr).Port,
		ForwardPortAlgorithm: "leastconn", Pool: []string{"127.0.0.1"}}); err != nil {
		t.Fatal(err)
	}
	devAt := serverAt(dev.addr)
	if _, _, err := c.PutBackend(ctx, "web", "dev", client.BackendInput{ForwardProtocol: "http",
		Servers: client.ServerList(client.Server{IP: devAt.IP, Port: devAt.Port})}); err != nil {
		t.Fatal(err)
	}
	f, res, err := c.PutFrontend(ctx, "web", "main", client.FrontendInput{InboundPort: port, Protocol: client.ProtocolHTTP,
		Backend: "api-backend", TimeoutClient: 30000, Routes: []client.Route{
			{Match: &client.RouteMatch{HostHeader: "vpn.example.com"}, Backend: "vpn"},
			{Match: &client.RouteMatch{HostHeader: "*.dev.example.com"}, Backend: "dev"},
			{Match: &client.RouteMatch{PathBegin: "/api"}, Backend: "api-backend"}}}, client.WaitApplied())
	if err != nil || len(f.Routes) != 3 || f.Routes[1].Match.HostHeader != "*.dev.example.com" {
		t.Fatalf("put frontend: %+v %v", f, err)
	}
	for host, want := range map[string]string{"vpn.example.com": "vpn", "a.dev.example.com": "dev", "www.example.com": "api"} {
		if code, who := get(t, port, host); code != 200 || who != want {
			t.Errorf("%s -> %d %q, want %s", host, code, who, want)
		}
	}
	st, err := c.Status(ctx)
	if err != nil || st.AppliedRevision != res.Revision || st.StoredRevision != res.Revision {
		t.Fatalf("status %+v %v after revision %d", st, err, res.Revision)
	}

	// If-Match: a read's revision goes stale after another write: 412.
	_, rev, err := c.GetFrontend(ctx, "web", "main")
	if err != nil || rev != res.Revision {
		t.Fatalf("get frontend: revision %d, %v", rev, err)
	}
	if _, _, err := c.PatchLB(ctx, "web", map[string]string{"description": "changed"}); err != nil {
		t.Fatal(err)
	}
	_, _, err = c.PatchFrontend(ctx, "web", "main", map[string]any{"timeout_client": 1000}, client.IfMatch(rev))
	var e *client.Error
	if !errors.As(err, &e) || e.Status != http.StatusPreconditionFailed {
		t.Fatalf("stale If-Match: %v", err)
	}

	// 422 and 400 name the field; nothing is stored.
	before, _ := c.Status(ctx)
	_, _, err = c.PatchFrontend(ctx, "web", "main", map[string]any{"routes": []client.Route{{Match: &client.RouteMatch{HostHeader: "*."}, Backend: "vpn"}}})
	if !errors.As(err, &e) || e.Status != http.StatusUnprocessableEntity {
		t.Fatalf("invalid route: %v", err)
	}
	if fe, ok := e.Field("lbs[web].frontends[main].routes[0].host_header"); !ok || !strings.Contains(fe.Detail, "empty label") {
		t.Fatalf("422 fields: %+v", e.Problem)
	}
	_, _, err = c.PatchBackend(ctx, "web", "vpn", json.RawMessage(`{"forward_protocl": "http"}`))
	if !errors.As(err, &e) || e.Status != http.StatusBadRequest {
		t.Fatalf("unknown field: %v", err)
	}
	if _, ok := e.Field("forward_protocl"); !ok {
		t.Fatalf("400 fields: %+v", e.Problem)
	}
	if after, _ := c.Status(ctx); after.StoredRevision != before.StoredRevision {
		t.Fatalf("rejected writes moved the revision from %d to %d", before.StoredRevision, after.StoredRevision)
	}

	// A dry run answers the diff and stores nothing.
	b, res, err = c.PutBackend(ctx, "web", "dev", client.BackendInput{ForwardProtocol: "http", ForwardPortAlgorithm: "first",
		Servers: client.ServerList(client.Server{IP: devAt.IP, Port: devAt.Port})}, client.DryRun())
	if err != nil || b != nil || !res.DryRun || len(res.Changes) != 1 || res.Changes[0].Path != "lbs/web/backends/dev" ||
		res.Changes[0].Kind != client.Updated || !strings.Contains(string(res.Changes[0].After), `"first"`) {
		t.Fatalf("dry run: %+v %+v %v", b, res, err)
	}
	if got, _, _ := c.GetBackend(ctx, "web", "dev"); got.ForwardPortAlgorithm != "" {
		t.Fatalf("the dry run was stored: %+v", got)
	}

	// A transaction: staged writes become one revision.
	head, _ := c.Status(ctx)
	tx, err := c.BeginTxn(ctx, head.StoredRevision)
	if err != nil || tx.ID == "" || tx.Version != head.StoredRevision {
		t.Fatalf("begin: %+v %v", tx, err)
	}
	_, res, err = c.PutBackend(ctx, "web", "late", client.BackendInput{ForwardProtocol: "http", Pool: []string{"127.0.0.1"},
		ForwardPort: serverAt(vpn.addr).Port}, client.InTxn(tx.ID))
	if err != nil || !res.Staged {
		t.Fatalf("staged put: %+v %v", res, err)
	}
	if got, _ := c.GetTxn(ctx, tx.ID); got == nil || got.Changes == 0 {
		t.Fatalf("transaction after a staged write: %+v", got)
	}
	res, err = c.CommitTxn(ctx, tx.ID, client.Message("add late"), client.WaitApplied())
	if err != nil || res.Revision != head.StoredRevision+1 {
		t.Fatalf("commit: %+v %v", res, err)
	}
	if _, _, err := c.GetBackend(ctx, "web", "late"); err != nil {
		t.Fatal(err)
	}
	tx2, _ := c.BeginTxn(ctx, 0)
	if err := c.AbortTxn(ctx, tx2.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetTxn(ctx, tx2.ID); client.StatusOf(err) != http.StatusNotFound {
		t.Fatalf("aborted transaction: %v", err)
	}

	// Lists, history, config, rollback.
	bl, _, err := c.ListBackends(ctx, "web", client.OrderBy("name_asc"), client.PageSize(2))
	if err != nil || bl.TotalCount != 4 || len(bl.Backends) != 2 || bl.Backends[0].Name != "api-backend" {
		t.Fatalf("list backends: %+v %v", bl, err)
	}
	hist, err := c.History(ctx, 50, 0)
	if err != nil || len(hist) == 0 || hist[0].Message != "add late" {
		t.Fatalf("history: %+v %v", hist, err)
	}
	doc, rev, err := c.GetConfig(ctx, client.YAML)
	if err != nil || !strings.Contains(string(doc), "name: web") || rev != res.Revision {
		t.Fatalf("config: %s %d %v", doc, rev, err)
	}
	if res, err := c.PutConfig(ctx, doc, client.IfMatch(rev)); err != nil || res.Revision != rev {
		t.Fatalf("applying the same config: %+v %v (revision %d)", res, err, rev)
	}
	var created uint64
	for _, h := range hist {
		for _, ch := range h.Changes {
			if ch.Path == "lbs/web/frontends/main" && ch.Kind == client.Created {
				created = h.Revision
			}
		}
	}
	if res, err := c.Rollback(ctx, created-1, client.WaitApplied()); err != nil || res.Revision != rev+1 {
		t.Fatalf("rollback: %+v %v", res, err)
	}
	if _, _, err := c.GetFrontend(ctx, "web", "main"); client.StatusOf(err) != http.StatusNotFound {
		t.Fatalf("frontend after rollback: %v", err)
	}
	// A port in use: the write is stored, traffic stays on the last
	// revision that applied, and the client says both.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	f, res, err = c.PutFrontend(ctx, "web", "busy", client.FrontendInput{InboundPort: busy.Addr().(*net.TCPAddr).Port, Backend: "vpn"}, client.WaitApplied())
	var na *client.NotAppliedError
	if !errors.As(err, &na) || f != nil || res == nil || res.Revision == 0 || res.ApplyError == "" {
		t.Fatalf("frontend on a busy port: %+v %+v %v", f, res, err)
	}
	if st, _ := c.Status(ctx); st.StoredRevision != res.Revision || st.AppliedRevision >= res.Revision || st.ApplyError == "" {
		t.Fatalf("status after a failed apply: %+v", st)
	}
	if _, err := c.DeleteLB(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	if l, _, err := c.ListLBs(ctx); err != nil || l.TotalCount != 0 {
		t.Fatalf("lbs after delete: %+v %v", l, err)
	}
}

// TestClientTypesCoverAnswers decodes the server's answers strictly into
// the client's types: a field the server sends that the client does not
// know fails here.
func TestClientTypesCoverAnswers(t *testing.T) {
	s := startServe(t, t.TempDir())
	s.must(t, 200, "PUT", "/v1/lbs/web", `{"ips": ["127.0.0.1"]}`)
	s.must(t, 200, "PUT", "/v1/lbs/web/backends/b", `{"forward_protocol": "http", "servers": [{"ip": "127.0.0.1", "port": 1, "weight": 2}],
		"health_check": {"check_delay": 2000, "http_config": {"uri": "/h", "code": 200}}, "timeout_server": 5}`)
	s.must(t, 200, "PUT", "/v1/lbs/web/frontends/f", fmt.Sprintf(`{"inbound_port": %d, "backend": "b", "routes": [{"host_header": "a.example.com", "backend": "b"}]}`, freePort(t)))
	tx := s.must(t, 201, "POST", "/v1/transactions", nil).body["id"].(string)
	tests := []struct {
		method, path, body string
		status             int
		into               any
	}{
		{"GET", "/v1/lbs", "", 200, &client.LBList{}},
		{"GET", "/v1/lbs/web", "", 200, &client.LB{}},
		{"GET", "/v1/lbs/web/frontends", "", 200, &client.FrontendList{}},
		{"GET", "/v1/lbs/web/backends", "", 200, &client.BackendList{}},
		{"GET", "/v1/history", "", 200, &client.History{}},
		{"GET", "/v1/status", "", 200, &client.Status{}},
		{"GET", "/v1/transactions/" + tx, "", 200, &client.Transaction{}},
		{"PUT", "/v1/lbs/web/backends/b?dry_run=true", `{"forward_protocol": "http", "timeout_server": 9}`, 200, &client.Result{}},
		{"PUT", "/v1/lbs/web/backends/b?transaction_id=" + tx, `{"forward_protocol": "http"}`, 200, &client.Result{}},
		{"PUT", "/v1/lbs/web/backends/nope", `{"nope": 1}`, 400, &client.Problem{}},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			var body any
			if tt.body != "" {
				body = tt.body
			}
			r := s.call(t, tt.method, tt.path, body)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.raw)
			}
			dec := json.NewDecoder(strings.NewReader(r.raw))
			dec.DisallowUnknownFields()
			if err := dec.Decode(tt.into); err != nil {
				t.Fatalf("%s into %T: %v", r.raw, tt.into, err)
			}
		})
	}
}
