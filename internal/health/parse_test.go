package health

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/gantry-lb/gantry/internal/upstream"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// mysqlHandshakeV10 is the start of a MariaDB 10.11 handshake payload.
func mysqlHandshakeV10(version string, caps uint16) []byte {
	b := []byte{10}
	b = append(b, version...)
	b = append(b, 0)
	b = append(b, 1, 0, 0, 0)                // connection id
	b = append(b, "abcdefgh"...)             // auth data, part 1
	b = append(b, 0)                         // filler
	b = append(b, byte(caps), byte(caps>>8)) // capabilities, lower half
	b = append(b, 0x21, 2, 0, 0xff, 0x81, 21, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
	b = append(b, "ijklmnopqrst\x00mysql_native_password\x00"...)
	return b
}

func TestParseMySQLHandshake(t *testing.T) {
	hs, err := parseMySQLHandshake(mysqlHandshakeV10("5.5.5-10.11.6-MariaDB", 0xf7fe))
	if err != nil || hs.version != "5.5.5-10.11.6-MariaDB" || hs.capabilities != 0xf7fe {
		t.Fatalf("handshake = %+v, %v", hs, err)
	}
	tests := []struct {
		name    string
		payload []byte
		err     string
	}{
		{"err before handshake", append([]byte{0xff, 0x6a, 0x04}, "Host '10.0.0.9' is not allowed to connect to this MariaDB server"...),
			"ERR 1130 Host '10.0.0.9' is not allowed to connect to this MariaDB server"},
		{"err with sql state", append([]byte{0xff, 0x10, 0x04}, "#08004Too many connections"...), "ERR 1040 Too many connections"},
		{"protocol 9", []byte{9, '3', '.', '2', '2', 0}, "unsupported protocol version 9"},
		{"empty", nil, "truncated packet"},
		{"no nul", []byte{10, '1', '0'}, "truncated packet"},
		{"short", mysqlHandshakeV10("10", 0)[:12], "truncated packet"},
		{"short err", []byte{0xff, 1}, "truncated packet"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseMySQLHandshake(tt.payload)
			if err == nil || err.Error() != tt.err {
				t.Fatalf("error = %v, want %q", err, tt.err)
			}
		})
	}
}

func TestParseMySQLReply(t *testing.T) {
	tests := []struct {
		name    string
		payload []byte
		err     string // "" for OK
	}{
		{"ok", []byte{0, 0, 0, 2, 0, 0, 0}, ""},
		{"short ok", []byte{0, 0}, "truncated packet"},
		{"err", append([]byte{0xff, 0x15, 0x04}, "#28000Access denied for user 'x'@'localhost' (using password: NO)"...),
			"ERR 1045 Access denied for user 'x'@'localhost' (using password: NO)"},
		{"err with control bytes", append([]byte{0xff, 0x15, 0x04}, "#28000bad\x1b[0m\nnews"...), "ERR 1045 bad?[0m?news"},
		{"auth switch", append([]byte{0xfe}, "caching_sha2_password\x00salt"...),
			`server asks to switch to authentication "caching_sha2_password" (the check logs in without a password)`},
		{"other", []byte{0x03}, "unexpected reply 0x03"},
		{"empty", nil, "truncated packet"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := parseMySQLReply(tt.payload)
			if tt.err == "" {
				if err != nil {
					t.Fatalf("error = %v, want OK", err)
				}
				return
			}
			if err == nil || err.Error() != tt.err {
				t.Fatalf("error = %v, want %q", err, tt.err)
			}
		})
	}
}

// TestMySQLLogin checks the packet against HAProxy's post-41 login for
// user "haproxy" (max packet aside: any value works).
func TestMySQLLogin(t *testing.T) {
	b, why := mysqlLogin("haproxy")
	want := unhex(t, "29000001 00820000 00000001 21"+strings.Repeat("00", 23)+hex.EncodeToString([]byte("haproxy"))+"00 00")
	if why != "" || !bytes.Equal(b, want) {
		t.Fatalf("login = %x (%q), want %x", b, why, want)
	}
	for _, user := range []string{"a\x00b", strings.Repeat("u", mysqlMaxUser+1)} {
		if _, why := mysqlLogin(user); !strings.HasPrefix(why, "mysql: invalid user ") {
			t.Errorf("mysqlLogin(%q) = %q, want invalid", user, why)
		}
	}
}

