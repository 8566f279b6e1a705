package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"
)

func testCAPEM(t *testing.T) string {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ca"}, IsCA: true, BasicConstraintsValid: true,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// tlsValid is valid() with two certificates, an https frontend and an
// http one redirecting to it.
func tlsValid(t *testing.T) *Config {
	c := valid()
	c.Certificates = []Certificate{
		{Name: "site", Type: CertCustom, ChainPEM: testCAPEM(t), SealedKey: []byte("sealed")},
		{Name: "www", Type: CertLetsEncrypt, CommonName: "www.example.com", SubjectAlternativeName: []string{"example.com"}},
	}
	lb := &c.LBs[0]
	lb.Frontends = append(lb.Frontends,
		Frontend{Name: "tls", InboundPort: 443, Protocol: ProtocolHTTPS, Backend: "api", Certificates: []string{"site", "www"},
			SSLCompatibilityLevel: "ssl_compatibility_level_modern", HSTS: &HSTS{MaxAge: 31536000, IncludeSubdomains: true, Preload: true},
			ClientCA: testCAPEM(t), ClientAuth: ClientAuthOptional, DisableHTTP2: true},
		Frontend{Name: "plain", InboundPort: 8080, Protocol: ProtocolHTTP, Backend: "api", HTTPSRedirect: &HTTPSRedirect{}})
	lb.Backends[0].SSLBridging, lb.Backends[0].IgnoreSSLServerVerify, lb.Backends[0].H2 = true, true, true
	return c
}

func TestTLSConfigValidates(t *testing.T) {
	d, err := tlsValid(t).Prepare()
	if err != nil {
		t.Fatalf("rejected: %v", err)
	}
	if r := d.LBs[0].Frontends[3].HTTPSRedirect; r.Code != DefaultRedirectCode {
		t.Errorf("redirect code %d, want the default", r.Code)
	}
	if v := d.LBs[0].Frontends[2].HSTS.Value(); v != "max-age=31536000; includeSubDomains; preload" {
		t.Errorf("HSTS %q", v)
	}
	// A frontend with certificates whose protocol is derived from an http
	// backend terminates TLS, as on Scaleway.
	c := tlsValid(t)
	c.LBs[0].Frontends[2].Protocol = ""
	d, err = c.Prepare()
	if err != nil || d.LBs[0].Frontends[2].Protocol != ProtocolHTTPS {
		t.Fatalf("derived protocol: %v %v", err, d)
	}
}

func TestTLSConfigErrors(t *testing.T) {
	fe := "lbs[main].frontends[tls]."
	for _, tt := range []struct {
		name, path, msg string
		edit            func(c *Config)
	}{
		{"duplicate certificate", "certificates[site].name", "duplicate", func(c *Config) { c.Certificates[1].Name = "site" }},
		{"bad type", "certificates[site].type", "custom, letsencrypt", func(c *Config) { c.Certificates[0].Type = "acme" }},
		{"custom without key", "certificates[site].sealed_key", "PUT /v1/certificates/site", func(c *Config) { c.Certificates[0].SealedKey = nil }},
		{"custom without PEM", "certificates[site].chain_pem", "no PEM", func(c *Config) { c.Certificates[0].ChainPEM = "x" }},
		{"custom with names", "certificates[site].common_name", "from its leaf", func(c *Config) { c.Certificates[0].CommonName = "a.example.com" }},
		{"acme wildcard", "certificates[www].common_name", "DNS-01", func(c *Config) { c.Certificates[1].CommonName = "*.example.com" }},
		{"acme IP", "certificates[www].subject_alternative_name[0]", "IP", func(c *Config) { c.Certificates[1].SubjectAlternativeName[0] = "10.0.0.1" }},
		{"acme single label", "certificates[www].common_name", "fully qualified", func(c *Config) { c.Certificates[1].CommonName = "localhost" }},
		{"acme with chain", "certificates[www].chain_pem", "ACME", func(c *Config) { c.Certificates[1].ChainPEM = "x" }},
		{"unknown certificate", fe + "certificates[1]", `no certificate named "nope"`, func(c *Config) { c.LBs[0].Frontends[2].Certificates[1] = "nope" }},
		{"listed twice", fe + "certificates[1]", "twice", func(c *Config) { c.LBs[0].Frontends[2].Certificates[1] = "site" }},
		{"https without certificates", fe + "certificates", "at least one", func(c *Config) { c.LBs[0].Frontends[2].Certificates = nil }},
		{"certificates on http", "lbs[main].frontends[plain].certificates", "protocol https", func(c *Config) { c.LBs[0].Frontends[3].Certificates = []string{"site"} }},
		{"redirect on https", fe + "https_redirect", "only an http frontend", func(c *Config) { c.LBs[0].Frontends[2].HTTPSRedirect = &HTTPSRedirect{} }},
		{"redirect code", "lbs[main].frontends[plain].https_redirect.code", "301, 302", func(c *Config) { c.LBs[0].Frontends[3].HTTPSRedirect.Code = 304 }},
		{"profile", fe + "ssl_compatibility_level", "not one of", func(c *Config) { c.LBs[0].Frontends[2].SSLCompatibilityLevel = "ancient" }},
		{"hsts max_age", fe + "hsts.max_age", "out of range", func(c *Config) { c.LBs[0].Frontends[2].HSTS.MaxAge = 0 }},
		{"hsts preload", fe + "hsts.preload", "include_subdomains", func(c *Config) { c.LBs[0].Frontends[2].HSTS.IncludeSubdomains = false }},
		{"client_auth without CA", fe + "client_auth", "client_ca", func(c *Config) { c.LBs[0].Frontends[2].ClientCA = "" }},
		{"client_auth mode", fe + "client_auth", "optional, required", func(c *Config) { c.LBs[0].Frontends[2].ClientAuth = "maybe" }},
		{"client_ca not PEM", fe + "client_ca", "neither PEM", func(c *Config) { c.LBs[0].Frontends[2].ClientCA = "not a bundle!" }},
		{"tls setting on http", "lbs[main].frontends[plain].hsts", "https frontend", func(c *Config) { c.LBs[0].Frontends[3].HSTS = &HSTS{MaxAge: 1} }},
		{"bridging on tcp", "lbs[main].backends[db].ssl_bridging", "forward_protocol http", func(c *Config) { c.LBs[0].Backends[1].SSLBridging = true }},
		{"ignore verify alone", "lbs[main].backends[api].ignore_ssl_server_verify", "ssl_bridging", func(c *Config) { c.LBs[0].Backends[0].SSLBridging = false }},
		{"h2 with PROXY", "lbs[main].backends[api].h2", "PROXY", func(c *Config) { c.LBs[0].Backends[0].ProxyProtocol = ProxyV2 }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := tlsValid(t)
			tt.edit(c)
			err := c.Validate()
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error %v", err)
			}
			for _, e := range errs {
				if e.Path == tt.path && strings.Contains(e.Msg, tt.msg) {
					return
				}
			}
			t.Fatalf("no error on %s saying %q: %v", tt.path, tt.msg, err)
		})
	}
}
