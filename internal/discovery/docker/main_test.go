package docker_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gantry-lb/gantry/internal/discovery"
	"github.com/gantry-lb/gantry/internal/discovery/docker"
	"github.com/gantry-lb/gantry/internal/discovery/docker/dockertest"
)

// testImage is the tag of the test server image, built once by TestMain.
var testImage string

func TestMain(m *testing.M) {
	tag, remove, err := dockertest.Build(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, "building the test image (the Docker engine must be reachable):", err)
		os.Exit(1)
	}
	testImage = tag
	code := m.Run()
	remove()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// logWriter sends a provider's logs to the test log.
type logWriter struct{ tb testing.TB }

func (w logWriter) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// startProvider runs a provider until the test ends.
func startProvider(tb testing.TB, opts docker.Options) *docker.Provider {
	tb.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(logWriter{tb}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	p, err := docker.New(opts)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				tb.Errorf("Run returned %v", err)
			}
		case <-time.After(10 * time.Second):
			tb.Errorf("Run did not return within 10s of its context's end")
		}
		p.Close()
	})
	return p
}

// waitFor waits until the latest Set satisfies pred, and returns it.
func waitFor(tb testing.TB, feed *discovery.Feed, timeout time.Duration, what string, pred func(*discovery.Set) bool) *discovery.Set {
	tb.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		if s := feed.Latest(); s != nil && pred(s) {
			return s
		}
		select {
		case <-feed.Ready():
		case <-deadline.C:
			tb.Fatalf("timed out after %s waiting for %s; latest set: %s", timeout, what, describe(feed.Latest()))
		}
	}
}

// find returns the container id of s, or nil.
func find(s *discovery.Set, id string) *discovery.Container {
	for i := range s.Containers {
		if s.Containers[i].ID == id {
			return &s.Containers[i]
		}
	}
	return nil
}

// has reports whether s has container id and pred holds for it.
func has(id string, pred func(c *discovery.Container) bool) func(*discovery.Set) bool {
	return func(s *discovery.Set) bool {
		c := find(s, id)
		return c != nil && pred(c)
	}
}

func ready(c *discovery.Container) bool { _, err := c.Ready(); return err == nil }

func describe(s *discovery.Set) string {
	if s == nil {
		return "none"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "gen %d trigger %s connected %v err %v:", s.Generation, s.Trigger, s.Connected, s.Err)
	for _, c := range s.Containers {
		if c.Labels[dockertest.LabelTest] == "" {
			continue
		}
		_, err := c.Ready()
		fmt.Fprintf(&b, "\n  %s %.12s state=%s health=%s paused=%v stopping=%v nets=%v ready=%v", c.Name, c.ID, c.State, c.Health, c.Paused, c.Stopping, c.Networks, err)
	}
	return b.String()
}

// get fetches http://addr/path and returns the body.
func get(tb testing.TB, url string) string {
	tb.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	var last error
	for range 50 { // the server may still be binding its port
		resp, err := c.Get(url)
		if err == nil {
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil {
				return string(body)
			}
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	tb.Fatalf("GET %s: %v", url, last)
	return ""
}

func isErr(target error) func(c *discovery.Container) bool {
	return func(c *discovery.Container) bool {
		_, err := c.Ready()
		return errors.Is(err, target)
	}
}