func TestPgStartup(t *testing.T) {
	b, why := pgStartup("app")
	body := "\x00\x03\x00\x00user\x00app\x00database\x00app\x00application_name\x00gantry-health\x00\x00"
	want := append([]byte{0, 0, 0, byte(4 + len(body))}, body...)
	if why != "" || !bytes.Equal(b, want) {
		t.Fatalf("startup = %q (%q), want %q", b, why, want)
	}
	for user, reason := range map[string]string{
		"":      "pgsql: no user to log in as",
		"a\x00": `pgsql: invalid user "a\x00"`,
	} {
		if _, why := pgStartup(user); why != reason {
			t.Errorf("pgStartup(%q) = %q, want %q", user, why, reason)
		}
	}
}

func TestParsePgError(t *testing.T) {
	tests := []struct {
		body, want string
	}{
		{"SFATAL\x00VFATAL\x00C3D000\x00Mdatabase \"x\" does not exist\x00Fpostinit.c\x00L1032\x00\x00", `FATAL 3D000 database "x" does not exist`},
		{"SFATAL\x00C53300\x00Msorry, too many clients already\x00\x00", "FATAL 53300 sorry, too many clients already"},
		{"SFATAL\x00VFATAL\x00C57P03\x00Mthe database system is starting up\x00\x00", "FATAL 57P03 the database system is starting up"},
		{"SFATAL\x00Mtruncated", "FATAL truncated"},
		{"Mline\nbreak\x00\x00", "line?break"},
		{"\x00", "error without a message"},
		{"", "error without a message"},
	}
	for _, tt := range tests {
		if got := parsePgError([]byte(tt.body)).String(); got != tt.want {
			t.Errorf("parsePgError(%q) = %q, want %q", tt.body, got, tt.want)
		}
	}
}

func TestBERLength(t *testing.T) {
	tests := []struct {
		in   string
		n, k int
		err  error
	}{
		{"05", 5, 1, nil},
		{"7f", 127, 1, nil},
		{"8180", 128, 2, nil},
		{"820100", 256, 3, nil},
		{"8400000010", 16, 5, nil},
		{"80", 0, 0, errBERLength},
		{"85000000000001", 0, 0, errBERLength},
		{"82 01", 0, 0, errBERTruncated},
		{"", 0, 0, errBERTruncated},
		{"84 7fffffff", 0, 0, errBERLength},
	}
	for _, tt := range tests {
		n, k, err := berLength(unhex(t, tt.in))
		if n != tt.n || k != tt.k || !errors.Is(err, tt.err) {
			t.Errorf("berLength(%s) = %d, %d, %v; want %d, %d, %v", tt.in, n, k, err, tt.n, tt.k, tt.err)
		}
	}
}

