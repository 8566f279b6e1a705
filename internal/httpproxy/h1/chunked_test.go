package h1

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// decodeChunked reads a whole chunked body from s through br (built by mk)
// and returns the data, the trailers and what follows the body.
func decodeChunked(s string, mk func(io.Reader) *bufio.Reader, lim Limits) (data string, trailers []Header, rest string, err error) {
	br := mk(strings.NewReader(s))
	var cr ChunkedReader
	cr.Reset(br, lim)
	b, err := io.ReadAll(&cr)
	if err != nil {
		return string(b), nil, "", err
	}
	tail, _ := io.ReadAll(br)
	return string(b), cr.Trailers(), string(tail), nil
}

var chunkedReaders = map[string]func(io.Reader) *bufio.Reader{
	"whole":    func(r io.Reader) *bufio.Reader { return bufio.NewReaderSize(r, 64<<10) },
	"one-byte": func(r io.Reader) *bufio.Reader { return bufio.NewReader(iotest.OneByteReader(r)) },
	"small":    func(r io.Reader) *bufio.Reader { return bufio.NewReaderSize(r, 16) },
	"half":     func(r io.Reader) *bufio.Reader { return bufio.NewReaderSize(iotest.HalfReader(r), 16) },
}

func TestChunkedRoundTrip(t *testing.T) {
	payloads := [][]string{
		nil,
		{"a"},
		{"hello", " ", "world"},
		{strings.Repeat("x", 15), strings.Repeat("y", 16), strings.Repeat("z", 17)},
		{strings.Repeat("\x00\r\n", 5000)}, // data may hold anything
		{strings.Repeat("q", 70000), "", "r"},
	}
	trailerSets := [][]Header{
		nil,
		{{Name: []byte("Grpc-Status"), Value: []byte("0")}},
		{{Name: []byte("X-A"), Value: []byte("1")}, {Name: []byte("x-b"), Value: []byte("two words\xff")}},
	}
	for pi, chunks := range payloads {
		for ti, trailers := range trailerSets {
			var enc bytes.Buffer
			bw := bufio.NewWriterSize(&enc, 16)
			var cw ChunkedWriter
			cw.Reset(bw)
			var want strings.Builder
			for _, c := range chunks {
				n, err := cw.Write([]byte(c))
				if err != nil || n != len(c) {
					t.Fatalf("Write: %d, %v", n, err)
				}
				want.WriteString(c)
			}
			if err := cw.Close(trailers); err != nil {
				t.Fatal(err)
			}
			if err := bw.Flush(); err != nil {
				t.Fatal(err)
			}
			stream := enc.String() + "NEXT"
			for kind, mk := range chunkedReaders {
				data, got, rest, err := decodeChunked(stream, mk, DefaultLimits())
				if err != nil {
					t.Fatalf("payload %d trailers %d (%s): %v", pi, ti, kind, err)
				}
				if data != want.String() {
					t.Errorf("payload %d (%s): data differs (%d bytes, want %d)", pi, kind, len(data), want.Len())
				}
				if rest != "NEXT" {
					t.Errorf("payload %d (%s): left %q after the body, want NEXT", pi, kind, rest)
				}
				if len(got) != len(trailers) {
					t.Fatalf("payload %d (%s): %d trailers, want %d", pi, kind, len(got), len(trailers))
				}
				for i := range got {
					if !bytes.Equal(got[i].Name, trailers[i].Name) || !bytes.Equal(got[i].Value, trailers[i].Value) {
						t.Errorf("trailer %d: %q: %q, want %q: %q", i, got[i].Name, got[i].Value, trailers[i].Name, trailers[i].Value)
					}
				}
			}
		}
	}
}

func TestChunkedWriterFormat(t *testing.T) {
	var enc bytes.Buffer
	bw := bufio.NewWriter(&enc)
	var cw ChunkedWriter
	cw.Reset(bw)
	_, _ = cw.Write([]byte("abc"))
	_, _ = cw.Write(nil) // writes nothing: an empty chunk would end the body
	_, _ = cw.Write(bytes.Repeat([]byte("x"), 255))
	if err := cw.Close([]Header{{Name: []byte("T"), Value: []byte("v")}}); err != nil {
		t.Fatal(err)
	}
	_ = bw.Flush()
	want := "3\r\nabc\r\nff\r\n" + strings.Repeat("x", 255) + "\r\n0\r\nT: v\r\n\r\n"
	if enc.String() != want {
		t.Errorf("encoded %q, want %q", enc.String(), want)
	}
	if _, err := cw.Write([]byte("late")); err == nil {
		t.Error("Write after Close succeeded")
	}
	if err := cw.Close(nil); err == nil {
		t.Error("second Close succeeded")
	}
}

