package app_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"go/build"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gantry-lb/gantry/internal/app"
)

// lookBin finds a tool installed with go install: on PATH (the Makefile
// puts $(go env GOPATH)/bin there) or in GOPATH/bin. A missing tool fails
// the test: make deps installs it.
func lookBin(t testing.TB, name string) string {
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
		t.Fatalf("%s not found on PATH or in %s/bin: run make deps (scripts/test-deps.sh installs it)", name, gopath)
	}
	return p
}

// freeTCPUDPPorts returns n distinct loopback ports free for both TCP and
// UDP right now.
func freeTCPUDPPorts(t testing.TB, n int) []int {
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
			continue
		}
		closers = append(closers, pc)
		out = append(out, port)
	}
	if len(out) < n {
		t.Fatal("no free ports")
	}
	return out
}

// startProcess runs a command until the test ends (killed by PID), logging
// to a file that is printed if the test fails.
func startProcess(t testing.TB, dir, logName string, env []string, name string, args ...string) {
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
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("%s log:\n%s", logName, b)
		}
	})
}

// pebble is a pebble ACME CA and its DNS server (pebble-challtestsrv,
// which resolves every name to 127.0.0.1), started on loopback; the CA
// validates HTTP-01 on httpPort and TLS-ALPN-01 on tlsPort.
type pebble struct {
	dirURL, mgmtURL string
	caFile          string // trust for pebble's own HTTPS
	client          *http.Client
}

func startPebble(t *testing.T, httpPort, tlsPort int) *pebble {
	t.Helper()
	pebbleBin, challBin := lookBin(t, "pebble"), lookBin(t, "pebble-challtestsrv")
	dir := t.TempDir()
	ca := newTestCA(t, "pebble listener CA")
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(99), Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalPKCS8PrivateKey(key)
	certFile, keyFile, caFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), filepath.Join(dir, "ca.pem")
	for f, b := range map[string][]byte{certFile: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyFile: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}), caFile: []byte(ca.pem)} {
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ports := freeTCPUDPPorts(t, 4)
	listen, mgmt, challMgmt, dns := ports[0], ports[1], ports[2], ports[3]
	cfg, _ := json.Marshal(map[string]any{"pebble": map[string]any{
		"listenAddress":                  "127.0.0.1:" + strconv.Itoa(listen),
		"managementListenAddress":        "127.0.0.1:" + strconv.Itoa(mgmt),
		"certificate":                    certFile,
		"privateKey":                     keyFile,
		"httpPort":                       httpPort,
		"tlsPort":                        tlsPort,
		"ocspResponderURL":               "",
		"externalAccountBindingRequired": false,
		"retryAfter":                     map[string]int{"authz": 0, "order": 0},
		"keyAlgorithm":                   "ecdsa",
		"profiles":                       map[string]any{"default": map[string]any{"description": "default", "validityPeriod": 7776000}},
	}})
	cfgFile := filepath.Join(dir, "pebble-config.json")
	if err := os.WriteFile(cfgFile, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	dnsAddr := "127.0.0.1:" + strconv.Itoa(dns)
	startProcess(t, dir, "challtestsrv.log", nil, challBin,
		"-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
		"-dnsserver", dnsAddr, "-management", "127.0.0.1:"+strconv.Itoa(challMgmt),
		"-http01", "", "-https01", "", "-tlsalpn01", "", "-doh", "")
	startProcess(t, dir, "pebble.log", []string{"PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0"},
		pebbleBin, "-config", cfgFile, "-dnsserver", dnsAddr)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.pool}}
	t.Cleanup(tr.CloseIdleConnections)
	pe := &pebble{dirURL: "https://127.0.0.1:" + strconv.Itoa(listen) + "/dir", mgmtURL: "https://127.0.0.1:" + strconv.Itoa(mgmt),
		caFile: caFile, client: &http.Client{Transport: tr, Timeout: 5 * time.Second}}
	waitFor(t, 15*time.Second, "pebble to answer", func() bool {
		resp, err := pe.client.Get(pe.dirURL)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return pe
}

// roots returns pebble's root CA, which signs what it issues.
func (pe *pebble) roots(t *testing.T) *x509.CertPool {
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

// startServeWith is startServe with ACME options.
func startServeWith(t *testing.T, dir string, acme app.ACMEOptions) *server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	var out bytes.Buffer
	go func() {
		done <- app.Serve(ctx, app.ServeOptions{Admin: "127.0.0.1:0", DataDir: dir, Log: testLog(t), DrainTimeout: 2 * time.Second,
			ACME: acme, Ready: func(a string) { ready <- a }}, &out)
	}()
	var admin string
	select {
	case admin = <-ready:
	case err := <-done:
		t.Fatalf("serve: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not start")
	}
	tok, err := os.ReadFile(filepath.Join(dir, app.TokenFile))
	if err != nil {
		t.Fatal(err)
	}
	s := &server{admin: admin, token: strings.TrimSpace(string(tok))}
	stopped := false
	s.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve returned %v", err)
		}
	}
	t.Cleanup(s.stop)
	return s
}

