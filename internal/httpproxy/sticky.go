package httpproxy

import (
	"unsafe"

	"github.com/gantry-lb/gantry/internal/balance"
	"github.com/gantry-lb/gantry/internal/httpproxy/h1"
	"github.com/gantry-lb/gantry/internal/snapshot"
	"github.com/gantry-lb/gantry/internal/upstream"
)

// choose returns the server a request is pinned to (by the backend's sticky
// cookie or table; nil when none is, or it is unavailable) and the hash key
// of the backend's hashing algorithm (zero for the others). On the hot path:
// no allocation.
func (c *conn) choose(be *snapshot.Backend) (*upstream.Endpoint, balance.HashKey) {
	req := &c.req
	var key balance.HashKey
	switch be.Group.Algorithm() {
	case balance.Source:
		key = balance.KeyAddr(c.cl.Src.Addr())
	case balance.URI:
		key = balance.KeyBytes(req.Path())
	case balance.Header:
		if v, ok := c.Get(be.HashHeader); ok {
			key = balance.KeyBytes(v)
		}
	}
	switch {
	case be.Cookies != nil:
		for i := range req.Headers {
			f := &req.Headers[i]
			if len(f.Name) == 6 && h1.EqualFold(f.Name, "cookie") {
				if ep := be.Cookies.LookupHeader(bytesString(f.Value)); ep != nil {
					return ep, key
				}
			}
		}
	case be.Sticky != nil:
		return be.Sticky.Lookup(c.cl.Src.Addr()), key
	}
	return nil, key
}

// pinned records the server a request goes to in the backend's sticky
// table, as soon as it is connected (the client's next request may come on
// another connection before this one ends). Cookies are set on the
// response: see appendStickyCookie.
func (c *conn) pinned(chosen *upstream.Endpoint) {
	if c.be.Sticky != nil && c.ep != nil && c.ep != chosen {
		c.be.Sticky.Store(c.cl.Src.Addr(), c.ep)
	}
}

// appendStickyCookie appends the Set-Cookie field that pins the client to
// ep when its request's cookie did not name ep, and on every response when
// the cookie has a TTL (which then counts from the last request).
func appendStickyCookie(dst []byte, be *snapshot.Backend, chosen, ep *upstream.Endpoint) []byte {
	if be.Cookies == nil || ep == nil || ep == chosen && be.Cookies.Options().TTL == 0 {
		return dst
	}
	n := len(dst)
	dst = append(dst, "Set-Cookie: "...)
	dst, ok := be.Cookies.AppendSetCookie(dst, ep)
	if !ok {
		return dst[:n]
	}
	return append(dst, '\r', '\n')
}

// bytesString views b as a string without copying, for calls that do not
// keep it (the cookie lookup).
func bytesString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
