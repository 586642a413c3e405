package ext

import "github.com/nfgo/nfgo/nf"

// icmp: -m icmp --icmp-type (libipt_icmp, ip_tables.c icmp_match) and
// icmp6: -m icmp6 --icmpv6-type (libip6t_icmp6, ip6_tables.c icmp6_match).
type icmpMatch struct {
	V6               bool
	Type             uint8 // 0xFF ("any") matches every type in IPv4
	CodeMin, CodeMax uint8
	Inv              bool
	Set              bool
}

func init() {
	Register(&Def{
		Name: "icmp", Kind: MatchKind, Family: nf.IPv4, Proto: nf.ProtoICMP,
		Options: []Option{{Name: "icmp-type", Arg: NeedArg, Invert: true}},
		New:     func() Ext { return &icmpMatch{Type: 0xFF, CodeMax: 0xFF} },
	})
	Register(&Def{
		Name: "icmp6", Kind: MatchKind, Family: nf.IPv6, Proto: nf.ProtoICMPv6,
		Options: []Option{{Name: "icmpv6-type", Arg: NeedArg, Invert: true}},
		New:     func() Ext { return &icmpMatch{V6: true, CodeMax: 0xFF} },
	})
}

func (m *icmpMatch) names() ([]m1ICMPName, string) {
	if m.V6 {
		return m1ICMPv6Names, "ICMPv6"
	}
	return m1ICMPv4Names, "ICMP"
}

func (m *icmpMatch) Parse(u *Use) error {
	names, what := m.names()
	t, lo, hi, err := m1ParseICMPType(names, what, u.Arg)
	if err != nil {
		return err
	}
	m.Type, m.CodeMin, m.CodeMax, m.Inv, m.Set = t, lo, hi, u.Invert, true
	return nil
}

func (m *icmpMatch) Final(*RuleInfo) error {
	if !m.Set {
		if m.V6 {
			return Errorf("option \"--icmpv6-type\" must be specified")
		}
		return Errorf("option \"--icmp-type\" must be specified")
	}
	return nil
}

func (m *icmpMatch) Save(b *Buf) {
	b.Not(m.Inv)
	if m.V6 {
		b.S(" --icmpv6-type ")
	} else {
		b.S(" --icmp-type ")
		if m.Type == 0xFF {
			b.S("any")
			return
		}
	}
	b.U(uint64(m.Type))
	if m.CodeMin != 0 || m.CodeMax != 0xFF {
		b.S("/").U(uint64(m.CodeMin))
	}
}

func (m *icmpMatch) Print(b *Buf, numeric bool) {
	names, _ := m.names()
	if m.V6 {
		b.S(" ipv6-icmp")
	} else {
		b.S(" icmp")
	}
	m1PrintICMPType(b, names, m.Type, m.CodeMin, m.CodeMax, m.Inv, numeric)
}
