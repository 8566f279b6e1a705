package health

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strconv"
)

// checkTCP writes Send, then reads until the reply starts with Expect. A byte
// that differs fails the check at once; a reply that ends early fails it too.
func (p *probe) checkTCP(ctx context.Context, c net.Conn) (bool, string) {
	if len(p.req) > 0 {
		if _, err := c.Write(p.req); err != nil {
			return false, p.failure(ctx, "tcp: sending", err)
		}
	}
	want := p.spec.Expect
	if want == "" {
		return true, "tcp connect: ok"
	}
	got := p.message(len(want))[:0]
	for len(got) < len(want) {
		b, err := p.br.ReadByte()
		if errors.Is(err, io.EOF) {
			return false, "tcp: reply ended after " + strconv.Quote(string(got)) + ", want " + strconv.Quote(truncate(want, 64))
		}
		if err != nil {
			return false, p.failure(ctx, "tcp: reading reply", err)
		}
		got = append(got, b)
		if b != want[len(got)-1] {
			// Show what else already arrived, for context.
			more, _ := p.br.Peek(min(p.br.Buffered(), 64-min(len(got), 64)))
			return false, "tcp: got " + strconv.Quote(truncate(string(got)+string(more), 64)) + ", want " + strconv.Quote(truncate(want, 64))
		}
	}
	return true, "tcp: reply matched"
}

// checkRedis sends PING and expects the line +PONG.
func (p *probe) checkRedis(ctx context.Context, c net.Conn) (bool, string) {
	if _, err := c.Write(p.req); err != nil {
		return false, p.failure(ctx, "redis: sending PING", err)
	}
	line, err := p.br.ReadSlice('\n')
	if err != nil && !(errors.Is(err, bufio.ErrBufferFull) && len(line) > 0) {
		if errors.Is(err, io.EOF) && len(line) > 0 {
			return false, "redis: got " + strconv.Quote(text(string(line), 64)) + " then EOF, want +PONG"
		}
		return false, p.failure(ctx, "redis: reading reply", err)
	}
	if ok, reason := redisReply(line); !ok {
		return false, reason
	}
	return true, "redis: +PONG"
}

// redisReply judges the first line of a reply to PING. The line comes from
// the backend: it is untrusted.
func redisReply(line []byte) (bool, string) {
	s := string(line)
	if len(s) >= 2 && s[len(s)-2:] == "\r\n" {
		s = s[:len(s)-2]
	}
	if s == "+PONG" {
		return true, ""
	}
	return false, "redis: got " + strconv.Quote(text(s, 64)) + " want +PONG"
}
