package certs

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

func TestParseCustom(t *testing.T) {
	now := time.Now()
	root := newCA(t, "Test Root")
	inter := root.intermediate(t, "Test Intermediate")
	leaf, key := inter.leaf(t, leafOpts{names: []string{"example.com", "www.example.com"}, ips: []net.IP{net.ParseIP("192.0.2.7")}})
	other := newCA(t, "Other Root")
	otherLeaf, _ := other.leaf(t, leafOpts{names: []string{"other.example"}})
	_, strayKey := inter.leaf(t, leafOpts{names: []string{"stray.example"}})
	expired, expiredKey := inter.leaf(t, leafOpts{names: []string{"old.example"}, notBefore: now.Add(-48 * time.Hour), notAfter: now.Add(-time.Hour)})
	future, futureKey := inter.leaf(t, leafOpts{names: []string{"soon.example"}, notBefore: now.Add(time.Hour), notAfter: now.Add(48 * time.Hour)})
	clientOnly, clientKey := inter.leaf(t, leafOpts{names: []string{"client.example"}, client: true})

	ed := func() crypto.Signer { _, k, _ := ed25519.GenerateKey(rand.Reader); return k }()
	edLeaf, _ := inter.leaf(t, leafOpts{names: []string{"ed.example"}, key: ed})
	p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	p521Leaf, _ := inter.leaf(t, leafOpts{names: []string{"p521.example"}, key: p521})
	rsaSmall, _ := rsa.GenerateKey(rand.Reader, 1024)
	rsaSmallLeaf, _ := inter.leaf(t, leafOpts{names: []string{"rsa1024.example"}, key: rsaSmall})

	good := certPEM(leaf, inter.cert) + keyPEM(t, key)
	ecDER, _ := x509.MarshalECPrivateKey(key.(*ecdsa.PrivateKey))
	sec1 := string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER}))
	corrupt := strings.Replace(certPEM(leaf), "\n", "\n!!!!", 2)
	encrypted := "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n"

	tests := []struct {
		name       string
		chain, key string
		wantErr    string // substring of the error; "" for success
		wantStatus Status
		wantOrder  []*x509.Certificate
	}{
		{name: "pem blob", chain: good, wantStatus: StatusReady, wantOrder: []*x509.Certificate{leaf, inter.cert}},
		{name: "base64 blob", chain: base64.StdEncoding.EncodeToString([]byte(good)), wantStatus: StatusReady, wantOrder: []*x509.Certificate{leaf, inter.cert}},
		{name: "base64 wrapped lines", chain: wrap76(base64.StdEncoding.EncodeToString([]byte(good))), wantStatus: StatusReady},
		{name: "escaped newlines", chain: strings.ReplaceAll(good, "\n", `\n`), wantStatus: StatusReady},
		{name: "separate key", chain: certPEM(leaf, inter.cert), key: keyPEM(t, key), wantStatus: StatusReady},
		{name: "separate base64 key", chain: certPEM(leaf), key: base64.StdEncoding.EncodeToString([]byte(keyPEM(t, key))), wantStatus: StatusReady},
		{name: "sec1 key with ec parameters", chain: certPEM(leaf) + "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n" + sec1, wantStatus: StatusReady},
		{name: "key first", chain: keyPEM(t, key) + certPEM(leaf, inter.cert), wantStatus: StatusReady},
		{name: "wrong order reordered", chain: certPEM(inter.cert, root.cert, leaf) + keyPEM(t, key), wantStatus: StatusReady, wantOrder: []*x509.Certificate{leaf, inter.cert, root.cert}},
		{name: "ed25519", chain: certPEM(edLeaf) + keyPEM(t, ed), wantStatus: StatusReady},
		{name: "not yet valid", chain: certPEM(future) + keyPEM(t, futureKey), wantStatus: StatusPending},

		{name: "mismatched key", chain: certPEM(leaf) + keyPEM(t, strayKey), wantErr: "certificate_chain: private key does not match the certificate (leaf CN=example.com)"},
		{name: "mismatched separate key", chain: certPEM(leaf), key: keyPEM(t, strayKey), wantErr: "private_key: private key does not match the certificate (leaf CN=example.com)"},
		{name: "expired", chain: certPEM(expired) + keyPEM(t, expiredKey), wantErr: "certificate_chain: the certificate expired on"},
		{name: "foreign certificate", chain: certPEM(leaf, otherLeaf) + keyPEM(t, key), wantErr: "certificate 2 (CN=other.example) is not part of the chain of the leaf (CN=example.com)"},
		{name: "client only", chain: certPEM(clientOnly) + keyPEM(t, clientKey), wantErr: "lacks serverAuth"},
		{name: "no key", chain: certPEM(leaf), wantErr: "certificate_chain: no private key found"},
		{name: "two keys", chain: certPEM(leaf) + keyPEM(t, key) + keyPEM(t, strayKey), wantErr: "certificate_chain: holds 2 private keys"},
		{name: "key in both", chain: good, key: keyPEM(t, key), wantErr: "private_key: a private key is given both here and in certificate_chain"},
		{name: "no certificate", chain: keyPEM(t, key), wantErr: "certificate_chain: no certificate found"},
		{name: "empty", chain: "  \n", wantErr: "certificate_chain: is empty"},
		{name: "garbage", chain: "hello, world!", wantErr: "certificate_chain: is neither PEM (no -----BEGIN line) nor base64 of PEM"},
		{name: "base64 of garbage", chain: base64.StdEncoding.EncodeToString([]byte("not pem at all")), wantErr: "certificate_chain: is base64, but what it encodes is not PEM"},
		{name: "corrupt block", chain: corrupt + keyPEM(t, key), wantErr: "certificate_chain: PEM block 1 is malformed"},
		{name: "truncated block", chain: good[:len(good)-30], wantErr: "is malformed"},
		{name: "bad der", chain: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n" + keyPEM(t, key), wantErr: "PEM block 1 is not a valid X.509 certificate"},
		{name: "encrypted key", chain: certPEM(leaf) + encrypted, wantErr: "encrypted with a passphrase"},
		{name: "unknown block", chain: certPEM(leaf) + "-----BEGIN FOO-----\nAAAA\n-----END FOO-----\n", wantErr: `PEM block 2 has unexpected type "FOO"`},
		{name: "rsa 1024", chain: certPEM(rsaSmallLeaf) + keyPEM(t, rsaSmall), wantErr: "RSA key of 1024 bits is too short (at least 2048)"},
		{name: "p521", chain: certPEM(p521Leaf) + keyPEM(t, p521), wantErr: "ECDSA curve P-521 is not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseCustom(tt.chain, tt.key, now)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("accepted; want error %q", tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %q, want it to contain %q", err, tt.wantErr)
				}
				var ve *ValidationError
				if !errors.Is(err, ErrInvalid) || !errors.As(err, &ve) || ve.Field == "" {
					t.Fatalf("error %v is not a ValidationError naming a field", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Info().Status; got != tt.wantStatus {
				t.Fatalf("status %q, want %q (%s)", got, tt.wantStatus, c.Info().StatusDetails)
			}
			if tt.wantOrder != nil {
				ders := c.TLS().Certificate
				if len(ders) != len(tt.wantOrder) {
					t.Fatalf("chain has %d certificates, want %d", len(ders), len(tt.wantOrder))
				}
				for i, w := range tt.wantOrder {
					if !bytes.Equal(ders[i], w.Raw) {
						t.Fatalf("chain[%d] is not %s", i, w.Subject.CommonName)
					}
				}
				if !strings.HasPrefix(c.ChainPEM(), certPEM(tt.wantOrder[0])) {
					t.Fatal("stored chain does not start with the leaf")
				}
			}
		})
	}
}

