// Package nat is network address translation as Linux's nf_nat does it,
// apart from the conntrack table it works on: the ranges the NAT targets
// ask for (struct nf_nat_range2), the choice of the translated tuple
// (get_unique_tuple in nf_nat_core.c) against an abstract Table, the
// rewriting of packets with incremental checksums (nf_nat_proto.c), the
// translation of ICMP errors about translated connections, and the FTP
// NAT helper's payload rewriting with sequence number adjustment
// (nf_nat_ftp.c, nf_nat_helper.c, nf_conntrack_seqadj.c).
package nat

import (
	"fmt"
	"net/netip"

	"github.com/nfgo/nfgo/ext"
	"github.com/nfgo/nfgo/nf"
)

// Range flags (NF_NAT_RANGE_*, linux/netfilter/nf_nat.h).
const (
	MapIPs           uint32 = 1 << 0
	ProtoSpecified   uint32 = 1 << 1
	ProtoRandom      uint32 = 1 << 2
	Persistent       uint32 = 1 << 3
	ProtoRandomFully uint32 = 1 << 4
	ProtoOffset      uint32 = 1 << 5
	Netmap           uint32 = 1 << 6

	ProtoRandomAll = ProtoRandom | ProtoRandomFully
)

// Range is struct nf_nat_range2: where a mapping may put the address (with
// MapIPs) and the port or ICMP id (with ProtoSpecified). BaseProto is the
// port the range starts from in a shifted port map (ProtoOffset).
type Range struct {
	Flags              uint32
	MinAddr, MaxAddr   netip.Addr
	MinProto, MaxProto uint16
	BaseProto          uint16
}

// Manip says which end of a tuple a mapping rewrites (enum
// nf_nat_manip_type): the source at POSTROUTING and LOCAL_IN, the
// destination at PREROUTING and LOCAL_OUT.
type Manip uint8

const (
	ManipSrc Manip = iota
	ManipDst
)

func (m Manip) String() string {
	if m == ManipSrc {
		return "SRC"
	}
	return "DST"
}

// HookManip is HOOK2MANIP: the manip type NAT performs at a hook.
func HookManip(h nf.Hook) Manip {
	if h == nf.PostRouting || h == nf.LocalIn {
		return ManipSrc
	}
	return ManipDst
}

// Kind is the target that asks for a mapping.
type Kind uint8

const (
	KindSNAT Kind = iota
	KindDNAT
	KindMasquerade
	KindRedirect
	KindNetmap
)

var kindNames = [...]string{"SNAT", "DNAT", "MASQUERADE", "REDIRECT", "NETMAP"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "?"
}

// Rule is a NAT target of a rule: its kind and the range it was given.
type Rule struct {
	Kind  Kind
	Range Range
}

// rangeTarget is what the NAT targets of ext provide.
type rangeTarget interface {
	NATRange() ext.NATRange
	NATKind() string
}

// FromTarget returns the rule for an SNAT, DNAT, MASQUERADE, REDIRECT or
// NETMAP target parsed by ext (the Ext of a ruleset's target); ok is false
// for any other target.
func FromTarget(t any) (r Rule, ok bool) {
	rt, ok := t.(rangeTarget)
	if !ok {
		return Rule{}, false
	}
	switch rt.NATKind() {
	case "SNAT":
		r.Kind = KindSNAT
	case "DNAT":
		r.Kind = KindDNAT
	case "MASQUERADE":
		r.Kind = KindMasquerade
	case "REDIRECT":
		r.Kind = KindRedirect
	case "NETMAP":
		r.Kind = KindNetmap
	default:
		return Rule{}, false
	}
	x := rt.NATRange()
	r.Range = Range{Flags: x.Flags, MinAddr: x.MinAddr, MaxAddr: x.MaxAddr,
		MinProto: x.MinPort, MaxProto: x.MaxPort, BaseProto: x.BasePort}
	return r, true
}

