// Package httpproxy is the HTTP hot path: gantry's own HTTP/1.1 proxy on
// both sides (client and upstream), and HTTP/2 from clients (h2c with prior
// knowledge, or h2 by ALPN over TLS) forwarded to the same upstream pools.
// Over TLS (ServeTLS, after the data plane's handshake) requests go out
// with X-Forwarded-Proto https; to backends with ssl_bridging they go over
// TLS, pooled per server name. An HTTP/2 guard (h2guard.go) makes malformed
// requests fail as RFC 9113 says before anything is proxied.
//
// One goroutine serves one client connection; it loads the snapshot once per
// request, routes, picks an endpoint, takes a pooled keep-alive upstream
// connection and streams the request and response through. Bodies are never
// buffered whole.
//
// Allocation budget: nothing per request on the HTTP/1.1 path once a
// connection's buffers have grown (the per-connection state is pooled); an
// upstream dial allocates, a reused upstream connection does not. The
// HTTP/2 path allocates what x/net/http2 does, plus the guard's decoding of
// each header block. Over TLS, bodies are copied through user space (no
// splice), and a new TLS connection to a server allocates its handshake.
package httpproxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/sys/unix"

	"github.com/gantry-lb/gantry/internal/balance"
	"github.com/gantry-lb/gantry/internal/httpproxy/h1"
	"github.com/gantry-lb/gantry/internal/listener"
	"github.com/gantry-lb/gantry/internal/route"
	"github.com/gantry-lb/gantry/internal/snapshot"
	"github.com/gantry-lb/gantry/internal/tcpproxy"
	"github.com/gantry-lb/gantry/internal/upstream"
)

const (
	// copyBufSize is the buffer for streaming bodies.
	copyBufSize = 32 << 10
	// spliceMin is the smallest response body moved with splice(2);
	// below it, a user-space copy through the write buffer is cheaper.
	spliceMin = 32 << 10
	// spliceChunk bounds one splice step between deadline refreshes.
	spliceChunk = 256 << 10
	// inlineBody is the largest body sent in the same write as its head.
	inlineBody = 16 << 10
	// expectWait is how long gantry waits for an upstream's 100 Continue
	// before sending the body anyway (as curl does).
	expectWait = time.Second
	// maxInterim bounds the 1xx responses relayed before a final one.
	maxInterim = 8
	// staleAfter is how long a pooled connection may idle before it is
	// checked for a close by the server before reuse.
	staleAfter = time.Second
)

// upstreamLimits bound upstream response heads.
var upstreamLimits = h1.Limits{MaxHeaderBytes: 64 << 10, MaxHeaders: 256}

var h2Preface = []byte(http2.ClientPreface)

// Server serves HTTP frontends. Safe for concurrent use.
type Server struct {
	snaps *snapshot.Holder
	log   *slog.Logger
	h2    *http2.Server
	h2t   *http2.Transport // to backends with h2 (h2upstream.go)

	// challenges answers ACME HTTP-01 validations on plain http
	// frontends (nil: none); set before serving (SetChallenges).
	challenges ChallengeHandler

	conns sync.Pool // *conn
	bufs  sync.Pool // *[copyBufSize]byte
}

// New returns a server that routes by the snapshots in snaps.
func New(snaps *snapshot.Holder, log *slog.Logger) *Server {
	s := &Server{
		snaps: snaps,
		log:   log.With("component", "httpproxy"),
		h2:    &http2.Server{},
		h2t:   newH2Transport(),
	}
	s.conns.New = func() any {
		c := &conn{s: s, head: make([]byte, 0, 1024)}
		c.br = bufio.NewReaderSize(nil, 4096)
		c.bw = bufio.NewWriterSize(nil, 4096)
		c.ubw = bufio.NewWriterSize(nil, 4096)
		return c
	}
	s.bufs.New = func() any { return new([copyBufSize]byte) }
	return s
}

// conn is the state of one client connection, pooled.
type conn struct {
	s   *Server
	lc  *listener.Conn
	raw net.Conn // what requests are read from: lc.Conn, or tc over it
	// tc is the client's TLS connection on an https frontend (nil on
	// plain http), and tlsState its state after the handshake.
	tc       *tls.Conn
	tlsState tls.ConnectionState
	ip       string
	cl       tcpproxy.Client // for PROXY headers to servers
	// att walks the servers the current request may try; be and ep are
	// the backend (maybe a failover) and server it is on now. tracked is
	// the server the connection is tracked on for shutdown_sessions (kept
	// across the requests of a connection while they go to the same
	// server), and untrack ends that.
	att     tcpproxy.Attempts
	be      *snapshot.Backend
	ep      *upstream.Endpoint
	tracked *upstream.Endpoint
	untrack func()
	// chosen is the server the request was pinned to (sticky), and key the
	// hash key of its backend's algorithm.
	chosen *upstream.Endpoint
	key    balance.HashKey
	br     *bufio.Reader
	bw     *bufio.Writer
	ubw    *bufio.Writer // chunked request bodies to the upstream
	req    h1.Request
	resp   h1.Response
	head   []byte
	cr     h1.ChunkedReader
	cw     h1.ChunkedWriter
	u      upstreamRequest
	// noReuse is set when the upstream connection of the current request
	// is out of step (a body was announced but not sent).
	noReuse bool
	lr      io.LimitedReader // for splice, kept here so it does not escape per request
	// status, in and out describe the current request for the traffic
	// counters: the status sent to the client (0: none) and body bytes
	// received and sent; start is when its head arrived.
	status  int
	in, out int64
	start   time.Time
	// linger is set when the client connection closes with bytes it sent
	// that were not read; see lingerClose.
	linger bool
}

