package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gantry-lb/gantry/client"
)

func TestTables(t *testing.T) {
	two, code := 2, 200
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name   string
		header []string
		rows   [][]string
		want   string
	}{
		{name: "lbs", header: lbResource().header, rows: [][]string{
			lbRow(client.LB{Name: "web", IPs: []string{"127.0.0.1", "::1"}, FrontendCount: 1, BackendCount: 3, Status: "ready", Description: "public web"}),
			lbRow(client.LB{Name: "internal-long-name", Status: "ready"}),
		}, want: "" +
			"NAME                IPS            FRONTENDS  BACKENDS  STATUS  DESCRIPTION\n" +
			"web                 127.0.0.1,::1  1          3         ready   public web\n" +
			"internal-long-name  *              0          0         ready   -\n"},
		{name: "ips", header: ipResource().header, rows: [][]string{
			ipRow(client.IP{Address: "127.0.0.1", Reverse: "web.example.com", Tags: []string{"prod", "edge"}, LB: ptr("web")}),
			ipRow(client.IP{Address: "::1", Tags: []string{}}),
		}, want: "" +
			"ADDRESS    REVERSE          LB   TAGS\n" +
			"127.0.0.1  web.example.com  web  prod,edge\n" +
			"::1        -                -    -\n"},
		{name: "frontends", header: frontendResource().header, rows: [][]string{
			frontendRow(client.Frontend{Name: "main", InboundPort: 80, Protocol: "http", Backend: "api", Routes: []client.Route{
				{Match: &client.RouteMatch{HostHeader: "vpn.example.com"}, Backend: "vpn"},
				{Match: &client.RouteMatch{PathBegin: "/api", Headers: []client.HeaderMatch{{Name: "X-A"}}}, Backend: "api"},
				{HostHeader: "flat.example.com", MatchSubdomains: true, Backend: "flat"},
				{Match: &client.RouteMatch{SNI: "db.example.com"}, Backend: "db"},
			}}),
			frontendRow(client.Frontend{Name: "tcp", InboundPort: 5432, Routes: []client.Route{{Backend: "pg"}}}),
		}, want: "" +
			"NAME  PORT  PROTOCOL  BACKEND  ROUTES\n" +
			"main  80    http      api      vpn.example.com->vpn, /api header:X-A->api, flat.example.com (+subdomains)->flat (+1 more)\n" +
			"tcp   5432  -         -        *->pg\n"},
		{name: "backends", header: backendResource().header, rows: [][]string{
			backendRow(client.Backend{Name: "api", ForwardProtocol: "http", ForwardPort: 8080, ForwardPortAlgorithm: "roundrobin",
				Servers:     []client.Server{{IP: "10.0.0.1"}, {IP: "::1", Port: 9000, Weight: &two}},
				HealthCheck: &client.HealthCheck{HTTPConfig: &client.HTTPCheck{URI: "/health", Code: &code}}}),
			backendRow(client.Backend{Name: "db", Servers: []client.Server{{IP: "10.0.0.2"}}, HealthCheck: &client.HealthCheck{}}),
			backendRow(client.Backend{Name: "pg", HealthCheck: &client.HealthCheck{PgSQLConfig: &client.UserCheck{}}}),
		}, want: "" +
			"NAME  PROTOCOL  PORT  ALGORITHM   SERVERS                    CHECK\n" +
			"api   http      8080  roundrobin  10.0.0.1:8080, [::1]:9000  http /health\n" +
			"db    -         -     -           10.0.0.2                   tcp\n" +
			"pg    -         -     -           -                          pgsql\n"},
		{name: "routes", header: routeResource().header, rows: [][]string{
			routeRow(client.IndexedRoute{Route: client.Route{Name: "vpn", Backend: "vpn", Match: &client.RouteMatch{HostHeader: "vpn.example.com"}, Priority: 2}, Index: 0}),
			routeRow(client.IndexedRoute{Route: client.Route{Backend: "api", Match: &client.RouteMatch{PathBegin: "/api"}}, Index: 1}),
		}, want: "" +
			"NAME  INDEX  MATCH            BACKEND  PRIORITY\n" +
			"vpn   0      vpn.example.com  vpn      2\n" +
			"-     1      /api             api      0\n"},
		{name: "history", header: []string{"REVISION", "TIME", "AUTHOR", "MESSAGE", "CHANGES"}, rows: historyRows([]client.HistoryEntry{
			{Revision: 12, Time: at, Author: "token:admin", Message: "deploy", Changes: []client.Change{
				{Path: "lbs/web", Kind: client.Updated}, {Path: "lbs/web/backends/a", Kind: client.Created}}},
			{Revision: 3, Time: at, Author: "token:admin", Changes: []client.Change{{Path: "lbs/web", Kind: client.Created}}},
		}), want: "" +
			"REVISION  TIME                  AUTHOR       MESSAGE  CHANGES\n" +
			"12        2026-01-02T03:04:05Z  token:admin  deploy   updated lbs/web, created lbs/web/backends/a\n" +
			"3         2026-01-02T03:04:05Z  token:admin  -        created lbs/web\n"},
		{name: "status", rows: statusRows(&client.Status{StoredRevision: 7, AppliedRevision: 6, ApplyError: "revision 7: port in use",
			Listeners: []string{"127.0.0.1:80", "127.0.0.1:443"}}), want: "" +
			"stored revision:   7\n" +
			"applied revision:  6\n" +
			"apply error:       revision 7: port in use\n" +
			"listeners:         127.0.0.1:80, 127.0.0.1:443\n"},
		{name: "tokens", header: tokenHeader, rows: [][]string{
			tokenRow(client.Token{ID: "3f2a9c0d1e2b", Name: "admin", Role: client.RoleAdmin, CreatedAt: at}),
			tokenRow(client.Token{ID: "77aa00bb11cc", Name: "ci-deploy", Role: client.RoleEditor, Project: "blue", CreatedAt: at}),
		}, want: "" +
			"ID            NAME       ROLE    PROJECT  CREATED\n" +
			"3f2a9c0d1e2b  admin      admin   -        2026-01-02T03:04:05Z\n" +
			"77aa00bb11cc  ci-deploy  editor  blue     2026-01-02T03:04:05Z\n"},
		{name: "transaction", header: []string{"ID", "VERSION", "CHANGES", "EXPIRES"},
			rows: [][]string{txnRow(&client.Transaction{ID: "3f2a", Version: 9, Changes: 2, Expires: at})}, want: "" +
				"ID    VERSION  CHANGES  EXPIRES\n" +
				"3f2a  9        2        2026-01-02T03:04:05Z\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := (printer{&b, "table"}).print(nil, tt.header, tt.rows); err != nil {
				t.Fatal(err)
			}
			if b.String() != tt.want {
				t.Errorf("got\n%s\nwant\n%s", b.String(), tt.want)
			}
		})
	}
}

