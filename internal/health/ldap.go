package health

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
)

// LDAPv3 (RFC 4511) in BER, the few parts a check needs.
const (
	berInteger     = 0x02
	berOctetString = 0x04
	berEnumerated  = 0x0a
	berSequence    = 0x30
	ldapBindResp   = 0x61 // [APPLICATION 1] BindResponse
	ldapExtResp    = 0x78 // [APPLICATION 24] ExtendedResponse

	// ldapReadLimit bounds the message the check reads: a BindResponse is
	// a few dozen bytes plus its diagnostic message.
	ldapReadLimit = 16 << 10
)

var (
	// ldapBindRequest is message 1, an anonymous simple bind with
	// version 3: SEQUENCE { INTEGER 1, [APPLICATION 0] { INTEGER 3,
	// OCTET STRING "", [0] "" } }, the bytes HAProxy's ldap-check sends.
	ldapBindRequest = []byte{0x30, 0x0c, 0x02, 0x01, 0x01, 0x60, 0x07, 0x02, 0x01, 0x03, 0x04, 0x00, 0x80, 0x00}
	// ldapUnbind is message 2, an UnbindRequest, sent after a successful
	// bind so that the server sees a clean close.
	ldapUnbind = []byte{0x30, 0x05, 0x02, 0x01, 0x02, 0x42, 0x00}
)

var (
	errBERTruncated = errors.New("truncated BER element")
	errBERLength    = errors.New("unsupported BER length")
	errBERTag       = errors.New("unsupported BER tag")
	errNotLDAP      = errors.New("not an LDAPv3 response")
)

// berLength decodes the length octets at the start of b (definite form, at
// most four length bytes) and returns the length and how many bytes encoded
// it.
func berLength(b []byte) (int, int, error) {
	if len(b) == 0 {
		return 0, 0, errBERTruncated
	}
	if b[0] < 0x80 {
		return int(b[0]), 1, nil
	}
	k := int(b[0] & 0x7f)
	if k == 0 || k > 4 { // indefinite form (not allowed in LDAP) or absurd
		return 0, 0, errBERLength
	}
	if len(b) < 1+k {
		return 0, 0, errBERTruncated
	}
	n := 0
	for _, c := range b[1 : 1+k] {
		n = n<<8 | int(c)
	}
	if n < 0 || n > 1<<30 {
		return 0, 0, errBERLength
	}
	return n, 1 + k, nil
}

// berElement splits the first element off b: its tag, its contents and what
// follows. Only low tag numbers (one tag byte) are supported, which is all
// LDAP uses.
func berElement(b []byte) (tag byte, contents, rest []byte, err error) {
	if len(b) < 2 {
		return 0, nil, nil, errBERTruncated
	}
	tag = b[0]
	if tag&0x1f == 0x1f {
		return 0, nil, nil, errBERTag
	}
	n, k, err := berLength(b[1:])
	if err != nil {
		return 0, nil, nil, err
	}
	b = b[1+k:]
	if n > len(b) {
		return 0, nil, nil, errBERTruncated
	}
	return tag, b[:n], b[n:], nil
}

// berInt decodes the contents of an INTEGER or ENUMERATED of at most four
// bytes, two's complement.
func berInt(b []byte) (int, error) {
	if len(b) == 0 || len(b) > 4 {
		return 0, errBERLength
	}
	n := int(int8(b[0]))
	for _, c := range b[1:] {
		n = n<<8 | int(c)
	}
	return n, nil
}

// ldapResult is what the check needs from an LDAPMessage carrying an
// LDAPResult.
type ldapResult struct {
	messageID  int
	op         byte // the protocolOp's tag
	code       int  // resultCode
	diagnostic string
}

// berExpect returns the element at the start of b, failing unless its tag is
// tag; what names it in the error.
func berExpect(b []byte, tag byte, what string) (contents, rest []byte, err error) {
	t, contents, rest, err := berElement(b)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", what, err)
	}
	if t != tag {
		return nil, nil, fmt.Errorf("%s: tag 0x%02x, want 0x%02x", what, t, tag)
	}
	return contents, rest, nil
}

