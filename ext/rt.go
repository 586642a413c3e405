package ext

import (
	"net/netip"
	"strings"

	"github.com/nfgo/nfgo/nf"
)

// rt: -m rt (libip6t_rt, ip6t_rt.c): the IPv6 routing header.
type rtMatch struct {
	Type      uint32
	TypeSet   bool
	InvType   bool
	SegsLeft  m1Range32 // 0:0xffffffff when not given
	Len       uint32
	LenSet    bool
	InvLen    bool
	Res       bool         // --rt-0-res
	Addrs     []netip.Addr // --rt-0-addrs, at most 16
	AddrsSet  bool
	NotStrict bool // --rt-0-not-strict
}

const m1RTHops = 16 // IP6T_RT_HOPS

func init() {
	Register(&Def{
		Name: "rt", Kind: MatchKind, Family: nf.IPv6,
		Options: []Option{
			{Name: "rt-type", Arg: NeedArg, Invert: true},
			{Name: "rt-segsleft", Arg: NeedArg, Invert: true},
			{Name: "rt-len", Arg: NeedArg, Invert: true},
			{Name: "rt-0-res", Arg: NoArg},
			{Name: "rt-0-addrs", Arg: NeedArg},
			{Name: "rt-0-not-strict", Arg: NoArg},
		},
		New: func() Ext { return &rtMatch{SegsLeft: m1Range32{Hi: 0xffffffff}} },
	})
}

func (m *rtMatch) type0() bool { return m.TypeSet && m.Type == 0 && !m.InvType }

func (m *rtMatch) Parse(u *Use) error {
	u32 := func() (uint32, error) {
		v, ok := ParseUint(u.Arg, 0, 0xffffffff)
		if !ok {
			return 0, Errorf("bad value `%s' for option \"--%s\": expected a number 0-4294967295", u.Arg, u.Opt.Name)
		}
		return uint32(v), nil
	}
	var err error
	switch u.Opt.Name {
	case "rt-type":
		m.Type, err = u32()
		m.TypeSet, m.InvType = true, u.Invert
	case "rt-segsleft":
		m.SegsLeft, err = m1ParseSPIRange(u)
	case "rt-len":
		m.Len, err = u32()
		m.LenSet, m.InvLen = true, u.Invert
	case "rt-0-res":
		if !m.type0() {
			return Errorf("`--rt-type 0' required before `--rt-0-res'")
		}
		m.Res = true
	case "rt-0-addrs":
		if !m.type0() {
			return Errorf("`--rt-type 0' required before `--rt-0-addrs'")
		}
		parts := strings.Split(u.Arg, ",")
		if len(parts) > m1RTHops {
			return Errorf("too many addresses specified (at most %d)", m1RTHops)
		}
		var addrs []netip.Addr
		for _, p := range parts {
			a, ok := m1ParseIPv6Numeric(p)
			if !ok {
				return Errorf("bad address: %s: expected a numeric IPv6 address", p)
			}
			addrs = append(addrs, a)
		}
		m.Addrs, m.AddrsSet = addrs, true
	case "rt-0-not-strict":
		if !m.AddrsSet {
			return Errorf("`--rt-0-addrs ...' required before `--rt-0-not-strict'")
		}
		m.NotStrict = true
	}
	return err
}

func (m *rtMatch) Final(*RuleInfo) error { return nil }

func (m *rtMatch) addrs(b *Buf) {
	for i, a := range m.Addrs {
		if i == 0 {
			b.S(" ")
		} else {
			b.S(",")
		}
		b.S(a.String())
	}
}

func (m *rtMatch) Save(b *Buf) {
	if m.TypeSet {
		b.Opt(m.InvType, "rt-type", Itoa(m.Type))
	}
	if !m.SegsLeft.Full(0xffffffff) {
		b.Opt(m.SegsLeft.Inv, "rt-segsleft", m.SegsLeft.String())
	}
	if m.LenSet {
		b.Opt(m.InvLen, "rt-len", Itoa(m.Len))
	}
	if m.Res {
		b.S(" --rt-0-res")
	}
	if m.AddrsSet {
		b.S(" --rt-0-addrs")
	}
	m.addrs(b)
	if m.NotStrict {
		b.S(" --rt-0-not-strict")
	}
}

func (m *rtMatch) Print(b *Buf, _ bool) {
	b.S(" rt")
	if m.TypeSet {
		b.S(" type:")
		if m.InvType {
			b.S("!")
		}
		b.U(uint64(m.Type))
	}
	m1PrintRange32(b, "segsleft", m.SegsLeft.Lo, m.SegsLeft.Hi, 0xffffffff, m.SegsLeft.Inv)
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
	if m.AddrsSet {
		b.S(" 0-addrs")
	}
	m.addrs(b)
	if m.NotStrict {
		b.S(" 0-not-strict")
	}
}

// Match is ip6t_rt.c's rt_mt6 on the first routing header.
func (m *rtMatch) Match(e *Env) bool {
	p := e.Pkt
	off := findExt6(e, 43)
	if off < 0 {
		return false
	}
	rh := hdrAt(p, off, 4)
	if rh == nil {
		e.HotDrop = true
		return false
	}
	hdrlen := (int(rh[1]) + 1) * 8
	if len(p.Data)-off < hdrlen {
		e.HotDrop = true
		return false
	}
	ret := m.SegsLeft.Match(uint32(rh[3])) &&
		(!m.LenSet || (uint32(hdrlen) == m.Len) != m.InvLen) &&
		(!m.TypeSet || (m.Type == uint32(rh[2])) != m.InvType)
	if ret && m.Res {
		r := hdrAt(p, off+4, 4)
		if r == nil {
			e.HotDrop = true
			return false
		}
		ret = be32(r) == 0
	}
	if !m.AddrsSet {
		return ret
	}
	nAddr := (hdrlen - 8) / 16
	if len(m.Addrs) > nAddr {
		return false
	}
	if m.NotStrict {
		// The addresses must appear in order, others may come between.
		i := 0
		for t := 0; t < nAddr && i < len(m.Addrs); t++ {
			a := hdrAt(p, off+8+t*16, 16)
			if a == nil {
				e.HotDrop = true
				return false
			}
			if netip.AddrFrom16([16]byte(a)) == m.Addrs[i] {
				i++
			}
		}
		return i == len(m.Addrs) && ret
	}
	t := 0
	for ; t < len(m.Addrs); t++ {
		a := hdrAt(p, off+8+t*16, 16)
		if a == nil {
			e.HotDrop = true
			return false
		}
		if netip.AddrFrom16([16]byte(a)) != m.Addrs[t] {
			break
		}
	}
	return t == len(m.Addrs) && t == nAddr && ret
}
