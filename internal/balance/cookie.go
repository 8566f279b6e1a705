package balance

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/gantry-lb/gantry/internal/upstream"
)

// cookieMACBytes is how much of the HMAC a cookie value keeps: 96 bits, so
// that a client cannot forge the value of a server it was not given, nor
// guess one by trying.
const cookieMACBytes = 12

// CookieValueLen is the length of every cookie value Cookies issues: the
// unpadded base64url form of cookieMACBytes bytes.
const CookieValueLen = cookieMACBytes * 4 / 3

// MinCookieSecret is the shortest secret NewCookies accepts, in bytes.
const MinCookieSecret = 16

var (
	// ErrCookieSecret is returned by NewCookies for a secret shorter than
	// MinCookieSecret.
	ErrCookieSecret = errors.New("balance: cookie secret too short")
	// ErrCookieOptions is returned by NewCookies and ParseSameSite for a
	// cookie option that cannot be used; the message names the option.
	ErrCookieOptions = errors.New("balance: invalid cookie option")
)

// SameSite is the SameSite attribute of the sticky cookie.
type SameSite uint8

const (
	// SameSiteDefault sends no SameSite attribute (browsers then treat
	// the cookie as Lax).
	SameSiteDefault SameSite = iota
	// SameSiteLax is SameSite=Lax.
	SameSiteLax
	// SameSiteStrict is SameSite=Strict.
	SameSiteStrict
	// SameSiteNone is SameSite=None; browsers accept it only with Secure.
	SameSiteNone
)

// ParseSameSite returns the SameSite named s: "" (no attribute), "lax",
// "strict" or "none", as the config spells them.
func ParseSameSite(s string) (SameSite, error) {
	switch s {
	case "":
		return SameSiteDefault, nil
	case "lax":
		return SameSiteLax, nil
	case "strict":
		return SameSiteStrict, nil
	case "none":
		return SameSiteNone, nil
	}
	return 0, fmt.Errorf("%w: samesite %q is not one of lax, strict, none", ErrCookieOptions, s)
}

// String returns the name ParseSameSite accepts.
func (s SameSite) String() string {
	switch s {
	case SameSiteLax:
		return "lax"
	case SameSiteStrict:
		return "strict"
	case SameSiteNone:
		return "none"
	}
	return ""
}

// CookieOptions shape the sticky cookie.
type CookieOptions struct {
	// Name is the cookie name, an RFC 6265 token; required.
	Name string
	// Path is the Path attribute; "" means "/".
	Path string
	// TTL sets Max-Age, rounded up to whole seconds; 0 makes a session
	// cookie (no Max-Age), which lasts until the browser closes.
	TTL      time.Duration
	Secure   bool
	HTTPOnly bool
	SameSite SameSite
}

// validate reports the first option that cannot be used.
func (o *CookieOptions) validate() error {
	if !httpguts.ValidHeaderFieldName(o.Name) {
		return fmt.Errorf("%w: name %q is not a cookie name (an HTTP token)", ErrCookieOptions, o.Name)
	}
	for i := 0; i < len(o.Path); i++ {
		if c := o.Path[i]; c < 0x20 || c == 0x7f || c == ';' {
			return fmt.Errorf("%w: path %q contains a control character or ';'", ErrCookieOptions, o.Path)
		}
	}
	if o.TTL < 0 {
		return fmt.Errorf("%w: ttl %v is negative", ErrCookieOptions, o.TTL)
	}
	if o.SameSite > SameSiteNone {
		return fmt.Errorf("%w: samesite %d is unknown", ErrCookieOptions, o.SameSite)
	}
	if o.SameSite == SameSiteNone && !o.Secure {
		return fmt.Errorf("%w: samesite none requires secure (browsers drop the cookie otherwise)", ErrCookieOptions)
	}
	return nil
}

// AppendSetCookie appends the value of a Set-Cookie header that sets the
// cookie o.Name to value with o's attributes:
// "Name=value; Path=/; Max-Age=N; Secure; HttpOnly; SameSite=Lax". It does
// not check o (NewCookies does) nor value, which must be cookie-octets. No
// allocation when dst has room.
func (o *CookieOptions) AppendSetCookie(dst, value []byte) []byte {
	dst = append(dst, o.Name...)
	dst = append(dst, '=')
	dst = append(dst, value...)
	return o.appendAttrs(dst)
}

func (o *CookieOptions) appendAttrs(dst []byte) []byte {
	dst = append(dst, "; Path="...)
	if o.Path == "" {
		dst = append(dst, '/')
	} else {
		dst = append(dst, o.Path...)
	}
	if o.TTL > 0 {
		secs := (o.TTL + time.Second - 1) / time.Second
		dst = append(dst, "; Max-Age="...)
		dst = strconv.AppendInt(dst, int64(secs), 10)
	}
	if o.Secure {
		dst = append(dst, "; Secure"...)
	}
	if o.HTTPOnly {
		dst = append(dst, "; HttpOnly"...)
	}
	switch o.SameSite {
	case SameSiteLax:
		dst = append(dst, "; SameSite=Lax"...)
	case SameSiteStrict:
		dst = append(dst, "; SameSite=Strict"...)
	case SameSiteNone:
		dst = append(dst, "; SameSite=None"...)
	}
	return dst
}

