package h1

import (
	"bytes"
	"encoding/binary"
)

const (
	// DefaultMaxHeaderBytes is the default Limits.MaxHeaderBytes.
	DefaultMaxHeaderBytes = 16 << 10
	// DefaultMaxHeaders is the default Limits.MaxHeaders.
	DefaultMaxHeaders = 100

	// maxEmptyLines bounds the empty lines ReadRequest skips before a request
	// line (RFC 9112 §2.2 asks for at least one), so a peer cannot keep a
	// connection busy with nothing but CRLFs.
	maxEmptyLines = 4
	// maxChunkExtBytes bounds the chunk extensions of one chunk line.
	maxChunkExtBytes = 4096
	// maxChunkOverhead bounds the framing bytes a chunked body may carry
	// beyond 16 per chunk plus twice its data, as net/http does.
	maxChunkOverhead = 16 << 10
	// maxChunkSizeDigits bounds the hex digits of a chunk size; 16 is the
	// most an int64 can need, so more can only be padding or an attack.
	maxChunkSizeDigits = 16
	// maxContentLengthDigits is the most decimal digits an int64 can need.
	maxContentLengthDigits = 19
)

// Limits bounds a message head. A zero field means its default.
type Limits struct {
	// MaxHeaderBytes bounds the request or status line plus all field lines,
	// CRLFs included; the empty line that ends the head is not counted.
	// It also bounds a chunked body's trailer section the same way.
	MaxHeaderBytes int
	// MaxHeaders bounds the number of field lines (and of trailer fields).
	MaxHeaders int
}

// DefaultLimits returns 16 KiB of head and 100 fields.
func DefaultLimits() Limits {
	return Limits{MaxHeaderBytes: DefaultMaxHeaderBytes, MaxHeaders: DefaultMaxHeaders}
}

// withDefaults replaces zero or negative fields with their defaults.
func (l Limits) withDefaults() Limits {
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if l.MaxHeaders <= 0 {
		l.MaxHeaders = DefaultMaxHeaders
	}
	return l
}

// Header is one field line. Name and Value alias the message's own buffer (or
// the head given to ParseRequest/ParseResponse) and are valid until the next
// Reset or Read on that message. Value has its leading and trailing OWS
// removed; Name is as received.
type Header struct{ Name, Value []byte }

// Error is a protocol error together with the status a proxy should answer.
// Errors returned by this package are shared values: do not modify them.
type Error struct {
	Status int
	Msg    string
}

// Error returns Msg.
func (e *Error) Error() string { return e.Msg }

// errCode names one protocol violation. Parsers return codes, and the public
// functions map them to the shared *Error of their side (request, response or
// chunked body), so rejecting a message allocates nothing either.
type errCode uint8

const (
	errOK errCode = iota
	errEmptyLines
	errLineEnding
	errHeadEnd
	errRequestLine
	errMethod
	errTarget
	errTargetForm
	errVersion
	errVersionUnsupported
	errURITooLong
	errHeadTooLarge
	errTooManyFields
	errFieldName
	errObsFold
	errFieldValue
	errContentLength
	errDupContentLength
	errTransferEncoding
	errTEAndCL
	errTEInHTTP10
	errMissingHost
	errDupHost
	errHost
	errConnection
	errUpgrade
	errTrailerHeader
	errStatusLine
	errStatusCode
	errReason
	errChunkSize
	errChunkExt
	errChunkExtTooLong
	errChunkData
	errChunkOverhead
	errTrailerField
	errTrailersTooLarge
	errTooManyTrailers
	numErrCodes
)

