package h1

import (
	"bufio"
	"errors"
	"io"
)

type chunkState uint8

const (
	stateSize    chunkState = iota // expecting a chunk-size line
	stateData                      // inside chunk data
	stateDataEnd                   // expecting the CRLF after chunk data
	stateDone                      // last chunk and trailer section read
)

// ChunkedReader decodes a chunked body (RFC 9112 §7.1) strictly from a
// bufio.Reader, leaving br positioned just after the body. It is reusable
// through Reset, which must precede the first Read, and allocates nothing
// after its trailer buffers have grown. Not safe for concurrent use.
type ChunkedReader struct {
	br       *bufio.Reader
	lim      Limits
	left     int64 // data bytes left in the current chunk
	excess   int64 // framing bytes beyond what the data so far allows
	state    chunkState
	err      error // sticky: io.EOF once done, else the first failure
	buf      []byte
	trailers []Header
}

// Reset prepares c to read a new body from br; lim bounds its trailer
// section.
func (c *ChunkedReader) Reset(br *bufio.Reader, lim Limits) {
	*c = ChunkedReader{
		br:       br,
		lim:      lim.withDefaults(),
		buf:      c.buf[:0],
		trailers: c.trailers[:0],
	}
}

// Trailers returns the trailer fields, valid after Read returned io.EOF and
// until the next Reset.
func (c *ChunkedReader) Trailers() []Header { return c.trailers }

// Read reads body data. It returns io.EOF after the last chunk and the
// trailer section were read, io.ErrUnexpectedEOF if the stream ended early,
// other read errors unchanged, and protocol violations as *Error with
// Status 400.
func (c *ChunkedReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	for {
		switch c.state {
		case stateDataEnd:
			if err := c.readCRLF(); err != nil {
				return 0, c.fail(err)
			}
			c.state = stateSize
		case stateSize:
			n, lineLen, err := c.readSize()
			if err != nil {
				return 0, c.fail(err)
			}
			// Like net/http, allow 16 bytes of framing per chunk plus twice
			// the chunk's data, so that extensions cannot make the proxy
			// scan megabytes of framing for a few bytes of data.
			c.excess = max(c.excess+int64(lineLen)+2-16-2*min(n, 1<<32), 0)
			if c.excess > maxChunkOverhead {
				return 0, c.fail(c.protoErr(errChunkOverhead))
			}
			if n == 0 {
				if err := c.readTrailers(); err != nil {
					return 0, c.fail(err)
				}
				c.state, c.err = stateDone, io.EOF
				return 0, io.EOF
			}
			c.left, c.state = n, stateData
		case stateData:
			if int64(len(p)) > c.left {
				p = p[:c.left]
			}
			n, err := c.br.Read(p)
			c.left -= int64(n)
			if c.left == 0 {
				c.state = stateDataEnd
			}
			if err != nil {
				// Deliver the data now and the (sticky) error next time.
				err = c.fail(err)
				if n == 0 {
					return 0, err
				}
			}
			return n, nil
		default:
			return 0, io.EOF
		}
	}
}

// fail records err as sticky, turning a premature io.EOF into
// io.ErrUnexpectedEOF.
func (c *ChunkedReader) fail(err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	c.err = err
	return err
}

func (c *ChunkedReader) protoErr(code errCode) error { return &chunkedErrs[code] }

func (c *ChunkedReader) readCRLF() error {
	b, err := c.br.Peek(2)
	if len(b) == 2 {
		if b[0] != '\r' || b[1] != '\n' {
			return c.protoErr(errChunkData)
		}
		_, _ = c.br.Discard(2) // cannot fail: the bytes are buffered
		return nil
	}
	if len(b) == 1 && b[0] != '\r' {
		return c.protoErr(errChunkData)
	}
	return err
}

// Chunk-line scanner states.
const (
	lineSize      = iota // in chunk-size
	lineExtStart         // after ';': expecting an extension name
	lineExtName          // in an extension name
	lineValStart         // after '=': expecting a token or quoted-string
	lineValToken         // in a token value
	lineQuoted           // inside a quoted-string
	lineQuotedEsc        // after a backslash in a quoted-string
	lineQuotedEnd        // after the closing quote
	lineLF               // after CR: expecting LF
	lineDone
)

