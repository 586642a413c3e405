package ext

import (
	"net/netip"

	"github.com/nfgo/nfgo/nf"
)

// policy: -m policy (libxt_policy, xt_policy.c): the IPsec policy a packet
// was decapsulated by (--dir in) or will be encapsulated by (--dir out).
type policyMatch struct {
	Family   nf.Family
	DirIn    bool // --dir in; false: --dir out
	DirSet   bool
	PolNone  bool // --pol none; false: --pol ipsec
	Strict   bool
	Elems    []PolicyElem // the elements; with --strict matched in order
	nextSeen bool
}

// PolicyElem is one policy element (between --next options).
type PolicyElem struct {
	ReqID, SPI         uint32
	HasReqID, HasSPI   bool
	InvReqID, InvSPI   bool
	Proto              uint8 // 50 esp, 51 ah or 108 ipcomp
	HasProto, InvProto bool
	Tunnel             bool // --mode tunnel; false: transport
	HasMode, InvMode   bool
	Src, SrcMask       netip.Addr
	Dst, DstMask       netip.Addr
	HasSrc, HasDst     bool
	InvSrc, InvDst     bool
}

const policyMaxElem = 4 // XT_POLICY_MAX_ELEM

func init() {
	for _, fam := range []nf.Family{nf.IPv4, nf.IPv6} {
		fam := fam
		Register(&Def{
			Name: "policy", Kind: MatchKind, Family: fam,
			Options: []Option{
				{Name: "dir", Arg: NeedArg},
				{Name: "pol", Arg: NeedArg},
				{Name: "strict", Arg: NoArg},
				{Name: "reqid", Arg: NeedArg, Invert: true, Multi: true},
				{Name: "spi", Arg: NeedArg, Invert: true, Multi: true},
				{Name: "tunnel-src", Arg: NeedArg, Invert: true, Multi: true},
				{Name: "tunnel-dst", Arg: NeedArg, Invert: true, Multi: true},
				{Name: "proto", Arg: NeedArg, Invert: true, Multi: true},
				{Name: "mode", Arg: NeedArg, Invert: true, Multi: true},
				{Name: "next", Arg: NoArg, Multi: true},
			},
			New: func() Ext { return &policyMatch{Family: fam, Elems: []PolicyElem{{}}} },
		})
	}
}

func (m *policyMatch) Parse(u *Use) error {
	e := &m.Elems[len(m.Elems)-1]
	double := func(has bool) error {
		if has {
			return Errorf("policy match: double --%s option (use --next to start another element)", u.Opt.Name)
		}
		return nil
	}
	switch u.Opt.Name {
	case "dir":
		switch u.Arg {
		case "in":
			m.DirIn = true
		case "out":
			m.DirIn = false
		default:
			return Errorf("policy_match: invalid dir \"%s\": expected in or out", u.Arg)
		}
		m.DirSet = true
	case "pol":
		switch u.Arg {
		case "none":
			m.PolNone = true
		case "ipsec":
			m.PolNone = false
		default:
			return Errorf("policy match: invalid policy \"%s\": expected none or ipsec", u.Arg)
		}
	case "strict":
		m.Strict = true
	case "reqid", "spi":
		v, ok := ParseUint(u.Arg, 0, 0xffffffff)
		if !ok {
			return Errorf("bad value for option \"--%s\" `%s': expected a number 0-4294967295", u.Opt.Name, u.Arg)
		}
		if u.Opt.Name == "reqid" {
			if err := double(e.HasReqID); err != nil {
				return err
			}
			e.ReqID, e.HasReqID, e.InvReqID = uint32(v), true, u.Invert
		} else {
			if err := double(e.HasSPI); err != nil {
				return err
			}
			e.SPI, e.HasSPI, e.InvSPI = uint32(v), true, u.Invert
		}
	case "tunnel-src", "tunnel-dst":
		a, mask, err := m3ParseHostMask(m.Family, u.Arg)
		if err != nil {
			return err
		}
		if u.Opt.Name == "tunnel-src" {
			if err := double(e.HasSrc); err != nil {
				return err
			}
			e.Src, e.SrcMask, e.HasSrc, e.InvSrc = a, mask, true, u.Invert
		} else {
			if err := double(e.HasDst); err != nil {
				return err
			}
			e.Dst, e.DstMask, e.HasDst, e.InvDst = a, mask, true, u.Invert
		}
	case "proto":
		var p uint8
		if v, ok := ParseUint(u.Arg, 0, 255); ok {
			p = uint8(v)
		} else if v, ok := nf.ParseProto(u.Arg); ok {
			p = v
		} else {
			return Errorf("unknown protocol \"%s\" specified", u.Arg)
		}
		if err := double(e.HasProto); err != nil {
			return err
		}
		if p != nf.ProtoESP && p != nf.ProtoAH && p != 108 {
			return Errorf("policy match: protocol must be ah/esp/ipcomp")
		}
		e.Proto, e.HasProto, e.InvProto = p, true, u.Invert
	case "mode":
		if err := double(e.HasMode); err != nil {
			return err
		}
		switch u.Arg {
		case "transport":
			e.Tunnel = false
		case "tunnel":
			e.Tunnel = true
		default:
			return Errorf("policy match: invalid mode \"%s\": expected transport or tunnel", u.Arg)
		}
		e.HasMode, e.InvMode = true, u.Invert
	case "next":
		if len(m.Elems) == policyMaxElem {
			return Errorf("policy match: maximum policy depth reached (%d elements)", policyMaxElem)
		}
		m.Elems = append(m.Elems, PolicyElem{})
		m.nextSeen = true
	}
	return nil
}

