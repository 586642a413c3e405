package ext

import (
	"strings"

	"github.com/nfgo/nfgo/nf"
)

// conntrack: -m conntrack (libxt_conntrack revision 3, xt_conntrack.c), and
// -m state, which iptables 1.8.9 stores as conntrack with the state alias
// flag and prints back as "-m state --state".

// Match flags of struct xt_conntrack_mtinfo3 (match_flags, invert_flags).
const (
	CTFlagState       = 1 << 0
	CTFlagProto       = 1 << 1
	CTFlagOrigSrc     = 1 << 2
	CTFlagOrigDst     = 1 << 3
	CTFlagReplSrc     = 1 << 4
	CTFlagReplDst     = 1 << 5
	CTFlagStatus      = 1 << 6
	CTFlagExpires     = 1 << 7
	CTFlagOrigSrcPort = 1 << 8
	CTFlagOrigDstPort = 1 << 9
	CTFlagReplSrcPort = 1 << 10
	CTFlagReplDstPort = 1 << 11
	CTFlagDirection   = 1 << 12 // inverted means REPLY
	CTFlagStateAlias  = 1 << 13
)

// Conntrack state bits (XT_CONNTRACK_STATE_*).
const (
	CTStateInvalid     = 1 << 0
	CTStateEstablished = 1 << 1
	CTStateRelated     = 1 << 2
	CTStateNew         = 1 << 3
	CTStateSNAT        = 1 << 6
	CTStateDNAT        = 1 << 7
	CTStateUntracked   = 1 << 8
)

// Conntrack status bits (IPS_*).
const (
	CTStatusExpected  = 1 << 0
	CTStatusSeenReply = 1 << 1
	CTStatusAssured   = 1 << 2
	CTStatusConfirmed = 1 << 3
)

type m2Name struct {
	name string
	bit  uint32
}

// Parse order (first prefix match wins) as in libxt_conntrack.
var ctStateParse = []m2Name{{"INVALID", CTStateInvalid}, {"NEW", CTStateNew}, {"ESTABLISHED", CTStateEstablished},
	{"RELATED", CTStateRelated}, {"UNTRACKED", CTStateUntracked}, {"SNAT", CTStateSNAT}, {"DNAT", CTStateDNAT}}

// Print order.
var ctStatePrint = []m2Name{{"INVALID", CTStateInvalid}, {"NEW", CTStateNew}, {"RELATED", CTStateRelated},
	{"ESTABLISHED", CTStateEstablished}, {"UNTRACKED", CTStateUntracked}, {"SNAT", CTStateSNAT}, {"DNAT", CTStateDNAT}}

var ctStatusNames = []m2Name{{"NONE", 0}, {"EXPECTED", CTStatusExpected}, {"SEEN_REPLY", CTStatusSeenReply},
	{"ASSURED", CTStatusAssured}, {"CONFIRMED", CTStatusConfirmed}}

// m2ParseNameList parses a comma-separated list of (abbreviable) names.
func m2ParseNameList(s string, names []m2Name, what string, emptyMsg string) (uint32, error) {
	var mask uint32
	words := strings.Split(s, ",")
	for i, w := range words {
		if i == len(words)-1 && w == "" && emptyMsg != "" {
			return 0, Errorf("%s", emptyMsg)
		}
		found := false
		if w != "" {
			for _, n := range names {
				if m2PrefixMatch(w, n.name) {
					mask |= n.bit
					found = true
					break
				}
			}
		}
		if !found {
			var all []string
			for _, n := range names {
				all = append(all, n.name)
			}
			return 0, Errorf("Bad %s \"%s\": expected a comma-separated list of %s", what, strings.Join(words[i:], ","), strings.Join(all, ", "))
		}
	}
	return mask, nil
}

func ctStateString(mask uint32, names []m2Name) string {
	var parts []string
	for _, n := range names {
		if mask&n.bit != 0 {
			parts = append(parts, n.name)
		}
	}
	return strings.Join(parts, ",")
}

func ctStatusString(mask uint32) string {
	if mask == 0 {
		return "NONE"
	}
	return ctStateString(mask, ctStatusNames[1:])
}

type conntrackMatch struct {
	Family                  nf.Family
	MatchFlags, InvertFlags uint16
	StateMask, StatusMask   uint32
	L4Proto                 uint8
	OrigSrc, OrigDst        m2HostMask
	ReplSrc, ReplDst        m2HostMask
	OrigSrcPort, OrigSrcHi  uint16
	OrigDstPort, OrigDstHi  uint16
	ReplSrcPort, ReplSrcHi  uint16
	ReplDstPort, ReplDstHi  uint16
	ExpiresMin, ExpiresMax  uint32
}