// Serve handles one client connection of an HTTP frontend until it closes.
func (s *Server) Serve(lc *listener.Conn) { s.serveConn(lc, nil) }

// ServeTLS handles one client connection of an https frontend whose TLS
// handshake tc has completed over lc, until it closes: ALPN h2 goes to
// the HTTP/2 server, anything else is HTTP/1.1. Requests are forwarded
// with X-Forwarded-Proto https, and PROXY headers to servers carry the
// TLS state (proxy_protocol_v2_ssl and _ssl_cn).
func (s *Server) ServeTLS(lc *listener.Conn, tc *tls.Conn) { s.serveConn(lc, tc) }

func (s *Server) serveConn(lc *listener.Conn, tc *tls.Conn) {
	c := s.conns.Get().(*conn)
	c.lc, c.raw = lc, lc.Conn
	c.ip = lc.Peer.Addr().String()
	c.cl = tcpproxy.Client{Src: lc.Peer, Dst: lc.Local}
	if tc != nil {
		c.tc, c.raw, c.tlsState = tc, tc, tc.ConnectionState()
		c.cl.TLS = &c.tlsState
	}
	if fe := c.frontend(); fe != nil {
		fe.Traffic.CountConn()
	}
	c.br.Reset(c.raw)
	c.bw.Reset(c.raw)
	defer func() {
		c.track(nil, false)
		c.lc, c.raw, c.tc = nil, nil, nil
		c.tlsState = tls.ConnectionState{}
		c.br.Reset(nil)
		c.bw.Reset(nil)
		c.ubw.Reset(nil)
		c.req.Reset()
		c.resp.Reset()
		s.conns.Put(c)
	}()
	c.serve()
	c.lingerClose()
}

// lingerClose gives the client time to read a response sent while it was
// still sending (an error before its body was read): closing a socket with
// unread input sends a reset, which can destroy the response in flight. As
// net/http does, it half-closes and discards input for a short while.
func (c *conn) lingerClose() {
	if !c.linger {
		return
	}
	c.linger = false
	// Over TLS, CloseWrite sends close_notify; the client's unread bytes
	// are then read through TLS, as they arrive.
	cw, ok := c.raw.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		return
	}
	c.raw.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	io.CopyN(io.Discard, c.raw, 256<<10)
}

func (c *conn) frontend() *snapshot.Frontend {
	snap := c.s.snaps.Load()
	if snap == nil {
		return nil
	}
	fe := snap.Frontend(c.lc.Listener().Addr)
	if fe == nil || !fe.Protocol.IsHTTP() || (fe.TLS != nil) != (c.tc != nil) {
		return nil
	}
	return fe
}

func (c *conn) serve() {
	for first := true; ; first = false {
		fe := c.frontend()
		if fe == nil {
			return
		}
		if first && c.tc != nil && c.tlsState.NegotiatedProtocol == alpnH2 {
			c.serveH2()
			return
		}
		// Wait for the first byte of the next request as an idle
		// connection: a draining listener may close it meanwhile.
		c.lc.SetIdle(true)
		if !first && c.lc.Draining() {
			return
		}
		wait := fe.TimeoutClient
		if first {
			wait = fe.TimeoutHTTPRequest
		}
		c.raw.SetReadDeadline(time.Now().Add(wait))
		if _, err := c.br.Peek(1); err != nil {
			return
		}
		c.lc.SetIdle(false)
		if first && c.isH2Preface() {
			c.serveH2()
			return
		}
		// The request starts now: use the newest snapshot. If the frontend
		// was removed meanwhile, this request still gets an answer from
		// the one it arrived on (and the draining closes the connection).
		if nfe := c.frontend(); nfe != nil {
			fe = nfe
		}
		c.raw.SetReadDeadline(time.Now().Add(fe.TimeoutHTTPRequest))
		c.req.Reset()
		if err := h1.ReadRequest(c.br, &c.req, h1.Limits{MaxHeaderBytes: fe.MaxHeaderBytes, MaxHeaders: fe.MaxHeaders}); err != nil {
			c.requestError(err)
			return
		}
		c.start, c.status, c.in, c.out = time.Now(), 0, 0, 0
		keep := c.handle(fe)
		fe.Traffic.Observe(c.status, time.Since(c.start), c.in, c.out)
		if !keep {
			return
		}
	}
}

func (c *conn) isH2Preface() bool {
	if b, _ := c.br.Peek(3); !bytes.Equal(b, h2Preface[:3]) {
		return false
	}
	b, err := c.br.Peek(len(h2Preface))
	return err == nil && bytes.Equal(b, h2Preface)
}