func (e *PolicyElem) empty() bool {
	return !e.HasReqID && !e.HasSPI && !e.HasSrc && !e.HasDst && !e.HasProto && !e.HasMode
}

func (m *policyMatch) Final(*RuleInfo) error {
	if m.nextSeen && !m.Strict {
		return Errorf("option \"--next\" also requires \"--strict\"")
	}
	if !m.DirSet {
		return Errorf("policy match: neither --dir in nor --dir out specified")
	}
	if m.PolNone {
		if m.Strict {
			return Errorf("policy match: policy none but --strict given")
		}
		if len(m.Elems) > 1 {
			return Errorf("policy match: policy none but policy given")
		}
		// With --pol none no element is kept (iptables' len stays 0).
		m.Elems = nil
		return nil
	}
	for i := range m.Elems {
		e := &m.Elems[i]
		if m.Strict && e.empty() {
			return Errorf("policy match: empty policy element %d. --strict is in effect, but at least one of reqid, spi, tunnel-src, tunnel-dst, proto or mode is required.", i)
		}
		if (e.HasSrc || e.HasDst) && e.Tunnel == e.InvMode {
			return Errorf("policy match: --tunnel-src/--tunnel-dst is only valid in tunnel mode (give --mode tunnel)")
		}
	}
	return nil
}

// Check applies xt_policy's checkentry: the direction must fit the hooks.
func (m *policyMatch) Check(c *CheckCtx) error {
	if !m.DirIn && c.Hooks&nf.Hooks(nf.PreRouting, nf.LocalIn) != 0 {
		return Errorf("output policy not valid in PREROUTING and INPUT")
	}
	if m.DirIn && c.Hooks&nf.Hooks(nf.PostRouting, nf.LocalOut) != 0 {
		return Errorf("input policy not valid in POSTROUTING and OUTPUT")
	}
	return nil
}

func (m *policyMatch) flags(b *Buf, prefix string) {
	if m.DirIn {
		b.S(" ").S(prefix).S("dir in")
	} else {
		b.S(" ").S(prefix).S("dir out")
	}
	if m.PolNone {
		b.S(" ").S(prefix).S("pol none")
	} else {
		b.S(" ").S(prefix).S("pol ipsec")
	}
	if m.Strict {
		b.S(" ").S(prefix).S("strict")
	}
}

func (e *PolicyElem) out(b *Buf, prefix string, numeric bool) {
	if e.HasReqID {
		b.Not(e.InvReqID).S(" ").S(prefix).S("reqid ").U(uint64(e.ReqID))
	}
	if e.HasSPI {
		b.Not(e.InvSPI).S(" ").S(prefix).S("spi ").X(uint64(e.SPI))
	}
	if e.HasProto {
		b.Not(e.InvProto).S(" ").S(prefix).S("proto ")
		if numeric {
			b.U(uint64(e.Proto))
		} else {
			b.S(nf.ProtoString(e.Proto))
		}
	}
	if e.HasMode {
		b.Not(e.InvMode).S(" ").S(prefix).S("mode ")
		if e.Tunnel {
			b.S("tunnel")
		} else {
			b.S("transport")
		}
	}
	if e.HasDst {
		b.Not(e.InvDst).S(" ").S(prefix).S("tunnel-dst ").S(m3AddrMask(e.Dst, e.DstMask))
	}
	if e.HasSrc {
		b.Not(e.InvSrc).S(" ").S(prefix).S("tunnel-src ").S(m3AddrMask(e.Src, e.SrcMask))
	}
}

func (m *policyMatch) Save(b *Buf) {
	m.flags(b, "--")
	for i := range m.Elems {
		m.Elems[i].out(b, "--", false)
		if i+1 < len(m.Elems) {
			b.S(" --next")
		}
	}
}

func (m *policyMatch) Print(b *Buf, numeric bool) {
	b.S(" policy match")
	m.flags(b, "")
	for i := range m.Elems {
		if len(m.Elems) > 1 {
			b.S(" [").U(uint64(i)).S("]")
		}
		m.Elems[i].out(b, "", numeric)
	}
}

// Match is xt_policy.c's policy_mt. nfgo has no IPsec: no packet was
// decapsulated (no secpath) or will be encapsulated (no xfrm on its
// route), so --pol none always matches and --pol ipsec never does.
func (m *policyMatch) Match(*Env) bool { return m.PolNone }
