package app_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pires/go-proxyproto/tlvparse"
	"golang.org/x/net/http2"

	"github.com/gantry-lb/gantry/internal/app"
	"github.com/gantry-lb/gantry/internal/config"
)

// testCA is a certificate authority made by a test.
type testCA struct {
	cert *x509.Certificate
	key  crypto.Signer
	pem  string
	pool *x509.CertPool
}

func newTestCA(t testing.TB, cn string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pem: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), pool: pool}
}

var serial atomic.Int64

// issue signs a leaf for names (the first is the CN) valid from nb to na;
// client makes it a client certificate. It returns the leaf and key PEM
// and the leaf.
func (ca *testCA) issue(t testing.TB, client bool, nb, na time.Time, names ...string) (string, string, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	eku := x509.ExtKeyUsageServerAuth
	if client {
		eku = x509.ExtKeyUsageClientAuth
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial.Add(1) + 1), Subject: pkix.Name{CommonName: names[0]},
		NotBefore: nb, NotAfter: na, DNSNames: names, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{eku}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalPKCS8PrivateKey(key)
	leaf, _ := x509.ParseCertificate(der)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd})), leaf
}

// server issues a server certificate valid now, as a certificate_chain
// (leaf, CA, key) and its leaf.
func (ca *testCA) server(t testing.TB, names ...string) (string, *x509.Certificate) {
	t.Helper()
	c, k, leaf := ca.issue(t, false, time.Now().Add(-time.Minute), time.Now().Add(24*time.Hour), names...)
	return c + ca.pem + k, leaf
}

// clientCert is a tls.Certificate for client authentication.
func (ca *testCA) clientCert(t testing.TB, cn string) tls.Certificate {
	t.Helper()
	c, k, _ := ca.issue(t, true, time.Now().Add(-time.Minute), time.Now().Add(time.Hour), cn)
	pair, err := tls.X509KeyPair([]byte(c), []byte(k))
	if err != nil {
		t.Fatal(err)
	}
	return pair
}

func fingerprint(c *x509.Certificate) string {
	s := sha1.Sum(c.Raw)
	return hex.EncodeToString(s[:])
}

// handshake opens a TLS connection to port with sni and returns the
// served leaf; the connection is closed.
func handshake(t testing.TB, port int, sni string, roots *x509.CertPool) *x509.Certificate {
	t.Helper()
	// The default certificate does not name every SNI: check the chain
	// only.
	c, err := tls.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port), &tls.Config{ServerName: sni, InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("handshake with SNI %q: %v", sni, err)
	}
	defer c.Close()
	st := c.ConnectionState()
	inter := x509.NewCertPool()
	for _, ic := range st.PeerCertificates[1:] {
		inter.AddCert(ic)
	}
	if _, err := st.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter}); err != nil {
		t.Fatalf("SNI %q: the served chain does not verify: %v", sni, err)
	}
	return st.PeerCertificates[0]
}

// httpsClient sends every request to 127.0.0.1:port over TLS (the URL's
// host is the SNI and Host), HTTP/1.1 only unless h2, with a client
// certificate when given (sent even when the server asks for others).
func httpsClient(t testing.TB, port int, roots *x509.CertPool, h2 bool, certs ...tls.Certificate) *http.Client {
	t.Helper()
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cfg := &tls.Config{RootCAs: roots}
	if len(certs) > 0 {
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &certs[0], nil }
	}
	if !h2 {
		cfg.NextProtos = []string{"http/1.1"}
	}
	tr := &http.Transport{
		TLSClientConfig: cfg,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
		ForceAttemptHTTP2: h2,
	}
	if !h2 {
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// tlsSetup is a gantry serve with an LB "web" on 127.0.0.1, a backend
// "app" that echoes what it saw, and two custom certificates signed by ca:
// "site" (a.example.com) and "other" (b.example.com).
type tlsSetup struct {
	s        *server
	ca       *testCA
	app      *backend
	siteLeaf *x509.Certificate
}

func startTLSSetup(t *testing.T) *tlsSetup {
	t.Helper()
	ts := &tlsSetup{s: startServe(t, t.TempDir()), ca: newTestCA(t, "gantry test CA")}
	ts.app = startBackend(t, "app", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Strict-Transport-Security", "max-age=1")
		fmt.Fprintf(w, "proto=%s xfp=%s fwd=%s host=%s", r.Proto, r.Header.Get("X-Forwarded-Proto"), r.Header.Get("Forwarded"), r.Host)
	})
	ts.s.must(t, 200, "PUT", "/v1/lbs/web", map[string]any{"ips": []string{"127.0.0.1"}})
	at := serverAt(ts.app.addr)
	ts.s.must(t, 200, "PUT", "/v1/lbs/web/backends/app", map[string]any{"forward_protocol": "http", "servers": []any{map[string]any{"ip": at.IP, "port": at.Port}}})
	var site string
	site, ts.siteLeaf = ts.ca.server(t, "a.example.com")
	ts.s.must(t, 200, "PUT", "/v1/certificates/site", map[string]any{"type": "custom", "certificate_chain": site})
	other, _ := ts.ca.server(t, "b.example.com")
	ts.s.must(t, 200, "PUT", "/v1/certificates/other", map[string]any{"certificate_chain": other})
	return ts
}

