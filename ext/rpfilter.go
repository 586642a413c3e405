package ext

import "github.com/nfgo/nfgo/nf"

// rpfilter: -m rpfilter (libxt_rpfilter, ipt_rpfilter.c/ip6t_rpfilter.c):
// reverse path filter. Only in the raw and mangle PREROUTING chains.
type rpfilterMatch struct {
	Loose       bool // --loose: any route back will do, not just via the input device
	ValidMark   bool // --validmark: use the packet mark in the lookup
	AcceptLocal bool // --accept-local: accept packets from local addresses
	Invert      bool // --invert: match packets that fail the check
}

func init() {
	for _, fam := range []nf.Family{nf.IPv4, nf.IPv6} {
		Register(&Def{
			Name: "rpfilter", Kind: MatchKind, Family: fam,
			Options: []Option{
				{Name: "loose", Arg: NoArg},
				{Name: "validmark", Arg: NoArg},
				{Name: "accept-local", Arg: NoArg},
				{Name: "invert", Arg: NoArg},
			},
			Tables: []string{"raw", "mangle"},
			Hooks:  nf.PreRouting.Mask(),
			New:    func() Ext { return &rpfilterMatch{} },
		})
	}
}

func (m *rpfilterMatch) Parse(u *Use) error {
	switch u.Opt.Name {
	case "loose":
		m.Loose = true
	case "validmark":
		m.ValidMark = true
	case "accept-local":
		m.AcceptLocal = true
	case "invert":
		m.Invert = true
	}
	return nil
}

func (m *rpfilterMatch) Final(*RuleInfo) error { return nil }

func (m *rpfilterMatch) out(b *Buf, prefix string) {
	for _, f := range []struct {
		on   bool
		name string
	}{{m.Loose, "loose"}, {m.ValidMark, "validmark"}, {m.AcceptLocal, "accept-local"}, {m.Invert, "invert"}} {
		if f.on {
			b.S(" ").S(prefix).S(f.name)
		}
	}
}

func (m *rpfilterMatch) Save(b *Buf) { m.out(b, "--") }

func (m *rpfilterMatch) Print(b *Buf, _ bool) {
	b.S(" rpfilter")
	m.out(b, "")
}
