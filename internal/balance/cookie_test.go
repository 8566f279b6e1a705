package balance

import (
	"bytes"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gantry-lb/gantry/internal/upstream"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef")

func lax() CookieOptions {
	return CookieOptions{Name: "SERVERID", HTTPOnly: true, SameSite: SameSiteLax}
}

func mustCookies(t testing.TB, secret []byte, o CookieOptions, g *Group) *Cookies {
	t.Helper()
	c, err := NewCookies(secret, o, g)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func value(t testing.TB, c *Cookies, e *upstream.Endpoint) []byte {
	t.Helper()
	v, ok := c.AppendValue(nil, e)
	if !ok {
		t.Fatalf("no cookie value for %v", e.Key)
	}
	return v
}

func TestCookieRoundTrip(t *testing.T) {
	eps := endpoints(4)
	g := NewGroup(RoundRobin, spec(eps, []int{1, 1, 0, 1}))
	c := mustCookies(t, testSecret, lax(), g)
	seen := map[string]bool{}
	for _, e := range eps {
		v := value(t, c, e)
		if len(v) != CookieValueLen {
			t.Fatalf("value %q has length %d, want %d", v, len(v), CookieValueLen)
		}
		if bytes.Contains(v, []byte("10.0.0")) || bytes.ContainsAny(v, "=;, \"") {
			t.Fatalf("value %q leaks the address or is not a plain cookie-octet string", v)
		}
		if seen[string(v)] {
			t.Fatalf("value %q issued twice", v)
		}
		seen[string(v)] = true
		if got := c.Lookup(v); got != e {
			t.Fatalf("Lookup(%q) = %v, want %v", v, got, e.Key)
		}
		if got := c.LookupString(string(v)); got != e {
			t.Fatalf("LookupString(%q) = %v, want %v", v, got, e.Key)
		}
	}
	// Pinned (checked with Python's hmac): the same secret gives the same
	// value after a restart.
	if got := string(value(t, c, eps[0])); got != "S7JkHLnBUzqoTnql" {
		t.Fatalf("value of lb/be@10.0.0.0:80 = %q, want the pinned S7JkHLnBUzqoTnql", got)
	}
	c2 := mustCookies(t, append([]byte(nil), testSecret...), lax(), NewGroup(LeastConn, spec(eps, nil)))
	for _, e := range eps {
		if !bytes.Equal(value(t, c, e), value(t, c2, e)) {
			t.Fatal("values changed between two builds with the same secret")
		}
	}
}

func TestCookieRejects(t *testing.T) {
	eps := endpoints(3)
	g := NewGroup(RoundRobin, spec(eps, nil, 2))
	c := mustCookies(t, testSecret, lax(), g)
	good := value(t, c, eps[0])

	other := mustCookies(t, []byte("another secret, 16+ bytes"), lax(), g)
	otherBackend := []*upstream.Endpoint{upstream.NewEndpoint(upstream.Key{Backend: "lb/other", Addr: eps[0].Addr})}
	ob := mustCookies(t, testSecret, lax(), NewGroup(RoundRobin, spec(otherBackend, nil)))
	gone := upstream.NewEndpoint(upstream.Key{Backend: "lb/be", Addr: "10.0.0.99:80"})
	stale := mustCookies(t, testSecret, lax(), NewGroup(RoundRobin, spec([]*upstream.Endpoint{gone}, nil)))

	tampered := bytes.Clone(good)
	tampered[3] ^= 1
	tests := []struct {
		name  string
		value []byte
	}{
		{"empty", nil},
		{"short", good[:CookieValueLen-1]},
		{"long", append(bytes.Clone(good), 'A')},
		{"tampered", tampered},
		{"address", []byte("10.0.0.0:80")},
		{"other secret", value(t, other, eps[0])},
		{"other backend", value(t, ob, otherBackend[0])},
		{"stale server", value(t, stale, gone)},
		{"garbage", []byte("!!!!!!!!!!!!!!!!")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if e := c.Lookup(tt.value); e != nil {
				t.Fatalf("Lookup(%q) = %v, want nil", tt.value, e.Key)
			}
			if e := c.LookupString(string(tt.value)); e != nil {
				t.Fatalf("LookupString(%q) = %v, want nil", tt.value, e.Key)
			}
		})
	}
	if _, ok := c.AppendValue(nil, gone); ok {
		t.Fatal("AppendValue of a server outside the group succeeded")
	}
	if _, ok := c.SetCookie(gone); ok {
		t.Fatal("SetCookie of a server outside the group succeeded")
	}
}

