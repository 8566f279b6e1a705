package file

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gantry-lb/gantry/internal/config"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// lbFile is a valid file with one load balancer named name, whose one
// backend has a server at port.
func lbFile(name string, port int) string {
	return `lbs:
- name: ` + name + `
  ips: [127.0.0.1]
  frontends:
  - {name: web, inbound_port: 18080, backend: app}
  backends:
  - name: app
    forward_protocol: http
    servers: [{ip: 127.0.0.1, port: ` + strconv.Itoa(port) + `}]
`
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// replace writes content next to path and renames it over path, as
// editors and deploy tools do.
func replace(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	write(t, tmp, content)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func lbNames(v *Version) []string {
	if v.Config == nil {
		return nil
	}
	var out []string
	for _, lb := range v.Config.LBs {
		out = append(out, lb.Name)
	}
	return out
}

func TestParse(t *testing.T) {
	cfg, err := Parse([]byte(lbFile("a", 8080)))
	if err != nil || len(cfg.LBs) != 1 || cfg.LBs[0].Backends[0].Servers[0].Port != 8080 {
		t.Fatalf("valid file: %+v %v", cfg, err)
	}
	if _, err := Parse([]byte(`{"lbs": []}`)); err != nil {
		t.Errorf("JSON with no load balancer: %v", err)
	}
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"unknown field, by names", "lbs:\n- name: a\n  frontends:\n  - {name: web, inbound_prt: 80}\n", "lbs[a].frontends[web].inbound_prt: unknown field"},
		{"unknown field, by index", "lbs:\n- frontends:\n  - {inbound_port: 80, x: 1}\n", "lbs[0].frontends[0].x: unknown field"},
		{"unknown top-level field", "lb: []\n", "lb: unknown field"},
		{"wrong type", "lbs:\n- name: a\n  frontends:\n  - {name: web, inbound_port: eighty}\n", `lbs[a].frontends[web].inbound_port: want an integer, got "eighty"`},
		{"a list for an object", "lbs:\n- name: a\n  backends:\n  - name: b\n    health_check: [1]\n", "lbs[a].backends[b].health_check: want an object, got a list"},
		{"an object for a list", "lbs: {name: a}\n", "lbs: want a list, got an object"},
		{"not a config", "- a\n- b\n", "(the document): want an object, got a list"},
		{"validation, with the field path", strings.Replace(lbFile("a", 8080), "port: 8080", "port: 70000", 1), "lbs[a].backends[app].servers[0].port"},
		{"certificates", "certificates: [{name: c}]\nlbs: []\n", "certificates: not supported in a discovery file"},
		{"yaml syntax", "lbs:\n- name: a\n  frontends:\n  - name: f\n   inbound_port: 1\n", "yaml: line 4"},
		{"empty", "", "the file is empty"},
		{"only comments", "# nothing yet\n", "the file is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to say %q", err, tc.want)
			}
		})
	}
	var fe *config.FieldError
	if _, err := Parse([]byte("lbs:\n- name: a\n  tags: [1]\n")); !errors.As(err, &fe) || fe.Path != "lbs[a].tags[0]" {
		t.Errorf("a field error with its path: %#v", err)
	}
	if _, err := Parse(nil); !errors.Is(err, ErrEmpty) {
		t.Errorf("empty: %v", err)
	}
}

// TestProvider: what each change of the file publishes, polled by hand.
func TestProvider(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "routes.yaml")
	p, err := New(Options{Path: path, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	// Missing at start: nothing, and it says so.
	v := p.Latest()
	if v == nil || v.Config != nil || !v.Missing() || !errors.Is(v.Err, fs.ErrNotExist) || v.Generation != 1 || v.Path != path {
		t.Fatalf("missing file: %+v", v)
	}
	gen := v.Generation
	next := func(what string) *Version {
		t.Helper()
		p.poll(time.Now(), false)
		v := p.Latest()
		if v.Generation != gen+1 {
			t.Fatalf("%s: generation %d, want %d (one publication)", what, v.Generation, gen+1)
		}
		gen = v.Generation
		return v
	}
	same := func(what string) {
		t.Helper()
		p.poll(time.Now(), false)
		if g := p.Latest().Generation; g != gen {
			t.Fatalf("%s: published again (generation %d → %d)", what, gen, g)
		}
	}
	same("still missing")

	write(t, path, lbFile("a", 8080))
	v = next("created")
	if v.Err != nil || !equal(lbNames(v), "a") || len(v.Hash) != 64 || v.Loaded.IsZero() || v.Noticed.IsZero() {
		t.Fatalf("created: %+v", v)
	}
	same("unchanged")

	// Replaced by a rename: a new inode.
	replace(t, path, lbFile("b", 8081))
	v = next("renamed over")
	if v.Err != nil || !equal(lbNames(v), "b") {
		t.Fatalf("renamed: %+v", v)
	}
	good := v

	// Invalid: the last good version stays, with the error.
	replace(t, path, strings.Replace(lbFile("b", 8081), "inbound_port: 18080", "inbound_port: 0", 1))
	v = next("invalid")
	if v.Config != good.Config || v.Hash != good.Hash || v.Err == nil || !strings.Contains(v.Err.Error(), "lbs[b].frontends[web].inbound_port") {
		t.Fatalf("invalid: %+v", v)
	}
	same("still invalid")
	// Fixed back to the same good content: published again, in sync.
	replace(t, path, lbFile("b", 8081))
	v = next("fixed")
	if v.Err != nil || v.Hash != good.Hash {
		t.Fatalf("fixed: %+v", v)
	}
	// A rewrite with the same bytes (a new inode) publishes nothing.
	replace(t, path, lbFile("b", 8081))
	same("same bytes")

	// Removed: withdrawn.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	v = next("removed")
	if v.Config != nil || !v.Missing() {
		t.Fatalf("removed: %+v", v)
	}
	same("still removed")
	// Back with the very same content: published.
	write(t, path, lbFile("b", 8081))
	if v = next("back"); v.Err != nil || !equal(lbNames(v), "b") {
		t.Fatalf("back: %+v", v)
	}

	// Unreadable (a directory at the path): the last good version stays.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(path, 0o755); err != nil {
		t.Fatal(err)
	}
	if v = next("a directory"); v.Err == nil || v.Missing() || !equal(lbNames(v), "b") {
		t.Fatalf("a directory at the path: %+v", v)
	}
	same("still a directory") // read again (a read error trusts no stat), same error
	if !p.Checked().After(time.Now().Add(-time.Minute)) {
		t.Errorf("checked at %v", p.Checked())
	}
}

