package app_test

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestE2EProjects: two project tokens each see and change only the LBs of
// their project; the other project's LBs answer 404 as if they did not
// exist, at every level under them; a refused write leaves the other
// project's traffic alone; an unscoped admin sees both.
func TestE2EProjects(t *testing.T) {
	s := startServe(t, t.TempDir())
	type tenant struct {
		project, lb string
		be          *backend
		port        int
		api         *server
	}
	tenants := []*tenant{{project: "blue", lb: "blue-web"}, {project: "green", lb: "green-web"}}
	for _, tn := range tenants {
		tn.be = startBackend(t, tn.project, nil)
		tn.port = freePort(t)
		nt := s.must(t, 201, "POST", "/v1/tokens", map[string]any{"name": tn.project + "-ci", "role": "editor", "project": tn.project})
		if nt.body["project"] != tn.project {
			t.Fatalf("token as created: %s", nt.raw)
		}
		tn.api = &server{admin: s.admin, token: nt.body["secret"].(string)}
	}

	// Each tenant builds its own LB, without naming its project.
	for _, tn := range tenants {
		lb := tn.api.must(t, 200, "PUT", "/v1/lbs/"+tn.lb, `{"description": "mine"}`)
		if lb.body["project"] != tn.project {
			t.Fatalf("%s's LB is in project %v: %s", tn.project, lb.body["project"], lb.raw)
		}
		tn.api.must(t, 200, "PUT", "/v1/lbs/"+tn.lb+"/backends/app", map[string]any{
			"forward_protocol": "http", "forward_port": serverAt(tn.be.addr).Port, "pool": []string{"127.0.0.1"}})
		tn.api.must(t, 200, "PUT", "/v1/lbs/"+tn.lb+"/frontends/main?wait=applied", map[string]any{
			"inbound_port": tn.port, "protocol": "http", "backend": "app"})
		tn.api.must(t, 200, "PUT", "/v1/lbs/"+tn.lb+"/frontends/main/routes/r1", map[string]any{
			"match": map[string]any{"host_header": tn.project + ".example.com"}, "backend": "app"})
	}
	serves := func(tn *tenant) {
		t.Helper()
		if code, who := get(t, tn.port, tn.project+".example.com"); code != 200 || who != tn.project {
			t.Fatalf("%s's traffic -> %d %q", tn.project, code, who)
		}
	}
	waitFor(t, 10*time.Second, "both tenants served", func() bool {
		for _, tn := range tenants {
			if code, who := get(t, tn.port, tn.project+".example.com"); code != 200 || who != tn.project {
				return false
			}
		}
		return true
	})

	for i, tn := range tenants {
		other := tenants[1-i]
		t.Run(tn.project, func(t *testing.T) {
			l := tn.api.must(t, 200, "GET", "/v1/lbs", nil)
			lbs, _ := l.body["lbs"].([]any)
			if l.body["total_count"] != float64(1) || len(lbs) != 1 || lbs[0].(map[string]any)["name"] != tn.lb {
				t.Fatalf("%s lists %s", tn.project, l.raw)
			}
			missing := s.must(t, 404, "GET", "/v1/lbs/nope", nil).body["detail"]
			want := strings.Replace(missing.(string), "nope", other.lb, 1)
			o := "/v1/lbs/" + other.lb
			for _, c := range []struct {
				method, path string
				body         any
			}{
				{"GET", o, nil},
				{"PUT", o, `{"description": "taken"}`},
				{"PATCH", o, `{"description": "taken"}`},
				{"DELETE", o, nil},
				{"GET", o + "/stats", nil},
				{"GET", o + "/frontends", nil},
				{"GET", o + "/frontends/main", nil},
				{"PATCH", o + "/frontends/main", `{"timeout_client": 1000}`},
				{"DELETE", o + "/frontends/main", nil},
				{"GET", o + "/frontends/main/routes", nil},
				{"GET", o + "/frontends/main/routes/r1", nil},
				{"PUT", o + "/frontends/main/routes/r1", `{"match": {"host_header": "x.example.com"}, "backend": "app"}`},
				{"DELETE", o + "/frontends/main/routes/r1", nil},
				{"GET", o + "/backends", nil},
				{"GET", o + "/backends/app", nil},
				{"PUT", o + "/backends/app", map[string]any{"forward_protocol": "http", "forward_port": 1, "pool": []string{"127.0.0.1"}}},
				{"DELETE", o + "/backends/app", nil},
				{"GET", o + "/backends/app/healthcheck", nil},
				{"PUT", o + "/backends/app/healthcheck", `{"check_delay": 1000, "tcp_config": {}}`},
				{"DELETE", o + "/backends/app/healthcheck", nil},
			} {
				r := tn.api.must(t, 404, c.method, c.path, c.body)
				if c.path == o && r.body["detail"] != want {
					t.Errorf("%s %s: detail %v, want %q as for a missing LB", c.method, c.path, r.body["detail"], want)
				}
			}
			// A body naming the other project is refused.
			r := tn.api.must(t, 400, "PUT", "/v1/lbs/"+tn.lb+"-2", map[string]any{"project": other.project})
			if !strings.Contains(r.raw, `"field":"project"`) {
				t.Fatalf("another project in the body: %s", r.raw)
			}
			// Config-wide routes are for unscoped tokens, and say why.
			for _, p := range []string{"/v1/config", "/v1/history", "/v1/ips"} {
				r := tn.api.must(t, 403, "GET", p, nil)
				if !strings.Contains(fmt.Sprint(r.body["detail"]), tn.project) {
					t.Errorf("GET %s: detail %v does not name the project", p, r.body["detail"])
				}
			}
			tn.api.must(t, 403, "GET", "/v1/tokens", nil)
			tn.api.must(t, 403, "POST", "/v1/rollback", `{"revision": 1}`)
			tn.api.must(t, 403, "POST", "/v1/transactions", nil)
			tn.api.must(t, 403, "PUT", "/v1/lbs/"+tn.lb+"?transaction_id=x", `{}`)
			// Its own LB it changes; the other tenant's traffic is untouched.
			tn.api.must(t, 200, "PATCH", "/v1/lbs/"+tn.lb+"/frontends/main", `{"timeout_client": 20000}`)
			serves(tn)
			serves(other)
		})
	}

	// The unscoped admin sees both, in their projects, and the refused
	// writes changed nothing.
	all := s.must(t, 200, "GET", "/v1/lbs?order_by=name_asc", nil)
	lbs, _ := all.body["lbs"].([]any)
	if all.body["total_count"] != float64(2) || len(lbs) != 2 {
		t.Fatalf("admin lists %s", all.raw)
	}
	for i, tn := range []*tenant{tenants[0], tenants[1]} {
		lb := lbs[i].(map[string]any)
		if lb["name"] != tn.lb || lb["project"] != tn.project || lb["description"] != "mine" {
			t.Errorf("admin sees %v", lb)
		}
		if fe := s.must(t, 200, "GET", "/v1/lbs/"+tn.lb+"/frontends/main", nil); fe.body["timeout_client"] != float64(20000) {
			t.Errorf("%s's frontend: %s", tn.project, fe.raw)
		}
		serves(tn)
	}
	cfg := s.must(t, 200, "GET", "/v1/config", nil)
	if !strings.Contains(cfg.raw, `"project": "blue"`) || !strings.Contains(cfg.raw, `"project": "green"`) {
		t.Fatalf("config lacks the projects: %s", cfg.raw)
	}
}