// TestCookieAvailability checks that a valid value is honoured only while
// its server may take the client: not when down, not for a backup while a
// primary is up, but yes for a drained (weight 0) server.
func TestCookieAvailability(t *testing.T) {
	eps := endpoints(3)
	g := NewGroup(RoundRobin, spec(eps, []int{1, 0, 1}, 2)) // 1 drained, 2 backup
	c := mustCookies(t, testSecret, lax(), g)
	v0, v1, v2 := value(t, c, eps[0]), value(t, c, eps[1]), value(t, c, eps[2])
	if c.Lookup(v1) != eps[1] {
		t.Fatal("a drained (weight 0) server lost its sticky client")
	}
	if c.Lookup(v2) != nil {
		t.Fatal("a backup kept its sticky client while a primary is up")
	}
	setState(eps, upstream.StateDown, 0)
	if c.Lookup(v0) != nil {
		t.Fatal("a down server kept its sticky client")
	}
	// Only the drained primary is up: new traffic goes to the backup
	// (NewGroup), so its sticky clients stay there, and the drained one
	// keeps its own.
	if c.Lookup(v2) != eps[2] || c.Lookup(v1) != eps[1] {
		t.Fatal("with only a drained primary up, the backup or the drained server lost its sticky clients")
	}
	setState(eps, upstream.StateDown, 1)
	if c.Lookup(v2) != eps[2] || c.Lookup(v1) != nil {
		t.Fatal("with every primary down, only the backup keeps its sticky clients")
	}
	setState(eps, upstream.StateUp, 0)
	if c.Lookup(v0) != eps[0] || c.Lookup(v2) != nil {
		t.Fatal("stickiness did not follow the primary coming back")
	}
}

func TestCookieLookupHeader(t *testing.T) {
	eps := endpoints(2)
	g := NewGroup(RoundRobin, spec(eps, nil))
	c := mustCookies(t, testSecret, lax(), g)
	v0, v1 := string(value(t, c, eps[0])), string(value(t, c, eps[1]))
	tests := []struct {
		header string
		want   *upstream.Endpoint
	}{
		{"SERVERID=" + v0, eps[0]},
		{"a=1; SERVERID=" + v1 + "; b=2", eps[1]},
		{"a=1;SERVERID=" + v1, eps[1]},
		{"  SERVERID = \"" + v0 + "\"  ", eps[0]},
		{"SERVERID=bogus; SERVERID=" + v1, eps[1]},
		{"XSERVERID=" + v0, nil},
		{"serverid=" + v0, nil},
		{"SERVERID", nil},
		{"SERVERID=", nil},
		{"", nil},
		{";;;", nil},
		{"a=" + v0, nil},
	}
	for _, tt := range tests {
		if got := c.LookupHeader(tt.header); got != tt.want {
			t.Errorf("LookupHeader(%q) = %v, want %v", tt.header, got, tt.want)
		}
	}
}

