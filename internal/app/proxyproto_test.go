package app_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pires/go-proxyproto"

	"github.com/gantry-lb/gantry/internal/config"
)

// proxyBackend is a server that requires a PROXY header (any version) on
// every connection and reports what it carried: an HTTP server answers
// with it in X-Proxy-Src; a TCP one writes it as a line and echoes.
type proxyBackend struct {
	addr string
	seen chan *proxyproto.Header
	// optional lets connections without a header through (health checks
	// that do not send one); their X-Proxy-Src is "none".
	optional bool
}

func startProxyBackend(t *testing.T, httpMode bool) *proxyBackend {
	t.Helper()
	return startProxyBackendOpt(t, httpMode, false)
}

func startProxyBackendOpt(t *testing.T, httpMode, optional bool) *proxyBackend {
	t.Helper()
	pb := &proxyBackend{seen: make(chan *proxyproto.Header, 16), optional: optional}
	pb.addr = rawServer(t, func(c net.Conn, _ int) {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		br := bufio.NewReader(c)
		h, err := proxyproto.Read(br)
		if err != nil && !(pb.optional && errors.Is(err, proxyproto.ErrNoProxyProtocol)) {
			fmt.Fprintf(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
			return
		}
		src := "none"
		if h != nil {
			select {
			case pb.seen <- h:
			default:
			}
			src = h.SourceAddr.String()
		}
		if !httpMode {
			fmt.Fprintf(c, "src=%s\n", src)
			io.Copy(c, br)
			return
		}
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			io.Copy(io.Discard, req.Body)
			body := "xff=" + req.Header.Get("X-Forwarded-For")
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nX-Proxy-Src: %s\r\nContent-Length: %d\r\n\r\n%s", src, len(body), body)
		}
	})
	return pb
}

func proxyProtoConfig(port int, proto config.Protocol, version string, addr string) *config.Config {
	return &config.Config{LBs: []config.LB{{Name: "pp", IPs: []string{"127.0.0.1"},
		Backends:  []config.Backend{{Name: "b", ForwardProtocol: proto, ProxyProtocol: version, Servers: []config.Server{serverAt(addr)}}},
		Frontends: []config.Frontend{{Name: "f", InboundPort: port, Backend: "b"}}}}}
}

func TestIntegrationProxyProtocolToServers(t *testing.T) {
	for _, proto := range []config.Protocol{config.ProtocolHTTP, config.ProtocolTCP} {
		for _, v := range []string{config.ProxyV1, config.ProxyV2, config.ProxyV2SSL, config.ProxyV2SSLCN} {
			t.Run(string(proto)+"/"+v, func(t *testing.T) {
				pb := startProxyBackend(t, proto == config.ProtocolHTTP)
				port := freePort(t)
				startDataplane(t, proxyProtoConfig(port, proto, v, pb.addr))
				c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				br := bufio.NewReader(c)
				var src string
				if proto == config.ProtocolHTTP {
					fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
					resp, _ := readResponse(t, br, "GET")
					src = resp.Header.Get("X-Proxy-Src")
				} else {
					line, err := br.ReadString('\n')
					if err != nil {
						t.Fatal(err)
					}
					src = strings.TrimSpace(strings.TrimPrefix(line, "src="))
					fmt.Fprintf(c, "ping\n")
					if echo, _ := br.ReadString('\n'); echo != "ping\n" {
						t.Fatalf("echo %q after the header", echo)
					}
				}
				if src != c.LocalAddr().String() {
					t.Fatalf("the server saw source %q, want the client's %s", src, c.LocalAddr())
				}
				h := <-pb.seen
				want := byte(2)
				if v == config.ProxyV1 {
					want = 1
				}
				if h.Version != want {
					t.Fatalf("header version %d, want %d", h.Version, want)
				}
				if dst := h.DestinationAddr.String(); dst != "127.0.0.1:"+strconv.Itoa(port) {
					t.Fatalf("destination %s, want the frontend's address", dst)
				}
				tlvs, err := h.TLVs()
				if err != nil {
					t.Fatal(err)
				}
				hasSSL := false
				for _, tlv := range tlvs {
					hasSSL = hasSSL || tlv.Type == proxyproto.PP2_TYPE_SSL
				}
				if wantSSL := v == config.ProxyV2SSL || v == config.ProxyV2SSLCN; hasSSL != wantSSL {
					t.Fatalf("SSL TLV present=%v, want %v", hasSSL, wantSSL)
				}
			})
		}
	}
}