// TestE2ETLSTermination drives TLS termination through gantry serve's
// API: SNI selection with a default, HTTP/1.1 and h2 by ALPN to an
// HTTP/1.1 backend, X-Forwarded-Proto and Forwarded, HSTS, hot swap,
// redirects, mTLS with the PROXY v2 SSL TLVs, TLS to backends, and that no
// answer ever shows key material.
func TestE2ETLSTermination(t *testing.T) {
	ts := startTLSSetup(t)
	s, ca := ts.s, ts.ca
	tlsPort := freePort(t)
	s.must(t, 200, "PUT", "/v1/lbs/web/frontends/tls?wait=applied", map[string]any{"inbound_port": tlsPort, "protocol": "https",
		"backend": "app", "certificates": []string{"site", "other"}, "forwarded": true,
		"hsts": map[string]any{"max_age": 31536000, "include_subdomains": true}})

	t.Run("sni picks the certificate, the first is the default", func(t *testing.T) {
		for sni, want := range map[string]string{"a.example.com": "a.example.com", "B.Example.com": "b.example.com",
			"c.example.com": "a.example.com", "": "a.example.com"} {
			if got := handshake(t, tlsPort, sni, ca.pool).Subject.CommonName; got != want {
				t.Errorf("SNI %q: served %s, want %s", sni, got, want)
			}
		}
	})

	t.Run("http/1.1 and h2 reach an HTTP/1.1 backend as https", func(t *testing.T) {
		for _, h2 := range []bool{false, true} {
			resp, err := httpsClient(t, tlsPort, ca.pool, h2).Get("https://b.example.com/x?y=1")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			wantProto := map[bool]int{false: 1, true: 2}[h2]
			if resp.StatusCode != 200 || resp.ProtoMajor != wantProto || resp.TLS.NegotiatedProtocol != map[bool]string{false: "http/1.1", true: "h2"}[h2] {
				t.Fatalf("h2=%v: %d %s %q", h2, resp.StatusCode, resp.Proto, resp.TLS.NegotiatedProtocol)
			}
			if b := string(body); !strings.Contains(b, "proto=HTTP/1.1 xfp=https") || !strings.Contains(b, "proto=https") || !strings.Contains(b, "host=b.example.com") {
				t.Errorf("h2=%v: the backend saw %s", h2, b)
			}
			if v := resp.Header.Values("Strict-Transport-Security"); len(v) != 1 || v[0] != "max-age=31536000; includeSubDomains" {
				t.Errorf("h2=%v: HSTS %q", h2, v)
			}
		}
	})

	t.Run("a replaced certificate is served to new handshakes at once", func(t *testing.T) {
		old := handshake(t, tlsPort, "a.example.com", ca.pool)
		// A kept-alive connection opened before the swap.
		c, err := tls.Dial("tcp", "127.0.0.1:"+strconv.Itoa(tlsPort), &tls.Config{ServerName: "a.example.com", RootCAs: ca.pool, NextProtos: []string{"http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		br := bufio.NewReader(c)
		ask := func() {
			t.Helper()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: a.example.com\r\n\r\n")
			if resp, _ := readResponse(t, br, "GET"); resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
		}
		ask()
		fresh, leaf := ca.server(t, "a.example.com")
		r := s.must(t, 200, "PUT", "/v1/certificates/site?wait=applied", map[string]any{"certificate_chain": fresh})
		if r.body["fingerprint"] != fingerprint(leaf) || r.body["status"] != "ready" {
			t.Fatalf("answer %s", r.raw)
		}
		if got := handshake(t, tlsPort, "a.example.com", ca.pool); fingerprint(got) != fingerprint(leaf) || fingerprint(got) == fingerprint(old) {
			t.Fatalf("a new handshake got %s, want the new %s", fingerprint(got), fingerprint(leaf))
		}
		ask() // the old connection carries on, with the certificate it had
		if got := c.ConnectionState().PeerCertificates[0]; fingerprint(got) != fingerprint(old) {
			t.Errorf("the open connection's certificate changed")
		}
	})

	t.Run("http redirects to https with the configured code", func(t *testing.T) {
		plain := freePort(t)
		for _, code := range []int{0, 301, 302, 303, 307, 308} {
			redirect := map[string]any{"port": tlsPort}
			if code != 0 {
				redirect["code"] = code
			}
			s.must(t, 200, "PUT", "/v1/lbs/web/frontends/plain?wait=applied", map[string]any{"inbound_port": plain, "protocol": "http",
				"backend": "app", "https_redirect": redirect})
			want := max(code, 301)
			out := rawExchange(t, "127.0.0.1:"+strconv.Itoa(plain), "GET /p/q?x=1&y=%20 HTTP/1.1\r\nHost: a.example.com:"+strconv.Itoa(plain)+"\r\nConnection: close\r\n\r\n")
			loc := fmt.Sprintf("https://a.example.com:%d/p/q?x=1&y=%%20", tlsPort)
			if !strings.HasPrefix(out, fmt.Sprintf("HTTP/1.1 %d ", want)) || !strings.Contains(out, "\r\nLocation: "+loc+"\r\n") {
				t.Fatalf("code %d: %q", code, out)
			}
		}
		// Following it lands on the https frontend.
		resp, err := httpsClient(t, tlsPort, ca.pool, false).Get(fmt.Sprintf("https://a.example.com:%d/p/q?x=1", tlsPort))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("following the redirect: %v %v", resp, err)
		}
		resp.Body.Close()
		s.must(t, 204, "DELETE", "/v1/lbs/web/frontends/plain?wait=applied", nil)
	})

	t.Run("mTLS refuses clients without a valid certificate", func(t *testing.T) {
		clientCA, stranger := newTestCA(t, "client CA"), newTestCA(t, "another CA")
		port := freePort(t)
		put := func(mode string) {
			s.must(t, 200, "PUT", "/v1/lbs/web/frontends/mtls?wait=applied", map[string]any{"inbound_port": port, "protocol": "https",
				"backend": "app", "certificates": []string{"site"}, "client_ca": clientCA.pem, "client_auth": mode})
		}
		get := func(certs ...tls.Certificate) error {
			resp, err := httpsClient(t, port, ca.pool, false, certs...).Get("https://a.example.com/")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode != 200 {
					return fmt.Errorf("status %d", resp.StatusCode)
				}
			}
			return err
		}
		put("required")
		if err := get(); err == nil {
			t.Error("required: a client without a certificate got through")
		}
		if err := get(stranger.clientCert(t, "mallory")); err == nil {
			t.Error("required: a certificate of another CA got through")
		}
		if err := get(clientCA.clientCert(t, "alice")); err != nil {
			t.Errorf("required: a valid client certificate was refused: %v", err)
		}
		put("optional")
		if err := get(); err != nil {
			t.Errorf("optional: a client without a certificate was refused: %v", err)
		}
		if err := get(stranger.clientCert(t, "mallory")); err == nil {
			t.Error("optional: a certificate of another CA got through")
		}
		s.must(t, 204, "DELETE", "/v1/lbs/web/frontends/mtls?wait=applied", nil)
	})

	t.Run("PROXY v2 carries the client's TLS state", func(t *testing.T) {
		clientCA := newTestCA(t, "client CA")
		pb := startProxyBackend(t, true)
		at := serverAt(pb.addr)
		port := freePort(t)
		s.must(t, 200, "PUT", "/v1/lbs/web/backends/pp", map[string]any{"forward_protocol": "http", "proxy_protocol": "proxy_protocol_v2_ssl_cn",
			"servers": []any{map[string]any{"ip": at.IP, "port": at.Port}}})
		s.must(t, 200, "PUT", "/v1/lbs/web/frontends/pp?wait=applied", map[string]any{"inbound_port": port, "protocol": "https",
			"backend": "pp", "certificates": []string{"site"}, "client_ca": clientCA.pem})
		resp, err := httpsClient(t, port, ca.pool, false, clientCA.clientCert(t, "alice")).Get("https://a.example.com/")
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%v %v", resp, err)
		}
		resp.Body.Close()
		select {
		case hdr := <-pb.seen:
			tlvs, err := hdr.TLVs()
			if err != nil {
				t.Fatal(err)
			}
			ssl, ok := tlvparse.FindSSL(tlvs)
			if !ok || !ssl.ClientSSL() || !ssl.ClientCertConn() || !ssl.Verified() {
				t.Fatalf("SSL TLV %+v", ssl)
			}
			cn, _ := ssl.ClientCN()
			ver, _ := ssl.SSLVersion()
			if cn != "alice" || ver != "TLSv1.3" {
				t.Errorf("CN %q, version %q", cn, ver)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no PROXY header")
		}
		s.must(t, 204, "DELETE", "/v1/lbs/web/frontends/pp?wait=applied", nil)
	})

	t.Run("TLS to servers with SNI, verified unless told not to", func(t *testing.T) {
		srvCert, _ := ca.server(t, "backend.internal")
		pair, err := tls.X509KeyPair([]byte(srvCert), []byte(srvCert))
		if err != nil {
			t.Fatal(err)
		}
		var sni atomic.Value
		ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair},
			GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) { sni.Store(h.ServerName); return nil, nil }})
		if err != nil {
			t.Fatal(err)
		}
		hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "tls=%v host=%s", r.TLS != nil, r.Host)
		})}
		go hs.Serve(ln)
		t.Cleanup(func() { hs.Close() })
		at := serverAt(ln.Addr().String())
		backend := func(extra map[string]any) {
			b := map[string]any{"forward_protocol": "http", "ssl_bridging": true, "servers": []any{map[string]any{"ip": at.IP, "port": at.Port}}}
			for k, v := range extra {
				b[k] = v
			}
			s.must(t, 200, "PUT", "/v1/lbs/web/backends/secure", b)
		}
		backend(map[string]any{"ignore_ssl_server_verify": true})
		port := freePort(t)
		s.must(t, 200, "PUT", "/v1/lbs/web/frontends/bridge?wait=applied", map[string]any{"inbound_port": port, "protocol": "https",
			"backend": "secure", "certificates": []string{"site"}})
		get := func() (int, string) {
			resp, err := httpsClient(t, port, ca.pool, false).Get("https://a.example.com/")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		if code, body := get(); code != 200 || body != "tls=true host=a.example.com" || sni.Load() != "a.example.com" {
			t.Fatalf("%d %q sni %v", code, body, sni.Load())
		}
		backend(map[string]any{"ignore_ssl_server_verify": true, "host": "backend.internal"})
		s.must(t, 200, "PUT", "/v1/lbs/web/frontends/bridge?wait=applied", map[string]any{"inbound_port": port, "protocol": "https",
			"backend": "secure", "certificates": []string{"site"}, "timeout_client": 30001})
		if code, body := get(); code != 200 || body != "tls=true host=backend.internal" || sni.Load() != "backend.internal" {
			t.Fatalf("host override: %d %q sni %v", code, body, sni.Load())
		}
		// Verified against the system roots, which do not know the test CA.
		backend(map[string]any{"host": "backend.internal"})
		s.must(t, 200, "PUT", "/v1/lbs/web/frontends/bridge?wait=applied", map[string]any{"inbound_port": port, "protocol": "https",
			"backend": "secure", "certificates": []string{"site"}, "timeout_client": 30002})
		if code, _ := get(); code != 503 {
			t.Fatalf("an unverifiable server was used: %d", code)
		}
		s.must(t, 204, "DELETE", "/v1/lbs/web/frontends/bridge?wait=applied", nil)
	})

	t.Run("bad certificates are refused with the reason and nothing stored", func(t *testing.T) {
		chain, key, _ := ca.issue(t, false, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), "d.example.com")
		_, otherKey, _ := ca.issue(t, false, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), "e.example.com")
		expired, expiredKey, _ := ca.issue(t, false, time.Now().Add(-3*time.Hour), time.Now().Add(-2*time.Hour), "f.example.com")
		for _, tt := range []struct{ name, chain, key, field, why string }{
			{"bad PEM", "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n" + key, "", "certificate_chain", "X.509"},
			{"mismatched key", chain, otherKey, "private_key", "does not match"},
			{"expired", expired + expiredKey, "", "certificate_chain", "expired"},
		} {
			r := s.call(t, "PUT", "/v1/certificates/bad", map[string]any{"type": "custom", "certificate_chain": tt.chain, "private_key": tt.key})
			if r.status != 422 || !strings.Contains(r.raw, `"field":"`+tt.field+`"`) || !strings.Contains(r.raw, tt.why) {
				t.Errorf("%s: %d %s", tt.name, r.status, r.raw)
			}
			s.must(t, 404, "GET", "/v1/certificates/bad", nil)
		}
	})

	t.Run("no answer shows key material", func(t *testing.T) {
		for _, p := range []string{"/v1/certificates/site", "/v1/certificates", "/v1/config", "/v1/history?limit=100"} {
			r := s.must(t, 200, "GET", p, nil)
			if strings.Contains(r.raw, "PRIVATE") || strings.Contains(r.raw, "sealed_key") {
				t.Errorf("GET %s shows key material", p)
			}
		}
	})
}

