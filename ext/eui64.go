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
