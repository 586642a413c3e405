package host

import (
	"net/netip"

	"github.com/nfgo/nfgo/nf"
	"github.com/nfgo/nfgo/pipeline"
)

const (
	reasonMartianSrc   = "martian source"
	reasonMartianDst   = "martian destination"
	reasonRPFilter     = "reverse path filter (rp_filter)"
	reasonUnknownIface = "unknown input interface"
	reasonMcastGroup   = "multicast group not joined"
	reasonLoopback     = "loopback address from outside"
	reasonLinkLocalFwd = "link-local source not forwarded"
)

var (
	lbcast4   = netip.AddrFrom4([4]byte{255, 255, 255, 255})
	allHosts4 = netip.AddrFrom4([4]byte{224, 0, 0, 1})
	lo4       = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	allNodes6 = netip.MustParseAddr("ff02::1")
	allNodes1 = netip.MustParseAddr("ff01::1")
)

// zeronet4 is ipv4_is_zeronet: only 0.0.0.0 since Linux 5.3.
func zeronet4(a netip.Addr) bool  { return a.IsUnspecified() }
func loopback4(a netip.Addr) bool { return a.As4()[0] == 127 }

// RouteInput decides what happens to a packet that arrived on inDev, as
// ip_route_input_slow (IPv4) and ip6_route_input (IPv6) do.
func (h *Host) RouteInput(fam nf.Family, src, dst netip.Addr, inDev string, mark uint32) pipeline.Route {
	rt, _ := h.routeInput(fam, src.Unmap(), dst.Unmap(), inDev, mark)
	return rt
}

// RouteOutput decides where a locally generated packet goes. An unset
// (zero or invalid) src is chosen as the kernel would and returned in
// PrefSrc. A src that is not a unicast address is not a lookup key, as in
// ip_route_me_harder.
func (h *Host) RouteOutput(fam nf.Family, src, dst netip.Addr, mark uint32) pipeline.Route {
	rt, _ := h.routeOutput(fam, src.Unmap(), dst.Unmap(), mark)
	return rt
}

func drop(err errno, why string) (pipeline.Route, errno) {
	k := pipeline.RouteUnreachable
	if err == eInval || err == eXDev {
		k = pipeline.RouteDrop
	}
	rt := pipeline.Route{Kind: k, Reason: why, Unreach: pipeline.NoICMP}
	switch err {
	case eNetUnreach:
		rt.Unreach = 0
	case eHostUnreach:
		rt.Unreach = 1
	case eAccess:
		rt.Unreach = 13
	}
	return rt, err
}