func init() {
	inv := func(n string) Option { return Option{Name: n, Arg: NeedArg, Invert: true} }
	Register(&Def{
		Name: "conntrack", Kind: MatchKind,
		Options: []Option{
			inv("ctstate"), inv("ctproto"), inv("ctorigsrc"), inv("ctorigdst"), inv("ctreplsrc"),
			inv("ctrepldst"), inv("ctstatus"), inv("ctexpire"), inv("ctorigsrcport"), inv("ctorigdstport"),
			inv("ctreplsrcport"), inv("ctrepldstport"), {Name: "ctdir", Arg: NeedArg},
		},
		New: func() Ext { return &conntrackMatch{} },
	})
	Register(&Def{
		Name: "state", Kind: MatchKind,
		Options: []Option{inv("state")},
		New:     func() Ext { return &conntrackMatch{MatchFlags: CTFlagStateAlias} },
	})
}

func (m *conntrackMatch) setFlag(f uint16, inv bool) {
	m.MatchFlags |= f
	if inv {
		m.InvertFlags |= f
	}
}

func (m *conntrackMatch) Parse(u *Use) error {
	m.Family = u.Rule.Family
	var err error
	switch u.Opt.Name {
	case "state":
		v, err := m2ParseNameList(u.Arg, ctStateParse[:5], "state",
			"\"--state\" requires a list of states with no spaces, e.g. ESTABLISHED,RELATED")
		if err != nil {
			return err
		}
		m.StateMask = v
		m.setFlag(CTFlagState, u.Invert)
	case "ctstate":
		v, err := m2ParseNameList(u.Arg, ctStateParse, "ctstate", "")
		if err != nil {
			return err
		}
		m.StateMask |= v
		m.setFlag(CTFlagState, u.Invert)
	case "ctstatus":
		v, err := m2ParseNameList(u.Arg, ctStatusNames, "ctstatus", "")
		if err != nil {
			return err
		}
		m.StatusMask |= v
		m.setFlag(CTFlagStatus, u.Invert)
	case "ctproto":
		p, ok := nf.ParseProto(u.Arg)
		if !ok {
			return Errorf("unknown protocol %q: expected a protocol name or a number 0-255", u.Arg)
		}
		m.L4Proto = p
		// iptables tests the status inversion bit here (XT_INV_PROTO == XT_CONNTRACK_STATUS).
		if p == 0 && m.InvertFlags&CTFlagStatus != 0 {
			return Errorf("rule would never match protocol")
		}
		m.setFlag(CTFlagProto, u.Invert)
	case "ctorigsrc", "ctorigdst", "ctreplsrc", "ctrepldst":
		hm, err := m2ParseHostMask(m.Family, "conntrack", u.Opt.Name, u.Arg)
		if err != nil {
			return err
		}
		switch u.Opt.Name {
		case "ctorigsrc":
			m.OrigSrc = hm
			m.setFlag(CTFlagOrigSrc, u.Invert)
		case "ctorigdst":
			m.OrigDst = hm
			m.setFlag(CTFlagOrigDst, u.Invert)
		case "ctreplsrc":
			m.ReplSrc = hm
			m.setFlag(CTFlagReplSrc, u.Invert)
		default:
			m.ReplDst = hm
			m.setFlag(CTFlagReplDst, u.Invert)
		}
	case "ctexpire":
		lo, hi, err := m2ParseUintRange(u.Arg, 0xffffffff)
		if err != nil {
			return Errorf("--ctexpire: %v", err)
		}
		m.ExpiresMin, m.ExpiresMax = uint32(lo), uint32(hi)
		m.setFlag(CTFlagExpires, u.Invert)
	case "ctorigsrcport", "ctorigdstport", "ctreplsrcport", "ctrepldstport":
		lo, hi, err := m2ParsePortRange(u.Arg)
		if err != nil {
			return Errorf("--%s: %v", u.Opt.Name, err)
		}
		switch u.Opt.Name {
		case "ctorigsrcport":
			m.OrigSrcPort, m.OrigSrcHi = lo, hi
			m.setFlag(CTFlagOrigSrcPort, u.Invert)
		case "ctorigdstport":
			m.OrigDstPort, m.OrigDstHi = lo, hi
			m.setFlag(CTFlagOrigDstPort, u.Invert)
		case "ctreplsrcport":
			m.ReplSrcPort, m.ReplSrcHi = lo, hi
			m.setFlag(CTFlagReplSrcPort, u.Invert)
		default:
			m.ReplDstPort, m.ReplDstHi = lo, hi
			m.setFlag(CTFlagReplDstPort, u.Invert)
		}
	case "ctdir":
		switch {
		case strings.EqualFold(u.Arg, "ORIGINAL"):
			m.MatchFlags |= CTFlagDirection
			m.InvertFlags &^= CTFlagDirection
		case strings.EqualFold(u.Arg, "REPLY"):
			m.MatchFlags |= CTFlagDirection
			m.InvertFlags |= CTFlagDirection
		default:
			return Errorf("Bad value for \"--ctdir\" option: \"%s\": expected ORIGINAL or REPLY", u.Arg)
		}
	}
	return err
}

