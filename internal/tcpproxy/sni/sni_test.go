package sni

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// captureHello runs a crypto/tls client handshake against a net.Pipe and
// returns its first flight: the TLS records that carry the ClientHello.
func captureHello(tb testing.TB, cfg *tls.Config) []byte {
	tb.Helper()
	client, server := net.Pipe()
	done := make(chan error, 1)
	go func() { done <- tls.Client(client, cfg).Handshake() }()
	defer func() {
		server.Close()
		client.Close()
		<-done
	}()
	if err := server.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		tb.Fatal(err)
	}
	var out, msg []byte
	// A hello is at most 64 KiB in records of at least 1 byte, but crypto/tls
	// fills its records, so a handful is the real bound.
	for range 64 {
		if len(msg) >= 4 && len(msg) >= 4+(int(msg[1])<<16|int(msg[2])<<8|int(msg[3])) {
			return out
		}
		hdr := make([]byte, recordHeaderLen)
		if _, err := io.ReadFull(server, hdr); err != nil {
			tb.Fatalf("reading record header: %v", err)
		}
		payload := make([]byte, int(hdr[3])<<8|int(hdr[4]))
		if _, err := io.ReadFull(server, payload); err != nil {
			tb.Fatalf("reading record: %v", err)
		}
		out = append(append(out, hdr...), payload...)
		msg = append(msg, payload...)
	}
	tb.Fatal("client hello did not end within 64 records")
	return nil
}

// countRecords returns how many TLS records data holds; data is well formed.
func countRecords(data []byte) int {
	n := 0
	for off := 0; off+recordHeaderLen <= len(data); n++ {
		off += recordHeaderLen + (int(data[off+3])<<8 | int(data[off+4]))
	}
	return n
}

// handshakeMsg joins the payloads of the well-formed records in data.
func handshakeMsg(data []byte) []byte {
	var msg []byte
	for off := 0; off+recordHeaderLen <= len(data); {
		n := int(data[off+3])<<8 | int(data[off+4])
		msg = append(msg, data[off+recordHeaderLen:off+recordHeaderLen+n]...)
		off += recordHeaderLen + n
	}
	return msg
}

// fragment splits a handshake message into records of at most size bytes.
func fragment(msg []byte, size int) []byte {
	var out []byte
	for len(msg) > 0 {
		n := min(size, len(msg))
		out = append(out, recordTypeHandshake, 3, 1, byte(n>>8), byte(n))
		out = append(out, msg[:n]...)
		msg = msg[n:]
	}
	return out
}

// bytesConn is a net.Conn that reads a fixed input and discards writes, so
// that tls.Server can parse a hello without a peer or a goroutine.
type bytesConn struct{ r *bytes.Reader }

func (c *bytesConn) Read(p []byte) (int, error)       { return c.r.Read(p) }
func (c *bytesConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c *bytesConn) Close() error                     { return nil }
func (c *bytesConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *bytesConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *bytesConn) SetDeadline(time.Time) error      { return nil }
func (c *bytesConn) SetReadDeadline(time.Time) error  { return nil }
func (c *bytesConn) SetWriteDeadline(time.Time) error { return nil }

var errStop = errors.New("stop after the client hello")

// tlsView returns the server name crypto/tls sees in data, and whether it
// accepted the hello far enough to call GetConfigForClient.
func tlsView(data []byte) (name string, accepted bool) {
	cfg := &tls.Config{GetConfigForClient: func(chi *tls.ClientHelloInfo) (*tls.Config, error) {
		name, accepted = chi.ServerName, true
		return nil, errStop
	}}
	_ = tls.Server(&bytesConn{bytes.NewReader(data)}, cfg).Handshake() // always fails: errStop or a refusal
	return name, accepted
}

func clientConfig(name string) *tls.Config {
	return &tls.Config{ServerName: name, InsecureSkipVerify: true}
}