func TestFormats(t *testing.T) {
	lb := client.LB{Name: "web", Tags: []string{}, IPs: []string{"127.0.0.1"}, Status: "ready"}
	tests := []struct {
		format string
		want   []string
	}{
		{"json", []string{"{\n  \"name\": \"web\",\n", `"ips": [` + "\n    \"127.0.0.1\"\n  ]", `"created_at": "0001-01-01T00:00:00Z"`}},
		{"yaml", []string{"name: web\n", "ips:\n- 127.0.0.1\n", "tags: []\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			var b bytes.Buffer
			if err := (printer{&b, tt.format}).print(lb, []string{"X"}, [][]string{{"x"}}); err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("%s output lacks %q:\n%s", tt.format, w, b.String())
				}
			}
		})
	}
}

func TestDiff(t *testing.T) {
	res := &client.Result{Revision: 4, DryRun: true, Changes: []client.Change{
		{Path: "lbs/web/backends/api", Kind: client.Updated,
			Before: json.RawMessage(`{"name": "api", "forward_port_algorithm": "roundrobin", "servers": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}], "tags": ["a"]}`),
			After:  json.RawMessage(`{"name": "api", "forward_port_algorithm": "first", "servers": [{"ip": "10.0.0.1", "port": 81}], "tags": []}`)},
		{Path: "lbs/web/backends/new", Kind: client.Created, After: json.RawMessage(`{"name": "new", "health_check": {"tcp_config": {}}}`)},
		{Path: "lbs/web/frontends/old", Kind: client.Deleted, Before: json.RawMessage(`{"name": "old"}`)},
	}}
	var b bytes.Buffer
	if err := (printer{&b, "table"}).result(res, ""); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"dry run on revision 4, nothing stored:\n" +
		"~ lbs/web/backends/api\n" +
		"    - forward_port_algorithm: \"roundrobin\"\n" +
		"    + forward_port_algorithm: \"first\"\n" +
		"    + servers[0].port: 81\n" +
		"    - servers[1].ip: \"10.0.0.2\"\n" +
		"    + tags: []\n" +
		"    - tags[0]: \"a\"\n" +
		"+ lbs/web/backends/new\n" +
		"    + health_check.tcp_config: {}\n" +
		"    + name: \"new\"\n" +
		"- lbs/web/frontends/old\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
	b.Reset()
	(printer{&b, "table"}).result(&client.Result{Revision: 2, Staged: true}, "t1")
	if want := "staged in transaction t1 (base revision 2); the transaction changes so far:\n  no changes\n"; b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}

