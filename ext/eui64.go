package ext

import "github.com/nfgo/nfgo/nf"

// eui64: -m eui64 (libip6t_eui64, ip6t_eui64.c): the source address's
// interface identifier is the EUI-64 of the source MAC. No options; the
// kernel allows it in PREROUTING, INPUT and FORWARD only.
type eui64Match struct{}

func init() {
	Register(&Def{
		Name: "eui64", Kind: MatchKind, Family: nf.IPv6,
		Hooks: nf.Hooks(nf.PreRouting, nf.LocalIn, nf.Forward),
		New:   func() Ext { return &eui64Match{} },
	})
}

func (m *eui64Match) Parse(*Use) error      { return nil }
func (m *eui64Match) Final(*RuleInfo) error { return nil }
func (m *eui64Match) Save(*Buf)             {}
func (m *eui64Match) Print(*Buf, bool)      {}

// Match is ip6t_eui64.c: the low 64 bits of the source address must be
// the EUI-64 built from the frame's source MAC address.
func (m *eui64Match) Match(e *Env) bool {
	p := e.Pkt
	h := p.MAC
	if len(h) < 14 || len(p.Data) < 40 {
		return false
	}
	if h[12] != 0x86 || h[13] != 0xdd || p.Data[0]>>4 != 6 {
		return false
	}
	s := p.Data[8+8 : 8+16]
	return s[0] == h[6]^0x02 && s[1] == h[7] && s[2] == h[8] && s[3] == 0xff &&
		s[4] == 0xfe && s[5] == h[9] && s[6] == h[10] && s[7] == h[11]
}
