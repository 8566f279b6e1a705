package h1

import (
	"bufio"
	"bytes"
	"io"
)

// readHead copies one head, from its start line through the empty line that
// ends it, from br into buf (reused). With skipEmpty it first skips up to
// maxEmptyLines CRLFs, as a server should before a request line. partial
// reports whether any byte of a head was consumed. An I/O error is returned
// unchanged, except that io.EOF after part of a head becomes
// io.ErrUnexpectedEOF. Line syntax beyond CRLF endings is left to the parser.
func readHead(br *bufio.Reader, buf []byte, limit int, skipEmpty bool, startTooLong errCode) (head []byte, partial bool, code errCode, err error) {
	buf = buf[:0]
	if skipEmpty {
		for i := 0; ; i++ {
			b, perr := br.Peek(2)
			if len(b) == 0 {
				return buf, false, errOK, perr
			}
			if len(b) < 2 || b[0] != '\r' || b[1] != '\n' {
				break
			}
			if i == maxEmptyLines {
				return buf, true, errEmptyLines, nil
			}
			_, _ = br.Discard(2) // cannot fail: the bytes are buffered
		}
	}

	// Fast path: the whole head is usually already buffered, so find its end
	// and copy it in one go. Looking no further than limit+2 bytes keeps an
	// oversized head on the slow path, which reports it precisely.
	if n := br.Buffered(); n >= 4 {
		b, _ := br.Peek(n)
		if len(b) > limit+2 {
			b = b[:limit+2]
		}
		if i := bytes.Index(b, []byte("\r\n\r\n")); i >= 0 {
			buf = append(buf, b[:i+4]...)
			_, _ = br.Discard(i + 4)
			return buf, true, errOK, nil
		}
	}

	buf, code, err = readLines(br, buf, limit, startTooLong, errHeadTooLarge)
	return buf, len(buf) > 0, code, err
}

// readLines appends CRLF-terminated lines from br to buf until it has
// appended an empty line. If startCode is not errOK, the first line is a
// start line: it may not be the empty line (the parser rejects it) and, when
// longer than limit, yields startCode. Otherwise the lines before the empty
// one may total at most limit bytes, else tooLarge. buf never grows beyond
// limit+2 bytes.
func readLines(br *bufio.Reader, buf []byte, limit int, startCode, tooLarge errCode) ([]byte, errCode, error) {
	lineStart := len(buf)
	base := lineStart
	for {
		frag, err := br.ReadSlice('\n')
		isStart := startCode != errOK && lineStart == base
		over := startCode
		if !isStart {
			over = tooLarge
		}
		if len(buf)+len(frag)-base > limit+2 {
			return buf, over, nil
		}
		buf = append(buf, frag...)
		line := buf[lineStart:]
		if err != nil {
			if err != bufio.ErrBufferFull {
				if err == io.EOF && len(buf) > 0 {
					err = io.ErrUnexpectedEOF
				}
				return buf, errOK, err
			}
			// Mid-line: fail as soon as the line cannot fit, unless it may
			// still become the final empty line.
			if len(buf)-base > limit && (isStart || len(line) != 1 || line[0] != '\r') {
				return buf, over, nil
			}
			continue
		}
		if len(line) < 2 || line[len(line)-2] != '\r' {
			return buf, errLineEnding, nil
		}
		if len(line) == 2 && !isStart {
			return buf, errOK, nil
		}
		if len(buf)-base > limit {
			return buf, over, nil
		}
		if len(line) == 2 {
			return buf, errOK, nil // an empty start line; the parser rejects it
		}
		lineStart = len(buf)
	}
}

// fieldState collects what the field lines say about framing and the
// connection while they are parsed.
type fieldState struct {
	contentLength int64
	host          []byte
	upgrade       []byte
	nHost         int
	haveCL        bool
	haveTE        bool
	chunked       bool // the last coding so far is chunked
	connClose     bool
	connKeepAlive bool
	connUpgrade   bool
	expect100     bool
}

// fieldMode says which fields parseFields interprets.
type fieldMode uint8

const (
	modeHead fieldMode = iota
	modeTrailer
)