func (m *conntrackMatch) Final(r *RuleInfo) error {
	m.Family = r.Family
	if m.MatchFlags&CTFlagStateAlias != 0 {
		if m.MatchFlags&CTFlagState == 0 {
			return Errorf("option \"--state\" must be specified")
		}
		return nil
	}
	if m.MatchFlags == 0 {
		return Errorf("At least one option is required")
	}
	return nil
}

func (m *conntrackMatch) dump(b *Buf, prefix string, numeric bool) {
	opt := func(flag uint16, name string) {
		if m.InvertFlags&flag != 0 {
			b.S(" !")
		}
		b.S(" ").S(prefix).S(name)
	}
	if m.MatchFlags&CTFlagState != 0 {
		if m.MatchFlags&CTFlagStateAlias != 0 {
			opt(CTFlagState, "state")
		} else {
			opt(CTFlagState, "ctstate")
		}
		if s := ctStateString(m.StateMask, ctStatePrint); s != "" {
			b.S(" ").S(s)
		}
	}
	if m.MatchFlags&CTFlagProto != 0 {
		opt(CTFlagProto, "ctproto")
		b.S(" ").U(uint64(m.L4Proto))
	}
	addr := func(flag uint16, name string, hm m2HostMask) {
		if m.MatchFlags&flag == 0 {
			return
		}
		opt(flag, name)
		if !numeric && hm.Addr.IsUnspecified() {
			b.S(" anywhere")
			return
		}
		b.S(" ").S(hm.String())
	}
	addr(CTFlagOrigSrc, "ctorigsrc", m.OrigSrc)
	addr(CTFlagOrigDst, "ctorigdst", m.OrigDst)
	addr(CTFlagReplSrc, "ctreplsrc", m.ReplSrc)
	addr(CTFlagReplDst, "ctrepldst", m.ReplDst)
	port := func(flag uint16, name string, lo, hi uint16) {
		if m.MatchFlags&flag == 0 {
			return
		}
		opt(flag, name)
		if hi == 0 || lo == hi {
			b.S(" ").U(uint64(lo))
		} else {
			b.S(" ").U(uint64(lo)).S(":").U(uint64(hi))
		}
	}
	port(CTFlagOrigSrcPort, "ctorigsrcport", m.OrigSrcPort, m.OrigSrcHi)
	port(CTFlagOrigDstPort, "ctorigdstport", m.OrigDstPort, m.OrigDstHi)
	port(CTFlagReplSrcPort, "ctreplsrcport", m.ReplSrcPort, m.ReplSrcHi)
	port(CTFlagReplDstPort, "ctrepldstport", m.ReplDstPort, m.ReplDstHi)
	if m.MatchFlags&CTFlagStatus != 0 {
		opt(CTFlagStatus, "ctstatus")
		b.S(" ").S(ctStatusString(m.StatusMask))
	}
	if m.MatchFlags&CTFlagExpires != 0 {
		opt(CTFlagExpires, "ctexpire")
		b.S(" ").U(uint64(m.ExpiresMin))
		if m.ExpiresMax != m.ExpiresMin {
			b.S(":").U(uint64(m.ExpiresMax))
		}
	}
	if m.MatchFlags&CTFlagDirection != 0 {
		if m.InvertFlags&CTFlagDirection != 0 {
			b.S(" ").S(prefix).S("ctdir REPLY")
		} else {
			b.S(" ").S(prefix).S("ctdir ORIGINAL")
		}
	}
}

func (m *conntrackMatch) Save(b *Buf) { m.dump(b, "--", true) }

func (m *conntrackMatch) Print(b *Buf, numeric bool) { m.dump(b, "", numeric) }
