package ext

// mark: -m mark --mark VALUE[/MASK] (libxt_mark revision 1, xt_mark.c).
type markMatch struct {
	Mark, Mask uint32
	Inv        bool
	Set        bool
}

func init() {
	Register(&Def{
		Name: "mark", Kind: MatchKind,
		Options: []Option{{Name: "mark", Arg: NeedArg, Invert: true}},
		New:     func() Ext { return &markMatch{} },
	})
}

func (m *markMatch) Parse(u *Use) error {
	v, k, err := m1ParseMarkMask(u.Arg, "mark")
	if err != nil {
		return err
	}
	m.Mark, m.Mask, m.Inv, m.Set = v, k, u.Invert, true
	return nil
}

func (m *markMatch) Final(*RuleInfo) error {
	if !m.Set {
		return Errorf("option \"--mark\" must be specified")
	}
	return nil
}

func (m *markMatch) Save(b *Buf) {
	b.Not(m.Inv).S(" --mark")
	m1MarkMask(b, m.Mark, m.Mask)
}

func (m *markMatch) Print(b *Buf, _ bool) {
	b.S(" mark match").Not(m.Inv)
	m1MarkMask(b, m.Mark, m.Mask)
}

// Match is xt_mark.c's mark_mt.
func (m *markMatch) Match(e *Env) bool {
	return (e.Pkt.Mark&m.Mask == m.Mark) != m.Inv
}
