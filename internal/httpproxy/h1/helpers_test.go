package h1

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing/iotest"
)

// statusOf returns the Status of err if it is an *Error, else -1.
func statusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return -1
}

// netHTTPHeader builds what net/http's header map should be for our fields:
// net/http canonicalizes names and moves or drops a few fields.
func netHTTPHeader(hs []Header) http.Header {
	h := http.Header{}
	for _, f := range hs {
		k := http.CanonicalHeaderKey(string(f.Name))
		h[k] = append(h[k], string(f.Value))
	}
	// RFC 7234 §5.4: net/http treats "Pragma: no-cache" as Cache-Control.
	if p := h["Pragma"]; len(p) > 0 && p[0] == "no-cache" {
		if _, ok := h["Cache-Control"]; !ok {
			h["Cache-Control"] = []string{"no-cache"}
		}
	}
	delete(h, "Transfer-Encoding") // net/http always consumes it
	return h
}

// simpleTE reports whether the message's Transfer-Encoding, if any, is the
// one form net/http supports: a single field whose value is "chunked".
// net/http deliberately refuses every other (valid) form, so those are
// outside the differential.
func simpleTE(hs []Header) bool {
	n := 0
	for _, f := range hs {
		if EqualFold(f.Name, "transfer-encoding") {
			n++
			if !EqualFold(f.Value, "chunked") {
				return false
			}
		}
	}
	return n <= 1
}

// diffRequest parses head with net/http and reports the first disagreement
// with r, which our parser accepted. net/http must accept everything we do.
func diffRequest(head []byte, r *Request) error {
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(head)))
	if err != nil {
		return fmt.Errorf("net/http rejects what h1 accepted: %v", err)
	}
	switch {
	case req.Method != string(r.Method):
		return fmt.Errorf("method: net/http %q, h1 %q", req.Method, r.Method)
	case req.RequestURI != string(r.Target):
		return fmt.Errorf("target: net/http %q, h1 %q", req.RequestURI, r.Target)
	case req.ProtoMajor != 1 || req.ProtoMinor != r.Minor:
		return fmt.Errorf("version: net/http %d.%d, h1 1.%d", req.ProtoMajor, req.ProtoMinor, r.Minor)
	case req.Host != string(r.Authority()):
		return fmt.Errorf("host: net/http %q, h1 %q", req.Host, r.Authority())
	case req.Close != r.Close:
		return fmt.Errorf("close: net/http %v, h1 %v", req.Close, r.Close)
	}
	want := netHTTPHeader(r.Headers)
	delete(want, "Host")
	if r.Chunked {
		delete(want, "Trailer")
	}
	if !reflect.DeepEqual(map[string][]string(want), map[string][]string(req.Header)) {
		return fmt.Errorf("header: net/http %q, h1 %q", req.Header, want)
	}
	chunked := slices.Equal(req.TransferEncoding, []string{"chunked"})
	if chunked != r.Chunked {
		return fmt.Errorf("chunked: net/http %v, h1 %v", chunked, r.Chunked)
	}
	wantCL := r.ContentLength
	switch {
	case r.Chunked:
		wantCL = -1
	case wantCL < 0:
		wantCL = 0 // net/http: a request without framing has an empty body
	}
	if req.ContentLength != wantCL {
		return fmt.Errorf("content length: net/http %d, h1 %d", req.ContentLength, r.ContentLength)
	}
	if p := r.Path(); p != nil {
		ours, err := url.PathUnescape(string(p))
		if err != nil {
			return fmt.Errorf("h1 path %q does not unescape: %v", p, err)
		}
		theirs := req.URL.Path
		if theirs == "" {
			theirs = "/"
		}
		if ours != theirs {
			return fmt.Errorf("path: net/http %q, h1 %q", theirs, ours)
		}
	}
	return nil
}

// diffResponse parses head with net/http (as the answer to a HEAD request
// if head is set) and reports the first disagreement with r.
func diffResponse(head []byte, r *Response, headRequest bool) error {
	method := http.MethodGet
	if headRequest {
		method = http.MethodHead
	}
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(head)), &http.Request{Method: method})
	if err != nil {
		return fmt.Errorf("net/http rejects what h1 accepted: %v", err)
	}
	defer resp.Body.Close()
	fr, n := r.Framing(headRequest)
	switch {
	case resp.StatusCode != r.Status:
		return fmt.Errorf("status: net/http %d, h1 %d", resp.StatusCode, r.Status)
	case resp.ProtoMinor != r.Minor:
		return fmt.Errorf("version: net/http 1.%d, h1 1.%d", resp.ProtoMinor, r.Minor)
	case resp.Close != (r.Close || fr == UntilClose):
		return fmt.Errorf("close: net/http %v, h1 %v (framing %v)", resp.Close, r.Close, fr)
	}
	want := netHTTPHeader(r.Headers)
	if r.Chunked {
		delete(want, "Trailer")
	}
	if r.Minor == 1 && r.Close {
		delete(want, "Connection") // net/http drops it from 1.1 responses
	}
	if !reflect.DeepEqual(map[string][]string(want), map[string][]string(resp.Header)) {
		return fmt.Errorf("header: net/http %q, h1 %q", resp.Header, want)
	}
	chunked := slices.Equal(resp.TransferEncoding, []string{"chunked"})
	if chunked != r.Chunked {
		return fmt.Errorf("chunked: net/http %v, h1 %v", chunked, r.Chunked)
	}
	var wantCL int64
	switch fr {
	case NoBody:
		if headRequest {
			wantCL = r.ContentLength // net/http reports the declared length
		}
	case Length:
		wantCL = n
	default:
		wantCL = -1
	}
	if resp.ContentLength != wantCL {
		return fmt.Errorf("content length: net/http %d, h1 %d (framing %v)", resp.ContentLength, wantCL, fr)
	}
	return nil
}

