package certs

import (
	"testing"

	"go.uber.org/goleak"
)

// certmagic keeps one rate limiter goroutine per CA and account for the
// life of the process (a package-level map it never stops).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("github.com/caddyserver/certmagic.(*RingBufferRateLimiter).loop"),
	)
}
