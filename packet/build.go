package packet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/nfgo/nfgo/nf"
)

// Defaults of Build, Linux's for a fresh connection.
const (
	DefaultTTL    = 64
	DefaultWindow = 64240
)

// Spec describes a packet for Build. The zero value of a field means "not
// set"; fields whose zero is a meaningful value have a Has... companion.
type Spec struct {
	Src, Dst netip.Addr // both IPv4 or both IPv6; they choose the family
	Proto    uint8      // transport protocol: ProtoTCP, ProtoUDP, ProtoICMP, ProtoICMPv6 or any other (raw payload)

	// IP header.
	TTL       uint8 // TTL or hop limit; DefaultTTL unless HasTTL
	HasTTL    bool
	TOS       uint8 // TOS or traffic class
	ID        uint16
	DF        bool   // IPv4 only
	FragOff   uint16 // fragment offset in 8-byte units
	MF        bool   // more fragments
	FlowLabel uint32 // IPv6 only
	IPOptions []byte // raw IPv4 options, padded with zeros to a multiple of 4

	// TCP and UDP.
	SrcPort, DstPort uint16

	// TCP.
	Flags     uint8 // TCPSyn, ...
	Seq, Ack  uint32
	Window    uint16 // DefaultWindow unless HasWindow
	HasWindow bool
	Urgent    uint16
	MSS       uint16 // MSS option when non-zero
	WScale    uint8  // window scale option when HasWScale
	HasWScale bool
	SACKOK    bool   // SACK-permitted option
	TS        bool   // timestamps option with TSVal and TSEcr
	TSVal     uint32 //
	TSEcr     uint32 //
	TCPOpts   []byte // raw option bytes after the ones above

	// ICMP and ICMPv6.
	ICMPType, ICMPCode uint8
	ICMPID, ICMPSeq    uint16 // the "rest of header" word (an MTU for some errors: ID high, Seq low)
	Quote              []byte // the offending packet an error quotes, placed before Payload

	Payload []byte
}

// Family returns the address family the addresses choose.
func (s *Spec) Family() nf.Family {
	if s.Src.Is4() {
		return nf.IPv4
	}
	return nf.IPv6
}

// Build makes the packet s describes, with valid checksums, parsed. A
// fragment with a non-zero offset carries Payload only (no transport
// header); the first fragment's transport checksum covers just itself.
func Build(s *Spec) (*Packet, error) {
	if !s.Src.IsValid() || !s.Dst.IsValid() {
		return nil, errors.New("packet: build: source and destination address required")
	}
	src, dst := s.Src.Unmap(), s.Dst.Unmap()
	if src.Is4() != dst.Is4() {
		return nil, fmt.Errorf("packet: build: %s and %s are of different families", src, dst)
	}
	fam := nf.IPv6
	if src.Is4() {
		fam = nf.IPv4
	}
	if s.FragOff > 0x1fff {
		return nil, fmt.Errorf("packet: build: fragment offset %d exceeds 8191", s.FragOff)
	}
	switch {
	case s.Proto == ProtoICMP && fam == nf.IPv6:
		return nil, errors.New("packet: build: ICMP needs IPv4 addresses (ICMPv6 for IPv6)")
	case s.Proto == ProtoICMPv6 && fam == nf.IPv4:
		return nil, errors.New("packet: build: ICMPv6 needs IPv6 addresses")
	}

	// Network header.
	var b []byte
	var hdrLen int
	if fam == nf.IPv4 {
		if s.FlowLabel != 0 {
			return nil, errors.New("packet: build: flow label is IPv6 only")
		}
		optLen := (len(s.IPOptions) + 3) &^ 3
		if optLen > 40 {
			return nil, fmt.Errorf("packet: build: %d bytes of IPv4 options exceed 40", len(s.IPOptions))
		}
		hdrLen = 20 + optLen
		b = make([]byte, hdrLen, hdrLen+64+len(s.Payload)+len(s.Quote))
		b[0] = 0x40 | byte(hdrLen/4)
		b[1] = s.TOS
		binary.BigEndian.PutUint16(b[4:], s.ID)
		ff := s.FragOff
		if s.DF {
			ff |= 0x4000
		}
		if s.MF {
			ff |= 0x2000
		}
		binary.BigEndian.PutUint16(b[6:], ff)
		b[8] = s.ttl()
		b[9] = s.Proto
		a, d := src.As4(), dst.As4()
		copy(b[12:], a[:])
		copy(b[16:], d[:])
		copy(b[20:], s.IPOptions)
	} else {
		if s.DF {
			return nil, errors.New("packet: build: DF is IPv4 only (IPv6 routers never fragment)")
		}
		if len(s.IPOptions) > 0 {
			return nil, errors.New("packet: build: IP options are IPv4 only")
		}
		if s.FlowLabel > 0xfffff {
			return nil, fmt.Errorf("packet: build: flow label %#x exceeds 20 bits", s.FlowLabel)
		}
		hdrLen = 40
		frag := s.FragOff != 0 || s.MF
		if frag {
			hdrLen = 48
		}
		b = make([]byte, hdrLen, hdrLen+64+len(s.Payload)+len(s.Quote))
		binary.BigEndian.PutUint32(b[0:], 6<<28|uint32(s.TOS)<<20|s.FlowLabel)
		b[6] = s.Proto
		b[7] = s.ttl()
		a, d := src.As16(), dst.As16()
		copy(b[8:], a[:])
		copy(b[24:], d[:])
		if frag {
			b[6] = 44
			b[40] = s.Proto
			fo := s.FragOff << 3
			if s.MF {
				fo |= 1
			}
			binary.BigEndian.PutUint16(b[42:], fo)
			binary.BigEndian.PutUint32(b[44:], uint32(s.ID))
		}
	}

	// Transport header and payload.
	l4 := len(b)
	if s.FragOff != 0 {
		b = append(b, s.Quote...)
		b = append(b, s.Payload...)
	} else {
		var err error
		if b, err = s.transport(b); err != nil {
			return nil, err
		}
	}
	seg := b[l4:]
	if s.FragOff == 0 {
		switch s.Proto {
		case ProtoTCP:
			TCP(seg).SetChecksum(TransportChecksum(src, dst, ProtoTCP, seg))
		case ProtoUDP:
			c := TransportChecksum(src, dst, ProtoUDP, seg)
			if c == 0 {
				c = 0xffff // zero means "no checksum" in UDP
			}
			UDP(seg).SetChecksum(c)
		case ProtoICMP:
			ICMP(seg).SetChecksum(^Fold(Sum(seg, 0)))
		case ProtoICMPv6:
			ICMP(seg).SetChecksum(TransportChecksum(src, dst, ProtoICMPv6, seg))
		}
	}

	if fam == nf.IPv4 {
		if len(b) > 0xffff {
			return nil, fmt.Errorf("packet: build: %d bytes exceed the IPv4 maximum", len(b))
		}
		IPv4(b).SetTotalLen(uint16(len(b)))
		IPv4(b).UpdateChecksum()
	} else {
		if len(b)-40 > 0xffff {
			return nil, fmt.Errorf("packet: build: %d bytes of payload exceed the IPv6 maximum", len(b)-40)
		}
		IPv6(b).SetPayloadLen(uint16(len(b) - 40))
	}
	p := &Packet{Family: fam, Data: b}
	if err := p.Parse(); err != nil {
		return nil, fmt.Errorf("packet: build: %w", err)
	}
	return p, nil
}

