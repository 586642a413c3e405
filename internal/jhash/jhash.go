// Package jhash is the kernel's jhash (Bob Jenkins' lookup3, as
// include/linux/jhash.h has it): netfilter hashes with it where the
// result is observable (NAT's address choice, NFQUEUE balancing, the
// cluster match), so nfgo must compute the same values.
package jhash

import "math/bits"

const golden = 0xdeadbeef

func mix(a, b, c uint32) (uint32, uint32, uint32) {
	a -= c
	a ^= bits.RotateLeft32(c, 4)
	c += b
	b -= a
	b ^= bits.RotateLeft32(a, 6)
	a += c
	c -= b
	c ^= bits.RotateLeft32(b, 8)
	b += a
	a -= c
	a ^= bits.RotateLeft32(c, 16)
	c += b
	b -= a
	b ^= bits.RotateLeft32(a, 19)
	a += c
	c -= b
	c ^= bits.RotateLeft32(b, 4)
	b += a
	return a, b, c
}

func final(a, b, c uint32) uint32 {
	c ^= b
	c -= bits.RotateLeft32(b, 14)
	a ^= c
	a -= bits.RotateLeft32(c, 11)
	b ^= a
	b -= bits.RotateLeft32(a, 25)
	c ^= b
	c -= bits.RotateLeft32(b, 16)
	a ^= c
	a -= bits.RotateLeft32(c, 4)
	b ^= a
	b -= bits.RotateLeft32(a, 14)
	c ^= b
	c -= bits.RotateLeft32(b, 24)
	return c
}

// Words is jhash2: the hash of k (words as the CPU loads them) with an
// initial value.
func Words(k []uint32, initval uint32) uint32 {
	a := golden + uint32(len(k))<<2 + initval
	b, c := a, a
	for len(k) > 3 {
		a += k[0]
		b += k[1]
		c += k[2]
		a, b, c = mix(a, b, c)
		k = k[3:]
	}
	switch len(k) {
	case 3:
		c += k[2]
		fallthrough
	case 2:
		b += k[1]
		fallthrough
	case 1:
		a += k[0]
		return final(a, b, c)
	}
	return c
}

// ThreeWords is jhash_3words.
func ThreeWords(a, b, c, initval uint32) uint32 {
	iv := initval + golden + 3<<2
	return final(a+iv, b+iv, c+iv)
}
