package ext

import "github.com/nfgo/nfgo/nf"

// DNAT (libxt_NAT.c revision 2, xt_nat.c); shares natTarget with SNAT.
func init() {
	for _, fam := range []nf.Family{nf.IPv4, nf.IPv6} {
		fam := fam
		Register(&Def{
			Name: "DNAT", Kind: TargetKind, Family: fam,
			Options: []Option{
				{Name: "to-destination", Arg: NeedArg},
				{Name: "random", Arg: NoArg},
				{Name: "persistent", Arg: NoArg},
			},
			New:    func() Ext { return &natTarget{Kind: t2DNAT, Family: fam} },
			Tables: []string{"nat"},
			Hooks:  nf.Hooks(nf.PreRouting, nf.LocalOut),
		})
	}
}
