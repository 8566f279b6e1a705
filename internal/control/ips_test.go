package control

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/gantry-lb/gantry/internal/config"
)

func lbWithIPs(ips ...string) func(*config.LB) (config.LB, error) {
	return func(*config.LB) (config.LB, error) { return config.LB{IPs: ips}, nil }
}

// TestIPObjects walks an IP's life: created with its LB, kept when the LB
// goes, shared by a second LB, refused deletion while bound, and released
// with the last LB that binds it.
func TestIPObjects(t *testing.T) {
	c := newControl(t)
	ctx := context.Background()
	change := func(m func(*config.Config) error) (*Result, error) {
		t.Helper()
		return c.Change(ctx, Request{Mutate: m})
	}
	res, err := change(PutLB("a", lbWithIPs("10.0.0.1", "0::1")))
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, ch := range res.Changes {
		paths = append(paths, ch.Path)
	}
	if want := []string{"ips/10.0.0.1", "ips/::1", "lbs/a"}; !slices.Equal(paths, want) {
		t.Fatalf("changes %v, want %v", paths, want)
	}
	if _, err := change(PutIP("10.0.0.1", func(cur *config.IP) (config.IP, error) {
		if cur == nil {
			return config.IP{}, errors.New("the auto-created IP is missing")
		}
		return config.IP{Reverse: "a.example.com", Tags: []string{"prod"}}, nil
	})); err != nil {
		t.Fatal(err)
	}
	if _, err := change(DeleteLB("a", false)); err != nil {
		t.Fatal(err)
	}
	st, _ := c.Get(ctx, 0)
	if len(st.Config.IPs) != 2 || st.Config.IPs[0].Address != "10.0.0.1" || st.Config.IPs[0].Reverse != "a.example.com" || st.Config.IPs[1].Address != "::1" {
		t.Fatalf("IPs after deleting the LB: %+v", st.Config.IPs)
	}
	if _, err := change(PutLB("b", lbWithIPs("10.0.0.1"))); err != nil {
		t.Fatal(err)
	}
	if _, err := change(PutLB("c", lbWithIPs("10.0.0.1"))); err != nil {
		t.Fatal(err)
	}
	// Bound IPs cannot go; the error names the LB's field.
	_, err = change(DeleteIP("10.0.0.1"))
	var es config.Errors
	if !errors.Is(err, ErrInvalid) || !errors.As(err, &es) || es[0].Path != "lbs[b].ips[0]" || len(es) != 2 {
		t.Fatalf("deleting a bound IP: %v", err)
	}
	// An LB may not bind an address that has no object once IPs exist...
	_, err = change(func(cfg *config.Config) error { cfg.LB("c").IPs = []string{"10.0.0.7"}; return nil })
	if !errors.As(err, &es) || es[0].Path != "lbs[c].ips[0]" {
		t.Fatalf("binding an unknown address: %v", err)
	}
	// ...but releasing keeps an IP another LB binds.
	if _, err := change(DeleteLB("b", true)); err != nil {
		t.Fatal(err)
	}
	if st, _ := c.Get(ctx, 0); st.Config.IP("10.0.0.1") == nil {
		t.Fatal("release_ip deleted an IP that LB c still binds")
	}
	if _, err := change(DeleteLB("c", true)); err != nil {
		t.Fatal(err)
	}
	if st, _ := c.Get(ctx, 0); st.Config.IP("10.0.0.1") != nil || st.Config.IP("::1") == nil {
		t.Fatalf("after release: %+v", st.Config.IPs)
	}
	if _, err := change(DeleteIP("::1")); err != nil {
		t.Fatal(err)
	}
	if _, err := change(DeleteIP("::1")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleting a missing IP: %v", err)
	}
	if _, err := change(DeleteLB("c", true)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleting a missing LB: %v", err)
	}
}

// TestPutLBAdoptsLegacyAddresses: in a config without IP objects, the
// first LB written with ips creates objects for every LB's addresses, so
// the others stay valid.
func TestPutLBAdoptsLegacyAddresses(t *testing.T) {
	c := newControl(t)
	ctx := context.Background()
	legacy := &config.Config{LBs: []config.LB{{Name: "old", IPs: []string{"10.0.0.5"}}}}
	if _, err := c.Replace(ctx, legacy, Request{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Change(ctx, Request{Mutate: PutLB("new", lbWithIPs("10.0.0.6"))}); err != nil {
		t.Fatal(err)
	}
	st, _ := c.Get(ctx, 0)
	if st.Config.IP("10.0.0.5") == nil || st.Config.IP("10.0.0.6") == nil {
		t.Fatalf("IPs %+v, want objects for both LBs' addresses", st.Config.IPs)
	}
}
