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

// MySQL client/server protocol, the few parts a check needs
// (https://dev.mysql.com/doc/dev/mysql-server/latest/PAGE_PROTOCOL.html).
const (
	mysqlClientProtocol41       = 0x0200
	mysqlClientSecureConnection = 0x8000
	mysqlCharsetUTF8            = 0x21 // utf8_general_ci, as HAProxy sends
	mysqlMaxPacket              = 1 << 24

	// mysqlReadLimit bounds a packet the check reads: a handshake, OK or
	// ERR packet is a few hundred bytes at most.
	mysqlReadLimit = 16 << 10
	// mysqlMaxUser bounds User (MariaDB allows 80 characters, MySQL 32).
	mysqlMaxUser = 255
)

// mysqlQuit is COM_QUIT, a command packet of its own (sequence 0).
var mysqlQuit = []byte{1, 0, 0, 0, 0x01}

// mysqlLogin returns the HandshakeResponse41 packet logging in as user with
// an empty password and no database, the packet HAProxy's
// "option mysql-check user X post-41" sends; or why it cannot be sent.
func mysqlLogin(user string) ([]byte, string) {
	if len(user) > mysqlMaxUser || strings.IndexByte(user, 0) >= 0 {
		return nil, "mysql: invalid user " + strconv.Quote(truncate(user, 64))
	}
	n := 4 + 4 + 1 + 23 + len(user) + 1 + 1
	b := []byte{byte(n), byte(n >> 8), byte(n >> 16), 1} // the reply to packet 0
	b = binary.LittleEndian.AppendUint32(b, mysqlClientProtocol41|mysqlClientSecureConnection)
	b = binary.LittleEndian.AppendUint32(b, mysqlMaxPacket)
	b = append(b, mysqlCharsetUTF8)
	b = append(b, make([]byte, 23)...)
	b = append(b, user...)
	b = append(b, 0) // end of user
	b = append(b, 0) // auth response length: an empty password
	return b, ""
}

// mysqlHandshake is what the check needs from the server's initial packet.
type mysqlHandshake struct {
	version      string
	capabilities uint32 // the lower 16 bits
}

// mysqlError is an ERR packet.
type mysqlError struct {
	code    uint16
	message string
}

func (e *mysqlError) Error() string {
	return "ERR " + strconv.Itoa(int(e.code)) + " " + text(e.message, 200)
}

var (
	errMySQLShortPacket = errors.New("truncated packet")
	errMySQLBigPacket   = errors.New("packet too large")
)

// readMySQLPacket reads one packet into buf (via p.message) and returns its
// payload.
func (p *probe) readMySQLPacket() ([]byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(p.br, h[:]); err != nil {
		return nil, err
	}
	n := int(h[0]) | int(h[1])<<8 | int(h[2])<<16
	if n > mysqlReadLimit {
		return nil, fmt.Errorf("%w: %d bytes", errMySQLBigPacket, n)
	}
	payload := p.message(n)
	if _, err := io.ReadFull(p.br, payload); err != nil {
		return nil, err
	}
	return payload, nil
}

// parseMySQLHandshake parses the server's first packet: a protocol 10
// handshake, or an ERR packet (returned as a *mysqlError). The payload comes
// from the backend: it is untrusted.
func parseMySQLHandshake(b []byte) (mysqlHandshake, error) {
	if len(b) == 0 {
		return mysqlHandshake{}, errMySQLShortPacket
	}
	switch b[0] {
	case 0xff:
		return mysqlHandshake{}, parseMySQLError(b)
	case 10:
	default:
		return mysqlHandshake{}, fmt.Errorf("unsupported protocol version %d", b[0])
	}
	end := 1
	for end < len(b) && b[end] != 0 {
		end++
	}
	// version NUL, connection id (4), auth data (8), filler (1),
	// capabilities (2).
	if end+1+4+8+1+2 > len(b) {
		return mysqlHandshake{}, errMySQLShortPacket
	}
	hs := mysqlHandshake{version: string(b[1:end])}
	caps := b[end+1+4+8+1:]
	hs.capabilities = uint32(binary.LittleEndian.Uint16(caps))
	return hs, nil
}

// parseMySQLError parses an ERR packet (b[0] == 0xff): the error code, the
// SQL state marker and state if present, and the message.
func parseMySQLError(b []byte) error {
	if len(b) < 3 {
		return errMySQLShortPacket
	}
	e := &mysqlError{code: binary.LittleEndian.Uint16(b[1:3])}
	msg := b[3:]
	if len(msg) >= 6 && msg[0] == '#' {
		msg = msg[6:]
	}
	e.message = string(msg)
	return e
}

// parseMySQLReply judges the reply to the login: nil for an OK packet, a
// *mysqlError for an ERR packet, another error for anything else. The
// payload comes from the backend: it is untrusted.
func parseMySQLReply(b []byte) error {
	if len(b) == 0 {
		return errMySQLShortPacket
	}
	switch b[0] {
	case 0x00:
		if len(b) < 7 { // header, affected rows, last insert id, status (2), warnings (2)
			return errMySQLShortPacket
		}
		return nil
	case 0xff:
		return parseMySQLError(b)
	case 0xfe:
		// An authentication method switch: the user needs a password
		// or a plugin the check cannot speak.
		plugin := b[1:]
		if i := strings.IndexByte(string(plugin), 0); i >= 0 {
			plugin = plugin[:i]
		}
		return fmt.Errorf("server asks to switch to authentication %q (the check logs in without a password)", text(string(plugin), 64))
	}
	return fmt.Errorf("unexpected reply 0x%02x", b[0])
}

// checkMySQL reads the handshake and, with a User, logs in and quits.
func (p *probe) checkMySQL(ctx context.Context, c net.Conn) (bool, string) {
	payload, err := p.readMySQLPacket()
	if err != nil {
		return false, p.failure(ctx, "mysql: reading handshake", err)
	}
	hs, err := parseMySQLHandshake(payload)
	if err != nil {
		return false, "mysql: " + err.Error()
	}
	version := text(hs.version, 64)
	if p.spec.User == "" {
		return true, "mysql: handshake ok (" + version + ")"
	}
	if hs.capabilities&mysqlClientProtocol41 == 0 {
		return false, "mysql: server " + version + " does not speak protocol 4.1"
	}
	if _, err := c.Write(p.req); err != nil {
		return false, p.failure(ctx, "mysql: sending login", err)
	}
	if payload, err = p.readMySQLPacket(); err != nil {
		return false, p.failure(ctx, "mysql: reading login reply", err)
	}
	if err := parseMySQLReply(payload); err != nil {
		return false, "mysql: " + err.Error()
	}
	// Quitting is a courtesy: the check has passed, and a server that
	// closed first changes nothing.
	c.Write(mysqlQuit)
	return true, "mysql: ok (" + version + ")"
}