// TestSetCookie checks the header against net/http's parser, which is what
// clients and tests on the other side use.
func TestSetCookie(t *testing.T) {
	eps := endpoints(1)
	g := NewGroup(RoundRobin, spec(eps, nil))
	tests := []struct {
		name string
		o    CookieOptions
		want string
	}{
		{"session", CookieOptions{Name: "SRV"}, "SRV=V; Path=/"},
		{"lax httponly", lax(), "SERVERID=V; Path=/; HttpOnly; SameSite=Lax"},
		{"all", CookieOptions{Name: "s", Path: "/app", TTL: 90*time.Minute + time.Millisecond, Secure: true, HTTPOnly: true, SameSite: SameSiteNone},
			"s=V; Path=/app; Max-Age=5401; Secure; HttpOnly; SameSite=None"},
		{"strict", CookieOptions{Name: "s", TTL: time.Second, SameSite: SameSiteStrict}, "s=V; Path=/; Max-Age=1; SameSite=Strict"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustCookies(t, testSecret, tt.o, g)
			v := string(value(t, c, eps[0]))
			want := strings.Replace(tt.want, "=V", "="+v, 1)
			got, ok := c.SetCookie(eps[0])
			if !ok || got != want {
				t.Fatalf("SetCookie = %q, want %q", got, want)
			}
			b, ok := c.AppendSetCookie([]byte("x"), eps[0])
			if !ok || string(b) != "x"+want {
				t.Fatalf("AppendSetCookie = %q", b)
			}
			if b := tt.o.AppendSetCookie(nil, []byte(v)); string(b) != want {
				t.Fatalf("CookieOptions.AppendSetCookie = %q, want %q", b, want)
			}
			h := http.Header{"Set-Cookie": {got}}
			cs := (&http.Response{Header: h}).Cookies()
			if len(cs) != 1 {
				t.Fatalf("net/http parsed %d cookies from %q", len(cs), got)
			}
			hc := cs[0]
			wantAge := int((tt.o.TTL + time.Second - 1) / time.Second)
			path := tt.o.Path
			if path == "" {
				path = "/"
			}
			if hc.Name != tt.o.Name || hc.Value != v || hc.Path != path || hc.MaxAge != wantAge ||
				hc.Secure != tt.o.Secure || hc.HttpOnly != tt.o.HTTPOnly {
				t.Fatalf("net/http read %+v", hc)
			}
			if c.Name() != tt.o.Name || c.Options() != tt.o {
				t.Fatalf("Name/Options = %q / %+v", c.Name(), c.Options())
			}
		})
	}
}

func TestNewCookiesErrors(t *testing.T) {
	g := NewGroup(RoundRobin, spec(endpoints(1), nil))
	tests := []struct {
		name    string
		secret  []byte
		o       CookieOptions
		want    error
		mention string
	}{
		{"short secret", []byte("short"), lax(), ErrCookieSecret, "5 bytes"},
		{"no name", testSecret, CookieOptions{}, ErrCookieOptions, "name"},
		{"name with space", testSecret, CookieOptions{Name: "a b"}, ErrCookieOptions, "name"},
		{"name with =", testSecret, CookieOptions{Name: "a=b"}, ErrCookieOptions, "name"},
		{"path with ;", testSecret, CookieOptions{Name: "a", Path: "/x;y"}, ErrCookieOptions, "path"},
		{"path with CR", testSecret, CookieOptions{Name: "a", Path: "/x\r"}, ErrCookieOptions, "path"},
		{"negative ttl", testSecret, CookieOptions{Name: "a", TTL: -1}, ErrCookieOptions, "ttl"},
		{"none without secure", testSecret, CookieOptions{Name: "a", SameSite: SameSiteNone}, ErrCookieOptions, "secure"},
		{"unknown samesite", testSecret, CookieOptions{Name: "a", SameSite: 9}, ErrCookieOptions, "samesite"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewCookies(tt.secret, tt.o, g)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.mention) {
				t.Fatalf("err = %v, want %v mentioning %q", err, tt.want, tt.mention)
			}
		})
	}
}

func TestParseSameSite(t *testing.T) {
	for _, s := range []SameSite{SameSiteDefault, SameSiteLax, SameSiteStrict, SameSiteNone} {
		got, err := ParseSameSite(s.String())
		if err != nil || got != s {
			t.Fatalf("ParseSameSite(%q) = %v, %v", s.String(), got, err)
		}
	}
	if _, err := ParseSameSite("Lax"); !errors.Is(err, ErrCookieOptions) {
		t.Fatalf("ParseSameSite(Lax) error = %v", err)
	}
}

func TestCookieAllocs(t *testing.T) {
	eps := endpoints(16)
	c := mustCookies(t, testSecret, lax(), NewGroup(RoundRobin, spec(eps, nil, 15)))
	v := value(t, c, eps[7])
	sv := string(v)
	header := "_ga=GA1.2.3; theme=dark; SERVERID=" + sv
	buf := make([]byte, 0, 256)
	allocs := testing.AllocsPerRun(200, func() {
		c.Lookup(v)
		c.LookupString(sv)
		c.LookupHeader(header)
		c.Lookup([]byte("not a cookie value"))
		c.SetCookie(eps[7])
		buf, _ = c.AppendSetCookie(buf[:0], eps[7])
		buf, _ = c.AppendValue(buf[:0], eps[7])
	})
	if allocs != 0 {
		t.Fatalf("%v allocs per lookup round, want 0", allocs)
	}
}
