package certs

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// KeyFileName is the name of the sealing key file in the data directory.
const KeyFileName = "certs.key"

// sealVersion prefixes every sealed blob so the format can evolve.
const sealVersion = 1

// sealAAD binds sealed blobs to their purpose.
var sealAAD = []byte("gantry certs sealed v1")

// Sealer encrypts private keys at rest with AES-256-GCM and a random 96-bit
// nonce per message. A sealed blob is version(1) || nonce(12) ||
// ciphertext || tag(16); Open rejects any change to it. Safe for concurrent
// use. Nodes that share one store must share the key file too.
type Sealer struct {
	aead cipher.AEAD
}

// NewSealer returns a Sealer for a 32-byte key.
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("certs: sealing key must be 32 bytes, got %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("certs: sealing key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("certs: sealing key: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// OpenSealer loads the key file <dataDir>/certs.key, creating it with 32
// random bytes (hex, mode 0600, written atomically so a crash never leaves
// half a key) if it does not exist. It refuses a key file that group or
// others may read.
func OpenSealer(dataDir string) (*Sealer, error) {
	path := filepath.Join(dataDir, KeyFileName)
	key, err := readKeyFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key, err = createKeyFile(dataDir, path)
	}
	if err != nil {
		return nil, err
	}
	return NewSealer(key)
}

func readKeyFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("certs: key file %s has mode %04o: it must not be readable by group or others (chmod 600)", path, perm)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("certs: reading key file: %w", err)
	}
	key, err := hex.DecodeString(string(bytes.TrimSpace(b)))
	if err != nil || len(key) != 32 {
		return nil, fmt.Errorf("certs: key file %s must hold 64 hex digits (32 bytes)", path)
	}
	return key, nil
}

// createKeyFile writes a new key to a temporary file and links it into
// place; if another process won the race, its key is used.
func createKeyFile(dir, path string) ([]byte, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("certs: generating sealing key: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("certs: creating data directory: %w", err)
	}
	tmp, err := os.CreateTemp(dir, KeyFileName+".tmp-*") // mode 0600
	if err != nil {
		return nil, fmt.Errorf("certs: creating key file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("certs: creating key file: %w", err)
	}
	_, err = tmp.WriteString(hex.EncodeToString(key) + "\n")
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("certs: writing key file: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return readKeyFile(path)
		}
		return nil, fmt.Errorf("certs: installing key file: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return key, nil
}

// Seal encrypts plain. The result differs on every call.
func (s *Sealer) Seal(plain []byte) ([]byte, error) {
	ns := s.aead.NonceSize()
	out := make([]byte, 1+ns, 1+ns+len(plain)+s.aead.Overhead())
	out[0] = sealVersion
	if _, err := rand.Read(out[1 : 1+ns]); err != nil {
		return nil, fmt.Errorf("certs: sealing: %w", err)
	}
	return s.aead.Seal(out, out[1:1+ns], plain, sealAAD), nil
}

// Open decrypts what Seal returned, or returns an error wrapping ErrUnseal.
func (s *Sealer) Open(sealed []byte) ([]byte, error) {
	ns := s.aead.NonceSize()
	if len(sealed) < 1+ns+s.aead.Overhead() {
		return nil, fmt.Errorf("%w: too short", ErrUnseal)
	}
	if sealed[0] != sealVersion {
		return nil, fmt.Errorf("%w: unknown format version %d", ErrUnseal, sealed[0])
	}
	plain, err := s.aead.Open(nil, sealed[1:1+ns], sealed[1+ns:], sealAAD)
	if err != nil {
		return nil, fmt.Errorf("%w: tampered with, or sealed with another %s", ErrUnseal, KeyFileName)
	}
	return plain, nil
}

// Stored is a custom certificate as gantry keeps it in its configuration:
// the chain in clear and the private key sealed. Neither field is ever to
// be returned by the API (the chain is public, but the API shows Info).
type Stored struct {
	ChainPEM  string `json:"chain_pem"`
	SealedKey []byte `json:"sealed_key"`
}

// Seal returns the form of c to store, its private key sealed with s.
func (c *Certificate) Seal(s *Sealer) (Stored, error) {
	sealed, err := s.Seal(c.keyPKCS)
	if err != nil {
		return Stored{}, err
	}
	return Stored{ChainPEM: string(c.chain), SealedKey: sealed}, nil
}

// Restore opens a Stored certificate: it unseals the key with s and parses
// and validates the pair as ParseCustom does, except that an expired leaf is
// accepted (reported by InfoAt as StatusError) since it was valid when
// stored.
func Restore(st Stored, s *Sealer, now time.Time) (*Certificate, error) {
	der, err := s.Open(st.SealedKey)
	if err != nil {
		return nil, fmt.Errorf("restoring private key: %w", err)
	}
	c, err := assemble([]byte(st.ChainPEM), der)
	if err != nil {
		return nil, fmt.Errorf("restoring certificate: %w", err)
	}
	c.info = c.InfoAt(now)
	return c, nil
}
