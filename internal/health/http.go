package health

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"strconv"
	"strings"
)

// buildRequest returns the request an HTTP or HTTPS check sends, or why it
// cannot be sent: a header injected through a stray CR or LF must never reach
// a backend.
func buildRequest(s Spec) ([]byte, string) {
	kind := s.Kind.String()
	switch {
	case strings.ContainsAny(s.Method, " \t\r\n"):
		return nil, kind + ": invalid method " + strconv.Quote(s.Method)
	case strings.ContainsAny(s.URI, " \t\r\n"):
		return nil, kind + ": invalid uri " + strconv.Quote(s.URI)
	case strings.ContainsAny(s.Host, "\r\n"):
		return nil, kind + ": invalid host " + strconv.Quote(s.Host)
	}
	return []byte(s.Method + " " + s.URI + " HTTP/1.1\r\n" +
		"Host: " + s.Host + "\r\n" +
		"Connection: close\r\n" +
		"User-Agent: gantry-health\r\n" +
		"\r\n"), ""
}

// tlsConfig returns the client configuration of an HTTPS check, or why there
// is none. Without Verify nothing about the certificate is checked; with it,
// the chain must lead to RootCAs (or the system's roots) and the certificate
// must name SNI, or Addr's host when SNI is empty.
func tlsConfig(s Spec) (*tls.Config, string) {
	c := &tls.Config{ServerName: s.SNI, MinVersion: tls.VersionTLS12}
	if !s.Verify {
		c.InsecureSkipVerify = true
		return c, ""
	}
	if c.ServerName == "" {
		host, _, err := net.SplitHostPort(s.Addr)
		if err != nil {
			return nil, "https: addr " + strconv.Quote(s.Addr) + ": " + err.Error()
		}
		// An IP address here is verified against the certificate's IP
		// SANs and, per crypto/tls, never sent as SNI.
		c.ServerName = host
	}
	if s.RootCAs != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(s.RootCAs)) {
			return nil, "https: root_cas holds no PEM certificate"
		}
		c.RootCAs = pool
	}
	return c, ""
}

// checkHTTP sends the request and judges the status line's code. kind is
// "http" or "https", the prefix of every reason.
func (p *probe) checkHTTP(ctx context.Context, c net.Conn, kind string) (bool, string) {
	if _, err := c.Write(p.req); err != nil {
		return false, p.failure(ctx, kind+": sending request", err)
	}
	line, err := p.br.ReadSlice('\n')
	if err != nil && !(errors.Is(err, bufio.ErrBufferFull) && len(line) > 0) {
		return false, p.failure(ctx, kind+": reading status line", err)
	}
	code, ok := parseStatusLine(line)
	if !ok {
		return false, kind + ": malformed status line " + strconv.Quote(truncate(string(line), 64))
	}
	if p.spec.ExpectCode != 0 {
		if code != p.spec.ExpectCode {
			return false, kind + ": status " + strconv.Itoa(code) + ", want " + strconv.Itoa(p.spec.ExpectCode)
		}
	} else if code < 200 || code > 399 {
		return false, kind + ": status " + strconv.Itoa(code) + ", want 2xx/3xx"
	}
	return true, kind + ": status " + strconv.Itoa(code)
}

// parseStatusLine returns the status code of an HTTP/1.x status line such as
// "HTTP/1.1 200 OK\r\n". The line comes from the backend: it is untrusted.
func parseStatusLine(line []byte) (int, bool) {
	s := string(line)
	if !strings.HasPrefix(s, "HTTP/1.") || len(s) < len("HTTP/1.x 200") || s[8] != ' ' {
		return 0, false
	}
	code := s[9:12]
	if len(s) > 12 && s[12] != ' ' && s[12] != '\r' && s[12] != '\n' {
		return 0, false
	}
	n := 0
	for i := range len(code) {
		c := code[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	if n < 100 {
		return 0, false
	}
	return n, true
}
