// Package sni reads the server name from a TLS ClientHello without
// terminating TLS, so that the TCP proxy can route a connection by SNI and
// then replay the bytes it read to the upstream it chose.
//
// The parser accepts what crypto/tls accepts for the parts it reads (record
// framing, a ClientHello split over several handshake records, the
// server_name extension, the layout of the hello up to its extensions) and
// treats input it cannot vouch for as ErrNotTLS or ErrMalformed. Every
// length is checked against the bytes present before it is used; malformed
// input yields an error, never a panic or a read out of bounds. The answer
// for a prefix of the input is either ErrIncomplete or the answer for the
// whole input, so a caller may re-run ServerName as bytes arrive.
//
// # Allocation budget
//
// ServerName is on the per-connection hot path. It allocates once, for the
// returned name, when the hello fits in one TLS record (every common client
// hello does, post-quantum key shares included), and no more than once more,
// for one buffer of at most 64 KiB that joins the fragments, when the hello
// is split over several records. Errors are preallocated sentinels. Peek
// allocates nothing beyond what ServerName does.
package sni

import (
	"errors"
	"io"
)

// Sentinel errors. A caller tells them apart with errors.Is.
var (
	// ErrIncomplete means the input ends before the ClientHello does: read
	// more bytes and ask again.
	ErrIncomplete = errors.New("sni: incomplete client hello")
	// ErrNotTLS means the input does not start with a TLS handshake record.
	ErrNotTLS = errors.New("sni: not a TLS handshake")
	// ErrMalformed means the input starts like TLS but the records or the
	// ClientHello are invalid (crypto/tls would refuse them too). It
	// matches ErrNotTLS under errors.Is, since a caller can route neither.
	ErrMalformed error = malformedError{}
)

// errInvalidRead reports a reader that broke the io.Reader contract.
var errInvalidRead = errors.New("sni: reader returned an invalid count")

type malformedError struct{}

func (malformedError) Error() string        { return "sni: malformed client hello" }
func (malformedError) Is(target error) bool { return target == ErrNotTLS }

const (
	recordHeaderLen     = 5
	recordTypeHandshake = 22
	typeClientHello     = 1
	extServerName       = 0
	nameTypeHostName    = 0
	// maxPlaintext is the largest TLS record payload (RFC 8446, 5.1).
	maxPlaintext = 1 << 14
	// maxHello is crypto/tls's limit on a handshake message body, so that
	// a hello it would refuse is refused here, and reassembly is bounded.
	maxHello = 1 << 16
)

// ServerName parses the TLS record(s) at the start of data and returns the
// server_name (host_name type) from the ClientHello, or "" if the hello has
// none. It supports a ClientHello split over several handshake records. It
// returns ErrIncomplete if data ends before the hello does, ErrNotTLS if
// data does not start with a TLS handshake record, and ErrMalformed for an
// invalid hello. The name is returned as the client sent it (crypto/tls
// semantics: not lower-cased, never with a trailing dot); route.Table
// normalises it. data is only read, never retained.
func ServerName(data []byte) (string, error) {
	msg, err := clientHello(data)
	if err != nil {
		return "", err
	}
	name, err := parseClientHello(msg)
	if err != nil || len(name) == 0 {
		return "", err
	}
	return string(name), nil
}

// clientHello returns the ClientHello message (its 4-byte handshake header
// included) from the records at the start of data, joined into one buffer if
// it spans several records.
func clientHello(data []byte) ([]byte, error) {
	// Look at the first record's header as far as it has arrived, so that
	// a client speaking another protocol is told apart on its first bytes.
	if len(data) > 0 && data[0] != recordTypeHandshake {
		return nil, ErrNotTLS
	}
	if len(data) > 1 && data[1] != 3 {
		return nil, ErrNotTLS
	}
	var hdr [4]byte // the handshake header, which may itself be split
	nhdr := 0
	need := -1 // bytes of handshake message, known once hdr is full
	have := 0  // bytes of handshake message in the records walked so far
	off := 0
	records := 0
	for need < 0 || have < need {
		rec := data[off:]
		if len(rec) > 0 && rec[0] != recordTypeHandshake {
			return nil, ErrMalformed // records before this one were handshake: it is TLS
		}
		if len(rec) > 1 && rec[1] != 3 {
			return nil, ErrMalformed
		}
		if len(rec) < recordHeaderLen {
			return nil, ErrIncomplete
		}
		n := int(rec[3])<<8 | int(rec[4])
		if n == 0 || n > maxPlaintext {
			return nil, ErrMalformed
		}
		if len(rec) < recordHeaderLen+n {
			return nil, ErrIncomplete
		}
		payload := rec[recordHeaderLen : recordHeaderLen+n]
		for i := 0; nhdr < len(hdr) && i < len(payload); i++ {
			hdr[nhdr] = payload[i]
			nhdr++
		}
		if hdr[0] != typeClientHello {
			return nil, ErrMalformed
		}
		if need < 0 && nhdr == len(hdr) {
			body := int(hdr[1])<<16 | int(hdr[2])<<8 | int(hdr[3])
			if body > maxHello {
				return nil, ErrMalformed
			}
			need = len(hdr) + body
		}
		have += n
		off += recordHeaderLen + n
		records++
	}
	if records == 1 {
		return data[recordHeaderLen : recordHeaderLen+need], nil
	}
	// The hello spans records: join their payloads. Every record was
	// checked above, so this walk trusts the headers.
	msg := make([]byte, 0, need)
	for off = 0; len(msg) < need; {
		n := int(data[off+3])<<8 | int(data[off+4])
		payload := data[off+recordHeaderLen : off+recordHeaderLen+n]
		msg = append(msg, payload[:min(n, need-len(msg))]...)
		off += recordHeaderLen + n
	}
	return msg, nil
}