// requestError answers a request head that could not be read.
func (c *conn) requestError(err error) {
	var perr *h1.Error
	switch {
	case errors.As(err, &perr):
		c.errorResponse(perr.Status, perr.Msg, true)
	case isTimeout(err) && c.req.Partial:
		c.errorResponse(408, "request head not received in time", true)
	}
	// EOF, resets and idle timeouts: nothing to answer.
}

// handle proxies one parsed request and reports whether the client
// connection stays open.
func (c *conn) handle(fe *snapshot.Frontend) bool {
	req := &c.req
	if string(req.Method) == "CONNECT" {
		c.errorResponse(405, "CONNECT is not supported", true)
		return false
	}
	target, host := originForm(req.Target), req.Authority()
	if c.s.challenges != nil && c.tc == nil && isChallengePath(req.Path()) && c.answerChallenge() {
		return !req.HasBody() && !req.Close && !c.lc.Draining()
	}
	if fe.HTTPSRedirect != 0 && c.tc == nil {
		return c.redirectResponse(fe, host, target)
	}
	if fe.ACLs != nil {
		if v := fe.ACLs.Eval(c.cl.Src.Addr(), req.Path(), c); v.Action != route.ACLAllow {
			return c.aclResponse(v, host, target)
		}
	}
	be := fe.Route(host, req.Path(), c)
	if be == nil {
		return c.errorResponse(404, "no route for this host and path", req.HasBody())
	}
	if be.H2 {
		c.chosen, c.key = c.choose(be)
		return c.forwardToH2(fe, be, target, host) // h1toh2.go
	}
	c.u = upstreamRequest{target: target, host: host, clientIP: c.ip, tls: c.tc != nil,
		upgrade: req.ConnUpgrade && len(req.Upgrade) > 0 && !h1.EqualFold(req.Upgrade, "h2c")}
	return c.forward(fe, be)
}

// aclResponse answers a request an ACL denied (403) or redirected, and
// reports whether the connection stays open.
func (c *conn) aclResponse(v route.Verdict, host, target []byte) bool {
	if v.Action == route.ACLDeny {
		return c.errorResponse(403, "forbidden by an access rule of this frontend", c.req.HasBody())
	}
	h := c.redirectHead(v.Status())
	return c.sendRedirect(v.AppendLocation(h, c.scheme(), host, target))
}

// redirectHead begins a redirect of status code in c.head: the status line
// and "Location: ", for the caller to append the location to and pass to
// sendRedirect. On the hot path: no allocation once c.head has grown.
func (c *conn) redirectHead(code int) []byte {
	c.status, c.out = code, 0
	h := appendStatusLine(c.head[:0], code, []byte(statusText(code)))
	return append(h, "Location: "...)
}

// sendRedirect ends the redirect h that redirectHead began (an empty body,
// and Connection: close when the request has a body we will not read or
// the connection must close), sends it, and reports whether the
// connection stays open.
func (c *conn) sendRedirect(h []byte) bool {
	closeConn := c.req.HasBody() || c.req.Close || c.lc.Draining()
	c.linger = closeConn
	h = append(h, "\r\nContent-Length: 0\r\n"...)
	if closeConn {
		h = append(h, "Connection: close\r\n"...)
	}
	h = append(h, '\r', '\n')
	c.head = h
	c.raw.SetWriteDeadline(time.Now().Add(5 * time.Second))
	c.bw.Write(h)
	return c.bw.Flush() == nil && !closeConn
}

var schemeHTTP = []byte("http")

// Get implements route.Headers over the request being handled. On the hot
// path: no allocation.
func (c *conn) Get(name string) ([]byte, bool) {
	for i := range c.req.Headers {
		h := &c.req.Headers[i]
		if len(h.Name) == len(name) && h1.EqualFold(h.Name, name) {
			return h.Value, true
		}
	}
	return nil, false
}

