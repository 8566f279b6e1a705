package h1

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cpuTime returns the CPU time this process has used. The build box is
// shared, so wall-clock ns/op swings with other load; benchmarks also
// report cpu-ns/op, which does not.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU adds the cpu-ns/op metric for the b.N iterations since start.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}

// benchRequest is what wrk-like load generators and browsers send: six
// common fields.
const benchRequest = "GET /api/v1/items?page=2 HTTP/1.1\r\n" +
	"Host: example.com:8080\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36\r\n" +
	"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n" +
	"Accept-Encoding: gzip, deflate, br\r\n" +
	"Accept-Language: en-US,en;q=0.9\r\n" +
	"Connection: keep-alive\r\n" +
	"\r\n"

const benchResponse = "HTTP/1.1 200 OK\r\n" +
	"Content-Type: application/json; charset=utf-8\r\n" +
	"Content-Length: 1234\r\n" +
	"Date: Mon, 02 Jan 2006 15:04:05 GMT\r\n" +
	"Server: backend/1.0\r\n" +
	"Cache-Control: no-cache\r\n" +
	"Vary: Accept-Encoding\r\n" +
	"\r\n"

func BenchmarkReadRequest(b *testing.B) {
	src := []byte(benchRequest)
	rd := bytes.NewReader(src)
	br := bufio.NewReader(rd)
	var r Request
	lim := DefaultLimits()
	b.ReportAllocs()
	b.SetBytes(int64(len(src)))
	start := cpuTime()
	for b.Loop() {
		rd.Reset(src)
		br.Reset(rd)
		if err := ReadRequest(br, &r, lim); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, start)
}

func BenchmarkParseRequest(b *testing.B) {
	src := []byte(benchRequest)
	var r Request
	lim := DefaultLimits()
	b.ReportAllocs()
	b.SetBytes(int64(len(src)))
	start := cpuTime()
	for b.Loop() {
		if err := ParseRequest(src, &r, lim); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, start)
}

// BenchmarkReadRequestSlowPath measures the slow path, where the head arrives
// in pieces and is assembled line by line.
func BenchmarkReadRequestSlowPath(b *testing.B) {
	src := []byte(benchRequest)
	rd := bytes.NewReader(src)
	br := bufio.NewReaderSize(rd, 16) // smaller than every line of the head
	var r Request
	lim := DefaultLimits()
	b.ReportAllocs()
	start := cpuTime()
	for b.Loop() {
		rd.Reset(src)
		br.Reset(rd)
		if err := ReadRequest(br, &r, lim); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, start)
}

func BenchmarkReadResponse(b *testing.B) {
	src := []byte(benchResponse)
	rd := bytes.NewReader(src)
	br := bufio.NewReader(rd)
	var r Response
	lim := DefaultLimits()
	b.ReportAllocs()
	b.SetBytes(int64(len(src)))
	start := cpuTime()
	for b.Loop() {
		rd.Reset(src)
		br.Reset(rd)
		if err := ReadResponse(br, &r, lim); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, start)
}

func BenchmarkChunkedReader(b *testing.B) {
	// 64 chunks of 1 KiB and a trailer, as a streaming upstream sends.
	var body bytes.Buffer
	bw := bufio.NewWriter(&body)
	var cw ChunkedWriter
	cw.Reset(bw)
	chunk := bytes.Repeat([]byte("x"), 1024)
	for range 64 {
		_, _ = cw.Write(chunk)
	}
	_ = cw.Close([]Header{{Name: []byte("Grpc-Status"), Value: []byte("0")}})
	_ = bw.Flush()
	src := body.Bytes()

	rd := bytes.NewReader(src)
	br := bufio.NewReader(rd)
	var cr ChunkedReader
	buf := make([]byte, 32<<10)
	b.ReportAllocs()
	b.SetBytes(int64(len(src)))
	start := cpuTime()
	for b.Loop() {
		rd.Reset(src)
		br.Reset(rd)
		cr.Reset(br, DefaultLimits())
		for {
			_, err := cr.Read(buf)
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	reportCPU(b, start)
}

func BenchmarkChunkedWriter(b *testing.B) {
	bw := bufio.NewWriterSize(io.Discard, 64<<10)
	var cw ChunkedWriter
	chunk := []byte(strings.Repeat("x", 1024))
	b.ReportAllocs()
	start := cpuTime()
	for b.Loop() {
		cw.Reset(bw)
		for range 8 {
			_, _ = cw.Write(chunk)
		}
		_ = cw.Close(nil)
	}
	reportCPU(b, start)
}

// BenchmarkNetHTTPReadRequest is the baseline h1 replaces: the same request
// through http.ReadRequest.
func BenchmarkNetHTTPReadRequest(b *testing.B) {
	src := []byte(benchRequest)
	rd := bytes.NewReader(src)
	br := bufio.NewReader(rd)
	b.ReportAllocs()
	start := cpuTime()
	for b.Loop() {
		rd.Reset(src)
		br.Reset(rd)
		if _, err := http.ReadRequest(br); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, start)
}
