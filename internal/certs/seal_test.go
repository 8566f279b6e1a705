package certs

import (
	"bytes"
	"crypto"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestSealRoundTripAndTamper(t *testing.T) {
	s := testSealer(t)
	plain := []byte("-----BEGIN PRIVATE KEY-----\nsecret\n-----END PRIVATE KEY-----\n")
	a, err := s.Seal(plain)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := s.Seal(plain)
	if bytes.Equal(a, b) {
		t.Fatal("two seals of the same data are equal: nonce not random")
	}
	if bytes.Contains(a, []byte("secret")) {
		t.Fatal("sealed data holds the plaintext")
	}
	got, err := s.Open(a)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	for i := range a {
		bad := bytes.Clone(a)
		bad[i] ^= 0x01
		if _, err := s.Open(bad); !errors.Is(err, ErrUnseal) {
			t.Fatalf("flipping byte %d: Open err = %v, want ErrUnseal", i, err)
		}
	}
	for _, n := range []int{0, 1, 13, len(a) - 1} {
		if _, err := s.Open(a[:n]); !errors.Is(err, ErrUnseal) {
			t.Fatalf("truncated to %d: err = %v", n, err)
		}
	}
	if _, err := testSealer(t).Open(a); !errors.Is(err, ErrUnseal) {
		t.Fatalf("another key opened it: %v", err)
	}
}

func TestOpenSealerKeyFile(t *testing.T) {
	dir := t.TempDir()
	s1, err := OpenSealer(dir)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, KeyFileName)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Fatalf("key file mode %04o, want 0600", perm)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, KeyFileName+".tmp-*")); len(leftovers) > 0 {
		t.Fatalf("temporary files left: %v", leftovers)
	}
	sealed, _ := s1.Seal([]byte("k"))
	s2, err := OpenSealer(dir) // reopens the same key
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s2.Open(sealed); err != nil || string(got) != "k" {
		t.Fatalf("reopened sealer: %q, %v", got, err)
	}

	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenSealer(dir); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("loose key file accepted: %v", err)
	}
	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, KeyFileName), []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenSealer(bad); err == nil {
		t.Fatal("malformed key file accepted")
	}
}

func TestOpenSealerConcurrentCreate(t *testing.T) {
	dir := t.TempDir()
	const n = 8
	sealers := make([]*Sealer, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := OpenSealer(dir)
			if err != nil {
				t.Error(err)
			}
			sealers[i] = s
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	sealed, _ := sealers[0].Seal([]byte("same key"))
	for i, s := range sealers {
		if _, err := s.Open(sealed); err != nil {
			t.Fatalf("sealer %d has another key: %v", i, err)
		}
	}
}

func TestStoredRestore(t *testing.T) {
	s := testSealer(t)
	root := newCA(t, "Root")
	inter := root.intermediate(t, "Inter")
	leaf, key := inter.leaf(t, leafOpts{names: []string{"example.com"}})
	c, err := ParseCustom(certPEM(inter.cert, leaf), keyPEM(t, key), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.Seal(s)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(st.SealedKey), "PRIVATE") || st.ChainPEM != certPEM(leaf, inter.cert) {
		t.Fatalf("stored form: chain %q", st.ChainPEM)
	}
	r, err := Restore(st, s, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if r.Info().FingerprintSHA256 != c.Info().FingerprintSHA256 || !r.TLS().PrivateKey.(interface{ Equal(crypto.PrivateKey) bool }).Equal(key) {
		t.Fatal("restored certificate differs")
	}
	// An expired stored certificate still loads, reported as expired.
	if r, err := Restore(st, s, leaf.NotAfter.Add(time.Hour)); err != nil || r.Info().Status != StatusError {
		t.Fatalf("restore after expiry: %v %+v", err, r)
	}
	if _, err := Restore(st, testSealer(t), time.Now()); !errors.Is(err, ErrUnseal) {
		t.Fatalf("restore with another key file: %v", err)
	}
}
