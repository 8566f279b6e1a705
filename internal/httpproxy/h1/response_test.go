package h1

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestParseResponseRejects(t *testing.T) {
	const ok = "HTTP/1.1 200 OK\r\n"
	tests := []struct{ name, head string }{
		{"CL+TE", ok + "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"},
		{"CL+TE other coding", ok + "Content-Length: 3\r\nTransfer-Encoding: gzip\r\n\r\n"},
		{"CL list 3, 4", ok + "Content-Length: 3, 4\r\n\r\n"},
		{"CL twice same", ok + "Content-Length: 3\r\nContent-Length: 3\r\n\r\n"},
		{"CL +3", ok + "Content-Length: +3\r\n\r\n"},
		{"CL empty", ok + "Content-Length:\r\n\r\n"},
		{"CL overflow", ok + "Content-Length: 99999999999999999999\r\n\r\n"},
		{"TE chunked twice", ok + "Transfer-Encoding: chunked, chunked\r\n\r\n"},
		{"TE chunked not last", ok + "Transfer-Encoding: chunked, gzip\r\n\r\n"},
		{"TE empty", ok + "Transfer-Encoding:\r\n\r\n"},
		{"TE in 1.0", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"},
		{"space before colon", ok + "Content-Type : text/plain\r\n\r\n"},
		{"obs-fold", ok + "X-A: b\r\n c\r\n\r\n"},
		{"bare CR in value", ok + "X-A: b\rc\r\n\r\n"},
		{"NUL in value", ok + "X-A: \x00\r\n\r\n"},
		{"LF-only line", "HTTP/1.1 200 OK\nX-A: b\r\n\r\n"},
		{"LF-only end", ok + "X-A: b\r\n\n"},
		{"empty field name", ok + ": b\r\n\r\n"},
		{"bad byte in name", ok + "X(A): b\r\n\r\n"},
		{"two Upgrade fields", ok + "Upgrade: a\r\nUpgrade: b\r\n\r\n"},
		{"Connection nominates Content-Length", ok + "Connection: Content-Length\r\n\r\n"},
		{"Trailer names Transfer-Encoding", ok + "Trailer: Transfer-Encoding\r\n\r\n"},
		{"HTTP/2.0", "HTTP/2.0 200 OK\r\n\r\n"},
		{"HTTP/1.2", "HTTP/1.2 200 OK\r\n\r\n"},
		{"lowercase version", "http/1.1 200 OK\r\n\r\n"},
		{"no status", "HTTP/1.1\r\n\r\n"},
		{"no space before status", "HTTP/1.1200 OK\r\n\r\n"},
		{"two spaces before status", "HTTP/1.1  200 OK\r\n\r\n"},
		{"two-digit status", "HTTP/1.1 20 OK\r\n\r\n"},
		{"four-digit status", "HTTP/1.1 2000 OK\r\n\r\n"},
		{"status 099", "HTTP/1.1 099 Odd\r\n\r\n"},
		{"status 600", "HTTP/1.1 600 Odd\r\n\r\n"},
		{"status with letters", "HTTP/1.1 2x0 OK\r\n\r\n"},
		{"tab after status", "HTTP/1.1 200\tOK\r\n\r\n"},
		{"bare CR in reason", "HTTP/1.1 200 O\rK\r\n\r\n"},
		{"NUL in reason", "HTTP/1.1 200 O\x00K\r\n\r\n"},
		{"empty status line", "\r\n\r\n"},
		{"no empty line", ok},
		{"data after head", ok + "\r\nbody"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Response
			err := ParseResponse([]byte(tt.head), &r, DefaultLimits())
			if got := statusOf(err); got != 502 {
				t.Fatalf("ParseResponse(%q) = %v (status %d), want 502", tt.head, err, got)
			}
			if tt.name == "no empty line" || tt.name == "data after head" {
				return
			}
			for kind, br := range readers(tt.head) {
				if err := ReadResponse(br, &r, DefaultLimits()); statusOf(err) != 502 {
					t.Errorf("ReadResponse(%s) = %v, want status 502", kind, err)
				}
			}
		})
	}
}

