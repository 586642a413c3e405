package ext

import (
	"github.com/nfgo/nfgo/nf"
	"github.com/nfgo/nfgo/packet"
)

// ECN: -j ECN (libipt_ECN, ipt_ECN.c), IPv4, table mangle. Changing the
// TCP ECE/CWR bits needs "-p tcp".

// ECN operation bits (IPT_ECN_OP_*).
const (
	ECNOpSetIP  = 0x01
	ECNOpSetECE = 0x10
	ECNOpSetCWR = 0x20
)

type ecnTarget struct {
	Operation uint8 // ECNOpSet* bits
	IPECT     uint8 // 0-3
	ECE, CWR  uint8 // 0 or 1
	removed   bool
	set       bool
	tcpBits   string
}

func init() {
	Register(&Def{
		Name: "ECN", Kind: TargetKind, Family: nf.IPv4, Tables: []string{"mangle"},
		Options: []Option{
			{Name: "ecn-tcp-remove"},
			{Name: "ecn-tcp-cwr", Arg: NeedArg},
			{Name: "ecn-tcp-ece", Arg: NeedArg},
			{Name: "ecn-ip-ect", Arg: NeedArg},
		},
		New: func() Ext { return &ecnTarget{} },
	})
}

func (t *ecnTarget) Parse(u *Use) error {
	t.set = true
	switch u.Opt.Name {
	case "ecn-tcp-remove":
		if t.tcpBits != "" {
			return Errorf("option \"--ecn-tcp-remove\" cannot be used together with \"--%s\"", t.tcpBits)
		}
		t.removed = true
		t.Operation = ECNOpSetECE | ECNOpSetCWR
		t.ECE, t.CWR = 0, 0
	case "ecn-tcp-cwr", "ecn-tcp-ece":
		if t.removed {
			return Errorf("option \"--%s\" cannot be used together with \"--ecn-tcp-remove\"", u.Opt.Name)
		}
		t.tcpBits = u.Opt.Name
		v, err := t1Uint(u, 0, 1)
		if err != nil {
			return err
		}
		if u.Opt.Name == "ecn-tcp-cwr" {
			t.Operation |= ECNOpSetCWR
			t.CWR = uint8(v)
		} else {
			t.Operation |= ECNOpSetECE
			t.ECE = uint8(v)
		}
	case "ecn-ip-ect":
		v, err := t1Uint(u, 0, 3)
		if err != nil {
			return err
		}
		t.Operation |= ECNOpSetIP
		t.IPECT = uint8(v)
	}
	return nil
}

func (t *ecnTarget) Final(*RuleInfo) error {
	if !t.set {
		return Errorf("an operation is required: --ecn-tcp-remove, --ecn-tcp-cwr, --ecn-tcp-ece or --ecn-ip-ect")
	}
	return nil
}

// Check is the kernel's checkentry: TCP bits need "-p tcp".
func (t *ecnTarget) Check(c *CheckCtx) error {
	if t.Operation&(ECNOpSetECE|ECNOpSetCWR) != 0 && (c.Rule.Proto != nf.ProtoTCP || c.Rule.InvProto) {
		return Errorf("the TCP ECE/CWR operations need \"-p tcp\"")
	}
	return nil
}

func (t *ecnTarget) isRemove() bool {
	return t.Operation == ECNOpSetECE|ECNOpSetCWR && t.ECE == 0 && t.CWR == 0
}

func (t *ecnTarget) Save(b *Buf) {
	if t.isRemove() {
		b.Opt(false, "ecn-tcp-remove")
		return
	}
	if t.Operation&ECNOpSetECE != 0 {
		b.Opt(false, "ecn-tcp-ece", Itoa(t.ECE))
	}
	if t.Operation&ECNOpSetCWR != 0 {
		b.Opt(false, "ecn-tcp-cwr", Itoa(t.CWR))
	}
	if t.Operation&ECNOpSetIP != 0 {
		b.Opt(false, "ecn-ip-ect", Itoa(t.IPECT))
	}
}

func (t *ecnTarget) Print(b *Buf, _ bool) {
	b.S(" ECN")
	if t.isRemove() {
		b.S(" TCP remove")
		return
	}
	if t.Operation&ECNOpSetECE != 0 {
		b.S(" ECE=").U(uint64(t.ECE))
	}
	if t.Operation&ECNOpSetCWR != 0 {
		b.S(" CWR=").U(uint64(t.CWR))
	}
	if t.Operation&ECNOpSetIP != 0 {
		b.S(" ECT codepoint=").U(uint64(t.IPECT))
	}
}

// Target is ecn_tg: the ECT codepoint of the TOS byte, then the TCP ECE
// and CWR flags. Like the kernel it reads the TCP header right after the
// IP header whatever the fragment offset, and drops a TCP packet too
// short to hold one.
func (t *ecnTarget) Target(e *Env) Verdict {
	h := packet.IPv4(e.Pkt.Data)
	if t.Operation&ECNOpSetIP != 0 && h.TOS()&3 != t.IPECT&3 {
		old := h.TOS()
		h.SetTOS(old&^3 | t.IPECT&3)
		h.SetChecksum(packet.Update16(h.Checksum(), uint16(old), uint16(h.TOS())))
	}
	if t.Operation&(ECNOpSetECE|ECNOpSetCWR) == 0 || h.Protocol() != packet.ProtoTCP {
		return VerdictContinue
	}
	off := h.HeaderLen()
	if off+20 > len(h) {
		return VerdictDrop
	}
	th := packet.TCP(h[off:])
	flags := th.Flags()
	n := flags
	if t.Operation&ECNOpSetECE != 0 {
		n = n&^packet.TCPEce | t.ECE*packet.TCPEce
	}
	if t.Operation&ECNOpSetCWR != 0 {
		n = n&^packet.TCPCwr | t.CWR*packet.TCPCwr
	}
	if n == flags {
		return VerdictContinue
	}
	oldWord := uint16(th[12])<<8 | uint16(flags)
	th[13] = n
	th.SetChecksum(packet.Update16(th.Checksum(), oldWord, uint16(th[12])<<8|uint16(n)))
	return VerdictContinue
}
