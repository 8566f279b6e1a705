package api_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/gantry-lb/gantry/internal/api"
	"github.com/gantry-lb/gantry/internal/control"
	"github.com/gantry-lb/gantry/internal/store/bolt"
)

// newControl returns a Control over a fresh bolt store in a temp dir,
// closed at cleanup, and the logger it logs to (which discards).
func newControl(t *testing.T) (*control.Control, *slog.Logger) {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	log := slog.New(slog.DiscardHandler)
	return control.New(st, nil, log), log
}

// newAdminServer starts a real API server over a fresh store (newControl)
// with o's other options, closed at cleanup, and returns it with an admin
// token.
func newAdminServer(t *testing.T, o api.Options) (*httptest.Server, string) {
	t.Helper()
	ctl, log := newControl(t)
	admin, _, err := ctl.CreateToken(context.Background(), "admin", control.RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	o.Control, o.Log = ctl, log
	srv := httptest.NewServer(api.New(o))
	t.Cleanup(srv.Close)
	t.Cleanup(srv.Client().CloseIdleConnections)
	return srv, admin
}
