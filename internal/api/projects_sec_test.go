package api_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	gclient "github.com/gantry-lb/gantry/client"
	"github.com/gantry-lb/gantry/internal/api"
	"github.com/gantry-lb/gantry/internal/control"
)

type secEnv struct {
	t                  *testing.T
	url                string
	admin, blue, green string
	c                  *http.Client
}

func newSecEnv(t *testing.T) *secEnv {
	ctx := context.Background()
	ctl, log := newControl(t)
	admin, _, _ := ctl.CreateToken(ctx, "admin", control.RoleAdmin) // store revision 1: empty config
	blue, _, _ := ctl.CreateToken(ctx, "blue", control.RoleEditor, control.InProject("blue"))
	green, _, _ := ctl.CreateToken(ctx, "green", control.RoleEditor, control.InProject("green"))
	stats := func(lb string) []gclient.ServerStats {
		return []gclient.ServerStats{{Backend: "secret-backend-of-" + lb, Server: "10.66.0.1:8080", ServerState: "running"}}
	}
	srv := httptest.NewServer(api.New(api.Options{Control: ctl, Log: log, Stats: stats}))
	t.Cleanup(srv.Close)
	return &secEnv{t: t, url: srv.URL, admin: admin, blue: blue, green: green, c: srv.Client()}
}