// parseLDAPResult parses one LDAPMessage whose protocolOp is an LDAPResult
// (BindResponse, ExtendedResponse...). The message comes from the backend:
// it is untrusted.
func parseLDAPResult(msg []byte) (ldapResult, error) {
	var r ldapResult
	body, _, err := berExpect(msg, berSequence, "LDAPMessage")
	if err != nil {
		return r, err
	}
	id, body, err := berExpect(body, berInteger, "messageID")
	if err != nil {
		return r, err
	}
	if r.messageID, err = berInt(id); err != nil {
		return r, fmt.Errorf("messageID: %w", err)
	}
	op, contents, _, err := berElement(body)
	if err != nil {
		return r, fmt.Errorf("protocolOp: %w", err)
	}
	r.op = op
	if op&0x20 == 0 { // every LDAPResult is constructed
		return r, fmt.Errorf("protocolOp: tag 0x%02x is not a result", op)
	}
	code, contents, err := berExpect(contents, berEnumerated, "resultCode")
	if err != nil {
		return r, err
	}
	if r.code, err = berInt(code); err != nil {
		return r, fmt.Errorf("resultCode: %w", err)
	}
	if _, contents, err = berExpect(contents, berOctetString, "matchedDN"); err != nil {
		return r, err
	}
	diag, _, err := berExpect(contents, berOctetString, "diagnosticMessage")
	if err != nil {
		return r, err
	}
	r.diagnostic = string(diag)
	return r, nil
}

// readBER reads one whole BER element from the connection into the scratch
// buffer.
func (p *probe) readBER() ([]byte, error) {
	var h [6]byte // tag, and up to five length bytes
	if _, err := io.ReadFull(p.br, h[:2]); err != nil {
		return nil, err
	}
	if h[0] != berSequence {
		// Not an LDAPMessage: fail now rather than wait for a length
		// read from whatever this is.
		return nil, fmt.Errorf("%w: tag 0x%02x, want a SEQUENCE", errNotLDAP, h[0])
	}
	hl := 2
	if h[1] >= 0x80 {
		k := int(h[1] & 0x7f)
		if k == 0 || k > 4 {
			return nil, errBERLength
		}
		if _, err := io.ReadFull(p.br, h[2:2+k]); err != nil {
			return nil, err
		}
		hl += k
	}
	n, _, err := berLength(h[1:hl])
	if err != nil {
		return nil, err
	}
	if n > ldapReadLimit {
		return nil, fmt.Errorf("%w: %d bytes", errBERLength, n)
	}
	msg := p.message(hl + n)
	copy(msg, h[:hl])
	if _, err := io.ReadFull(p.br, msg[hl:]); err != nil {
		return nil, err
	}
	return msg, nil
}

// checkLDAP binds anonymously and expects resultCode success.
func (p *probe) checkLDAP(ctx context.Context, c net.Conn) (bool, string) {
	if _, err := c.Write(p.req); err != nil {
		return false, p.failure(ctx, "ldap: sending bind", err)
	}
	msg, err := p.readBER()
	if errors.Is(err, errNotLDAP) {
		return false, "ldap: " + err.Error()
	}
	if err != nil {
		return false, p.failure(ctx, "ldap: reading bind response", err)
	}
	r, err := parseLDAPResult(msg)
	if err != nil {
		return false, "ldap: not an LDAPv3 response: " + err.Error()
	}
	if ok, reason := judgeBind(r); !ok {
		return false, reason
	}
	c.Write(ldapUnbind) // a courtesy; the check has passed
	return true, "ldap: bind ok"
}

// judgeBind decides on the result read in reply to the bind.
func judgeBind(r ldapResult) (bool, string) {
	detail := strconv.Itoa(r.code) + " (" + ldapResultName(r.code) + ")"
	if r.diagnostic != "" {
		detail += ": " + text(r.diagnostic, 200)
	}
	switch {
	case r.messageID == 0 && r.op == ldapExtResp:
		// An unsolicited notification, such as a notice of
		// disconnection from a server shutting down.
		return false, "ldap: unsolicited notification, result " + detail
	case r.messageID != 1:
		return false, "ldap: reply to message " + strconv.Itoa(r.messageID) + ", want 1"
	case r.op != ldapBindResp:
		return false, fmt.Sprintf("ldap: reply 0x%02x, want a bind response", r.op)
	case r.code != 0:
		return false, "ldap: bind result " + detail
	}
	return true, ""
}

// ldapResultName returns the RFC 4511 name of a resultCode.
func ldapResultName(code int) string {
	switch code {
	case 0:
		return "success"
	case 1:
		return "operationsError"
	case 2:
		return "protocolError"
	case 3:
		return "timeLimitExceeded"
	case 4:
		return "sizeLimitExceeded"
	case 7:
		return "authMethodNotSupported"
	case 8:
		return "strongerAuthRequired"
	case 11:
		return "adminLimitExceeded"
	case 13:
		return "confidentialityRequired"
	case 14:
		return "saslBindInProgress"
	case 32:
		return "noSuchObject"
	case 34:
		return "invalidDNSyntax"
	case 48:
		return "inappropriateAuthentication"
	case 49:
		return "invalidCredentials"
	case 50:
		return "insufficientAccessRights"
	case 51:
		return "busy"
	case 52:
		return "unavailable"
	case 53:
		return "unwillingToPerform"
	case 80:
		return "other"
	}
	return "unknown"
}
