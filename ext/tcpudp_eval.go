package ext

import (
	"github.com/nfgo/nfgo/nf"
	"github.com/nfgo/nfgo/packet"
)

// Evaluation of -m tcp and -m udp. iptables-nft turns both into native
// nf_tables payload comparisons (except tcp with --tcp-option, which stays
// the xt match), and those behave differently from xt_tcpudp.c's tcp_mt
// and udp_mt on malformed packets: nothing is dropped, and the fields are
// read wherever the transport header would start, in a non-first fragment
// too; a field past the end of the packet does not match. With
// LegacyXtables the xt semantics apply (iptables-legacy).

// nftThoff is nft_pktinfo's transport offset: after the IPv4 header even
// in a non-first fragment; for IPv6 what ipv6_find_hdr found, which stays
// 0 for a non-first fragment.
func nftThoff(p *packet.Packet) int {
	if p.L4Off >= 0 {
		return p.L4Off
	}
	if p.Family == nf.IPv4 && len(p.Data) >= 20 {
		return packet.IPv4(p.Data).HeaderLen()
	}
	return 0
}

// nftPorts compares the ports an nft payload expression would load.
func nftPorts(p *packet.Packet, src, dst *PortRange) bool {
	off := nftThoff(p)
	if src.Active() {
		b := hdrAt(p, off, 2)
		if b == nil || !src.Match(be16(b)) {
			return false
		}
	}
	if dst.Active() {
		b := hdrAt(p, off+2, 2)
		if b == nil || !dst.Match(be16(b)) {
			return false
		}
	}
	return true
}

func (m *tcpMatch) Match(e *Env) bool {
	p := e.Pkt
	if !LegacyXtables && !m.OptionSet {
		if !nftPorts(p, &m.Src, &m.Dst) {
			return false
		}
		if m.FlagsSet && (m.FlagMask != 0 || m.InvFlags) {
			b := hdrAt(p, nftThoff(p)+13, 1)
			if b == nil || (b[0]&m.FlagMask == m.Flags) == m.InvFlags {
				return false
			}
		}
		return true
	}
	if p.FragOff != 0 {
		// A TCP fragment at offset 8 bytes could rewrite the flags of
		// the first one: the kernel drops it outright.
		// IPv6's fragoff is in bytes, so never 1 there.
		if p.FragOff == 1 && p.Family == nf.IPv4 {
			e.HotDrop = true
		}
		return false
	}
	th := p.TCP()
	if th == nil {
		e.HotDrop = true
		return false
	}
	if !m.Src.Match(th.SrcPort()) || !m.Dst.Match(th.DstPort()) {
		return false
	}
	if (th.Flags()&m.FlagMask == m.Flags) == m.InvFlags {
		return false
	}
	if m.OptionSet {
		n := th.DataOff()
		if n < 20 {
			e.HotDrop = true
			return false
		}
		if n > len(th) {
			// skb_header_pointer fails on a truncated option area.
			e.HotDrop = true
			return false
		}
		return tcpHasOption(th[20:n], m.Option) != m.InvOption
	}
	return true
}

// tcpHasOption walks the option list as tcp_find_option does: kinds 0 and
// 1 are one byte long, the others carry their length (0 counts as 1).
func tcpHasOption(opts []byte, kind uint8) bool {
	for i := 0; i < len(opts); {
		if opts[i] == kind {
			return true
		}
		if opts[i] < 2 || i+1 >= len(opts) || opts[i+1] == 0 {
			i++
		} else {
			i += int(opts[i+1])
		}
	}
	return false
}

func (m *udpMatch) Match(e *Env) bool {
	p := e.Pkt
	if !LegacyXtables {
		return nftPorts(p, &m.Src, &m.Dst)
	}
	if p.FragOff != 0 {
		return false
	}
	uh := p.UDP()
	if uh == nil {
		e.HotDrop = true
		return false
	}
	return m.Src.Match(uh.SrcPort()) && m.Dst.Match(uh.DstPort())
}
