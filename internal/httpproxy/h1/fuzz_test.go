package h1

import (
	"bufio"
	"bytes"
	"io"
	"math/rand/v2"
	"net/http/httputil"
	"testing"
	"testing/iotest"
)

// requestSeeds are valid and invalid heads to start the fuzzer from.
func requestSeeds() []string {
	seeds := []string{
		benchRequest,
		"GET / HTTP/1.0\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
		"GET / HTTP/1.1\r\nHost : a\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n c\r\n\r\n",
		"GET / HTTP/1.1\nHost: a\n\n",
		"GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n",
		"GET http://[::1]:80/a?b HTTP/1.1\r\nHost: x\r\n\r\n",
		"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n",
		"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /%zz HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET / HTTP/2.0\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: a\r\nTrailer: Content-Length\r\nTransfer-Encoding: chunked\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nConnection: close, x-a\r\nUpgrade: websocket\r\nExpect: 100-continue\r\n\r\n",
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for range 30 {
		seeds = append(seeds, genRequest(rng))
	}
	return seeds
}

// FuzzParseRequest checks that the parser never panics, that everything it
// accepts keeps the invariants, reads the same through every buffering,
// survives a canonical re-serialization, and is accepted and read alike by
// net/http (h1 is a strict subset of net/http).
func FuzzParseRequest(f *testing.F) {
	for _, s := range requestSeeds() {
		f.Add([]byte(s))
	}
	lim := Limits{MaxHeaderBytes: 4096, MaxHeaders: 32}
	f.Fuzz(func(t *testing.T, data []byte) {
		var r Request
		err := ParseRequest(data, &r, lim)

		// The reading path: it may differ only by skipping leading empty
		// lines, stopping at the first empty line, or reporting a cut head.
		var r2 Request
		br := bufio.NewReaderSize(iotest.HalfReader(bytes.NewReader(data)), 16)
		err2 := ReadRequest(br, &r2, lim)
		_, restErr := br.ReadByte()
		consumedAll := restErr == io.EOF
		if err2 != nil && statusOf(err2) < 0 && err2 != io.EOF && err2 != io.ErrUnexpectedEOF {
			t.Fatalf("ReadRequest: unexpected error type %T %v", err2, err2)
		}
		if err2 == nil && consumedAll && !bytes.HasPrefix(data, []byte("\r\n")) && err != nil {
			t.Fatalf("ReadRequest accepts %q but ParseRequest rejects: %v", data, err)
		}

		if err != nil {
			switch statusOf(err) {
			case 400, 414, 431, 505:
			default:
				t.Fatalf("ParseRequest: unexpected error %T %v", err, err)
			}
			return
		}
		if err := checkRequest(&r); err != nil {
			t.Fatalf("%q: %v", data, err)
		}
		if err2 != nil || !consumedAll {
			t.Fatalf("ParseRequest accepts %q but ReadRequest: %v (consumed all: %v)", data, err2, consumedAll)
		}
		if err := sameRequest(&r, &r2); err != nil {
			t.Fatalf("%q: ReadRequest differs: %v", data, err)
		}
		// Re-serialized canonically, the request must read the same.
		var r3 Request
		canon := serializeRequest(&r)
		if err := ParseRequest(canon, &r3, Limits{MaxHeaderBytes: 3 * len(canon), MaxHeaders: lim.MaxHeaders}); err != nil {
			t.Fatalf("canonical form %q of %q rejected: %v", canon, data, err)
		}
		if err := sameRequest(&r, &r3); err != nil {
			t.Fatalf("canonical form of %q differs: %v", data, err)
		}
		if simpleTE(r.Headers) {
			if err := diffRequest(data, &r); err != nil {
				t.Fatalf("%q: %v", data, err)
			}
		}
	})
}

// FuzzParseResponse checks the response parser the same way, against
// http.ReadResponse for both a GET and a HEAD request.
func FuzzParseResponse(f *testing.F) {
	seeds := []string{
		benchResponse,
		"HTTP/1.1 200\r\n\r\n",
		"HTTP/1.0 200 OK\r\n\r\n",
		"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n",
		"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
		"HTTP/1.1 200 OK\nContent-Length: 1\n\n",
		"HTTP/1.1 999 Odd\r\n\r\n",
		"HTTP/1.1 200 OK\r\nConnection: close\r\nPragma: no-cache\r\n\r\n",
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for range 30 {
		seeds = append(seeds, genResponse(rng))
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	lim := Limits{MaxHeaderBytes: 4096, MaxHeaders: 32}
	f.Fuzz(func(t *testing.T, data []byte) {
		var r Response
		err := ParseResponse(data, &r, lim)
		var r2 Response
		br := bufio.NewReaderSize(iotest.HalfReader(bytes.NewReader(data)), 16)
		err2 := ReadResponse(br, &r2, lim)
		if err2 != nil && statusOf(err2) != 502 && err2 != io.EOF && err2 != io.ErrUnexpectedEOF {
			t.Fatalf("ReadResponse: unexpected error %T %v", err2, err2)
		}
		if err != nil {
			if statusOf(err) != 502 {
				t.Fatalf("ParseResponse: unexpected error %T %v", err, err)
			}
			return
		}
		if err := checkResponse(&r); err != nil {
			t.Fatalf("%q: %v", data, err)
		}
		if err2 != nil {
			t.Fatalf("ParseResponse accepts %q but ReadResponse: %v", data, err2)
		}
		f1, n1 := r.Framing(false)
		f2, n2 := r2.Framing(false)
		if r.Status != r2.Status || r.Close != r2.Close || f1 != f2 || n1 != n2 || len(r.Headers) != len(r2.Headers) {
			t.Fatalf("%q: ReadResponse differs from ParseResponse", data)
		}
		if f1 == Length && n1 < 0 || f1 == Chunked && !r.Chunked {
			t.Fatalf("%q: framing %v %d", data, f1, n1)
		}
		if simpleTE(r.Headers) {
			for _, head := range []bool{false, true} {
				if err := diffResponse(data, &r, head); err != nil {
					t.Fatalf("%q (HEAD %v): %v", data, head, err)
				}
			}
		}
	})
}

// FuzzChunked decodes arbitrary bodies. Whatever it accepts must re-encode
// and decode to the same data and trailers, and match net/http's decoder
// whenever that one accepts too.
func FuzzChunked(f *testing.F) {
	seeds := []string{
		"3\r\nabc\r\n0\r\n\r\n",
		"3;a=b;c=\"d\\\"e\"\r\nabc\r\n0;x\r\nT: 1\r\nU:\t2\r\n\r\n",
		"0000000000000003\r\nabc\r\n0\r\n\r\n",
		"00000000000000003\r\nabc\r\n0\r\n\r\n",
		"8000000000000000\r\n",
		"3 \r\nabc\r\n0\r\n\r\n",
		"3\nabc\n0\n\n",
		"3\r\nabcd\r\n0\r\n\r\n",
		"0\r\nContent-Length: 5\r\n\r\n",
		"0\r\nX: a\r\n b\r\n\r\n",
		"1\r\nx\r\n1\r\ny\r\n0\r\n\r\ntrailing",
	}
	for _, s := range seeds {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	lim := Limits{MaxHeaderBytes: 1024, MaxHeaders: 16}
	f.Fuzz(func(t *testing.T, data []byte, small bool) {
		var br *bufio.Reader
		if small {
			br = bufio.NewReaderSize(iotest.OneByteReader(bytes.NewReader(data)), 16)
		} else {
			br = bufio.NewReader(bytes.NewReader(data))
		}
		var cr ChunkedReader
		cr.Reset(br, lim)
		got, err := io.ReadAll(&cr)
		if err != nil {
			if statusOf(err) != 400 && err != io.ErrUnexpectedEOF {
				t.Fatalf("unexpected error %T %v", err, err)
			}
			return
		}
		if len(got) > len(data) {
			t.Fatalf("decoded %d bytes from %d", len(got), len(data))
		}
		trailers := cr.Trailers()
		for _, h := range trailers {
			if !isToken(h.Name) || hasBadByte(h.Value) || forbiddenTrailer(h.Name) {
				t.Fatalf("bad trailer %q: %q", h.Name, h.Value)
			}
		}

		// Round trip through the writer, split into a few chunks.
		var enc bytes.Buffer
		bw := bufio.NewWriter(&enc)
		var cw ChunkedWriter
		cw.Reset(bw)
		for rest := got; len(rest) > 0; {
			n := min(len(rest), 1+len(rest)/3)
			if _, err := cw.Write(rest[:n]); err != nil {
				t.Fatal(err)
			}
			rest = rest[n:]
		}
		if err := cw.Close(trailers); err != nil {
			t.Fatalf("re-encoding trailers %q: %v", trailers, err)
		}
		_ = bw.Flush()
		var cr2 ChunkedReader
		cr2.Reset(bufio.NewReader(&enc), lim)
		again, err := io.ReadAll(&cr2)
		if err != nil || !bytes.Equal(again, got) || len(cr2.Trailers()) != len(trailers) {
			t.Fatalf("round trip: %q, %v, %d trailers; want %q, %d", again, err, len(cr2.Trailers()), got, len(trailers))
		}

		// net/http's decoder is laxer in syntax but refuses chunk lines of
		// 4 KiB or more, so only its successes are compared.
		theirs, err := io.ReadAll(httputil.NewChunkedReader(bufio.NewReader(bytes.NewReader(data))))
		if err == nil && !bytes.Equal(theirs, got) {
			t.Fatalf("net/http decodes %q, h1 %q", theirs, got)
		}
	})
}
