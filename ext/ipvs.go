package ext

import (
	"net/netip"
	"strings"

	"github.com/nfgo/nfgo/nf"
)

// ipvs: -m ipvs (libxt_ipvs, xt_ipvs.c): properties of the IPVS
// connection a packet belongs to.
type ipvsMatch struct {
	Family nf.Family
	// Given and Inv are bit sets indexed by the ipvs* option bits below.
	Given, Inv uint8
	Proto      uint8
	VAddr      netip.Addr
	VMask      netip.Addr
	VPort      uint16
	VPortCtl   uint16
	Reply      bool   // --vdir REPLY (ORIGINAL otherwise)
	Method     uint32 // forwarding method: ipvsGate, ipvsIPIP or ipvsMasq
}

const (
	ipvsProperty = 1 << iota // --ipvs
	ipvsProto
	ipvsVAddr
	ipvsVPort
	ipvsDir
	ipvsMethod
	ipvsVPortCtl
	ipvsOnceMask = ipvsProto | ipvsVAddr | ipvsVPort | ipvsDir | ipvsMethod | ipvsVPortCtl

	// IP_VS_CONN_F_* forwarding methods.
	ipvsMasq = 0
	ipvsIPIP = 2
	ipvsGate = 3
)

func init() {
	for _, fam := range []nf.Family{nf.IPv4, nf.IPv6} {
		fam := fam
		Register(&Def{
			Name: "ipvs", Kind: MatchKind, Family: fam,
			Options: []Option{
				{Name: "ipvs", Arg: NoArg, Invert: true},
				{Name: "vproto", Arg: NeedArg, Invert: true},
				{Name: "vaddr", Arg: NeedArg, Invert: true},
				{Name: "vport", Arg: NeedArg, Invert: true},
				{Name: "vdir", Arg: NeedArg},
				{Name: "vmethod", Arg: NeedArg, Invert: true},
				{Name: "vportctl", Arg: NeedArg, Invert: true},
			},
			New: func() Ext { return &ipvsMatch{Family: fam} },
		})
	}
}

func (m *ipvsMatch) Parse(u *Use) error {
	bit := uint8(1) << u.Index
	switch u.Opt.Name {
	case "vproto":
		if v, ok := ParseUint(u.Arg, 0, 255); ok {
			m.Proto = uint8(v)
		} else if v, ok := nf.ParseProto(u.Arg); ok {
			m.Proto = v
		} else {
			return Errorf("unknown protocol \"%s\" specified", u.Arg)
		}
	case "vaddr":
		a, mask, err := m3ParseHostMask(m.Family, u.Arg)
		if err != nil {
			return err
		}
		m.VAddr, m.VMask = a, mask
	case "vport", "vportctl":
		p, err := ParsePort(u.Arg, "")
		if err != nil {
			return err
		}
		if u.Opt.Name == "vport" {
			m.VPort = p
		} else {
			m.VPortCtl = p
		}
	case "vdir":
		switch strings.ToUpper(u.Arg) {
		case "ORIGINAL":
			m.Reply = false
		case "REPLY":
			m.Reply = true
		default:
			return Errorf("Bad value for \"--vdir\" option: \"%s\" (expected ORIGINAL or REPLY)", u.Arg)
		}
	case "vmethod":
		switch strings.ToUpper(u.Arg) {
		case "GATE":
			m.Method = ipvsGate
		case "IPIP":
			m.Method = ipvsIPIP
		case "MASQ":
			m.Method = ipvsMasq
		default:
			return Errorf("Bad value for \"--vmethod\" option: \"%s\" (expected GATE, IPIP or MASQ)", u.Arg)
		}
	}
	m.Given |= bit
	if u.Invert {
		m.Inv |= bit
	}
	return nil
}

func (m *ipvsMatch) Final(*RuleInfo) error {
	if m.Given == 0 {
		return Errorf("IPVS: At least one option is required")
	}
	if m.Given&ipvsOnceMask != 0 {
		if m.Inv&ipvsProperty != 0 {
			return Errorf("! --ipvs cannot be together with other options")
		}
		// Every other option implies --ipvs.
		m.Given |= ipvsProperty
	}
	return nil
}

func (m *ipvsMatch) out(b *Buf, pfx string, numeric bool) {
	has := func(bit uint8) bool { return m.Given&bit != 0 }
	inv := func(bit uint8) *Buf { return b.Not(m.Inv&bit != 0) }
	if m.Given == ipvsProperty {
		inv(ipvsProperty).S(" ").S(pfx).S("ipvs")
	}
	if has(ipvsProto) {
		inv(ipvsProto).S(" ").S(pfx).S("vproto ").U(uint64(m.Proto))
	}
	if has(ipvsVAddr) {
		inv(ipvsVAddr).S(" ").S(pfx).S("vaddr ")
		if !numeric && m.VAddr.IsUnspecified() {
			b.S("anywhere")
		} else {
			b.S(m3AddrMask(m.VAddr, m.VMask))
		}
	}
	if has(ipvsVPort) {
		inv(ipvsVPort).S(" ").S(pfx).S("vport ").U(uint64(m.VPort))
	}
	if has(ipvsDir) {
		if m.Reply {
			b.S(" ").S(pfx).S("vdir REPLY")
		} else {
			b.S(" ").S(pfx).S("vdir ORIGINAL")
		}
	}
	if has(ipvsMethod) {
		inv(ipvsMethod).S(" ").S(pfx).S("vmethod")
		switch m.Method {
		case ipvsGate:
			b.S(" GATE")
		case ipvsIPIP:
			b.S(" IPIP")
		default:
			b.S(" MASQ")
		}
	}
	if has(ipvsVPortCtl) {
		inv(ipvsVPortCtl).S(" ").S(pfx).S("vportctl ").U(uint64(m.VPortCtl))
	}
}

func (m *ipvsMatch) Save(b *Buf) { m.out(b, "--", true) }

func (m *ipvsMatch) Print(b *Buf, numeric bool) { m.out(b, "", numeric) }
