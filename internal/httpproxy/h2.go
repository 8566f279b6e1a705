package httpproxy

import (
	"bytes"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"

	"github.com/gantry-lb/gantry/internal/httpproxy/h1"
	"github.com/gantry-lb/gantry/internal/listener"
	"github.com/gantry-lb/gantry/internal/route"
	"github.com/gantry-lb/gantry/internal/snapshot"
	"github.com/gantry-lb/gantry/internal/tcpproxy"
	"github.com/gantry-lb/gantry/internal/upstream"
)

// serveH2 serves a connection that opened with the HTTP/2 preface (h2c with
// prior knowledge), or that negotiated h2 by ALPN over TLS. Each stream is
// forwarded as HTTP/1.1 over the same upstream pools as HTTP/1.1 clients
// use.
func (c *conn) serveH2() {
	c.raw.SetReadDeadline(time.Time{})
	fe := c.frontend()
	if fe == nil {
		return
	}
	c.lc.SetIdle(true) // until a stream starts
	// The guard reads what c.br holds (the peeked preface), then the
	// connection itself: x/net/http2's reader goroutine may still read
	// after ServeConn returns, when c.br is back in the pool.
	var src io.Reader = c.raw
	if n := c.br.Buffered(); n > 0 {
		peeked, _ := c.br.Peek(n)
		src = io.MultiReader(bytes.NewReader(bytes.Clone(peeked)), c.raw)
		c.br.Discard(n)
	}
	g := newH2Guard(c.raw, src)
	var nc net.Conn = g
	if c.tc != nil {
		// x/net/http2 sees the TLS state and enforces RFC 9113's TLS
		// requirements.
		nc = &tlsH2Guard{h2Guard: g, tc: c.tc}
	}
	cl := c.cl
	if c.tc != nil {
		// The streams' own copy: handlers may outlive this conn's reuse.
		st := c.tlsState
		cl.TLS = &st
	}
	c.s.h2.ServeConn(nc, &http2.ServeConnOpts{
		Handler: &h2Handler{s: c.s, lc: c.lc, ip: c.ip, cl: cl, tls: c.tc != nil},
		BaseConfig: &http.Server{IdleTimeout: fe.TimeoutClient, ReadHeaderTimeout: fe.TimeoutHTTPRequest,
			HTTP2: &http.HTTP2Config{MaxReadFrameSize: h2MaxFrame}},
	})
}

// tlsH2Guard is an h2Guard over a TLS connection, which x/net/http2 asks
// for its state.
type tlsH2Guard struct {
	*h2Guard
	tc *tls.Conn
}

func (g *tlsH2Guard) ConnectionState() tls.ConnectionState { return g.tc.ConnectionState() }

type h2Handler struct {
	s  *Server
	lc *listener.Conn
	ip string
	cl tcpproxy.Client
	// tls is set on an https frontend (cl.TLS points at the connection's
	// state, which outlives the handler).
	tls bool
	// active counts streams in flight; with none, the connection is idle
	// and a draining listener may close it.
	active atomic.Int64
}

// httpHeaders implements route.Headers over an http.Header.
type httpHeaders http.Header

func (h httpHeaders) Get(name string) ([]byte, bool) {
	vs := http.Header(h).Values(name)
	if len(vs) == 0 {
		return nil, false
	}
	return []byte(vs[0]), true
}

