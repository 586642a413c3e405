package packet

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/nfgo/nfgo/nf"
)

// Link types of capture files (pcap LINKTYPE_* values) that DecodeFrame
// understands.
const (
	LinkEthernet  uint32 = 1   // Ethernet II, optionally 802.1Q/802.1ad tagged
	LinkRaw       uint32 = 101 // raw IP, version from the first nibble
	LinkLinuxSLL  uint32 = 113 // Linux "cooked" capture, 16-byte header
	LinkIPv4      uint32 = 228 // raw IPv4
	LinkIPv6      uint32 = 229 // raw IPv6
	LinkLinuxSLL2 uint32 = 276 // Linux "cooked" capture v2, 20-byte header with ifindex
)

// EtherTypes DecodeFrame looks at.
const (
	EtherTypeIPv4  uint16 = 0x0800
	EtherTypeIPv6  uint16 = 0x86dd
	EtherTypeVLAN  uint16 = 0x8100 // 802.1Q
	EtherTypeQinQ  uint16 = 0x88a8 // 802.1ad service tag
	EtherTypeQinQ1 uint16 = 0x9100 // pre-standard double tagging
)

// Errors of DecodeFrame.
var (
	// ErrNotIP is returned for frames carrying something other than IPv4
	// or IPv6 (ARP, LLDP, ...): netfilter's IP hooks never see them.
	ErrNotIP = errors.New("packet: frame does not carry IPv4 or IPv6")
	// ErrLinkType is returned for a link type DecodeFrame does not know.
	ErrLinkType = errors.New("packet: unsupported link type")
)

// Frame is a link-layer frame decoded down to its network header. Its MAC
// may point into the Frame itself (for tagged frames), so a Frame must not
// be copied while the Packet filled from it is in use.
type Frame struct {
	Family nf.Family
	Net    []byte // the frame from the network header on
	// MAC is the 14-byte Ethernet header (destination, source, EtherType)
	// as the kernel holds it once VLAN tags are taken off; nil for links
	// without an Ethernet header (cooked captures, raw IP).
	MAC        []byte
	EtherType  uint16 // protocol of the network header (0x0800 or 0x86dd)
	VLAN       uint16 // VLAN ID of the outermost tag, when HasVLAN
	HasVLAN    bool
	IfIndex    int // interface index of a Linux SLL2 capture, else 0
	PktType    uint8
	HasPktType bool
	SrcMAC     [6]byte // link-layer source address, when HasSrcMAC
	HasSrcMAC  bool

	untagged [14]byte // MAC of a tagged frame: dst, src, inner EtherType
}

// DecodeFrame decodes one captured frame of the given link type into f
// without copying the packet bytes. It returns ErrNotIP for frames that
// carry neither IPv4 nor IPv6.
func DecodeFrame(linkType uint32, data []byte, f *Frame) error {
	*f = Frame{}
	switch linkType {
	case LinkEthernet:
		return f.ethernet(data)
	case LinkLinuxSLL:
		return f.sll(data)
	case LinkLinuxSLL2:
		return f.sll2(data)
	case LinkRaw:
		if len(data) == 0 {
			return ErrTruncated
		}
		switch data[0] >> 4 {
		case 4:
			return f.setNet(EtherTypeIPv4, data)
		case 6:
			return f.setNet(EtherTypeIPv6, data)
		}
		return ErrNotIP
	case LinkIPv4:
		return f.setNet(EtherTypeIPv4, data)
	case LinkIPv6:
		return f.setNet(EtherTypeIPv6, data)
	}
	return fmt.Errorf("%w %d", ErrLinkType, linkType)
}

func (f *Frame) setNet(etherType uint16, net []byte) error {
	f.EtherType = etherType
	switch etherType {
	case EtherTypeIPv4:
		f.Family = nf.IPv4
	case EtherTypeIPv6:
		f.Family = nf.IPv6
	default:
		return ErrNotIP
	}
	if len(net) == 0 {
		return ErrTruncated
	}
	if want := uint8(f.Family); net[0]>>4 != want {
		return ErrVersion
	}
	f.Net = net
	return nil
}

