package host

import (
	"net/netip"

	"github.com/nfgo/nfgo/nat"
	"github.com/nfgo/nfgo/nf"
)

// The host answers what MASQUERADE and REDIRECT ask (nat.Addresses).
var _ nat.Addresses = (*Host)(nil)

// MasqueradeAddr is the address MASQUERADE maps to for a packet leaving
// by dev towards nexthop: inet_select_addr(dev, nexthop,
// RT_SCOPE_UNIVERSE) for IPv4, the source address selection for IPv6.
func (h *Host) MasqueradeAddr(fam nf.Family, dev string, nexthop netip.Addr) (netip.Addr, bool) {
	ifc := h.byName[dev]
	if ifc == nil {
		return netip.Addr{}, false
	}
	var a netip.Addr
	if fam == nf.IPv6 {
		a = h.selectSrc6(ifc, nexthop)
	} else {
		a = h.selectAddr4(ifc, nexthop, scopeUniverse)
	}
	return a, a.IsValid()
}

// RedirectAddr is the address REDIRECT maps to for a packet received on
// dev: the first IPv4 address of the interface (nf_nat_redirect_ipv4
// takes the head of ifa_list, a primary one); for IPv6 the first address
// that is not tentative and, for a destination of non-zero scope, shares
// a scope bit with it (nf_nat_redirect_ipv6).
func (h *Host) RedirectAddr(fam nf.Family, dev string, scope uint8) (netip.Addr, bool) {
	ifc := h.byName[dev]
	if ifc == nil {
		return netip.Addr{}, false
	}
	if fam == nf.IPv4 {
		if len(ifc.addrs4) == 0 {
			return netip.Addr{}, false
		}
		return ifc.addrs4[0].pfx.Addr(), true
	}
	for _, a := range ifc.addrs6 {
		ad := a.pfx.Addr()
		if a.tentative || ad.Is4In6() {
			continue
		}
		if scope != 0 && nat.IPv6Scope(ad)&scope == 0 {
			continue
		}
		return ad, true
	}
	return netip.Addr{}, false
}
