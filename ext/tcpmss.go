package ext

import "github.com/nfgo/nfgo/nf"

// tcpmss: -m tcpmss --mss MIN[:MAX] (libxt_tcpmss, xt_tcpmss.c); the
// kernel requires -p tcp.
type tcpmssMatch struct {
	Min, Max uint16
	Inv      bool
	Set      bool
}

func init() {
	Register(&Def{
		Name: "tcpmss", Kind: MatchKind, Proto: nf.ProtoTCP,
		Options: []Option{{Name: "mss", Arg: NeedArg, Invert: true}},
		New:     func() Ext { return &tcpmssMatch{} },
	})
}

func (m *tcpmssMatch) Parse(u *Use) error {
	lo, hi, ok := m1ParseUintRange(u.Arg, 0xffff)
	if !ok {
		return Errorf("bad MSS `%s': expected MSS or MIN:MAX with numbers 0-65535", u.Arg)
	}
	if hi < lo {
		return Errorf("invalid range given `%s': MIN is greater than MAX", u.Arg)
	}
	m.Min, m.Max, m.Inv, m.Set = uint16(lo), uint16(hi), u.Invert, true
	return nil
}

func (m *tcpmssMatch) Final(*RuleInfo) error {
	if !m.Set {
		return Errorf("option \"--mss\" must be specified")
	}
	return nil
}

func (m *tcpmssMatch) Save(b *Buf) {
	b.Opt(m.Inv, "mss", m1RangeString(uint64(m.Min), uint64(m.Max)))
}

func (m *tcpmssMatch) Print(b *Buf, _ bool) {
	b.S(" tcpmss match ")
	if m.Inv {
		b.S("!")
	}
	b.S(m1RangeString(uint64(m.Min), uint64(m.Max)))
}