// waitCertReady polls the API until certificate name is ready, failing at
// once if it turns to error.
func waitCertReady(t *testing.T, s *server, name string, d time.Duration) apiResp {
	t.Helper()
	var r apiResp
	waitFor(t, d, "certificate "+name+" to be ready", func() bool {
		r = s.must(t, 200, "GET", "/v1/certificates/"+name, nil)
		if r.body["status"] == "error" {
			t.Fatalf("certificate %s: %s", name, r.raw)
		}
		return r.body["status"] == "ready"
	})
	return r
}

// verifyServed checks that an https frontend on port serves, for sni, a
// chain that pebble's root verifies for that name, and proxies a request.
func verifyServed(t *testing.T, port int, sni string, roots *x509.CertPool) {
	t.Helper()
	resp, err := httpsClient(t, port, roots, true).Get("https://" + sni + "/")
	if err != nil {
		t.Fatalf("GET https://%s/ through the frontend: %v", sni, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
		t.Fatalf("status %d over %s", resp.StatusCode, resp.Proto)
	}
	if leaf := resp.TLS.PeerCertificates[0]; leaf.VerifyHostname(sni) != nil {
		t.Fatalf("served %v for %s", leaf.DNSNames, sni)
	}
}

// TestE2EACME obtains letsencrypt certificates from pebble through gantry
// serve: first over HTTP-01, answered by an http frontend (which redirects
// everything else to https), then over TLS-ALPN-01, answered by the https
// frontend itself. certmagic cannot answer either on its own: gantry holds
// both ports. The status goes pending → ready, and the frontend serves a
// chain pebble's root verifies.
func TestE2EACME(t *testing.T) {
	if testing.Short() {
		t.Skip("starts pebble")
	}
	ports := freeTCPUDPPorts(t, 2)
	httpPort, tlsPort := ports[0], ports[1]
	pe := startPebble(t, httpPort, tlsPort)
	be := startBackend(t, "app", nil)
	at := serverAt(be.addr)
	acme := app.ACMEOptions{DirectoryURL: pe.dirURL, CABundleFile: pe.caFile, HTTPPort: httpPort, TLSALPNPort: tlsPort,
		ListenHost: "127.0.0.1", RetryMin: time.Second}

	setup := func(t *testing.T, s *server, cert, cn string, plain bool) {
		t.Helper()
		s.must(t, 200, "PUT", "/v1/lbs/web", map[string]any{"ips": []string{"127.0.0.1"}})
		s.must(t, 200, "PUT", "/v1/lbs/web/backends/app", map[string]any{"forward_protocol": "http",
			"servers": []any{map[string]any{"ip": at.IP, "port": at.Port}}})
		r := s.must(t, 200, "PUT", "/v1/certificates/"+cert, map[string]any{"type": "letsencrypt", "common_name": cn,
			"subject_alternative_name": []string{"alt-" + cn}})
		if r.body["status"] != "pending" {
			t.Fatalf("a new letsencrypt certificate: %s", r.raw)
		}
		if plain {
			s.must(t, 200, "PUT", "/v1/lbs/web/frontends/plain", map[string]any{"inbound_port": httpPort, "protocol": "http",
				"backend": "app", "https_redirect": map[string]any{"code": 308}})
		}
		s.must(t, 200, "PUT", "/v1/lbs/web/frontends/tls?wait=applied", map[string]any{"inbound_port": tlsPort, "protocol": "https",
			"backend": "app", "certificates": []string{cert}})
	}

	t.Run("http-01", func(t *testing.T) {
		o := acme
		o.DisableTLSALPN01 = true
		s := startServeWith(t, t.TempDir(), o)
		setup(t, s, "www", "www.example.com", true)
		r := waitCertReady(t, s, "www", 90*time.Second)
		if r.body["fingerprint"] == "" || r.body["not_valid_after"] == nil {
			t.Errorf("a ready certificate without its details: %s", r.raw)
		}
		roots := pe.roots(t)
		verifyServed(t, tlsPort, "www.example.com", roots)
		verifyServed(t, tlsPort, "alt-www.example.com", roots)
		// Everything but the challenges is redirected.
		out := rawExchange(t, "127.0.0.1:"+strconv.Itoa(httpPort), "GET /x HTTP/1.1\r\nHost: www.example.com\r\nConnection: close\r\n\r\n")
		if !strings.HasPrefix(out, "HTTP/1.1 308 ") || !strings.Contains(out, "Location: https://www.example.com/x\r\n") {
			t.Errorf("plain request: %q", out)
		}
		s.stop() // frees both ports
	})

	t.Run("tls-alpn-01", func(t *testing.T) {
		o := acme
		o.DisableHTTP01 = true
		s := startServeWith(t, t.TempDir(), o)
		setup(t, s, "alpn", "alpn.example.com", false)
		waitCertReady(t, s, "alpn", 90*time.Second)
		verifyServed(t, tlsPort, "alpn.example.com", pe.roots(t))
		s.stop()
	})
}
