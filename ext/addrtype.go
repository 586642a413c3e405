package ext

import (
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
