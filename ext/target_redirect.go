package ext

import "github.com/nfgo/nfgo/nf"

// REDIRECT (libxt_NAT.c, xt_REDIRECT.c); shares natTarget with SNAT.
func init() {
	for _, fam := range []nf.Family{nf.IPv4, nf.IPv6} {
		fam := fam
		Register(&Def{
			Name: "REDIRECT", Kind: TargetKind, Family: fam,
			Options: []Option{
				{Name: "to-ports", Arg: NeedArg},
				{Name: "random", Arg: NoArg},
			},
			New:    func() Ext { return &natTarget{Kind: t2Redirect, Family: fam} },
			Tables: []string{"nat"},
			Hooks:  nf.Hooks(nf.PreRouting, nf.LocalOut),
		})
	}
}
