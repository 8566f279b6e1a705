package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/gantry-lb/gantry/client"
	"github.com/gantry-lb/gantry/internal/control"
	"github.com/gantry-lb/gantry/internal/store/bolt"
)

// ErrServing is what CreateTokenOffline returns when a gantry serve holds
// the data directory's store: tokens are then made through the API.
var ErrServing = errors.New("gantry serve is running on this data directory; use the API")

// storeFile is the name of the embedded store in the data directory.
const storeFile = "gantry.db"

// keepRevisions is how many revisions the embedded store keeps readable.
const keepRevisions = 10000

// CreateTokenOffline makes a token directly in the store of dataDir, for
// recovery when no admin token is at hand (the file lost, the last admin's
// secret forgotten). It works only while no gantry serve holds the store
// (else ErrServing), and only on a data directory gantry serve has
// initialized: a mistyped path must not grow a new, empty store. The
// token's secret is returned once, like the API's.
func CreateTokenOffline(ctx context.Context, dataDir, name, role string) (client.NewToken, error) {
	path := filepath.Join(dataDir, storeFile)
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return client.NewToken{}, fmt.Errorf("no gantry store in %s (%s not found): run gantry serve --data %s once first", dataDir, storeFile, dataDir)
		}
		return client.NewToken{}, err
	}
	st, err := bolt.Open(path, bolt.Options{KeepRevisions: keepRevisions})
	if errors.Is(err, bolt.ErrLocked) {
		return client.NewToken{}, fmt.Errorf("%s: %w", dataDir, ErrServing)
	}
	if err != nil {
		return client.NewToken{}, err
	}
	defer st.Close()
	ctl := control.New(st, nil, slog.New(slog.DiscardHandler))
	secret, t, err := ctl.CreateToken(ctx, name, control.Role(role))
	if err != nil {
		return client.NewToken{}, err
	}
	if err := st.Close(); err != nil {
		return client.NewToken{}, err
	}
	return client.NewToken{Token: client.Token{ID: t.ID, Name: t.Name, Role: string(t.Role), CreatedAt: t.Created}, Secret: secret}, nil
}
