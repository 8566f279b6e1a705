package certs

import (
	"context"
	"crypto/tls"
	"encoding/asn1"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/mholt/acmez/v3/acme"

	"github.com/gantry-lb/gantry/internal/certs/pebbletest"
	"github.com/gantry-lb/gantry/internal/store"
)

func TestACMESpecValidate(t *testing.T) {
	for _, tt := range []struct {
		spec ACMESpec
		err  string
	}{
		{ACMESpec{CommonName: "www.example.com", SubjectAlternativeNames: []string{"example.com", "WWW.example.com"}}, ""},
		{ACMESpec{}, "common_name: is required"},
		{ACMESpec{CommonName: "*.example.com"}, "common_name: wildcard names need the DNS-01 challenge"},
		{ACMESpec{CommonName: "example.com", SubjectAlternativeNames: []string{"192.0.2.1"}}, "subject_alternative_name[0]: IP addresses are not supported"},
		{ACMESpec{CommonName: "localhost"}, "common_name: must be a fully qualified domain name"},
		{ACMESpec{CommonName: "exa_mple.com"}, `common_name: has the character '_'`},
		{ACMESpec{CommonName: "example.com", SubjectAlternativeNames: []string{"ok.example.com", "-bad.example.com"}}, "subject_alternative_name[1]: has a label starting or ending with '-'"},
	} {
		err := tt.spec.Validate()
		if tt.err == "" {
			if err != nil {
				t.Errorf("%+v: %v", tt.spec, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.err) || !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: error %v, want %q", tt.spec, err, tt.err)
		}
	}
	a, na, _ := ACMESpec{CommonName: "a.example", SubjectAlternativeNames: []string{"b.example", "a.example"}}.normalize()
	b, _, _ := ACMESpec{CommonName: "a.example", SubjectAlternativeNames: []string{"B.example"}}.normalize()
	c, _, _ := ACMESpec{CommonName: "b.example", SubjectAlternativeNames: []string{"a.example"}}.normalize()
	if a != b || a == c || strings.Join(na, ",") != "a.example,b.example" {
		t.Fatalf("set ids %s %s %s, names %v", a, b, c, na)
	}
}

// record reads gantry's ACME record of a certificate from the store.
func record(t *testing.T, st store.Store, m *Manager, spec ACMESpec) acmeRecord {
	t.Helper()
	id, _, _ := spec.normalize()
	kv, err := st.Get(context.Background(), m.acme.recordKey(id), 0)
	if err != nil {
		t.Fatalf("record of %s: %v", spec.CommonName, err)
	}
	var rec acmeRecord
	if err := json.Unmarshal(kv.Value, &rec); err != nil {
		t.Fatal(err)
	}
	return rec
}

// checkServed handshakes with SNI name, verifying the chain against
// pebble's root, and returns the leaf's SHA-256 fingerprint.
func checkServed(t *testing.T, pe *pebbletest.Pebble, addr, name string) string {
	t.Helper()
	c, err := dial(t, addr, &tls.Config{ServerName: name, RootCAs: pe.Roots(t)})
	if err != nil {
		t.Fatalf("verified handshake for %s: %v", name, err)
	}
	defer c.Close()
	if err := roundTrip(c, "hi"); err != nil {
		t.Fatal(err)
	}
	return fingerprint256(c.ConnectionState().PeerCertificates[0])
}

func TestACMEHTTP01(t *testing.T) {
	httpLn, httpPort := listenLoopback(t)
	pe := startPebble(t, httpPort, freeTCPPort(t), map[string]int{"default": 3600})
	st := openBolt(t)
	o := acmeOptions(pe, "node-a")
	o.DisableTLSALPN01 = true
	m := newACMEManager(t, st, testSealer(t), o)
	var target atomic.Pointer[Manager]
	var answered atomic.Int64
	target.Store(m)
	challengeHTTP(t, httpLn, &target, &answered)

	spec := ACMESpec{CommonName: "www.gantry.example", SubjectAlternativeNames: []string{"gantry.example"}}
	if err := m.Sync(Desired{ACME: map[string]ACMESpec{"www": spec}}); err != nil {
		t.Fatal(err)
	}
	if in, _ := m.Status("www"); in.Status != StatusPending || in.Type != TypeLetsEncrypt || in.CommonName != "www.gantry.example" {
		t.Fatalf("initial status %+v", in)
	}
	in := waitReady(t, m, "www", 60*time.Second)
	if answered.Load() == 0 {
		t.Fatal("ready without any HTTP-01 validation answered")
	}
	if in.CommonName != "www.gantry.example" || strings.Join(in.SubjectAlternativeName, ",") != "gantry.example" || in.NotValidAfter.Sub(in.NotValidBefore) < 59*time.Minute {
		t.Fatalf("info %+v", in)
	}

	cfg, err := m.TLSConfig(TLSOptions{Certificates: []string{"www"}})
	if err != nil {
		t.Fatal(err)
	}
	srv := serveTLS(t, cfg)
	fp := checkServed(t, pe, srv.addr, "www.gantry.example")
	if fp2 := checkServed(t, pe, srv.addr, "gantry.example"); fp2 != fp || fp != in.FingerprintSHA256 {
		t.Fatal("the names are not served by the obtained certificate")
	}
	rec := record(t, st, m, spec)
	if rec.Issuances != 1 || rec.ObtainedBy == "" || strings.Contains(rec.ChainPEM, "PRIVATE") || len(rec.SealedKey) == 0 {
		t.Fatalf("record %+v", rec)
	}
	if got := pe.Orders(); got != 1 {
		t.Fatalf("%d orders placed, want 1", got)
	}
	// Nothing in the store holds a private key in clear.
	kvs, _, _ := st.Range(context.Background(), "acme/", 0)
	for _, kv := range kvs {
		if strings.Contains(string(kv.Value), "PRIVATE KEY") {
			t.Fatalf("%s holds a private key in clear", kv.Key)
		}
	}
}

func TestACMETLSALPN01(t *testing.T) {
	tlsLn, tlsPort := listenLoopback(t)
	pe := startPebble(t, freeTCPPort(t), tlsPort, map[string]int{"default": 3600})
	st := openBolt(t)
	o := acmeOptions(pe, "node-a")
	o.DisableHTTP01 = true
	m := newACMEManager(t, st, testSealer(t), o)
	// The frontend on the validation port serves the certificate being
	// obtained: TLS-ALPN-01 is answered before SNI selection.
	cfg, err := m.TLSConfig(TLSOptions{Certificates: []string{"alpn"}})
	if err != nil {
		t.Fatal(err)
	}
	srv := serveTLSOn(t, tlsLn, cfg)

	if err := m.Sync(Desired{ACME: map[string]ACMESpec{"alpn": {CommonName: "alpn.gantry.example"}}}); err != nil {
		t.Fatal(err)
	}
	in := waitReady(t, m, "alpn", 60*time.Second)
	if srv.acmeConns.Load() == 0 {
		t.Fatal("ready without any TLS-ALPN-01 validation answered")
	}
	if fp := checkServed(t, pe, srv.addr, "alpn.gantry.example"); fp != in.FingerprintSHA256 {
		t.Fatal("served certificate is not the obtained one")
	}
	if got := pe.Orders(); got != 1 {
		t.Fatalf("%d orders placed, want 1", got)
	}
}

func TestACMETwoNodesObtainOnce(t *testing.T) {
	httpLn, httpPort := listenLoopback(t)
	pe := startPebble(t, httpPort, freeTCPPort(t), map[string]int{"default": 3600})
	st := openBolt(t)
	sealer := testSealer(t) // nodes sharing a store share the key file
	oa, ob := acmeOptions(pe, "node-a"), acmeOptions(pe, "node-b")
	oa.DisableTLSALPN01, ob.DisableTLSALPN01 = true, true
	a := newACMEManager(t, st, sealer, oa)
	b := newACMEManager(t, st, sealer, ob)
	// The CA's validation reaches node b whichever node ordered.
	var target atomic.Pointer[Manager]
	var answered atomic.Int64
	target.Store(b)
	challengeHTTP(t, httpLn, &target, &answered)

	spec := ACMESpec{CommonName: "shared.gantry.example", SubjectAlternativeNames: []string{"alt.gantry.example"}}
	var wg sync.WaitGroup
	for _, m := range []*Manager{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := m.Sync(Desired{ACME: map[string]ACMESpec{"shared": spec}}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	ia := waitReady(t, a, "shared", 60*time.Second)
	ib := waitReady(t, b, "shared", 60*time.Second)
	if ia.FingerprintSHA256 != ib.FingerprintSHA256 {
		t.Fatal("the nodes serve different certificates")
	}
	if n := a.Issued() + b.Issued(); n != 1 {
		t.Fatalf("nodes issued %d certificates (a %d, b %d), want 1", n, a.Issued(), b.Issued())
	}

	// A third node joining later serves the stored certificate.
	c := newACMEManager(t, st, sealer, acmeOptions(pe, "node-c"))
	if err := c.Sync(Desired{ACME: map[string]ACMESpec{"shared": spec}}); err != nil {
		t.Fatal(err)
	}
	ic := waitReady(t, c, "shared", 30*time.Second)
	if ic.FingerprintSHA256 != ia.FingerprintSHA256 || c.Issued() != 0 {
		t.Fatalf("third node: fingerprint %s issued %d", ic.FingerprintSHA256, c.Issued())
	}
	if got := pe.Orders(); got != 1 {
		t.Fatalf("pebble saw %d orders, want 1", got)
	}
	if rec := record(t, st, a, spec); rec.Issuances != 1 {
		t.Fatalf("record says %d issuances", rec.Issuances)
	}
	cfg, _ := c.TLSConfig(TLSOptions{Certificates: []string{"shared"}})
	srv := serveTLS(t, cfg)
	if fp := checkServed(t, pe, srv.addr, "alt.gantry.example"); fp != ia.FingerprintSHA256 {
		t.Fatal("third node serves another certificate")
	}
}

func TestACMERenewal(t *testing.T) {
	httpLn, httpPort := listenLoopback(t)
	pe := startPebble(t, httpPort, freeTCPPort(t), map[string]int{"default": 3600, "short": 20})
	st := openBolt(t)
	o := acmeOptions(pe, "node-a")
	o.DisableTLSALPN01 = true
	o.Profile = "short"
	o.RenewalWindowRatio = 0.75 // renew 5s after issuance
	m := newACMEManager(t, st, testSealer(t), o)
	var target atomic.Pointer[Manager]
	var answered atomic.Int64
	target.Store(m)
	challengeHTTP(t, httpLn, &target, &answered)

	if err := m.Sync(Desired{ACME: map[string]ACMESpec{"r": {CommonName: "renew.gantry.example"}}}); err != nil {
		t.Fatal(err)
	}
	first := waitReady(t, m, "r", 60*time.Second)
	cfg, _ := m.TLSConfig(TLSOptions{Certificates: []string{"r"}})
	srv := serveTLS(t, cfg)
	old, err := dial(t, srv.addr, &tls.Config{ServerName: "renew.gantry.example", RootCAs: pe.Roots(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if err := roundTrip(old, "before"); err != nil {
		t.Fatal(err)
	}
	var renewed Info
	waitFor(t, 40*time.Second, "renewal", func() bool {
		renewed, _ = m.Status("r")
		return renewed.FingerprintSHA256 != first.FingerprintSHA256 && renewed.Status == StatusReady
	})
	if !renewed.NotValidBefore.After(first.NotValidBefore) && !renewed.NotValidAfter.After(first.NotValidAfter) {
		t.Fatalf("renewed certificate is not newer: %+v vs %+v", renewed, first)
	}
	if fp := checkServed(t, pe, srv.addr, "renew.gantry.example"); fp == first.FingerprintSHA256 {
		t.Fatal("new handshakes still get the old certificate")
	}
	if err := roundTrip(old, "after"); err != nil {
		t.Fatalf("connection opened before the renewal broke: %v", err)
	}
	if m.Issued() < 2 {
		t.Fatalf("issued %d", m.Issued())
	}
}

func TestACMEErrorStatus(t *testing.T) {
	httpLn, httpPort := listenLoopback(t)
	pe := startPebble(t, httpPort, freeTCPPort(t), map[string]int{"default": 3600})
	st := openBolt(t)
	o := acmeOptions(pe, "node-a")
	o.DisableTLSALPN01 = true
	m := newACMEManager(t, st, testSealer(t), o)
	var target atomic.Pointer[Manager] // nobody answers: every validation gets 404
	var answered atomic.Int64
	challengeHTTP(t, httpLn, &target, &answered)

	if err := m.Sync(Desired{ACME: map[string]ACMESpec{"bad": {CommonName: "unanswered.gantry.example"}}}); err != nil {
		t.Fatal(err)
	}
	var in Info
	waitFor(t, 60*time.Second, "error status", func() bool {
		in, _ = m.Status("bad")
		return in.Status == StatusError
	})
	if !strings.Contains(in.StatusDetails, "the CA refused") || !strings.Contains(in.StatusDetails, "404") || !strings.Contains(in.StatusDetails, "next attempt at") {
		t.Fatalf("status details %q", in.StatusDetails)
	}
	// The failure is recorded for every node, and no retry comes before
	// the backoff.
	rec := record(t, st, m, ACMESpec{CommonName: "unanswered.gantry.example"})
	if rec.Failures != 1 || rec.LastError == "" || time.Until(rec.RetryAt) < 50*time.Minute {
		t.Fatalf("record %+v", rec)
	}
	time.Sleep(500 * time.Millisecond)
	if got := pe.Orders(); got != 1 {
		t.Fatalf("%d orders, want 1 (no retry before the backoff)", got)
	}
	// Once validations are answered, a retry obtains it without waiting
	// for the backoff.
	target.Store(m)
	if err := m.RetryACME(context.Background(), "bad"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "the retried certificate", func() bool {
		in, _ := m.Status("bad")
		return in.Status == StatusReady
	})
	if got := pe.Orders(); got != 2 {
		t.Fatalf("%d orders, want 2", got)
	}
	if err := m.RetryACME(context.Background(), "nope"); err == nil {
		t.Fatal("retry of an unknown certificate accepted")
	}
	// Removing the certificate stops its worker and its status.
	if err := m.Sync(Desired{}); err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Status("bad"); ok {
		t.Fatal("removed certificate still has a status")
	}
}

// TestACMEDistributedChallenges checks that a node answers HTTP-01 and
// TLS-ALPN-01 validations for a challenge another node started, from what
// that node wrote to the shared store (certmagic's distributed solving
// over Storage).
func TestACMEDistributedChallenges(t *testing.T) {
	st := openBolt(t)
	sealer := testSealer(t)
	o := ACMEOptions{DirectoryURL: "https://127.0.0.1:1/dir", NodeID: "b"}
	b := newACMEManager(t, st, sealer, o)
	other, err := NewStorage(st, StorageOptions{Sealer: sealer, Owner: "a"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	put := func(name string, chal acme.Challenge) {
		v, _ := json.Marshal(chal)
		key := "acme/" + certmagic.StorageKeys.Safe(b.acme.issuer.IssuerKey()) + "/challenge_tokens/" + name + ".json"
		if err := other.Store(ctx, key, v); err != nil {
			t.Fatal(err)
		}
	}
	put("h.gantry.example", acme.Challenge{Type: acme.ChallengeTypeHTTP01, Token: "tokenH", KeyAuthorization: "tokenH.thumbprint",
		Identifier: acme.Identifier{Type: "dns", Value: "h.gantry.example"}})
	put("t.gantry.example", acme.Challenge{Type: acme.ChallengeTypeTLSALPN01, Token: "tokenT", KeyAuthorization: "tokenT.thumbprint",
		Identifier: acme.Identifier{Type: "dns", Value: "t.gantry.example"}})

	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "http://h.gantry.example/.well-known/acme-challenge/tokenH", nil)
	if !b.HandleHTTPChallenge(rec, req) || rec.Body.String() != "tokenH.thumbprint" {
		t.Fatalf("HTTP-01 answer: %d %q", rec.Code, rec.Body.String())
	}
	req = httptest.NewRequest(http.MethodGet, "http://h.gantry.example/other", nil)
	if b.HandleHTTPChallenge(httptest.NewRecorder(), req) {
		t.Fatal("handled a request that is not a challenge")
	}
	req = httptest.NewRequest(http.MethodGet, "http://evil.example/.well-known/acme-challenge/tokenH", nil)
	if b.HandleHTTPChallenge(httptest.NewRecorder(), req) {
		t.Fatal("answered a challenge for another host")
	}

	cfg, err := b.TLSConfig(TLSOptions{})
	if err != nil {
		t.Fatal(err)
	}
	srv := serveTLS(t, cfg)
	conn, err := dial(t, srv.addr, &tls.Config{ServerName: "t.gantry.example", NextProtos: []string{ALPNACME}, InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	cs := conn.ConnectionState()
	conn.Close()
	if cs.NegotiatedProtocol != ALPNACME {
		t.Fatalf("negotiated %q", cs.NegotiatedProtocol)
	}
	leaf := cs.PeerCertificates[0]
	idPeAcmeIdentifier := asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 31}
	found := false
	for _, ext := range leaf.Extensions {
		found = found || (ext.Id.Equal(idPeAcmeIdentifier) && ext.Critical)
	}
	if !found || leaf.DNSNames[0] != "t.gantry.example" {
		t.Fatalf("TLS-ALPN-01 certificate %v lacks the acmeIdentifier extension", leaf.DNSNames)
	}
	waitFor(t, 5*time.Second, "the server to close the challenge connection", func() bool { return srv.acmeConns.Load() == 1 })
	// A normal handshake for that name is not answered with it.
	if conn, err := dial(t, srv.addr, &tls.Config{ServerName: "t.gantry.example", NextProtos: []string{"h2", ALPNACME}, InsecureSkipVerify: true}); err == nil {
		conn.Close()
		t.Fatal("a normal handshake got the challenge certificate")
	}
	// With ACME on, a frontend without ALPN (TCP terminating TLS) still
	// accepts clients that offer h2 and http/1.1, and serves its own
	// certificate to them.
	ca := newCA(t, "Custom CA")
	custom, key := ca.leaf(t, leafOpts{names: []string{"t.gantry.example"}})
	if err := b.Sync(Desired{Custom: map[string]Stored{"c": stored(t, sealer, certPEM(custom), keyPEM(t, key))}}); err != nil {
		t.Fatal(err)
	}
	cfg, err = b.TLSConfig(TLSOptions{Certificates: []string{"c"}, NextProtos: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	srv = serveTLS(t, cfg)
	conn, err = dial(t, srv.addr, &tls.Config{ServerName: "t.gantry.example", NextProtos: []string{"h2", "http/1.1"}, InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("client offering h2 and http/1.1 refused: %v", err)
	}
	defer conn.Close()
	if cs := conn.ConnectionState(); cs.NegotiatedProtocol != "" || !cs.PeerCertificates[0].Equal(custom) {
		t.Fatalf("negotiated %q, certificate %v", cs.NegotiatedProtocol, cs.PeerCertificates[0].DNSNames)
	}
}