func (e *secEnv) do(tok, method, path, body string) (int, string) {
	req, _ := http.NewRequest(method, e.url+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := e.c.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (e *secEnv) must(tok, method, path, body string, want int) string {
	code, b := e.do(tok, method, path, body)
	if code != want {
		e.t.Fatalf("%s %s -> %d, want %d: %s", method, path, code, want, b)
	}
	return b
}

// green's LB, built by green; blue must learn nothing about it.
func (e *secEnv) greenLB() {
	e.must(e.green, "PUT", "/v1/lbs/green-web", `{"description": "green secret"}`, 200)
	e.must(e.green, "PUT", "/v1/lbs/green-web/backends/app", `{"forward_protocol": "http", "forward_port": 80, "pool": ["10.1.1.1"]}`, 200)
	e.must(e.green, "PUT", "/v1/lbs/green-web/frontends/main", `{"inbound_port": 8443, "protocol": "http", "backend": "app"}`, 200)
}

// sameAsMissing asserts that a project token's answer about another
// project's object is the very answer about an LB that does not exist.
func (e *secEnv) sameAsMissing(method, path, missingPath, body string) {
	e.t.Helper()
	mcode, mb := e.do(e.blue, method, missingPath, body)
	code, b := e.do(e.blue, method, path, body)
	norm := func(s, p string) string {
		return strings.ReplaceAll(strings.ReplaceAll(s, p, "PATH"), "green-web", "nope")
	}
	if code != mcode || norm(b, path) != norm(mb, missingPath) {
		e.t.Errorf("%s %s: %d %s\nwant the answer about a missing LB: %d %s", method, path, code, b, mcode, mb)
	}
	if code != 404 && code != 400 {
		e.t.Errorf("%s %s: status %d", method, path, code)
	}
}

func TestProjectsStatsAndRevisionReads(t *testing.T) {
	e := newSecEnv(t)
	e.greenLB()
	// revision 1 is before green's LB existed: the head must be checked too.
	e.sameAsMissing("GET", "/v1/lbs/green-web/stats?revision=1", "/v1/lbs/nope/stats?revision=1", "")
	e.sameAsMissing("GET", "/v1/lbs/green-web/stats", "/v1/lbs/nope/stats", "")
	e.sameAsMissing("GET", "/v1/lbs/green-web/frontends/main?revision=1", "/v1/lbs/nope/frontends/main?revision=1", "")
}

func TestProjectsWritesNeverTellAboutOtherProjects(t *testing.T) {
	e := newSecEnv(t)
	e.greenLB()
	// Writes take no revision= (it cannot open an older view of the config).
	e.must(e.blue, "PATCH", "/v1/lbs/green-web?revision=1", `{}`, 400)
	for _, p := range []string{"", "/frontends/zzz", "/frontends/main", "/backends/zzz", "/backends/app/healthcheck"} {
		e.sameAsMissing("DELETE", "/v1/lbs/green-web"+p+"?dry_run=true", "/v1/lbs/nope"+p+"?dry_run=true", "")
	}
	e.sameAsMissing("PATCH", "/v1/lbs/green-web", "/v1/lbs/nope", `{}`)
	e.sameAsMissing("PATCH", "/v1/lbs/green-web/frontends/main", "/v1/lbs/nope/frontends/main", `{"inbound_port": 0}`)
	e.sameAsMissing("PUT", "/v1/lbs/green-web/frontends/x", "/v1/lbs/nope/frontends/x", `{"inbound_port": 9000, "protocol": "http", "backend": "app"}`)
	e.sameAsMissing("PUT", "/v1/lbs/green-web/backends/app/healthcheck", "/v1/lbs/nope/backends/app/healthcheck", `{"check_delay": 2000, "tcp_config": {}}`)
	// Green's LB is untouched.
	if b := e.must(e.green, "GET", "/v1/lbs/green-web/frontends/main", "", 200); !strings.Contains(b, `"inbound_port": 8443`) {
		t.Fatalf("green's frontend changed: %s", b)
	}
}

func TestProjectsValidationErrorsDoNotNameOtherProjects(t *testing.T) {
	e := newSecEnv(t)
	e.greenLB()
	e.must(e.blue, "PUT", "/v1/lbs/blue-web", `{}`, 200)
	e.must(e.blue, "PUT", "/v1/lbs/blue-web/backends/b", `{"forward_protocol": "http", "forward_port": 80, "pool": ["10.2.2.2"]}`, 200)
	b := e.must(e.blue, "PUT", "/v1/lbs/blue-web/frontends/f?dry_run=true", `{"inbound_port": 8443, "protocol": "http", "backend": "b"}`, 422)
	if strings.Contains(b, "green") || !strings.Contains(b, "conflicts with an object outside your project") {
		t.Fatalf("validation answer: %s", b)
	}
}

func TestProjectsDiffsShowOnlyTheirObjects(t *testing.T) {
	e := newSecEnv(t)
	e.must(e.admin, "PUT", "/v1/config", `{"lbs": [{"name": "green-web", "project": "green", "ips": ["192.0.2.77"]}]}`, 200)
	b := e.must(e.blue, "PUT", "/v1/lbs/blue-web?dry_run=true", `{"ips": ["198.51.100.1"]}`, 200)
	if strings.Contains(b, "192.0.2.77") || strings.Contains(b, "green") || !strings.Contains(b, "lbs/blue-web") {
		t.Fatalf("dry-run diff: %s", b)
	}
}

func TestProjectsCannotReleaseIPs(t *testing.T) {
	e := newSecEnv(t)
	e.must(e.admin, "PUT", "/v1/ips/203.0.113.9", `{"reverse": "reserved.example.com", "tags": ["keep"]}`, 200)
	e.must(e.blue, "DELETE", "/v1/ips/203.0.113.9", "", 403)
	e.must(e.blue, "PUT", "/v1/lbs/blue-tmp", `{"ips": ["203.0.113.9"]}`, 200)
	e.must(e.blue, "DELETE", "/v1/lbs/blue-tmp?release_ip=true", "", 403)
	e.must(e.blue, "DELETE", "/v1/lbs/blue-tmp", "", 204)
	e.must(e.admin, "GET", "/v1/ips/203.0.113.9", "", 200)
}

func TestProjectsStatusHidesOtherProjects(t *testing.T) {
	e := newSecEnv(t)
	b := e.must(e.blue, "GET", "/v1/status", "", 200)
	if !strings.Contains(b, `"listeners": []`) {
		t.Fatalf("status for a project token: %s", b)
	}
}

// Certificates belong to no project: a project token cannot make its
// frontend serve one (it could be another tenant's), an unscoped one can,
// and the project token can then change the rest of its frontend.
func TestProjectsCannotAttachCertificates(t *testing.T) {
	e := newSecEnv(t)
	e.must(e.admin, "PUT", "/v1/certificates/green-cert", `{"type": "letsencrypt", "common_name": "green.example.com"}`, 200)
	e.must(e.blue, "PUT", "/v1/lbs/blue-web", `{}`, 200)
	e.must(e.blue, "PUT", "/v1/lbs/blue-web/backends/app", `{"forward_protocol": "http", "forward_port": 80, "pool": ["10.1.1.1"]}`, 200)
	fe := `{"inbound_port": 8443, "protocol": "https", "backend": "app", "certificates": ["green-cert"]}`
	b := e.must(e.blue, "PUT", "/v1/lbs/blue-web/frontends/tls", fe, 422)
	if !strings.Contains(b, `lbs[blue-web].frontends[tls].certificates`) || !strings.Contains(b, "cannot attach certificate") {
		t.Fatalf("answer: %s", b)
	}
	e.must(e.admin, "PUT", "/v1/lbs/blue-web/frontends/tls", fe, 200)
	e.must(e.blue, "PATCH", "/v1/lbs/blue-web/frontends/tls", `{"timeout_client": 5000}`, 200)
	e.must(e.blue, "PATCH", "/v1/lbs/blue-web/frontends/tls", `{"protocol": "http", "certificates": null}`, 200)
}
