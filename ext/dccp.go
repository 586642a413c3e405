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
