package app_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/gantry-lb/gantry/internal/config"
)

func TestIntegrationHTTPRoundRobinAndForwardedHeaders(t *testing.T) {
	b1, b2 := startBackend(t, "b1", nil), startBackend(t, "b2", nil)
	port := freePort(t)
	cfg := httpConfig(port, b1, b2)
	cfg.LBs[0].Frontends[0].Forwarded = true
	startDataplane(t, cfg)
	addr := "127.0.0.1:" + strconv.Itoa(port)

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	seen := map[string]int{}
	for i := range 10 {
		fmt.Fprintf(c, "GET /x?i=%d HTTP/1.1\r\nHost: site.example\r\nX-Forwarded-For: 203.0.113.7\r\nConnection: keep-alive, X-Forwarded-Proto\r\n\r\n", i)
		resp, body := readResponse(t, br, "GET")
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		seen[resp.Header.Get("X-Backend")]++
		if !strings.HasPrefix(body, "hello from ") {
			t.Fatalf("body %q", body)
		}
	}
	if seen["b1"] != 5 || seen["b2"] != 5 {
		t.Fatalf("round robin over one keep-alive connection gave %v, want 5/5", seen)
	}
	r := b2.last.Load()
	if got := r.Header.Values("X-Forwarded-For"); len(got) != 1 || got[0] != "203.0.113.7, 127.0.0.1" {
		t.Errorf("X-Forwarded-For = %q, want one combined field", got)
	}
	if got := r.Header.Get("X-Forwarded-Proto"); got != "http" {
		t.Errorf("X-Forwarded-Proto = %q: a client's Connection header must not strip what gantry adds", got)
	}
	if got := r.Header.Get("X-Forwarded-Host"); got != "site.example" {
		t.Errorf("X-Forwarded-Host = %q", got)
	}
	if got := r.Header.Get("Forwarded"); got != `for=127.0.0.1;proto=http;host="site.example"` {
		t.Errorf("Forwarded = %q", got)
	}
	if r.URL.RawQuery != "i=9" || r.Host != "site.example" {
		t.Errorf("target/host not forwarded: %q %q", r.URL.String(), r.Host)
	}
	// Upstream keep-alive: 10 requests over 2 backends reuse connections.
	if n := b1.conns.Load() + b2.conns.Load(); n > 2 {
		t.Errorf("upstream connections = %d, want reuse (<= 2)", n)
	}
}

