package health

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gantry-lb/gantry/internal/upstream"
)

// checkRecord is one check as the probe logged it at Debug.
type checkRecord struct {
	at     time.Time
	passed bool
	state  string // after the check
	reason string
}

func (r checkRecord) String() string {
	result := "failed"
	if r.passed {
		result = "passed"
	}
	return r.at.Format("15:04:05.000") + " " + result + " -> " + r.state + " (" + r.reason + ")"
}

func checks(recs []map[string]string) []checkRecord {
	var out []checkRecord
	for _, r := range only(recs, "check") {
		at, _ := time.Parse(time.RFC3339Nano, r["time"])
		out = append(out, checkRecord{at: at, passed: r["passed"] == "true", state: r["state"], reason: r["reason"]})
	}
	return out
}

// testDownAndUp runs spec against srv and checks the whole cycle: up while
// the server runs; down within Fall × Interval + Timeout after it stops,
// after exactly Fall failures; up again after exactly Rise successes once it
// runs again. upReason must match the reason of a passing check.
func testDownAndUp(t *testing.T, srv *server, spec Spec, upReason func(string) bool) {
	spec.Addr = srv.addr
	spec.Interval, spec.Timeout, spec.Fall, spec.Rise = 100*time.Millisecond, time.Second, 2, 3
	log, records := newLogRecorder()
	c := newChecker(t, log)
	ep := newEndpoint(srv.addr, upstream.StateStarting)
	c.Sync([]Target{{Endpoint: ep, Spec: spec}})

	waitFor(t, "up", upAfterPass(ep))
	if r := ep.Reason(); !upReason(r) {
		t.Fatalf("reason when up = %q", r)
	}

	if err := srv.stop(); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	waitFor(t, "down", downAfterFail(ep))
	t.Logf("down: %s", ep.Reason())
	all := checks(records())
	down := -1
	for i, r := range all {
		if r.state == "down" {
			down = i
			break
		}
	}
	// The bound: a check under way at the stop may take Timeout, then
	// Fall failures come at most Interval (+10% jitter) apart; plus some
	// scheduling slack for a loaded machine.
	bound := spec.Timeout + time.Duration(spec.Fall)*spec.Interval*11/10 + 200*time.Millisecond
	if d := all[down].at.Sub(stopped); d > bound {
		t.Errorf("down %v after the server stopped, want within %v", d, bound)
	}
	for i := down - spec.Fall + 1; i <= down; i++ {
		if all[i].passed || (i < down && all[i].state != "up") {
			t.Fatalf("check %d of the fall = %+v; want %d failures, the last one taking it down: %+v", i, all[i], spec.Fall, all)
		}
	}
	if !all[down-spec.Fall].passed {
		t.Fatalf("more than %d failures before down: %+v", spec.Fall, all[:down+1])
	}

	if err := srv.start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "up again", upAfterPass(ep))
	c.Close()
	all = checks(records())
	up := -1
	for i := down + 1; i < len(all); i++ {
		if all[i].state == "up" {
			up = i
			break
		}
	}
	for i := up - spec.Rise + 1; i <= up; i++ {
		if !all[i].passed || (i < up && all[i].state != "down") {
			t.Fatalf("check %d of the rise = %+v; want %d successes, the last one taking it up: %+v", i, all[i], spec.Rise, all[down:])
		}
	}
	if all[up-spec.Rise].passed {
		t.Fatalf("more than %d successes before up: %+v", spec.Rise, all[down:])
	}
}

// checkOnce runs one check of spec against addr and returns the endpoint it
// left.
func checkOnce(t *testing.T, addr string, spec Spec) *upstream.Endpoint {
	t.Helper()
	spec.Addr, spec.Interval = addr, time.Hour
	if spec.Timeout == 0 {
		spec.Timeout = 2 * time.Second
	}
	c := newChecker(t, nil)
	ep := newEndpoint(addr, upstream.StateStarting)
	c.Sync([]Target{{Endpoint: ep, Spec: spec}})
	waitFor(t, "a check", func() bool { return ep.LastCheck() != upstream.CheckUnknown })
	c.Close()
	return ep
}

func wantCheck(t *testing.T, ep *upstream.Endpoint, passed bool, reason func(string) bool) {
	t.Helper()
	want := upstream.CheckFailed
	if passed {
		want = upstream.CheckPassed
	}
	if ep.LastCheck() != want || !reason(ep.Reason()) {
		t.Fatalf("check %v with reason %q; want %v", ep.LastCheck(), ep.Reason(), want)
	}
}