func (c errCode) msg() string {
	switch c {
	case errEmptyLines:
		return "h1: too many empty lines before the request line"
	case errLineEnding:
		return "h1: line not terminated by CRLF"
	case errHeadEnd:
		return "h1: head does not end with exactly one empty line"
	case errRequestLine:
		return "h1: malformed request line"
	case errMethod:
		return "h1: invalid method"
	case errTarget:
		return "h1: invalid request target"
	case errTargetForm:
		return "h1: request target form not allowed for the method"
	case errVersion:
		return "h1: malformed HTTP version"
	case errVersionUnsupported:
		return "h1: HTTP version not supported"
	case errURITooLong:
		return "h1: request line too long"
	case errHeadTooLarge:
		return "h1: header section too large"
	case errTooManyFields:
		return "h1: too many header fields"
	case errFieldName:
		return "h1: invalid field name"
	case errObsFold:
		return "h1: obsolete line folding"
	case errFieldValue:
		return "h1: invalid field value"
	case errContentLength:
		return "h1: invalid Content-Length"
	case errDupContentLength:
		return "h1: more than one Content-Length"
	case errTransferEncoding:
		return "h1: invalid Transfer-Encoding"
	case errTEAndCL:
		return "h1: both Transfer-Encoding and Content-Length"
	case errTEInHTTP10:
		return "h1: Transfer-Encoding in an HTTP/1.0 message"
	case errMissingHost:
		return "h1: missing Host"
	case errDupHost:
		return "h1: more than one Host"
	case errHost:
		return "h1: invalid Host"
	case errConnection:
		return "h1: invalid Connection"
	case errUpgrade:
		return "h1: invalid Upgrade"
	case errTrailerHeader:
		return "h1: Trailer names a forbidden field"
	case errStatusLine:
		return "h1: malformed status line"
	case errStatusCode:
		return "h1: invalid status code"
	case errReason:
		return "h1: invalid reason phrase"
	case errChunkSize:
		return "h1: invalid chunk size"
	case errChunkExt:
		return "h1: invalid chunk extension"
	case errChunkExtTooLong:
		return "h1: chunk extensions too long"
	case errChunkData:
		return "h1: chunk data not followed by CRLF"
	case errChunkOverhead:
		return "h1: chunked body has too much framing for its data"
	case errTrailerField:
		return "h1: forbidden trailer field"
	case errTrailersTooLarge:
		return "h1: trailer section too large"
	case errTooManyTrailers:
		return "h1: too many trailer fields"
	}
	return "h1: protocol error"
}

// requestStatus is the status a server answers to a request with this error.
func (c errCode) requestStatus() int {
	switch c {
	case errURITooLong:
		return 414
	case errHeadTooLarge, errTooManyFields:
		return 431
	case errVersionUnsupported:
		return 505
	}
	return 400
}

func newErrTable(status func(errCode) int) *[numErrCodes]Error {
	var t [numErrCodes]Error
	for c := errCode(1); c < numErrCodes; c++ {
		t[c] = Error{Status: status(c), Msg: c.msg()}
	}
	return &t
}

// The three sides' errors are built once so that returning one never
// allocates; they are treated as constants.
var (
	requestErrs  = newErrTable(errCode.requestStatus)
	responseErrs = newErrTable(func(errCode) int { return 502 })
	chunkedErrs  = newErrTable(func(errCode) int { return 400 })
)

// EqualFold reports whether b equals s under ASCII case folding. It does not
// allocate.
func EqualFold(b []byte, s string) bool { return equalFold(b, s) }

func equalFold[S ~string | ~[]byte](b []byte, s S) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c, d := b[i], s[i]
		if c == d {
			continue
		}
		// Only letters fold: c|0x20 equals d|0x20 for other pairs too
		// (e.g. '@' and '`'), so the folded byte must also be a letter.
		if l := c | 0x20; l != d|0x20 || l < 'a' || l > 'z' {
			return false
		}
	}
	return true
}

// hasPrefixFold reports whether b starts with the lower-case ASCII prefix p
// under case folding.
func hasPrefixFold(b []byte, p string) bool {
	return len(b) >= len(p) && equalFold(b[:len(p)], p)
}

// charClass holds one bit per class for every byte value. A constant
// string indexed by a byte needs no bounds check and cannot be modified,
// which a [256]bool table could be; TestCharClass derives it from the RFC
// definitions.
const charClass = "" +
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" +
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" +
	"\x00\x03\x00\x01\x03\x01\x03\x03\x02\x02\x03\x03\x02\x03\x03\x00" +
	"\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x00\x02\x00\x02\x00\x00" +
	"\x00\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03" +
	"\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x00\x00\x00\x01\x03" +
	"\x01\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03" +
	"\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x03\x00\x01\x00\x03\x00" +
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" +
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" +
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" +
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" +
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" +
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" +
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" +
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"

const (
	// classTchar: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" /
	// "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA.
	classTchar = 1 << iota
	// classRegName: reg-name bytes without pct-encoded, that is
	// unreserved / sub-delims.
	classRegName
)

func isTchar(c byte) bool { return charClass[c]&classTchar != 0 }

func isRegName(c byte) bool { return charClass[c]&classRegName != 0 }

