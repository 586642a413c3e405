package ext

// comment: -m comment --comment TEXT (libxt_comment, xt_comment.c).
type commentMatch struct {
	Text string
	Set  bool
}

func init() {
	Register(&Def{
		Name: "comment", Kind: MatchKind,
		Options: []Option{{Name: "comment", Arg: NeedArg}},
		New:     func() Ext { return &commentMatch{} },
	})
}

func (m *commentMatch) Parse(u *Use) error {
	if len(u.Arg) > 255 {
		return Errorf("comment may not exceed 255 characters (got %d)", len(u.Arg))
	}
	m.Text, m.Set = u.Arg, true
	return nil
}

func (m *commentMatch) Final(*RuleInfo) error {
	if !m.Set {
		return Errorf("option \"--comment\" must be specified")
	}
	return nil
}

func (m *commentMatch) Save(b *Buf) { b.OptQ(false, "comment", m.Text) }

func (m *commentMatch) Print(b *Buf, _ bool) { b.S(" /* ").S(m.Text).S(" */") }

// Match always succeeds: xt_comment.c only carries text.
func (m *commentMatch) Match(*Env) bool { return true }
