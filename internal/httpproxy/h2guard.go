package httpproxy

import (
	"encoding/binary"
	"io"
	"net"

	"golang.org/x/net/http2/hpack"
)

// The HTTP/2 guard sits between a client connection and x/net/http2's
// server and makes the server answer what RFC 9113 says it must where
// x/net does otherwise, before anything is proxied:
//
//   - A request whose header block carries a connection-specific field
//     (Connection, Keep-Alive, Proxy-Connection, Transfer-Encoding,
//     Upgrade) or a TE other than "trailers" is malformed (8.2.2): the
//     stream must be reset with PROTOCOL_ERROR, where x/net answers 400.
//     The guard decodes every header block with an HPACK decoder of its
//     own, in step with the server's, and for such a request marks the
//     HEADERS frame as depending on its own stream, which x/net resets
//     with PROTOCOL_ERROR after decoding the block (so both HPACK
//     contexts stay in step).
//   - A SETTINGS frame that repeats a setting must be processed in order
//     (6.5.3), where x/net hangs up: the guard keeps the last value of
//     each setting, which is what processing in order leaves.
//
// Frames larger than h2MaxFrame are passed through untouched: the server
// (configured with the same limit) answers FRAME_SIZE_ERROR. Anything the
// guard cannot parse turns it off for the rest of the connection, leaving
// the server to judge. It allocates per header block (HPACK strings) and
// holds at most one header block.
type h2Guard struct {
	net.Conn           // writes, deadlines, close
	src      io.Reader // what the client sent (may hold a peeked preface)

	in, out []byte
	preface int // preface bytes still to pass

	dec       *hpack.Decoder
	held      []byte // the frames of a header block not complete yet
	block     []byte // its fragments
	blockNew  bool   // the block opens a new stream
	blockBad  bool   // it carries a field that makes the request malformed
	maxStream uint32
	off       bool
	rbuf      []byte
}

const (
	// h2MaxFrame is SETTINGS_MAX_FRAME_SIZE of gantry's HTTP/2 server:
	// the protocol's default, as HAProxy advertises.
	h2MaxFrame = 16 << 10
	// h2MaxBlock bounds a header block the guard holds (HEADERS plus
	// CONTINUATION frames); a longer one passes unchecked (the server
	// refuses it with 431).
	h2MaxBlock = 1 << 20

	frameHeaders      = 0x1
	frameSettings     = 0x4
	frameContinuation = 0x9

	flagEndHeaders = 0x4
	flagPadded     = 0x8
	flagPriority   = 0x20
	flagAck        = 0x1
)

func newH2Guard(c net.Conn, src io.Reader) *h2Guard {
	g := &h2Guard{Conn: c, src: src, preface: len(h2Preface), rbuf: make([]byte, 16<<10)}
	g.dec = hpack.NewDecoder(4096, g.field) // x/net's SETTINGS_HEADER_TABLE_SIZE
	return g
}

// Read gives the server the client's bytes, with the corrections above.
func (g *h2Guard) Read(p []byte) (int, error) {
	for len(g.out) == 0 {
		n, err := g.src.Read(g.rbuf)
		g.in = append(g.in, g.rbuf[:n]...)
		g.parse()
		if err != nil {
			// Whatever could not be parsed goes as it is.
			g.out = append(append(g.out, g.held...), g.in...)
			g.held, g.in = nil, nil
			if len(g.out) == 0 {
				return 0, err
			}
			break
		}
	}
	n := copy(p, g.out)
	g.out = g.out[n:]
	if len(g.out) == 0 {
		g.out = g.out[:0:0] // let a large burst's buffer go
	}
	return n, nil
}

// parse moves every complete frame of g.in to g.out (or g.held).
func (g *h2Guard) parse() {
	if g.preface > 0 {
		n := min(g.preface, len(g.in))
		g.out = append(g.out, g.in[:n]...)
		g.in, g.preface = g.in[n:], g.preface-n
	}
	for !g.off && g.preface == 0 && len(g.in) >= 9 {
		length := int(g.in[0])<<16 | int(g.in[1])<<8 | int(g.in[2])
		if length > h2MaxFrame {
			g.stop()
			return
		}
		if len(g.in) < 9+length {
			return
		}
		frame := g.in[:9+length]
		g.in = g.in[9+length:]
		g.frame(frame)
	}
	if g.off {
		g.out = append(g.out, g.in...)
		g.in = g.in[:0]
	}
}

// stop turns the guard off: everything passes as it came.
func (g *h2Guard) stop() {
	g.off = true
	g.out = append(append(g.out, g.held...), g.in...)
	g.held, g.in, g.block = nil, nil, nil
}

