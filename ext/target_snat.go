package ext

import (
	"net/netip"

	"github.com/nfgo/nfgo/nf"
)

// SNAT, DNAT, MASQUERADE and REDIRECT share one implementation (libxt_NAT.c,
// xt_nat.c, xt_MASQUERADE.c, xt_REDIRECT.c); each registers in its own file.

type t2NATKind uint8

const (
	t2SNAT t2NATKind = iota
	t2DNAT
	t2Masquerade
	t2Redirect
)

// natTarget is one SNAT, DNAT, MASQUERADE or REDIRECT target.
type natTarget struct {
	Kind   t2NATKind
	Family nf.Family
	Range  t2NATRange
	HasTo  bool // --to-source / --to-destination / --to-ports given
}

func (t *natTarget) Parse(u *Use) error {
	if t.Range.flagOpt(u.Opt.Name) {
		return nil
	}
	portOK := t2NATPortOK(u.Rule)
	switch u.Opt.Name {
	case "to-source", "to-destination":
		t.HasTo = true
		return t.Range.parseTo(u.Arg, portOK, t.Family)
	case "to-ports":
		t.HasTo = true
		return t.Range.parsePorts(u.Arg, portOK)
	}
	return nil
}

func (t *natTarget) Final(*RuleInfo) error {
	switch t.Kind {
	case t2SNAT:
		if !t.HasTo {
			return Errorf("option \"--to-source\" must be specified")
		}
	case t2DNAT:
		if !t.HasTo {
			return Errorf("option \"--to-destination\" must be specified")
		}
	case t2Redirect:
		if t.Range.Flags&t2NATProtoOffset != 0 {
			return Errorf("Shifted portmap ranges not supported with this kernel")
		}
	}
	return nil
}

// keepBase: only DNAT (revision 2, struct nf_nat_range2) stores the base port.
func (t *natTarget) keepBase() bool { return t.Kind == t2DNAT }

func (t *natTarget) opts() (rangeSave, rangePrint string, skipColon bool) {
	switch t.Kind {
	case t2SNAT:
		return "--to-source ", "to:", false
	case t2DNAT:
		return "--to-destination ", "to:", false
	case t2Masquerade:
		return "--to-ports ", "masq ports: ", true
	}
	return "--to-ports ", "redir ports ", true
}

func (t *natTarget) Save(b *Buf) {
	s, _, skip := t.opts()
	t.Range.out(b, t.Family, t.keepBase(), s, "--", skip)
}

func (t *natTarget) Print(b *Buf, _ bool) {
	_, p, skip := t.opts()
	t.Range.out(b, t.Family, t.keepBase(), p, "", skip)
}

func init() {
	for _, fam := range []nf.Family{nf.IPv4, nf.IPv6} {
		fam := fam
		Register(&Def{
			Name: "SNAT", Kind: TargetKind, Family: fam,
			Options: []Option{
				{Name: "to-source", Arg: NeedArg},
				{Name: "random", Arg: NoArg},
				{Name: "random-fully", Arg: NoArg},
				{Name: "persistent", Arg: NoArg},
			},
			New:    func() Ext { return &natTarget{Kind: t2SNAT, Family: fam} },
			Tables: []string{"nat"},
			Hooks:  nf.Hooks(nf.PostRouting, nf.LocalIn),
		})
	}
}

// NATRange is a NAT target's struct nf_nat_range2 as the kernel receives
// it, for the nat package (flags NF_NAT_RANGE_*; addresses and the port or
// ICMP id range; BasePort is zero except for DNAT, whose revision 2
// structure is the only one that carries it).
type NATRange struct {
	Flags            uint32
	MinAddr, MaxAddr netip.Addr
	MinPort, MaxPort uint16
	BasePort         uint16
}

// NATRange returns the range the target hands to the kernel.
func (t *natTarget) NATRange() NATRange {
	r := NATRange{Flags: t.Range.Flags, MinAddr: t.Range.MinAddr, MaxAddr: t.Range.MaxAddr,
		MinPort: t.Range.MinPort, MaxPort: t.Range.MaxPort}
	if t.keepBase() {
		r.BasePort = t.Range.BasePort
	}
	return r
}

// NATKind names the target: "SNAT", "DNAT", "MASQUERADE" or "REDIRECT".
func (t *natTarget) NATKind() string {
	switch t.Kind {
	case t2SNAT:
		return "SNAT"
	case t2DNAT:
		return "DNAT"
	case t2Masquerade:
		return "MASQUERADE"
	}
	return "REDIRECT"
}