// parseClientHello returns the host_name from the server_name extension of
// msg, a whole ClientHello message, following crypto/tls's
// clientHelloMsg.unmarshal for every field it reads.
func parseClientHello(msg []byte) ([]byte, error) {
	s := cursor(msg[4:])
	var suites, exts []byte
	if !s.skip(2+32) || // legacy_version, random
		!s.skipVec8() || // legacy_session_id
		!s.vec16(&suites) || len(suites)%2 != 0 ||
		!s.skipVec8() { // legacy_compression_methods
		return nil, ErrMalformed
	}
	if len(s) == 0 {
		return nil, nil // extensions are optional
	}
	if !s.vec16(&exts) || len(s) != 0 {
		return nil, ErrMalformed
	}
	var name []byte
	seen := false
	for e := cursor(exts); len(e) > 0; {
		var typ int
		var data []byte
		if !e.u16(&typ) || !e.vec16(&data) {
			return nil, ErrMalformed
		}
		if typ != extServerName {
			continue
		}
		if seen {
			return nil, ErrMalformed // crypto/tls refuses a repeated extension
		}
		seen = true
		d := cursor(data)
		var list []byte
		if !d.vec16(&list) || len(list) == 0 || len(d) != 0 {
			return nil, ErrMalformed
		}
		for l := cursor(list); len(l) > 0; {
			var nameType byte
			var n []byte
			if !l.u8(&nameType) || !l.vec16(&n) || len(n) == 0 {
				return nil, ErrMalformed
			}
			if nameType != nameTypeHostName {
				continue
			}
			if name != nil || n[len(n)-1] == '.' {
				// RFC 6066 allows one host_name, without a trailing dot.
				return nil, ErrMalformed
			}
			name = n
		}
	}
	return name, nil
}

// cursor reads big-endian, length-prefixed TLS fields; every read checks the
// length first and leaves the cursor unchanged when it fails.
type cursor []byte

func (c *cursor) skip(n int) bool {
	if len(*c) < n {
		return false
	}
	*c = (*c)[n:]
	return true
}

func (c *cursor) u8(out *byte) bool {
	if len(*c) < 1 {
		return false
	}
	*out = (*c)[0]
	*c = (*c)[1:]
	return true
}

func (c *cursor) u16(out *int) bool {
	if len(*c) < 2 {
		return false
	}
	*out = int((*c)[0])<<8 | int((*c)[1])
	*c = (*c)[2:]
	return true
}

// skipVec8 skips a vector with a one-byte length.
func (c *cursor) skipVec8() bool {
	if len(*c) < 1 || len(*c) < 1+int((*c)[0]) {
		return false
	}
	*c = (*c)[1+int((*c)[0]):]
	return true
}

// vec16 reads a vector with a two-byte length into out.
func (c *cursor) vec16(out *[]byte) bool {
	if len(*c) < 2 {
		return false
	}
	n := int((*c)[0])<<8 | int((*c)[1])
	if len(*c) < 2+n {
		return false
	}
	*out = (*c)[2 : 2+n]
	*c = (*c)[2+n:]
	return true
}

// maxEmptyReads bounds how many times in a row Peek accepts a Read that
// returns no bytes and no error, like bufio does, so that a broken reader
// cannot spin it forever.
const maxEmptyReads = 100

// Peek reads from r into buf until ServerName can answer or buf is full,
// and returns the name and how many bytes of buf it filled: every byte it
// read, so that the caller can replay buf[:n] to the upstream. It reads no
// more than it needs once the answer is known, except for what a single Read
// returned. Setting a deadline on r is the caller's job.
//
// Errors: those of ServerName; ErrIncomplete when buf filled up before the
// hello ended; io.EOF if r ended before any byte, io.ErrUnexpectedEOF if it
// ended mid-hello; any other read error as r returned it (a deadline shows
// up as os.ErrDeadlineExceeded).
func Peek(r io.Reader, buf []byte) (name string, n int, err error) {
	empty := 0
	for n < len(buf) {
		m, rerr := r.Read(buf[n:])
		if m < 0 || m > len(buf)-n {
			return "", n, errInvalidRead
		}
		n += m
		if m > 0 {
			empty = 0
			name, err = ServerName(buf[:n])
			if err != ErrIncomplete {
				return name, n, err
			}
		}
		switch {
		case rerr == io.EOF && n == 0:
			return "", n, io.EOF
		case rerr == io.EOF:
			return "", n, io.ErrUnexpectedEOF
		case rerr != nil:
			return "", n, rerr
		case m == 0:
			empty++
			if empty >= maxEmptyReads {
				return "", n, io.ErrNoProgress
			}
		}
	}
	return "", n, ErrIncomplete
}
