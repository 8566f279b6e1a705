package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gantry-lb/gantry/internal/app"
)

// TestCertCommand drives gantry cert against a gantry serve run in the
// test: a custom certificate from PEM files, a letsencrypt one from flags,
// the list, a refused chain (exit 1, naming the field), and no key shown.
func TestCertCommand(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan string, 1), make(chan error, 1)
	go func() {
		done <- app.Serve(ctx, app.ServeOptions{Admin: "127.0.0.1:0", DataDir: dir, Log: slog.New(slog.DiscardHandler),
			DrainTimeout: time.Second, Ready: func(a string) { ready <- a },
			// Never the real Let's Encrypt: a port that refuses at once.
			ACME: app.ACMEOptions{DirectoryURL: "https://127.0.0.1:1/directory", RetryMin: time.Hour}}, io.Discard)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	var admin string
	select {
	case admin = <-ready:
	case err := <-done:
		t.Fatal(err)
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not start")
	}
	tok, err := os.ReadFile(filepath.Join(dir, app.TokenFile))
	if err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, string, int) {
		var out, errb strings.Builder
		code := runWith(append(args, "--server", admin, "--token", strings.TrimSpace(string(tok))), strings.NewReader(""), &out, &errb)
		return out.String(), errb.String(), code
	}
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "site.example.com"}, DNSNames: []string{"site.example.com"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	kd, _ := x509.MarshalPKCS8PrivateKey(key)
	chain := write("chain.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	keyFile := write("key.pem", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd})))

	if out, errs, code := run("cert", "put", "site", "--chain", chain, "--key", keyFile); code != 0 || !strings.Contains(out, `cert "site" saved`) {
		t.Fatalf("put custom: %d %s%s", code, out, errs)
	}
	if out, errs, code := run("cert", "put", "www", "--common-name", "www.example.com", "--san", "example.com,api.example.com"); code != 0 {
		t.Fatalf("put letsencrypt: %d %s%s", code, out, errs)
	}
	out, errs, code := run("cert", "list")
	if code != 0 || !regexp.MustCompile(`(?m)^site +custom +site\.example\.com +ready `).MatchString(out) ||
		!regexp.MustCompile(`(?m)^www +letsencrypt +www\.example\.com +example\.com,api\.example\.com +(pending|error)`).MatchString(out) {
		t.Fatalf("list: %d\n%s%s", code, out, errs)
	}
	out, _, code = run("cert", "get", "site", "-o", "json")
	if code != 0 || strings.Contains(out, "PRIVATE") || !strings.Contains(out, `"status": "ready"`) {
		t.Fatalf("get: %d %s", code, out)
	}
	out, errs, code = run("cert", "put", "bad", "--chain", chain) // no key
	if code != 1 || !strings.Contains(errs, "certificate_chain: no private key") {
		t.Fatalf("a chain without key: %d %s%s", code, out, errs)
	}
	if _, errs, code := run("cert", "delete", "www"); code != 0 {
		t.Fatalf("delete: %d %s", code, errs)
	}
}