// parseFields parses the field lines of b, which must end with the empty line
// and nothing after it. used is the number of head bytes before b; it counts
// towards lim.MaxHeaderBytes. Fields are appended to hs and nominated
// Connection tokens to conn.
func parseFields(b []byte, used int, lim Limits, mode fieldMode, hs []Header, conn [][]byte, st *fieldState) ([]Header, [][]byte, errCode) {
	tooLarge, tooMany := errHeadTooLarge, errTooManyFields
	if mode == modeTrailer {
		tooLarge, tooMany = errTrailersTooLarge, errTooManyTrailers
	}
	n := 0
	// One pass per line: the name scan stops at the colon, and the value
	// scan at the first byte a value may not hold, which for a valid line
	// is the CR of its CRLF. There is no separate search for line ends.
	for {
		i := 0
		for i < len(b) && isTchar(b[i]) {
			i++
		}
		if i == len(b) {
			return hs, conn, errHeadEnd
		}
		if i == 0 || b[i] != ':' {
			switch c := b[i]; {
			case i == 0 && c == '\r' && len(b) >= 2 && b[1] == '\n':
				if len(b) != 2 {
					return hs, conn, errHeadEnd // bytes after the empty line
				}
				return hs, conn, errOK
			case i == 0 && (c == ' ' || c == '\t'):
				return hs, conn, errObsFold
			case c == '\n':
				return hs, conn, errLineEnding
			}
			return hs, conn, errFieldName
		}
		if n == lim.MaxHeaders {
			return hs, conn, tooMany
		}
		n++

		name := b[:i]
		j := i + 1
		for j < len(b) && (b[j] == ' ' || b[j] == '\t') {
			j++
		}
		vstart := j
		j = scanValue(b, j)
		switch {
		case j+1 >= len(b):
			return hs, conn, errHeadEnd
		case b[j] == '\n':
			return hs, conn, errLineEnding
		case b[j] != '\r' || b[j+1] != '\n':
			return hs, conn, errFieldValue // NUL, a bare CR, another control or DEL
		}
		used += j + 2
		if used > lim.MaxHeaderBytes {
			return hs, conn, tooLarge
		}
		v := b[vstart:j]
		for len(v) > 0 && (v[len(v)-1] == ' ' || v[len(v)-1] == '\t') {
			v = v[:len(v)-1]
		}
		b = b[j+2:]
		hs = append(hs, Header{Name: name, Value: v})

		var code errCode
		if mode == modeTrailer {
			if forbiddenTrailer(name) {
				code = errTrailerField
			}
		} else {
			conn, code = st.field(name, v, conn)
		}
		if code != errOK {
			return hs, conn, code
		}
	}
}

// field interprets one head field. Only a handful of names matter, and their
// lengths are distinct enough that a switch on length avoids most compares.
func (st *fieldState) field(name, v []byte, conn [][]byte) ([][]byte, errCode) {
	switch len(name) {
	case 4:
		if equalFold(name, "host") {
			st.nHost++
			st.host = v
		}
	case 6:
		if equalFold(name, "expect") && equalFold(v, "100-continue") {
			st.expect100 = true
		}
	case 7:
		if equalFold(name, "upgrade") {
			// Several Upgrade fields could be read differently by the
			// upstream; one is all a real client sends.
			if st.upgrade != nil || len(v) == 0 {
				return conn, errUpgrade
			}
			st.upgrade = v
		} else if equalFold(name, "trailer") {
			return conn, checkTrailerHeader(v)
		}
	case 10:
		if equalFold(name, "connection") {
			return st.connection(v, conn)
		}
	case 14:
		if equalFold(name, "content-length") {
			if st.haveCL {
				return conn, errDupContentLength
			}
			n, ok := parseContentLength(v)
			if !ok {
				return conn, errContentLength
			}
			st.haveCL, st.contentLength = true, n
		}
	case 17:
		if equalFold(name, "transfer-encoding") {
			return conn, st.transferEncoding(v)
		}
	}
	return conn, errOK
}

func (st *fieldState) connection(v []byte, conn [][]byte) ([][]byte, errCode) {
	for more := true; more; {
		var tok []byte
		tok, v, more = nextElem(v)
		if len(tok) == 0 {
			continue // RFC 9110 §5.6.1: empty list elements are ignored
		}
		if !isToken(tok) {
			return conn, errConnection
		}
		switch {
		case equalFold(tok, "close"):
			st.connClose = true
		case equalFold(tok, "keep-alive"):
			st.connKeepAlive = true
		case equalFold(tok, "upgrade"):
			st.connUpgrade = true
		case equalFold(tok, "content-length"), equalFold(tok, "transfer-encoding"), equalFold(tok, "host"):
			return conn, errConnection
		}
		conn = append(conn, tok)
	}
	return conn, errOK
}

// transferEncoding folds one Transfer-Encoding field into st. Repeated fields
// continue the same list, so "chunked" in an earlier field followed by any
// coding is "chunked" not being final.
func (st *fieldState) transferEncoding(v []byte) errCode {
	st.haveTE = true
	for more := true; more; {
		var coding []byte
		coding, v, more = nextElem(v)
		if !isToken(coding) || st.chunked {
			return errTransferEncoding
		}
		st.chunked = equalFold(coding, "chunked")
	}
	return errOK
}

// checkTrailerHeader rejects a Trailer field that announces framing fields
// in the trailer section.
func checkTrailerHeader(v []byte) errCode {
	for more := true; more; {
		var name []byte
		name, v, more = nextElem(v)
		if len(name) == 0 {
			continue
		}
		if !isToken(name) || equalFold(name, "content-length") ||
			equalFold(name, "transfer-encoding") || equalFold(name, "trailer") {
			return errTrailerHeader
		}
	}
	return errOK
}

// forbiddenTrailer reports whether a trailer field could change framing or
// routing if a later hop merged trailers into the head.
func forbiddenTrailer(name []byte) bool {
	return equalFold(name, "content-length") || equalFold(name, "transfer-encoding") ||
		equalFold(name, "host") || equalFold(name, "trailer")
}

// nominated reports whether conn holds name under case folding.
func nominated(conn [][]byte, name []byte) bool {
	for _, tok := range conn {
		if equalFold(tok, name) {
			return true
		}
	}
	return false
}
