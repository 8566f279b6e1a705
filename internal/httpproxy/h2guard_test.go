package httpproxy

import (
	"bytes"
	"io"
	"testing"
	"testing/iotest"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// clientStream builds what an HTTP/2 client sends: the preface, then
// frames written by build with a real framer and HPACK encoder.
func clientStream(t testing.TB, build func(fr *http2.Framer, block func(fields ...string) []byte)) []byte {
	t.Helper()
	var buf bytes.Buffer
	buf.WriteString(http2.ClientPreface)
	fr := http2.NewFramer(&buf, nil)
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	block := func(fields ...string) []byte {
		hb.Reset()
		for i := 0; i+1 < len(fields); i += 2 {
			enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
		}
		return append([]byte(nil), hb.Bytes()...)
	}
	build(fr, block)
	return buf.Bytes()
}

// guarded reads everything through a guard, in small reads.
func guarded(t testing.TB, in []byte) []byte {
	t.Helper()
	g := newH2Guard(nil, iotest.HalfReader(bytes.NewReader(in)))
	out, err := io.ReadAll(g)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// frames parses the frames after the preface, decoding header blocks.
func frames(t testing.TB, b []byte) []http2.Frame {
	t.Helper()
	b = bytes.TrimPrefix(b, []byte(http2.ClientPreface))
	fr := http2.NewFramer(nil, bytes.NewReader(b))
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	var out []http2.Frame
	for {
		f, err := fr.ReadFrame()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("frame %d: %v", len(out), err)
		}
		out = append(out, f)
	}
}

var request = []string{":method", "GET", ":scheme", "https", ":path", "/", ":authority", "a.example.com"}

func TestH2GuardPassesGoodStreamsUnchanged(t *testing.T) {
	in := clientStream(t, func(fr *http2.Framer, block func(...string) []byte) {
		fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 20}, http2.Setting{ID: http2.SettingEnablePush, Val: 0})
		fr.WriteWindowUpdate(0, 1<<20)
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block(append(request, "te", "trailers", "x-a", "1")...), EndHeaders: true, EndStream: true})
		// A block split over CONTINUATION frames, padded, with priority.
		b := block(append(request, "x-long", string(bytes.Repeat([]byte("v"), 300)))...)
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: b[:100], PadLength: 7,
			Priority: http2.PriorityParam{StreamDep: 1, Weight: 3}})
		fr.WriteContinuation(3, false, b[100:200])
		fr.WriteContinuation(3, true, b[200:])
		fr.WriteData(3, true, []byte("body"))
		fr.WritePing(false, [8]byte{1})
	})
	if out := guarded(t, in); !bytes.Equal(out, in) {
		t.Fatalf("a well-formed stream was changed:\n got %x\nwant %x", out, in)
	}
}

func TestH2GuardMarksMalformedRequests(t *testing.T) {
	for _, bad := range [][2]string{{"connection", "close"}, {"keep-alive", "5"}, {"proxy-connection", "x"},
		{"transfer-encoding", "chunked"}, {"upgrade", "websocket"}, {"te", "gzip"}} {
		t.Run(bad[0], func(t *testing.T) {
			in := clientStream(t, func(fr *http2.Framer, block func(...string) []byte) {
				fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block(append(request, bad[0], bad[1])...), EndHeaders: true, EndStream: true})
				// Trailers may not be checked, and the next request,
				// with indexed fields, still decodes.
				fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: block(request...), EndHeaders: false})
				fr.WriteContinuation(3, true, block("x-b", "2"))
			})
			fs := frames(t, guarded(t, in))
			if len(fs) != 2 {
				t.Fatalf("%d frames", len(fs))
			}
			h := fs[0].(*http2.MetaHeadersFrame)
			if !h.HasPriority() || h.Priority.StreamDep != 1 || !h.StreamEnded() {
				t.Fatalf("the malformed request is not made self-dependent: %+v", h.HeadersFrame)
			}
			if h2 := fs[1].(*http2.MetaHeadersFrame); h2.HasPriority() || h2.PseudoValue("path") != "/" {
				t.Fatalf("the next request changed: %+v", h2.HeadersFrame)
			}
		})
	}
	t.Run("padded with priority", func(t *testing.T) {
		in := clientStream(t, func(fr *http2.Framer, block func(...string) []byte) {
			fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 5, BlockFragment: block(append(request, "connection", "close")...), EndHeaders: true,
				PadLength: 3, Priority: http2.PriorityParam{StreamDep: 0, Weight: 200, Exclusive: true}})
		})
		out := guarded(t, in)
		if len(out) != len(in) {
			t.Fatalf("length %d, want %d", len(out), len(in))
		}
		if h := frames(t, out)[0].(*http2.MetaHeadersFrame); h.Priority.StreamDep != 5 || h.Priority.Exclusive {
			t.Fatalf("%+v", h.Priority)
		}
	})
}

