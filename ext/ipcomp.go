package ext

// ipcomp: -m ipcomp --ipcompspi SPI[:SPI] --compres (libxt_ipcomp,
// xt_ipcomp.c); needs -p ipcomp. Without --ipcompspi the range is 0:0, as
// iptables leaves it.
type ipcompMatch struct {
	SPI m1Range32
	Res bool
}

const m1ProtoIPComp = 108

func init() {
	Register(&Def{
		Name: "ipcomp", Kind: MatchKind, Proto: m1ProtoIPComp,
		Options: []Option{
			{Name: "ipcompspi", Arg: NeedArg, Invert: true},
			{Name: "compres", Arg: NoArg},
		},
		New: func() Ext { return &ipcompMatch{} },
	})
}

func (m *ipcompMatch) Parse(u *Use) error {
	if u.Opt.Name == "compres" {
		m.Res = true
		return nil
	}
	r, err := m1ParseSPIRange(u)
	if err != nil {
		return err
	}
	m.SPI = r
	return nil
}

func (m *ipcompMatch) Final(*RuleInfo) error { return nil }

func (m *ipcompMatch) Save(b *Buf) {
	if !m.SPI.Full(0xffffffff) {
		b.Opt(m.SPI.Inv, "ipcompspi", m.SPI.String())
	}
	if m.Res {
		b.S(" --compres")
	}
}

func (m *ipcompMatch) Print(b *Buf, _ bool) {
	b.S(" comp ")
	if m.SPI.Lo != 0 || m.SPI.Hi != 0xffffffff || m.SPI.Inv {
		inv := ""
		if m.SPI.Inv {
			inv = "!"
		}
		if m.SPI.Lo == m.SPI.Hi {
			b.S("spi:").S(inv).U(uint64(m.SPI.Lo))
		} else {
			b.S("spis:").S(inv).U(uint64(m.SPI.Lo)).S(":").U(uint64(m.SPI.Hi))
		}
	}
	if m.Res {
		b.S(" reserved")
	}
}
