package app_test

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-lb/gantry/internal/config"
)

// TestIntegrationSwap1000UnderLoad swaps the config 1,000 times while a
// bounded load runs through the real listener, and asserts that no request
// failed.
func TestIntegrationSwap1000UnderLoad(t *testing.T) {
	b1, b2, b3 := startBackend(t, "b1", nil), startBackend(t, "b2", nil), startBackend(t, "b3", nil)
	port, extra := freePort(t), freePort(t)
	d := startDataplane(t, httpConfig(port, b1, b2))
	url := "http://127.0.0.1:" + strconv.Itoa(port) + "/"

	stop := make(chan struct{})
	var ok, failed atomic.Int64
	var firstErr atomic.Pointer[string]
	var wg sync.WaitGroup
	deadline := time.Now().Add(90 * time.Second)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
			defer client.CloseIdleConnections()
			for i := 0; i < 200_000 && time.Now().Before(deadline); i++ {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := client.Get(url)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != 200 {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				if err != nil {
					failed.Add(1)
					msg := err.Error()
					firstErr.CompareAndSwap(nil, &msg)
					continue
				}
				ok.Add(1)
			}
		}()
	}
	waitFor(t, 10*time.Second, "the load to start", func() bool { return ok.Load() > 0 })
	before := ok.Load()
	for i := range 1000 {
		var cfg *config.Config
		switch i % 4 {
		case 0:
			cfg = httpConfig(port, b1, b2)
		case 1:
			cfg = httpConfig(port, b2, b3)
			cfg.LBs[0].Backends[0].ForwardPortAlgorithm = config.AlgoLeastConn
		case 2:
			cfg = httpConfig(port, b3)
			cfg.LBs[0].Frontends[0].Routes = config.RoutesOf([]config.Route{{Backend: "app", HostHeader: "*.example.com"}}...)
		case 3:
			// A second frontend comes and goes: listeners churn too.
			cfg = httpConfig(port, b1, b2, b3)
			cfg.LBs[0].Frontends = append(cfg.LBs[0].Frontends, config.Frontend{Name: "extra", InboundPort: extra, Backend: "app"})
		}
		if err := d.Apply(cfg); err != nil {
			t.Fatalf("swap %d: %v", i, err)
		}
		if i%10 == 0 {
			time.Sleep(2 * time.Millisecond) // let the load interleave with the swaps
		}
	}
	during := ok.Load() - before
	close(stop)
	wg.Wait()
	t.Logf("%d requests succeeded while 1000 swaps ran (%d in all)", during, ok.Load())
	if n := failed.Load(); n != 0 {
		t.Fatalf("%d requests failed during the swaps; first: %s", n, *firstErr.Load())
	}
	if during < 100 {
		t.Fatalf("only %d requests completed while the swaps ran: the load did not overlap them", during)
	}
	if r := d.Snapshot().Revision; r != 1001 {
		t.Fatalf("revision %d after 1001 applies", r)
	}
}

// echoUpgrade answers a WebSocket-style upgrade with 101 and then echoes
// every byte on the hijacked connection.
func echoUpgrade(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Upgrade") != "websocket" {
		http.Error(w, "want an upgrade", 400)
		return
	}
	c, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer c.Close()
	brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
	brw.Flush()
	buf := make([]byte, 4096)
	for {
		n, err := brw.Read(buf)
		if n > 0 {
			c.Write(buf[:n])
		}
		if err != nil {
			return
		}
	}
}

// TestIntegrationWebSocketSurvives100Swaps keeps one upgraded connection
// open across 100 config swaps, including ones that drop its server.
func TestIntegrationWebSocketSurvives100Swaps(t *testing.T) {
	ws := startBackend(t, "ws", echoUpgrade)
	other := startBackend(t, "other", nil)
	port := freePort(t)
	d := startDataplane(t, httpConfig(port, ws))
	c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nfirst")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
	if err != nil || resp.StatusCode != 101 || resp.Header.Get("Upgrade") != "websocket" {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	buf := make([]byte, 64)
	if _, err := io.ReadFull(br, buf[:5]); err != nil || string(buf[:5]) != "first" {
		t.Fatalf("bytes sent behind the upgrade request: %q %v", buf[:5], err)
	}
	for i := range 100 {
		cfg := httpConfig(port, ws)
		if i%2 == 1 {
			cfg = httpConfig(port, other) // the tunnel's server left the config
		}
		if err := d.Apply(cfg); err != nil {
			t.Fatal(err)
		}
		msg := fmt.Sprintf("msg-%03d", i)
		if _, err := io.WriteString(c, msg); err != nil {
			t.Fatalf("swap %d: write: %v", i, err)
		}
		if _, err := io.ReadFull(br, buf[:len(msg)]); err != nil || string(buf[:len(msg)]) != msg {
			t.Fatalf("swap %d: echo %q, %v", i, buf[:len(msg)], err)
		}
	}
}

// TestIntegrationRemovedFrontendDrains removes a frontend while requests
// are in flight: they finish, and the port stops accepting.
func TestIntegrationRemovedFrontendDrains(t *testing.T) {
	slow := startBackend(t, "slow", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(400 * time.Millisecond)
		io.WriteString(w, "done")
	})
	keep := startBackend(t, "keep", nil)
	port, port2 := freePort(t), freePort(t)
	cfg := httpConfig(port, slow)
	cfg.LBs[0].Backends = append(cfg.LBs[0].Backends, config.Backend{Name: "keep", ForwardProtocol: config.ProtocolHTTP, Servers: []config.Server{keep.server()}})
	cfg.LBs[0].Frontends = append(cfg.LBs[0].Frontends, config.Frontend{Name: "other", InboundPort: port2, Backend: "keep"})
	d := startDataplane(t, cfg)

	// An idle keep-alive connection on the port that goes away.
	idle, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	// A keep-alive connection to the port that stays.
	kept, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port2))
	if err != nil {
		t.Fatal(err)
	}
	defer kept.Close()
	keptR := bufio.NewReader(kept)
	io.WriteString(kept, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	readResponse(t, keptR, "GET")

	const n = 5
	results := make(chan string, n)
	for range n {
		go func() {
			resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/")
			if err != nil {
				results <- err.Error()
				return
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			results <- fmt.Sprintf("%d %s", resp.StatusCode, body)
		}()
	}
	waitFor(t, 3*time.Second, "requests to reach the slow backend", func() bool { return slow.reqs.Load() == n })
	without := httpConfig(port2, keep)
	without.LBs[0].Backends[0].Name, without.LBs[0].Frontends[0].Name = "keep", "other"
	without.LBs[0].Frontends[0].Backend = "keep"
	if err := d.Apply(without); err != nil {
		t.Fatal(err)
	}
	for range n {
		if got := <-results; got != "200 done" {
			t.Errorf("in-flight request on the removed frontend: %q, want 200 done", got)
		}
	}
	if _, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second); err == nil {
		t.Error("the removed frontend's port still accepts connections")
	}
	idle.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := idle.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("idle connection of the removed frontend: read %v, want EOF (closed by the drain)", err)
	}
	// The other frontend's listener was never touched: its keep-alive
	// connection still works.
	io.WriteString(kept, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	if resp, _ := readResponse(t, keptR, "GET"); resp.StatusCode != 200 {
		t.Errorf("unchanged frontend: %d", resp.StatusCode)
	}
}