// forward sends the request to an endpoint of be and relays the response.
func (c *conn) forward(fe *snapshot.Frontend, be *snapshot.Backend) bool {
	req := &c.req
	// Validate the start of a chunked body before anything goes upstream,
	// so a body that is malformed from its first chunk is never forwarded.
	// (Not with Expect: the client waits for our answer before sending.)
	var first []byte
	chunking := req.Chunked && !req.Expect100
	if chunking {
		buf := c.s.bufs.Get().(*[copyBufSize]byte)
		defer c.s.bufs.Put(buf)
		c.cr.Reset(c.br, h1.Limits{MaxHeaderBytes: fe.MaxHeaderBytes, MaxHeaders: fe.MaxHeaders})
		c.raw.SetReadDeadline(time.Now().Add(fe.TimeoutClient))
		n, err := c.cr.Read(buf[:])
		if err != nil && err != io.EOF {
			var perr *h1.Error
			if errors.As(err, &perr) {
				return c.errorResponse(perr.Status, perr.Msg, true)
			}
			return false
		}
		first = buf[:n]
	}
	c.chosen, c.key = c.choose(be)
	uc, reused, err := c.connect(be, c.chosen)
	if err != nil {
		return c.errorResponse(503, connectError(err), req.HasBody())
	}
	defer c.finished()
	be, ep := c.be, c.ep
	c.head = appendRequestHead(c.head[:0], req, &c.u, fe, be)
	// A small body that already arrived goes out in the same write as the head.
	inline := false
	if n := req.ContentLength; n > 0 && !req.Expect100 && n <= inlineBody && int(n) <= c.br.Buffered() {
		body, _ := c.br.Peek(int(n))
		c.head = append(c.head, body...)
		inline = true
	}
	uc.SetDeadline(time.Now().Add(be.TimeoutServer))
	for {
		_, err := uc.Write(c.head)
		if err == nil {
			break
		}
		uc.Close()
		// A pooled connection the server closed meanwhile: nothing was
		// processed, so a fresh one is safe for any request.
		if reused && isClosedByPeer(err) {
			if uc = c.s.dial(ep, be, &c.cl, c.upstreamSNI(be)); uc != nil {
				reused = false
				uc.SetDeadline(time.Now().Add(be.TimeoutServer))
				continue
			}
		}
		ep.CountFailure()
		return c.errorResponse(502, "could not send the request to the server", true)
	}
	if inline {
		c.br.Discard(int(req.ContentLength))
		c.in = req.ContentLength
	}
	c.resp.Reset()
	c.noReuse = false
	bodySent := inline || !req.HasBody()
	if !bodySent && req.Expect100 {
		// Let the server answer the Expect first: relay its 100 Continue,
		// or its final answer without sending the body at all. Waiting
		// for the first byte only (not a whole head) means a timeout
		// never loses part of a response.
		uc.SetReadDeadline(time.Now().Add(expectWait))
		_, err := uc.R.Peek(1)
		uc.SetDeadline(time.Now().Add(be.TimeoutServer))
		if err == nil {
			c.resp.Reset()
			err = h1.ReadResponse(uc.R, &c.resp, upstreamLimits)
		} else if isTimeout(err) {
			err = nil // no answer yet: send the body anyway
		}
		switch {
		case err == nil && c.resp.Status == 0:
		case err == nil && c.resp.Status == 100:
			c.resp.Reset()
			c.raw.SetWriteDeadline(time.Now().Add(fe.TimeoutClient))
			c.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
			if c.bw.Flush() != nil {
				uc.Close()
				return false
			}
		case err == nil:
			// A final answer: the client's body stays unread, so the
			// client connection closes after it, and the server's, which
			// still expects the announced body, is never reused.
			c.noReuse = true
			c.linger = true
			return c.relay(fe, uc, false, false)
		default:
			uc.Close()
			ep.CountFailure()
			return c.errorResponse(502, "invalid response from the server", true)
		}
	}
	if !bodySent {
		if err, upstreamSide := c.sendBody(fe, be, uc, chunking, first); err != nil {
			var perr *h1.Error
			if errors.As(err, &perr) {
				uc.Close()
				return c.errorResponse(perr.Status, perr.Msg, true)
			}
			if !upstreamSide {
				uc.Close()
				return false
			}
			// The server stopped reading the body: it may have answered
			// early (413, 401) before closing. Relay that answer.
			c.noReuse, c.linger = true, true
			uc.SetReadDeadline(time.Now().Add(time.Second))
			c.resp.Reset()
			if h1.ReadResponse(uc.R, &c.resp, upstreamLimits) != nil {
				uc.Close()
				ep.CountFailure()
				return c.errorResponse(502, "the server stopped reading the request body", true)
			}
			return c.relay(fe, uc, false, false)
		}
	}
	return c.relay(fe, uc, reused && bodySent && replayable(req), true)
}

// finished counts the end of the request on the server it ended on.
func (c *conn) finished() {
	if c.ep != nil {
		tcpproxy.Done(c.be, c.ep)
		c.ep.Traffic.Observe(c.status, time.Since(c.start), c.in, c.out)
	}
	c.be, c.ep, c.chosen = nil, nil, nil
}

// replayable reports whether a request may be sent again on a new
// connection after a reused one failed before any response byte.
func replayable(req *h1.Request) bool {
	if req.HasBody() {
		return false
	}
	switch string(req.Method) {
	case "GET", "HEAD", "OPTIONS", "TRACE":
		return true
	}
	return false
}

