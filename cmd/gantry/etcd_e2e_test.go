package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gantry-lb/gantry/internal/certs/pebbletest"
	"github.com/gantry-lb/gantry/internal/store/etcd/etcdtest"
)

// netns is a network namespace held open by a sleeping process the test
// started; its loopback is up.
type netns struct{ path string }

// newNetns makes a network namespace for one node, so that two gantry
// serve on one machine can bind the same frontend ports, as two hosts would.
func newNetns(t *testing.T) netns {
	t.Helper()
	// The holder brings lo up and says so before sleeping: once "ready" is
	// read, /proc/PID/ns/net is the new namespace, with loopback up.
	holder := exec.Command("unshare", "--net", "sh", "-c", "ip link set lo up && echo ready && exec sleep 600")
	stdout, err := holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	holder.Stderr = &stderr
	if err := holder.Start(); err != nil {
		t.Fatalf("unshare --net (the test needs CAP_SYS_ADMIN): %v", err)
	}
	t.Cleanup(func() { holder.Process.Kill(); holder.Wait() })
	line := make([]byte, 6)
	if _, err := io.ReadFull(stdout, line); err != nil || string(line) != "ready\n" {
		holder.Process.Kill()
		holder.Wait()
		t.Fatalf("making a network namespace: %q, %v: %s", line, err, stderr.String())
	}
	return netns{path: fmt.Sprintf("/proc/%d/ns/net", holder.Process.Pid)}
}

// do runs fn on an OS thread moved into the namespace, so that the sockets
// fn creates live there; the thread is discarded afterwards (the goroutine
// exits without unlocking it).
func (ns netns) do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		f, err := os.Open(ns.path)
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns: %w", err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

func (ns netns) dial(ctx context.Context, addr string) (net.Conn, error) {
	var c net.Conn
	err := ns.do(func() (err error) {
		var d net.Dialer
		c, err = d.DialContext(ctx, "tcp", addr)
		return err
	})
	return c, err
}

// forward listens on 127.0.0.1:port inside the namespace and relays every
// connection to 127.0.0.1:port outside, so the node there reaches etcd and
// pebble at the addresses the others use.
func (ns netns) forward(t *testing.T, port int) {
	t.Helper()
	addr := "127.0.0.1:" + strconv.Itoa(port)
	var ln net.Listener
	if err := ns.do(func() (err error) { ln, err = net.Listen("tcp", addr); return err }); err != nil {
		t.Fatalf("listening on %s in the namespace: %v", addr, err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer in.Close()
				out, err := net.DialTimeout("tcp", addr, 5*time.Second)
				if err != nil {
					return
				}

				defer out.Close()
				done := make(chan struct{}, 2)
				go func() { io.Copy(out, in); out.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
				go func() { io.Copy(in, out); in.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
				<-done
				<-done
			})
		}
	})
}

