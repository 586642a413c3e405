package ext

import "github.com/nfgo/nfgo/nf"

// SYNPROXY: -j SYNPROXY [--sack-perm] [--timestamp] [--wscale N] [--mss N]
// [--ecn] (libxt_SYNPROXY.c, ipt_SYNPROXY.c, ip6t_SYNPROXY.c): INPUT or
// FORWARD, -p tcp. The kernel structure holds wscale in 8 bits and mss in
// 16 bits; larger values are truncated as iptables does.
type synproxyTarget struct {
	Options uint8 // XT_SYNPROXY_OPT_* bits
	WScale  uint8
	MSS     uint16
}

// XT_SYNPROXY_OPT_* bits.
const (
	t2SynMSS       = 0x01
	t2SynWScale    = 0x02
	t2SynSackPerm  = 0x04
	t2SynTimestamp = 0x08
	t2SynECN       = 0x10
)

func init() {
	for _, fam := range []nf.Family{nf.IPv4, nf.IPv6} {
		Register(&Def{
			Name: "SYNPROXY", Kind: TargetKind, Family: fam,
			Options: []Option{
				{Name: "sack-perm", Arg: NoArg},
				{Name: "timestamp", Arg: NoArg},
				{Name: "wscale", Arg: NeedArg},
				{Name: "mss", Arg: NeedArg},
				{Name: "ecn", Arg: NoArg},
			},
			New:   func() Ext { return &synproxyTarget{} },
			Hooks: nf.Hooks(nf.LocalIn, nf.Forward),
			Proto: nf.ProtoTCP,
		})
	}
}

func (t *synproxyTarget) Parse(u *Use) error {
	switch u.Opt.Name {
	case "sack-perm":
		t.Options |= t2SynSackPerm
	case "timestamp":
		t.Options |= t2SynTimestamp
	case "ecn":
		t.Options |= t2SynECN
	case "wscale", "mss":
		v, err := t2ParseUintErr(u.Opt.Name, u.Arg, 0, 0xffffffff)
		if err != nil {
			return err
		}
		if u.Opt.Name == "wscale" {
			t.Options |= t2SynWScale
			t.WScale = uint8(v)
		} else {
			t.Options |= t2SynMSS
			t.MSS = uint16(v)
		}
	}
	return nil
}

func (t *synproxyTarget) Final(*RuleInfo) error { return nil }

func (t *synproxyTarget) Save(b *Buf) {
	if t.Options&t2SynSackPerm != 0 {
		b.S(" --sack-perm")
	}
	if t.Options&t2SynTimestamp != 0 {
		b.S(" --timestamp")
	}
	if t.Options&t2SynWScale != 0 {
		b.S(" --wscale ").S(Itoa(t.WScale))
	}
	if t.Options&t2SynMSS != 0 {
		b.S(" --mss ").S(Itoa(t.MSS))
	}
	if t.Options&t2SynECN != 0 {
		b.S(" --ecn")
	}
}

func (t *synproxyTarget) Print(b *Buf, _ bool) {
	b.S(" SYNPROXY ")
	if t.Options&t2SynSackPerm != 0 {
		b.S("sack-perm ")
	}
	if t.Options&t2SynTimestamp != 0 {
		b.S("timestamp ")
	}
	if t.Options&t2SynWScale != 0 {
		b.S("wscale ").S(Itoa(t.WScale)).S(" ")
	}
	if t.Options&t2SynMSS != 0 {
		b.S("mss ").S(Itoa(t.MSS)).S(" ")
	}
	if t.Options&t2SynECN != 0 {
		b.S("ecn ")
	}
}
