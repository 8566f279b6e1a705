package httpproxy

import (
	"strconv"

	"github.com/gantry-lb/gantry/internal/httpproxy/h1"
	"github.com/gantry-lb/gantry/internal/snapshot"
)

// headerClass says how a field of a request or response is treated when it
// is forwarded.
type headerClass uint8

const (
	fieldForward   headerClass = iota // copied as received
	fieldHop                          // hop-by-hop: never forwarded
	fieldFraming                      // Content-Length / Transfer-Encoding: re-emitted from the parsed framing
	fieldXFF                          // X-Forwarded-For: combined with the client address
	fieldXFProto                      // X-Forwarded-Proto/-Host: replaced
	fieldForwarded                    // Forwarded: combined
	fieldUpgrade                      // Upgrade: forwarded only on an upgrade
)

// classify returns the class of a field name. On the hot path: no allocation.
func classify(name []byte) headerClass {
	switch len(name) {
	case 2:
		if h1.EqualFold(name, "te") {
			return fieldHop
		}
	case 7:
		if h1.EqualFold(name, "upgrade") {
			return fieldUpgrade
		}
	case 9:
		if h1.EqualFold(name, "forwarded") {
			return fieldForwarded
		}
	case 10:
		if h1.EqualFold(name, "connection") || h1.EqualFold(name, "keep-alive") {
			return fieldHop
		}
	case 14:
		if h1.EqualFold(name, "content-length") {
			return fieldFraming
		}
		if h1.EqualFold(name, "http2-settings") {
			return fieldHop
		}
	case 15:
		if h1.EqualFold(name, "x-forwarded-for") {
			return fieldXFF
		}
	case 16:
		if h1.EqualFold(name, "proxy-connection") {
			return fieldHop
		}
		if h1.EqualFold(name, "x-forwarded-host") {
			return fieldXFProto
		}
	case 17:
		if h1.EqualFold(name, "transfer-encoding") {
			return fieldFraming
		}
		if h1.EqualFold(name, "x-forwarded-proto") {
			return fieldXFProto
		}
	}
	return fieldForward
}

// appendField appends "name: value\r\n".
func appendField(dst, name, value []byte) []byte {
	dst = append(dst, name...)
	dst = append(dst, ':', ' ')
	dst = append(dst, value...)
	return append(dst, '\r', '\n')
}

// upstreamRequest is what appendRequestHead needs beyond the parsed request.
type upstreamRequest struct {
	target   []byte // origin-form
	host     []byte // Host to send
	clientIP string
	upgrade  bool // forward Connection: upgrade and Upgrade
	tls      bool // the client came over TLS: proto https
}

// appendRequestHead appends the head gantry sends upstream for req: the
// request line in HTTP/1.1, the client's fields without hop-by-hop ones
// (including every field the client's Connection header nominated), the
// framing re-emitted from what was parsed, then the fields gantry adds.
// Fields gantry adds are written after the client's and cannot be removed
// by the client: its Connection header is never forwarded. On the hot path.
func appendRequestHead(dst []byte, req *h1.Request, u *upstreamRequest, fe *snapshot.Frontend, be *snapshot.Backend) []byte {
	dst = append(dst, req.Method...)
	dst = append(dst, ' ')
	dst = append(dst, u.target...)
	dst = append(dst, " HTTP/1.1\r\nHost: "...)
	if be.Host != nil {
		dst = append(dst, be.Host...)
	} else {
		dst = append(dst, u.host...)
	}
	dst = append(dst, '\r', '\n')
	xff, fwd := false, false
	for i := range req.Headers {
		h := &req.Headers[i]
		// The codec refuses a Connection header that names Host or the
		// framing fields, so this never drops those.
		if req.Nominated(h.Name) || replaced(fe.RequestHeaders, h.Name) {
			continue
		}
		switch classify(h.Name) {
		case fieldForward:
			if len(h.Name) == 4 && h1.EqualFold(h.Name, "host") {
				continue // written first, from u.host
			}
			dst = appendField(dst, h.Name, h.Value)
		case fieldXFF:
			if fe.XForwardedFor {
				xff = true
			} else {
				dst = appendField(dst, h.Name, h.Value)
			}
		case fieldXFProto:
			if !fe.XForwardedFor {
				dst = appendField(dst, h.Name, h.Value)
			}
		case fieldForwarded:
			if fe.Forwarded {
				fwd = true
			} else {
				dst = appendField(dst, h.Name, h.Value)
			}
		case fieldFraming:
			if req.Chunked && len(h.Name) == 17 {
				// Lower-cased, so a lenient server cannot read "Chunked"
				// differently from gantry.
				dst = append(dst, "Transfer-Encoding: "...)
				dst = appendLower(dst, h.Value)
				dst = append(dst, '\r', '\n')
			}
		}
	}
	if req.ContentLength >= 0 {
		dst = append(dst, "Content-Length: "...)
		dst = strconv.AppendInt(dst, req.ContentLength, 10)
		dst = append(dst, '\r', '\n')
	}
	if u.upgrade {
		dst = append(dst, "Connection: Upgrade\r\nUpgrade: "...)
		dst = append(dst, req.Upgrade...)
		dst = append(dst, '\r', '\n')
	}
	if fe.XForwardedFor {
		dst = append(dst, "X-Forwarded-For: "...)
		if xff {
			dst = appendValues(dst, req, "x-forwarded-for")
			dst = append(dst, ", "...)
		}
		dst = append(dst, u.clientIP...)
		if u.tls {
			dst = append(dst, "\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: "...)
		} else {
			dst = append(dst, "\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: "...)
		}
		dst = append(dst, u.host...)
		dst = append(dst, '\r', '\n')
	}
	if fe.Forwarded {
		dst = append(dst, "Forwarded: "...)
		if fwd {
			dst = appendValues(dst, req, "forwarded")
			dst = append(dst, ", "...)
		}
		dst = append(dst, "for="...)
		if isIPv6(u.clientIP) {
			dst = append(dst, "\"["...)
			dst = append(dst, u.clientIP...)
			dst = append(dst, "]\""...)
		} else {
			dst = append(dst, u.clientIP...)
		}
		if u.tls {
			dst = append(dst, ";proto=https;host="...)
		} else {
			dst = append(dst, ";proto=http;host="...)
		}
		dst = strconv.AppendQuote(dst, string(u.host))
		dst = append(dst, '\r', '\n')
	}
	dst = appendRules(dst, fe.RequestHeaders)
	return append(dst, '\r', '\n')
}

