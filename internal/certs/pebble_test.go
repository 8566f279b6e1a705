package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"go/build"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-lb/gantry/internal/store"
)

// pebbleEnv is a pebble ACME CA and a pebble-challtestsrv DNS server
// started for one test, both on loopback. Every name resolves to
// 127.0.0.1 (A only), and pebble validates HTTP-01 on httpPort and
// TLS-ALPN-01 on tlsPort. The directory is reached through a counting
// reverse proxy, so a test can tell how many orders were placed.
type pebbleEnv struct {
	dirURL   string // through the counting proxy
	mgmtURL  string
	caPEM    string // trust for pebble's HTTPS (a CA made by the test)
	client   *http.Client
	orders   atomic.Int64
	httpPort int
	tlsPort  int
}

// lookBin finds a tool installed with go install: on PATH (the Makefile
// puts $(go env GOPATH)/bin there) or in GOPATH/bin.
func lookBin(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		gopath = build.Default.GOPATH
	}
	p := filepath.Join(gopath, "bin", name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s not found on PATH or in %s/bin: run make deps (scripts/test-deps.sh installs github.com/letsencrypt/pebble/v2/cmd/%s)", name, gopath, name)
	}
	return p
}

func freeTCPPort(t *testing.T) int { return freePorts(t, 1)[0] }

// freePorts returns n distinct loopback ports that are free for both TCP
// and UDP right now (all are held until every one is chosen, so they
// differ from each other).
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var closers []io.Closer
	defer func() {
		for _, c := range closers {
			c.Close()
		}
	}()
	var out []int
	for attempt := 0; len(out) < n && attempt < 100; attempt++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		closers = append(closers, ln)
		port := ln.Addr().(*net.TCPAddr).Port
		pc, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue // UDP side taken: try another
		}
		closers = append(closers, pc)
		out = append(out, port)
	}
	if len(out) < n {
		t.Fatal("no free ports")
	}
	return out
}

// startProcess runs a command until the test ends, logging to a file that
// is printed if the test fails.
func startProcess(t *testing.T, dir, logName string, env []string, name string, args ...string) {
	t.Helper()
	logPath := filepath.Join(dir, logName)
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logf.Close()
		if t.Failed() || os.Getenv("CERTS_TEST_LOG") != "" {
			b, _ := os.ReadFile(logPath)
			t.Logf("%s log:\n%s", logName, b)
		}
	})
}

