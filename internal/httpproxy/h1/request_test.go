package h1

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
)

func TestParseRequestRejects(t *testing.T) {
	const ok = "GET / HTTP/1.1\r\nHost: a\r\n"
	tests := []struct {
		name   string
		head   string
		status int
	}{
		// Content-Length.
		{"CL+TE", ok + "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
		{"TE+CL", ok + "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400},
		{"CL list 3, 4", ok + "Content-Length: 3, 4\r\n\r\n", 400},
		{"CL list 3,3", ok + "Content-Length: 3,3\r\n\r\n", 400},
		{"CL +3", ok + "Content-Length: +3\r\n\r\n", 400},
		{"CL -3", ok + "Content-Length: -3\r\n\r\n", 400},
		{"CL 0x10", ok + "Content-Length: 0x10\r\n\r\n", 400},
		{"CL 1.0", ok + "Content-Length: 1.0\r\n\r\n", 400},
		{"CL inner space", ok + "Content-Length: 1 2\r\n\r\n", 400},
		{"CL empty", ok + "Content-Length:\r\n\r\n", 400},
		{"CL space", ok + "Content-Length:  \r\n\r\n", 400},
		{"CL overflow", ok + "Content-Length: 9223372036854775808\r\n\r\n", 400},
		{"CL 20 digits", ok + "Content-Length: 00000000000000000001\r\n\r\n", 400},
		{"CL twice same", ok + "Content-Length: 3\r\nContent-Length: 3\r\n\r\n", 400},
		{"CL twice different", ok + "Content-Length: 3\r\ncontent-length: 4\r\n\r\n", 400},
		{"CL unicode digit", ok + "Content-Length: \xd9\xa3\r\n\r\n", 400},
		// Transfer-Encoding.
		{"TE not final chunked", ok + "Transfer-Encoding: chunked, gzip\r\n\r\n", 400},
		{"TE only gzip", ok + "Transfer-Encoding: gzip\r\n\r\n", 400},
		{"TE identity", ok + "Transfer-Encoding: identity\r\n\r\n", 400},
		{"TE chunked twice", ok + "Transfer-Encoding: chunked, chunked\r\n\r\n", 400},
		{"TE chunked twice across fields", ok + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
		{"TE chunked then gzip field", ok + "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n", 400},
		{"TE empty", ok + "Transfer-Encoding:\r\n\r\n", 400},
		{"TE empty element", ok + "Transfer-Encoding: gzip,,chunked\r\n\r\n", 400},
		{"TE trailing comma", ok + "Transfer-Encoding: chunked,\r\n\r\n", 400},
		{"TE parameter", ok + "Transfer-Encoding: gzip;q=1, chunked\r\n\r\n", 400},
		{"TE chunked with space", ok + "Transfer-Encoding: chun ked\r\n\r\n", 400},
		{"TE in 1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
		// Field syntax.
		{"space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400},
		{"tab before colon", ok + "X-A\t: b\r\n\r\n", 400},
		{"obs-fold", ok + "X-A: b\r\n c\r\n\r\n", 400},
		{"obs-fold tab", ok + "X-A: b\r\n\tc\r\n\r\n", 400},
		{"obs-fold first line", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400},
		{"bare CR in value", ok + "X-A: b\rc\r\n\r\n", 400},
		{"bare CR before CRLF", ok + "X-A: b\r\r\n\r\n", 400},
		{"bare CR in name", ok + "X\r-A: b\r\n\r\n", 400},
		{"bare CR line", ok + "\r\r\n\r\n", 400},
		{"NUL in value", ok + "X-A: b\x00c\r\n\r\n", 400},
		{"DEL in value", ok + "X-A: b\x7fc\r\n\r\n", 400},
		{"VT in value", ok + "X-A: b\x0bc\r\n\r\n", 400},
		{"ESC in long value", ok + "X-A: abcdefghijklmnop\x1bqrstuvwxyz\r\n\r\n", 400},
		{"LF-only line", "GET / HTTP/1.1\r\nHost: a\nX-A: b\r\n\r\n", 400},
		{"LF-only request line", "GET / HTTP/1.1\nHost: a\r\n\r\n", 400},
		{"LF-only end of head", ok + "\n", 400},
		{"LF-only everything", "GET / HTTP/1.1\nHost: a\n\n", 400},
		{"empty field name", ok + ": b\r\n\r\n", 400},
		{"bad byte in name", ok + "X@A: b\r\n\r\n", 400},
		{"space in name", ok + "X A: b\r\n\r\n", 400},
		{"obs-text in name", ok + "X\xe9: b\r\n\r\n", 400},
		{"missing colon", ok + "X-A b\r\n\r\n", 400},
		{"no empty line", ok, 400},
		{"data after head", ok + "\r\nGET", 400},
		{"leading empty line", "\r\n" + ok + "\r\n", 400},
		// Host.
		{"missing Host", "GET / HTTP/1.1\r\n\r\n", 400},
		{"missing Host absolute-form", "GET http://a/ HTTP/1.1\r\n\r\n", 400},
		{"two Hosts", ok + "Host: a\r\n\r\n", 400},
		{"two Hosts differing", ok + "host: b\r\n\r\n", 400},
		{"two Hosts in 1.0", "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400},
		{"Host with space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400},
		{"Host bad port", "GET / HTTP/1.1\r\nHost: a:x\r\n\r\n", 400},
		{"Host port too long", "GET / HTTP/1.1\r\nHost: a:123456\r\n\r\n", 400},
		{"Host port out of range", "GET / HTTP/1.1\r\nHost: a:65536\r\n\r\n", 400},
		{"Host empty port", "GET / HTTP/1.1\r\nHost: a:\r\n\r\n", 400},
		{"Host two ports", "GET / HTTP/1.1\r\nHost: a:1:2\r\n\r\n", 400},
		{"Host only port", "GET / HTTP/1.1\r\nHost: :80\r\n\r\n", 400},
		{"Host userinfo", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400},
		{"Host percent", "GET / HTTP/1.1\r\nHost: a%41\r\n\r\n", 400},
		{"Host path", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400},
		{"Host bad IPv6", "GET / HTTP/1.1\r\nHost: [::g]\r\n\r\n", 400},
		{"Host IPv6 unclosed", "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", 400},
		{"Host IPv4 in brackets", "GET / HTTP/1.1\r\nHost: [1.2.3.4]\r\n\r\n", 400},
		{"Host IPv6 zone", "GET / HTTP/1.1\r\nHost: [fe80::1%25eth0]\r\n\r\n", 400},
		{"Host IPv6 then junk", "GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n", 400},
		{"Host obs-text", "GET / HTTP/1.1\r\nHost: \xc3\xa9.example\r\n\r\n", 400},
		// Request line.
		{"two spaces after method", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"two spaces before version", "GET /  HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"tab separator", "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"trailing space", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400},
		{"missing version", "GET /\r\nHost: a\r\n\r\n", 400},
		{"method only", "GET\r\nHost: a\r\n\r\n", 400},
		{"empty request line", "\r\nHost: a\r\n\r\n", 400},
		{"empty method", " / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"method with slash", "GE/T / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"lowercase version", "GET / http/1.1\r\nHost: a\r\n\r\n", 400},
		{"version HTTP/1.10", "GET / HTTP/1.10\r\nHost: a\r\n\r\n", 400},
		{"version HTTP/1", "GET / HTTP/1\r\nHost: a\r\n\r\n", 400},
		{"version HTTP/3", "GET / HTTP/3\r\nHost: a\r\n\r\n", 400},
		{"version HTTP/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505},
		{"version HTTP/1.2", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505},
		{"version HTTP/0.9", "GET / HTTP/0.9\r\n\r\n", 505},
		{"target non-ASCII", "GET /\xe9 HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"target NUL", "GET /\x00 HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"target bare CR", "GET /\r HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"target fragment", "GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"target bad percent", "GET /a%zz HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"target truncated percent", "GET /a%4 HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"target relative", "GET a/b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"CONNECT origin-form", "CONNECT /a HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"CONNECT without port", "CONNECT a HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"CONNECT absolute-form", "CONNECT http://a:80/ HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"asterisk with GET", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"authority-form with GET", "GET a:80 HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"absolute-form ftp", "GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"absolute-form empty host", "GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"absolute-form userinfo", "GET http://u@a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"absolute-form bad port", "GET http://a:b/ HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		// Connection, Upgrade, Trailer.
		{"Connection nominates Content-Length", ok + "Connection: content-length\r\n\r\n", 400},
		{"Connection nominates Transfer-Encoding", ok + "Connection: close, Transfer-Encoding\r\n\r\n", 400},
		{"Connection nominates Host", ok + "Connection: host\r\n\r\n", 400},
		{"Connection bad token", ok + "Connection: keep alive\r\n\r\n", 400},
		{"two Upgrade fields", ok + "Upgrade: websocket\r\nUpgrade: h2c\r\n\r\n", 400},
		{"empty Upgrade", ok + "Upgrade:\r\n\r\n", 400},
		{"Trailer names Content-Length", ok + "Transfer-Encoding: chunked\r\nTrailer: Content-Length\r\n\r\n", 400},
		{"Trailer names Transfer-Encoding", ok + "Trailer: x, transfer-encoding\r\n\r\n", 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Request
			err := ParseRequest([]byte(tt.head), &r, DefaultLimits())
			if got := statusOf(err); got != tt.status {
				t.Fatalf("ParseRequest(%q) = %v (status %d), want status %d", tt.head, err, got, tt.status)
			}
			if msg, ok := rejectMessages[tt.name]; ok && !strings.Contains(err.Error(), msg) {
				t.Errorf("ParseRequest(%q) = %q, want a message containing %q", tt.head, err, msg)
			}
			// The reading path must agree, whatever the buffering, except
			// where it legitimately differs: it skips leading empty lines,
			// stops at the first empty line, and reports a truncated head
			// as io.ErrUnexpectedEOF.
			switch tt.name {
			case "leading empty line", "data after head":
				return
			case "no empty line":
				tt.status = -1
			}
			for kind, br := range readers(tt.head) {
				err := ReadRequest(br, &r, DefaultLimits())
				if got := statusOf(err); got != tt.status {
					t.Errorf("ReadRequest(%s) = %v (status %d), want status %d", kind, err, got, tt.status)
				}
			}
		})
	}
}

// rejectMessages pins the message of some rejections: operators read them
// in logs, so a violation should be named for what it is.
var rejectMessages = map[string]string{
	"CL+TE":                "both Transfer-Encoding and Content-Length",
	"CL twice same":        "more than one Content-Length",
	"TE in 1.0":            "Transfer-Encoding in an HTTP/1.0 message",
	"obs-fold":             "obsolete line folding",
	"obs-fold first line":  "obsolete line folding",
	"LF-only line":         "CRLF",
	"LF-only request line": "CRLF",
	"bare CR in value":     "invalid field value",
	"space before colon":   "invalid field name",
	"missing Host":         "missing Host",
	"two Hosts":            "more than one Host",
	"Host bad port":        "invalid Host",
	"version HTTP/2.0":     "not supported",
	"target fragment":      "invalid request target",
}

func TestParseRequestAccepts(t *testing.T) {
	tests := []struct {
		name  string
		head  string
		check func(t *testing.T, r *Request)
	}{
		{"GET", "GET /index.html HTTP/1.1\r\nHost: example.com\r\n\r\n", func(t *testing.T, r *Request) {
			expect(t, "method", r.Method, "GET")
			expect(t, "target", r.Target, "/index.html")
			expect(t, "host", r.Host, "example.com")
			expect(t, "path", r.Path(), "/index.html")
			expectBool(t, "close", r.Close, false)
			expectBool(t, "has body", r.HasBody(), false)
			if r.Minor != 1 || r.ContentLength != -1 || r.Chunked {
				t.Errorf("minor %d, content length %d, chunked %v", r.Minor, r.ContentLength, r.Chunked)
			}
		}},
		{"HEAD", "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n", methodIs("HEAD")},
		{"POST", "POST /submit HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n", func(t *testing.T, r *Request) {
			expect(t, "method", r.Method, "POST")
			expectBool(t, "has body", r.HasBody(), true)
			if r.ContentLength != 10 {
				t.Errorf("content length %d", r.ContentLength)
			}
		}},
		{"PUT", "PUT /x HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", func(t *testing.T, r *Request) {
			expectBool(t, "has body", r.HasBody(), false)
			if r.ContentLength != 0 {
				t.Errorf("content length %d", r.ContentLength)
			}
		}},
		{"DELETE", "DELETE /x HTTP/1.1\r\nHost: a\r\n\r\n", methodIs("DELETE")},
		{"PATCH", "PATCH /x HTTP/1.1\r\nHost: a\r\n\r\n", methodIs("PATCH")},
		{"TRACE", "TRACE / HTTP/1.1\r\nHost: a\r\n\r\n", methodIs("TRACE")},
		{"extension method", "PROPFIND /dav HTTP/1.1\r\nHost: a\r\n\r\n", methodIs("PROPFIND")},
		{"method with dash", "M-SEARCH / HTTP/1.1\r\nHost: a\r\n\r\n", methodIs("M-SEARCH")},
		{"OPTIONS asterisk", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", func(t *testing.T, r *Request) {
			expect(t, "target", r.Target, "*")
			expectNil(t, "path", r.Path())
		}},
		{"OPTIONS origin-form", "OPTIONS /x HTTP/1.1\r\nHost: a\r\n\r\n", func(t *testing.T, r *Request) {
			expect(t, "path", r.Path(), "/x")
		}},
		{"CONNECT", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", func(t *testing.T, r *Request) {
			expect(t, "authority", r.Authority(), "example.com:443")
			expectNil(t, "path", r.Path())
		}},
		{"CONNECT IPv6", "CONNECT [2001:db8::1]:443 HTTP/1.1\r\nHost: x\r\n\r\n", func(t *testing.T, r *Request) {
			expect(t, "authority", r.Authority(), "[2001:db8::1]:443")
		}},
		{"absolute-form", "GET http://example.com/a/b?q=1 HTTP/1.1\r\nHost: other\r\n\r\n", func(t *testing.T, r *Request) {
			expect(t, "authority", r.Authority(), "example.com")
			expect(t, "host", r.Host, "other")
			expect(t, "path", r.Path(), "/a/b")
		}},
		{"absolute-form https uppercase no path", "GET HTTPS://Example.com:8443 HTTP/1.1\r\nHost: x\r\n\r\n", func(t *testing.T, r *Request) {
			expect(t, "authority", r.Authority(), "Example.com:8443")
			expect(t, "path", r.Path(), "/")
		}},
		{"absolute-form query without path", "GET http://a?x=/y HTTP/1.1\r\nHost: a\r\n\r\n", func(t *testing.T, r *Request) {
			expect(t, "authority", r.Authority(), "a")
			expect(t, "path", r.Path(), "/")
		}},
		{"absolute-form IPv6", "GET http://[::1]:8080/x HTTP/1.1\r\nHost: a\r\n\r\n", func(t *testing.T, r *Request) {
			expect(t, "authority", r.Authority(), "[::1]:8080")
			expect(t, "path", r.Path(), "/x")
		}},
		{"path with query", "GET /a/b?c=d&e=%zz HTTP/1.1\r\nHost: a\r\n\r\n", func(t *testing.T, r *Request) {
			expect(t, "path", r.Path(), "/a/b")
			expect(t, "target", r.Target, "/a/b?c=d&e=%zz")
		}},
		{"path percent-encoded", "GET /a%20b%2F HTTP/1.1\r\nHost: a\r\n\r\n", func(t *testing.T, r *Request) {
			expect(t, "path", r.Path(), "/a%20b%2F")
		}},
		{"path with visible punctuation", "GET /a|b{c}^`\"<>\\ HTTP/1.1\r\nHost: a\r\n\r\n", func(t *testing.T, r *Request) {
			expect(t, "path", r.Path(), "/a|b{c}^`\"<>\\")
		}},
		{"HTTP/1.0 without Host", "GET / HTTP/1.0\r\n\r\n", func(t *testing.T, r *Request) {
			expectNil(t, "host", r.Host)
			expectBool(t, "close", r.Close, true)
			expectBool(t, "keep-alive", r.KeepAlive, false)
			if r.Minor != 0 {
				t.Errorf("minor %d", r.Minor)
			}
		}},
		{"HTTP/1.0 keep-alive", "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", func(t *testing.T, r *Request) {
			expectBool(t, "close", r.Close, false)
			expectBool(t, "keep-alive", r.KeepAlive, true)
		}},
		{"HTTP/1.0 keep-alive and close", "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", func(t *testing.T, r *Request) {
			expectBool(t, "close", r.Close, true)
		}},
		{"HTTP/1.1 close", "GET / HTTP/1.1\r\nHost: a\r\nConnection: CLOSE\r\n\r\n", func(t *testing.T, r *Request) {
			expectBool(t, "close", r.Close, true)
		}},
		{"HTTP/1.1 keep-alive", "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n", func(t *testing.T, r *Request) {
			expectBool(t, "close", r.Close, false)
			expectBool(t, "keep-alive", r.KeepAlive, true)
		}},
		{"Connection empty elements", "GET / HTTP/1.1\r\nHost: a\r\nConnection: , close ,\r\n\r\n", func(t *testing.T, r *Request) {
			expectBool(t, "close", r.Close, true)
		}},
		{"Connection repeated", "GET / HTTP/1.1\r\nHost: a\r\nConnection: x-a\r\nConnection: close\r\n\r\n", func(t *testing.T, r *Request) {
			expectBool(t, "close", r.Close, true)
			expectBool(t, "nominated x-a", r.Nominated([]byte("X-A")), true)
		}},
		{"Upgrade", "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", func(t *testing.T, r *Request) {
			expectBool(t, "conn upgrade", r.ConnUpgrade, true)
			expect(t, "upgrade", r.Upgrade, "websocket")
			expectBool(t, "close", r.Close, false)
		}},
		{"Upgrade without Connection", "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\n\r\n", func(t *testing.T, r *Request) {
			expectBool(t, "conn upgrade", r.ConnUpgrade, false)
			expect(t, "upgrade", r.Upgrade, "h2c")
		}},
		{"no Upgrade", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", func(t *testing.T, r *Request) {
			expectNil(t, "upgrade", r.Upgrade)
		}},
		{"Expect", "PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 5\r\n\r\n", func(t *testing.T, r *Request) {
			expectBool(t, "expect", r.Expect100, true)
		}},
		{"Expect in 1.0 ignored", "PUT / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n", func(t *testing.T, r *Request) {
			expectBool(t, "expect", r.Expect100, false)
		}},
		{"Expect other", "PUT / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n", func(t *testing.T, r *Request) {
			expectBool(t, "expect", r.Expect100, false)
		}},
		{"Nominated", "GET / HTTP/1.1\r\nHost: a\r\nConnection: X-Foo, keep-alive,Upgrade\r\n\r\n", func(t *testing.T, r *Request) {
			for _, n := range []string{"x-foo", "X-FOO", "Keep-Alive", "upgrade"} {
				expectBool(t, "nominated "+n, r.Nominated([]byte(n)), true)
			}
			for _, n := range []string{"X-Bar", "x-fo", "host", ""} {
				expectBool(t, "nominated "+n, r.Nominated([]byte(n)), false)
			}
		}},
		{"value OWS trimmed, obs-text and tabs kept", "GET / HTTP/1.1\r\nHost: a\r\nX-A: \t a\xff\tb c \t\r\n\r\n", func(t *testing.T, r *Request) {
			expect(t, "value", r.Headers[1].Value, "a\xff\tb c")
		}},
		{"empty value", "GET / HTTP/1.1\r\nHost: a\r\nX-Empty:\r\nX-Blank: \t \r\n\r\n", func(t *testing.T, r *Request) {
			expect(t, "empty", r.Headers[1].Value, "")
			expect(t, "blank", r.Headers[2].Value, "")
		}},
		{"names as received, in order", "GET / HTTP/1.1\r\nhost: a\r\nX-b: 1\r\nx-B: 2\r\nACCEPT: */*\r\n\r\n", func(t *testing.T, r *Request) {
			var names []string
			for _, h := range r.Headers {
				names = append(names, string(h.Name)+"="+string(h.Value))
			}
			if got := strings.Join(names, ","); got != "host=a,X-b=1,x-B=2,ACCEPT=*/*" {
				t.Errorf("headers %s", got)
			}
		}},
		{"CL leading zeros", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 007\r\n\r\n", clIs(7)},
		{"CL max int64", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775807\r\n\r\n", clIs(1<<63 - 1)},
		{"CL with OWS", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \t12 \r\n\r\n", clIs(12)},
		{"TE chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", chunkedIs(true)},
		{"TE CHUNKED", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: CHUNKED\r\n\r\n", chunkedIs(true)},
		{"TE gzip, chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip ,\tchunked\r\n\r\n", chunkedIs(true)},
		{"TE across fields", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n", chunkedIs(true)},
		{"Trailer", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTrailer: Grpc-Status, ,X-Checksum\r\n\r\n", chunkedIs(true)},
		{"Host empty", "GET / HTTP/1.1\r\nHost:\r\n\r\n", func(t *testing.T, r *Request) {
			if r.Host == nil || len(r.Host) != 0 {
				t.Errorf("host %q (nil %v), want empty non-nil", r.Host, r.Host == nil)
			}
		}},
		{"Host with port", "GET / HTTP/1.1\r\nHost: EXAMPLE.com:8080\r\n\r\n", hostIs("EXAMPLE.com:8080")},
		{"Host IPv4", "GET / HTTP/1.1\r\nHost: 10.0.0.1:80\r\n\r\n", hostIs("10.0.0.1:80")},
		{"Host IPv6", "GET / HTTP/1.1\r\nHost: [2001:db8::1]\r\n\r\n", hostIs("[2001:db8::1]")},
		{"Host IPv6 port", "GET / HTTP/1.1\r\nHost: [::ffff:10.0.0.1]:65535\r\n\r\n", hostIs("[::ffff:10.0.0.1]:65535")},
		{"Host sub-delims", "GET / HTTP/1.1\r\nHost: a-b_c~d!$&'()*+,;=\r\n\r\n", hostIs("a-b_c~d!$&'()*+,;=")},
		{"Host in 1.0", "GET / HTTP/1.0\r\nHost: a\r\n\r\n", hostIs("a")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Request
			if err := ParseRequest([]byte(tt.head), &r, DefaultLimits()); err != nil {
				t.Fatalf("ParseRequest(%q): %v", tt.head, err)
			}
			tt.check(t, &r)
			if err := checkRequest(&r); err != nil {
				t.Error(err)
			}
			if err := diffRequest([]byte(tt.head), &r); err != nil && simpleTE(r.Headers) {
				t.Error(err)
			}
			for kind, br := range readers(tt.head) {
				var r2 Request
				if err := ReadRequest(br, &r2, DefaultLimits()); err != nil {
					t.Fatalf("ReadRequest(%s): %v", kind, err)
				}
				if err := sameRequest(&r, &r2); err != nil {
					t.Errorf("ReadRequest(%s) differs from ParseRequest: %v", kind, err)
				}
			}
		})
	}
}

func expect(t *testing.T, what string, got []byte, want string) {
	t.Helper()
	if string(got) != want {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

func expectNil(t *testing.T, what string, got []byte) {
	t.Helper()
	if got != nil {
		t.Errorf("%s = %q, want nil", what, got)
	}
}

func expectBool(t *testing.T, what string, got, want bool) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func methodIs(m string) func(*testing.T, *Request) {
	return func(t *testing.T, r *Request) { expect(t, "method", r.Method, m) }
}

func hostIs(h string) func(*testing.T, *Request) {
	return func(t *testing.T, r *Request) {
		expect(t, "host", r.Host, h)
		expect(t, "authority", r.Authority(), h)
	}
}

func clIs(n int64) func(*testing.T, *Request) {
	return func(t *testing.T, r *Request) {
		if r.ContentLength != n || r.Chunked {
			t.Errorf("content length %d chunked %v, want %d", r.ContentLength, r.Chunked, n)
		}
	}
}

func chunkedIs(c bool) func(*testing.T, *Request) {
	return func(t *testing.T, r *Request) {
		if r.Chunked != c || r.ContentLength != -1 || r.HasBody() != c {
			t.Errorf("chunked %v content length %d, want chunked %v", r.Chunked, r.ContentLength, c)
		}
	}
}

// TestReadRequestPipelined reads several requests with bodies from one
// stream, in every buffering, and checks that each head stays intact while
// its body is read through the same reader.
func TestReadRequestPipelined(t *testing.T) {
	stream := "GET /1 HTTP/1.1\r\nHost: one\r\nX-Long: " + strings.Repeat("v", 100) + "\r\n\r\n" +
		"POST /2 HTTP/1.1\r\nHost: two\r\nContent-Length: 5\r\n\r\nhello" +
		"\r\n" + // a stray CRLF after a body, which RFC 9112 §2.2 tolerates
		"PUT /3 HTTP/1.1\r\nHost: three\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n" +
		"GET /4 HTTP/1.0\r\n\r\n"
	want := []struct{ target, host, body string }{
		{"/1", "one", ""}, {"/2", "two", "hello"}, {"/3", "three", "abc"}, {"/4", "", ""},
	}
	for kind, br := range readers(stream) {
		t.Run(kind, func(t *testing.T) {
			var r Request
			var cr ChunkedReader
			for i, w := range want {
				if err := ReadRequest(br, &r, DefaultLimits()); err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				var body []byte
				switch {
				case r.Chunked:
					cr.Reset(br, DefaultLimits())
					b, err := io.ReadAll(&cr)
					if err != nil {
						t.Fatalf("request %d body: %v", i, err)
					}
					body = b
				case r.ContentLength > 0:
					body = make([]byte, r.ContentLength)
					if _, err := io.ReadFull(br, body); err != nil {
						t.Fatalf("request %d body: %v", i, err)
					}
				}
				// The head must have survived the body read.
				expect(t, "target", r.Target, w.target)
				expect(t, "host", r.Host, w.host)
				expect(t, "body", body, w.body)
				if i == 0 {
					expect(t, "x-long", r.Headers[1].Value, strings.Repeat("v", 100))
				}
				if err := checkRequest(&r); err != nil {
					t.Error(err)
				}
			}
			if err := ReadRequest(br, &r, DefaultLimits()); err != io.EOF {
				t.Fatalf("after the last request: %v, want io.EOF", err)
			}
			if r.Partial {
				t.Error("Partial after a clean EOF")
			}
		})
	}
}

// padRequest returns a request whose request line (with its CRLF) is
// lineLen bytes and whose head, without the final empty line, is headLen
// bytes.
func padRequest(t *testing.T, lineLen, headLen int) string {
	t.Helper()
	line := "GET /" + strings.Repeat("a", lineLen-len("GET / HTTP/1.0\r\n")) + " HTTP/1.0\r\n"
	if len(line) != lineLen {
		t.Fatalf("request line %d bytes, want %d", len(line), lineLen)
	}
	head := line
	if rest := headLen - lineLen; rest > 0 {
		head += "X: " + strings.Repeat("b", rest-len("X: \r\n")) + "\r\n"
	}
	if len(head) != headLen {
		t.Fatalf("head %d bytes, want %d", len(head), headLen)
	}
	return head + "\r\n"
}

func TestLimitBoundaries(t *testing.T) {
	lim := Limits{MaxHeaderBytes: 200, MaxHeaders: 3}
	tests := []struct {
		name   string
		head   string
		status int // 0: accepted
	}{
		{"request line at limit", padRequest(t, 200, 200), 0},
		{"request line one over", padRequest(t, 201, 201), 414},
		{"request line far over", padRequest(t, 1000, 1000), 414},
		{"head at limit", padRequest(t, 50, 200), 0},
		{"head one over", padRequest(t, 50, 201), 431},
		{"head far over", padRequest(t, 50, 5000), 431},
		{"fields at limit", "GET / HTTP/1.0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", 0},
		{"fields one over", "GET / HTTP/1.0\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", 431},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Request
			err := ParseRequest([]byte(tt.head), &r, lim)
			if got := max(statusOf(err), 0); got != tt.status {
				t.Errorf("ParseRequest: %v (status %d), want %d", err, got, tt.status)
			}
			for kind, br := range readers(tt.head) {
				err := ReadRequest(br, &r, lim)
				if got := max(statusOf(err), 0); got != tt.status {
					t.Errorf("ReadRequest(%s): %v (status %d), want %d", kind, err, got, tt.status)
				}
				if tt.status == 0 {
					// The whole head was consumed, nothing more.
					if _, err := br.ReadByte(); err != io.EOF {
						t.Errorf("ReadRequest(%s) left data behind: %v", kind, err)
					}
				}
				if cap(r.buf) > lim.MaxHeaderBytes+2+64 {
					t.Errorf("ReadRequest(%s) grew its buffer to %d", kind, cap(r.buf))
				}
			}
		})
	}
}

func TestReadRequestLeadingEmptyLines(t *testing.T) {
	const req = "GET / HTTP/1.1\r\nHost: a\r\n\r\n"
	for n := 0; n <= maxEmptyLines+1; n++ {
		s := strings.Repeat("\r\n", n) + req
		for kind, br := range readers(s) {
			var r Request
			err := ReadRequest(br, &r, DefaultLimits())
			if n <= maxEmptyLines && err != nil {
				t.Errorf("%d empty lines (%s): %v", n, kind, err)
			}
			if n > maxEmptyLines && statusOf(err) != 400 {
				t.Errorf("%d empty lines (%s): %v, want 400", n, kind, err)
			}
		}
	}
	// A bare LF is not an empty line.
	var r Request
	if err := ReadRequest(bufio.NewReader(strings.NewReader("\n"+req)), &r, DefaultLimits()); statusOf(err) != 400 {
		t.Errorf("leading bare LF: %v, want 400", err)
	}
}

// scriptReader returns its chunks one per Read, then err.
type scriptReader struct {
	chunks []string
	err    error
}

func (s *scriptReader) Read(p []byte) (int, error) {
	if len(s.chunks) == 0 {
		return 0, s.err
	}
	n := copy(p, s.chunks[0])
	s.chunks[0] = s.chunks[0][n:]
	if s.chunks[0] == "" {
		s.chunks = s.chunks[1:]
	}
	return n, nil
}

func TestReadRequestEOFAndPartial(t *testing.T) {
	timeout := os.ErrDeadlineExceeded
	tests := []struct {
		name    string
		chunks  []string
		err     error
		want    error
		partial bool
	}{
		{"closed before any byte", nil, io.EOF, io.EOF, false},
		{"closed after empty lines", []string{"\r\n", "\r\n"}, io.EOF, io.EOF, false},
		{"closed mid request line", []string{"GET / HT"}, io.EOF, io.ErrUnexpectedEOF, true},
		{"closed mid fields", []string{"GET / HTTP/1.1\r\n", "Host: a\r\n"}, io.EOF, io.ErrUnexpectedEOF, true},
		{"closed after CR of the end", []string{"GET / HTTP/1.1\r\nHost: a\r\n\r"}, io.EOF, io.ErrUnexpectedEOF, true},
		{"closed after a lone CR", []string{"\r"}, io.EOF, io.ErrUnexpectedEOF, true},
		{"idle timeout", nil, timeout, timeout, false},
		{"timeout after empty line", []string{"\r\n"}, timeout, timeout, false},
		{"timeout mid head", []string{"GET / HTTP/1.1\r\nHo"}, timeout, timeout, true},
		{"timeout after one byte", []string{"G"}, timeout, timeout, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, size := range []int{16, 4096} {
				chunks := append([]string(nil), tt.chunks...)
				br := bufio.NewReaderSize(&scriptReader{chunks: chunks, err: tt.err}, size)
				var r Request
				err := ReadRequest(br, &r, DefaultLimits())
				if !errors.Is(err, tt.want) || err != tt.want {
					t.Errorf("buffer %d: err %v, want %v unchanged", size, err, tt.want)
				}
				if r.Partial != tt.partial {
					t.Errorf("buffer %d: Partial %v, want %v", size, r.Partial, tt.partial)
				}
			}
		})
	}
}

func TestRequestReuseKeepsNoStaleState(t *testing.T) {
	var r Request
	first := "POST http://a/x HTTP/1.1\r\nHost: a\r\nConnection: close, x-a\r\nUpgrade: w\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n"
	if err := ParseRequest([]byte(first), &r, DefaultLimits()); err != nil {
		t.Fatal(err)
	}
	if err := ParseRequest([]byte("GET / HTTP/1.1\r\nHost: b\r\n\r\n"), &r, DefaultLimits()); err != nil {
		t.Fatal(err)
	}
	if r.Close || r.Upgrade != nil || r.Expect100 || r.ContentLength != -1 || r.Nominated([]byte("x-a")) ||
		len(r.Headers) != 1 || string(r.Authority()) != "b" || string(r.Path()) != "/" || r.Partial {
		t.Errorf("stale state after reuse: %s headers=%d authority=%q", flags(&r), len(r.Headers), r.Authority())
	}
}

func TestReadRequestAllocs(t *testing.T) {
	src := []byte(benchRequest)
	rd := bytes.NewReader(src)
	br := bufio.NewReader(rd)
	var r Request
	run := func() {
		rd.Reset(src)
		br.Reset(rd)
		if err := ReadRequest(br, &r, DefaultLimits()); err != nil {
			t.Fatal(err)
		}
	}
	run() // warm up the buffers
	if n := testing.AllocsPerRun(100, run); n != 0 {
		t.Errorf("ReadRequest: %v allocs per request, want 0", n)
	}
	bad := []byte("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 2\r\n\r\n")
	if n := testing.AllocsPerRun(100, func() { _ = ParseRequest(bad, &r, DefaultLimits()) }); n != 0 {
		t.Errorf("rejecting a request: %v allocs, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { _ = r.Path(); _ = r.Nominated([]byte("x")) }); n != 0 {
		t.Errorf("Path/Nominated: %v allocs, want 0", n)
	}
}

func TestEqualFold(t *testing.T) {
	tests := []struct {
		b, s string
		want bool
	}{
		{"Content-Length", "content-length", true},
		{"CONTENT-LENGTH", "content-length", true},
		{"content-lengt", "content-length", false},
		{"@", "`", false}, // differ only in bit 0x20 but are not letters
		{"[", "{", false},
		{"\xc9", "\xe9", false},
		{"", "", true},
	}
	for _, tt := range tests {
		if got := EqualFold([]byte(tt.b), tt.s); got != tt.want {
			t.Errorf("EqualFold(%q, %q) = %v, want %v", tt.b, tt.s, got, tt.want)
		}
	}
}
