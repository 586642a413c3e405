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

// Match tests the ICMP or ICMPv6 type and code as ip_tables.c's icmp_match
// and ip6_tables.c's icmp6_match: fragments past the first never match,
// a header shorter than 8 bytes drops the packet, and type 255 ("any")
// matches every IPv4 type (ICMPv6 has no wildcard).
func (m *icmpMatch) Match(e *Env) bool {
	p := e.Pkt
	if fragOff(p) {
		return false
	}
	ic := hdrAt(p, thoff(p), 8)
	if ic == nil {
		e.HotDrop = true
		return false
	}
	if !m.V6 && m.Type == 0xFF {
		return !m.Inv
	}
	return (ic[0] == m.Type && ic[1] >= m.CodeMin && ic[1] <= m.CodeMax) != m.Inv
}
