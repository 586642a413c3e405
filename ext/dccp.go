package ext

import (
	"strings"

	"github.com/nfgo/nfgo/nf"
)

// dccp: -m dccp --sport/--dport/--dccp-types/--dccp-option (libxt_dccp,
// xt_dccp.c); needs -p dccp.
type dccpMatch struct {
	Src, Dst  PortRange
	Types     uint16 // bit per DCCP packet type; INVALID sets bits 10-15
	TypesSet  bool
	InvTypes  bool
	Option    uint8
	OptionSet bool
	InvOption bool
}

var m1DCCPTypes = []string{"REQUEST", "RESPONSE", "DATA", "ACK", "DATAACK", "CLOSEREQ", "CLOSE", "RESET", "SYNC", "SYNCACK", "INVALID"}

const m1DCCPInvalid = 10

func init() {
	Register(&Def{
		Name: "dccp", Kind: MatchKind, Proto: nf.ProtoDCCP,
		Options: []Option{
			{Name: "source-port", Arg: NeedArg, Invert: true},
			{Name: "sport", Arg: NeedArg, Invert: true},
			{Name: "destination-port", Arg: NeedArg, Invert: true},
			{Name: "dport", Arg: NeedArg, Invert: true},
			{Name: "dccp-types", Arg: NeedArg, Invert: true},
			{Name: "dccp-option", Arg: NeedArg, Invert: true},
		},
		New: func() Ext { return &dccpMatch{} },
	})
}

func (m *dccpMatch) Parse(u *Use) error {
	var err error
	switch u.Opt.Name {
	case "source-port", "sport":
		if m.Src.Set {
			return Errorf("option \"--source-port\" can only be used once")
		}
		m.Src, err = m1ParsePortRC(u)
	case "destination-port", "dport":
		if m.Dst.Set {
			return Errorf("option \"--destination-port\" can only be used once")
		}
		m.Dst, err = m1ParsePortRC(u)
	case "dccp-types":
		var mask uint16
		for _, t := range strings.Split(u.Arg, ",") {
			if t == "" {
				continue
			}
			found := false
			for i, n := range m1DCCPTypes {
				if strings.EqualFold(n, t) {
					mask |= 1 << i
					found = true
					break
				}
			}
			if !found {
				return Errorf("unknown DCCP type `%s': expected %s", t, strings.Join(m1DCCPTypes, ", "))
			}
		}
		if mask&(1<<m1DCCPInvalid) != 0 {
			mask |= 0xf800
		}
		m.Types, m.TypesSet, m.InvTypes = mask, true, u.Invert
	case "dccp-option":
		v, ok := ParseUint(u.Arg, 1, 255)
		if !ok {
			return Errorf("bad value for option \"--dccp-option\", or out of range (1-255): `%s'", u.Arg)
		}
		m.Option, m.OptionSet, m.InvOption = uint8(v), true, u.Invert
	}
	return err
}

func (m *dccpMatch) Final(*RuleInfo) error { return nil }

func (m *dccpMatch) types(b *Buf, numeric bool) {
	b.S(" ")
	first := true
	for i := 0; i < 16; i++ {
		if m.Types&(1<<i) == 0 {
			continue
		}
		if !first {
			b.S(",")
		}
		first = false
		if numeric {
			b.U(uint64(i))
			continue
		}
		if i < len(m1DCCPTypes) {
			b.S(m1DCCPTypes[i])
		}
		if i == m1DCCPInvalid {
			break
		}
	}
}

func (m *dccpMatch) Save(b *Buf) {
	if m.Src.Set {
		b.Opt(m.Src.Inv, "sport", m1RangeString(uint64(m.Src.Lo), uint64(m.Src.Hi)))
	}
	if m.Dst.Set {
		b.Opt(m.Dst.Inv, "dport", m1RangeString(uint64(m.Dst.Lo), uint64(m.Dst.Hi)))
	}
	if m.TypesSet {
		b.Opt(m.InvTypes, "dccp-types")
		m.types(b, false)
	}
	if m.OptionSet {
		b.Opt(m.InvOption, "dccp-option", Itoa(m.Option))
	}
}

func (m *dccpMatch) Print(b *Buf, numeric bool) {
	b.S(" dccp")
	if m.Src.Set {
		m.Src.Print(b, "spt", "dccp", numeric)
	}
	if m.Dst.Set {
		m.Dst.Print(b, "dpt", "dccp", numeric)
	}
	if m.TypesSet {
		b.Not(m.InvTypes)
		m.types(b, numeric)
	}
	if m.OptionSet && (m.Option != 0 || m.InvOption) {
		b.S(" option=")
		if m.InvOption {
			b.S("!")
		}
		b.U(uint64(m.Option))
	}
}

// Match is xt_dccp.c's dccp_mt: ports, packet type and an option.
func (m *dccpMatch) Match(e *Env) bool {
	p := e.Pkt
	if fragOff(p) {
		return false
	}
	off := thoff(p)
	dh := hdrAt(p, off, 12)
	if dh == nil {
		e.HotDrop = true
		return false
	}
	if !m.Src.Match(be16(dh)) || !m.Dst.Match(be16(dh[2:])) {
		return false
	}
	typ := dh[8] >> 1 & 0x0f
	if m.TypesSet && (m.Types&(1<<typ) != 0) == m.InvTypes {
		return false
	}
	if m.OptionSet && dccpHasOption(e, off, dh, m.Option) == m.InvOption {
		return false
	}
	return true
}

// dccpHasOption is dccp_find_option: options start after the generic
// header, its extended sequence number and the type's own fields.
func dccpHasOption(e *Env, off int, dh []byte, opt uint8) bool {
	typ := dh[8] >> 1 & 0x0f
	hl := 12
	if dh[8]&1 != 0 {
		hl += 4
	}
	switch typ {
	case 2: // DATA
	case 3, 4, 5, 6, 8, 9: // ACK, DATAACK, CLOSEREQ, CLOSE, SYNC, SYNCACK
		hl += 8
	case 0: // REQUEST
		hl += 4
	default: // RESPONSE, RESET and unknown types
		hl += 12
	}
	doff := int(dh[4]) * 4
	if doff < hl {
		e.HotDrop = true
		return false
	}
	n := doff - hl
	if n == 0 {
		return false
	}
	op := hdrAt(e.Pkt, off+hl, n)
	if op == nil {
		e.HotDrop = true
		return false
	}
	for i := 0; i < n; {
		if op[i] == opt {
			return true
		}
		if op[i] < 2 || i == n-1 || op[i+1] == 0 {
			i++
		} else {
			i += int(op[i+1])
		}
	}
	return false
}
