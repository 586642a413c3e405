package ext

import "strings"

// tos: -m tos --tos VALUE[/MASK] or a symbolic name (libxt_tos revision 1,
// xt_dscp.c tos_mt). Names imply the mask 0x3f, numbers 0xff.
type tosMatch struct {
	Value, Mask uint8
	Inv         bool
	Set         bool
}

var m1TOSNames = []struct {
	Name  string
	Value uint8
}{
	{"Minimize-Delay", 0x10}, {"Maximize-Throughput", 0x08}, {"Maximize-Reliability", 0x04},
	{"Minimize-Cost", 0x02}, {"Normal-Service", 0x00},
}

func init() {
	Register(&Def{
		Name: "tos", Kind: MatchKind,
		Options: []Option{{Name: "tos", Arg: NeedArg, Invert: true}},
		New:     func() Ext { return &tosMatch{} },
	})
}

// m1ParseTOS parses a --tos/--set-tos style value: "value[/mask]" with
// numbers 0-255 (mask defaults to 0xff) or a symbolic name (mask symMask).
func m1ParseTOS(s string, symMask uint8) (v, mask uint8, err error) {
	vs, ms, hasMask := strings.Cut(s, "/")
	if n, ok := ParseUint(vs, 0, 255); ok {
		mask = 0xff
		if hasMask {
			k, ok := ParseUint(ms, 0, 255)
			if !ok {
				return 0, 0, Errorf("illegal value \"%s\": expected VALUE[/MASK] with numbers 0-255", s)
			}
			mask = uint8(k)
		}
		return uint8(n), mask, nil
	}
	for _, t := range m1TOSNames {
		if strings.EqualFold(t.Name, s) {
			return t.Value, symMask, nil
		}
	}
	return 0, 0, Errorf("symbolic name \"%s\" is unknown: expected a number 0-255 or Minimize-Delay, Maximize-Throughput, Maximize-Reliability, Minimize-Cost, Normal-Service", s)
}

func (m *tosMatch) Parse(u *Use) error {
	v, k, err := m1ParseTOS(u.Arg, 0x3f)
	if err != nil {
		return err
	}
	m.Value, m.Mask, m.Inv, m.Set = v, k, u.Invert, true
	return nil
}

func (m *tosMatch) Final(*RuleInfo) error {
	if !m.Set {
		return Errorf("option \"--tos\" must be specified")
	}
	return nil
}

func (m *tosMatch) Save(b *Buf) {
	b.Opt(m.Inv, "tos", m1Hex02(m.Value)+"/"+m1Hex02(m.Mask))
}

func (m *tosMatch) Print(b *Buf, numeric bool) {
	b.S(" tos match")
	if m.Inv {
		b.S("!")
	}
	if !numeric && m.Mask == 0x3f {
		for _, t := range m1TOSNames {
			if t.Value == m.Value {
				b.S(" ").S(t.Name)
				return
			}
		}
	}
	b.S(m1Hex02(m.Value)).S("/").S(m1Hex02(m.Mask))
}

// m1Hex02 formats v as printf("0x%02x").
func m1Hex02(v uint8) string {
	const digits = "0123456789abcdef"
	return "0x" + string([]byte{digits[v>>4], digits[v&15]})
}

// Match is xt_dscp.c's tos_mt: the masked TOS byte or IPv6 traffic class.
func (m *tosMatch) Match(e *Env) bool {
	return (e.Pkt.TOS()&m.Mask == m.Value) != m.Inv
}