func TestIntegrationProxyProtocolHTTPConnectionsAreNotShared(t *testing.T) {
	pb := startProxyBackend(t, true)
	port := freePort(t)
	startDataplane(t, proxyProtoConfig(port, config.ProtocolHTTP, config.ProxyV2, pb.addr))
	// Two clients one after the other: each must get a connection whose
	// header names it, never a pooled one made for the other.
	for range 2 {
		c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, _ := readResponse(t, bufio.NewReader(c), "GET")
		if got := resp.Header.Get("X-Proxy-Src"); got != c.LocalAddr().String() {
			t.Fatalf("server saw %s for client %s", got, c.LocalAddr())
		}
		c.Close()
	}
}

func TestIntegrationAcceptProxyProtocol(t *testing.T) {
	pb := startProxyBackend(t, true)
	port := freePort(t)
	cfg := proxyProtoConfig(port, config.ProtocolHTTP, config.ProxyV1, pb.addr)
	cfg.LBs[0].Frontends[0].AcceptProxyFrom = []string{"127.0.0.0/8"}
	d := startDataplane(t, cfg)
	addr := "127.0.0.1:" + strconv.Itoa(port)

	send := func(t *testing.T, header []byte) (string, string, error) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		c.Write(header)
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return "", "", err
		}
		body, _ := io.ReadAll(resp.Body)
		return resp.Header.Get("X-Proxy-Src"), string(body), nil
	}
	t.Run("v1", func(t *testing.T) {
		src, body, err := send(t, []byte("PROXY TCP4 203.0.113.9 127.0.0.1 5555 80\r\n"))
		if err != nil {
			t.Fatal(err)
		}
		if src != "203.0.113.9:5555" || body != "xff=203.0.113.9" {
			t.Fatalf("server saw src %q, %q; want the address from the client's PROXY header", src, body)
		}
	})
	t.Run("v2", func(t *testing.T) {
		h := &proxyproto.Header{Version: 2, Command: proxyproto.PROXY, TransportProtocol: proxyproto.TCPv6,
			SourceAddr:      &net.TCPAddr{IP: net.ParseIP("2001:db8::7"), Port: 4242},
			DestinationAddr: &net.TCPAddr{IP: net.ParseIP("2001:db8::1"), Port: 80}}
		raw, err := h.Format()
		if err != nil {
			t.Fatal(err)
		}
		src, body, err := send(t, raw)
		if err != nil {
			t.Fatal(err)
		}
		if src != "[2001:db8::7]:4242" || body != "xff=2001:db8::7" {
			t.Fatalf("server saw %q, %q", src, body)
		}
	})
	t.Run("unknown keeps the socket's address", func(t *testing.T) {
		_, body, err := send(t, []byte("PROXY UNKNOWN\r\n"))
		if err != nil {
			t.Fatal(err)
		}
		if body != "xff=127.0.0.1" {
			t.Fatalf("server saw %q, want the socket's address", body)
		}
	})
	t.Run("missing header is dropped", func(t *testing.T) {
		if _, _, err := send(t, nil); err == nil {
			t.Fatal("a connection without a PROXY header got an answer")
		}
	})
	t.Run("untrusted sender is dropped", func(t *testing.T) {
		cfg := proxyProtoConfig(port, config.ProtocolHTTP, config.ProxyV1, pb.addr)
		cfg.LBs[0].Frontends[0].AcceptProxyFrom = []string{"10.0.0.0/8"}
		if err := d.Apply(cfg); err != nil {
			t.Fatal(err)
		}
		if _, _, err := send(t, []byte("PROXY TCP4 203.0.113.9 127.0.0.1 5555 80\r\n")); err == nil {
			t.Fatal("a sender outside accept_proxy_from got an answer")
		}
	})
}
