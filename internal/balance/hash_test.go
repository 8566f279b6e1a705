package balance

import (
	"net/netip"
	"strings"
	"testing"
)

// TestXXH64Vectors pins the key hash to XXH64 with seed 0: the first three
// are the reference implementation's published values, the others were
// checked once against github.com/cespare/xxhash/v2 (for every length from 0
// to 299 bytes). A change here moves every hashed key to another server
// across an upgrade, so it must be deliberate.
func TestXXH64Vectors(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
	}{
		{"", 0xef46db3751d8e999},
		{"a", 0xd24ec4f1a98c6e5b},
		{"abc", 0x44bc2cf5ad770999},
		{"10.0.0.1:80", 0x011facba8043b217},
		{"/index.html", 0xc7a2826b7865f267},
		{"user-42", 0x397e9d3a76af7c81},
		{"alice", 0x73a3ea485f2e6049},
		{"bob", 0x92878a3b42bad03b},
	}
	for _, tt := range tests {
		if got := xxh64(tt.in); got != tt.want {
			t.Errorf("xxh64(%q) = %#016x, want %#016x", tt.in, got, tt.want)
		}
		if got := xxh64([]byte(tt.in)); got != tt.want {
			t.Errorf("xxh64([]byte(%q)) = %#016x, want %#016x", tt.in, got, tt.want)
		}
	}
	// Every code path (32-byte stripes, 8- and 4-byte tails, single
	// bytes): string and []byte forms agree, and each length differs.
	seen := map[uint64]int{}
	long := strings.Repeat("gantry-0123456789", 8)
	for n := 0; n <= len(long); n++ {
		h := xxh64(long[:n])
		if h != xxh64([]byte(long[:n])) {
			t.Fatalf("length %d: string and []byte hashes differ", n)
		}
		if m, dup := seen[h]; dup {
			t.Fatalf("lengths %d and %d hash the same", m, n)
		}
		seen[h] = n
	}
}

func TestHashKey(t *testing.T) {
	if KeyBytes(nil).Valid() || KeyString("").Valid() || KeyAddr(netip.Addr{}).Valid() {
		t.Fatal("empty input gave a valid key")
	}
	if k := KeyString("alice"); !k.Valid() || k.Sum() != 0x73a3ea485f2e6049 || KeyBytes([]byte("alice")) != k {
		t.Fatalf("KeyString(alice) = %+v", k)
	}
	v4 := netip.MustParseAddr("192.0.2.7")
	mapped := netip.MustParseAddr("::ffff:192.0.2.7")
	zoned := netip.MustParseAddr("fe80::1%eth0")
	if KeyAddr(v4) != KeyAddr(mapped) {
		t.Fatal("an IPv4 address and its IPv4-mapped IPv6 form have different keys")
	}
	if KeyAddr(zoned) != KeyAddr(netip.MustParseAddr("fe80::1")) {
		t.Fatal("the zone changed the key")
	}
	if KeyAddr(v4) == KeyAddr(netip.MustParseAddr("192.0.2.8")) {
		t.Fatal("two addresses have the same key")
	}
	// Pinned: the address is hashed as its 16-byte form.
	if got := KeyAddr(v4).Sum(); got != 0x750363e68386a2ef {
		t.Fatalf("KeyAddr(192.0.2.7) = %#016x, want 0x750363e68386a2ef", got)
	}
}

func TestMix64Bijective(t *testing.T) {
	// mix64 must not merge keys: spot-check that nearby inputs stay
	// distinct and differ in about half their bits.
	seen := map[uint64]bool{}
	for i := range uint64(1 << 12) {
		h := mix64(i)
		if seen[h] {
			t.Fatalf("mix64 collision at %d", i)
		}
		seen[h] = true
		if i > 0 {
			d := popcount(h ^ mix64(i-1))
			if d < 12 || d > 52 {
				t.Fatalf("mix64(%d) and mix64(%d) differ in %d bits", i, i-1, d)
			}
		}
	}
}

func popcount(x uint64) int {
	n := 0
	for ; x != 0; x &= x - 1 {
		n++
	}
	return n
}