func TestChunkedWriterRejectsBadTrailers(t *testing.T) {
	bad := []Header{
		{Name: []byte("X-A"), Value: []byte("a\r\nInjected: 1")},
		{Name: []byte("X-A"), Value: []byte("a\x00")},
		{Name: []byte("X A"), Value: []byte("a")},
		{Name: []byte(""), Value: []byte("a")},
		{Name: []byte("Content-Length"), Value: []byte("5")},
	}
	for _, h := range bad {
		var enc bytes.Buffer
		bw := bufio.NewWriter(&enc)
		var cw ChunkedWriter
		cw.Reset(bw)
		if err := cw.Close([]Header{h}); err == nil {
			t.Errorf("Close accepted trailer %q: %q", h.Name, h.Value)
		}
		_ = bw.Flush()
		if enc.Len() != 0 {
			t.Errorf("Close wrote %q for a rejected trailer", enc.String())
		}
	}
}

func TestChunkedRejects(t *testing.T) {
	ext4096 := ";" + strings.Repeat("e", maxChunkExtBytes-1)
	tests := []struct {
		name string
		body string
	}{
		{"empty size", "\r\nabc\r\n0\r\n\r\n"},
		{"sign", "+3\r\nabc\r\n0\r\n\r\n"},
		{"minus", "-3\r\nabc\r\n0\r\n\r\n"},
		{"0x prefix", "0x3\r\nabc\r\n0\r\n\r\n"},
		{"leading space", " 3\r\nabc\r\n0\r\n\r\n"},
		{"trailing space", "3 \r\nabc\r\n0\r\n\r\n"},
		{"tab", "3\t\r\nabc\r\n0\r\n\r\n"},
		{"space before extension", "3 ;a\r\nabc\r\n0\r\n\r\n"},
		{"non-hex", "3g\r\nabc\r\n0\r\n\r\n"},
		{"17 hex digits", "00000000000000003\r\nabc\r\n0\r\n\r\n"},
		{"int64 overflow", "8000000000000000\r\n"},
		{"bare LF after size", "3\nabc\r\n0\r\n\r\n"},
		{"bare CR after size", "3\rabc\r\n0\r\n\r\n"},
		{"data too long", "3\r\nabcd\r\n0\r\n\r\n"},
		{"data too short", "3\r\nab\r\n0\r\n\r\n"},
		{"data followed by LF", "3\r\nabc\n0\r\n\r\n"},
		{"data followed by CR only", "3\r\nabc\r0\r\n\r\n"},
		{"data followed by nothing valid", "3\r\nabcXY0\r\n\r\n"},
		{"empty extension", "3;\r\nabc\r\n0\r\n\r\n"},
		{"extension without name", "3;=v\r\nabc\r\n0\r\n\r\n"},
		{"extension empty value", "3;a=\r\nabc\r\n0\r\n\r\n"},
		{"extension bad byte", "3;a=b@c\r\nabc\r\n0\r\n\r\n"},
		{"extension space", "3;a = b\r\nabc\r\n0\r\n\r\n"},
		{"extension unterminated quote", "3;a=\"b\r\nabc\r\n0\r\n\r\n"},
		{"extension junk after quote", "3;a=\"b\"c\r\nabc\r\n0\r\n\r\n"},
		{"extension NUL in quote", "3;a=\"b\x00\"\r\nabc\r\n0\r\n\r\n"},
		{"extension too long", "3" + ext4096 + "e\r\nabc\r\n0\r\n\r\n"},
		{"extension too long on last chunk", "0" + ext4096 + "e\r\n\r\n"},
		{"last chunk with LF", "0\n\r\n"},
		{"missing final CRLF", "0\r\nX: 1\r\nY"},
		{"final LF only", "0\r\n\n"},
		{"trailer obs-fold", "0\r\nX: 1\r\n 2\r\n\r\n"},
		{"trailer space before colon", "0\r\nX : 1\r\n\r\n"},
		{"trailer bare CR", "0\r\nX: 1\r2\r\n\r\n"},
		{"trailer NUL", "0\r\nX: \x00\r\n\r\n"},
		{"trailer LF-only", "0\r\nX: 1\n\r\n"},
		{"trailer no colon", "0\r\nX\r\n\r\n"},
		{"trailer Content-Length", "0\r\nContent-Length: 5\r\n\r\n"},
		{"trailer Transfer-Encoding", "0\r\ntransfer-encoding: chunked\r\n\r\n"},
		{"trailer Host", "0\r\nHost: evil\r\n\r\n"},
		{"trailer Trailer", "0\r\nTrailer: X\r\n\r\n"},
		{"trailers too many", "0\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n"},
		{"trailers too large", "0\r\nA: " + strings.Repeat("v", 200) + "\r\n\r\n"},
	}
	lim := Limits{MaxHeaderBytes: 100, MaxHeaders: 3}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for kind, mk := range chunkedReaders {
				_, _, _, err := decodeChunked(tt.body, mk, lim)
				if tt.name == "missing final CRLF" {
					if err != io.ErrUnexpectedEOF {
						t.Errorf("%s: %v, want io.ErrUnexpectedEOF", kind, err)
					}
					continue
				}
				if statusOf(err) != 400 {
					t.Errorf("%s: %v, want a 400 *Error", kind, err)
				}
			}
		})
	}
}

