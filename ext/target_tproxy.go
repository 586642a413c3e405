package ext

import (
	"net/netip"

	"github.com/nfgo/nfgo/nf"
)

// TPROXY: -j TPROXY --on-port PORT [--on-ip ADDR] [--tproxy-mark V[/M]]
// (libxt_TPROXY.c revision 1, xt_TPROXY.c): mangle PREROUTING, -p tcp or udp.
type tproxyTarget struct {
	Family    nf.Family
	Port      uint16
	PortSet   bool
	Addr      netip.Addr // the unspecified address when --on-ip is not given
	MarkValue uint32
	MarkMask  uint32
}

func init() {
	for _, fam := range []nf.Family{nf.IPv4, nf.IPv6} {
		fam := fam
		Register(&Def{
			Name: "TPROXY", Kind: TargetKind, Family: fam,
			Options: []Option{
				{Name: "on-port", Arg: NeedArg},
				{Name: "on-ip", Arg: NeedArg},
				{Name: "tproxy-mark", Arg: NeedArg},
			},
			New: func() Ext {
				t := &tproxyTarget{Family: fam, Addr: netip.IPv4Unspecified()}
				if fam == nf.IPv6 {
					t.Addr = netip.IPv6Unspecified()
				}
				return t
			},
			Tables: []string{"mangle"},
			Hooks:  nf.Hooks(nf.PreRouting),
		})
	}
}

func (t *tproxyTarget) Parse(u *Use) error {
	switch u.Opt.Name {
	case "on-port":
		p, ok := t2ParseServicePort(u.Arg)
		if !ok {
			return Errorf("Port \"%s\" does not resolve to anything: expected a decimal port or a service name", u.Arg)
		}
		t.Port, t.PortSet = p, true
	case "on-ip":
		a, ok := t2ParseAddr(t.Family, u.Arg)
		if !ok {
			return Errorf("bad address %q for --on-ip: expected a numeric %s address", u.Arg, t.Family)
		}
		t.Addr = a
	case "tproxy-mark":
		v, m, _, err := ParseUint32Mask(u.Arg)
		if err != nil {
			return Errorf("bad value %q for --tproxy-mark: expected VALUE[/MASK], 32-bit numbers", u.Arg)
		}
		t.MarkValue, t.MarkMask = v, m
	}
	return nil
}

func (t *tproxyTarget) Final(*RuleInfo) error {
	if !t.PortSet {
		return Errorf("option \"--on-port\" must be specified")
	}
	return nil
}

// Check mirrors tproxy_tg_check: -p tcp or -p udp, not inverted.
func (t *tproxyTarget) Check(c *CheckCtx) error {
	if (c.Rule.Proto != nf.ProtoTCP && c.Rule.Proto != nf.ProtoUDP) || c.Rule.InvProto {
		return Errorf("can be used only with -p tcp or -p udp")
	}
	return nil
}

func (t *tproxyTarget) Save(b *Buf) {
	b.S(" --on-port ").U(uint64(t.Port)).S(" --on-ip ").S(t2AddrString(t.Addr))
	b.S(" --tproxy-mark ").X(uint64(t.MarkValue)).S("/").X(uint64(t.MarkMask))
}

func (t *tproxyTarget) Print(b *Buf, _ bool) {
	b.S(" TPROXY redirect ").S(t2AddrString(t.Addr)).S(":").U(uint64(t.Port))
	b.S(" mark ").X(uint64(t.MarkValue)).S("/").X(uint64(t.MarkMask))
}
