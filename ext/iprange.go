package ext

import (
	"net/netip"
	"strings"
)

// iprange: -m iprange --src-range/--dst-range FROM[-TO] (libxt_iprange
// revision 1, xt_iprange.c), for IPv4 and IPv6.
type iprangeMatch struct {
	Src, Dst m1AddrRange
}

// m1AddrRange is an inclusive address range with inversion.
type m1AddrRange struct {
	Min, Max netip.Addr
	Inv      bool
	Set      bool
}

func init() {
	Register(&Def{
		Name: "iprange", Kind: MatchKind,
		Options: []Option{
			{Name: "src-range", Arg: NeedArg, Invert: true},
			{Name: "dst-range", Arg: NeedArg, Invert: true},
		},
		New: func() Ext { return &iprangeMatch{} },
	})
}

func (m *iprangeMatch) Parse(u *Use) error {
	from, to, found := strings.Cut(u.Arg, "-")
	if !found {
		to = from
	}
	var r m1AddrRange
	var ok bool
	if r.Min, ok = m1ParseAddr(u.Rule.Family, from); !ok {
		return Errorf("bad value for \"--%s\" option: \"%s\" is not a numeric %s address", u.Opt.Name, from, u.Rule.Family)
	}
	if r.Max, ok = m1ParseAddr(u.Rule.Family, to); !ok {
		return Errorf("bad value for \"--%s\" option: \"%s\" is not a numeric %s address", u.Opt.Name, to, u.Rule.Family)
	}
	r.Inv, r.Set = u.Invert, true
	if u.Opt.Name == "src-range" {
		m.Src = r
	} else {
		m.Dst = r
	}
	return nil
}

func (m *iprangeMatch) Final(*RuleInfo) error {
	if !m.Src.Set && !m.Dst.Set {
		return Errorf("iprange match: You must specify `--src-range' or `--dst-range'")
	}
	return nil
}

func (m *iprangeMatch) Save(b *Buf) {
	if m.Src.Set {
		b.Opt(m.Src.Inv, "src-range", m.Src.Min.String()+"-"+m.Src.Max.String())
	}
	if m.Dst.Set {
		b.Opt(m.Dst.Inv, "dst-range", m.Dst.Min.String()+"-"+m.Dst.Max.String())
	}
}

func (m *iprangeMatch) Print(b *Buf, _ bool) {
	if m.Src.Set {
		b.S(" source IP range").Not(m.Src.Inv).S(" ").S(m.Src.Min.String()).S("-").S(m.Src.Max.String())
	}
	if m.Dst.Set {
		b.S(" destination IP range").Not(m.Dst.Inv).S(" ").S(m.Dst.Min.String()).S("-").S(m.Dst.Max.String())
	}
}

// Match reports whether a lies in the range, honouring inversion.
func (r *m1AddrRange) Match(a netip.Addr) bool {
	if !r.Set {
		return true
	}
	return (a.Compare(r.Min) >= 0 && a.Compare(r.Max) <= 0) != r.Inv
}

// Match is xt_iprange.c's iprange_mt4 / iprange_mt6.
func (m *iprangeMatch) Match(e *Env) bool {
	return m.Src.Match(e.Pkt.Src()) && m.Dst.Match(e.Pkt.Dst())
}
