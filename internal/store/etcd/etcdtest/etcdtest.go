// Package etcdtest starts a real single-member etcd (the Debian etcd-server
// binary) on loopback ports for tests, with its data directory in the test's
// temporary directory, and stops it in t.Cleanup.
package etcdtest

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Server is one running etcd member.
type Server struct {
	Client  string // client address host:port
	peer    string
	DataDir string
	bin     string
	t       testing.TB

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	out    *lockedBuffer
}

// lockedBuffer collects etcd's output; exec writes it from its own goroutine.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Start starts etcd with a new data directory; it fails the test if the
// binary is missing (install etcd-server) or etcd is not healthy within 20
// seconds.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath("etcd")
	if err != nil {
		t.Fatalf("etcd binary not found (apt-get install etcd-server; scripts/test-deps.sh installs it): %v", err)
	}
	s := &Server{DataDir: filepath.Join(t.TempDir(), "etcd"), bin: bin, t: t}
	s.Client, s.peer = freeAddr(t), freeAddr(t)
	t.Cleanup(s.Stop)
	s.start()
	return s
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// start runs etcd on s.DataDir and waits until /health answers.
func (s *Server) start() {
	s.t.Helper()
	out := &lockedBuffer{}
	cmd := exec.Command(s.bin,
		"--name", "n1",
		"--data-dir", s.DataDir,
		"--listen-client-urls", "http://"+s.Client,
		"--advertise-client-urls", "http://"+s.Client,
		"--listen-peer-urls", "http://"+s.peer,
		"--initial-advertise-peer-urls", "http://"+s.peer,
		"--initial-cluster", "n1=http://"+s.peer,
		"--initial-cluster-state", "new",
		"--max-txn-ops", "4096",
		"--log-level", "warn",
	)
	cmd.Stdout, cmd.Stderr = out, out
	// No Pdeathsig: it fires when the forking OS thread exits, and tests
	// that lock and discard threads (cmd/gantry's network namespaces) would
	// kill etcd mid-test. Stop (t.Cleanup) kills it by PID.
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("starting etcd: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	s.mu.Lock()
	s.cmd, s.out, s.exited = cmd, out, exited
	s.mu.Unlock()
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			s.t.Fatalf("etcd exited at start:\n%s", out.String())
		default:
		}
		resp, err := client.Get("http://" + s.Client + "/health")
		if err == nil {
			healthy := resp.StatusCode == http.StatusOK
			resp.Body.Close()
			if healthy {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("etcd not healthy within 20s:\n%s", out.String())
}

// Kill sends SIGKILL to etcd and waits for it to exit.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
	}
}

// Restart starts etcd again on the same data directory and ports.
func (s *Server) Restart() {
	s.t.Helper()
	s.start()
}

// Stop kills etcd; it is registered with t.Cleanup by Start.
func (s *Server) Stop() {
	s.Kill()
}

// Output returns what etcd logged so far.
func (s *Server) Output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.out == nil {
		return ""
	}
	return s.out.String()
}

// URL returns the gantry --store URL of this etcd with the prefix.
func (s *Server) URL(prefix string) string {
	return fmt.Sprintf("etcd://%s%s", s.Client, prefix)
}