// TestIntegrationHTTPSNeedsServe: a data plane without a certificate
// Manager (gantry run) refuses an https frontend rather than serving it in
// clear.
func TestIntegrationHTTPSNeedsServe(t *testing.T) {
	d := app.NewDataplane(testLog(t))
	t.Cleanup(func() { d.Shutdown(context.Background()) })
	cfg := &config.Config{
		Certificates: []config.Certificate{{Name: "c", Type: config.CertLetsEncrypt, CommonName: "a.example.com"}},
		LBs: []config.LB{{Name: "x", IPs: []string{"127.0.0.1"},
			Backends:  []config.Backend{{Name: "b", ForwardProtocol: config.ProtocolHTTP, Servers: []config.Server{{IP: "127.0.0.1", Port: 9}}}},
			Frontends: []config.Frontend{{Name: "f", InboundPort: freePort(t), Protocol: config.ProtocolHTTPS, Backend: "b", Certificates: []string{"c"}}}}}}
	if err := d.Apply(cfg); err == nil || !strings.Contains(err.Error(), "TLS termination needs gantry serve") {
		t.Fatalf("Apply: %v", err)
	}
}

// startH2Server serves h with HTTP/2 only: h2c with prior knowledge, or
// with cert (a PEM chain and key) h2 by ALPN over TLS. It returns its
// address.
func startH2Server(t *testing.T, cert string, h http.HandlerFunc) string {
	t.Helper()
	var cfg *tls.Config
	if cert != "" {
		pair, err := tls.X509KeyPair([]byte(cert), []byte(cert))
		if err != nil {
			t.Fatal(err)
		}
		cfg = &tls.Config{Certificates: []tls.Certificate{pair}, NextProtos: []string{"h2"}}
	}
	srv := &http2.Server{}
	return rawServer(t, func(c net.Conn, _ int) {
		if cfg != nil {
			tc := tls.Server(c, cfg)
			if tc.Handshake() != nil || tc.ConnectionState().NegotiatedProtocol != "h2" {
				return
			}
			c = tc
		}
		srv.ServeConn(c, &http2.ServeConnOpts{Handler: h})
	})
}

