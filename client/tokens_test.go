package client_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"testing"

	"github.com/gantry-lb/gantry/client"
)

func TestTokenCalls(t *testing.T) {
	const tokenAnswer = `{"id": "3f2a9c0d1e2b", "name": "ci", "role": "editor", "created_at": "2026-01-02T03:04:05Z"}`
	tests := []struct {
		name         string
		status       int
		answer       string
		call         func(c *client.Client) (any, error)
		method, path string
		body         string
		want         any
	}{
		{name: "list", status: 200, answer: `{"tokens": [` + tokenAnswer + `], "total_count": 1}`,
			call: func(c *client.Client) (any, error) {
				l, err := c.ListTokens(ctx)
				return []any{len(l), l[0].ID, l[0].Name, l[0].Role, l[0].CreatedAt.Year()}, err
			},
			method: "GET", path: "/v1/tokens", want: []any{1, "3f2a9c0d1e2b", "ci", client.RoleEditor, 2026}},
		{name: "create", status: 201, answer: `{"id": "3f2a9c0d1e2b", "name": "ci", "role": "editor", "created_at": "2026-01-02T03:04:05Z", "secret": "gty_s3cret"}`,
			call: func(c *client.Client) (any, error) {
				nt, err := c.CreateToken(ctx, client.TokenInput{Name: "ci", Role: client.RoleEditor})
				return []any{nt.ID, nt.Name, nt.Secret}, err
			},
			method: "POST", path: "/v1/tokens", body: `{"name": "ci", "role": "editor"}`, want: []any{"3f2a9c0d1e2b", "ci", "gty_s3cret"}},
		{name: "revoke escapes the id", status: 204,
			call:   func(c *client.Client) (any, error) { return nil, c.RevokeToken(ctx, "a/b") },
			method: "DELETE", path: "/v1/tokens/a%2Fb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, got := fake(t, tt.status, "application/json", `"4"`, tt.answer)
			v, err := tt.call(c)
			if err != nil {
				t.Fatal(err)
			}
			if got.method != tt.method || got.path != tt.path {
				t.Errorf("sent %s %s, want %s %s", got.method, got.path, tt.method, tt.path)
			}
			if got.header.Get("Authorization") != "Bearer tok" {
				t.Errorf("Authorization %q", got.header.Get("Authorization"))
			}
			if tt.body != "" {
				var a, b any
				json.Unmarshal([]byte(got.body), &a)
				json.Unmarshal([]byte(tt.body), &b)
				if !reflect.DeepEqual(a, b) {
					t.Errorf("body %s, want %s", got.body, tt.body)
				}
			} else if got.body != "" {
				t.Errorf("body %q, want none", got.body)
			}
			if !reflect.DeepEqual(v, tt.want) {
				t.Errorf("got %#v, want %#v", v, tt.want)
			}
		})
	}
}

func TestTokenErrors(t *testing.T) {
	tests := []struct {
		name   string
		status int
		call   func(c *client.Client) error
	}{
		{"list as a viewer", http.StatusForbidden, func(c *client.Client) error { _, err := c.ListTokens(ctx); return err }},
		{"create a taken name", http.StatusUnprocessableEntity, func(c *client.Client) error {
			_, err := c.CreateToken(ctx, client.TokenInput{Name: "ci", Role: "viewer"})
			return err
		}},
		{"revoke the last admin", http.StatusConflict, func(c *client.Client) error { return c.RevokeToken(ctx, "3f2a9c0d1e2b") }},
		{"revoke an unknown id", http.StatusNotFound, func(c *client.Client) error { return c.RevokeToken(ctx, "nope") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := fake(t, tt.status, "application/problem+json", "",
				fmt.Sprintf(`{"type": "about:blank", "title": "x", "status": %d, "detail": "why"}`, tt.status))
			err := tt.call(c)
			var e *client.Error
			if !errors.As(err, &e) || e.Status != tt.status || e.Problem.Detail != "why" {
				t.Fatalf("err %v, want an *Error with status %d", err, tt.status)
			}
		})
	}
}