func TestCLIUsageErrors(t *testing.T) {
	dir := t.TempDir()
	noName := filepath.Join(dir, "noname.yaml")
	os.WriteFile(noName, []byte("forward_protocol: http\n"), 0o600)
	typo := filepath.Join(dir, "typo.yaml")
	os.WriteFile(typo, []byte("name: b\nforward_protocl: http\n"), 0o600)
	notObject := filepath.Join(dir, "list.yaml")
	os.WriteFile(notObject, []byte("- a\n"), 0o600)
	t.Setenv("GANTRY_TOKEN", "")
	t.Setenv("GANTRY_SERVER", "")
	tok := []string{"--token", "t", "--server", "127.0.0.1:1"} // never reached
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"lb"}, 2, "usage: gantry lb list|get|put|delete"},
		{[]string{"lb", "frob"}, 2, `unknown verb "frob"`},
		{[]string{"lb", "get"}, 2, "lb get takes one NAME"},
		{[]string{"lb", "get", "a", "b"}, 2, "lb get takes one NAME"},
		{[]string{"lb", "list", "x"}, 2, `lb list takes no argument, got "x"`},
		{[]string{"lb", "list", "-o", "xml"}, 2, `-o "xml": want table, json or yaml`},
		{[]string{"lb", "list", "--bogus"}, 2, "flag provided but not defined: -bogus"},
		{[]string{"lb", "put", "-f", filepath.Join(dir, "missing.yaml")}, 2, "no such file"},
		{[]string{"lb", "put", "a", "b"}, 2, "lb put takes one NAME"},
		{[]string{"backend", "put", "x"}, 2, "backend put: -f FILE is required"},
		{[]string{"backend", "put", "-f", noName}, 2, "give a NAME, or a name field in the file"},
		{[]string{"backend", "put", "-f", typo}, 2, `typo.yaml: json: unknown field "forward_protocl"`},
		{[]string{"backend", "put", "b", "-f", notObject}, 2, "want an object"},
		{[]string{"frontend", "delete"}, 2, "frontend delete takes one NAME"},
		{[]string{"route"}, 2, "usage: gantry route list|get|put|delete"},
		{[]string{"route", "put", "r"}, 2, "route put: give -f FILE or flags"},
		{[]string{"route", "get"}, 2, "route get takes one NAME"},
		{[]string{"rollback"}, 2, "rollback takes one REVISION"},
		{[]string{"rollback", "abc"}, 2, `"abc" is not a revision number`},
		{[]string{"apply"}, 2, "apply: -f FILE is required"},
		{[]string{"apply", "-f", filepath.Join(dir, "missing.yaml")}, 2, "no such file"},
		{[]string{"export", "extra"}, 2, `export takes no argument, got "extra"`},
		{[]string{"history", "--limit", "x"}, 2, "invalid value"},
		{[]string{"txn"}, 2, "usage: gantry txn"},
		{[]string{"txn", "frob"}, 2, `unknown verb "frob"`},
		{[]string{"txn", "commit"}, 2, "txn commit takes one transaction ID"},
		{[]string{"txn", "begin", "x"}, 2, "txn begin takes no argument"},
		{[]string{"token"}, 2, "usage: gantry token list | create NAME"},
		{[]string{"token", "frob"}, 2, `unknown verb "frob"`},
		{[]string{"token", "list", "x"}, 2, `token list takes no argument, got "x"`},
		{[]string{"token", "create"}, 2, "token create takes one NAME"},
		{[]string{"token", "create", "ci"}, 2, "--role admin|editor|viewer is required"},
		{[]string{"token", "revoke"}, 2, "token revoke takes one ID"},
		{[]string{"token", "create", "rescue", "--role", "admin", "--project", "blue", "--offline"}, 2, "--offline makes rescue tokens, bound to no project"},
		{[]string{"token", "revoke", "--offline", "x"}, 2, "flag provided but not defined: -offline"},
		{[]string{"token", "create", "rescue", "--role", "admin", "--offline", "--data", dir}, 1, "no gantry store in " + dir},
		{[]string{"token", "-h"}, 0, "usage: gantry token"},
		{[]string{"status", "--data", dir}, 2, "no API token: pass --token, set GANTRY_TOKEN"},
		{[]string{"status", "--token", "t", "--server", "ftp://x"}, 2, "--server:"},
		{[]string{"status", "-h"}, 0, "-server"},
		{[]string{"lb", "-h"}, 0, "usage: gantry lb"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			args := tt.args
			if tt.code == 2 && len(args) > 1 && !strings.Contains(tt.want, "token") && !strings.Contains(tt.want, "server") {
				args = append(append([]string{}, args...), tok...)
			}
			code := runWith(args, strings.NewReader(""), &out, &errb)
			if code != tt.code || !strings.Contains(out.String()+errb.String(), tt.want) {
				t.Errorf("exit %d, output %q; want exit %d containing %q", code, out.String()+errb.String(), tt.code, tt.want)
			}
		})
	}
}