func TestParseLDAPResult(t *testing.T) {
	tests := []struct {
		name   string
		msg    string
		passed bool
		reason string
	}{
		{"success", "300c 020101 6107 0a0100 0400 0400", true, ""},
		// Active Directory writes every length in the four-byte form.
		{"long lengths", "3084 00000010 020101 6184 00000007 0a0100 0400 0400", true, ""},
		{"invalid credentials", "3020 020101 611b 0a0131 0400 0414 " + hex.EncodeToString([]byte("bad password, sorry")) + "00",
			false, "ldap: bind result 49 (invalidCredentials): bad password, sorry"},
		{"refused", "302e 020101 6129 0a0130 0400 0422" + hex.EncodeToString([]byte("anonymous bind disallowed\n\x00garbage")),
			false, "ldap: bind result 48 (inappropriateAuthentication): anonymous bind disallowed??garbage"},
		{"notice of disconnection", "3024 020100 781f 0a0134 0400 0418" + hex.EncodeToString([]byte("the server is going away")),
			false, "ldap: unsolicited notification, result 52 (unavailable): the server is going away"},
		{"wrong message id", "300c 020102 6107 0a0100 0400 0400", false, "ldap: reply to message 2, want 1"},
		{"search result", "300c 020101 6507 0a0100 0400 0400", false, "ldap: reply 0x65, want a bind response"},
		{"unknown code", "300c 020101 6107 0a017b 0400 0400", false, "ldap: bind result 123 (unknown)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := parseLDAPResult(unhex(t, tt.msg))
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			passed, reason := judgeBind(r)
			if passed != tt.passed || reason != tt.reason {
				t.Fatalf("judgeBind(%+v) = %v, %q; want %v, %q", r, passed, reason, tt.passed, tt.reason)
			}
		})
	}
	bad := []struct{ name, msg, err string }{
		{"not a sequence", "310c 020101 6107 0a0100 0400 0400", "LDAPMessage: tag 0x31, want 0x30"},
		{"truncated", "300c 020101 6107 0a0100", "LDAPMessage: truncated BER element"},
		{"no result code", "3009 020101 6104 04000400", "resultCode: tag 0x04, want 0x0a"},
		{"no diagnostic", "300a 020101 6105 0a0100 0400", "diagnosticMessage: truncated BER element"},
		{"primitive op", "3005 020101 4200", "protocolOp: tag 0x42 is not a result"},
		{"big message id", "300f 020501ffffffff 6107 0a0100 0400 0400", "messageID: unsupported BER length"},
		{"high tag", "3003 1f0100", "messageID: unsupported BER tag"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseLDAPResult(unhex(t, tt.msg))
			if err == nil || err.Error() != tt.err {
				t.Fatalf("error = %v, want %q", err, tt.err)
			}
		})
	}
}

