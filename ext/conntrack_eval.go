package ext

import (
	"net/netip"

	"github.com/nfgo/nfgo/nf"
)

// Evaluation of -m state and -m conntrack (xt_conntrack.c conntrack_mt,
// revision 3 semantics: port ranges). The state comes from the packet's
// conntrack classification (Env.CtState), everything else from its
// connection (Env.Conn).

// ctStateBits maps Env.CtState to the XT_CONNTRACK_STATE bits the match
// stores (INVALID 1, ESTABLISHED 2, RELATED 4, NEW 8, UNTRACKED 1<<8).
// A packet conntrack did not classify is INVALID: nf_ct_get returns no
// entry and a ctinfo other than IP_CT_UNTRACKED.
func ctStateBits(s uint8) uint32 {
	var b uint32
	if s&CtStateInvalid != 0 {
		b |= CTStateInvalid
	}
	if s&CtStateEstablished != 0 {
		b |= CTStateEstablished
	}
	if s&CtStateRelated != 0 {
		b |= CTStateRelated
	}
	if s&CtStateNew != 0 {
		b |= CTStateNew
	}
	if s&CtStateUntracked != 0 {
		b |= CTStateUntracked
	}
	if s == 0 {
		b = CTStateInvalid
	}
	return b
}

// ctAddrMatch is conntrack_addrcmp: the address equals the rule's under
// the rule's mask (IPv4 compares 4 bytes, IPv6 16).
func ctAddrMatch(fam nf.Family, a netip.Addr, hm *m2HostMask) bool {
	if fam == nf.IPv4 {
		x, y, k := a.Unmap().As4(), hm.Addr.Unmap().As4(), hm.Mask.Unmap().As4()
		for i := range x {
			if (x[i]^y[i])&k[i] != 0 {
				return false
			}
		}
		return true
	}
	if fam != nf.IPv6 {
		return false
	}
	x, y, k := a.As16(), hm.Addr.As16(), hm.Mask.As16()
	for i := range x {
		if (x[i]^y[i])&k[i] != 0 {
			return false
		}
	}
	return true
}

// Match implements -m state and -m conntrack.
func (m *conntrackMatch) Match(e *Env) bool {
	ct := e.Conn
	inv := func(f uint16) bool { return m.InvertFlags&f != 0 }
	if m.MatchFlags&CTFlagState != 0 {
		statebit := ctStateBits(e.CtState)
		// SNAT and DNAT are virtual states from the status bits. NAT sets
		// IPS_SRC_NAT/IPS_DST_NAT only when it changed the tuple
		// (nf_nat_setup_info: "if (!nf_ct_tuple_equal(&new_tuple,
		// &curr_tuple)) ... ct->status |= IPS_SRC_NAT"), so a connection
		// that went through an SNAT rule mapping to its own address and
		// port, or the null binding, is not in state SNAT.
		if ct != nil {
			st := ct.Status()
			if st&CTStatusSrcNAT != 0 {
				statebit |= CTStateSNAT
			}
			if st&CTStatusDstNAT != 0 {
				statebit |= CTStateDNAT
			}
		}
		if (m.StateMask&statebit != 0) == inv(CTFlagState) {
			return false
		}
	}
	// Without an entry (INVALID or UNTRACKED: since Linux 4.12 an
	// untracked packet has no conntrack entry either) only the state can
	// match; every other option fails, inverted or not:
	//	if (ct == NULL)
	//		return info->match_flags & XT_CONNTRACK_STATE;
	if ct == nil {
		return m.MatchFlags&CTFlagState != 0
	}
	if m.MatchFlags&CTFlagDirection != 0 && e.CtReply != inv(CTFlagDirection) {
		return false
	}
	if m.MatchFlags&(CTFlagOrigSrc|CTFlagOrigDst|CTFlagReplSrc|CTFlagReplDst|
		CTFlagProto|CTFlagOrigSrcPort|CTFlagOrigDstPort|CTFlagReplSrcPort|CTFlagReplDstPort) != 0 {
		orig, repl := ct.Tuple(false), ct.Tuple(true)
		addr := func(f uint16, a netip.Addr, hm *m2HostMask) bool {
			return m.MatchFlags&f == 0 || ctAddrMatch(m.Family, a, hm) != inv(f)
		}
		if !addr(CTFlagOrigSrc, orig.Src, &m.OrigSrc) || !addr(CTFlagOrigDst, orig.Dst, &m.OrigDst) ||
			!addr(CTFlagReplSrc, repl.Src, &m.ReplSrc) || !addr(CTFlagReplDst, repl.Dst, &m.ReplDst) {
			return false
		}
		// nf_ct_protonum is the original tuple's protocol.
		if m.MatchFlags&CTFlagProto != 0 && (orig.Proto == m.L4Proto) == inv(CTFlagProto) {
			return false
		}
		// Ports compare the tuple's src.u.all/dst.u.all, so they apply to
		// every protocol: ICMP's echo id and type<<8|code, 0 for protocols
		// without ports.
		port := func(f uint16, p, lo, hi uint16) bool {
			return m.MatchFlags&f == 0 || (p >= lo && p <= hi) != inv(f)
		}
		if !port(CTFlagOrigSrcPort, orig.SrcPort, m.OrigSrcPort, m.OrigSrcHi) ||
			!port(CTFlagOrigDstPort, orig.DstPort, m.OrigDstPort, m.OrigDstHi) ||
			!port(CTFlagReplSrcPort, repl.SrcPort, m.ReplSrcPort, m.ReplSrcHi) ||
			!port(CTFlagReplDstPort, repl.DstPort, m.ReplDstPort, m.ReplDstHi) {
			return false
		}
	}
	// --ctstatus NONE stores an empty mask: it never matches, and matches
	// every connection when inverted.
	if m.MatchFlags&CTFlagStatus != 0 && (ct.Status()&m.StatusMask != 0) == inv(CTFlagStatus) {
		return false
	}
	if m.MatchFlags&CTFlagExpires != 0 {
		var now int64
		if e.Pkt != nil {
			now = e.Pkt.Timestamp
		}
		x := ct.Expires(now)
		if (x >= m.ExpiresMin && x <= m.ExpiresMax) == inv(CTFlagExpires) {
			return false
		}
	}
	return true
}
