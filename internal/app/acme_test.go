package app_test

import (
	"crypto/x509"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gantry-lb/gantry/internal/app"
	"github.com/gantry-lb/gantry/internal/certs/pebbletest"
)

// withACME sets gantry serve's ACME options.
func withACME(o app.ACMEOptions) func(*app.ServeOptions) {
	return func(so *app.ServeOptions) { so.ACME, so.DrainTimeout = o, 2*time.Second }
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
	ports := pebbletest.FreePorts(t, 2)
	httpPort, tlsPort := ports[0], ports[1]
	pe := pebbletest.Start(t, pebbletest.Options{HTTPPort: httpPort, TLSPort: tlsPort})
	be := startBackend(t, "app", nil)
	at := serverAt(be.addr)
	acme := app.ACMEOptions{DirectoryURL: pe.DirURL, CABundleFile: pe.CAFile, HTTPPort: httpPort, TLSALPNPort: tlsPort,
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
		s := startServe(t, t.TempDir(), withACME(o))
		setup(t, s, "www", "www.example.com", true)
		r := waitCertReady(t, s, "www", 90*time.Second)
		if r.body["fingerprint"] == "" || r.body["not_valid_after"] == nil {
			t.Errorf("a ready certificate without its details: %s", r.raw)
		}
		roots := pe.Roots(t)
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
		s := startServe(t, t.TempDir(), withACME(o))
		setup(t, s, "alpn", "alpn.example.com", false)
		waitCertReady(t, s, "alpn", 90*time.Second)
		verifyServed(t, tlsPort, "alpn.example.com", pe.Roots(t))
		s.stop()
	})
}
