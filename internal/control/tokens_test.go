package control

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/gantry-lb/gantry/internal/config"
)

func TestCreateTokenValidates(t *testing.T) {
	c := newControl(t)
	ctx := context.Background()
	if _, _, err := c.CreateToken(ctx, "ci", RoleEditor); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		tokenName string
		role      Role
		field     string
		want      string
	}{
		{"empty name", "", RoleViewer, "name", "required"},
		{"space", "a b", RoleViewer, "name", `character ' ' at 1`},
		{"leading dash", "-ci", RoleViewer, "name", `character '-' at 0`},
		{"too long", strings.Repeat("a", 64), RoleViewer, "name", "longer than 63"},
		{"duplicate", "ci", RoleViewer, "name", `a token named "ci" exists already`},
		{"unknown role", "ops", Role("root"), "role", `"root" is not one of admin, editor, viewer`},
		{"empty role", "ops", Role(""), "role", "is not one of"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := c.CreateToken(ctx, tt.tokenName, tt.role)
			var fe *config.FieldError
			if !errors.Is(err, ErrInvalid) || !errors.As(err, &fe) || fe.Path != tt.field || !strings.Contains(fe.Msg, tt.want) {
				t.Fatalf("err %v, want ErrInvalid on field %s containing %q", err, tt.field, tt.want)
			}
		})
	}
	for _, ok := range []string{"a", "ci.prod_2-b", strings.Repeat("z", 63)} {
		if _, _, err := c.CreateToken(ctx, ok, RoleViewer); err != nil {
			t.Errorf("name %q: %v", ok, err)
		}
	}
	toks, err := c.Tokens(ctx)
	if err != nil || len(toks) != 4 {
		t.Fatalf("tokens %+v %v, want 4 (the rejected ones stored nothing)", toks, err)
	}
}

func TestRevokeToken(t *testing.T) {
	c := newControl(t)
	ctx := context.Background()
	adminSecret, admin, err := c.CreateToken(ctx, "admin", RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	ciSecret, ci, err := c.CreateToken(ctx, "ci", RoleEditor)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c.Authenticate(ctx, ciSecret); err != nil || got != ci {
		t.Fatalf("before revoking: %+v %v", got, err)
	}
	if err := c.RevokeToken(ctx, ci.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Authenticate(ctx, ciSecret); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("a revoked token authenticates: %v", err)
	}
	if err := c.RevokeToken(ctx, ci.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoking twice: %v, want ErrNotFound", err)
	}
	if err := c.RevokeToken(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown id: %v, want ErrNotFound", err)
	}
	err = c.RevokeToken(ctx, admin.ID)
	if !errors.Is(err, ErrLastAdmin) || !strings.Contains(err.Error(), "create another admin token first") {
		t.Fatalf("revoking the last admin: %v, want ErrLastAdmin", err)
	}
	if _, err := c.Authenticate(ctx, adminSecret); err != nil {
		t.Fatalf("the refused revocation touched the token: %v", err)
	}
	// With a second admin, the first may go; then the second is the last.
	_, admin2, err := c.CreateToken(ctx, "admin2", RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.RevokeToken(ctx, admin.ID); err != nil {
		t.Fatal(err)
	}
	if err := c.RevokeToken(ctx, admin2.ID); !errors.Is(err, ErrLastAdmin) {
		t.Fatalf("revoking the new last admin: %v", err)
	}
	// A name is free again once its token is revoked.
	if _, _, err := c.CreateToken(ctx, "ci", RoleViewer); err != nil {
		t.Fatalf("reusing a revoked name: %v", err)
	}
	toks, _ := c.Tokens(ctx)
	var names []string
	for _, tk := range toks {
		names = append(names, tk.Name+"/"+string(tk.Role))
	}
	if got := strings.Join(names, ","); got != "admin2/admin,ci/viewer" {
		t.Fatalf("tokens %s", got)
	}
	// Token writes are not config: they move neither the config revision
	// nor the history.
	if rev, _ := c.Revision(ctx); rev != 0 {
		t.Errorf("config revision %d after token writes, want 0", rev)
	}
	if h, _ := c.History(ctx, 0, 10); len(h) != 0 {
		t.Errorf("history shows token writes: %+v", h)
	}
}

// TestRevokeRaceKeepsAnAdmin: two admins revoking each other at once
// cannot leave no admin.
func TestRevokeRaceKeepsAnAdmin(t *testing.T) {
	c := newControl(t)
	ctx := context.Background()
	_, a, err := c.CreateToken(ctx, "a", RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	_, b, err := c.CreateToken(ctx, "b", RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, id := range []string{a.ID, b.ID} {
		wg.Go(func() { errs[i] = c.RevokeToken(ctx, id) })
	}
	wg.Wait()
	won, lastAdmin := 0, 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case errors.Is(err, ErrLastAdmin):
			lastAdmin++
		default:
			t.Errorf("unexpected error %v", err)
		}
	}
	toks, _ := c.Tokens(ctx)
	if won != 1 || lastAdmin != 1 || len(toks) != 1 || toks[0].Role != RoleAdmin {
		t.Fatalf("won %d, refused %d, left %+v; want exactly one admin left", won, lastAdmin, toks)
	}
}

// TestCreateRaceOnOneName: of two creations of one name at once, exactly
// one wins.
func TestCreateRaceOnOneName(t *testing.T) {
	c := newControl(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { _, _, errs[i] = c.CreateToken(ctx, "ci", RoleEditor) })
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		if err == nil {
			won++
		} else if !errors.Is(err, ErrInvalid) {
			t.Errorf("unexpected error %v", err)
		}
	}
	if toks, _ := c.Tokens(ctx); won != 1 || len(toks) != 1 {
		t.Fatalf("%d creations won, %d tokens stored; want 1 and 1", won, len(toks))
	}
}
