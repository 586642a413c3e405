package nat

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/nfgo/nfgo/ext"
	"github.com/nfgo/nfgo/nf"
	"github.com/nfgo/nfgo/packet"
)

// ErrShort is returned when a header NAT must rewrite is cut short (the
// kernel's skb_ensure_writable failing): the packet is dropped.
var ErrShort = errors.New("nat: header truncated")

// NATPacket is nf_nat_packet: at a hook of manip type m it rewrites a
// packet of connection c travelling in the original (reply false) or
// reply direction, if the connection has a mapping of the kind that
// applies to it there (SRC_NAT for source manips in the original
// direction, DST_NAT for their replies, and the other way round). An
// error means the kernel drops the packet.
func NATPacket(p *packet.Packet, c ext.Conn, reply bool, m Manip) error {
	if !needsManip(c.Status(), reply, m) {
		return nil
	}
	return ManipPacket(p, Invert(c.Tuple(!reply)), m)
}

func needsManip(status uint32, reply bool, m Manip) bool {
	bit := uint32(ext.CTStatusSrcNAT)
	if m == ManipDst {
		bit = ext.CTStatusDstNAT
	}
	if reply {
		bit ^= ext.CTStatusSrcNAT | ext.CTStatusDstNAT
	}
	return status&bit != 0
}

// ManipPacket is nf_nat_manip_pkt for a target tuple: it gives the packet
// the source (ManipSrc) or destination address and port (ICMP query id)
// of target, updating the IPv4 header checksum and the transport checksum
// incrementally as the kernel does (UDP over IPv4 without a checksum
// keeps none; a UDP checksum that becomes 0 is sent as 0xffff; SCTP's
// CRC32c is computed afresh). Protocols NAT has no ports for keep their
// transport header. IPv6 fragments after the first have only their
// address rewritten.
func ManipPacket(p *packet.Packet, target ext.CtTuple, m Manip) error {
	return manipIP(p.Data, p.Family, 0, &target, m)
}

func manipIP(b []byte, fam nf.Family, iphoff int, t *ext.CtTuple, m Manip) error {
	addr := t.Src
	if m == ManipDst {
		addr = t.Dst
	}
	if fam == nf.IPv6 {
		if !addr.Is6() {
			return fmt.Errorf("nat: target address %v is not IPv6", addr)
		}
		return manip6(b, iphoff, t, m, addr.As16())
	}
	if !addr.Is4() {
		return fmt.Errorf("nat: target address %v is not IPv4", addr)
	}
	if len(b) < iphoff+20 {
		return fmt.Errorf("nat: IPv4 header: %w", ErrShort)
	}
	a4 := addr.As4()
	ip := packet.IPv4(b[iphoff:])
	if err := manipL4(b, iphoff, iphoff+ip.HeaderLen(), t, m, a4[:]); err != nil {
		return err
	}
	off := iphoff + 12
	if m == ManipDst {
		off = iphoff + 16
	}
	c := replace(ip.Checksum(), b[off:off+4], a4[:])
	copy(b[off:off+4], a4[:])
	ip.SetChecksum(c)
	return nil
}

func manip6(b []byte, iphoff int, t *ext.CtTuple, m Manip, a [16]byte) error {
	if len(b) < iphoff+40 {
		return fmt.Errorf("nat: IPv6 header: %w", ErrShort)
	}
	hdroff, fragOff := skipExtHdr(b, iphoff+40, b[iphoff+6])
	if hdroff >= 0 && fragOff&^7 == 0 {
		if err := manipL4(b, iphoff, hdroff, t, m, a[:]); err != nil {
			return err
		}
	}
	off := iphoff + 8
	if m == ManipDst {
		off = iphoff + 24
	}
	copy(b[off:off+16], a[:])
	return nil
}

// skipExtHdr is ipv6_skip_exthdr: the offset of the header after the
// extension headers starting at off with type next (-1 when there is
// none or the chain is cut short), and the fragment offset field of a
// fragment header met (the walk stops at a fragment header whose offset
// is not zero).
func skipExtHdr(b []byte, off int, next uint8) (int, uint16) {
	var frag uint16
	for {
		switch next {
		case 0, 43, 60, 51, 44:
		case 59:
			return -1, frag
		default:
			return off, frag
		}
		if len(b) < off+8 {
			return -1, frag
		}
		var n int
		switch next {
		case 44:
			frag = binary.BigEndian.Uint16(b[off+2:])
			if frag&^7 != 0 {
				return off, frag
			}
			n = 8
		case 51:
			n = (int(b[off+1]) + 2) << 2
		default:
			n = (int(b[off+1]) + 1) << 3
		}
		next = b[off]
		off += n
	}
}