// fakeAPI is a canned API server that records what it was sent.
type fakeAPI struct {
	mu     sync.Mutex
	auth   []string
	paths  []string
	bodies []string
}

func (f *fakeAPI) start(t *testing.T, routes map[string]string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.auth = append(f.auth, r.Header.Get("Authorization"))
		f.paths = append(f.paths, r.Method+" "+r.URL.RequestURI())
		f.bodies = append(f.bodies, string(b))
		f.mu.Unlock()
		key := r.Method + " " + r.URL.Path
		if p := r.URL.Query().Get("page"); p != "" && p != "1" {
			key += "?page=" + p
		}
		answer, ok := routes[key]
		if !ok {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(404)
			io.WriteString(w, `{"type":"about:blank","title":"not found","status":404,"detail":"no route `+key+`"}`)
			return
		}
		status := 200
		if s, rest, ok := strings.Cut(answer, " "); ok && len(s) == 3 && s[0] >= '1' && s[0] <= '5' {
			status = int(s[0]-'0')*100 + int(s[1]-'0')*10 + int(s[2]-'0')
			answer = rest
		}
		ct := "application/json"
		if status >= 400 {
			ct = "application/problem+json"
		}
		w.Header().Set("Content-Type", ct)
		w.Header().Set("ETag", `"7"`)
		w.WriteHeader(status)
		io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// checkOutput fails the test unless a command exited with want and its
// output (all) holds every one of wants.
func checkOutput(t *testing.T, code, want int, all string, wants []string) {
	t.Helper()
	if code != want {
		t.Fatalf("exit %d, want %d: %s", code, want, all)
	}
	for _, w := range wants {
		if !strings.Contains(all, w) {
			t.Errorf("output lacks %q:\n%s", w, all)
		}
	}
}

// checkRequests fails the test unless the requests f received had, for
// each want that is not empty: auth as the first one's Authorization, a
// request line (method and target) holding path, and body as the last
// body.
func (f *fakeAPI) checkRequests(t *testing.T, auth, path, body string) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if auth != "" && (len(f.auth) == 0 || f.auth[0] != auth) {
		t.Errorf("Authorization %q, want %q", f.auth, auth)
	}
	if path != "" && !strings.Contains(strings.Join(f.paths, "\n"), path) {
		t.Errorf("requests %q lack %q", f.paths, path)
	}
	if body != "" && (len(f.bodies) == 0 || f.bodies[len(f.bodies)-1] != body) {
		t.Errorf("body %q, want %q", f.bodies, body)
	}
}