func (s *Spec) ttl() uint8 {
	if s.HasTTL {
		return s.TTL
	}
	return DefaultTTL
}

// transport appends the transport header and the payload to b.
func (s *Spec) transport(b []byte) ([]byte, error) {
	switch s.Proto {
	case ProtoTCP:
		var opt [40]byte
		o, err := s.tcpOptions(opt[:0])
		if err != nil {
			return nil, err
		}
		h := len(b)
		b = append(b, make([]byte, 20)...)
		t := b[h:]
		binary.BigEndian.PutUint16(t[0:], s.SrcPort)
		binary.BigEndian.PutUint16(t[2:], s.DstPort)
		binary.BigEndian.PutUint32(t[4:], s.Seq)
		binary.BigEndian.PutUint32(t[8:], s.Ack)
		t[12] = byte((20+len(o))/4) << 4
		t[13] = s.Flags
		w := uint16(DefaultWindow)
		if s.HasWindow {
			w = s.Window
		}
		binary.BigEndian.PutUint16(t[14:], w)
		binary.BigEndian.PutUint16(t[18:], s.Urgent)
		b = append(b, o...)
	case ProtoUDP:
		n := 8 + len(s.Quote) + len(s.Payload)
		if n > 0xffff {
			return nil, fmt.Errorf("packet: build: UDP datagram of %d bytes too long", n)
		}
		b = binary.BigEndian.AppendUint16(b, s.SrcPort)
		b = binary.BigEndian.AppendUint16(b, s.DstPort)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
		b = append(b, 0, 0)
	case ProtoICMP, ProtoICMPv6:
		b = append(b, s.ICMPType, s.ICMPCode, 0, 0)
		b = binary.BigEndian.AppendUint16(b, s.ICMPID)
		b = binary.BigEndian.AppendUint16(b, s.ICMPSeq)
	}
	b = append(b, s.Quote...)
	return append(b, s.Payload...), nil
}

// tcpOptions lays the options out the way Linux orders them in a SYN:
// MSS, SACK-permitted with timestamps, window scale; then the raw bytes,
// padded with end-of-list zeros.
func (s *Spec) tcpOptions(o []byte) ([]byte, error) {
	n := len(s.TCPOpts)
	if s.MSS != 0 {
		n += 4
	}
	if s.TS {
		n += 12
	} else if s.SACKOK {
		n += 4
	}
	if s.HasWScale {
		n += 4
	}
	if n > 40 {
		return nil, fmt.Errorf("packet: build: %d bytes of TCP options exceed 40", n)
	}
	if s.MSS != 0 {
		o = append(o, 2, 4, byte(s.MSS>>8), byte(s.MSS))
	}
	switch {
	case s.TS && s.SACKOK:
		o = append(o, 4, 2, 8, 10)
	case s.TS:
		o = append(o, 1, 1, 8, 10)
	case s.SACKOK:
		o = append(o, 1, 1, 4, 2)
	}
	if s.TS {
		o = binary.BigEndian.AppendUint32(o, s.TSVal)
		o = binary.BigEndian.AppendUint32(o, s.TSEcr)
	}
	if s.HasWScale {
		o = append(o, 1, 3, 3, s.WScale)
	}
	o = append(o, s.TCPOpts...)
	for len(o)%4 != 0 {
		o = append(o, 0)
	}
	return o, nil
}
