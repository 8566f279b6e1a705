package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func routeN(i int) Route {
	return Route{Name: fmt.Sprint("r", i), Backend: "b", HostHeader: fmt.Sprintf("h%d.example.com", i)}
}

// TestRouteListSplice: random splices of a RouteList agree with the same
// edits of a plain slice, at every step, and never change the list they
// start from.
func TestRouteListSplice(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	var model []Route
	var l RouteList
	next := 0
	for step := range 1200 {
		n := len(model)
		from := rnd.IntN(n + 1)
		to := from + rnd.IntN(min(n-from, 3)+1)
		var repl []Route
		k := rnd.IntN(4)
		if step < 12 {
			k = 100 // grow to several chunks first
		}
		for range k {
			repl = append(repl, routeN(next))
			next++
		}
		before, beforeModel := l, slices.Clone(model)
		l = l.Splice(from, to, repl...)
		model = slices.Concat(model[:from], repl, model[to:])
		if got := l.Routes(); !slices.EqualFunc(got, model, func(a, b Route) bool { return a.Name == b.Name }) || l.Len() != len(model) {
			t.Fatalf("step %d: splice(%d, %d, %d routes): %d routes, want %d", step, from, to, len(repl), l.Len(), len(model))
		}
		if got := before.Routes(); !slices.EqualFunc(got, beforeModel, func(a, b Route) bool { return a.Name == b.Name }) {
			t.Fatalf("step %d: the list spliced from changed", step)
		}
		for _, c := range l.chunks {
			if len(c) > routeChunk || len(c) == 0 {
				t.Fatalf("step %d: a chunk of %d routes", step, len(c))
			}
		}
		if n := len(model); n > 0 {
			i := rnd.IntN(n)
			if l.At(i).Name != model[i].Name {
				t.Fatalf("step %d: At(%d) = %s, want %s", step, i, l.At(i).Name, model[i].Name)
			}
			from := rnd.IntN(n)
			to := from + rnd.IntN(n-from+1)
			if got := l.Slice(from, to); len(got) != to-from || to > from && got[0].Name != model[from].Name {
				t.Fatalf("step %d: Slice(%d, %d) = %d routes", step, from, to, len(got))
			}
		}
	}
}

// TestRouteListSetCopiesOneChunk: replacing one route of a long list
// shares every chunk but one with the list it came from.
func TestRouteListSetCopiesOneChunk(t *testing.T) {
	rs := make([]Route, 10_000)
	for i := range rs {
		rs[i] = routeN(i)
	}
	l := RoutesOf(rs...)
	m := l.Set(5_000, routeN(-1))
	if l.At(5_000).Name != "r5000" || m.At(5_000).Name != "r-1" || m.Len() != l.Len() {
		t.Fatal("Set did not make a new list")
	}
	shared := 0
	for i := range m.chunks {
		if i < len(l.chunks) && &m.chunks[i][0] == &l.chunks[i][0] {
			shared++
		}
	}
	if shared < len(l.chunks)-1 {
		t.Fatalf("%d of %d chunks shared", shared, len(l.chunks))
	}
	if l.Same(m) || !l.Same(l) || m.Same(RouteList{}) || !(RouteList{}).Same(RoutesOf()) {
		t.Fatal("Same")
	}
}

// TestRouteListJSON: a RouteList marshals as the []Route it holds, and a
// frontend without routes leaves the field out, as omitempty did.
func TestRouteListJSON(t *testing.T) {
	rs := make([]Route, 600)
	for i := range rs {
		rs[i] = routeN(i)
	}
	rs[3].Headers = []HeaderMatch{{Name: "X-A", Value: "1"}}
	for _, n := range []int{0, 1, 600} {
		f := Frontend{Name: "f", Routes: RoutesOf(rs[:n]...)}
		got, _ := json.Marshal(f)
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(got, &fields); err != nil {
			t.Fatal(err)
		}
		js, present := fields["routes"]
		if want, _ := json.Marshal(rs[:n]); n > 0 && string(js) != string(want) || n == 0 && present {
			t.Fatalf("%d routes: %.80s, want %.80s", n, js, want)
		}
		var back Frontend
		if err := json.Unmarshal(got, &back); err != nil || back.Routes.Len() != n {
			t.Fatalf("%d routes: back %d, %v", n, back.Routes.Len(), err)
		}
		if n > 0 {
			again, _ := json.Marshal(back.Routes)
			direct, _ := json.Marshal(rs[:n])
			if string(again) != string(direct) {
				t.Fatalf("%d routes: marshalled differently from the slice", n)
			}
		}
	}
	// Unknown fields of a route are rejected, and type errors name the
	// field, as when Routes was a slice.
	if _, err := Parse([]byte(`{"lbs":[{"name":"a","frontends":[{"name":"f","routes":[{"backend":"b","hostheader":"x"}]}]}]}`)); err == nil || !strings.Contains(err.Error(), `unknown field "hostheader"`) {
		t.Fatalf("unknown field: %v", err)
	}
	_, err := Parse([]byte(`{"lbs":[{"name":"a","frontends":[{"name":"f","routes":[{"backend":"b","priority":"x"}]}]}]}`))
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) || te.Field != "lbs.frontends.routes.priority" {
		t.Fatalf("type error: %#v", err)
	}
	var l RouteList
	if err := json.Unmarshal([]byte(`null`), &l); err != nil || l.Len() != 0 {
		t.Fatal(err)
	}
	if b, _ := json.Marshal(RouteList{}); string(b) != "[]" {
		t.Fatalf("empty list: %s", b)
	}
}

// BenchmarkRouteListSet measures replacing one route of 100,000: one
// chunk and the chunk index are copied.
func BenchmarkRouteListSet(b *testing.B) {
	rs := make([]Route, 100_000)
	for i := range rs {
		rs[i] = routeN(i)
	}
	l := RoutesOf(rs...)
	r := routeN(-1)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		l = l.Set(i*7919%len(rs), r)
	}
}
