package ext

import "github.com/nfgo/nfgo/nf"

// MASQUERADE (libxt_NAT.c, xt_MASQUERADE.c); shares natTarget with SNAT.
func init() {
	for _, fam := range []nf.Family{nf.IPv4, nf.IPv6} {
		fam := fam
		Register(&Def{
			Name: "MASQUERADE", Kind: TargetKind, Family: fam,
			Options: []Option{
				{Name: "to-ports", Arg: NeedArg},
				{Name: "random", Arg: NoArg},
				{Name: "random-fully", Arg: NoArg},
			},
			New:    func() Ext { return &natTarget{Kind: t2Masquerade, Family: fam} },
			Tables: []string{"nat"},
			Hooks:  nf.Hooks(nf.PostRouting),
		})
	}
}
