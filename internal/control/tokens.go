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
	"slices"
	"strings"
	"time"

	"github.com/gantry-lb/gantry/internal/config"
	"github.com/gantry-lb/gantry/internal/store"
)

// Role is what a token may do.
type Role string

// Roles.
const (
	RoleAdmin  Role = "admin"  // everything, including tokens (when bound to no project)
	RoleEditor Role = "editor" // read and write the config
	RoleViewer Role = "viewer" // read only
)

// ErrUnauthorized: no such token, or it was revoked.
var ErrUnauthorized = errors.New("control: invalid token")

// ErrLastAdmin: revoking the token would leave no admin token, and with it
// nobody who could make one through the API (409).
var ErrLastAdmin = errors.New("control: the last admin token cannot be revoked")

const tokenPrefix = "auth/tokens/"

// Token is what the store keeps about an API token: never the token
// itself, only its SHA-256 (a token is 32 random bytes, so a fast hash is
// enough; there is nothing to brute-force).
type Token struct {
	ID   string `json:"id"` // first 12 hex digits of the hash, for listing and revoking
	Name string `json:"name"`
	Role Role   `json:"role"`
	// Project, when set, binds the token to one project: it sees and
	// changes only the LBs of that project, and never tokens or
	// config-wide resources.
	Project string    `json:"project,omitempty"`
	Created time.Time `json:"created"`
}

// Unscoped reports whether the token is bound to no project, so it may
// reach every object.
func (t Token) Unscoped() bool { return t.Project == "" }

// ManagesTokens reports whether the token may create, list and revoke
// tokens: only an admin bound to no project, so a project token can never
// mint itself a wider one.
func (t Token) ManagesTokens() bool { return t.Role == RoleAdmin && t.Unscoped() }

// TokenOption sets an optional property of a token being made.
type TokenOption func(*Token)

// InProject binds the token to a project (empty: to none).
func InProject(project string) TokenOption {
	return func(t *Token) { t.Project = project }
}

func tokenKey(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return tokenPrefix + hex.EncodeToString(sum[:])
}

// CreateToken makes a new token and returns its secret, which is shown
// once and never stored.
func (c *Control) CreateToken(ctx context.Context, name string, role Role, opts ...TokenOption) (string, Token, error) {
	secret, err := NewTokenSecret()
	if err != nil {
		return "", Token{}, err
	}
	t, err := c.AddToken(ctx, secret, name, role, opts...)
	return secret, t, err
}

// AddToken stores the hash of a secret made by NewTokenSecret. The name
// must be a valid name (as config names: 1-63 of [A-Za-z0-9._-], starting
// with a letter or digit) and unique among tokens; otherwise the error wraps
// ErrInvalid and a *config.FieldError naming the field. A project, when
// given, must be a valid name too.
func (c *Control) AddToken(ctx context.Context, secret, name string, role Role, opts ...TokenOption) (Token, error) {
	if err := config.ValidName(name); err != nil {
		return Token{}, fmt.Errorf("%w: %w", ErrInvalid, &config.FieldError{Path: "name", Msg: fmt.Sprintf("%q: %v", name, err)})
	}
	switch role {
	case RoleAdmin, RoleEditor, RoleViewer:
	default:
		return Token{}, fmt.Errorf("%w: %w", ErrInvalid, &config.FieldError{Path: "role", Msg: fmt.Sprintf("%q is not one of admin, editor, viewer", role)})
	}
	var o Token
	for _, opt := range opts {
		opt(&o)
	}
	if o.Project != "" {
		if err := config.ValidName(o.Project); err != nil {
			return Token{}, fmt.Errorf("%w: %w", ErrInvalid, &config.FieldError{Path: "project", Msg: fmt.Sprintf("%q: %v", o.Project, err)})
		}
	}
	key := tokenKey(secret)
	t := Token{ID: key[len(tokenPrefix) : len(tokenPrefix)+12], Name: name, Role: role, Project: o.Project, Created: c.now().UTC()}
	val, err := json.Marshal(t)
	if err != nil {
		return Token{}, err
	}
	for range maxRetries {
		// The names are read at the base of the commit, so two creations
		// racing on one name cannot both pass: the second one's base is
		// stale, it retries and sees the first.
		toks, rev, err := c.tokensAt(ctx)
		if err != nil {
			return Token{}, err
		}
		for _, o := range toks {
			if o.Name == name {
				return Token{}, fmt.Errorf("%w: %w", ErrInvalid, &config.FieldError{Path: "name", Msg: fmt.Sprintf("a token named %q exists already (id %s)", name, o.ID)})
			}
			if o.ID == t.ID {
				return Token{}, fmt.Errorf("control: token ID %s is taken; make a new secret", t.ID)
			}
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
	return Token{}, ErrBusy
}

// RevokeToken deletes the token with this ID: from the commit on, its
// secret authenticates nothing. It fails with ErrNotFound if no token has
// the ID, and with ErrLastAdmin if it is the only admin token left that
// is bound to no project (the only kind that can make tokens).
func (c *Control) RevokeToken(ctx context.Context, id string) error {
	for range maxRetries {
		kvs, rev, err := c.st.Range(ctx, tokenPrefix, 0)
		if err != nil {
			return err
		}
		var victim *Token
		var key string
		admins := 0
		for _, kv := range kvs {
			t, err := decodeToken(kv.Value)
			if err != nil {
				return err
			}
			if t.ManagesTokens() {
				admins++
			}
			if t.ID == id {
				victim, key = &t, kv.Key
			}
		}
		if victim == nil {
			return fmt.Errorf("token %q: %w", id, ErrNotFound)
		}
		// Counted at the base of the commit: two admins revoking each
		// other at once cannot both win and leave none.
		if victim.ManagesTokens() && admins == 1 {
			return fmt.Errorf("%w: token %s (%q) is the only admin token; create another admin token first", ErrLastAdmin, id, victim.Name)
		}
		_, err = c.st.Commit(ctx, rev, []store.Op{{Key: key, Delete: true}}, store.Meta{Author: "gantry", Message: "token " + victim.Name + " revoked"})
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		return err
	}
	return ErrBusy
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
	return decodeToken(kv.Value)
}

// Tokens lists every token (without secrets), oldest first.
func (c *Control) Tokens(ctx context.Context) ([]Token, error) {
	toks, _, err := c.tokensAt(ctx)
	return toks, err
}

// tokensAt lists every token at the head, oldest first, and the head
// revision it read them at.
func (c *Control) tokensAt(ctx context.Context) ([]Token, uint64, error) {
	kvs, rev, err := c.st.Range(ctx, tokenPrefix, 0)
	if err != nil {
		return nil, 0, err
	}
	out := make([]Token, 0, len(kvs))
	for _, kv := range kvs {
		t, err := decodeToken(kv.Value)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, t)
	}
	// The store orders by key, a hash: order by age (then name) instead,
	// so a list reads the same every time.
	slices.SortStableFunc(out, func(a, b Token) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out, rev, nil
}

func decodeToken(raw []byte) (Token, error) {
	var t Token
	if err := json.Unmarshal(raw, &t); err != nil {
		return Token{}, fmt.Errorf("control: decoding token: %w", err)
	}
	return t, nil
}

// NewTokenSecret returns a fresh random token secret.
func NewTokenSecret() (string, error) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	return "gty_" + base64.RawURLEncoding.EncodeToString(raw[:]), nil
}
