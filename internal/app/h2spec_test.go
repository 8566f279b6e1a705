package app_test

import (
	"bufio"
	"context"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gantry-lb/gantry/internal/certs/pebbletest"
)

// knownH2specFailures reads the h2spec cases docs/conformance.md lists as
// known failures: lines "- `http2/x.y.z/n` ...".
func knownH2specFailures(t *testing.T) map[string]bool {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "docs", "conformance.md"))
	if err != nil {
		t.Fatalf("docs/conformance.md: %v", err)
	}
	defer f.Close()
	known := map[string]bool{}
	re := regexp.MustCompile("^- `((?:generic|http2|hpack)/[0-9./]+)`")
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			known[m[1]] = true
		}
	}
	return known
}

// junit is the part of h2spec's JUnit report this test reads.
type junit struct {
	Suites []struct {
		Name  string `xml:"name,attr"`
		Cases []struct {
			Name    string    `xml:"name,attr"`
			Class   string    `xml:"classname,attr"`
			Failure *struct{} `xml:"failure"`
			Error   *struct{} `xml:"error"`
			Skipped *struct{} `xml:"skipped"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

// TestE2EH2Spec runs h2spec in strict mode against an https frontend
// proxying to an HTTP/1.1 backend, and fails on any failure that
// docs/conformance.md does not list as known (with its reason).
func TestE2EH2Spec(t *testing.T) {
	if testing.Short() {
		t.Skip("runs h2spec")
	}
	bin := pebbletest.LookBin(t, "h2spec")
	ts := startTLSSetup(t)
	port := freePort(t)
	ts.s.must(t, 200, "PUT", "/v1/lbs/web/frontends/tls?wait=applied", map[string]any{"inbound_port": port, "protocol": "https",
		"backend": "app", "certificates": []string{"site"}})
	report := filepath.Join(t.TempDir(), "h2spec.xml")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "-S", "-t", "-k", "-h", "127.0.0.1", "-p", strconv.Itoa(port), "-o", "5", "-j", report).CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("h2spec did not finish: %s", out)
	}
	raw, rerr := os.ReadFile(report)
	if rerr != nil {
		t.Fatalf("h2spec wrote no report (%v): %s", err, out)
	}
	var rep junit
	if err := xml.Unmarshal(raw, &rep); err != nil {
		t.Fatalf("h2spec report: %v", err)
	}
	known := knownH2specFailures(t)
	var unexpected, fixed []string
	failed, total := map[string]bool{}, 0
	for _, s := range rep.Suites {
		for i, c := range s.Cases {
			total++
			if c.Failure == nil && c.Error == nil {
				continue
			}
			id := caseID(s.Name, i+1)
			failed[id] = true
			if !known[id] {
				unexpected = append(unexpected, id+" "+c.Name)
			}
		}
	}
	for id := range known {
		if !failed[id] {
			fixed = append(fixed, id)
		}
	}
	sort.Strings(fixed)
	t.Logf("h2spec strict: %d cases, %d failed (%d known)", total, len(failed), len(known))
	if total < 140 {
		t.Fatalf("h2spec ran only %d cases: %s", total, out)
	}
	if len(unexpected) > 0 {
		t.Errorf("h2spec failures not listed in docs/conformance.md:\n%s\n\n%s", strings.Join(unexpected, "\n"), out)
	}
	if len(fixed) > 0 {
		t.Errorf("docs/conformance.md lists failures that pass now: remove them: %v", fixed)
	}
}

// caseID names h2spec case n of a suite the way h2spec prints it
// ("http2/8.1.2.2/1"): the suite name is "http2/8.1.2.2" plus its title.
func caseID(suite string, n int) string {
	id, _, _ := strings.Cut(suite, " ")
	return id + "/" + strconv.Itoa(n)
}