func TestServerNameRealHellos(t *testing.T) {
	manyALPN := make([]string, 80)
	for i := range manyALPN {
		manyALPN[i] = strings.Repeat(string(rune('a'+i%26)), 250)
	}
	cases := []struct {
		name    string
		cfg     *tls.Config
		want    string
		records int // 0: do not check
	}{
		{"with sni", clientConfig("example.com"), "example.com", 1},
		{"no sni", clientConfig(""), "", 1},
		{"ip address sends no sni", clientConfig("192.0.2.1"), "", 1},
		{"trailing dot is not sent", clientConfig("example.com."), "example.com", 1},
		{"case kept", clientConfig("API.Example.com"), "API.Example.com", 1},
		{"tls 1.2 only", &tls.Config{ServerName: "v12.example", MaxVersion: tls.VersionTLS12, InsecureSkipVerify: true}, "v12.example", 1},
		{"many alpn values span two records", &tls.Config{ServerName: "big.example.com", NextProtos: manyALPN, InsecureSkipVerify: true}, "big.example.com", 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hello := captureHello(t, tc.cfg)
			if tc.records != 0 && countRecords(hello) != tc.records {
				t.Fatalf("captured %d records, want %d", countRecords(hello), tc.records)
			}
			got, err := ServerName(hello)
			if err != nil || got != tc.want {
				t.Fatalf("ServerName = %q, %v; want %q", got, err, tc.want)
			}
			if name, ok := tlsView(hello); !ok || name != got {
				t.Errorf("crypto/tls sees %q (accepted %v), ServerName %q", name, ok, got)
			}
			// Trailing bytes after the hello (early data, the next record)
			// do not change the answer.
			if got2, err := ServerName(append(hello[:len(hello):len(hello)], 23, 3, 3, 0, 1, 0)); err != nil || got2 != got {
				t.Errorf("with trailing bytes: %q, %v", got2, err)
			}
			for i := range hello {
				if _, err := ServerName(hello[:i]); err != ErrIncomplete {
					t.Fatalf("ServerName(hello[:%d]) error = %v, want ErrIncomplete", i, err)
				}
			}
		})
	}
}

// TestServerNameFragmented re-splits a real hello into records of every
// small size, so that the handshake header itself is split, and checks that
// the answer, crypto/tls's view and every truncation agree.
func TestServerNameFragmented(t *testing.T) {
	msg := handshakeMsg(captureHello(t, clientConfig("frag.example.com")))
	for _, size := range []int{1, 2, 3, 4, 5, 7, 64, 100, 1000} {
		data := fragment(msg, size)
		got, err := ServerName(data)
		if err != nil || got != "frag.example.com" {
			t.Fatalf("size %d: ServerName = %q, %v", size, got, err)
		}
		if name, ok := tlsView(data); !ok || name != got {
			t.Errorf("size %d: crypto/tls sees %q (accepted %v)", size, name, ok)
		}
		if size > 7 {
			continue // the small sizes cover every header position; keep the quadratic loop short
		}
		for i := range data {
			if _, err := ServerName(data[:i]); err != ErrIncomplete {
				t.Fatalf("size %d: ServerName(data[:%d]) error = %v, want ErrIncomplete", size, i, err)
			}
		}
	}
}

// Builders for hand-made hellos, to reach the branches real clients never
// take.

func u16(n int) []byte { return []byte{byte(n >> 8), byte(n)} }

func ext(typ int, data []byte) []byte { return append(append(u16(typ), u16(len(data))...), data...) }

func hostName(typ byte, name string) []byte {
	return append(append([]byte{typ}, u16(len(name))...), name...)
}

func sniExt(entries ...[]byte) []byte {
	list := bytes.Join(entries, nil)
	return ext(extServerName, append(u16(len(list)), list...))
}

// helloMsg builds a ClientHello handshake message with the given body
// after legacy_compression_methods; withExts false omits the extensions
// block entirely.
func helloMsg(withExts bool, exts ...[]byte) []byte {
	body := []byte{3, 3}                     // legacy_version
	body = append(body, make([]byte, 32)...) // random
	body = append(body, 0)                   // empty session id
	body = append(body, 0, 2, 0x13, 0x01)    // one cipher suite
	body = append(body, 1, 0)                // null compression
	if withExts {
		e := bytes.Join(exts, nil)
		body = append(append(body, u16(len(e))...), e...)
	}
	return append([]byte{typeClientHello, byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}, body...)
}

