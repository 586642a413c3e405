package packet

import (
	"encoding/binary"
	"net/netip"
)

// IPv4 is a view of an IPv4 header and what follows it.
type IPv4 []byte

func (h IPv4) Version() uint8        { return h[0] >> 4 }
func (h IPv4) HeaderLen() int        { return int(h[0]&0x0f) * 4 }
func (h IPv4) TOS() uint8            { return h[1] }
func (h IPv4) TotalLen() uint16      { return binary.BigEndian.Uint16(h[2:]) }
func (h IPv4) ID() uint16            { return binary.BigEndian.Uint16(h[4:]) }
func (h IPv4) FlagsFrag() uint16     { return binary.BigEndian.Uint16(h[6:]) }
func (h IPv4) FragOffset() uint16    { return h.FlagsFrag() & 0x1fff }
func (h IPv4) MoreFragments() bool   { return h[6]&0x20 != 0 }
func (h IPv4) DontFragment() bool    { return h[6]&0x40 != 0 }
func (h IPv4) ReservedFlag() bool    { return h[6]&0x80 != 0 }
func (h IPv4) TTL() uint8            { return h[8] }
func (h IPv4) Protocol() uint8       { return h[9] }
func (h IPv4) Checksum() uint16      { return binary.BigEndian.Uint16(h[10:]) }
func (h IPv4) Src() netip.Addr       { return netip.AddrFrom4([4]byte(h[12:16])) }
func (h IPv4) Dst() netip.Addr       { return netip.AddrFrom4([4]byte(h[16:20])) }
func (h IPv4) Options() []byte       { return h[20:h.HeaderLen()] }
func (h IPv4) Payload() []byte       { return h[h.HeaderLen():] }
func (h IPv4) SetChecksum(c uint16)  { binary.BigEndian.PutUint16(h[10:], c) }
func (h IPv4) SetTotalLen(n uint16)  { binary.BigEndian.PutUint16(h[2:], n) }
func (h IPv4) SetSrc(a netip.Addr)   { b := a.As4(); copy(h[12:16], b[:]) }
func (h IPv4) SetDst(a netip.Addr)   { b := a.As4(); copy(h[16:20], b[:]) }
func (h IPv4) SetTTL(ttl uint8)      { h[8] = ttl }
func (h IPv4) SetTOS(tos uint8)      { h[1] = tos }
func (h IPv4) SetID(id uint16)       { binary.BigEndian.PutUint16(h[4:], id) }
func (h IPv4) SetFlagsFrag(v uint16) { binary.BigEndian.PutUint16(h[6:], v) }

// UpdateChecksum recomputes the header checksum from scratch.
func (h IPv4) UpdateChecksum() {
	h.SetChecksum(0)
	h.SetChecksum(^Fold(Sum(h[:h.HeaderLen()], 0)))
}

// IPv6 is a view of an IPv6 header and what follows it.
type IPv6 []byte

func (h IPv6) Version() uint8      { return h[0] >> 4 }
func (h IPv6) TrafficClass() uint8 { return h[0]<<4 | h[1]>>4 }
func (h IPv6) FlowLabel() uint32   { return binary.BigEndian.Uint32(h[0:]) & 0xfffff }
func (h IPv6) PayloadLen() uint16  { return binary.BigEndian.Uint16(h[4:]) }
func (h IPv6) NextHeader() uint8   { return h[6] }
func (h IPv6) HopLimit() uint8     { return h[7] }
func (h IPv6) Src() netip.Addr     { return netip.AddrFrom16([16]byte(h[8:24])) }
func (h IPv6) Dst() netip.Addr     { return netip.AddrFrom16([16]byte(h[24:40])) }
func (h IPv6) SetHopLimit(v uint8) { h[7] = v }
func (h IPv6) SetPayloadLen(n uint16) {
	binary.BigEndian.PutUint16(h[4:], n)
}
func (h IPv6) SetSrc(a netip.Addr) { b := a.As16(); copy(h[8:24], b[:]) }
func (h IPv6) SetDst(a netip.Addr) { b := a.As16(); copy(h[24:40], b[:]) }

