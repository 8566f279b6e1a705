package control

import (
	"math"
	"slices"
	"strconv"
)

// Route order keys. A route stored as its own key carries a position, a
// string that sorts like the route's place in its frontend's list, so that
// inserting or moving one route rewrites that route only. A position is 16
// hex digits (an integer) and an optional fraction of hex digits that never
// ends in '0': fresh lists are numbered posBase, posBase+posGap, ...;
// appending adds posGap; inserting takes the midpoint of the neighbours,
// lengthening the fraction only when two neighbours have consecutive
// integers.
const (
	posBase  = 1 << 40
	posGap   = 1 << 20
	posWidth = 16
	digits   = "0123456789abcdef"
)

// posInt returns the position of integer i, without a fraction.
func posInt(i uint64) string {
	s := strconv.FormatUint(i, 16)
	if len(s) < posWidth {
		s = "0000000000000000"[:posWidth-len(s)] + s
	}
	return s
}

// splitPos returns the integer and the fraction of a position.
func splitPos(p string) (uint64, string) {
	if len(p) < posWidth {
		return 0, ""
	}
	i, err := strconv.ParseUint(p[:posWidth], 16, 64)
	if err != nil {
		return 0, ""
	}
	return i, p[posWidth:]
}

// validPos reports whether p is a position posBetween can work with.
func validPos(p string) bool {
	if len(p) < posWidth || p[len(p)-1] == '0' && len(p) > posWidth {
		return false
	}
	for i := 0; i < len(p); i++ {
		if (p[i] < '0' || p[i] > '9') && (p[i] < 'a' || p[i] > 'f') {
			return false
		}
	}
	return true
}

// posBetween returns a position strictly between a and b, which must be
// valid and a < b; "" stands for the start (a) or the end (b) of the list.
func posBetween(a, b string) string {
	ia, fa := splitPos(a)
	ib, fb := splitPos(b)
	switch {
	case a == "" && b == "":
		return posInt(posBase)
	case b == "":
		if ia <= math.MaxUint64-posGap {
			return posInt(ia + posGap)
		}
		return posInt(ia) + fracMid(fa, "")
	case a == "":
		switch {
		case ib >= 2*posGap:
			return posInt(ib - posGap)
		case ib >= 2:
			return posInt(ib / 2)
		case ib == 1:
			return posInt(0) + "8"
		}
		// (0, "") is never made, so fb is not empty.
		return posInt(0) + fracMid("", fb)
	case ia == ib:
		return posInt(ia) + fracMid(fa, fb)
	case ib-ia >= 2:
		return posInt(ia + (ib-ia)/2)
	default:
		return posInt(ia) + fracMid(fa, "")
	}
}

// posN returns n increasing positions strictly between a and b (as in
// posBetween), splitting the interval in halves so that the keys stay short.
func posN(a, b string, n int) []string {
	if n <= 0 {
		return nil
	}
	mid := posBetween(a, b)
	left := posN(a, mid, n/2)
	right := posN(mid, b, n-1-n/2)
	return slices.Concat(left, []string{mid}, right)
}

// freshPos returns the positions of a list of n routes written from scratch.
func freshPos(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = posInt(posBase + uint64(i)*posGap)
	}
	return out
}

// fracMid returns a fraction strictly between a and b (hex digits, read as
// 0.a and 0.b; b "" stands for 1), never ending in '0'; a < b, and neither
// ends in '0'.
func fracMid(a, b string) string {
	if b != "" {
		n := 0
		for n < len(b) {
			ca := byte('0')
			if n < len(a) {
				ca = a[n]
			}
			if ca != b[n] {
				break
			}
			n++
		}
		if n > 0 {
			return b[:n] + fracMid(a[min(n, len(a)):], b[n:])
		}
	}
	da := 0
	if a != "" {
		da = digitValue(a[0])
	}
	db := 16
	if b != "" {
		db = digitValue(b[0])
	}
	if db-da > 1 {
		return digits[(da+db+1)/2 : (da+db+1)/2+1]
	}
	if len(b) > 1 {
		return b[:1]
	}
	return digits[da:da+1] + fracMid(a[min(1, len(a)):], "")
}

