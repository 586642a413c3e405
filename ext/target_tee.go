package ext

import (
	"net/netip"

	"github.com/nfgo/nfgo/nf"
)

// TEE: -j TEE --gateway ADDR [--oif NAME] (libxt_TEE.c, xt_TEE.c): clone
// the packet and route the copy via the gateway.
type teeTarget struct {
	Family  nf.Family
	Gateway netip.Addr
	OIF     string
}

func init() {
	for _, fam := range []nf.Family{nf.IPv4, nf.IPv6} {
		fam := fam
		Register(&Def{
			Name: "TEE", Kind: TargetKind, Family: fam,
			Options: []Option{
				{Name: "gateway", Arg: NeedArg},
				{Name: "oif", Arg: NeedArg},
			},
			New: func() Ext { return &teeTarget{Family: fam} },
		})
	}
}

func (t *teeTarget) Parse(u *Use) error {
	switch u.Opt.Name {
	case "gateway":
		a, ok := t2ParseAddr(t.Family, u.Arg)
		if !ok {
			return Errorf("bad gateway %q: expected a numeric %s address", u.Arg, t.Family)
		}
		t.Gateway = a
	case "oif":
		if len(u.Arg) > 15 {
			return Errorf("option \"--oif\" is too long: at most 15 characters")
		}
		t.OIF = u.Arg
	}
	return nil
}

func (t *teeTarget) Final(*RuleInfo) error {
	if !t.Gateway.IsValid() {
		return Errorf("option \"--gateway\" must be specified")
	}
	return nil
}

// Check mirrors tee_tg_check: the gateway may not be 0.0.0.0 or ::.
func (t *teeTarget) Check(*CheckCtx) error {
	if t.Gateway.IsUnspecified() {
		return Errorf("the gateway may not be the unspecified address %s", t2AddrString(t.Gateway))
	}
	return nil
}

func (t *teeTarget) Save(b *Buf) {
	b.S(" --gateway ").S(t2AddrString(t.Gateway))
	if t.OIF != "" {
		b.S(" --oif ").S(t.OIF)
	}
}

func (t *teeTarget) Print(b *Buf, _ bool) {
	b.S(" TEE gw:").S(t2AddrString(t.Gateway))
	if t.OIF != "" {
		b.S(" oif=").S(t.OIF)
	}
}
