package balance

import (
	"math/rand/v2"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/gantry-lb/gantry/internal/upstream"
)

func benchWeights(n int, uniform bool) []int {
	w := make([]int, n)
	rng := rand.New(rand.NewPCG(3, uint64(n)))
	for i := range w {
		w[i] = 1
		if !uniform {
			w[i] = 1 + rng.IntN(MaxWeight)
		}
	}
	return w
}

// BenchmarkPickKey is the hashing algorithms' pick with a key, the
// rendezvous scan: equal weights skip the logarithm, weighted ones do not.
func BenchmarkPickKey(b *testing.B) {
	keys := make([]HashKey, 1024)
	for i := range keys {
		keys[i] = KeyString("/api/items/" + strconv.Itoa(i))
	}
	for _, n := range []int{2, 16, 256} {
		for _, uniform := range []bool{true, false} {
			eps := endpoints(n)
			g := NewGroup(URI, spec(eps, benchWeights(n, uniform)))
			name := strconv.Itoa(n) + "/weighted"
			if uniform {
				name = strconv.Itoa(n) + "/equal"
			}
			b.Run(name+"/serial", func(b *testing.B) {
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					if g.PickKey(keys[i&1023]) == nil {
						b.Fatal("nil")
					}
					i++
				}
			})
			b.Run(name+"/parallel", func(b *testing.B) {
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					i := 0
					for pb.Next() {
						if g.PickKey(keys[i&1023]) == nil {
							b.Error("nil")
							return
						}
						i++
					}
				})
			})
		}
	}
}

// BenchmarkPickUntried is the retry path of every algorithm: one endpoint
// tried, held in a stack array as the proxies do.
func BenchmarkPickUntried(b *testing.B) {
	k := KeyString("/retry")
	for _, a := range algorithms {
		eps := endpoints(16)
		g := NewGroup(a, spec(eps, benchWeights(16, false), 15))
		b.Run(a.String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var tried [3]*upstream.Endpoint
				tried[0] = g.PickKey(k)
				if g.PickUntried(k, tried[:1]) == nil {
					b.Fatal("nil")
				}
			}
		})
	}
}

// BenchmarkPickDegraded covers the slow paths: half the endpoints down, and
// every primary down (backups serve).
func BenchmarkPickDegraded(b *testing.B) {
	k := KeyString("/degraded")
	for _, a := range algorithms {
		for _, mode := range []string{"half-down", "backups"} {
			eps := endpoints(16)
			var g *Group
			if mode == "half-down" {
				g = NewGroup(a, spec(eps, nil))
				for i := 0; i < 16; i += 2 {
					eps[i].SetState(upstream.StateDown, "bench")
				}
			} else {
				g = NewGroup(a, spec(eps, nil, 12, 13, 14, 15))
				for i := range 12 {
					eps[i].SetState(upstream.StateDown, "bench")
				}
			}
			b.Run(a.String()+"/"+mode, func(b *testing.B) {
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if g.PickKey(k) == nil {
							b.Error("nil")
							return
						}
					}
				})
			})
		}
	}
}

func BenchmarkKey(b *testing.B) {
	uri := "/api/v1/users/12345/profile"
	uriB := []byte(uri)
	v4 := netip.MustParseAddr("192.0.2.7")
	v6 := netip.MustParseAddr("2001:db8::1:2:3")
	var sink HashKey
	b.Run("string", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sink = KeyString(uri)
		}
	})
	b.Run("bytes", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sink = KeyBytes(uriB)
		}
	})
	b.Run("addr4", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sink = KeyAddr(v4)
		}
	})
	b.Run("addr6", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sink = KeyAddr(v6)
		}
	})
	_ = sink
}

func BenchmarkCookies(b *testing.B) {
	eps := endpoints(16)
	c := mustCookies(b, testSecret, lax(), NewGroup(RoundRobin, spec(eps, nil)))
	v := value(b, c, eps[9])
	sv := string(v)
	header := "_ga=GA1.2.345; theme=dark; SERVERID=" + sv + "; lang=en"
	b.Run("Lookup", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if c.Lookup(v) == nil {
				b.Fatal("nil")
			}
		}
	})
	b.Run("LookupHeader", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if c.LookupHeader(header) == nil {
					b.Error("nil")
					return
				}
			}
		})
	})
	b.Run("SetCookie", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := c.SetCookie(eps[9]); !ok {
				b.Fatal("!ok")
			}
		}
	})
	b.Run("AppendSetCookie", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 128)
		for b.Loop() {
			buf, _ = c.AppendSetCookie(buf[:0], eps[9])
		}
	})
}

// BenchmarkSticky is the table's hot path: a hit (with its refresh), a miss
// followed by a store, and many clients in parallel.
func BenchmarkSticky(b *testing.B) {
	eps := endpoints(16)
	g := NewGroup(RoundRobin, spec(eps, nil))
	tables := NewTables(nil)
	addrs := make([]netip.Addr, 4096)
	for i := range addrs {
		addrs[i] = clientAddr(i)
	}
	b.Run("hit", func(b *testing.B) {
		v := tables.Table("lb/hit", 0).Bind(g, time.Minute)
		v.Store(addrs[0], eps[3])
		b.ReportAllocs()
		for b.Loop() {
			if v.Lookup(addrs[0]) == nil {
				b.Fatal("miss")
			}
		}
	})
	b.Run("miss+store", func(b *testing.B) {
		v := tables.Table("lb/miss", 0).Bind(g, time.Minute)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
			if v.Lookup(a) == nil {
				v.Store(a, eps[i&15])
			}
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		v := tables.Table("lb/par", 0).Bind(g, time.Minute)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := rand.IntN(len(addrs))
			for pb.Next() {
				a := addrs[i&4095]
				e := v.Lookup(a)
				if e == nil {
					e = g.Pick()
					v.Store(a, e)
				}
				i++
			}
		})
	})
}
