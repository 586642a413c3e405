package ext

import (
	"github.com/nfgo/nfgo/nf"
	"github.com/nfgo/nfgo/packet"
)

// ecn: -m ecn --ecn-tcp-cwr/--ecn-tcp-ece/--ecn-ip-ect N (libxt_ecn, xt_ecn.c).
type ecnMatch struct {
	CWR, ECE, IP          bool // which tests are on
	InvCWR, InvECE, InvIP bool
	ECT                   uint8 // 0-3, for --ecn-ip-ect
}

func init() {
	Register(&Def{
		Name: "ecn", Kind: MatchKind,
		Options: []Option{
			{Name: "ecn-tcp-cwr", Arg: NoArg, Invert: true},
			{Name: "ecn-tcp-ece", Arg: NoArg, Invert: true},
			{Name: "ecn-ip-ect", Arg: NeedArg, Invert: true},
		},
		New: func() Ext { return &ecnMatch{} },
	})
}

func (m *ecnMatch) Parse(u *Use) error {
	switch u.Opt.Name {
	case "ecn-tcp-cwr":
		m.CWR, m.InvCWR = true, u.Invert
	case "ecn-tcp-ece":
		m.ECE, m.InvECE = true, u.Invert
	default:
		v, ok := ParseUint(u.Arg, 0, 3)
		if !ok {
			return Errorf("bad value `%s' for option \"--ecn-ip-ect\": expected a number 0-3", u.Arg)
		}
		m.IP, m.InvIP, m.ECT = true, u.Invert, uint8(v)
	}
	return nil
}

func (m *ecnMatch) Final(*RuleInfo) error {
	if !m.CWR && !m.ECE && !m.IP {
		return Errorf("ECN match: some option required (--ecn-tcp-cwr, --ecn-tcp-ece or --ecn-ip-ect)")
	}
	return nil
}

// Check is the kernel's rule: the TCP bits need -p tcp.
func (m *ecnMatch) Check(c *CheckCtx) error {
	if (m.CWR || m.ECE) && (c.Rule.Proto != nf.ProtoTCP || c.Rule.InvProto) {
		return Errorf("cannot match TCP bits for non-tcp packets: --ecn-tcp-cwr and --ecn-tcp-ece need -p tcp")
	}
	return nil
}

func (m *ecnMatch) Save(b *Buf) {
	if m.ECE {
		b.Opt(m.InvECE, "ecn-tcp-ece")
	}
	if m.CWR {
		b.Opt(m.InvCWR, "ecn-tcp-cwr")
	}
	if m.IP {
		b.Opt(m.InvIP, "ecn-ip-ect", Itoa(m.ECT))
	}
}

func (m *ecnMatch) Print(b *Buf, _ bool) {
	b.S(" ECN match")
	inv := func(v bool) string {
		if v {
			return "!"
		}
		return ""
	}
	if m.ECE {
		b.S(" ").S(inv(m.InvECE)).S("ECE")
	}
	if m.CWR {
		b.S(" ").S(inv(m.InvCWR)).S("CWR")
	}
	if m.IP {
		b.S(" ").S(inv(m.InvIP)).S("ECT=").U(uint64(m.ECT))
	}
}

// Match is xt_ecn.c: the ECN bits of the IP header, then the TCP ECE and
// CWR flags read at the transport offset without a protocol check (the
// rule's -p tcp guarantees it).
func (m *ecnMatch) Match(e *Env) bool {
	p := e.Pkt
	if m.IP && (p.TOS()&3 == m.ECT) == m.InvIP {
		return false
	}
	if m.ECE || m.CWR {
		th := hdrAt(p, thoff(p), 20)
		if th == nil {
			return false
		}
		f := th[13]
		if m.ECE && (f&packet.TCPEce != 0) == m.InvECE {
			return false
		}
		if m.CWR && (f&packet.TCPCwr != 0) == m.InvCWR {
			return false
		}
	}
	return true
}
