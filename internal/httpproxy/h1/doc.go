// Package h1 is gantry's strict, streaming HTTP/1.1 codec (RFC 9112): it parses
// request heads on the client side, response heads on the upstream side, and
// decodes and encodes chunked bodies. It is on the hot path of the reverse proxy.
//
// # Allocation budget
//
// Zero allocations per message after warm-up. A Request or Response owns one
// head buffer, one []Header and one slice of Connection tokens; they grow on
// first use (the buffer up to Limits.MaxHeaderBytes+2) and are reused by every
// later ReadRequest/ReadResponse on the same value. ChunkedReader and
// ChunkedWriter likewise reuse their buffers. Header, Reason, Target and every
// other []byte field alias the message's own buffer and stay valid until the
// next Reset or Read on that value. Errors are preallocated and shared: callers
// must not modify a returned *Error.
//
// # Strictness policy
//
// The codec accepts a strict subset of what RFC 9112 permits and of what
// net/http accepts, because a proxy that is more lenient than the server
// behind it is how request smuggling happens. Differential tests and fuzz
// targets check the latter; the one deliberate exception is a
// Transfer-Encoding other than a single "chunked" field (say "gzip, chunked"),
// which RFC 9112 allows and net/http refuses outright. Anything ambiguous is
// rejected, never repaired:
//
//   - Lines end in CRLF; a bare CR or bare LF anywhere is an error.
//   - The request line is token SP visible-ASCII SP "HTTP/1.1" or "HTTP/1.0",
//     with single spaces; the target form must fit the method (authority-form
//     only for CONNECT, "*" only for OPTIONS); no fragment, and no malformed
//     percent-escape in the path.
//   - Field names are tokens directly followed by a colon; obs-fold is
//     rejected; values may hold only VCHAR, SP, HTAB and obs-text.
//   - Content-Length is one field of 1*DIGIT that fits an int64; lists,
//     signs, duplicates (even identical ones) and empty values are rejected.
//   - Transfer-Encoding codings are tokens; "chunked" must be the final coding
//     and appear once. Transfer-Encoding with Content-Length, or in an HTTP/1.0
//     message, is rejected. A request whose final coding is not chunked is
//     rejected; such a response is read until close (RFC 9112 §6.3).
//   - An HTTP/1.1 request has exactly one Host, which is empty or
//     uri-host[":"port]. Percent-encoded host names are rejected: DNS names
//     never need them and they would let two spellings of one host route
//     differently.
//   - Connection may not nominate Content-Length, Transfer-Encoding or Host,
//     so that stripping hop-by-hop fields can never remove framing or routing.
//     Trailer may not name Content-Length, Transfer-Encoding or Trailer, and
//     a trailer section may not carry Content-Length, Transfer-Encoding, Host
//     or Trailer.
//   - Chunk sizes are 1 to 16 hex digits with no sign, prefix or whitespace;
//     extensions follow the RFC grammar with no whitespace and at most 4096
//     bytes per chunk line; chunk data must be followed by exactly CRLF. As
//     in net/http, a body may carry at most 16 KiB of framing beyond 16
//     bytes per chunk plus twice its data, so extensions cannot turn a few
//     bytes of data into megabytes to scan.
//
// Request errors carry the status the proxy should answer (400, 414, 431 or
// 505); every response error carries 502; every chunked-body error carries 400.
package h1