func record(typ byte, payload []byte) []byte {
	return append([]byte{typ, 3, 1, byte(len(payload) >> 8), byte(len(payload))}, payload...)
}

func TestServerNameHandBuilt(t *testing.T) {
	okHello := helloMsg(true, sniExt(hostName(0, "example.com")))
	// Offsets into a helloMsg: 4 bytes of handshake header, 2 of version,
	// 32 of random, then the session id length, the two-byte cipher suites
	// length and one suite, the compression methods, the extensions length.
	const sessionIDLen, suitesLenLo, extsLenLo = 38, 40, 46
	// mutate returns a copy of okHello's record with f applied to the body.
	mutate := func(f func(msg []byte) []byte) []byte {
		return record(recordTypeHandshake, f(bytes.Clone(okHello)))
	}
	cases := []struct {
		name string
		data []byte
		want string
		err  error
		// tlsAgrees: crypto/tls gives the same verdict (same name, or also
		// refuses). False where this package is deliberately stricter.
		tlsAgrees bool
	}{
		{"sni", record(22, okHello), "example.com", nil, true},
		{"no extensions block", record(22, helloMsg(false)), "", nil, true},
		{"empty extensions", record(22, helloMsg(true)), "", nil, true},
		{"other extensions only", record(22, helloMsg(true, ext(16, []byte{0, 3, 2, 'h', '2'}), ext(0xfe0d, nil))), "", nil, true},
		{"sni after others", record(22, helloMsg(true, ext(23, nil), ext(43, []byte{2, 3, 4}), sniExt(hostName(0, "late.example")))), "late.example", nil, true},
		{"other name types skipped", record(22, helloMsg(true, sniExt(hostName(7, "other"), hostName(0, "host.example")))), "host.example", nil, true},
		{"case kept", record(22, helloMsg(true, sniExt(hostName(0, "Mixed.Case")))), "Mixed.Case", nil, true},
		{"not a handshake record", record(23, okHello), "", ErrNotTLS, true},
		{"sslv2 hello", []byte{0x80, 0x2e, 0x01, 0x03, 0x01}, "", ErrNotTLS, true},
		{"record version not 3.x", append([]byte{22, 1, 0}, record(22, okHello)[3:]...), "", ErrNotTLS, false},
		{"empty record", append(record(22, nil), record(22, okHello)...), "", ErrMalformed, true},
		{"record over 16 KiB", append([]byte{22, 3, 1, 0x40, 0x01}, make([]byte, 1<<14+1)...), "", ErrMalformed, true},
		{"server hello", mutate(func(m []byte) []byte { m[0] = 2; return m }), "", ErrMalformed, true},
		{"hello over 64 KiB", record(22, []byte{1, 1, 0, 1}), "", ErrMalformed, true},
		{"split, last record carries the next message", append(record(22, okHello[:10]), record(22, append(bytes.Clone(okHello[10:]), 20, 0, 0, 0))...), "example.com", nil, true},
		{"empty record mid hello", append(append(record(22, okHello[:10]), record(22, nil)...), record(22, okHello[10:])...), "", ErrMalformed, true},
		{"second record not handshake", append(record(22, okHello[:10]), record(23, okHello[10:])...), "", ErrMalformed, true},
		{"second record version not 3.x", append(record(22, okHello[:10]), append([]byte{22, 2, 1}, record(22, okHello[10:])[3:]...)...), "", ErrMalformed, false},
		{"session id overruns", mutate(func(m []byte) []byte { m[sessionIDLen] = 0xff; return m }), "", ErrMalformed, true},
		{"odd cipher suites length", mutate(func(m []byte) []byte { m[suitesLenLo] = 3; return m }), "", ErrMalformed, true},
		{"extensions overrun", mutate(func(m []byte) []byte { m[extsLenLo]++; return m }), "", ErrMalformed, true},
		{"bytes after extensions", record(22, func() []byte {
			m := append(bytes.Clone(okHello), 0)
			m[3]++
			return m
		}()), "", ErrMalformed, true},
		{"truncated extension header", record(22, func() []byte {
			m := append(bytes.Clone(okHello), 0, 0)
			m[3] += 2
			m[extsLenLo] += 2
			return m
		}()), "", ErrMalformed, true},
		{"repeated sni extension", record(22, helloMsg(true, sniExt(hostName(0, "a.example")), sniExt(hostName(0, "b.example")))), "", ErrMalformed, true},
		{"two host names", record(22, helloMsg(true, sniExt(hostName(0, "a.example"), hostName(0, "b.example")))), "", ErrMalformed, true},
		{"empty host name", record(22, helloMsg(true, sniExt(hostName(0, "")))), "", ErrMalformed, true},
		{"empty name of other type", record(22, helloMsg(true, sniExt(hostName(1, ""), hostName(0, "x")))), "", ErrMalformed, true},
		{"trailing dot", record(22, helloMsg(true, sniExt(hostName(0, "example.com.")))), "", ErrMalformed, true},
		{"empty name list", record(22, helloMsg(true, ext(0, []byte{0, 0}))), "", ErrMalformed, true},
		{"bytes after name list", record(22, helloMsg(true, ext(0, append(sniExt(hostName(0, "x"))[4:], 0)))), "", ErrMalformed, true},
		{"name overruns list", record(22, helloMsg(true, ext(0, []byte{0, 4, 0, 0, 9, 'x'}))), "", ErrMalformed, true},
		{"hello shorter than its random", record(22, []byte{1, 0, 0, 3, 3, 3, 0}), "", ErrMalformed, true},
		{"extensions block of one byte", record(22, func() []byte {
			m := append(bytes.Clone(helloMsg(false)), 0)
			m[3]++
			return m
		}()), "", ErrMalformed, true},
		{"name entry cut short", record(22, helloMsg(true, ext(0, []byte{0, 1, 0}))), "", ErrMalformed, true},
		{"empty extension data", record(22, helloMsg(true, ext(0, nil))), "", ErrMalformed, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ServerName(tc.data)
			if got != tc.want || !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
				t.Fatalf("ServerName = %q, %v; want %q, %v", got, err, tc.want, tc.err)
			}
			if tc.err == ErrMalformed && (!errors.Is(err, ErrNotTLS) || err.Error() != "sni: malformed client hello") {
				t.Errorf("ErrMalformed = %q, does not match ErrNotTLS", err)
			}
			if tc.tlsAgrees {
				name, ok := tlsView(tc.data)
				if ok != (tc.err == nil) || name != tc.want {
					t.Errorf("crypto/tls sees %q (accepted %v); ServerName %q, %v", name, ok, got, err)
				}
			}
		})
	}
}