const oneLB = `{"lbs": [{"name": "web", "tags": [], "ips": [], "status": "ready"}], "total_count": 1}`

func TestCLIAgainstFakeServer(t *testing.T) {
	t.Setenv("GANTRY_TOKEN", "")
	t.Setenv("GANTRY_SERVER", "")
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "admin.token"), []byte("from-file\n"), 0o600)
	body := filepath.Join(dir, "fe.yaml")
	os.WriteFile(body, []byte("inbound_port: 80\nbackend: b\ncreated_at: 2026-01-01T00:00:00Z\n"), 0o600)
	route := filepath.Join(dir, "route.yaml")
	os.WriteFile(route, []byte("name: vpn\nbackend: vpn\nmatch:\n  host_header: vpn.example.com\nindex: 0\n"), 0o600)
	tests := []struct {
		name     string
		routes   map[string]string
		args     []string
		env      map[string]string
		code     int
		want     []string // in stdout+stderr
		wantAuth string
		wantPath string // among the requests
		wantBody string // of the last request
	}{
		{name: "token from the data directory", routes: map[string]string{"GET /v1/status": `{"stored_revision": 3, "applied_revision": 3, "listeners": []}`},
			args: []string{"status", "--data", dir}, want: []string{"stored revision:   3", "listeners:         -"}, wantAuth: "Bearer from-file"},
		{name: "token from the environment wins over the file", routes: map[string]string{"GET /v1/status": `{"stored_revision": 3}`},
			args: []string{"status", "--data", dir}, env: map[string]string{"GANTRY_TOKEN": "from-env"}, wantAuth: "Bearer from-env"},
		{name: "--token wins over the environment", routes: map[string]string{"GET /v1/status": `{"stored_revision": 3}`},
			args: []string{"status", "--token", "from-flag"}, env: map[string]string{"GANTRY_TOKEN": "from-env"}, wantAuth: "Bearer from-flag"},
		{name: "the only LB is the default", routes: map[string]string{"GET /v1/lbs": oneLB,
			"GET /v1/lbs/web/frontends": `{"frontends": [{"name": "main", "inbound_port": 80, "routes": []}], "total_count": 1}`},
			args: []string{"frontend", "list", "--data", dir}, want: []string{"main  80    -"}, wantPath: "GET /v1/lbs/web/frontends?page=1&page_size=100"},
		{name: "routes of the only frontend", routes: map[string]string{"GET /v1/lbs": oneLB,
			"GET /v1/lbs/web/frontends": `{"frontends": [{"name": "main", "inbound_port": 80, "routes": []}], "total_count": 1}`,
			"GET /v1/lbs/web/frontends/main/routes": `{"routes": [{"name": "vpn", "backend": "vpn", "match": {"host_header": "vpn.example.com"}, "index": 0},
				{"backend": "api", "match": {"path_begin": "/api"}, "priority": 1, "index": 1}], "total_count": 2}`},
			args:     []string{"route", "list", "--data", dir},
			want:     []string{"NAME  INDEX  MATCH            BACKEND  PRIORITY\n", "vpn   0      vpn.example.com  vpn      0\n", "-     1      /api             api      1\n"},
			wantPath: "GET /v1/lbs/web/frontends/main/routes"},
		{name: "two frontends need --frontend", routes: map[string]string{"GET /v1/lbs": oneLB,
			"GET /v1/lbs/web/frontends": `{"frontends": [{"name": "a"}, {"name": "b"}], "total_count": 2}`},
			args: []string{"route", "get", "r", "--data", dir}, code: 2, want: []string{`load balancer "web" has 2 frontends (a, b): pass --frontend NAME`}},
		{name: "route put with an index", routes: map[string]string{
			"PUT /v1/lbs/web/frontends/main/routes/vpn": `{"name": "vpn", "backend": "vpn", "match": {"host_header": "vpn.example.com"}, "index": 0}`},
			args: []string{"route", "put", "--lb", "web", "--frontend", "main", "-f", route, "--data", dir},
			want: []string{`route "vpn" saved (revision 7)`}, wantPath: "PUT /v1/lbs/web/frontends/main/routes/vpn",
			wantBody: `{"name":"vpn","backend":"vpn","match":{"host_header":"vpn.example.com"},"index":0}`},
		{name: "ip put", routes: map[string]string{"PUT /v1/ips/10.0.0.1": `{"address": "10.0.0.1", "reverse": "", "tags": [], "lb": null}`},
			args: []string{"ip", "put", "10.0.0.1", "--data", dir},
			want: []string{`ip "10.0.0.1" saved (revision 7)`}, wantPath: "PUT /v1/ips/10.0.0.1", wantBody: `{}`},
		{name: "ip list", routes: map[string]string{"GET /v1/ips": `{"ips": [{"address": "10.0.0.1", "reverse": "a.example.com", "tags": [], "lb": "web"}], "total_count": 1}`},
			args: []string{"ip", "list", "--data", dir}, want: []string{"10.0.0.1  a.example.com  web  -\n"}, wantPath: "GET /v1/ips?page=1&page_size=100"},
		{name: "lb delete releasing its ip", routes: map[string]string{"DELETE /v1/lbs/web": `204 `},
			args: []string{"lb", "delete", "web", "--release-ip", "--data", dir},
			want: []string{`lb "web" deleted (revision 7)`}, wantPath: "DELETE /v1/lbs/web?release_ip=true"},
		{name: "route delete", routes: map[string]string{"DELETE /v1/lbs/web/frontends/main/routes/vpn": `204 `},
			args: []string{"route", "delete", "vpn", "--lb", "web", "--frontend", "main", "--data", dir},
			want: []string{`route "vpn" deleted (revision 7)`}},
		{name: "two LBs need --lb", routes: map[string]string{"GET /v1/lbs": `{"lbs": [{"name": "a"}, {"name": "b"}], "total_count": 2}`},
			args: []string{"backend", "list", "--data", dir}, code: 2, want: []string{"there are 2 load balancers (a, b): pass --lb NAME"}},
		{name: "no LB yet", routes: map[string]string{"GET /v1/lbs": `{"lbs": [], "total_count": 0}`},
			args: []string{"backend", "get", "x", "--data", dir}, code: 2, want: []string{"no load balancer yet"}},
		{name: "--lb is used as given", routes: map[string]string{"GET /v1/lbs/other/backends/x": `{"name": "x"}`},
			args: []string{"backend", "get", "x", "--lb", "other", "--data", dir, "-o", "json"}, want: []string{`"name": "x"`}},
		{name: "lists read every page", routes: map[string]string{
			"GET /v1/lbs":        `{"lbs": [{"name": "a"}], "total_count": 2}`,
			"GET /v1/lbs?page=2": `{"lbs": [{"name": "b"}], "total_count": 2}`},
			args: []string{"lb", "list", "--data", dir}, want: []string{"\na     *", "\nb     *"}, wantPath: "GET /v1/lbs?page=2&page_size=100"},
		{name: "422 prints every field", routes: map[string]string{"GET /v1/lbs": oneLB, "PUT /v1/lbs/web/frontends/main": `422 {"type":"about:blank","title":"invalid config","status":422,"detail":"two errors",
			"errors":[{"field":"lbs[web].frontends[main].routes[0].host_header","detail":"\"*.\": empty label"},{"field":"lbs[web].frontends[main].backend","detail":"no backend named \"b\""}]}`},
			args: []string{"frontend", "put", "main", "-f", body, "--data", dir}, code: 1,
			want: []string{"gantry: invalid config (422):\n  lbs[web].frontends[main].routes[0].host_header: \"*.\": empty label\n  lbs[web].frontends[main].backend: no backend named \"b\"\n"},
			// read-only fields of a shown object are dropped from the body
			wantBody: `{"name":"main","inbound_port":80,"backend":"b"}`},
		{name: "412 prints the detail", routes: map[string]string{"PUT /v1/lbs/web": `412 {"type":"about:blank","title":"precondition failed","status":412,"detail":"you read 2, the head is 6"}`},
			args: []string{"lb", "put", "web", "--if-match", "2", "--data", dir}, code: 1,
			want: []string{"gantry: precondition failed (412): you read 2, the head is 6\n"}, wantPath: "PUT /v1/lbs/web"},
		{name: "write flags", routes: map[string]string{"DELETE /v1/lbs/web": `{"revision": 7, "changes": [{"path": "lbs/web", "kind": "deleted"}], "staged": true}`},
			args: []string{"lb", "delete", "web", "--txn", "t1", "--wait", "--data", dir},
			want: []string{"staged in transaction t1 (base revision 7)", "- lbs/web\n"}, wantPath: "DELETE /v1/lbs/web?transaction_id=t1&wait=applied"},
		{name: "stored but not applied", routes: map[string]string{"GET /v1/lbs": oneLB,
			"PUT /v1/lbs/web/frontends/main": `202 {"revision": 9, "changes": [], "applied": false, "apply_error": "bind: address already in use"}`},
			args: []string{"frontend", "put", "main", "-f", body, "--wait", "--data", dir}, code: 1,
			want: []string{"gantry: revision 9 is stored but not applied: bind: address already in use\n"}, wantPath: "PUT /v1/lbs/web/frontends/main?wait=applied"},
		{name: "apply sends the file as is", routes: map[string]string{"PUT /v1/config": `{"revision": 8}`},
			args: []string{"apply", "-f", body, "--data", dir}, want: []string{"config applied (revision 8)"},
			wantBody: "inbound_port: 80\nbackend: b\ncreated_at: 2026-01-01T00:00:00Z\n"},
		{name: "export is YAML by default", routes: map[string]string{"GET /v1/config": "lbs: []\n"},
			args: []string{"export", "--data", dir}, want: []string{"lbs: []\n"}, wantPath: "GET /v1/config?format=yaml"},
		{name: "token list", routes: map[string]string{"GET /v1/tokens": `{"tokens": [{"id": "3f2a9c0d1e2b", "name": "admin", "role": "admin", "created_at": "2026-01-02T03:04:05Z"}], "total_count": 1}`},
			args: []string{"token", "list", "--data", dir}, want: []string{"ID            NAME   ROLE   PROJECT  CREATED\n3f2a9c0d1e2b  admin  admin  -        2026-01-02T03:04:05Z\n"}},
		{name: "token create prints the secret once", routes: map[string]string{
			"POST /v1/tokens": `201 {"id": "77aa00bb11cc", "name": "ci", "role": "editor", "created_at": "2026-01-02T03:04:05Z", "secret": "gty_s3cret"}`},
			args:     []string{"token", "create", "ci", "--role", "editor", "--data", dir},
			want:     []string{"77aa00bb11cc  ci    editor  -        2026-01-02T03:04:05Z\n", "\nsecret: gty_s3cret\nThis secret will not be shown again: store it now.\n"},
			wantPath: "POST /v1/tokens", wantBody: `{"name":"ci","role":"editor"}`},
		{name: "token create in a project", routes: map[string]string{
			"POST /v1/tokens": `201 {"id": "77aa00bb11cc", "name": "ci", "role": "editor", "project": "blue", "created_at": "2026-01-02T03:04:05Z", "secret": "gty_s3cret"}`},
			args:     []string{"token", "create", "ci", "--role", "editor", "--project", "blue", "--data", dir},
			want:     []string{"77aa00bb11cc  ci    editor  blue     2026-01-02T03:04:05Z\n"},
			wantPath: "POST /v1/tokens", wantBody: `{"name":"ci","role":"editor","project":"blue"}`},
		{name: "token create as json", routes: map[string]string{
			"POST /v1/tokens": `201 {"id": "77aa00bb11cc", "name": "ci", "role": "viewer", "created_at": "2026-01-02T03:04:05Z", "secret": "gty_s3cret"}`},
			args: []string{"token", "create", "ci", "--role", "viewer", "-o", "json", "--data", dir},
			want: []string{`"secret": "gty_s3cret"`, "will not be shown again"}},
		{name: "token revoke", routes: map[string]string{"DELETE /v1/tokens/77aa00bb11cc": `204 `},
			args: []string{"token", "revoke", "77aa00bb11cc", "--data", dir}, want: []string{"token 77aa00bb11cc revoked\n"}},
		{name: "token revoke of the last admin", routes: map[string]string{"DELETE /v1/tokens/3f2a9c0d1e2b": `409 {"type":"about:blank","title":"conflict","status":409,"detail":"control: the last admin token cannot be revoked: token 3f2a9c0d1e2b (\"admin\") is the only admin token; create another admin token first"}`},
			args: []string{"token", "revoke", "3f2a9c0d1e2b", "--data", dir}, code: 1, want: []string{"gantry: conflict (409): control: the last admin token cannot be revoked", "create another admin token first"}},
		{name: "token list as an editor", routes: map[string]string{"GET /v1/tokens": `403 {"type":"about:blank","title":"forbidden","status":403,"detail":"only an admin token may manage tokens"}`},
			args: []string{"token", "list", "--data", dir}, code: 1, want: []string{"gantry: forbidden (403): only an admin token may manage tokens\n"}},
		{name: "the server from the environment", routes: map[string]string{"GET /v1/status": `{"stored_revision": 1}`},
			args: []string{"status", "--data", dir, "-o", "yaml"}, env: map[string]string{"GANTRY_SERVER": "SELF"}, want: []string{"stored_revision: 1\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f fakeAPI
			url := f.start(t, tt.routes)
			args := append([]string{}, tt.args...)
			if tt.env["GANTRY_SERVER"] == "" {
				args = append(args, "--server", url)
			}
			for k, v := range tt.env {
				if v == "SELF" {
					v = strings.TrimPrefix(url, "http://") // a bare host:port works too
				}
				t.Setenv(k, v)
			}
			var out, errb bytes.Buffer
			code := runWith(args, strings.NewReader(""), &out, &errb)
			checkOutput(t, code, tt.code, out.String()+errb.String(), tt.want)
			f.checkRequests(t, tt.wantAuth, tt.wantPath, tt.wantBody)
		})
	}
}