// SetTrafficClass writes the traffic class, keeping version and flow label.
func (h IPv6) SetTrafficClass(tc uint8) {
	h[0] = h[0]&0xf0 | tc>>4
	h[1] = h[1]&0x0f | tc<<4
}

// TCP flag bits (the 13th and 14th header bytes, CWR..FIN in the low byte).
const (
	TCPFin uint8 = 0x01
	TCPSyn uint8 = 0x02
	TCPRst uint8 = 0x04
	TCPPsh uint8 = 0x08
	TCPAck uint8 = 0x10
	TCPUrg uint8 = 0x20
	TCPEce uint8 = 0x40
	TCPCwr uint8 = 0x80
)

// TCP is a view of a TCP header and its payload.
type TCP []byte

func (t TCP) SrcPort() uint16      { return binary.BigEndian.Uint16(t[0:]) }
func (t TCP) DstPort() uint16      { return binary.BigEndian.Uint16(t[2:]) }
func (t TCP) Seq() uint32          { return binary.BigEndian.Uint32(t[4:]) }
func (t TCP) Ack() uint32          { return binary.BigEndian.Uint32(t[8:]) }
func (t TCP) DataOff() int         { return int(t[12]>>4) * 4 }
func (t TCP) Reserved() uint8      { return t[12] & 0x0f } // the 4 reserved bits (RES= in LOG)
func (t TCP) Flags() uint8         { return t[13] }
func (t TCP) Window() uint16       { return binary.BigEndian.Uint16(t[14:]) }
func (t TCP) Checksum() uint16     { return binary.BigEndian.Uint16(t[16:]) }
func (t TCP) Urgent() uint16       { return binary.BigEndian.Uint16(t[18:]) }
func (t TCP) SetChecksum(c uint16) { binary.BigEndian.PutUint16(t[16:], c) }
func (t TCP) SetSrcPort(p uint16)  { binary.BigEndian.PutUint16(t[0:], p) }
func (t TCP) SetDstPort(p uint16)  { binary.BigEndian.PutUint16(t[2:], p) }

// Options returns the option bytes, nil when the data offset is bad.
func (t TCP) Options() []byte {
	n := t.DataOff()
	if n < 20 || n > len(t) {
		return nil
	}
	return t[20:n]
}

// Payload returns the bytes after the header, nil when the data offset is bad.
func (t TCP) Payload() []byte {
	n := t.DataOff()
	if n < 20 || n > len(t) {
		return nil
	}
	return t[n:]
}

// UDP is a view of a UDP header and its payload.
type UDP []byte

func (u UDP) SrcPort() uint16      { return binary.BigEndian.Uint16(u[0:]) }
func (u UDP) DstPort() uint16      { return binary.BigEndian.Uint16(u[2:]) }
func (u UDP) Length() uint16       { return binary.BigEndian.Uint16(u[4:]) }
func (u UDP) Checksum() uint16     { return binary.BigEndian.Uint16(u[6:]) }
func (u UDP) SetChecksum(c uint16) { binary.BigEndian.PutUint16(u[6:], c) }
func (u UDP) Payload() []byte      { return u[8:] }

// ICMP is a view of an ICMP or ICMPv6 header (type, code, checksum, and the
// four bytes of "rest of header") and what follows.
type ICMP []byte

func (c ICMP) Type() uint8          { return c[0] }
func (c ICMP) Code() uint8          { return c[1] }
func (c ICMP) Checksum() uint16     { return binary.BigEndian.Uint16(c[2:]) }
func (c ICMP) ID() uint16           { return binary.BigEndian.Uint16(c[4:]) }
func (c ICMP) Seq() uint16          { return binary.BigEndian.Uint16(c[6:]) }
func (c ICMP) Rest() uint32         { return binary.BigEndian.Uint32(c[4:]) }
func (c ICMP) SetChecksum(v uint16) { binary.BigEndian.PutUint16(c[2:], v) }
func (c ICMP) Payload() []byte      { return c[8:] }
