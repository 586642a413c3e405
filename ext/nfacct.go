package ext

import "strings"

// nfacct: -m nfacct (libxt_nfacct, xt_nfacct.c).

const nfacctNameLen = 32

type nfacctMatch struct {
	Name string // extended accounting object
}

func init() {
	Register(&Def{
		Name: "nfacct", Kind: MatchKind,
		Options: []Option{{Name: "nfacct-name", Arg: NeedArg}},
		New:     func() Ext { return &nfacctMatch{} },
	})
}

func (m *nfacctMatch) Parse(u *Use) error {
	if u.Arg == "" {
		return Errorf("Argument must have a minimum length of 1 characters")
	}
	if strings.Contains(u.Arg, "\n") {
		return Errorf("Newlines not allowed in --nfacct-name")
	}
	n := u.Arg
	if len(n) > nfacctNameLen-1 {
		n = n[:nfacctNameLen-1]
	}
	m.Name = n
	return nil
}

func (m *nfacctMatch) Final(*RuleInfo) error {
	if m.Name == "" {
		return Errorf("option \"--nfacct-name\" must be specified")
	}
	return nil
}

// Check mirrors the kernel, which refuses a rule naming an accounting
// object that does not exist; nfgo has no nfacct objects (no "nfacct add"),
// so every such rule is refused, as in a fresh network namespace.
func (m *nfacctMatch) Check(*CheckCtx) error {
	return Errorf("accounting object `%s' does not exist", m.Name)
}

func (m *nfacctMatch) Save(b *Buf) { b.S(" --nfacct-name").SaveString(m.Name) }

func (m *nfacctMatch) Print(b *Buf, _ bool) { b.S(" nfacct-name").SaveString(m.Name) }
