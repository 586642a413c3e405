package ext

import (
	"github.com/nfgo/nfgo/nf"
)

// Evaluation of -m tcp and -m udp, as xt_tcpudp.c's tcp_mt and udp_mt.

func (m *tcpMatch) Match(e *Env) bool {
	p := e.Pkt
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