// TestIntegrationTCPForwardAndSNI forwards plain TCP with half-close, and
// routes TLS by SNI without terminating it.
func TestIntegrationTCPForwardAndSNI(t *testing.T) {
	// An echo server that answers after the client half-closes.
	echo := rawServer(t, func(c net.Conn, _ int) {
		data, _ := io.ReadAll(c)
		c.Write([]byte("echo:" + string(data)))
	})
	tlsA := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "A") }))
	defer tlsA.Close()
	tlsB := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "B") }))
	defer tlsB.Close()
	plain, sniPort := freePort(t), freePort(t)
	cfg := &config.Config{LBs: []config.LB{{Name: "main", IPs: []string{"127.0.0.1"},
		Backends: []config.Backend{
			{Name: "echo", Servers: []config.Server{serverAt(echo)}},
			{Name: "a", Servers: []config.Server{serverAt(tlsA.Listener.Addr().String())}},
			{Name: "b", Servers: []config.Server{serverAt(tlsB.Listener.Addr().String())}},
		},
		Frontends: []config.Frontend{
			{Name: "plain", InboundPort: plain, Backend: "echo"},
			{Name: "sni", InboundPort: sniPort, Backend: "echo", Routes: config.RoutesOf([]config.Route{
				{Backend: "a", SNI: "a.example.com"},
				{Backend: "b", SNI: "*.b.example.com"},
			}...)},
		}}}}
	startDataplane(t, cfg)

	c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(plain))
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "ping")
	c.(*net.TCPConn).CloseWrite()
	got, _ := io.ReadAll(c)
	c.Close()
	if string(got) != "echo:ping" {
		t.Fatalf("tcp forward with half-close: %q", got)
	}

	for _, tt := range []struct{ sni, want string }{{"a.example.com", "A"}, {"x.y.b.example.com", "B"}} {
		client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{ServerName: tt.sni, InsecureSkipVerify: true}}}
		resp, err := client.Get("https://127.0.0.1:" + strconv.Itoa(sniPort) + "/")
		if err != nil {
			t.Fatalf("sni %s: %v", tt.sni, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		client.CloseIdleConnections()
		if string(body) != tt.want {
			t.Errorf("sni %s reached %q, want %q", tt.sni, body, tt.want)
		}
	}
	// Not TLS at all: the default backend.
	c, _ = net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(sniPort))
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "plain text")
	c.(*net.TCPConn).CloseWrite()
	got, _ = io.ReadAll(c)
	c.Close()
	if !strings.HasPrefix(string(got), "echo:plain text") {
		t.Errorf("non-TLS on an SNI frontend: %q", got)
	}
}

// TestApplyRejectsAndKeepsRunning: a bad config or a port that cannot be
// bound changes nothing.
func TestApplyRejectsAndKeepsRunning(t *testing.T) {
	b := startBackend(t, "b", nil)
	port := freePort(t)
	d := startDataplane(t, httpConfig(port, b))
	bad := httpConfig(port, b)
	bad.LBs[0].Frontends[0].Routes = config.RoutesOf([]config.Route{{Backend: "app", HostHeader: "*."}}...)
	if err := d.Apply(bad); err == nil || !strings.Contains(err.Error(), `routes[0].host_header: "*.": empty label`) {
		t.Fatalf("Apply(bad) = %v", err)
	}
	busy, _ := net.Listen("tcp", "127.0.0.1:0")
	defer busy.Close()
	_, bp, _ := net.SplitHostPort(busy.Addr().String())
	bpn, _ := strconv.Atoi(bp)
	clash := httpConfig(port, b)
	clash.LBs[0].Frontends = append(clash.LBs[0].Frontends, config.Frontend{Name: "clash", InboundPort: bpn, Backend: "app"})
	if err := d.Apply(clash); err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("Apply(clash) = %v", err)
	}
	if r := d.Snapshot().Revision; r != 1 {
		t.Fatalf("revision %d after rejected applies, want 1", r)
	}
	resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("still serving: %v %v", resp, err)
	}
	resp.Body.Close()
}
