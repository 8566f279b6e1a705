package h1

import (
	"bufio"
	"bytes"
)

// Request is a parsed request head. It is reused across requests on a
// connection: ReadRequest resets it and, after warm-up, fills it without
// allocating. Not safe for concurrent use. All []byte fields alias the
// request's own buffer (or the head given to ParseRequest) and are valid
// until the next Reset, ReadRequest or ParseRequest.
type Request struct {
	Method, Target []byte
	Minor          int      // 0 or 1: only HTTP/1.0 and HTTP/1.1 are accepted
	Headers        []Header // every field line in order, names as received
	Host           []byte   // the single Host value; nil if absent (HTTP/1.0 only)
	ContentLength  int64    // -1 when there is no Content-Length
	Chunked        bool     // Transfer-Encoding is present and ends in chunked
	Close          bool     // "Connection: close", or HTTP/1.0 without keep-alive
	KeepAlive      bool     // Connection holds keep-alive
	ConnUpgrade    bool     // Connection holds upgrade
	Upgrade        []byte   // the Upgrade value; nil if absent
	Expect100      bool     // "Expect: 100-continue" in an HTTP/1.1 request
	// Partial is set by ReadRequest once bytes of a head arrived, so a read
	// timeout can be told apart (408) from an idle connection (silent close).
	Partial bool

	buf       []byte   // owned head buffer, reused; at most MaxHeaderBytes+2
	conn      [][]byte // Connection tokens, aliasing the head
	authority []byte   // authority of an absolute-form or authority-form target
	pathStart int      // offset of the path in Target, -1 for authority and asterisk form
	pathEnd   int      // offset of the end of the path in Target
	slash     [1]byte  // backs the "/" that Path returns for an empty path
}

// Reset clears r for reuse, keeping its buffers.
func (r *Request) Reset() {
	*r = Request{
		Headers:       r.Headers[:0],
		ContentLength: -1,
		buf:           r.buf[:0],
		conn:          r.conn[:0],
		pathStart:     -1,
	}
}

// HasBody reports whether a body follows the head.
func (r *Request) HasBody() bool { return r.ContentLength > 0 || r.Chunked }

// Nominated reports whether the Connection field listed name (ASCII
// case-insensitively), making that field hop-by-hop.
func (r *Request) Nominated(name []byte) bool { return nominated(r.conn, name) }

// Path returns the path of an origin-form or absolute-form target, without
// the query, still percent-encoded; "/" when an absolute-form target has an
// empty path; nil for authority-form and asterisk-form.
func (r *Request) Path() []byte {
	if r.pathStart < 0 {
		return nil
	}
	if r.pathStart == r.pathEnd {
		r.slash[0] = '/'
		return r.slash[:]
	}
	return r.Target[r.pathStart:r.pathEnd]
}

// Authority returns the host the request is for: the authority of an
// absolute-form or authority-form (CONNECT) target, which RFC 9112 §3.2.2
// says overrides Host, and otherwise the Host value (possibly empty or nil).
func (r *Request) Authority() []byte {
	if r.authority != nil {
		return r.authority
	}
	return r.Host
}

// ReadRequest reads one request head from br into r, copying it into r's own
// buffer so that r stays valid while the caller reads the body from br. Up to
// a few empty lines before the request line are skipped. If the peer closed
// before sending anything, it returns io.EOF; if it closed mid-head,
// io.ErrUnexpectedEOF; other read errors are returned unchanged, with
// r.Partial telling whether part of a head had arrived. Protocol violations
// are *Error with Status 400, 414, 431 or 505.
func ReadRequest(br *bufio.Reader, r *Request, lim Limits) error {
	lim = lim.withDefaults()
	r.Reset()
	head, partial, code, err := readHead(br, r.buf, lim.MaxHeaderBytes, true, errURITooLong)
	r.buf, r.Partial = head, partial
	if err != nil {
		return err
	}
	if code == errOK {
		code = parseRequest(head, r, lim)
	}
	if code != errOK {
		return &requestErrs[code]
	}
	return nil
}

// ParseRequest parses a complete head: the request line through the empty
// line, ending in "\r\n\r\n", with nothing after it and no leading empty
// lines. r's slices alias head. Errors are as for ReadRequest.
func ParseRequest(head []byte, r *Request, lim Limits) error {
	lim = lim.withDefaults()
	r.Reset()
	if code := parseRequest(head, r, lim); code != errOK {
		return &requestErrs[code]
	}
	return nil
}

