package tcpproxy

import (
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/pires/go-proxyproto"
	"github.com/pires/go-proxyproto/tlvparse"

	"github.com/gantry-lb/gantry/internal/balance"
	"github.com/gantry-lb/gantry/internal/snapshot"
	"github.com/gantry-lb/gantry/internal/upstream"
)

// Errors of Connect. The HTTP proxy answers all three with a 503.
var (
	// ErrNoServer means no server of the backend (nor of its failover) is
	// available.
	ErrNoServer = errors.New("tcpproxy: no server available")
	// ErrConnect means every attempt to connect failed.
	ErrConnect = errors.New("tcpproxy: could not connect to any server")
	// ErrQueueTimeout means every available server stayed at its
	// max_connections for the whole timeout_queue.
	ErrQueueTimeout = errors.New("tcpproxy: servers busy (queue timeout)")
)

// Client describes the client side of a session, for PROXY headers.
type Client struct {
	Src, Dst netip.AddrPort
	// TLS is the client's TLS connection state when the frontend
	// terminated TLS, else nil.
	TLS *tls.ConnectionState
}

// maxAttempts bounds the endpoints remembered as tried or full for one
// connect; a backend with more servers still works, it only may try one
// of them twice.
const maxAttempts = 16

// Connect opens a connection to a server of be for one session, trying
// servers as Attempts says, and writes the backend's PROXY header before
// anything else. On success the endpoint's in-flight count has been raised:
// call Done. It returns the backend actually used (be or its failover).
func Connect(be *snapshot.Backend, preferred *upstream.Endpoint, key balance.HashKey, cl *Client, done <-chan struct{}) (*snapshot.Backend, *upstream.Endpoint, net.Conn, error) {
	a := NewAttempts(be, preferred, key, done)
	for {
		ep, err := a.Next()
		if err != nil {
			return a.Backend(), nil, nil, err
		}
		c, err := Dial(a.Backend(), ep, cl)
		if err == nil {
			ep.ObserveOutcome(true)
			return a.Backend(), ep, c, nil
		}
		a.Failed(ep)
	}
}

// Attempts walks the servers one session may try, following the backend's
// settings:
//
//   - The first attempt goes to preferred when it is available (a sticky
//     choice), else to the balancer's pick for key (hashing algorithms;
//     the zero key for the others).
//   - A failed connect is retried up to be.MaxRetries times; the first
//     be.Redispatch retries go to another server, later ones to the same.
//   - A server at its max_connections is skipped; when every available
//     server is at its cap, the session waits in the backend's queue for
//     up to timeout_queue (done cancels the wait).
//   - When no server is available at all, the failover backend is used.
//
// It lives on the caller's stack: no allocation.
type Attempts struct {
	be        *snapshot.Backend
	preferred *upstream.Endpoint
	key       balance.HashKey
	done      <-chan struct{}
	tried     [maxAttempts]*upstream.Endpoint
	nt        int
	attempt   int
	last      *upstream.Endpoint
}

// NewAttempts starts the attempts of one session on be.
func NewAttempts(be *snapshot.Backend, preferred *upstream.Endpoint, key balance.HashKey, done <-chan struct{}) Attempts {
	if !anyAvailable(be) && be.Failover != nil && anyAvailable(be.Failover) {
		be, preferred = be.Failover, nil
	}
	return Attempts{be: be, preferred: preferred, key: key, done: done}
}

// Backend returns the backend the attempts use (be or its failover).
func (a *Attempts) Backend() *snapshot.Backend { return a.be }

// Next returns the endpoint to try next, with the session counted on it
// (Begin), or ErrNoServer, ErrConnect or ErrQueueTimeout.
func (a *Attempts) Next() (*upstream.Endpoint, error) {
	for ; a.attempt <= a.be.MaxRetries; a.attempt++ {
		ep := a.last
		if ep == nil || a.attempt <= a.be.Redispatch || !ep.Available() {
			var err error
			ep, err = acquire(a.be, a.preferred, a.key, a.tried[:a.nt], a.done)
			a.preferred = nil
			if err != nil {
				if errors.Is(err, ErrNoServer) && a.attempt > 0 {
					return nil, ErrConnect
				}
				return nil, err
			}
		} else if !ep.TryBegin(a.be.MaxConnections) {
			// The same server again, but it filled up meanwhile: wait in
			// the queue for any server instead.
			a.last = nil
			a.attempt--
			continue
		}
		a.attempt++
		a.last = ep
		return ep, nil
	}
	return nil, ErrConnect
}

// Failed records that connecting to ep (returned by Next), or its answer,
// failed: it ends the session counted on it and counts the failure, for
// stats and passive ejection.
func (a *Attempts) Failed(ep *upstream.Endpoint) {
	Done(a.be, ep)
	ep.CountFailure()
	ep.ObserveOutcome(false)
	if a.nt < len(a.tried) {
		a.tried[a.nt] = ep
		a.nt++
	}
}

// Done ends a session that Connect started on ep, and lets a queued session
// have the freed slot.
func Done(be *snapshot.Backend, ep *upstream.Endpoint) {
	ep.End()
	be.Queue.Signal()
}

func anyAvailable(be *snapshot.Backend) bool {
	for _, e := range be.Endpoints {
		if e.Available() {
			return true
		}
	}
	return false
}

