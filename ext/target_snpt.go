package ext

import (
	"net/netip"

	"github.com/nfgo/nfgo/nf"
)

// SNPT: source IPv6 network prefix translation; see target_dnpt.go.
func init() {
	Register(&Def{
		Name: "SNPT", Kind: TargetKind, Family: nf.IPv6,
		Options: []Option{
			{Name: "src-pfx", Arg: NeedArg},
			{Name: "dst-pfx", Arg: NeedArg},
		},
		New: func() Ext {
			return &nptTarget{Name: "SNPT", SrcPfx: netip.IPv6Unspecified(), DstPfx: netip.IPv6Unspecified()}
		},
		Tables: []string{"mangle"},
		Hooks:  nf.Hooks(nf.LocalIn, nf.PostRouting),
	})
}
