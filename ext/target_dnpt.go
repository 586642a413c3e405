package ext

import (
	"net/netip"

	"github.com/nfgo/nfgo/nf"
)

// DNPT and SNPT: -j DNPT|SNPT --src-pfx P/LEN --dst-pfx P/LEN (IPv6 network
// prefix translation, libip6t_DNPT.c, libip6t_SNPT.c, ip6t_NPT.c). SNPT
// registers in target_snpt.go with the same implementation.
type nptTarget struct {
	Name           string
	SrcPfx, DstPfx netip.Addr
	SrcLen, DstLen int
	SrcSet, DstSet bool
}

func init() {
	Register(&Def{
		Name: "DNPT", Kind: TargetKind, Family: nf.IPv6,
		Options: []Option{
			{Name: "src-pfx", Arg: NeedArg},
			{Name: "dst-pfx", Arg: NeedArg},
		},
		New: func() Ext {
			return &nptTarget{Name: "DNPT", SrcPfx: netip.IPv6Unspecified(), DstPfx: netip.IPv6Unspecified()}
		},
		Tables: []string{"mangle"},
		Hooks:  nf.Hooks(nf.PreRouting, nf.LocalOut),
	})
}

func (t *nptTarget) Parse(u *Use) error {
	a, _, n, err := t2ParseHostMask(nf.IPv6, u.Opt.Name, u.Arg)
	if err != nil {
		return err
	}
	if u.Opt.Name == "src-pfx" {
		t.SrcPfx, t.SrcLen, t.SrcSet = a, n, true
	} else {
		t.DstPfx, t.DstLen, t.DstSet = a, n, true
	}
	return nil
}

func (t *nptTarget) Final(*RuleInfo) error {
	if !t.SrcSet {
		return Errorf("option \"--src-pfx\" must be specified")
	}
	if !t.DstSet {
		return Errorf("option \"--dst-pfx\" must be specified")
	}
	return nil
}

// Check mirrors ip6t_npt_checkentry: prefixes of at most 64 bits with no
// bits set past the prefix length.
func (t *nptTarget) Check(*CheckCtx) error {
	for _, p := range []struct {
		opt string
		a   netip.Addr
		n   int
	}{{"src-pfx", t.SrcPfx, t.SrcLen}, {"dst-pfx", t.DstPfx, t.DstLen}} {
		if p.n > 64 {
			return Errorf("--%s prefix length %d too long: at most 64", p.opt, p.n)
		}
		if t2And(p.a, t2PrefixMask(nf.IPv6, p.n)) != p.a {
			return Errorf("--%s %s/%d has bits set past the prefix length", p.opt, t2AddrString(p.a), p.n)
		}
	}
	return nil
}

func (t *nptTarget) Save(b *Buf) {
	if !t.SrcPfx.IsUnspecified() || t.SrcLen != 0 {
		b.S(" --src-pfx ").S(t2AddrString(t.SrcPfx)).S("/").S(Itoa(t.SrcLen))
	}
	if !t.DstPfx.IsUnspecified() || t.DstLen != 0 {
		b.S(" --dst-pfx ").S(t2AddrString(t.DstPfx)).S("/").S(Itoa(t.DstLen))
	}
}

func (t *nptTarget) Print(b *Buf, _ bool) {
	b.S(" ").S(t.Name).S(" src-pfx ").S(t2AddrString(t.SrcPfx)).S("/").S(Itoa(t.SrcLen))
	b.S(" dst-pfx ").S(t2AddrString(t.DstPfx)).S("/").S(Itoa(t.DstLen))
}