func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !isTchar(c) {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool { return c-'0' < 10 }

func isHex(c byte) bool { return c-'0' < 10 || (c|0x20)-'a' < 6 }

// isValueByte reports whether c may appear in a field value or reason
// phrase: VCHAR, SP, HTAB or obs-text. It excludes NUL, CR, LF, the other
// controls and DEL.
func isValueByte(c byte) bool { return c >= ' ' && c != 0x7f || c == '\t' }

// validValue reports whether every byte of v is a value byte.
func validValue(v []byte) bool { return scanValue(v, 0) == len(v) }

// scanValue returns the index of the first byte from i on that may not
// appear in a field value, or len(b). Values are most of a head, so it checks
// eight bytes at a time: a word with no byte below 0x20 and no DEL is all
// valid (obs-text included), and only a word that may hold a bad byte, or
// just an HTAB, is looked at bytewise.
func scanValue(b []byte, i int) int {
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
	)
	for {
		for i+8 <= len(b) {
			w := binary.LittleEndian.Uint64(b[i:])
			del := w ^ (0x7f * ones)
			if ((w-0x20*ones)&^w|(del-ones)&^del)&highs != 0 {
				break
			}
			i += 8
		}
		for end := min(i+8, len(b)); i < end; i++ {
			if !isValueByte(b[i]) {
				return i
			}
		}
		if i == len(b) {
			return i
		}
	}
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// nextElem splits the first element off a comma-separated list value and
// trims its OWS. more is false once the last element was returned.
func nextElem(v []byte) (elem, rest []byte, more bool) {
	i := bytes.IndexByte(v, ',')
	if i < 0 {
		return trimOWS(v), nil, false
	}
	return trimOWS(v[:i]), v[i+1:], true
}

// parseContentLength parses 1*DIGIT into an int64, rejecting anything else.
func parseContentLength(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > maxContentLengthDigits {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if !isDigit(c) {
			return 0, false
		}
		d := int64(c - '0')
		if n > (1<<63-1-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// validHostPort reports whether b is uri-host [":" port], where uri-host is a
// non-empty reg-name without percent-escapes or a bracketed IPv6 address, and
// port is 1 to 5 digits no greater than 65535.
func validHostPort(b []byte, portRequired bool) bool {
	if len(b) == 0 {
		return false
	}
	var rest []byte
	if b[0] == '[' {
		end := bytes.IndexByte(b, ']')
		if end < 0 || !validIPv6(b[1:end]) {
			return false
		}
		rest = b[end+1:]
	} else {
		i := 0
		for i < len(b) && isRegName(b[i]) {
			i++
		}
		if i == 0 {
			return false
		}
		rest = b[i:]
	}
	if len(rest) == 0 {
		return !portRequired
	}
	return rest[0] == ':' && validPort(rest[1:])
}

func validPort(p []byte) bool {
	if len(p) == 0 || len(p) > 5 {
		return false
	}
	n := 0
	for _, c := range p {
		if !isDigit(c) {
			return false
		}
		n = n*10 + int(c-'0')
	}
	return n <= 65535
}

// validIPv6 reports whether s is an RFC 3986 IPv6address (no zone, no
// IPvFuture), the same set net/netip parses.
func validIPv6(s []byte) bool {
	groups, ellipsis := 0, false
	i := 0
	if len(s) >= 2 && s[0] == ':' && s[1] == ':' {
		ellipsis, i = true, 2
	}
	for i < len(s) {
		j := i
		for j < len(s) && j-i < 5 && isHex(s[j]) {
			j++
		}
		if j < len(s) && s[j] == '.' {
			// An embedded IPv4 address is the last 32 bits.
			if !validIPv4(s[i:]) {
				return false
			}
			groups += 2
			break
		}
		if j == i || j-i > 4 {
			return false
		}
		groups++
		i = j
		if i == len(s) {
			break
		}
		if s[i] != ':' {
			return false
		}
		i++
		if i == len(s) {
			return false // a single trailing colon
		}
		if s[i] == ':' {
			if ellipsis {
				return false
			}
			ellipsis = true
			i++
		}
	}
	if ellipsis {
		return groups <= 7
	}
	return groups == 8
}

// validIPv4 reports whether s is a dotted quad of dec-octets without leading
// zeros.
func validIPv4(s []byte) bool {
	for part := 0; part < 4; part++ {
		if part > 0 {
			if len(s) == 0 || s[0] != '.' {
				return false
			}
			s = s[1:]
		}
		n, i := 0, 0
		for i < len(s) && i < 4 && isDigit(s[i]) {
			n = n*10 + int(s[i]-'0')
			i++
		}
		if i == 0 || i > 3 || n > 255 || (i > 1 && s[0] == '0') {
			return false
		}
		s = s[i:]
	}
	return len(s) == 0
}
