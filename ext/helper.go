package ext

// helper: -m helper (libxt_helper, xt_helper.c).

const helperNameLen = 30

type helperMatch struct {
	Name   string // conntrack helper name ("ftp", "sip", ...)
	Invert bool
	set    bool
}

func init() {
	Register(&Def{
		Name: "helper", Kind: MatchKind,
		Options: []Option{{Name: "helper", Arg: NeedArg, Invert: true}},
		New:     func() Ext { return &helperMatch{} },
	})
}

func (m *helperMatch) Parse(u *Use) error {
	n := u.Arg
	if len(n) > helperNameLen-1 {
		n = n[:helperNameLen-1] // iptables truncates to the kernel's field
	}
	m.Name, m.Invert, m.set = n, u.Invert, true
	return nil
}

func (m *helperMatch) Final(*RuleInfo) error {
	if !m.set {
		return Errorf("option \"--helper\" must be specified")
	}
	return nil
}

func (m *helperMatch) Save(b *Buf) { b.OptQ(m.Invert, "helper", m.Name) }

func (m *helperMatch) Print(b *Buf, _ bool) {
	b.S(" helper match ")
	if m.Invert {
		b.S("! ")
	}
	b.S("\"").S(m.Name).S("\"")
}
