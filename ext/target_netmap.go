package ext

import (
	"net/netip"

	"github.com/nfgo/nfgo/nf"
)

// NETMAP: -j NETMAP --to ADDR[/MASK] (libipt_NETMAP.c, libip6t_NETMAP.c,
// xt_NETMAP.c). The network is stored as the range MinAddr..MaxAddr.
type netmapTarget struct {
	Family           nf.Family
	MinAddr, MaxAddr netip.Addr
	Set              bool
}

func init() {
	for _, fam := range []nf.Family{nf.IPv4, nf.IPv6} {
		fam := fam
		Register(&Def{
			Name: "NETMAP", Kind: TargetKind, Family: fam,
			Options: []Option{{Name: "to", Arg: NeedArg}},
			New:     func() Ext { return &netmapTarget{Family: fam} },
			Tables:  []string{"nat"},
			Hooks:   nf.Hooks(nf.PreRouting, nf.PostRouting, nf.LocalOut, nf.LocalIn),
		})
	}
}

func (t *netmapTarget) Parse(u *Use) error {
	a, m, _, err := t2ParseHostMask(t.Family, "to", u.Arg)
	if err != nil {
		return err
	}
	t.MinAddr = t2And(a, m)
	t.MaxAddr = t2Or(t.MinAddr, t2Not(m))
	t.Set = true
	return nil
}

func (t *netmapTarget) Final(*RuleInfo) error {
	if !t.Set {
		return Errorf("option \"--to\" must be specified")
	}
	return nil
}

func (t *netmapTarget) text() string {
	m := t2Not(t2Xor(t.MinAddr, t.MaxAddr))
	if bits := t2MaskBits(m); bits >= 0 {
		return t2AddrString(t.MinAddr) + "/" + Itoa(bits)
	}
	return t2AddrString(t.MinAddr) + "/" + t2AddrString(m)
}

func (t *netmapTarget) Save(b *Buf) { b.S(" --to ").S(t.text()) }

func (t *netmapTarget) Print(b *Buf, _ bool) { b.S(" to:").S(t.text()) }

// NATRange returns the network as the kernel's range (min and max address
// of the network, flags NF_NAT_RANGE_MAP_IPS, as libipt_NETMAP sets them).
func (t *netmapTarget) NATRange() NATRange {
	return NATRange{Flags: t2NATMapIPs, MinAddr: t.MinAddr, MaxAddr: t.MaxAddr}
}

// NATKind names the target.
func (t *netmapTarget) NATKind() string { return "NETMAP" }