func equals(want string) func(string) bool { return func(s string) bool { return s == want } }

func TestMySQL(t *testing.T) {
	srv := mariadb(t)
	t.Run("down and up", func(t *testing.T) {
		testDownAndUp(t, srv, Spec{Kind: MySQL, User: "gantry"}, func(r string) bool {
			return strings.HasPrefix(r, "mysql: ok (") && strings.Contains(r, "MariaDB")
		})
	})
	t.Run("unknown user", func(t *testing.T) {
		ep := checkOnce(t, srv.addr, Spec{Kind: MySQL, User: "nosuch"})
		// MariaDB answers an unknown user without a password with
		// ER_ACCESS_DENIED_NO_PASSWORD_ERROR.
		wantCheck(t, ep, false, equals("mysql: ERR 1698 Access denied for user 'nosuch'@'127.0.0.1'"))
	})
	t.Run("user with a password", func(t *testing.T) {
		ep := checkOnce(t, srv.addr, Spec{Kind: MySQL, User: "secret"})
		wantCheck(t, ep, false, equals("mysql: ERR 1045 Access denied for user 'secret'@'127.0.0.1' (using password: NO)"))
	})
	t.Run("handshake only", func(t *testing.T) {
		ep := checkOnce(t, srv.addr, Spec{Kind: MySQL})
		wantCheck(t, ep, true, func(r string) bool {
			return strings.HasPrefix(r, "mysql: handshake ok (") && strings.Contains(r, "MariaDB")
		})
	})
	t.Run("not mysql", func(t *testing.T) {
		// Redis waits for a command, the check for a handshake.
		ep := checkOnce(t, redis(t, "").addr, Spec{Kind: MySQL, User: "gantry", Timeout: 100 * time.Millisecond})
		wantCheck(t, ep, false, equals("timeout after 100ms"))
	})
}

func TestPgSQL(t *testing.T) {
	srv := postgres(t)
	t.Run("down and up", func(t *testing.T) {
		testDownAndUp(t, srv, Spec{Kind: PgSQL, User: "postgres"}, equals("pgsql: ok"))
	})
	// A trusted user goes through AuthenticationOk to ReadyForQuery, so
	// the server's refusal of the session itself is seen.
	t.Run("unknown database", func(t *testing.T) {
		ep := checkOnce(t, srv.addr, Spec{Kind: PgSQL, User: "nodb"})
		wantCheck(t, ep, false, equals(`pgsql: FATAL 3D000 database "nodb" does not exist`))
	})
	t.Run("unknown role", func(t *testing.T) {
		ep := checkOnce(t, srv.addr, Spec{Kind: PgSQL, User: "nosuch"})
		wantCheck(t, ep, false, equals(`pgsql: FATAL 28000 role "nosuch" does not exist`))
	})
	// A password request means the server is up, as in HAProxy.
	t.Run("password requested", func(t *testing.T) {
		ep := checkOnce(t, srv.addr, Spec{Kind: PgSQL, User: "pwuser"})
		wantCheck(t, ep, true, equals("pgsql: ok (authentication request: SASL)"))
	})
}

func TestRedis(t *testing.T) {
	t.Run("down and up", func(t *testing.T) {
		testDownAndUp(t, redis(t, ""), Spec{Kind: Redis}, equals("redis: +PONG"))
	})
	t.Run("requires auth", func(t *testing.T) {
		ep := checkOnce(t, redis(t, "sesame").addr, Spec{Kind: Redis})
		wantCheck(t, ep, false, equals(`redis: got "-NOAUTH Authentication required." want +PONG`))
	})
}

func TestLDAP(t *testing.T) {
	t.Run("down and up", func(t *testing.T) {
		testDownAndUp(t, slapd(t, false), Spec{Kind: LDAP}, equals("ldap: bind ok"))
	})
	t.Run("anonymous bind refused", func(t *testing.T) {
		ep := checkOnce(t, slapd(t, true).addr, Spec{Kind: LDAP})
		wantCheck(t, ep, false, equals("ldap: bind result 48 (inappropriateAuthentication): anonymous bind disallowed"))
	})
	t.Run("not ldap", func(t *testing.T) {
		addr := rawServer(t, func(c net.Conn) {
			c.Read(make([]byte, 64)) // the bind, so that closing sends no reset
			io.WriteString(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
			c.Close()
		})
		ep := checkOnce(t, addr, Spec{Kind: LDAP})
		wantCheck(t, ep, false, equals("ldap: not an LDAPv3 response: tag 0x48, want a SEQUENCE"))
	})
}