func (h *Host) routeInput(fam nf.Family, src, dst netip.Addr, inDev string, mark uint32) (pipeline.Route, errno) {
	in := h.byName[inDev]
	if in == nil {
		return drop(eInval, reasonUnknownIface)
	}
	if fam == nf.IPv6 {
		return h.routeInput6(src, dst, in, mark)
	}
	if !src.Is4() || !dst.Is4() {
		return drop(eInval, "not an IPv4 packet")
	}
	local := pipeline.Route{Kind: pipeline.RouteLocal, MTU: in.MTU}
	if in.Loopback {
		// A looped back packet keeps the route it was sent with.
		if t := h.AddrType(dst, ""); t == rtnLocal || t == rtnBroadcast || t == rtnMulticast {
			return local, eOK
		}
	}
	if dst.IsMulticast() && dst != lbcast4 {
		// ip_route_input_rcu: only groups the interface joined are
		// delivered; all-hosts is joined on every interface.
		if dst != allHosts4 {
			return drop(eInval, reasonMcastGroup)
		}
		if src.IsMulticast() || src == lbcast4 || zeronet4(src) {
			return drop(eInval, reasonMartianSrc)
		}
		if err := h.validateSource4(src, netip.Addr{}, 0, in, mark); err != eOK {
			return drop(err, h.martianReason(err))
		}
		return local, eOK
	}
	if src.IsMulticast() || src == lbcast4 {
		return drop(eInval, reasonMartianSrc)
	}
	brd := func() (pipeline.Route, errno) {
		if !zeronet4(src) {
			if err := h.validateSource4(src, netip.IPv4Unspecified(), 0, in, mark); err != eOK {
				return drop(err, h.martianReason(err))
			}
		}
		return local, eOK
	}
	if dst == lbcast4 || (src.IsUnspecified() && dst.IsUnspecified()) {
		return brd()
	}
	if zeronet4(src) {
		return drop(eInval, reasonMartianSrc)
	}
	if zeronet4(dst) {
		return drop(eInval, reasonMartianDst)
	}
	if loopback4(dst) {
		if !in.conf.routeLocalnet && !in.Loopback {
			return drop(eInval, reasonMartianDst)
		}
	} else if loopback4(src) && !in.conf.routeLocalnet && !in.Loopback {
		return drop(eInval, reasonMartianSrc)
	}
	fl := flow{src: src, dst: dst, iif: in, mark: mark}
	res, err, why := h.fibLookup(0, &fl, false)
	fwdOff := in.fwdReason[0]
	if err != eOK {
		if fwdOff != "" {
			// ip_error drops silently when the interface does not forward.
			return pipeline.Route{Kind: pipeline.RouteDrop, Reason: fwdOff, Unreach: pipeline.NoICMP}, eHostUnreach
		}
		return drop(err, why)
	}
	switch res.typ {
	case rtnBroadcast:
		return brd()
	case rtnLocal:
		if err := h.validateSource4(src, dst, 0, in, mark); err != eOK {
			return drop(err, h.martianReason(err))
		}
		return local, eOK
	}
	if fwdOff != "" {
		return pipeline.Route{Kind: pipeline.RouteDrop, Reason: fwdOff, Unreach: pipeline.NoICMP}, eHostUnreach
	}
	if res.typ != rtnUnicast || res.nh == nil || res.nh.dev == nil {
		return drop(eInval, reasonMartianDst)
	}
	out := res.nh.dev
	err, onLink := h.validateSource4On(src, dst, out.Index, in, mark)
	if err != eOK {
		return drop(err, h.martianReason(err))
	}
	// __mkroute_input: forwarded back out the arrival interface to a
	// source on link, the host tells the source the better next hop.
	redirect := out == in && onLink && in.conf.sendRedirects &&
		(in.conf.sharedMedia || h.addrOnlink(out, src, res.nh.gw))
	return pipeline.Route{Kind: pipeline.RouteForward, OutDev: out.Name, Gateway: res.nh.gw,
		PrefSrc: h.prefSrc4(&res), MTU: out.MTU, Redirect: redirect}, eOK
}

func (h *Host) martianReason(err errno) string {
	if err == eXDev {
		return reasonRPFilter
	}
	return reasonMartianSrc
}

// validateSource4 is fib_validate_source: a source that is one of our
// addresses is a martian, and rp_filter wants the reverse route to go out
// the arrival interface (strict) or to exist (loose).
func (h *Host) validateSource4(src, dst netip.Addr, oif int, in *Iface, mark uint32) errno {
	err, _ := h.validateSource4On(src, dst, oif, in, mark)
	return err
}

// validateSource4On is validateSource4 that also tells what the kernel's
// positive result says: the route back to src has a nexthop without a
// gateway (scope host), so src is on link; __mkroute_input needs that for
// a redirect.
func (h *Host) validateSource4On(src, dst netip.Addr, oif int, in *Iface, mark uint32) (errno, bool) {
	rpf := in.conf.rpFilter
	if rpf == 0 && (in.Index != oif || !in.conf.sendRedirects) {
		if in.conf.acceptLocal {
			return eOK, false
		}
		if !h.customLocal && !h.customRules {
			if h.isIfaceAddr(src) {
				return eInval, false
			}
			return eOK, false
		}
	}
	iif := h.lo
	if oif != 0 {
		iif = h.byIndex[oif]
	}
	fl := flow{src: dst, dst: src, iif: iif}
	if !fl.src.IsValid() {
		fl.src = netip.IPv4Unspecified()
	}
	if in.conf.srcValidMark {
		fl.mark = mark
	}
	res, err, _ := h.fibLookup(0, &fl, false)
	if err != eOK {
		if rpf != 0 {
			return eXDev, false
		}
		return eOK, false
	}
	if res.typ != rtnUnicast && (res.typ != rtnLocal || !in.conf.acceptLocal) {
		return eInval, false
	}
	for k := range res.r.nhs {
		if res.r.nhs[k].dev == in {
			return eOK, res.nh != nil && !res.nh.gw.IsValid()
		}
	}
	if res.typ == rtnLocal && in.Loopback {
		return eOK, res.nh != nil && !res.nh.gw.IsValid()
	}
	if len(in.addrs4) == 0 {
		if rpf != 0 {
			return eXDev, false
		}
		return eOK, false
	}
	if rpf == 1 {
		return eXDev, false
	}
	// The second lookup, restricted to the arrival interface.
	fl.oif = in
	if res, err, _ := h.fibLookup(0, &fl, false); err == eOK && res.typ == rtnUnicast {
		return eOK, res.nh != nil && !res.nh.gw.IsValid()
	}
	return eOK, false
}