func digitValue(c byte) int {
	if c >= 'a' {
		return int(c-'a') + 10
	}
	return int(c - '0')
}

// chunkSeq is an immutable sequence stored in chunks, so that splice copies
// the chunks it changes and the chunk directory, not every element: a
// splice of k elements into n costs O(k + seqChunk + n/seqChunk). It holds
// the positions of a frontend's routes, which change by one route at a time
// in lists of up to 100,000.
type chunkSeq[E any] struct {
	chunks [][]E
	ends   []int // ends[i] is the number of elements in chunks[:i+1]
}

// seqChunk is the size chunkSeq aims at for its chunks.
const seqChunk = 256

func chunkSeqOf[E any](es []E) chunkSeq[E] {
	chunks := appendChunks(nil, es)
	return chunkSeq[E]{chunks: chunks, ends: chunkEnds(chunks)}
}

func (s *chunkSeq[E]) len() int {
	if len(s.ends) == 0 {
		return 0
	}
	return s.ends[len(s.ends)-1]
}

// at returns element i.
func (s *chunkSeq[E]) at(i int) E {
	c, _ := slices.BinarySearch(s.ends, i+1)
	start := 0
	if c > 0 {
		start = s.ends[c-1]
	}
	return s.chunks[c][i-start]
}

// all returns every element, in order.
func (s *chunkSeq[E]) all() []E {
	out := make([]E, 0, s.len())
	for _, c := range s.chunks {
		out = append(out, c...)
	}
	return out
}

// splice returns the sequence with [from, to) replaced by repl; s is not
// changed.
func (s chunkSeq[E]) splice(from, to int, repl []E) chunkSeq[E] {
	// The chunks [c0, c1) hold every element of [from, to), and a
	// neighbour when the range is empty or its first chunk is small, so
	// that small chunks merge rather than pile up.
	c0, _ := slices.BinarySearch(s.ends, from+1)
	c1, _ := slices.BinarySearch(s.ends, to)
	c1++
	if c0 > 0 && (c0 == len(s.chunks) || len(s.chunks[c0]) < seqChunk/2) {
		c0--
	}
	c1 = min(max(c1, c0+1), len(s.chunks))
	start := 0
	if c0 > 0 {
		start = s.ends[c0-1]
	}
	var old []E
	for c := c0; c < c1; c++ {
		old = append(old, s.chunks[c]...)
	}
	mid := slices.Concat(old[:from-start], repl, old[to-start:])
	chunks := make([][]E, 0, len(s.chunks)+len(mid)/seqChunk+1)
	chunks = append(chunks, s.chunks[:c0]...)
	chunks = appendChunks(chunks, mid)
	chunks = append(chunks, s.chunks[c1:]...)
	return chunkSeq[E]{chunks: chunks, ends: chunkEnds(chunks)}
}

// appendChunks cuts es into chunks of at most seqChunk elements.
func appendChunks[E any](chunks [][]E, es []E) [][]E {
	if len(es) == 0 {
		return chunks
	}
	k := (len(es) + seqChunk - 1) / seqChunk
	for i := range k {
		chunks = append(chunks, slices.Clip(es[i*len(es)/k:(i+1)*len(es)/k]))
	}
	return chunks
}

func chunkEnds[E any](chunks [][]E) []int {
	ends := make([]int, len(chunks))
	n := 0
	for i, c := range chunks {
		n += len(c)
		ends[i] = n
	}
	return ends
}

// search returns the index of e in s, whose elements must be in increasing
// order, and whether it is there.
func (s *chunkSeq[E]) search(e E, cmp func(a, b E) int) (int, bool) {
	// The first chunk whose last element is at least e holds it, if any.
	c, _ := slices.BinarySearchFunc(s.chunks, e, func(chunk []E, e E) int { return cmp(chunk[len(chunk)-1], e) })
	if c == len(s.chunks) {
		return 0, false
	}
	i, found := slices.BinarySearchFunc(s.chunks[c], e, cmp)
	start := 0
	if c > 0 {
		start = s.ends[c-1]
	}
	return start + i, found
}
