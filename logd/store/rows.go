package store

import (
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/nfgo/nfgo/logd"
	"github.com/nfgo/nfgo/nf"
	"github.com/nfgo/nfgo/packet"
)

// Headers is what a logged packet's bytes say, as the packets table keeps
// it beside the bytes: fields are valid only when their Has flag is set
// (a packet cut short by the copy range may hold less than its headers).
type Headers struct {
	Src, Dst     netip.Addr // invalid when the network header is cut
	Proto        uint8
	HasProto     bool
	Sport, Dport uint16
	HasPorts     bool
	TTL          uint8
	HasTTL       bool
	TCPFlags     uint8
	HasTCPFlags  bool
	ICMPType     uint8
	ICMPCode     uint8
	HasICMP      bool
}

// headerScratch holds the copy Parse works on, reused between packets.
type headerScratch struct {
	buf []byte
	pkt packet.Packet
}

// Decode reads the headers of a logged packet. A copy range shorter than
// the datagram is usual for NFLOG, so a datagram whose length field
// exceeds the bytes at hand is read as far as it goes.
func Decode(fam nf.Family, data []byte) Headers {
	var s headerScratch
	return s.decode(fam, data)
}

func (s *headerScratch) decode(fam nf.Family, data []byte) Headers {
	var h Headers
	s.buf = append(s.buf[:0], data...)
	// Let the length field claim only what was logged, so that Parse
	// walks the headers of a cut packet instead of refusing it.
	switch fam {
	case nf.IPv4:
		if len(s.buf) < 20 {
			return h
		}
		if tot := int(binary.BigEndian.Uint16(s.buf[2:])); tot > len(s.buf) {
			binary.BigEndian.PutUint16(s.buf[2:], uint16(min(len(s.buf), 0xffff)))
		}
	case nf.IPv6:
		if len(s.buf) < 40 {
			return h
		}
		if pl := int(binary.BigEndian.Uint16(s.buf[4:])); 40+pl > len(s.buf) {
			binary.BigEndian.PutUint16(s.buf[4:], uint16(min(len(s.buf)-40, 0xffff)))
		}
	default:
		return h
	}
	p := &s.pkt
	*p = packet.Packet{Family: fam, Data: s.buf}
	h.Src, h.Dst = p.Src(), p.Dst()
	h.TTL, h.HasTTL = p.TTL(), true
	if err := p.Parse(); err != nil {
		// A header walk that failed (bad IPv4 header length, IPv6
		// extension headers cut short) still leaves IPv4's protocol field.
		if fam == nf.IPv4 {
			h.Proto, h.HasProto = s.buf[9], true
		}
		return h
	}
	h.Proto, h.HasProto = p.Proto, true
	if sp, dp, ok := p.Ports(); ok {
		h.Sport, h.Dport, h.HasPorts = sp, dp, true
	}
	l4 := p.L4()
	switch p.Proto {
	case packet.ProtoTCP:
		if len(l4) >= 14 {
			h.TCPFlags, h.HasTCPFlags = l4[13], true
		}
	case packet.ProtoICMP, packet.ProtoICMPv6:
		if (p.Proto == packet.ProtoICMP) == (fam == nf.IPv4) && len(l4) >= 2 {
			h.ICMPType, h.ICMPCode, h.HasICMP = l4[0], l4[1], true
		}
	}
	return h
}

// packetRow is the packets row of p, in packetCols order. The bytes are
// copied: the caller may reuse its buffers once the write returns.
func (s *headerScratch) packetRow(p *logd.Packet) []any {
	h := s.decode(p.Family, p.Data)
	n := p.OrigLen
	if n == 0 {
		n = len(p.Data)
	}
	return []any{
		p.Time.UnixNano(), p.Source, int64(p.Group), p.Prefix, int64(p.Family),
		opt(int64(p.Hook), p.HasHook),
		p.InDev, p.OutDev, p.PhysIn, p.PhysOut, int64(p.InIndex), int64(p.OutIndex),
		int64(p.Mark), opt(int64(p.UID), p.HasUID), opt(int64(p.GID), p.HasGID),
		blobOrNull(p.MAC),
		addrOrNull(h.Src), addrOrNull(h.Dst),
		opt(int64(h.Proto), h.HasProto),
		opt(int64(h.Sport), h.HasPorts), opt(int64(h.Dport), h.HasPorts),
		int64(n), opt(int64(h.TTL), h.HasTTL), opt(int64(h.TCPFlags), h.HasTCPFlags),
		opt(int64(h.ICMPType), h.HasICMP), opt(int64(h.ICMPCode), h.HasICMP),
		append([]byte{}, p.Data...),
	}
}

// flowRow is the flows row of f, in flowCols order.
func flowRow(f *logd.FlowEvent) []any {
	return []any{
		f.Time.UnixNano(), f.Source, f.Type, int64(f.Family), int64(f.Proto),
		addrOrNull(f.OrigSrc), addrOrNull(f.OrigDst), int64(f.OrigSport), int64(f.OrigDport),
		addrOrNull(f.ReplSrc), addrOrNull(f.ReplDst), int64(f.ReplSport), int64(f.ReplDport),
		f.State, int64(f.Status), int64(f.Mark), int64(f.Zone), int64(f.Timeout), int64(f.ID),
		// Counters beyond 2^63 do not happen; BIGINT is signed.
		int64(f.Packets[0]), int64(f.Bytes[0]), int64(f.Packets[1]), int64(f.Bytes[1]),
		timeOrNull(f.Start), timeOrNull(f.Stop),
	}
}

func opt(v int64, ok bool) any {
	if !ok {
		return nil
	}
	return v
}

func blobOrNull(b []byte) any {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}

func addrOrNull(a netip.Addr) any {
	if !a.IsValid() {
		return nil
	}
	return a.String()
}

func timeOrNull(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixNano()
}
