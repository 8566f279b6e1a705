package h1

import (
	"bufio"
	"bytes"
)

// Response is a parsed response head. It is reused across responses on an
// upstream connection: ReadResponse resets it and, after warm-up, fills it
// without allocating. Not safe for concurrent use. All []byte fields alias
// the response's own buffer (or the head given to ParseResponse) and are
// valid until the next Reset, ReadResponse or ParseResponse.
type Response struct {
	Minor         int // 0 or 1
	Status        int // 100-599
	Reason        []byte
	Headers       []Header
	ContentLength int64 // -1 when there is no Content-Length
	Chunked       bool  // Transfer-Encoding is present and ends in chunked
	// Close is set by "Connection: close", or HTTP/1.0 without keep-alive.
	// A connection is reusable only if Close is false and Framing is not
	// UntilClose.
	Close       bool
	ConnUpgrade bool   // Connection holds upgrade
	Upgrade     []byte // the Upgrade value; nil if absent

	buf     []byte   // owned head buffer, reused; at most MaxHeaderBytes+2
	conn    [][]byte // Connection tokens, aliasing the head
	teOther bool     // Transfer-Encoding present without chunked last
}

// Reset clears r for reuse, keeping its buffers.
func (r *Response) Reset() {
	*r = Response{
		Headers:       r.Headers[:0],
		ContentLength: -1,
		buf:           r.buf[:0],
		conn:          r.conn[:0],
	}
}

// Nominated reports whether the Connection field listed name (ASCII
// case-insensitively), making that field hop-by-hop.
func (r *Response) Nominated(name []byte) bool { return nominated(r.conn, name) }

// Framing says how a response body is delimited.
type Framing uint8

const (
	// NoBody: the response ends with its head.
	NoBody Framing = iota
	// Length: the body is exactly Content-Length bytes (possibly 0).
	Length
	// Chunked: the body uses the chunked transfer coding.
	Chunked
	// UntilClose: the body ends when the upstream closes the connection.
	UntilClose
)

// String returns the framing's name for logs.
func (f Framing) String() string {
	switch f {
	case NoBody:
		return "none"
	case Length:
		return "length"
	case Chunked:
		return "chunked"
	case UntilClose:
		return "until-close"
	}
	return "unknown"
}

// Framing applies RFC 9112 §6.3 to r: a response to HEAD, and every 1xx, 204
// and 304 response, has no body; otherwise a final chunked coding means
// Chunked, another Transfer-Encoding means UntilClose, Content-Length means
// Length, and nothing means UntilClose. The int64 is the body length for
// Length, 0 for NoBody and -1 otherwise. A 2xx answer to CONNECT starts a
// tunnel instead; the caller handles that before asking for the framing.
func (r *Response) Framing(headRequest bool) (Framing, int64) {
	switch {
	case headRequest || r.Status < 200 || r.Status == 204 || r.Status == 304:
		return NoBody, 0
	case r.Chunked:
		return Chunked, -1
	case r.teOther:
		return UntilClose, -1
	case r.ContentLength >= 0:
		return Length, r.ContentLength
	}
	return UntilClose, -1
}

// ReadResponse reads one response head from br into r, copying it into r's
// own buffer so that r stays valid while the caller reads the body from br.
// If the upstream closed before sending anything, it returns io.EOF; if it
// closed mid-head, io.ErrUnexpectedEOF; other read errors are returned
// unchanged. Every protocol violation is an *Error with Status 502.
func ReadResponse(br *bufio.Reader, r *Response, lim Limits) error {
	lim = lim.withDefaults()
	r.Reset()
	head, _, code, err := readHead(br, r.buf, lim.MaxHeaderBytes, false, errHeadTooLarge)
	r.buf = head
	if err != nil {
		return err
	}
	if code == errOK {
		code = parseResponse(head, r, lim)
	}
	if code != errOK {
		return &responseErrs[code]
	}
	return nil
}

// ParseResponse parses a complete head: the status line through the empty
// line, ending in "\r\n\r\n" with nothing after it. r's slices alias head.
// Every violation is an *Error with Status 502.
func ParseResponse(head []byte, r *Response, lim Limits) error {
	lim = lim.withDefaults()
	r.Reset()
	if code := parseResponse(head, r, lim); code != errOK {
		return &responseErrs[code]
	}
	return nil
}

func parseResponse(head []byte, r *Response, lim Limits) errCode {
	nl := bytes.IndexByte(head, '\n')
	if nl < 0 {
		if len(head) > lim.MaxHeaderBytes {
			return errHeadTooLarge
		}
		return errHeadEnd
	}
	if nl+1 > lim.MaxHeaderBytes {
		return errHeadTooLarge
	}
	if nl == 0 || head[nl-1] != '\r' {
		return errLineEnding
	}
	if code := r.parseStatusLine(head[:nl-1]); code != errOK {
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
			// RFC 9112 §6.1: the framing of such a message is faulty.
			return errTEInHTTP10
		case st.haveCL:
			return errTEAndCL
		}
		r.Chunked = st.chunked
		r.teOther = !st.chunked
	}
	if st.haveCL {
		r.ContentLength = st.contentLength
	}
	r.ConnUpgrade = st.connUpgrade
	r.Close = st.connClose || (r.Minor == 0 && !st.connKeepAlive)
	r.Upgrade = st.upgrade
	return errOK
}

// parseStatusLine parses HTTP-version SP 3DIGIT [SP reason-phrase]. The
// space and reason may be missing altogether, as browsers accept.
func (r *Response) parseStatusLine(line []byte) errCode {
	if len(line) < 12 || string(line[:7]) != "HTTP/1." || line[8] != ' ' {
		return errStatusLine
	}
	switch line[7] {
	case '0', '1':
		r.Minor = int(line[7] - '0')
	default:
		return errVersion
	}
	c0, c1, c2 := line[9], line[10], line[11]
	if !isDigit(c0) || !isDigit(c1) || !isDigit(c2) {
		return errStatusCode
	}
	r.Status = int(c0-'0')*100 + int(c1-'0')*10 + int(c2-'0')
	if r.Status < 100 || r.Status > 599 {
		return errStatusCode
	}
	reason := line[12:]
	if len(reason) > 0 {
		if reason[0] != ' ' {
			return errStatusLine
		}
		reason = reason[1:]
		if !validValue(reason) {
			return errReason
		}
	}
	r.Reason = reason
	return errOK
}
