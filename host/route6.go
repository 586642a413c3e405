package host

import (
	"net/netip"

	"github.com/nfgo/nfgo/pipeline"
)

func (h *Host) routeInput6(src, dst netip.Addr, in *Iface, mark uint32) (pipeline.Route, errno) {
	if !src.Is6() || !dst.Is6() {
		return drop(eInval, "not an IPv6 packet")
	}
	local := pipeline.Route{Kind: pipeline.RouteLocal, MTU: in.MTU}
	// ipv6_rcv drops these before any hook.
	if src.IsMulticast() {
		return drop(eInval, reasonMartianSrc)
	}
	if !in.Loopback && (src.IsLoopback() || dst.IsLoopback()) {
		return drop(eInval, reasonLoopback)
	}
	if in.Loopback {
		if t := h.AddrType(dst, ""); t == rtnLocal || t == rtnMulticast {
			return local, eOK
		}
	}
	if dst.IsMulticast() {
		if dst == allNodes6 || dst == allNodes1 || h.solicitedNode(in, dst) {
			return local, eOK
		}
		return drop(eInval, reasonMcastGroup)
	}
	fl := flow{src: src, dst: dst, iif: in, mark: mark}
	res, err, why := h.fibLookup(1, &fl, false)
	if err != eOK {
		return drop(err, why)
	}
	switch res.typ {
	case rtnLocal, rtnAnycast:
		return local, eOK
	}
	if res.typ != rtnUnicast || res.nh == nil || res.nh.dev == nil {
		return drop(eInval, reasonMartianDst)
	}
	// ip6_forward
	if in.fwdReason[1] != "" {
		return pipeline.Route{Kind: pipeline.RouteDrop, Reason: in.fwdReason[1], Unreach: pipeline.NoICMP}, eOK
	}
	if src.IsLinkLocalUnicast() {
		return drop(eInval, reasonLinkLocalFwd)
	}
	out := res.nh.dev
	return pipeline.Route{Kind: pipeline.RouteForward, OutDev: out.Name, Gateway: res.nh.gw, MTU: out.MTU}, eOK
}

// solicitedNode reports whether dst is the solicited-node group of one of
// in's addresses, which the interface joins for neighbour discovery.
func (h *Host) solicitedNode(in *Iface, dst netip.Addr) bool {
	d := dst.As16()
	if d[0] != 0xff || d[1] != 0x02 || d[11] != 0x01 || d[12] != 0xff {
		return false
	}
	for _, a := range in.addrs6 {
		b := a.pfx.Addr().As16()
		if b[13] == d[13] && b[14] == d[14] && b[15] == d[15] {
			return true
		}
	}
	return false
}

func (h *Host) routeOutput6(src, dst netip.Addr, mark uint32) (pipeline.Route, errno) {
	if !dst.Is6() {
		return drop(eInval, "not an IPv6 packet")
	}
	if src.IsValid() && (!src.Is6() || src.IsUnspecified() || src.IsMulticast()) {
		src = netip.Addr{}
	}
	fl := flow{src: src, dst: dst, iif: h.lo, mark: mark}
	if !src.IsValid() {
		fl.src = netip.IPv6Unspecified()
	}
	res, err, why := h.fibLookup(1, &fl, false)
	if err != eOK {
		return drop(err, why)
	}
	if res.typ == rtnLocal || res.typ == rtnAnycast {
		if !src.IsValid() {
			src = dst
			if res.r.prefsrc.IsValid() {
				src = res.r.prefsrc
			}
		}
		return pipeline.Route{Kind: pipeline.RouteOut, OutDev: h.lo.Name, PrefSrc: src, MTU: h.lo.MTU}, eOK
	}
	if res.nh == nil || res.nh.dev == nil {
		return drop(eInval, reasonMartianDst)
	}
	out := res.nh.dev
	if !src.IsValid() {
		src = res.r.prefsrc
		if !src.IsValid() {
			src = h.selectSrc6(out, dst)
		}
	}
	return pipeline.Route{Kind: pipeline.RouteOut, OutDev: out.Name, Gateway: res.nh.gw, PrefSrc: src, MTU: out.MTU}, eOK
}

// scope6 is the RFC 4007 scope of an address as source selection ranks it.
func scope6(a netip.Addr) int {
	switch {
	case a.IsMulticast():
		return int(a.As16()[1] & 0x0f)
	case a.IsLoopback():
		return 1
	case a.IsLinkLocalUnicast():
		return 2
	}
	return 14
}

// selectSrc6 is a reduced ipv6_dev_get_saddr (RFC 6724): candidates of a
// fitting scope, the outgoing interface first, then the longest matching
// prefix. Tentative and deprecated addresses are never chosen.
func (h *Host) selectSrc6(out *Iface, dst netip.Addr) netip.Addr {
	var best netip.Addr
	bestScore := -1
	ds := scope6(dst)
	for _, ifc := range h.ifaces {
		if ds <= 2 && ifc != out {
			continue // link-scoped destinations take the link's addresses
		}
		for _, a := range ifc.addrs6 {
			if a.tentative {
				continue
			}
			ad := a.pfx.Addr()
			if ad == dst {
				return ad
			}
			s := scope6(ad)
			score := 0
			// Rule 2: the smallest scope that reaches the destination.
			if s >= ds {
				score += (1 << 20) - s<<12
			} else {
				score += s << 12
			}
			if ifc == out {
				score += 1 << 10 // rule 5
			}
			score += commonPrefix(ad, dst, a.pfx.Bits()) // rule 8
			if score > bestScore {
				best, bestScore = ad, score
			}
		}
	}
	return best
}

func commonPrefix(a, b netip.Addr, limit int) int {
	x, y := a.As16(), b.As16()
	n := 0
	for i := range 16 {
		d := x[i] ^ y[i]
		if d == 0 {
			n += 8
			continue
		}
		for d&0x80 == 0 {
			n++
			d <<= 1
		}
		break
	}
	return min(n, limit)
}