func parseRequest(head []byte, r *Request, lim Limits) errCode {
	nl := bytes.IndexByte(head, '\n')
	if nl < 0 {
		if len(head) > lim.MaxHeaderBytes {
			return errURITooLong
		}
		return errHeadEnd
	}
	if nl+1 > lim.MaxHeaderBytes {
		return errURITooLong
	}
	if nl == 0 || head[nl-1] != '\r' {
		return errLineEnding
	}
	if code := r.parseRequestLine(head[:nl-1]); code != errOK {
		return code
	}

	var st fieldState
	var code errCode
	r.Headers, r.conn, code = parseFields(head[nl+1:], nl+1, lim, modeHead, r.Headers, r.conn, &st)
	if code != errOK {
		return code
	}

	if st.haveTE {
		switch {
		case r.Minor == 0:
			return errTEInHTTP10
		case st.haveCL:
			return errTEAndCL
		case !st.chunked:
			// Without chunked last, a request body has no end but the
			// connection's, which RFC 9112 §6.3 says to refuse.
			return errTransferEncoding
		}
		r.Chunked = true
	}
	if st.haveCL {
		r.ContentLength = st.contentLength
	}
	switch {
	case st.nHost > 1:
		return errDupHost
	case st.nHost == 0 && r.Minor == 1:
		return errMissingHost
	case st.nHost == 1 && len(st.host) > 0 && !validHostPort(st.host, false):
		return errHost
	}
	r.Host = st.host
	r.KeepAlive = st.connKeepAlive
	r.ConnUpgrade = st.connUpgrade
	r.Close = st.connClose || (r.Minor == 0 && !st.connKeepAlive)
	r.Upgrade = st.upgrade
	// RFC 9110 §10.1.1: a server must ignore 100-continue from HTTP/1.0.
	r.Expect100 = st.expect100 && r.Minor == 1
	return errOK
}

// parseRequestLine parses method SP request-target SP HTTP-version.
func (r *Request) parseRequestLine(line []byte) errCode {
	i := 0
	for i < len(line) && isTchar(line[i]) {
		i++
	}
	if i == len(line) {
		return errRequestLine
	}
	if i == 0 || line[i] != ' ' {
		return errMethod
	}
	r.Method = line[:i]
	rest := line[i+1:]

	// One pass over the target checks its bytes, finds the query and
	// validates percent-escapes in the path (net/url rejects bad ones, and a
	// path the upstream cannot decode must not be routed on).
	q := -1
	j := 0
	for ; j < len(rest); j++ {
		c := rest[j]
		if c <= ' ' || c >= 0x7f {
			break
		}
		switch c {
		case '?':
			if q < 0 {
				q = j
			}
		case '#':
			return errTarget // a fragment is never part of a request target
		case '%':
			if q < 0 && (j+2 >= len(rest) || !isHex(rest[j+1]) || !isHex(rest[j+2])) {
				return errTarget
			}
		}
	}
	if j == len(rest) {
		return errRequestLine
	}
	if j == 0 || rest[j] != ' ' {
		return errTarget
	}
	r.Target = rest[:j]
	if q < 0 {
		q = j
	}

	ver := rest[j+1:]
	switch {
	case len(ver) == 8 && string(ver[:7]) == "HTTP/1." && (ver[7] == '1' || ver[7] == '0'):
		r.Minor = int(ver[7] - '0')
	case len(ver) == 8 && string(ver[:5]) == "HTTP/" && isDigit(ver[5]) && ver[6] == '.' && isDigit(ver[7]):
		return errVersionUnsupported
	default:
		return errVersion
	}

	return r.parseTarget(q)
}

// parseTarget checks that the target's form suits the method (RFC 9112
// §3.2) and records where its path and authority are. q is the offset of the
// query, or len(Target).
func (r *Request) parseTarget(q int) errCode {
	t := r.Target
	connect := string(r.Method) == "CONNECT"
	switch {
	case connect:
		if !validHostPort(t, true) {
			return errTargetForm
		}
		r.authority = t
	case t[0] == '/':
		r.pathStart, r.pathEnd = 0, q
	case len(t) == 1 && t[0] == '*':
		if string(r.Method) != "OPTIONS" {
			return errTargetForm
		}
	default:
		var n int
		switch {
		case hasPrefixFold(t, "http://"):
			n = len("http://")
		case hasPrefixFold(t, "https://"):
			n = len("https://")
		default:
			return errTarget
		}
		end := n
		for end < q && t[end] != '/' {
			end++
		}
		// RFC 9110 §4.2.1: an http(s) URI with an empty host is invalid;
		// userinfo is rejected too, by the reg-name check.
		if !validHostPort(t[n:end], false) {
			return errTarget
		}
		r.authority = t[n:end]
		r.pathStart, r.pathEnd = end, q
	}
	return errOK
}
