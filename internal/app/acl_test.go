package app_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/gantry-lb/gantry/internal/config"
)

// request sends one request and returns the response.
func request(t *testing.T, addr, method, target string, headers ...string) *http.Response {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	req := method + " " + target + " HTTP/1.1\r\nHost: shop.example\r\n"
	for _, h := range headers {
		req += h + "\r\n"
	}
	fmt.Fprint(c, req+"\r\n")
	resp, _ := readResponse(t, bufio.NewReader(c), method)
	return resp
}

func TestIntegrationACLs(t *testing.T) {
	b := startBackend(t, "b", nil)
	port := freePort(t)
	cfg := httpConfig(port, b)
	// The two examples, plus a header match, a source subnet and an
	// inverted rule, in an order that the indexes (not the list) decide.
	cfg.LBs[0].Frontends[0].ACLs = []config.ACL{
		{Name: "moved", Index: 1, Match: config.ACLMatch{HTTPFilter: "path_begin", HTTPFilterValue: []string{"/old"}},
			Action: config.ACLAction{Type: "redirect", Redirect: &config.ACLRedirect{Type: "location", Target: "https://example.com/new", Code: 301}}},
		{Name: "no-admin", Index: 0, Match: config.ACLMatch{HTTPFilter: "path_begin", HTTPFilterValue: []string{"/admin"}, IPSubnet: []string{"0.0.0.0/0"}},
			Action: config.ACLAction{Type: "deny"}},
		{Name: "https", Index: 2, Match: config.ACLMatch{HTTPFilter: "http_header_match", HTTPFilterOption: "X-Upgrade", HTTPFilterValue: []string{"yes"}},
			Action: config.ACLAction{Type: "redirect", Redirect: &config.ACLRedirect{Type: "scheme", Target: "https"}}},
		{Name: "only-images-from-far", Index: 3, Match: config.ACLMatch{IPSubnet: []string{"10.0.0.0/8"}, HTTPFilter: "path_end", HTTPFilterValue: []string{".png"}, Invert: true},
			Action: config.ACLAction{Type: "allow"}},
		{Name: "rest", Index: 4, Action: config.ACLAction{Type: "deny"}},
	}
	startDataplane(t, cfg)
	addr := "127.0.0.1:" + strconv.Itoa(port)

	if r := request(t, addr, "GET", "/admin/users"); r.StatusCode != 403 {
		t.Fatalf("/admin: %d, want 403", r.StatusCode)
	}
	r := request(t, addr, "GET", "/old/page?x=1")
	if r.StatusCode != 301 || r.Header.Get("Location") != "https://example.com/new" {
		t.Fatalf("/old: %d Location %q", r.StatusCode, r.Header.Get("Location"))
	}
	r = request(t, addr, "GET", "/cart?id=7", "X-Upgrade: yes")
	if r.StatusCode != 302 || r.Header.Get("Location") != "https://shop.example/cart?id=7" {
		t.Fatalf("scheme redirect: %d Location %q", r.StatusCode, r.Header.Get("Location"))
	}
	// From 127.0.0.1 (not 10/8) the inverted rule matches: allowed.
	if r := request(t, addr, "GET", "/logo.png"); r.StatusCode != 200 || r.Header.Get("X-Backend") != "b" {
		t.Fatalf("allowed request: %d", r.StatusCode)
	}
	if b.last.Load() == nil {
		t.Fatal("the allowed request never reached the backend")
	}
	// A request the earlier rules deny never reaches the backend.
	b.last.Store(nil)
	request(t, addr, "POST", "/admin/x", "Content-Length: 0")
	if b.last.Load() != nil {
		t.Fatal("a denied request reached the backend")
	}
}

func TestIntegrationTCPACL(t *testing.T) {
	echo := rawServer(t, func(c net.Conn, _ int) { fmt.Fprintf(c, "hello\n") })
	host, p, _ := net.SplitHostPort(echo)
	n, _ := strconv.Atoi(p)
	port := freePort(t)
	cfg := &config.Config{LBs: []config.LB{{Name: "t", IPs: []string{"127.0.0.1"},
		Backends: []config.Backend{{Name: "b", ForwardProtocol: "tcp", Servers: []config.Server{{IP: host, Port: n}}}},
		Frontends: []config.Frontend{{Name: "f", InboundPort: port, Backend: "b",
			ACLs: []config.ACL{{Name: "local", Match: config.ACLMatch{IPSubnet: []string{"127.0.0.0/8"}}, Action: config.ACLAction{Type: "deny"}}}}}}}}
	d := startDataplane(t, cfg)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	read := func() string {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		line, _ := bufio.NewReader(c).ReadString('\n')
		return line
	}
	if got := read(); got != "" {
		t.Fatalf("a denied client got %q", got)
	}
	cfg.LBs[0].Frontends[0].ACLs[0].Match.IPSubnet = []string{"10.0.0.0/8"}
	if err := d.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	if got := read(); got != "hello\n" {
		t.Fatalf("an allowed client got %q", got)
	}
}

func TestIntegrationConnectionRateLimit(t *testing.T) {
	b := startBackend(t, "b", nil)
	port := freePort(t)
	cfg := httpConfig(port, b)
	cfg.LBs[0].Frontends[0].ConnectionRateLimit = 5
	d := startDataplane(t, cfg)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	served := func(n int) int {
		ok := 0
		for range n {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(5 * time.Second))
			fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
			if line, _ := bufio.NewReader(c).ReadString('\n'); line == "HTTP/1.1 200 OK\r\n" {
				ok++
			}
			c.Close()
		}
		return ok
	}
	// The bucket holds 5: a quick burst of 20 gets about 5 through (one
	// more may have refilled meanwhile on a slow machine).
	if got := served(20); got < 5 || got > 8 {
		t.Fatalf("%d of 20 connections served with a limit of 5/s", got)
	}
	// A swap that keeps the rate keeps the (empty) bucket.
	cfg.LBs[0].Frontends[0].TimeoutClient = 30_000
	if err := d.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	if got := served(10); got > 3 {
		t.Fatalf("%d of 10 served right after a swap: the bucket was refilled", got)
	}
	time.Sleep(1100 * time.Millisecond)
	if got := served(5); got < 4 {
		t.Fatalf("only %d of 5 served after the bucket refilled", got)
	}
}
