package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gantry-lb/gantry/client"
)

// runACL runs `gantry acl ARGS...` as the command line would: the acl
// command is runResource over aclResource.
func runACL(args []string, stdin string, out, errb *bytes.Buffer) int {
	return runResource(aclResource(), args, strings.NewReader(stdin), out, errb)
}

func TestACLTable(t *testing.T) {
	var b bytes.Buffer
	rows := [][]string{
		aclRow(client.ACL{Name: "no-admin", Index: 0, Match: client.ACLMatch{IPSubnet: []string{"0.0.0.0/0"}, HTTPFilter: "path_begin", HTTPFilterValue: []string{"/admin"}},
			Action: client.ACLAction{Type: "deny"}}),
		aclRow(client.ACL{Name: "moved", Index: 1, Match: client.ACLMatch{HTTPFilter: "path_begin", HTTPFilterValue: []string{"/old", "/older"}},
			Action: client.ACLAction{Type: "redirect", Redirect: &client.ACLRedirect{Type: "location", Target: "https://example.com/new", Code: 301}}}),
		aclRow(client.ACL{Index: 2, Match: client.ACLMatch{HTTPFilter: "http_header_match", HTTPFilterOption: "X-Env", HTTPFilterValue: []string{"dev"}, Invert: true},
			Action: client.ACLAction{Type: "redirect", Redirect: &client.ACLRedirect{Type: "scheme", Target: "https"}}}),
		aclRow(client.ACL{Name: "rest", Index: 9, Action: client.ACLAction{Type: "allow"}}),
	}
	if err := (printer{&b, "table"}).print(nil, aclResource().header, rows); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"NAME      INDEX  MATCH                             ACTION\n" +
		"no-admin  0      ip:0.0.0.0/0 path_begin:/admin    deny\n" +
		"moved     1      path_begin:/old,/older            redirect 301 to https://example.com/new\n" +
		"-         2      not http_header_match(X-Env):dev  redirect 302 to https://\n" +
		"rest      9      *                                 allow\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestACLUsageErrors(t *testing.T) {
	t.Setenv("GANTRY_TOKEN", "")
	t.Setenv("GANTRY_SERVER", "")
	dir := t.TempDir()
	typo := filepath.Join(dir, "typo.yaml")
	os.WriteFile(typo, []byte("index: 1\nactoin: {type: deny}\n"), 0o600)
	tok := []string{"--token", "t", "--server", "127.0.0.1:1"} // never reached
	tests := []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "usage: gantry acl list|get|put|delete"},
		{[]string{"-h"}, 0, "usage: gantry acl"},
		{[]string{"frob"}, 2, `unknown verb "frob"`},
		{[]string{"get"}, 2, "acl get takes one NAME"},
		{[]string{"delete", "a", "b"}, 2, "acl delete takes one NAME"},
		{[]string{"put", "a"}, 2, "acl put: give -f FILE or flags (see gantry acl put -h)"},
		{[]string{"put", "--action", "deny"}, 2, "acl put: give a NAME, or a name field in the file"},
		{[]string{"put", "a", "--action", "deny", "--redirect-code", "301"}, 2, `need action redirect, not "deny"`},
		{[]string{"put", "a", "-f", typo}, 2, `typo.yaml: json: unknown field "actoin"`},
		{[]string{"put", "a", "--index", "x"}, 2, "invalid value"},
		{[]string{"list", "--action", "deny"}, 2, "flag provided but not defined: -action"},
		{[]string{"list", "--txn", "t1"}, 2, "flag provided but not defined: -txn"},
		{[]string{"delete", "a", "--txn", "t1"}, 2, "pass --lb with --txn or --revision"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			args := tt.args
			if len(args) > 0 && tt.code == 2 {
				args = append(append([]string{}, args...), tok...)
			}
			code := runACL(args, "", &out, &errb)
			if code != tt.code || !strings.Contains(out.String()+errb.String(), tt.want) {
				t.Errorf("exit %d, output %q; want exit %d containing %q", code, out.String()+errb.String(), tt.code, tt.want)
			}
		})
	}
}