// Cookies maps the servers of a Group to sticky cookie values and back. A
// value is the base64url form of the first 96 bits of
// HMAC-SHA256(secret, endpoint Key as "lb/backend@host:port"): it does not
// reveal the server's address, cannot be forged without the secret, is the
// same after a restart and on every node that shares the secret, and differs
// between backends. Cookies is built once per snapshot by NewCookies and is
// read-only after, so it is safe for concurrent use; lookups are on the hot
// path and allocate nothing.
type Cookies struct {
	g    *Group
	opts CookieOptions
	// byValue maps a value to the index of its server in g.servers.
	byValue map[[CookieValueLen]byte]int
	// byEndpoint maps an endpoint to its value and its Set-Cookie header.
	byEndpoint map[*upstream.Endpoint]*issued
}

// issued is what Cookies hands out for one endpoint, computed at build.
type issued struct {
	value     [CookieValueLen]byte
	setCookie string
}

// NewCookies builds the cookie codec of g's servers, including those of
// weight 0 (they keep their sticky clients) and the backups. secret must be
// at least MinCookieSecret bytes; it should be random, persisted, and shared
// by every gantry node, so that values survive restarts and fail-overs. It
// returns ErrCookieSecret or ErrCookieOptions (naming the option) on bad
// input. It runs when a snapshot is built.
func NewCookies(secret []byte, o CookieOptions, g *Group) (*Cookies, error) {
	if len(secret) < MinCookieSecret {
		return nil, fmt.Errorf("%w: %d bytes, want at least %d", ErrCookieSecret, len(secret), MinCookieSecret)
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	c := &Cookies{
		g: g, opts: o,
		byValue:    make(map[[CookieValueLen]byte]int, len(g.servers)),
		byEndpoint: make(map[*upstream.Endpoint]*issued, len(g.servers)),
	}
	mac := hmac.New(sha256.New, secret)
	for i := range g.servers {
		e := g.servers[i].Endpoint
		if _, ok := c.byEndpoint[e]; ok {
			continue // the same server listed twice
		}
		mac.Reset()
		mac.Write([]byte(e.Key.String()))
		sum := mac.Sum(nil)
		is := &issued{}
		base64.RawURLEncoding.Encode(is.value[:], sum[:cookieMACBytes])
		is.setCookie = string(o.AppendSetCookie(nil, is.value[:]))
		c.byValue[is.value] = i
		c.byEndpoint[e] = is
	}
	return c, nil
}

// Name returns the cookie name.
func (c *Cookies) Name() string { return c.opts.Name }

// Options returns the options c was built with.
func (c *Cookies) Options() CookieOptions { return c.opts }

// Lookup returns the endpoint whose cookie value is value, or nil when value
// is unknown (malformed, tampered with, made with another secret or for
// another backend, or naming a server that left the backend) or when that
// endpoint may not take the client now: it is unavailable, or it is a backup
// while a primary server is available. On nil the caller balances and sets a
// new cookie. On the hot path; 0 allocs.
func (c *Cookies) Lookup(value []byte) *upstream.Endpoint {
	if len(value) != CookieValueLen {
		return nil
	}
	return c.lookup([CookieValueLen]byte(value))
}

// LookupString is Lookup for a string. On the hot path; 0 allocs.
func (c *Cookies) LookupString(value string) *upstream.Endpoint {
	if len(value) != CookieValueLen {
		return nil
	}
	var k [CookieValueLen]byte
	copy(k[:], value)
	return c.lookup(k)
}

func (c *Cookies) lookup(k [CookieValueLen]byte) *upstream.Endpoint {
	i, ok := c.byValue[k]
	if !ok {
		return nil
	}
	s := &c.g.servers[i]
	if !c.g.stickyOK(s) {
		return nil
	}
	return s.Endpoint
}

// LookupHeader finds the cookie c.Name() in the value of one Cookie request
// header ("a=1; SERVERID=xyz") and returns Lookup of its value (unquoted);
// nil when the cookie is absent or Lookup gives nil. When the name occurs
// more than once, the first value that resolves wins. On the hot path;
// 0 allocs.
func (c *Cookies) LookupHeader(header string) *upstream.Endpoint {
	name := c.opts.Name
	for header != "" {
		var pair string
		pair, header, _ = strings.Cut(header, ";")
		pair = trimOWS(pair)
		n, v, ok := strings.Cut(pair, "=")
		if !ok || trimOWS(n) != name {
			continue
		}
		v = trimOWS(v)
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = v[1 : len(v)-1]
		}
		if e := c.LookupString(v); e != nil {
			return e
		}
	}
	return nil
}

// AppendValue appends e's cookie value to dst; ok is false, and dst is
// returned unchanged, when e is not a server of the group. No allocation when
// dst has room.
func (c *Cookies) AppendValue(dst []byte, e *upstream.Endpoint) (_ []byte, ok bool) {
	is, ok := c.byEndpoint[e]
	if !ok {
		return dst, false
	}
	return append(dst, is.value[:]...), true
}

// SetCookie returns the whole Set-Cookie header value that sends the client
// to e (built once per snapshot, so handing it to a header map allocates
// nothing); ok is false when e is not a server of the group. The proxy sets
// it on a response when the request's cookie did not resolve to e, and on
// every response when the cookie has a TTL, so that the TTL counts from the
// last request (HAProxy's maxidle). On the hot path; 0 allocs.
func (c *Cookies) SetCookie(e *upstream.Endpoint) (_ string, ok bool) {
	is, ok := c.byEndpoint[e]
	if !ok {
		return "", false
	}
	return is.setCookie, true
}

// AppendSetCookie appends SetCookie(e) to dst. No allocation when dst has
// room.
func (c *Cookies) AppendSetCookie(dst []byte, e *upstream.Endpoint) (_ []byte, ok bool) {
	is, ok := c.byEndpoint[e]
	if !ok {
		return dst, false
	}
	return append(dst, is.setCookie...), true
}

// trimOWS trims spaces and tabs.
func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}