func equal(got []string, want ...string) bool {
	return strings.Join(got, ",") == strings.Join(want, ",")
}

// TestProviderCoarseClock: a write that keeps the size and the
// modification time (a coarse clock, or a tool that restores it) is seen
// while the last read was within racyWindow of that time; once the stat
// is trusted, Check still forces a read.
func TestProviderCoarseClock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "routes.yaml")
	write(t, path, lbFile("a", 8080))
	mod := time.Now().Truncate(time.Second)
	if err := os.Chtimes(path, mod, mod); err != nil {
		t.Fatal(err)
	}
	p, err := New(Options{Path: path, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	sameStat := func(content string) {
		t.Helper()
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0) // in place: same inode
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString(content); err != nil {
			t.Fatal(err)
		}
		f.Close()
		if err := os.Chtimes(path, mod, mod); err != nil {
			t.Fatal(err)
		}
	}
	// Read within 2 s of its mtime: the next poll reads again.
	sameStat(lbFile("b", 8080))
	p.poll(time.Now(), false)
	if v := p.Latest(); !equal(lbNames(v), "b") {
		t.Fatalf("a same-stat write right after a read was missed: %v", lbNames(v))
	}
	// Long after: the stat is trusted...
	p.readAt = mod.Add(time.Hour)
	sameStat(lbFile("c", 8080))
	p.poll(mod.Add(time.Hour+time.Second), false)
	if v := p.Latest(); !equal(lbNames(v), "b") {
		t.Fatalf("an unchanged stat was read: %v", lbNames(v))
	}
	// ...and Check (SIGHUP) reads anyway.
	p.poll(time.Now(), true)
	if v := p.Latest(); !equal(lbNames(v), "c") {
		t.Fatalf("a forced check missed the change: %v", lbNames(v))
	}
}

// TestProviderRun: Run polls at its interval and on Check, and wakes the
// consumer through Ready.
func TestProviderRun(t *testing.T) {
	path := filepath.Join(t.TempDir(), "routes.yaml")
	write(t, path, lbFile("a", 8080))
	p, err := New(Options{Path: path, Interval: 20 * time.Millisecond, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	if v := p.Latest(); v.Err != nil || !equal(lbNames(v), "a") {
		t.Fatalf("New did not read the file: %+v", v)
	}
	<-p.Ready() // New's publication
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	wait := func(what string, want string) {
		t.Helper()
		deadline := time.After(5 * time.Second)
		for {
			select {
			case <-p.Ready():
				if equal(lbNames(p.Latest()), want) {
					return
				}
			case <-deadline:
				t.Fatalf("%s: never published %s (latest %+v)", what, want, p.Latest())
			}
		}
	}
	start := time.Now()
	replace(t, path, lbFile("b", 8080))
	wait("polled", "b")
	if d := time.Since(start); d > time.Second {
		t.Errorf("a change took %v to be published with a 20ms interval", d)
	}

	// A long interval: only Check reads.
	p2, err := New(Options{Path: path, Interval: time.Hour, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	done2 := make(chan error, 1)
	go func() { done2 <- p2.Run(ctx2) }()
	defer func() { cancel2(); <-done2 }()
	replace(t, path, lbFile("c", 8080))
	p2.Check()
	deadline := time.Now().Add(5 * time.Second)
	for !equal(lbNames(p2.Latest()), "c") {
		if time.Now().After(deadline) {
			t.Fatalf("Check did not read the file: %+v", p2.Latest())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := New(Options{}); err == nil {
		t.Error("New without a path")
	}
}
