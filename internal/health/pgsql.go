package health

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
)

// PostgreSQL frontend/backend protocol 3.0, the few parts a check needs
// (https://www.postgresql.org/docs/current/protocol-message-formats.html).
const (
	pgProtocol30 = 3 << 16
	// pgReadLimit bounds a message the check reads: parameter statuses
	// and error responses are well under it.
	pgReadLimit = 16 << 10
	// pgMaxMessages bounds the messages read after AuthenticationOk
	// (a dozen ParameterStatus, BackendKeyData, ReadyForQuery).
	pgMaxMessages = 64
	pgMaxUser     = 255
)

// pgTerminate is the Terminate message, sent after ReadyForQuery.
var pgTerminate = []byte{'X', 0, 0, 0, 4}

// pgStartup returns the StartupMessage for user=user, database=user, or why
// it cannot be sent.
func pgStartup(user string) ([]byte, string) {
	switch {
	case user == "":
		return nil, "pgsql: no user to log in as"
	case len(user) > pgMaxUser || strings.IndexByte(user, 0) >= 0:
		return nil, "pgsql: invalid user " + strconv.Quote(truncate(user, 64))
	}
	b := make([]byte, 8, 64+2*len(user))
	binary.BigEndian.PutUint32(b[4:], pgProtocol30)
	for _, kv := range [...]string{"user", user, "database", user, "application_name", "gantry-health"} {
		b = append(b, kv...)
		b = append(b, 0)
	}
	b = append(b, 0)
	binary.BigEndian.PutUint32(b, uint32(len(b)))
	return b, ""
}

var errPgBadLength = errors.New("bad message length")

// readPgMessage reads one backend message and returns its type and body.
func (p *probe) readPgMessage() (byte, []byte, error) {
	var h [5]byte
	if _, err := io.ReadFull(p.br, h[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(h[1:])
	if n < 4 || n-4 > pgReadLimit {
		return h[0], nil, fmt.Errorf("%w %d for message %q", errPgBadLength, n, h[0])
	}
	body := p.message(int(n - 4))
	if _, err := io.ReadFull(p.br, body); err != nil {
		return h[0], nil, err
	}
	return h[0], body, nil
}

// pgAuthName names the authentication requests a server sends in reply to a
// StartupMessage, and reports whether code is one of them (HAProxy's
// pgsql-check accepts the same list).
func pgAuthName(code uint32) (string, bool) {
	switch code {
	case 0:
		return "ok", true
	case 2:
		return "KerberosV5", true
	case 3:
		return "cleartext password", true
	case 5:
		return "MD5 password", true
	case 6:
		return "SCM credentials", true
	case 7:
		return "GSSAPI", true
	case 9:
		return "SSPI", true
	case 10:
		return "SASL", true
	}
	return "", false
}

// parsePgAuth returns the code of an Authentication message body. The body
// comes from the backend: it is untrusted.
func parsePgAuth(body []byte) (uint32, error) {
	if len(body) < 4 {
		return 0, errPgBadLength
	}
	return binary.BigEndian.Uint32(body), nil
}

// pgError is the useful part of an ErrorResponse.
type pgError struct {
	severity, code, message string
}

func (e pgError) String() string {
	var b strings.Builder
	for _, s := range [...]string{text(e.severity, 16), text(e.code, 8), text(e.message, 200)} {
		if s == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s)
	}
	if b.Len() == 0 {
		return "error without a message"
	}
	return b.String()
}

// parsePgError parses an ErrorResponse body: fields of a type byte and a
// NUL-terminated string, ended by a NUL. The non-localized severity (V) wins
// over the localized one (S). The body comes from the backend: it is
// untrusted, and a truncated body yields what it holds.
func parsePgError(body []byte) pgError {
	var e pgError
	localized := ""
	for len(body) > 1 && body[0] != 0 {
		typ := body[0]
		body = body[1:]
		end := 0
		for end < len(body) && body[end] != 0 {
			end++
		}
		val := string(body[:end])
		body = body[min(end+1, len(body)):]
		switch typ {
		case 'V':
			e.severity = val
		case 'S':
			localized = val
		case 'C':
			e.code = val
		case 'M':
			e.message = val
		}
	}
	if e.severity == "" {
		e.severity = localized
	}
	return e
}

// checkPgSQL sends the StartupMessage and judges the replies.
func (p *probe) checkPgSQL(ctx context.Context, c net.Conn) (bool, string) {
	if _, err := c.Write(p.req); err != nil {
		return false, p.failure(ctx, "pgsql: sending startup", err)
	}
	authOK := false
	for range pgMaxMessages {
		typ, body, err := p.readPgMessage()
		if err != nil {
			return false, p.failure(ctx, "pgsql: reading reply", err)
		}
		switch {
		case typ == 'E':
			return false, "pgsql: " + parsePgError(body).String()
		case typ == 'R' && !authOK:
			code, err := parsePgAuth(body)
			if err != nil {
				return false, "pgsql: authentication request: " + err.Error()
			}
			name, ok := pgAuthName(code)
			switch {
			case !ok:
				return false, "pgsql: unexpected authentication request " + strconv.FormatUint(uint64(code), 10)
			case code != 0:
				// The server wants a password: it is up and
				// serving, which is all the check can learn.
				return true, "pgsql: ok (authentication request: " + name + ")"
			}
			authOK = true
		case authOK && (typ == 'S' || typ == 'K' || typ == 'N'):
			// ParameterStatus, BackendKeyData, NoticeResponse.
		case authOK && typ == 'Z':
			c.Write(pgTerminate) // a courtesy; the check has passed
			return true, "pgsql: ok"
		default:
			return false, "pgsql: unexpected message " + strconv.Quote(string([]byte{typ}))
		}
	}
	return false, "pgsql: no ReadyForQuery after " + strconv.Itoa(pgMaxMessages) + " messages"
}
