package ext

import (
	"strings"

	"github.com/nfgo/nfgo/nf"
)

// mh: -m mh --mh-type TYPE[:TYPE] (libip6t_mh, ip6t_mh.c): the IPv6
// mobility header; needs -p mh (mobility-header, 135).
type mhMatch struct {
	Min, Max uint8
	Inv      bool
}

var m1MHNames = []struct {
	Name string
	Type uint8
}{
	{"binding-refresh-request", 0}, {"brr", 0}, {"home-test-init", 1}, {"hoti", 1},
	{"careof-test-init", 2}, {"coti", 2}, {"home-test", 3}, {"hot", 3},
	{"careof-test", 4}, {"cot", 4}, {"binding-update", 5}, {"bu", 5},
	{"binding-acknowledgement", 6}, {"ba", 6}, {"binding-error", 7}, {"be", 7},
}

func init() {
	Register(&Def{
		Name: "mh", Kind: MatchKind, Family: nf.IPv6, Proto: nf.ProtoMH,
		Options: []Option{{Name: "mh-type", Arg: NeedArg, Invert: true}},
		New:     func() Ext { return &mhMatch{Max: 0xff} },
	})
}

// m1MHType resolves a type name (a case-insensitive prefix; an exact name
// wins, else the first prefix match) or a number 0-255.
func m1MHType(s string) (uint8, error) {
	match := -1
	for i, n := range m1MHNames {
		if len(n.Name) >= len(s) && strings.EqualFold(n.Name[:len(s)], s) {
			if match < 0 || len(n.Name) == len(s) {
				match = i
			}
		}
	}
	if match >= 0 {
		return m1MHNames[match].Type, nil
	}
	v, ok := ParseUint(s, 0, 255)
	if !ok {
		return 0, Errorf("invalid MH type `%s': expected a type name or a number 0-255", s)
	}
	return uint8(v), nil
}

func (m *mhMatch) Parse(u *Use) error {
	a, b, isRange := strings.Cut(u.Arg, ":")
	var err error
	if !isRange {
		if m.Min, err = m1MHType(a); err != nil {
			return err
		}
		m.Max = m.Min
	} else {
		m.Min, m.Max = 0, 0xff
		if a != "" {
			if m.Min, err = m1MHType(a); err != nil {
				return err
			}
		}
		if b != "" {
			if m.Max, err = m1MHType(b); err != nil {
				return err
			}
		}
		if m.Min > m.Max {
			return Errorf("invalid MH type range (min > max)")
		}
	}
	m.Inv = u.Invert
	return nil
}

func (m *mhMatch) Final(*RuleInfo) error { return nil }

func (m *mhMatch) Save(b *Buf) {
	if m.Min == 0 && m.Max == 0xff {
		return
	}
	b.Opt(m.Inv, "mh-type", m1RangeString(uint64(m.Min), uint64(m.Max)))
}

func (m *mhMatch) typ(t uint8, numeric bool) string {
	if !numeric {
		for _, n := range m1MHNames {
			if n.Type == t {
				return n.Name
			}
		}
	}
	return Itoa(t)
}

func (m *mhMatch) Print(b *Buf, numeric bool) {
	b.S(" mh")
	if m.Min == 0 && m.Max == 0xff && !m.Inv {
		return
	}
	b.S(" ")
	if m.Inv {
		b.S("!")
	}
	b.S(m.typ(m.Min, numeric))
	if m.Min != m.Max {
		b.S(":").S(m.typ(m.Max, numeric))
	}
}

// Match is ip6t_mh.c's mh_mt6: the mobility header type; a header whose
// payload protocol is not 59 (none) drops the packet.
func (m *mhMatch) Match(e *Env) bool {
	p := e.Pkt
	if fragOff(p) {
		return false
	}
	mh := hdrAt(p, thoff(p), 6)
	if mh == nil || mh[0] != 59 {
		e.HotDrop = true
		return false
	}
	return (mh[2] >= m.Min && mh[2] <= m.Max) != m.Inv
}