// hasBadByte reports whether b holds CR, LF or NUL.
func hasBadByte(b []byte) bool { return bytes.ContainsAny(b, "\r\n\x00") }

// checkRequest verifies the invariants every accepted request keeps.
func checkRequest(r *Request) error {
	for _, b := range [][]byte{r.Method, r.Target, r.Host, r.Upgrade, r.Path(), r.Authority()} {
		if hasBadByte(b) {
			return fmt.Errorf("CR, LF or NUL in %q", b)
		}
	}
	for _, h := range r.Headers {
		if !isToken(h.Name) || hasBadByte(h.Value) || !validValue(h.Value) {
			return fmt.Errorf("bad field %q: %q", h.Name, h.Value)
		}
		if len(trimOWS(h.Value)) != len(h.Value) {
			return fmt.Errorf("untrimmed value %q", h.Value)
		}
	}
	switch {
	case r.ContentLength >= 0 && r.Chunked:
		return errors.New("both Content-Length and chunked")
	case r.ContentLength < -1:
		return fmt.Errorf("content length %d", r.ContentLength)
	case r.Minor != 0 && r.Minor != 1:
		return fmt.Errorf("minor %d", r.Minor)
	case r.Minor == 1 && r.Host == nil:
		return errors.New("HTTP/1.1 without Host")
	case r.Minor == 0 && r.Chunked:
		return errors.New("chunked HTTP/1.0")
	case !isToken(r.Method):
		return fmt.Errorf("method %q", r.Method)
	case len(r.Target) == 0:
		return errors.New("empty target")
	}
	return nil
}

// checkResponse verifies the invariants every accepted response keeps.
func checkResponse(r *Response) error {
	if hasBadByte(r.Reason) || hasBadByte(r.Upgrade) {
		return fmt.Errorf("CR, LF or NUL in %q / %q", r.Reason, r.Upgrade)
	}
	for _, h := range r.Headers {
		if !isToken(h.Name) || hasBadByte(h.Value) {
			return fmt.Errorf("bad field %q: %q", h.Name, h.Value)
		}
	}
	switch {
	case r.ContentLength >= 0 && r.Chunked:
		return errors.New("both Content-Length and chunked")
	case r.Status < 100 || r.Status > 599:
		return fmt.Errorf("status %d", r.Status)
	case r.Minor != 0 && r.Minor != 1:
		return fmt.Errorf("minor %d", r.Minor)
	}
	return nil
}

// serializeRequest writes r back out in canonical form.
func serializeRequest(r *Request) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.%d\r\n", r.Method, r.Target, r.Minor)
	for _, h := range r.Headers {
		fmt.Fprintf(&b, "%s: %s\r\n", h.Name, h.Value)
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// sameRequest reports how a and b differ, if they do.
func sameRequest(a, b *Request) error {
	eq := func(x, y []byte) bool { return bytes.Equal(x, y) && (x == nil) == (y == nil) }
	switch {
	case !bytes.Equal(a.Method, b.Method), !bytes.Equal(a.Target, b.Target), a.Minor != b.Minor:
		return fmt.Errorf("request line: %q %q 1.%d vs %q %q 1.%d", a.Method, a.Target, a.Minor, b.Method, b.Target, b.Minor)
	case !eq(a.Host, b.Host), !eq(a.Upgrade, b.Upgrade), !eq(a.Path(), b.Path()), !eq(a.Authority(), b.Authority()):
		return fmt.Errorf("host/upgrade/path/authority differ: %q %q %q %q vs %q %q %q %q",
			a.Host, a.Upgrade, a.Path(), a.Authority(), b.Host, b.Upgrade, b.Path(), b.Authority())
	case a.ContentLength != b.ContentLength, a.Chunked != b.Chunked, a.Close != b.Close,
		a.KeepAlive != b.KeepAlive, a.ConnUpgrade != b.ConnUpgrade, a.Expect100 != b.Expect100:
		return fmt.Errorf("flags differ: %+v vs %+v", flags(a), flags(b))
	case len(a.Headers) != len(b.Headers):
		return fmt.Errorf("%d vs %d fields", len(a.Headers), len(b.Headers))
	}
	for i := range a.Headers {
		if !bytes.Equal(a.Headers[i].Name, b.Headers[i].Name) || !bytes.Equal(a.Headers[i].Value, b.Headers[i].Value) {
			return fmt.Errorf("field %d: %q: %q vs %q: %q", i, a.Headers[i].Name, a.Headers[i].Value, b.Headers[i].Name, b.Headers[i].Value)
		}
	}
	if len(a.conn) != len(b.conn) {
		return fmt.Errorf("connection tokens %q vs %q", a.conn, b.conn)
	}
	return nil
}

func flags(r *Request) string {
	return fmt.Sprintf("cl=%d chunked=%v close=%v keepalive=%v connupgrade=%v expect=%v",
		r.ContentLength, r.Chunked, r.Close, r.KeepAlive, r.ConnUpgrade, r.Expect100)
}

// readers returns the ways a test feeds a stream to ReadRequest: all at once
// through a large buffer (the fast path), one byte per read, and through the
// smallest bufio buffer (the slow path, with lines longer than the buffer).
func readers(s string) map[string]*bufio.Reader {
	return map[string]*bufio.Reader{
		"whole":    bufio.NewReaderSize(strings.NewReader(s), 64<<10),
		"one-byte": bufio.NewReader(iotest.OneByteReader(strings.NewReader(s))),
		"small":    bufio.NewReaderSize(strings.NewReader(s), 16),
	}
}