// sendBody streams the request body from the client to uc. When started,
// the chunked reader is already positioned and first holds the data it read.
// upstreamSide tells whether an error came from writing to the server.
func (c *conn) sendBody(fe *snapshot.Frontend, be *snapshot.Backend, uc *upstream.Conn, started bool, first []byte) (err error, upstreamSide bool) {
	req := &c.req
	if !req.Chunked {
		buf := c.s.bufs.Get().(*[copyBufSize]byte)
		defer c.s.bufs.Put(buf)
		for left := req.ContentLength; left > 0; {
			c.raw.SetReadDeadline(time.Now().Add(fe.TimeoutClient))
			n, err := c.br.Read(buf[:min(left, copyBufSize)])
			if n > 0 {
				uc.SetWriteDeadline(time.Now().Add(be.TimeoutServer))
				if _, werr := uc.Write(buf[:n]); werr != nil {
					return werr, true
				}
				left -= int64(n)
				c.in += int64(n)
			}
			if err != nil {
				if left > 0 && err == io.EOF {
					return io.ErrUnexpectedEOF, false
				}
				if left > 0 {
					return err, false
				}
			}
		}
		return nil, false
	}
	if !started {
		c.cr.Reset(c.br, h1.Limits{MaxHeaderBytes: fe.MaxHeaderBytes, MaxHeaders: fe.MaxHeaders})
	}
	c.ubw.Reset(uc)
	c.cw.Reset(c.ubw)
	if len(first) > 0 {
		if _, err := c.cw.Write(first); err != nil {
			return err, true
		}
		c.in += int64(len(first))
	}
	buf := c.s.bufs.Get().(*[copyBufSize]byte)
	defer c.s.bufs.Put(buf)
	for {
		c.raw.SetReadDeadline(time.Now().Add(fe.TimeoutClient))
		n, err := c.cr.Read(buf[:])
		if n > 0 {
			uc.SetWriteDeadline(time.Now().Add(be.TimeoutServer))
			if _, werr := c.cw.Write(buf[:n]); werr != nil {
				return werr, true
			}
			c.in += int64(n)
			if c.br.Buffered() == 0 {
				if werr := c.ubw.Flush(); werr != nil {
					return werr, true
				}
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return err, false
		}
	}
	if err := c.cw.Close(c.cr.Trailers()); err != nil {
		return err, true
	}
	return c.ubw.Flush(), true
}

// relay reads the response from uc and writes it to the client. retry
// allows one new attempt on a fresh connection to the same server when a
// reused connection fails before any response byte. A replayable request
// whose server fails before answering (a reset, a close, a malformed head, a
// timeout) is sent again to another server, as tcpproxy.Attempts allows.
// It reports whether the client connection stays open.
func (c *conn) relay(fe *snapshot.Frontend, uc *upstream.Conn, retry, keepClient bool) bool {
	req := &c.req
	isHead := string(req.Method) == "HEAD"
	for interim := 0; ; interim++ {
		if c.resp.Status == 0 {
			be, ep := c.be, c.ep
			uc.SetReadDeadline(time.Now().Add(be.TimeoutServer))
			if err := h1.ReadResponse(uc.R, &c.resp, upstreamLimits); err != nil {
				uc.Close()
				if retry && isClosedByPeer(err) {
					retry = false
					if uc = c.s.dial(ep, be, &c.cl, c.upstreamSNI(be)); uc != nil && c.resend(fe, uc) {
						interim = -1 // still waiting for the first answer
						continue
					}
				}
				if interim == 0 && keepClient && replayable(req) {
					// redispatch counts the failure on ep.
					if uc = c.redispatch(fe); uc != nil {
						interim = -1
						continue
					}
				} else {
					ep.CountFailure()
					ep.ObserveOutcome(false)
				}
				if isTimeout(err) {
					return c.errorResponse(504, "the server did not answer in time", true)
				}
				return c.errorResponse(502, "invalid or no response from the server", true)
			}
		}
		st := c.resp.Status
		be, ep := c.be, c.ep
		if st == 101 {
			if !c.u.upgrade {
				uc.Close()
				ep.CountFailure()
				return c.errorResponse(502, "the server switched protocols without an upgrade request", true)
			}
			c.tunnel(be, uc)
			return false
		}
		if st >= 100 && st < 200 {
			if interim == maxInterim {
				uc.Close()
				ep.CountFailure()
				return c.errorResponse(502, "too many interim responses from the server", true)
			}
			if req.Minor == 1 {
				c.raw.SetWriteDeadline(time.Now().Add(fe.TimeoutClient))
				c.head = appendStatusLine(c.head[:0], st, c.resp.Reason)
				c.head = appendResponseFields(c.head, &c.resp, false, false, nil)
				c.head = append(c.head, '\r', '\n')
				c.bw.Write(c.head)
				if c.bw.Flush() != nil {
					uc.Close()
					return false
				}
			}
			c.resp.Reset()
			continue
		}
		break
	}
	c.ep.ObserveOutcome(c.resp.Status < 500)
	return c.relayBody(fe, c.be, c.ep, uc, isHead, keepClient)
}

// resend writes the request head again on a new connection uc; on failure
// it closes uc.
func (c *conn) resend(fe *snapshot.Frontend, uc *upstream.Conn) bool {
	uc.SetDeadline(time.Now().Add(c.be.TimeoutServer))
	c.head = appendRequestHead(c.head[:0], &c.req, &c.u, fe, c.be)
	if _, err := uc.Write(c.head); err != nil {
		uc.Close()
		return false
	}
	c.resp.Reset()
	return true
}

// redispatch moves a replayable request whose server failed before
// answering to the next server the attempts allow, and sends it there. It
// returns nil when there is none.
func (c *conn) redispatch(fe *snapshot.Frontend) *upstream.Conn {
	c.att.Failed(c.ep)
	c.ep = nil
	for {
		uc, _, err := c.next()
		if err != nil {
			// The request ends on no server: count it on none.
			c.be, c.ep = c.att.Backend(), nil
			return nil
		}
		if c.resend(fe, uc) {
			return uc
		}
		c.att.Failed(c.ep)
		c.ep = nil
	}
}

// relayBody writes the final response head and streams its body.
func (c *conn) relayBody(fe *snapshot.Frontend, be *snapshot.Backend, ep *upstream.Endpoint, uc *upstream.Conn, isHead, keepClient bool) bool {
	req, resp := &c.req, &c.resp
	framing, n := resp.Framing(isHead)
	keepClient = keepClient && !req.Close && !c.lc.Draining()
	// An HTTP/1.0 client cannot read chunked: decode, and close to delimit.
	dechunk := req.Minor == 0 && (framing == h1.Chunked || framing == h1.UntilClose)
	// An HTTP/1.1 client gets a close-delimited body re-framed as chunked,
	// so its connection stays open.
	rechunk := req.Minor == 1 && framing == h1.UntilClose
	if dechunk {
		keepClient = false
	}
	h := appendStatusLine(c.head[:0], resp.Status, resp.Reason)
	h = appendResponseFields(h, resp, framing == h1.NoBody, framing == h1.Chunked && !dechunk || rechunk, fe.ResponseHeaders)
	h = appendStickyCookie(h, be, c.chosen, ep)
	switch {
	case framing == h1.Length:
		h = append(h, "Content-Length: "...)
		h = strconv.AppendInt(h, n, 10)
		h = append(h, '\r', '\n')
	case rechunk:
		h = append(h, "Transfer-Encoding: chunked\r\n"...)
	}
	if !keepClient {
		h = append(h, "Connection: close\r\n"...)
	} else if req.Minor == 0 {
		h = append(h, "Connection: keep-alive\r\n"...)
	}
	h = append(h, '\r', '\n')
	c.head = h
	c.status = resp.Status
	c.raw.SetWriteDeadline(time.Now().Add(fe.TimeoutClient))
	c.bw.Write(h)

	var err error
	switch framing {
	case h1.NoBody:
	case h1.Length:
		err = c.copyLength(fe, be, uc, n)
	case h1.Chunked:
		c.cr.Reset(uc.R, upstreamLimits)
		err = c.copyStream(fe, be, uc, &c.cr, !dechunk)
	case h1.UntilClose:
		err = c.copyStream(fe, be, uc, uc.R, rechunk)
	}
	if err != nil && framing == h1.Length && c.bw.Buffered() == len(h)+int(c.out) {
		// The server cut the body short before any of the response left
		// gantry: the client can still get a clean 502 instead.
		uc.Close()
		ep.CountFailure()
		ep.ObserveOutcome(false)
		c.bw.Reset(c.raw)
		c.out = 0
		return c.errorResponse(502, "the server closed the connection before the end of its response", true)
	}
	if err == nil {
		err = c.bw.Flush()
	}
	// Bytes beyond the response mean the connection is out of step.
	if err == nil && framing != h1.UntilClose && !resp.Close && !c.noReuse && uc.R.Buffered() == 0 {
		release(be, ep, uc)
	} else {
		uc.Close()
	}
	return err == nil && keepClient
}

func (c *conn) copyLength(fe *snapshot.Frontend, be *snapshot.Backend, uc *upstream.Conn, n int64) error {
	if n <= int64(uc.R.Buffered()) {
		b, _ := uc.R.Peek(int(n))
		c.bw.Write(b)
		uc.R.Discard(int(n))
		c.out += n
		return nil
	}
	if n >= spliceMin {
		return c.spliceLength(fe, be, uc, n)
	}
	return c.copyTo(c.bw, fe, be, uc, n)
}

// copyTo copies n body bytes from uc to w (the client's connection, or
// c.bw in front of it) through a pooled buffer, with fresh deadlines on
// each read and write: a long transfer is bounded by inactivity. On the
// hot path: no allocation.
func (c *conn) copyTo(w io.Writer, fe *snapshot.Frontend, be *snapshot.Backend, uc *upstream.Conn, n int64) error {
	buf := c.s.bufs.Get().(*[copyBufSize]byte)
	defer c.s.bufs.Put(buf)
	for n > 0 {
		uc.SetReadDeadline(time.Now().Add(be.TimeoutServer))
		k, err := uc.R.Read(buf[:min(n, copyBufSize)])
		if k > 0 {
			n -= int64(k)
			c.out += int64(k)
			c.raw.SetWriteDeadline(time.Now().Add(fe.TimeoutClient))
			if _, werr := w.Write(buf[:k]); werr != nil {
				return werr
			}
		}
		if err != nil && n > 0 {
			if err == io.EOF {
				return io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

// spliceLength moves a large Content-Length body with splice(2): what the
// read buffer already holds goes first, the rest moves socket to socket in
// the kernel. Each step of at most spliceChunk bytes gets fresh deadlines,
// so a long transfer is bounded by inactivity, not by its total time.
func (c *conn) spliceLength(fe *snapshot.Frontend, be *snapshot.Backend, uc *upstream.Conn, n int64) error {
	if k := min(int64(uc.R.Buffered()), n); k > 0 {
		b, _ := uc.R.Peek(int(k))
		c.bw.Write(b)
		uc.R.Discard(int(k))
		n -= k
		c.out += k
	}
	if err := c.bw.Flush(); err != nil {
		return err
	}
	dst, ok := c.raw.(*net.TCPConn)
	if _, plain := uc.Conn.(*net.TCPConn); !ok || !plain {
		// TLS on either side: the bytes must pass through user space.
		return c.copyTo(c.raw, fe, be, uc, n)
	}
	for n > 0 {
		step := min(n, spliceChunk)
		uc.SetReadDeadline(time.Now().Add(be.TimeoutServer))
		c.raw.SetWriteDeadline(time.Now().Add(fe.TimeoutClient))
		c.lr = io.LimitedReader{R: uc.Conn, N: step}
		k, err := dst.ReadFrom(&c.lr)
		n -= k
		c.out += k
		if err != nil {
			return err
		}
		if k < step {
			return io.ErrUnexpectedEOF
		}
	}
	return nil
}

// copyStream relays a body read from r until EOF: a chunked body (r is the
// chunked reader, and its trailers follow) or one delimited by the server
// closing (r is the connection). With chunked the client gets it
// re-chunked, else raw. What arrived is flushed whenever nothing more is
// waiting, so streamed responses are not held back.
func (c *conn) copyStream(fe *snapshot.Frontend, be *snapshot.Backend, uc *upstream.Conn, r io.Reader, chunked bool) error {
	buf := c.s.bufs.Get().(*[copyBufSize]byte)
	defer c.s.bufs.Put(buf)
	c.cw.Reset(c.bw)
	for {
		uc.SetReadDeadline(time.Now().Add(be.TimeoutServer))
		k, err := r.Read(buf[:])
		if k > 0 {
			c.out += int64(k)
			c.raw.SetWriteDeadline(time.Now().Add(fe.TimeoutClient))
			var werr error
			if chunked {
				_, werr = c.cw.Write(buf[:k])
			} else {
				_, werr = c.bw.Write(buf[:k])
			}
			if werr == nil && uc.R.Buffered() == 0 {
				werr = c.bw.Flush()
			}
			if werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	if !chunked {
		return nil
	}
	var trailers []h1.Header
	if r == io.Reader(&c.cr) {
		trailers = c.cr.Trailers()
	}
	return c.cw.Close(trailers)
}

// tunnel relays the 101 response and turns both connections into a byte
// tunnel, which outlives any config change.
func (c *conn) tunnel(be *snapshot.Backend, uc *upstream.Conn) {
	c.status = 101
	h := appendStatusLine(c.head[:0], 101, c.resp.Reason)
	h = appendResponseFields(h, &c.resp, false, false, nil)
	h = append(h, "Connection: Upgrade\r\nUpgrade: "...)
	h = append(h, c.resp.Upgrade...)
	h = append(h, "\r\n\r\n"...)
	c.head = h
	c.raw.SetWriteDeadline(time.Now().Add(5 * time.Second))
	c.bw.Write(h)
	if c.bw.Flush() != nil {
		uc.Close()
		return
	}
	c.raw.SetDeadline(time.Time{})
	uc.SetDeadline(time.Time{})
	// Bytes each side sent right behind its head belong to the tunnel.
	fromClient, _ := c.br.Peek(c.br.Buffered())
	fromServer, _ := uc.R.Peek(uc.R.Buffered())
	tcpproxy.Tunnel(c.raw, uc.Conn, fromClient, fromServer, be.TimeoutTunnel)
}

// errorResponse answers the client with a short plain-text error generated
// by gantry, and reports whether the connection stays open.
func (c *conn) errorResponse(status int, msg string, closeConn bool) bool {
	closeConn = closeConn || c.req.Close || c.lc.Draining()
	c.linger = closeConn
	c.status, c.out = status, int64(len(msg)+1)
	h := appendStatusLine(c.head[:0], status, []byte(statusText(status)))
	h = append(h, "Content-Type: text/plain; charset=utf-8\r\nCache-Control: no-cache\r\nContent-Length: "...)
	h = strconv.AppendInt(h, int64(len(msg)+1), 10)
	if closeConn {
		h = append(h, "\r\nConnection: close"...)
	}
	h = append(h, "\r\n\r\n"...)
	if string(c.req.Method) != "HEAD" {
		h = append(h, msg...)
		h = append(h, '\n')
	}
	c.head = h
	c.raw.SetWriteDeadline(time.Now().Add(5 * time.Second))
	c.bw.Write(h)
	return c.bw.Flush() == nil && !closeConn
}

func statusText(code int) string {
	switch code {
	case 301:
		return "Moved Permanently"
	case 302:
		return "Found"
	case 303:
		return "See Other"
	case 307:
		return "Temporary Redirect"
	case 308:
		return "Permanent Redirect"
	case 400:
		return "Bad Request"
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 405:
		return "Method Not Allowed"
	case 408:
		return "Request Timeout"
	case 414:
		return "URI Too Long"
	case 431:
		return "Request Header Fields Too Large"
	case 501:
		return "Not Implemented"
	case 502:
		return "Bad Gateway"
	case 503:
		return "Service Unavailable"
	case 504:
		return "Gateway Timeout"
	case 505:
		return "HTTP Version Not Supported"
	}
	return "Error"
}

// connect returns a connection to a server of be for this request: a
// pooled one when the chosen server has one, else a new one, trying servers
// as tcpproxy.Attempts says (retries, redispatch, max_connections and its
// queue, failover). preferred, when set, is the sticky or hashed choice. On
// success c.be and c.ep are the backend (be or its failover) and server,
// with the request counted on it: call finished.
func (c *conn) connect(be *snapshot.Backend, preferred *upstream.Endpoint) (*upstream.Conn, bool, error) {
	c.att = tcpproxy.NewAttempts(be, preferred, c.key, nil)
	return c.next()
}

// track keeps the client connection tracked on ep for shutdown_sessions
// when on, and on no server otherwise; unchanged tracking costs nothing.
func (c *conn) track(ep *upstream.Endpoint, on bool) {
	if !on {
		ep = nil
	}
	if ep == c.tracked {
		return
	}
	if c.untrack != nil {
		c.untrack()
		c.untrack = nil
	}
	c.tracked = ep
	if ep != nil {
		c.untrack = ep.Track(c.lc.Conn) // the socket, under any TLS
	}
}

// next moves to the next server of the attempts and connects to it.
func (c *conn) next() (*upstream.Conn, bool, error) {
	for {
		ep, err := c.att.Next()
		if err != nil {
			c.track(nil, false)
			return nil, false, err
		}
		be := c.att.Backend()
		c.be, c.ep = be, ep
		c.track(ep, be.ShutdownSessions && c.raw != nil) // not on HTTP/2 streams
		// A connection that carried a PROXY header speaks for one client:
		// it is never pooled, so there is never one to take.
		if be.Proxy == snapshot.ProxyNone {
			if uc := takeIdle(ep, be, c.upstreamSNI(be)); uc != nil {
				c.pinned(c.chosen)
				return uc, true, nil
			}
		}
		if uc := c.s.dial(ep, be, &c.cl, c.upstreamSNI(be)); uc != nil {
			c.pinned(c.chosen)
			return uc, false, nil
		}
		c.att.Failed(ep)
		c.ep = nil
	}
}

// connectError is the text of the 503 for an error of connect.
func connectError(err error) string {
	switch {
	case errors.Is(err, tcpproxy.ErrQueueTimeout):
		return "every server is busy: the request waited too long in the queue"
	case errors.Is(err, tcpproxy.ErrConnect):
		return "could not connect to any server of this backend"
	}
	return "no server is available to handle this request"
}

// release returns a finished connection to ep's pool, or closes it when the
// pool is full, ep left the config (also when that happens during Put) or
// the connection carried a PROXY header for one client.
func release(be *snapshot.Backend, ep *upstream.Endpoint, uc *upstream.Conn) {
	if be.Proxy != snapshot.ProxyNone || ep.Removed() || !ep.Idle.Put(uc) {
		uc.Close()
		return
	}
	if ep.Removed() {
		ep.Idle.CloseAll()
	}
}

// takeIdle returns a pooled connection to ep that the server has not closed.
func takeIdle(ep *upstream.Endpoint, be *snapshot.Backend, sni []byte) *upstream.Conn {
	for {
		uc := ep.Idle.Get()
		if uc == nil {
			return nil
		}
		if !reusable(uc, be, sni) {
			uc.Close()
			continue
		}
		// A connection idle for a while may have been closed by the server
		// (Node.js closes after 5 s); one non-blocking peek tells, and is
		// skipped for connections reused at once, as under load.
		if time.Since(uc.IdleSince()) < staleAfter || alive(uc.Conn) {
			return uc
		}
		uc.Close()
	}
}

// alive reports whether c has neither been closed by the peer nor has
// unexpected bytes waiting, with one non-blocking MSG_PEEK.
func alive(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	ok = false
	rc.Control(func(fd uintptr) {
		var b [1]byte
		n, _, err := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		ok = n < 0 && (err == unix.EAGAIN || err == unix.EWOULDBLOCK)
	})
	return ok
}

func (s *Server) dial(ep *upstream.Endpoint, be *snapshot.Backend, cl *tcpproxy.Client, sni []byte) *upstream.Conn {
	nc, err := tcpproxy.Dial(be, ep, cl)
	if err == nil && be.TLS != nil {
		nc, err = clientTLS(nc, be, sni)
	}
	if err != nil {
		if s.log.Enabled(context.Background(), slog.LevelDebug) {
			s.log.Debug("connect failed", "backend", be.Name, "endpoint", ep.Addr, "err", err)
		}
		return nil
	}
	return &upstream.Conn{Conn: nc, R: bufio.NewReaderSize(nc, 4096)}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded)
}

// isClosedByPeer reports errors that mean a kept-alive connection was
// closed by the server before it read our request.
func isClosedByPeer(err error) bool {
	return err == io.EOF || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// originForm returns the origin-form of a request target: an absolute-form
// target loses its scheme and authority.
func originForm(target []byte) []byte {
	rest, ok := cutScheme(target)
	if !ok {
		return target
	}
	if i := bytes.IndexAny(rest, "/?"); i >= 0 {
		if rest[i] == '?' {
			return append([]byte{'/'}, rest[i:]...)
		}
		return rest[i:]
	}
	return []byte{'/'}
}

func cutScheme(target []byte) ([]byte, bool) {
	if len(target) == 0 || target[0] == '/' {
		return nil, false
	}
	for _, s := range []string{"http://", "https://"} {
		if len(target) >= len(s) && h1.EqualFold(target[:len(s)], s) {
			return target[len(s):], true
		}
	}
	return nil, false
}
