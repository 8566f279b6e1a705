package app_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-lb/gantry/internal/config"
)

func TestIntegrationMaxConnectionsQueue(t *testing.T) {
	var inflight, peak atomic.Int64
	release := make(chan struct{})
	b := startBackend(t, "b", func(w http.ResponseWriter, r *http.Request) {
		n := inflight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		<-release
		inflight.Add(-1)
		w.Write([]byte("ok"))
	})
	port := freePort(t)
	cfg := httpConfig(port, b)
	be := &cfg.LBs[0].Backends[0]
	be.MaxConnections = 2
	be.TimeoutQueue = 3000
	startDataplane(t, cfg)
	url := "http://127.0.0.1:" + strconv.Itoa(port) + "/"

	// Five requests at once: two reach the server, three wait in the
	// queue, and all five succeed once the server answers.
	var wg sync.WaitGroup
	codes := make([]int, 5)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(url)
			if err != nil {
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			codes[i] = resp.StatusCode
		}()
	}
	waitFor(t, 5*time.Second, "two requests at the server", func() bool { return inflight.Load() == 2 })
	time.Sleep(100 * time.Millisecond)
	if n := inflight.Load(); n != 2 {
		t.Fatalf("%d requests at the server, max_connections is 2", n)
	}
	close(release)
	wg.Wait()
	for i, c := range codes {
		if c != 200 {
			t.Fatalf("request %d: %d", i, c)
		}
	}
	if p := peak.Load(); p != 2 {
		t.Fatalf("peak of %d requests at the server, want 2", p)
	}
}

func TestIntegrationQueueTimeout(t *testing.T) {
	block := make(chan struct{})
	b := startBackend(t, "b", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	})
	port := freePort(t)
	cfg := httpConfig(port, b)
	cfg.LBs[0].Backends[0].MaxConnections = 1
	cfg.LBs[0].Backends[0].TimeoutQueue = 200
	startDataplane(t, cfg)
	t.Cleanup(func() { close(block) }) // before the data plane and the backend stop
	addr := "127.0.0.1:" + strconv.Itoa(port)
	hold, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Close()
	fmt.Fprint(hold, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	got := rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if firstLine(got) != "HTTP/1.1 503 Service Unavailable" {
		t.Fatalf("got %q, want 503 after the queue timeout", firstLine(got))
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Fatalf("answered after %v: it did not wait in the queue", d)
	}
}

func TestIntegrationFailoverHost(t *testing.T) {
	sorry := startBackend(t, "sorry", nil)
	port := freePort(t)
	cfg := httpConfigTo(port, "127.0.0.1:1") // nothing listens on port 1
	lb := &cfg.LBs[0]
	lb.Backends[0].HealthCheck = &config.HealthCheck{CheckDelay: 100, CheckTimeout: 100, CheckMaxRetries: 1}
	lb.Backends[0].FailoverHost = "sorry"
	lb.Backends = append(lb.Backends, config.Backend{Name: "sorry", ForwardProtocol: "http", Servers: []config.Server{sorry.server()}})
	d := startDataplane(t, cfg)
	waitFor(t, 5*time.Second, "the main server to be down", func() bool {
		for _, b := range d.Snapshot().Backends() {
			if b.Name == "app" {
				return !b.Endpoints[0].Available()
			}
		}
		return false
	})
	resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-Backend") != "sorry" {
		t.Fatalf("with every server down: %d from %q, want the failover backend", resp.StatusCode, resp.Header.Get("X-Backend"))
	}
}

func TestIntegrationShutdownSessions(t *testing.T) {
	// A TCP server that answers health checks (connects) and holds
	// sessions open (echoing) until the test ends.
	addr := rawServer(t, func(c net.Conn, _ int) { io.Copy(c, c) })
	port := freePort(t)
	for _, action := range []string{config.MarkedDownShutdown, config.MarkedDownNone} {
		t.Run(action, func(t *testing.T) {
			cfg := &config.Config{LBs: []config.LB{{Name: "t", IPs: []string{"127.0.0.1"},
				Backends: []config.Backend{{Name: "b", ForwardProtocol: "tcp", OnMarkedDownAction: action,
					HealthCheck: &config.HealthCheck{CheckDelay: 100, CheckTimeout: 100, CheckMaxRetries: 1,
						TCPConfig: &config.TCPCheck{Send: "ping\n", Expect: "ping"}},
					Servers: []config.Server{serverAt(addr)}}},
				Frontends: []config.Frontend{{Name: "f", InboundPort: port, Backend: "b"}}}}}
			d := startDataplane(t, cfg)
			ep := d.Snapshot().Backends()[0].Endpoints[0]
			waitFor(t, 5*time.Second, "the server up", func() bool { return ep.Available() })
			c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			br := bufio.NewReader(c)
			fmt.Fprint(c, "hello\n")
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if line, err := br.ReadString('\n'); line != "hello\n" {
				t.Fatalf("echo: %q %v", line, err)
			}
			// The check now fails (its expect never matches): the server
			// is marked down.
			cfg.LBs[0].Backends[0].HealthCheck.TCPConfig.Expect = "never"
			if err := d.Apply(cfg); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 5*time.Second, "the server down", func() bool { return !ep.Available() })
			fmt.Fprint(c, "again\n")
			c.SetReadDeadline(time.Now().Add(time.Second))
			line, err := br.ReadString('\n')
			if action == config.MarkedDownShutdown && err == nil {
				t.Fatalf("the session of a server marked down is still open (%q)", line)
			}
			if action == config.MarkedDownNone && line != "again\n" {
				t.Fatalf("without shutdown_sessions the session must carry on: %q %v", line, err)
			}
		})
	}
}

func TestIntegrationHeaderRulesAndHostOverride(t *testing.T) {
	b := startBackend(t, "b", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", "secret/1.0")
		w.Header().Set("X-Host-Seen", r.Host)
		w.Header().Set("X-Req-Env", r.Header.Get("X-Env"))
		w.Header().Set("X-Req-Debug", r.Header.Get("X-Debug"))
		w.Header().Set("X-Req-Tags", fmt.Sprint(r.Header.Values("X-Tag")))
	})
	port := freePort(t)
	cfg := httpConfig(port, b)
	cfg.LBs[0].Backends[0].Host = "internal.service:8080"
	fe := &cfg.LBs[0].Frontends[0]
	fe.RequestHeaders = []config.HeaderRule{
		{Action: "set", Name: "X-Env", Value: "prod"},
		{Action: "remove", Name: "X-Debug"},
		{Action: "add", Name: "X-Tag", Value: "gantry"},
	}
	fe.ResponseHeaders = []config.HeaderRule{
		{Action: "remove", Name: "Server"},
		{Action: "set", Name: "Strict-Transport-Security", Value: "max-age=60"},
	}
	startDataplane(t, cfg)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	r := request(t, addr, "GET", "/", "X-Env: dev", "X-Env: test", "X-Debug: 1", "X-Tag: client")
	checks := map[string]string{
		"X-Host-Seen":               "internal.service:8080",
		"X-Req-Env":                 "prod",
		"X-Req-Debug":               "",
		"X-Req-Tags":                "[client gantry]",
		"Server":                    "",
		"Strict-Transport-Security": "max-age=60",
	}
	for k, want := range checks {
		if got := r.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
}
