package h1

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// pick returns a random element of xs.
func pick[T any](rng *rand.Rand, xs ...T) T { return xs[rng.IntN(len(xs))] }

// randomCase flips the case of some letters, as clients spell names freely.
func randomCase(rng *rand.Rand, s string) string {
	b := []byte(s)
	for i, c := range b {
		if (c|0x20) >= 'a' && (c|0x20) <= 'z' && rng.IntN(3) == 0 {
			b[i] ^= 0x20
		}
	}
	return string(b)
}

var (
	genNames  = []string{"Accept", "Accept-Encoding", "Accept-Language", "User-Agent", "Cookie", "Referer", "X-Forwarded-For", "X-Request-Id", "Cache-Control", "Pragma", "If-None-Match", "Authorization", "X-Custom_Header", "x-!#$%&'*+-.^_`|~", "Dnt", "Via", "Forwarded", "Range", "Content-Type", "Trailer"}
	genValues = []string{"*/*", "gzip, deflate, br", "en-US,en;q=0.9", "Mozilla/5.0 (X11; Linux x86_64)", "a=b; c=d", "", "no-cache", "\"etag\"", "bytes=0-99", "tab\tinside", "caf\xc3\xa9 \xff obs-text", "  padded  ", "\t", "a,b,,c", "x=\"quoted, with comma\"", "()<>@,;:\\\"/[]?={}", "Grpc-Status, X-Checksum"}
	genHosts  = []string{"example.com", "EXAMPLE.COM:8080", "127.0.0.1", "10.1.2.3:443", "[::1]", "[2001:db8::7]:8443", "a-b.c_d~e", "localhost:1", "xn--bcher-kva.example", ""}
	genPaths  = []string{"/", "/a/b/c", "/a%20b?x=1&y", "/search?q=a+b&r=%zz", "/~user/./../x", "/caf%C3%A9", "/a;b,c=d:e@f!$&'()*+", "/?", "/a?b?c", "/p|q{r}^`\"<>\\", "/" + strings.Repeat("x", 300)}
)