func TestIntegrationStreamingBodies(t *testing.T) {
	b := startBackend(t, "echo", func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/echo":
			w.Header().Set("Trailer", "X-Sum")
			w.Header().Set("X-Req-TE", strings.Join(r.TransferEncoding, ","))
			w.Header().Set("X-Req-CL", strconv.FormatInt(r.ContentLength, 10))
			n, _ := io.Copy(w, r.Body) // chunked response: no Content-Length
			w.Header().Set("X-Sum", strconv.FormatInt(n, 10))
			w.Header().Set("X-Req-Trailer", r.Trailer.Get("X-Client-Trailer"))
		case "/big":
			w.Header().Set("Content-Length", strconv.Itoa(1<<20))
			w.Write(make([]byte, 1<<20))
		case "/head":
			w.Header().Set("Content-Length", "1234")
			if r.Method != "HEAD" {
				w.Write(make([]byte, 1234))
			}
		}
	})
	port := freePort(t)
	startDataplane(t, httpConfig(port, b))
	addr := "127.0.0.1:" + strconv.Itoa(port)

	t.Run("chunked request and response with trailers", func(t *testing.T) {
		c, _ := net.Dial("tcp", addr)
		defer c.Close()
		io.WriteString(c, "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTrailer: X-Client-Trailer\r\n\r\n"+
			"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Client-Trailer: yes\r\n\r\n")
		resp, body := readResponse(t, bufio.NewReader(c), "POST")
		if body != "hello world" {
			t.Fatalf("body %q", body)
		}
		if resp.Header.Get("X-Req-TE") != "chunked" || resp.Trailer.Get("X-Sum") != "11" {
			t.Fatalf("headers %v trailer %v", resp.Header, resp.Trailer)
		}
	})
	t.Run("content-length body streamed", func(t *testing.T) {
		payload := strings.Repeat("z", 300_000)
		resp, err := http.Post("http://"+addr+"/echo", "text/plain", strings.NewReader(payload))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != payload || resp.Header.Get("X-Req-CL") != "300000" {
			t.Fatalf("got %d bytes, CL %q", len(body), resp.Header.Get("X-Req-CL"))
		}
	})
	t.Run("large response", func(t *testing.T) {
		resp, err := http.Get("http://" + addr + "/big")
		if err != nil {
			t.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if n != 1<<20 {
			t.Fatalf("got %d bytes", n)
		}
	})
	t.Run("HEAD keeps Content-Length and has no body", func(t *testing.T) {
		c, _ := net.Dial("tcp", addr)
		defer c.Close()
		br := bufio.NewReader(c)
		io.WriteString(c, "HEAD /head HTTP/1.1\r\nHost: a\r\n\r\nGET /head HTTP/1.1\r\nHost: a\r\n\r\n")
		resp, _ := readResponse(t, br, "HEAD")
		if resp.Header.Get("Content-Length") != "1234" {
			t.Fatalf("HEAD Content-Length %q", resp.Header.Get("Content-Length"))
		}
		resp2, body := readResponse(t, br, "GET")
		if resp2.StatusCode != 200 || len(body) != 1234 {
			// the pipelined GET proves no body bytes followed the HEAD response
			t.Fatalf("pipelined GET after HEAD: %d %q", resp2.StatusCode, body)
		}
	})
	t.Run("expect 100-continue", func(t *testing.T) {
		c, _ := net.Dial("tcp", addr)
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		br := bufio.NewReader(c)
		io.WriteString(c, "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
		line, err := br.ReadString('\n')
		if err != nil || line != "HTTP/1.1 100 Continue\r\n" {
			t.Fatalf("interim response %q, %v", line, err)
		}
		br.ReadString('\n') // blank line
		io.WriteString(c, "ping")
		_, body := readResponse(t, br, "POST")
		if body != "ping" {
			t.Fatalf("body %q", body)
		}
	})
	t.Run("HTTP/1.0 client gets a close-delimited body", func(t *testing.T) {
		out := rawExchange(t, addr, "POST /echo HTTP/1.0\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc")
		if !strings.HasPrefix(out, "HTTP/1.1 200 OK\r\n") || !strings.HasSuffix(out, "\r\n\r\nabc") || strings.Contains(out, "chunked") {
			t.Fatalf("response %q", out)
		}
	})
}

func TestIntegrationRequestSmugglingRejected(t *testing.T) {
	b := startBackend(t, "b", nil)
	port := freePort(t)
	startDataplane(t, httpConfig(port, b))
	addr := "127.0.0.1:" + strconv.Itoa(port)
	tests := []struct{ name, req, status string }{
		{"CL and TE", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "400"},
		{"TE not chunked last", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", "400"},
		{"CL list", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 4\r\n\r\nabcd", "400"},
		{"CL plus", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\nabc", "400"},
		{"two CL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", "400"},
		{"TE in 1.0", "POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "400"},
		{"space before colon", "GET / HTTP/1.1\r\nHost: a\r\nX-A : b\r\n\r\n", "400"},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n", "400"},
		{"bare CR", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\rc\r\n\r\n", "400"},
		{"missing host", "GET / HTTP/1.1\r\n\r\n", "400"},
		{"two hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "400"},
		{"bad chunk size", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n\r\n", "400"},
		{"long request line", "GET /" + strings.Repeat("a", 17<<10) + " HTTP/1.1\r\nHost: a\r\n\r\n", "414"},
		{"too many headers", "GET / HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("X-A: b\r\n", 101) + "\r\n", "431"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := b.reqs.Load()
			out := rawExchange(t, addr, tt.req)
			if n := b.reqs.Load() - before; n != 0 {
				t.Errorf("the backend received the rejected request")
			}
			if !strings.HasPrefix(out, "HTTP/1.1 "+tt.status+" ") {
				t.Fatalf("response %q, want %s", out, tt.status)
			}
			if !strings.Contains(out, "Connection: close\r\n") {
				t.Fatalf("connection not closed: %q", out)
			}
			// rawExchange read until EOF: gantry closed the connection,
			// so nothing after the bad head can be read as a request.
		})
	}
}

func TestIntegrationTimeoutsAndBadUpstreams(t *testing.T) {
	// A server that answers garbage on its first connection, well after that.
	var accepted atomic.Int64
	srv := rawServer(t, func(c net.Conn, n int) {
		accepted.Add(1)
		br := bufio.NewReader(c)
		for {
			if _, err := http.ReadRequest(br); err != nil {
				return
			}
			if n == 0 {
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc")
				continue
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	port := freePort(t)
	cfg := httpConfigTo(port, srv)
	cfg.LBs[0].Frontends[0].TimeoutHTTPRequest = 300
	startDataplane(t, cfg)
	addr := "127.0.0.1:" + strconv.Itoa(port)

	out := rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	if !strings.HasPrefix(out, "HTTP/1.1 502 ") {
		t.Fatalf("malformed upstream response gave %q, want 502", out)
	}
	out = rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	if !strings.HasPrefix(out, "HTTP/1.1 200 ") || accepted.Load() != 2 {
		t.Fatalf("second request %q over %d upstream connections: the bad one must not be reused", out, accepted.Load())
	}
	// A head that stops half way gets 408 after timeout_http_request.
	start := time.Now()
	out = rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: a\r\n")
	if !strings.HasPrefix(out, "HTTP/1.1 408 ") || time.Since(start) > 1500*time.Millisecond {
		t.Fatalf("partial head gave %q after %v, want 408 after ~300ms", out, time.Since(start))
	}
}

func TestIntegrationAllServersDown503(t *testing.T) {
	// A port nobody listens on, and a health check that marks it down.
	dead := freePort(t)
	port := freePort(t)
	cfg := &config.Config{LBs: []config.LB{{Name: "main", IPs: []string{"127.0.0.1"},
		Backends: []config.Backend{{Name: "app", ForwardProtocol: config.ProtocolHTTP,
			Servers:     []config.Server{{IP: "127.0.0.1", Port: dead}},
			HealthCheck: &config.HealthCheck{CheckDelay: 20, CheckTimeout: 100, CheckMaxRetries: 1}}},
		Frontends: []config.Frontend{{Name: "web", InboundPort: port, Backend: "app"}}}}}
	d := startDataplane(t, cfg)
	ep := d.Snapshot().Backends()[0].Endpoints[0]
	waitFor(t, 3*time.Second, "the dead server to be marked down", func() bool { return !ep.Available() })
	resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || !strings.Contains(string(body), "no server is available") {
		t.Fatalf("got %d %q, want 503 saying no server is available", resp.StatusCode, body)
	}
}

func TestIntegrationH2C(t *testing.T) {
	b := startBackend(t, "b", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Proto-Seen", r.Proto)
		fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.Path, body)
	})
	port := freePort(t)
	startDataplane(t, httpConfig(port, b))
	tr := &http2.Transport{AllowHTTP: true, DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
		return net.Dial(network, addr)
	}}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := client.Post(fmt.Sprintf("http://127.0.0.1:%d/p%d", port, i), "text/plain", strings.NewReader("body"))
			if err != nil {
				errs <- err
				return
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.ProtoMajor != 2 || string(got) != fmt.Sprintf("POST /p%d body", i) || resp.Header.Get("X-Proto-Seen") != "HTTP/1.1" {
				errs <- fmt.Errorf("stream %d: proto %s body %q", i, resp.Proto, got)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestIntegrationHostPathHeaderRouting(t *testing.T) {
	api, web, admin, def := startBackend(t, "api", nil), startBackend(t, "web", nil), startBackend(t, "admin", nil), startBackend(t, "default", nil)
	port := freePort(t)
	be := func(name string, b *backend) config.Backend {
		return config.Backend{Name: name, ForwardProtocol: config.ProtocolHTTP, Servers: []config.Server{b.server()}}
	}
	cfg := &config.Config{LBs: []config.LB{{Name: "main", IPs: []string{"127.0.0.1"},
		Backends: []config.Backend{be("api", api), be("web", web), be("admin", admin), be("default", def)},
		Frontends: []config.Frontend{{Name: "web", InboundPort: port, Backend: "default", Routes: config.RoutesOf([]config.Route{
			{Backend: "web", HostHeader: "*.example.com"},
			{Backend: "api", HostHeader: "*.example.com", PathBegin: "/api"},
			{Backend: "admin", HostHeader: "www.example.com", Headers: []config.HeaderMatch{{Name: "X-Admin", Value: "1"}}},
		}...)}}}}}
	startDataplane(t, cfg)
	tests := []struct{ host, path, hdr, want string }{
		{"www.example.com", "/", "", "web"},
		{"WWW.Example.COM:" + strconv.Itoa(port), "/api/v1", "", "api"},
		{"a.b.example.com", "/apix", "", "api"},
		{"www.example.com", "/", "1", "admin"},
		{"example.com", "/", "", "default"},
		{"other.test", "/api", "", "default"},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest("GET", "http://127.0.0.1:"+strconv.Itoa(port)+tt.path, nil)
		req.Host = tt.host
		if tt.hdr != "" {
			req.Header.Set("X-Admin", tt.hdr)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if got := resp.Header.Get("X-Backend"); got != tt.want {
			t.Errorf("%s%s (X-Admin %q) went to %q, want %q", tt.host, tt.path, tt.hdr, got, tt.want)
		}
	}
}
