package ext

import "github.com/nfgo/nfgo/nf"

// ah: -m ah --ahspi SPI[:SPI] (IPv4: libipt_ah, ipt_ah.c, needs -p ah;
// IPv6: libip6t_ah, ip6t_ah.c, an extension header with --ahlen, --ahres).
type ahMatch struct {
	V6     bool
	SPI    m1Range32 // 0:0xffffffff when not given
	Len    uint32    // IPv6 header length
	InvLen bool
	Res    bool // IPv6 --ahres: reserved field must be zero
}

func init() {
	Register(&Def{
		Name: "ah", Kind: MatchKind, Family: nf.IPv4, Proto: nf.ProtoAH,
		Options: []Option{{Name: "ahspi", Arg: NeedArg, Invert: true}},
		New:     func() Ext { return &ahMatch{SPI: m1Range32{Hi: 0xffffffff}} },
	})
	Register(&Def{
		Name: "ah", Kind: MatchKind, Family: nf.IPv6,
		Options: []Option{
			{Name: "ahspi", Arg: NeedArg, Invert: true},
			{Name: "ahlen", Arg: NeedArg, Invert: true},
			{Name: "ahres", Arg: NoArg},
		},
		New: func() Ext { return &ahMatch{V6: true, SPI: m1Range32{Hi: 0xffffffff}} },
	})
}

func (m *ahMatch) Parse(u *Use) error {
	switch u.Opt.Name {
	case "ahspi":
		r, err := m1ParseSPIRange(u)
		if err != nil {
			return err
		}
		m.SPI = r
	case "ahlen":
		v, ok := ParseUint(u.Arg, 0, 0xffffffff)
		if !ok {
			return Errorf("bad value `%s' for option \"--ahlen\": expected a number 0-4294967295", u.Arg)
		}
		m.Len, m.InvLen = uint32(v), u.Invert
	case "ahres":
		m.Res = true
	}
	return nil
}

func (m *ahMatch) Final(*RuleInfo) error { return nil }

func (m *ahMatch) Save(b *Buf) {
	// iptables 1.8.9 drops a "!" on the full range.
	if !m.SPI.Full(0xffffffff) {
		b.Opt(m.SPI.Inv, "ahspi", m.SPI.String())
	}
	if m.Len != 0 || m.InvLen {
		b.Opt(m.InvLen, "ahlen", Itoa(m.Len))
	}
	if m.Res {
		b.S(" --ahres")
	}
}

func (m *ahMatch) Print(b *Buf, _ bool) {
	b.S(" ah ")
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
	if !m.V6 {
		return
	}
	if m.Len != 0 || m.InvLen {
		b.S("length:")
		if m.InvLen {
			b.S("!")
		}
		b.U(uint64(m.Len))
	}
	if m.Res {
		b.S(" reserved")
	}
}

// Match is ipt_ah.c's ah_mt (the SPI of the AH header at the transport
// offset) or ip6t_ah.c's ah_mt6 (the first AH extension header's SPI,
// length and reserved field).
func (m *ahMatch) Match(e *Env) bool {
	p := e.Pkt
	if !m.V6 {
		if fragOff(p) {
			return false
		}
		ah := hdrAt(p, thoff(p), 12)
		if ah == nil {
			e.HotDrop = true
			return false
		}
		return m.SPI.Match(be32(ah[4:]))
	}
	off := findExt6(e, 51)
	if off < 0 {
		return false
	}
	ah := hdrAt(p, off, 12)
	if ah == nil {
		e.HotDrop = true
		return false
	}
	hdrlen := (uint32(ah[1]) + 2) * 4
	if uint32(len(p.Data)-off) < hdrlen {
		e.HotDrop = true
		return false
	}
	return m.SPI.Match(be32(ah[4:])) &&
		(m.Len == 0 || (hdrlen == m.Len) != m.InvLen) &&
		!(m.Res && be16(ah[2:]) != 0)
}
