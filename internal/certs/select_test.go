package certs

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"go.uber.org/zap"
)

// fixture is a Manager with a few custom certificates from one CA.
type fixture struct {
	ca     *testCA
	sealer *Sealer
	m      *Manager
	certs  map[string]*x509.Certificate
	stored map[string]Stored
}

func newFixture(t *testing.T, names map[string][]string) *fixture {
	t.Helper()
	f := &fixture{ca: newCA(t, "SNI Root"), sealer: testSealer(t), certs: map[string]*x509.Certificate{}, stored: map[string]Stored{}}
	m, err := New(Options{Sealer: f.sealer, Logger: logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	f.m = m
	for name, hosts := range names {
		f.add(t, name, hosts...)
	}
	if err := m.Sync(Desired{Custom: f.stored}); err != nil {
		t.Fatal(err)
	}
	return f
}

// add issues a new certificate for hosts under name (not yet synced).
func (f *fixture) add(t *testing.T, name string, hosts ...string) *x509.Certificate {
	leaf, key := f.ca.leaf(t, leafOpts{names: hosts})
	f.certs[name] = leaf
	f.stored[name] = stored(t, f.sealer, certPEM(leaf), keyPEM(t, key))
	return leaf
}

func (f *fixture) client(serverName string) *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(f.ca.cert)
	return &tls.Config{ServerName: serverName, RootCAs: pool}
}

// served returns the leaf the server presents for a server name ("" sends
// no SNI, as clients dialing an IP do).
func served(t *testing.T, addr, serverName string) *x509.Certificate {
	t.Helper()
	c, err := dial(t, addr, &tls.Config{ServerName: serverName, InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("handshake for %q: %v", serverName, err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0]
}

func TestSNISelection(t *testing.T) {
	f := newFixture(t, map[string][]string{
		"a":     {"a.example.com", "alias.example.com"},
		"b":     {"b.example.com"},
		"wild":  {"*.wild.example"},
		"exact": {"x.wild.example"},
	})
	cfg, err := f.m.TLSConfig(TLSOptions{Certificates: []string{"a", "b", "wild", "exact", "missing"}})
	if err != nil {
		t.Fatal(err)
	}
	srv := serveTLS(t, cfg)
	for _, tt := range []struct{ sni, want string }{
		{"a.example.com", "a"},
		{"alias.example.com", "a"},
		{"B.Example.COM", "b"},
		{"b.example.com.", "b"},
		{"y.wild.example", "wild"},
		{"x.wild.example", "exact"}, // exact beats wildcard, whatever the order
		{"deep.y.wild.example", "a"},
		{"wild.example", "a"},
		{"unknown.example", "a"}, // default: first listed
		{"", "a"},
	} {
		if got := served(t, srv.addr, tt.sni); !got.Equal(f.certs[tt.want]) {
			t.Errorf("SNI %q got %v, want certificate %s", tt.sni, got.DNSNames, tt.want)
		}
	}
	// The verified handshake works end to end with the chosen certificate.
	c, err := dial(t, srv.addr, f.client("b.example.com"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := roundTrip(c, "hello"); err != nil {
		t.Fatal(err)
	}

	// Another frontend lists other certificates in another order.
	cfg2, _ := f.m.TLSConfig(TLSOptions{Certificates: []string{"b"}})
	srv2 := serveTLS(t, cfg2)
	if got := served(t, srv2.addr, "a.example.com"); !got.Equal(f.certs["b"]) {
		t.Errorf("frontend 2 served %v for a.example.com, want its only certificate", got.DNSNames)
	}
}

func TestNoCertificate(t *testing.T) {
	f := newFixture(t, nil)
	cfg, _ := f.m.TLSConfig(TLSOptions{Certificates: []string{"absent"}})
	srv := serveTLS(t, cfg)
	if c, err := dial(t, srv.addr, &tls.Config{ServerName: "a.example.com", InsecureSkipVerify: true}); err == nil {
		c.Close()
		t.Fatal("handshake succeeded without any certificate")
	}
	get := f.m.GetCertificateFunc([]string{"absent"})
	if _, err := get(&tls.ClientHelloInfo{ServerName: "x"}); !errors.Is(err, ErrNoCertificate) {
		t.Fatalf("err = %v", err)
	}
}

func TestHotSwap(t *testing.T) {
	f := newFixture(t, map[string][]string{"site": {"site.example"}, "other": {"other.example"}})
	cfg, err := f.m.TLSConfig(TLSOptions{Certificates: []string{"site", "other"}})
	if err != nil {
		t.Fatal(err)
	}
	srv := serveTLS(t, cfg)
	first := f.certs["site"]

	old, err := dial(t, srv.addr, f.client("site.example"))
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if err := roundTrip(old, "before"); err != nil {
		t.Fatal(err)
	}
	if !old.ConnectionState().PeerCertificates[0].Equal(first) {
		t.Fatal("first handshake did not get the first certificate")
	}

	second := f.add(t, "site", "site.example")
	if err := f.m.Sync(Desired{Custom: f.stored}); err != nil {
		t.Fatal(err)
	}
	if got := served(t, srv.addr, "site.example"); !got.Equal(second) {
		t.Fatalf("after the swap a new handshake got serial %v, want the new certificate %v", got.SerialNumber, second.SerialNumber)
	}
	// The connection opened before the swap carries on with its certificate.
	if err := roundTrip(old, "after"); err != nil {
		t.Fatalf("old connection broke: %v", err)
	}
	if !old.ConnectionState().PeerCertificates[0].Equal(first) {
		t.Fatal("old connection's certificate changed")
	}
	if in, ok := f.m.Status("site"); !ok || in.FingerprintSHA256 != fingerprint256(second) || in.Status != StatusReady {
		t.Fatalf("status after swap: %+v", in)
	}

	// Removing the certificate falls back to the next listed one.
	delete(f.stored, "site")
	if err := f.m.Sync(Desired{Custom: f.stored}); err != nil {
		t.Fatal(err)
	}
	if got := served(t, srv.addr, "site.example"); !got.Equal(f.certs["other"]) {
		t.Fatalf("after removal got %v", got.DNSNames)
	}
	if _, ok := f.m.Status("site"); ok {
		t.Fatal("removed certificate still has a status")
	}
}

func fingerprint256(c *x509.Certificate) string { return describeLeaf("", c).FingerprintSHA256 }

func TestSyncRestoreFailure(t *testing.T) {
	f := newFixture(t, map[string][]string{"good": {"good.example"}})
	other := testSealer(t)
	leaf, key := f.ca.leaf(t, leafOpts{names: []string{"bad.example"}})
	desired := map[string]Stored{"good": f.stored["good"], "bad": stored(t, other, certPEM(leaf), keyPEM(t, key))}
	err := f.m.Sync(Desired{Custom: desired})
	if !errors.Is(err, ErrUnseal) {
		t.Fatalf("Sync error = %v, want ErrUnseal for the certificate sealed with another key file", err)
	}
	in, ok := f.m.Status("bad")
	if !ok || in.Status != StatusError || in.StatusDetails == "" {
		t.Fatalf("status of bad: %+v", in)
	}
	if in, _ := f.m.Status("good"); in.Status != StatusReady {
		t.Fatalf("good certificate not served: %+v", in)
	}
	if got := f.m.Statuses(); len(got) != 2 {
		t.Fatalf("Statuses = %v", got)
	}
}

// TestSelectorsAreCollected checks that frontends dropped by the lead do
// not pile up in the Manager.
func TestSelectorsAreCollected(t *testing.T) {
	f := newFixture(t, map[string][]string{"a": {"a.example"}})
	for range 100 {
		if _, err := f.m.TLSConfig(TLSOptions{Certificates: []string{"a"}}); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	runtime.GC()
	if err := f.m.Sync(Desired{Custom: f.stored}); err != nil {
		t.Fatal(err)
	}
	f.m.mu.Lock()
	n := len(f.m.selectors)
	f.m.mu.Unlock()
	if n > 10 {
		t.Fatalf("%d selectors still registered after their configs were dropped", n)
	}
}

func BenchmarkGetCertificate(b *testing.B) {
	ca := newCA(b, "Bench Root")
	s := testSealer(b)
	m, err := New(Options{Sealer: s})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	d := Desired{Custom: map[string]Stored{}}
	names := []string{}
	for _, n := range []string{"a", "b", "c", "d"} {
		leaf, key := ca.leaf(b, leafOpts{names: []string{n + ".example.com", "*." + n + ".example.com"}})
		d.Custom[n] = stored(b, s, certPEM(leaf), keyPEM(b, key))
		names = append(names, n)
	}
	if err := m.Sync(d); err != nil {
		b.Fatal(err)
	}
	get := m.GetCertificateFunc(names)
	for _, tt := range []struct{ name, sni string }{{"exact", "c.example.com"}, {"wildcard", "x.d.example.com"}, {"default", "nowhere.example"}} {
		b.Run(tt.name, func(b *testing.B) {
			hello := &tls.ClientHelloInfo{ServerName: tt.sni, SupportedProtos: []string{"h2", "http/1.1"}}
			b.ReportAllocs()
			for b.Loop() {
				if c, err := get(hello); err != nil || c == nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestACMEWithoutStore(t *testing.T) {
	f := newFixture(t, nil)
	if err := f.m.Sync(Desired{ACME: map[string]ACMESpec{"www": {CommonName: "www.example.com"}}}); err != nil {
		t.Fatal(err)
	}
	in, ok := f.m.Status("www")
	if !ok || in.Status != StatusError || !strings.Contains(in.StatusDetails, "ACME is not configured") {
		t.Fatalf("status %+v", in)
	}
	if err := f.m.Sync(Desired{ACME: map[string]ACMESpec{"bad": {CommonName: "*.example.com"}}}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("invalid spec: %v", err)
	}
	if f.m.HandleHTTPChallenge(nil, httptest.NewRequest(http.MethodGet, "/.well-known/acme-challenge/x", nil)) {
		t.Fatal("answered a challenge without ACME")
	}
	f.m.Close()
	if err := f.m.Sync(Desired{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Sync after Close: %v", err)
	}
}

func TestZapBridge(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	z := zapToSlog(l).Named("acme").With(zap.String("ca", "pebble"))
	z.Debug("hidden")
	z.Info("obtained", zap.Strings("names", []string{"a.example"}), zap.Int("n", 2))
	z.Error("failed", zap.Error(errors.New("boom")))
	out := buf.String()
	for _, want := range []string{"level=INFO msg=obtained", "logger=acme", "ca=pebble", "names=[a.example]", "n=2", "level=ERROR msg=failed", "error=boom"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "hidden") {
		t.Error("debug entry written at info level")
	}
}