// Addresses answers what MASQUERADE and REDIRECT need to know of the
// host's interfaces.
type Addresses interface {
	// MasqueradeAddr is the source address MASQUERADE maps to for a
	// packet leaving by dev towards nexthop (the route's gateway, or the
	// destination itself when directly connected): for IPv4 the kernel's
	// inet_select_addr(dev, nexthop, RT_SCOPE_UNIVERSE) (SelectAddr4
	// implements it over a list of addresses), for IPv6
	// ipv6_dev_get_saddr(dev, dst) (RFC 6724 source selection; nexthop
	// is then the packet's destination). ok false: the interface has no
	// usable address and the packet is dropped.
	MasqueradeAddr(fam nf.Family, dev string, nexthop netip.Addr) (netip.Addr, bool)
	// RedirectAddr is the address REDIRECT maps to for a packet received
	// on dev: for IPv4 the interface's first (primary) address, for IPv6
	// its first address (in the kernel's list order) that is not
	// IPv4-mapped, not tentative (unless optimistic) and, when scope is
	// non-zero, whose IPv6Scope shares a bit with scope, the scope of
	// the packet's destination (nf_nat_redirect_ipv6). ok false
	// drops the packet.
	RedirectAddr(fam nf.Family, dev string, scope uint8) (netip.Addr, bool)
}

// Request is what a rule's mapping needs to know of the packet, taken at
// the hook the rule is in.
type Request struct {
	Family nf.Family
	Hook   nf.Hook
	// Src and Dst are the packet's addresses at the hook.
	Src, Dst netip.Addr
	// OrigSrc is the source of the connection's original tuple
	// (MASQUERADE leaves connections from 0.0.0.0 alone).
	OrigSrc netip.Addr
	// InDev is the input interface (REDIRECT at PREROUTING), OutDev the
	// output one (MASQUERADE).
	InDev, OutDev string
	// NextHop is the IPv4 route's next hop for MASQUERADE (rt_nexthop):
	// the gateway, or Dst when the destination is on link.
	NextHop netip.Addr
}

// ErrNoAddr is returned when MASQUERADE or REDIRECT find no address: the
// kernel drops the packet.
var ErrNoAddr = fmt.Errorf("nat: no address to map to")

// Resolve returns the range and manip type the rule's target hands to
// nf_nat_setup_info for the packet: the rule's own range for SNAT and
// DNAT; the out interface's address for MASQUERADE
// (nf_nat_masquerade_ipv4/6); the in interface's address, or the loopback
// address at LOCAL_OUT, for REDIRECT (nf_nat_redirect_ipv4/6); the packet's
// address moved into the network for NETMAP (xt_NETMAP.c). skip is true
// when the target accepts the packet without setting up a mapping
// (MASQUERADE of a connection from 0.0.0.0).
func (r *Rule) Resolve(q *Request, addrs Addresses) (rng Range, m Manip, skip bool, err error) {
	m = HookManip(q.Hook)
	switch r.Kind {
	case KindSNAT, KindDNAT:
		return r.Range, m, false, nil
	case KindMasquerade:
		if q.Family == nf.IPv4 && q.OrigSrc.IsValid() && q.OrigSrc.IsUnspecified() {
			return Range{}, ManipSrc, true, nil
		}
		nh := q.NextHop
		if q.Family == nf.IPv6 || !nh.IsValid() {
			nh = q.Dst
		}
		a, ok := addrs.MasqueradeAddr(q.Family, q.OutDev, nh)
		if !ok {
			return Range{}, ManipSrc, false, fmt.Errorf("MASQUERADE on %s: %w", q.OutDev, ErrNoAddr)
		}
		return single(r.Range, a), ManipSrc, false, nil
	case KindRedirect:
		var a netip.Addr
		if q.Hook == nf.LocalOut {
			a = netip.AddrFrom4([4]byte{127, 0, 0, 1})
			if q.Family == nf.IPv6 {
				a = netip.IPv6Loopback()
			}
		} else {
			var scope uint8
			if q.Family == nf.IPv6 {
				scope = IPv6Scope(q.Dst)
			}
			var ok bool
			a, ok = addrs.RedirectAddr(q.Family, q.InDev, scope)
			if !ok || (q.Family == nf.IPv4 && a.IsUnspecified()) {
				return Range{}, ManipDst, false, fmt.Errorf("REDIRECT on %s: %w", q.InDev, ErrNoAddr)
			}
		}
		nr := single(r.Range, a)
		nr.BaseProto = 0
		return nr, ManipDst, false, nil
	case KindNetmap:
		pkt := q.Src
		if m == ManipDst {
			pkt = q.Dst
		}
		return single(r.Range, NetmapAddr(pkt, r.Range.MinAddr, r.Range.MaxAddr)), m, false, nil
	}
	return Range{}, m, false, fmt.Errorf("nat: unknown target kind %d", r.Kind)
}

// single keeps the range's flags and ports and maps to one address.
func single(r Range, a netip.Addr) Range {
	r.Flags |= MapIPs
	r.MinAddr, r.MaxAddr = a, a
	return r
}

