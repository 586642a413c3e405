package nat

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/nfgo/nfgo/ext"
	"github.com/nfgo/nfgo/nf"
	"github.com/nfgo/nfgo/packet"
)

// ErrICMPChecksum is returned for an ICMP error whose checksum is wrong:
// the kernel drops it rather than translate it.
var ErrICMPChecksum = errors.New("nat: ICMP checksum mismatch")

// ErrRedirect is returned for an ICMP redirect about a connection that is
// translated or not yet fully set up (the kernel drops those).
var ErrRedirect = errors.New("nat: redirect for a translated connection")

// natDone is IPS_NAT_DONE_MASK, natMask IPS_NAT_MASK.
const (
	natDone = ext.CTStatusSrcNATDone | ext.CTStatusDstNATDone
	natMask = ext.CTStatusSrcNAT | ext.CTStatusDstNAT
)

// TranslateICMPError is nf_nat_icmp_reply_translation and its ICMPv6
// counterpart for an ICMP or ICMPv6 error that conntrack found RELATED to
// connection c (reply: the error travels in the connection's reply
// direction) at a hook of manip type m. If the connection is translated
// in the way that applies there, the quoted packet is given the tuple of
// the connection's other direction (its addresses and ports rewritten
// with the opposite manip, its IPv4 header checksum and transport
// checksum updated incrementally as far as the quote holds them), the
// ICMP checksum is computed afresh over the whole message, and the outer
// address is rewritten like that of any packet of the connection. The
// ICMP checksum must be right to begin with. An error means the kernel
// drops the packet; nil with nothing done when no mapping applies.
func TranslateICMPError(p *packet.Packet, c ext.Conn, reply bool, m Manip) error {
	b := p.Data
	var hdrlen int
	if p.Family == nf.IPv6 {
		if len(b) < 40 {
			return fmt.Errorf("nat: IPv6 header: %w", ErrShort)
		}
		var frag uint16
		hdrlen, frag = skipExtHdr(b, 40, b[6])
		if hdrlen < 0 || frag&^7 != 0 {
			return fmt.Errorf("nat: ICMPv6 header: %w", ErrShort)
		}
		if len(b) < hdrlen+8+40 {
			return fmt.Errorf("nat: ICMPv6 error: %w", ErrShort)
		}
		src, dst := packet.IPv6(b).Src(), packet.IPv6(b).Dst()
		if ^packet.Fold(packet.Sum(b[hdrlen:], packet.PseudoSum(src, dst, packet.ProtoICMPv6, len(b)-hdrlen))) != 0 {
			return ErrICMPChecksum
		}
	} else {
		if len(b) < 20 {
			return fmt.Errorf("nat: IPv4 header: %w", ErrShort)
		}
		hdrlen = packet.IPv4(b).HeaderLen()
		if len(b) < hdrlen+8+20 {
			return fmt.Errorf("nat: ICMP error: %w", ErrShort)
		}
		if ^packet.Fold(packet.Sum(b[hdrlen:], 0)) != 0 {
			return ErrICMPChecksum
		}
	}
	status := c.Status()
	if typ := b[hdrlen]; (p.Family == nf.IPv4 && typ == 5) || (p.Family == nf.IPv6 && typ == 137) {
		if status&natDone != natDone || status&natMask != 0 {
			return ErrRedirect
		}
	}
	if !needsManip(status, reply, m) {
		return nil
	}
	other := c.Tuple(!reply)
	inner := ManipSrc
	if m == ManipSrc {
		inner = ManipDst
	}
	if err := manipIP(b, p.Family, hdrlen+8, &other, inner); err != nil {
		return fmt.Errorf("nat: quoted packet: %w", err)
	}
	binary.BigEndian.PutUint16(b[hdrlen+2:], 0)
	var ck uint16
	if p.Family == nf.IPv6 {
		ck = packet.TransportChecksum(p.Src(), p.Dst(), packet.ProtoICMPv6, b[hdrlen:])
	} else {
		ck = ^packet.Fold(packet.Sum(b[hdrlen:], 0))
	}
	binary.BigEndian.PutUint16(b[hdrlen+2:], ck)

	target := Invert(other)
	target.Proto = packet.ProtoICMP
	if p.Family == nf.IPv6 {
		target.Proto = packet.ProtoICMPv6
	}
	return manipIP(b, p.Family, 0, &target, m)
}
