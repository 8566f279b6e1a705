package certs

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-lb/gantry/internal/certs/pebbletest"
	"github.com/gantry-lb/gantry/internal/store"
)

// startPebble starts pebble (see pebbletest) validating HTTP-01 on
// httpPort and TLS-ALPN-01 on tlsPort; profiles maps an ACME profile name
// to a validity in seconds ("default" is required). CERTS_TEST_LOG shows
// pebble's logs.
func startPebble(t *testing.T, httpPort, tlsPort int, profiles map[string]int) *pebbletest.Pebble {
	t.Helper()
	return pebbletest.Start(t, pebbletest.Options{HTTPPort: httpPort, TLSPort: tlsPort, Profiles: profiles, ShowLogs: os.Getenv("CERTS_TEST_LOG") != ""})
}

func freeTCPPort(t *testing.T) int { return pebbletest.FreePorts(t, 1)[0] }

// challengeHTTP serves HTTP-01 answers on ln from whichever Manager target
// points at, counting the answers, and 404 for everything else.
func challengeHTTP(t *testing.T, ln net.Listener, target *atomic.Pointer[Manager], answered *atomic.Int64) {
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if m := target.Load(); m != nil && m.HandleHTTPChallenge(w, r) {
			answered.Add(1)
			return
		}
		http.NotFound(w, r)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
}

func listenLoopback(t *testing.T) (net.Listener, int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln, ln.Addr().(*net.TCPAddr).Port
}

// acmeOptions are the options of a test Manager using pebble.
func acmeOptions(pe *pebbletest.Pebble, node string) ACMEOptions {
	return ACMEOptions{
		DirectoryURL:  pe.DirURL,
		CABundle:      pe.CAPEM,
		ListenHost:    "127.0.0.1",
		HTTPPort:      pe.HTTPPort,
		TLSALPNPort:   pe.TLSPort,
		RetryMin:      time.Hour,
		ObtainTimeout: 60 * time.Second,
		LockTTL:       10 * time.Second,
		LockPoll:      100 * time.Millisecond,
		NodeID:        node,
	}
}

func newACMEManager(t *testing.T, st store.Store, sealer *Sealer, o ACMEOptions) *Manager {
	t.Helper()
	m, err := New(Options{Sealer: sealer, Store: st, ACME: o, Logger: logger(t).With("node", o.NodeID)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// waitReady waits until the certificate is ready, failing at once if it
// turns to error.
func waitReady(t *testing.T, m *Manager, name string, d time.Duration) Info {
	t.Helper()
	var in Info
	waitFor(t, d, fmt.Sprintf("certificate %s to be ready", name), func() bool {
		in, _ = m.Status(name)
		if in.Status == StatusError {
			t.Fatalf("certificate %s: error: %s", name, in.StatusDetails)
		}
		return in.Status == StatusReady
	})
	return in
}
