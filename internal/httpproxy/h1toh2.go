package httpproxy

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gantry-lb/gantry/internal/httpproxy/h1"
	"github.com/gantry-lb/gantry/internal/snapshot"
)

// forwardToH2 sends an HTTP/1.1 request to a backend with h2 through the
// HTTP/2 transport (h2upstream.go), and writes the answer back in
// HTTP/1.1: with its length when the server gave one, else chunked (with
// its trailers) to an HTTP/1.1 client, else delimited by closing. It
// reports whether the client connection stays open. Not the HTTP/1.1 fast
// path: it allocates what net/http's types do.
func (c *conn) forwardToH2(fe *snapshot.Frontend, be *snapshot.Backend, target, host []byte) (keep bool) {
	req := &c.req
	if req.Expect100 {
		c.raw.SetWriteDeadline(time.Now().Add(fe.TimeoutClient))
		c.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
		if c.bw.Flush() != nil {
			return false
		}
	}
	u, err := url.ParseRequestURI(string(target))
	if err != nil {
		return c.errorResponse(400, "the request target is not a valid URI", true)
	}
	r := &http.Request{Method: string(req.Method), URL: u, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: req.Minor,
		Header: make(http.Header, len(req.Headers)), Host: string(host), ContentLength: req.ContentLength, Body: http.NoBody}
	for i := range req.Headers {
		f := &req.Headers[i]
		if req.Nominated(f.Name) {
			continue
		}
		switch classify(f.Name) {
		case fieldHop:
			// TE is hop-by-hop, but HTTP/2 keeps "trailers" (gRPC needs it).
			if len(f.Name) == 2 && strings.Contains(strings.ToLower(string(f.Value)), "trailers") {
				r.Header.Set("Te", "trailers")
			}
			continue
		case fieldFraming, fieldUpgrade:
			continue
		}
		r.Header.Add(string(f.Name), string(f.Value))
	}
	body := &clientBody{c: c, fe: fe}
	switch {
	case req.Chunked:
		c.cr.Reset(c.br, h1.Limits{MaxHeaderBytes: fe.MaxHeaderBytes, MaxHeaders: fe.MaxHeaders})
		body.r = &c.cr
		r.Body, r.ContentLength = io.NopCloser(body), -1
	case req.ContentLength > 0:
		body.r = io.LimitReader(c.br, req.ContentLength)
		r.Body = io.NopCloser(body)
	}
	hw := &h1Writer{c: c, hdr: http.Header{}, head: req.Method != nil && string(req.Method) == "HEAD"}
	w := &statusWriter{ResponseWriter: hw}
	h := &h2Handler{s: c.s, lc: c.lc, ip: c.ip, cl: c.cl, tls: c.tc != nil}
	c.start, c.status, c.in, c.out = time.Now(), 0, max(req.ContentLength, 0), 0
	defer func() {
		if p := recover(); p != nil {
			if p != http.ErrAbortHandler {
				panic(p)
			}
			keep = false // the answer broke off after its head: close
		}
		c.status, c.out = w.status, w.out
	}()
	h.h2Forward(w, r, fe, be, c.chosen, c.key)
	// The transport may still be reading the body in its own goroutine
	// (it keeps writing after an early answer): detach it before c goes
	// back to the pool.
	eof := body.detach()
	if err := hw.finish(); err != nil {
		return false
	}
	// A body the server did not read to its end leaves the connection
	// out of step.
	return hw.keep && (!req.HasBody() || eof) && !req.Close && !c.lc.Draining()
}

// clientBody reads a request body from the client, refreshing the read
// deadline as it goes. The HTTP/2 transport reads it from a goroutine of
// its own that may outlive the request: detach ends that, so that nothing
// touches the pooled conn afterwards.
type clientBody struct {
	c  *conn
	fe *snapshot.Frontend
	r  io.Reader

	mu       sync.Mutex // held for a whole Read; detach waits for it
	eof      bool       // read to its end
	detached bool
}

func (b *clientBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.detached {
		return 0, io.ErrUnexpectedEOF
	}
	b.c.raw.SetReadDeadline(time.Now().Add(b.fe.TimeoutClient))
	n, err := b.r.Read(p)
	b.eof = err == io.EOF
	var perr *h1.Error
	if errors.As(err, &perr) {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// detach stops the body: a Read under way is cut short by a past deadline
// and waited for, later ones fail. It reports whether the body was read to
// its end (the client connection is then still in step). The caller sets
// the connection's next deadline afterwards.
func (b *clientBody) detach() bool {
	if !b.mu.TryLock() {
		b.c.raw.SetReadDeadline(time.Now())
		b.mu.Lock()
	}
	b.detached = true
	eof := b.eof
	b.mu.Unlock()
	return eof
}

// h1Writer is an http.ResponseWriter that answers an HTTP/1.x client.
type h1Writer struct {
	c       *conn
	hdr     http.Header
	head    bool // a HEAD request: no body
	wrote   bool
	chunked bool
	keep    bool // the framing lets the connection stay open
}

func (w *h1Writer) Header() http.Header { return w.hdr }

func (w *h1Writer) WriteHeader(code int) {
	if w.wrote || code < 200 {
		return
	}
	w.wrote = true
	c := w.c
	h := appendStatusLine(c.head[:0], code, []byte(http.StatusText(code)))
	hasLength := false
	if v := w.hdr.Get("Content-Length"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		hasLength = err == nil && n >= 0
	}
	noBody := w.head || code == 204 || code == 304
	// Announced trailers need chunked framing, whatever the length.
	trailers := len(w.hdr["Trailer"]) > 0 && c.req.Minor == 1 && !noBody
	w.keep = true
	switch {
	case noBody:
	case trailers:
		w.chunked, hasLength = true, false
	case hasLength:
	case c.req.Minor == 1:
		w.chunked = true
	default:
		w.keep = false // HTTP/1.0: the end of the body is the close
	}
	for k, vs := range w.hdr {
		if k == "Trailer" && !trailers || k == "Transfer-Encoding" || strings.HasPrefix(k, http.TrailerPrefix) || k == "Content-Length" && !hasLength {
			continue
		}
		for _, v := range vs {
			h = appendField(h, []byte(k), []byte(v))
		}
	}
	if w.chunked {
		h = append(h, "Transfer-Encoding: chunked\r\n"...)
		c.cw.Reset(c.bw)
	}
	if !w.keep || c.req.Close || c.lc.Draining() {
		h = append(h, "Connection: close\r\n"...)
	}
	h = append(h, '\r', '\n')
	c.head = h
	c.raw.SetWriteDeadline(time.Now().Add(5 * time.Second))
	c.bw.Write(h)
}

func (w *h1Writer) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if w.head {
		return len(b), nil
	}
	c := w.c
	c.raw.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if w.chunked {
		return c.cw.Write(b)
	}
	return c.bw.Write(b)
}

// Flush sends what is buffered (http.ResponseController uses it).
func (w *h1Writer) Flush() { w.c.bw.Flush() }

// finish ends the body: the last chunk with the trailers set with
// http.TrailerPrefix.
func (w *h1Writer) finish() error {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	c := w.c
	if w.chunked && !w.head {
		var trailers []h1.Header
		for k, vs := range w.hdr {
			if name, ok := strings.CutPrefix(k, http.TrailerPrefix); ok {
				for _, v := range vs {
					trailers = append(trailers, h1.Header{Name: []byte(name), Value: []byte(v)})
				}
			}
		}
		if err := c.cw.Close(trailers); err != nil {
			return err
		}
	}
	return c.bw.Flush()
}
