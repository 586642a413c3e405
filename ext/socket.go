package ext

import "github.com/nfgo/nfgo/nf"

// socket: -m socket (libxt_socket revision 3, xt_socket.c): a local
// socket matches the packet. PREROUTING and INPUT only.
type socketMatch struct {
	Transparent   bool // only transparent sockets
	NoWildcard    bool // also sockets bound to the wildcard address
	RestoreSkMark bool // set the packet mark from the socket mark
}

func init() {
	Register(&Def{
		Name: "socket", Kind: MatchKind,
		Options: []Option{
			{Name: "transparent", Arg: NoArg},
			{Name: "nowildcard", Arg: NoArg},
			{Name: "restore-skmark", Arg: NoArg},
		},
		Hooks: nf.Hooks(nf.PreRouting, nf.LocalIn),
		New:   func() Ext { return &socketMatch{} },
	})
}

func (m *socketMatch) Parse(u *Use) error {
	switch u.Opt.Name {
	case "transparent":
		m.Transparent = true
	case "nowildcard":
		m.NoWildcard = true
	case "restore-skmark":
		m.RestoreSkMark = true
	}
	return nil
}

func (m *socketMatch) Final(*RuleInfo) error { return nil }

func (m *socketMatch) Save(b *Buf) {
	if m.Transparent {
		b.S(" --transparent")
	}
	if m.NoWildcard {
		b.S(" --nowildcard")
	}
	if m.RestoreSkMark {
		b.S(" --restore-skmark")
	}
}

func (m *socketMatch) Print(b *Buf, _ bool) {
	b.S(" socket")
	m.Save(b)
}
