package httpproxy

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http2"

	"github.com/gantry-lb/gantry/internal/balance"
	"github.com/gantry-lb/gantry/internal/snapshot"
	"github.com/gantry-lb/gantry/internal/tcpproxy"
	"github.com/gantry-lb/gantry/internal/upstream"
)

// HTTP/2 to servers. A backend with h2 speaks HTTP/2 to its servers: h2c
// with prior knowledge, or h2 by ALPN over TLS with ssl_bridging. HTTP/2
// streams from clients go to it as HTTP/2 streams, with their trailers both
// ways, so gRPC passes through. The connections are x/net/http2's,
// multiplexed and shared by every client; a pool key names the server and
// the TLS settings (server name, verification), and the dial counts the
// connection on the server's endpoint.

// h2Dial is what a dial of the HTTP/2 transport needs: carried by the
// request's context, since the transport dials by pool key only.
type h2Dial struct {
	be  *snapshot.Backend
	ep  *upstream.Endpoint
	sni string
}

// h2DialError marks an error of dialling a server: the request never left,
// so it may go to another server. Requests that waited on a dial another
// request started get the same error, so they move on too.
type h2DialError struct{ err error }

func (e h2DialError) Error() string { return "httpproxy: dialling an HTTP/2 server: " + e.err.Error() }
func (e h2DialError) Unwrap() error { return e.err }

type h2DialKey struct{}

// newH2Transport returns the transport of backends with h2.
func newH2Transport() *http2.Transport {
	return &http2.Transport{
		AllowHTTP:       true,
		ReadIdleTimeout: 30 * time.Second,
		PingTimeout:     15 * time.Second,
		IdleConnTimeout: 60 * time.Second,
		DialTLSContext: func(ctx context.Context, _, _ string, _ *tls.Config) (net.Conn, error) {
			d, _ := ctx.Value(h2DialKey{}).(*h2Dial)
			if d == nil {
				return nil, errors.New("httpproxy: an HTTP/2 dial without its server")
			}
			nc, err := tcpproxy.Dial(d.be, d.ep, &tcpproxy.Client{})
			if err == nil && d.be.TLS != nil {
				nc, err = clientTLSH2(nc, d.be, d.sni)
			}
			if err != nil {
				return nil, h2DialError{err}
			}
			return nc, nil
		},
	}
}

// clientTLSH2 is clientTLS offering only h2 by ALPN, which the server must
// pick.
func clientTLSH2(nc net.Conn, be *snapshot.Backend, sni string) (net.Conn, error) {
	cfg := be.TLS.Clone()
	cfg.ServerName, cfg.NextProtos = sni, []string{alpnH2}
	tc := tls.Client(nc, cfg)
	tc.SetDeadline(time.Now().Add(be.TimeoutConnect))
	if err := tc.Handshake(); err != nil {
		nc.Close()
		return nil, err
	}
	tc.SetDeadline(time.Time{})
	if tc.ConnectionState().NegotiatedProtocol != alpnH2 {
		tc.Close()
		return nil, errors.New("httpproxy: the server does not offer h2 by ALPN")
	}
	return tc, nil
}

// poolKey names a shared HTTP/2 connection: the server and, over TLS, the
// server name and whether the certificate was verified.
func poolKey(be *snapshot.Backend, ep *upstream.Endpoint, sni string) string {
	if be.TLS == nil {
		return ep.Addr
	}
	host, port, _ := net.SplitHostPort(ep.Addr)
	mode := "v"
	if be.TLS.InsecureSkipVerify {
		mode = "i"
	}
	return net.JoinHostPort(mode+"~"+sni+"~"+host, port)
}

// h2Forward sends an HTTP/2 stream to a server of be over HTTP/2 and relays
// the answer, trailers included. Servers are tried as tcpproxy.Attempts
// says while a dial fails (nothing of the request has gone out then).
func (h *h2Handler) h2Forward(w *statusWriter, r *http.Request, fe *snapshot.Frontend, be *snapshot.Backend, chosen *upstream.Endpoint, key balance.HashKey) {
	start := time.Now()
	att := tcpproxy.NewAttempts(be, chosen, key, r.Context().Done())
	for {
		ep, err := att.Next()
		if err != nil {
			http.Error(w, connectError(err), http.StatusServiceUnavailable)
			return
		}
		cur := att.Backend()
		sni := hostOnlyString(r.Host)
		if cur.Host != nil {
			sni = string(hostOnly(cur.Host))
		}
		d := &h2Dial{be: cur, ep: ep, sni: sni}
		out := h.outgoing(r, fe, cur, poolKey(cur, ep, sni), d)
		done := make(chan struct{})
		timer := time.AfterFunc(cur.TimeoutServer, func() {
			select {
			case <-done:
			default:
				out.cancel()
			}
		})
		resp, err := h.s.h2t.RoundTrip(out.req)
		close(done)
		timer.Stop()
		var dialErr h2DialError
		if err != nil && errors.As(err, &dialErr) {
			att.Failed(ep)
			out.cancel()
			continue
		}
		if err != nil {
			out.cancel()
			tcpproxy.Done(cur, ep)
			ep.CountFailure()
			ep.ObserveOutcome(false)
			if h.s.log.Enabled(r.Context(), slog.LevelDebug) {
				h.s.log.Debug("h2 upstream failed", "backend", cur.Name, "endpoint", ep.Addr, "err", err)
			}
			if errors.Is(err, context.Canceled) && r.Context().Err() == nil {
				http.Error(w, "the server did not answer in time", http.StatusGatewayTimeout)
			} else {
				http.Error(w, "the server failed to answer over HTTP/2", http.StatusBadGateway)
			}
			return
		}
		err = h.relayH2(w, resp, fe, cur.TimeoutServer, out.cancel)
		out.cancel()
		tcpproxy.Done(cur, ep)
		ep.Traffic.Observe(w.status, time.Since(start), max(r.ContentLength, 0), w.out)
		ep.ObserveOutcome(err == nil && resp.StatusCode < 500)
		if err != nil {
			ep.CountFailure()
			panic(http.ErrAbortHandler) // the head went out: reset the stream
		}
		return
	}
}