// NetmapAddr moves addr into the network min..max (given as its lowest and
// highest address): the host part of addr stays, the network part is
// min's (netmask = ~(min ^ max), as xt_NETMAP.c computes it).
func NetmapAddr(addr, min, max netip.Addr) netip.Addr {
	if addr.Is4() {
		a, lo, hi := addr.As4(), min.As4(), max.As4()
		for i := range a {
			mask := ^(lo[i] ^ hi[i])
			a[i] = a[i]&^mask | lo[i]&mask
		}
		return netip.AddrFrom4(a)
	}
	a, lo, hi := addr.As16(), min.As16(), max.As16()
	for i := range a {
		mask := ^(lo[i] ^ hi[i])
		a[i] = a[i]&^mask | lo[i]&mask
	}
	return netip.AddrFrom16(a)
}

// IPv6 address type bits that ipv6_addr_scope returns
// (IPV6_ADDR_SCOPE_MASK of __ipv6_addr_type).
const (
	AddrLoopback  uint8 = 0x10
	AddrLinkLocal uint8 = 0x20
	AddrSiteLocal uint8 = 0x40
	AddrCompatV4  uint8 = 0x80
)

// IPv6Scope is ipv6_addr_scope(): the scope bits of an IPv6 address's
// type, 0 for global addresses. REDIRECT accepts an interface address for
// a destination of non-zero scope only when the address's own scope bits
// share one with it.
func IPv6Scope(a netip.Addr) uint8 {
	b := a.As16()
	switch {
	case b[0]&0xe0 != 0 && b[0]&0xe0 != 0xe0:
		return 0
	case b[0] == 0xff:
		switch b[1] & 0x0f {
		case 0x01:
			return AddrLoopback
		case 0x02:
			return AddrLinkLocal
		case 0x05:
			return AddrSiteLocal
		}
		return 0
	case b[0] == 0xfe && b[1]&0xc0 == 0x80:
		return AddrLinkLocal
	case b[0] == 0xfe && b[1]&0xc0 == 0xc0:
		return AddrSiteLocal
	case b[0]&0xfe == 0xfc:
		return 0
	}
	var zero [8]byte
	if [8]byte(b[:8]) == zero && [4]byte(b[8:12]) == [4]byte{} {
		if [4]byte(b[12:]) == [4]byte{0, 0, 0, 1} {
			return AddrLoopback
		}
		if [4]byte(b[12:]) != [4]byte{} {
			return AddrCompatV4
		}
	}
	return 0
}

// IfAddr is one IPv4 address of an interface as inet_select_addr sees it.
type IfAddr struct {
	Prefix    netip.Prefix // the local address and its prefix length
	Scope     uint8        // RT_SCOPE_*: 0 universe, 200 site, 253 link, 254 host
	Secondary bool         // IFA_F_SECONDARY
}

// Route scopes (RT_SCOPE_*).
const (
	ScopeUniverse uint8 = 0
	ScopeLink     uint8 = 253
	ScopeHost     uint8 = 254
)

// SelectAddr4 is inet_select_addr(dev, dst, RT_SCOPE_UNIVERSE) as
// MASQUERADE uses it: the first primary address of dev (in the kernel's
// list order) whose subnet holds dst, else the first primary address;
// without one, the first primary address of another interface (others,
// in device order: lo first) that is not of link scope. routeLocalnet is
// dev's route_localnet setting (host-scope addresses then count as link
// scope). A zero Addr means none: the kernel drops the packet.
func SelectAddr4(dev []IfAddr, dst netip.Addr, routeLocalnet bool, others ...[]IfAddr) netip.Addr {
	localnet := ScopeHost
	if routeLocalnet {
		localnet = ScopeLink
	}
	var addr netip.Addr
	for _, a := range dev {
		if a.Secondary || min(a.Scope, localnet) > ScopeUniverse {
			continue
		}
		if !dst.IsValid() || a.Prefix.Masked().Contains(dst) {
			return a.Prefix.Addr()
		}
		if !addr.IsValid() {
			addr = a.Prefix.Addr()
		}
	}
	if addr.IsValid() {
		return addr
	}
	for _, list := range others {
		for _, a := range list {
			if !a.Secondary && a.Scope != ScopeLink && a.Scope <= ScopeUniverse {
				return a.Prefix.Addr()
			}
		}
	}
	return netip.Addr{}
}