func TestServerNameNotTLS(t *testing.T) {
	for _, in := range []string{
		"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
		"G",
		"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
		"SSH-2.0-OpenSSH_9.6\r\n",
		"\x16\x00",
		"\x16\x16\x03",
	} {
		if name, err := ServerName([]byte(in)); err != ErrNotTLS || name != "" {
			t.Errorf("ServerName(%q) = %q, %v; want ErrNotTLS", in, name, err)
		}
	}
	for _, in := range []string{"", "\x16", "\x16\x03", "\x16\x03\x01\x02"} {
		if _, err := ServerName([]byte(in)); err != ErrIncomplete {
			t.Errorf("ServerName(%q) error = %v; want ErrIncomplete", in, err)
		}
	}
}

// liarReader is a broken reader that claims more bytes than it was given
// room for.
type liarReader struct{}

func (liarReader) Read(p []byte) (int, error) { return len(p) + 1, nil }

// zeroReader is a broken reader that never returns bytes nor an error.
type zeroReader struct{}

func (zeroReader) Read([]byte) (int, error) { return 0, nil }

func TestPeek(t *testing.T) {
	hello := captureHello(t, clientConfig("peek.example.com"))
	alpn := captureHello(t, &tls.Config{ServerName: "big.example", NextProtos: []string{strings.Repeat("x", 255), strings.Repeat("y", 255)}, InsecureSkipVerify: true})
	errRead := errors.New("connection reset")
	withTail := append(bytes.Clone(hello), "early data"...)
	split := fragment(handshakeMsg(hello), 3)
	cases := []struct {
		name   string
		r      io.Reader
		bufLen int
		want   string
		wantN  int
		err    error
	}{
		{"one byte at a time", iotest.OneByteReader(bytes.NewReader(withTail)), 1 << 14, "peek.example.com", len(hello), nil},
		{"one byte at a time, 3-byte records", iotest.OneByteReader(bytes.NewReader(split)), 1 << 14, "peek.example.com", len(split), nil},
		{"half reads", iotest.HalfReader(bytes.NewReader(alpn)), 1 << 14, "big.example", len(alpn), nil},
		{"all at once with trailing bytes", bytes.NewReader(withTail), 1 << 14, "peek.example.com", len(withTail), nil},
		{"data with EOF", iotest.DataErrReader(bytes.NewReader(hello)), 1 << 14, "peek.example.com", len(hello), nil},
		{"buffer too small", bytes.NewReader(hello), len(hello) - 1, "", len(hello) - 1, ErrIncomplete},
		{"empty buffer", bytes.NewReader(hello), 0, "", 0, ErrIncomplete},
		{"eof before any byte", bytes.NewReader(nil), 1 << 14, "", 0, io.EOF},
		{"eof mid hello", bytes.NewReader(hello[:100]), 1 << 14, "", 100, io.ErrUnexpectedEOF},
		{"read error mid hello", io.MultiReader(bytes.NewReader(hello[:10]), iotest.ErrReader(errRead)), 1 << 14, "", 10, errRead},
		{"http", iotest.OneByteReader(strings.NewReader("GET / HTTP/1.1\r\n\r\n")), 1 << 14, "", 1, ErrNotTLS},
		{"reader makes no progress", zeroReader{}, 1 << 14, "", 0, io.ErrNoProgress},
		{"reader claims too many bytes", liarReader{}, 1 << 14, "", 0, errInvalidRead},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			buf := make([]byte, tc.bufLen)
			name, n, err := Peek(tc.r, buf)
			if name != tc.want || n != tc.wantN || err != tc.err {
				t.Fatalf("Peek = %q, %d, %v; want %q, %d, %v", name, n, err, tc.want, tc.wantN, tc.err)
			}
		})
	}
	t.Run("buffer holds every byte read", func(t *testing.T) {
		buf := make([]byte, 1<<14)
		_, n, err := Peek(iotest.OneByteReader(bytes.NewReader(withTail)), buf)
		if err != nil || !bytes.Equal(buf[:n], hello) {
			t.Fatalf("Peek filled %d bytes (%v); want the %d bytes of the hello", n, err, len(hello))
		}
	})
}