func TestChunkedAccepts(t *testing.T) {
	ext4096 := ";" + strings.Repeat("e", maxChunkExtBytes-1)
	tests := []struct{ name, body, data string }{
		{"plain", "3\r\nabc\r\n0\r\n\r\n", "abc"},
		{"upper hex", "A\r\n0123456789\r\n0\r\n\r\n", "0123456789"},
		{"leading zeros", "0003\r\nabc\r\n000\r\n\r\n", "abc"},
		{"16 hex digits", "0000000000000003\r\nabc\r\n0\r\n\r\n", "abc"},
		{"extension", "3;name\r\nabc\r\n0\r\n\r\n", "abc"},
		{"extension token value", "3;name=value;other=1\r\nabc\r\n0;last=yes\r\n\r\n", "abc"},
		{"extension quoted value", "3;q=\"a \\\" b;c\"\r\nabc\r\n0\r\n\r\n", "abc"},
		{"extension at limit", "3" + ext4096 + "\r\nabc\r\n0" + ext4096 + "\r\n\r\n", "abc"},
		{"trailers", "3\r\nabc\r\n0\r\nA: 1\r\nB:\t2 \r\n\r\n", "abc"},
		{"empty body", "0\r\n\r\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for kind, mk := range chunkedReaders {
				data, _, rest, err := decodeChunked(tt.body+"tail", mk, DefaultLimits())
				if err != nil || data != tt.data || rest != "tail" {
					t.Errorf("%s: %q, rest %q, %v; want %q", kind, data, rest, err, tt.data)
				}
			}
		})
	}
}

func TestChunkedTruncated(t *testing.T) {
	full := "5;x=y\r\nhello\r\n0\r\nA: 1\r\n\r\n"
	for i := 0; i < len(full); i++ {
		_, _, _, err := decodeChunked(full[:i], chunkedReaders["one-byte"], DefaultLimits())
		if err != io.ErrUnexpectedEOF {
			t.Errorf("truncated at %d (%q): %v, want io.ErrUnexpectedEOF", i, full[:i], err)
		}
	}
}

func TestChunkedReaderStickyAndReuse(t *testing.T) {
	var cr ChunkedReader
	cr.Reset(bufio.NewReader(strings.NewReader("zz\r\n")), DefaultLimits())
	buf := make([]byte, 8)
	_, err1 := cr.Read(buf)
	_, err2 := cr.Read(buf)
	if statusOf(err1) != 400 || !errors.Is(err2, err1) {
		t.Errorf("errors %v then %v, want the same 400 twice", err1, err2)
	}
	// Reset clears the error and the trailers of the previous body.
	cr.Reset(bufio.NewReader(strings.NewReader("1\r\na\r\n0\r\n\r\n")), DefaultLimits())
	if b, err := io.ReadAll(&cr); err != nil || string(b) != "a" || len(cr.Trailers()) != 0 {
		t.Errorf("after Reset: %q, %v, %d trailers", b, err, len(cr.Trailers()))
	}
	if n, err := cr.Read(buf); n != 0 || err != io.EOF {
		t.Errorf("Read after EOF: %d, %v", n, err)
	}
}