// addrOnlink is inet_addr_onlink: a subnet of dev holds a, and b too
// when b is valid.
func (h *Host) addrOnlink(dev *Iface, a, b netip.Addr) bool {
	for i := range dev.addrs4 {
		pfx := dev.addrs4[i].pfx.Masked()
		if pfx.Contains(a) && (!b.IsValid() || pfx.Contains(b)) {
			return true
		}
	}
	return false
}

func (h *Host) isIfaceAddr(a netip.Addr) bool {
	for _, ifc := range h.ifaces {
		for i := range ifc.addrs4 {
			if ifc.addrs4[i].pfx.Addr() == a {
				return true
			}
		}
	}
	return false
}

// prefSrc4 is fib_result_prefsrc: the route's prefsrc, else the first
// primary address on the nexthop's interface in the route's scope.
func (h *Host) prefSrc4(res *result) netip.Addr {
	if res.r.prefsrc.IsValid() {
		return res.r.prefsrc
	}
	if res.nh == nil || res.nh.dev == nil {
		return netip.Addr{}
	}
	return h.selectAddr4(res.nh.dev, res.nh.gw, res.r.scope)
}

// selectAddr4 is inet_select_addr.
func (h *Host) selectAddr4(dev *Iface, dst netip.Addr, scope uint8) netip.Addr {
	localnet := scopeHost
	if dev.conf.routeLocalnet {
		localnet = scopeLink
	}
	var addr netip.Addr
	for _, a := range dev.addrs4 {
		if a.secondary || min(a.scope, localnet) > scope {
			continue
		}
		if !dst.IsValid() || a.pfx.Contains(dst) {
			return a.pfx.Addr()
		}
		if !addr.IsValid() {
			addr = a.pfx.Addr()
		}
	}
	if addr.IsValid() {
		return addr
	}
	for _, ifc := range h.ifaces {
		for _, a := range ifc.addrs4 {
			if !a.secondary && a.scope != scopeLink && a.scope <= scope {
				return a.pfx.Addr()
			}
		}
	}
	return netip.Addr{}
}

