package app_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/gantry-lb/gantry/internal/app"
)

func TestCreateTokenOffline(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()

	// A directory gantry serve never used is refused, not initialized.
	if _, err := app.CreateTokenOffline(ctx, dir, "rescue", "admin"); err == nil || !strings.Contains(err.Error(), "no gantry store in") {
		t.Fatalf("empty directory: %v", err)
	}

	s := startServe(t, dir)
	// While serve holds the store, the CLI is sent to the API.
	_, err := app.CreateTokenOffline(ctx, dir, "rescue", "admin")
	if !errors.Is(err, app.ErrServing) || !strings.Contains(err.Error(), "gantry serve is running on this data directory; use the API") {
		t.Fatalf("while serving: %v, want ErrServing", err)
	}
	s.stop()

	tests := []struct {
		name, tokenName, role, want string
	}{
		{"bad name", "a b", "admin", `name: "a b": character ' ' at 1`},
		{"bad role", "ops", "root", `role: "root" is not one of admin, editor, viewer`},
		{"taken name", "admin", "admin", `a token named "admin" exists already`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := app.CreateTokenOffline(ctx, dir, tt.tokenName, tt.role); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want %q", err, tt.want)
			}
		})
	}

	nt, err := app.CreateTokenOffline(ctx, dir, "rescue", "admin")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(nt.Secret, "gty_") || nt.Name != "rescue" || nt.Role != "admin" || len(nt.ID) != 12 {
		t.Fatalf("token %+v", nt)
	}

	// The next serve knows the token: it can manage tokens, as an admin.
	s2 := startServe(t, dir)
	s2.token = nt.Secret
	r := s2.must(t, 200, "GET", "/v1/tokens", nil)
	if !strings.Contains(r.raw, `"name": "rescue"`) || strings.Contains(r.raw, nt.Secret) {
		t.Fatalf("tokens: %s", r.raw)
	}
	s2.must(t, 201, "POST", "/v1/tokens", map[string]string{"name": "ci", "role": "editor"})
	s2.must(t, 200, "PUT", "/v1/lbs/web", map[string]any{"description": "made with the rescue token"})
}