func (f *Frame) ethernet(data []byte) error {
	if len(data) < 14 {
		return ErrTruncated
	}
	copy(f.SrcMAC[:], data[6:12])
	f.HasSrcMAC = true
	f.HasPktType = true
	switch {
	case data[0]&data[1]&data[2]&data[3]&data[4]&data[5] == 0xff:
		f.PktType = PacketBroadcast
	case data[0]&1 != 0:
		f.PktType = PacketMulticast
	default:
		f.PktType = PacketHost
	}
	et := binary.BigEndian.Uint16(data[12:])
	off := 14
	// Up to two tags: an outer service tag (or a plain 802.1Q tag) and an
	// inner customer tag.
	for tags := 0; tags < 2 && (et == EtherTypeVLAN || et == EtherTypeQinQ || et == EtherTypeQinQ1); tags++ {
		if len(data) < off+4 {
			return ErrTruncated
		}
		if tags == 0 {
			f.VLAN = binary.BigEndian.Uint16(data[off:]) & 0x0fff
			f.HasVLAN = true
		}
		et = binary.BigEndian.Uint16(data[off+2:])
		off += 4
	}
	if off == 14 {
		f.MAC = data[:14:14]
	} else {
		// The kernel strips the tags before IP sees the frame and moves the
		// addresses up to the inner EtherType, which is what LOG prints.
		copy(f.untagged[:12], data[:12])
		binary.BigEndian.PutUint16(f.untagged[12:], et)
		f.MAC = f.untagged[:]
	}
	return f.setNet(et, data[off:])
}

// sll decodes a Linux cooked header (v1): packet type, ARPHRD type,
// address length, 8 address bytes, protocol.
func (f *Frame) sll(data []byte) error {
	if len(data) < 16 {
		return ErrTruncated
	}
	f.PktType = uint8(binary.BigEndian.Uint16(data[0:]))
	f.HasPktType = true
	f.linkAddr(binary.BigEndian.Uint16(data[2:]), int(binary.BigEndian.Uint16(data[4:])), data[6:14])
	return f.setNet(binary.BigEndian.Uint16(data[14:]), data[16:])
}

// sll2 decodes a Linux cooked header v2: protocol, reserved, ifindex,
// ARPHRD type, packet type, address length, 8 address bytes.
func (f *Frame) sll2(data []byte) error {
	if len(data) < 20 {
		return ErrTruncated
	}
	f.IfIndex = int(binary.BigEndian.Uint32(data[4:]))
	f.PktType = data[10]
	f.HasPktType = true
	f.linkAddr(binary.BigEndian.Uint16(data[8:]), int(data[11]), data[12:20])
	return f.setNet(binary.BigEndian.Uint16(data[0:]), data[20:])
}

const arphrdEther = 1

func (f *Frame) linkAddr(hatype uint16, alen int, addr []byte) {
	if hatype == arphrdEther && alen == 6 {
		copy(f.SrcMAC[:], addr[:6])
		f.HasSrcMAC = true
	}
}

// Fill points p at the frame: family, data from the network header, the
// Ethernet header and, when the link tells it, the packet type.
func (f *Frame) Fill(p *Packet) {
	p.Family = f.Family
	p.Data = f.Net
	p.MAC = f.MAC
	if f.HasPktType {
		p.PktType = f.PktType
	}
}

// EncodeEthernet writes an Ethernet II frame carrying ip into out[:0] and
// returns it.
func EncodeEthernet(dst, src [6]byte, fam nf.Family, ip []byte, out []byte) []byte {
	et := EtherTypeIPv4
	if fam == nf.IPv6 {
		et = EtherTypeIPv6
	}
	out = append(out[:0], dst[:]...)
	out = append(out, src[:]...)
	out = append(out, byte(et>>8), byte(et))
	return append(out, ip...)
}
