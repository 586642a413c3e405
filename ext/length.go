package ext

import (
	"github.com/nfgo/nfgo/nf"
	"github.com/nfgo/nfgo/packet"
)

// length: -m length --length MIN[:MAX] (libxt_length, xt_length.c): the
// IPv4 total length or the IPv6 payload length plus header.
type lengthMatch struct {
	Min, Max uint16
	Inv      bool
	Set      bool
}

func init() {
	Register(&Def{
		Name: "length", Kind: MatchKind,
		Options: []Option{{Name: "length", Arg: NeedArg, Invert: true}},
		New:     func() Ext { return &lengthMatch{} },
	})
}

func (m *lengthMatch) Parse(u *Use) error {
	lo, hi, ok := m1ParseUintRange(u.Arg, 0xffff)
	if !ok {
		return Errorf("bad length `%s': expected LEN or MIN:MAX with numbers 0-65535", u.Arg)
	}
	m.Min, m.Max, m.Inv, m.Set = uint16(lo), uint16(hi), u.Invert, true
	return nil
}

func (m *lengthMatch) Final(*RuleInfo) error {
	if !m.Set {
		return Errorf("option \"--length\" must be specified")
	}
	return nil
}

func (m *lengthMatch) Save(b *Buf) {
	b.Opt(m.Inv, "length", m1RangeString(uint64(m.Min), uint64(m.Max)))
}

func (m *lengthMatch) Print(b *Buf, _ bool) {
	b.S(" length ")
	if m.Inv {
		b.S("!")
	}
	b.S(m1RangeString(uint64(m.Min), uint64(m.Max)))
}

// Match is xt_length.c: the IPv4 total length field, or the IPv6 packet's
// whole length (payload length plus the 40-byte header).
func (m *lengthMatch) Match(e *Env) bool {
	p := e.Pkt
	var n uint32
	if p.Family == nf.IPv4 {
		n = uint32(packet.IPv4(p.Data).TotalLen())
	} else {
		n = uint32(len(p.Data))
	}
	return (n >= uint32(m.Min) && n <= uint32(m.Max)) != m.Inv
}
