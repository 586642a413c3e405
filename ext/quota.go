package ext

// quota: -m quota (libxt_quota, xt_quota.c).

type quotaMatch struct {
	Quota  uint64 // bytes
	Invert bool
	set    bool
}

func init() {
	Register(&Def{
		Name: "quota", Kind: MatchKind,
		Options: []Option{{Name: "quota", Arg: NeedArg, Invert: true}},
		New:     func() Ext { return &quotaMatch{} },
	})
}

func (m *quotaMatch) Parse(u *Use) error {
	v, ok := ParseUint(u.Arg, 0, ^uint64(0))
	if !ok {
		return Errorf("bad value for option \"--quota\", or out of range (0-18446744073709551615)")
	}
	m.Quota, m.Invert, m.set = v, u.Invert, true
	return nil
}

func (m *quotaMatch) Final(*RuleInfo) error {
	if !m.set {
		return Errorf("option \"--quota\" must be specified")
	}
	return nil
}

func (m *quotaMatch) Save(b *Buf) { b.Opt(m.Invert, "quota", Itoa(m.Quota)) }

func (m *quotaMatch) Print(b *Buf, _ bool) { b.S(" quota: ").U(m.Quota).S(" bytes") }