// readSize reads one chunk line: chunk-size [chunk-ext] CRLF. It scans the
// line as it streams out of br, so a line longer than br's buffer is fine
// and nothing is copied.
func (c *ChunkedReader) readSize() (size int64, lineLen int, _ error) {
	var (
		digits int
		ext    int
		st     = lineSize
	)
	for {
		frag, err := c.br.ReadSlice('\n')
		lineLen += len(frag)
		for _, b := range frag {
			if st >= lineExtStart && st <= lineQuotedEnd && b != '\r' {
				if ext++; ext > maxChunkExtBytes {
					return 0, 0, c.protoErr(errChunkExtTooLong)
				}
			}
			switch st {
			case lineSize:
				switch {
				case isHex(b):
					if digits == maxChunkSizeDigits || size > (1<<63-1)>>4 {
						return 0, 0, c.protoErr(errChunkSize)
					}
					digits++
					size = size<<4 | int64(unhex(b))
				case digits == 0:
					return 0, 0, c.protoErr(errChunkSize)
				case b == ';':
					st, ext = lineExtStart, 1
				case b == '\r':
					st = lineLF
				default:
					return 0, 0, c.protoErr(errChunkSize)
				}
			case lineExtStart:
				if !isTchar(b) {
					return 0, 0, c.protoErr(errChunkExt)
				}
				st = lineExtName
			case lineExtName, lineValToken:
				switch {
				case isTchar(b):
				case b == '=' && st == lineExtName:
					st = lineValStart
				case b == ';':
					st = lineExtStart
				case b == '\r':
					st = lineLF
				default:
					return 0, 0, c.protoErr(errChunkExt)
				}
			case lineValStart:
				switch {
				case b == '"':
					st = lineQuoted
				case isTchar(b):
					st = lineValToken
				default:
					return 0, 0, c.protoErr(errChunkExt)
				}
			case lineQuoted:
				// qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text
				switch {
				case b == '"':
					st = lineQuotedEnd
				case b == '\\':
					st = lineQuotedEsc
				case !isValueByte(b):
					return 0, 0, c.protoErr(errChunkExt)
				}
			case lineQuotedEsc:
				if !isValueByte(b) {
					return 0, 0, c.protoErr(errChunkExt)
				}
				st = lineQuoted
			case lineQuotedEnd:
				switch b {
				case ';':
					st = lineExtStart
				case '\r':
					st = lineLF
				default:
					return 0, 0, c.protoErr(errChunkExt)
				}
			case lineLF:
				if b != '\n' {
					return 0, 0, c.protoErr(errChunkSize)
				}
				st = lineDone
			default: // lineDone: ReadSlice stops at '\n', so nothing follows
				return 0, 0, c.protoErr(errChunkSize)
			}
		}
		if st == lineDone {
			return size, lineLen, nil
		}
		if err == nil {
			// A '\n' that did not end a CRLF (the scanner rejects bare CR
			// and bare LF alike, so this is unreachable but kept safe).
			return 0, 0, c.protoErr(errChunkSize)
		}
		if err != bufio.ErrBufferFull {
			return 0, 0, err
		}
	}
}

func unhex(c byte) byte {
	if c <= '9' {
		return c - '0'
	}
	return c | 0x20 - 'a' + 10
}

// readTrailers reads the trailer section and the final CRLF.
func (c *ChunkedReader) readTrailers() error {
	buf, code, err := readLines(c.br, c.buf[:0], c.lim.MaxHeaderBytes, errOK, errTrailersTooLarge)
	c.buf = buf
	if err != nil {
		return err
	}
	if code == errOK {
		c.trailers, _, code = parseFields(buf, 0, c.lim, modeTrailer, c.trailers[:0], nil, nil)
	}
	if code != errOK {
		c.trailers = c.trailers[:0]
		return c.protoErr(code)
	}
	return nil
}

// errWriteAfterClose is returned by ChunkedWriter.Write after Close.
var errWriteAfterClose = errors.New("h1: chunked write after close")

// errBadTrailer is returned by ChunkedWriter.Close for a trailer field that
// would corrupt or smuggle through the message.
var errBadTrailer = errors.New("h1: invalid trailer field to write")

// ChunkedWriter encodes a chunked body onto a bufio.Writer. Each non-empty
// Write is one chunk; Close writes the last chunk, trailers and the final
// CRLF. It never flushes and allocates nothing. Not safe for concurrent use.
type ChunkedWriter struct {
	bw     *bufio.Writer
	closed bool
	line   [maxChunkSizeDigits + 2]byte // chunk-size CRLF
}

// Reset prepares w to write a new body to bw.
func (w *ChunkedWriter) Reset(bw *bufio.Writer) {
	w.bw, w.closed = bw, false
}

// Write writes p as one chunk; an empty p writes nothing, since a zero-size
// chunk would end the body.
func (w *ChunkedWriter) Write(p []byte) (int, error) {
	if w.closed {
		return 0, errWriteAfterClose
	}
	if len(p) == 0 {
		return 0, nil
	}
	const hexDigits = "0123456789abcdef"
	i := maxChunkSizeDigits
	w.line[i], w.line[i+1] = '\r', '\n'
	for n := uint64(len(p)); ; n >>= 4 {
		i--
		w.line[i] = hexDigits[n&15]
		if n < 16 {
			break
		}
	}
	if _, err := w.bw.Write(w.line[i:]); err != nil {
		return 0, err
	}
	n, err := w.bw.Write(p)
	if err != nil {
		return n, err
	}
	_, err = w.bw.WriteString("\r\n")
	return n, err
}

// Close writes the last chunk, the trailer fields and the final CRLF. It
// refuses trailers whose name is not a token or whose value holds bytes a
// field value may not (CR, LF, NUL, ...), as well as framing and routing
// fields, so a trailer can never inject lines. It does not flush.
func (w *ChunkedWriter) Close(trailers []Header) error {
	if w.closed {
		return errWriteAfterClose
	}
	for _, t := range trailers {
		if !isToken(t.Name) || !validValue(t.Value) || forbiddenTrailer(t.Name) {
			return errBadTrailer
		}
	}
	w.closed = true
	if _, err := w.bw.WriteString("0\r\n"); err != nil {
		return err
	}
	for _, t := range trailers {
		_, _ = w.bw.Write(t.Name)
		_, _ = w.bw.WriteString(": ")
		_, _ = w.bw.Write(t.Value)
		_, _ = w.bw.WriteString("\r\n")
	}
	// bufio.Writer errors are sticky, so the last write reports any.
	_, err := w.bw.WriteString("\r\n")
	return err
}
