package app_test

import (
	"fmt"
	"net/http"
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves goroutines behind: every
// listener, tunnel, health probe and sweeper must stop on Shutdown.
func TestMain(m *testing.M) {
	code := m.Run()
	// Keep-alive connections of the tests' own HTTP clients are not ours.
	http.DefaultClient.CloseIdleConnections()
	if code == 0 {
		// net/http servers used as test backends linger 500 ms after
		// closing a connection they abandoned (closeWriteAndWait).
		// certmagic keeps one rate limiter goroutine per ACME CA and
		// account for the life of the process (a package-level map).
		if err := goleak.Find(goleak.IgnoreAnyFunction("net/http.(*conn).closeWriteAndWait"),
			goleak.IgnoreAnyFunction("github.com/caddyserver/certmagic.(*RingBufferRateLimiter).loop")); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}
