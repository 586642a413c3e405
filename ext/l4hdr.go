package ext

import (
	"encoding/binary"

	"github.com/nfgo/nfgo/nf"
	"github.com/nfgo/nfgo/packet"
)

// Header access shared by the match evaluations: the kernel's
// par->thoff, skb_header_pointer and ipv6_find_hdr.

// thoff returns the transport header offset as xt_action_param's thoff:
// IPv4 puts it after the IP header even in a non-first fragment; IPv6 has
// the offset ip6_packet_match found, 0 when it found none.
func thoff(p *packet.Packet) int {
	if p.L4Off >= 0 {
		return p.L4Off
	}
	if p.Family == nf.IPv4 && len(p.Data) >= 20 {
		return packet.IPv4(p.Data).HeaderLen()
	}
	return 0
}

// hdrAt returns the n bytes at off, nil when the packet is shorter, as
// skb_header_pointer fails.
func hdrAt(p *packet.Packet, off, n int) []byte {
	if off < 0 || n < 0 || off > len(p.Data)-n {
		return nil
	}
	return p.Data[off : off+n]
}

// fragOff returns xt_action_param's fragoff as a truth value: non-zero
// for IPv4 fragments past the first and IPv6 fragments at an offset.
func fragOff(p *packet.Packet) bool { return p.FragOff != 0 }

// Outcomes of findHdr6, the kernel's ipv6_find_hdr errors.
const (
	find6OK     = iota
	find6NoEnt  // -ENOENT: header not present
	find6BadMsg // -EBADMSG: truncated
)

// ipv6ExtHdr is the kernel's ipv6_ext_hdr: the headers ipv6_find_hdr
// walks over (59, no next header, ends the walk).
func ipv6ExtHdr(nh uint8) bool {
	switch nh {
	case 0, 43, 44, 51, 59, 60:
		return true
	}
	return false
}

// findHdr6 walks the IPv6 extension headers of b as ipv6_find_hdr does
// (without flags): with target >= 0 it returns the offset of the first
// header of that type, with target < 0 the upper-layer protocol and its
// offset. fragoff is the fragment header's offset field in bytes; a
// non-first fragment ends a target < 0 walk with offset 0.
func findHdr6(b []byte, target int) (nh uint8, off int, fragoff uint16, res int) {
	if len(b) < 40 {
		return 0, 0, 0, find6BadMsg
	}
	start, next := 40, b[6]
	for {
		found := int(next) == target
		if !ipv6ExtHdr(next) || next == 59 {
			if target < 0 || found {
				break
			}
			return 0, 0, 0, find6NoEnt
		}
		if start > len(b)-2 {
			return 0, 0, 0, find6BadMsg
		}
		hpNext, hpLen := b[start], int(b[start+1])
		var hdrlen int
		switch next {
		case 44:
			if start > len(b)-4 {
				return 0, 0, 0, find6BadMsg
			}
			fo := binary.BigEndian.Uint16(b[start+2:]) &^ 7
			if fo != 0 {
				if target < 0 && (!ipv6ExtHdr(hpNext) || hpNext == 59) {
					return hpNext, 0, fo, find6OK
				}
				if !found {
					return 0, 0, 0, find6NoEnt
				}
				return next, start, fo, find6OK
			}
			hdrlen = 8
		case 51:
			hdrlen = (hpLen + 2) * 4
		default:
			if next == 43 && start > len(b)-4 {
				return 0, 0, 0, find6BadMsg
			}
			hdrlen = (hpLen + 1) * 8
		}
		if found {
			break
		}
		if len(b)-start < hdrlen {
			return 0, 0, 0, find6BadMsg
		}
		next, start = hpNext, start+hdrlen
	}
	return next, start, 0, find6OK
}

// findExt6 is findHdr6 for a match looking for one extension header:
// it sets HotDrop on a truncated header as the ip6t_* matches do and
// returns the header's offset, or -1.
func findExt6(e *Env, target uint8) int {
	_, off, _, res := findHdr6(e.Pkt.Data, int(target))
	switch res {
	case find6OK:
		return off
	case find6BadMsg:
		e.HotDrop = true
	}
	return -1
}

// be16 and be32 read big-endian numbers.
func be16(b []byte) uint16 { return binary.BigEndian.Uint16(b) }
func be32(b []byte) uint32 { return binary.BigEndian.Uint32(b) }