func TestParseArgs(t *testing.T) {
	tests := []struct {
		args    []string
		wantPos []string
		wantF   string
	}{
		{[]string{"a", "-f", "x"}, []string{"a"}, "x"},
		{[]string{"-f", "x", "a"}, []string{"a"}, "x"},
		{[]string{"a", "b"}, []string{"a", "b"}, ""},
		{[]string{"-f", "x", "--", "-a"}, []string{"-a"}, "x"},
		{nil, nil, ""},
	}
	for _, tt := range tests {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		(&ctlFlags{}).register(fs, "table")
		var f string
		fs.StringVar(&f, "f", "", "")
		pos, err := parseArgs(fs, tt.args)
		if err != nil || f != tt.wantF || strings.Join(pos, ",") != strings.Join(tt.wantPos, ",") {
			t.Errorf("%q: pos %q f %q err %v", tt.args, pos, f, err)
		}
	}
}

func TestTokenIsNotSentToARemoteServer(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	os.MkdirAll("gantry-data", 0o700)
	os.WriteFile("gantry-data/admin.token", []byte("local-secret\n"), 0o600)
	t.Setenv("GANTRY_TOKEN", "")
	g := ctlFlags{data: defaultData, server: "http://prod.example:9980"}
	if _, err := g.findToken(); err == nil || !strings.Contains(err.Error(), "no API token for http://prod.example:9980") {
		t.Fatalf("remote server: %v", err)
	}
	g.server = "http://127.0.0.1:9981"
	if tok, err := g.findToken(); err != nil || tok != "local-secret" {
		t.Fatalf("local server: %q %v", tok, err)
	}
}

func TestIfMatchZeroIsSent(t *testing.T) {
	var w writeFlags
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	w.registerIfMatch(fs)
	if err := fs.Parse([]string{"--if-match", "0"}); err != nil {
		t.Fatal(err)
	}
	if !w.hasIfMatch || len(w.options()) != 1 {
		t.Fatalf("--if-match 0 was dropped: %+v", w)
	}
}

func ptr[T any](v T) *T { return &v }
