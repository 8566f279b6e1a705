package api_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gantry-lb/gantry/internal/api"
	"github.com/gantry-lb/gantry/internal/certs"
)

// testSealer seals with a fixed key, as a data directory's would.
func testSealer(t *testing.T) *certs.Sealer {
	t.Helper()
	s, err := certs.NewSealer(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// selfSigned returns a certificate for names valid from nb to na, in
// PEM, and its key in PEM.
func selfSigned(t *testing.T, cn string, nb, na time.Time, names ...string) (certPEM, keyPEM string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: nb, NotAfter: na, DNSNames: append([]string{cn}, names...),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}))
}

func jsonBody(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// withCertificateSteps adds the certificate operations to the payload
// test: certificates and an https frontend before "put frontend" (so
// that the rollback target has them, and the whole config with its sealed
// key goes through GET and PUT /v1/config), and their deletion once the
// LB is gone.
func withCertificateSteps(t *testing.T, steps []payloadStep) []payloadStep {
	now := time.Now()
	chain, key := selfSigned(t, "site.example.com", now.Add(-time.Hour), now.Add(90*24*time.Hour), "www.example.com")
	_, otherKey := selfSigned(t, "other.example.com", now.Add(-time.Hour), now.Add(time.Hour))
	noKey := func(t *testing.T, resp *http.Response, raw []byte, v any) {
		if bytes.Contains(raw, []byte("PRIVATE")) || bytes.Contains(raw, []byte("sealed_key")) {
			t.Errorf("an answer shows key material: %s", raw)
		}
	}
	before := []payloadStep{
		{name: "put custom certificate", method: "PUT", path: "/v1/certificates/site", status: 200,
			body: jsonBody(t, map[string]any{"type": "custom", "certificate_chain": chain + key}),
			check: func(t *testing.T, resp *http.Response, raw []byte, v any) {
				noKey(t, resp, raw, v)
				wantField("site.example.com", "common_name")(t, resp, raw, v)
				wantField("ready", "status")(t, resp, raw, v)
				if l := resp.Header.Get("Location"); l != "/v1/certificates/site" {
					t.Errorf("Location %q", l)
				}
			}},
		{name: "put the same certificate as base64, key apart", method: "PUT", path: "/v1/certificates/site", status: 200,
			body:  jsonBody(t, map[string]any{"certificate_chain": base64.StdEncoding.EncodeToString([]byte(chain)), "private_key": key}),
			check: noKey},
		{name: "bad PEM is 422", method: "PUT", path: "/v1/certificates/bad", status: 422,
			body: `{"type": "custom", "certificate_chain": "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n"}`, check: wantProblemField("certificate_chain")},
		{name: "mismatched key is 422", method: "PUT", path: "/v1/certificates/bad", status: 422,
			body: jsonBody(t, map[string]any{"type": "custom", "certificate_chain": chain, "private_key": otherKey}), check: wantProblemField("private_key")},
		{name: "put letsencrypt certificate", method: "PUT", path: "/v1/certificates/www", status: 200,
			body: `{"type": "letsencrypt", "common_name": "www.example.com", "subject_alternative_name": ["example.com"]}`,
			check: func(t *testing.T, resp *http.Response, raw []byte, v any) {
				wantField("pending", "status")(t, resp, raw, v)
				wantField("example.com", "subject_alternative_name", "0")(t, resp, raw, v)
			}},
		{name: "wildcard ACME name is 422", method: "PUT", path: "/v1/certificates/wild", status: 422,
			body: `{"type": "letsencrypt", "common_name": "*.example.com"}`, check: wantProblemField("common_name")},
		{name: "https frontend", method: "PUT", path: "/v1/lbs/web/frontends/tls", status: 200,
			body: `{"inbound_port": 443, "protocol": "https", "backend": "api-backend", "certificates": ["site", "www"],
				"ssl_compatibility_level": "ssl_compatibility_level_modern", "hsts": {"max_age": 31536000, "include_subdomains": true}}`,
			check: func(t *testing.T, resp *http.Response, raw []byte, v any) {
				wantField("https", "protocol")(t, resp, raw, v)
				wantField(json.Number("31536000"), "hsts", "max_age")(t, resp, raw, v)
			}},
		{name: "redirecting frontend", method: "PUT", path: "/v1/lbs/web/frontends/plain", status: 200,
			body:  `{"inbound_port": 8080, "protocol": "http", "backend": "api-backend", "https_redirect": {"code": 308}}`,
			check: wantField(json.Number("308"), "https_redirect", "code")},
		{name: "unknown certificate is 422", method: "PUT", path: "/v1/lbs/web/frontends/tls2", status: 422,
			body:  `{"inbound_port": 8443, "protocol": "https", "backend": "api-backend", "certificates": ["nope"]}`,
			check: wantProblemField("lbs[web].frontends[tls2].certificates[0]")},
		{name: "list certificates", method: "GET", path: "/v1/certificates?order_by=name_asc", status: 200,
			check: func(t *testing.T, resp *http.Response, raw []byte, v any) {
				noKey(t, resp, raw, v)
				wantField(json.Number("2"), "total_count")(t, resp, raw, v)
				wantField("web/tls", "certificates", "0", "frontends", "0")(t, resp, raw, v)
			}},
		{name: "get certificate", method: "GET", path: "/v1/certificates/site", status: 200,
			check: func(t *testing.T, resp *http.Response, raw []byte, v any) {
				noKey(t, resp, raw, v)
				wantField("www.example.com", "subject_alternative_name", "0")(t, resp, raw, v)
			}},
		{name: "delete a served certificate is 422", method: "DELETE", path: "/v1/certificates/site", status: 422,
			check: wantProblemField("lbs[web].frontends[tls].certificates[0]")},
		{name: "missing certificate", method: "GET", path: "/v1/certificates/nope", status: 404},
		// The frontends go again, so the rest counts as before; the
		// certificates stay, through GET and PUT /v1/config.
		{name: "delete the https frontend", method: "DELETE", path: "/v1/lbs/web/frontends/tls", status: 204},
		{name: "delete the redirecting frontend", method: "DELETE", path: "/v1/lbs/web/frontends/plain", status: 204},
	}
	after := []payloadStep{
		{name: "delete certificate", method: "DELETE", path: "/v1/certificates/site", status: 204},
		{name: "deleted certificate", method: "GET", path: "/v1/certificates/site", status: 404},
	}
	i := slices.IndexFunc(steps, func(s payloadStep) bool { return s.name == "put frontend" })
	j := slices.IndexFunc(steps, func(s payloadStep) bool { return s.name == "released ip" })
	if i < 0 || j < 0 {
		t.Fatal("the payload steps moved: place the certificate steps again")
	}
	out := append(slices.Clone(steps[:i]), before...)
	out = append(out, steps[i:j+1]...)
	out = append(out, after...)
	return append(out, steps[j+1:]...)
}

// certServer is an API over a fresh store with a sealer.
func certServer(t *testing.T) (*httptest.Server, string) {
	t.Helper()
	return newAdminServer(t, api.Options{Sealer: testSealer(t)})
}

func call(t *testing.T, srv *httptest.Server, tok, method, path, body string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, srv.URL+path, rd)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

// TestCertificateRejectionsStoreNothing: a bad PEM, a key that does not
// match, and an expired chain are refused with the field and the reason,
// and the config does not move.
func TestCertificateRejectionsStoreNothing(t *testing.T) {
	srv, tok := certServer(t)
	now := time.Now()
	chain, key := selfSigned(t, "a.example.com", now.Add(-time.Hour), now.Add(time.Hour))
	_, other := selfSigned(t, "b.example.com", now.Add(-time.Hour), now.Add(time.Hour))
	oldChain, oldKey := selfSigned(t, "old.example.com", now.Add(-48*time.Hour), now.Add(-24*time.Hour))
	for _, tt := range []struct {
		name, body, field, reason string
	}{
		{"bad PEM", jsonBody(t, map[string]string{"type": "custom", "certificate_chain": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n" + key}), "certificate_chain", "certificate"},
		{"not PEM at all", `{"type": "custom", "certificate_chain": "hello"}`, "certificate_chain", ""},
		{"no key", jsonBody(t, map[string]string{"type": "custom", "certificate_chain": chain}), "certificate_chain", "no private key"},
		{"mismatched key", jsonBody(t, map[string]string{"type": "custom", "certificate_chain": chain + other}), "certificate_chain", "does not match"},
		{"expired", jsonBody(t, map[string]string{"type": "custom", "certificate_chain": oldChain + oldKey}), "certificate_chain", "expired"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, raw := call(t, srv, tok, "PUT", "/v1/certificates/c", tt.body)
			if code != 422 || !strings.Contains(raw, `"field":"`+tt.field+`"`) || !strings.Contains(raw, tt.reason) {
				t.Fatalf("status %d: %s", code, raw)
			}
			if code, raw := call(t, srv, tok, "GET", "/v1/certificates", ""); code != 200 || !strings.Contains(raw, `"total_count": 0`) {
				t.Fatalf("something was stored: %d %s", code, raw)
			}
		})
	}
}

// TestCertificateKeyNeverShown: the sealed key stays out of every answer
// (the certificate, the whole config, the history, a write's changes), and
// a config exported and put back keeps it.
func TestCertificateKeyNeverShown(t *testing.T) {
	srv, tok := certServer(t)
	now := time.Now()
	chain, key := selfSigned(t, "a.example.com", now.Add(-time.Hour), now.Add(time.Hour))
	code, raw := call(t, srv, tok, "PUT", "/v1/certificates/a?dry_run=true", jsonBody(t, map[string]string{"certificate_chain": chain + key}))
	if code != 200 || !strings.Contains(raw, `"certificates/a"`) || strings.Contains(raw, "sealed_key") {
		t.Fatalf("dry run: %d %s", code, raw)
	}
	if code, raw := call(t, srv, tok, "PUT", "/v1/certificates/a", jsonBody(t, map[string]string{"certificate_chain": chain + key})); code != 200 {
		t.Fatalf("put: %d %s", code, raw)
	}
	keyB64 := base64.StdEncoding.EncodeToString([]byte(key))
	for _, path := range []string{"/v1/certificates/a", "/v1/certificates", "/v1/config", "/v1/config?format=yaml", "/v1/history"} {
		code, raw := call(t, srv, tok, "GET", path, "")
		if code != 200 || strings.Contains(raw, "sealed_key") || strings.Contains(raw, "PRIVATE") || strings.Contains(raw, keyB64[:40]) {
			t.Errorf("GET %s: %d %s", path, code, raw)
		}
	}
	_, cfg := call(t, srv, tok, "GET", "/v1/config", "")
	if code, raw := call(t, srv, tok, "PUT", "/v1/config", cfg); code != 200 {
		t.Fatalf("put back the exported config: %d %s", code, raw)
	}
	code, raw = call(t, srv, tok, "GET", "/v1/certificates/a", "")
	if code != 200 || !strings.Contains(raw, `"status": "ready"`) {
		t.Fatalf("after the round trip: %d %s", code, raw)
	}
	// The same PUT again changes nothing: the stored seal is kept.
	code, raw = call(t, srv, tok, "PUT", "/v1/certificates/a?dry_run=true", jsonBody(t, map[string]string{"certificate_chain": chain + key}))
	if code != 200 || !strings.Contains(raw, `"changes": null`) {
		t.Fatalf("a repeated PUT changes something: %d %s", code, raw)
	}
}
