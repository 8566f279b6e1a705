// Package pebbletest runs pebble, Let's Encrypt's ACME test CA, with its
// DNS server pebble-challtestsrv, on loopback for one test, so that
// gantry's ACME tests (internal/certs, and gantry serve end to end in
// internal/app) obtain real certificates through the whole protocol.
//
// Both tools are installed with go install by make deps (LookBin finds
// them); a missing one fails the test, it is never skipped. Every name
// resolves to 127.0.0.1 (A only), pebble validates HTTP-01 and TLS-ALPN-01
// on the ports the test gives, and both processes are killed by PID and
// their temp dir removed at cleanup. It is test-only code: it is imported
// by _test.go files only, and imports no gantry package (internal/certs'
// own tests import it).
package pebbletest

import (
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
	"log"
	"math/big"
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
)

// DefaultValidity is the validity of the "default" profile when Options
// names no profile: 90 days, as Let's Encrypt's.
const DefaultValidity = 90 * 24 * 3600

// Options say how to run pebble.
type Options struct {
	// HTTPPort is where pebble validates HTTP-01 challenges, TLSPort where
	// it validates TLS-ALPN-01 ones (on 127.0.0.1).
	HTTPPort, TLSPort int
	// Profiles maps an ACME profile name to the validity of what it
	// issues, in seconds; "default" is required. Empty: only "default",
	// of DefaultValidity.
	Profiles map[string]int
	// ShowLogs prints pebble's and challtestsrv's logs at cleanup even
	// when the test passed (they are always printed when it failed).
	ShowLogs bool
}

// Pebble is a running pebble CA. The directory is reached through a
// reverse proxy that counts the orders placed (Orders); pebble's HTTPS
// listeners use a certificate of a CA made for the test (CAPEM).
type Pebble struct {
	// DirURL is the ACME directory URL, through the counting proxy.
	DirURL string
	// MgmtURL is pebble's management interface (roots, intermediates).
	MgmtURL string
	// CAPEM is the PEM of the CA that signs pebble's own HTTPS
	// certificate; CAFile holds it too.
	CAPEM, CAFile string
	// Client trusts CAPEM.
	Client *http.Client
	// HTTPPort and TLSPort are Options' ports.
	HTTPPort, TLSPort int

	orders atomic.Int64
}

// Orders returns how many orders were placed so far (POST /order-plz).
func (p *Pebble) Orders() int64 { return p.orders.Load() }

// LookBin finds a tool installed with go install: on PATH (the Makefile
// puts $(go env GOPATH)/bin there) or in GOPATH/bin. A missing tool fails
// the test: make deps installs it.
func LookBin(t testing.TB, name string) string {
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

// FreePorts returns n distinct loopback ports that are free for both TCP
// and UDP right now (all are held until every one is chosen, so they
// differ from each other).
func FreePorts(t testing.TB, n int) []int {
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

// startProcess runs a command until the test ends (killed by PID), logging
// to a file that is printed if the test fails, or always with show.
func startProcess(t testing.TB, dir, logName string, show bool, env []string, name string, args ...string) {
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
		if t.Failed() || show {
			b, _ := os.ReadFile(logPath)
			t.Logf("%s log:\n%s", logName, b)
		}
	})
}

// listenerCert makes a CA and a certificate it signs for localhost and
// 127.0.0.1, for pebble's HTTPS listeners.
func listenerCert(t testing.TB) (ca *x509.Certificate, leaf tls.Certificate) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pebble listener CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	if ca, err = x509.ParseCertificate(caDER); err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	l, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return ca, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: l}
}

// Start starts pebble-challtestsrv and pebble as o says, and waits until
// the directory answers (15 s at most).
func Start(t testing.TB, o Options) *Pebble {
	t.Helper()
	pebbleBin, challBin := LookBin(t, "pebble"), LookBin(t, "pebble-challtestsrv")
	dir := t.TempDir()

	// pebble's own HTTPS certificate, from a CA of ours.
	ca, leaf := listenerCert(t)
	keyDER, err := x509.MarshalPKCS8PrivateKey(leaf.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	caPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw}))
	certFile, keyFile, caFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), filepath.Join(dir, "ca.pem")
	for f, b := range map[string][]byte{
		certFile: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.Certificate[0]}),
		keyFile:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		caFile:   []byte(caPEM),
	} {
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	ports := FreePorts(t, 4)
	listenPort, mgmtPort, challMgmtPort, dnsPort := ports[0], ports[1], ports[2], ports[3]
	profiles := o.Profiles
	if len(profiles) == 0 {
		profiles = map[string]int{"default": DefaultValidity}
	}
	profs := map[string]any{}
	for name, secs := range profiles {
		profs[name] = map[string]any{"description": name, "validityPeriod": secs}
	}
	cfg, err := json.Marshal(map[string]any{"pebble": map[string]any{
		"listenAddress":                  "127.0.0.1:" + strconv.Itoa(listenPort),
		"managementListenAddress":        "127.0.0.1:" + strconv.Itoa(mgmtPort),
		"certificate":                    certFile,
		"privateKey":                     keyFile,
		"httpPort":                       o.HTTPPort,
		"tlsPort":                        o.TLSPort,
		"ocspResponderURL":               "",
		"externalAccountBindingRequired": false,
		"retryAfter":                     map[string]int{"authz": 0, "order": 0},
		"keyAlgorithm":                   "ecdsa",
		"profiles":                       profs,
	}})
	if err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(dir, "pebble-config.json")
	if err := os.WriteFile(cfgFile, cfg, 0o600); err != nil {
		t.Fatal(err)
	}

	dnsAddr := "127.0.0.1:" + strconv.Itoa(dnsPort)
	startProcess(t, dir, "challtestsrv.log", o.ShowLogs, nil, challBin,
		"-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
		"-dnsserver", dnsAddr, "-management", "127.0.0.1:"+strconv.Itoa(challMgmtPort),
		"-http01", "", "-https01", "", "-tlsalpn01", "", "-doh", "")
	startProcess(t, dir, "pebble.log", o.ShowLogs,
		[]string{"PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0"},
		pebbleBin, "-config", cfgFile, "-dnsserver", dnsAddr)

	pool := x509.NewCertPool()
	pool.AddCert(ca)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	t.Cleanup(tr.CloseIdleConnections)
	pe := &Pebble{
		MgmtURL:  "https://127.0.0.1:" + strconv.Itoa(mgmtPort),
		CAPEM:    caPEM,
		CAFile:   caFile,
		Client:   &http.Client{Transport: tr, Timeout: 5 * time.Second},
		HTTPPort: o.HTTPPort,
		TLSPort:  o.TLSPort,
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
	srv := &http.Server{Handler: proxy, TLSConfig: &tls.Config{Certificates: []tls.Certificate{leaf}}, ReadHeaderTimeout: 5 * time.Second}
	go srv.ServeTLS(pln, "", "")
	t.Cleanup(func() { srv.Close() })
	pe.DirURL = "https://" + pln.Addr().String() + "/dir"

	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := pe.Client.Get(pe.DirURL)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("pebble did not answer at %s: %v", pe.DirURL, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return pe
}

// Roots returns pebble's root CA, which signs what it issues.
func (p *Pebble) Roots(t testing.TB) *x509.CertPool {
	t.Helper()
	resp, err := p.Client.Get(p.MgmtURL + "/roots/0")
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
