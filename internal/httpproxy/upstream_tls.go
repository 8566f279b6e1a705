package httpproxy

import (
	"crypto/tls"
	"net"
	"time"

	"github.com/gantry-lb/gantry/internal/snapshot"
	"github.com/gantry-lb/gantry/internal/upstream"
)

// tlsUpstream is a TLS connection to a server of a backend with
// ssl_bridging, with the SNI it was opened for: a pooled one serves only
// requests that would send the same SNI.
type tlsUpstream struct {
	*tls.Conn
	sni      string
	insecure bool // opened without verifying the server's certificate
}

// upstreamSNI is the server name sent to a backend's servers: its host
// override when set, else the request's Host, without a port. Nil for
// backends without ssl_bridging. On the hot path: no allocation.
func (c *conn) upstreamSNI(be *snapshot.Backend) []byte {
	if be.TLS == nil {
		return nil
	}
	if be.Host != nil {
		return hostOnly(be.Host)
	}
	h := hostOnly(c.u.host)
	if len(h) > 1 && h[0] == '[' && h[len(h)-1] == ']' {
		return h[1 : len(h)-1] // an IPv6 literal: never sent as SNI, but verified
	}
	return h
}

// clientTLS runs the TLS handshake of a new connection to a server, within
// the backend's timeout_connect; on failure it closes nc.
func clientTLS(nc net.Conn, be *snapshot.Backend, sni []byte) (net.Conn, error) {
	cfg := be.TLS.Clone()
	cfg.ServerName = string(sni)
	tc := tls.Client(nc, cfg)
	tc.SetDeadline(time.Now().Add(be.TimeoutConnect))
	if err := tc.Handshake(); err != nil {
		nc.Close()
		return nil, err
	}
	tc.SetDeadline(time.Time{})
	return &tlsUpstream{Conn: tc, sni: cfg.ServerName, insecure: cfg.InsecureSkipVerify}, nil
}

// reusable reports whether a pooled connection fits a request of be that
// sends sni: a plain one for a plain backend, a TLS one opened for the
// same name, and verified if the backend now verifies, for a backend with
// ssl_bridging. On the hot path: no allocation.
func reusable(uc *upstream.Conn, be *snapshot.Backend, sni []byte) bool {
	tu, isTLS := uc.Conn.(*tlsUpstream)
	if be.TLS == nil {
		return !isTLS
	}
	return isTLS && tu.sni == string(sni) && (tu.insecure == be.TLS.InsecureSkipVerify || !tu.insecure)
}