func (g *h2Guard) frame(f []byte) {
	typ, flags := f[3], f[4]
	stream := binary.BigEndian.Uint32(f[5:9]) & 0x7fffffff
	payload := f[9:]
	switch {
	case typ == frameHeaders && g.held == nil:
		frag, ok := headersFragment(flags, payload)
		if !ok {
			g.stop2(f)
			return
		}
		g.blockNew = stream > g.maxStream && stream%2 == 1
		if g.blockNew {
			g.maxStream = stream
		}
		g.blockBad = false
		g.block = append(g.block[:0], frag...)
		g.held = append(g.held[:0], f...)
		if flags&flagEndHeaders != 0 {
			g.endBlock()
		}
	case typ == frameContinuation && g.held != nil:
		g.block = append(g.block, payload...)
		g.held = append(g.held, f...)
		if len(g.held) > h2MaxBlock {
			g.stop()
			return
		}
		if flags&flagEndHeaders != 0 {
			g.endBlock()
		}
	case g.held != nil:
		// A frame inside a header block is a connection error the server
		// reports; the guard steps aside.
		g.stop2(f)
	case typ == frameSettings && flags&flagAck == 0 && stream == 0:
		g.out = append(g.out, dedupSettings(f)...)
	default:
		g.out = append(g.out, f...)
	}
}

// stop2 is stop with frame f, already taken from g.in, put back first.
func (g *h2Guard) stop2(f []byte) {
	g.in = append(append([]byte(nil), f...), g.in...)
	g.stop()
}

// headersFragment returns the header block fragment of a HEADERS payload.
func headersFragment(flags byte, p []byte) ([]byte, bool) {
	pad := 0
	if flags&flagPadded != 0 {
		if len(p) < 1 {
			return nil, false
		}
		pad, p = int(p[0]), p[1:]
	}
	if flags&flagPriority != 0 {
		if len(p) < 5 {
			return nil, false
		}
		p = p[5:]
	}
	if pad > len(p) {
		return nil, false
	}
	return p[:len(p)-pad], true
}

// endBlock decodes the complete header block and releases its frames,
// the HEADERS frame marked as depending on its own stream when the
// request is malformed.
func (g *h2Guard) endBlock() {
	_, err := g.dec.Write(g.block)
	if err == nil {
		err = g.dec.Close()
	}
	if err != nil {
		g.stop() // the server's decoder fails the same way
		return
	}
	if g.blockNew && g.blockBad {
		g.held = selfDependent(g.held)
	}
	g.out = append(g.out, g.held...)
	g.held, g.block = nil, g.block[:0]
}

// field checks one decoded field of the current block.
func (g *h2Guard) field(f hpack.HeaderField) {
	if !g.blockNew || g.blockBad {
		return
	}
	switch len(f.Name) {
	case 2:
		g.blockBad = f.Name == "te" && f.Value != "trailers"
	case 7:
		g.blockBad = f.Name == "upgrade"
	case 10:
		g.blockBad = f.Name == "connection" || f.Name == "keep-alive"
	case 16:
		g.blockBad = f.Name == "proxy-connection"
	case 17:
		g.blockBad = f.Name == "transfer-encoding"
	}
}

// selfDependent rewrites the HEADERS frame that starts frames so that its
// stream depends on itself (a stream error of type PROTOCOL_ERROR, RFC
// 9113 5.3.1 of RFC 7540): it sets the PRIORITY flag, inserting the
// priority fields when the frame had none.
func selfDependent(frames []byte) []byte {
	length := int(frames[0])<<16 | int(frames[1])<<8 | int(frames[2])
	flags := frames[4]
	stream := frames[5:9]
	at := 9
	if flags&flagPadded != 0 {
		at++
	}
	if flags&flagPriority != 0 {
		copy(frames[at:at+4], stream)
		frames[at] &= 0x7f
		return frames
	}
	out := make([]byte, 0, len(frames)+5)
	out = append(out, frames[:at]...)
	out = append(out, stream...)
	out[len(out)-4] &= 0x7f
	out = append(out, 15) // weight 16
	out = append(out, frames[at:]...)
	length += 5
	out[0], out[1], out[2] = byte(length>>16), byte(length>>8), byte(length)
	out[4] |= flagPriority
	return out
}

// dedupSettings keeps the last value of each setting a SETTINGS frame
// repeats, unless one of the values it would drop is invalid (then the
// frame goes as it is, for the server to refuse).
func dedupSettings(f []byte) []byte {
	p := f[9:]
	if len(p)%6 != 0 {
		return f
	}
	n := len(p) / 6
	dup := false
	for i := 0; i < n && !dup; i++ {
		for j := i + 1; j < n; j++ {
			if p[i*6] == p[j*6] && p[i*6+1] == p[j*6+1] {
				dup = true
				break
			}
		}
	}
	if !dup {
		return f
	}
	out := append([]byte(nil), f[:9]...)
	for i := 0; i < n; i++ {
		e := p[i*6 : i*6+6]
		later := false
		for j := i + 1; j < n; j++ {
			if e[0] == p[j*6] && e[1] == p[j*6+1] {
				later = true
				break
			}
		}
		if !later {
			out = append(out, e...)
			continue
		}
		if !validSetting(binary.BigEndian.Uint16(e), binary.BigEndian.Uint32(e[2:])) {
			return f
		}
	}
	l := len(out) - 9
	out[0], out[1], out[2] = byte(l>>16), byte(l>>8), byte(l)
	return out
}

func validSetting(id uint16, v uint32) bool {
	switch id {
	case 0x2: // ENABLE_PUSH
		return v <= 1
	case 0x4: // INITIAL_WINDOW_SIZE
		return v <= 1<<31-1
	case 0x5: // MAX_FRAME_SIZE
		return v >= 1<<14 && v <= 1<<24-1
	}
	return true
}
