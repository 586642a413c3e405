package packet

import (
	"encoding/binary"
	"net/netip"
)

// Sum adds b as big-endian 16-bit words to sum (one's complement, not yet
// folded). An odd trailing byte is padded with zero.
func Sum(b []byte, sum uint32) uint32 {
	var s uint64 = uint64(sum)
	for len(b) >= 8 {
		s += uint64(binary.BigEndian.Uint32(b)) + uint64(binary.BigEndian.Uint32(b[4:]))
		b = b[8:]
	}
	for len(b) >= 2 {
		s += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint64(b[0]) << 8
	}
	for s>>32 != 0 {
		s = s&0xffffffff + s>>32
	}
	return uint32(s)
}

// Fold folds a 32-bit sum to 16 bits.
func Fold(sum uint32) uint16 {
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return uint16(sum)
}

// PseudoSum is the sum of the transport pseudo-header for IPv4 or IPv6.
func PseudoSum(src, dst netip.Addr, proto uint8, length int) uint32 {
	var s uint32
	if src.Is4() {
		a, b := src.As4(), dst.As4()
		s = Sum(a[:], 0)
		s = Sum(b[:], s)
	} else {
		a, b := src.As16(), dst.As16()
		s = Sum(a[:], 0)
		s = Sum(b[:], s)
	}
	return s + uint32(proto) + uint32(length)
}

// TransportChecksum computes the checksum of a TCP, UDP or ICMPv6 segment
// whose checksum field is zero.
func TransportChecksum(src, dst netip.Addr, proto uint8, seg []byte) uint16 {
	return ^Fold(Sum(seg, PseudoSum(src, dst, proto, len(seg))))
}

// Update16 adjusts checksum c for a 16-bit field changing from old to new
// (RFC 1624, eqn. 3), as the kernel's inet_proto_csum_replace2.
func Update16(c, old, new uint16) uint16 {
	s := uint32(^c) + uint32(^old) + uint32(new)
	return ^Fold(s)
}

// Update32 adjusts checksum c for a 32-bit field changing from old to new.
func Update32(c uint16, old, new uint32) uint16 {
	c = Update16(c, uint16(old>>16), uint16(new>>16))
	return Update16(c, uint16(old), uint16(new))
}

// UpdateAddr adjusts checksum c for an address changing from old to new.
func UpdateAddr(c uint16, old, new netip.Addr) uint16 {
	a, b := old.As16(), new.As16()
	start := 0
	if old.Is4() {
		start = 12
	}
	for i := start; i < 16; i += 2 {
		c = Update16(c, binary.BigEndian.Uint16(a[i:]), binary.BigEndian.Uint16(b[i:]))
	}
	return c
}