func TestChunkedAllocs(t *testing.T) {
	src := []byte("400\r\n" + strings.Repeat("x", 1024) + "\r\n1;e=\"q\"\r\ny\r\n0\r\nGrpc-Status: 0\r\nGrpc-Message: ok\r\n\r\n")
	rd := bytes.NewReader(src)
	br := bufio.NewReader(rd)
	var cr ChunkedReader
	buf := make([]byte, 512)
	run := func() {
		rd.Reset(src)
		br.Reset(rd)
		cr.Reset(br, DefaultLimits())
		for {
			_, err := cr.Read(buf)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	run()
	if n := testing.AllocsPerRun(100, run); n != 0 {
		t.Errorf("ChunkedReader: %v allocs per body, want 0", n)
	}
	bw := bufio.NewWriter(io.Discard)
	var cw ChunkedWriter
	tr := []Header{{Name: []byte("A"), Value: []byte("1")}}
	if n := testing.AllocsPerRun(100, func() {
		cw.Reset(bw)
		_, _ = cw.Write(buf)
		_ = cw.Close(tr)
	}); n != 0 {
		t.Errorf("ChunkedWriter: %v allocs per body, want 0", n)
	}
}

func TestChunkedOverhead(t *testing.T) {
	// Streaming one byte per chunk is legitimate and must pass.
	tiny := strings.Repeat("1\r\nx\r\n", 20000) + "0\r\n\r\n"
	if data, _, _, err := decodeChunked(tiny, chunkedReaders["whole"], DefaultLimits()); err != nil || len(data) != 20000 {
		t.Errorf("one-byte chunks: %d bytes, %v", len(data), err)
	}
	// Maximal extensions on one-byte chunks are framing without data.
	ext := "1;" + strings.Repeat("e", maxChunkExtBytes-1) + "\r\nx\r\n"
	heavy := strings.Repeat(ext, 5) + "0\r\n\r\n"
	if _, _, _, err := decodeChunked(heavy, chunkedReaders["whole"], DefaultLimits()); statusOf(err) != 400 {
		t.Errorf("extension-heavy body: %v, want 400", err)
	}
	// The same extensions are fine when the chunks carry data.
	var b strings.Builder
	for range 5 {
		b.WriteString("1000;" + strings.Repeat("e", maxChunkExtBytes-1) + "\r\n" + strings.Repeat("d", 0x1000) + "\r\n")
	}
	b.WriteString("0\r\n\r\n")
	if _, _, _, err := decodeChunked(b.String(), chunkedReaders["whole"], DefaultLimits()); err != nil {
		t.Errorf("extensions on 4 KiB chunks: %v", err)
	}
}

// dataErrReader returns its data and err from the same Read call once the
// data is down to its last part, as a connection can at a deadline.
type dataErrReader struct {
	data []byte
	err  error
}

func (d *dataErrReader) Read(p []byte) (int, error) {
	n := copy(p, d.data)
	d.data = d.data[n:]
	if len(d.data) == 0 {
		return n, d.err
	}
	return n, nil
}

func TestChunkedReaderDataThenError(t *testing.T) {
	timeout := errors.New("deadline")
	body := "40\r\n" + strings.Repeat("d", 40)
	br := bufio.NewReaderSize(&dataErrReader{data: []byte(body), err: timeout}, 16)
	var cr ChunkedReader
	cr.Reset(br, DefaultLimits())
	var got []byte
	buf := make([]byte, 64)
	var err error
	for range 10 {
		var n int
		n, err = cr.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			break
		}
	}
	if err != timeout || string(got) != strings.Repeat("d", 40) {
		t.Errorf("read %q then %v; want 40 bytes then the deadline error", got, err)
	}
	if _, again := cr.Read(buf); again != timeout {
		t.Errorf("error not sticky: %v", again)
	}
}