func wrap76(s string) string {
	var b strings.Builder
	for len(s) > 76 {
		b.WriteString(s[:76] + "\n")
		s = s[76:]
	}
	b.WriteString(s)
	return b.String()
}

func TestParseCustomInfo(t *testing.T) {
	ca := newCA(t, "Root")
	leaf, key := ca.leaf(t, leafOpts{cn: "example.com", names: []string{"example.com", "www.example.com"}, ips: []net.IP{net.ParseIP("192.0.2.7")}})
	c, err := ParseCustom(certPEM(leaf)+keyPEM(t, key), "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	in := c.Info()
	s1 := sha1.Sum(leaf.Raw)
	s256 := sha256.Sum256(leaf.Raw)
	if in.Type != TypeCustom || in.CommonName != "example.com" ||
		strings.Join(in.SubjectAlternativeName, ",") != "www.example.com,192.0.2.7" ||
		in.Fingerprint != hex.EncodeToString(s1[:]) || in.FingerprintSHA256 != hex.EncodeToString(s256[:]) ||
		!in.NotValidBefore.Equal(leaf.NotBefore) || !in.NotValidAfter.Equal(leaf.NotAfter) || in.Status != StatusReady {
		t.Fatalf("info %+v", in)
	}
	if got := c.InfoAt(leaf.NotAfter.Add(time.Second)); got.Status != StatusError || !strings.Contains(got.StatusDetails, "expired on") {
		t.Fatalf("after expiry: %+v", got)
	}
	if got := c.InfoAt(leaf.NotBefore.Add(-time.Second)); got.Status != StatusPending {
		t.Fatalf("before validity: %+v", got)
	}

	// The JSON form of a Certificate carries Info only: no key material.
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	_ = json.Unmarshal(b, &fields)
	for _, k := range []string{"common_name", "subject_alternative_name", "fingerprint", "not_valid_before", "not_valid_after", "status"} {
		if _, ok := fields[k]; !ok {
			t.Errorf("JSON lacks %s: %s", k, b)
		}
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	if bytes.Contains(b, []byte("PRIVATE")) || bytes.Contains(b, []byte(base64.StdEncoding.EncodeToString(keyDER)[:40])) || len(fields) != 8 {
		t.Fatalf("JSON %s", b)
	}
}

func FuzzParseCustom(f *testing.F) {
	ca := newCA(f, "Root")
	leaf, key := ca.leaf(f, leafOpts{names: []string{"example.com"}})
	good := certPEM(leaf) + keyPEM(f, key)
	f.Add(good, "")
	f.Add(base64.StdEncoding.EncodeToString([]byte(good)), "")
	f.Add(certPEM(leaf), keyPEM(f, key))
	f.Add("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----", "")
	f.Fuzz(func(t *testing.T, chain, key string) {
		c, err := ParseCustom(chain, key, time.Now())
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v is not ErrInvalid", err)
			}
			return
		}
		if c.TLS().Leaf == nil || len(c.TLS().Certificate) == 0 {
			t.Fatal("accepted without a leaf")
		}
	})
}
