package ext

import "github.com/nfgo/nfgo/nf"

// frag: -m frag (libip6t_frag, ip6t_frag.c): the IPv6 fragment header.
type fragMatch struct {
	ID     m1Range32 // 0:0xffffffff when not given
	Len    uint32
	LenSet bool
	InvLen bool
	Res    bool // --fragres: reserved fields are zero
	First  bool // --fragfirst: offset zero
	More   bool // --fragmore: more fragments follow
	Last   bool // --fraglast: last fragment
}

func init() {
	Register(&Def{
		Name: "frag", Kind: MatchKind, Family: nf.IPv6,
		Options: []Option{
			{Name: "fragid", Arg: NeedArg, Invert: true},
			{Name: "fraglen", Arg: NeedArg, Invert: true},
			{Name: "fragres", Arg: NoArg},
			{Name: "fragfirst", Arg: NoArg},
			{Name: "fragmore", Arg: NoArg},
			{Name: "fraglast", Arg: NoArg},
		},
		New: func() Ext { return &fragMatch{ID: m1Range32{Hi: 0xffffffff}} },
	})
}

func (m *fragMatch) Parse(u *Use) error {
	switch u.Opt.Name {
	case "fragid":
		r, err := m1ParseSPIRange(u)
		if err != nil {
			return err
		}
		m.ID = r
	case "fraglen":
		v, ok := ParseUint(u.Arg, 0, 0xffffffff)
		if !ok {
			return Errorf("bad value `%s' for option \"--fraglen\": expected a number 0-4294967295", u.Arg)
		}
		m.Len, m.LenSet, m.InvLen = uint32(v), true, u.Invert
	case "fragres":
		m.Res = true
	case "fragfirst":
		m.First = true
	case "fragmore":
		if m.Last {
			return Errorf("option \"--fragmore\" cannot be used together with \"--fraglast\"")
		}
		m.More = true
	case "fraglast":
		if m.More {
			return Errorf("option \"--fraglast\" cannot be used together with \"--fragmore\"")
		}
		m.Last = true
	}
	return nil
}

func (m *fragMatch) Final(*RuleInfo) error { return nil }

func (m *fragMatch) Save(b *Buf) {
	if !m.ID.Full(0xffffffff) {
		b.Opt(m.ID.Inv, "fragid", m.ID.String())
	}
	if m.LenSet {
		b.Opt(m.InvLen, "fraglen", Itoa(m.Len))
	}
	if m.Res {
		b.S(" --fragres")
	}
	if m.First {
		b.S(" --fragfirst")
	}
	if m.More {
		b.S(" --fragmore")
	}
	if m.Last {
		b.S(" --fraglast")
	}
}

func (m *fragMatch) Print(b *Buf, _ bool) {
	b.S(" frag ")
	if m.ID.Lo != 0 || m.ID.Hi != 0xffffffff || m.ID.Inv {
		inv := ""
		if m.ID.Inv {
			inv = "!"
		}
		if m.ID.Lo == m.ID.Hi {
			b.S("id:").S(inv).U(uint64(m.ID.Lo))
		} else {
			b.S("ids:").S(inv).U(uint64(m.ID.Lo)).S(":").U(uint64(m.ID.Hi))
		}
	}
	if m.LenSet {
		b.S(" length:")
		if m.InvLen {
			b.S("!")
		}
		b.U(uint64(m.Len))
	}
	if m.Res {
		b.S(" reserved")
	}
	if m.First {
		b.S(" first")
	}
	if m.More {
		b.S(" more")
	}
	if m.Last {
		b.S(" last")
	}
}

// Match is ip6t_frag.c's frag_mt6: the first fragment header's
// identification and flags (its length option is not compared by the
// kernel either).
func (m *fragMatch) Match(e *Env) bool {
	off := findExt6(e, 44)
	if off < 0 {
		return false
	}
	fh := hdrAt(e.Pkt, off, 8)
	if fh == nil {
		e.HotDrop = true
		return false
	}
	fo := be16(fh[2:])
	return m.ID.Match(be32(fh[4:])) &&
		!(m.Res && (fh[1] != 0 || fo&6 != 0)) &&
		!(m.First && fo&^7 != 0) &&
		!(m.More && fo&1 == 0) &&
		!(m.Last && fo&1 != 0)
}
