package ext

import "strings"

// dscp: -m dscp --dscp N | --dscp-class CLASS (libxt_dscp, xt_dscp.c).
type dscpMatch struct {
	DSCP uint8 // 0-0x3f
	Inv  bool
	Set  bool
	opt  string
}

// m1DSCPClasses are the DiffServ class names (dscp_helper.c).
var m1DSCPClasses = []struct {
	Name string
	DSCP uint8
}{
	{"CS0", 0x00}, {"CS1", 0x08}, {"CS2", 0x10}, {"CS3", 0x18}, {"CS4", 0x20}, {"CS5", 0x28},
	{"CS6", 0x30}, {"CS7", 0x38}, {"BE", 0x00}, {"AF11", 0x0a}, {"AF12", 0x0c}, {"AF13", 0x0e},
	{"AF21", 0x12}, {"AF22", 0x14}, {"AF23", 0x16}, {"AF31", 0x1a}, {"AF32", 0x1c}, {"AF33", 0x1e},
	{"AF41", 0x22}, {"AF42", 0x24}, {"AF43", 0x26}, {"EF", 0x2e},
}

// m1ParseDSCPClass resolves a class name; like iptables, a name that starts
// with a class name (case-insensitive) is taken as that class.
func m1ParseDSCPClass(s string) (uint8, error) {
	for _, c := range m1DSCPClasses {
		if len(s) >= len(c.Name) && strings.EqualFold(s[:len(c.Name)], c.Name) {
			return c.DSCP, nil
		}
	}
	return 0, Errorf("invalid DSCP class `%s': expected CS0-CS7, BE, AF11-AF43 or EF", s)
}

func init() {
	Register(&Def{
		Name: "dscp", Kind: MatchKind,
		Options: []Option{
			{Name: "dscp", Arg: NeedArg, Invert: true},
			{Name: "dscp-class", Arg: NeedArg, Invert: true},
		},
		New: func() Ext { return &dscpMatch{} },
	})
}

func (m *dscpMatch) Parse(u *Use) error {
	if m.Set {
		return Errorf("option \"--%s\" cannot be used together with \"--%s\"", u.Opt.Name, m.opt)
	}
	if u.Opt.Name == "dscp" {
		v, ok := ParseUint(u.Arg, 0, 0x3f)
		if !ok {
			return Errorf("bad DSCP value `%s': expected a number 0-63 (0x00-0x3f)", u.Arg)
		}
		m.DSCP = uint8(v)
	} else {
		v, err := m1ParseDSCPClass(u.Arg)
		if err != nil {
			return err
		}
		m.DSCP = v
	}
	m.Inv, m.Set, m.opt = u.Invert, true, u.Opt.Name
	return nil
}

func (m *dscpMatch) Final(*RuleInfo) error {
	if !m.Set {
		return Errorf("DSCP match: Parameter --dscp is required")
	}
	return nil
}

func (m *dscpMatch) Save(b *Buf) { b.Opt(m.Inv, "dscp", m1Hex02(m.DSCP)) }

func (m *dscpMatch) Print(b *Buf, _ bool) {
	b.S(" DSCP match ")
	if m.Inv {
		b.S("!")
	}
	b.S(m1Hex02(m.DSCP))
}

// Match is xt_dscp.c's dscp_mt / dscp_mt6: the upper six bits of the DS field.
func (m *dscpMatch) Match(e *Env) bool {
	return (e.Pkt.TOS()>>2 == m.DSCP) != m.Inv
}
