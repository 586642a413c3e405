package ext

import "github.com/nfgo/nfgo/nf"

// physdev: -m physdev (libxt_physdev, xt_physdev.c): the bridge ports a
// bridged packet came in on or goes out of.
type physdevMatch struct {
	In, Out               string // port names; a trailing '+' matches any suffix
	HasIn, HasOut         bool
	InvIn, InvOut         bool
	IsIn, IsOut           bool // --physdev-is-in / --physdev-is-out given
	InvIsIn, InvIsOut     bool
	IsBridged, InvBridged bool
}

func init() {
	Register(&Def{
		Name: "physdev", Kind: MatchKind,
		Options: []Option{
			{Name: "physdev-in", Arg: NeedArg, Invert: true},
			{Name: "physdev-out", Arg: NeedArg, Invert: true},
			{Name: "physdev-is-in", Arg: NoArg, Invert: true},
			{Name: "physdev-is-out", Arg: NoArg, Invert: true},
			{Name: "physdev-is-bridged", Arg: NoArg, Invert: true},
		},
		New: func() Ext { return &physdevMatch{} },
	})
}

// m3Iface checks an interface name as xtables_parse_interface does.
func m3Iface(s string) error {
	if len(s) > 15 {
		return Errorf("interface name `%s' must be shorter than IFNAMSIZ (15)", s)
	}
	return nil
}

func (m *physdevMatch) Parse(u *Use) error {
	switch u.Opt.Name {
	case "physdev-in":
		if err := m3Iface(u.Arg); err != nil {
			return err
		}
		m.In, m.HasIn, m.InvIn = u.Arg, true, u.Invert
	case "physdev-out":
		if err := m3Iface(u.Arg); err != nil {
			return err
		}
		m.Out, m.HasOut, m.InvOut = u.Arg, true, u.Invert
	case "physdev-is-in":
		m.IsIn, m.InvIsIn = true, u.Invert
	case "physdev-is-out":
		m.IsOut, m.InvIsOut = true, u.Invert
	case "physdev-is-bridged":
		m.IsBridged, m.InvBridged = true, u.Invert
	}
	return nil
}

func (m *physdevMatch) Final(*RuleInfo) error {
	if !m.HasIn && !m.HasOut && !m.IsIn && !m.IsOut && !m.IsBridged {
		return Errorf("PHYSDEV: no physdev option specified")
	}
	return nil
}

// Check applies xt_physdev's checkentry: the output port is only known
// for bridged traffic, so not in OUTPUT unless --physdev-is-bridged.
func (m *physdevMatch) Check(c *CheckCtx) error {
	if (m.HasOut || m.IsOut) && (!m.IsBridged || m.InvBridged) && c.Hooks.Has(nf.LocalOut) {
		return Errorf("--physdev-out and --physdev-is-out only supported in the FORWARD and POSTROUTING chains with bridged traffic")
	}
	return nil
}

func (m *physdevMatch) Save(b *Buf) {
	if m.IsIn {
		b.Opt(m.InvIsIn, "physdev-is-in")
	}
	if m.HasIn {
		b.Opt(m.InvIn, "physdev-in", m.In)
	}
	if m.IsOut {
		b.Opt(m.InvIsOut, "physdev-is-out")
	}
	if m.HasOut {
		b.Opt(m.InvOut, "physdev-out", m.Out)
	}
	if m.IsBridged {
		b.Opt(m.InvBridged, "physdev-is-bridged")
	}
}

func (m *physdevMatch) Print(b *Buf, _ bool) {
	b.S(" PHYSDEV match")
	m.Save(b)
}

// Match is xt_physdev.c's physdev_mt over the bridge ports in PhysIn and
// PhysOut; a packet that did not cross a bridge has neither.
func (m *physdevMatch) Match(e *Env) bool {
	in, out := e.Pkt.PhysIn, e.Pkt.PhysOut
	if in == "" && out == "" {
		// Not bridged: only inverted options hold.
		return !(m.IsBridged && !m.InvBridged) && !(m.IsIn && !m.InvIsIn) &&
			!(m.IsOut && !m.InvIsOut) && !(m.HasIn && !m.InvIn) && !(m.HasOut && !m.InvOut)
	}
	if m.IsBridged && (out != "") == m.InvBridged {
		return false
	}
	if m.IsIn && (in == "") != m.InvIsIn || m.IsOut && (out == "") != m.InvIsOut {
		return false
	}
	if m.HasIn && in != "" && physName(m.In, in) == m.InvIn {
		return false
	}
	if !m.HasOut {
		return true
	}
	if out == "" {
		return false
	}
	return physName(m.Out, out) != m.InvOut
}

// physName compares a port name with a pattern whose trailing '+'
// matches any suffix.
func physName(pat, dev string) bool {
	if n := len(pat); n > 0 && pat[n-1] == '+' {
		return len(dev) >= n-1 && dev[:n-1] == pat[:n-1]
	}
	return dev == pat
}
