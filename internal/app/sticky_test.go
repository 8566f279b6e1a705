package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gantry-lb/gantry/client"
	"github.com/gantry-lb/gantry/internal/config"
)

// get sends one request with the given Cookie header (none when empty)
// and returns the answering backend and the Set-Cookie values.
func stickyGet(t *testing.T, addr, cookie string, extra ...string) (string, []string) {
	t.Helper()
	return stickyGetPath(t, addr, "/a/b?q=1", cookie, extra...)
}

func stickyGetPath(t *testing.T, addr, path, cookie string, extra ...string) (string, []string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	req := "GET " + path + " HTTP/1.1\r\nHost: x\r\n"
	if cookie != "" {
		req += "Cookie: " + cookie + "\r\n"
	}
	for _, h := range extra {
		req += h + "\r\n"
	}
	fmt.Fprint(c, req+"\r\n")
	resp, _ := readResponse(t, bufio.NewReader(c), "GET")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	return resp.Header.Get("X-Backend"), resp.Header.Values("Set-Cookie")
}

func stickyConfig(port int, bs ...*backend) *config.Config {
	cfg := httpConfig(port, bs...)
	b := &cfg.LBs[0].Backends[0]
	b.StickySessions = config.StickyCookie
	b.StickySessionsCookieName = "SRV"
	return cfg
}

func cookieValue(t *testing.T, setCookies []string) string {
	t.Helper()
	for _, sc := range setCookies {
		if v, ok := strings.CutPrefix(sc, "SRV="); ok {
			v, _, _ = strings.Cut(v, ";")
			return v
		}
	}
	t.Fatalf("no SRV cookie in %q", setCookies)
	return ""
}

func TestIntegrationStickyCookie(t *testing.T) {
	b1, b2, b3 := startBackend(t, "b1", nil), startBackend(t, "b2", nil), startBackend(t, "b3", nil)
	port := freePort(t)
	d := startDataplane(t, stickyConfig(port, b1, b2, b3))
	addr := "127.0.0.1:" + strconv.Itoa(port)

	first, sc := stickyGet(t, addr, "")
	v := cookieValue(t, sc)
	if strings.Contains(sc[0], "127.0.0.1") || strings.Contains(sc[0], strings.Split(b1.addr, ":")[1]) {
		t.Fatalf("the cookie reveals a server address: %q", sc[0])
	}
	if !strings.Contains(sc[0], "HttpOnly") || !strings.Contains(sc[0], "SameSite=Lax") || !strings.Contains(sc[0], "Path=/") {
		t.Fatalf("cookie attributes: %q", sc[0])
	}
	for range 9 {
		got, sc := stickyGet(t, addr, "other=1; SRV="+v)
		if got != first {
			t.Fatalf("sticky request went to %s, want %s", got, first)
		}
		if len(sc) != 0 {
			t.Fatalf("a request already pinned got a new cookie %q", sc)
		}
	}
	// A config swap (another server, other weights) keeps the pin.
	b4 := startBackend(t, "b4", nil)
	cfg := stickyConfig(port, b1, b2, b3, b4)
	w := 200
	cfg.LBs[0].Backends[0].Servers[3].Weight = &w
	if err := d.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if got, _ := stickyGet(t, addr, "SRV="+v); got != first {
			t.Fatalf("after a swap the sticky request went to %s, want %s", got, first)
		}
	}
	// Unknown or tampered values fall back to balancing and re-pin.
	got, sc := stickyGet(t, addr, "SRV=AAAAAAAAAAAAAAAA")
	if got == "" || len(sc) != 1 {
		t.Fatalf("a stale cookie gave %q with Set-Cookie %q", got, sc)
	}
	// The pinned server going away re-pins the client elsewhere.
	if err := d.Apply(stickyConfig(port, b2, b3, b4)); err != nil {
		t.Fatal(err)
	}
	if first == "b1" {
		got, sc := stickyGet(t, addr, "SRV="+v)
		if got == "b1" || len(sc) != 1 {
			t.Fatalf("a cookie for a removed server went to %q with %q", got, sc)
		}
	}
}

func TestIntegrationStickyCookieSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	b1, b2, b3 := startBackend(t, "b1", nil), startBackend(t, "b2", nil), startBackend(t, "b3", nil)
	port := freePort(t)
	doc, err := json.Marshal(stickyConfig(port, b1, b2, b3))
	if err != nil {
		t.Fatal(err)
	}
	s := startServe(t, dir)
	c, err := client.New("http://"+s.admin, s.token)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutConfig(context.Background(), doc, client.WaitApplied()); err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	first, sc := stickyGet(t, addr, "")
	v := cookieValue(t, sc)
	s.stop()

	s = startServe(t, dir)
	waitFor(t, 10*time.Second, "the restarted server to listen", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	for range 5 {
		if got, sc := stickyGet(t, addr, "SRV="+v); got != first || len(sc) != 0 {
			t.Fatalf("after a restart the cookie sent the client to %s (Set-Cookie %q), want %s", got, sc, first)
		}
	}
}

func TestIntegrationHashingKeepsClientsAcrossSwaps(t *testing.T) {
	b1, b2, b3 := startBackend(t, "b1", nil), startBackend(t, "b2", nil), startBackend(t, "b3", nil)
	for _, tt := range []struct {
		algo, header string
		extra        func(i int) []string
	}{
		{algo: config.AlgoURI, extra: func(int) []string { return nil }},
		{algo: config.AlgoHeader, header: "X-User", extra: func(i int) []string { return []string{"X-User: u" + strconv.Itoa(i)} }},
		{algo: config.AlgoSource, extra: func(int) []string { return nil }},
	} {
		t.Run(tt.algo, func(t *testing.T) {
			port := freePort(t)
			cfg := httpConfig(port, b1, b2, b3)
			cfg.LBs[0].Backends[0].ForwardPortAlgorithm = tt.algo
			cfg.LBs[0].Backends[0].HashHeader = tt.header
			d := startDataplane(t, cfg)
			addr := "127.0.0.1:" + strconv.Itoa(port)
			want := map[int]string{}
			seen := map[string]bool{}
			path := func(i int) string { return "/k" + strconv.Itoa(i) }
			for i := range 16 {
				got, _ := stickyGetPath(t, addr, path(i), "", tt.extra(i)...)
				want[i] = got
				seen[got] = true
				if again, _ := stickyGetPath(t, addr, path(i), "", tt.extra(i)...); again != got {
					t.Fatalf("key %d went to %s then %s", i, got, again)
				}
			}
			if tt.algo != config.AlgoSource && len(seen) < 2 {
				t.Fatalf("16 keys all hashed to %v", seen)
			}
			// A swap that adds an unrelated frontend setting keeps every key
			// on its server.
			cfg.LBs[0].Frontends[0].TimeoutClient = 30_000
			if err := d.Apply(cfg); err != nil {
				t.Fatal(err)
			}
			for i := range 16 {
				if got, _ := stickyGetPath(t, addr, path(i), "", tt.extra(i)...); got != want[i] {
					t.Fatalf("after a swap key %d went to %s, want %s", i, got, want[i])
				}
			}
		})
	}
}

func TestIntegrationStickyTable(t *testing.T) {
	b1, b2, b3 := startBackend(t, "b1", nil), startBackend(t, "b2", nil), startBackend(t, "b3", nil)
	port := freePort(t)
	cfg := httpConfig(port, b1, b2, b3)
	cfg.LBs[0].Backends[0].StickySessions = config.StickyTable
	d := startDataplane(t, cfg)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	first, _ := stickyGet(t, addr, "")
	for range 6 {
		if got, _ := stickyGet(t, addr, ""); got != first {
			t.Fatalf("the source table sent the client to %s, want %s", got, first)
		}
	}
	cfg.LBs[0].Frontends[0].TimeoutClient = 30_000
	if err := d.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	if got, _ := stickyGet(t, addr, ""); got != first {
		t.Fatalf("after a swap the table sent the client to %s, want %s", got, first)
	}
}
