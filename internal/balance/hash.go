package balance

import (
	"math/bits"
	"net/netip"
)

// HashKey is the hashed request key of the hashing algorithms (Source, URI,
// Header): the client address, the request path or a header value, reduced
// to 64 bits by a hash that is the same in every process and on every
// machine (XXH64 with seed 0), so that a key maps to the same endpoint after
// a restart and on every gantry node. The zero HashKey means "no key": a
// hashing Group then balances like RoundRobin, as HAProxy does when the
// hashed header is missing.
type HashKey struct {
	h  uint64
	ok bool
}

// Valid reports whether k carries a key (it was built from non-empty input).
func (k HashKey) Valid() bool { return k.ok }

// Sum returns the 64-bit hash of the key; 0 for the zero HashKey.
func (k HashKey) Sum() uint64 { return k.h }

// KeyBytes returns the key of b, or the zero HashKey when b is empty. It
// neither keeps nor modifies b. On the hot path; no allocation.
func KeyBytes(b []byte) HashKey {
	if len(b) == 0 {
		return HashKey{}
	}
	return HashKey{h: xxh64(b), ok: true}
}

// KeyString is KeyBytes for a string. On the hot path; no allocation.
func KeyString(s string) HashKey {
	if s == "" {
		return HashKey{}
	}
	return HashKey{h: xxh64(s), ok: true}
}

// KeyAddr returns the key of a client address, or the zero HashKey when a is
// not valid. An IPv4 address and the same address mapped into IPv6
// (::ffff:a.b.c.d, as a dual-stack listener reports it) have the same key;
// the zone is ignored. On the hot path; no allocation.
func KeyAddr(a netip.Addr) HashKey {
	if !a.IsValid() {
		return HashKey{}
	}
	return HashKey{h: hashAddr(a), ok: true}
}

// hashAddr hashes the 16-byte form of a (IPv4 as ::ffff:a.b.c.d).
func hashAddr(a netip.Addr) uint64 {
	b := a.As16()
	return xxh64(b[:])
}

// The primes of XXH64.
const (
	prime1 uint64 = 0x9E3779B185EBCA87
	prime2 uint64 = 0xC2B2AE3D27D4EB4F
	prime3 uint64 = 0x165667B19E3779F9
	prime4 uint64 = 0x85EBCA77C2B2AE63
	prime5 uint64 = 0x27D4EB2F165667C5
)

// xxh64 is XXH64 (https://github.com/Cyan4973/xxHash, doc/xxhash_spec.md)
// with seed 0. It is pinned by test vectors: changing it would move every
// hashed key to another endpoint across an upgrade.
func xxh64[T string | []byte](b T) uint64 {
	n := len(b)
	var h uint64
	i := 0
	if n >= 32 {
		// Seed 0: v1 = seed+p1+p2, v2 = seed+p2, v3 = seed, v4 = seed-p1,
		// wrapping (the constants are typed, so compute at run time).
		p1 := prime1
		v1 := p1 + prime2
		v2 := prime2
		v3 := uint64(0)
		v4 := -p1
		for ; i+32 <= n; i += 32 {
			v1 = xxRound(v1, le64(b, i))
			v2 = xxRound(v2, le64(b, i+8))
			v3 = xxRound(v3, le64(b, i+16))
			v4 = xxRound(v4, le64(b, i+24))
		}
		h = bits.RotateLeft64(v1, 1) + bits.RotateLeft64(v2, 7) +
			bits.RotateLeft64(v3, 12) + bits.RotateLeft64(v4, 18)
		h = xxMerge(h, v1)
		h = xxMerge(h, v2)
		h = xxMerge(h, v3)
		h = xxMerge(h, v4)
	} else {
		h = prime5
	}
	h += uint64(n)
	for ; i+8 <= n; i += 8 {
		h ^= xxRound(0, le64(b, i))
		h = bits.RotateLeft64(h, 27)*prime1 + prime4
	}
	if i+4 <= n {
		h ^= uint64(le32(b, i)) * prime1
		h = bits.RotateLeft64(h, 23)*prime2 + prime3
		i += 4
	}
	for ; i < n; i++ {
		h ^= uint64(b[i]) * prime5
		h = bits.RotateLeft64(h, 11) * prime1
	}
	h ^= h >> 33
	h *= prime2
	h ^= h >> 29
	h *= prime3
	h ^= h >> 32
	return h
}

func xxRound(acc, in uint64) uint64 {
	acc += in * prime2
	acc = bits.RotateLeft64(acc, 31)
	return acc * prime1
}

func xxMerge(acc, v uint64) uint64 {
	acc ^= xxRound(0, v)
	return acc*prime1 + prime4
}

func le64[T string | []byte](b T, i int) uint64 {
	b = b[i : i+8]
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

func le32[T string | []byte](b T, i int) uint32 {
	b = b[i : i+4]
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

// mix64 is the finalizer of MurmurHash3 (fmix64): a bijection on 64 bits in
// which every input bit affects every output bit. Rendezvous hashing scores
// mix64(key ^ endpoint seed), so that the order of endpoints for one key is
// independent of the order for any other key.
func mix64(k uint64) uint64 {
	k ^= k >> 33
	k *= 0xff51afd7ed558ccd
	k ^= k >> 33
	k *= 0xc4ceb9fe1a85ec53
	k ^= k >> 33
	return k
}