// replaced reports whether a set or remove rule drops the field name. On
// the hot path: no allocation.
func replaced(rules []snapshot.HeaderRule, name []byte) bool {
	for i := range rules {
		r := &rules[i]
		if r.Action != snapshot.HeaderAdd && len(r.Name) == len(name) && h1.EqualFold(name, r.Name) {
			return true
		}
	}
	return false
}

// appendRules appends the fields that set and add rules write.
func appendRules(dst []byte, rules []snapshot.HeaderRule) []byte {
	for i := range rules {
		if r := &rules[i]; r.Action != snapshot.HeaderRemove {
			dst = append(dst, r.Name...)
			dst = append(dst, ':', ' ')
			dst = append(dst, r.Value...)
			dst = append(dst, '\r', '\n')
		}
	}
	return dst
}

// appendLower appends b in ASCII lower case.
func appendLower(dst, b []byte) []byte {
	for _, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// appendValues appends the values of every field named name, comma separated.
func appendValues(dst []byte, req *h1.Request, name string) []byte {
	first := true
	for i := range req.Headers {
		h := &req.Headers[i]
		if len(h.Name) == len(name) && h1.EqualFold(h.Name, name) {
			if !first {
				dst = append(dst, ", "...)
			}
			dst = append(dst, h.Value...)
			first = false
		}
	}
	return dst
}

func isIPv6(ip string) bool {
	for i := 0; i < len(ip); i++ {
		if ip[i] == ':' {
			return true
		}
	}
	return false
}

// appendStatusLine appends "HTTP/1.1 <code> <reason>\r\n".
func appendStatusLine(dst []byte, code int, reason []byte) []byte {
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(code), 10)
	dst = append(dst, ' ')
	dst = append(dst, reason...)
	return append(dst, '\r', '\n')
}

// appendResponseFields appends the upstream response's end-to-end fields:
// hop-by-hop fields and those its Connection header nominated are dropped,
// and framing fields are left to the caller, except that keepLength keeps
// Content-Length (for responses without a body, where it describes the
// representation) and keepTE keeps Transfer-Encoding.
// Response header rules (rules, may be nil) drop and add fields.
func appendResponseFields(dst []byte, resp *h1.Response, keepLength, keepTE bool, rules []snapshot.HeaderRule) []byte {
	for i := range resp.Headers {
		h := &resp.Headers[i]
		switch classify(h.Name) {
		case fieldHop, fieldUpgrade:
			continue
		case fieldFraming:
			if len(h.Name) == 14 && !keepLength || len(h.Name) == 17 && !keepTE {
				continue
			}
		default:
			if resp.Nominated(h.Name) || replaced(rules, h.Name) {
				continue
			}
		}
		dst = appendField(dst, h.Name, h.Value)
	}
	return appendRules(dst, rules)
}