// statusWriter remembers the status written, for the traffic counters.
type statusWriter struct {
	http.ResponseWriter
	status int
	out    int64
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.out += int64(n)
	return n, err
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (h *h2Handler) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	start := time.Now()
	w := &statusWriter{ResponseWriter: rw}
	if h.active.Add(1) == 1 {
		h.lc.SetIdle(false)
	}
	defer func() {
		if h.active.Add(-1) == 0 {
			h.lc.SetIdle(true)
		}
	}()
	if r.Method == http.MethodConnect {
		http.Error(w, "CONNECT is not supported", http.StatusMethodNotAllowed)
		return
	}
	snap := h.s.snaps.Load()
	fe := snap.Frontend(h.lc.Listener().Addr)
	if fe == nil || !fe.Protocol.IsHTTP() || (fe.TLS != nil) != h.tls {
		http.Error(w, "this frontend is gone", http.StatusServiceUnavailable)
		return
	}
	defer func() { fe.Traffic.Observe(w.status, time.Since(start), max(r.ContentLength, 0), w.out) }()
	if fe.HTTPSRedirect != 0 && !h.tls {
		loc := route.AppendSafe([]byte("https://"), hostOnly([]byte(r.Host)))
		if p := fe.HTTPSPort; p != 0 && p != 443 {
			loc = strconv.AppendInt(append(loc, ':'), int64(p), 10)
		}
		w.Header().Set("Location", string(route.AppendSafe(loc, []byte(r.URL.RequestURI()))))
		w.WriteHeader(fe.HTTPSRedirect)
		return
	}
	if fe.ACLs != nil {
		v := fe.ACLs.Eval(h.cl.Src.Addr(), []byte(r.URL.Path), httpHeaders(r.Header))
		switch v.Action {
		case route.ACLDeny:
			http.Error(w, "forbidden by an access rule of this frontend", http.StatusForbidden)
			return
		case route.ACLRedirect:
			scheme := schemeHTTP
			if h.tls {
				scheme = schemeHTTPS
			}
			w.Header().Set("Location", string(v.AppendLocation(nil, scheme, []byte(r.Host), []byte(r.URL.RequestURI()))))
			w.WriteHeader(v.Status())
			return
		}
	}
	be := fe.Route([]byte(r.Host), []byte(r.URL.Path), httpHeaders(r.Header))
	if be == nil {
		http.Error(w, "no route for this host and path", http.StatusNotFound)
		return
	}
	c := h.s.conns.Get().(*conn)
	defer func() {
		c.req.Reset()
		c.resp.Reset()
		c.ubw.Reset(nil)
		h.s.conns.Put(c)
	}()
	req := &c.req
	req.Reset()
	req.Method = []byte(r.Method)
	req.Target = []byte(r.URL.RequestURI())
	req.Minor = 1
	req.Host = []byte(r.Host)
	for name, vs := range r.Header {
		if name == "Expect" {
			continue // x/net/http2 answers 100-continue itself
		}
		for _, v := range vs {
			req.Headers = append(req.Headers, h1.Header{Name: []byte(name), Value: []byte(v)})
		}
	}
	hasBody := r.Body != nil && r.Body != http.NoBody
	switch {
	case r.ContentLength > 0 || r.ContentLength == 0 && hasBody:
		req.ContentLength = r.ContentLength
	case r.ContentLength < 0 && hasBody:
		req.Chunked = true
		req.Headers = append(req.Headers, h1.Header{Name: []byte("Transfer-Encoding"), Value: []byte("chunked")})
	}
	c.u = upstreamRequest{target: req.Target, host: req.Host, clientIP: h.ip, tls: h.tls}

	c.cl = h.cl
	c.chosen, c.key = c.choose(be)
	if be.H2 {
		h.h2Forward(w, r, fe, be, c.chosen, c.key) // h2upstream.go
		return
	}
	uc, _, err := c.connect(be, c.chosen)
	if err != nil {
		http.Error(w, connectError(err), http.StatusServiceUnavailable)
		return
	}
	be, ep := c.be, c.ep
	defer func() {
		c.start, c.status, c.in, c.out = start, w.status, max(r.ContentLength, 0), w.out
		c.finished()
	}()
	err = h.exchange(w, r, c, fe, be, ep, uc)
	ep.ObserveOutcome(err == nil && w.status < 500)
	if err != nil {
		uc.Close()
		ep.CountFailure()
		if h.s.log.Enabled(r.Context(), slog.LevelDebug) {
			h.s.log.Debug("h2 stream failed", "backend", be.Name, "endpoint", ep.Addr, "err", err)
		}
		if _, sent := err.(errHeadersSent); sent {
			// The head went out: only a stream reset tells the client
			// the body is incomplete.
			panic(http.ErrAbortHandler)
		}
	}
}

// errHeadersSent marks a failure after the response head went out, when
// the stream can only be reset.
type errHeadersSent struct{ error }