func TestACLAgainstFakeServer(t *testing.T) {
	t.Setenv("GANTRY_TOKEN", "")
	t.Setenv("GANTRY_SERVER", "")
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "admin.token"), []byte("from-file\n"), 0o600)
	moved := filepath.Join(dir, "moved.yaml")
	os.WriteFile(moved, []byte(`name: moved
index: 1
match:
  http_filter: path_begin
  http_filter_value: [/old]
action:
  type: redirect
  redirect: {type: location, target: "https://example.com/new", code: 301}
`), 0o600)
	const movedJSON = `{"name": "moved", "index": 1, "match": {"http_filter": "path_begin", "http_filter_value": ["/old"]},
		"action": {"type": "redirect", "redirect": {"type": "location", "target": "https://example.com/new", "code": 301}}}`
	const oneFrontend = `{"frontends": [{"name": "main", "inbound_port": 80, "routes": []}], "total_count": 1}`
	tests := []struct {
		name     string
		routes   map[string]string
		args     []string
		stdin    string
		code     int
		want     []string
		wantPath string
		wantBody string
	}{
		{name: "list of the only frontend of the only LB", routes: map[string]string{"GET /v1/lbs": oneLB, "GET /v1/lbs/web/frontends": oneFrontend,
			"GET /v1/lbs/web/frontends/main/acls": `{"acls": [{"name": "no-admin", "index": 0, "match": {"ip_subnet": ["0.0.0.0/0"], "http_filter": "path_begin",
				"http_filter_value": ["/admin"]}, "action": {"type": "deny"}}, ` + movedJSON + `], "total_count": 2}`},
			args: []string{"list"},
			want: []string{"NAME      INDEX  MATCH                           ACTION\n", "no-admin  0      ip:0.0.0.0/0 path_begin:/admin  deny\n",
				"moved     1      path_begin:/old                 redirect 301 to https://example.com/new\n"},
			wantPath: "GET /v1/lbs/web/frontends/main/acls?page=1&page_size=100"},
		{name: "list reads every page", routes: map[string]string{
			"GET /v1/lbs/web/frontends/main/acls":        `{"acls": [{"name": "a", "index": 0, "match": {}, "action": {"type": "allow"}}], "total_count": 2}`,
			"GET /v1/lbs/web/frontends/main/acls?page=2": `{"acls": [{"name": "b", "index": 1, "match": {}, "action": {"type": "deny"}}], "total_count": 2}`},
			args: []string{"list", "--lb", "web", "--frontend", "main"}, want: []string{"\na     0      *      allow\n", "\nb     1      *      deny\n"},
			wantPath: "GET /v1/lbs/web/frontends/main/acls?page=2&page_size=100"},
		{name: "get as yaml at a revision", routes: map[string]string{"GET /v1/lbs/web/frontends/main/acls/moved": movedJSON},
			args: []string{"get", "moved", "--lb", "web", "--frontend", "main", "-o", "yaml", "--revision", "4"},
			want: []string{"name: moved\n", "target: https://example.com/new\n"}, wantPath: "GET /v1/lbs/web/frontends/main/acls/moved?revision=4"},
		{name: "put from flags", routes: map[string]string{"PUT /v1/lbs/web/frontends/main/acls/no-admin": `{"name": "no-admin", "index": 0, "match": {}, "action": {"type": "deny"}}`},
			args: []string{"put", "no-admin", "--lb", "web", "--frontend", "main", "--index", "0", "--ip-subnet", "10.0.0.0/8,192.168.0.0/16", "--ip-subnet", "::1",
				"--http-filter", "path_begin", "--http-filter-value", "/admin", "--http-filter-value", "/a,b", "--action", "deny", "--wait"},
			want: []string{`acl "no-admin" saved (revision 7)`}, wantPath: "PUT /v1/lbs/web/frontends/main/acls/no-admin?wait=applied",
			wantBody: `{"name":"no-admin","index":0,"match":{"ip_subnet":["10.0.0.0/8","192.168.0.0/16","::1"],"http_filter":"path_begin","http_filter_value":["/admin","/a,b"]},"action":{"type":"deny"}}`},
		{name: "put a redirect from flags", routes: map[string]string{"PUT /v1/lbs/web/frontends/main/acls/https": `{"name": "https", "index": 0, "match": {}, "action": {"type": "redirect"}}`},
			args:     []string{"put", "https", "--lb", "web", "--frontend", "main", "--redirect-type", "scheme", "--redirect-target", "https", "--invert", "--ip-subnet", "10.0.0.0/8"},
			wantBody: `{"name":"https","index":0,"match":{"ip_subnet":["10.0.0.0/8"],"invert":true},"action":{"type":"redirect","redirect":{"type":"scheme","target":"https"}}}`},
		{name: "put from a file, a flag wins", routes: map[string]string{"PUT /v1/lbs/web/frontends/main/acls/moved": movedJSON},
			args: []string{"put", "-f", moved, "--lb", "web", "--frontend", "main", "--index", "4", "--redirect-code", "308"},
			want: []string{`acl "moved" saved (revision 7)`},
			wantBody: `{"name":"moved","index":4,"match":{"http_filter":"path_begin","http_filter_value":["/old"]},` +
				`"action":{"type":"redirect","redirect":{"type":"location","target":"https://example.com/new","code":308}}}`},
		{name: "put from stdin, dry run", routes: map[string]string{"PUT /v1/lbs/web/frontends/main/acls/moved": `{"revision": 7, "changes": [{"path": "lbs/web/frontends/main", "kind": "updated",
			"before": {"name": "main"}, "after": {"name": "main", "acls": [{"name": "moved", "index": 1}]}}], "dry_run": true}`},
			args: []string{"put", "--lb", "web", "--frontend", "main", "-f", "-", "--dry-run"}, stdin: movedJSON,
			want:     []string{"dry run on revision 7, nothing stored:\n~ lbs/web/frontends/main\n", "    + acls[0].name: \"moved\"\n"},
			wantPath: "PUT /v1/lbs/web/frontends/main/acls/moved?dry_run=true"},
		{name: "422 names the field", routes: map[string]string{"PUT /v1/lbs/web/frontends/main/acls/bad": `422 {"type":"about:blank","title":"invalid config","status":422,"detail":"x",
			"errors":[{"field":"lbs[web].frontends[main].acls[bad].match.ip_subnet[0]","detail":"\"10.0.0.0/33\": not a CIDR"}]}`},
			args: []string{"put", "bad", "--lb", "web", "--frontend", "main", "--ip-subnet", "10.0.0.0/33", "--action", "deny"}, code: 1,
			want: []string{"gantry: invalid config (422):\n  lbs[web].frontends[main].acls[bad].match.ip_subnet[0]: \"10.0.0.0/33\": not a CIDR\n"}},
		{name: "delete in a transaction", routes: map[string]string{"DELETE /v1/lbs/web/frontends/main/acls/moved": `{"revision": 7, "changes": [], "staged": true}`},
			args: []string{"delete", "moved", "--lb", "web", "--frontend", "main", "--txn", "t1"},
			want: []string{"staged in transaction t1 (base revision 7)"}, wantPath: "DELETE /v1/lbs/web/frontends/main/acls/moved?transaction_id=t1"},
		{name: "delete", routes: map[string]string{"DELETE /v1/lbs/web/frontends/main/acls/moved": `204 `},
			args: []string{"delete", "moved", "--lb", "web", "--frontend", "main", "--if-match", "6"},
			want: []string{`acl "moved" deleted (revision 7)`}},
		{name: "missing ACL", routes: map[string]string{},
			args: []string{"get", "nope", "--lb", "web", "--frontend", "main"}, code: 1, want: []string{"gantry: not found (404)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f fakeAPI
			url := f.start(t, tt.routes)
			args := append(append([]string{}, tt.args...), "--server", url, "--data", dir)
			var out, errb bytes.Buffer
			code := runACL(args, tt.stdin, &out, &errb)
			checkOutput(t, code, tt.code, out.String()+errb.String(), tt.want)
			f.checkRequests(t, "Bearer from-file", tt.wantPath, tt.wantBody)
		})
	}
}
