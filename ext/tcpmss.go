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

// Match is xt_tcpmss.c: the value of the first well-formed MSS option of
// any TCP segment; a segment without one matches only when inverted, a
// malformed header drops the packet.
func (m *tcpmssMatch) Match(e *Env) bool {
	p := e.Pkt
	off := thoff(p)
	th := hdrAt(p, off, 20)
	if th == nil {
		e.HotDrop = true
		return false
	}
	doff := int(th[12]>>4) * 4
	if doff < 20 {
		e.HotDrop = true
		return false
	}
	optlen := doff - 20
	if optlen == 0 {
		return m.Inv
	}
	op := hdrAt(p, off+20, optlen)
	if op == nil {
		e.HotDrop = true
		return false
	}
	for i := 0; i < optlen; {
		if op[i] == 2 && optlen-i >= 4 && op[i+1] == 4 {
			mss := uint16(op[i+2])<<8 | uint16(op[i+3])
			return (mss >= m.Min && mss <= m.Max) != m.Inv
		}
		if op[i] < 2 || i == optlen-1 {
			i++
		} else if op[i+1] == 0 {
			i++
		} else {
			i += int(op[i+1])
		}
	}
	return m.Inv
}
