package ext

import (
	"net/netip"
	"strings"

	"github.com/nfgo/nfgo/nf"
)

// addrtype: -m addrtype (libxt_addrtype revision 1, xt_addrtype.c).
type addrtypeMatch struct {
	Src, Dst       uint16 // bit n set: route type n (addrtypeNames) matches
	InvSrc, InvDst bool
	LimitIn        bool // --limit-iface-in: look the address up on the input device only
	LimitOut       bool // --limit-iface-out
}

// addrtypeNames are the route types (RTN_*) in kernel order.
var addrtypeNames = []string{"UNSPEC", "UNICAST", "LOCAL", "BROADCAST", "ANYCAST", "MULTICAST",
	"BLACKHOLE", "UNREACHABLE", "PROHIBIT", "THROW", "NAT", "XRESOLVE"}

func init() {
	Register(&Def{
		Name: "addrtype", Kind: MatchKind,
		Options: []Option{
			{Name: "src-type", Arg: NeedArg, Invert: true},
			{Name: "dst-type", Arg: NeedArg, Invert: true},
			{Name: "limit-iface-in", Arg: NoArg},
			{Name: "limit-iface-out", Arg: NoArg},
		},
		New: func() Ext { return &addrtypeMatch{} },
	})
}

// parseAddrTypes reads a comma list of route types; each may be given by
// any case-insensitive prefix of its name (the first type it fits wins).
func parseAddrTypes(s string) (uint16, error) {
	var mask uint16
	for _, t := range strings.Split(s, ",") {
		found := false
		for i, n := range addrtypeNames {
			if t != "" && len(t) <= len(n) && strings.EqualFold(t, n[:len(t)]) {
				mask |= 1 << i
				found = true
				break
			}
		}
		if !found {
			return 0, Errorf("bad type `%s': expected a comma list of %s", t, strings.Join(addrtypeNames, ", "))
		}
	}
	return mask, nil
}

func (m *addrtypeMatch) Parse(u *Use) error {
	var err error
	switch u.Opt.Name {
	case "src-type":
		m.Src, err = parseAddrTypes(u.Arg)
		m.InvSrc = u.Invert
	case "dst-type":
		m.Dst, err = parseAddrTypes(u.Arg)
		m.InvDst = u.Invert
	case "limit-iface-in":
		if m.LimitOut {
			return Errorf("option \"--limit-iface-in\" cannot be used together with \"--limit-iface-out\"")
		}
		m.LimitIn = true
	case "limit-iface-out":
		if m.LimitIn {
			return Errorf("option \"--limit-iface-out\" cannot be used together with \"--limit-iface-in\"")
		}
		m.LimitOut = true
	}
	return err
}

func (m *addrtypeMatch) Final(*RuleInfo) error {
	if m.Src == 0 && m.Dst == 0 && !m.InvSrc && !m.InvDst {
		return Errorf("you must specify --src-type or --dst-type")
	}
	return nil
}

// Check applies xt_addrtype's checkentry (revision 1).
func (m *addrtypeMatch) Check(c *CheckCtx) error {
	if m.LimitOut && c.Hooks&nf.Hooks(nf.PreRouting, nf.LocalIn) != 0 {
		return Errorf("output interface limitation not valid in PREROUTING and INPUT")
	}
	if m.LimitIn && c.Hooks&nf.Hooks(nf.PostRouting, nf.LocalOut) != 0 {
		return Errorf("input interface limitation not valid in POSTROUTING and OUTPUT")
	}
	if c.Rule.Family == nf.IPv6 {
		t := m.Src | m.Dst
		switch {
		case t&(1<<6) != 0:
			return Errorf("ipv6 BLACKHOLE matching not supported")
		case t >= 1<<8:
			return Errorf("ipv6 PROHIBIT (THROW, NAT ..) matching not supported")
		case t&(1<<3) != 0:
			return Errorf("ipv6 does not support BROADCAST matching")
		}
	}
	return nil
}

func addrtypeList(mask uint16) string {
	var p []string
	for i, n := range addrtypeNames {
		if mask&(1<<i) != 0 {
			p = append(p, n)
		}
	}
	return strings.Join(p, ",")
}