// genRequest builds a random valid request head.
func genRequest(rng *rand.Rand) string {
	var b strings.Builder
	minor := pick(rng, 0, 1, 1, 1)
	method := pick(rng, "GET", "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "PROPFIND", "M-SEARCH", "CONNECT")
	var target string
	switch {
	case method == "CONNECT":
		target = pick(rng, "example.com:443", "[::1]:8443", "10.0.0.1:22")
	case method == "OPTIONS" && rng.IntN(2) == 0:
		target = "*"
	case rng.IntN(5) == 0:
		host := pick(rng, "example.com", "Example.COM:8080", "[2001:db8::1]", "10.0.0.1:80")
		target = pick(rng, "http://", "https://", "HTTP://") + host + pick(rng, "", "/", "/x/y?z=1", "?q", "/a%2Fb")
	default:
		target = pick(rng, genPaths...)
	}
	fmt.Fprintf(&b, "%s %s HTTP/1.%d\r\n", method, target, minor)

	type field struct{ name, value string }
	var fields []field
	if minor == 1 || rng.IntN(2) == 0 {
		fields = append(fields, field{randomCase(rng, "Host"), pick(rng, genHosts...)})
	}
	for range rng.IntN(8) {
		name := pick(rng, genNames...)
		if strings.EqualFold(name, "Trailer") {
			continue // only meaningful with chunked; added below
		}
		fields = append(fields, field{randomCase(rng, name), pick(rng, genValues...)})
	}
	switch rng.IntN(4) {
	case 1:
		fields = append(fields, field{randomCase(rng, "Content-Length"), pick(rng, "0", "5", "007", "1048576", "9223372036854775807")})
	case 2:
		if minor == 1 {
			fields = append(fields, field{randomCase(rng, "Transfer-Encoding"), randomCase(rng, "chunked")})
			if rng.IntN(3) == 0 {
				fields = append(fields, field{"Trailer", "Grpc-Status, X-Checksum"})
			}
		}
	}
	switch rng.IntN(6) {
	case 1:
		fields = append(fields, field{"Connection", randomCase(rng, "close")})
	case 2:
		fields = append(fields, field{"Connection", randomCase(rng, "keep-alive")})
	case 3:
		fields = append(fields, field{"Connection", "Upgrade"}, field{"Upgrade", "websocket"})
	case 4:
		fields = append(fields, field{"connection", "x-hop, ,keep-alive , close"})
	}
	if rng.IntN(5) == 0 {
		fields = append(fields, field{"Expect", randomCase(rng, "100-continue")})
	}
	rng.Shuffle(len(fields), func(i, j int) { fields[i], fields[j] = fields[j], fields[i] })
	for _, f := range fields {
		ows := pick(rng, " ", "", "\t", "  ")
		fmt.Fprintf(&b, "%s:%s%s%s\r\n", f.name, ows, f.value, pick(rng, "", "", " ", "\t"))
	}
	b.WriteString("\r\n")
	return b.String()
}

// genResponse builds a random valid response head.
func genResponse(rng *rand.Rand) string {
	var b strings.Builder
	minor := pick(rng, 0, 1, 1)
	status := pick(rng, 100, 101, 200, 200, 201, 204, 206, 301, 304, 400, 404, 500, 503, 599)
	switch rng.IntN(4) {
	case 0:
		fmt.Fprintf(&b, "HTTP/1.%d %d\r\n", minor, status)
	case 1:
		fmt.Fprintf(&b, "HTTP/1.%d %d \r\n", minor, status)
	default:
		fmt.Fprintf(&b, "HTTP/1.%d %d %s\r\n", minor, status, pick(rng, "OK", "Not Found", "Erreur \xe9", "x\ty"))
	}
	type field struct{ name, value string }
	var fields []field
	for range rng.IntN(8) {
		fields = append(fields, field{randomCase(rng, pick(rng, "Content-Type", "Date", "Server", "Set-Cookie", "Cache-Control", "Pragma", "Vary", "ETag", "X-Powered-By", "Location")), pick(rng, genValues...)})
	}
	switch rng.IntN(3) {
	case 1:
		fields = append(fields, field{randomCase(rng, "Content-Length"), pick(rng, "0", "12", "00", "123456789")})
	case 2:
		if minor == 1 {
			fields = append(fields, field{randomCase(rng, "Transfer-Encoding"), randomCase(rng, "chunked")})
		}
	}
	switch rng.IntN(4) {
	case 1:
		fields = append(fields, field{"Connection", randomCase(rng, "close")})
	case 2:
		fields = append(fields, field{"Connection", randomCase(rng, "keep-alive")})
	}
	rng.Shuffle(len(fields), func(i, j int) { fields[i], fields[j] = fields[j], fields[i] })
	for _, f := range fields {
		fmt.Fprintf(&b, "%s:%s%s\r\n", f.name, pick(rng, " ", "", "\t"), f.value)
	}
	b.WriteString("\r\n")
	return b.String()
}

// TestDifferentialValidRequests checks that net/http accepts and reads
// every generated valid request exactly as h1 does.
func TestDifferentialValidRequests(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	seen := map[string]int{}
	for i := range 600 {
		head := genRequest(rng)
		var r Request
		if err := ParseRequest([]byte(head), &r, DefaultLimits()); err != nil {
			t.Errorf("request %d: h1 rejects valid %q: %v", i, head, err)
			continue
		}
		seen[fmt.Sprintf("1.%d", r.Minor)]++
		seen[fmt.Sprintf("chunked=%v", r.Chunked)]++
		seen[fmt.Sprintf("length=%v", r.ContentLength >= 0)]++
		seen[fmt.Sprintf("close=%v", r.Close)]++
		seen[fmt.Sprintf("absolute=%v", r.authority != nil && string(r.Method) != "CONNECT")]++
		seen[fmt.Sprintf("connect=%v", string(r.Method) == "CONNECT")]++
		seen[fmt.Sprintf("expect=%v", r.Expect100)]++
		if err := checkRequest(&r); err != nil {
			t.Errorf("request %d %q: %v", i, head, err)
		}
		if err := diffRequest([]byte(head), &r); err != nil {
			t.Errorf("request %d %q: %v", i, head, err)
		}
	}
	requireVariety(t, seen, "1.0", "1.1", "chunked=true", "length=true", "close=true", "close=false",
		"absolute=true", "connect=true", "expect=true")
}

// requireVariety fails unless the generator produced each kind of message,
// so the differential cannot silently degrade to one shape.
func requireVariety(t *testing.T, seen map[string]int, kinds ...string) {
	t.Helper()
	for _, k := range kinds {
		if seen[k] == 0 {
			t.Errorf("the generator produced no %s message (saw %v)", k, seen)
		}
	}
}

// TestDifferentialValidResponses does the same for responses, both as the
// answer to GET and to HEAD.
func TestDifferentialValidResponses(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	seen := map[string]int{}
	for i := range 600 {
		head := genResponse(rng)
		var r Response
		if err := ParseResponse([]byte(head), &r, DefaultLimits()); err != nil {
			t.Errorf("response %d: h1 rejects valid %q: %v", i, head, err)
			continue
		}
		if err := checkResponse(&r); err != nil {
			t.Errorf("response %d %q: %v", i, head, err)
		}
		fr, _ := r.Framing(false)
		seen[fr.String()]++
		seen[fmt.Sprintf("1.%d", r.Minor)]++
		seen[fmt.Sprintf("close=%v", r.Close)]++
		for _, headRequest := range []bool{false, true} {
			if err := diffResponse([]byte(head), &r, headRequest); err != nil {
				t.Errorf("response %d %q (HEAD %v): %v", i, head, headRequest, err)
			}
		}
	}
	requireVariety(t, seen, "1.0", "1.1", "none", "length", "chunked", "until-close", "close=true", "close=false")
}

// mutate applies a few random byte edits drawn from the bytes that matter to
// HTTP/1 framing, so that near-valid messages probe every boundary of the
// grammar.
func mutate(rng *rand.Rand, s string) []byte {
	const alphabet = "\r\n \t:,;=%[]@#?/\x00\x7f\x80\xff\x0b\"\\0159aAfFzZ-_.~*+!()'"
	b := []byte(s)
	for range 1 + rng.IntN(3) {
		if len(b) == 0 {
			break
		}
		i := rng.IntN(len(b))
		c := alphabet[rng.IntN(len(alphabet))]
		switch rng.IntN(3) {
		case 0:
			b[i] = c
		case 1:
			b = append(b[:i], append([]byte{c}, b[i:]...)...)
		default:
			b = append(b[:i], b[i+1:]...)
		}
	}
	return b
}

// TestDifferentialMutatedRequests checks the subset property where it is
// most likely to break: on near-valid requests. Whatever h1 accepts,
// net/http must accept and read the same way.
func TestDifferentialMutatedRequests(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	accepted := 0
	for range 20000 {
		head := mutate(rng, genRequest(rng))
		var r Request
		if ParseRequest(head, &r, DefaultLimits()) != nil {
			continue
		}
		accepted++
		if err := checkRequest(&r); err != nil {
			t.Errorf("%q: %v", head, err)
		}
		if !simpleTE(r.Headers) {
			continue
		}
		if err := diffRequest(head, &r); err != nil {
			t.Errorf("%q: %v", head, err)
		}
	}
	if accepted < 1000 {
		t.Errorf("only %d mutated requests were accepted; the test is not probing much", accepted)
	}
}

// TestDifferentialMutatedResponses does the same for responses.
func TestDifferentialMutatedResponses(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	accepted := 0
	for range 20000 {
		head := mutate(rng, genResponse(rng))
		var r Response
		if ParseResponse(head, &r, DefaultLimits()) != nil {
			continue
		}
		accepted++
		if err := checkResponse(&r); err != nil {
			t.Errorf("%q: %v", head, err)
		}
		if !simpleTE(r.Headers) {
			continue
		}
		for _, headRequest := range []bool{false, true} {
			if err := diffResponse(head, &r, headRequest); err != nil {
				t.Errorf("%q (HEAD %v): %v", head, headRequest, err)
			}
		}
	}
	if accepted < 1000 {
		t.Errorf("only %d mutated responses were accepted; the test is not probing much", accepted)
	}
}
