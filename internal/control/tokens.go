package control

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gantry-lb/gantry/internal/store"
)

// Role is what a token may do.
type Role string

// Roles.
const (
	RoleAdmin  Role = "admin"  // everything, including tokens
	RoleEditor Role = "editor" // read and write the config
	RoleViewer Role = "viewer" // read only
)

// ErrUnauthorized: no such token, or it was revoked.
var ErrUnauthorized = errors.New("control: invalid token")

const tokenPrefix = "auth/tokens/"

// Token is what the store keeps about an API token: never the token
// itself, only its SHA-256 (a token is 32 random bytes, so a fast hash is
// enough; there is nothing to brute-force).
type Token struct {
	ID      string    `json:"id"` // first 12 hex digits of the hash, for listing and revoking
	Name    string    `json:"name"`
	Role    Role      `json:"role"`
	Created time.Time `json:"created"`
}

func tokenKey(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return tokenPrefix + hex.EncodeToString(sum[:])
}

// CreateToken makes a new token and returns its secret, which is shown
// once and never stored.
func (c *Control) CreateToken(ctx context.Context, name string, role Role) (string, Token, error) {
	secret, err := NewTokenSecret()
	if err != nil {
		return "", Token{}, err
	}
	t, err := c.AddToken(ctx, secret, name, role)
	return secret, t, err
}

// AddToken stores the hash of a secret made by NewTokenSecret.
func (c *Control) AddToken(ctx context.Context, secret, name string, role Role) (Token, error) {
	switch role {
	case RoleAdmin, RoleEditor, RoleViewer:
	default:
		return Token{}, fmt.Errorf("%w: role %q is not one of admin, editor, viewer", ErrInvalid, role)
	}
	key := tokenKey(secret)
	t := Token{ID: key[len(tokenPrefix) : len(tokenPrefix)+12], Name: name, Role: role, Created: c.now().UTC()}
	val, err := json.Marshal(t)
	if err != nil {
		return Token{}, err
	}
	for {
		rev, err := c.st.Revision(ctx)
		if err != nil {
			return Token{}, err
		}
		_, err = c.st.Commit(ctx, rev, []store.Op{{Key: key, Value: val}}, store.Meta{Author: "gantry", Message: "token " + name + " created"})
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return Token{}, err
		}
		return t, nil
	}
}

// Authenticate returns the token whose secret this is.
func (c *Control) Authenticate(ctx context.Context, secret string) (Token, error) {
	kv, err := c.st.Get(ctx, tokenKey(secret), 0)
	if errors.Is(err, store.ErrNotFound) {
		return Token{}, ErrUnauthorized
	}
	if err != nil {
		return Token{}, err
	}
	var t Token
	if err := json.Unmarshal(kv.Value, &t); err != nil {
		return Token{}, fmt.Errorf("control: decoding token: %w", err)
	}
	return t, nil
}

// Tokens lists every token (without secrets).
func (c *Control) Tokens(ctx context.Context) ([]Token, error) {
	kvs, _, err := c.st.Range(ctx, tokenPrefix, 0)
	if err != nil {
		return nil, err
	}
	out := make([]Token, 0, len(kvs))
	for _, kv := range kvs {
		var t Token
		if err := json.Unmarshal(kv.Value, &t); err != nil {
			return nil, fmt.Errorf("control: decoding token: %w", err)
		}
		out = append(out, t)
	}
	return out, nil
}

// NewTokenSecret returns a fresh random token secret.
func NewTokenSecret() (string, error) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	return "gty_" + base64.RawURLEncoding.EncodeToString(raw[:]), nil
}