// startPebble starts pebble and its DNS server; profiles maps an ACME
// profile name to a validity in seconds ("default" is required).
func startPebble(t *testing.T, httpPort, tlsPort int, profiles map[string]int) *pebbleEnv {
	t.Helper()
	pebbleBin, challBin := lookBin(t, "pebble"), lookBin(t, "pebble-challtestsrv")
	dir := t.TempDir()

	// pebble's own HTTPS certificate, from a CA of ours.
	ca := newCA(t, "pebble listener CA")
	leaf, key := ca.leaf(t, leafOpts{names: []string{"localhost"}, ips: []net.IP{net.IPv4(127, 0, 0, 1)}})
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, []byte(certPEM(leaf)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, []byte(keyPEM(t, key)), 0o600); err != nil {
		t.Fatal(err)
	}

	ports := freePorts(t, 4)
	listenPort, mgmtPort, challMgmtPort, dnsPort := ports[0], ports[1], ports[2], ports[3]
	profs := map[string]any{}
	for name, secs := range profiles {
		profs[name] = map[string]any{"description": name, "validityPeriod": secs}
	}
	cfg := map[string]any{"pebble": map[string]any{
		"listenAddress":                  "127.0.0.1:" + strconv.Itoa(listenPort),
		"managementListenAddress":        "127.0.0.1:" + strconv.Itoa(mgmtPort),
		"certificate":                    certFile,
		"privateKey":                     keyFile,
		"httpPort":                       httpPort,
		"tlsPort":                        tlsPort,
		"ocspResponderURL":               "",
		"externalAccountBindingRequired": false,
		"retryAfter":                     map[string]int{"authz": 0, "order": 0},
		"keyAlgorithm":                   "ecdsa",
		"profiles":                       profs,
	}}
	cfgJSON, _ := json.Marshal(cfg)
	cfgFile := filepath.Join(dir, "pebble-config.json")
	if err := os.WriteFile(cfgFile, cfgJSON, 0o600); err != nil {
		t.Fatal(err)
	}

	dnsAddr := "127.0.0.1:" + strconv.Itoa(dnsPort)
	startProcess(t, dir, "challtestsrv.log", nil, challBin,
		"-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
		"-dnsserver", dnsAddr, "-management", "127.0.0.1:"+strconv.Itoa(challMgmtPort),
		"-http01", "", "-https01", "", "-tlsalpn01", "", "-doh", "")
	startProcess(t, dir, "pebble.log",
		[]string{"PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0"},
		pebbleBin, "-config", cfgFile, "-dnsserver", dnsAddr)

	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	t.Cleanup(tr.CloseIdleConnections)
	pe := &pebbleEnv{
		caPEM:    certPEM(ca.cert),
		client:   &http.Client{Transport: tr, Timeout: 5 * time.Second},
		mgmtURL:  "https://127.0.0.1:" + strconv.Itoa(mgmtPort),
		httpPort: httpPort,
		tlsPort:  tlsPort,
	}

	// The counting proxy: pebble builds its URLs from the Host header, so
	// keeping the proxy's host makes every ACME request come through it.
	upstream, _ := url.Parse("https://127.0.0.1:" + strconv.Itoa(listenPort))
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(upstream)
			r.Out.Host = r.In.Host
			if r.In.Method == http.MethodPost && r.In.URL.Path == "/order-plz" {
				pe.orders.Add(1)
			}
		},
		Transport: tr,
		ErrorLog:  log.New(io.Discard, "", 0),
	}
	pln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: proxy, TLSConfig: &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{leaf.Raw}, PrivateKey: key, Leaf: leaf}}}, ReadHeaderTimeout: 5 * time.Second}
	go srv.ServeTLS(pln, "", "")
	t.Cleanup(func() { srv.Close() })
	pe.dirURL = "https://" + pln.Addr().String() + "/dir"

	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := pe.client.Get(pe.dirURL)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("pebble did not answer at %s: %v", pe.dirURL, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return pe
}

// roots returns pebble's root CA, which signs what it issues.
func (pe *pebbleEnv) roots(t *testing.T) *x509.CertPool {
	t.Helper()
	resp, err := pe.client.Get(pe.mgmtURL + "/roots/0")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		t.Fatalf("pebble root: %s", b)
	}
	return pool
}

// challengeHTTP serves HTTP-01 answers on ln from whichever Manager target
// points at, counting the answers, and 404 for everything else.
func challengeHTTP(t *testing.T, ln net.Listener, target *atomic.Pointer[Manager], answered *atomic.Int64) {
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if m := target.Load(); m != nil && m.HandleHTTPChallenge(w, r) {
			answered.Add(1)
			return
		}
		http.NotFound(w, r)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
}

func listenLoopback(t *testing.T) (net.Listener, int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln, ln.Addr().(*net.TCPAddr).Port
}

// acmeOptions are the options of a test Manager using pebble.
func (pe *pebbleEnv) acmeOptions(node string) ACMEOptions {
	return ACMEOptions{
		DirectoryURL:  pe.dirURL,
		CABundle:      pe.caPEM,
		ListenHost:    "127.0.0.1",
		HTTPPort:      pe.httpPort,
		TLSALPNPort:   pe.tlsPort,
		RetryMin:      time.Hour,
		ObtainTimeout: 60 * time.Second,
		LockTTL:       10 * time.Second,
		LockPoll:      100 * time.Millisecond,
		NodeID:        node,
	}
}

func newACMEManager(t *testing.T, st store.Store, sealer *Sealer, o ACMEOptions) *Manager {
	t.Helper()
	m, err := New(Options{Sealer: sealer, Store: st, ACME: o, Logger: logger(t).With("node", o.NodeID)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// waitReady waits until the certificate is ready, failing at once if it
// turns to error.
func waitReady(t *testing.T, m *Manager, name string, d time.Duration) Info {
	t.Helper()
	var in Info
	waitFor(t, d, fmt.Sprintf("certificate %s to be ready", name), func() bool {
		in, _ = m.Status(name)
		if in.Status == StatusError {
			t.Fatalf("certificate %s: error: %s", name, in.StatusDetails)
		}
		return in.Status == StatusReady
	})
	return in
}