func (m *addrtypeMatch) Save(b *Buf) {
	if m.Src != 0 {
		b.Opt(m.InvSrc, "src-type", addrtypeList(m.Src))
	}
	if m.Dst != 0 {
		b.Opt(m.InvDst, "dst-type", addrtypeList(m.Dst))
	}
	if m.LimitIn {
		b.S(" --limit-iface-in")
	}
	if m.LimitOut {
		b.S(" --limit-iface-out")
	}
}

func (m *addrtypeMatch) Print(b *Buf, _ bool) {
	b.S(" ADDRTYPE match")
	if m.Src != 0 {
		b.S(" src-type ").S(m3Inv(m.InvSrc)).S(addrtypeList(m.Src))
	}
	if m.Dst != 0 {
		b.S(" dst-type ").S(m3Inv(m.InvDst)).S(addrtypeList(m.Dst))
	}
	if m.LimitIn {
		b.S(" limit-in")
	}
	if m.LimitOut {
		b.S(" limit-out")
	}
}

// Match is xt_addrtype.c's addrtype_mt_v1: the route type of the source
// and destination addresses, looked up on the input or output device
// when --limit-iface-in/out asks for it.
func (m *addrtypeMatch) Match(e *Env) bool {
	if e.Host == nil {
		return false
	}
	p := e.Pkt
	dev := ""
	if m.LimitIn {
		dev = p.InDev
	} else if m.LimitOut {
		dev = p.OutDev
	}
	if m.Src != 0 && m.addrMatch(e, p.Src(), m.Src, dev) == m.InvSrc {
		return false
	}
	if m.Dst != 0 && m.addrMatch(e, p.Dst(), m.Dst, dev) == m.InvDst {
		return false
	}
	return true
}

// XT_ADDRTYPE_* bits: bit n is route type n.
const (
	addrtUnspec      = 1 << 0
	addrtUnicast     = 1 << 1
	addrtLocal       = 1 << 2
	addrtAnycast     = 1 << 4
	addrtMulticast   = 1 << 5
	addrtBlackhole   = 1 << 6
	addrtUnreachable = 1 << 7
	addrtProhibit    = 1 << 8
)

func (m *addrtypeMatch) addrMatch(e *Env, a netip.Addr, mask uint16, dev string) bool {
	if e.Pkt.Family == nf.IPv4 {
		return mask&(1<<e.Host.AddrType(a, dev)) != 0
	}
	// match_type6: the address class from ipv6_addr_type must fit the
	// unicast/multicast/unspec bits asked for, and the local, anycast and
	// unreachable bits come from a route lookup.
	uni, multi, anyAddr := ipv6AddrClass(a)
	if mask&addrtMulticast != 0 && !multi {
		return false
	}
	if mask&addrtUnicast != 0 && !uni {
		return false
	}
	if mask&addrtUnspec != 0 && !anyAddr {
		return false
	}
	if mask&(addrtLocal|addrtAnycast|addrtUnreachable) == 0 {
		return true
	}
	var got uint16
	switch e.Host.AddrType(a, dev) {
	case 2:
		got = addrtLocal
	case 4:
		got = addrtAnycast
	case 0, 6, 7, 8:
		// No route, or a reject route (RTF_REJECT).
		got = addrtUnreachable
	}
	return mask&got != 0
}

// ipv6AddrClass is what xt_addrtype reads from ipv6_addr_type: whether
// the address has IPV6_ADDR_UNICAST or IPV6_ADDR_MULTICAST set, or is
// the unspecified address.
func ipv6AddrClass(a netip.Addr) (unicast, multicast, unspec bool) {
	b := a.As16()
	switch {
	case b[0] == 0xff:
		return false, true, false
	case b[0]&0xe0 != 0 && b[0]&0xe0 != 0xe0:
		return true, false, false
	case b[0] == 0xfe && b[1]&0xc0 == 0x80, b[0] == 0xfe && b[1]&0xc0 == 0xc0, b[0]&0xfe == 0xfc:
		return true, false, false
	}
	if be32(b[0:]) == 0 && be32(b[4:]) == 0 {
		if be32(b[8:]) == 0 {
			if be32(b[12:]) == 0 {
				return false, false, true
			}
			return true, false, false // loopback or v4-compatible
		}
		if be32(b[8:]) == 0xffff {
			return false, false, false // v4-mapped
		}
	}
	return false, false, false // reserved
}
