package control

import (
	"context"
	"errors"
	"testing"

	"github.com/gantry-lb/gantry/internal/config"
)

// projectsCfg has LB "a" of project "blue", "b" of project "green" and
// "c" of no project.
func projectsCfg() *config.Config {
	return &config.Config{LBs: []config.LB{
		{Name: "a", Project: "blue"}, {Name: "b", Project: "green"}, {Name: "c"},
	}}
}

func TestCheckProject(t *testing.T) {
	tests := []struct {
		name    string
		project string
		mutate  func(*config.Config)
		want    error // nil, ErrNotFound or ErrInvalid
	}{
		{"unscoped may touch anything", "", func(c *config.Config) { c.LBs[1].Description = "x"; c.LBs = c.LBs[:2] }, nil},
		{"own LB changes", "blue", func(c *config.Config) { c.LBs[0].Description = "x" }, nil},
		{"own LB deleted", "blue", func(c *config.Config) { c.LBs = c.LBs[1:] }, nil},
		{"new LB in the project", "blue", func(c *config.Config) { c.LBs = append(c.LBs, config.LB{Name: "d", Project: "blue"}) }, nil},
		{"nothing changes", "blue", func(*config.Config) {}, nil},
		{"another project's LB changes", "blue", func(c *config.Config) { c.LBs[1].Description = "x" }, ErrNotFound},
		{"an unscoped LB changes", "blue", func(c *config.Config) { c.LBs[2].Tags = []string{"t"} }, ErrNotFound},
		{"another project's LB deleted", "blue", func(c *config.Config) { c.LBs = c.LBs[:1] }, ErrNotFound},
		{"own LB moved to another project", "blue", func(c *config.Config) { c.LBs[0].Project = "green" }, ErrInvalid},
		{"new LB outside the project", "blue", func(c *config.Config) { c.LBs = append(c.LBs, config.LB{Name: "d"}) }, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := projectsCfg()
			after := before.Clone()
			tt.mutate(after)
			err := checkProject(before, after, tt.project)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("checkProject: %v, want %v", err, tt.want)
			}
		})
	}
}

// TestChangeForProject: the rule holds on Change and on staged writes, and
// a refused write stores nothing.
func TestChangeForProject(t *testing.T) {
	c := newControl(t)
	ctx := context.Background()
	seed := projectsCfg()
	if _, err := c.Change(ctx, Request{Mutate: func(cfg *config.Config) error { *cfg = *seed; return nil }}); err != nil {
		t.Fatal(err)
	}
	before, err := c.Revision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Change(ctx, Request{Project: "blue", Mutate: PutLB("b", func(*config.LB) (config.LB, error) {
		return config.LB{Project: "blue"}, nil
	})})
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("taking over green's LB: %v, want ErrNotFound", err)
	}
	if after, _ := c.Revision(ctx); after != before {
		t.Fatalf("a refused write moved the revision %d -> %d", before, after)
	}
	if _, err := c.Change(ctx, Request{Project: "blue", Mutate: putBackend("a", "api", 8080)}); err != nil {
		t.Fatalf("writing blue's own LB: %v", err)
	}
	txn, err := c.Begin(ctx, 0, "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Change(ctx, Request{Project: "blue", Txn: txn.ID, Mutate: DeleteLB("c", false)}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("staging a delete of an unscoped LB: %v, want ErrNotFound", err)
	}
}

func TestProjectTokens(t *testing.T) {
	c := newControl(t)
	ctx := context.Background()
	_, admin, err := c.CreateToken(ctx, "admin", RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	secret, blue, err := c.CreateToken(ctx, "blue-admin", RoleAdmin, InProject("blue"))
	if err != nil {
		t.Fatal(err)
	}
	if blue.Project != "blue" || blue.ManagesTokens() || !admin.ManagesTokens() {
		t.Fatalf("project admin %+v manages tokens=%v; admin manages=%v", blue, blue.ManagesTokens(), admin.ManagesTokens())
	}
	got, err := c.Authenticate(ctx, secret)
	if err != nil || got.Project != "blue" {
		t.Fatalf("Authenticate: %+v, %v; want project blue", got, err)
	}
	var fe *config.FieldError
	if _, _, err := c.CreateToken(ctx, "bad", RoleViewer, InProject("no way")); !errors.As(err, &fe) || fe.Path != "project" {
		t.Fatalf("an invalid project: %v, want a FieldError on project", err)
	}
	// A project admin cannot make tokens, so it does not count as the
	// admin that keeps the API manageable.
	if err := c.RevokeToken(ctx, admin.ID); !errors.Is(err, ErrLastAdmin) {
		t.Fatalf("revoking the last unscoped admin: %v, want ErrLastAdmin", err)
	}
	if err := c.RevokeToken(ctx, blue.ID); err != nil {
		t.Fatalf("revoking the project admin: %v", err)
	}
}