// node is one gantry serve process of the test.
type node struct {
	name   string
	admin  string
	dial   func(ctx context.Context, addr string) (net.Conn, error)
	api    *http.Client
	token  string
	log    *bytes.Buffer
	logMu  *sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

type syncWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// startNode runs `gantry serve` (through nsenter when ns is set) and waits
// until its admin API answers.
func startNode(t *testing.T, name, bin string, ns *netns, adminPort int, args ...string) *node {
	t.Helper()
	n := &node{name: name, admin: "127.0.0.1:" + strconv.Itoa(adminPort), log: &bytes.Buffer{}, logMu: &sync.Mutex{}, exited: make(chan struct{})}
	full := append([]string{"serve", "--admin", n.admin, "--docker", "off"}, args...)
	if ns != nil {
		n.cmd = exec.Command("nsenter", append([]string{"--net=" + ns.path, bin}, full...)...)
		n.dial = ns.dial
	} else {
		n.cmd = exec.Command(bin, full...)
		n.dial = func(ctx context.Context, addr string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", addr)
		}
	}
	w := syncWriter{n.logMu, n.log}
	n.cmd.Stdout, n.cmd.Stderr = w, w
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { n.cmd.Wait(); close(n.exited) }()
	t.Cleanup(func() {
		n.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-n.exited:
		case <-time.After(15 * time.Second):
			n.cmd.Process.Kill()
			<-n.exited
		}
		if t.Failed() {
			n.logMu.Lock()
			t.Logf("gantry serve %s log:\n%s", n.name, n.log.String())
			n.logMu.Unlock()
		}
	})
	tr := &http.Transport{DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) { return n.dial(ctx, addr) }}
	t.Cleanup(tr.CloseIdleConnections)
	n.api = &http.Client{Transport: tr, Timeout: 30 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-n.exited:
			t.Fatalf("gantry serve %s exited (%v):\n%s", name, n.cmd.ProcessState, n.output())
		default:
		}
		resp, err := n.api.Get("http://" + n.admin + "/metrics")
		if err == nil {
			resp.Body.Close()
			return n
		}
		if time.Now().After(deadline) {
			t.Fatalf("gantry serve %s: admin API not up within 30s: %v\n%s", name, err, n.output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (n *node) output() string {
	n.logMu.Lock()
	defer n.logMu.Unlock()
	return n.log.String()
}

// call makes an API request and decodes the answer, failing on another
// status than want.
func (n *node) call(t *testing.T, want int, method, path string, body any) map[string]any {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, "http://"+n.admin+path, rd)
	req.Header.Set("Authorization", "Bearer "+n.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := n.api.Do(req)
	if err != nil {
		t.Fatalf("%s %s on %s: %v", method, path, n.name, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s on %s: %d %s", method, path, n.name, resp.StatusCode, raw)
	}
	out := map[string]any{}
	json.Unmarshal(raw, &out)
	return out
}

// servedCert returns the leaf a TLS frontend of the node presents for sni,
// verified against roots.
func (n *node) servedCert(port int, sni string, roots *x509.CertPool) (*x509.Certificate, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	raw, err := n.dial(ctx, "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return nil, err
	}
	defer raw.Close()
	c := tls.Client(raw, &tls.Config{ServerName: sni, RootCAs: roots, NextProtos: []string{"http/1.1"}})
	if err := c.HandshakeContext(ctx); err != nil {
		return nil, err
	}
	return c.ConnectionState().PeerCertificates[0], nil
}

// TestTwoNodesOneEtcdOneOrder runs two real gantry serve processes on one
// etcd store (node b in its own network namespace, so both bind the same
// frontend ports as two hosts would; pebble validates against node a's),
// creates a letsencrypt certificate through node a's API, and checks that
// both nodes serve it while pebble received exactly one order: the lock in
// the shared store lets one node order, the other loads the result.
func TestTwoNodesOneEtcdOneOrder(t *testing.T) {
	if testing.Short() {
		t.Skip("starts etcd, pebble and two gantry serve")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "gantry")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	srv := etcdtest.Start(t)
	etcdPort := srv.Client[len("127.0.0.1:"):]
	ports := pebbletest.FreePorts(t, 5)
	httpPort, tlsPort, adminA, adminB, bePort := ports[0], ports[1], ports[2], ports[3], ports[4]
	pe := pebbletest.Start(t, pebbletest.Options{HTTPPort: httpPort, TLSPort: tlsPort})

	ns := newNetns(t)
	ep, _ := strconv.Atoi(etcdPort)
	ns.forward(t, ep)
	_, dirPortS, _ := net.SplitHostPort(strings.TrimSuffix(strings.TrimPrefix(pe.DirURL, "https://"), "/dir"))
	dirPort, _ := strconv.Atoi(dirPortS)
	ns.forward(t, dirPort)

	// The backend, on the same port in both namespaces.
	backend := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	for _, listen := range []func() (net.Listener, error){
		func() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(bePort)) },
		func() (ln net.Listener, err error) {
			err = ns.do(func() error { ln, err = net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(bePort)); return err })
			return ln, err
		},
	} {
		ln, err := listen()
		if err != nil {
			t.Fatal(err)
		}
		hs := &http.Server{Handler: backend}
		go hs.Serve(ln)
		t.Cleanup(func() { hs.Close() })
	}

	storeURL := srv.URL("/e2e")
	common := []string{"--store", storeURL, "--acme-directory", pe.DirURL, "--acme-ca-bundle", pe.CAFile,
		"--acme-http-port", strconv.Itoa(httpPort), "--acme-tls-port", strconv.Itoa(tlsPort), "--drain-timeout", "2s"}
	dataA, dataB := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	a := startNode(t, "a", bin, nil, adminA, append([]string{"--data", dataA}, common...)...)
	tok, err := os.ReadFile(filepath.Join(dataA, "admin.token"))
	if err != nil {
		t.Fatalf("node a's admin token: %v", err)
	}
	a.token = string(bytes.TrimSpace(tok))
	// The second node shares the sealing key (and the cookie key).
	if err := os.MkdirAll(dataB, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"certs.key", "cookie.key"} {
		b, err := os.ReadFile(filepath.Join(dataA, f))
		if err != nil {
			t.Fatalf("node a's %s: %v", f, err)
		}
		if err := os.WriteFile(filepath.Join(dataB, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	b := startNode(t, "b", bin, &ns, adminB, append([]string{"--data", dataB}, common...)...)
	b.token = a.token // tokens live in the shared store
	if _, err := os.Stat(filepath.Join(dataB, "admin.token")); err == nil {
		t.Errorf("node b made its own admin token although the shared store has one")
	}

	a.call(t, 200, "PUT", "/v1/lbs/web", map[string]any{"ips": []string{"127.0.0.1"}})
	a.call(t, 200, "PUT", "/v1/lbs/web/backends/app", map[string]any{"forward_protocol": "http",
		"servers": []any{map[string]any{"ip": "127.0.0.1", "port": bePort}}})
	if r := a.call(t, 200, "PUT", "/v1/certificates/www", map[string]any{"type": "letsencrypt", "common_name": "www.example.com"}); r["status"] != "pending" {
		t.Fatalf("a new letsencrypt certificate: %v", r)
	}
	a.call(t, 200, "PUT", "/v1/lbs/web/frontends/plain", map[string]any{"inbound_port": httpPort, "protocol": "http", "backend": "app"})
	a.call(t, 200, "PUT", "/v1/lbs/web/frontends/tls?wait=applied", map[string]any{"inbound_port": tlsPort, "protocol": "https",
		"backend": "app", "certificates": []string{"www"}})

	roots := pe.Roots(t)
	start := time.Now()
	for _, n := range []*node{a, b} {
		deadline := time.Now().Add(120 * time.Second)
		for {
			r := n.call(t, 200, "GET", "/v1/certificates/www", nil)
			if r["status"] == "error" {
				t.Fatalf("certificate on node %s: %v", n.name, r)
			}
			if r["status"] == "ready" {
				leaf, err := n.servedCert(tlsPort, "www.example.com", roots)
				if err == nil && leaf.VerifyHostname("www.example.com") == nil {
					t.Logf("node %s serves %v (serial %s) after %s", n.name, leaf.DNSNames, leaf.SerialNumber, time.Since(start).Round(time.Millisecond))
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("node %s: certificate not served within 120s (status %v)", n.name, r["status"])
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	la, err := a.servedCert(tlsPort, "www.example.com", roots)
	if err != nil {
		t.Fatal(err)
	}
	lb, err := b.servedCert(tlsPort, "www.example.com", roots)
	if err != nil {
		t.Fatal(err)
	}
	if la.SerialNumber.Cmp(lb.SerialNumber) != 0 {
		t.Errorf("the nodes serve different certificates: %s and %s", la.SerialNumber, lb.SerialNumber)
	}
	// Give a second, late order the time to show up.
	time.Sleep(2 * time.Second)
	if got := pe.Orders(); got != 1 {
		t.Errorf("pebble received %d orders, want exactly 1", got)
	}
	var ordered []string
	for _, n := range []*node{a, b} {
		if strings.Contains(n.output(), `msg="ordering ACME certificate"`) {
			ordered = append(ordered, n.name)
		}
	}
	if len(ordered) != 1 {
		t.Errorf("nodes that ordered: %v, want exactly one", ordered)
	}
	t.Logf("node %v ordered; pebble saw %d order(s)", ordered, pe.Orders())
}