// grpcEcho answers like a unary gRPC method: the request message back,
// grpc-status and grpc-message as trailers; only over HTTP/2 with TE:
// trailers.
func grpcEcho(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor != 2 || r.Header.Get("Te") != "trailers" || r.Header.Get("Content-Type") != "application/grpc" {
		http.Error(w, fmt.Sprintf("not gRPC: %s te=%q ct=%q", r.Proto, r.Header.Get("Te"), r.Header.Get("Content-Type")), 400)
		return
	}
	msg, _ := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "application/grpc")
	w.Header().Set("Trailer", "Grpc-Status, Grpc-Message")
	w.Header().Set("X-Proto", r.Header.Get("X-Forwarded-Proto"))
	w.WriteHeader(200)
	w.Write(msg)
	w.Header().Set("Grpc-Status", "0")
	sni := ""
	if r.TLS != nil {
		sni = r.TLS.ServerName
	}
	w.Header().Set("Grpc-Message", "ok "+sni)
}

// TestE2EGRPCPassthrough: a backend with h2 gets HTTP/2 streams, trailers
// both ways: gRPC through an https frontend to an h2c server and, with
// ssl_bridging, to a server speaking h2 over TLS; an HTTP/1.1 client
// reaches it too, with the trailers in its chunked answer.
func TestE2EGRPCPassthrough(t *testing.T) {
	ts := startTLSSetup(t)
	s, ca := ts.s, ts.ca
	h2c := serverAt(startH2Server(t, "", grpcEcho))
	srvCert, _ := ca.server(t, "grpc.internal")
	h2tls := serverAt(startH2Server(t, srvCert, grpcEcho))
	s.must(t, 200, "PUT", "/v1/lbs/web/backends/grpc", map[string]any{"forward_protocol": "http", "h2": true,
		"servers": []any{map[string]any{"ip": h2c.IP, "port": h2c.Port}}})
	s.must(t, 200, "PUT", "/v1/lbs/web/backends/grpcs", map[string]any{"forward_protocol": "http", "h2": true, "ssl_bridging": true,
		"ignore_ssl_server_verify": true, "host": "grpc.internal", "servers": []any{map[string]any{"ip": h2tls.IP, "port": h2tls.Port}}})
	port := freePort(t)
	s.must(t, 200, "PUT", "/v1/lbs/web/frontends/grpc?wait=applied", map[string]any{"inbound_port": port, "protocol": "https",
		"backend": "grpc", "certificates": []string{"site", "other"},
		"routes": []any{map[string]any{"backend": "grpcs", "match": map[string]any{"host_header": "b.example.com"}}}})
	msg := []byte{0, 0, 0, 0, 5, 'h', 'e', 'l', 'l', 'o'} // one gRPC message frame
	for _, tt := range []struct{ host, wantMsg string }{{"a.example.com", "ok "}, {"b.example.com", "ok grpc.internal"}} {
		req, _ := http.NewRequest("POST", "https://"+tt.host+"/echo.Echo/Say", bytes.NewReader(msg))
		req.Header.Set("Content-Type", "application/grpc")
		req.Header.Set("Te", "trailers")
		resp, err := httpsClient(t, port, ca.pool, true).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || !bytes.Equal(body, msg) || resp.Header.Get("X-Proto") != "https" {
			t.Fatalf("%s: %d %q %v %v", tt.host, resp.StatusCode, body, resp.Header, err)
		}
		if resp.Trailer.Get("Grpc-Status") != "0" || resp.Trailer.Get("Grpc-Message") != tt.wantMsg {
			t.Fatalf("%s: trailers %v", tt.host, resp.Trailer)
		}
	}
	// HTTP/1.1 to the same backend: chunked, the trailers in the last chunk.
	c, err := tls.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port), &tls.Config{ServerName: "a.example.com", RootCAs: ca.pool, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "POST /echo.Echo/Say HTTP/1.1\r\nHost: a.example.com\r\nContent-Type: application/grpc\r\nTE: trailers\r\nContent-Length: %d\r\n\r\n%s", len(msg), msg)
	resp, body := readResponse(t, bufio.NewReader(c), "POST")
	if resp.StatusCode != 200 || body != string(msg) || resp.Trailer.Get("Grpc-Status") != "0" || len(resp.TransferEncoding) == 0 {
		t.Fatalf("HTTP/1.1: %d %q %v %v", resp.StatusCode, body, resp.Trailer, resp.TransferEncoding)
	}
}