func TestH2GuardDedupsSettings(t *testing.T) {
	in := clientStream(t, func(fr *http2.Framer, _ func(...string) []byte) {
		fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 100}, http2.Setting{ID: http2.SettingMaxFrameSize, Val: 1 << 15},
			http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1})
	})
	s := frames(t, guarded(t, in))[0].(*http2.SettingsFrame)
	if s.HasDuplicates() || s.NumSettings() != 2 {
		t.Fatalf("%v", s)
	}
	if v, _ := s.Value(http2.SettingInitialWindowSize); v != 1 {
		t.Fatalf("initial window %d, want the last value", v)
	}
	// An invalid value that would be dropped leaves the frame as it is.
	in = clientStream(t, func(fr *http2.Framer, _ func(...string) []byte) {
		fr.WriteSettings(http2.Setting{ID: http2.SettingEnablePush, Val: 7}, http2.Setting{ID: http2.SettingEnablePush, Val: 0})
	})
	if out := guarded(t, in); !bytes.Equal(out, in) {
		t.Fatal("a frame with an invalid repeated value was changed")
	}
}

func TestH2GuardStepsAsideOnGarbage(t *testing.T) {
	in := append([]byte(http2.ClientPreface), 0xff, 0xff, 0xff, 1, 4, 0, 0, 0, 1, 'x')
	if out := guarded(t, in); !bytes.Equal(out, in) {
		t.Fatal("an oversized frame was changed")
	}
}

// FuzzH2Guard: the guard never panics, and whatever it is given comes out
// (possibly corrected) without loss of the bytes it could not parse.
func FuzzH2Guard(f *testing.F) {
	f.Add(clientStream(f, func(fr *http2.Framer, block func(...string) []byte) {
		fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1}, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 2})
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block(append(request, "te", "x")...), EndHeaders: false})
		fr.WriteContinuation(1, true, block("a", "b"))
	})[len(http2.ClientPreface):])
	f.Add([]byte{0, 0, 1, 1, 0x28, 0, 0, 0, 1, 5})
	f.Fuzz(func(t *testing.T, b []byte) {
		in := append([]byte(http2.ClientPreface), b...)
		g := newH2Guard(nil, iotest.OneByteReader(bytes.NewReader(in)))
		out, err := io.ReadAll(g)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(out, []byte(http2.ClientPreface)) {
			t.Fatal("the preface was changed")
		}
	})
}

// BenchmarkH2Guard is the guard's cost per request: one HEADERS frame
// decoded and checked, and one DATA frame passed.
func BenchmarkH2Guard(b *testing.B) {
	const n = 100
	in := clientStream(b, func(fr *http2.Framer, block func(...string) []byte) {
		for i := range n {
			fr.WriteHeaders(http2.HeadersFrameParam{StreamID: uint32(2*i + 1), BlockFragment: block(append(request, "user-agent", "bench", "accept", "*/*")...), EndHeaders: true})
			fr.WriteData(uint32(2*i+1), true, []byte("0123456789"))
		}
	})
	b.ReportAllocs()
	b.SetBytes(int64(len(in)) / n)
	buf := make([]byte, 32<<10)
	for i := 0; i < b.N; i += n {
		g := newH2Guard(nil, bytes.NewReader(in))
		for {
			if _, err := g.Read(buf); err != nil {
				break
			}
		}
	}
}
