package listener

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"syscall"
	"time"

	"github.com/pires/go-proxyproto"
	"golang.org/x/sys/unix"
)

// maxProxyHeader bounds an accepted PROXY protocol header: a v1 header is at
// most 107 bytes, and v2 TLVs beyond a few hundred bytes are not something a
// load balancer in front of gantry sends.
const maxProxyHeader = 4096

// ErrNoProxyHeader means a connection from a trusted sender did not start
// with a valid PROXY protocol header.
var ErrNoProxyHeader = errors.New("listener: no valid PROXY protocol header")

// AcceptProxy reads the PROXY protocol header (v1 or v2) that must start c
// and makes its source address c's Peer (and its destination c's Local). It
// reads exactly the header's bytes and nothing after them, so c.Conn stays
// the raw socket the proxies splice. A LOCAL command (health checks of the
// sender) keeps the socket's addresses. It gives up after timeout.
func AcceptProxy(c *Conn, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	c.SetReadDeadline(deadline)
	defer c.SetReadDeadline(time.Time{})
	buf := make([]byte, 256)
	var n int
	var size int
	for {
		var err error
		n, err = peek(c.Conn, buf)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrNoProxyHeader, err)
		}
		size, err = headerSize(buf[:n])
		if err != nil {
			return err
		}
		if size > len(buf) {
			buf = make([]byte, size)
			continue
		}
		if size > 0 && n >= size {
			break
		}
		// A header split across segments: rare, so wait a little for the rest.
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: header incomplete after %v", ErrNoProxyHeader, timeout)
		}
		time.Sleep(time.Millisecond)
	}
	h, err := proxyproto.Read(bufio.NewReader(bytes.NewReader(buf[:size])))
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNoProxyHeader, err)
	}
	if _, err := io.ReadFull(c.Conn, buf[:size]); err != nil {
		return fmt.Errorf("%w: %w", ErrNoProxyHeader, err)
	}
	if h.Command.IsLocal() {
		return nil
	}
	if src, dst, ok := h.TCPAddrs(); ok {
		c.Peer, c.Local = src.AddrPort(), dst.AddrPort()
		c.Peer = netip.AddrPortFrom(c.Peer.Addr().Unmap(), c.Peer.Port())
		c.Local = netip.AddrPortFrom(c.Local.Addr().Unmap(), c.Local.Port())
		return nil
	}
	if h.TransportProtocol == proxyproto.UNSPEC {
		// "PROXY UNKNOWN" (v1) or an unspecified family (v2): the spec
		// says to keep the socket's own addresses.
		return nil
	}
	return fmt.Errorf("%w: not a TCP address family", ErrNoProxyHeader)
}

// headerSize returns the length of the PROXY header that b starts with, 0
// when more bytes are needed to tell, or an error when b cannot start one.
func headerSize(b []byte) (int, error) {
	v1, v2 := []byte("PROXY "), proxyproto.SIGV2
	switch {
	case len(b) > 0 && b[0] == v1[0]:
		if !bytes.HasPrefix(b, v1[:min(len(b), len(v1))]) {
			return 0, ErrNoProxyHeader
		}
		if i := bytes.Index(b, []byte("\r\n")); i >= 0 {
			return i + 2, nil
		}
		if len(b) >= 107 {
			return 0, fmt.Errorf("%w: v1 header longer than 107 bytes", ErrNoProxyHeader)
		}
		return 0, nil
	case len(b) > 0 && b[0] == v2[0]:
		if !bytes.HasPrefix(b, v2[:min(len(b), len(v2))]) {
			return 0, ErrNoProxyHeader
		}
		if len(b) < 16 {
			return 0, nil
		}
		size := 16 + int(binary.BigEndian.Uint16(b[14:16]))
		if size > maxProxyHeader {
			return 0, fmt.Errorf("%w: v2 header of %d bytes (limit %d)", ErrNoProxyHeader, size, maxProxyHeader)
		}
		return size, nil
	case len(b) == 0:
		return 0, nil
	}
	return 0, ErrNoProxyHeader
}

// peek waits for bytes on c and copies what arrived into b without
// consuming it (MSG_PEEK), honouring c's read deadline.
func peek(c net.Conn, b []byte) (int, error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return 0, errors.New("not a socket")
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0, err
	}
	var n int
	var rerr error
	err = rc.Read(func(fd uintptr) bool {
		n, _, rerr = unix.Recvfrom(int(fd), b, unix.MSG_PEEK)
		return !(rerr == unix.EAGAIN || rerr == unix.EWOULDBLOCK)
	})
	if err != nil {
		return 0, err
	}
	if rerr != nil {
		return 0, rerr
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}
