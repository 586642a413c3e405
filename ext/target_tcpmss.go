package ext

import (
	"encoding/binary"
	"net/netip"

	"github.com/nfgo/nfgo/nf"
	"github.com/nfgo/nfgo/packet"
)

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

// MTUHost is implemented by a Host that knows route MTUs, for
// --clamp-mss-to-pmtu. RouteMTU returns the MTU of the route to dst, 0
// when there is none.
type MTUHost interface {
	RouteMTU(fam nf.Family, dst netip.Addr) int
}

// tcpmssDefaultMTU is the MTU clamping assumes when the Host cannot tell
// (an Ethernet interface's).
const tcpmssDefaultMTU = 1500

// Target is tcpmss_tg4/tcpmss_tg6 (tcpmss_mangle_packet): lower the MSS
// option of a SYN to the given value or to the path MTU minus the minimal
// IP and TCP headers, or add the option when the SYN has none.
func (t *tcpmssTarget) Target(e *Env) Verdict {
	p := e.Pkt
	var thoff, minlen int
	if p.Family == nf.IPv6 {
		off, _, _ := skipExthdr6(p.Data)
		if off < 0 {
			return VerdictDrop
		}
		thoff, minlen = off, 40+20
	} else {
		thoff, minlen = packet.IPv4(p.Data).HeaderLen(), 20+20
	}
	if p.FragOff != 0 {
		return VerdictContinue
	}
	n := len(p.Data) - thoff
	if n < 20 {
		return VerdictDrop
	}
	th := packet.TCP(p.Data[thoff:])
	hlen := th.DataOff()
	if n < hlen || hlen < 20 {
		return VerdictDrop
	}
	newmss := t.MSS
	if t.ClampPMTU() {
		// min(MTU of the packet's own route, MTU of the route back to
		// its source), as tcpmss_reverse_mtu; no route back counts as
		// unlimited.
		out, in := tcpmssDefaultMTU, 0
		if mh, ok := e.Host.(MTUHost); ok {
			if m := mh.RouteMTU(p.Family, p.Dst()); m > 0 {
				out = m
			}
			in = mh.RouteMTU(p.Family, p.Src())
		}
		mtu := out
		if in > 0 && in < mtu {
			mtu = in
		}
		if mtu <= minlen {
			return VerdictDrop // "unknown or invalid path-MTU"
		}
		newmss = uint16(mtu - minlen)
	}
	for i := 20; i <= hlen-4; {
		if th[i] == 2 && th[i+1] == 4 { // TCPOPT_MSS, TCPOLEN_MSS
			old := uint16(th[i+2])<<8 | uint16(th[i+3])
			// Never raise the MSS, even with --set-mss.
			if old <= newmss {
				return VerdictContinue
			}
			th[i+2], th[i+3] = byte(newmss>>8), byte(newmss)
			th.SetChecksum(packet.Update16(th.Checksum(), old, newmss))
			return VerdictContinue
		}
		if th[i] <= 1 || th[i+1] == 0 {
			i++
		} else {
			i += int(th[i+1])
		}
	}
	// No MSS option. One is added only to a segment without payload whose
	// header has room for four more bytes.
	if n > hlen || hlen >= 15*4 {
		return VerdictContinue
	}
	// Without the option the peer assumes 536 (IPv4) or 1220 (IPv6):
	// never announce more than that.
	if p.Family == nf.IPv6 {
		newmss = min(newmss, 1220)
	} else {
		newmss = min(newmss, 536)
	}
	tot := len(p.Data)
	if cap(p.Data) >= tot+4 {
		p.Data = p.Data[:tot+4]
	} else {
		d := make([]byte, tot+4, tot+64)
		copy(d, p.Data)
		p.Data = d
	}
	th = packet.TCP(p.Data[thoff:])
	copy(th[24:], th[20:n])
	c := packet.Update16(th.Checksum(), uint16(n), uint16(n+4)) // pseudo-header length
	th[20], th[21], th[22], th[23] = 2, 4, byte(newmss>>8), byte(newmss)
	c = packet.Update32(c, 0, binary.BigEndian.Uint32(th[20:]))
	oldWord := binary.BigEndian.Uint16(th[12:])
	th[12] += 1 << 4 // one more 32-bit word of header
	c = packet.Update16(c, oldWord, binary.BigEndian.Uint16(th[12:]))
	th.SetChecksum(c)
	if p.Family == nf.IPv6 {
		h := packet.IPv6(p.Data)
		h.SetPayloadLen(h.PayloadLen() + 4)
	} else {
		h := packet.IPv4(p.Data)
		old := h.TotalLen()
		h.SetTotalLen(old + 4)
		h.SetChecksum(packet.Update16(h.Checksum(), old, old+4))
	}
	return VerdictContinue
}
