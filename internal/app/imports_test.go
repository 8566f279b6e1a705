package app_test

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/gantry-lb/gantry/"

// dataPlane is what DESIGN.md calls the data plane.
var dataPlane = []string{"internal/httpproxy", "internal/tcpproxy", "internal/listener", "internal/balance", "internal/upstream", "internal/health", "internal/route"}

// importRules is the package table of DESIGN.md: for each package (and its
// sub-packages), either the only gantry packages it may import (allow), or
// those it must not import (deny).
var importRules = []struct {
	pkg   string
	allow []string // nil: no allow-list
	deny  []string
}{
	{pkg: "cmd/gantry", allow: []string{"internal/app", "client", "internal/telemetry"}},
	{pkg: "internal/config", allow: []string{}},
	{pkg: "internal/store", allow: []string{"internal/config", "internal/store"}},
	{pkg: "internal/control", deny: append([]string{"net/http", "internal/api"}, dataPlane...)},
	{pkg: "internal/api", deny: append([]string{"internal/store", "internal/snapshot"}, dataPlane...)},
	{pkg: "internal/discovery", deny: append([]string{"internal/store", "internal/control", "internal/api"}, dataPlane...)},
	{pkg: "internal/snapshot", deny: []string{"internal/store", "internal/control", "internal/api", "internal/discovery"}},
	{pkg: "internal/route", allow: []string{"internal/route"}},
	{pkg: "internal/upstream", allow: []string{}},
	{pkg: "internal/balance", allow: []string{"internal/upstream"}},
	{pkg: "internal/health", deny: []string{"internal/route", "internal/snapshot", "internal/httpproxy", "internal/tcpproxy", "internal/api", "internal/store"}},
	{pkg: "internal/httpproxy", deny: []string{"internal/control", "internal/store", "internal/api", "internal/discovery", "internal/ha"}},
	{pkg: "internal/tcpproxy", deny: []string{"internal/control", "internal/store", "internal/api", "internal/discovery", "internal/ha", "internal/httpproxy"}},
	{pkg: "internal/listener", deny: []string{"internal/httpproxy", "internal/tcpproxy", "internal/control", "internal/store", "internal/api"}},
	{pkg: "internal/certs", deny: []string{"internal/httpproxy", "internal/tcpproxy", "internal/api", "internal/control"}},
	{pkg: "internal/ha", deny: append([]string{"internal/api", "internal/snapshot"}, dataPlane...)},
	{pkg: "internal/telemetry", allow: []string{}},
	{pkg: "client", deny: []string{"internal"}},
}

func within(path, pkg string) bool { return path == pkg || strings.HasPrefix(path, pkg+"/") }

// TestImportRules enforces DESIGN.md's package table on every non-test
// import, so a wrong import fails CI instead of a review.
func TestImportRules(t *testing.T) {
	out, err := exec.Command("go", "list", "-json", module+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	checked := 0
	for {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		rel := strings.TrimPrefix(p.ImportPath, module)
		for _, r := range importRules {
			if !within(rel, r.pkg) {
				continue
			}
			checked++
			for _, imp := range p.Imports {
				gantry := strings.HasPrefix(imp, module)
				irel := strings.TrimPrefix(imp, module)
				if r.allow != nil && gantry {
					ok := false
					for _, a := range r.allow {
						ok = ok || within(irel, a)
					}
					if !ok && !within(irel, r.pkg) {
						t.Errorf("%s imports %s; DESIGN.md allows only %v", rel, irel, r.allow)
					}
				}
				for _, d := range r.deny {
					if gantry && within(irel, d) || !gantry && imp == d {
						t.Errorf("%s imports %s, which DESIGN.md forbids", rel, irel)
					}
				}
			}
		}
	}
	if checked < 10 {
		t.Fatalf("only %d packages matched a rule: the table or the module path is stale", checked)
	}
}
