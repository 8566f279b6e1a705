package certs

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"strings"
	"testing"
)

func TestParseProfile(t *testing.T) {
	for in, want := range map[string]Profile{
		"": ProfileIntermediate, "intermediate": ProfileIntermediate, "ssl_compatibility_level_intermediate": ProfileIntermediate,
		"ssl_compatibility_level_unknown": ProfileIntermediate, "modern": ProfileModern, "ssl_compatibility_level_modern": ProfileModern,
		"OLD": ProfileOld, "ssl_compatibility_level_old": ProfileOld,
	} {
		if got, err := ParseProfile(in); err != nil || got != want {
			t.Errorf("ParseProfile(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseProfile("ancient"); err == nil || !strings.HasPrefix(err.Error(), "ssl_compatibility_level: ") {
		t.Fatalf("err = %v", err)
	}
}

func TestProfiles(t *testing.T) {
	f := newFixture(t, nil)
	// An RSA certificate, so the old profile's RSA key exchange suites can
	// be negotiated.
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := f.ca.leaf(t, leafOpts{names: []string{"tls.example"}, key: rsaKey})
	f.certs["rsa"] = leaf
	f.stored["rsa"] = stored(t, f.sealer, certPEM(leaf), keyPEM(t, rsaKey))
	if err := f.m.Sync(Desired{Custom: f.stored}); err != nil {
		t.Fatal(err)
	}
	servers := map[Profile]*tlsServer{}
	for _, p := range []Profile{ProfileModern, ProfileIntermediate, ProfileOld} {
		cfg, err := f.m.TLSConfig(TLSOptions{Certificates: []string{"rsa"}, Profile: p})
		if err != nil {
			t.Fatal(err)
		}
		servers[p] = serveTLS(t, cfg)
	}
	type client struct {
		name     string
		min, max uint16
		suites   []uint16
	}
	tls10 := client{"TLS 1.0", tls.VersionTLS10, tls.VersionTLS10, nil}
	tls11 := client{"TLS 1.1", tls.VersionTLS11, tls.VersionTLS11, nil}
	tls12 := client{"TLS 1.2", tls.VersionTLS12, tls.VersionTLS12, nil}
	tls13 := client{"TLS 1.3", tls.VersionTLS13, tls.VersionTLS13, nil}
	cbc12 := client{"TLS 1.2 ECDHE-RSA-AES128-SHA only", tls.VersionTLS12, tls.VersionTLS12, []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA}}
	rsaKex := client{"TLS 1.2 RSA-AES128-GCM only", tls.VersionTLS12, tls.VersionTLS12, []uint16{tls.TLS_RSA_WITH_AES_128_GCM_SHA256}}
	des := client{"TLS 1.2 3DES only", tls.VersionTLS12, tls.VersionTLS12, []uint16{tls.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA, tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA}}
	for _, tt := range []struct {
		p      Profile
		c      client
		accept bool
	}{
		{ProfileModern, tls13, true},
		{ProfileModern, tls12, false},
		{ProfileIntermediate, tls13, true},
		{ProfileIntermediate, tls12, true},
		{ProfileIntermediate, tls11, false},
		{ProfileIntermediate, tls10, false},
		{ProfileIntermediate, cbc12, false},
		{ProfileIntermediate, rsaKex, false},
		{ProfileOld, tls13, true},
		{ProfileOld, tls11, true},
		{ProfileOld, tls10, true},
		{ProfileOld, cbc12, true},
		{ProfileOld, rsaKex, true},
		{ProfileOld, des, false},
	} {
		pool := x509.NewCertPool()
		pool.AddCert(f.ca.cert)
		cfg := &tls.Config{ServerName: "tls.example", RootCAs: pool, MinVersion: tt.c.min, MaxVersion: tt.c.max, CipherSuites: tt.c.suites}
		c, err := dial(t, servers[tt.p].addr, cfg)
		if err == nil {
			err = roundTrip(c, "x")
			c.Close()
		}
		if got := err == nil; got != tt.accept {
			t.Errorf("profile %s, client %s: accepted=%v (err %v), want %v", tt.p, tt.c.name, got, err, tt.accept)
		}
	}
}

func TestALPN(t *testing.T) {
	f := newFixture(t, map[string][]string{"a": {"a.example"}})
	for _, tt := range []struct {
		o    TLSOptions
		want string
	}{
		{TLSOptions{Certificates: []string{"a"}}, "h2"},
		{TLSOptions{Certificates: []string{"a"}, DisableHTTP2: true}, "http/1.1"},
		{TLSOptions{Certificates: []string{"a"}, NextProtos: []string{}}, ""},
	} {
		cfg, err := f.m.TLSConfig(tt.o)
		if err != nil {
			t.Fatal(err)
		}
		srv := serveTLS(t, cfg)
		cc := f.client("a.example")
		cc.NextProtos = []string{"h2", "http/1.1"}
		c, err := dial(t, srv.addr, cc)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.ConnectionState().NegotiatedProtocol; got != tt.want {
			t.Errorf("options %+v: ALPN %q, want %q", tt.o, got, tt.want)
		}
		c.Close()
	}
}

func TestMutualTLS(t *testing.T) {
	f := newFixture(t, map[string][]string{"a": {"a.example"}})
	clientCA := newCA(t, "Client CA")
	otherCA := newCA(t, "Other Client CA")
	good, goodKey := clientCA.leaf(t, leafOpts{cn: "alice", client: true})
	bad, badKey := otherCA.leaf(t, leafOpts{cn: "mallory", client: true})
	goodCert := tls.Certificate{Certificate: [][]byte{good.Raw}, PrivateKey: goodKey}
	badCert := tls.Certificate{Certificate: [][]byte{bad.Raw}, PrivateKey: badKey}

	if _, err := f.m.TLSConfig(TLSOptions{Certificates: []string{"a"}, ClientAuth: ClientAuthRequired}); err == nil {
		t.Fatal("required client auth without a CA accepted")
	}
	if _, err := f.m.TLSConfig(TLSOptions{Certificates: []string{"a"}, ClientCA: "garbage"}); err == nil || !strings.HasPrefix(err.Error(), "client_ca: ") {
		t.Fatalf("bad CA bundle: %v", err)
	}
	for _, tt := range []struct {
		mode   ClientAuth
		cert   *tls.Certificate
		max    uint16
		accept bool
	}{
		{ClientAuthNone, nil, tls.VersionTLS13, false}, // a CA without a mode means required
		{ClientAuthNone, &goodCert, tls.VersionTLS13, true},
		{ClientAuthRequired, nil, tls.VersionTLS12, false},
		{ClientAuthRequired, nil, tls.VersionTLS13, false},
		{ClientAuthRequired, &goodCert, tls.VersionTLS13, true},
		{ClientAuthRequired, &goodCert, tls.VersionTLS12, true},
		{ClientAuthRequired, &badCert, tls.VersionTLS13, false},
		{ClientAuthOptional, nil, tls.VersionTLS13, true},
		{ClientAuthOptional, &goodCert, tls.VersionTLS13, true},
		{ClientAuthOptional, &badCert, tls.VersionTLS13, false},
	} {
		cfg, err := f.m.TLSConfig(TLSOptions{Certificates: []string{"a"}, ClientCA: certPEM(clientCA.cert), ClientAuth: tt.mode, TicketScope: "mtls"})
		if err != nil {
			t.Fatal(err)
		}
		srv := serveTLS(t, cfg)
		cc := f.client("a.example")
		cc.MaxVersion = tt.max
		if tt.cert != nil {
			// Send the certificate even if its issuer is not among the
			// server's acceptable CAs (Go's client would otherwise send none).
			cert := tt.cert
			cc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
		}
		c, err := dial(t, srv.addr, cc)
		if err == nil {
			err = roundTrip(c, "x")
			c.Close()
		}
		accepted := err == nil
		if accepted != tt.accept {
			name := "none"
			switch tt.cert {
			case &goodCert:
				name = "from the CA"
			case &badCert:
				name = "from another CA"
			}
			t.Errorf("mode %q, client cert %s, TLS max %x: accepted=%v (%v), want %v", tt.mode, name, tt.max, accepted, err, tt.accept)
		}
	}
}

func TestSessionTickets(t *testing.T) {
	f := newFixture(t, map[string][]string{"a": {"a.example"}})
	newServer := func(scope string) *tlsServer {
		cfg, err := f.m.TLSConfig(TLSOptions{Certificates: []string{"a"}, TicketScope: scope})
		if err != nil {
			t.Fatal(err)
		}
		return serveTLS(t, cfg)
	}
	a1, a2, b := newServer("fe-a"), newServer("fe-a"), newServer("fe-b")
	cache := tls.NewLRUClientSessionCache(16)
	resumed := func(addr string) bool {
		t.Helper()
		cc := f.client("a.example")
		cc.ClientSessionCache = cache
		c, err := dial(t, addr, cc)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// Reading makes the client process the server's ticket (TLS 1.3).
		if err := roundTrip(c, "x"); err != nil {
			t.Fatal(err)
		}
		return c.ConnectionState().DidResume
	}
	if resumed(a1.addr) {
		t.Fatal("first connection resumed")
	}
	if !resumed(a1.addr) {
		t.Fatal("second connection did not resume")
	}
	// Another config of the same scope (a new snapshot of the frontend)
	// resumes sessions of the previous one.
	if !resumed(a2.addr) {
		t.Fatal("same scope, new config: not resumed")
	}
	// Another scope never resumes them.
	if resumed(b.addr) {
		t.Fatal("ticket of scope fe-a resumed on scope fe-b")
	}
	// Rotation keeps old keys for a while, then drops them.
	resumed(a1.addr) // refresh the cached ticket under scope fe-a
	f.m.tickets.rotate()
	if !resumed(a1.addr) {
		t.Fatal("ticket from the previous key not resumed after one rotation")
	}
	for range 4 {
		f.m.tickets.rotate()
	}
	if resumed(a1.addr) {
		t.Fatal("ticket resumed after its key was rotated out")
	}
}