// outgoingH2 is a request to a server and how to end it.
type outgoingH2 struct {
	req    *http.Request
	cancel context.CancelFunc
}

// outgoing builds the request sent to a server: the client's, without its
// hop-by-hop fields (TE: trailers stays, as HTTP/2 allows), with the
// forwarding fields and the frontend's header rules.
func (h *h2Handler) outgoing(r *http.Request, fe *snapshot.Frontend, be *snapshot.Backend, key string, d *h2Dial) outgoingH2 {
	ctx, cancel := context.WithCancel(context.WithValue(r.Context(), h2DialKey{}, d))
	scheme := "http"
	if be.TLS != nil {
		scheme = "https"
	}
	hdr := make(http.Header, len(r.Header)+3)
	for k, vs := range r.Header {
		switch strings.ToLower(k) {
		case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "http2-settings", "host":
			continue
		case "te":
			vs = []string{"trailers"} // the guard let no other value through
		case "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host":
			if fe.XForwardedFor && k != "X-Forwarded-For" {
				continue
			}
		case "forwarded":
			if fe.Forwarded {
				continue
			}
		}
		if replaced(fe.RequestHeaders, []byte(k)) {
			continue
		}
		hdr[k] = vs
	}
	host := r.Host
	if be.Host != nil {
		host = string(be.Host)
	}
	proto := "http"
	if h.tls {
		proto = "https"
	}
	if fe.XForwardedFor {
		xff := h.ip
		if prior := hdr.Values("X-Forwarded-For"); len(prior) > 0 {
			xff = strings.Join(prior, ", ") + ", " + h.ip
		}
		hdr.Set("X-Forwarded-For", xff)
		hdr.Set("X-Forwarded-Proto", proto)
		hdr.Set("X-Forwarded-Host", r.Host)
	}
	if fe.Forwarded {
		f := "for=" + h.ip
		if strings.Contains(h.ip, ":") {
			f = `for="[` + h.ip + `]"`
		}
		f += ";proto=" + proto + ";host=" + strconv.Quote(r.Host)
		if prior := r.Header.Values("Forwarded"); len(prior) > 0 {
			f = strings.Join(prior, ", ") + ", " + f
		}
		hdr.Set("Forwarded", f)
	}
	for _, rule := range fe.RequestHeaders {
		if rule.Action != snapshot.HeaderRemove {
			hdr.Add(rule.Name, string(rule.Value))
		}
	}
	out := (&http.Request{
		Method:        r.Method,
		URL:           &url.URL{Scheme: scheme, Host: key, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery},
		Proto:         "HTTP/2.0",
		ProtoMajor:    2,
		Header:        hdr,
		Body:          r.Body,
		ContentLength: r.ContentLength,
		Trailer:       r.Trailer,
		Host:          host,
	}).WithContext(ctx)
	if r.Body == nil || r.Body == http.NoBody {
		out.Body = http.NoBody
	}
	return outgoingH2{req: out, cancel: cancel}
}

// relayH2 writes a server's answer to the client: its head (without
// hop-by-hop fields, with the frontend's response rules), its body as it
// comes, then its trailers.
func (h *h2Handler) relayH2(w *statusWriter, resp *http.Response, fe *snapshot.Frontend, idle time.Duration, cancel func()) error {
	defer resp.Body.Close()
	hdr := w.Header()
	for k, vs := range resp.Header {
		switch strings.ToLower(k) {
		case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "trailer":
			continue
		}
		if replaced(fe.ResponseHeaders, []byte(k)) {
			continue
		}
		hdr[k] = vs
	}
	for _, rule := range fe.ResponseHeaders {
		if rule.Action != snapshot.HeaderRemove {
			hdr.Add(rule.Name, string(rule.Value))
		}
	}
	for k := range resp.Trailer {
		hdr.Add("Trailer", k)
	}
	w.WriteHeader(resp.StatusCode)
	buf := h.s.bufs.Get().(*[copyBufSize]byte)
	defer h.s.bufs.Put(buf)
	rc := http.NewResponseController(w)
	// timeout_server bounds each wait for the body, as on HTTP/1.1: a
	// server that stalls mid-body has its stream cancelled.
	stall := time.AfterFunc(idle, cancel)
	defer stall.Stop()
	for {
		n, err := resp.Body.Read(buf[:])
		stall.Reset(idle)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
			rc.Flush()
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	for k, vs := range resp.Trailer {
		hdr[http.TrailerPrefix+k] = vs
	}
	return nil
}

func hostOnlyString(host string) string {
	return string(hostOnly([]byte(host)))
}

// CloseIdleConnections closes the idle HTTP/2 connections to servers of
// backends with h2 (on shutdown; they also close after a minute idle).
func (s *Server) CloseIdleConnections() { s.h2t.CloseIdleConnections() }
