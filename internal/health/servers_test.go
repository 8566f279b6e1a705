package health

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Real servers from Debian packages (scripts/test-deps.sh installs them),
// started on loopback ports in a temporary directory, once per test binary:
// the first test that needs one starts it, TestMain stops them all. Servers
// that refuse to run as root (mariadbd, postgres) run as nobody on files
// nobody owns.

const (
	pgBin       = "/usr/lib/postgresql/15/bin"
	nobodyID    = 65534
	serverStart = 30 * time.Second // bound on one server's start or stop
)

// fixtures holds the servers started by this test binary.
var fixtures = &serverSet{started: make(map[string]*fixture)}

type serverSet struct {
	mu      sync.Mutex
	base    string // a directory every server lives under; nobody can enter it
	started map[string]*fixture
}

// fixture is the memoised outcome of starting one named server.
type fixture struct {
	once sync.Once
	srv  *server
	err  error
}

// get returns the server name, starting it with start on first use. A
// server that failed to start fails every test that needs it, at once.
func (s *serverSet) get(t *testing.T, name string, start func(dir string) (*server, error)) *server {
	t.Helper()
	s.mu.Lock()
	f, ok := s.started[name]
	if !ok {
		f = new(fixture)
		s.started[name] = f
	}
	s.mu.Unlock()
	f.once.Do(func() {
		dir, err := s.dir(name)
		if err != nil {
			f.err = err
			return
		}
		f.srv, f.err = start(dir)
	})
	if f.err != nil {
		t.Fatalf("starting %s: %v", name, f.err)
	}
	if !f.srv.running() {
		// A test that stopped it failed before starting it again.
		if err := f.srv.start(); err != nil {
			t.Fatalf("restarting %s: %v", name, err)
		}
	}
	return f.srv
}

// dir returns a new directory for server name, owned by nobody.
func (s *serverSet) dir(name string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.base == "" {
		base, err := os.MkdirTemp("", "gantry-health-")
		if err != nil {
			return "", err
		}
		if err := os.Chmod(base, 0o755); err != nil {
			return "", err
		}
		s.base = base
	}
	dir := filepath.Join(s.base, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return "", err
	}
	return dir, os.Chown(dir, nobodyID, nobodyID)
}

// stopAll stops every server and removes their files.
func (s *serverSet) stopAll() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for name, f := range s.started {
		if f.srv != nil {
			if err := f.srv.stop(); err != nil {
				errs = append(errs, fmt.Errorf("stopping %s: %w", name, err))
			}
		}
	}
	if s.base != "" {
		errs = append(errs, os.RemoveAll(s.base))
	}
	return errors.Join(errs...)
}

// server is one server process that can be stopped and started again on
// the same address.
type server struct {
	name    string
	addr    string // 127.0.0.1:port
	dir     string
	argv    []string
	nobody  bool           // run as nobody
	stopSig syscall.Signal // the signal for a clean, quick stop

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been waited for
}

// running reports whether the process is alive.
func (s *server) running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return false
	}
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// start starts the process and waits until its port accepts connections.
func (s *server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	logf, err := os.OpenFile(filepath.Join(s.dir, s.name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := command(s.dir, s.nobody, s.argv...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: %w", s.argv[0], err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	s.cmd, s.exited = cmd, exited
	deadline := time.Now().Add(serverStart)
	for {
		select {
		case <-exited:
			return fmt.Errorf("%s exited at start (%v); log:\n%s", s.name, cmd.ProcessState, s.logTail())
		default:
		}
		c, err := net.DialTimeout("tcp", s.addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not listening on %s after %v; log:\n%s", s.name, s.addr, serverStart, s.logTail())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop stops the process cleanly, or kills it if it does not exit in time.
func (s *server) stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return nil
	}
	select {
	case <-s.exited:
		return nil
	default:
	}
	s.cmd.Process.Signal(s.stopSig)
	select {
	case <-s.exited:
		return nil
	case <-time.After(serverStart):
		s.cmd.Process.Kill()
		<-s.exited
		return fmt.Errorf("%s ignored %v for %v and was killed", s.name, s.stopSig, serverStart)
	}
}

func (s *server) logTail() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, s.name+".log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// command returns a command run in dir, as nobody if asked, killed if the
// test binary dies.
func command(dir string, nobody bool, argv ...string) *exec.Cmd {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + dir, "LANG=C"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if nobody {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: nobodyID, Gid: nobodyID}
	}
	return cmd
}

// run runs a setup command to completion, bounded in time.
func run(dir string, nobody bool, stdin string, argv ...string) error {
	cmd := command(dir, nobody, argv...)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: %w (the test dependencies come from scripts/test-deps.sh)", argv[0], err)
	}
	timer := time.AfterFunc(serverStart, func() { cmd.Process.Kill() })
	defer timer.Stop()
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("%s: %w; output:\n%s", strings.Join(argv, " "), err, out.String())
	}
	return nil
}

// writeFile writes a file nobody can read.
func writeFile(path, content string) error {
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		return err
	}
	return os.Chown(path, nobodyID, nobodyID)
}

