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

// Match is helper_mt. It tests the helper of the connection's master: a
// connection a helper expected (FTP data, TFTP transfer) matches the
// name of its master's helper, the helper's own control connection does
// not. Without a master with a helper the result is the inversion flag.
// An empty name matches any helper; otherwise the kernel compares
// strlen(helper->name) bytes, so the rule's name must start with the
// helper's ("ftp-21" matches helper "ftp").
func (m *helperMatch) Match(e *Env) bool {
	if e.Conn == nil {
		return m.Invert
	}
	master := connMaster(e.Conn)
	if master == nil {
		return m.Invert
	}
	h := master.Helper()
	if h == "" {
		return m.Invert
	}
	if m.Name == "" {
		return !m.Invert
	}
	hit := len(m.Name) >= len(h) && m.Name[:len(h)] == h
	return hit != m.Invert
}