func TestPeekDeadline(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	defer server.Close()
	if err := server.SetReadDeadline(time.Now().Add(20 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	_, n, err := Peek(server, make([]byte, 1024))
	if n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Peek on a silent client = %d, %v; want os.ErrDeadlineExceeded", n, err)
	}
}

func selfSigned(t *testing.T, name string) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		DNSNames:     []string{name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

// replayConn replays the bytes Peek consumed before reading on, as the TCP
// proxy does towards the upstream.
type replayConn struct {
	net.Conn
	r io.Reader
}

func (c *replayConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// TestPeekThenReplay is the proxy's use: peek at the SNI, then hand the
// consumed bytes plus the rest of the stream to a TLS server, which must
// complete the handshake as if nothing had been read.
func TestPeekThenReplay(t *testing.T) {
	cert, pool := selfSigned(t, "replay.example.com")
	client, server := net.Pipe()
	defer server.Close()
	deadline := time.Now().Add(10 * time.Second)
	if err := client.SetDeadline(deadline); err != nil {
		t.Fatal(err)
	}
	if err := server.SetDeadline(deadline); err != nil {
		t.Fatal(err)
	}
	reply := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		defer client.Close()
		c := tls.Client(client, &tls.Config{ServerName: "replay.example.com", RootCAs: pool})
		if _, err := c.Write([]byte("ping")); err != nil {
			done <- err
			return
		}
		b := make([]byte, 4)
		_, err := io.ReadFull(c, b)
		reply <- string(b)
		done <- err
	}()

	buf := make([]byte, 1<<14)
	name, n, err := Peek(server, buf)
	if err != nil || name != "replay.example.com" {
		t.Fatalf("Peek = %q, %v", name, err)
	}
	s := tls.Server(&replayConn{server, io.MultiReader(bytes.NewReader(buf[:n]), server)}, &tls.Config{Certificates: []tls.Certificate{cert}})
	b := make([]byte, 4)
	if _, err := io.ReadFull(s, b); err != nil || string(b) != "ping" {
		t.Fatalf("server read %q, %v", b, err)
	}
	if _, err := s.Write([]byte("pong")); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("client: %v", err)
	}
	if got := <-reply; got != "pong" {
		t.Fatalf("client read %q", got)
	}
}

// FuzzServerName checks that ServerName never panics, that its answer for
// any input agrees with crypto/tls when both accept the hello, that it is
// never ErrIncomplete for a hello crypto/tls could read, and that Peek over
// a one-byte reader stops at a prefix with the same answer.
func FuzzServerName(f *testing.F) {
	for _, cfg := range []*tls.Config{clientConfig("fuzz.example.com"), clientConfig(""), clientConfig("a.b")} {
		hello := captureHello(f, cfg)
		f.Add(hello)
		f.Add(fragment(handshakeMsg(hello), 5))
	}
	f.Add(record(22, helloMsg(true, sniExt(hostName(1, "x"), hostName(0, "y")))))
	f.Add([]byte("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		name, err := ServerName(data)
		if err != nil && name != "" {
			t.Fatalf("ServerName = %q with error %v", name, err)
		}
		if err != nil && err != ErrIncomplete && err != ErrNotTLS && err != ErrMalformed {
			t.Fatalf("ServerName returned a non-sentinel error %v", err)
		}
		tlsName, accepted := tlsView(data)
		if accepted && err == nil && tlsName != name {
			t.Fatalf("ServerName = %q, crypto/tls sees %q", name, tlsName)
		}
		if accepted && err == ErrIncomplete {
			t.Fatalf("ServerName says incomplete, crypto/tls read the hello (name %q)", tlsName)
		}
		if len(data) > 4096 {
			return // Peek one byte at a time is quadratic
		}
		pname, n, perr := Peek(iotest.OneByteReader(bytes.NewReader(data)), make([]byte, len(data)))
		if pname != name || perr != err || err == ErrIncomplete && n != len(data) {
			t.Fatalf("Peek = %q, %v after %d bytes; ServerName on all %d bytes = %q, %v", pname, perr, n, len(data), name, err)
		}
	})
}

func BenchmarkServerName(b *testing.B) {
	hello := captureHello(b, clientConfig("bench.example.com"))
	cases := []struct {
		name string
		data []byte
	}{
		{"one-record", hello},
		{"no-sni", captureHello(b, clientConfig(""))},
		{"split-512", fragment(handshakeMsg(hello), 512)},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(tc.data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ServerName(tc.data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkPeek(b *testing.B) {
	hello := captureHello(b, clientConfig("bench.example.com"))
	buf := make([]byte, 1<<14)
	r := bytes.NewReader(hello)
	b.ReportAllocs()
	for b.Loop() {
		r.Reset(hello)
		if _, _, err := Peek(r, buf); err != nil {
			b.Fatal(err)
		}
	}
}
