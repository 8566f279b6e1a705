package config

import (
	"bytes"
	"encoding/json"
	"iter"
	"slices"
)

// RouteList is a frontend's ordered list of routes: a persistent sequence
// stored in chunks of at most routeChunk routes. A list is never changed in
// place: Set, Insert, Delete and Splice return a new list that shares every
// chunk they did not touch, so that replacing one route of 100,000 copies
// one chunk and the small chunk index, not the list. Chunks are therefore
// immutable once built, which is what lets Clone and the shallow copies of
// control share them.
//
// The zero RouteList is the empty list. It marshals to JSON exactly as a
// []Route did (an array; a field tagged omitzero is left out when the list
// is empty, as omitempty left out an empty slice) and unmarshals from an
// array or null.
type RouteList struct {
	chunks [][]Route
	ends   []int // ends[i] is the number of routes in chunks[:i+1]
}

// routeChunk is the size RouteList aims at for its chunks.
const routeChunk = 256

// RoutesOf returns the list of rs, in order. It copies rs: changing rs
// afterwards does not change the list.
func RoutesOf(rs ...Route) RouteList {
	return routesOwning(slices.Clone(rs))
}

// routesOwning returns the list of rs without copying it: rs must not be
// changed afterwards.
func routesOwning(rs []Route) RouteList {
	if len(rs) == 0 {
		return RouteList{}
	}
	chunks := appendRouteChunks(nil, rs)
	return RouteList{chunks: chunks, ends: routeEnds(chunks)}
}

// Len returns the number of routes.
func (l RouteList) Len() int {
	if len(l.ends) == 0 {
		return 0
	}
	return l.ends[len(l.ends)-1]
}

// IsZero reports whether the list is empty (for the omitzero JSON option).
func (l RouteList) IsZero() bool { return l.Len() == 0 }

// At returns route i, 0 <= i < Len(). The route is shared with every list
// holding its chunk: the caller must not change it (use Set or Edit).
func (l RouteList) At(i int) *Route {
	c, _ := slices.BinarySearch(l.ends, i+1)
	start := 0
	if c > 0 {
		start = l.ends[c-1]
	}
	return &l.chunks[c][i-start]
}

// Same reports whether l and m are the same list: copies of one RouteList
// value (a change always makes a new chunk index). Lists that are not the
// same may still hold equal routes.
func (l RouteList) Same(m RouteList) bool {
	if len(l.ends) != len(m.ends) {
		return false
	}
	return len(l.ends) == 0 || &l.ends[0] == &m.ends[0]
}

// All yields every route with its index, in order. The routes must not be
// changed, as for At.
func (l RouteList) All() iter.Seq2[int, *Route] {
	return func(yield func(int, *Route) bool) {
		i := 0
		for _, c := range l.chunks {
			for j := range c {
				if !yield(i, &c[j]) {
					return
				}
				i++
			}
		}
	}
}

// Slice returns a new slice of the routes in [from, to), 0 <= from <= to
// <= Len(); nil when the range is empty.
func (l RouteList) Slice(from, to int) []Route {
	if from >= to {
		return nil
	}
	out := make([]Route, 0, to-from)
	c, _ := slices.BinarySearch(l.ends, from+1)
	for start := l.start(c); c < len(l.chunks) && start < to; c++ {
		ch := l.chunks[c]
		out = append(out, ch[max(from-start, 0):min(to-start, len(ch))]...)
		start += len(ch)
	}
	return out
}

// Routes returns a new slice of every route; nil when the list is empty.
func (l RouteList) Routes() []Route { return l.Slice(0, l.Len()) }

// Index returns the index of the first route for which f is true, or -1.
func (l RouteList) Index(f func(*Route) bool) int {
	for i, r := range l.All() {
		if f(r) {
			return i
		}
	}
	return -1
}

func (l RouteList) start(c int) int {
	if c == 0 {
		return 0
	}
	return l.ends[c-1]
}