// freePort returns a loopback port nothing listens on now. Another process
// could take it before the server does; starting then fails clearly.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// newServer fills a server listening on a free port; argv may use the
// placeholders {port} and {dir}.
func newServer(name, dir string, nobody bool, sig syscall.Signal, argv ...string) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	r := strings.NewReplacer("{port}", strconv.Itoa(port), "{dir}", dir)
	for i, a := range argv {
		argv[i] = r.Replace(a)
	}
	return &server{name: name, dir: dir, addr: "127.0.0.1:" + strconv.Itoa(port), argv: argv, nobody: nobody, stopSig: sig}, nil
}

// mariadb returns a MariaDB server with the users gantry (no password) and
// secret (password "pw"), both from any host.
func mariadb(t *testing.T) *server {
	return fixtures.get(t, "mariadb", func(dir string) (*server, error) {
		data := filepath.Join(dir, "data")
		if err := run(dir, true, "", "mariadb-install-db", "--no-defaults", "--datadir="+data,
			"--auth-root-authentication-method=socket", "--skip-test-db"); err != nil {
			return nil, err
		}
		initSQL := filepath.Join(dir, "init.sql")
		if err := writeFile(initSQL, "CREATE USER IF NOT EXISTS 'gantry'@'%';\n"+
			"CREATE USER IF NOT EXISTS 'secret'@'%' IDENTIFIED BY 'pw';\n"); err != nil {
			return nil, err
		}
		s, err := newServer("mariadb", dir, true, syscall.SIGTERM, "mariadbd", "--no-defaults",
			"--datadir="+data, "--port={port}", "--bind-address=127.0.0.1",
			"--socket={dir}/mysqld.sock", "--pid-file={dir}/mysqld.pid", "--init-file="+initSQL,
			"--skip-name-resolve", "--skip-log-bin", "--innodb-buffer-pool-size=8M",
			"--max-connect-errors=1000000")
		if err != nil {
			return nil, err
		}
		return s, s.start()
	})
}

// postgres returns a PostgreSQL server that trusts every user from loopback
// but pwuser, who must give a password (scram-sha-256). Roles: postgres
// (with its database), nodb (no database of its name), pwuser.
func postgres(t *testing.T) *server {
	return fixtures.get(t, "postgres", func(dir string) (*server, error) {
		data := filepath.Join(dir, "data")
		if err := run(dir, true, "", pgBin+"/initdb", "-D", data, "-U", "postgres", "--auth=trust",
			"--no-sync", "--no-locale", "-E", "UTF8"); err != nil {
			return nil, err
		}
		if err := run(dir, true, "CREATE ROLE nodb LOGIN;\nCREATE ROLE pwuser LOGIN PASSWORD 'pw';\n",
			pgBin+"/postgres", "--single", "-D", data, "-F", "postgres"); err != nil {
			return nil, err
		}
		if err := writeFile(filepath.Join(data, "pg_hba.conf"),
			"host all pwuser 127.0.0.1/32 scram-sha-256\nhost all all 127.0.0.1/32 trust\n"); err != nil {
			return nil, err
		}
		s, err := newServer("postgres", dir, true, syscall.SIGINT, pgBin+"/postgres", "-D", data,
			"-h", "127.0.0.1", "-p", "{port}", "-k", "{dir}", "-c", "fsync=off",
			"-c", "shared_buffers=16MB", "-c", "max_connections=20")
		if err != nil {
			return nil, err
		}
		return s, s.start()
	})
}

// redis returns a Redis server; with password set, one that requires it.
func redis(t *testing.T, password string) *server {
	name := "redis"
	if password != "" {
		name = "redis-auth"
	}
	return fixtures.get(t, name, func(dir string) (*server, error) {
		argv := []string{"redis-server", "--port", "{port}", "--bind", "127.0.0.1", "--save", "",
			"--appendonly", "no", "--dir", "{dir}", "--daemonize", "no", "--protected-mode", "no"}
		if password != "" {
			argv = append(argv, "--requirepass", password)
		}
		s, err := newServer(name, dir, true, syscall.SIGTERM, argv...)
		if err != nil {
			return nil, err
		}
		return s, s.start()
	})
}

// slapd returns an OpenLDAP server with no database, where an anonymous bind
// succeeds; with refuseAnonymous, one where it is refused.
func slapd(t *testing.T, refuseAnonymous bool) *server {
	name := "slapd"
	if refuseAnonymous {
		name = "slapd-noanon"
	}
	return fixtures.get(t, name, func(dir string) (*server, error) {
		conf := "include /etc/ldap/schema/core.schema\n" +
			"pidfile " + dir + "/slapd.pid\n" +
			"argsfile " + dir + "/slapd.args\n"
		if refuseAnonymous {
			conf += "disallow bind_anon\n"
		}
		if err := writeFile(filepath.Join(dir, "slapd.conf"), conf); err != nil {
			return nil, err
		}
		// -d keeps slapd in the foreground, as a child the test can stop.
		s, err := newServer(name, dir, false, syscall.SIGTERM, "/usr/sbin/slapd", "-f", "{dir}/slapd.conf",
			"-h", "ldap://127.0.0.1:{port}/", "-d", "0")
		if err != nil {
			return nil, err
		}
		return s, s.start()
	})
}
