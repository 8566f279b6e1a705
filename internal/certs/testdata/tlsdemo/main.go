// Command tlsdemo serves HTTPS with a frontend *tls.Config built by
// certs.Manager, so that testssl can be pointed at it by hand:
//
//	go run ./internal/certs/testdata/tlsdemo -addr 127.0.0.1:8443 -dir /tmp/tlsdemo &
//	testssl --quiet --severity MEDIUM --jsonfile out.json --add-ca /tmp/tlsdemo/ca.pem --ip one 127.0.0.1:8443
//
// It makes a CA and a leaf for localhost and 127.0.0.1 (ECDSA P-256 by
// default, -rsa for RSA 2048) and writes the CA to <dir>/ca.pem.
package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/gantry-lb/gantry/internal/certs"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8443", "listen address")
	dir := flag.String("dir", os.TempDir()+"/tlsdemo", "where to write ca.pem and the sealing key")
	profile := flag.String("profile", "", "TLS profile (modern, intermediate, old)")
	useRSA := flag.Bool("rsa", false, "RSA 2048 leaf instead of ECDSA P-256")
	headers := flag.Bool("headers", false, "send Strict-Transport-Security and X-Content-Type-Options, as a backend or a frontend header rule would")
	flag.Parse()
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		log.Fatal(err)
	}

	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tlsdemo CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		log.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	var key crypto.Signer
	if *useRSA {
		key, _ = rsa.GenerateKey(rand.Reader, 2048)
	} else {
		key, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(90 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		OCSPServer:            []string{"http://127.0.0.1:1/ocsp"},
		CRLDistributionPoints: []string{"http://127.0.0.1:1/crl"},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, key.Public(), caKey)
	if err != nil {
		log.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	chain := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER})) +
		string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})) +
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	if err := os.WriteFile(filepath.Join(*dir, "ca.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644); err != nil {
		log.Fatal(err)
	}

	sealer, err := certs.OpenSealer(*dir)
	if err != nil {
		log.Fatal(err)
	}
	c, err := certs.ParseCustom(chain, "", time.Now())
	if err != nil {
		log.Fatal(err)
	}
	st, err := c.Seal(sealer)
	if err != nil {
		log.Fatal(err)
	}
	m, err := certs.New(certs.Options{Sealer: sealer, Logger: slog.Default()})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	if err := m.Sync(certs.Desired{Custom: map[string]certs.Stored{"demo": st}}); err != nil {
		log.Fatal(err)
	}
	cfg, err := m.TLSConfig(certs.TLSOptions{Certificates: []string{"demo"}, Profile: certs.Profile(*profile), TicketScope: "demo"})
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{
		TLSConfig:         cfg,
		ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if *headers {
				w.Header().Set("Strict-Transport-Security", "max-age=63072000")
				w.Header().Set("X-Content-Type-Options", "nosniff")
			}
			fmt.Fprintf(w, "ok %s\n", r.Proto)
		}),
	}
	log.Printf("serving https://%s (CA in %s)", ln.Addr(), filepath.Join(*dir, "ca.pem"))
	log.Fatal(srv.ServeTLS(ln, "", ""))
}