// TestE2EH2BackendSkipsDeadServer: with an h2 backend whose first server
// refuses connections, concurrent requests (which share one dial per
// server) all move on to the live server.
func TestE2EH2BackendSkipsDeadServer(t *testing.T) {
	ts := startTLSSetup(t)
	s, ca := ts.s, ts.ca
	h2c := serverAt(startH2Server(t, "", grpcEcho))
	s.must(t, 200, "PUT", "/v1/lbs/web/backends/grpc", map[string]any{"forward_protocol": "http", "h2": true, "forward_port_algorithm": "first",
		"servers": []any{map[string]any{"ip": "127.0.0.1", "port": 1}, map[string]any{"ip": h2c.IP, "port": h2c.Port}}})
	port := freePort(t)
	s.must(t, 200, "PUT", "/v1/lbs/web/frontends/grpc?wait=applied", map[string]any{"inbound_port": port, "protocol": "https",
		"backend": "grpc", "certificates": []string{"site"}})
	msg := []byte{0, 0, 0, 0, 5, 'h', 'e', 'l', 'l', 'o'}
	client := httpsClient(t, port, ca.pool, true)
	errs := make(chan error, 6)
	for range 6 {
		go func() {
			req, _ := http.NewRequest("POST", "https://a.example.com/echo.Echo/Say", bytes.NewReader(msg))
			req.Header.Set("Content-Type", "application/grpc")
			req.Header.Set("Te", "trailers")
			resp, err := client.Do(req)
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					err = fmt.Errorf("status %d", resp.StatusCode)
				}
			}
			errs <- err
		}()
	}
	for range 6 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