// Splice returns the list with the routes in [from, to) replaced by repl,
// 0 <= from <= to <= Len(). It copies the chunks that hold the range (and
// a small neighbour, so that small chunks merge rather than pile up) and
// the chunk index; l is not changed.
func (l RouteList) Splice(from, to int, repl ...Route) RouteList {
	if len(l.chunks) == 0 {
		return routesOwning(slices.Clone(repl))
	}
	c0, _ := slices.BinarySearch(l.ends, from+1)
	c1, _ := slices.BinarySearch(l.ends, to)
	c1++
	if c0 > 0 && (c0 == len(l.chunks) || len(l.chunks[c0]) < routeChunk/2) {
		c0--
	}
	c1 = min(max(c1, c0+1), len(l.chunks))
	start := l.start(c0)
	n := len(repl) - (to - from)
	for c := c0; c < c1; c++ {
		n += len(l.chunks[c])
	}
	mid := make([]Route, 0, n)
	for c := c0; c < c1; c++ {
		ch := l.chunks[c]
		if s := from - start; s > 0 {
			mid = append(mid, ch[:min(s, len(ch))]...)
		}
		start += len(ch)
	}
	mid = append(mid, repl...)
	start = l.start(c0)
	for c := c0; c < c1; c++ {
		ch := l.chunks[c]
		if s := to - start; s < len(ch) {
			mid = append(mid, ch[max(s, 0):]...)
		}
		start += len(ch)
	}
	chunks := make([][]Route, 0, len(l.chunks)+len(mid)/routeChunk+1)
	chunks = append(chunks, l.chunks[:c0]...)
	chunks = appendRouteChunks(chunks, mid)
	chunks = append(chunks, l.chunks[c1:]...)
	if len(chunks) == 0 {
		return RouteList{}
	}
	return RouteList{chunks: chunks, ends: routeEnds(chunks)}
}

// Set returns the list with route i replaced by r.
func (l RouteList) Set(i int, r Route) RouteList { return l.Splice(i, i+1, r) }

// Edit returns the list with route i replaced by what edit makes of a copy
// of it.
func (l RouteList) Edit(i int, edit func(*Route)) RouteList {
	r := *l.At(i)
	r.Headers = slices.Clone(r.Headers)
	edit(&r)
	return l.Set(i, r)
}

// Insert returns the list with rs inserted before index i (i == Len()
// appends).
func (l RouteList) Insert(i int, rs ...Route) RouteList { return l.Splice(i, i, rs...) }

// Append returns the list with rs added at the end.
func (l RouteList) Append(rs ...Route) RouteList { return l.Splice(l.Len(), l.Len(), rs...) }

// Delete returns the list without the routes in [from, to).
func (l RouteList) Delete(from, to int) RouteList { return l.Splice(from, to) }

// MarshalJSON writes the list as a JSON array of its routes.
func (l RouteList) MarshalJSON() ([]byte, error) {
	if len(l.chunks) == 1 {
		return json.Marshal(l.chunks[0])
	}
	rs := l.Routes()
	if rs == nil {
		rs = []Route{}
	}
	return json.Marshal(rs)
}

// UnmarshalJSON reads a JSON array of routes (null is the empty list). An
// unknown field of a route is an error, as for Parse: a decoder's
// DisallowUnknownFields does not reach an Unmarshaler, so the list is always
// strict (the error reads as the decoder's own, and a type error gets the
// path of the list from the outer decoder).
func (l *RouteList) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var rs []Route
	if err := dec.Decode(&rs); err != nil {
		return err
	}
	*l = routesOwning(rs)
	return nil
}

// appendRouteChunks cuts rs into chunks of at most routeChunk routes.
func appendRouteChunks(chunks [][]Route, rs []Route) [][]Route {
	if len(rs) == 0 {
		return chunks
	}
	k := (len(rs) + routeChunk - 1) / routeChunk
	for i := range k {
		chunks = append(chunks, slices.Clip(rs[i*len(rs)/k:(i+1)*len(rs)/k]))
	}
	return chunks
}

func routeEnds(chunks [][]Route) []int {
	ends := make([]int, len(chunks))
	n := 0
	for i, c := range chunks {
		n += len(c)
		ends[i] = n
	}
	return ends
}