// exchange sends the request on uc and writes the response to w. On error
// the caller closes uc; on success uc went back to the pool or was closed.
func (h *h2Handler) exchange(w http.ResponseWriter, r *http.Request, c *conn, fe *snapshot.Frontend, be *snapshot.Backend, ep *upstream.Endpoint, uc *upstream.Conn) error {
	req := &c.req
	c.head = appendRequestHead(c.head[:0], req, &c.u, fe, be)
	uc.SetDeadline(time.Now().Add(be.TimeoutServer))
	if _, err := uc.Write(c.head); err != nil {
		http.Error(w, "could not send the request to the server", http.StatusBadGateway)
		return err
	}
	if req.HasBody() {
		buf := h.s.bufs.Get().(*[copyBufSize]byte)
		c.ubw.Reset(uc)
		var dst io.Writer = c.ubw
		if req.Chunked {
			c.cw.Reset(c.ubw)
			dst = &c.cw
		}
		err := copyRefreshing(dst, r.Body, buf[:], uc, be.TimeoutServer)
		h.s.bufs.Put(buf)
		if err == nil && req.Chunked {
			err = c.cw.Close(nil)
		}
		if err == nil {
			err = c.ubw.Flush()
		}
		if err != nil {
			http.Error(w, "could not send the request body", http.StatusBadGateway)
			return err
		}
	}
	resp := &c.resp
	for interim := 0; ; interim++ {
		if interim > maxInterim {
			http.Error(w, "too many interim responses from the server", http.StatusBadGateway)
			return io.ErrUnexpectedEOF
		}
		resp.Reset()
		uc.SetReadDeadline(time.Now().Add(be.TimeoutServer))
		if err := h1.ReadResponse(uc.R, resp, upstreamLimits); err != nil {
			if isTimeout(err) {
				http.Error(w, "the server did not answer in time", http.StatusGatewayTimeout)
			} else {
				http.Error(w, "invalid or no response from the server", http.StatusBadGateway)
			}
			return err
		}
		if resp.Status >= 200 {
			break
		}
		if resp.Status == 101 {
			http.Error(w, "protocol switch is not available over HTTP/2", http.StatusBadGateway)
			return io.ErrUnexpectedEOF
		}
	}
	framing, n := resp.Framing(r.Method == http.MethodHead)
	hdr := w.Header()
	for i := range resp.Headers {
		f := &resp.Headers[i]
		switch classify(f.Name) {
		case fieldHop, fieldUpgrade, fieldFraming:
			continue
		}
		if resp.Nominated(f.Name) || replaced(fe.ResponseHeaders, f.Name) {
			continue
		}
		hdr.Add(string(f.Name), string(f.Value))
	}
	for _, rule := range fe.ResponseHeaders {
		if rule.Action != snapshot.HeaderRemove {
			hdr.Add(rule.Name, string(rule.Value))
		}
	}
	if be.Cookies != nil && (ep != c.chosen || be.Cookies.Options().TTL > 0) {
		if v, ok := be.Cookies.SetCookie(ep); ok {
			hdr.Add("Set-Cookie", v)
		}
	}
	if framing == h1.Length {
		hdr.Set("Content-Length", strconv.FormatInt(n, 10))
	}
	w.WriteHeader(resp.Status)
	var body io.Reader
	switch framing {
	case h1.Length:
		body = io.LimitReader(uc.R, n)
	case h1.Chunked:
		c.cr.Reset(uc.R, upstreamLimits)
		body = &c.cr
	case h1.UntilClose:
		body = uc.R
	}
	if body != nil {
		if err := h.copyBody(w, body, uc, be); err != nil {
			return errHeadersSent{err}
		}
	}
	if framing == h1.Chunked {
		for _, t := range c.cr.Trailers() {
			hdr.Add(http.TrailerPrefix+string(t.Name), string(t.Value))
		}
	}
	if framing != h1.UntilClose && !resp.Close && uc.R.Buffered() == 0 {
		release(be, ep, uc)
	} else {
		uc.Close()
	}
	return nil
}

// copyRefreshing copies src to dst, giving each write to uc a fresh
// deadline: an upload may take longer than timeout_server as long as the
// server keeps reading.
func copyRefreshing(dst io.Writer, src io.Reader, buf []byte, uc *upstream.Conn, timeout time.Duration) error {
	for {
		n, err := src.Read(buf)
		if n > 0 {
			uc.SetWriteDeadline(time.Now().Add(timeout))
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func (h *h2Handler) copyBody(w http.ResponseWriter, body io.Reader, uc *upstream.Conn, be *snapshot.Backend) error {
	buf := h.s.bufs.Get().(*[copyBufSize]byte)
	defer h.s.bufs.Put(buf)
	rc := http.NewResponseController(w)
	for {
		uc.SetReadDeadline(time.Now().Add(be.TimeoutServer))
		k, err := body.Read(buf[:])
		if k > 0 {
			if _, werr := w.Write(buf[:k]); werr != nil {
				return werr
			}
			// Flush what is streamed while nothing more is waiting; a body
			// read to its end goes out with the end of the stream, in as
			// few TLS records and writes as x/net/http2 can make.
			if lr, ok := body.(*io.LimitedReader); (!ok || lr.N > 0) && uc.R.Buffered() == 0 {
				rc.Flush()
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