// replace is inet_proto_csum_replace* / csum_replace* for a packet whose
// checksum is complete: checksum c updated for a field changing from old
// to new (equal even lengths). The sum starts from ~csum_unfold(c) as the
// kernel's does, so it never folds to zero and the result matches the
// kernel's to the bit (0x0000 and never 0xffff for a zero residue).
func replace(c uint16, old, new []byte) uint16 {
	s := uint64(0xffff0000) | uint64(^c)
	for i := 0; i+1 < len(old); i += 2 {
		s += uint64(^binary.BigEndian.Uint16(old[i:]))
		s += uint64(binary.BigEndian.Uint16(new[i:]))
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

func replace16(c, old, new uint16) uint16 {
	var o, n [2]byte
	binary.BigEndian.PutUint16(o[:], old)
	binary.BigEndian.PutUint16(n[:], new)
	return replace(c, o[:], n[:])
}

// addrUpdate is nf_csum_update: a transport checksum follows the change of
// the pseudo-header address the manip rewrites to na (the IP header at
// iphoff still holds the old one).
func addrUpdate(b []byte, iphoff int, c uint16, m Manip, na []byte) uint16 {
	off := iphoff + 12
	if len(na) == 16 {
		off = iphoff + 8
	}
	if m == ManipDst {
		off += len(na)
	}
	return replace(c, b[off:off+len(na)], na)
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// manipL4 is l4proto_manip_pkt: the transport header at hdroff, the
// protocol taken from the tuple. len(b) is the packet's length (skb->len),
// which decides whether a quoted header is complete enough to have its
// checksum updated.
func manipL4(b []byte, iphoff, hdroff int, t *ext.CtTuple, m Manip, na []byte) error {
	port := t.SrcPort
	portOff := hdroff
	if m == ManipDst {
		port, portOff = t.DstPort, hdroff+2
	}
	short := func(what string) error { return fmt.Errorf("nat: %s header: %w", what, ErrShort) }
	switch t.Proto {
	case packet.ProtoTCP, packet.ProtoDCCP:
		// 8 bytes are all conntrack guarantees (an ICMP error's quote);
		// the checksum is updated only when the whole header is there.
		full, csumOff, name := 20, 16, "TCP"
		if t.Proto == packet.ProtoDCCP {
			full, csumOff, name = 12, 6, "DCCP"
		}
		if len(b) < hdroff+8 {
			return short(name)
		}
		old := binary.BigEndian.Uint16(b[portOff:])
		binary.BigEndian.PutUint16(b[portOff:], port)
		if len(b) < hdroff+full {
			return nil
		}
		c := binary.BigEndian.Uint16(b[hdroff+csumOff:])
		c = addrUpdate(b, iphoff, c, m, na)
		c = replace16(c, old, port)
		binary.BigEndian.PutUint16(b[hdroff+csumOff:], c)
	case packet.ProtoUDP, packet.ProtoUDPLite:
		if len(b) < hdroff+8 {
			return short("UDP")
		}
		c := binary.BigEndian.Uint16(b[hdroff+6:])
		if c != 0 || t.Proto == packet.ProtoUDPLite {
			c = addrUpdate(b, iphoff, c, m, na)
			c = replace16(c, binary.BigEndian.Uint16(b[portOff:]), port)
			if c == 0 {
				c = 0xffff // CSUM_MANGLED_0
			}
			binary.BigEndian.PutUint16(b[hdroff+6:], c)
		}
		binary.BigEndian.PutUint16(b[portOff:], port)
	case packet.ProtoSCTP:
		if len(b) < hdroff+8 {
			return short("SCTP")
		}
		binary.BigEndian.PutUint16(b[portOff:], port)
		if len(b) < hdroff+12 {
			return nil
		}
		clear(b[hdroff+8 : hdroff+12])
		crc := crc32.Checksum(b[hdroff:], castagnoli)
		binary.LittleEndian.PutUint32(b[hdroff+8:], crc)
	case packet.ProtoICMP:
		if len(b) < hdroff+8 {
			return short("ICMP")
		}
		switch b[hdroff] {
		case 0, 8, 13, 14, 15, 16, 17, 18:
		default:
			return nil
		}
		c := binary.BigEndian.Uint16(b[hdroff+2:])
		c = replace16(c, binary.BigEndian.Uint16(b[hdroff+4:]), t.SrcPort)
		binary.BigEndian.PutUint16(b[hdroff+2:], c)
		binary.BigEndian.PutUint16(b[hdroff+4:], t.SrcPort)
	case packet.ProtoICMPv6:
		if len(b) < hdroff+8 {
			return short("ICMPv6")
		}
		c := binary.BigEndian.Uint16(b[hdroff+2:])
		c = addrUpdate(b, iphoff, c, m, na)
		if typ := b[hdroff]; typ == 128 || typ == 129 {
			c = replace16(c, binary.BigEndian.Uint16(b[hdroff+4:]), t.SrcPort)
			binary.BigEndian.PutUint16(b[hdroff+4:], t.SrcPort)
		}
		binary.BigEndian.PutUint16(b[hdroff+2:], c)
	case 47: // GRE: only PPTP's version 1 call id, for destination manips
		if len(b) < hdroff+8 {
			return short("GRE")
		}
		if m != ManipDst {
			return nil
		}
		switch b[hdroff+1] & 7 {
		case 0:
		case 1:
			binary.BigEndian.PutUint16(b[hdroff+6:], t.DstPort)
		default:
			return fmt.Errorf("nat: GRE version %d", b[hdroff+1]&7)
		}
	}
	return nil
}