// acquire picks an available endpoint not in tried and counts the session
// on it, waiting in the queue while every candidate is at its cap.
func acquire(be *snapshot.Backend, preferred *upstream.Endpoint, key balance.HashKey, tried []*upstream.Endpoint, done <-chan struct{}) (*upstream.Endpoint, error) {
	var deadline time.Time
	var wake <-chan struct{} // set while registered in the queue
	defer func() {
		if wake != nil {
			be.Queue.Leave()
		}
	}()
	for {
		var skip [maxAttempts]*upstream.Endpoint
		ns := copy(skip[:], tried)
		full := false
		for {
			ep := preferred
			if ep == nil || !ep.Available() {
				ep = be.Group.PickUntried(key, skip[:ns])
			}
			if ep == nil {
				break
			}
			if ep.TryBegin(be.MaxConnections) {
				return ep, nil
			}
			full = true
			if ns == len(skip) {
				break
			}
			skip[ns] = ep
			ns++
			if ep == preferred {
				preferred = nil
			}
		}
		if !full {
			return nil, ErrNoServer
		}
		if deadline.IsZero() {
			deadline = time.Now().Add(be.TimeoutQueue)
		}
		if wake == nil {
			// Register, then look once more: a slot freed before this
			// signalled nobody.
			wake = be.Queue.Enter()
			continue
		}
		if !upstream.Wait(wake, deadline, done) {
			return nil, ErrQueueTimeout
		}
		be.Queue.Leave()
		wake = be.Queue.Enter()
	}
}

// Dial connects to ep and sends the backend's PROXY header describing cl.
func Dial(be *snapshot.Backend, ep *upstream.Endpoint, cl *Client) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", ep.Addr, be.TimeoutConnect)
	if err != nil {
		return nil, err
	}
	ep.CountConn()
	if be.Proxy == snapshot.ProxyNone {
		return c, nil
	}
	h := proxyHeader(be.Proxy, cl)
	c.SetWriteDeadline(time.Now().Add(be.TimeoutConnect))
	if _, err := h.WriteTo(c); err != nil {
		c.Close()
		return nil, err
	}
	c.SetWriteDeadline(time.Time{})
	return c, nil
}

// proxyHeader builds the PROXY header describing cl.
func proxyHeader(v snapshot.ProxyVersion, cl *Client) *proxyproto.Header {
	version := byte(2)
	if v == snapshot.ProxyV1 {
		version = 1
	}
	src := net.TCPAddrFromAddrPort(cl.Src)
	dst := net.TCPAddrFromAddrPort(cl.Dst)
	// v1 and v2 need both addresses in one family.
	if cl.Src.Addr().Is4() != cl.Dst.Addr().Is4() {
		src = net.TCPAddrFromAddrPort(netip.AddrPortFrom(netip.AddrFrom16(cl.Src.Addr().As16()), cl.Src.Port()))
		dst = net.TCPAddrFromAddrPort(netip.AddrPortFrom(netip.AddrFrom16(cl.Dst.Addr().As16()), cl.Dst.Port()))
	}
	h := proxyproto.HeaderProxyFromAddrs(version, src, dst)
	if v == snapshot.ProxyV2SSL || v == snapshot.ProxyV2SSLCN {
		h.SetTLVs([]proxyproto.TLV{sslTLV(cl.TLS, v == snapshot.ProxyV2SSLCN)})
	}
	return h
}

// sslTLV is the PP2_TYPE_SSL TLV for a client's TLS state (a plain
// connection gets the TLV with no flag set, as HAProxy sends).
func sslTLV(st *tls.ConnectionState, withCN bool) proxyproto.TLV {
	ssl := tlvparse.PP2SSL{Verify: 1}
	if st != nil {
		ssl.Client = tlvparse.PP2_BITFIELD_CLIENT_SSL
		ssl.TLV = append(ssl.TLV,
			proxyproto.TLV{Type: proxyproto.PP2_SUBTYPE_SSL_VERSION, Value: []byte(tlsVersionName(st.Version))},
			proxyproto.TLV{Type: proxyproto.PP2_SUBTYPE_SSL_CIPHER, Value: []byte(tls.CipherSuiteName(st.CipherSuite))})
		if len(st.PeerCertificates) > 0 {
			ssl.Client |= tlvparse.PP2_BITFIELD_CLIENT_CERT_CONN | tlvparse.PP2_BITFIELD_CLIENT_CERT_SESS
			if len(st.VerifiedChains) > 0 {
				ssl.Verify = 0
			}
			if withCN {
				ssl.TLV = append(ssl.TLV, proxyproto.TLV{Type: proxyproto.PP2_SUBTYPE_SSL_CN, Value: []byte(st.PeerCertificates[0].Subject.CommonName)})
			}
		}
	}
	t, err := ssl.Marshal()
	if err != nil {
		// Only sub-TLVs over 64 KiB fail, which these never are.
		return proxyproto.TLV{Type: proxyproto.PP2_TYPE_SSL, Value: []byte{0, 0, 0, 0, 1}}
	}
	return t
}

func tlsVersionName(v uint16) string {
	switch v {
	case tls.VersionTLS13:
		return "TLSv1.3"
	case tls.VersionTLS12:
		return "TLSv1.2"
	case tls.VersionTLS11:
		return "TLSv1.1"
	case tls.VersionTLS10:
		return "TLSv1"
	}
	return "unknown"
}
