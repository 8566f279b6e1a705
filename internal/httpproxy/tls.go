package httpproxy

import (
	"bytes"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gantry-lb/gantry/internal/route"
	"github.com/gantry-lb/gantry/internal/snapshot"
)

// alpnH2 is the ALPN name of HTTP/2 over TLS.
const alpnH2 = "h2"

// ChallengeHandler answers ACME HTTP-01 validation requests
// (certs.Manager does): it reports whether it answered r.
type ChallengeHandler interface {
	HandleHTTPChallenge(w http.ResponseWriter, r *http.Request) bool
}

// SetChallenges makes plain http frontends answer ACME HTTP-01
// validations (GET /.well-known/acme-challenge/<token>) with h before
// anything else: before redirects, ACLs and routing. A request h does not
// answer goes on as any other. Call it before serving.
func (s *Server) SetChallenges(h ChallengeHandler) { s.challenges = h }

// challengePrefix is the path prefix of ACME HTTP-01 validations.
const challengePrefix = "/.well-known/acme-challenge/"

// isChallengePath is cheap enough for every request: no allocation.
func isChallengePath(p []byte) bool {
	return len(p) > len(challengePrefix) && string(p[:len(challengePrefix)]) == challengePrefix
}

// challengeWriter collects the answer of a ChallengeHandler.
type challengeWriter struct {
	h      http.Header
	status int
	body   bytes.Buffer
}

func (w *challengeWriter) Header() http.Header { return w.h }
func (w *challengeWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}
func (w *challengeWriter) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(b)
}

// answerChallenge offers the current request to the challenge handler and
// writes its answer; it reports whether the handler answered. Rare: it
// allocates.
func (c *conn) answerChallenge() bool {
	req := &c.req
	r := &http.Request{Method: string(req.Method), URL: &url.URL{Path: string(req.Path())}, Host: string(req.Authority()),
		Header: http.Header{}, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: int(req.Minor), Body: http.NoBody}
	r.RequestURI = r.URL.Path
	w := &challengeWriter{h: http.Header{}}
	if !c.s.challenges.HandleHTTPChallenge(w, r) {
		return false
	}
	if w.status == 0 {
		w.status = http.StatusOK
	}
	closeConn := req.HasBody() || req.Close || c.lc.Draining()
	c.linger = closeConn
	c.status, c.out = w.status, int64(w.body.Len())
	h := appendStatusLine(c.head[:0], w.status, []byte(http.StatusText(w.status)))
	if ct := w.h.Get("Content-Type"); ct != "" {
		h = append(h, "Content-Type: "...)
		h = append(h, ct...)
		h = append(h, '\r', '\n')
	}
	h = append(h, "Cache-Control: no-store\r\nContent-Length: "...)
	h = strconv.AppendInt(h, int64(w.body.Len()), 10)
	if closeConn {
		h = append(h, "\r\nConnection: close"...)
	}
	h = append(h, "\r\n\r\n"...)
	if string(req.Method) != "HEAD" {
		h = append(h, w.body.Bytes()...)
	}
	c.head = h
	c.raw.SetWriteDeadline(time.Now().Add(5 * time.Second))
	c.bw.Write(h)
	c.bw.Flush()
	return true
}

// redirectResponse answers a request of an http frontend with
// https_redirect: its redirect to https on the same host (without its
// port: the https port is the frontend's setting), path and query. It
// reports whether the connection stays open. On the hot path of such
// frontends: no allocation once the head buffer has grown.
func (c *conn) redirectResponse(fe *snapshot.Frontend, host, target []byte) bool {
	h := c.redirectHead(fe.HTTPSRedirect)
	h = append(h, "https://"...)
	h = route.AppendSafe(h, hostOnly(host))
	if p := fe.HTTPSPort; p != 0 && p != 443 {
		h = append(h, ':')
		h = strconv.AppendInt(h, int64(p), 10)
	}
	if len(target) == 0 || target[0] != '/' {
		h = append(h, '/')
	}
	h = route.AppendSafe(h, target)
	return c.sendRedirect(h)
}

// hostOnly returns a Host header without its port ("[::1]:80" → "[::1]").
func hostOnly(host []byte) []byte {
	i := bytes.LastIndexByte(host, ':')
	if i < 0 || bytes.LastIndexByte(host, ']') > i {
		return host
	}
	return host[:i]
}

var schemeHTTPS = []byte("https")

// scheme is the scheme the client used, for redirects that keep it.
func (c *conn) scheme() []byte {
	if c.tc != nil {
		return schemeHTTPS
	}
	return schemeHTTP
}