func TestText(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"plain", 64, "plain"},
		{"trailing\r\n\x00", 64, "trailing"},
		{"ctl\x01\x7f", 64, "ctl??"},
		{"bad \xff utf8", 64, "bad ? utf8"},
		{"héllo", 2, "h?"}, // the cut splits é
		{"abcdef", 3, "abc"},
	}
	for _, tt := range tests {
		if got := text(tt.in, tt.n); got != tt.want {
			t.Errorf("text(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

// replayConn is a connection whose peer's bytes are fixed: reads come from
// them, writes are discarded.
type replayConn struct {
	net.Conn // nil: only Read, Write and Close are used
	r        io.Reader
}

func (c replayConn) Read(b []byte) (int, error)  { return c.r.Read(b) }
func (c replayConn) Write(b []byte) (int, error) { return len(b), nil }
func (c replayConn) Close() error                { return nil }

// exchange runs the protocol part of a check of kind against a peer that
// sends reply, with no network.
func exchange(kind Kind, user string, reply []byte) (bool, string) {
	spec := Spec{Kind: kind, User: user, Expect: "+OK", Timeout: time.Second}.withDefaults()
	p := newProbe(upstream.NewEndpoint(upstream.Key{Addr: "127.0.0.1:1"}), spec, slog.New(slog.DiscardHandler))
	c := replayConn{r: bytes.NewReader(reply)}
	p.br.Reset(c)
	return p.converse(context.Background(), c)
}

func mysqlPacket(seq byte, payload []byte) []byte {
	return append([]byte{byte(len(payload)), byte(len(payload) >> 8), byte(len(payload) >> 16), seq}, payload...)
}

func pgMessage(typ byte, body string) []byte {
	n := len(body) + 4
	return append([]byte{typ, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}, body...)
}

func TestExchanges(t *testing.T) {
	handshake := mysqlPacket(0, mysqlHandshakeV10("10.11.6-MariaDB", 0xf7fe))
	tests := []struct {
		name   string
		kind   Kind
		user   string
		reply  []byte
		passed bool
		reason string
	}{
		{"mysql ok", MySQL, "u", append(append([]byte(nil), handshake...), mysqlPacket(2, []byte{0, 0, 0, 2, 0, 0, 0})...), true, "mysql: ok (10.11.6-MariaDB)"},
		{"mysql no reply", MySQL, "u", handshake, false, "mysql: reading login reply: EOF"},
		{"mysql pre-4.1", MySQL, "u", mysqlPacket(0, mysqlHandshakeV10("4.0.1", 0x0001)), false, "mysql: server 4.0.1 does not speak protocol 4.1"},
		{"mysql huge packet", MySQL, "u", []byte{0xff, 0xff, 0xff, 0}, false, "mysql: reading handshake: packet too large: 16777215 bytes"},
		{"mysql truncated packet", MySQL, "u", []byte{10, 0, 0, 0, 10, '1'}, false, "mysql: reading handshake: unexpected EOF"},
		{"pgsql trust", PgSQL, "u", bytes.Join([][]byte{
			pgMessage('R', "\x00\x00\x00\x00"), pgMessage('S', "server_version\x0015\x00"),
			pgMessage('K', "12345678"), pgMessage('Z', "I"),
		}, nil), true, "pgsql: ok"},
		{"pgsql md5", PgSQL, "u", pgMessage('R', "\x00\x00\x00\x05salt"), true, "pgsql: ok (authentication request: MD5 password)"},
		{"pgsql gss continue", PgSQL, "u", pgMessage('R', "\x00\x00\x00\x08"), false, "pgsql: unexpected authentication request 8"},
		{"pgsql short auth", PgSQL, "u", pgMessage('R', "\x00"), false, "pgsql: authentication request: bad message length"},
		{"pgsql error after ok", PgSQL, "u", append(pgMessage('R', "\x00\x00\x00\x00"), pgMessage('E', "SFATAL\x00C28000\x00Mrole \"u\" does not exist\x00\x00")...),
			false, `pgsql: FATAL 28000 role "u" does not exist`},
		{"pgsql query before auth", PgSQL, "u", pgMessage('Z', "I"), false, `pgsql: unexpected message "Z"`},
		{"pgsql bad length", PgSQL, "u", []byte{'R', 0, 0, 0, 2}, false, `pgsql: reading reply: bad message length 2 for message 'R'`},
		{"pgsql endless", PgSQL, "u", append(pgMessage('R', "\x00\x00\x00\x00"), bytes.Repeat(pgMessage('S', "a\x00b\x00"), 100)...),
			false, "pgsql: no ReadyForQuery after 64 messages"},
		{"ldap huge", LDAP, "", unhex(t, "3084 7fffffff"), false, "ldap: reading bind response: unsupported BER length"},
		{"ldap too big", LDAP, "", unhex(t, "3084 00100000"), false, "ldap: reading bind response: unsupported BER length: 1048576 bytes"},
		{"ldap truncated", LDAP, "", unhex(t, "300c 0201"), false, "ldap: reading bind response: unexpected EOF"},
		{"ldap ok", LDAP, "", unhex(t, "300c 020101 6107 0a0100 0400 0400"), true, "ldap: bind ok"},
		{"tcp expect", TCP, "", []byte("+OK ready"), true, "tcp: reply matched"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			passed, reason := exchange(tt.kind, tt.user, tt.reply)
			if passed != tt.passed || reason != tt.reason {
				t.Fatalf("check = %v, %q; want %v, %q", passed, reason, tt.passed, tt.reason)
			}
		})
	}
}

// FuzzReplies feeds arbitrary server replies to every protocol's check: none
// may panic, read beyond its bounds, or yield a reason that is not a single
// printable line.
func FuzzReplies(f *testing.F) {
	handshake := mysqlPacket(0, mysqlHandshakeV10("10.11.6-MariaDB", 0xf7fe))
	seeds := []struct {
		kind  Kind
		reply []byte
	}{
		{MySQL, append(append([]byte(nil), handshake...), mysqlPacket(2, []byte{0, 0, 0, 2, 0, 0, 0})...)},
		{MySQL, append(append([]byte(nil), handshake...), mysqlPacket(2, append([]byte{0xff, 0x15, 0x04}, "#28000Access denied"...))...)},
		{MySQL, mysqlPacket(0, append([]byte{0xff, 0x10, 0x04}, "Too many connections"...))},
		{PgSQL, append(pgMessage('R', "\x00\x00\x00\x00"), pgMessage('Z', "I")...)},
		{PgSQL, pgMessage('E', "SFATAL\x00C3D000\x00Mdatabase \"x\" does not exist\x00\x00")},
		{PgSQL, pgMessage('R', "\x00\x00\x00\x0aSCRAM-SHA-256\x00\x00")},
		{LDAP, []byte{0x30, 0x0c, 0x02, 0x01, 0x01, 0x61, 0x07, 0x0a, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00}},
		{LDAP, []byte{0x30, 0x84, 0, 0, 0, 0x10, 0x02, 0x01, 0x01, 0x61, 0x84, 0, 0, 0, 0x07, 0x0a, 0x01, 0x31, 0x04, 0x00, 0x04, 0x00}},
		{Redis, []byte("+PONG\r\n")},
		{Redis, []byte("-NOAUTH Authentication required.\r\n")},
		{TCP, []byte("+OK\r\n")},
		{HTTP, []byte("HTTP/1.1 200 OK\r\n")},
	}
	for _, s := range seeds {
		f.Add(uint8(s.kind), s.reply)
	}
	kinds := []Kind{TCP, HTTP, MySQL, PgSQL, Redis, LDAP}
	f.Fuzz(func(t *testing.T, k uint8, reply []byte) {
		kind := kinds[int(k)%len(kinds)]
		passed, reason := exchange(kind, "u", reply)
		if !strings.HasPrefix(reason, kind.String()) {
			t.Fatalf("%v check: reason %q does not start with the kind", kind, reason)
		}
		for _, r := range reason {
			if !unicode.IsPrint(r) && r != ' ' {
				t.Fatalf("%v check: reason %q holds %U", kind, reason, r)
			}
		}
		if len(reason) > 400 {
			t.Fatalf("%v check: reason of %d bytes", kind, len(reason))
		}
		if passed && kind == LDAP {
			r, err := parseLDAPResult(reply)
			if err != nil || r.code != 0 || r.messageID != 1 || r.op != ldapBindResp {
				t.Fatalf("ldap check passed on %x (%+v, %v)", reply, r, err)
			}
		}
	})
}

// FuzzParseLDAPResult checks the BER decoder on its own: it never panics,
// accepts only a SEQUENCE, and takes the diagnostic message from the input.
func FuzzParseLDAPResult(f *testing.F) {
	f.Add([]byte{0x30, 0x0c, 0x02, 0x01, 0x01, 0x61, 0x07, 0x0a, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00})
	f.Add([]byte{0x30, 0x84, 0, 0, 0, 0x10, 0x02, 0x01, 0x01, 0x61, 0x84, 0, 0, 0, 0x07, 0x0a, 0x01, 0x31, 0x04, 0x00, 0x04, 0x00})
	f.Fuzz(func(t *testing.T, msg []byte) {
		r, err := parseLDAPResult(msg)
		if err != nil {
			return
		}
		if !bytes.Contains(msg, []byte(r.diagnostic)) || msg[0] != berSequence {
			t.Fatalf("parseLDAPResult(%x) = %+v", msg, r)
		}
		judgeBind(r)
	})
}

// FuzzParseMySQL checks the handshake and reply parsers on their own.
func FuzzParseMySQL(f *testing.F) {
	f.Add(mysqlHandshakeV10("10.11.6-MariaDB", 0xf7fe))
	f.Add(append([]byte{0xff, 0x15, 0x04}, "#28000Access denied"...))
	f.Add([]byte{0, 0, 0, 2, 0, 0, 0})
	f.Add(append([]byte{0xfe}, "mysql_native_password\x00"...))
	f.Fuzz(func(t *testing.T, payload []byte) {
		hs, err := parseMySQLHandshake(payload)
		if err == nil && strings.IndexByte(hs.version, 0) >= 0 {
			t.Fatalf("version %q holds a NUL", hs.version)
		}
		if err == nil && payload[0] != 10 {
			t.Fatalf("accepted a handshake of protocol %d", payload[0])
		}
		if err := parseMySQLReply(payload); err == nil && (len(payload) < 7 || payload[0] != 0) {
			t.Fatalf("accepted %x as OK", payload)
		}
	})
}

// FuzzParsePgError checks the ErrorResponse parser on its own.
func FuzzParsePgError(f *testing.F) {
	f.Add([]byte("SFATAL\x00VFATAL\x00C3D000\x00Mdatabase \"x\" does not exist\x00\x00"))
	f.Add([]byte("M\x00"))
	f.Fuzz(func(t *testing.T, body []byte) {
		s := parsePgError(body).String()
		if strings.ContainsAny(s, "\x00\r\n") || s == "" {
			t.Fatalf("parsePgError(%q).String() = %q", body, s)
		}
	})
}
