package client

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// Roles of an API token: RoleAdmin may do everything, tokens included;
// RoleEditor reads and writes the config; RoleViewer only reads.
const (
	RoleAdmin  = "admin"
	RoleEditor = "editor"
	RoleViewer = "viewer"
)

// Token is an API token as the server lists it: never its secret.
type Token struct {
	// ID names the token for revoking (12 hex digits of its hash).
	ID   string `json:"id"`
	Name string `json:"name"`
	Role string `json:"role"`
	// Project, when set, binds the token to one project: it sees only
	// that project's load balancers (others answer 404).
	Project   string    `json:"project,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// TokenInput is the body of POST /v1/tokens.
type TokenInput struct {
	// Name is unique among tokens: 1-63 of [A-Za-z0-9._-], starting with
	// a letter or digit.
	Name string `json:"name"`
	// Role is admin, editor or viewer.
	Role string `json:"role"`
	// Project, if given, binds the token to that project (a name like
	// Name): it sees and changes only the LBs of the project.
	Project string `json:"project,omitempty"`
}

// NewToken is the answer to creating a token: the only time its Secret is
// ever returned.
type NewToken struct {
	Token
	Secret string `json:"secret"`
}

// TokenList is the answer of GET /v1/tokens, oldest token first.
type TokenList struct {
	Tokens     []Token `json:"tokens"`
	TotalCount int     `json:"total_count"`
}

// ListTokens lists every token, oldest first. Admin tokens only (403).
func (c *Client) ListTokens(ctx context.Context) ([]Token, error) {
	var out TokenList
	if _, err := get(ctx, c, "/v1/tokens", nil, &out); err != nil {
		return nil, err
	}
	return out.Tokens, nil
}

// CreateToken makes a token and returns it with its secret, which no
// call returns again. Admin tokens only (403); a bad or taken name
// answers 422.
func (c *Client) CreateToken(ctx context.Context, in TokenInput) (*NewToken, error) {
	b, err := jsonBody(in)
	if err != nil {
		return nil, err
	}
	var out NewToken
	if _, err := c.do(ctx, http.MethodPost, "/v1/tokens", newCall(nil), b, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// RevokeToken deletes token id: its secret stops working at once. Admin
// tokens only (403); 404 if no token has the ID, 409 if it is the last
// admin token.
func (c *Client) RevokeToken(ctx context.Context, id string) error {
	_, err := c.do(ctx, http.MethodDelete, "/v1/tokens/"+url.PathEscape(id), newCall(nil), nil, nil)
	return err
}