func TestParseResponseAccepts(t *testing.T) {
	tests := []struct {
		name        string
		head        string
		headRequest bool
		status      int
		reason      string
		framing     Framing
		length      int64
		close       bool
	}{
		{"200 with length", "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n", false, 200, "OK", Length, 12, false},
		{"200 empty length", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false, 200, "OK", Length, 0, false},
		{"200 chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", false, 200, "OK", Chunked, -1, false},
		{"200 gzip, chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", false, 200, "OK", Chunked, -1, false},
		{"200 TE not chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", false, 200, "OK", UntilClose, -1, false},
		{"200 no framing", "HTTP/1.1 200 OK\r\n\r\n", false, 200, "OK", UntilClose, -1, false},
		{"200 to HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n", true, 200, "OK", NoBody, 0, false},
		{"chunked to HEAD", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", true, 200, "OK", NoBody, 0, false},
		{"204", "HTTP/1.1 204 No Content\r\n\r\n", false, 204, "No Content", NoBody, 0, false},
		{"204 with length", "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", false, 204, "No Content", NoBody, 0, false},
		{"304", "HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n", false, 304, "Not Modified", NoBody, 0, false},
		{"100", "HTTP/1.1 100 Continue\r\n\r\n", false, 100, "Continue", NoBody, 0, false},
		{"101", "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", false, 101, "Switching Protocols", NoBody, 0, false},
		{"no reason", "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", false, 200, "", Length, 0, false},
		{"empty reason", "HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n", false, 404, "", Length, 0, false},
		{"reason with spaces and obs-text", "HTTP/1.1 500 Erreur \xe9 interne \r\nContent-Length: 0\r\n\r\n", false, 500, "Erreur \xe9 interne ", Length, 0, false},
		{"close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\n", false, 200, "OK", Length, 1, true},
		{"HTTP/1.0", "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", false, 200, "OK", Length, 1, true},
		{"HTTP/1.0 keep-alive", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n", false, 200, "OK", Length, 1, false},
		{"599", "HTTP/1.1 599 X\r\nContent-Length: 0\r\n\r\n", false, 599, "X", Length, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Response
			if err := ParseResponse([]byte(tt.head), &r, DefaultLimits()); err != nil {
				t.Fatalf("ParseResponse(%q): %v", tt.head, err)
			}
			fr, n := r.Framing(tt.headRequest)
			if r.Status != tt.status || string(r.Reason) != tt.reason || fr != tt.framing || n != tt.length || r.Close != tt.close {
				t.Errorf("got %d %q %v %d close=%v, want %d %q %v %d close=%v",
					r.Status, r.Reason, fr, n, r.Close, tt.status, tt.reason, tt.framing, tt.length, tt.close)
			}
			if err := checkResponse(&r); err != nil {
				t.Error(err)
			}
			if simpleTE(r.Headers) {
				if err := diffResponse([]byte(tt.head), &r, tt.headRequest); err != nil {
					t.Error(err)
				}
			}
			for kind, br := range readers(tt.head) {
				var r2 Response
				if err := ReadResponse(br, &r2, DefaultLimits()); err != nil {
					t.Fatalf("ReadResponse(%s): %v", kind, err)
				}
				fr2, n2 := r2.Framing(tt.headRequest)
				if r2.Status != r.Status || !bytes.Equal(r2.Reason, r.Reason) || fr2 != fr || n2 != n || len(r2.Headers) != len(r.Headers) {
					t.Errorf("ReadResponse(%s) differs from ParseResponse", kind)
				}
			}
		})
	}
}

func TestResponseUpgradeAndNominated(t *testing.T) {
	var r Response
	head := "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade, X-Hop\r\nUpgrade: websocket\r\n\r\n"
	if err := ParseResponse([]byte(head), &r, DefaultLimits()); err != nil {
		t.Fatal(err)
	}
	expectBool(t, "conn upgrade", r.ConnUpgrade, true)
	expect(t, "upgrade", r.Upgrade, "websocket")
	expectBool(t, "nominated x-hop", r.Nominated([]byte("x-hop")), true)
	expectBool(t, "nominated x-other", r.Nominated([]byte("x-other")), false)
}

func TestReadResponseEOF(t *testing.T) {
	var r Response
	if err := ReadResponse(bufio.NewReader(strings.NewReader("")), &r, DefaultLimits()); err != io.EOF {
		t.Errorf("empty: %v, want io.EOF", err)
	}
	for _, s := range []string{"HTTP/1.1 2", "HTTP/1.1 200 OK\r\n", "HTTP/1.1 200 OK\r\nA: b\r\n\r"} {
		br := bufio.NewReader(iotest.OneByteReader(strings.NewReader(s)))
		if err := ReadResponse(br, &r, DefaultLimits()); err != io.ErrUnexpectedEOF {
			t.Errorf("%q: %v, want io.ErrUnexpectedEOF", s, err)
		}
	}
}

func TestReadResponseLimits(t *testing.T) {
	lim := Limits{MaxHeaderBytes: 100, MaxHeaders: 2}
	status := "HTTP/1.1 200 OK\r\n" // 17 bytes
	field := func(n int) string { return "X: " + strings.Repeat("v", n-5) + "\r\n" }
	tests := []struct {
		name string
		head string
		ok   bool
	}{
		{"at limit", status + field(83) + "\r\n", true},
		{"one over", status + field(84) + "\r\n", false},
		{"status line over", "HTTP/1.1 200 " + strings.Repeat("r", 100) + "\r\n\r\n", false},
		{"fields at limit", status + "A: 1\r\nB: 2\r\n\r\n", true},
		{"fields over", status + "A: 1\r\nB: 2\r\nC: 3\r\n\r\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for kind, br := range readers(tt.head) {
				var r Response
				err := ReadResponse(br, &r, lim)
				if tt.ok != (err == nil) || (err != nil && statusOf(err) != 502) {
					t.Errorf("%s: %v, want ok=%v or 502", kind, err, tt.ok)
				}
			}
		})
	}
}

func TestFramingString(t *testing.T) {
	for f, want := range map[Framing]string{NoBody: "none", Length: "length", Chunked: "chunked", UntilClose: "until-close", 9: "unknown"} {
		if f.String() != want {
			t.Errorf("%d.String() = %q, want %q", f, f.String(), want)
		}
	}
}

func TestReadResponseAllocs(t *testing.T) {
	src := []byte(benchResponse)
	rd := bytes.NewReader(src)
	br := bufio.NewReader(rd)
	var r Response
	run := func() {
		rd.Reset(src)
		br.Reset(rd)
		if err := ReadResponse(br, &r, DefaultLimits()); err != nil {
			t.Fatal(err)
		}
	}
	run()
	if n := testing.AllocsPerRun(100, run); n != 0 {
		t.Errorf("ReadResponse: %v allocs per response, want 0", n)
	}
}
