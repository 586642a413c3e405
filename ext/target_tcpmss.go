package ext

import "github.com/nfgo/nfgo/nf"

// TCPMSS: -j TCPMSS --set-mss N | --clamp-mss-to-pmtu (libxt_TCPMSS.c,
// xt_TCPMSS.c). With the nf_tables backend the kernel does not demand a
// SYN-flag match (nft_compat skips that part of checkentry); it does demand
// -p tcp and, for clamping, the FORWARD, OUTPUT or POSTROUTING hook.
type tcpmssTarget struct {
	Family nf.Family
	MSS    uint16 // 0xffff means clamp to path MTU
	Given  bool
}

// t2TCPMSSClamp is XT_TCPMSS_CLAMP_PMTU.
const t2TCPMSSClamp = 0xffff

func init() {
	for _, fam := range []nf.Family{nf.IPv4, nf.IPv6} {
		fam := fam
		Register(&Def{
			Name: "TCPMSS", Kind: TargetKind, Family: fam,
			Options: []Option{
				{Name: "set-mss", Arg: NeedArg},
				{Name: "clamp-mss-to-pmtu", Arg: NoArg},
			},
			New:   func() Ext { return &tcpmssTarget{Family: fam} },
			Proto: nf.ProtoTCP,
		})
	}
}

// ClampPMTU reports whether the MSS is clamped to the path MTU.
func (t *tcpmssTarget) ClampPMTU() bool { return t.MSS == t2TCPMSSClamp }

func (t *tcpmssTarget) Parse(u *Use) error {
	t.Given = true
	if u.Opt.Name == "clamp-mss-to-pmtu" {
		t.MSS = t2TCPMSSClamp
		return nil
	}
	max := uint64(0xffff - 20)
	if t.Family == nf.IPv6 {
		max = 0xffff - 40
	}
	v, ok := ParseUint(u.Arg, 0, max)
	if !ok {
		return Errorf("bad value for option \"--set-mss\", or out of range (0-%d)", max)
	}
	t.MSS = uint16(v)
	return nil
}

func (t *tcpmssTarget) Final(*RuleInfo) error {
	if !t.Given {
		return Errorf("TCPMSS target: At least one parameter is required: --set-mss VALUE or --clamp-mss-to-pmtu")
	}
	return nil
}

func (t *tcpmssTarget) Check(c *CheckCtx) error {
	if t.ClampPMTU() && c.Hooks&^nf.Hooks(nf.Forward, nf.LocalOut, nf.PostRouting) != 0 {
		return Errorf("path-MTU clamping only supported in FORWARD, OUTPUT and POSTROUTING hooks")
	}
	return nil
}

func (t *tcpmssTarget) Save(b *Buf) {
	if t.ClampPMTU() {
		b.S(" --clamp-mss-to-pmtu")
	} else {
		b.S(" --set-mss ").U(uint64(t.MSS))
	}
}

func (t *tcpmssTarget) Print(b *Buf, _ bool) {
	if t.ClampPMTU() {
		b.S(" TCPMSS clamp to PMTU")
	} else {
		b.S(" TCPMSS set ").U(uint64(t.MSS))
	}
}
