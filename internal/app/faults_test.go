package app_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-lb/gantry/internal/config"
)

// fault is how a fault backend misbehaves once it has read a request head.
type fault string

const (
	faultReset     fault = "reset"     // closes with a TCP reset
	faultHang      fault = "hang"      // never answers
	faultSlow      fault = "slow"      // answers after 150 ms
	faultTruncated fault = "truncated" // announces 1000 bytes, sends 10, closes
)

// startFaultBackend serves HTTP/1.1 with the given fault on every request,
// and counts the requests it read.
func startFaultBackend(t *testing.T, f fault) (string, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	done := make(chan struct{})
	addr := rawServer(t, func(c net.Conn, _ int) {
		br := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			io.Copy(io.Discard, req.Body)
			hits.Add(1)
			switch f {
			case faultReset:
				c.(*net.TCPConn).SetLinger(0)
				return
			case faultHang:
				select {
				case <-done:
				case <-time.After(10 * time.Second):
				}
				return
			case faultSlow:
				time.Sleep(150 * time.Millisecond)
				fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nX-Backend: slow\r\nContent-Length: 2\r\n\r\nok")
			case faultTruncated:
				fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789")
				return
			}
		}
	})
	t.Cleanup(func() { close(done) }) // before rawServer's: releases hung handlers
	return addr, &hits
}

func faultConfig(port int, timeoutServer config.Millis, addrs ...string) *config.Config {
	cfg := httpConfigTo(port, addrs...)
	cfg.LBs[0].Backends[0].TimeoutServer = timeoutServer
	return cfg
}

func TestIntegrationFaultsGiveTheRightStatus(t *testing.T) {
	for _, tt := range []struct {
		f      fault
		method string
		status int
	}{
		{faultReset, "GET", 502},
		{faultReset, "POST", 502},
		{faultHang, "GET", 504},
		{faultSlow, "GET", 200},
	} {
		t.Run(string(tt.f)+"/"+tt.method, func(t *testing.T) {
			addr, hits := startFaultBackend(t, tt.f)
			port := freePort(t)
			startDataplane(t, faultConfig(port, 400, addr))
			req := tt.method + " / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
			got := rawExchange(t, "127.0.0.1:"+strconv.Itoa(port), req)
			if !strings.HasPrefix(got, "HTTP/1.1 "+strconv.Itoa(tt.status)+" ") {
				t.Fatalf("got %q, want %d", firstLine(got), tt.status)
			}
			// One server: a GET is retried on it (max_retries), a POST is
			// never sent twice.
			if tt.method == "POST" && hits.Load() != 1 {
				t.Fatalf("the POST reached the server %d times, want once", hits.Load())
			}
		})
	}
}

// TestIntegrationTruncatedResponse: a body cut short before any of the
// response left gantry becomes a clean 502; one cut after the head was
// streamed ends the client connection without completing the body.
func TestIntegrationTruncatedResponse(t *testing.T) {
	addr, _ := startFaultBackend(t, faultTruncated)
	port := freePort(t)
	startDataplane(t, faultConfig(port, 400, addr))
	got := rawExchange(t, "127.0.0.1:"+strconv.Itoa(port), "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if !strings.HasPrefix(got, "HTTP/1.1 502 ") {
		t.Fatalf("got %q, want 502", firstLine(got))
	}

	big := rawServer(t, func(c net.Conn, _ int) {
		br := bufio.NewReader(c)
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n")
		c.Write(make([]byte, 100_000))
	})
	port2 := freePort(t)
	startDataplane(t, faultConfig(port2, 400, big))
	resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(port2) + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil || len(body) >= 1_000_000 {
		t.Fatalf("a truncated body reached the client as complete (%d bytes, err %v)", len(body), err)
	}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\r'); i >= 0 {
		return s[:i]
	}
	return s
}

// TestIntegrationOneBadServerOfThreeUnderLoad: with one server of three
// resetting or hanging, idempotent requests under concurrent load all
// succeed (retried on another server before any byte reached the client),
// and passive ejection takes the bad server out.
func TestIntegrationOneBadServerOfThreeUnderLoad(t *testing.T) {
	for _, f := range []fault{faultReset, faultHang} {
		t.Run(string(f), func(t *testing.T) {
			good1, good2 := startBackend(t, "g1", nil), startBackend(t, "g2", nil)
			bad, badHits := startFaultBackend(t, f)
			port := freePort(t)
			cfg := faultConfig(port, 300, good1.addr, bad, good2.addr)
			cfg.LBs[0].Backends[0].PassiveHealthCheck = &config.PassiveHealthCheck{ConsecutiveFailures: 3, Backoff: 60_000}
			startDataplane(t, cfg)
			url := "http://127.0.0.1:" + strconv.Itoa(port) + "/"
			const workers, perWorker = 8, 40
			var errs atomic.Int64
			var firstErr atomic.Value
			var wg sync.WaitGroup
			client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
			defer client.CloseIdleConnections()
			for range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range perWorker {
						resp, err := client.Get(url)
						if err == nil {
							io.Copy(io.Discard, resp.Body)
							resp.Body.Close()
							if resp.StatusCode != 200 {
								err = fmt.Errorf("status %d", resp.StatusCode)
							}
						}
						if err != nil {
							errs.Add(1)
							firstErr.CompareAndSwap(nil, err.Error())
						}
					}
				}()
			}
			wg.Wait()
			if n := errs.Load(); n > 0 {
				t.Fatalf("%d of %d requests failed (first: %v)", n, workers*perWorker, firstErr.Load())
			}
			if h := badHits.Load(); h == 0 || h > 10 {
				t.Fatalf("the bad server got %d requests: want a few, then ejection", h)
			}
		})
	}
}