func (h *Host) routeOutput(fam nf.Family, src, dst netip.Addr, mark uint32) (pipeline.Route, errno) {
	if h.lo == nil {
		return drop(eInval, "no loopback interface")
	}
	if fam == nf.IPv6 {
		return h.routeOutput6(src, dst, mark)
	}
	if !dst.Is4() {
		return drop(eInval, "not an IPv4 packet")
	}
	if src.IsValid() && (!src.Is4() || src.IsUnspecified() || func() bool {
		t := h.AddrType(src, "")
		return t != rtnLocal && t != rtnUnicast
	}()) {
		src = netip.Addr{}
	}
	if src.IsValid() && (dst.IsMulticast() || dst == lbcast4) {
		// Multicast and limited broadcast leave by the source's interface.
		dev := h.addrIface4(src)
		if dev == nil {
			return drop(eNetUnreach, reasonNoRoute)
		}
		return pipeline.Route{Kind: pipeline.RouteOut, OutDev: dev.Name, PrefSrc: src, MTU: dev.MTU}, eOK
	}
	if dst.IsUnspecified() {
		if !src.IsValid() {
			src = lo4
		}
		return pipeline.Route{Kind: pipeline.RouteOut, OutDev: h.lo.Name, PrefSrc: src, MTU: h.lo.MTU}, eOK
	}
	fl := flow{src: src, dst: dst, iif: h.lo, mark: mark}
	if !src.IsValid() {
		fl.src = netip.IPv4Unspecified()
	}
	res, err, why := h.fibLookup(0, &fl, false)
	if err != eOK {
		return drop(err, why)
	}
	if res.typ == rtnLocal {
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
	if !src.IsValid() {
		src = h.prefSrc4(&res)
	}
	out := res.nh.dev
	if src.IsValid() && loopback4(src) && !out.Loopback {
		return drop(eInval, reasonMartianSrc)
	}
	return pipeline.Route{Kind: pipeline.RouteOut, OutDev: out.Name, Gateway: res.nh.gw, PrefSrc: src, MTU: out.MTU}, eOK
}

func (h *Host) addrIface4(a netip.Addr) *Iface {
	for _, ifc := range h.ifaces {
		for i := range ifc.addrs4 {
			if ifc.addrs4[i].pfx.Addr() == a {
				return ifc
			}
		}
	}
	return nil
}

// AddrType returns the RTN_* type of addr as inet_dev_addr_type (IPv4)
// and xt_addrtype's IPv6 lookup see it; dev, when given, limits local
// and broadcast to that interface (--limit-iface-in/out).
func (h *Host) AddrType(addr netip.Addr, dev string) uint8 {
	addr = addr.Unmap()
	var d *Iface
	if dev != "" {
		if d = h.byName[dev]; d == nil {
			return rtnUnicast
		}
	}
	if addr.Is4() {
		if zeronet4(addr) || addr == lbcast4 {
			return rtnBroadcast
		}
		if addr.IsMulticast() {
			return rtnMulticast
		}
		fl := flow{dst: addr, src: netip.IPv4Unspecified()}
		res, err, _ := h.tableLookup(0, h.local[0], &fl, true)
		if err == eOK && (d == nil || (res.nh != nil && res.nh.dev == d)) {
			return res.typ
		}
		return rtnUnicast
	}
	if !addr.Is6() {
		return rtnUnspec
	}
	if addr.IsUnspecified() {
		return rtnUnspec
	}
	if addr.IsMulticast() {
		return rtnMulticast
	}
	if d != nil {
		if hasAddr6(d, addr) {
			return rtnLocal
		}
	} else {
		for _, ifc := range h.ifaces {
			if hasAddr6(ifc, addr) {
				return rtnLocal
			}
		}
	}
	fl := flow{dst: addr, src: netip.IPv6Unspecified(), iif: h.lo, oif: d}
	res, err, _ := h.fibLookup(1, &fl, true)
	switch err {
	case eOK:
		if res.typ == rtnLocal && d == nil {
			return rtnLocal
		}
		return rtnUnicast
	case eInval:
		return rtnBlackhole
	case eAccess:
		return rtnProhibit
	}
	return rtnUnreachable
}

func hasAddr6(ifc *Iface, a netip.Addr) bool {
	for i := range ifc.addrs6 {
		if ifc.addrs6[i].pfx.Addr() == a {
			return true
		}
	}
	return false
}

// IfaceAddr returns the first address of the family on dev: the primary
// IPv4 address, or the first usable IPv6 one, global before link-local.
func (h *Host) IfaceAddr(dev string, fam nf.Family) (netip.Addr, bool) {
	ifc := h.byName[dev]
	if ifc == nil {
		return netip.Addr{}, false
	}
	if fam == nf.IPv6 {
		var ll netip.Addr
		for _, a := range ifc.addrs6 {
			if a.tentative {
				continue
			}
			if a.scope == scopeUniverse {
				return a.pfx.Addr(), true
			}
			if !ll.IsValid() {
				ll = a.pfx.Addr()
			}
		}
		return ll, ll.IsValid()
	}
	for _, a := range ifc.addrs4 {
		if !a.secondary {
			return a.pfx.Addr(), true
		}
	}
	return netip.Addr{}, false
}

// RouteOut returns the interface of the route to dst as a policy lookup
// from inDev ("" for a local lookup) finds it, as xt_rpfilter looks up the
// reverse path; false when the lookup fails.
func (h *Host) RouteOut(fam nf.Family, src, dst netip.Addr, mark uint32, inDev string) (string, bool) {
	f := fi(fam)
	src, dst = src.Unmap(), dst.Unmap()
	fl := flow{src: src, dst: dst, iif: h.lo, mark: mark}
	if inDev != "" {
		if fl.iif = h.byName[inDev]; fl.iif == nil {
			return "", false
		}
	}
	if !fl.src.IsValid() {
		fl.src = netip.IPv4Unspecified()
		if fam == nf.IPv6 {
			fl.src = netip.IPv6Unspecified()
		}
	}
	res, err, _ := h.fibLookup(f, &fl, true)
	if err != eOK || res.nh == nil || res.nh.dev == nil {
		return "", false
	}
	return res.nh.dev.Name, true
}
