package ext

// connmark: -m connmark --mark VALUE[/MASK] (libxt_connmark revision 1,
// xt_connmark.c connmark_mt).
type connmarkMatch struct {
	Mark, Mask uint32
	Inv        bool
	Set        bool
}

func init() {
	Register(&Def{
		Name: "connmark", Kind: MatchKind,
		Options: []Option{{Name: "mark", Arg: NeedArg, Invert: true}},
		New:     func() Ext { return &connmarkMatch{} },
	})
}

func (m *connmarkMatch) Parse(u *Use) error {
	v, k, err := m1ParseMarkMask(u.Arg, "mark")
	if err != nil {
		return err
	}
	m.Mark, m.Mask, m.Inv, m.Set = v, k, u.Invert, true
	return nil
}

func (m *connmarkMatch) Final(*RuleInfo) error {
	if !m.Set {
		return Errorf("option \"--mark\" must be specified")
	}
	return nil
}

func (m *connmarkMatch) Save(b *Buf) {
	b.Not(m.Inv).S(" --mark")
	m1MarkMask(b, m.Mark, m.Mask)
}

func (m *connmarkMatch) Print(b *Buf, _ bool) {
	b.S(" connmark match ")
	if m.Inv {
		b.S("!")
	}
	m1MarkMask(b, m.Mark, m.Mask)
}

// Match is connmark_mt: the connection's mark under the mask. Packets
// without a connection (INVALID, UNTRACKED) never match, inverted or not.
func (m *connmarkMatch) Match(e *Env) bool {
	if e.Conn == nil {
		return false
	}
	return (e.Conn.Mark()&m.Mask == m.Mark) != m.Inv
}
